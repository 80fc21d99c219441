// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/conntrack.c - walks of both conntrack tables. Deletions are collected and done
 * after a table's walk: deleting the current key would restart get_next_key from the top. */
#include <errno.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include "handle.h"

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

static int walk_table(struct zdd *z, enum zdd_ct_table t, zdd_ct_cb cb, void *ctx)
{
	int fd = z->fd[t == ZDD_CT_EMBRYO ? ZDD_MAP_EMBRYO : ZDD_MAP_FLOWS];
	union {
		struct zdd_embryo_val e;
		struct zdd_flow_val f;
	} val;
	struct zdd_flow_key key, next, *prev = NULL;
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
		to_entry(t, &val, &e);
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

int zdd_conntrack_walk(struct zdd *z, zdd_ct_cb cb, void *ctx)
{
	return walk_table(z, ZDD_CT_EMBRYO, cb, ctx) ?: walk_table(z, ZDD_CT_FLOWS, cb, ctx);
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

int zdd_conntrack_count(struct zdd *z, __u64 *embryos, __u64 *flows)
{
	return count_table(z->fd[ZDD_MAP_EMBRYO], sizeof(struct zdd_embryo_val), embryos)
		       ?: count_table(z->fd[ZDD_MAP_FLOWS], sizeof(struct zdd_flow_val), flows);
}
