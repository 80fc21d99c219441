/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/conntrack.h - tiered connection tracking. A recorded SYN creates a zdd_embryo_sets
 * entry, the first ACK promotes it to zdd_flow_sets; a SYN flood can only churn
 * zdd_embryo_sets, and is sampled (see "SYN sampling"); an ACK or UDP flood only zdd_adopted
 * (zdd_abi.h, zdd_flow_val). Pinned flows keep their backend across weight changes, drains and table
 * swaps. */
#ifndef ZDD_CONNTRACK_H
#define ZDD_CONNTRACK_H

#include "clock.h"
#include "second_chance.h"
#include "select.h"
#include "stats.h"

#define ZDD_LAST_SEEN_RES_NS 1000000000ULL /* flows are written at most once a second */

/* The outcome of the conntrack step: where the packet goes and which reason it counts as. */
struct zdd_ct {
	struct zdd_choice to;
	struct zdd_choice second; /* second chance (lib/second_chance.h); be NULL when none */
	enum zdd_reason reason;
	__u8 from_flows; /* found in zdd_flow_sets or zdd_adopted, not closing: may be cached */
};

static __always_inline __u64 zdd_handshake_ns(const struct zdd_service_val *svc)
{
	return (__u64)(svc->handshake_ms ?: ZDD_DEF_HANDSHAKE_MS) * 1000000ULL;
}

/* How many flows a recorded handshake stands for in the counters (SYN sampling). */
static __always_inline __u32 zdd_embryo_weight(__u8 weight_shift)
{
	if (weight_shift > ZDD_SYN_MAX_SHIFT)
		return weight_shift == ZDD_EMBRYO_UNCOUNTED ? 1 : 0;
	return 1u << weight_shift;
}

/* A new TCP flow's first recorded SYN, in the cohort of now (zdd_abi.h, zdd_cohorts). */
static __always_inline void zdd_ct_started(const struct zdd_service_val *svc, __u8 pool, __u64 now,
					   __u8 weight_shift)
{
	struct zdd_cohort *c;

	if (weight_shift == ZDD_EMBRYO_UNCOUNTED)
		return;
	c = zdd_cohort_of(svc->index, pool, now);
	if (c)
		c->started += zdd_embryo_weight(weight_shift);
}

/*
 * A handshake's end in its SYN's cohort: the client's ACK (completed) or RST (reset). Only
 * within the handshake timeout: a later end leaves the flow counted as failed, and its cohort's
 * entry may hold a newer cohort by then.
 */
static __always_inline void zdd_ct_outcome(const struct zdd_service_val *svc,
					   const struct zdd_embryo_val *e, __u64 now, int reset)
{
	__u32 w = zdd_embryo_weight(e->weight_shift);
	struct zdd_cohort *c;

	if (e->weight_shift == ZDD_EMBRYO_UNCOUNTED ||
	    (__s64)(now - e->first_seen_ns) > (__s64)zdd_handshake_ns(svc))
		return;
	c = zdd_cohort_of(svc->index, e->pool, e->first_seen_ns);
	if (!c)
		return;
	if (reset)
		c->reset += w;
	else
		c->completed += w;
}

/*
 * The client ends an established flow: a FIN or RST lets a new SYN reuse the 5-tuple, and the
 * first RST counts the flow as reset by the client (once per flow, not per packet: clients
 * abort for many reasons, and a flood of RST packets must not look like many flows).
 */
static __always_inline void zdd_ct_closing(struct zdd_flow_val *f, __u8 tcp_flags)
{
	__u8 closing = f->closing;
	struct zdd_backend_stats *st;

	if (tcp_flags & ZDD_TCP_FIN)
		closing |= ZDD_CLOSING_FIN;
	if (tcp_flags & ZDD_TCP_RST)
		closing |= ZDD_CLOSING_RST;
	if (closing == f->closing)
		return;
	if ((closing & ~f->closing) & ZDD_CLOSING_RST) {
		st = zdd_backend_stats(f->backend);
		if (st)
			st->client_resets++;
	}
	f->closing = closing;
}

