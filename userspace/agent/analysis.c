// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/analysis.c - see analysis.h. libcurl's multi interface on an epoll set of its
 * own (curlm.h); an evaluation is one transfer per pool asked, its answers read with json-c and
 * judged once both are in. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "addr.h"
#include "curlm.h"
#include "log.h"
#include "analysis.h"

#define MAX_ANSWER (1 << 20) /* a bigger answer is no single number: inconclusive */
#define WHY_LEN	   sizeof(((struct zdd_an_eval *)0)->why)

static const char *const pool_names[ZDD_POOLS] = { [ZDD_BLUE] = "blue", [ZDD_GREEN] = "green" };
static const char *const result_names[] = {
	[ZDD_AN_PASS] = "pass",
	[ZDD_AN_FAIL] = "fail",
	[ZDD_AN_INCONCLUSIVE] = "inconclusive",
};

struct eval;

/* One request of an evaluation: the candidate's or the stable pool's. */
struct xfer {
	CURL *easy; /* NULL when not started or done */
	struct eval *ev;
	struct curl_slist *hdrs;
	char *buf; /* the answer, NUL-terminated */
	size_t len, cap;
	bool too_big, oom;
	char err[CURL_ERROR_SIZE];
	/* Once done: the number, or why there is none. */
	bool ok;
	double value;
	char why[WHY_LEN - sizeof("green: ")]; /* room for the pool's name before it */
};

struct check {
	struct zdd_conf_analysis conf;
	int index; /* in the last list given to zdd_analysis_schedule() */
	bool started;
	__u64 last_ms;	 /* start of the last evaluation */
	struct eval *ev; /* in flight, or NULL */
};

struct eval {
	struct check *chk;
	struct zdd_service_key svc;
	struct zdd_conf_analysis conf; /* as it was at the start: a reload changes the next */
	__u8 cand;
	int pending; /* transfers not done yet */
	struct xfer x[ZDD_POOLS];
};

struct service {
	struct zdd_service_key key;
	struct check *chk[ZDD_CONF_MAX_CHECKS];
	int n;
};

struct zdd_analysis {
	struct zdd_curlm m;
	zdd_analysis_cb cb;
	void *ctx;
	struct service **svc;
	size_t n_svc;
};

static void __attribute__((format(printf, 3, 4))) addf(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strnlen(buf, size);
	va_list ap;

	if (used + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

/* ---- libcurl's callbacks ---- */

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, cap;
	char *nbuf;

	if (len > MAX_ANSWER - x->len) {
		x->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (x->len + len + 1 > x->cap) {
		cap = x->cap ? x->cap : 4096;
		while (cap < x->len + len + 1)
			cap *= 2;
		nbuf = realloc(x->buf, cap);
		if (!nbuf) {
			x->oom = true;
			return 0;
		}
		x->buf = nbuf;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, len);
	x->len += len;
	x->buf[x->len] = '\0';
	return len;
}

/* ---- requests ---- */

/* s with every placeholder replaced by its value; out NULL: only the length. */
static size_t expand(const char *s, const char *const vals[ZDD_AN_VARS], char *out)
{
	size_t n = 0, i, l;

	while (*s) {
		for (i = 0; *s == '{' && i < ZDD_AN_VARS; i++)
			if (!strncmp(s, zdd_an_vars[i], strlen(zdd_an_vars[i])))
				break;
		if (*s == '{' && i < ZDD_AN_VARS) {
			l = strlen(vals[i]);
			if (out)
				memcpy(out + n, vals[i], l);
			n += l;
			s += strlen(zdd_an_vars[i]);
			continue;
		}
		if (out)
			out[n] = *s;
		n++;
		s++;
	}
	if (out)
		out[n] = '\0';
	return n;
}

static char *subst(const char *s, const char *const vals[ZDD_AN_VARS])
{
	char *out = malloc(expand(s, vals, NULL) + 1);

	if (out)
		expand(s, vals, out);
	return out;
}

/* GET {address}/api/v1/query?query=..., the query substituted, then percent-encoded. */
static char *prometheus_url(CURL *easy, const struct zdd_conf_analysis *a,
			    const char *const vals[ZDD_AN_VARS])
{
	size_t alen = strlen(a->address);
	char *q = subst(a->query, vals), *esc = NULL, *url = NULL;

	while (alen && a->address[alen - 1] == '/')
		alen--;
	if (q)
		esc = curl_easy_escape(easy, q, 0);
	if (esc && asprintf(&url, "%.*s/api/v1/query?query=%s", (int)alen, a->address, esc) < 0)
		url = NULL;
	curl_free(esc);
	free(q);
	return url;
}

/* In a URL the values are percent-encoded: a service holds ':', '/' and IPv6 brackets. */
static char *web_url(CURL *easy, const struct zdd_conf_analysis *a,
		     const char *const vals[ZDD_AN_VARS])
{
	char *esc[ZDD_AN_VARS] = { NULL }, *url = NULL;
	size_t i;

	for (i = 0; i < ZDD_AN_VARS; i++)
		if (!(esc[i] = curl_easy_escape(easy, vals[i], 0)))
			goto out;
	url = subst(a->url, (const char *const *)esc);
out:
	for (i = 0; i < ZDD_AN_VARS; i++)
		curl_free(esc[i]);
	return url;
}

static void window_format(__u32 ms, char *buf, size_t len)
{
	/* Prometheus' own duration syntax: "90s", "1500ms". */
	if (ms % 1000)
		snprintf(buf, len, "%ums", ms);
	else
		snprintf(buf, len, "%us", ms / 1000);
}

/* Everything a request needs but its URL and body. Nonzero on failure (out of memory). */
static int common_opts(struct xfer *x, const struct zdd_conf_analysis *a)
{
	CURL *h = x->easy;

	/* Plain http, and with the defaults no redirect and no proxy: the address is the server. */
	return zdd_curlm_easy_defaults(h) || curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http") ||
	       curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)a->timeout_ms) ||
	       curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)a->timeout_ms) ||
	       curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_ANSWER) ||
	       curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) ||
	       curl_easy_setopt(h, CURLOPT_WRITEDATA, x) ||
	       curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->err) ||
	       curl_easy_setopt(h, CURLOPT_PRIVATE, x) ||
	       curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs);
}

