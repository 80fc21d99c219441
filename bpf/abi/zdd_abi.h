/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/abi/zdd_abi.h - keys, values, enums and limits shared by the BPF programs and userspace.
 * Every struct that crosses the kernel/user boundary lives here, with its size asserted. */
#ifndef ZDD_ABI_H
#define ZDD_ABI_H

#include <linux/bpf.h>
#include <linux/types.h>

#define ZDD_ABI_SIZE(t, n) _Static_assert(sizeof(t) == (n), #t " changed size")

enum zdd_pool { ZDD_BLUE, ZDD_GREEN, ZDD_POOLS };

/* Backend slots in zdd_backends. EMPTY is zero so a never-written slot reads as free. */
enum zdd_backend_state { ZDD_BE_EMPTY, ZDD_BE_UP, ZDD_BE_DRAIN, ZDD_BE_DOWN };

enum zdd_affinity { ZDD_AFF_CLIENT, ZDD_AFF_FLOW };

/* Default limits; every one is a load-time option (struct zdd_limits in libzdd). */
#define ZDD_DEF_SERVICES       64
#define ZDD_DEF_BACKENDS       4096
#define ZDD_DEF_MAGLEV_M       65537 /* prime, > 100 x backends per pool for <= 1% imbalance */
#define ZDD_DEF_FLOWS	       (1 << 20)
#define ZDD_DEF_ADOPTED	       (1 << 18) /* zdd_adopted: see zdd_flow_val below */
#define ZDD_DEF_EMBRYOS	       (1 << 16) /* ways, ZDD_EMBRYO_WAYS per set */
#define ZDD_MAX_WEIGHT_BP      10000	 /* green weight in basis points */
#define ZDD_MAX_BACKEND_WEIGHT 10000
#define ZDD_DEF_BACKEND_WEIGHT 100
#define ZDD_NO_BACKEND	       0xffffffffu /* maglev slot of an empty pool */
#define ZDD_DEF_GRACE_NS       (30ULL * 1000000000ULL)
#define ZDD_DEF_OUTER_TTL      64
#define ZDD_FLOW_CACHE_BITS    13 /* 8192 cached flows per CPU: bpf/lib/flow_cache.h */
#define ZDD_FLOW_CACHE_SLOTS   (1u << ZDD_FLOW_CACHE_BITS)
#define ZDD_SVC_CACHE_BITS     6 /* 64 cached services per CPU: bpf/lib/svc_cache.h */
#define ZDD_SVC_CACHE_SLOTS    (1u << ZDD_SVC_CACHE_BITS)
#define ZDD_DEF_HANDSHAKE_MS   3000  /* a SYN without its ACK by then is a failed flow */
#define ZDD_MAX_HANDSHAKE_MS   10000 /* cohorts must outlive it: see zdd_cohort below */

/*
 * Bumped whenever a pinned map's layout or meaning changes. Pinned maps of another version
 * are refused, never misread: a layout change that keeps the sizes would pass libbpf's reuse
 * check and corrupt state silently. (Maps whose layout changes also get a new name.)
 * 2: zdd_embryo_sets replaced the zdd_embryo LRU hash. 3: zdd_config.flow_epoch.
 * 4: zdd_cohorts, zdd_service_val.handshake_ms, client_resets counts flows, not packets.
 * 5: the ICMP reasons; zdd_reasons has ZDD_REASON_SLOTS entries.
 * 6: zdd_adopted takes UDP and adopted TCP flows from zdd_flows; zdd_flow_val.progress;
 *    zdd_service_stats.adopted and .promoted. Second chance: zdd_flow_val.has_second and
 *    second_backend, the tunnels' IPv4 option and IPv6 destination option (struct zdd_sc_opt,
 *    zdd_sc_dstopts), the decap's second_chance_*.
 * 7: zdd_flow_sets replaced the zdd_flows LRU hash; zdd_flow_val lost progress (zdd_adopted's
 *    zdd_adopted_val has it); zdd_config.flow_sets; the flow hash is zdd_hash.h's.
 * 8: zdd_config.flow_epoch became cache_epoch: writers of zdd_services bump it too (the data
 *    path keeps copies of services, bpf/lib/svc_cache.h); the split is scaled, not taken % 10000;
 *    zdd_maglev16 replaced zdd_maglev (16-bit ids, at most ZDD_MAX_BACKENDS backends);
 *    zdd_service_val.prev_same_rows.
 */
