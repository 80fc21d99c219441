/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/percpu.h - reading and clearing one entry of a per-CPU array of __u64s. */
#ifndef ZDD_PERCPU_H
#define ZDD_PERCPU_H

#include <stddef.h>
#include <linux/types.h>

/* sum[0..nwords) = the entry's counters added over every possible CPU */
int zdd_percpu_sum(int map_fd, __u32 key, __u64 *sum, size_t nwords);
int zdd_percpu_clear(int map_fd, __u32 key, size_t nwords);

#endif /* ZDD_PERCPU_H */
