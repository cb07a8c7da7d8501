/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* HTTP downloads on the libcurl multi interface: objects verified while they stream into a store. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include <composefs/composefs.h>
#include <composefs/fetch.h>
#include <composefs/store.h>

#include "fetch-private.h"
#include "util.h"
#include "workq.h"

#define DEFAULT_JOBS 16
#define MAX_JOBS 1024
#define DEFAULT_RETRIES 4
#define DEFAULT_RETRY_DELAY_MS 250
#define MAX_RETRY_DELAY_MS 30000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_STALL_TIMEOUT_MS 30000
#define RECV_BUFFER (256 * 1024)
#define PROGRESS_INTERVAL_MS 100
/* objects received whole and waiting for (or in) their check; each holds a descriptor */
#define MAX_CHECKING 64
/* Largest tree file accepted when the object size is not known (a 32 GiB object with sha512). */
#define CFS_FETCH_TREE_MAX_UNSIZED ((size_t)1 << 30)

enum xkind { X_OBJECT, X_FILE, X_RESOLVE, X_RANGE };

/* One file to get; it lives across its attempts. */
struct xfer {
	struct cfs_fetch *f;
	struct xfer *next;
	struct xfer *active_prev, *active_next; /* while a transfer runs */
	enum xkind kind;
	bool caller_owned; /* synchronous calls read the result, then free it */
	bool done;
	char *url;
	struct cfs_objstore *store;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	cfs_fetch_done_fn fn;
	void *user;
	unsigned attempt;
	uint64_t due_ms;
	int status;
	char detail[CURL_ERROR_SIZE + 64];

	/* per attempt */
	CURL *easy;
	bool body_started;
	bool discard;  /* an error page: counted, not kept */
	bool to_mem;   /* small file, symlink target or range */
	bool symlink;
	int err;       /* local failure noticed while receiving */
	bool err_final;
	uint64_t received;
	struct cfs_objstore_stage *st;
	struct cfs_verity_ctx *vctx;
	uint8_t *mem;
	size_t mem_len, mem_cap, mem_max;
	bool mem_owned;

	/* ranges */
	const struct cfs_verity_tree *tree;
	uint64_t range_off;
	char curl_err[CURL_ERROR_SIZE];

	/* an object received whole, on the checker's queues: its verdict */
	int check_status;
	bool check_retry;
};

/*
 * The checker: one worker of the library's pool (cfs_workq) that hashes objects received whole
 * (read back from their staged file, still in the page cache) and commits them, so the thread
 * driving libcurl neither hashes nor waits on the store. Verdicts come back through @done and
 * a wakeup of the multi handle's poll.
 */
struct checker {
	struct cfs_workq *q; /* NULL until the first object, or when it could not start */
	bool failed;         /* it could not: objects are checked in line */
	pthread_mutex_t mu;  /* protects @done */
	struct xfer *done;
};

struct cfs_fetch {
	CURLM *multi;
	char *base;
	char *cacert;
	struct cfs_fetch_opts o;
	enum cfs_hash_alg alg;
	bool alg_set;
	struct xfer *pending, *pending_tail;
	struct xfer *waiting;
	struct xfer *active;
	unsigned running;
	unsigned checking; /* handed to the checker, verdict not yet taken back */
	struct checker ck;
	uint64_t start_ms, last_progress_ms;
	struct cfs_fetch_progress p;
	char errmsg[512];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int fetch_fail(struct cfs_fetch *f, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fetch_fail(struct cfs_fetch *f, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = cfs_errbuf_vset(f->errmsg, sizeof(f->errmsg), err, fmt, ap);
	va_end(ap);
	return err;
}

void cfs_fetch_opts_init(struct cfs_fetch_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->jobs = DEFAULT_JOBS;
	o->retries = DEFAULT_RETRIES;
	o->retry_delay_ms = DEFAULT_RETRY_DELAY_MS;
	o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	o->stall_timeout_ms = DEFAULT_STALL_TIMEOUT_MS;
}

static int set_err(char *buf, size_t len, int err, const char *msg)
{
	if (buf != NULL && len > 0)
		snprintf(buf, len, "%s", msg);
	return err;
}

int cfs_fetch_new(const char *base_url, const struct cfs_fetch_opts *o, struct cfs_fetch **out,
		  char *errbuf, size_t errlen)
{
	struct cfs_fetch_opts def;
	struct cfs_fetch *f;
	size_t n;

	*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (o == NULL) {
		cfs_fetch_opts_init(&def);
		o = &def;
	}
	if ((o->flags & ~(CFS_FETCH_INSECURE | CFS_FETCH_HTTP1)) != 0 || o->jobs > MAX_JOBS)
		return set_err(errbuf, errlen, -EINVAL, "invalid fetch options");
	for (size_t i = 0; i < sizeof(o->reserved) / sizeof(o->reserved[0]); i++)
		if (o->reserved[i] != 0)
			return set_err(errbuf, errlen, -EINVAL, "invalid fetch options");
	if (base_url == NULL || (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0))
		return set_err(errbuf, errlen, -EINVAL, "the URL must start with http:// or https://");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return set_err(errbuf, errlen, -EIO, "libcurl initialisation failed");
	f = calloc(1, sizeof(*f));
	n = strlen(base_url);
	if (f == NULL || (f->base = malloc(n + 2)) == NULL)
		goto nomem;
	memcpy(f->base, base_url, n + 1);
	if (n == 0 || f->base[n - 1] != '/')
		memcpy(f->base + n, "/", 2);
	f->o = *o;
	if (f->o.jobs == 0)
		f->o.jobs = DEFAULT_JOBS;
	if (o->cacert != NULL && (f->cacert = strdup(o->cacert)) == NULL)
		goto nomem;
	f->o.cacert = f->cacert;
	f->multi = curl_multi_init();
	if (f->multi == NULL) {
		cfs_fetch_free(f);
		return set_err(errbuf, errlen, -EIO, "libcurl: cannot create a multi handle");
	}
	/* HTTP/2 multiplexes our transfers over one connection where offered; HTTP/1.1 gets one connection per job */
	curl_multi_setopt(f->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)f->o.jobs);
	curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)f->o.jobs + 4);
	f->start_ms = now_ms();
	*out = f;
	return 0;