#define ZDD_ABI_VERSION 8

/* Pins live here unless -p says otherwise. */
#define ZDD_PIN_DIR "/sys/fs/bpf/zdd"

/* The slot of one entry of zdd_maglev: per service, per pool, two slots (active / inactive). */
#define ZDD_MAGLEV_ROW(svc_index, pool, slot) (((ZDD_POOLS * (svc_index) + (pool)) * 2) + (slot))

/*
 * zdd_maglev16 holds the rows as one flat array of 16-bit backend ids, four per map entry: the
 * kernel lays mmapable array entries out in 8-byte steps. Userspace sees plain __u16s through
 * mmap; id g lives in entry g / 4, quarter g % 4. Half the bytes of 32-bit ids: a SYN reads
 * the rows at random, and their cache misses were a large part of its cost
 * (tools/bench/README.md).
 */
struct zdd_maglev_ids {
	__u16 id[4];
};
ZDD_ABI_SIZE(struct zdd_maglev_ids, 8);
#define ZDD_MAGLEV_ENTRIES(services, m) ((ZDD_POOLS * 2 * (services) * (m) + 3) / 4)
#define ZDD_MAGLEV_EMPTY		0xffffu /* a row's id of an empty pool: ZDD_NO_BACKEND */
#define ZDD_MAX_BACKENDS		ZDD_MAGLEV_EMPTY /* ids 0 .. 65534 */

/* IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d): one key shape for both families. */
struct zdd_service_key {
	__u8 addr[16];
	__be16 port;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;   /* must be zero: it is hashed with the key */
};
ZDD_ABI_SIZE(struct zdd_service_key, 20);

/*
 * One zdd_services update carries a whole table change: userspace writes the inactive maglev
 * slot first, then replaces this value with active_slot flipped and generation bumped. The
 * previous generation (prev_weight, the other slot) stays readable for misses until
 * changed_ns + grace; prev_valid is cleared before that slot is overwritten again.
 */
struct zdd_service_val {
	__u32 index; /* row in zdd_maglev and zdd_sstats */
	__u32 generation;
	__u64 changed_ns;   /* CLOCK_MONOTONIC (bpf_ktime_get_ns) of the last swap */
	__u16 green_weight; /* basis points, 0..10000 */
	__u16 prev_green_weight;
	__u8 active_slot;    /* 0 or 1 */
	__u8 prev_valid;     /* the inactive slot still holds the previous generation */
	__u8 affinity;	     /* enum zdd_affinity */
	__u8 client_prefix4; /* client address bits hashed for the pool split, IPv4 */
	__u8 client_prefix6; /* same, IPv6 */
	/* Bit 1 << pool: the pool's rows in both slots were equal at the swap (a change of
	 * weights only), so the previous generation sends a flow of the same weighted pool to the
	 * same backend (bpf/lib/conntrack.h, zdd_ct_prev_same). */
	__u8 prev_same_rows;
	__u16 handshake_ms; /* a handshake's ACK later than this is not counted complete; 0: 3 s */
	__u8 pad2[4];
};
ZDD_ABI_SIZE(struct zdd_service_val, 32);

struct zdd_backend_val {
	__u8 addr[16]; /* same family as the service */
	__u8 mac[6];   /* next hop towards the backend */
	__u8 pool;     /* enum zdd_pool */
	__u8 state;    /* enum zdd_backend_state */
	__u32 service; /* index of the owning service */
	__u16 weight;  /* relative share inside the pool's maglev table */
	__u8 pad[6];
};
ZDD_ABI_SIZE(struct zdd_backend_val, 36);

