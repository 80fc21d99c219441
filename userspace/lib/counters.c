// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/counters.c - per-CPU counters summed over the possible CPUs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "handle.h"
#include "percpu.h"

#define ZDD_REASON_NAME(e, name, verdict) [ZDD_R_##e] = name,
static const char *const reason_names[ZDD_R_MAX] = { ZDD_REASONS(ZDD_REASON_NAME) };
#undef ZDD_REASON_NAME

const char *zdd_reason_name(enum zdd_reason r)
{
	return r < ZDD_R_MAX ? reason_names[r] : "unknown";
}

static size_t words_of(enum zdd_map map)
{
	switch (map) {
	case ZDD_MAP_BSTATS:
		return sizeof(struct zdd_backend_stats) / 8;
	case ZDD_MAP_SSTATS:
		return sizeof(struct zdd_service_stats) / 8;
	default:
		return 1;
	}
}

int zdd_percpu_sum(int map_fd, __u32 key, __u64 *sum, size_t nwords)
{
	int ncpus = libbpf_num_possible_cpus(), cpu, err = 0;
	__u64 *vals;
	size_t i;

	if (ncpus < 0)
		return ncpus;
	vals = calloc((size_t)ncpus * nwords, sizeof(__u64));
	if (!vals)
		return -ENOMEM;
	memset(sum, 0, nwords * sizeof(__u64));
	if (bpf_map_lookup_elem(map_fd, &key, vals))
		err = -errno;
	for (cpu = 0; cpu < ncpus && !err; cpu++)
		for (i = 0; i < nwords; i++)
			sum[i] += vals[cpu * nwords + i];
	free(vals);
	return err;
}

int zdd_percpu_clear(int map_fd, __u32 key, size_t nwords)
{
	int ncpus = libbpf_num_possible_cpus(), err = 0;
	__u64 *zeros;

	if (ncpus < 0)
		return ncpus;
	zeros = calloc((size_t)ncpus * nwords, sizeof(__u64));
	if (!zeros)
		return -ENOMEM;
	if (bpf_map_update_elem(map_fd, &key, zeros, BPF_ANY))
		err = -errno;
	free(zeros);
	return err;
}

int zdd_percpu_zero(struct zdd *z, enum zdd_map map, __u32 key)
{
	return zdd_percpu_clear(z->fd[map], key, words_of(map));
}

int zdd_backend_stats_read(struct zdd *z, __u32 id, struct zdd_backend_stats *sum)
{
	return zdd_percpu_sum(z->fd[ZDD_MAP_BSTATS], id, (__u64 *)sum, words_of(ZDD_MAP_BSTATS));
}

int zdd_service_stats_read(struct zdd *z, __u32 index, struct zdd_service_stats *sum)
{
	return zdd_percpu_sum(z->fd[ZDD_MAP_SSTATS], index, (__u64 *)sum, words_of(ZDD_MAP_SSTATS));
}

int zdd_cohort_read(struct zdd *z, __u32 svc_index, int pool, __u32 tick, struct zdd_cohort *sum)
{
	int ncpus = libbpf_num_possible_cpus(), cpu, err = 0;
	__u32 key = ZDD_COHORT_KEY(svc_index, pool, tick);
	struct zdd_cohort *vals;

	if (ncpus < 0)
		return ncpus;
	if (svc_index >= z->limits.services || pool < 0 || pool >= ZDD_POOLS)
		return -EINVAL;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	memset(sum, 0, sizeof(*sum));
	sum->tick = tick;
	if (bpf_map_lookup_elem(z->fd[ZDD_MAP_COHORTS], &key, vals))
		err = -errno;
	for (cpu = 0; cpu < ncpus && !err; cpu++) {
		if (vals[cpu].tick != tick)
			continue;
		sum->started += vals[cpu].started;
		sum->completed += vals[cpu].completed;
		sum->reset += vals[cpu].reset;
	}
	free(vals);
	return err;
}

/* A new owner of a service index starts with no cohorts of the previous one. */
int zdd_cohorts_clear(struct zdd *z, __u32 svc_index)
{
	__u32 i, first = ZDD_COHORT_KEY(svc_index, 0, 0);
	int err = 0;

	for (i = 0; i < ZDD_POOLS * ZDD_COHORTS && !err; i++)
		err = zdd_percpu_clear(z->fd[ZDD_MAP_COHORTS], first + i,
				       sizeof(struct zdd_cohort) / 8);
	return err;
}

int zdd_reasons_read(struct zdd *z, __u64 counts[ZDD_R_MAX])
{
	int r, err;

	for (r = 0; r < ZDD_R_MAX; r++) {
		err = zdd_percpu_sum(z->fd[ZDD_MAP_REASONS], r, &counts[r], 1);
		if (err)
			return err;
	}
	return 0;
}
