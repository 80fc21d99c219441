// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/fleet.c - one agent in a fleet (fleet.h): applies every service's record as
 * etcd holds it, publishes what it applied and its outcomes under its lease, and, leading,
 * writes the records and sums the live nodes' outcomes. Cut off from etcd it keeps what it
 * applied: the watch delivers nothing new, and zdd_fleet_write() refuses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "etcd.h"
#include "fleet.h"
#include "log.h"

#define NAME_LEN 64

struct fl_service {
	struct zdd_fleet *fl;
	char name[NAME_LEN];
	bool has_record;
	struct zdd_fleet_record rec;
	__s64 mod_revision; /* of the record as last seen: a write compares with it */
	bool writing;
	bool applied_dirty;
	struct zdd_fleet_outcomes mine;
};

/* A node's entry under "outcomes/<service>/<node>" or "applied/<service>/<node>". */
struct fl_node {
	char service[NAME_LEN], node[NAME_LEN];
	struct zdd_fleet_outcomes o;
	__u64 generation;
};

#define FL_ENTRIES (ZDD_FLEET_MAX_NODES * 4)

struct zdd_fleet {
	struct zdd_etcd *e;
	char node[NAME_LEN];
	__u32 ttl_s;
	struct zdd_fleet_ops ops;
	struct zdd_etcd_election *el;
	struct zdd_etcd_watch *w_rec, *w_out, *w_app, *w_req;
	bool (*on_request)(void *ctx, const char *key, const char *value, size_t len);
	void *request_ctx;
	bool requests_due, scanning;
	__u64 last_scan;
	__s64 requests_done; /* the last request's mod_revision handled */
	bool leader;
	__u64 last_ok, last_publish, now;
	struct fl_service svc[ZDD_FLEET_MAX_SERVICES];
	int n_svc;
	struct fl_node nodes[FL_ENTRIES], applied[FL_ENTRIES];
	int n_nodes, n_applied;
	struct zdd_fleet_delays delays;
};

static __u64 wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static struct fl_service *service(struct zdd_fleet *fl, const char *name, bool add)
{
	for (int i = 0; i < fl->n_svc; i++)
		if (!strcmp(fl->svc[i].name, name))
			return &fl->svc[i];
	if (!add || fl->n_svc == ZDD_FLEET_MAX_SERVICES || strlen(name) >= NAME_LEN)
		return NULL;
	memset(&fl->svc[fl->n_svc], 0, sizeof(fl->svc[0]));
	strcpy(fl->svc[fl->n_svc].name, name);
	fl->svc[fl->n_svc].fl = fl;
	return &fl->svc[fl->n_svc++];
}

static void answered(struct zdd_fleet *fl, int err)
{
	if (!err || err == -ENOENT || err == -EINVAL)
		fl->last_ok = fl->now;
}

static void record_kv(struct zdd_fleet *fl, const struct zdd_etcd_kv *kv)
{
	const char *name = kv->key + strlen("rollout/");
	struct zdd_fleet_record r;
	struct fl_service *s;
	char why[256];
	__u64 w;

	if (zdd_fleet_record_decode(&r, kv->value, kv->value_len, why, sizeof(why))) {
		zdd_log(ZDD_LOG_WARN, "cluster: record of %s refused: %s\n", name, why);
		return;
	}
	s = service(fl, name, true);
	if (!s)
		return;
	s->mod_revision = kv->mod_revision;
	if (s->has_record && r.generation <= s->rec.generation)
		return;
	s->rec = r;
	s->has_record = true;
	s->applied_dirty = true;
	if (fl->ops.apply)
		fl->ops.apply(fl->ops.ctx, name, &r);
	w = wall_ms();
	zdd_fleet_delay_add(&fl->delays, w > r.committed_ms ? w - r.committed_ms : 0);
}

static void on_records(void *ctx, const struct zdd_etcd_watch_batch *b)
{
	struct zdd_fleet *fl = ctx;

	fl->last_ok = fl->now;
	for (size_t i = 0; i < b->n; i++)
		if (b->ev[i].type == ZDD_ETCD_PUT)
			record_kv(fl, &b->ev[i].kv);
}

/* "<kind>/<service>/<node>": the node's entry in t (n of them), added when add. */
static struct fl_node *node_entry(struct fl_node *t, int *n, const char *key, bool add)
{
	/* A service's name has a slash ("198.19.0.10:80/tcp"), a node's none. */
	const char *svc = strchr(key, '/'), *slash = strrchr(key, '/');
	size_t sl;

