/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bpf/lib/clock.h - the data path's clock: CLOCK_MONOTONIC at a tick's resolution, for ages,
 * windows and the grace and handshake timeouts. bpf_ktime_get_coarse_ns() is a helper call
 * that reads the timekeeper under its sequence count, a large part of a SYN's cost
 * (tools/bench/README.md); the coarse clock only moves when the tick advances jiffies, and
 * bpf_jiffies64() is inlined to one load. So each CPU keeps the value it read and reads again
 * when jiffies moved. The tick bumps jiffies just before it advances the timekeeper, so a copy
 * taken between the two lags by a tick until the next one: two ticks at worst, within the
 * "coarse" every user of the clock already allows for (signed comparisons, second-long ages).
 */
#ifndef ZDD_CLOCK_H
#define ZDD_CLOCK_H

#include "zdd_maps.h"

static __always_inline __u64 zdd_now_ns(void)
{
	__u64 jiffies = bpf_jiffies64();
	struct zdd_cpu_clock *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&zdd_cpu_clock, &zero);
	if (!c)
		return bpf_ktime_get_coarse_ns();
	if (c->jiffies != jiffies) {
		c->ns = bpf_ktime_get_coarse_ns();
		c->jiffies = jiffies;
	}
	return c->ns;
}

#endif /* ZDD_CLOCK_H */
