/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/encap.h - IPv4-in-IPv4 / IPv6-in-IPv6 towards the backend, for direct server
 * return. The inner packet is left byte-for-byte as the client sent it. */
#ifndef ZDD_ENCAP_H
#define ZDD_ENCAP_H

#include "csum.h"
#include "parse.h"

#define ZDD_IP_DF 0x4000

/* MACs as 16-bit words: three loads and stores each instead of six (frames and
 * zdd_backend_val.mac are 2-byte aligned). */
struct zdd_l2 {
	__u16 dst[3];
	__u16 src[3];
	__be16 vlan_tpid;
	__be16 vlan_tci;
};

static __always_inline void zdd_mac_copy(__u16 *to, const void *from)
{
	const __u16 *w = from;

	to[0] = w[0];
	to[1] = w[1];
	to[2] = w[2];
}

/* The Ethernet header's length, the tag included: pkt->l3_off, in a form the verifier bounds. */
static __always_inline __u32 zdd_l2_len(__be16 vlan_tpid)
{
	return sizeof(struct ethhdr) + (vlan_tpid ? sizeof(struct zdd_vlan_hdr) : 0);
}

/* Writes the Ethernet header (and the client's VLAN tag) in front of the outer IP header. */
static __always_inline int zdd_write_l2(struct xdp_md *ctx, const struct zdd_l2 *l2, __be16 proto,
					__u32 *l2_len)
{
	struct ethhdr *eth;
	__be16 *tag;

	*l2_len = zdd_l2_len(l2->vlan_tpid);
	eth = zdd_frame_at(ctx, 0, *l2_len);
	if (!eth)
		return -ZDD_R_ENCAP;
	zdd_mac_copy((__u16 *)eth->h_dest, l2->dst);
	zdd_mac_copy((__u16 *)eth->h_source, l2->src);
	if (!l2->vlan_tpid) {
		eth->h_proto = proto;
		return 0;
	}
	eth->h_proto = l2->vlan_tpid;
	tag = (__be16 *)(eth + 1);
	tag[0] = l2->vlan_tci;
	tag[1] = proto;
	return 0;
}

/* 0 when pkt can be sent to a backend under cfg, else why not (a negative reason). */
static __always_inline int zdd_encap_check(const struct zdd_pkt *pkt, const struct zdd_config *cfg)
{
	int v4 = pkt->eth_proto == bpf_htons(ETH_P_IP);
	__u32 outer = v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr), src4;

	__builtin_memcpy(&src4, cfg->src4, 4);
	if (v4 && !src4)
		return -ZDD_R_ENCAP; /* attach sets the source; without it, nothing to send */
	if (cfg->mtu && pkt->l3_len + outer > cfg->mtu)
		return -ZDD_R_TOO_BIG;
	return 0;
}

/* The outer IPv4 header towards be for an inner datagram of l3_len bytes, checksum included. */
static __always_inline void zdd_outer_ipv4(struct iphdr *h, __u8 tos, __u32 l3_len,
					   const struct zdd_backend_val *be,
					   const struct zdd_config *cfg)
{
	*h = (struct iphdr){
		.version = 4,
		.ihl = 5,
		.tos = tos,
		.tot_len = bpf_htons(l3_len + sizeof(*h)),
		.frag_off = bpf_htons(ZDD_IP_DF), /* the MTU was checked: never fragment */
		.ttl = cfg->outer_ttl,
		.protocol = IPPROTO_IPIP,
	};
	__builtin_memcpy(&h->saddr, cfg->src4, 4);
	__builtin_memcpy(&h->daddr, be->addr + 12, 4);
	h->check = zdd_csum_ipv4(h);
}

/*
 * The room the second-chance option takes (struct zdd_sc_opt, or zdd_sc_dstopts for IPv6):
 * none without a second backend, or when the packet would no longer fit the MTU. A packet is
 * never refused for its second chance: without it, it still reaches the backend the tables
 * chose first.
 */
static __always_inline __u32 zdd_sc_opt_len(const struct zdd_pkt *pkt, const struct zdd_config *cfg,
					    const struct zdd_backend_val *second)
{
	int v4 = pkt->eth_proto == bpf_htons(ETH_P_IP);
	__u32 opt = v4 ? sizeof(struct zdd_sc_opt) : sizeof(struct zdd_sc_dstopts);
	__u32 outer = v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);

	if (!second || (cfg->mtu && pkt->l3_len + outer + opt > cfg->mtu))
		return 0;
	return opt;
}

/*
 * The outer IPv4 header with the second-chance option. A union: the checksum sums its words,
 * and summed through a cast pointer, clang read the option before it was written.
 */
union zdd_sc_outer {
	struct {
		struct iphdr ip;
		struct zdd_sc_opt opt;
	};
	__u32 w[(sizeof(struct iphdr) + sizeof(struct zdd_sc_opt)) / 4];
};

static __always_inline __u16 zdd_sc_outer_csum(union zdd_sc_outer *o)
{
	o->ip.check = 0;
	return zdd_csum_fold64(zdd_csum_words(0, o->w, sizeof(o->w) / 4));
}

