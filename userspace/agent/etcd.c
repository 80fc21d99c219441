// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/etcd.c - see etcd.h. Unary calls are one POST each, answered in one JSON
 * object; a watch is a POST whose answer streams JSON objects, parsed as they arrive. Keys and
 * values travel base64-encoded, 64-bit numbers as decimal strings (grpc-gateway's JSON). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <json-c/json.h>
#include "curlm.h"
#include "log.h"
#include "etcd.h"

#define DEFAULT_TIMEOUT_MS 1000
#define MAX_ANSWER	   (16 << 20) /* a unary answer; a watch message likewise */
#define MAX_KEY		   (64 << 10) /* prefix and key: etcd takes 1.5 MiB requests */
#define MAX_ENDPOINT	   256
#define WATCH_BACKOFF_MS   100	/* the first retry of a failing watch... */
#define WATCH_BACKOFF_MAX  2000 /* ...doubling up to this */
#define ELECTION_RETRY_MS  500
#define KA_RETRY_MIN_MS	   100
#define WHY_LEN		   256
/* A watch is idle for long: these find a dead peer its stream would wait on for ever. */
#define WATCH_KEEPIDLE_S  2
#define WATCH_KEEPINTVL_S 1
#define WATCH_USER_TO_MS  5000

enum op { OP_RANGE, OP_PUT, OP_TXN, OP_DELETE, OP_GRANT, OP_KEEPALIVE, OP_REVOKE, OP_WATCH };

static const struct {
	const char *path;
	bool resend; /* safe to send again after an attempt that may have reached etcd */
} op_info[] = {
	[OP_RANGE] = { "/v3/kv/range", true },
	/* Sent twice, a put writes the same value twice: an extra revision, the same state. */
	[OP_PUT] = { "/v3/kv/put", true },
	/* Sent twice, a compare-and-swap that won the first time fails the second. */
	[OP_TXN] = { "/v3/kv/txn", false },
	[OP_DELETE] = { "/v3/kv/deleterange", true },
	/* A lease granted twice: the unknown one expires by its TTL. */
	[OP_GRANT] = { "/v3/lease/grant", true },
	[OP_KEEPALIVE] = { "/v3/lease/keepalive", true },
	[OP_REVOKE] = { "/v3/lease/revoke", true },
	[OP_WATCH] = { "/v3/watch", true },
};

struct zdd_etcd;

/* What a libcurl transfer's CURLOPT_PRIVATE points to: the head of a req or a watch. */
struct xfer {
	enum op op;
	CURL *easy; /* NULL between attempts */
	size_t ep;  /* the endpoint of this attempt */
	char err[CURL_ERROR_SIZE];
};

struct buf {
	char *p; /* NUL-terminated */
	size_t len, cap;
	bool too_big, oom;
};

struct req;
typedef void (*hook_fn)(struct zdd_etcd *e, struct req *r, struct zdd_etcd_result *res);

struct req {
	struct xfer x; /* first: CURLOPT_PRIVATE */
	struct req *next;
	char *body;
	struct buf ans;
	__u64 start_ms, deadline_ms;
	__u32 tried;	    /* endpoints, a bit each */
	bool maybe_applied; /* an attempt may have reached etcd, unanswered */
	int fail;	    /* why the last attempt failed */
	char why[WHY_LEN];
	hook_fn hook; /* the client's own handling, before cb */
	zdd_etcd_cb cb;
	zdd_etcd_lease_cb lost; /* lease_grant's */
	void *ctx;
	__s64 lease; /* keepalive, revoke */
	bool orphan; /* a grant whose owner went: its lease is revoked when it comes */
};

struct lease {
	struct lease *next;
	__s64 id;
	__u64 ka_due_ms;  /* the next keepalive */
	__u64 expires_ms; /* the last answered keepalive's start + its TTL */
	bool ka_busy;
	bool dead;
	zdd_etcd_lease_cb lost;
	void *ctx;
};

struct zdd_etcd_watch {
	struct xfer x; /* first: CURLOPT_PRIVATE */
	struct zdd_etcd_watch *next;
	struct zdd_etcd *e;
	char *key64, *end64; /* end64 NULL: one key */
	__s64 next_rev;	     /* 0: from now, until the first stream says where now is */
	zdd_etcd_watch_cb cb;
	void *ctx;
	char *body;
	struct json_tokener *tok;
	size_t obj_bytes;	/* of the object being parsed */
	bool bad;		/* the stream is to be ended and opened again after a delay... */
	char why[WHY_LEN];	/* ...for this reason */
	struct json_object **q; /* parsed, not delivered yet */
	size_t nq, qcap;
	bool created;	  /* this stream was accepted by etcd */
	bool restart;	  /* this stream is to be ended and opened again at once */
	__u64 start_ms;	  /* of this stream */
	__u64 retry_ms;	  /* when to open the next stream */
	__u32 backoff_ms; /* the delay after the next failure */
	bool dead;
};

struct zdd_etcd_election {
	struct zdd_etcd_election *next;
	struct zdd_etcd *e;
	char *key, *value;
	__u32 ttl_s;
	__s64 lease;
	__s64 txn_lease; /* the lease of the campaign txn in flight */
	__s64 rev;	 /* the revision of what we know of the key: older events are stale */
	bool granting, campaigning;
	__u64 retry_ms; /* 0: nothing to retry */
	bool leader;
	char *leader_value;
	struct zdd_etcd_watch *w;
	zdd_etcd_election_cb cb;
	void *ctx;
	bool dead;
};

struct zdd_etcd {
	struct zdd_curlm m;
	char *ep[ZDD_ETCD_MAX_ENDPOINTS];
	size_t n_ep, cur;
	char *prefix;
	size_t prefix_len;
	__u32 timeout_ms;
	char *ca_file, *cert_file, *key_file;
	struct curl_slist *hdrs, *watch_hdrs;
	/* Lists, newest first. Leases, watches and elections leave theirs only in reap(), so a
	 * callback may cancel any of them while a loop walks the list. */
	struct req *reqs;
	struct lease *leases;
	struct zdd_etcd_watch *watches;
	struct zdd_etcd_election *elections;
};

static void __attribute__((format(printf, 3, 4)))
why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	/* Server text ends up in logs: one printable line. */
	for (s = why; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* ---- base64, keys ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const void *data, size_t n)
{
	const unsigned char *p = data;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	__u32 v;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < n; i += 3) {
		v = (__u32)p[i] << 16 | (i + 1 < n ? (__u32)p[i + 1] << 8 : 0) |
		    (i + 2 < n ? p[i + 2] : 0);
		*o++ = b64_chars[v >> 18 & 63];
		*o++ = b64_chars[v >> 12 & 63];
		*o++ = i + 1 < n ? b64_chars[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64_chars[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64_chars, c) : NULL;

	return p ? (int)(p - b64_chars) : -1;
}

/* Strict: padded, nothing but the alphabet. *out gets a NUL after its *len bytes. */
static int b64_decode(const char *s, char **out, size_t *len)
{
	size_t n = strlen(s), i, o = 0;
	int v[4], k;
	char *p;

	if (n % 4)
		return -EPROTO;
	p = malloc(n / 4 * 3 + 1);
	if (!p)
		return -ENOMEM;
	for (i = 0; i < n; i += 4) {
		for (k = 0; k < 4; k++)
			v[k] = b64_val(s[i + k]);
		/* '=' only as the last one or two characters. */
		if (v[0] < 0 || v[1] < 0 || (v[2] < 0 && (i + 4 < n || s[i + 2] != '=')) ||
		    (v[3] < 0 && (i + 4 < n || s[i + 3] != '=')) || (v[2] < 0 && v[3] >= 0)) {
			free(p);
			return -EPROTO;
		}
		p[o++] = (char)(v[0] << 2 | v[1] >> 4);
		if (v[2] >= 0)
			p[o++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (v[3] >= 0)
			p[o++] = (char)((v[2] & 3) << 6 | v[3]);
	}
	p[o] = '\0';
	*out = p;
	*len = o;
	return 0;
}

/* A key the API takes: the prefix and it not over MAX_KEY, not empty unless a prefix. */
static bool key_ok(const struct zdd_etcd *e, const char *key, bool prefix)
{
	size_t n = strnlen(key, MAX_KEY + 1);

	return (prefix || n) && e->prefix_len + n <= MAX_KEY;
}

/* prefix + key (key_ok), base64; NULL when out of memory. */
static char *key64(const struct zdd_etcd *e, const char *key)
{
	size_t klen = strlen(key), n = e->prefix_len + klen;
	char *full, *k64;

	full = malloc(n + 1);
	if (!full)
		return NULL;
	memcpy(full, e->prefix, e->prefix_len);
	memcpy(full + e->prefix_len, key, klen + 1);
	/* The empty key is no key to etcd; "\0" is the lowest there is. */
	k64 = n ? b64_encode(full, n) : strdup("AA==");
	free(full);
	return k64;
}

/*
 * The range_end that makes [key, end) every key starting with prefix + key: the last byte
 * that can be incremented, incremented, what follows dropped; "\0" (to the end of the key
 * space) when there is none.
 */
static char *prefix_end64(const struct zdd_etcd *e, const char *key)
{
	size_t klen = strlen(key), n = e->prefix_len + klen;
	unsigned char *full;
	char *end = NULL;

	full = malloc(n + 1);
	if (!full)
		return NULL;
	memcpy(full, e->prefix, e->prefix_len);
	memcpy(full + e->prefix_len, key, klen);
	while (n && full[n - 1] == 0xff)
		n--;
	if (n) {
		full[n - 1]++;
		end = b64_encode(full, n);
	} else {
		end = strdup("AA==");
	}
	free(full);
	return end;
}

/* ---- answers ---- */

static size_t buf_add(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n, cap;
	char *p;

	if (len > MAX_ANSWER - b->len) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (b->len + len + 1 > b->cap) {
		cap = b->cap ? b->cap : 1024;
		while (cap < b->len + len + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* The whole text as one JSON object, or NULL. */
static struct json_object *parse_object(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	size_t end;

	if (!tok)
		return NULL;
	if (len && len < INT_MAX) {
		o = json_tokener_parse_ex(tok, s, (int)len);
		end = json_tokener_get_parse_end(tok);
		while (end < len && strchr(" \t\r\n", s[end]))
			end++;
		if (json_tokener_get_error(tok) != json_tokener_success || end < len ||
		    !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

/* o's member name if it has that type, else NULL (o itself may be NULL). */
static struct json_object *member(struct json_object *o, const char *name, enum json_type type)
{
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

static bool has(struct json_object *o, const char *name)
{
	return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, name, NULL);
}

/* An int64 as the gateway writes it (a decimal string; a number is taken too); absent: 0. */
static int get_i64(struct json_object *o, const char *name, __s64 *v)
{
	struct json_object *s = member(o, name, json_type_string);
	const char *str;
	char *end;

	*v = 0;
	if (s) {
		str = json_object_get_string(s);
		errno = 0;
		*v = strtoll(str, &end, 10);
		return end == str || *end || errno ? -EPROTO : 0;
	}
	if ((s = member(o, name, json_type_int)))
		*v = json_object_get_int64(s);
	else if (has(o, name))
		return -EPROTO;
	return 0;
}

static int get_bool(struct json_object *o, const char *name, bool *v)
{
	struct json_object *b = member(o, name, json_type_boolean);

	*v = b && json_object_get_boolean(b);
	return b || !has(o, name) ? 0 : -EPROTO;
}

/* Decoded key-values, each key and value in one allocation starting at kv.key. */
struct kvs {
	struct zdd_etcd_kv *kv;
	size_t n;
};

static void kvs_free(struct kvs *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free((char *)k->kv[i].key);
	free(k->kv);
	k->kv = NULL;
	k->n = 0;
}

static int kv_parse(const struct zdd_etcd *e, struct json_object *o, struct zdd_etcd_kv *kv)
{
	struct json_object *k = member(o, "key", json_type_string);
	struct json_object *v = member(o, "value", json_type_string);
	char *key = NULL, *val = NULL, *p;
	size_t klen, vlen = 0;
	int err;

	memset(kv, 0, sizeof(*kv));
	if (!k || (!v && has(o, "value")))
		return -EPROTO;
	err = b64_decode(json_object_get_string(k), &key, &klen);
	if (!err && v)
		err = b64_decode(json_object_get_string(v), &val, &vlen);
	if (!err && (klen < e->prefix_len || memcmp(key, e->prefix, e->prefix_len)))
		err = -EPROTO; /* not asked for */
	if (!err)
		err = get_i64(o, "create_revision", &kv->create_revision) ?:
			      get_i64(o, "mod_revision", &kv->mod_revision) ?:
			      get_i64(o, "version", &kv->version) ?: get_i64(o, "lease", &kv->lease);
	if (err)
		goto out;
	/* One allocation: the key without the prefix, NUL, the value, NUL. */
	klen -= e->prefix_len;
	p = malloc(klen + vlen + 2);
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(p, key + e->prefix_len, klen);
	p[klen] = '\0';
	if (vlen)
		memcpy(p + klen + 1, val, vlen);
	p[klen + 1 + vlen] = '\0';
	kv->key = p;
	kv->key_len = klen;
	kv->value = p + klen + 1;
	kv->value_len = vlen;
out:
	free(key);
	free(val);
	return err;
}

/* arr: an array of mvccpb.KeyValue, or NULL for none. */
static int kvs_parse(const struct zdd_etcd *e, struct json_object *arr, struct kvs *k)
{
	size_t i, n = arr ? json_object_array_length(arr) : 0;
	int err;

	k->n = 0;
	k->kv = n ? calloc(n, sizeof(*k->kv)) : NULL;
	if (n && !k->kv)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		err = kv_parse(e, json_object_array_get_idx(arr, i), &k->kv[i]);
		if (err) {
			kvs_free(k);
			return err;
		}
		k->n++;
	}
	return 0;
}

/* gRPC status codes as the gateway passes them on. */
static int grpc_errno(__s64 code)
{
	switch (code) {
	case 3: /* INVALID_ARGUMENT */
	case 9: /* FAILED_PRECONDITION */
		return -EINVAL;
	case 4: /* DEADLINE_EXCEEDED */
		return -ETIMEDOUT;
	case 5: /* NOT_FOUND: the lease */
		return -ENOENT;
	case 7:	 /* PERMISSION_DENIED */
	case 16: /* UNAUTHENTICATED */
		return -EACCES;
	case 8: /* RESOURCE_EXHAUSTED: the space quota */
		return -ENOSPC;
	case 11: /* OUT_OF_RANGE: a compacted revision */
		return -ERANGE;
	case 14: /* UNAVAILABLE: no leader, or etcd's own timeout */
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/*
 * An error as the gateway writes it: {"error":"..","message":"..","code":N} for a unary call,
 * {"error":{"grpc_code":N,"message":".."}} in a stream. -errno, or 0 when o is none.
 */
static int server_error(struct json_object *o, long status, char *why)
{
	struct json_object *err = member(o, "error", json_type_object) ?: o;
	struct json_object *msg = member(err, "message", json_type_string);
	__s64 code = 0;

	if (!has(o, "error")) {
		if (status == 200 || status == 0)
			return 0;
		why_set(why, WHY_LEN, "HTTP %ld, not from etcd's gateway", status);
		return -EPROTO;
	}
	if (get_i64(err, err == o ? "code" : "grpc_code", &code) || !code)
		code = 2; /* UNKNOWN */
	why_set(why, WHY_LEN, "etcd: %s",
		msg ? json_object_get_string(msg) : "an error it did not explain");
	return grpc_errno(code);
}

/* ---- transfers ---- */

static int sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	unsigned int ms = WATCH_USER_TO_MS;

	(void)arg;
	(void)purpose;
	/* With the keepalives: a peer that stops acknowledging ends the stream. */
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
	return CURL_SOCKOPT_OK;
}

/* Starts x's transfer to endpoint ep: path, JSON body, write callback. 0 or -ENOMEM. */
static int xfer_start(struct zdd_etcd *e, struct xfer *x, size_t ep, const char *body,
		      curl_write_callback write, void *wdata, long timeout_ms)
{
	bool watch = x->op == OP_WATCH;
	char url[MAX_ENDPOINT + 32];
	CURL *h = curl_easy_init();

	if (!h)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s%s", e->ep[ep], op_info[x->op].path);
	x->err[0] = '\0';
	/* HTTP/1.1 even over TLS: etcd serves gRPC itself to h2, and the gateway to HTTP/1.1. */
	if (zdd_curlm_easy_defaults(h) || curl_easy_setopt(h, CURLOPT_URL, url) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, watch ? e->watch_hdrs : e->hdrs) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body)) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, watch ? 0L : timeout_ms) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, wdata) ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->err) ||
	    curl_easy_setopt(h, CURLOPT_PRIVATE, x) ||
	    (e->ca_file && curl_easy_setopt(h, CURLOPT_CAINFO, e->ca_file)) ||
	    (e->cert_file && curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert_file)) ||
	    (e->key_file && curl_easy_setopt(h, CURLOPT_SSLKEY, e->key_file)) ||
	    (watch && (curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) ||
		       curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, (long)WATCH_KEEPIDLE_S) ||
		       curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, (long)WATCH_KEEPINTVL_S) ||
		       curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, sockopt))) ||
	    curl_multi_add_handle(e->m.multi, h)) {
		curl_easy_cleanup(h);
		return -ENOMEM;
	}
	x->easy = h;
	x->ep = ep;
	return 0;
}