/* Global settings, zdd_config[0]. Written by attach; read per forwarded packet. */
struct zdd_config {
	__u64 grace_ns; /* previous-generation fallback window for conntrack misses */
	__u8 src6[16];	/* outer source for IPv6-in-IPv6 */
	__u8 src4[4];	/* outer source for IPv4-in-IPv4 */
	__u32 maglev_m; /* entries per maglev row (prime) */
	__u32 mtu;	/* egress MTU; 0 means do not check */
	__u32 ifindex;	/* where the LB is attached: userspace resolves next hops there */
	__u8 gw_mac[6]; /* the operator's next hop for every backend; zero: resolve each */
	__u8 outer_ttl;
	__u8 pad;
	__u32 abi_version; /* ZDD_ABI_VERSION of whoever created the maps */
	__u32 embryo_sets; /* entries of zdd_embryo_sets */
	/* Bumped after userspace deletes flows or writes zdd_services: every CPU's cached copies
	 * of flows and services stop serving (bpf/lib/flow_cache.h, bpf/lib/svc_cache.h). */
	__u32 cache_epoch;
	/* SYNs a CPU records per ZDD_SYN_WINDOW_NS before it samples them (bpf/lib/conntrack.h,
	 * "SYN sampling"); 0: ZDD_DEF_SYN_BUDGET. */
	__u32 syn_budget;
	__u32 flow_sets; /* entries of zdd_flow_sets */
	__u32 pad2;
};
ZDD_ABI_SIZE(struct zdd_config, 72);
#define ZDD_SYN_WINDOW_SHIFT 24	  /* 2^24 ns: windows of 16.8 ms */
#define ZDD_DEF_SYN_BUDGET   2048 /* 122k recorded SYNs a second per CPU */
#define ZDD_SYN_MAX_SHIFT    16	  /* a flood records 1 SYN in 2^16 at the least */
#define ZDD_EMBRYO_UNCOUNTED 0xff /* zdd_embryo_val.weight_shift: pinned, in no cohort */

/*
 * A flow's 5-tuple. It starts with the service key (destination address, port, protocol), so
 * the parser fills one struct and the service lookup uses its first 20 bytes as they are.
 */
struct zdd_flow_key {
	struct zdd_service_key svc;
	__u8 saddr[16];
	__be16 sport;
	__u8 pad[2];
};
ZDD_ABI_SIZE(struct zdd_flow_key, 40);

/* zdd_vips: every service address, so fragments (no ports) to a service can be recognised. */
struct zdd_vip_key {
	__u8 addr[16];
};
ZDD_ABI_SIZE(struct zdd_vip_key, 16);

/*
 * Two tables of this value, keyed by struct zdd_flow_key, split by what it takes to create an
 * entry, so that what a flood can create cannot evict what completed handshakes own:
 * - zdd_flow_sets (ZDD_DEF_FLOWS, below): TCP flows whose handshake zdd saw complete (embryo,
 *   then the client's first ACK), and adopted TCP flows that proved themselves (below). A
 *   spoofed packet cannot create an entry here: that takes the SYN-ACK's sequence number,
 *   which only the real client sees, or two packets of one tuple a second apart.
 * - zdd_adopted (ZDD_DEF_ADOPTED), an LRU hash of zdd_adopted_val: what one packet creates. TCP
 *   flows first seen in mid-stream (an LB restart, a flow moved here from another node, an
 *   embryo forgotten: the miss path) and every UDP flow. An ACK or UDP flood from spoofed
 *   sources churns this map only.
 * TCP lookups try zdd_flow_sets, then zdd_adopted; UDP goes to zdd_adopted alone. An adopted
 * TCP flow is promoted to zdd_flow_sets by a packet at least a second after its adoption (the
 * once-a-second last_seen refresh) whose progress (below) is past the adopting packet's: a
 * live connection passes within a second or two, sending (its sequence number moves) or
 * receiving (its acknowledgement number moves); a flood of one packet per spoofed tuple, or
 * replays of one packet, never do. UDP has
 * no handshake to tell a client from a spoofer by, so UDP flows stay in zdd_adopted, and a
 * UDP flood larger than it can move them (zdd_service_stats.adopted shows it). One map for
 * both kinds, not two: an adopted TCP flow stays there for a second only, and a second map
 * would add a size to choose and, for UDP, a lookup per packet.
 */