/* The first packet of a TCP connection (UDP has no flags: never). */
static __always_inline int zdd_is_syn(const struct zdd_pkt *pkt)
{
	return (pkt->tcp_flags & (ZDD_TCP_SYN | ZDD_TCP_ACK)) == ZDD_TCP_SYN;
}

/*
 * zdd_embryo_sets is a set-associative cache, not an LRU hash: a SYN costs one set (two cache
 * lines) under an uncontended lock. An insert into a full LRU hash (every insert, under a SYN
 * flood) evicts through shared lists: several times a whole forwarded packet (tools/bench).
 * Under a flood both forget the oldest SYNs first; without one, a handshake is forgotten only
 * when two newer ones land in its set before its ACK, and its ACK then takes the miss path.
 */
static __always_inline struct zdd_embryo_set *zdd_embryo_set_of(const struct zdd_pkt *pkt,
								const struct zdd_config *cfg)
{
	__u32 idx;

	if (!cfg->embryo_sets)
		return NULL;
	idx = zdd_scale(pkt->flow_hash, cfg->embryo_sets);
	return bpf_map_lookup_elem(&zdd_embryo_sets, &idx);
}

static __always_inline int zdd_flow_key_eq(const struct zdd_flow_key *a,
					   const struct zdd_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]));
}

/* The way holding the flow, or NULL. Call with the set locked. */
static __always_inline struct zdd_embryo *zdd_embryo_find(struct zdd_embryo_set *s,
							  const struct zdd_flow_key *k)
{
	if (s->way[0].val.syns && zdd_flow_key_eq(&s->way[0].key, k))
		return &s->way[0];
	if (s->way[1].val.syns && zdd_flow_key_eq(&s->way[1].key, k))
		return &s->way[1];
	return NULL;
}

/* Records a SYN's choice: in the flow's way, else a free one, else the older. */
static __always_inline void zdd_embryo_put(struct zdd_embryo_set *s, const struct zdd_pkt *pkt,
					   const struct zdd_embryo_val *v)
{
	struct zdd_embryo *w;

	bpf_spin_lock(&s->lock);
	w = zdd_embryo_find(s, &pkt->flow);
	if (!w) {
		if (!s->way[0].val.syns)
			w = &s->way[0];
		else if (!s->way[1].val.syns)
			w = &s->way[1];
		else if (s->way[1].val.first_seen_ns < s->way[0].val.first_seen_ns)
			w = &s->way[1];
		else
			w = &s->way[0];
	}
	w->key = pkt->flow;
	w->val = *v;
	bpf_spin_unlock(&s->lock);
}

/*
 * A SYN again: the client heard nothing for a whole retransmit timeout. If the tables have
 * since given up the first choice (a rollback took its pool's weight to zero, its health check
 * took it down), the retransmit follows them: no connection exists yet, so nothing is lost,
 * and a client caught by a bad release gets through on its next try instead of retrying into
 * the same hole. Any other change leaves it where it is: a live backend may have answered
 * the first SYN and lost its SYN-ACK, and a client that takes the one it sends again sends its
 * ACK here; moved elsewhere, that ACK is answered with a reset (test-flip-under-load caught it
 * under its stream of weight changes).
 */
static __always_inline int zdd_ct_given_up(const struct zdd_service_val *svc,
					   const struct zdd_embryo_val *e,
					   const struct zdd_backend_val *be)
{
	if (be->state == ZDD_BE_DOWN)
		return 1;
	return e->pool == ZDD_GREEN ? !svc->green_weight : svc->green_weight >= ZDD_MAX_WEIGHT_BP;
}

static __always_inline void zdd_ct_resteer(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
					   const struct zdd_config *cfg, struct zdd_embryo_set *s,
					   const struct zdd_embryo_val *e, __u64 now,
					   struct zdd_ct *ct)
{
	struct zdd_gen cur = { svc->green_weight, svc->active_slot };
	struct zdd_backend_stats *st;
	struct zdd_embryo *w;
	struct zdd_choice to;