static void xfer_stop(struct zdd_etcd *e, struct xfer *x)
{
	if (!x->easy)
		return;
	curl_multi_remove_handle(e->m.multi, x->easy);
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
}

/* ep gave no answer: the next endpoint becomes current, unless another failure moved on. */
static void endpoint_failed(struct zdd_etcd *e, size_t ep, const char *why)
{
	if (ep != e->cur || e->n_ep == 1)
		return;
	e->cur = (ep + 1) % e->n_ep;
	pr_warn("etcd: %s: %s; now using %s\n", e->ep[ep], why, e->ep[e->cur]);
}

/* Did the attempt surely not reach etcd? Nothing of the request went out. */
static bool unsent(CURL *h, CURLcode code)
{
	long sent = 0;

	if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
		return true;
	return !curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent) && sent == 0;
}

/* ---- requests ---- */

/* The next attempt: the current endpoint, or the first after it this request has not tried. */
static int req_attempt(struct zdd_etcd *e, struct req *r, __u64 now_ms)
{
	size_t i, ep = e->cur;
	__u64 left, share;
	int untried = (int)e->n_ep - __builtin_popcount(r->tried);

	if (now_ms >= r->deadline_ms || untried <= 0)
		return -ETIMEDOUT;
	for (i = 0; i < e->n_ep && (r->tried & 1u << ep); i++)
		ep = (ep + 1) % e->n_ep;
	/* Its share of the time left: a black hole first still leaves time for the others. */
	left = r->deadline_ms - now_ms;
	share = left / (__u64)untried ?: 1;
	r->tried |= 1u << ep;
	buf_free(&r->ans);
	return xfer_start(e, &r->x, ep, r->body, buf_add, &r->ans, (long)share);
}