struct zdd_flow_val {
	__u32 backend;
	__u32 generation;   /* service generation that chose the backend */
	__u64 last_seen_ns; /* refreshed at most once a second: it is written per packet */
	__u8 pool;
	__u8 closing; /* ZDD_CLOSING_*: the client sent FIN or RST, a new SYN may reuse the tuple */
	/* Set when a miss chose backend while the other table generation chose second_backend:
	 * every packet carries it to the backend as its second chance (struct zdd_sc_opt). */
	__u8 has_second;
	__u8 pad;
	__u32 second_backend;
};
ZDD_ABI_SIZE(struct zdd_flow_val, 24);

struct zdd_adopted_val {
	struct zdd_flow_val f;
	/* TCP: seq + ack_seq (host order) of the packet that adopted the flow; both only grow in
	 * a live connection, so their sum does. */
	__u32 progress;
	__u32 pad;
};
ZDD_ABI_SIZE(struct zdd_adopted_val, 32);

/* A way of zdd_flow_sets; a protocol of 0 (no packet has it) marks it free. */
struct zdd_flow {
	struct zdd_flow_key key;
	struct zdd_flow_val val;
};
ZDD_ABI_SIZE(struct zdd_flow, 64);

/*
 * zdd_flow_sets: established flows in a set-associative table, not an LRU hash. A lookup in a
 * hash map is two dependent cold reads (the bucket, then the element) once the flows outgrow
 * the CPU's caches; here it reads one set of ZDD_FLOW_WAYS ways, a cache line each, or two
 * (zdd_hash.h says where a flow may be and which way a new one takes: the set with more free
 * ways of its two, and only when both are full the way of a closing flow or of the one seen
 * least recently). ZDD_FLOW_WAYS_PER_FLOW ways per flow of the limit: at two thirds of it no
 * flow was evicted (tests/unit/test_flow_table.c, and zdd-bench's million flows). Writers take
 * no lock (bpf/lib/conntrack.h, zdd_flow_put).
 */
#define ZDD_FLOW_WAYS	       4
#define ZDD_FLOW_WAYS_PER_FLOW 2
#define ZDD_FLOWS_PER_SET      (ZDD_FLOW_WAYS / ZDD_FLOW_WAYS_PER_FLOW) /* of the limit */
struct zdd_flow_set {
	struct zdd_flow way[ZDD_FLOW_WAYS];
};
ZDD_ABI_SIZE(struct zdd_flow_set, 64 * ZDD_FLOW_WAYS);

#define ZDD_CLOSING_FIN 1
#define ZDD_CLOSING_RST 2

/* A TCP flow between the first SYN and the first ACK. */
struct zdd_embryo_val {
	__u32 backend;
	__u32 generation;
	__u64 first_seen_ns;
	__u32 syns; /* SYNs seen, the first included; 0 marks a free way */
	__u8 pool;
	/* The flow stands for 2^weight_shift flows in the outcome counts (SYN sampling), or
	 * ZDD_EMBRYO_UNCOUNTED: recorded only to pin it, counted in no cohort. */
	__u8 weight_shift;
	__u8 pad[2];
};
ZDD_ABI_SIZE(struct zdd_embryo_val, 24);

struct zdd_embryo {
	struct zdd_flow_key key;
	struct zdd_embryo_val val;
};
ZDD_ABI_SIZE(struct zdd_embryo, 64);

/*
 * zdd_embryo_sets: a set-associative cache of embryonic flows, indexed by the flow hash. A SYN
 * takes the way holding its flow, else a free way, else the older one. One lock per set: the
 * kernel and `conntrack flush` read and write whole ways under it.
 */
#define ZDD_EMBRYO_WAYS 2
struct zdd_embryo_set {
	struct bpf_spin_lock lock;
	__u32 pad;
	struct zdd_embryo way[ZDD_EMBRYO_WAYS];
};
ZDD_ABI_SIZE(struct zdd_embryo_set, 8 + 64 * ZDD_EMBRYO_WAYS);