nomem:
	if (f != NULL) {
		free(f->base);
		free(f);
	}
	curl_global_cleanup();
	return set_err(errbuf, errlen, -ENOMEM, "out of memory");
}

/* End the transfer of an attempt and drop its staged object; received bytes stay. */
static void release_transfer(struct xfer *x)
{
	if (x->easy != NULL) {
		curl_multi_remove_handle(x->f->multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	cfs_objstore_stage_free(x->st);
	x->st = NULL;
}

static void attempt_reset(struct xfer *x)
{
	release_transfer(x);
	if (x->mem_owned) {
		free(x->mem);
		x->mem = NULL;
		x->mem_cap = 0;
	}
	x->mem_len = 0;
	x->body_started = x->discard = x->to_mem = x->symlink = false;
	x->err = 0;
	x->err_final = false;
	x->received = 0;
	x->curl_err[0] = '\0';
}

static void xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	attempt_reset(x);
	cfs_verity_ctx_free(x->vctx);
	free(x->url);
	free(x);
}

static void free_list(struct xfer *x)
{
	while (x != NULL) {
		struct xfer *next = x->next;

		xfer_free(x);
		x = next;
	}
}

static void checker_stop(struct cfs_fetch *f);

void cfs_fetch_free(struct cfs_fetch *f)
{
	if (f == NULL)
		return;
	checker_stop(f);
	free_list(f->pending);
	free_list(f->waiting);
	while (f->active != NULL) {
		struct xfer *x = f->active;

		f->active = x->active_next;
		xfer_free(x);
	}
	if (f->multi != NULL)
		curl_multi_cleanup(f->multi);
	free(f->base);
	free(f->cacert);
	free(f);
	curl_global_cleanup();
}

const char *cfs_fetch_errmsg(const struct cfs_fetch *f)
{
	return f->errmsg;
}

void cfs_fetch_get_progress(const struct cfs_fetch *f, struct cfs_fetch_progress *p)
{
	*p = f->p;
	p->seconds = (double)(now_ms() - f->start_ms) / 1000.0;
}

/* ---- receiving ------------------------------------------------------------------ */

static int mem_append(struct xfer *x, const void *buf, size_t len)
{
	if (len > x->mem_max - x->mem_len)
		return -EFBIG;
	if (x->mem_len + len > x->mem_cap) {
		size_t cap = x->mem_cap ? x->mem_cap : 4096;
		uint8_t *m;

		while (cap < x->mem_len + len + 1)
			cap *= 2;
		if (cap > x->mem_max + 1)
			cap = x->mem_max + 1;
		m = realloc(x->mem, cap);
		if (m == NULL)
			return -ENOMEM;
		x->mem = m;
		x->mem_cap = cap;
	}
	memcpy(x->mem + x->mem_len, buf, len);
	x->mem_len += len;
	return 0;
}

/* Stream into a new staged object of x->store, hashed on the way. */
static int begin_object_sink(struct xfer *x)
{
	int r;

	if (x->vctx == NULL) {
		r = cfs_verity_ctx_new(cfs_objstore_get_alg(x->store), &x->vctx);
		if (r < 0)
			return r;
	} else {
		uint8_t scratch[CFS_VERITY_MAX_DIGEST];

		/* an attempt broken off mid-body hashed part of it: start again (final resets) */
		r = cfs_verity_final(x->vctx, scratch);
		if (r < 0)
			return r;
	}
	return cfs_objstore_stage_new(x->store, &x->st);
}

/* The first body byte (or the end of a body-less answer): decide where the body goes. */
static int begin_body(struct xfer *x)
{
	long code = 0;
	char *ct = NULL;

	x->body_started = true;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		x->discard = true;
		return 0;
	}
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
	x->symlink = cfs_fetch_is_symlink_type(ct);
	switch (x->kind) {
	case X_FILE:
		x->to_mem = true;
		return 0;
	case X_RESOLVE:
		if (x->symlink) {
			x->to_mem = true;
			x->mem_max = CFS_FETCH_SYMLINK_MAX;
			return 0;
		}
		return begin_object_sink(x);
	case X_RANGE:
		x->to_mem = true;
		/*
		 * A 200 carries the whole object: what was asked for only when the range is all of
		 * it. Otherwise the server ignores Range; skipping up to the range would download
		 * everything before it for every read, so the caller is told and fetches the object.
		 */
		if (code != 206 && !(x->range_off == 0 && x->mem_max == cfs_verity_tree_file_size(x->tree)))
			return -EOPNOTSUPP;
		return 0;
	case X_OBJECT:
		return begin_object_sink(x);
	}
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
	struct xfer *x = user;
	size_t len = size * nmemb;
	int r = 0;

	if (!x->body_started) {
		r = begin_body(x);
		if (r < 0) {
			x->err = r;
			x->err_final = true;
			return 0;
		}
	}
	x->f->p.bytes += len;
	if (x->discard)
		return len;
	x->received += len;
	if (x->to_mem) {
		r = mem_append(x, data, len);
	} else if (x->f->o.max_object_size != 0 && x->received > x->f->o.max_object_size) {
		r = -EFBIG;
	} else {
		/* an object is hashed by the checker, from the file; a resolved one here */
		r = x->kind == X_OBJECT ? 0 : cfs_verity_update(x->vctx, data, len);
		if (r == 0)
			r = cfs_write_full(cfs_objstore_stage_fd(x->st), data, len);
	}
	if (r < 0) {
		x->err = r;
		x->err_final = true;
		return 0;
	}
	return size * nmemb;
}

