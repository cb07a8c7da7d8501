/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-setup-root: parse the configuration file (sections, key = value, a TOML subset). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

enum section { SEC_NONE, SEC_COMPOSEFS, SEC_ROOT, SEC_ETC, SEC_VAR };

/* One value: a string (quoted or bare), a boolean, or a list of strings. */
#define MAX_ITEMS SR_CONFIG_MAX_TRUST
struct value {
	enum { V_STRING, V_BOOL, V_LIST } type;
	bool b;
	size_t n;
	char s[MAX_ITEMS][SR_CONFIG_PATH_MAX];
};

struct parser {
	const char *p, *end; /* the current line */
	unsigned line;
	char *err;
	size_t errlen;
	/* keys seen, per section: a key may be given once */
	unsigned seen[5];
	bool etc_transient, var_transient;
};

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(ps->err, ps->errlen, "line %u: ", ps->line);

	if (n >= 0 && (size_t)n < ps->errlen) {
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void skip_blanks(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
		ps->p++;
}

/* Only blanks and a comment may follow. */
static int expect_end(struct parser *ps)
{
	skip_blanks(ps);
	if (ps->p < ps->end && *ps->p != '#')
		return fail(ps, "unexpected text after the value");
	return 0;
}

static bool is_bare(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.' || c == '/';
}

/* A quoted ("..." or '...', no escapes) or bare string into @out. */
static int parse_string(struct parser *ps, char *out)
{
	size_t n = 0;

	if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '\'')) {
		char q = *ps->p++;

		for (; ps->p < ps->end && *ps->p != q; ps->p++) {
			if (*ps->p == '\\')
				return fail(ps, "escapes are not supported in strings");
			if ((unsigned char)*ps->p < 0x20 || *ps->p == 0x7f)
				return fail(ps, "control character in a string");
			if (n + 1 == SR_CONFIG_PATH_MAX)
				return fail(ps, "string longer than %d bytes", SR_CONFIG_PATH_MAX - 1);
			out[n++] = *ps->p;
		}
		if (ps->p == ps->end)
			return fail(ps, "unterminated string");
		ps->p++;
	} else {
		for (; ps->p < ps->end && is_bare(*ps->p); ps->p++) {
			if (n + 1 == SR_CONFIG_PATH_MAX)
				return fail(ps, "value longer than %d bytes", SR_CONFIG_PATH_MAX - 1);
			out[n++] = *ps->p;
		}
		if (n == 0)
			return fail(ps, "expected a value");
	}
	out[n] = '\0';
	return 0;
}

static int parse_value(struct parser *ps, struct value *v)
{
	int r;

	skip_blanks(ps);
	if (ps->p < ps->end && *ps->p == '[') {
		ps->p++;
		v->type = V_LIST;
		v->n = 0;
		for (;;) {
			skip_blanks(ps);
			if (ps->p < ps->end && *ps->p == ']') {
				ps->p++;
				break;
			}
			if (v->n == MAX_ITEMS)
				return fail(ps, "more than %d items in a list", MAX_ITEMS);
			r = parse_string(ps, v->s[v->n++]);
			if (r < 0)
				return r;
			skip_blanks(ps);
			if (ps->p < ps->end && *ps->p == ',')
				ps->p++;
			else if (ps->p == ps->end || *ps->p != ']')
				return fail(ps, "expected ',' or ']' in a list");
		}
		return expect_end(ps);
	}
	bool quoted = ps->p < ps->end && (*ps->p == '"' || *ps->p == '\'');

	r = parse_string(ps, v->s[0]);
	if (r < 0)
		return r;
	v->n = 1;
	v->type = V_STRING;
	if (!quoted && (strcmp(v->s[0], "true") == 0 || strcmp(v->s[0], "false") == 0)) {
		v->type = V_BOOL;
		v->b = v->s[0][0] == 't';
	}
	return expect_end(ps);
}

static int want_bool(struct parser *ps, const char *key, const struct value *v, bool *out)
{
	if (v->type != V_BOOL)
		return fail(ps, "%s: expected true or false", key);
	*out = v->b;
	return 0;
}