/* zdd_bstats: per-CPU, indexed by backend id. Client-to-server direction only (DSR). */
struct zdd_backend_stats {
	__u64 packets;
	__u64 bytes;
	__u64 flows_new;	 /* TCP: first SYNs; UDP: first packets */
	__u64 flows_established; /* handshakes completed (the client's first ACK), however late */
	__u64 syn_retransmits;
	__u64 client_resets; /* established flows the client reset (once per flow) */
};
ZDD_ABI_SIZE(struct zdd_backend_stats, 48);

/*
 * zdd_cohorts: handshake outcomes per flow, for the rollback judgement. A TCP flow belongs to
 * the cohort of its first SYN's time (ZDD_COHORT_NS wide) and its pool; its SYN counts in
 * started, and later, in the same cohort, its ACK in completed (when within the service's
 * handshake_ms) or a client RST before that ACK in reset. Once a cohort is older than the
 * handshake timeout, started - completed is the number of its flows that failed: successes
 * and failures of the same flows, so no window alignment is needed. Per-CPU, indexed by
 * ZDD_COHORT_KEY; an entry is reused every ZDD_COHORTS cohorts, and tick says which cohort
 * it holds (each CPU starts an entry afresh when the cohort moved on).
 */
#define ZDD_COHORT_SHIFT 28 /* 2^28 ns: cohorts of 268 ms */
#define ZDD_COHORT_NS	 (1ULL << ZDD_COHORT_SHIFT)
#define ZDD_COHORTS	 64 /* 17 s of history: > ZDD_MAX_HANDSHAKE_MS + the reader's delay */
#define ZDD_COHORT_KEY(svc_index, pool, tick) \
	(((svc_index)*ZDD_POOLS + (pool)) * ZDD_COHORTS + ((tick) & (ZDD_COHORTS - 1)))
struct zdd_cohort {
	__u32 tick; /* cohort number: first SYN's CLOCK_MONOTONIC ns >> ZDD_COHORT_SHIFT */
	__u32 started;
	__u32 completed;
	__u32 reset;
};
ZDD_ABI_SIZE(struct zdd_cohort, 16);

/* zdd_sstats: per-CPU, indexed by service index. */
struct zdd_service_stats {
	__u64 conntrack_misses; /* non-SYN packets of flows in neither conntrack table */
	__u64 fallback_prev;	/* misses routed by the previous generation's table */
	/* Entries written into zdd_adopted (misses and new UDP flows): its evictions cannot be
	 * read, its inserts can. Under a flood, this grows at the flood's rate. */
	__u64 adopted;
	__u64 promoted; /* adopted TCP flows moved to zdd_flow_sets, proven live */
};
ZDD_ABI_SIZE(struct zdd_service_stats, 32);

/*
 * Every packet the LB program sees ends in exactly one reason, counted per CPU in zdd_reasons,
 * so the counters add up to the packets seen. X(enum suffix, name, XDP verdict). The ICMP
 * rules (bpf/lib/icmp.h): a packet too big once encapsulated is answered with "fragmentation
 * needed" / "packet too big" (IPv4 only when DF is set), at most ZDD_ICMP_RATE a second per
 * CPU; an ICMP error to a service address about one of its flows goes to that flow's backend;
 * an echo request to a service address is answered here. Other ICMP is the kernel's.
 */
#define ZDD_REASONS(X)                                                                          \
	X(TX_FLOW, "tx_flow", XDP_TX)		  /* forwarded, flow in conntrack */            \
	X(TX_NEW, "tx_new", XDP_TX)		  /* forwarded, new flow recorded */            \
	X(TX_MISS, "tx_conntrack_miss", XDP_TX)	  /* forwarded, non-SYN without an entry */     \
	X(TX_ICMP_ERROR, "tx_icmp_error", XDP_TX) /* ICMP error about a flow, to its backend */ \
	X(TX_ICMP_TOO_BIG, "tx_icmp_too_big", XDP_TX) /* answered: fragmentation needed */      \
	X(TX_ICMP_ECHO, "tx_icmp_echo", XDP_TX)	      /* echo request to a service, answered */ \
	X(NOT_IP, "pass_not_ip", XDP_PASS)	      /* ARP, LLDP, ... */                      \
	X(NOT_L4, "pass_not_tcp_udp", XDP_PASS) /* other protocols, ICMP not for a service */   \
	X(NO_SERVICE, "pass_no_service", XDP_PASS)                                              \
	X(IPV6_EXT, "pass_ipv6_ext_header", XDP_PASS)                                           \
	X(FRAGMENT, "drop_fragment", XDP_DROP)	 /* fragment addressed to a service */          \
	X(MALFORMED, "drop_malformed", XDP_DROP) /* truncated or inconsistent headers */        \
	X(NO_BACKEND, "drop_no_backend", XDP_DROP)                                              \
	X(TOO_BIG, "drop_too_big", XDP_DROP)	/* too big once encapsulated, not answered */   \
	X(ENCAP, "drop_encap_failed", XDP_DROP) /* no headroom, or no source address */

