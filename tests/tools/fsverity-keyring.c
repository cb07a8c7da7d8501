/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Test helper: add an X.509 certificate (DER) to the kernel's ".fs-verity" keyring (add_key(2)). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The keyring's serial, from /proc/keys ("<hex serial> ... keyring .fs-verity: ..."). */
static long find_keyring(void)
{
	char line[512];
	long id = -1;
	FILE *f = fopen("/proc/keys", "re");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, " keyring ") != NULL && strstr(line, " .fs-verity:") != NULL) {
			id = strtol(line, NULL, 16);
			break;
		}
	}
	fclose(f);
	return id;
}

int main(int argc, char **argv)
{
	static unsigned char cert[65536];
	size_t len;
	long ring, key;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: fsverity-keyring CERT.der\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (f == NULL) {
		fprintf(stderr, "fsverity-keyring: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	len = fread(cert, 1, sizeof(cert), f);
	fclose(f);
	ring = find_keyring();
	if (ring <= 0) {
		fprintf(stderr, "fsverity-keyring: no .fs-verity keyring in /proc/keys\n");
		return 1;
	}
	key = syscall(SYS_add_key, "asymmetric", NULL, cert, len, (int)ring);
	if (key < 0) {
		fprintf(stderr, "fsverity-keyring: add_key to keyring %lx: %s\n", ring, strerror(errno));
		return 1;
	}
	printf("key %lx added to .fs-verity (keyring %lx)\n", key, ring);
	return 0;
}
