/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/conntrack.h - two-tier connection tracking. A SYN creates a zdd_embryo entry, the
 * first ACK promotes it to zdd_flows; a SYN flood can only churn zdd_embryo. Pinned flows keep
 * their backend across weight changes, drains and table swaps. */
#ifndef ZDD_CONNTRACK_H
#define ZDD_CONNTRACK_H

#include "select.h"
#include "stats.h"

#define ZDD_LAST_SEEN_RES_NS 1000000000ULL /* flows are written at most once a second */

/* The outcome of the conntrack step: where the packet goes and which reason it counts as. */
struct zdd_ct {
	struct zdd_choice to;
	enum zdd_reason reason;
};

/* The first packet of a TCP connection (UDP has no flags: never). */
static __always_inline int zdd_is_syn(const struct zdd_pkt *pkt)
{
	return (pkt->tcp_flags & (ZDD_TCP_SYN | ZDD_TCP_ACK)) == ZDD_TCP_SYN;
}

static __always_inline int zdd_ct_flow_hit(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
					   __u64 now, struct zdd_ct *ct)
{
	struct zdd_flow_val *f = bpf_map_lookup_elem(&zdd_flows, &pkt->flow);

	if (!f)
		return 0;
	ct->to.be = zdd_backend_of(f->backend, svc);
	/* A SYN on a known 5-tuple is a new connection reusing the port: it is balanced by the
	 * weights of now, not pinned to where the previous connection went. */
	if (!ct->to.be || zdd_is_syn(pkt)) {
		bpf_map_delete_elem(&zdd_flows, &pkt->flow);
		return 0;
	}
	if (now - f->last_seen_ns > ZDD_LAST_SEEN_RES_NS)
		f->last_seen_ns = now;
	ct->to.backend = f->backend;
	ct->reason = ZDD_R_TX_FLOW;
	return 1;
}

/*
 * A SYN again: the backend has not answered for a whole retransmit timeout. If the tables
 * changed since the first SYN (a rollback, a backend taken down), the retransmit follows them:
 * no connection exists yet, so nothing is lost, and a client caught by a bad release gets
 * through on its next try instead of retrying into the same hole.
 */
static __always_inline void zdd_ct_resteer(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
					   const struct zdd_config *cfg, struct zdd_embryo_val *e,
					   struct zdd_ct *ct)
{
	struct zdd_gen cur = { svc->green_weight, svc->active_slot };
	struct zdd_backend_stats *st;
	struct zdd_choice to;

	if (e->generation == svc->generation || zdd_select(pkt, svc, cur, cfg->maglev_m, &to) ||
	    to.backend == e->backend)
		return;
	e->backend = to.backend;
	e->pool = to.pool;
	e->generation = svc->generation;
	ct->to = to;
	st = zdd_backend_stats(to.backend);
	if (st)
		st->flows_new++;
}

static __always_inline int zdd_ct_embryo_hit(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
					     const struct zdd_config *cfg, __u64 now,
					     struct zdd_ct *ct)
{
	struct zdd_embryo_val *e = bpf_map_lookup_elem(&zdd_embryo, &pkt->flow);
	struct zdd_backend_stats *st;
	struct zdd_flow_val f = {};

	if (!e)
		return 0;
	ct->to.be = zdd_backend_of(e->backend, svc);
	if (!ct->to.be) {
		bpf_map_delete_elem(&zdd_embryo, &pkt->flow);
		return 0;
	}
	ct->to.backend = e->backend;
	ct->reason = ZDD_R_TX_FLOW;
	st = zdd_backend_stats(e->backend);
	if (zdd_is_syn(pkt)) {
		__sync_fetch_and_add(&e->syns, 1);
		if (st)
			st->syn_retransmits++;
		zdd_ct_resteer(pkt, svc, cfg, e, ct);
	} else if ((pkt->tcp_flags & (ZDD_TCP_SYN | ZDD_TCP_ACK | ZDD_TCP_RST)) == ZDD_TCP_ACK) {
		/* Handshake done: the flow now lives where a SYN flood cannot evict it. */
		f.backend = e->backend;
		f.generation = e->generation;
		f.pool = e->pool;
		f.last_seen_ns = now;
		bpf_map_update_elem(&zdd_flows, &pkt->flow, &f, BPF_ANY);
		bpf_map_delete_elem(&zdd_embryo, &pkt->flow);
		if (st)
			st->flows_established++;
	}
	return 1;
}

/* No entry: route by the table, record the choice. */
static __always_inline int zdd_ct_new(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
				      const struct zdd_config *cfg, __u64 now, struct zdd_ct *ct)
{
	int syn = zdd_is_syn(pkt);
	int tcp = pkt->flow.svc.proto == IPPROTO_TCP;
	struct zdd_gen cur = { svc->green_weight, svc->active_slot };
	struct zdd_gen prev = { svc->prev_green_weight, !svc->active_slot };
	struct zdd_service_stats *ss;
	struct zdd_backend_stats *st;
	int err = -ZDD_R_NO_BACKEND;

	if (tcp && !syn) {
		/* A miss: LRU eviction, an LB restart, or a flow moved here from another node.
		 * Right after a swap, the previous generation is the better guess (when it had
		 * any backend at all). */
		ss = zdd_service_stats(svc->index);
		if (ss)
			ss->conntrack_misses++;
		if (svc->prev_valid && now - svc->changed_ns < cfg->grace_ns)
			err = zdd_select(pkt, svc, prev, cfg->maglev_m, &ct->to);
		if (!err && ss)
			ss->fallback_prev++;
	}
	if (err)
		err = zdd_select(pkt, svc, cur, cfg->maglev_m, &ct->to);
	if (err)
		return err;
	st = zdd_backend_stats(ct->to.backend);
	if (syn) {
		struct zdd_embryo_val e = {
			.backend = ct->to.backend,
			.generation = svc->generation,
			.first_seen_ns = now,
			.syns = 1,
			.pool = ct->to.pool,
		};

		bpf_map_update_elem(&zdd_embryo, &pkt->flow, &e, BPF_ANY);
		ct->reason = ZDD_R_TX_NEW;
		if (st)
			st->flows_new++;
		return 0;
	}
	if (!(pkt->tcp_flags & ZDD_TCP_RST)) {
		struct zdd_flow_val f = {
			.backend = ct->to.backend,
			.generation = svc->generation,
			.last_seen_ns = now,
			.pool = ct->to.pool,
		};

		bpf_map_update_elem(&zdd_flows, &pkt->flow, &f, BPF_ANY);
	}
	ct->reason = tcp ? ZDD_R_TX_MISS : ZDD_R_TX_NEW;
	if (!tcp && st)
		st->flows_new++;
	return 0;
}

/* Finds or makes the flow's backend. Returns 0 with ct filled, or a negative reason. */
static __always_inline int zdd_conntrack(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
					 const struct zdd_config *cfg, struct zdd_ct *ct)
{
	__u64 now = bpf_ktime_get_ns();

	if (zdd_ct_flow_hit(pkt, svc, now, ct))
		return 0;
	if (pkt->flow.svc.proto == IPPROTO_TCP && zdd_ct_embryo_hit(pkt, svc, cfg, now, ct))
		return 0;
	return zdd_ct_new(pkt, svc, cfg, now, ct);
}

#endif /* ZDD_CONNTRACK_H */
