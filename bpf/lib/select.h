/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/select.h - a new flow's pool (the monotone blue/green split) and its backend (the
 * pool's Maglev table in the given slot). Runs only for flows without a conntrack entry. */
#ifndef ZDD_SELECT_H
#define ZDD_SELECT_H

#include "hash.h"
#include "parse.h"
#include "zdd_maps.h"

/* Where a flow goes. */
struct zdd_choice {
	__u32 backend;
	struct zdd_backend_val *be;
	__u32 split; /* the client's split in [0, 10000), or ZDD_SPLIT_UNSET: weights needed none */
	__u8 weighted; /* the pool the weights chose, before an empty pool's fallback */
	__u8 pool;
};

#define ZDD_SPLIT_UNSET 0xffffffffu

/* Which table generation a new flow is routed by. */
struct zdd_gen {
	__u16 green_weight;
	__u8 slot;
};

static __always_inline __be32 zdd_prefix_mask(int bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 32)
		return 0xffffffff;
	return bpf_htonl(0xffffffffu << (32 - bits));
}

/*
 * hash(service key, client address masked to the prefix) scaled to [0, 10000) < weight (a
 * multiply: % is a division, which the JIT cannot make cheaper). The hash does not
 * depend on the weight, so raising the weight only moves clients from blue to green: a
 * shopper stays on one version for the whole canary. Its seed is not the flow hash's: a
 * client's pool says nothing of its backend.
 */
static __always_inline __u32 zdd_split_hash(const struct zdd_pkt *pkt,
					    const struct zdd_service_val *svc)
{
	/* The flow key's words: the service key (0-4), the client (5-8), its port (9). */
	__u32 w[10] __attribute__((aligned(8)));
	int plen, i;

	_Static_assert(sizeof(pkt->flow) == sizeof(w) &&
			       __builtin_offsetof(struct zdd_flow_key, saddr) == 5 * 4 &&
			       __builtin_offsetof(struct zdd_flow_key, sport) == 9 * 4,
		       "zdd_split_hash reads the flow key as these words");
	if (svc->affinity == ZDD_AFF_FLOW)
		return zdd_hash_u64s((const __u64 *)&pkt->flow, sizeof(w) / 8, ZDD_SPLIT_SEED);
	__builtin_memcpy(w, &pkt->flow, sizeof(w));
	plen = pkt->eth_proto == bpf_htons(ETH_P_IP) ? 96 + svc->client_prefix4
						     : svc->client_prefix6;
#pragma unroll
	for (i = 0; i < 4; i++)
		w[5 + i] &= zdd_prefix_mask(plen - 32 * i);
	w[9] = 0;
	return zdd_hash_u64s((const __u64 *)w, sizeof(w) / 8, ZDD_SPLIT_SEED);
}

/* The pool the weights give the flow; *split is computed once (ZDD_SPLIT_UNSET: not yet). */
static __always_inline __u8 zdd_weighted_pool(const struct zdd_pkt *pkt,
					      const struct zdd_service_val *svc, __u16 green_weight,
					      __u32 *split)
{
	if (green_weight >= ZDD_MAX_WEIGHT_BP)
		return ZDD_GREEN;
	if (!green_weight)
		return ZDD_BLUE;
	if (*split == ZDD_SPLIT_UNSET)
		*split = zdd_scale(zdd_split_hash(pkt, svc), ZDD_MAX_WEIGHT_BP);
	return *split < green_weight ? ZDD_GREEN : ZDD_BLUE;
}

/*
 * The flow's hash: its Maglev entry, its embryonic set, its place in zdd_flow_sets, its IPv6
 * flow label; the same on every LB node. Computed once per packet (zero reads as not yet: a
 * real zero is just computed again).
 */
static __always_inline __u32 zdd_flow_hash(struct zdd_pkt *pkt)
{
	if (!pkt->flow_hash)
		pkt->flow_hash = zdd_flow_key_hash(&pkt->flow);
	return pkt->flow_hash;
}

/* A backend id from conntrack is trusted only while its slot still belongs to the service. */
static __always_inline struct zdd_backend_val *zdd_backend_of(__u32 id, __u32 service)
{
	struct zdd_backend_val *be = bpf_map_lookup_elem(&zdd_backends, &id);

	if (!be || be->state == ZDD_BE_EMPTY || be->service != service)
		return NULL;
	return be;
}

/* The backend in the pool's table for this hash; NULL when the pool is empty. */
static __always_inline struct zdd_backend_val *zdd_maglev_pick(const struct zdd_service_val *svc,
							       __u8 pool, __u8 slot,
							       __u32 flow_hash, __u32 m, __u32 *id)
{
	struct zdd_maglev_ids *ids;
	__u32 g, entry, v;

	*id = ZDD_NO_BACKEND;
	if (!m)
		return NULL;
	g = ZDD_MAGLEV_ROW(svc->index, pool, slot) * m + zdd_scale(flow_hash, m);
	entry = g / 4;
	ids = bpf_map_lookup_elem(&zdd_maglev16, &entry);
	if (!ids)
		return NULL;
	v = ids->id[g & 3];
	if (v == ZDD_MAGLEV_EMPTY)
		return NULL;
	*id = v;
	/* A table of the previous generation may still name a backend deleted since. */
	return zdd_backend_of(*id, svc->index);
}

/*
 * Picks pool and backend for a new flow (pkt->flow_hash set). An empty pool hands its flows to
 * the other pool rather than dropping them: weights say where to go, not that a release may
 * lose traffic.
 * A stale entry (a previous generation naming a deleted backend) fails instead, so the
 * caller falls back to the current generation and the split stays as the weights say.
 */
static __always_inline int zdd_select(const struct zdd_pkt *pkt, const struct zdd_service_val *svc,
				      struct zdd_gen gen, __u32 m, struct zdd_choice *out)
{
	__u32 flow_hash = pkt->flow_hash;
	__u8 pool;

	out->split = ZDD_SPLIT_UNSET;
	pool = zdd_weighted_pool(pkt, svc, gen.green_weight, &out->split);
	out->weighted = pool;
	out->be = zdd_maglev_pick(svc, pool, gen.slot, flow_hash, m, &out->backend);
	if (out->backend == ZDD_NO_BACKEND) {
		pool = !pool;
		out->be = zdd_maglev_pick(svc, pool, gen.slot, flow_hash, m, &out->backend);
	}
	out->pool = pool;
	return out->be ? 0 : -ZDD_R_NO_BACKEND;
}

#endif /* ZDD_SELECT_H */