/* ---- starting, finishing, retrying -------------------------------------------------- */

static int start_easy(struct cfs_fetch *f, struct xfer *x)
{
	CURL *e = curl_easy_init();
	char range[64];
	long stall = (long)((f->o.stall_timeout_ms + 999) / 1000);

	if (e == NULL)
		return -ENOMEM;
	x->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "composefs-c/" CFS_VERSION_STRING);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)RECV_BUFFER);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
			 (long)((f->o.flags & CFS_FETCH_HTTP1) ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2TLS));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)f->o.connect_timeout_ms);
	if (stall > 0) {
		/* less than one byte a second for that long: the transfer is stuck */
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall);
	}
	if (f->cacert != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, f->cacert);
	if (f->o.flags & CFS_FETCH_INSECURE) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (x->kind == X_RANGE) {
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)x->range_off,
			 (unsigned long long)(x->range_off + x->mem_max - 1));
		curl_easy_setopt(e, CURLOPT_RANGE, range);
	}
	if (curl_multi_add_handle(f->multi, e) != CURLM_OK)
		return -EIO;
	return 0;
}

static void hex_of(const struct xfer *x, char *hex)
{
	cfs_digest_to_hex(x->digest, cfs_verity_digest_size(x->f->alg), hex);
}

/* The end of a file's life: report and free (or hand back to a synchronous caller). */
static void finish(struct cfs_fetch *f, struct xfer *x, int status)
{
	x->status = status;
	x->done = true;
	if (x->kind == X_OBJECT) {
		if (status == 0)
			f->p.objects_done++;
		else
			f->p.objects_failed++;
	}
	if (x->fn != NULL)
		x->fn(x->user, x->digest, status, x->detail);
	if (!x->caller_owned)
		xfer_free(x);
	else
		release_transfer(x);
}

static void push_pending(struct cfs_fetch *f, struct xfer *x, bool front)
{
	x->next = NULL;
	if (f->pending == NULL) {
		f->pending = f->pending_tail = x;
	} else if (front) {
		x->next = f->pending;
		f->pending = x;
	} else {
		f->pending_tail->next = x;
		f->pending_tail = x;
	}
}

static void start(struct cfs_fetch *f, struct xfer *x)
{
	int r;

	if (x->kind == X_OBJECT && cfs_objstore_has(x->store, x->digest) == 1) {
		snprintf(x->detail, sizeof(x->detail), "already present");
		finish(f, x, 0);
		return;
	}
	r = start_easy(f, x);
	if (r < 0) {
		snprintf(x->detail, sizeof(x->detail), "cannot start a transfer: %s", strerror(-r));
		finish(f, x, r);
		return;
	}
	f->running++;
	x->active_prev = NULL;
	x->active_next = f->active;
	if (f->active != NULL)
		f->active->active_prev = x;
	f->active = x;
}

