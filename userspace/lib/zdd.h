/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/zdd.h - libzdd: the LB's maps as typed operations. Used by zdd-bpfctl, the
 * agent and the tests; nothing here is written twice. Functions return 0 or -errno. */
#ifndef ZDD_H
#define ZDD_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "zdd_abi.h"

struct zdd;

enum zdd_map {
	ZDD_MAP_SERVICES,
	ZDD_MAP_VIPS,
	ZDD_MAP_BACKENDS,
	ZDD_MAP_MAGLEV,
	ZDD_MAP_EMBRYO,
	ZDD_MAP_FLOWS,
	ZDD_MAP_ADOPTED,
	ZDD_MAP_BSTATS,
	ZDD_MAP_SSTATS,
	ZDD_MAP_REASONS,
	ZDD_MAP_CONFIG,
	ZDD_MAP_COHORTS,
	ZDD_MAP_COUNT
};

/* Map sizes; a zero field takes the default, or the size of the map already pinned. */
struct zdd_limits {
	__u32 services;
	__u32 backends;
	__u32 maglev_m;
	__u32 flows;
	__u32 embryos;
	__u32 adopted; /* zdd_adopted: UDP and adopted TCP flows (zdd_abi.h, zdd_flow_val) */
};

struct zdd_load_opts {
	const char *pin_dir; /* NULL: private maps, nothing pinned (tests) */
	struct zdd_limits limits;
	__u64 grace_ns; /* 0: ZDD_DEF_GRACE_NS */
	/* No BPF filesystem under a pin_dir in /sys/fs/bpf: mount one (root, CAP_SYS_ADMIN) and
	 * say so, rather than fail. For the commands that set zdd up: attach, the agent. */
	bool mount_bpffs;
};

/* handle.c: load the program (adopting pinned maps; the pin directory and its parents are
 * created), or open the pinned maps alone (-ENOENT, with a hint to attach, when none are). */
int zdd_open_load(struct zdd **out, const struct zdd_load_opts *o);
int zdd_open_pinned(struct zdd **out, const char *pin_dir);
void zdd_close(struct zdd *z);
int zdd_lb_prog_fd(const struct zdd *z);
int zdd_map_fd(const struct zdd *z, enum zdd_map map);
const char *zdd_map_name(enum zdd_map map);
const struct zdd_limits *zdd_get_limits(const struct zdd *z);
bool zdd_adopted(const struct zdd *z); /* the maps were pinned before this open */
/* Writers serialise read-modify-write on the pin directory (flock); no-op without pins. Waits
 * at most ZDD_LOCK_TIMEOUT_MS, then -ETIMEDOUT. */
#define ZDD_LOCK_TIMEOUT_MS 2000
#define ZDD_LOCK_POLL_MS    5
int zdd_lock(struct zdd *z);
void zdd_unlock(struct zdd *z);

int zdd_config_get(struct zdd *z, struct zdd_config *c);
int zdd_config_set(struct zdd *z, const struct zdd_config *c);
/* Every CPU's cached copies of flows and services stop serving (zdd_config.cache_epoch): after
 * flows are deleted or a service is written. */
int zdd_caches_stale(struct zdd *z);

/* service.c */
struct zdd_service_opts {
	__u8 affinity;	     /* enum zdd_affinity */
	__u8 client_prefix4; /* 0: 32 */
	__u8 client_prefix6; /* 0: 64 */
	__u16 handshake_ms;  /* 0: ZDD_DEF_HANDSHAKE_MS; at most ZDD_MAX_HANDSHAKE_MS */
};
struct zdd_service {
	struct zdd_service_key key;
	struct zdd_service_val val;
};
int zdd_service_add(struct zdd *z, const struct zdd_service_key *key,
		    const struct zdd_service_opts *o);
int zdd_service_del(struct zdd *z, const struct zdd_service_key *key);
int zdd_service_get(struct zdd *z, const struct zdd_service_key *key, struct zdd_service_val *val);
/* Writes a service's value as given (flags: BPF_NOEXIST, BPF_EXIST) and makes the data path's
 * copies stale: the one way to write zdd_services (bpf/lib/svc_cache.h). */
int zdd_service_put(struct zdd *z, const struct zdd_service_key *key,
		    const struct zdd_service_val *val, __u64 flags);