	if (!svc || slash <= ++svc || (sl = (size_t)(slash - svc)) >= NAME_LEN ||
	    strlen(slash + 1) >= NAME_LEN)
		return NULL;
	for (int i = 0; i < *n; i++)
		if (!strncmp(t[i].service, svc, sl) && !t[i].service[sl] &&
		    !strcmp(t[i].node, slash + 1))
			return &t[i];
	if (!add || *n == FL_ENTRIES)
		return NULL;
	memset(&t[*n], 0, sizeof(t[0]));
	memcpy(t[*n].service, svc, sl);
	strcpy(t[*n].node, slash + 1);
	return &t[(*n)++];
}

/* A deleted key: its lease is gone, the node is not live. */
static void node_gone(struct fl_node *t, int *n, const char *key)
{
	struct fl_node *e = node_entry(t, n, key, false);

	if (e)
		*e = t[--*n];
}

static void on_outcomes(void *ctx, const struct zdd_etcd_watch_batch *b)
{
	struct zdd_fleet *fl = ctx;
	struct zdd_fleet_outcomes o;
	struct fl_node *n;
	char why[256];

	fl->last_ok = fl->now;
	for (size_t i = 0; i < b->n; i++) {
		const struct zdd_etcd_kv *kv = &b->ev[i].kv;

		if (b->ev[i].type == ZDD_ETCD_DELETE) {
			node_gone(fl->nodes, &fl->n_nodes, kv->key);
			continue;
		}
		if (zdd_fleet_outcomes_decode(&o, kv->value, kv->value_len, why, sizeof(why))) {
			zdd_log(ZDD_LOG_WARN, "cluster: outcomes %s refused: %s\n", kv->key, why);
			continue;
		}
		n = node_entry(fl->nodes, &fl->n_nodes, kv->key, true);
		if (n)
			n->o = o;
	}
}

static void on_applied(void *ctx, const struct zdd_etcd_watch_batch *b)
{
	struct zdd_fleet *fl = ctx;
	unsigned long long g;
	struct fl_node *n;

	fl->last_ok = fl->now;
	for (size_t i = 0; i < b->n; i++) {
		const struct zdd_etcd_kv *kv = &b->ev[i].kv;

		if (b->ev[i].type == ZDD_ETCD_DELETE) {
			node_gone(fl->applied, &fl->n_applied, kv->key);
			continue;
		}
		if (sscanf(kv->value, "{\"generation\":%llu}", &g) != 1)
			continue;
		n = node_entry(fl->applied, &fl->n_applied, kv->key, true);
		if (n)
			n->generation = g;
	}
}

/* A request's arrival only says that the leader should look: it reads them all (a watch that
 * broke and came back "from now" may have missed one, and a new leader finds those its
 * predecessor left). */
static void on_requests(void *ctx, const struct zdd_etcd_watch_batch *b)
{
	struct zdd_fleet *fl = ctx;

	fl->last_ok = fl->now;
	if (b->n)
		fl->requests_due = true;
}

static void on_pending(void *ctx, const struct zdd_etcd_result *r)
{
	struct zdd_fleet *fl = ctx;
	__s64 done = fl->requests_done;

	fl->scanning = false;
	answered(fl, r->err);
	if (r->err)
		return;
	for (size_t i = 0; i < r->n_kvs; i++) {
		const struct zdd_etcd_kv *kv = &r->kvs[i];

		/* Each once: until its delete is applied, a later read still returns it. */
		if (kv->mod_revision <= fl->requests_done || !zdd_fleet_is_leader(fl) ||
		    !fl->on_request ||
		    !fl->on_request(fl->request_ctx, kv->key, kv->value, kv->value_len))
			continue;
		if (kv->mod_revision > done)
			done = kv->mod_revision;
		zdd_etcd_delete(fl->e, kv->key, NULL, NULL);
	}
	fl->requests_done = done;
}

/* The leader reads the requests when one came, and every second besides. */
static void scan_requests(struct zdd_fleet *fl)
{
	if (!zdd_fleet_is_leader(fl) || fl->scanning || !fl->on_request ||
	    (!fl->requests_due && fl->now - fl->last_scan < 1000))
		return;
	if (zdd_etcd_range(fl->e, "requests/", on_pending, fl))
		return;
	fl->scanning = true;
	fl->requests_due = false;
	fl->last_scan = fl->now;
}

static void on_election(void *ctx, bool leader, const char *value)
{
	struct zdd_fleet *fl = ctx;

	if (leader == fl->leader)
		return;
	fl->leader = leader;
	zdd_log(ZDD_LOG_INFO, "cluster: %s leads the fleet%s\n", value ? value : "nobody",
		leader ? " (this node)" : "");
	if (fl->ops.leading)
		fl->ops.leading(fl->ops.ctx, leader);
}