static void req_free(struct zdd_etcd *e, struct req *r)
{
	struct req **pp = &e->reqs;

	xfer_stop(e, &r->x);
	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	buf_free(&r->ans);
	free(r->body);
	free(r);
}

/* A request for op with body (taken, freed here on failure), started. */
static int req_start(struct zdd_etcd *e, enum op op, char *body, zdd_etcd_cb cb, void *ctx,
		     struct req **out)
{
	struct req *r;
	int err;

	if (!body)
		return -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r) {
		free(body);
		return -ENOMEM;
	}
	r->x.op = op;
	r->body = body;
	r->cb = cb;
	r->ctx = ctx;
	r->start_ms = zdd_mono_ms();
	r->deadline_ms = r->start_ms + e->timeout_ms;
	r->next = e->reqs;
	e->reqs = r;
	err = req_attempt(e, r, r->start_ms);
	if (err) {
		req_free(e, r);
		return err;
	}
	if (out)
		*out = r;
	return 0;
}

/* The answer's fields for r's op. */
static int req_result(struct zdd_etcd *e, struct req *r, struct json_object *o,
		      struct zdd_etcd_result *res, struct kvs *kvs)
{
	struct json_object *resp, *range;
	int err;

	/* A keepalive is a stream of one answer: {"result":{...}} */
	if (r->x.op == OP_KEEPALIVE && !(o = member(o, "result", json_type_object)))
		return -EPROTO;
	err = get_i64(member(o, "header", json_type_object), "revision", &res->revision);
	if (err)
		return err;
	switch (r->x.op) {
	case OP_RANGE:
		if (!member(o, "kvs", json_type_array) && has(o, "kvs"))
			return -EPROTO;
		err = kvs_parse(e, member(o, "kvs", json_type_array), kvs);
		break;
	case OP_TXN:
		err = get_bool(o, "succeeded", &res->succeeded);
		if (err || res->succeeded)
			break;
		/* The failure branch's range: the key as it is. */
		resp = member(o, "responses", json_type_array);
		range = member(json_object_array_get_idx(resp, 0), "response_range",
			       json_type_object);
		if (!range)
			return -EPROTO;
		err = kvs_parse(e, member(range, "kvs", json_type_array), kvs);
		break;
	case OP_DELETE:
		err = get_i64(o, "deleted", &res->deleted);
		break;
	case OP_GRANT:
	case OP_KEEPALIVE:
		/* A grant's own "error" member was taken by server_error(). */
		err = get_i64(o, "ID", &res->lease) ?: get_i64(o, "TTL", &res->ttl);
		if (!err && r->x.op == OP_GRANT && (!res->lease || res->ttl <= 0))
			return -EPROTO;
		break;
	default:
		break;
	}
	res->kvs = kvs->kv;
	res->n_kvs = kvs->n;
	return err;
}