static int curl_status(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_TOO_MANY_REDIRECTS:
		return -EPROTO; /* a setup or trust problem: retrying cannot help */
	default:
		return -EIO;
	}
}

/*
 * Hash the staged file of object @x (read back with @buf, RECV_BUFFER bytes) and commit it
 * when its digest is its name. Runs on the checker thread. Returns 0, or a status with
 * x->detail set (*@retry for wrong content).
 */
static int check_object(struct cfs_fetch *f, struct xfer *x, uint8_t *buf, bool *retry)
{
	uint8_t d[CFS_VERITY_MAX_DIGEST];
	size_t dsize = cfs_verity_digest_size(f->alg);
	int fd = cfs_objstore_stage_fd(x->st);
	uint64_t off = 0;
	int r = 0;

	while (r == 0 && off < x->received) {
		size_t want = x->received - off < RECV_BUFFER ? (size_t)(x->received - off) : RECV_BUFFER;
		ssize_t n = cfs_pread_full(fd, buf, want, (off_t)off);

		if (n <= 0)
			r = n < 0 ? (int)n : -EIO;
		else
			r = cfs_verity_update(x->vctx, buf, (size_t)n);
		off += n > 0 ? (uint64_t)n : 0;
	}
	/* final also resets the context for another attempt */
	if (cfs_verity_final(x->vctx, d) < 0 && r == 0)
		r = -EIO;
	if (r < 0) {
		snprintf(x->detail, sizeof(x->detail), "hashing the received file: %s", strerror(-r));
		return r;
	}
	if (memcmp(d, x->digest, dsize) != 0) {
		char hex[2 * CFS_VERITY_MAX_DIGEST + 1];

		cfs_digest_to_hex(d, dsize, hex);
		snprintf(x->detail, sizeof(x->detail), "wrong content: %llu bytes with digest %.16s...",
			 (unsigned long long)x->received, hex);
		*retry = true;
		return -CFS_EDIGEST;
	}
	r = cfs_objstore_stage_commit(x->st, x->digest);
	x->st = NULL;
	if (r < 0)
		snprintf(x->detail, sizeof(x->detail), "storing: %s", strerror(-r));
	return r;
}

/* A 2xx body arrived whole: check it. Returns 0, or a status with x->detail set. */
static int accept_body(struct cfs_fetch *f, struct xfer *x, bool *retry)
{
	size_t dsize;
	int r;

	switch (x->kind) {
	case X_FILE:
		return 0;
	case X_RANGE:
		if (x->mem_len != x->mem_max) {
			snprintf(x->detail, sizeof(x->detail), "range: %zu of %zu bytes", x->mem_len, x->mem_max);
			*retry = true;
			return -EIO;
		}
		r = cfs_verity_tree_check(x->tree, x->range_off, x->mem, x->mem_len);
		if (r < 0) {
			snprintf(x->detail, sizeof(x->detail), "range at %llu does not match the object's Merkle tree",
				 (unsigned long long)x->range_off);
			*retry = r == -CFS_EDIGEST;
		}
		return r;
	case X_RESOLVE:
		dsize = cfs_verity_digest_size(cfs_objstore_get_alg(x->store));
		if (x->symlink) {
			if (cfs_fetch_parse_symlink_target((const char *)x->mem, x->mem_len, dsize, x->digest) < 0) {
				snprintf(x->detail, sizeof(x->detail), "symlink target names no object");
				return -EBADMSG;
			}
			return 0;
		}
		r = cfs_verity_final(x->vctx, x->digest);
		if (r == 0) {
			r = cfs_objstore_stage_commit(x->st, x->digest);
			x->st = NULL;
		}
		if (r < 0)
			snprintf(x->detail, sizeof(x->detail), "storing: %s", strerror(-r));
		return r;
	case X_OBJECT: {
		uint8_t *buf = malloc(RECV_BUFFER); /* the checker thread could not be started */

		if (buf == NULL) {
			snprintf(x->detail, sizeof(x->detail), "out of memory");
			return -ENOMEM;
		}
		r = check_object(f, x, buf, retry);
		free(buf);
		return r;
	}
	}
	return 0;
}

/* ---- the checker ----------------------------------------------------------------------- */

/* The worker's own: its handle and read-back buffer. */
struct checker_state {
	struct cfs_fetch *f;
	uint8_t *buf;
};

static int checker_init(void *state, void *user)
{
	struct checker_state *cs = state;

	cs->f = user;
	cs->buf = malloc(RECV_BUFFER);
	return cs->buf != NULL ? 0 : -ENOMEM;
}

static void checker_fini(void *state, void *user)
{
	(void)user;
	free(((struct checker_state *)state)->buf);
}

/* One object: its verdict, then onto @done (the thread driving libcurl does not touch @x
 * until it takes the verdict back). */