	if (e->generation == svc->generation || !zdd_ct_given_up(svc, e, ct->to.be) ||
	    zdd_select(pkt, svc, cur, cfg->maglev_m, &to) || to.backend == e->backend)
		return;
	bpf_spin_lock(&s->lock);
	w = zdd_embryo_find(s, &pkt->flow);
	if (w) {
		w->val.backend = to.backend;
		w->val.pool = to.pool;
		w->val.generation = svc->generation;
		w->val.first_seen_ns = now;
	}
	bpf_spin_unlock(&s->lock);
	ct->to = to;
	st = zdd_backend_stats(to.backend);
	if (st)
		st->flows_new++;
	/* A flow anew in the new pool's cohort; the first choice's cohort keeps it as failed: its
	 * backend did not answer within a retransmit timeout. */
	zdd_ct_started(svc, to.pool, now, e->weight_shift);
}

/* Whether a SYN of this flow is in zdd_embryo_sets (pkt->flow_hash set). */
static __always_inline int zdd_embryo_has(struct zdd_pkt *pkt, const struct zdd_config *cfg)
{
	struct zdd_embryo_set *s = zdd_embryo_set_of(pkt, cfg);
	int found;

	if (!s)
		return 0;
	bpf_spin_lock(&s->lock);
	found = zdd_embryo_find(s, &pkt->flow) != NULL;
	bpf_spin_unlock(&s->lock);
	return found;
}

static __always_inline struct zdd_flow_set *zdd_flow_set_at(__u32 idx)
{
	return bpf_map_lookup_elem(&zdd_flow_sets, &idx);
}

/* The way of set s holding the flow, home first (a free way never matches: no packet has
 * protocol 0). */
static __always_inline struct zdd_flow *zdd_flow_find_in(struct zdd_flow_set *s, __u32 home,
							 const struct zdd_pkt *pkt)
{
	struct zdd_flow *w;
	__u32 i;

	if (!s)
		return NULL;
#pragma unroll
	for (i = 0; i < ZDD_FLOW_WAYS; i++) {
		w = &s->way[(home + i) % ZDD_FLOW_WAYS];
		if (zdd_flow_key_eq(&w->key, &pkt->flow))
			return w;
	}
	return NULL;
}

/* The flow's way in zdd_flow_sets, or NULL (pkt->flow_hash set). The second set is read only
 * when the first does not hold it. */
static __always_inline struct zdd_flow *zdd_flow_find(const struct zdd_pkt *pkt,
						      const struct zdd_config *cfg)
{
	struct zdd_flow_place p;
	struct zdd_flow *w;

	if (!cfg->flow_sets)
		return NULL;
	zdd_flow_place(pkt->flow_hash, cfg->flow_sets, &p);
	w = zdd_flow_find_in(zdd_flow_set_at(p.set[0]), p.home[0], pkt);
	return w ?: zdd_flow_find_in(zdd_flow_set_at(p.set[1]), p.home[1], pkt);
}

/*
 * Records an established flow (zdd_abi.h, zdd_flow_sets): in its way if it has one, else in
 * zdd_flow_victim's. The way is marked free first and its key written last, in that order (the
 * barriers keep the compiler's; x86 keeps the order in which other CPUs see plain stores), so
 * a lookup on another CPU that matches the new key reads the new value. A packet of the
 * evicted flow that compared its key an instant before may still read the new value: that
 * flow was leaving the table anyway.
 */
static __always_inline void zdd_flow_put(const struct zdd_pkt *pkt, const struct zdd_config *cfg,
					 const struct zdd_flow_val *v)
{
	struct zdd_flow_set *s0, *s1;
	struct zdd_flow_place p;
	struct zdd_flow *w;
	__u32 pick;

	if (!cfg->flow_sets)
		return;
	zdd_flow_place(pkt->flow_hash, cfg->flow_sets, &p);
	s0 = zdd_flow_set_at(p.set[0]);
	s1 = zdd_flow_set_at(p.set[1]);
	if (!s0 || !s1)
		return;
	w = zdd_flow_find_in(s0, p.home[0], pkt) ?: zdd_flow_find_in(s1, p.home[1], pkt);
	if (!w) {
		pick = zdd_flow_victim(s0, s1, &p);
		w = &(pick < ZDD_FLOW_WAYS ? s0 : s1)->way[pick % ZDD_FLOW_WAYS];
	}
	w->key.svc.proto = 0;
	barrier();
	w->val = *v;
	barrier();
	w->key = pkt->flow;
}