/* All services sorted by key; *out is malloc'd. */
int zdd_service_list(struct zdd *z, struct zdd_service **out, size_t *n);

/* backend.c */
struct zdd_backend {
	__u32 id;
	struct zdd_backend_val val;
};
/* mac NULL: the next hop is resolved (zdd_config's gateway, or the neighbour table). */
int zdd_backend_add(struct zdd *z, const struct zdd_service_key *svc, const __u8 addr[16],
		    enum zdd_pool pool, __u16 weight, const __u8 mac[6], __u32 *id);

int zdd_backend_del(struct zdd *z, const struct zdd_service_key *svc, const __u8 addr[16]);
/* state < 0 or weight < 0: leave as is. */
int zdd_backend_set(struct zdd *z, const struct zdd_service_key *svc, const __u8 addr[16],
		    int state, int weight);
int zdd_backend_set_mac(struct zdd *z, __u32 id, const __u8 mac[6]);
int zdd_backend_find(struct zdd *z, const struct zdd_service_key *svc, const __u8 addr[16],
		     struct zdd_backend *out);
/* The service's backends sorted by pool, then address; *out is malloc'd. */
int zdd_backend_list(struct zdd *z, __u32 service_index, struct zdd_backend **out, size_t *n);

/* swap.c: rebuild the service's tables into the inactive slot and flip to it, with the new
 * green weight (basis points; < 0 keeps the current one). */
int zdd_service_commit(struct zdd *z, const struct zdd_service_key *key, int green_bp);

/* counters.c: per-CPU values summed. */
int zdd_backend_stats_read(struct zdd *z, __u32 id, struct zdd_backend_stats *sum);
int zdd_service_stats_read(struct zdd *z, __u32 index, struct zdd_service_stats *sum);
int zdd_reasons_read(struct zdd *z, __u64 counts[ZDD_R_MAX]);
/* The handshake cohort `tick` of a service's pool, summed over the CPUs that hold it (those
 * whose entry moved on to a newer cohort, or never had it, add nothing). */
int zdd_cohort_read(struct zdd *z, __u32 svc_index, int pool, __u32 tick, struct zdd_cohort *sum);
int zdd_percpu_zero(struct zdd *z, enum zdd_map map, __u32 key);
const char *zdd_reason_name(enum zdd_reason r);

/* conntrack.c */
enum zdd_ct_table { ZDD_CT_EMBRYO, ZDD_CT_FLOWS, ZDD_CT_ADOPTED };
struct zdd_ct_entry {
	enum zdd_ct_table table;
	struct zdd_flow_key key;
	__u32 backend;
	__u32 generation;
	__u64 ns;   /* embryo: first SYN; flows: last seen (CLOCK_MONOTONIC) */
	__u32 syns; /* embryo only */
	__u8 pool;
};
/* Calls cb for every entry; cb returns < 0 to stop (that value is returned), 1 to delete the
 * entry, 0 to keep it. */
typedef int (*zdd_ct_cb)(const struct zdd_ct_entry *e, void *ctx);
int zdd_conntrack_walk(struct zdd *z, zdd_ct_cb cb, void *ctx);
/* Records an established flow where the kernel finds it (tests, the bench): it may evict
 * another, as a handshake's ACK in the kernel may. */
int zdd_flow_put(struct zdd *z, const struct zdd_flow_key *key, const struct zdd_flow_val *val);
/* zdd_flow_sets as mapped, *n sets: for tests that change flows behind the data path. */
struct zdd_flow_set *zdd_flow_sets_mapped(struct zdd *z, __u32 *n);
/* Entries of zdd_embryo_sets, zdd_flow_sets and zdd_adopted; adopted may be NULL (not
 * counted). */
int zdd_conntrack_count(struct zdd *z, __u64 *embryos, __u64 *flows, __u64 *adopted);
/* The same, walked again only when the last walk through this call is older than max_age_ms.
 * For one thread of a process (the agent's /metrics). */
int zdd_conntrack_count_recent(struct zdd *z, __u32 max_age_ms, __u64 *embryos, __u64 *flows,
			       __u64 *adopted);
/* "embryonic", "established" or "adopted": the tables' names in the CLI and /metrics. */
const char *zdd_ct_table_name(enum zdd_ct_table t);

#endif /* ZDD_H */