static void checker_item(void *state, void *arg)
{
	struct checker_state *cs = state;
	struct checker *c = &cs->f->ck;
	struct xfer *x = arg;

	x->check_retry = false;
	x->check_status = check_object(cs->f, x, cs->buf, &x->check_retry);
	pthread_mutex_lock(&c->mu);
	x->next = c->done;
	c->done = x;
	/* the poll needs one wakeup until the verdicts are taken: they are taken all at once */
	if (x->next == NULL)
		curl_multi_wakeup(cs->f->multi);
	pthread_mutex_unlock(&c->mu);
}

static bool checker_start(struct cfs_fetch *f)
{
	struct checker *c = &f->ck;
	struct cfs_workq_opts o = {
		.threads = 1, .state_size = sizeof(struct checker_state),
		.init = checker_init, .fini = checker_fini, .user = f,
	};

	if (pthread_mutex_init(&c->mu, NULL) != 0)
		return false;
	if (cfs_workq_new(&o, &c->q) < 0) {
		pthread_mutex_destroy(&c->mu);
		c->q = NULL;
		return false;
	}
	return true;
}

/* End the checker: it finishes what it holds, then those objects are freed unsettled. */
static void checker_stop(struct cfs_fetch *f)
{
	struct checker *c = &f->ck;

	if (c->q == NULL)
		return;
	cfs_workq_free(c->q);
	c->q = NULL;
	free_list(c->done);
	c->done = NULL;
	pthread_mutex_destroy(&c->mu);
}

static void settle(struct cfs_fetch *f, struct xfer *x, int st, bool retry);

/* Hand an object received whole to the checker: false when there is none (check it in line). */
static bool checker_give(struct cfs_fetch *f, struct xfer *x)
{
	struct checker *c = &f->ck;

	if (c->q == NULL && (c->failed || !checker_start(f))) {
		c->failed = true; /* no worker: do not try again for every object */
		return false;
	}
	/* the transfer is over: its handle goes now, from this thread (libcurl's rule) */
	curl_multi_remove_handle(f->multi, x->easy);
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
	if (cfs_workq_submit(c->q, checker_item, x) < 0) {
		snprintf(x->detail, sizeof(x->detail), "out of memory");
		settle(f, x, -ENOMEM, false);
		return true;
	}
	f->checking++;
	return true;
}

static void complete(struct cfs_fetch *f, struct xfer *x, CURLcode cc)
{
	bool retry = false;
	long code = 0;
	int st;

	f->running--;
	if (x->active_prev != NULL)
		x->active_prev->active_next = x->active_next;
	else
		f->active = x->active_next;
	if (x->active_next != NULL)
		x->active_next->active_prev = x->active_prev;
	x->active_prev = x->active_next = NULL;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	x->detail[0] = '\0';
	if (cc == CURLE_OK && !x->body_started && !x->err) {
		st = begin_body(x); /* a body-less answer */
		if (st < 0) {
			x->err = st;
			x->err_final = true;
		}
	}
	if (x->err != 0) {
		st = x->err;
		retry = !x->err_final;
		snprintf(x->detail, sizeof(x->detail), "%s",
			 st == -EFBIG	     ? "larger than allowed"
			 : st == -EOPNOTSUPP ? "the server ignores range requests (HTTP 200 with the whole file)"
					     : strerror(-st));
	} else if (cc != CURLE_OK) {
		st = curl_status(cc);
		retry = st != -EPROTO;
		snprintf(x->detail, sizeof(x->detail), "%s", x->curl_err[0] ? x->curl_err : curl_easy_strerror(cc));
	} else if (code == 404 || code == 410) {
		st = -ENOENT;
		snprintf(x->detail, sizeof(x->detail), "HTTP %ld (not on the server)", code);
	} else if (code >= 200 && code <= 299) {
		if (x->kind == X_OBJECT && checker_give(f, x))
			return; /* settled when its verdict is back */
		st = accept_body(f, x, &retry);
	} else {
		st = code == 401 || code == 403 ? -EACCES : -EIO;
		retry = code == 408 || code == 429 || code >= 500;
		snprintf(x->detail, sizeof(x->detail), "HTTP %ld", code);
	}
	settle(f, x, st, retry);
}

/* The outcome @st of an attempt (x->detail set): try again later, or the end. */
static void settle(struct cfs_fetch *f, struct xfer *x, int st, bool retry)
{
	if (st != 0 && retry && x->attempt < f->o.retries) {
		uint64_t delay = f->o.retry_delay_ms;

		for (unsigned i = 0; i < x->attempt && delay < MAX_RETRY_DELAY_MS; i++)
			delay *= 2;
		if (delay > MAX_RETRY_DELAY_MS)
			delay = MAX_RETRY_DELAY_MS;
		x->attempt++;
		f->p.retries++;
		attempt_reset(x);
		x->due_ms = now_ms() + delay;
		x->next = f->waiting;
		f->waiting = x;
		return;
	}
	if (st != 0 && x->attempt > 0) {
		size_t n = strlen(x->detail);

		snprintf(x->detail + n, sizeof(x->detail) - n, " (%u attempts)", x->attempt + 1);
	}
	finish(f, x, st);
}

