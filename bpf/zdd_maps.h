/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/zdd_maps.h - every map of the LB program. Sizes here are defaults: libzdd sets the real
 * ones before load (struct zdd_limits), and pins the maps so state outlives the program. */
#ifndef ZDD_MAPS_H
#define ZDD_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "zdd_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZDD_DEF_SERVICES);
	__type(key, struct zdd_service_key);
	__type(value, struct zdd_service_val);
} zdd_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZDD_DEF_SERVICES);
	__type(key, struct zdd_vip_key);
	__type(value, __u32); /* services on this address */
} zdd_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZDD_DEF_BACKENDS);
	__type(key, __u32);
	__type(value, struct zdd_backend_val);
} zdd_backends SEC(".maps");

/* Written by userspace through mmap: a whole inactive slot is filled before the flip. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZDD_MAGLEV_ENTRIES(ZDD_DEF_SERVICES, ZDD_DEF_MAGLEV_M));
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct zdd_maglev_ids);
} zdd_maglev16 SEC(".maps");

/* Not an LRU hash: see conntrack.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZDD_DEF_EMBRYOS / ZDD_EMBRYO_WAYS);
	__type(key, __u32);
	__type(value, struct zdd_embryo_set);
} zdd_embryo_sets SEC(".maps");

/* Not an LRU hash: see zdd_abi.h. Mmapable for the alignment (a set's ways are whole cache
 * lines) and for userspace, which walks and fills it through the mapping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZDD_DEF_FLOWS / ZDD_FLOWS_PER_SET);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct zdd_flow_set);
} zdd_flow_sets SEC(".maps");

/* What one packet can create: adopted TCP flows and UDP flows (zdd_abi.h, zdd_flow_val). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ZDD_DEF_ADOPTED);
	__type(key, struct zdd_flow_key);
	__type(value, struct zdd_adopted_val);
} zdd_adopted SEC(".maps");

/* One CPU's copy of one established flow (bpf/lib/flow_cache.h); only the kernel reads it. */
struct zdd_flow_cache_slot {
	struct zdd_flow_key key;
	__u32 backend;
	__u32 service;
	__u32 epoch; /* zdd_config.cache_epoch when the flow was read from conntrack */
	__u32 stamp; /* jiffies then (low 32 bits) */
	__u64 pad;   /* 64 bytes: with page-aligned values, a slot is one cache line */
};

/* ZDD_FLOW_CACHE_SLOTS per CPU, CPU after CPU; libzdd sizes it for the possible CPUs. Not
 * pinned: a new program instance starts with an empty cache. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZDD_FLOW_CACHE_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct zdd_flow_cache_slot);
} zdd_flow_cache SEC(".maps");

/* One CPU's copy of one service (bpf/lib/svc_cache.h); only the kernel reads it. */
struct zdd_svc_cache_slot {
	struct zdd_service_key key;
	__u32 epoch; /* zdd_config.cache_epoch when the service was read from zdd_services */
	__u32 stamp; /* jiffies then (low 32 bits) */
	__u32 pad;
	struct zdd_service_val val; /* 64 bytes in all: one cache line */
};

/* ZDD_SVC_CACHE_SLOTS per CPU, CPU after CPU, sized and never pinned as zdd_flow_cache. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZDD_SVC_CACHE_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct zdd_svc_cache_slot);
} zdd_svc_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZDD_DEF_BACKENDS);
	__type(key, __u32);
	__type(value, struct zdd_backend_stats);
} zdd_bstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZDD_DEF_SERVICES);
	__type(key, __u32);
	__type(value, struct zdd_service_stats);
} zdd_sstats SEC(".maps");

/* ZDD_COHORTS per service and pool: handshake outcomes (zdd_abi.h, lib/stats.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZDD_DEF_SERVICES *ZDD_POOLS *ZDD_COHORTS);
	__type(key, __u32);
	__type(value, struct zdd_cohort);
} zdd_cohorts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZDD_REASON_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} zdd_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zdd_config);
} zdd_config SEC(".maps");

/* One CPU's token bucket for the ICMP errors zdd sends (bpf/lib/icmp.h); only the kernel
 * reads it. Not pinned: a new program instance starts with a full bucket. */
struct zdd_icmp_bucket {
	__u64 stamp_ns;	 /* coarse clock at the last reply or refusal */
	__u64 credit_ns; /* time earned, ZDD_ICMP_BURST replies' worth at most */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zdd_icmp_bucket);
} zdd_icmp_bucket SEC(".maps");

/* One CPU's copy of the coarse clock (bpf/lib/clock.h); only the kernel reads it. */
struct zdd_cpu_clock {
	__u64 jiffies; /* bpf_jiffies64() when ns was read */
	__u64 ns;      /* bpf_ktime_get_coarse_ns() then */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zdd_cpu_clock);
} zdd_cpu_clock SEC(".maps");

/* One CPU's SYN sampling state (bpf/lib/conntrack.h); only the kernel reads it. Not pinned:
 * a new program instance starts recording every SYN. */
struct zdd_syn_gate {
	__u64 window;	/* coarse clock >> ZDD_SYN_WINDOW_SHIFT */
	__u32 recorded; /* SYNs recorded in this window at this shift */
	__u32 shift;	/* 1 SYN in 2^shift is recorded */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zdd_syn_gate);
} zdd_syn_gate SEC(".maps");

#endif /* ZDD_MAPS_H */
