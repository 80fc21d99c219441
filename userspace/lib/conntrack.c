// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/conntrack.c - walks of the conntrack tables. Deletions of flows are collected
 * and done after the walk: deleting the current key would restart get_next_key from the top. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "handle.h"
#include "log.h"
#include "zdd_hash.h"

struct keys {
	struct zdd_flow_key *v;
	size_t n, cap;
};

static int keys_push(struct keys *k, const struct zdd_flow_key *key)
{
	struct zdd_flow_key *v;

	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		v = realloc(k->v, k->cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		k->v = v;
	}
	k->v[k->n++] = *key;
	return 0;
}

static void to_entry(enum zdd_ct_table t, const void *val, struct zdd_ct_entry *e)
{
	const struct zdd_embryo_val *em = val;
	const struct zdd_flow_val *f = val;

	e->table = t;
	if (t == ZDD_CT_EMBRYO) {
		e->backend = em->backend;
		e->generation = em->generation;
		e->ns = em->first_seen_ns;
		e->syns = em->syns;
		e->pool = em->pool;
	} else {
		e->backend = f->backend;
		e->generation = f->generation;
		e->ns = f->last_seen_ns;
		e->syns = 0;
		e->pool = f->pool;
	}
}

const char *zdd_ct_table_name(enum zdd_ct_table t)
{
	return t == ZDD_CT_EMBRYO ? "embryonic" : t == ZDD_CT_FLOWS ? "established" : "adopted";
}

/* zdd_adopted: an LRU hash, walked key by key. */
static int walk_adopted(struct zdd *z, zdd_ct_cb cb, void *ctx)
{
	int fd = z->fd[ZDD_MAP_ADOPTED];
	struct zdd_flow_key key, next, *prev = NULL;
	struct zdd_adopted_val val;
	struct zdd_ct_entry e;
	struct keys del = {};
	int ret = 0;
	size_t i;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue; /* evicted meanwhile */
		e.key = key;
		to_entry(ZDD_CT_ADOPTED, &val.f, &e);
		ret = cb(&e, ctx);
		if (ret < 0)
			break;
		if (ret > 0 && (ret = keys_push(&del, &key)) < 0)
			break;
		ret = 0;
	}
	for (i = 0; i < del.n; i++)
		bpf_map_delete_elem(fd, &del.v[i]);
	if (del.n && !ret)
		ret = zdd_caches_stale(z);
	free(del.v);
	return ret;
}

/* Frees a way, if it still holds key: one byte, the protocol, as the kernel marks a free way. */
static void way_forget(struct zdd_flow *w, const struct zdd_flow_key *key)
{
	if (!memcmp(&w->key, key, sizeof(*key)))
		*(volatile __u8 *)&w->key.svc.proto = 0;
}

/* zdd_flow_sets: through the mapping, a way at a time. */
static int walk_flow_sets(struct zdd *z, zdd_ct_cb cb, void *ctx)
{
	__u32 n = zdd_flow_sets_n(z), i;
	struct zdd_ct_entry e;
	struct zdd_flow w;
	int ret, way, del = 0;

	for (i = 0; i < n; i++)
		for (way = 0; way < ZDD_FLOW_WAYS; way++) {
			w = z->flow_sets[i].way[way]; /* a copy: the kernel writes without a lock */
			if (!w.key.svc.proto)
				continue;
			e.key = w.key;
			to_entry(ZDD_CT_FLOWS, &w.val, &e);
			ret = cb(&e, ctx);
			if (ret < 0)
				return ret;
			if (ret > 0) {
				way_forget(&z->flow_sets[i].way[way], &w.key);
				del = 1;
			}
		}
	return del ? zdd_caches_stale(z) : 0;
}

struct zdd_flow_set *zdd_flow_sets_mapped(struct zdd *z, __u32 *n)
{
	*n = zdd_flow_sets_n(z);
	return z->flow_sets;
}

