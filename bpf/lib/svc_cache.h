/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bpf/lib/svc_cache.h - a per-CPU, direct-mapped cache of services in front of zdd_services,
 * as flow_cache.h is of flows. Every packet that is not served from the flow cache (every SYN,
 * every flow of a cycling million) needs its service, and zdd_services is a kernel hash map:
 * a call that hashes the 20-byte key (jhash), walks a bucket and compares with memcmp, a large
 * part of a SYN's cost (tools/bench/README.md). A hit here is one line of this CPU's slots.
 *
 * zdd_services stays the truth; a slot is a copy of one value, and it stops serving when
 * - userspace wrote zdd_services (libzdd's zdd_service_put, and zdd_service_del after its
 *   delete, bump zdd_config.cache_epoch): a weight, a table swap or the withdrawal of the
 *   previous generation is seen by the next packet on every CPU, as a write to the hash map
 *   itself is, so a swap's order of steps (swap.c) holds as it did;
 * - ZDD_FLOW_CACHE_TICKS passed since the copy was read: a bound for a writer that knows
 *   nothing of the cache.
 * A packet to no service is not cached: it takes the hash map's miss.
 */
#ifndef ZDD_SVC_CACHE_H
#define ZDD_SVC_CACHE_H

#include "flow_cache.h"

static __always_inline int zdd_service_key_eq(const struct zdd_service_key *a,
					      const struct zdd_service_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) |
		 (*(const __u32 *)&a->port ^ *(const __u32 *)&b->port));
}

/* The packet's service (a copy, or zdd_services' own value on a miss), or NULL; epoch is
 * zdd_config.cache_epoch as read before. */
static __always_inline struct zdd_service_val *zdd_service_of(const struct zdd_pkt *pkt,
							      __u32 epoch)
{
	const struct zdd_service_key *k = &pkt->flow.svc;
	const __u32 *a = (const __u32 *)k->addr;
	__u32 h = (a[0] ^ a[1] ^ a[2] ^ a[3] ^ *(const __u32 *)&k->port) * 0x9e3779b1u;
	__u32 idx = zdd_cpu_slot(h, ZDD_SVC_CACHE_BITS);
	__u32 now = bpf_jiffies64();
	struct zdd_svc_cache_slot *c = bpf_map_lookup_elem(&zdd_svc_cache, &idx);
	struct zdd_service_val *svc;

	if (c && c->epoch == epoch && now - c->stamp < ZDD_FLOW_CACHE_TICKS &&
	    zdd_service_key_eq(&c->key, k))
		return &c->val;
	svc = bpf_map_lookup_elem(&zdd_services, k);
	if (svc && c) {
		c->key = *k;
		c->val = *svc;
		c->epoch = epoch;
		c->stamp = now;
	}
	return svc;
}

#endif /* ZDD_SVC_CACHE_H */
