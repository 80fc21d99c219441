// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf/zdd_decap.bpf.c - backend side: strip an IPv4-in-IPv4 or IPv6-in-IPv6 header addressed
 * to this host from a balancer it knows, and pass the client's packet to the stack, where the
 * service address is on lo. This kernel has no ipip module; this program is the tunnel endpoint. */
#include "sc_forward.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct zdd_vip_key);
	__type(value, __u8);
} zdd_decap_dst SEC(".maps");

/* The inner map's shape; userspace makes each new set with the same (libzdd decap.c). */
struct zdd_decap_src_set {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ZDD_DECAP_MAX_FROM);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* the kernel refuses an LPM trie without it */
	/* Sizes, not types: BTF would carry the key struct only as a declaration here. */
	__uint(key_size, sizeof(struct zdd_prefix_key));
	__uint(value_size, sizeof(__u8));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct zdd_decap_src_set);
} zdd_decap_from SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZDD_DECAP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} zdd_decap_stats SEC(".maps");

/* Counts the packet's fate and returns the verdict the ABI header pairs with it. */
static __always_inline int zdd_decap_verdict(enum zdd_decap_counter which)
{
	__u32 key = which;
	__u64 *count = bpf_map_lookup_elem(&zdd_decap_stats, &key);

	if (count)
		*count += 1;
	switch (which) {
#define ZDD_DECAP_VERDICT(e, name, verdict) \
	case ZDD_D_##e:                     \
		return verdict;
		ZDD_DECAP_COUNTERS(ZDD_DECAP_VERDICT)
#undef ZDD_DECAP_VERDICT
	default:
		return XDP_ABORTED;
	}
}

/*
 * Whether the outer source is one of the balancers'. No set (never configured) accepts
 * nothing: a tunnel endpoint that trusts the world is something the operator asks for.
 */
static __always_inline int zdd_known_source(const struct zdd_pkt *pkt)
{
	struct zdd_prefix_key key = { .prefixlen = 128 };
	__u32 zero = 0;
	void *set = bpf_map_lookup_elem(&zdd_decap_from, &zero);

	if (!set)
		return 0;
	__builtin_memcpy(key.addr, pkt->flow.saddr, sizeof(key.addr));
	return bpf_map_lookup_elem(set, &key) != NULL;
}

/*
 * Parses the outer header. Returns its length when the packet is a tunnel to us from a known
 * balancer, else the counter of its fate, negated (never DECAP4, which is 0).
 */
static __always_inline int zdd_outer_len(struct xdp_md *ctx, struct zdd_pkt *pkt)
{
	struct zdd_cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
		.limit = (void *)(long)ctx->data_end,
	};
	void *outer;
	int err;

	if (zdd_parse_eth(&c, pkt))
		return -ZDD_D_PASS;
	outer = c.pos;
	pkt->l3_off = outer - (void *)(long)ctx->data;
	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		err = zdd_parse_ipv4(&c, pkt);
	else
		err = zdd_parse_ipv6(&c, pkt);
	if (err)
		return -ZDD_D_MALFORMED;
	zdd_sc_skip6(&c, pkt);
	if (pkt->flow.svc.proto !=
	    (pkt->eth_proto == bpf_htons(ETH_P_IP) ? IPPROTO_IPIP : IPPROTO_IPV6))
		return -ZDD_D_PASS;
	if (!bpf_map_lookup_elem(&zdd_decap_dst, pkt->flow.svc.addr))
		return -ZDD_D_PASS;
	/* Before anything else about the tunnel: whoever can reach us could otherwise hand the
	 * stack packets from any inner source. */
	if (!zdd_known_source(pkt))
		return -ZDD_D_FOREIGN;
	if (pkt->fragment)
		return -ZDD_D_MALFORMED; /* the stack cannot reassemble what it never sees whole */
	return c.pos - outer;
}

SEC("xdp")
int zdd_xdp_decap(struct xdp_md *ctx)
{
	struct zdd_pkt pkt = {};
	struct ethhdr *eth;
	__u8 l2[18];
	enum zdd_decap_counter fate;
	int outer, l2_len;

	outer = zdd_outer_len(ctx, &pkt);
	if (outer < 0)
		return zdd_decap_verdict(-outer);
	fate = pkt.eth_proto == bpf_htons(ETH_P_IP) ? ZDD_D_DECAP4 : ZDD_D_DECAP6;
	if (outer == ZDD_SC_OUTER_LEN || outer == ZDD_SC_OUTER6_LEN) {
		fate = zdd_sc_fate(ctx, &pkt, outer);
		if (fate == ZDD_D_SC_FORWARD || fate == ZDD_D_SC_VIA_HOP || fate == ZDD_D_SC_BAD)
			return zdd_decap_verdict(fate);
	}
	l2_len = pkt.l3_off;
	eth = zdd_frame_at(ctx, 0, sizeof(l2));
	if (!eth || l2_len > (int)sizeof(l2))
		return zdd_decap_verdict(ZDD_D_MALFORMED);
	__builtin_memcpy(l2, eth, sizeof(l2));
	if (bpf_xdp_adjust_head(ctx, outer))
		return zdd_decap_verdict(ZDD_D_MALFORMED);
	/* The same family inside as outside: the EtherType (and VLAN tag) stay as they were. */
	if (l2_len == sizeof(*eth)) {
		eth = zdd_frame_at(ctx, 0, sizeof(*eth));
		if (!eth)
			return zdd_decap_verdict(ZDD_D_MALFORMED);
		__builtin_memcpy(eth, l2, sizeof(*eth));
	} else {
		eth = zdd_frame_at(ctx, 0, sizeof(l2));
		if (!eth)
			return zdd_decap_verdict(ZDD_D_MALFORMED);
		__builtin_memcpy(eth, l2, sizeof(l2));
	}
	return zdd_decap_verdict(fate);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
