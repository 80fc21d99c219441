/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/second_chance.h - the balancer's half of second chance (zdd_abi.h, struct zdd_sc_opt):
 * which backend a conntrack miss carries besides the one it is sent to, and keeping it with the
 * flow. zdd_decap's half is bpf/lib/sc_forward.h. */
#ifndef ZDD_SECOND_CHANCE_H
#define ZDD_SECOND_CHANCE_H

#include "select.h"

/*
 * A miss (a non-SYN TCP packet of a flow in no conntrack table) was routed to `to` by one table
 * generation (prev_chose: the previous one). When the other generation's choice differs, it
 * becomes the packet's second chance: the flow may predate the swap, or have started after it
 * and lost its embryo, and only the backend holding its socket knows. The primary stays what
 * zdd_ct_route() prefers: the previous table within the grace window (most misses then are
 * flows from before the swap), today's after it.
 */
static __always_inline void zdd_sc_pick(const struct zdd_pkt *pkt,
					const struct zdd_service_val *svc,
					const struct zdd_config *cfg, int prev_chose,
					const struct zdd_choice *to, struct zdd_choice *second)
{
	struct zdd_gen cur = { svc->green_weight, svc->active_slot };
	struct zdd_gen prev = { svc->prev_green_weight, !svc->active_slot };

	second->be = NULL;
	if (!svc->prev_valid)
		return;
	if (zdd_select(pkt, svc, prev_chose ? cur : prev, cfg->maglev_m, second) ||
	    second->backend == to->backend)
		second->be = NULL;
}

/* Keeps the second chance with the flow: its later packets are no misses, but the guess is
 * no better for them. */
static __always_inline void zdd_sc_record(struct zdd_flow_val *f, const struct zdd_choice *second)
{
	if (!second->be)
		return;
	f->has_second = 1;
	f->second_backend = second->backend;
}

/* The flow's second chance, if it has one and that backend is still the service's. */
static __always_inline void zdd_sc_restore(const struct zdd_flow_val *f, __u32 service,
					   struct zdd_choice *second)
{
	second->be = NULL;
	if (!f->has_second)
		return;
	second->be = zdd_backend_of(f->second_backend, service);
	second->backend = f->second_backend;
}

#endif /* ZDD_SECOND_CHANCE_H */