/* Calls back with res and frees r. */
static void req_finish(struct zdd_etcd *e, struct req *r, struct zdd_etcd_result *res)
{
	if (res->err && !res->error)
		res->error = r->why[0] ? r->why : strerror(-res->err);
	if (r->hook)
		r->hook(e, r, res);
	if (r->cb)
		r->cb(r->ctx, res);
	req_free(e, r);
}

static void req_failed(struct zdd_etcd *e, struct req *r, int err)
{
	struct zdd_etcd_result res = { .err = err };

	req_finish(e, r, &res);
}

/* An attempt ended without an answer from etcd (or with "unavailable"): next one, or give up. */
static void req_retry(struct zdd_etcd *e, struct req *r, bool not_sent, __u64 now_ms)
{
	int err;

	endpoint_failed(e, r->x.ep, r->why);
	xfer_stop(e, &r->x);
	/* "Unavailable" may be etcd's own timeout, after which a write may still apply. */
	if (!not_sent)
		r->maybe_applied = true;
	if (not_sent || op_info[r->x.op].resend) {
		err = req_attempt(e, r, now_ms);
		if (!err)
			return;
		if (err != -ETIMEDOUT) {
			req_failed(e, r, err);
			return;
		}
	}
	if (r->fail == -EAGAIN)
		err = -EAGAIN;
	else
		err = r->maybe_applied ? -ETIMEDOUT : -ENOTCONN;
	req_failed(e, r, err);
}

static void req_done(struct zdd_etcd *e, struct req *r, CURLcode code, __u64 now_ms)
{
	struct zdd_etcd_result res = { 0 };
	struct kvs kvs = { 0 };
	struct json_object *o;
	long status = 0;

	curl_easy_getinfo(r->x.easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->ans.too_big || r->ans.oom) {
		res.err = r->ans.oom ? -ENOMEM : -EFBIG;
		req_finish(e, r, &res);
		return;
	}
	if (code != CURLE_OK || !status) {
		r->fail = code == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ENOTCONN;
		why_set(r->why, WHY_LEN, "%s", r->x.err[0] ? r->x.err : curl_easy_strerror(code));
		req_retry(e, r, unsent(r->x.easy, code), now_ms);
		return;
	}
	o = parse_object(r->ans.p, r->ans.len);
	res.err = server_error(o, status, r->why);
	if (res.err == -EAGAIN) {
		json_object_put(o);
		r->fail = -EAGAIN;
		req_retry(e, r, false, now_ms);
		return;
	}
	if (!res.err && !o) {
		why_set(r->why, WHY_LEN, "HTTP %ld, not etcd's JSON", status);
		res.err = -EPROTO;
	} else if (!res.err) {
		res.err = req_result(e, r, o, &res, &kvs);
		if (res.err == -EPROTO && !r->why[0])
			why_set(r->why, WHY_LEN, "an answer not of etcd's gateway");
	}
	req_finish(e, r, &res);
	kvs_free(&kvs);
	json_object_put(o);
}

/* ---- leases ---- */

static struct lease *lease_find(struct zdd_etcd *e, __s64 id)
{
	struct lease *l;

	for (l = e->leases; l; l = l->next)
		if (l->id == id && !l->dead)
			return l;
	return NULL;
}

static void lease_gone(struct lease *l, int err)
{
	l->dead = true;
	if (l->lost)
		l->lost(l->ctx, l->id, err);
}

static void keepalive_done(struct zdd_etcd *e, struct req *r, struct zdd_etcd_result *res)
{
	struct lease *l = lease_find(e, r->lease);
	__u64 now = zdd_mono_ms();

	if (!l)
		return; /* revoked meanwhile */
	l->ka_busy = false;
	if (!res->err && res->ttl > 0) {
		/* From the request's start: etcd renewed it no earlier than that. */
		l->expires_ms = r->start_ms + (__u64)res->ttl * 1000;
		l->ka_due_ms = r->start_ms + (__u64)res->ttl * 1000 / 3;
	} else if ((!res->err && res->ttl <= 0) || res->err == -ENOENT) {
		lease_gone(l, -ENOENT);
	} else {
		l->ka_due_ms = now + (l->expires_ms > now ? (l->expires_ms - now) / 10 : 0) +
			       KA_RETRY_MIN_MS;
		pr_debug("etcd: lease %lld keepalive: %s\n", (long long)l->id, res->error);
	}
}

static int lease_send(struct zdd_etcd *e, enum op op, __s64 id, hook_fn hook, zdd_etcd_cb cb,
		      void *ctx)
{
	struct req *r;
	char *body;
	int err;

	if (asprintf(&body, "{\"ID\":\"%lld\"}", (long long)id) < 0)
		body = NULL;
	err = req_start(e, op, body, cb, ctx, &r);
	if (!err) {
		r->lease = id;
		r->hook = hook;
	}
	return err;
}

static void granted(struct zdd_etcd *e, struct req *r, struct zdd_etcd_result *res)
{
	struct lease *l;

	if (res->err)
		return;
	if (r->orphan) {
		lease_send(e, OP_REVOKE, res->lease, NULL, NULL, NULL);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		/* Not kept alive, so not handed out: the caller sees a failure. */
		res->err = -ENOMEM;
		lease_send(e, OP_REVOKE, res->lease, NULL, NULL, NULL);
		return;
	}
	l->id = res->lease;
	l->expires_ms = r->start_ms + (__u64)res->ttl * 1000;
	l->ka_due_ms = r->start_ms + (__u64)res->ttl * 1000 / 3;
	l->lost = r->lost;
	l->ctx = r->ctx;
	l->next = e->leases;
	e->leases = l;
}

int zdd_etcd_lease_grant(struct zdd_etcd *e, __u32 ttl_s, zdd_etcd_cb cb, zdd_etcd_lease_cb lost,
			 void *ctx)
{
	struct req *r;
	char *body;
	int err;

	if (!ttl_s || ttl_s > INT32_MAX)
		return -EINVAL;
	if (asprintf(&body, "{\"TTL\":\"%u\"}", ttl_s) < 0)
		body = NULL;
	err = req_start(e, OP_GRANT, body, cb, ctx, &r);
	if (!err) {
		r->hook = granted;
		r->lost = lost;
	}
	return err;
}

/* A revoke of a lease already gone (expired, revoked elsewhere) did what was asked. */
static void revoked(struct zdd_etcd *e, struct req *r, struct zdd_etcd_result *res)
{
	(void)e;
	if (res->err == -ENOENT)
		pr_debug("etcd: lease %lld was gone already\n", (long long)r->lease);
}

int zdd_etcd_lease_revoke(struct zdd_etcd *e, __s64 lease, zdd_etcd_cb cb, void *ctx)
{
	struct lease *l = lease_find(e, lease);

	if (lease <= 0)
		return -EINVAL;
	if (l)
		l->dead = true;
	return lease_send(e, OP_REVOKE, lease, revoked, cb, ctx);
}