/* The way of set s holding key, or NULL. */
static struct zdd_flow *find_in(struct zdd_flow_set *s, const struct zdd_flow_key *key)
{
	int way;

	for (way = 0; way < ZDD_FLOW_WAYS; way++)
		if (!memcmp(&s->way[way].key, key, sizeof(*key)))
			return &s->way[way];
	return NULL;
}

/* As the kernel's zdd_flow_put (bpf/lib/conntrack.h), the same ways. */
int zdd_flow_put(struct zdd *z, const struct zdd_flow_key *key, const struct zdd_flow_val *val)
{
	struct zdd_flow_key aligned __attribute__((aligned(8))) = *key;
	struct zdd_flow_set *s0, *s1;
	struct zdd_flow_place p;
	struct zdd_flow *w;
	__u32 pick;

	if (!key->svc.proto)
		return -EINVAL;
	zdd_flow_place(zdd_flow_key_hash(&aligned), zdd_flow_sets_n(z), &p);
	s0 = &z->flow_sets[p.set[0]];
	s1 = &z->flow_sets[p.set[1]];
	w = find_in(s0, key) ?: find_in(s1, key);
	if (!w) {
		pick = zdd_flow_victim(s0, s1, &p);
		w = &(pick < ZDD_FLOW_WAYS ? s0 : s1)->way[pick % ZDD_FLOW_WAYS];
	}
	*(volatile __u8 *)&w->key.svc.proto = 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	w->val = *val;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	w->key = *key;
	return 0;
}

#define BATCH 4096

/* Called with each batch of values; a negative return stops the walk and is returned. */
typedef int (*batch_fn)(const void *vals, __u32 n, void *ctx);

/*
 * Reads a whole map in batches of 4096 (BPF_MAP_LOOKUP_BATCH): /metrics counts both tables on
 * every scrape, and one syscall per entry would take a second at a million flows.
 */
static int for_each_batch(int fd, __u64 elem_flags, size_t key_size, size_t value_size, batch_fn fn,
			  void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = elem_flags);
	void *keys = calloc(BATCH, key_size);
	void *vals = calloc(BATCH, value_size);
	struct zdd_flow_key in, out; /* batch tokens: room for any key of ours */
	void *batch = NULL;
	int err = 0, last = 0;
	__u32 n;

	if (!keys || !vals)
		err = -ENOMEM;
	while (!err && !last) {
		n = BATCH;
		err = bpf_map_lookup_batch(fd, batch, &out, keys, vals, &n, &opts);
		err = err ? -errno : 0;
		if (err == -ENOENT) { /* the last batch */
			err = 0;
			last = 1;
		}
		if (!err && n)
			err = fn(vals, n, ctx);
		in = out;
		batch = &in;
	}
	free(keys);
	free(vals);
	return err;
}

/* Frees the way holding key in set idx. A SYN that lands in the same set between the read
 * and the write is forgotten too: its ACK then takes the miss path to the same backend. */
static void embryo_forget(int fd, __u32 idx, const struct zdd_flow_key *key)
{
	struct zdd_embryo_set s;
	int w;

	if (bpf_map_lookup_elem_flags(fd, &idx, &s, BPF_F_LOCK))
		return;
	for (w = 0; w < ZDD_EMBRYO_WAYS; w++)
		if (s.way[w].val.syns && !memcmp(&s.way[w].key, key, sizeof(*key)))
			s.way[w].val.syns = 0;
	bpf_map_update_elem(fd, &idx, &s, BPF_F_LOCK);
}

struct embryo_walk {
	int fd;
	__u32 set; /* index of the batch's first set */
	zdd_ct_cb cb;
	void *ctx;
};