#define ZDD_REASON_ENUM(e, name, verdict) ZDD_R_##e,
enum zdd_reason { ZDD_REASONS(ZDD_REASON_ENUM) ZDD_R_MAX };
#undef ZDD_REASON_ENUM
/* zdd_reasons' entries: reasons added at the end later fit without a new ABI. */
#define ZDD_REASON_SLOTS 32
_Static_assert(ZDD_R_MAX <= ZDD_REASON_SLOTS, "zdd_reasons needs more slots");

/*
 * ICMP errors zdd sends (too big once encapsulated) are limited per CPU by a token bucket:
 * ZDD_ICMP_RATE a second, ZDD_ICMP_BURST at once. A client learns its path MTU from one of
 * them and keeps it for 10 minutes; the limit keeps a flood of big packets from spoofed
 * sources from turning zdd into an ICMP source (the replies are smaller than what they answer).
 */
#define ZDD_ICMP_RATE  100
#define ZDD_ICMP_BURST 50

/*
 * Every packet the backend-side decapsulation program sees ends in exactly one of these,
 * counted per CPU in zdd_decap_stats. X(enum suffix, name, XDP verdict). (The map was
 * zdd_dstats, of four entries, before drop_foreign_source.)
 */
#define ZDD_DECAP_COUNTERS(X)                                                                      \
	X(DECAP4, "decap_ipip", XDP_PASS)		  /* IPv4-in-IPv4 stripped */              \
	X(DECAP6, "decap_ip6ip6", XDP_PASS)		  /* IPv6-in-IPv6 stripped */              \
	X(PASS, "pass_not_tunnel", XDP_PASS)		  /* not a tunnel to us: untouched */      \
	X(MALFORMED, "pass_malformed", XDP_PASS)	  /* a tunnel, inconsistent: untouched */  \
	X(FOREIGN, "drop_foreign_source", XDP_DROP)	  /* a tunnel from no balancer we know */  \
	X(SC_LOCAL, "second_chance_local", XDP_PASS)	  /* a socket here owns it: stripped */    \
	X(SC_COOKIE, "second_chance_syncookie", XDP_PASS) /* a valid SYN cookie ACK */             \
	X(SC_FORWARD, "second_chance_forwarded", XDP_TX)  /* no socket: to the other backend */    \
	X(SC_VIA_HOP, "second_chance_via_hop", XDP_TX)	  /* the same, by the hop it came from */  \
	X(SC_SPENT, "second_chance_spent", XDP_PASS)	  /* no socket, forwarded already: kept */ \
	X(SC_BAD, "second_chance_malformed", XDP_PASS)	  /* inner packet unparsable: untouched */

#define ZDD_DECAP_ENUM(e, name, verdict) ZDD_D_##e,
enum zdd_decap_counter { ZDD_DECAP_COUNTERS(ZDD_DECAP_ENUM) ZDD_D_MAX };
#undef ZDD_DECAP_ENUM
/* zdd_decap_stats' entries: counters added at the end later fit without a new map. */
#define ZDD_DECAP_SLOTS 16
_Static_assert(ZDD_D_MAX <= ZDD_DECAP_SLOTS, "zdd_decap_stats needs more slots");

/*
 * Second chance (as GLB does): a non-SYN TCP packet without a conntrack entry, routed while the
 * two table generations disagree about its flow, goes to one backend and carries the other in
 * this IPv4 option of the outer header (IHL 7). zdd_decap, finding no socket for it, rewrites
 * the outer destination to addr, sets hops and sends it on; the outer source (the balancer's)
 * stays, so the other backend's --from check holds. A packet with hops set is never forwarded
 * again. Type 0x9e: copied, class 0, number 30, the experimental value of RFC 4727.
 */