static void leases_run(struct zdd_etcd *e, __u64 now_ms)
{
	struct lease *l;
	__s64 id;

	for (l = e->leases; l; l = l->next) {
		if (l->dead)
			continue;
		if (now_ms >= l->expires_ms) {
			id = l->id;
			pr_warn("etcd: lease %lld: no keepalive answered for its TTL\n",
				(long long)id);
			lease_gone(l, -ETIMEDOUT);
			/* If etcd still has it, what it holds must go now, not at its expiry. */
			lease_send(e, OP_REVOKE, id, NULL, NULL, NULL);
		} else if (!l->ka_busy && now_ms >= l->ka_due_ms) {
			l->ka_busy = !lease_send(e, OP_KEEPALIVE, l->id, keepalive_done, NULL,
						 NULL);
			if (!l->ka_busy)
				l->ka_due_ms = now_ms + KA_RETRY_MIN_MS;
		}
	}
}

/* ---- key-value operations ---- */

int zdd_etcd_get(struct zdd_etcd *e, const char *key, zdd_etcd_cb cb, void *ctx)
{
	char *k64, *body = NULL;

	if (!key_ok(e, key, false))
		return -EINVAL;
	k64 = key64(e, key);
	if (k64 && asprintf(&body, "{\"key\":\"%s\"}", k64) < 0)
		body = NULL;
	free(k64);
	return req_start(e, OP_RANGE, body, cb, ctx, NULL);
}

int zdd_etcd_range(struct zdd_etcd *e, const char *key_prefix, zdd_etcd_cb cb, void *ctx)
{
	char *k64, *end, *body = NULL;

	if (!key_ok(e, key_prefix, true))
		return -EINVAL;
	k64 = key64(e, key_prefix);
	end = prefix_end64(e, key_prefix);
	if (k64 && end && asprintf(&body, "{\"key\":\"%s\",\"range_end\":\"%s\"}", k64, end) < 0)
		body = NULL;
	free(k64);
	free(end);
	return req_start(e, OP_RANGE, body, cb, ctx, NULL);
}

/* A put's {"key":K,"value":V,"lease":L}, and K alone in *k64; NULL when out of memory. */
static char *put_members(struct zdd_etcd *e, const char *key, const void *value, size_t len,
			 __s64 lease, char **k64)
{
	char *v64 = NULL, *s = NULL;

	*k64 = key64(e, key);
	if (*k64)
		v64 = b64_encode(value, len);
	if (v64 && asprintf(&s, "{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"%lld\"}", *k64, v64,
			    (long long)lease) < 0)
		s = NULL;
	free(v64);
	return s;
}

int zdd_etcd_put(struct zdd_etcd *e, const char *key, const void *value, size_t len, __s64 lease,
		 zdd_etcd_cb cb, void *ctx)
{
	char *k64, *body;

	if (!key_ok(e, key, false) || lease < 0 || len > MAX_ANSWER / 2 || (len && !value))
		return -EINVAL;
	body = put_members(e, key, value, len, lease, &k64);
	free(k64);
	return req_start(e, OP_PUT, body, cb, ctx, NULL);
}

int zdd_etcd_txn_put_if(struct zdd_etcd *e, const char *key, const void *value, size_t len,
			__s64 mod_revision, __s64 lease, zdd_etcd_cb cb, void *ctx)
{
	bool absent = mod_revision == ZDD_ETCD_ABSENT;
	char *k64, *put, *body = NULL;

	if (!key_ok(e, key, false) || lease < 0 || mod_revision < 0 || len > MAX_ANSWER / 2 ||
	    (len && !value))
		return -EINVAL;
	put = put_members(e, key, value, len, lease, &k64);
	/* As etcd's concurrency package: the compare and the write are one transaction. */
	if (put &&
	    asprintf(&body,
		     "{\"compare\":[{\"key\":\"%s\",\"result\":\"EQUAL\",\"target\":\"%s\","
		     "\"%s\":\"%lld\"}],\"success\":[{\"request_put\":%s}],"
		     "\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
		     k64, absent ? "CREATE" : "MOD", absent ? "create_revision" : "mod_revision",
		     (long long)mod_revision, put, k64) < 0)
		body = NULL;
	free(put);
	free(k64);
	return req_start(e, OP_TXN, body, cb, ctx, NULL);
}

int zdd_etcd_delete(struct zdd_etcd *e, const char *key, zdd_etcd_cb cb, void *ctx)
{
	char *k64, *body = NULL;

	if (!key_ok(e, key, false))
		return -EINVAL;
	k64 = key64(e, key);
	if (k64 && asprintf(&body, "{\"key\":\"%s\"}", k64) < 0)
		body = NULL;
	free(k64);
	return req_start(e, OP_DELETE, body, cb, ctx, NULL);
}

/* ---- watches ---- */

static void watch_bad(struct zdd_etcd_watch *w, const char *why)
{
	if (!w->bad)
		why_set(w->why, WHY_LEN, "%s", why);
	w->bad = true;
}

static size_t watch_data(char *data, size_t size, size_t n, void *arg)
{
	struct zdd_etcd_watch *w = arg;
	size_t len = size * n, off = 0, used;
	struct json_object *o, **q;
	enum json_tokener_error jerr;
	int chunk;

	/* One object per answer of the stream, each whole before it is queued. */
	while (off < len) {
		chunk = len - off > INT_MAX ? INT_MAX : (int)(len - off);
		o = json_tokener_parse_ex(w->tok, data + off, chunk);
		jerr = json_tokener_get_error(w->tok);
		if (jerr == json_tokener_continue) {
			w->obj_bytes += (size_t)chunk;
			if (w->obj_bytes > MAX_ANSWER)
				goto bad;
			off += (size_t)chunk;
			continue;
		}
		if (jerr != json_tokener_success || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			goto bad;
		}
		used = json_tokener_get_parse_end(w->tok);
		off += used ? used : (size_t)chunk;
		w->obj_bytes = 0;
		if (w->nq == w->qcap) {
			q = realloc(w->q, (w->qcap ? w->qcap * 2 : 8) * sizeof(*q));
			if (!q) {
				json_object_put(o);
				goto bad;
			}
			w->q = q;
			w->qcap = w->qcap ? w->qcap * 2 : 8;
		}
		w->q[w->nq++] = o;
	}
	return len;
bad:
	watch_bad(w, "an answer that is not JSON, or over 16 MiB");
	return 0; /* ends the stream; it is opened again */
}

static void watch_drop_queue(struct zdd_etcd_watch *w)
{
	while (w->nq)
		json_object_put(w->q[--w->nq]); /* NULL: taken */
}

static int watch_connect(struct zdd_etcd *e, struct zdd_etcd_watch *w, __u64 now_ms)
{
	char rev[32] = "";
	int err;

	free(w->body);
	if (w->next_rev)
		snprintf(rev, sizeof(rev), ",\"start_revision\":\"%lld\"", (long long)w->next_rev);
	if (asprintf(&w->body, "{\"create_request\":{\"key\":\"%s\"%s%s%s%s}}", w->key64,
		     w->end64 ? ",\"range_end\":\"" : "", w->end64 ?: "", w->end64 ? "\"" : "",
		     rev) < 0) {
		w->body = NULL;
		return -ENOMEM;
	}
	json_tokener_reset(w->tok);
	w->obj_bytes = 0;
	w->bad = false;
	w->created = false;
	w->restart = false;
	w->start_ms = now_ms;
	err = xfer_start(e, &w->x, e->cur, w->body, watch_data, w, (long)e->timeout_ms);
	if (err)
		w->retry_ms = now_ms + WATCH_BACKOFF_MAX;
	return err;
}

