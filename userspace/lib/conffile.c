// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/conffile.c - see conffile.h. Two passes: libyaml's event parser rejects syntax
 * errors, anchors, aliases, tags and extra documents with their line; its document loader then
 * gives a tree whose nodes carry the line of every other message. Strict by design: unknown or
 * repeated keys, wrong types and trailing garbage are errors, so a typo never passes silently. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <yaml.h>
#include "addr.h"
#include "conffile.h"

#define MAX_FILE_SIZE	 (16 << 20)
#define MAX_ARG_LEN	 4096
#define MAX_INT_DIGITS	 12 /* fits every field; keeps the products below in 64 bits */
#define MAX_FRAC_DIGITS	 9
#define MAX_SAMPLES	 1000000000u
#define MAX_RATIO	 100.0
#define MIN_HANDSHAKE_MS 100

/* rollout.analysis */
#define MIN_AN_INTERVAL_MS  100	  /* its queries load someone else's server */
#define MAX_AN_TIMEOUT_MS   10000 /* the default timeout is the interval, up to this */
#define MAX_AN_LIMIT	    100
#define MAX_AN_INCONCLUSIVE 1000

struct ctx {
	const char *name;
	const char *data;
	size_t len;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	char show[64]; /* a value quoted in a message, made printable */
};

/* A key the schema knows, as found in one mapping: key (line of type errors) and value. */
struct field {
	const char *name;
	yaml_node_t *key;
	yaml_node_t *val;
};

static const __u64 tens[MAX_FRAC_DIGITS + 1] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
};

/* Messages */

static int vfail(struct ctx *c, int rc, size_t line, const char *fmt, va_list ap)
{
	int n;

	if (!c->err || !c->errlen)
		return rc;
	if (line)
		n = snprintf(c->err, c->errlen, "%s:%zu: ", c->name, line);
	else
		n = snprintf(c->err, c->errlen, "%s: ", c->name);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	return rc;
}

static int __attribute__((format(printf, 3, 4)))
fail_at(struct ctx *c, size_t line, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(c, -EINVAL, line, fmt, ap);
	va_end(ap);
	return rc;
}

/* libyaml's marks count lines from 0; messages from 1. */
static int __attribute__((format(printf, 3, 4)))
fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(c, -EINVAL, n->start_mark.line + 1, fmt, ap);
	va_end(ap);
	return rc;
}

static int __attribute__((format(printf, 3, 4)))
fail_errno(struct ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vfail(c, rc, 0, fmt, ap);
	va_end(ap);
	return rc;
}

static int oom(struct ctx *c)
{
	return fail_errno(c, -ENOMEM, "out of memory");
}

/* Up to 40 bytes of a value, control characters replaced: messages stay one readable line. */
static const char *shown(struct ctx *c, const char *s)
{
	size_t i, max = 40;

	for (i = 0; i < max && s[i]; i++)
		c->show[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	strcpy(c->show + i, s[i] ? "..." : "");
	return c->show;
}

/* Numbers */

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

struct decimal {
	__u64 ipart;
	__u64 frac;
	unsigned int fdigits;
	bool point;
};

/*
 * Digits, optionally a point and more digits: no sign, space, exponent, or leading zero in a
 * multi-digit integer part ("010" reads as octal to some). Returns the end, or NULL.
 */
static const char *scan_decimal(const char *s, struct decimal *d)
{
	const char *p = s;

	memset(d, 0, sizeof(*d));
	if (!is_digit(*p) || (p[0] == '0' && is_digit(p[1])))
		return NULL;
	for (; is_digit(*p); p++) {
		if (p - s == MAX_INT_DIGITS)
			return NULL;
		d->ipart = d->ipart * 10 + (__u64)(*p - '0');
	}
	if (*p != '.')
		return p;
	d->point = true;
	if (!is_digit(*++p))
		return NULL;
	for (; is_digit(*p); p++) {
		if (d->fdigits == MAX_FRAC_DIGITS)
			return NULL;
		d->frac = d->frac * 10 + (__u64)(*p - '0');
		d->fdigits++;
	}
	return p;
}

int zdd_percent_parse(const char *s, __u16 *bp)
{
	struct decimal d;
	const char *end = s ? scan_decimal(s, &d) : NULL;
	__u64 v;

	if (!end || *end || d.fdigits > 2)
		return -EINVAL;
	v = d.ipart * 100 + d.frac * tens[2 - d.fdigits];
	if (v > ZDD_MAX_WEIGHT_BP)
		return -EINVAL;
	*bp = (__u16)v;
	return 0;
}

int zdd_duration_parse(const char *s, __u32 *ms)
{
	struct decimal d;
	const char *unit = s ? scan_decimal(s, &d) : NULL;
	__u64 mult, frac, v;

	if (!unit)
		return -EINVAL;
	if (!strcmp(unit, "ms"))
		mult = 1;
	else if (!strcmp(unit, "s") || !*unit)
		mult = 1000;
	else if (!strcmp(unit, "m"))
		mult = 60000;
	else
		return -EINVAL;
	/* Below 10^9 * 6 * 10^4 and 10^12 * 6 * 10^4: no overflow. */
	frac = d.frac * mult;
	if (frac % tens[d.fdigits])
		return -EINVAL; /* a fraction of a millisecond */
	v = d.ipart * mult + frac / tens[d.fdigits];
	if (v > UINT32_MAX)
		return -EINVAL;
	*ms = (__u32)v;
	return 0;
}

/* Nodes */

static yaml_node_t *node(struct ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static const char *text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* An empty value ("key:"), "~" or "null", as YAML reads them when unquoted. */
static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (!strcmp(text(n), nulls[i]))
			return true;
	return false;
}

static const char *type_name(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	return is_null(n) ? "an empty value" : "a scalar";
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(struct ctx *c, const yaml_node_t *n, size_t i)
{
	return node(c, n->data.sequence.items.start[i]);
}

/* what: the name in the message; at: the node whose line a wrong type is reported on. */
static int expect(struct ctx *c, const char *what, const yaml_node_t *at, const yaml_node_t *v,
		  yaml_node_type_t type)
{
	if (v->type == type)
		return 0;
	if (type == YAML_MAPPING_NODE)
		return fail(c, at, "%s: expected a mapping, found %s", what, type_name(v));
	if (is_null(v))
		return fail(c, at, "%s: expected a list, found an empty value (write [] for none)",
			    what);
	return fail(c, at, "%s: expected a list, found %s", what, type_name(v));
}

/* The text of a scalar. NUL bytes ("\0" in a quoted string) would cut it short: refused. */
static int scalar(struct ctx *c, const char *what, const yaml_node_t *at, const yaml_node_t *v,
		  const char **s)
{
	if (is_null(v))
		return fail(c, at, "%s: missing value", what);
	if (v->type != YAML_SCALAR_NODE)
		return fail(c, at, "%s: expected a scalar, found %s", what, type_name(v));
	if (strlen(text(v)) != v->data.scalar.length)
		return fail(c, v, "%s: contains a NUL byte", what);
	*s = text(v);
	return 0;
}

/*
 * Sorts the pairs of mapping map (already checked to be one) into fields[], one per known key,
 * so that unknown and repeated keys are refused before any value is looked at.
 */
static int map_fields(struct ctx *c, const yaml_node_t *map, const char *what,
		      const char *const *keys, struct field *fields, size_t nkeys)
{
	const yaml_node_pair_t *p;
	size_t i;

	for (i = 0; i < nkeys; i++)
		fields[i] = (struct field){ .name = keys[i] };
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
		const char *name;

		if (!k || !v)
			return fail(c, map, "%s: malformed mapping", what);
		if (k->type != YAML_SCALAR_NODE || is_null(k))
			return fail(c, k, "%s: keys must be plain names", what);
		name = text(k);
		for (i = 0; i < nkeys && strcmp(name, keys[i]); i++)
			;
		if (i == nkeys || strlen(name) != k->data.scalar.length)
			return fail(c, k, "unknown key '%s' in %s", shown(c, name), what);
		if (fields[i].key)
			return fail(c, k, "duplicate key '%s' (first on line %zu)", keys[i],
				    fields[i].key->start_mark.line + 1);
		fields[i].key = k;
		fields[i].val = v;
	}
	return 0;
}

static int get_str(struct ctx *c, const struct field *f, char *buf, size_t size)
{
	const char *s;
	size_t n;

	if (scalar(c, f->name, f->key, f->val, &s))
		return -EINVAL;
	n = strlen(s);
	if (!n)
		return fail(c, f->val, "%s: must not be empty", f->name);
	if (n >= size)
		return fail(c, f->val, "%s: too long (at most %zu characters)", f->name, size - 1);
	memcpy(buf, s, n + 1);
	return 0;
}

static int get_path(struct ctx *c, const struct field *f, char *buf, size_t size)
{
	if (get_str(c, f, buf, size))
		return -EINVAL;
	if (buf[0] != '/')
		return fail(c, f->val, "%s: '%s' is not an absolute path", f->name, shown(c, buf));
	return 0;
}

static int get_uint(struct ctx *c, const struct field *f, __u64 min, __u64 max, __u64 *out)
{
	const char *s, *end;
	struct decimal d;

	if (scalar(c, f->name, f->key, f->val, &s))
		return -EINVAL;
	end = scan_decimal(s, &d);
	if (end && !*end && !d.point && d.ipart >= min && d.ipart <= max) {
		*out = d.ipart;
		return 0;
	}
	if (s[strspn(s, "0123456789")] == '\0' && s[0] == '0' && s[1])
		return fail(c, f->val, "%s: '%s' has a leading zero", f->name, shown(c, s));
	/* Only digits, but too many or out of range: say so rather than "not an integer". */
	if (s[strspn(s, "0123456789")] == '\0')
		return fail(c, f->val, "%s: %s is out of range %llu..%llu", f->name, shown(c, s),
			    (unsigned long long)min, (unsigned long long)max);
	return fail(c, f->val, "%s: '%s' is not an integer in %llu..%llu", f->name, shown(c, s),
		    (unsigned long long)min, (unsigned long long)max);
}

static int get_percent(struct ctx *c, const char *what, const yaml_node_t *at, const yaml_node_t *v,
		       __u16 *bp)
{
	const char *s;

	if (scalar(c, what, at, v, &s))
		return -EINVAL;
	if (zdd_percent_parse(s, bp))
		return fail(c, v, "%s: '%s' is not a percentage 0..100 with at most two decimals",
			    what, shown(c, s));
	return 0;
}

static int get_duration(struct ctx *c, const struct field *f, __u32 *ms)
{
	const char *s;

	if (scalar(c, f->name, f->key, f->val, &s))
		return -EINVAL;
	if (zdd_duration_parse(s, ms))
		return fail(c, f->val, "%s: '%s' is not a duration (500ms, 1.5s, 2m)", f->name,
			    shown(c, s));
	if (!*ms)
		return fail(c, f->val, "%s: must be longer than 0", f->name);
	return 0;
}

/* names[] and values[] are in step; "a|b|c" is built for the message. */
static int get_enum(struct ctx *c, const struct field *f, const char *const *names,
		    const int *values, size_t n, int *out)
{
	char list[64] = "";
	const char *s;
	size_t i;

	if (scalar(c, f->name, f->key, f->val, &s))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!strcmp(s, names[i])) {
			*out = values[i];
			return 0;
		}
	}
	for (i = 0; i < n; i++) {
		size_t used = strlen(list);

		snprintf(list + used, sizeof(list) - used, "%s%s", i ? "|" : "", names[i]);
	}
	return fail(c, f->val, "%s: '%s' is not one of %s", f->name, shown(c, s), list);
}