static int want_word(struct parser *ps, const char *key, const struct value *v, const char *const *words,
		     int *out)
{
	char list[128] = "";

	if (v->type == V_STRING)
		for (int i = 0; words[i] != NULL; i++)
			if (strcmp(v->s[0], words[i]) == 0) {
				*out = i;
				return 0;
			}
	for (int i = 0; words[i] != NULL; i++) {
		size_t n = strlen(list);

		snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", words[i]);
	}
	return fail(ps, "%s: expected one of %s", key, list);
}

/* The repository lies inside the sysroot: relative, without "..". */
static int check_repository(struct parser *ps, const char *path)
{
	const char *c = path;

	if (path[0] == '/' || path[0] == '\0')
		return fail(ps, "repository: expected a path relative to the sysroot");
	while (*c != '\0') {
		size_t n = strcspn(c, "/");

		if ((n == 2 && memcmp(c, "..", 2) == 0))
			return fail(ps, "repository: \"..\" leaves the sysroot");
		c += n;
		while (*c == '/')
			c++;
	}
	return 0;
}

static const char *const mount_words[] = { "none", "bind", "overlay", "transient", NULL };

static int set_key(struct parser *ps, struct sr_config *c, enum section sec, const char *key,
		   const struct value *v)
{
	int w, r;

	if (sec == SEC_COMPOSEFS) {
		if (strcmp(key, "repository") == 0) {
			if (v->type != V_STRING)
				return fail(ps, "repository: expected a path");
			r = check_repository(ps, v->s[0]);
			if (r < 0)
				return r;
			memcpy(c->repository, v->s[0], sizeof(c->repository));
			return 0;
		}
		if (strcmp(key, "verity") == 0) {
			static const char *const words[] = { "auto", "require", NULL };

			r = want_word(ps, key, v, words, &w);
			if (r == 0)
				c->verity = w == 1 ? SR_VERITY_REQUIRE : SR_VERITY_AUTO;
			return r;
		}
		if (strcmp(key, "signature") == 0) {
			static const char *const words[] = { "none", "required", NULL };

			r = want_word(ps, key, v, words, &w);
			if (r == 0)
				c->require_signature = w == 1;
			return r;
		}
		if (strcmp(key, "trust") == 0) {
			if (v->type == V_BOOL || v->n == 0)
				return fail(ps, "trust: expected a path or a list of paths");
			for (size_t i = 0; i < v->n; i++) {
				if (v->s[i][0] != '/')
					return fail(ps, "trust: %s is not an absolute path", v->s[i]);
				memcpy(c->trust[i], v->s[i], sizeof(c->trust[i]));
			}
			c->n_trust = v->n;
			return 0;
		}
	} else if (sec == SEC_ROOT) {
		if (strcmp(key, "transient") == 0)
			return want_bool(ps, key, v, &c->root_transient);
	} else if (sec == SEC_ETC || sec == SEC_VAR) {
		enum sr_mount *m = sec == SEC_ETC ? &c->etc : &c->var;

		if (strcmp(key, "mount") == 0) {
			r = want_word(ps, key, v, mount_words, &w);
			if (r == 0)
				*m = (enum sr_mount)(w + 1);
			return r;
		}
		if (strcmp(key, "transient") == 0)
			return want_bool(ps, key, v, sec == SEC_ETC ? &ps->etc_transient : &ps->var_transient);
	}
	return fail(ps, "unknown key \"%s\" in this section", key);
}

