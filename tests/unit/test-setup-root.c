/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit tests of composefs-setup-root's parsers: the kernel command line and the configuration file. */
#include <errno.h>
#include <string.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cmdline.h"
#include "freeroot.h"
#include "config.h"
#include "testutil.h"

#define H64 "d58615cfede1496b81ee3fadafe7cedd313f42dc8986bf5c0473de4bccaff537"
#define H128 H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int cmd(const char *text, struct sr_request *r, char *err)
{
	err[0] = '\0';
	return sr_cmdline_parse(text, strlen(text), r, err, 256);
}

static void test_cmdline(void)
{
	struct sr_request r;
	char err[256];

	CHECK_EQ_INT(cmd("root=/dev/vda2 ro composefs=" H64 " quiet", &r, err), 0);
	CHECK_EQ_INT(r.alg, CFS_HASH_SHA256);
	CHECK_EQ_INT(r.digest_len, 32);
	CHECK_EQ_STR(r.hex, H64);
	CHECK_EQ_INT(r.digest[0], 0xd5);
	CHECK(!r.insecure);
	/* upper case is accepted, the name is always lower case */
	CHECK_EQ_INT(cmd("composefs=D58615CFEDE1496B81EE3FADAFE7CEDD313F42DC8986BF5C0473DE4BCCAFF537", &r, err), 0);
	CHECK_EQ_STR(r.hex, H64);
	CHECK_EQ_INT(cmd("composefs=?" H64, &r, err), 0);
	CHECK(r.insecure);
	CHECK_EQ_INT(cmd("composefs=" H128, &r, err), 0);
	CHECK_EQ_INT(r.alg, CFS_HASH_SHA512);
	CHECK_EQ_STR(r.hex, H128);
	/* the spelled-out form, quoted, and repeated with the same value */
	CHECK_EQ_INT(cmd("a=\"x y\" \"composefs.digest=v1-sha256-12:" H64 "\" composefs=" H64, &r, err), 0);
	CHECK_EQ_STR(r.hex, H64);
	CHECK_EQ_INT(cmd("composefs.digest=?v1-sha512-12:" H128, &r, err), 0);
	CHECK(r.insecure && r.alg == CFS_HASH_SHA512);
	/* a sha256 digest under the sha512 name */
	CHECK_EQ_INT(cmd("composefs.digest=v1-sha512-12:" H64, &r, err), -EINVAL);
	CHECK(strstr(err, "128 hex digits") != NULL);
	CHECK_EQ_INT(cmd("composefs.digest=" H64, &r, err), -EINVAL);
	CHECK(strstr(err, "v1-sha256-12:HEX") != NULL);
	/* two images, or secure and insecure, on one line */
	CHECK_EQ_INT(cmd("composefs=" H64 " composefs=" H64 "00", &r, err), -EINVAL);
	CHECK_EQ_INT(cmd("composefs=" H64 " composefs=" H128, &r, err), -EINVAL);
	CHECK(strstr(err, "two different images") != NULL);
	CHECK_EQ_INT(cmd("composefs=" H64 " composefs=?" H64, &r, err), -EINVAL);
	/* wrong length, not hex, empty */
	CHECK_EQ_INT(cmd("composefs=" H64 "0", &r, err), -EINVAL);
	CHECK_EQ_INT(cmd("composefs=g58615cfede1496b81ee3fadafe7cedd313f42dc8986bf5c0473de4bccaff537", &r, err),
		     -EINVAL);
	CHECK_EQ_INT(cmd("composefs=", &r, err), -EINVAL);
	CHECK_EQ_INT(cmd("composefs=?", &r, err), -EINVAL);
	/* other parameters that merely start alike, and init's arguments after "--" */
	CHECK_EQ_INT(cmd("composefsx=" H64 " xcomposefs=" H64 " composefs", &r, err), -ENOENT);
	CHECK(strstr(err, "no composefs=") != NULL);
	CHECK_EQ_INT(cmd("quiet -- composefs=" H64, &r, err), -ENOENT);
	CHECK_EQ_INT(cmd("composefs=" H64 " -- composefs=zz", &r, err), 0);
	/* a quote inside a word: white space is protected, quotes dropped */
	CHECK_EQ_INT(cmd("composefs=\"" H64 "\"\n", &r, err), 0);
	CHECK_EQ_INT(cmd("", &r, err), -ENOENT);
	/* bytes that are not text, and a NUL inside the value */
	CHECK_EQ_INT(sr_cmdline_parse("composefs=\0x", 12, &r, err, sizeof(err)), -EINVAL);
}

