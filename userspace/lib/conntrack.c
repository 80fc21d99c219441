// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/conntrack.c - walks of both conntrack tables. Deletions of flows are collected
 * and done after the walk: deleting the current key would restart get_next_key from the top. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "handle.h"
#include "log.h"

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

static int walk_flows(struct zdd *z, zdd_ct_cb cb, void *ctx)
{
	int fd = z->fd[ZDD_MAP_FLOWS];
	struct zdd_flow_key key, next, *prev = NULL;
	struct zdd_flow_val val;
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
		to_entry(ZDD_CT_FLOWS, &val, &e);
		ret = cb(&e, ctx);
		if (ret < 0)
			break;
		if (ret > 0 && (ret = keys_push(&del, &key)) < 0)
			break;
		ret = 0;
	}
	for (i = 0; i < del.n; i++)
		bpf_map_delete_elem(fd, &del.v[i]);
	free(del.v);
	return ret;
}

/* Every set of zdd_embryo_sets, each read under its lock; *out is freed by the caller. */
static int embryo_sets_read(struct zdd *z, struct zdd_embryo_set **out, __u32 *count)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_F_LOCK);
	__u32 sets = z->limits.embryos / ZDD_EMBRYO_WAYS, in = 0, out_key, n;
	struct zdd_embryo_set *v = calloc(sets ?: 1, sizeof(*v));
	__u32 *keys = calloc(sets ?: 1, sizeof(*keys));
	void *batch = NULL;
	int err = 0;

	*count = 0;
	*out = NULL;
	if (!v || !keys)
		err = -ENOMEM;
	while (!err && *count < sets) {
		n = sets - *count;
		err = bpf_map_lookup_batch(z->fd[ZDD_MAP_EMBRYO], batch, &out_key, keys, v + *count,
					   &n, &opts);
		err = err ? -errno : 0;
		*count += n;
		if (err == -ENOENT) { /* the last batch */
			err = 0;
			break;
		}
		in = out_key;
		batch = &in;
	}
	free(keys);
	if (err) {
		free(v);
		return log_err(err, "read zdd_embryo_sets");
	}
	*out = v;
	return 0;
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

static int walk_embryos(struct zdd *z, zdd_ct_cb cb, void *ctx)
{
	struct zdd_embryo_set *sets = NULL;
	struct zdd_ct_entry e;
	__u32 n, i;
	int w, ret = 0;

	ret = embryo_sets_read(z, &sets, &n);
	for (i = 0; !ret && i < n; i++)
		for (w = 0; !ret && w < ZDD_EMBRYO_WAYS; w++) {
			const struct zdd_embryo *em = &sets[i].way[w];

			if (!em->val.syns)
				continue;
			e.key = em->key;
			to_entry(ZDD_CT_EMBRYO, &em->val, &e);
			ret = cb(&e, ctx);
			if (ret > 0) {
				embryo_forget(z->fd[ZDD_MAP_EMBRYO], i, &em->key);
				ret = 0;
			}
		}
	free(sets);
	return ret;
}

int zdd_conntrack_walk(struct zdd *z, zdd_ct_cb cb, void *ctx)
{
	return walk_embryos(z, cb, ctx) ?: walk_flows(z, cb, ctx);
}

#define BATCH 4096

/*
 * Counts a table in batches of 4096 (BPF_MAP_LOOKUP_BATCH): /metrics counts both tables on
 * every scrape, and one get_next_key per entry would take a second at a million flows.
 */
static int count_table(int fd, size_t value_size, __u64 *count)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	void *keys = calloc(BATCH, sizeof(struct zdd_flow_key));
	void *vals = calloc(BATCH, value_size);
	struct zdd_flow_key in, out;
	void *batch = NULL;
	__u32 n;
	int err = 0;

	*count = 0;
	if (!keys || !vals)
		err = -ENOMEM;
	while (!err) {
		n = BATCH;
		err = bpf_map_lookup_batch(fd, batch, &out, keys, vals, &n, &opts);
		if (err)
			err = -errno;
		*count += n;
		if (err == -ENOENT) { /* the last batch */
			err = 0;
			break;
		}
		in = out;
		batch = &in;
	}
	free(keys);
	free(vals);
	return err;
}

static int count_embryos(struct zdd *z, __u64 *count)
{
	struct zdd_embryo_set *sets = NULL;
	__u32 n, i;
	int w, err = embryo_sets_read(z, &sets, &n);

	*count = 0;
	if (err)
		return err;
	for (i = 0; i < n; i++)
		for (w = 0; w < ZDD_EMBRYO_WAYS; w++)
			*count += !!sets[i].way[w].val.syns;
	free(sets);
	return 0;
}

int zdd_conntrack_count(struct zdd *z, __u64 *embryos, __u64 *flows)
{
	return count_embryos(z, embryos)
		       ?: count_table(z->fd[ZDD_MAP_FLOWS], sizeof(struct zdd_flow_val), flows);
}