static int parse_line(struct parser *ps, struct sr_config *c, enum section *sec)
{
	static const char *const sections[] = { "composefs", "root", "etc", "var", NULL };
	static const char *const keys[] = { "repository", "verity", "signature", "trust", "mount", "transient", NULL };
	char name[SR_CONFIG_PATH_MAX];
	struct value v;
	int r, k;

	skip_blanks(ps);
	if (ps->p == ps->end || *ps->p == '#')
		return 0;
	if (*ps->p == '[') {
		ps->p++;
		skip_blanks(ps);
		r = parse_string(ps, name);
		if (r < 0)
			return r;
		skip_blanks(ps);
		if (ps->p == ps->end || *ps->p != ']')
			return fail(ps, "expected ']'");
		ps->p++;
		for (k = 0; sections[k] != NULL; k++)
			if (strcmp(name, sections[k]) == 0)
				break;
		if (sections[k] == NULL)
			return fail(ps, "unknown section [%s]", name);
		*sec = (enum section)(k + 1);
		return expect_end(ps);
	}
	if (*sec == SEC_NONE)
		return fail(ps, "key outside a section");
	r = parse_string(ps, name);
	if (r < 0)
		return r;
	skip_blanks(ps);
	if (ps->p == ps->end || *ps->p != '=')
		return fail(ps, "expected '=' after \"%s\"", name);
	ps->p++;
	r = parse_value(ps, &v);
	if (r < 0)
		return r;
	for (k = 0; keys[k] != NULL; k++)
		if (strcmp(name, keys[k]) == 0)
			break;
	if (keys[k] != NULL) {
		if (ps->seen[*sec] & (1u << k))
			return fail(ps, "\"%s\" given twice", name);
		ps->seen[*sec] |= 1u << k;
	}
	return set_key(ps, c, *sec, name, &v);
}

void sr_config_init(struct sr_config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->repository, "composefs");
	c->verity = SR_VERITY_AUTO;
	c->etc = SR_MOUNT_OVERLAY;
	c->var = SR_MOUNT_BIND;
}

/* "transient = true" is the short form of "mount = transient"; both must agree. */
static int resolve_transient(struct parser *ps, const char *dir, enum sr_mount *m, enum sr_mount given,
			     bool transient)
{
	if (!transient)
		return 0;
	if (given != SR_MOUNT_UNSET && given != SR_MOUNT_TRANSIENT) {
		ps->line = 0;
		snprintf(ps->err, ps->errlen, "[%s]: transient = true contradicts mount = %s", dir,
			 sr_mount_name(given));
		return -EINVAL;
	}
	*m = SR_MOUNT_TRANSIENT;
	return 0;
}

int sr_config_parse(struct sr_config *c, const char *text, size_t len, char *err, size_t errlen)
{
	struct parser ps = { .err = err, .errlen = errlen };
	enum section sec = SEC_NONE;
	enum sr_mount etc_default = c->etc, var_default = c->var;
	const char *p = text, *end = text + len;
	int r;

	if (len > SR_CONFIG_MAX_SIZE) {
		snprintf(err, errlen, "larger than %d bytes", SR_CONFIG_MAX_SIZE);
		return -EFBIG;
	}
	if (memchr(text, '\0', len) != NULL) {
		const char *nul = memchr(text, '\0', len);

		ps.line = 1;
		for (const char *q = text; q < nul; q++)
			ps.line += *q == '\n';
		return fail(&ps, "NUL byte");
	}
	c->etc = SR_MOUNT_UNSET;
	c->var = SR_MOUNT_UNSET;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		ps.line++;
		ps.p = p;
		ps.end = nl != NULL ? nl : end;
		r = parse_line(&ps, c, &sec);
		if (r < 0)
			return r;
		p = nl != NULL ? nl + 1 : end;
	}
	enum sr_mount etc_given = c->etc, var_given = c->var;

	if (c->etc == SR_MOUNT_UNSET)
		c->etc = etc_default;
	if (c->var == SR_MOUNT_UNSET)
		c->var = var_default;
	r = resolve_transient(&ps, "etc", &c->etc, etc_given, ps.etc_transient);
	if (r == 0)
		r = resolve_transient(&ps, "var", &c->var, var_given, ps.var_transient);
	if (r == 0 && c->require_signature && c->n_trust == 0) {
		snprintf(err, errlen, "[composefs]: signature = required needs trust = PATH");
		r = -EINVAL;
	}
	return r;
}

const char *sr_mount_name(enum sr_mount m)
{
	switch (m) {
	case SR_MOUNT_NONE: return "none";
	case SR_MOUNT_BIND: return "bind";
	case SR_MOUNT_OVERLAY: return "overlay";
	case SR_MOUNT_TRANSIENT: return "transient";
	case SR_MOUNT_UNSET: break;
	}
	return "unset";
}