/* Where conntrack found a flow: a way of zdd_flow_sets or an entry of zdd_adopted. */
struct zdd_ct_found {
	struct zdd_flow *way;
	struct zdd_adopted_val *adopted;
};

/* The flow's entry: TCP in zdd_flow_sets, else (and UDP only) in zdd_adopted (pkt->flow_hash
 * set). */
static __always_inline struct zdd_flow_val *zdd_ct_lookup(const struct zdd_pkt *pkt,
							  const struct zdd_config *cfg,
							  struct zdd_ct_found *at)
{
	at->way = NULL;
	at->adopted = NULL;
	if (pkt->flow.svc.proto == IPPROTO_TCP) {
		at->way = zdd_flow_find(pkt, cfg);
		if (at->way)
			return &at->way->val;
	}
	at->adopted = bpf_map_lookup_elem(&zdd_adopted, &pkt->flow);
	return at->adopted ? &at->adopted->f : NULL;
}

static __always_inline void zdd_ct_forget(const struct zdd_pkt *pkt, struct zdd_ct_found *at)
{
	if (at->way)
		at->way->key.svc.proto = 0;
	else
		bpf_map_delete_elem(&zdd_adopted, &pkt->flow);
}

/* How far a TCP connection got: zdd_adopted_val.progress. */
static __always_inline __u32 zdd_tcp_progress(const struct zdd_pkt *pkt)
{
	return bpf_ntohl(pkt->tcp_seq) + bpf_ntohl(pkt->tcp_ack);
}

/*
 * An adopted TCP flow, a second or more after its adoption (or its last check): it sent or
 * received since (zdd_adopted_val.progress), so the client is live, and the flow moves where
 * floods cannot evict it. Inserted before it is deleted: a packet on another CPU finds one or
 * the other.
 */
static __always_inline void zdd_ct_promote(const struct zdd_pkt *pkt,
					   const struct zdd_service_val *svc,
					   const struct zdd_config *cfg,
					   const struct zdd_adopted_val *a)
{
	struct zdd_service_stats *ss;

	if (a->f.closing || (__s32)(zdd_tcp_progress(pkt) - a->progress) <= 0)
		return;
	zdd_flow_put(pkt, cfg, &a->f);
	bpf_map_delete_elem(&zdd_adopted, &pkt->flow);
	ss = zdd_service_stats(svc->index);
	if (ss)
		ss->promoted++;
}

/*
 * SYNs skip zdd_flow_sets (a miss there is a cold read of a big table: tools/bench/README.md),
 * so a new connection reusing a 5-tuple still finds the old one's entry when its handshake ACK
 * comes. The old connection either closed (the client's FIN or RST marked it) or went quiet;
 * in both cases a SYN in zdd_embryo_sets means the tuple is reused, and the embryo wins. A
 * busy flow pays for this check once a second, with its last_seen refresh.
 */
static __always_inline int zdd_ct_flow_hit(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
					   const struct zdd_config *cfg, __u64 now,
					   struct zdd_ct *ct)
{
	int tcp = pkt->flow.svc.proto == IPPROTO_TCP;
	struct zdd_ct_found at;
	struct zdd_flow_val *f;
	int quiet;