/* Stores h, grown by the second-chance option naming second, at off: IHL, length, checksum. */
static __always_inline int zdd_sc_opt_put(struct xdp_md *ctx, __u32 off, const struct iphdr *h,
					  const struct zdd_backend_val *second)
{
	union zdd_sc_outer o = { .ip = *h };
	union zdd_sc_outer *out;

	o.opt.type = ZDD_SC_OPT_TYPE;
	o.opt.len = sizeof(o.opt);
	__builtin_memcpy(o.opt.addr, second->addr + 12, 4);
	o.ip.ihl = sizeof(o) / 4;
	o.ip.tot_len = bpf_htons(bpf_ntohs(h->tot_len) + sizeof(o.opt));
	o.ip.check = zdd_sc_outer_csum(&o);
	out = zdd_frame_at(ctx, off, sizeof(*out));
	if (!out)
		return -ZDD_R_ENCAP;
	*out = o;
	return 0;
}

/* The outer IPv6 header and the second-chance destination option behind it. */
struct zdd_sc_outer6 {
	struct ipv6hdr ip;
	struct zdd_sc_dstopts opt;
};

/* The outer IPv6 header, written field by field where it lies. */
static __always_inline void zdd_outer_ipv6(struct ipv6hdr *ip6, __u8 tos, __u32 l3_len,
					   __u32 flow_label, const struct zdd_backend_val *be,
					   const struct zdd_config *cfg)
{
	ip6->version = 6;
	ip6->priority = tos >> 4;
	/* The flow label carries the flow hash so ECMP on the way spreads tunnels by flow. */
	ip6->flow_lbl[0] = (tos << 4) | ((flow_label >> 16) & 0x0f);
	ip6->flow_lbl[1] = flow_label >> 8;
	ip6->flow_lbl[2] = flow_label;
	ip6->payload_len = bpf_htons(l3_len);
	ip6->nexthdr = IPPROTO_IPV6;
	ip6->hop_limit = cfg->outer_ttl;
	__builtin_memcpy(&ip6->saddr, cfg->src6, 16);
	__builtin_memcpy(&ip6->daddr, be->addr, 16);
}

/* Writes the outer IPv6 header and the second-chance destination option naming second at off. */
static __always_inline int zdd_sc_opt6_put(struct xdp_md *ctx, __u32 off, const struct zdd_pkt *pkt,
					   const struct zdd_backend_val *be,
					   const struct zdd_config *cfg, __u32 flow_label,
					   const struct zdd_backend_val *second)
{
	struct zdd_sc_outer6 *o = zdd_frame_at(ctx, off, sizeof(*o));

	if (!o)
		return -ZDD_R_ENCAP;
	zdd_outer_ipv6(&o->ip, pkt->tos, pkt->l3_len + sizeof(o->opt), flow_label, be, cfg);
	o->ip.nexthdr = IPPROTO_DSTOPTS;
	o->opt = (struct zdd_sc_dstopts){
		.nexthdr = IPPROTO_IPV6,
		.hdrlen = sizeof(o->opt) / 8 - 1,
		.type = ZDD_SC_OPT6_TYPE,
		.len = sizeof(o->opt) - 6,
		.padn = { 1, 0 },
	};
	__builtin_memcpy(o->opt.addr, second->addr, 16);
	return 0;
}

/*
 * Prepends the outer header. The frame leaves on the interface it came in on (one-arm), so
 * the new source MAC is the one the client's packet was sent to: our own.
 */
static __always_inline int zdd_encap(struct xdp_md *ctx, const struct zdd_pkt *pkt,
				     const struct zdd_backend_val *be, const struct zdd_config *cfg,
				     __u32 flow_label, const struct zdd_backend_val *second)
{
	int v4 = pkt->eth_proto == bpf_htons(ETH_P_IP), err = zdd_encap_check(pkt, cfg);
	__u32 opt = zdd_sc_opt_len(pkt, cfg, second);
	__u32 outer = (v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)) + opt;
	struct zdd_l2 l2 = { .vlan_tpid = pkt->vlan_tpid, .vlan_tci = pkt->vlan_tci };
	struct ethhdr *eth = zdd_frame_at(ctx, 0, sizeof(*eth));
	struct ipv6hdr *ip6;
	struct iphdr *iph, h;
	__u32 l2_len;

	if (!eth)
		return -ZDD_R_ENCAP;
	if (err)
		return err;
	zdd_mac_copy(l2.dst, be->mac);
	zdd_mac_copy(l2.src, eth->h_dest);
	if (bpf_xdp_adjust_head(ctx, -(int)outer))
		return -ZDD_R_ENCAP;
	if (zdd_write_l2(ctx, &l2, v4 ? bpf_htons(ETH_P_IP) : bpf_htons(ETH_P_IPV6), &l2_len))
		return -ZDD_R_ENCAP;
	if (v4) {
		/* Summed on the stack, then stored once: read back from the packet, the header
		 * waited for the headroom's cache line (tools/bench/README.md). */
		zdd_outer_ipv4(&h, pkt->tos, pkt->l3_len, be, cfg);
		if (opt)
			return zdd_sc_opt_put(ctx, l2_len, &h, second);
		iph = zdd_frame_at(ctx, l2_len, sizeof(*iph));
		if (!iph)
			return -ZDD_R_ENCAP;
		*iph = h;
		return 0;
	}
	if (opt)
		return zdd_sc_opt6_put(ctx, l2_len, pkt, be, cfg, flow_label, second);
	ip6 = zdd_frame_at(ctx, l2_len, sizeof(*ip6));
	if (!ip6)
		return -ZDD_R_ENCAP;
	zdd_outer_ipv6(ip6, pkt->tos, pkt->l3_len, flow_label, be, cfg);
	return 0;
}

#endif /* ZDD_ENCAP_H */