/*
 * The stream is over, or is to be: the next one at once when this one was restarted on purpose
 * or had worked until it broke (an etcd restart, a cut connection); else after a delay that
 * grows while they fail, on the next endpoint.
 */
static void watch_ended(struct zdd_etcd *e, struct zdd_etcd_watch *w, const char *why, __u64 now_ms)
{
	xfer_stop(e, &w->x);
	if (w->restart || (w->created && !w->bad)) {
		if (!w->restart)
			pr_debug("etcd: watch stream ended (%s), resuming at revision %lld\n", why,
				 (long long)w->next_rev);
		w->backoff_ms = WATCH_BACKOFF_MS;
		w->retry_ms = now_ms;
	} else {
		endpoint_failed(e, w->x.ep, why);
		w->retry_ms = now_ms + w->backoff_ms;
		w->backoff_ms = w->backoff_ms * 2 > WATCH_BACKOFF_MAX ? WATCH_BACKOFF_MAX
								      : w->backoff_ms * 2;
	}
	w->created = false;
	w->restart = false;
	w->bad = false;
}

/* The events of one answer, from the revision not delivered yet; then the callback. */
static void watch_events(struct zdd_etcd_watch *w, struct json_object *evs,
			 struct zdd_etcd_watch_batch *b)
{
	size_t i, n = json_object_array_length(evs);
	struct zdd_etcd_event *out = calloc(n, sizeof(*out));
	struct json_object *ev, *kv, *type;
	int err = 0;

	if (!out) {
		watch_bad(w, strerror(ENOMEM)); /* the events come again with the next stream */
		return;
	}
	for (i = 0; i < n; i++) {
		ev = json_object_array_get_idx(evs, i);
		kv = member(ev, "kv", json_type_object);
		type = member(ev, "type", json_type_string);
		if (!kv || (!type && has(ev, "type"))) {
			err = -EPROTO;
			break;
		}
		/* proto3 leaves the default out: no type is a PUT. */
		out[b->n].type = type && !strcmp(json_object_get_string(type), "DELETE")
					 ? ZDD_ETCD_DELETE
					 : ZDD_ETCD_PUT;
		err = kv_parse(w->e, kv, &out[b->n].kv);
		if (err)
			break;
		/* Delivered before the stream broke: not twice. */
		if (out[b->n].kv.mod_revision < w->next_rev)
			free((char *)out[b->n].kv.key);
		else
			b->n++;
	}
	if (err) {
		watch_bad(w, err == -ENOMEM ? strerror(ENOMEM) : "an event not of etcd's gateway");
	} else if (b->n) {
		w->next_rev = out[b->n - 1].kv.mod_revision + 1;
		b->ev = out;
		w->cb(w->ctx, b);
	}
	for (i = 0; i < b->n; i++)
		free((char *)out[i].kv.key);
	free(out);
}

/* One answer of the stream: an error, created, canceled (compacted) or events. */
static void watch_message(struct zdd_etcd_watch *w, struct json_object *o)
{
	struct json_object *res = member(o, "result", json_type_object), *evs;
	struct zdd_etcd_watch_batch b = { 0 };
	bool created, canceled;
	char why[WHY_LEN];

	if (!res) {
		if (!server_error(o, 0, why))
			why_set(why, WHY_LEN, "an answer not of etcd's gateway");
		watch_bad(w, why);
		return;
	}
	evs = member(res, "events", json_type_array);
	if (get_i64(member(res, "header", json_type_object), "revision", &b.revision) ||
	    get_bool(res, "created", &created) || get_bool(res, "canceled", &canceled) ||
	    get_i64(res, "compact_revision", &b.compact_revision) || (!evs && has(res, "events"))) {
		watch_bad(w, "an answer not of etcd's gateway");
		return;
	}
	if (created) {
		w->created = true;
		w->backoff_ms = WATCH_BACKOFF_MS;
		/* From now: now is the revision etcd had when it took the watch. */
		if (!w->next_rev)
			w->next_rev = b.revision + 1;
	}
	if (canceled && b.compact_revision > 0) {
		/* Compacted: from the oldest revision etcd still has, and the caller knows. */
		w->next_rev = b.compact_revision;
		w->restart = true;
		w->cb(w->ctx, &b);
	} else if (canceled) {
		/* The stream goes on, the watch in it does not (a member without a leader). */
		watch_bad(w, "canceled by etcd");
	} else if (evs && json_object_array_length(evs)) {
		watch_events(w, evs, &b);
	}
}

/* Delivers what the stream brought, in order, until the callback cancels the watch. */
static void watch_deliver(struct zdd_etcd_watch *w)
{
	struct json_object *o;
	size_t i;

	for (i = 0; i < w->nq && !w->dead && !w->bad && !w->restart; i++) {
		o = w->q[i];
		w->q[i] = NULL; /* ours now: a cancel in the callback drops the rest */
		watch_message(w, o);
		json_object_put(o);
	}
	watch_drop_queue(w);
}

static void watch_run(struct zdd_etcd *e, struct zdd_etcd_watch *w, __u64 now_ms)
{
	watch_deliver(w);
	if (w->dead)
		return;
	if (w->x.easy) {
		if (w->bad || w->restart)
			watch_ended(e, w, w->why, now_ms);
		else if (!w->created && now_ms >= w->start_ms + e->timeout_ms)
			watch_ended(e, w, "no answer in time", now_ms);
		else if (w->x.ep != e->cur) {
			/* Another request found the endpoint dead: the stream may be too. */
			w->restart = true;
			watch_ended(e, w, "endpoint changed", now_ms);
		}
	}
	if (!w->x.easy && now_ms >= w->retry_ms)
		watch_connect(e, w, now_ms);
}

int zdd_etcd_watch(struct zdd_etcd *e, struct zdd_etcd_watch **out, const char *key, bool prefix,
		   __s64 from_revision, zdd_etcd_watch_cb cb, void *ctx)
{
	struct zdd_etcd_watch *w;

	if (!key_ok(e, key, prefix) || from_revision < 0 || !cb)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->x.op = OP_WATCH;
	w->e = e;
	w->cb = cb;
	w->ctx = ctx;
	w->next_rev = from_revision;
	w->backoff_ms = WATCH_BACKOFF_MS;
	w->key64 = key64(e, key);
	w->end64 = prefix ? prefix_end64(e, key) : NULL;
	w->tok = json_tokener_new();
	if (!w->key64 || (prefix && !w->end64) || !w->tok) {
		json_tokener_free(w->tok);
		free(w->key64);
		free(w->end64);
		free(w);
		return -ENOMEM;
	}
	/* Opened by the next zdd_etcd_run(), like every transfer's progress. */
	w->retry_ms = 0;
	w->next = e->watches;
	e->watches = w;
	*out = w;
	return 0;
}

void zdd_etcd_watch_cancel(struct zdd_etcd_watch *w)
{
	if (!w)
		return;
	/* Freed by the next run, or with the client: a callback may be running now. */
	w->dead = true;
	xfer_stop(w->e, &w->x);
	watch_drop_queue(w);
}

__s64 zdd_etcd_watch_next_revision(const struct zdd_etcd_watch *w)
{
	return w->next_rev;
}

