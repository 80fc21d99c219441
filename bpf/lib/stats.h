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

#endif /* ZDD_STATS_H */