static struct curl_slist *add_header(struct curl_slist *l, const char *h, bool *oom)
{
	struct curl_slist *n = *oom ? NULL : curl_slist_append(l, h);

	if (n)
		return n;
	*oom = true;
	return l;
}

static int xfer_start(struct zdd_analysis *an, struct eval *ev, __u8 pool)
{
	const struct zdd_conf_analysis *a = &ev->conf;
	bool post = a->kind == ZDD_AN_WEB && !strcmp(a->method, "POST"), oom = false;
	char svc[ZDD_SVC_STRLEN], window[16], *url, *body = NULL;
	const char *vals[ZDD_AN_VARS] = {
		[ZDD_AN_SERVICE] = svc,
		[ZDD_AN_POOL] = pool_names[pool],
		[ZDD_AN_WINDOW] = window,
	};
	struct xfer *x = &ev->x[pool];
	int err = -ENOMEM;

	x->ev = ev;
	zdd_service_format(&ev->svc, svc, sizeof(svc));
	window_format(a->window_ms, window, sizeof(window));
	x->easy = curl_easy_init();
	if (!x->easy)
		return -ENOMEM;
	x->hdrs = add_header(NULL, "Accept: application/json", &oom);
	if (post) {
		x->hdrs = add_header(x->hdrs, "Content-Type: application/json", &oom);
		/* Else libcurl waits up to a second for a "100 Continue" before a long body. */
		x->hdrs = add_header(x->hdrs, "Expect:", &oom);
		body = subst(a->body, vals);
	}
	url = a->kind == ZDD_AN_PROMETHEUS ? prometheus_url(x->easy, a, vals)
					   : web_url(x->easy, a, vals);
	if (oom || !url || (post && !body))
		goto out;
	/* libcurl copies the strings: URL and the body with COPYPOSTFIELDS. */
	if (common_opts(x, a) || curl_easy_setopt(x->easy, CURLOPT_URL, url) ||
	    (post && curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, body)))
		goto out;
	if (curl_multi_add_handle(an->m.multi, x->easy) != CURLM_OK)
		goto out;
	ev->pending++;
	err = 0;
out:
	free(url);
	free(body);
	if (err) {
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	return err;
}