/* Settle the objects the checker is done with. */
static void take_verdicts(struct cfs_fetch *f)
{
	struct xfer *x;

	if (f->checking == 0)
		return;
	pthread_mutex_lock(&f->ck.mu);
	x = f->ck.done;
	f->ck.done = NULL;
	pthread_mutex_unlock(&f->ck.mu);
	while (x != NULL) {
		struct xfer *next = x->next;

		x->next = NULL;
		f->checking--;
		settle(f, x, x->check_status, x->check_retry);
		x = next;
	}
}

/* Move retries that are due to the front of the queue; the time until the next one. */
static uint64_t promote_due(struct cfs_fetch *f, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	struct xfer **pp = &f->waiting;

	while (*pp != NULL) {
		struct xfer *x = *pp;

		if (x->due_ms <= now) {
			*pp = x->next;
			push_pending(f, x, true);
			continue;
		}
		if (x->due_ms - now < next)
			next = x->due_ms - now;
		pp = &x->next;
	}
	return next;
}

static void report(struct cfs_fetch *f, bool force)
{
	uint64_t now = now_ms();
	struct cfs_fetch_progress p;

	if (f->o.progress == NULL || (!force && now - f->last_progress_ms < PROGRESS_INTERVAL_MS))
		return;
	f->last_progress_ms = now;
	cfs_fetch_get_progress(f, &p);
	f->o.progress(f->o.progress_user, &p);
}