/*
 * Finds the first entry (in file order) whose key repeats an earlier entry's: keys are keylen
 * bytes at base + i * stride. Sorting keeps this O(n log n) on large backend lists.
 */
struct dup_ent {
	const void *key;
	size_t len;
	size_t idx;
};

static int cmp_dup(const void *a, const void *b)
{
	const struct dup_ent *x = a, *y = b;
	int d = memcmp(x->key, y->key, x->len);

	if (d)
		return d;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* 0 with *dup = n when all keys differ, else *dup and *first; -ENOMEM. */
static int find_dup(const void *base, size_t stride, size_t keylen, size_t n, size_t *dup,
		    size_t *first)
{
	struct dup_ent *e;
	size_t i, run = 0;

	*dup = n;
	if (n < 2)
		return 0;
	e = calloc(n, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		e[i] = (struct dup_ent){ (const char *)base + i * stride, keylen, i };
	qsort(e, n, sizeof(*e), cmp_dup);
	for (i = 1; i < n; i++) {
		if (memcmp(e[i].key, e[i - 1].key, keylen)) {
			run = i;
		} else if (e[i].idx < *dup) {
			*dup = e[i].idx;
			*first = e[run].idx;
		}
	}
	free(e);
	return 0;
}

/* Sections */

enum {
	A_INTERFACE,
	A_PIN_DIR,
	A_METRICS,
	A_CONTROL_SOCKET,
	A_STATE_FILE,
	A_ANNOUNCE,
	A_CLUSTER,
	A_MAX
};
static const char *const agent_keys[A_MAX] = {
	[A_INTERFACE] = "interface",   [A_PIN_DIR] = "pin_dir",
	[A_METRICS] = "metrics",       [A_CONTROL_SOCKET] = "control_socket",
	[A_STATE_FILE] = "state_file", [A_ANNOUNCE] = "announce_interface",
	[A_CLUSTER] = "cluster",
};

static const char *http_authority(const char *s);

enum { C_ENDPOINTS, C_PREFIX, C_NODE, C_LEASE_TTL, C_CA, C_CERT, C_KEY, C_MAX };
static const char *const cluster_keys[C_MAX] = {
	[C_ENDPOINTS] = "endpoints",
	[C_PREFIX] = "prefix",
	[C_NODE] = "node",
	[C_LEASE_TTL] = "lease_ttl",
	[C_CA] = "ca",
	[C_CERT] = "cert",
	[C_KEY] = "key",
};

/* The TLS files of agent.cluster: absolute paths the agent can read now (it starts as root;
 * a file it cannot read is refused here, not at the first reconnection). */
static int get_tls_file(struct ctx *c, const struct field *f, char *buf, size_t size)
{
	if (!f->val)
		return 0;
	if (get_path(c, f, buf, size))
		return -EINVAL;
	if (access(buf, R_OK))
		return fail(c, f->val, "%s: '%s': %s", f->name, shown(c, buf), strerror(errno));
	return 0;
}

/* A name of letters, digits, '.', '_' and '-': it goes into etcd keys and metric labels. */
static bool is_node_name(const char *s)
{
	return *s &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
		       strlen(s);
}

static int parse_cluster(struct ctx *c, const struct field *sec, struct zdd_conf_cluster *k)
{
	struct field f[C_MAX];
	const yaml_node_t *item;
	char http[sizeof(k->endpoints[0]) + 8];
	const char *s, *rest;
	bool https = false;
	size_t i, n;

	if (expect(c, sec->name, sec->key, sec->val, YAML_MAPPING_NODE) ||
	    map_fields(c, sec->val, sec->name, cluster_keys, f, C_MAX))
		return -EINVAL;
	k->present = true;
	if (!f[C_ENDPOINTS].val)
		return fail(c, sec->val, "cluster: missing required key 'endpoints'");
	if (expect(c, f[C_ENDPOINTS].name, f[C_ENDPOINTS].key, f[C_ENDPOINTS].val,
		   YAML_SEQUENCE_NODE))
		return -EINVAL;
	n = seq_len(f[C_ENDPOINTS].val);
	if (!n || n > ZDD_CONF_MAX_ENDPOINTS)
		return fail(c, f[C_ENDPOINTS].key, "endpoints: 1 to %d etcd members",
			    ZDD_CONF_MAX_ENDPOINTS);
	for (i = 0; i < n; i++) {
		item = seq_item(c, f[C_ENDPOINTS].val, i);
		if (scalar(c, "endpoints", item, item, &s))
			return -EINVAL;
		/* https: the same authority as http's */
		https = !strncmp(s, "https://", 8);
		snprintf(http, sizeof(http), "http://%s", https ? s + 8 : "");
		rest = http_authority(https ? http : s);
		if (!rest || *rest || strlen(s) >= sizeof(k->endpoints[0]))
			return fail(c, item, "endpoints: '%s' is not http(s)://HOST:PORT",
				    shown(c, s));
		if (i && https != !strncmp(k->endpoints[0], "https://", 8))
			return fail(c, item, "endpoints: all http:// or all https://");
		snprintf(k->endpoints[i], sizeof(k->endpoints[i]), "%s", s);
	}
	k->n_endpoints = (int)n;
	if (get_tls_file(c, &f[C_CA], k->ca, sizeof(k->ca)) ||
	    get_tls_file(c, &f[C_CERT], k->cert, sizeof(k->cert)) ||
	    get_tls_file(c, &f[C_KEY], k->key, sizeof(k->key)))
		return -EINVAL;
	if (!k->cert[0] != !k->key[0])
		return fail(c, f[C_CERT].val ?: f[C_KEY].val,
			    "cluster: a client certificate goes with its key: 'cert' and 'key' "
			    "both, or neither");
	if (!https && (k->ca[0] || k->cert[0]))
		return fail(c, f[C_CA].val ?: f[C_CERT].val,
			    "cluster: 'ca', 'cert' and 'key' are for https:// endpoints");
	if (f[C_PREFIX].val) {
		if (get_str(c, &f[C_PREFIX], k->prefix, sizeof(k->prefix)))
			return -EINVAL;
		if (k->prefix[0] != '/' || k->prefix[strlen(k->prefix) - 1] != '/')
			return fail(c, f[C_PREFIX].val, "prefix: '%s' must start and end with '/'",
				    shown(c, k->prefix));
	}
	if (f[C_NODE].val && get_str(c, &f[C_NODE], k->node, sizeof(k->node)))
		return -EINVAL;
	if (!is_node_name(k->node))
		return fail(c, f[C_NODE].val ?: sec->val,
			    "node: '%s' is not a name of letters, digits, '.', '_' and '-'",
			    shown(c, k->node));
	if (f[C_LEASE_TTL].val && get_duration(c, &f[C_LEASE_TTL], &k->lease_ttl_ms))
		return -EINVAL;
	/* etcd grants whole seconds; a lease under a second would be rounded to nothing */
	if (k->lease_ttl_ms < 1000 || k->lease_ttl_ms > 60000 || k->lease_ttl_ms % 1000)
		return fail(c, f[C_LEASE_TTL].val, "lease_ttl: whole seconds from 1s to 60s");
	return 0;
}

static void agent_defaults(struct zdd_conf_agent *a)
{
	snprintf(a->cluster.prefix, sizeof(a->cluster.prefix), "/zdd/");
	if (gethostname(a->cluster.node, sizeof(a->cluster.node)))
		a->cluster.node[0] = '\0';
	a->cluster.node[sizeof(a->cluster.node) - 1] = '\0';
	a->cluster.lease_ttl_ms = 3000;
	snprintf(a->pin_dir, sizeof(a->pin_dir), "%s", ZDD_PIN_DIR);
	snprintf(a->metrics, sizeof(a->metrics), "%s", ZDD_CONF_DEF_METRICS);
	snprintf(a->control_socket, sizeof(a->control_socket), "%s", ZDD_CONF_DEF_CONTROL_SOCKET);
	snprintf(a->state_file, sizeof(a->state_file), "%s", ZDD_CONF_DEF_STATE_FILE);
}

/* An interface name as the kernel's dev_valid_name() accepts it. */
static int get_ifname(struct ctx *c, const struct field *f, char name[16])
{
	if (get_str(c, f, name, 16))
		return -EINVAL;
	if (!strcmp(name, ".") || !strcmp(name, "..") || strpbrk(name, "/: \t\n\r\f\v"))
		return fail(c, f->val, "%s: '%s' is not a valid interface name", f->name,
			    shown(c, name));
	return 0;
}

static int parse_agent(struct ctx *c, const struct field *sec, struct zdd_conf_agent *a)
{
	struct field f[A_MAX];
	struct zdd_service_key key;
	char svc[sizeof(a->metrics) + 4];

	if (expect(c, sec->name, sec->key, sec->val, YAML_MAPPING_NODE) ||
	    map_fields(c, sec->val, sec->name, agent_keys, f, A_MAX))
		return -EINVAL;
	if (f[A_INTERFACE].val && get_ifname(c, &f[A_INTERFACE], a->interface))
		return -EINVAL;
	if (f[A_ANNOUNCE].val && get_ifname(c, &f[A_ANNOUNCE], a->announce_interface))
		return -EINVAL;
	if (f[A_PIN_DIR].val && get_path(c, &f[A_PIN_DIR], a->pin_dir, sizeof(a->pin_dir)))
		return -EINVAL;
	if (f[A_METRICS].val) {
		if (get_str(c, &f[A_METRICS], a->metrics, sizeof(a->metrics)))
			return -EINVAL;
		/* ADDR:PORT is a service without its protocol: one parser for both. */
		snprintf(svc, sizeof(svc), "%s/tcp", a->metrics);
		if (zdd_service_parse(svc, &key))
			return fail(c, f[A_METRICS].val,
				    "metrics: '%s' is not ADDR:PORT ([ADDR]:PORT for IPv6)",
				    shown(c, a->metrics));
	}
	if (f[A_CONTROL_SOCKET].val &&
	    get_path(c, &f[A_CONTROL_SOCKET], a->control_socket, sizeof(a->control_socket)))
		return -EINVAL;
	if (f[A_STATE_FILE].val &&
	    get_path(c, &f[A_STATE_FILE], a->state_file, sizeof(a->state_file)))
		return -EINVAL;
	if (f[A_CLUSTER].val && parse_cluster(c, &f[A_CLUSTER], &a->cluster))
		return -EINVAL;
	return 0;
}

enum { B_ADDRESS, B_POOL, B_WEIGHT, B_STATE, B_MAX };
static const char *const backend_keys[B_MAX] = {
	[B_ADDRESS] = "address",
	[B_POOL] = "pool",
	[B_WEIGHT] = "weight",
	[B_STATE] = "state",
};
static const char *const pool_names[] = { "blue", "green" };
static const int pool_values[] = { ZDD_BLUE, ZDD_GREEN };
static const char *const state_names[] = { "up", "drain", "down" };
static const int state_values[] = { ZDD_BE_UP, ZDD_BE_DRAIN, ZDD_BE_DOWN };

static int parse_backend(struct ctx *c, const yaml_node_t *n, const struct zdd_conf_service *s,
			 struct zdd_conf_backend *b)
{
	struct field f[B_MAX];
	const char *addr;
	__u64 weight;
	int v;

	if (expect(c, "backend", n, n, YAML_MAPPING_NODE) ||
	    map_fields(c, n, "backend", backend_keys, f, B_MAX))
		return -EINVAL;
	b->line = (int)n->start_mark.line + 1;
	if (!f[B_ADDRESS].val)
		return fail(c, n, "backend: missing required key 'address'");
	if (scalar(c, "address", f[B_ADDRESS].key, f[B_ADDRESS].val, &addr))
		return -EINVAL;
	if (zdd_addr_parse(addr, b->addr))
		return fail(c, f[B_ADDRESS].val, "address: '%s' is not an IPv4 or IPv6 address",
			    shown(c, addr));
	if (zdd_addr_is_v4(b->addr) != zdd_addr_is_v4(s->key.addr))
		return fail(c, f[B_ADDRESS].val, "address: %s is %s but the service is %s",
			    shown(c, addr), zdd_addr_is_v4(b->addr) ? "IPv4" : "IPv6",
			    zdd_addr_is_v4(s->key.addr) ? "IPv4" : "IPv6");
	if (!f[B_POOL].val)
		return fail(c, n, "backend: missing required key 'pool'");
	if (get_enum(c, &f[B_POOL], pool_names, pool_values, 2, &v))
		return -EINVAL;
	b->pool = (__u8)v;
	b->weight = ZDD_DEF_BACKEND_WEIGHT;
	if (f[B_WEIGHT].val) {
		if (get_uint(c, &f[B_WEIGHT], 0, ZDD_MAX_BACKEND_WEIGHT, &weight))
			return -EINVAL;
		b->weight = (__u16)weight;
	}
	b->state = ZDD_BE_UP;
	if (f[B_STATE].val) {
		if (get_enum(c, &f[B_STATE], state_names, state_values, 3, &v))
			return -EINVAL;
		b->state = (__u8)v;
	}
	return 0;
}

static int parse_backends(struct ctx *c, const struct field *sec, struct zdd_conf_service *s)
{
	const yaml_node_t *seq = sec->val;
	size_t i, n, dup, first = 0;
	char buf[ZDD_ADDR_STRLEN];
	int rc;

	if (expect(c, sec->name, sec->key, seq, YAML_SEQUENCE_NODE))
		return -EINVAL;
	n = seq_len(seq);
	if (!n)
		return 0;
	s->backends = calloc(n, sizeof(*s->backends));
	if (!s->backends)
		return oom(c);
	for (i = 0; i < n; i++) {
		s->n_backends = i + 1;
		rc = parse_backend(c, seq_item(c, seq, i), s, &s->backends[i]);
		if (rc)
			return rc;
	}
	/* Even across pools: one address is one backend, in one pool. */
	if (find_dup(s->backends[0].addr, sizeof(*s->backends), sizeof(s->backends[0].addr), n,
		     &dup, &first))
		return oom(c);
	if (dup == n)
		return 0;
	zdd_addr_format(s->backends[dup].addr, buf, sizeof(buf));
	return fail_at(c, (size_t)s->backends[dup].line,
		       "backend %s is listed twice in this service (first on line %d)", buf,
		       s->backends[first].line);
}

enum { H_TYPE, H_PORT, H_PATH, H_EXPECT_STATUS, H_INTERVAL, H_TIMEOUT, H_RISE, H_FALL, H_MAX };
static const char *const check_keys[H_MAX] = {
	[H_TYPE] = "type",	   [H_PORT] = "port",
	[H_PATH] = "path",	   [H_EXPECT_STATUS] = "expect_status",
	[H_INTERVAL] = "interval", [H_TIMEOUT] = "timeout",
	[H_RISE] = "rise",	   [H_FALL] = "fall",
};
static const char *const check_names[] = { "tcp", "http" };
static const int check_values[] = { ZDD_CHECK_TCP, ZDD_CHECK_HTTP };

static void check_defaults(struct zdd_conf_check *k, const struct zdd_service_key *key)
{
	k->type = ZDD_CHECK_NONE;
	k->port = ntohs(key->port);
	strcpy(k->path, "/");
	k->expect_status = 200;
	k->interval_ms = 1000;
	k->timeout_ms = 500;
	k->rise = 2;
	k->fall = 2;
}

static int parse_check(struct ctx *c, const struct field *sec, struct zdd_conf_check *k)
{
	struct field f[H_MAX];
	__u64 v;
	size_t i;
	int type;

	if (expect(c, sec->name, sec->key, sec->val, YAML_MAPPING_NODE) ||
	    map_fields(c, sec->val, sec->name, check_keys, f, H_MAX))
		return -EINVAL;
	if (!f[H_TYPE].val)
		return fail(c, sec->val, "health_check: missing required key 'type'");
	if (get_enum(c, &f[H_TYPE], check_names, check_values, 2, &type))
		return -EINVAL;
	k->type = type;
	if (f[H_PORT].val) {
		if (get_uint(c, &f[H_PORT], 1, 65535, &v))
			return -EINVAL;
		k->port = (__u16)v;
	}
	if (type != ZDD_CHECK_HTTP) {
		if (f[H_PATH].key)
			return fail(c, f[H_PATH].key, "path: only http checks have one");
		if (f[H_EXPECT_STATUS].key)
			return fail(c, f[H_EXPECT_STATUS].key,
				    "expect_status: only http checks have one");
	}
	if (f[H_PATH].val) {
		if (get_str(c, &f[H_PATH], k->path, sizeof(k->path)))
			return -EINVAL;
		if (k->path[0] != '/')
			return fail(c, f[H_PATH].val, "path: must start with /");
		/* It goes into the request line: no spaces, no control characters. */
		for (i = 0; k->path[i]; i++)
			if ((unsigned char)k->path[i] <= 0x20 || (unsigned char)k->path[i] >= 0x7f)
				return fail(c, f[H_PATH].val,
					    "path: must be printable ASCII without spaces");
	}
	if (f[H_EXPECT_STATUS].val) {
		if (get_uint(c, &f[H_EXPECT_STATUS], 100, 599, &v))
			return -EINVAL;
		k->expect_status = (int)v;
	}
	if (f[H_INTERVAL].val && get_duration(c, &f[H_INTERVAL], &k->interval_ms))
		return -EINVAL;
	if (f[H_TIMEOUT].val && get_duration(c, &f[H_TIMEOUT], &k->timeout_ms))
		return -EINVAL;
	if (k->timeout_ms >= k->interval_ms)
		return fail(c, f[H_TIMEOUT].val ?: f[H_INTERVAL].val,
			    "timeout (%ums) must be shorter than interval (%ums)", k->timeout_ms,
			    k->interval_ms);
	if (f[H_RISE].val) {
		if (get_uint(c, &f[H_RISE], 1, 100, &v))
			return -EINVAL;
		k->rise = (__u32)v;
	}
	if (f[H_FALL].val) {
		if (get_uint(c, &f[H_FALL], 1, 100, &v))
			return -EINVAL;
		k->fall = (__u32)v;
	}
	return 0;
}

static int parse_steps(struct ctx *c, const struct field *f, struct zdd_conf_rollout *r)
{
	const yaml_node_t *item = NULL;
	size_t i, n;

	if (expect(c, f->name, f->key, f->val, YAML_SEQUENCE_NODE))
		return -EINVAL;
	n = seq_len(f->val);
	if (!n)
		return fail(c, f->key, "steps: must not be empty");
	r->n_steps = 0;
	for (i = 0; i < n; i++) {
		__u16 bp;

		item = seq_item(c, f->val, i);
		if (i == ZDD_CONF_MAX_STEPS)
			return fail(c, item, "steps: more than %d steps", ZDD_CONF_MAX_STEPS);
		if (get_percent(c, "steps", item, item, &bp))
			return -EINVAL;
		if (!bp)
			return fail(c, item, "steps: every step must be above 0");
		if (i && bp <= r->steps_bp[i - 1])
			return fail(c, item, "steps: %s is not above the step before it",
				    shown(c, text(item)));
		r->steps_bp[i] = bp;
		r->n_steps = (int)i + 1;
	}
	if (r->steps_bp[n - 1] != ZDD_MAX_WEIGHT_BP)
		return fail(c, item, "steps: the last step must be 100");
	return 0;
}

/* An argv vector, run without a shell: argv[0] absolute, so PATH never picks the program. */
static int parse_argv(struct ctx *c, const struct field *f, char **argv)
{
	size_t i, n;

	if (expect(c, f->name, f->key, f->val, YAML_SEQUENCE_NODE))
		return -EINVAL;
	n = seq_len(f->val);
	if (!n)
		return fail(c, f->key, "%s: must not be empty (leave the key out for no hook)",
			    f->name);
	for (i = 0; i < n; i++) {
		const yaml_node_t *item = seq_item(c, f->val, i);
		const char *s;

		if (i == ZDD_CONF_MAX_ARGV)
			return fail(c, item, "%s: more than %d arguments", f->name,
				    ZDD_CONF_MAX_ARGV);
		if (scalar(c, f->name, item, item, &s))
			return -EINVAL;
		if (!i && s[0] != '/')
			return fail(c, item, "%s: '%s' is not an absolute path (no PATH lookup)",
				    f->name, shown(c, s));
		if (strlen(s) > MAX_ARG_LEN)
			return fail(c, item, "%s: argument longer than %d bytes", f->name,
				    MAX_ARG_LEN);
		argv[i] = strdup(s);
		if (!argv[i])
			return oom(c);
	}
	return 0;
}

enum { K_PRE_STEP, K_POST_PROMOTE, K_POST_ROLLBACK, K_TIMEOUT, K_MAX };
static const char *const hook_keys[K_MAX] = {
	[K_PRE_STEP] = "pre_step",
	[K_POST_PROMOTE] = "post_promote",
	[K_POST_ROLLBACK] = "post_rollback",
	[K_TIMEOUT] = "timeout",
};

static int parse_hooks(struct ctx *c, const struct field *sec, struct zdd_conf_hooks *h)
{
	struct field f[K_MAX];
	int rc;

	if (expect(c, sec->name, sec->key, sec->val, YAML_MAPPING_NODE) ||
	    map_fields(c, sec->val, sec->name, hook_keys, f, K_MAX))
		return -EINVAL;
	/* -ENOMEM from strdup() is passed up as it is, like every allocation failure. */
	rc = f[K_PRE_STEP].val ? parse_argv(c, &f[K_PRE_STEP], h->pre_step) : 0;
	if (!rc && f[K_POST_PROMOTE].val)
		rc = parse_argv(c, &f[K_POST_PROMOTE], h->post_promote);
	if (!rc && f[K_POST_ROLLBACK].val)
		rc = parse_argv(c, &f[K_POST_ROLLBACK], h->post_rollback);
	if (rc)
		return rc;
	if (f[K_TIMEOUT].val && get_duration(c, &f[K_TIMEOUT], &h->timeout_ms))
		return -EINVAL;
	return 0;
}

enum {
	R_STEPS,
	R_INTERVAL,
	R_HANDSHAKE_TIMEOUT,
	R_MIN_SAMPLES,
	R_MAX_FAILURE_RATIO,
	R_MAX_RATIO_TO_BLUE,
	R_CONFIDENCE,
	R_MAX_EXTENSION,
	R_HOOKS,
	R_ANALYSIS,
	R_MAX
};
static const char *const rollout_keys[R_MAX] = {
	[R_STEPS] = "steps",
	[R_INTERVAL] = "interval",
	[R_HANDSHAKE_TIMEOUT] = "handshake_timeout",
	[R_MIN_SAMPLES] = "min_samples",
	[R_MAX_FAILURE_RATIO] = "max_failure_ratio",
	[R_MAX_RATIO_TO_BLUE] = "max_ratio_to_blue",
	[R_CONFIDENCE] = "confidence",
	[R_MAX_EXTENSION] = "max_step_extension",
	[R_HOOKS] = "hooks",
	[R_ANALYSIS] = "analysis",
};

static void rollout_defaults(struct zdd_conf_rollout *r)
{
	static const __u16 steps[] = { 100, 500, 2500, 5000, 10000 };

	memcpy(r->steps_bp, steps, sizeof(steps));
	r->n_steps = sizeof(steps) / sizeof(steps[0]);
	r->interval_ms = 10000;
	r->handshake_timeout_ms = ZDD_DEF_HANDSHAKE_MS;
	r->min_samples = 20;
	r->max_extension_ms = 60000;
	r->confidence_bp = 9990;
	r->max_failure_bp = 500;
	r->max_ratio_to_blue = 2.0;
	r->hooks.timeout_ms = 30000;
}

/* A plain decimal number, with a leading '-' when sign: no strtod(), whose decimal point
 * follows the locale and which takes exponents, hex, inf and nan. */
static bool decimal_value(const char *s, bool sign, double *out)
{
	bool neg = sign && s[0] == '-';
	struct decimal d;
	const char *end = scan_decimal(s + neg, &d);
	double v;

	if (!end || *end)
		return false;
	v = (double)d.ipart + (double)d.frac / (double)tens[d.fdigits];
	*out = neg ? -v : v;
	return true;
}

static int get_ratio(struct ctx *c, const struct field *f, double *out)
{
	const char *s;
	double v;

	if (scalar(c, f->name, f->key, f->val, &s))
		return -EINVAL;
	if (!decimal_value(s, false, &v) || v < 1.0 || v > MAX_RATIO)
		return fail(c, f->val, "%s: '%s' is not a decimal number from 1 to %g", f->name,
			    shown(c, s), MAX_RATIO);
	*out = v;
	return 0;
}

static int get_threshold(struct ctx *c, const struct field *f, double *out)
{
	const char *s;

	if (scalar(c, f->name, f->key, f->val, &s))
		return -EINVAL;
	if (!decimal_value(s, true, out))
		return fail(c, f->val, "%s: '%s' is not a plain decimal number (0.05, -1.5)",
			    f->name, shown(c, s));
	return 0;
}

const char *const zdd_an_vars[ZDD_AN_VARS] = {
	[ZDD_AN_SERVICE] = "{{service}}",
	[ZDD_AN_POOL] = "{{pool}}",
	[ZDD_AN_WINDOW] = "{{window}}",
};

/* Every "{{" opens a known placeholder: a typo must not reach Prometheus as PromQL. */
static int check_vars(struct ctx *c, const struct field *f, const char *s)
{
	const char *p = s;
	size_t i;

	while ((p = strstr(p, "{{"))) {
		for (i = 0; i < ZDD_AN_VARS; i++)
			if (!strncmp(p, zdd_an_vars[i], strlen(zdd_an_vars[i])))
				break;
		if (i == ZDD_AN_VARS)
			return fail(c, f->val,
				    "%s: unknown placeholder at '%s' ({{service}}, {{pool}} or "
				    "{{window}})",
				    f->name, shown(c, p));
		p += strlen(zdd_an_vars[i]);
	}
	return 0;
}

static bool is_alnum(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/*
 * "http://HOST:PORT" at the start of s, HOST an IPv4 address, [IPv6] or a DNS name, the port
 * written out. Returns what follows, or NULL. Plain http for the application checks: they stay
 * on the operators' network, and no certificate store has to be configured (agent.cluster's
 * https endpoints are checked as the same authority after "https://").
 */
static const char *http_authority(const char *s)
{
	static const char host_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789.-";
	char ip[ZDD_ADDR_STRLEN];
	const char *p = s + 7, *end;
	unsigned int port = 0;
	__u8 addr[16];
	size_t n;

	if (strncmp(s, "http://", 7))
		return NULL;
	if (*p == '[') {
		end = strchr(p, ']');
		n = end ? (size_t)(end - p - 1) : 0;
		if (!n || n >= sizeof(ip))
			return NULL;
		memcpy(ip, p + 1, n);
		ip[n] = '\0';
		if (zdd_addr_parse(ip, addr))
			return NULL;
		p = end + 1;
	} else {
		n = strspn(p, host_chars);
		if (!n || n > 253 || !is_alnum(p[0]))
			return NULL;
		p += n;
	}
	if (*p++ != ':' || !is_digit(*p) || *p == '0')
		return NULL;
	for (n = 0; is_digit(*p) && n < 5; n++)
		port = port * 10 + (unsigned int)(*p++ - '0');
	if (port > 65535 || is_digit(*p))
		return NULL;
	return p;
}

/* A path, and a query string when query: printable ASCII without spaces or a fragment. */
static bool is_url_path(const char *s, bool query)
{
	size_t i;

	if (*s && *s != '/')
		return false;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '#' ||
		    (!query && s[i] == '?'))
			return false;
	return true;
}

/* Names and array indexes between dots: "verdict.score", "data.0.value". */
static bool is_field_path(const char *s)
{
	static const char seg_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"0123456789_-";
	size_t n;

	for (;;) {
		n = strspn(s, seg_chars);
		if (!n)
			return false;
		s += n;
		if (!*s)
			return true;
		if (*s++ != '.')
			return false;
	}
}

enum { P_ADDRESS, P_QUERY, P_MAX };
static const char *const prometheus_keys[P_MAX] = {
	[P_ADDRESS] = "address",
	[P_QUERY] = "query",
};

/* sec's string field f, required: an http:// URL ("http://HOST:PORT" then a path, with a query
 * string when query), into buf. Returns what follows HOST:PORT, or NULL after a failure. */
static const char *get_http_url(struct ctx *c, const struct field *sec, const struct field *f,
				char *buf, size_t size, bool query, const char *want)
{
	const char *rest;

	if (!f->val) {
		fail(c, sec->val, "%s: missing required key '%s'", sec->name, f->name);
		return NULL;
	}
	if (get_str(c, f, buf, size))
		return NULL;
	rest = http_authority(buf);
	if (!rest || !is_url_path(rest, query)) {
		fail(c, f->val, "%s: '%s' is not %s", f->name, shown(c, buf), want);
		return NULL;
	}
	return rest;
}

static int parse_prometheus(struct ctx *c, const struct field *sec, struct zdd_conf_analysis *a)
{
	struct field f[P_MAX];

	if (expect(c, sec->name, sec->key, sec->val, YAML_MAPPING_NODE) ||
	    map_fields(c, sec->val, sec->name, prometheus_keys, f, P_MAX))
		return -EINVAL;
	a->kind = ZDD_AN_PROMETHEUS;
	/* A path is a prefix (--web.route-prefix): /api/v1/query goes after it. */
	if (!get_http_url(c, sec, &f[P_ADDRESS], a->address, sizeof(a->address), false,
			  "http://HOST:PORT (an optional /prefix after it)"))
		return -EINVAL;
	if (!f[P_QUERY].val)
		return fail(c, sec->val, "prometheus: missing required key 'query'");
	if (get_str(c, &f[P_QUERY], a->query, sizeof(a->query)))
		return -EINVAL;
	return check_vars(c, &f[P_QUERY], a->query);
}

enum { W_URL, W_METHOD, W_BODY, W_FIELD, W_MAX };
static const char *const web_keys[W_MAX] = {
	[W_URL] = "url",
	[W_METHOD] = "method",
	[W_BODY] = "body",
	[W_FIELD] = "field",
};
static const char *const method_names[] = { "GET", "POST" };
static const int method_values[] = { 0, 1 };

static int parse_web(struct ctx *c, const struct field *sec, struct zdd_conf_analysis *a)
{
	struct field f[W_MAX];
	const char *rest;
	int post = 0;

	if (expect(c, sec->name, sec->key, sec->val, YAML_MAPPING_NODE) ||
	    map_fields(c, sec->val, sec->name, web_keys, f, W_MAX))
		return -EINVAL;
	a->kind = ZDD_AN_WEB;
	rest = get_http_url(c, sec, &f[W_URL], a->url, sizeof(a->url), true,
			    "http://HOST:PORT/PATH");
	if (!rest || check_vars(c, &f[W_URL], rest))
		return -EINVAL;
	if (f[W_METHOD].val && get_enum(c, &f[W_METHOD], method_names, method_values, 2, &post))
		return -EINVAL;
	strcpy(a->method, method_names[post]);
	if (f[W_BODY].val) {
		if (!post)
			return fail(c, f[W_BODY].key, "body: only a POST sends one");
		if (get_str(c, &f[W_BODY], a->body, sizeof(a->body)) ||
		    check_vars(c, &f[W_BODY], a->body))
			return -EINVAL;
	}
	if (f[W_FIELD].val) {
		if (get_str(c, &f[W_FIELD], a->field, sizeof(a->field)))
			return -EINVAL;
		if (!is_field_path(a->field))
			return fail(c, f[W_FIELD].val,
				    "field: '%s' is not a dotted path of names and indexes "
				    "(verdict.score, data.0.value)",
				    shown(c, a->field));
	}
	return 0;
}

enum {
	N_NAME,
	N_PROMETHEUS,
	N_WEB,
	N_WINDOW,
	N_INTERVAL,
	N_TIMEOUT,
	N_MAXIMUM,
	N_MINIMUM,
	N_COMPARE,
	N_RATIO,
	N_FAILURE_LIMIT,
	N_INCONCLUSIVE_LIMIT,
	N_MAX
};
static const char *const analysis_keys[N_MAX] = {
	[N_NAME] = "name",
	[N_PROMETHEUS] = "prometheus",
	[N_WEB] = "web",
	[N_WINDOW] = "window",
	[N_INTERVAL] = "interval",
	[N_TIMEOUT] = "timeout",
	[N_MAXIMUM] = "max",
	[N_MINIMUM] = "min",
	[N_COMPARE] = "compare",
	[N_RATIO] = "max_ratio_to_blue",
	[N_FAILURE_LIMIT] = "failure_limit",
	[N_INCONCLUSIVE_LIMIT] = "inconclusive_limit",
};
/* "blue" as in max_ratio_to_blue: the stable pool, whichever pool that is. */
static const char *const compare_names[] = { "blue" };
static const int compare_values[] = { 1 };

static int parse_timing(struct ctx *c, const struct field *f, struct zdd_conf_analysis *a)
{
	a->window_ms = 30000;
	a->interval_ms = 1000;
	if (f[N_WINDOW].val && get_duration(c, &f[N_WINDOW], &a->window_ms))
		return -EINVAL;
	if (f[N_INTERVAL].val && get_duration(c, &f[N_INTERVAL], &a->interval_ms))
		return -EINVAL;
	if (a->interval_ms < MIN_AN_INTERVAL_MS)
		return fail(c, f[N_INTERVAL].val, "interval: must be at least %ums",
			    MIN_AN_INTERVAL_MS);
	a->timeout_ms = a->interval_ms < MAX_AN_TIMEOUT_MS ? a->interval_ms : MAX_AN_TIMEOUT_MS;
	if (!f[N_TIMEOUT].val)
		return 0;
	if (get_duration(c, &f[N_TIMEOUT], &a->timeout_ms))
		return -EINVAL;
	/* One evaluation in flight at a time: a longer timeout would stretch the interval. */
	if (a->timeout_ms > a->interval_ms)
		return fail(c, f[N_TIMEOUT].val,
			    "timeout (%ums) must not be longer than interval (%ums)", a->timeout_ms,
			    a->interval_ms);
	return 0;
}

static int parse_judgement(struct ctx *c, const yaml_node_t *n, const struct field *f,
			   struct zdd_conf_analysis *a)
{
	__u64 v;
	int cmp;

	if (f[N_MAXIMUM].val && get_threshold(c, &f[N_MAXIMUM], &a->max))
		return -EINVAL;
	if (f[N_MINIMUM].val && get_threshold(c, &f[N_MINIMUM], &a->min))
		return -EINVAL;
	a->has_max = f[N_MAXIMUM].val != NULL;
	a->has_min = f[N_MINIMUM].val != NULL;
	if (a->has_max && a->has_min && a->max < a->min)
		return fail(c, f[N_MINIMUM].val, "min (%g) is above max (%g)", a->min, a->max);
	if (f[N_COMPARE].val) {
		if (get_enum(c, &f[N_COMPARE], compare_names, compare_values, 1, &cmp))
			return -EINVAL;
		a->compare_blue = true;
	}
	if (f[N_RATIO].val) {
		if (get_ratio(c, &f[N_RATIO], &a->max_ratio_to_blue))
			return -EINVAL;
		a->has_ratio = true;
		a->compare_blue = true;
	}
	if (!a->has_max && !a->has_min && !a->has_ratio)
		return fail(c, n, "analysis check %s: needs max, min or max_ratio_to_blue",
			    a->name);
	a->failure_limit = 2;
	a->inconclusive_limit = 3;
	if (f[N_FAILURE_LIMIT].val) {
		if (get_uint(c, &f[N_FAILURE_LIMIT], 1, MAX_AN_LIMIT, &v))
			return -EINVAL;
		a->failure_limit = (__u32)v;
	}
	if (f[N_INCONCLUSIVE_LIMIT].val) {
		if (get_uint(c, &f[N_INCONCLUSIVE_LIMIT], 1, MAX_AN_INCONCLUSIVE, &v))
			return -EINVAL;
		a->inconclusive_limit = (__u32)v;
	}
	return 0;
}

static int parse_analysis(struct ctx *c, const yaml_node_t *n, struct zdd_conf_analysis *a)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789_";
	struct field f[N_MAX];

	if (expect(c, "analysis check", n, n, YAML_MAPPING_NODE) ||
	    map_fields(c, n, "analysis check", analysis_keys, f, N_MAX))
		return -EINVAL;
	a->line = (int)n->start_mark.line + 1;
	if (!f[N_NAME].val)
		return fail(c, n, "analysis check: missing required key 'name'");
	if (get_str(c, &f[N_NAME], a->name, sizeof(a->name)))
		return -EINVAL;
	/* It becomes a Prometheus label value and a word in events. */
	if (a->name[strspn(a->name, name_chars)])
		return fail(c, f[N_NAME].val, "name: '%s' may hold letters, digits and _ only",
			    shown(c, a->name));
	if (!f[N_PROMETHEUS].val == !f[N_WEB].val)
		return fail(c, n, "analysis check %s: needs exactly one of 'prometheus' and 'web'",
			    a->name);
	if (f[N_PROMETHEUS].val ? parse_prometheus(c, &f[N_PROMETHEUS], a)
				: parse_web(c, &f[N_WEB], a))
		return -EINVAL;
	if (parse_timing(c, f, a))
		return -EINVAL;
	return parse_judgement(c, n, f, a);
}

static int parse_analyses(struct ctx *c, const struct field *sec, struct zdd_conf_rollout *r)
{
	const yaml_node_t *seq = sec->val;
	size_t i, n, dup, first = 0;
	int rc;

	if (expect(c, sec->name, sec->key, seq, YAML_SEQUENCE_NODE))
		return -EINVAL;
	n = seq_len(seq);
	if (!n)
		return 0;
	if (n > ZDD_CONF_MAX_CHECKS)
		return fail(c, seq_item(c, seq, ZDD_CONF_MAX_CHECKS),
			    "analysis: more than %d checks", ZDD_CONF_MAX_CHECKS);
	r->analysis = calloc(n, sizeof(*r->analysis));
	if (!r->analysis)
		return oom(c);
	r->n_analysis = (int)n;
	for (i = 0; i < n; i++) {
		rc = parse_analysis(c, seq_item(c, seq, i), &r->analysis[i]);
		if (rc)
			return rc;
	}
	/* calloc'd: the bytes after each name are zero, and compared too. */
	if (find_dup(r->analysis[0].name, sizeof(*r->analysis), sizeof(r->analysis[0].name), n,
		     &dup, &first))
		return oom(c);
	if (dup == n)
		return 0;
	return fail_at(c, (size_t)r->analysis[dup].line,
		       "analysis check %s is listed twice (first on line %d)",
		       r->analysis[dup].name, r->analysis[first].line);
}

static int parse_rollout(struct ctx *c, const struct field *sec, struct zdd_conf_rollout *r)
{
	struct field f[R_MAX];
	__u64 v;
	int rc;

	if (expect(c, sec->name, sec->key, sec->val, YAML_MAPPING_NODE) ||
	    map_fields(c, sec->val, sec->name, rollout_keys, f, R_MAX))
		return -EINVAL;
	r->present = true;
	if (f[R_STEPS].val && parse_steps(c, &f[R_STEPS], r))
		return -EINVAL;
	if (f[R_INTERVAL].val && get_duration(c, &f[R_INTERVAL], &r->interval_ms))
		return -EINVAL;
	if (f[R_HANDSHAKE_TIMEOUT].val &&
	    get_duration(c, &f[R_HANDSHAKE_TIMEOUT], &r->handshake_timeout_ms))
		return -EINVAL;
	/* The data path keeps handshake outcomes for ZDD_COHORTS cohorts: they must outlive it. */
	if (r->handshake_timeout_ms < MIN_HANDSHAKE_MS ||
	    r->handshake_timeout_ms > ZDD_MAX_HANDSHAKE_MS)
		return fail(c, f[R_HANDSHAKE_TIMEOUT].val,
			    "handshake_timeout: %u ms is out of %u ms..%u s",
			    r->handshake_timeout_ms, MIN_HANDSHAKE_MS, ZDD_MAX_HANDSHAKE_MS / 1000);
	if (f[R_MAX_EXTENSION].val && get_duration(c, &f[R_MAX_EXTENSION], &r->max_extension_ms))
		return -EINVAL;
	if (f[R_CONFIDENCE].val) {
		if (get_percent(c, f[R_CONFIDENCE].name, f[R_CONFIDENCE].key, f[R_CONFIDENCE].val,
				&r->confidence_bp))
			return -EINVAL;
		if (r->confidence_bp < 9000 || r->confidence_bp > 9999)
			return fail(c, f[R_CONFIDENCE].val,
				    "confidence: must be from 90%% to 99.99%%");
	}
	if (f[R_MIN_SAMPLES].val) {
		if (get_uint(c, &f[R_MIN_SAMPLES], 1, MAX_SAMPLES, &v))
			return -EINVAL;
		r->min_samples = (__u32)v;
	}
	if (f[R_MAX_FAILURE_RATIO].val &&
	    get_percent(c, f[R_MAX_FAILURE_RATIO].name, f[R_MAX_FAILURE_RATIO].key,
			f[R_MAX_FAILURE_RATIO].val, &r->max_failure_bp))
		return -EINVAL;
	if (f[R_MAX_RATIO_TO_BLUE].val &&
	    get_ratio(c, &f[R_MAX_RATIO_TO_BLUE], &r->max_ratio_to_blue))
		return -EINVAL;
	/* -ENOMEM from either is passed up as it is. */
	rc = f[R_HOOKS].val ? parse_hooks(c, &f[R_HOOKS], &r->hooks) : 0;
	if (rc)
		return rc;
	if (f[R_ANALYSIS].val)
		return parse_analyses(c, &f[R_ANALYSIS], r);
	return 0;
}

enum {
	S_SERVICE,
	S_AFFINITY,
	S_CLIENT_PREFIX,
	S_GREEN_WEIGHT,
	S_BACKENDS,
	S_CHECK,
	S_ROLLOUT,
	S_MAX
};
static const char *const service_keys[S_MAX] = {
	[S_SERVICE] = "service",
	[S_AFFINITY] = "affinity",
	[S_CLIENT_PREFIX] = "client_prefix",
	[S_GREEN_WEIGHT] = "green_weight",
	[S_BACKENDS] = "backends",
	[S_CHECK] = "health_check",
	[S_ROLLOUT] = "rollout",
};
static const char *const affinity_names[] = { "client", "flow" };
static const int affinity_values[] = { ZDD_AFF_CLIENT, ZDD_AFF_FLOW };

static int parse_service(struct ctx *c, const yaml_node_t *n, struct zdd_conf_service *s)
{
	struct field f[S_MAX];
	const char *svc;
	__u64 prefix;
	__u16 bp;
	int v, rc;

	if (expect(c, "service entry", n, n, YAML_MAPPING_NODE) ||
	    map_fields(c, n, "service", service_keys, f, S_MAX))
		return -EINVAL;
	s->line = (int)n->start_mark.line + 1;
	if (!f[S_SERVICE].val)
		return fail(c, n, "service entry: missing required key 'service'");
	if (scalar(c, "service", f[S_SERVICE].key, f[S_SERVICE].val, &svc))
		return -EINVAL;
	if (zdd_service_parse(svc, &s->key))
		return fail(c, f[S_SERVICE].val,
			    "service: '%s' is not ADDR:PORT/tcp|udp ([ADDR]:PORT/PROTO for IPv6)",
			    shown(c, svc));
	s->affinity = ZDD_AFF_CLIENT;
	s->client_prefix4 = 32;
	s->client_prefix6 = 64;
	s->green_bp = -1;
	check_defaults(&s->check, &s->key);
	rollout_defaults(&s->rollout);

	if (f[S_AFFINITY].val) {
		if (get_enum(c, &f[S_AFFINITY], affinity_names, affinity_values, 2, &v))
			return -EINVAL;
		s->affinity = (__u8)v;
	}
	/* One family per service: the key sets the prefix of that family. */
	if (f[S_CLIENT_PREFIX].val) {
		bool v4 = zdd_addr_is_v4(s->key.addr);

		if (get_uint(c, &f[S_CLIENT_PREFIX], 1, v4 ? 32 : 128, &prefix))
			return -EINVAL;
		if (v4)
			s->client_prefix4 = (__u8)prefix;
		else
			s->client_prefix6 = (__u8)prefix;
	}
	if (f[S_GREEN_WEIGHT].val) {
		if (get_percent(c, f[S_GREEN_WEIGHT].name, f[S_GREEN_WEIGHT].key,
				f[S_GREEN_WEIGHT].val, &bp))
			return -EINVAL;
		s->green_bp = bp;
	}
	if (f[S_BACKENDS].val) {
		rc = parse_backends(c, &f[S_BACKENDS], s);
		if (rc)
			return rc;
	}
	if (f[S_CHECK].val && parse_check(c, &f[S_CHECK], &s->check))
		return -EINVAL;
	if (f[S_ROLLOUT].val)
		return parse_rollout(c, &f[S_ROLLOUT], &s->rollout);
	return 0;
}

static int parse_services(struct ctx *c, const struct field *sec, struct zdd_conf *conf)
{
	const yaml_node_t *seq = sec->val;
	size_t i, n, dup, first = 0;
	char buf[ZDD_SVC_STRLEN];
	int rc;

	if (expect(c, sec->name, sec->key, seq, YAML_SEQUENCE_NODE))
		return -EINVAL;
	n = seq_len(seq);
	if (!n)
		return 0;
	conf->services = calloc(n, sizeof(*conf->services));
	if (!conf->services)
		return oom(c);
	for (i = 0; i < n; i++) {
		/* Counted before parsing: zdd_conf_free() releases a half-parsed entry too. */
		conf->n_services = i + 1;
		rc = parse_service(c, seq_item(c, seq, i), &conf->services[i]);
		if (rc)
			return rc;
	}
	rc = find_dup(&conf->services[0].key, sizeof(*conf->services),
		      sizeof(conf->services[0].key), n, &dup, &first);
	if (rc)
		return oom(c);
	if (dup == n)
		return 0;
	zdd_service_format(&conf->services[dup].key, buf, sizeof(buf));
	return fail_at(c, (size_t)conf->services[dup].line,
		       "service %s is listed twice (first on line %d)", buf,
		       conf->services[first].line);
}

enum { T_AGENT, T_SERVICES, T_MAX };
static const char *const top_keys[T_MAX] = { [T_AGENT] = "agent", [T_SERVICES] = "services" };

static int parse_root(struct ctx *c, struct zdd_conf *conf)
{
	yaml_node_t *root = yaml_document_get_root_node(c->doc);
	struct field f[T_MAX];

	if (!root)
		return fail_at(c, 1, "empty file: expected a mapping with a 'services' key");
	if (root->type != YAML_MAPPING_NODE)
		return fail_at(c, 1, "the document must be a mapping (agent:, services:), not %s",
			       type_name(root));
	if (map_fields(c, root, "the top level", top_keys, f, T_MAX))
		return -EINVAL;
	if (f[T_AGENT].val && parse_agent(c, &f[T_AGENT], &conf->agent))
		return -EINVAL;
	if (!f[T_SERVICES].val)
		return fail(c, root, "missing required key 'services'");
	return parse_services(c, &f[T_SERVICES], conf);
}

/* Parsing */

/* Reader errors (bad UTF-8, control characters) carry a byte offset, not a mark. */
static int syntax_error(struct ctx *c, const yaml_parser_t *p)
{
	size_t line = p->problem_mark.line + 1, i;

	/* Some of libyaml's allocation failures fail without setting an error. */
	if (p->error == YAML_MEMORY_ERROR || p->error == YAML_NO_ERROR)
		return oom(c);
	if (p->error == YAML_READER_ERROR) {
		for (i = 0, line = 1; i < p->problem_offset && i < c->len; i++)
			line += c->data[i] == '\n';
		return fail_at(c, line, "invalid text: %s", p->problem ?: "unreadable");
	}
	if (p->context)
		return fail_at(c, line, "syntax error: %s (%s)", p->problem ?: "invalid YAML",
			       p->context);
	return fail_at(c, line, "syntax error: %s", p->problem ?: "invalid YAML");
}

/* Pass 1: events. Anything but plain nodes in a single document is refused here. */
static int prescan(struct ctx *c)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int docs = 0, rc = 0;
	bool done = false;

	if (!yaml_parser_initialize(&p))
		return oom(c);
	yaml_parser_set_input_string(&p, (const unsigned char *)c->data, c->len);
	while (!rc && !done) {
		const yaml_char_t *anchor = NULL, *tag = NULL;
		size_t line;

		if (!yaml_parser_parse(&p, &ev)) {
			rc = syntax_error(c, &p);
			break;
		}
		line = ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_ALIAS_EVENT:
			rc = fail_at(c, line, "aliases are not supported");
			break;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			tag = ev.data.scalar.tag;
			break;
		case YAML_SEQUENCE_START_EVENT:
			anchor = ev.data.sequence_start.anchor;
			tag = ev.data.sequence_start.tag;
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = ev.data.mapping_start.anchor;
			tag = ev.data.mapping_start.tag;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = fail_at(c, line, "only one YAML document is supported");
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		if (!rc && anchor)
			rc = fail_at(c, line, "anchors and aliases are not supported");
		else if (!rc && tag)
			rc = fail_at(c, line, "tags are not supported");
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

/* Pass 2: the tree. *doc is initialised on success only. */
static int load(struct ctx *c, yaml_document_t *doc)
{
	yaml_parser_t p;
	int rc = 0;

	if (!yaml_parser_initialize(&p))
		return oom(c);
	yaml_parser_set_input_string(&p, (const unsigned char *)c->data, c->len);
	if (!yaml_parser_load(&p, doc))
		rc = syntax_error(c, &p);
	yaml_parser_delete(&p);
	return rc;
}

int zdd_conf_parse(const char *name, const char *data, size_t len, struct zdd_conf **out, char *err,
		   size_t errlen)
{
	struct ctx c = {
		.name = name ?: "<config>",
		.data = data ?: "",
		.len = data ? len : 0,
		.err = err,
		.errlen = errlen,
	};
	struct zdd_conf *conf = NULL;
	yaml_document_t doc;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	*out = NULL;
	rc = prescan(&c);
	if (rc)
		return rc;
	rc = load(&c, &doc);
	if (rc)
		return rc;
	c.doc = &doc;
	conf = calloc(1, sizeof(*conf));
	if (!conf)
		rc = oom(&c);
	else {
		agent_defaults(&conf->agent);
		rc = parse_root(&c, conf);
	}
	yaml_document_delete(&doc);
	if (rc) {
		zdd_conf_free(conf);
		return rc;
	}
	*out = conf;
	return 0;
}

/* Reads the whole file (a pipe or /dev/stdin too), up to MAX_FILE_SIZE. */
static int read_all(struct ctx *c, const char *path, char **data, size_t *len)
{
	size_t cap = 0, n = 0;
	char *buf = NULL, *nbuf;
	int fd, rc = 0;
	ssize_t r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return fail_errno(c, rc, "cannot open: %s", strerror(-rc));
	}
	for (;;) {
		if (n == cap) {
			if (cap >= MAX_FILE_SIZE) {
				rc = fail_errno(c, -EFBIG, "larger than %d MiB",
						MAX_FILE_SIZE >> 20);
				break;
			}
			cap = cap ? cap * 2 : 65536;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				rc = oom(c);
				break;
			}
			buf = nbuf;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			fail_errno(c, rc, "cannot read: %s", strerror(-rc));
			break;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*data = buf;
	*len = n;
	return 0;
}

int zdd_conf_load(const char *path, struct zdd_conf **out, char *err, size_t errlen)
{
	struct ctx c = { .name = path, .err = err, .errlen = errlen };
	char *data = NULL;
	size_t len = 0;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	*out = NULL;
	rc = read_all(&c, path, &data, &len);
	if (rc)
		return rc;
	rc = zdd_conf_parse(path, data, len, out, err, errlen);
	free(data);
	return rc;
}

static void free_argv(char **argv)
{
	size_t i;

	for (i = 0; i < ZDD_CONF_MAX_ARGV && argv[i]; i++)
		free(argv[i]);
}

void zdd_conf_free(struct zdd_conf *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_services; i++) {
		struct zdd_conf_service *s = &c->services[i];

		free(s->backends);
		free_argv(s->rollout.hooks.pre_step);
		free_argv(s->rollout.hooks.post_promote);
		free_argv(s->rollout.hooks.post_rollback);
		free(s->rollout.analysis);
	}
	free(c->services);
	free(c);
}