static int walk_embryo_sets(const void *vals, __u32 n, void *ctx)
{
	const struct zdd_embryo_set *sets = vals;
	struct embryo_walk *ew = ctx;
	struct zdd_ct_entry e;
	__u32 i;
	int w, ret;

	for (i = 0; i < n; i++)
		for (w = 0; w < ZDD_EMBRYO_WAYS; w++) {
			const struct zdd_embryo *em = &sets[i].way[w];

			if (!em->val.syns)
				continue;
			e.key = em->key;
			to_entry(ZDD_CT_EMBRYO, &em->val, &e);
			ret = ew->cb(&e, ew->ctx);
			if (ret < 0)
				return ret;
			if (ret > 0)
				embryo_forget(ew->fd, ew->set + i, &em->key);
		}
	ew->set += n;
	return 0;
}

static int walk_embryos(struct zdd *z, zdd_ct_cb cb, void *ctx)
{
	struct embryo_walk ew = { .fd = z->fd[ZDD_MAP_EMBRYO], .cb = cb, .ctx = ctx };

	return for_each_batch(ew.fd, BPF_F_LOCK, sizeof(__u32), sizeof(struct zdd_embryo_set),
			      walk_embryo_sets, &ew);
}

/* zdd_adopted before zdd_flow_sets: the kernel promotes a flow by inserting it into
 * zdd_flow_sets before it deletes it from zdd_adopted, so a flow promoted meanwhile is seen, at
 * worst twice, never missed (a node's moved-in flows are promoted a second after they
 * arrive). */
int zdd_conntrack_walk(struct zdd *z, zdd_ct_cb cb, void *ctx)
{
	return walk_embryos(z, cb, ctx) ?: walk_adopted(z, cb, ctx) ?: walk_flow_sets(z, cb, ctx);
}

static int count_entries(const void *vals, __u32 n, void *ctx)
{
	(void)vals;
	*(__u64 *)ctx += n;
	return 0;
}

static int count_embryo_ways(const void *vals, __u32 n, void *ctx)
{
	const struct zdd_embryo_set *sets = vals;
	__u32 i;
	int w;

	for (i = 0; i < n; i++)
		for (w = 0; w < ZDD_EMBRYO_WAYS; w++)
			*(__u64 *)ctx += !!sets[i].way[w].val.syns;
	return 0;
}

int zdd_conntrack_count_recent(struct zdd *z, __u32 max_age_ms, __u64 *embryos, __u64 *flows,
			       __u64 *adopted)
{
	struct timespec ts;
	__u64 now_ms;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ms = (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (!z->ct_counted_ms || now_ms - z->ct_counted_ms >= max_age_ms) {
		err = zdd_conntrack_count(z, &z->ct_embryos, &z->ct_flows, &z->ct_adopted);
		if (err)
			return err;
		z->ct_counted_ms = now_ms;
	}
	*embryos = z->ct_embryos;
	*flows = z->ct_flows;
	if (adopted)
		*adopted = z->ct_adopted;
	return 0;
}

static int count_adopted(struct zdd *z, __u64 *n)
{
	*n = 0;
	return for_each_batch(z->fd[ZDD_MAP_ADOPTED], 0, sizeof(struct zdd_flow_key),
			      sizeof(struct zdd_adopted_val), count_entries, n);
}

static int count_flow_sets(struct zdd *z, __u64 *n)
{
	__u32 sets = zdd_flow_sets_n(z), i;
	int way;

	*n = 0;
	for (i = 0; i < sets; i++)
		for (way = 0; way < ZDD_FLOW_WAYS; way++)
			*n += !!*(volatile __u8 *)&z->flow_sets[i].way[way].key.svc.proto;
	return 0;
}

int zdd_conntrack_count(struct zdd *z, __u64 *embryos, __u64 *flows, __u64 *adopted)
{
	int err;

	*embryos = 0;
	err = for_each_batch(z->fd[ZDD_MAP_EMBRYO], BPF_F_LOCK, sizeof(__u32),
			     sizeof(struct zdd_embryo_set), count_embryo_ways, embryos)
		      ?: (adopted ? count_adopted(z, adopted) : 0)
		      ?: count_flow_sets(z, flows); /* in zdd_conntrack_walk's order */
	return err ? log_err(err, "count the conntrack tables") : 0;
}