static int conf(struct sr_config *c, const char *text, char *err)
{
	sr_config_init(c);
	err[0] = '\0';
	return sr_config_parse(c, text, strlen(text), err, 256);
}

static void test_config(void)
{
	struct sr_config c;
	char err[256];

	CHECK_EQ_INT(conf(&c, "", err), 0);
	CHECK_EQ_STR(c.repository, "composefs");
	CHECK_EQ_INT(c.etc, SR_MOUNT_OVERLAY);
	CHECK_EQ_INT(c.var, SR_MOUNT_BIND);
	CHECK_EQ_INT(c.verity, SR_VERITY_AUTO);
	CHECK(!c.require_signature && !c.root_transient);

	CHECK_EQ_INT(conf(&c,
			  "# all keys\n[composefs]\nrepository = 'state/repo' # here\nverity = require\n"
			  "signature = \"required\"\ntrust = [\"/a.pem\", '/b' ,]\n\n[root]\ntransient=true\r\n"
			  "[etc]\nmount = \"bind\"\n[var]\n  transient = true\n",
			  err),
		     0);
	CHECK_EQ_STR(c.repository, "state/repo");
	CHECK_EQ_INT(c.verity, SR_VERITY_REQUIRE);
	CHECK(c.require_signature && c.root_transient);
	CHECK_EQ_INT(c.n_trust, 2);
	CHECK_EQ_STR(c.trust[0], "/a.pem");
	CHECK_EQ_STR(c.trust[1], "/b");
	CHECK_EQ_INT(c.etc, SR_MOUNT_BIND);
	CHECK_EQ_INT(c.var, SR_MOUNT_TRANSIENT);

	/* composefs-rs's file as it ships */
	CHECK_EQ_INT(conf(&c, "[etc]\nmount = \"none\"\n\n[var]\nmount = \"overlay\"\n", err), 0);
	CHECK(c.etc == SR_MOUNT_NONE && c.var == SR_MOUNT_OVERLAY);
	CHECK_EQ_INT(conf(&c, "[etc]\ntransient = false\n", err), 0);
	CHECK_EQ_INT(c.etc, SR_MOUNT_OVERLAY);

	/* refusals, each with its line */
	CHECK_EQ_INT(conf(&c, "[composefs]\nsignatur = required\n", err), -EINVAL);
	CHECK_EQ_STR(err, "line 2: unknown key \"signatur\" in this section");
	CHECK_EQ_INT(conf(&c, "\n[composefs]\nenabled = signed\n", err), -EINVAL);
	CHECK(strncmp(err, "line 3:", 7) == 0);
	CHECK_EQ_INT(conf(&c, "[sysroot]\nreadonly = true\n", err), -EINVAL);
	CHECK_EQ_STR(err, "line 1: unknown section [sysroot]");
	CHECK_EQ_INT(conf(&c, "mount = bind\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[etc]\nmount = bind\nmount = overlay\n", err), -EINVAL);
	CHECK(strstr(err, "given twice") != NULL);
	CHECK_EQ_INT(conf(&c, "[etc]\nmount = copy\n", err), -EINVAL);
	CHECK(strstr(err, "none, bind, overlay, transient") != NULL);
	CHECK_EQ_INT(conf(&c, "[etc]\nmount = \"bind\"\ntransient = true\n", err), -EINVAL);
	CHECK(strstr(err, "contradicts") != NULL);
	CHECK_EQ_INT(conf(&c, "[root]\ntransient = \"true\"\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[root]\ntransient = yes\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[composefs]\nsignature = required\n", err), -EINVAL);
	CHECK(strstr(err, "needs trust") != NULL);
	CHECK_EQ_INT(conf(&c, "[composefs]\ntrust = relative.pem\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[composefs]\nrepository = \"/abs\"\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[composefs]\nrepository = \"a/../../x\"\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[composefs]\nrepository = \"..\"\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[composefs]\nrepository = \"a/..b\"\n", err), 0);
	CHECK_EQ_INT(conf(&c, "[composefs]\nrepository = \"a\\b\"\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[composefs]\nrepository = \"open\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[etc]\nmount = bind extra\n", err), -EINVAL);
	CHECK_EQ_INT(conf(&c, "[etc\n", err), -EINVAL);
	sr_config_init(&c);
	CHECK_EQ_INT(sr_config_parse(&c, "[etc]\n\0", 7, err, sizeof(err)), -EINVAL);
	CHECK_EQ_STR(err, "line 2: NUL byte");
}

