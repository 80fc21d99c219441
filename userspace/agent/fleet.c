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
	struct zdd_outcomes mine[ZDD_POOLS];
};

struct fl_node {
	char service[NAME_LEN], node[NAME_LEN];
	struct zdd_outcomes o[ZDD_POOLS];
};

struct zdd_fleet {
	struct zdd_etcd *e;
	char node[NAME_LEN];
	__u32 ttl_s;
	struct zdd_fleet_ops ops;
	struct zdd_etcd_election *el;
	struct zdd_etcd_watch *w_rec, *w_out;
	bool leader;
	__u64 last_ok, last_publish, now;
	struct fl_service svc[ZDD_FLEET_MAX_SERVICES];
	int n_svc;
	struct fl_node nodes[ZDD_FLEET_MAX_NODES * 4];
	int n_nodes;
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
		zdd_log(ZDD_LOG_WARN, "cluster: record of %s refused: %s", name, why);
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

/* "outcomes/<service>/<node>": the node's entry, added when add. */
static struct fl_node *node_entry(struct zdd_fleet *fl, const char *key, bool add)
{
	const char *svc = key + strlen("outcomes/"), *slash = strchr(svc, '/');
	size_t sl;

	if (!slash || (sl = (size_t)(slash - svc)) >= NAME_LEN || strlen(slash + 1) >= NAME_LEN)
		return NULL;
	for (int i = 0; i < fl->n_nodes; i++)
		if (!strncmp(fl->nodes[i].service, svc, sl) && !fl->nodes[i].service[sl] &&
		    !strcmp(fl->nodes[i].node, slash + 1))
			return &fl->nodes[i];
	if (!add || fl->n_nodes == (int)(sizeof(fl->nodes) / sizeof(fl->nodes[0])))
		return NULL;
	memset(&fl->nodes[fl->n_nodes], 0, sizeof(fl->nodes[0]));
	memcpy(fl->nodes[fl->n_nodes].service, svc, sl);
	strcpy(fl->nodes[fl->n_nodes].node, slash + 1);
	return &fl->nodes[fl->n_nodes++];
}

static void on_outcomes(void *ctx, const struct zdd_etcd_watch_batch *b)
{
	struct zdd_fleet *fl = ctx;
	struct zdd_outcomes o[ZDD_POOLS];
	struct fl_node *n;
	char why[256];

	fl->last_ok = fl->now;
	for (size_t i = 0; i < b->n; i++) {
		const struct zdd_etcd_kv *kv = &b->ev[i].kv;

		if (b->ev[i].type ==
		    ZDD_ETCD_DELETE) { /* its lease is gone: the node is not live */
			n = node_entry(fl, kv->key, false);
			if (n)
				*n = fl->nodes[--fl->n_nodes];
			continue;
		}
		if (zdd_fleet_outcomes_decode(o, kv->value, kv->value_len, why, sizeof(why))) {
			zdd_log(ZDD_LOG_WARN, "cluster: outcomes %s refused: %s", kv->key, why);
			continue;
		}
		n = node_entry(fl, kv->key, true);
		if (n)
			memcpy(n->o, o, sizeof(o));
	}
}

static void on_election(void *ctx, bool leader, const char *value)
{
	struct zdd_fleet *fl = ctx;

	if (leader == fl->leader)
		return;
	fl->leader = leader;
	zdd_log(ZDD_LOG_INFO, "cluster: %s leads the fleet%s", value ? value : "nobody",
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
	char key[160], buf[512];
	int n;

	(void)wall;
	fl->now = now;
	if (!fl->last_ok)
		fl->last_ok = now;
	if (!lease || now - fl->last_publish < ZDD_FLEET_PUBLISH_MS)
		return;
	fl->last_publish = now;
	for (int i = 0; i < fl->n_svc; i++) {
		struct fl_service *s = &fl->svc[i];

		n = zdd_fleet_outcomes_encode(s->mine, buf, sizeof(buf));
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
	return fl->now - fl->last_ok < (__u64)fl->ttl_s * 1000;
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
		zdd_log(ZDD_LOG_WARN, "cluster: record of %s not written: %s", s->name,
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
			    const struct zdd_outcomes o[ZDD_POOLS])
{
	struct fl_service *s = service(fl, service_name, true);

	if (s)
		memcpy(s->mine, o, sizeof(s->mine));
}

int zdd_fleet_sum(const struct zdd_fleet *fl, const char *service_name,
		  struct zdd_outcomes o[ZDD_POOLS])
{
	int n = 0;

	memset(o, 0, sizeof(o[0]) * ZDD_POOLS);
	for (int i = 0; i < fl->n_nodes; i++) {
		if (strcmp(fl->nodes[i].service, service_name))
			continue;
		for (int p = 0; p < ZDD_POOLS; p++)
			zdd_outcomes_add(&o[p], &fl->nodes[i].o[p]);
		n++;
	}
	return n;
}

const struct zdd_fleet_delays *zdd_fleet_delays(const struct zdd_fleet *fl)
{
	return &fl->delays;
}