static int run_loop(struct cfs_fetch *f)
{
	for (;;) {
		uint64_t wait;
		CURLMsg *msg;
		int still, left;
		CURLMcode mc;

		take_verdicts(f);
		promote_due(f, now_ms());
		while (f->running < f->o.jobs && f->checking < MAX_CHECKING && f->pending != NULL) {
			struct xfer *x = f->pending;

			f->pending = x->next;
			if (f->pending == NULL)
				f->pending_tail = NULL;
			x->next = NULL;
			start(f, x);
		}
		if (f->running == 0 && f->pending == NULL && f->waiting == NULL && f->checking == 0)
			break;
		mc = curl_multi_perform(f->multi, &still);
		if (mc != CURLM_OK)
			return fetch_fail(f, -EIO, "libcurl: %s", curl_multi_strerror(mc));
		while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			complete(f, x, msg->data.result);
		}
		report(f, false);
		wait = promote_due(f, now_ms());
		if (f->pending != NULL && f->running < f->o.jobs && f->checking < MAX_CHECKING)
			continue;
		if (wait > 1000)
			wait = 1000;
		/* the checker's verdicts wake the poll up too (curl_multi_wakeup()) */
		if (f->running > 0 || f->checking > 0) {
			mc = curl_multi_poll(f->multi, NULL, 0, (int)wait, NULL);
			if (mc != CURLM_OK)
				return fetch_fail(f, -EIO, "libcurl: %s", curl_multi_strerror(mc));
		} else if (f->waiting != NULL && f->pending == NULL) {
			struct timespec ts = { .tv_sec = (time_t)(wait / 1000), .tv_nsec = (long)(wait % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	report(f, true);
	return 0;
}

int cfs_fetch_run(struct cfs_fetch *f)
{
	uint64_t failed = f->p.objects_failed;
	int r;

	f->errmsg[0] = '\0';
	r = run_loop(f);
	if (r < 0)
		return r;
	if (f->p.objects_failed > failed)
		return fetch_fail(f, -EIO, "%llu object(s) could not be fetched",
				  (unsigned long long)(f->p.objects_failed - failed));
	return 0;
}

/* ---- queueing ----------------------------------------------------------------------- */

static struct xfer *xfer_new(struct cfs_fetch *f, enum xkind kind, const char *path)
{
	struct xfer *x = calloc(1, sizeof(*x));
	size_t n;

	if (x == NULL)
		return NULL;
	x->f = f;
	x->kind = kind;
	n = strlen(f->base) + strlen(path) + 1;
	x->url = malloc(n);
	if (x->url == NULL) {
		free(x);
		return NULL;
	}
	snprintf(x->url, n, "%s%s", f->base, path);
	return x;
}

static int check_alg(struct cfs_fetch *f, struct cfs_objstore *store)
{
	enum cfs_hash_alg alg = cfs_objstore_get_alg(store);

	if (!f->alg_set) {
		f->alg = alg;
		f->alg_set = true;
	}
	return alg == f->alg ? 0 : -EINVAL;
}

static struct xfer *object_xfer(struct cfs_fetch *f, struct cfs_objstore *store, const uint8_t *digest)
{
	char path[16 + 2 * CFS_VERITY_MAX_DIGEST];
	struct xfer *x;

	if (check_alg(f, store) < 0)
		return NULL;
	memcpy(path, "objects/", 8);
	cfs_objstore_object_path(store, digest, path + 8, sizeof(path) - 8);
	x = xfer_new(f, X_OBJECT, path);
	if (x == NULL)
		return NULL;
	x->store = store;
	memcpy(x->digest, digest, cfs_verity_digest_size(f->alg));
	return x;
}

int cfs_fetch_queue_object(struct cfs_fetch *f, struct cfs_objstore *store, const uint8_t *digest,
			   cfs_fetch_done_fn fn, void *user)
{
	struct xfer *x;

	if (check_alg(f, store) < 0)
		return fetch_fail(f, -EINVAL, "stores with different digest algorithms on one fetch handle");
	x = object_xfer(f, store, digest);
	if (x == NULL)
		return fetch_fail(f, -ENOMEM, "out of memory");
	x->fn = fn;
	x->user = user;
	push_pending(f, x, false);
	f->p.objects_total++;
	return 0;
}

/* Run a caller-owned transfer (and whatever else is queued) to its end; its status. */
static int run_one(struct cfs_fetch *f, struct xfer *x)
{
	int r;

	x->caller_owned = true;
	push_pending(f, x, true);
	f->errmsg[0] = '\0';
	r = run_loop(f);
	if (r < 0 && !x->done) {
		/* the loop broke down with @x still somewhere in it: it is freed with the handle */
		x->caller_owned = false;
		return r;
	}
	return x->status;
}

int cfs_fetch_object(struct cfs_fetch *f, struct cfs_objstore *store, const uint8_t *digest)
{
	struct xfer *x;
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	int r;

	if (check_alg(f, store) < 0)
		return fetch_fail(f, -EINVAL, "stores with different digest algorithms on one fetch handle");
	x = object_xfer(f, store, digest);
	if (x == NULL)
		return fetch_fail(f, -ENOMEM, "out of memory");
	f->p.objects_total++;
	r = run_one(f, x);
	if (!x->done)
		return r;
	if (r < 0) {
		hex_of(x, hex);
		fetch_fail(f, r, "object %s: %s", hex, x->detail);
	}
	xfer_free(x);
	return r;
}

int cfs_fetch_object_range(struct cfs_fetch *f, const struct cfs_verity_tree *tree, const uint8_t *digest,
			   void *buf, size_t len, uint64_t offset, size_t *got_out)
{
	uint64_t size = cfs_verity_tree_file_size(tree);
	char path[16 + 2 * CFS_VERITY_MAX_DIGEST];
	size_t dsize;
	struct xfer *x;
	int r;

	*got_out = 0;
	if (f->alg_set && cfs_verity_tree_alg(tree) != f->alg)
		return fetch_fail(f, -EINVAL, "a tree of another digest algorithm than this handle's objects");
	dsize = cfs_verity_digest_size(cfs_verity_tree_alg(tree));
	if (offset % CFS_VERITY_BLOCK_SIZE != 0 || offset > size)
		return fetch_fail(f, -EINVAL, "range start %llu misaligned or beyond the end", (unsigned long long)offset);
	if (len > size - offset)
		len = (size_t)(size - offset);
	if (len % CFS_VERITY_BLOCK_SIZE != 0 && offset + len != size)
		return fetch_fail(f, -EINVAL, "range length %zu is not a multiple of the block size", len);
	if (len == 0)
		return 0;
	memcpy(path, "objects/", 8);
	cfs_hex_encode(digest, 1, path + 8);
	path[10] = '/';
	cfs_hex_encode(digest + 1, dsize - 1, path + 11);
	x = xfer_new(f, X_RANGE, path);
	if (x == NULL)
		return fetch_fail(f, -ENOMEM, "out of memory");
	memcpy(x->digest, digest, dsize);
	x->tree = tree;
	x->range_off = offset;
	x->mem = buf;
	x->mem_max = len;
	x->mem_cap = len;
	r = run_one(f, x);
	if (!x->done)
		return r;
	if (r == 0)
		*got_out = x->mem_len;
	else
		fetch_fail(f, r, "%s: %s", path, x->detail);
	xfer_free(x);
	return r;
}

/* Largest tree file a server may send for an object of @size bytes (whole levels, header, slack). */
static size_t tree_file_max(uint64_t size, size_t dsize)
{
	uint64_t blocks;

	if (size == UINT64_MAX)
		return CFS_FETCH_TREE_MAX_UNSIZED;
	blocks = size / CFS_VERITY_BLOCK_SIZE + 1;
	/* level 0 holds dsize bytes per data block, each level above at most half of it */
	if (blocks > (CFS_FETCH_TREE_MAX_UNSIZED - 65536) / (2 * dsize))
		return CFS_FETCH_TREE_MAX_UNSIZED;
	return (size_t)(blocks * 2 * dsize) + 65536;
}

int cfs_fetch_tree(struct cfs_fetch *f, enum cfs_hash_alg alg, const uint8_t *digest, uint64_t size,
		   struct cfs_verity_tree **out)
{
	char path[16 + 2 * CFS_VERITY_MAX_DIGEST];
	size_t dsize = cfs_verity_digest_size(alg), len = 0;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	*out = NULL;
	if (dsize == 0)
		return fetch_fail(f, -EINVAL, "unknown digest algorithm");
	memcpy(path, "trees/", 6);
	r = cfs_objstore_digest_path(digest, dsize, path + 6, sizeof(path) - 6);
	if (r < 0)
		return fetch_fail(f, r, "bad digest");
	r = cfs_fetch_file(f, path, tree_file_max(size, dsize), &buf, &len, NULL);
	if (r < 0)
		return r; /* message set */
	/* the loader reads a descriptor; the bytes are checked there, as a cache file's are */
	fd = memfd_create("cfs-tree", MFD_CLOEXEC);
	if (fd < 0)
		return fetch_fail(f, -errno, "%s: memfd: %s", path, strerror(errno));
	r = cfs_write_full(fd, buf, len);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	if (r < 0)
		return fetch_fail(f, r, "%s: %s", path, strerror(-r));
	r = cfs_verity_tree_load(fd, alg, digest, out);
	if (r < 0)
		return fetch_fail(f, r, "%s: %s", path,
				  r == -CFS_EDIGEST ? "a tree of another object (its root does not give the digest)"
				  : r == -EUCLEAN   ? "not a valid tree file"
						    : strerror(-r));
	if (size != UINT64_MAX && cfs_verity_tree_file_size(*out) != size) {
		uint64_t got = cfs_verity_tree_file_size(*out);

		cfs_verity_tree_free(*out);
		*out = NULL;
		return fetch_fail(f, -CFS_EDIGEST, "%s: describes %llu bytes, the image says %llu", path,
				  (unsigned long long)got, (unsigned long long)size);
	}
	return 0;
}

int cfs_fetch_file(struct cfs_fetch *f, const char *path, size_t max_len, uint8_t **buf_out,
		   size_t *len_out, unsigned *kind_out)
{
	_cleanup_free_ char *esc = NULL;
	struct xfer *x;
	int r;

	*buf_out = NULL;
	*len_out = 0;
	r = cfs_fetch_escape_path(path, &esc);
	if (r < 0)
		return fetch_fail(f, r, "%s: not a relative path", path);
	x = xfer_new(f, X_FILE, esc);
	if (x == NULL)
		return fetch_fail(f, -ENOMEM, "out of memory");
	x->mem_max = max_len;
	x->mem_owned = true;
	r = run_one(f, x);
	if (!x->done)
		return r;
	if (r == 0) {
		/* a body-less answer leaves no buffer: make an empty one */
		if (x->mem == NULL && mem_append(x, "", 0) == 0 && x->mem == NULL)
			x->mem = calloc(1, 1);
		if (x->mem == NULL) {
			xfer_free(x);
			return fetch_fail(f, -ENOMEM, "out of memory");
		}
		x->mem[x->mem_len] = '\0';
		*buf_out = x->mem;
		*len_out = x->mem_len;
		if (kind_out != NULL)
			*kind_out = x->symlink ? CFS_FETCH_BODY_SYMLINK : 0;
		x->mem = NULL;
	} else {
		fetch_fail(f, r, "%s: %s", path, x->detail);
	}
	xfer_free(x);
	return r;
}

int cfs_fetch_resolve(struct cfs_fetch *f, struct cfs_objstore *store, const char *path, uint8_t *digest_out,
		      bool *stored_out)
{
	_cleanup_free_ char *esc = NULL;
	struct xfer *x;
	int r;

	r = cfs_fetch_escape_path(path, &esc);
	if (r < 0)
		return fetch_fail(f, r, "%s: not a relative path", path);
	if (check_alg(f, store) < 0)
		return fetch_fail(f, -EINVAL, "stores with different digest algorithms on one fetch handle");
	x = xfer_new(f, X_RESOLVE, esc);
	if (x == NULL)
		return fetch_fail(f, -ENOMEM, "out of memory");
	x->store = store;
	x->mem_owned = true;
	r = run_one(f, x);
	if (!x->done)
		return r;
	if (r == 0) {
		memcpy(digest_out, x->digest, cfs_verity_digest_size(f->alg));
		if (stored_out != NULL)
			*stored_out = !x->symlink;
	} else {
		fetch_fail(f, r, "%s: %s", path, x->detail);
	}
	xfer_free(x);
	return r;
}