static void put(const char *dir, const char *name, size_t size)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	CHECK(fclose(f) == 0);
}

static bool exists(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* Freeing the initramfs: everything on its file system goes, nothing mounted below it. */
static void test_free_tree(void)
{
	char dir[] = "/tmp/test-freeroot-XXXXXX", sub[600], cmd[700];
	struct sr_free_stats st;
	struct statfs sfs;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	/* not in memory: refused */
	fd = open(".", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK(fstatfs(fd, &sfs) == 0);
	if (sfs.f_type != 0x858458f6 && sfs.f_type != 0x01021994)
		CHECK_EQ_INT(sr_free_tree(fd, &st), -EXDEV);
	close(fd);
	CHECK(mount("tmpfs", dir, "tmpfs", 0, "size=16m") == 0);
	put(dir, "init", 100);
	put(dir, "big", 300000);
	CHECK(symlink("/nowhere", (snprintf(sub, sizeof(sub), "%s/link", dir), sub)) == 0);
	CHECK(mkdir((snprintf(sub, sizeof(sub), "%s/bin", dir), sub), 0755) == 0);
	put(sub, "busybox", 5000);
	CHECK(mkdir((snprintf(sub, sizeof(sub), "%s/sysroot", dir), sub), 0755) == 0);
	CHECK(mount("tmpfs", sub, "tmpfs", 0, "size=1m") == 0); /* the new root */
	put(sub, "keep", 10);
	CHECK(mkdir((snprintf(sub, sizeof(sub), "%s/a/b/c", dir), sub), 0755) < 0); /* no parents */
	CHECK(mkdir((snprintf(sub, sizeof(sub), "%s/a", dir), sub), 0755) == 0);
	CHECK(mkdir((snprintf(sub, sizeof(sub), "%s/a/b", dir), sub), 0755) == 0);
	put(sub, "deep", 10);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK_EQ_INT(sr_free_tree(fd, &st), 0);
	close(fd);
	CHECK(!exists(dir, "init") && !exists(dir, "big") && !exists(dir, "link") && !exists(dir, "bin"));
	CHECK(!exists(dir, "a"));
	CHECK(exists(dir, "sysroot/keep")); /* another file system: untouched */
	CHECK_EQ_INT(st.removed, 8);     /* init big link bin/busybox bin a/b/deep a/b a */
	CHECK_EQ_INT(st.kept, 1);        /* sysroot */
	CHECK(st.bytes >= 300000);
	CHECK(umount((snprintf(sub, sizeof(sub), "%s/sysroot", dir), sub)) == 0);
	CHECK(umount(dir) == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ_INT(system(cmd), 0);
	printf("initramfs clean-up ok\n");
}

int main(void)
{
	test_cmdline();
	test_config();
	test_free_tree();
	return 0;
}
