// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf/zdd_decap.bpf.c - backend side: strip an IPv4-in-IPv4 or IPv6-in-IPv6 header addressed
 * to this host and pass the client's packet to the stack, where the service address is on lo.
 * This kernel has no ipip module; this program is the tunnel endpoint. */
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct zdd_vip_key);
	__type(value, __u8);
} zdd_decap_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZDD_D_MAX);
	__type(key, __u32);
	__type(value, __u64);
} zdd_dstats SEC(".maps");

static __always_inline int zdd_decap_count(enum zdd_decap_counter which)
{
	__u32 key = which;
	__u64 *count = bpf_map_lookup_elem(&zdd_dstats, &key);

	if (count)
		*count += 1;
	return XDP_PASS;
}

/* Parses the outer header. Returns its length, 0 when the packet is not a tunnel to us. */
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
		return 0;
	outer = c.pos;
	pkt->l3_off = outer - (void *)(long)ctx->data;
	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		err = zdd_parse_ipv4(&c, pkt);
	else
		err = zdd_parse_ipv6(&c, pkt);
	if (err)
		return err;
	if (pkt->flow.svc.proto !=
	    (pkt->eth_proto == bpf_htons(ETH_P_IP) ? IPPROTO_IPIP : IPPROTO_IPV6))
		return 0;
	if (!bpf_map_lookup_elem(&zdd_decap_dst, pkt->flow.svc.addr))
		return 0;
	if (pkt->fragment)
		return -ZDD_R_FRAGMENT; /* the stack cannot reassemble what it never sees whole */
	return c.pos - outer;
}

SEC("xdp")
int zdd_xdp_decap(struct xdp_md *ctx)
{
	struct zdd_pkt pkt = {};
	struct ethhdr *eth;
	__u8 l2[18];
	int outer, l2_len;

	outer = zdd_outer_len(ctx, &pkt);
	if (outer < 0)
		return zdd_decap_count(ZDD_D_MALFORMED);
	if (!outer)
		return zdd_decap_count(ZDD_D_PASS);
	l2_len = pkt.l3_off;
	eth = zdd_frame_at(ctx, 0, sizeof(l2));
	if (!eth || l2_len > (int)sizeof(l2))
		return zdd_decap_count(ZDD_D_MALFORMED);
	__builtin_memcpy(l2, eth, sizeof(l2));
	if (bpf_xdp_adjust_head(ctx, outer))
		return zdd_decap_count(ZDD_D_MALFORMED);
	/* The same family inside as outside: the EtherType (and VLAN tag) stay as they were. */
	if (l2_len == sizeof(*eth)) {
		eth = zdd_frame_at(ctx, 0, sizeof(*eth));
		if (!eth)
			return zdd_decap_count(ZDD_D_MALFORMED);
		__builtin_memcpy(eth, l2, sizeof(*eth));
	} else {
		eth = zdd_frame_at(ctx, 0, sizeof(l2));
		if (!eth)
			return zdd_decap_count(ZDD_D_MALFORMED);
		__builtin_memcpy(eth, l2, sizeof(l2));
	}
	return zdd_decap_count(pkt.eth_proto == bpf_htons(ETH_P_IP) ? ZDD_D_DECAP4 : ZDD_D_DECAP6);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