static void watch_free(struct zdd_etcd_watch *w)
{
	xfer_stop(w->e, &w->x);
	watch_drop_queue(w);
	json_tokener_free(w->tok);
	free(w->q);
	free(w->key64);
	free(w->end64);
	free(w->body);
	free(w);
}

/* ---- elections ---- */

static void el_try(struct zdd_etcd_election *el);

/* Tells the caller when leading or the leader changed. value NULL: unknown. */
static void el_set(struct zdd_etcd_election *el, bool leader, const char *value)
{
	bool same_value = (!value && !el->leader_value) ||
			  (value && el->leader_value && !strcmp(value, el->leader_value));
	char *v = NULL;

	if (leader == el->leader && same_value)
		return;
	if (value && !(v = strdup(value)))
		leader = false; /* it cannot say whom: it claims nothing */
	free(el->leader_value);
	el->leader_value = v;
	if (leader != el->leader)
		pr_info("etcd: election %s: %s\n", el->key, leader ? "leading" : "not leading");
	el->leader = leader;
	el->cb(el->ctx, leader, el->leader_value);
}

/* Not (or no longer) leading: the leader is whoever it was, unless it was us. */
static void el_step_down(struct zdd_etcd_election *el)
{
	el_set(el, false, el->leader ? NULL : el->leader_value);
}

static void el_retry(struct zdd_etcd_election *el)
{
	el->retry_ms = zdd_mono_ms() + ELECTION_RETRY_MS;
}

/* The key as an event or the txn showed it (kv NULL: absent) at revision rev. */
static void el_saw(struct zdd_etcd_election *el, const struct zdd_etcd_kv *kv, __s64 rev)
{
	el->rev = rev;
	if (!kv)
		el_set(el, false, NULL);
	else
		el_set(el, el->lease && kv->lease == el->lease, kv->value);
}

static void el_watched(void *ctx, const struct zdd_etcd_watch_batch *b)
{
	struct zdd_etcd_election *el = ctx;
	size_t i;

	if (b->compact_revision) {
		el_try(el); /* the txn's answer tells where things are */
		return;
	}
	for (i = 0; i < b->n && !el->dead; i++) {
		/* Older than what the last txn said: stale. */
		if (b->ev[i].kv.mod_revision <= el->rev)
			continue;
		el_saw(el, b->ev[i].type == ZDD_ETCD_DELETE ? NULL : &b->ev[i].kv,
		       b->ev[i].kv.mod_revision);
	}
	if (!el->dead && !el->leader_value)
		el_try(el);
}

static void el_txn_done(void *ctx, const struct zdd_etcd_result *r)
{
	struct zdd_etcd_election *el = ctx;
	int err;

	el->campaigning = false;
	if (r->err == -ENOENT) {
		/* The txn's lease is gone: its keepalive would say so too, ignored then. */
		if (el->lease && el->txn_lease == el->lease) {
			zdd_etcd_lease_revoke(el->e, el->lease, NULL, NULL);
			el->lease = 0;
		}
		el_step_down(el);
		if (!el->dead)
			el_try(el);
		return;
	}
	if (r->err) {
		pr_debug("etcd: election %s: %s\n", el->key, r->error);
		/* Unknown: if our write landed, the next txn finds the key bound to our lease. */
		el_step_down(el);
		el_retry(el);
		return;
	}
	if (r->succeeded && (!el->lease || el->txn_lease != el->lease)) {
		/* Won with a lease given up meanwhile (revoked then): not a leader of ours. */
		el->rev = r->revision;
		el_set(el, false, NULL);
		el_retry(el);
	} else if (r->succeeded) {
		el->rev = r->revision;
		el_set(el, true, el->value);
	} else if (r->n_kvs) {
		el_saw(el, &r->kvs[0], r->revision);
	} else {
		el_retry(el);
		return;
	}
	if (!el->w && !el->dead) {
		err = zdd_etcd_watch(el->e, &el->w, el->key, false, r->revision + 1, el_watched,
				     el);
		if (err)
			el_retry(el);
	}
}

static void el_lost(void *ctx, __s64 lease, int err)
{
	struct zdd_etcd_election *el = ctx;

	if (lease != el->lease)
		return;
	pr_warn("etcd: election %s: lease %lld lost (%s)\n", el->key, (long long)lease,
		strerror(-err));
	el->lease = 0;
	el_step_down(el);
	if (!el->dead)
		el_try(el);
}

static void el_granted(void *ctx, const struct zdd_etcd_result *r)
{
	struct zdd_etcd_election *el = ctx;

	el->granting = false;
	if (r->err) {
		pr_debug("etcd: election %s: lease: %s\n", el->key, r->error);
		el_retry(el);
		return;
	}
	el->lease = r->lease;
	el_try(el);
}

/* Gets a lease if there is none, else tries to create the key. */
static void el_try(struct zdd_etcd_election *el)
{
	int err;

	el->retry_ms = 0;
	if (el->granting || el->campaigning || el->dead)
		return;
	if (!el->lease) {
		err = zdd_etcd_lease_grant(el->e, el->ttl_s, el_granted, el_lost, el);
		el->granting = !err;
	} else {
		err = zdd_etcd_txn_put_if(el->e, el->key, el->value, strlen(el->value),
					  ZDD_ETCD_ABSENT, el->lease, el_txn_done, el);
		el->campaigning = !err;
		el->txn_lease = el->lease;
	}
	if (err)
		el_retry(el);
}

static bool name_ok(const char *s)
{
	return *s && strlen(s) <= 255 &&
	       !s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")];
}

int zdd_etcd_campaign(struct zdd_etcd *e, struct zdd_etcd_election **out, const char *name,
		      const char *value, __u32 ttl_s, zdd_etcd_election_cb cb, void *ctx)
{
	struct zdd_etcd_election *el;

	if (!name_ok(name) || !cb || !ttl_s || ttl_s > INT32_MAX || strlen(value) > MAX_KEY)
		return -EINVAL;
	el = calloc(1, sizeof(*el));
	if (!el)
		return -ENOMEM;
	el->e = e;
	el->ttl_s = ttl_s;
	el->cb = cb;
	el->ctx = ctx;
	el->value = strdup(value);
	if (!el->value || asprintf(&el->key, "election/%s", name) < 0) {
		free(el->value);
		free(el);
		return -ENOMEM;
	}
	el->next = e->elections;
	e->elections = el;
	el_try(el);
	*out = el;
	return 0;
}

bool zdd_etcd_is_leader(const struct zdd_etcd_election *el)
{
	return el->leader;
}

const char *zdd_etcd_leader(const struct zdd_etcd_election *el)
{
	return el->leader_value;
}

__s64 zdd_etcd_election_lease(const struct zdd_etcd_election *el)
{
	return el->lease;
}

/* Requests started for ctx call no one back: ctx is going away. */
static void detach(struct zdd_etcd *e, void *ctx)
{
	struct lease *l;
	struct req *r;

	for (r = e->reqs; r; r = r->next) {
		if (r->ctx != ctx)
			continue;
		r->cb = NULL;
		r->lost = NULL;
		r->orphan = r->x.op == OP_GRANT;
	}
	for (l = e->leases; l; l = l->next)
		if (l->ctx == ctx)
			l->lost = NULL;
}

