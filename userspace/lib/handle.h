/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/handle.h - the inside of struct zdd, for libzdd's own files only. */
#ifndef ZDD_HANDLE_H
#define ZDD_HANDLE_H

#include <limits.h>
#include "zdd.h"

struct zdd_lb;

struct zdd {
	int fd[ZDD_MAP_COUNT];
	__u16 *maglev; /* the zdd_maglev16 array, mmap'd: tables are written in place */
	size_t maglev_len;
	struct zdd_flow_set *flow_sets; /* zdd_flow_sets, mmap'd: walked and filled in place */
	size_t flow_sets_len;
	struct zdd_limits limits;
	int dir_fd; /* pin directory, flock'd by writers; -1 without pins */
	bool adopted;
	struct zdd_lb *skel; /* NULL when only the pinned maps were opened */
	__u64 ct_counted_ms, ct_embryos, ct_flows, ct_adopted; /* zdd_conntrack_count_recent */
};

/* The maglev row of one (service, pool, slot): limits.maglev_m entries. */
static inline __u16 *zdd_maglev_row(struct zdd *z, __u32 index, int pool, int slot)
{
	return z->maglev + (size_t)ZDD_MAGLEV_ROW(index, pool, slot) * z->limits.maglev_m;
}

/* Sets of zdd_flow_sets (the kernel's zdd_config.flow_sets). */
static inline __u32 zdd_flow_sets_n(const struct zdd *z)
{
	return z->limits.flows / ZDD_FLOWS_PER_SET;
}

/* backend.c, for apply.c: the steps of a backend change without the table swap. */
int zdd_backend_read(struct zdd *z, __u32 id, struct zdd_backend_val *val);
int zdd_backend_write(struct zdd *z, __u32 id, const struct zdd_backend_val *val);
int zdd_backend_alloc(struct zdd *z, __u32 *id);
int zdd_backend_free(struct zdd *z, __u32 id);
int zdd_next_hop(struct zdd *z, const __u8 addr[16], __u8 mac[6]);
int zdd_next_hop_for(const struct zdd_config *c, const __u8 addr[16], __u8 mac[6]);
/* counters.c, for service.c */
int zdd_cohorts_clear(struct zdd *z, __u32 svc_index);
/* service.c: affinity, client prefix and handshake timeout, in place (one update). */
int zdd_service_set_opts(struct zdd *z, const struct zdd_service_key *key,
			 const struct zdd_service_opts *o);

#endif /* ZDD_HANDLE_H */