/* Releases what libcurl holds for x (its connection goes back to the cache, or is closed). */
static void xfer_release(struct zdd_analysis *an, struct xfer *x)
{
	if (x->easy) {
		curl_multi_remove_handle(an->m.multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	free(x->buf);
	x->buf = NULL;
	x->len = x->cap = 0;
}

/* ---- answers ---- */

/* The whole answer as one JSON value; false when it is not (or only partly) JSON. */
static bool parse_json(const struct xfer *x, struct json_object **out)
{
	struct json_tokener *tok = json_tokener_new();
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (!tok || !x->len)
		goto bad;
	/* The NUL after the answer ends a number at the top level ("0.3"). */
	*out = json_tokener_parse_ex(tok, x->buf, (int)x->len + 1);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr != json_tokener_success)
		goto bad;
	while (end < x->len && isspace((unsigned char)x->buf[end]))
		end++;
	if (end < x->len)
		goto bad;
	json_tokener_free(tok);
	return true;
bad:
	json_object_put(*out);
	*out = NULL;
	json_tokener_free(tok);
	return false;
}

static bool no_number(struct xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool no_number(struct xfer *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	x->ok = false;
	return false;
}

/* A JSON number, or a string holding one whole, as Prometheus writes its samples ("0.2",
 * "NaN", "+Inf"). NaN and infinities are no value to judge. */
static bool number_of(struct xfer *x, const char *what, struct json_object *o)
{
	const char *s;
	char *end;
	double v;

	if (json_object_is_type(o, json_type_double) || json_object_is_type(o, json_type_int)) {
		v = json_object_get_double(o);
	} else if (json_object_is_type(o, json_type_string)) {
		s = json_object_get_string(o);
		v = strtod(s, &end);
		/* The whole string: no space before, nothing after, no NUL ("0.5\u0000junk"). */
		if (end == s || *end || isspace((unsigned char)s[0]) ||
		    (size_t)json_object_get_string_len(o) != strlen(s))
			return no_number(x, "%s: '%.64s' is not a number", what, s);
	} else {
		return no_number(x, "%s: %s is not a number", what,
				 json_type_to_name(json_object_get_type(o)));
	}
	if (isnan(v))
		return no_number(x, "%s is NaN (no samples in the window?)", what);
	if (isinf(v))
		return no_number(x, "%s is infinite", what);
	x->value = v;
	x->ok = true;
	return true;
}

static struct json_object *member(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

/*
 * {"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[t,"0.2"]}]}}
 * or a scalar's "result":[t,"0.2"]; errors are {"status":"error","errorType":..,"error":..}.
 */
static void prometheus_answer(struct xfer *x, long status)
{
	struct json_object *root, *data, *result, *sample;
	const char *type, *error;
	size_t n;

	parse_json(x, &root);
	error = json_object_get_string(member(root, "error", json_type_string));
	if (status != 200 || error) {
		no_number(x, "HTTP %ld%s%s", status, error ? ": " : "", error ?: "");
		goto out;
	}
	data = member(root, "data", json_type_object);
	result = member(data, "result", json_type_array);
	type = json_object_get_string(member(data, "resultType", json_type_string));
	if (!root || !result || !type) {
		no_number(x, "not an answer of Prometheus' query API");
		goto out;
	}
	n = json_object_array_length(result);
	if (!strcmp(type, "scalar")) {
		sample = result;
	} else if (strcmp(type, "vector")) {
		no_number(x, "the query returned a %.32s, not one number", type);
		goto out;
	} else if (!n) {
		no_number(x, "no data: the query returned no series");
		goto out;
	} else if (n > 1) {
		no_number(x, "the query returned %zu series, not one", n);
		goto out;
	} else {
		sample = member(json_object_array_get_idx(result, 0), "value", json_type_array);
	}
	if (!sample || json_object_array_length(sample) != 2)
		no_number(x, "not an answer of Prometheus' query API");
	else
		number_of(x, "the value", json_object_array_get_idx(sample, 1));
out:
	json_object_put(root);
}

/* The dotted path: names in objects, indexes in arrays. */
static bool walk(struct xfer *x, struct json_object **o, const char *path)
{
	char seg[sizeof(((struct zdd_conf_analysis *)0)->field)];
	const char *p = path;
	struct json_object *next;
	unsigned long idx;
	size_t n;

	while (*p) {
		n = strcspn(p, ".");
		if (n >= sizeof(seg))
			return no_number(x, "%s: not found", path);
		memcpy(seg, p, n);
		seg[n] = '\0';
		next = NULL;
		if (json_object_is_type(*o, json_type_object)) {
			if (!json_object_object_get_ex(*o, seg, &next))
				return no_number(x, "%.*s: not found", (int)(p + n - path), path);
		} else if (json_object_is_type(*o, json_type_array) &&
			   !seg[strspn(seg, "0123456789")] &&
			   (idx = strtoul(seg, NULL, 10)) < json_object_array_length(*o)) {
			next = json_object_array_get_idx(*o, idx);
		} else {
			return no_number(x, "%.*s: not found", (int)(p + n - path), path);
		}
		*o = next; /* NULL: a JSON null */
		p += n + (p[n] == '.');
	}
	return true;
}

static void web_answer(struct xfer *x, const struct zdd_conf_analysis *a, long status)
{
	struct json_object *root, *o;

	if (status < 200 || status > 299) {
		no_number(x, "HTTP %ld", status);
		return;
	}
	if (!parse_json(x, &root)) {
		no_number(x, "the answer is not JSON");
		return;
	}
	o = root;
	if (walk(x, &o, a->field))
		number_of(x, a->field[0] ? a->field : "the answer", o);
	json_object_put(root);
}

static void xfer_done(struct zdd_analysis *an, struct xfer *x, CURLcode code)
{
	const struct zdd_conf_analysis *a = &x->ev->conf;
	long status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (x->too_big || code == CURLE_FILESIZE_EXCEEDED)
		no_number(x, "the answer is larger than %d KiB", MAX_ANSWER >> 10);
	else if (x->oom)
		no_number(x, "out of memory for the answer");
	else if (code == CURLE_OPERATION_TIMEDOUT)
		no_number(x, "no answer within %u ms", a->timeout_ms);
	else if (code != CURLE_OK)
		no_number(x, "%s", x->err[0] ? x->err : curl_easy_strerror(code));
	else if (a->kind == ZDD_AN_PROMETHEUS)
		prometheus_answer(x, status);
	else
		web_answer(x, a, status);
	xfer_release(an, x);
}

/* ---- evaluations ---- */

static void eval_free(struct zdd_analysis *an, struct eval *ev)
{
	size_t p;

	for (p = 0; p < ZDD_POOLS; p++)
		xfer_release(an, &ev->x[p]);
	free(ev);
}

static void judge(const struct eval *ev, struct zdd_an_eval *e)
{
	const struct zdd_conf_analysis *a = &ev->conf;
	__u8 cand = ev->cand, stable = cand ^ 1;
	const struct xfer *c = &ev->x[cand], *s = &ev->x[stable], *bad;
	double v = c->value, b = s->value;

	e->has_value[cand] = c->ok;
	e->value[cand] = c->ok ? v : 0;
	e->has_value[stable] = a->compare_blue && s->ok;
	e->value[stable] = e->has_value[stable] ? b : 0;
	e->result = ZDD_AN_INCONCLUSIVE;
	/* Without a ratio the stable pool's value is shown, not needed. */
	bad = !c->ok ? c : a->has_ratio && !s->ok ? s : NULL;
	if (bad) {
		snprintf(e->why, sizeof(e->why), "%s%s%s",
			 a->compare_blue ? pool_names[bad == c ? cand : stable] : "",
			 a->compare_blue ? ": " : "", bad->why);
		return;
	}
	e->result = ZDD_AN_FAIL;
	if (a->has_max && v > a->max) {
		snprintf(e->why, sizeof(e->why), "%.4g over max %.4g", v, a->max);
	} else if (a->has_min && v < a->min) {
		snprintf(e->why, sizeof(e->why), "%.4g under min %.4g", v, a->min);
	} else if (a->has_ratio && b > 0 && v > a->max_ratio_to_blue * b) {
		snprintf(e->why, sizeof(e->why), "%.4g is %.3g x the stable pool's %.4g, over %.4g",
			 v, v / b, b, a->max_ratio_to_blue);
	} else {
		e->result = ZDD_AN_PASS;
		snprintf(e->why, sizeof(e->why), "%.4g within", v);
		if (a->has_min)
			addf(e->why, sizeof(e->why), " min %.4g", a->min);
		if (a->has_max)
			addf(e->why, sizeof(e->why), "%s max %.4g", a->has_min ? "," : "", a->max);
		/*
		 * A ratio to 0 (or to a negative value) says nothing: a candidate is never rolled
		 * back for a stable pool that happens to show no errors. max is the bound there.
		 */
		if (a->has_ratio && b > 0)
			addf(e->why, sizeof(e->why), "%s%.3g x the stable pool's %.4g (max %.4g)",
			     a->has_min || a->has_max ? "; " : " ", v / b, b, a->max_ratio_to_blue);
		else if (a->has_ratio)
			addf(e->why, sizeof(e->why), "%sno ratio: the stable pool's value is %.4g",
			     a->has_min || a->has_max ? "; " : " ", b);
	}
}

/* Server text ends up in events and logs: one printable line. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Both answers are in: judge, forget, then tell (the callback may stop the service). */
static void eval_finish(struct zdd_analysis *an, struct eval *ev)
{
	struct zdd_an_eval e = { .check = ev->chk->index };
	struct zdd_service_key svc = ev->svc;
	char name[ZDD_SVC_STRLEN];

	judge(ev, &e);
	printable(e.why);
	if (zdd_log_get_level() >= ZDD_LOG_DEBUG) {
		zdd_service_format(&svc, name, sizeof(name));
		pr_debug("analysis: %s %s: %s: %s\n", name, ev->conf.name, result_names[e.result],
			 e.why);
	}
	ev->chk->ev = NULL;
	eval_free(an, ev);
	an->cb(an->ctx, &svc, &e);
}

static int eval_start(struct zdd_analysis *an, const struct service *s, struct check *c, __u8 cand,
		      __u64 now_ms)
{
	struct eval *ev = calloc(1, sizeof(*ev));
	int err;

	if (!ev)
		return -ENOMEM;
	ev->chk = c;
	ev->svc = s->key;
	ev->conf = c->conf;
	ev->cand = cand;
	/* Both pools at once: the evaluation takes one request's time, not two. */
	err = xfer_start(an, ev, cand);
	if (!err && ev->conf.compare_blue)
		err = xfer_start(an, ev, cand ^ 1);
	if (err) {
		eval_free(an, ev);
		return err;
	}
	c->ev = ev;
	c->started = true;
	c->last_ms = now_ms;
	return 0;
}

static void check_free(struct zdd_analysis *an, struct check *c)
{
	if (c->ev)
		eval_free(an, c->ev);
	free(c);
}

/* ---- services ---- */

static struct service *find_service(const struct zdd_analysis *an, const struct zdd_service_key *k,
				    size_t *idx)
{
	size_t i;

	for (i = 0; i < an->n_svc; i++) {
		if (!memcmp(&an->svc[i]->key, k, sizeof(*k))) {
			*idx = i;
			return an->svc[i];
		}
	}
	return NULL;
}

static void service_drop(struct zdd_analysis *an, size_t idx)
{
	struct service *s = an->svc[idx];
	int i;

	for (i = 0; i < s->n; i++)
		check_free(an, s->chk[i]);
	free(s);
	an->svc[idx] = an->svc[--an->n_svc];
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* The engine reads these strings and divides by nothing else: a bad one must not get in. */
static bool check_valid(const struct zdd_conf_analysis *a)
{
	return (a->kind == ZDD_AN_PROMETHEUS || a->kind == ZDD_AN_WEB) && a->interval_ms &&
	       a->timeout_ms && a->name[0] && terminated(a->name, sizeof(a->name)) &&
	       terminated(a->address, sizeof(a->address)) &&
	       terminated(a->query, sizeof(a->query)) && terminated(a->url, sizeof(a->url)) &&
	       terminated(a->method, sizeof(a->method)) && terminated(a->body, sizeof(a->body)) &&
	       terminated(a->field, sizeof(a->field));
}

static int checks_valid(const struct zdd_conf_analysis *checks, int n)
{
	int i, j;

	if (n < 0 || n > ZDD_CONF_MAX_CHECKS || (n && !checks))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!check_valid(&checks[i]))
			return -EINVAL;
		for (j = 0; j < i; j++) /* names identify checks across reloads */
			if (!strcmp(checks[i].name, checks[j].name))
				return -EINVAL;
	}
	return 0;
}

/*
 * Takes the new check list, matched by name: a kept check keeps its schedule and evaluation
 * in flight, a removed one's evaluation is aborted. All or nothing (-ENOMEM).
 */
static int service_update(struct zdd_analysis *an, struct service *s,
			  const struct zdd_conf_analysis *checks, int n)
{
	struct check *nc[ZDD_CONF_MAX_CHECKS] = { NULL };
	bool kept[ZDD_CONF_MAX_CHECKS] = { false };
	int i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < s->n; j++) {
			if (!kept[j] && !strcmp(s->chk[j]->conf.name, checks[i].name)) {
				kept[j] = true;
				nc[i] = s->chk[j];
				break;
			}
		}
		if (!nc[i] && !(nc[i] = calloc(1, sizeof(*nc[i]))))
			goto undo;
	}
	for (j = 0; j < s->n; j++)
		if (!kept[j])
			check_free(an, s->chk[j]);
	for (i = 0; i < n; i++) {
		nc[i]->conf = checks[i];
		nc[i]->index = i;
		s->chk[i] = nc[i];
	}
	s->n = n;
	return 0;
undo:
	for (i = 0; i < n && nc[i]; i++) {
		for (j = 0; j < s->n && s->chk[j] != nc[i]; j++)
			;
		if (j == s->n)
			free(nc[i]);
	}
	return -ENOMEM;
}