int zdd_fleet_new(struct zdd_fleet **out, struct zdd_etcd *e, const char *node, __u32 ttl_s,
		  const struct zdd_fleet_ops *ops)
{
	struct zdd_fleet *fl;
	int err;

	if (!e || !node || !*node || strlen(node) >= NAME_LEN || strchr(node, '/') || !ttl_s)
		return -EINVAL;
	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return -ENOMEM;
	fl->e = e;
	strcpy(fl->node, node);
	fl->ttl_s = ttl_s;
	if (ops)
		fl->ops = *ops;
	/* From revision 1: every record as it is now, then each new one. Compacted history is
	 * read again by the watch's compact_revision handling in etcd.c. */
	err = zdd_etcd_watch(e, &fl->w_rec, "rollout/", true, 1, on_records, fl);
	if (!err)
		err = zdd_etcd_watch(e, &fl->w_out, "outcomes/", true, 1, on_outcomes, fl);
	if (!err)
		err = zdd_etcd_watch(e, &fl->w_app, "applied/", true, 1, on_applied, fl);
	/* From now on: a request left by a node before this one started is the leader's then. */
	if (!err)
		err = zdd_etcd_watch(e, &fl->w_req, "requests/", true, 0, on_requests, fl);
	if (!err)
		err = zdd_etcd_campaign(e, &fl->el, "driver", node, ttl_s, on_election, fl);
	if (err) {
		zdd_fleet_free(fl);
		return err;
	}
	*out = fl;
	return 0;
}

void zdd_fleet_free(struct zdd_fleet *fl)
{
	if (!fl)
		return;
	zdd_etcd_watch_cancel(fl->w_rec);
	zdd_etcd_watch_cancel(fl->w_out);
	zdd_etcd_watch_cancel(fl->w_app);
	zdd_etcd_watch_cancel(fl->w_req);
	if (fl->el)
		zdd_etcd_resign(fl->el);
	free(fl);
}

static void on_put(void *ctx, const struct zdd_etcd_result *r)
{
	answered(ctx, r->err);
}

void zdd_fleet_tick(struct zdd_fleet *fl, __u64 now, __u64 wall)
{
	__s64 lease = fl->el ? zdd_etcd_election_lease(fl->el) : 0;
	char key[160], buf[1024];
	int n;

	(void)wall;
	fl->now = now;
	if (!fl->last_ok)
		fl->last_ok = now;
	scan_requests(fl);
	if (!lease || now - fl->last_publish < ZDD_FLEET_PUBLISH_MS)
		return;
	fl->last_publish = now;
	for (int i = 0; i < fl->n_svc; i++) {
		struct fl_service *s = &fl->svc[i];

		n = zdd_fleet_outcomes_encode(&s->mine, buf, sizeof(buf));
		snprintf(key, sizeof(key), "outcomes/%s/%s", s->name, fl->node);
		if (n > 0)
			zdd_etcd_put(fl->e, key, buf, (size_t)n, lease, on_put, fl);
		if (!s->has_record)
			continue;
		n = snprintf(buf, sizeof(buf), "{\"generation\":%llu}",
			     (unsigned long long)s->rec.generation);
		snprintf(key, sizeof(key), "applied/%s/%s", s->name, fl->node);
		zdd_etcd_put(fl->e, key, buf, (size_t)n, lease, on_put, fl);
		s->applied_dirty = false;
	}
}

bool zdd_fleet_is_leader(const struct zdd_fleet *fl)
{
	return fl->leader && zdd_fleet_connected(fl);
}

bool zdd_fleet_connected(const struct zdd_fleet *fl)
{
	/* A lease is kept only while etcd answers its keepalives within the TTL: with nothing
	 * else to say, that is what hears from etcd. */
	return (fl->el && zdd_etcd_election_lease(fl->el)) ||
	       fl->now - fl->last_ok < (__u64)fl->ttl_s * 1000;
}

const struct zdd_fleet_record *zdd_fleet_record(const struct zdd_fleet *fl, const char *service)
{
	for (int i = 0; i < fl->n_svc; i++)
		if (!strcmp(fl->svc[i].name, service))
			return fl->svc[i].has_record ? &fl->svc[i].rec : NULL;
	return NULL;
}

static void on_write(void *ctx, const struct zdd_etcd_result *r)
{
	struct fl_service *s = ctx;

	answered(s->fl, r->err);
	s->writing = false;
	/* lost the race (another leader wrote): compare with what is there next time */
	if (!r->err && !r->succeeded && r->n_kvs)
		s->mod_revision = r->kvs[0].mod_revision;
	if (r->err || !r->succeeded)
		zdd_log(ZDD_LOG_WARN, "cluster: record of %s not written: %s\n", s->name,
			r->err ? r->error : "it changed meanwhile");
}