	f = zdd_ct_lookup(pkt, cfg, &at);
	if (!f)
		return 0;
	ct->to.be = zdd_backend_of(f->backend, svc->index);
	if (!ct->to.be) {
		zdd_ct_forget(pkt, &at);
		return 0;
	}
	quiet = (__s64)(now - f->last_seen_ns) > (__s64)ZDD_LAST_SEEN_RES_NS;
	if (tcp && (quiet || f->closing) && zdd_embryo_has(pkt, cfg))
		return 0;
	if (quiet) {
		f->last_seen_ns = now;
		if (tcp && at.adopted)
			zdd_ct_promote(pkt, svc, cfg, at.adopted);
	}
	if (tcp && (pkt->tcp_flags & (ZDD_TCP_FIN | ZDD_TCP_RST)))
		zdd_ct_closing(f, pkt->tcp_flags);
	ct->to.backend = f->backend;
	ct->reason = ZDD_R_TX_FLOW;
	zdd_sc_restore(f, svc->index, &ct->second);
	/* A closing flow stays out of the flow cache: a copy made by the last ACK after the
	 * client's FIN would send a reused port's handshake ACK to the old backend. So does one
	 * with a second chance: the cache keeps one backend. */
	ct->from_flows = !f->closing && !ct->second.be;
	return 1;
}

static __always_inline int zdd_ct_embryo_hit(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
					     const struct zdd_config *cfg, __u64 now,
					     struct zdd_ct *ct)
{
	struct zdd_embryo_set *s = zdd_embryo_set_of(pkt, cfg);
	int syn = zdd_is_syn(pkt);
	/* The handshake's ACK: the flow moves where a SYN flood cannot evict it. */
	int done = (pkt->tcp_flags & (ZDD_TCP_SYN | ZDD_TCP_ACK | ZDD_TCP_RST)) == ZDD_TCP_ACK;
	/* The client gave up on the handshake: the flow failed, its way is free. */
	int reset = !syn && (pkt->tcp_flags & ZDD_TCP_RST);
	struct zdd_backend_stats *st;
	struct zdd_embryo_val e = {};
	struct zdd_flow_val f = {};
	int found = 0;

	if (!s)
		return 0;
	bpf_spin_lock(&s->lock);
	{
		struct zdd_embryo *w = zdd_embryo_find(s, &pkt->flow);

		if (w) {
			found = 1;
			e = w->val;
			if (syn)
				w->val.syns++;
			else if (done || reset)
				w->val.syns = 0; /* the way is free */
		}
	}
	bpf_spin_unlock(&s->lock);
	if (!found)
		return 0;
	/* A backend deleted since: a SYN is balanced afresh (and takes its way again), an ACK
	 * takes the miss path. */
	ct->to.be = zdd_backend_of(e.backend, svc->index);
	if (!ct->to.be)
		return 0;
	ct->to.backend = e.backend;
	ct->reason = ZDD_R_TX_FLOW;
	st = zdd_backend_stats(e.backend);
	if (syn) {
		if (st)
			st->syn_retransmits += zdd_embryo_weight(e.weight_shift);
		zdd_ct_resteer(pkt, svc, cfg, s, &e, now, ct);
	} else if (done) {
		f.backend = e.backend;
		f.generation = e.generation;
		f.pool = e.pool;
		f.last_seen_ns = now;
		zdd_flow_put(pkt, cfg, &f);
		if (st)
			st->flows_established += zdd_embryo_weight(e.weight_shift);
		zdd_ct_outcome(svc, &e, now, 0);
	} else if (reset) {
		zdd_ct_outcome(svc, &e, now, 1);
	}
	return 1;
}

/* Whether the previous generation still routes misses: kept, and the swap within grace. */
static __always_inline int zdd_ct_prev_live(const struct zdd_service_val *svc,
					    const struct zdd_config *cfg, __u64 now)
{
	/* Signed: the coarse clock may still be a tick behind the swap's time. */
	return svc->prev_valid && (__s64)(now - svc->changed_ns) < (__s64)cfg->grace_ns;
}

/* The previous generation's choice for the flow, in `to`: 1 when its table had a backend. */
static __always_inline int zdd_ct_prev_pick(const struct zdd_pkt *pkt,
					    const struct zdd_service_val *svc,
					    const struct zdd_config *cfg, struct zdd_choice *to)
{
	struct zdd_gen prev = { svc->prev_green_weight, !svc->active_slot };

	return !zdd_select(pkt, svc, prev, cfg->maglev_m, to);
}

