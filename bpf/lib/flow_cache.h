/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bpf/lib/flow_cache.h - a per-CPU, direct-mapped cache of established flows in front of the
 * services and zdd_flow_sets lookups, in the manner of Open vSwitch's exact-match cache. In
 * the lab those two lookups were most of zdd's cost per packet (tools/bench/README.md); a hit
 * here is one array slot, compared whole, with no shared write and no clock read.
 *
 * zdd_flow_sets and zdd_adopted stay the truth; a slot is a copy of an entry of either (it
 * carries the backend, not the table: a promotion from one to the other changes nothing here),
 * and it stops serving when
 * - userspace deleted flows (conntrack flush, a backend or service deleted): it bumps
 *   zdd_config.cache_epoch after deleting, and slots of an older epoch are misses;
 * - ZDD_FLOW_CACHE_TICKS passed since the copy was read from conntrack: every flow still
 *   passes conntrack at least once a second, which refreshes its last_seen (the order of
 *   eviction) and runs the port-reuse checks for a connection gone quiet (and promotes
 *   adopted flows);
 * - a FIN or RST of the 5-tuple came to this CPU: it may end the connection, so it goes
 *   through conntrack (which marks the flow closing) and frees the slot;
 * - its backend left the service (checked per packet, as in conntrack).
 * SYNs never use the cache: under a SYN flood each is a new tuple, a certain miss. So a tuple
 * reused within that second is caught at its handshake ACK only if the old connection's FIN
 * or RST came to the same CPU (RSS sends a tuple to one CPU) - conntrack's quiet test has the
 * same second-long gap when no FIN or RST came (README, "Where the code departs").
 */
#ifndef ZDD_FLOW_CACHE_H
#define ZDD_FLOW_CACHE_H

#include "conntrack.h"

/* 0.1 s at HZ=1000, 0.4 s at 250, 1 s at 100: bpf_jiffies64 is a load, a ns clock a call. */
#define ZDD_FLOW_CACHE_TICKS 100

#define ZDD_FLOW_CACHE_ENDS (ZDD_TCP_FIN | ZDD_TCP_RST)

/* The index of this CPU's slot for hash h in a cache of 2^bits slots per CPU, CPU after CPU
 * (the caches' maps, sized by libzdd for the possible CPUs). */
static __always_inline __u32 zdd_cpu_slot(__u32 h, __u32 bits)
{
	return bpf_get_smp_processor_id() * (1u << bits) + (h >> (32 - bits));
}

/* This CPU's slot for the flow; none for a SYN. The index needs no strong hash: the key is
 * compared whole. */
static __always_inline struct zdd_flow_cache_slot *zdd_flow_cache_slot(const struct zdd_pkt *pkt)
{
	const __u32 *s = (const __u32 *)pkt->flow.saddr, *d = (const __u32 *)pkt->flow.svc.addr;
	__u32 ports = ((__u32)pkt->flow.sport << 16) | pkt->flow.svc.port;
	__u32 h, idx;

	if (pkt->tcp_flags & ZDD_TCP_SYN)
		return NULL;
	h = (s[0] ^ s[1] ^ s[2] ^ s[3] ^ zdd_rotl(d[3], 16) ^ ports) * 0x9e3779b1u;
	idx = zdd_cpu_slot(h, ZDD_FLOW_CACHE_BITS);
	return bpf_map_lookup_elem(&zdd_flow_cache, &idx);
}

/* Fills ct from the slot and returns 1 when it serves this packet; else 0. */
static __always_inline int zdd_flow_cache_get(struct zdd_flow_cache_slot *c,
					      const struct zdd_pkt *pkt, __u32 epoch,
					      struct zdd_ct *ct)
{
	if (!c || !zdd_flow_key_eq(&c->key, &pkt->flow))
		return 0;
	if (pkt->tcp_flags & ZDD_FLOW_CACHE_ENDS) {
		c->key.svc.proto = 0; /* no packet has protocol 0: the slot is free */
		return 0;
	}
	if (c->epoch != epoch || (__u32)bpf_jiffies64() - c->stamp >= ZDD_FLOW_CACHE_TICKS)
		return 0;
	ct->to.be = zdd_backend_of(c->backend, c->service);
	if (!ct->to.be)
		return 0;
	ct->to.backend = c->backend;
	ct->reason = ZDD_R_TX_FLOW;
	return 1;
}

/* Keeps a flow conntrack found in zdd_flow_sets or zdd_adopted; epoch as read before that
 * lookup. */
static __always_inline void zdd_flow_cache_put(struct zdd_flow_cache_slot *c,
					       const struct zdd_pkt *pkt, __u32 epoch,
					       __u32 service, const struct zdd_ct *ct)
{
	if (!c || !ct->from_flows || (pkt->tcp_flags & ZDD_FLOW_CACHE_ENDS))
		return;
	c->key = pkt->flow;
	c->backend = ct->to.backend;
	c->service = service;
	c->epoch = epoch;
	c->stamp = bpf_jiffies64();
}

#endif /* ZDD_FLOW_CACHE_H */
