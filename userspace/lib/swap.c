// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/swap.c - the atomic table change. The order is the contract with the data
 * path: (1) if the inactive slot still serves as the previous generation, withdraw it;
 * (2) build both pools' tables into the inactive slot; (3) one zdd_services update flips the
 * active slot, bumps the generation and keeps the old weight and slot as the fallback.
 * No packet ever reads a half-written table. Katran rewrites its rings in place; we do not. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "addr.h"
#include "handle.h"
#include "log.h"
#include "maglev.h"

static __u64 monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of bpf_ktime_get_ns() */
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* One pool's table, built whole, then written into its row as 16-bit ids (the limits keep
 * every id below ZDD_MAGLEV_EMPTY). */
static int build_row(struct zdd *z, __u16 *row, const struct zdd_maglev_backend *b, size_t n)
{
	__u32 m = z->limits.maglev_m, i, *table = malloc(m * sizeof(*table));
	int err;

	if (!table)
		return -ENOMEM;
	err = zdd_maglev_build(table, m, b, n);
	for (i = 0; i < m && !err; i++)
		row[i] = table[i] == ZDD_NO_BACKEND ? ZDD_MAGLEV_EMPTY : (__u16)table[i];
	free(table);
	return err;
}

/* Backends that take new flows: up, with a weight. drain and down keep only their flows. */
static int build_slot(struct zdd *z, const struct zdd_service_val *val, int slot)
{
	struct zdd_maglev_backend *in[ZDD_POOLS] = {};
	size_t n, i, count[ZDD_POOLS] = {};
	struct zdd_backend *list;
	struct zdd_maglev_backend *mb;
	int pool, err;

	err = zdd_backend_list(z, val->index, &list, &n);
	if (err)
		return err;
	for (pool = 0; pool < ZDD_POOLS && !err; pool++) {
		in[pool] = calloc(n ?: 1, sizeof(*in[pool]));
		if (!in[pool])
			err = -ENOMEM;
	}
	for (i = 0; i < n && !err; i++) {
		if (list[i].val.state != ZDD_BE_UP || !list[i].val.weight ||
		    list[i].val.pool >= ZDD_POOLS)
			continue;
		pool = list[i].val.pool;
		mb = &in[pool][count[pool]++];
		mb->id = list[i].id;
		mb->weight = list[i].val.weight;
		memcpy(mb->addr, list[i].val.addr, 16);
	}
	for (pool = 0; pool < ZDD_POOLS && !err; pool++)
		err = build_row(z, zdd_maglev_row(z, val->index, pool, slot), in[pool],
				count[pool]);
	for (pool = 0; pool < ZDD_POOLS; pool++)
		free(in[pool]);
	free(list);
	return err;
}

int zdd_service_commit(struct zdd *z, const struct zdd_service_key *key, int green_bp)
{
	struct zdd_service_val cur, next;
	char name[ZDD_SVC_STRLEN];
	int err, pool;

	zdd_service_format(key, name, sizeof(name));
	if (green_bp > ZDD_MAX_WEIGHT_BP)
		return log_err(-EINVAL, "service %s: green weight %d bp out of 0..%d", name,
			       green_bp, ZDD_MAX_WEIGHT_BP);
	if (zdd_service_get(z, key, &cur))
		return log_err(-ENOENT, "service %s", name);
	if (cur.prev_valid) {
		cur.prev_valid = 0;
		err = zdd_service_put(z, key, &cur, BPF_EXIST);
		if (err)
			return log_err(err, "service %s: withdraw the previous generation", name);
	}
	err = build_slot(z, &cur, !cur.active_slot);
	if (err)
		return log_err(err, "service %s: build tables", name);
	next = cur;
	next.prev_same_rows = 0;
	for (pool = 0; pool < ZDD_POOLS; pool++)
		if (!memcmp(zdd_maglev_row(z, cur.index, pool, !cur.active_slot),
			    zdd_maglev_row(z, cur.index, pool, cur.active_slot),
			    z->limits.maglev_m * sizeof(__u16)))
			next.prev_same_rows |= 1u << pool;
	next.prev_green_weight = cur.green_weight;
	next.green_weight = green_bp < 0 ? cur.green_weight : green_bp;
	next.active_slot = !cur.active_slot;
	next.prev_valid = 1;
	next.generation = cur.generation + 1;
	next.changed_ns = monotonic_ns();
	err = zdd_service_put(z, key, &next, BPF_EXIST);
	if (err)
		return log_err(err, "service %s: swap tables", name);
	pr_debug("service %s: generation %u, green %u bp\n", name, next.generation,
		 next.green_weight);
	return 0;
}