/*
 * Whether the previous generation surely routes the flow where `to` (the current one's choice)
 * does, without asking it: both pools' rows are as they were (a change of weights only, which
 * a rollout makes at every step), and the previous weights pick the same pool for the client.
 * Then the tables and the empty-pool fallback are the same, and so is the backend.
 */
static __always_inline int zdd_ct_prev_same(const struct zdd_pkt *pkt,
					    const struct zdd_service_val *svc,
					    const struct zdd_choice *to)
{
	__u32 split = to->split;

	return svc->prev_same_rows == ((1u << ZDD_BLUE) | (1u << ZDD_GREEN)) &&
	       zdd_weighted_pool(pkt, svc, svc->prev_green_weight, &split) == to->weighted;
}

/*
 * Picks the backend of a flow conntrack does not know, by the current table; or, for a miss
 * (a TCP packet that is no SYN: its connection may predate the swap), by the previous
 * generation's while the swap is younger than the grace window and that table had a backend
 * for it. Returns 1 when the previous generation chose, 0 when the current one did, or a
 * negative reason.
 */
static __always_inline int zdd_ct_route(const struct zdd_pkt *pkt,
					const struct zdd_service_val *svc,
					const struct zdd_config *cfg, __u64 now, int miss,
					struct zdd_choice *to)
{
	struct zdd_gen cur = { svc->green_weight, svc->active_slot };

	if (miss && zdd_ct_prev_live(svc, cfg, now) && zdd_ct_prev_pick(pkt, svc, cfg, to))
		return 1;
	return zdd_select(pkt, svc, cur, cfg->maglev_m, to);
}

/* Records a flow one packet made (a TCP miss, a UDP flow) where floods churn only their own
 * kind (zdd_abi.h, zdd_flow_val). ss: the service's stats, when already looked up. */
static __always_inline void zdd_ct_adopt(const struct zdd_pkt *pkt,
					 const struct zdd_service_val *svc, __u64 now,
					 const struct zdd_ct *ct, struct zdd_service_stats *ss)
{
	struct zdd_adopted_val f = {
		.f = {
			.backend = ct->to.backend,
			.generation = svc->generation,
			.last_seen_ns = now,
			.pool = ct->to.pool,
		},
		.progress = zdd_tcp_progress(pkt),
	};

	zdd_sc_record(&f.f, &ct->second);
	bpf_map_update_elem(&zdd_adopted, &pkt->flow, &f, BPF_ANY);
	if (!ss)
		ss = zdd_service_stats(svc->index);
	if (ss)
		ss->adopted++;
}

/*
 * SYN sampling. The embryonic record exists to pin a handshake across a table change and to
 * count its outcome for the rollback judgement; recording it is most of a SYN's cost
 * (tools/bench/README.md, "The SYN path's design"), and neither purpose needs every SYN of a
 * flood. A SYN is recorded
 * - while the service's tables changed within the handshake timeout: more changes may follow
 *   during this handshake (a rollout's next step, a rollback), and only a record pins it then;
 * - when the miss path would send its ACK elsewhere: within the grace window after a change,
 *   an unrecorded ACK is routed by the previous generation. Recorded to pin it, but counted in
 *   no cohort (it is no random sample). The previous generation is asked only when
 *   zdd_ct_prev_same cannot tell from the weights alone;
 * - else when this CPU's sampler picks it: every SYN until the CPU recorded the budget
 *   (zdd_config.syn_budget) in this window, then 1 in 2^shift, the shift rising while the
 *   budget is exceeded and falling when a window used under half of it. The pick is by the
 *   top bits of a remix of the flow hash, so it is independent of the flow's backend and
 *   outcome; a recorded flow counts 2^shift in the cohorts and in flows_established, so the
 *   counts stay unbiased estimates (their variance grows with the shift).
 * An unrecorded SYN goes where the current table sends it, so does its retransmit, and so
 * does its ACK through the miss path (no change within the grace window, or one that did not
 * move it): the same backend, with no record. Only flows_new counts it.
 */
