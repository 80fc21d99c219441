// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/counters.c - per-CPU counters summed over the possible CPUs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "handle.h"

#define ZDD_REASON_NAME(e, name, verdict) [ZDD_R_##e] = name,
static const char *const reason_names[ZDD_R_MAX] = { ZDD_REASONS(ZDD_REASON_NAME) };
#undef ZDD_REASON_NAME

const char *zdd_reason_name(enum zdd_reason r)
{
	return r < ZDD_R_MAX ? reason_names[r] : "unknown";
}

/* Sums nwords __u64 counters of one per-CPU entry (the kernel rounds values to 8 bytes). */
static int percpu_sum(struct zdd *z, enum zdd_map map, __u32 key, __u64 *sum, size_t nwords)
{
	__u64 *vals = calloc((size_t)z->ncpus * nwords, sizeof(__u64));
	int cpu, err = 0;
	size_t i;

	if (!vals)
		return -ENOMEM;
	memset(sum, 0, nwords * sizeof(__u64));
	if (bpf_map_lookup_elem(z->fd[map], &key, vals))
		err = -errno;
	for (cpu = 0; cpu < z->ncpus && !err; cpu++)
		for (i = 0; i < nwords; i++)
			sum[i] += vals[cpu * nwords + i];
	free(vals);
	return err;
}

int zdd_percpu_zero(struct zdd *z, enum zdd_map map, __u32 key)
{
	size_t words = map == ZDD_MAP_BSTATS ? sizeof(struct zdd_backend_stats) / 8 :
		       map == ZDD_MAP_SSTATS ? sizeof(struct zdd_service_stats) / 8 :
					       1;
	__u64 *zeros = calloc((size_t)z->ncpus * words, sizeof(__u64));
	int err = 0;

	if (!zeros)
		return -ENOMEM;
	if (bpf_map_update_elem(z->fd[map], &key, zeros, BPF_ANY))
		err = -errno;
	free(zeros);
	return err;
}

int zdd_backend_stats_read(struct zdd *z, __u32 id, struct zdd_backend_stats *sum)
{
	return percpu_sum(z, ZDD_MAP_BSTATS, id, (__u64 *)sum, sizeof(*sum) / 8);
}

int zdd_service_stats_read(struct zdd *z, __u32 index, struct zdd_service_stats *sum)
{
	return percpu_sum(z, ZDD_MAP_SSTATS, index, (__u64 *)sum, sizeof(*sum) / 8);
}

int zdd_reasons_read(struct zdd *z, __u64 counts[ZDD_R_MAX])
{
	int r, err;

	for (r = 0; r < ZDD_R_MAX; r++) {
		err = percpu_sum(z, ZDD_MAP_REASONS, r, &counts[r], 1);
		if (err)
			return err;
	}
	return 0;
}
