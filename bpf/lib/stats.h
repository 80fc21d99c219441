/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/stats.h - per-CPU counters: one reason per packet, per-backend and per-service
 * counters. Per-CPU values need no atomics; userspace sums them. */
#ifndef ZDD_STATS_H
#define ZDD_STATS_H

#include "zdd_maps.h"

/* Counts the reason and returns the verdict the ABI header pairs with it. */
static __always_inline int zdd_verdict(enum zdd_reason reason)
{
	__u32 key = reason;
	__u64 *count = bpf_map_lookup_elem(&zdd_reasons, &key);

	if (count)
		*count += 1;
	switch (reason) {
#define ZDD_REASON_VERDICT(e, name, verdict) \
	case ZDD_R_##e:                      \
		return verdict;
		ZDD_REASONS(ZDD_REASON_VERDICT)
#undef ZDD_REASON_VERDICT
	default:
		return XDP_ABORTED;
	}
}

static __always_inline struct zdd_backend_stats *zdd_backend_stats(__u32 backend)
{
	return bpf_map_lookup_elem(&zdd_bstats, &backend);
}

static __always_inline struct zdd_service_stats *zdd_service_stats(__u32 index)
{
	return bpf_map_lookup_elem(&zdd_sstats, &index);
}

/* The cohort of flows whose first SYN came at first_ns to the service's pool (zdd_abi.h). This
 * CPU's entry starts afresh when it still holds a cohort ZDD_COHORTS older. */
static __always_inline struct zdd_cohort *zdd_cohort_of(__u32 svc_index, __u8 pool, __u64 first_ns)
{
	__u32 tick = first_ns >> ZDD_COHORT_SHIFT;
	__u32 key = ZDD_COHORT_KEY(svc_index, pool & 1, tick);
	struct zdd_cohort *c = bpf_map_lookup_elem(&zdd_cohorts, &key);

	if (c && c->tick != tick) {
		c->tick = tick;
		c->started = 0;
		c->completed = 0;
		c->reset = 0;
	}
	return c;
}

#endif /* ZDD_STATS_H */