static __always_inline __u32 zdd_syn_budget(const struct zdd_config *cfg)
{
	return cfg->syn_budget ?: ZDD_DEF_SYN_BUDGET;
}

static __always_inline struct zdd_syn_gate *zdd_syn_gate_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&zdd_syn_gate, &zero);
}

/* The sampler's answer: the SYN's weight shift, or -1 (pkt->flow_hash set). */
static __always_inline int zdd_syn_sample(const struct zdd_pkt *pkt, const struct zdd_config *cfg,
					  __u64 now)
{
	struct zdd_syn_gate *g = zdd_syn_gate_get();
	__u64 window = now >> ZDD_SYN_WINDOW_SHIFT;
	__u32 shift;

	if (!g)
		return 0;
	if (g->window != window) {
		if (g->window + 1 != window)
			g->shift = 0; /* a window without SYNs: the flood is over */
		else if (g->recorded < zdd_syn_budget(cfg) / 2 && g->shift)
			g->shift--;
		g->window = window;
		g->recorded = 0;
	}
	shift = g->shift;
	if (shift > ZDD_SYN_MAX_SHIFT)
		shift = ZDD_SYN_MAX_SHIFT;
	if (shift && (pkt->flow_hash * 0x9e3779b1u) >> (32 - shift))
		return -1;
	return shift;
}

/* A sampled SYN was recorded as a new flow (retransmits do not count): past the budget, the
 * CPU samples twice as sparsely. */
static __always_inline void zdd_syn_recorded(const struct zdd_config *cfg, __u32 shift)
{
	struct zdd_syn_gate *g = zdd_syn_gate_get();

	if (g && ++g->recorded >= zdd_syn_budget(cfg) && shift < ZDD_SYN_MAX_SHIFT &&
	    g->shift == shift) {
		g->shift = shift + 1;
		g->recorded = 0;
	}
}

/* A SYN's weight shift when it is to be recorded, else -1 (pkt->flow_hash set). */
static __always_inline int zdd_syn_record(const struct zdd_pkt *pkt,
					  const struct zdd_service_val *svc,
					  const struct zdd_config *cfg, __u64 now)
{
	if ((__s64)(now - svc->changed_ns) < (__s64)zdd_handshake_ns(svc))
		return 0;
	return zdd_syn_sample(pkt, cfg, now);
}

/* Records a SYN routed to `to` (see SYN sampling); shift as zdd_syn_record gave it. */
static __always_inline void zdd_ct_syn_new(const struct zdd_pkt *pkt,
					   const struct zdd_service_val *svc,
					   const struct zdd_config *cfg, __u64 now, int shift,
					   const struct zdd_choice *to)
{
	struct zdd_embryo_val e = {
		.backend = to->backend,
		.generation = svc->generation,
		.first_seen_ns = now,
		.syns = 1,
		.pool = to->pool,
		.weight_shift = shift,
	};
	struct zdd_embryo_set *s;
	struct zdd_choice alt;

	if (shift < 0) {
		/* The window first: past it, the shortcut's split hash would be wasted work. */
		if (!zdd_ct_prev_live(svc, cfg, now) || zdd_ct_prev_same(pkt, svc, to) ||
		    !zdd_ct_prev_pick(pkt, svc, cfg, &alt) || alt.backend == to->backend)
			return;
		e.weight_shift = ZDD_EMBRYO_UNCOUNTED;
	} else {
		zdd_syn_recorded(cfg, shift);
	}
	s = zdd_embryo_set_of(pkt, cfg);
	if (s)
		zdd_embryo_put(s, pkt, &e);
	zdd_ct_started(svc, to->pool, now, e.weight_shift);
}

/* No entry: route by the table, record the choice (a SYN: as zdd_syn_record said). */
static __always_inline int zdd_ct_new(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
				      const struct zdd_config *cfg, __u64 now, int shift,
				      struct zdd_ct *ct)
{
	int syn = zdd_is_syn(pkt);
	int tcp = pkt->flow.svc.proto == IPPROTO_TCP;
	struct zdd_service_stats *ss = NULL;
	struct zdd_backend_stats *st;
	int err;