int zdd_fleet_write(struct zdd_fleet *fl, const char *service_name, struct zdd_fleet_record r,
		    __u64 wall)
{
	struct fl_service *s;
	char key[160], buf[1024];
	int n, err;

	if (!zdd_fleet_is_leader(fl))
		return -EPERM;
	s = service(fl, service_name, true);
	if (!s)
		return -ENOSPC;
	if (s->writing)
		return -EBUSY;
	r.generation = s->has_record ? s->rec.generation + 1 : 1;
	r.committed_ms = wall;
	n = zdd_fleet_record_encode(&r, buf, sizeof(buf));
	if (n < 0)
		return n;
	snprintf(key, sizeof(key), "rollout/%s", s->name);
	err = zdd_etcd_txn_put_if(fl->e, key, buf, (size_t)n,
				  s->has_record ? s->mod_revision : ZDD_ETCD_ABSENT, 0, on_write,
				  s);
	if (err)
		return err;
	s->writing = true;
	return 0;
}

void zdd_fleet_set_outcomes(struct zdd_fleet *fl, const char *service_name,
			    const struct zdd_fleet_outcomes *o)
{
	struct fl_service *s = service(fl, service_name, true);

	if (s)
		s->mine = *o;
}

int zdd_fleet_sum(const struct zdd_fleet *fl, const char *service_name, __u64 tag,
		  struct zdd_fleet_outcomes *sum)
{
	const struct zdd_fleet_outcomes *o;
	int n = 0;

	memset(sum, 0, sizeof(*sum));
	sum->tag = tag;
	for (int i = -1; i < fl->n_nodes; i++) {
		if (i < 0) { /* this node's own, as it is now */
			const struct fl_service *s = NULL;

			for (int j = 0; j < fl->n_svc && !s; j++)
				if (!strcmp(fl->svc[j].name, service_name))
					s = &fl->svc[j];
			if (!s)
				continue;
			o = &s->mine;
		} else {
			if (strcmp(fl->nodes[i].service, service_name) ||
			    !strcmp(fl->nodes[i].node, fl->node))
				continue;
			o = &fl->nodes[i].o;
		}
		if (o->tag != tag)
			continue;
		for (int p = 0; p < ZDD_POOLS; p++) {
			zdd_outcomes_add(&sum->step[p], &o->step[p]);
			zdd_outcomes_add(&sum->all[p], &o->all[p]);
		}
		n++;
	}
	return n;
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct zdd_fleet_node *)a)->node,
		      ((const struct zdd_fleet_node *)b)->node);
}

int zdd_fleet_nodes(const struct zdd_fleet *fl, const char *service, struct zdd_fleet_node *n,
		    int max)
{
	int k = 0;

	for (int i = 0; i < fl->n_applied && k < max; i++) {
		if (strcmp(fl->applied[i].service, service))
			continue;
		snprintf(n[k].node, sizeof(n[k].node), "%s", fl->applied[i].node);
		n[k++].generation = fl->applied[i].generation;
	}
	qsort(n, (size_t)k, sizeof(*n), cmp_node);
	return k;
}

const char *zdd_fleet_leader(const struct zdd_fleet *fl)
{
	return fl->el ? zdd_etcd_leader(fl->el) : NULL;
}

struct fl_put {
	void (*cb)(void *ctx, int err);
	void *ctx;
};

static void on_req_put(void *ctx, const struct zdd_etcd_result *r)
{
	struct fl_put *p = ctx;

	p->cb(p->ctx, r->err);
	free(p);
}

int zdd_fleet_put(struct zdd_fleet *fl, const char *key, const char *value,
		  void (*cb)(void *ctx, int err), void *ctx)
{
	__s64 lease = fl->el ? zdd_etcd_election_lease(fl->el) : 0;
	struct fl_put *p;
	int err;

	if (!lease || !zdd_fleet_connected(fl))
		return -ENOTCONN;
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct fl_put){ cb, ctx };
	err = zdd_etcd_put(fl->e, key, value, strlen(value), lease, on_req_put, p);
	if (err)
		free(p);
	return err;
}

void zdd_fleet_on_request(struct zdd_fleet *fl,
			  bool (*fn)(void *ctx, const char *key, const char *value, size_t len),
			  void *ctx)
{
	fl->on_request = fn;
	fl->request_ctx = ctx;
}

const struct zdd_fleet_delays *zdd_fleet_delays(const struct zdd_fleet *fl)
{
	return &fl->delays;
}