#define ZDD_SC_OPT_TYPE 0x9e
struct zdd_sc_opt {
	__u8 type; /* ZDD_SC_OPT_TYPE */
	__u8 len;  /* sizeof(struct zdd_sc_opt) */
	__u8 hops; /* 0 from the balancer, 1 once a backend forwarded it */
	__u8 pad;  /* zero (an option's bytes are covered by the header checksum) */
	__u8 addr[4];
};
ZDD_ABI_SIZE(struct zdd_sc_opt, 8);

/*
 * IPv6: the same in a destination options header between the outer and the inner IPv6 header
 * (the outer next header 60): option type 0x1e, RFC 4727's experimental value, whose top bits
 * (00) tell a node that does not know it to skip it; then PadN to the 8-byte boundary.
 */
#define ZDD_SC_OPT6_TYPE 0x1e
struct zdd_sc_dstopts {
	__u8 nexthdr; /* IPPROTO_IPV6 */
	__u8 hdrlen;  /* 8-byte units after the first: 2 */
	__u8 type;    /* ZDD_SC_OPT6_TYPE */
	__u8 len;     /* 18: hops, pad, addr */
	__u8 hops;    /* as in struct zdd_sc_opt */
	__u8 pad;
	__u8 addr[16];
	__u8 padn[2]; /* PadN: 1, 0 */
};
ZDD_ABI_SIZE(struct zdd_sc_dstopts, 24);

/*
 * zdd_decap_from: the sources a backend accepts tunnels from (the balancers' addresses), an
 * LPM trie of these keys (IPv4 as ::ffff:a.b.c.d, its prefix length + 96) inside the one slot
 * of an array of maps, so `decap attach` replaces the whole set in one update. Prefix length
 * 0 accepts every source.
 */
struct zdd_prefix_key {
	__u32 prefixlen;
	__u8 addr[16];
};
ZDD_ABI_SIZE(struct zdd_prefix_key, 20);
#define ZDD_DECAP_MAX_FROM 64

/*
 * Health checks through the tunnel (bpf/zdd_hcheck.bpf.c, on the LB's egress): the agent
 * registers each probe connection in zdd_hc_probes, keyed like a client's flow (struct
 * zdd_flow_key: svc = the service address and check port the probe connects to, saddr and sport
 * = the probe socket's), with the id of the backend it checks in zdd_backends; the program
 * sends the probe's packets to that backend as the balancer sends clients' packets.
 * X(enum suffix, name, TC verdict).
 */
#define ZDD_HC_MAX_PROBES 4096
#define ZDD_HCHECK_COUNTERS(X)                                                                    \
	X(TUNNEL4, "tunnel_ipip", TC_ACT_OK)	      /* a probe packet encapsulated, IPv4 */     \
	X(TUNNEL6, "tunnel_ip6ip6", TC_ACT_OK)	      /* a probe packet encapsulated, IPv6 */     \
	X(PASS, "pass_not_probe", TC_ACT_OK)	      /* anything else the host sends */          \
	X(NO_BACKEND, "drop_no_backend", TC_ACT_SHOT) /* the probe's backend slot is empty */     \
	X(TOO_BIG, "drop_too_big", TC_ACT_SHOT)	      /* larger than the MTU once encapsulated */ \
	X(ENCAP, "drop_encap_failed", TC_ACT_SHOT)    /* no room, or no source address */

#define ZDD_HCHECK_ENUM(e, name, verdict) ZDD_HC_##e,
enum zdd_hcheck_counter { ZDD_HCHECK_COUNTERS(ZDD_HCHECK_ENUM) ZDD_HC_MAX };
#undef ZDD_HCHECK_ENUM
#define ZDD_HCHECK_SLOTS 16
_Static_assert(ZDD_HC_MAX <= ZDD_HCHECK_SLOTS, "zdd_hc_stats needs more slots");

#endif /* ZDD_ABI_H */