	if (tcp && !syn) {
		/* A miss: an eviction, an LB restart, or a flow moved here from another node.
		 * Right after a swap, the previous generation is the better guess. */
		ss = zdd_service_stats(svc->index);
		if (ss)
			ss->conntrack_misses++;
	}
	err = zdd_ct_route(pkt, svc, cfg, now, tcp && !syn, &ct->to);
	if (err < 0)
		return err;
	if (err && ss)
		ss->fallback_prev++;
	if (tcp && !syn)
		zdd_sc_pick(pkt, svc, cfg, err, &ct->to, &ct->second);
	st = zdd_backend_stats(ct->to.backend);
	if (syn) {
		zdd_ct_syn_new(pkt, svc, cfg, now, shift, &ct->to);
		ct->reason = ZDD_R_TX_NEW;
		if (st)
			st->flows_new++;
		return 0;
	}
	if (!(pkt->tcp_flags & ZDD_TCP_RST))
		zdd_ct_adopt(pkt, svc, now, ct, ss);
	ct->reason = tcp ? ZDD_R_TX_MISS : ZDD_R_TX_NEW;
	if (!tcp && st)
		st->flows_new++;
	return 0;
}

/*
 * The backend of a flow an ICMP error is about (the entry point's zdd_icmp()): its conntrack
 * entry, else where the tables send the flow's next packet. It only reads: an error is no
 * packet of the flow, so it refreshes, creates and counts nothing. Returns 0 with to filled,
 * or a negative reason.
 */
static __always_inline int zdd_ct_peek(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
				       const struct zdd_config *cfg, struct zdd_choice *to)
{
	int tcp = pkt->flow.svc.proto == IPPROTO_TCP;
	__u32 backend = ZDD_NO_BACKEND;
	struct zdd_embryo_set *s;
	struct zdd_ct_found at;
	struct zdd_flow_val *f;
	struct zdd_embryo *w;
	int err;

	zdd_flow_hash(pkt);
	f = zdd_ct_lookup(pkt, cfg, &at);
	if (f) {
		backend = f->backend;
	} else if (tcp) {
		/* A handshake's SYN-ACK can be refused or lost too. */
		s = zdd_embryo_set_of(pkt, cfg);
		if (s) {
			bpf_spin_lock(&s->lock);
			w = zdd_embryo_find(s, &pkt->flow);
			if (w)
				backend = w->val.backend;
			bpf_spin_unlock(&s->lock);
		}
	}
	to->be = zdd_backend_of(backend, svc->index);
	if (to->be) {
		to->backend = backend;
		return 0;
	}
	err = zdd_ct_route(pkt, svc, cfg, zdd_now_ns(), tcp, to);
	return err < 0 ? err : 0;
}

/* Finds or makes the flow's backend. Returns 0 with ct filled, or a negative reason. */
static __always_inline int zdd_conntrack(struct zdd_pkt *pkt, const struct zdd_service_val *svc,
					 const struct zdd_config *cfg, struct zdd_ct *ct)
{
	__u64 now = zdd_now_ns();
	int syn = zdd_is_syn(pkt), shift = 0;

	zdd_flow_hash(pkt);
	if (!syn && zdd_ct_flow_hit(pkt, svc, cfg, now, ct))
		return 0;
	/* An unrecorded SYN skips the embryo probe too: a cold read of a big table. A retransmit
	 * of a flow recorded at a lower shift then counts as new, and its record stays for its
	 * ACK. */
	if (syn)
		shift = zdd_syn_record(pkt, svc, cfg, now);
	if (pkt->flow.svc.proto == IPPROTO_TCP && shift >= 0 &&
	    zdd_ct_embryo_hit(pkt, svc, cfg, now, ct))
		return 0;
	return zdd_ct_new(pkt, svc, cfg, now, shift, ct);
}

#endif /* ZDD_CONNTRACK_H */