/* ---- API ---- */

int zdd_analysis_new(struct zdd_analysis **out, zdd_analysis_cb cb, void *ctx)
{
	struct zdd_analysis *an = calloc(1, sizeof(*an));
	int err;

	if (!an)
		return -ENOMEM;
	an->cb = cb;
	an->ctx = ctx;
	err = zdd_curlm_init(&an->m, "analysis");
	if (err) {
		free(an);
		return err;
	}
	*out = an;
	return 0;
}

void zdd_analysis_free(struct zdd_analysis *an)
{
	if (!an)
		return;
	/* Before libcurl's multi handle goes: each transfer leaves it. */
	while (an->n_svc)
		service_drop(an, an->n_svc - 1);
	free(an->svc);
	zdd_curlm_fini(&an->m);
	free(an);
}

int zdd_analysis_schedule(struct zdd_analysis *an, const struct zdd_service_key *svc,
			  const struct zdd_conf_analysis *checks, int n, __u8 cand, __u64 now_ms)
{
	struct service *s, **nsvc;
	size_t idx;
	int i, err;

	if (cand >= ZDD_POOLS || checks_valid(checks, n))
		return -EINVAL;
	s = find_service(an, svc, &idx);
	if (!n) {
		if (s)
			service_drop(an, idx);
		return 0;
	}
	if (!s) {
		nsvc = realloc(an->svc, (an->n_svc + 1) * sizeof(*nsvc));
		if (!nsvc)
			return -ENOMEM;
		an->svc = nsvc;
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->key = *svc;
		an->svc[an->n_svc++] = s;
	}
	err = service_update(an, s, checks, n);
	for (i = 0; !err && i < s->n; i++) {
		struct check *c = s->chk[i];

		/* One evaluation in flight per check: a slow server is not asked twice. */
		if (c->ev || (c->started && now_ms - c->last_ms < c->conf.interval_ms))
			continue;
		err = eval_start(an, s, c, cand, now_ms);
	}
	return err;
}

void zdd_analysis_stop(struct zdd_analysis *an, const struct zdd_service_key *svc)
{
	size_t idx;

	if (find_service(an, svc, &idx))
		service_drop(an, idx);
}

int zdd_analysis_fd(const struct zdd_analysis *an)
{
	return an->m.epfd;
}

int zdd_analysis_timeout_ms(const struct zdd_analysis *an)
{
	return zdd_curlm_timeout_ms(&an->m, zdd_mono_ms());
}

int zdd_analysis_run(struct zdd_analysis *an, __u64 now_ms)
{
	struct CURLMsg *m;
	int err, left;

	err = zdd_curlm_drive(&an->m, now_ms);
	if (err)
		return log_err(err, "analysis: epoll_wait");
	/* The callback may stop services: removed transfers' messages go with them. */
	while ((m = curl_multi_info_read(an->m.multi, &left))) {
		CURLcode code = m->data.result;
		struct xfer *x;
		struct eval *e;
		char *priv;

		if (m->msg != CURLMSG_DONE ||
		    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK)
			continue;
		x = (struct xfer *)priv;
		e = x->ev;
		xfer_done(an, x, code);
		if (!--e->pending)
			eval_finish(an, e);
	}
	return 0;
}