void zdd_etcd_resign(struct zdd_etcd_election *el)
{
	if (!el)
		return;
	if (el->lease)
		zdd_etcd_lease_revoke(el->e, el->lease, NULL, NULL);
	detach(el->e, el);
	zdd_etcd_watch_cancel(el->w);
	el->w = NULL;
	el->dead = true;
}

static void el_free(struct zdd_etcd_election *el)
{
	free(el->key);
	free(el->value);
	free(el->leader_value);
	free(el);
}

/* ---- the client ---- */

/* scheme://host:port and nothing more: the paths are ours. */
static bool endpoint_ok(const char *s)
{
	size_t n = strnlen(s, MAX_ENDPOINT), scheme;

	scheme = !strncmp(s, "http://", 7) ? 7 : !strncmp(s, "https://", 8) ? 8 : 0;
	return n < MAX_ENDPOINT && scheme && n > scheme && !strchr(s + scheme, '/') &&
	       !strpbrk(s, " \t\r\n\"\\");
}

static char *dup_opt(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = true;
	return d;
}

int zdd_etcd_new(struct zdd_etcd **out, const struct zdd_etcd_opts *o)
{
	struct zdd_etcd *e;
	bool oom = false;
	size_t i;
	int err;

	if (!o->n_endpoints || o->n_endpoints > ZDD_ETCD_MAX_ENDPOINTS ||
	    (o->prefix && strlen(o->prefix) > MAX_KEY))
		return -EINVAL;
	for (i = 0; i < o->n_endpoints; i++)
		if (!endpoint_ok(o->endpoints[i]))
			return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	err = zdd_curlm_init(&e->m, "etcd");
	if (err) {
		free(e);
		return err;
	}
	e->n_ep = o->n_endpoints;
	e->timeout_ms = o->timeout_ms ?: DEFAULT_TIMEOUT_MS;
	for (i = 0; i < e->n_ep; i++)
		e->ep[i] = dup_opt(o->endpoints[i], &oom);
	e->prefix = dup_opt(o->prefix ?: "", &oom);
	e->prefix_len = o->prefix ? strlen(o->prefix) : 0;
	e->ca_file = dup_opt(o->ca_file, &oom);
	e->cert_file = dup_opt(o->cert_file, &oom);
	e->key_file = dup_opt(o->key_file, &oom);
	/* "Expect:": else libcurl waits for a "100 Continue" before a body over 1 KiB. */
	e->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (e->hdrs && !curl_slist_append(e->hdrs, "Expect:"))
		oom = true;
	/* A member that lost its leader ends our watches there: they move to another. */
	e->watch_hdrs = curl_slist_append(NULL, "Grpc-Metadata-hasleader: true");
	if (e->watch_hdrs && (!curl_slist_append(e->watch_hdrs, "Content-Type: application/json") ||
			      !curl_slist_append(e->watch_hdrs, "Expect:")))
		oom = true;
	if (oom || !e->hdrs || !e->watch_hdrs) {
		zdd_etcd_free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

/* Frees what was cancelled, resigned or lost: nothing walks the lists now. */
static void reap(struct zdd_etcd *e)
{
	struct zdd_etcd_election **pel = &e->elections, *el;
	struct zdd_etcd_watch **pw = &e->watches, *w;
	struct lease **pl = &e->leases, *l;

	while ((el = *pel)) {
		if (el->dead) {
			*pel = el->next;
			el_free(el);
		} else {
			pel = &el->next;
		}
	}
	while ((w = *pw)) {
		if (w->dead) {
			*pw = w->next;
			watch_free(w);
		} else {
			pw = &w->next;
		}
	}
	while ((l = *pl)) {
		if (l->dead) {
			*pl = l->next;
			free(l);
		} else {
			pl = &l->next;
		}
	}
}

void zdd_etcd_free(struct zdd_etcd *e)
{
	struct zdd_etcd_election *el;
	struct zdd_etcd_watch *w;
	struct lease *l;
	size_t i;

	if (!e)
		return;
	while (e->reqs)
		req_free(e, e->reqs);
	for (el = e->elections; el; el = el->next)
		el->dead = true;
	for (w = e->watches; w; w = w->next)
		w->dead = true;
	for (l = e->leases; l; l = l->next)
		l->dead = true;
	reap(e);
	zdd_curlm_fini(&e->m);
	curl_slist_free_all(e->hdrs);
	curl_slist_free_all(e->watch_hdrs);
	for (i = 0; i < e->n_ep; i++)
		free(e->ep[i]);
	free(e->prefix);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	free(e);
}

int zdd_etcd_fd(const struct zdd_etcd *e)
{
	return e->m.epfd;
}

size_t zdd_etcd_endpoint(const struct zdd_etcd *e)
{
	return e->cur;
}

static void earliest(__u64 *t, __u64 at)
{
	if (at < *t)
		*t = at;
}

int zdd_etcd_timeout_ms(const struct zdd_etcd *e)
{
	__u64 now = zdd_mono_ms(), t = UINT64_MAX;
	const struct zdd_etcd_election *el;
	const struct zdd_etcd_watch *w;
	const struct lease *l;
	int curl = zdd_curlm_timeout_ms(&e->m, now);

	if (curl >= 0)
		earliest(&t, now + (__u64)curl);
	for (w = e->watches; w; w = w->next) {
		if (w->dead)
			continue;
		if (!w->x.easy)
			earliest(&t, w->retry_ms);
		else if (!w->created)
			earliest(&t, w->start_ms + e->timeout_ms);
	}
	for (l = e->leases; l; l = l->next) {
		if (l->dead)
			continue;
		earliest(&t, l->expires_ms);
		if (!l->ka_busy)
			earliest(&t, l->ka_due_ms);
	}
	for (el = e->elections; el; el = el->next)
		if (!el->dead && el->retry_ms)
			earliest(&t, el->retry_ms);
	if (t == UINT64_MAX)
		return -1;
	if (t <= now)
		return 0;
	return t - now > INT_MAX ? INT_MAX : (int)(t - now);
}

int zdd_etcd_run(struct zdd_etcd *e, __u64 now_ms)
{
	struct zdd_etcd_election *el;
	struct zdd_etcd_watch *w;
	struct CURLMsg *msg;
	struct xfer *x;
	char *priv;
	int err, left;

	err = zdd_curlm_drive(&e->m, now_ms);
	if (err)
		log_err(err, "etcd: epoll_wait");
	/* Callbacks may start and stop transfers: a stopped one's message goes with it. */
	while ((msg = curl_multi_info_read(e->m.multi, &left))) {
		CURLcode code = msg->data.result;

		/* msg lives in the transfer: read before the transfer is cleaned up. */
		if (msg->msg != CURLMSG_DONE ||
		    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv))
			continue;
		x = (struct xfer *)priv;
		if (x->op != OP_WATCH) {
			req_done(e, (struct req *)x, code, now_ms);
			continue;
		}
		/* What the stream brought before it ended comes first. */
		w = (struct zdd_etcd_watch *)x;
		watch_deliver(w);
		if (!w->dead)
			watch_ended(e, w, w->x.err[0] ? w->x.err : "closed by etcd", now_ms);
	}
	for (w = e->watches; w; w = w->next)
		if (!w->dead)
			watch_run(e, w, now_ms);
	leases_run(e, now_ms);
	for (el = e->elections; el; el = el->next)
		if (!el->dead && el->retry_ms && now_ms >= el->retry_ms)
			el_try(el);
	reap(e);
	return err;
}
