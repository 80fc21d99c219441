/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bpf/lib/icmp.h - the ICMP zdd writes itself, sent back out with XDP_TX (the router routes it
 * to the client): "fragmentation needed" / "packet too big" for a packet the tunnel header
 * would push over the MTU, so that the client's path MTU discovery learns the room there is,
 * and echo replies for the service addresses. The ICMP errors zdd forwards to backends are the
 * entry point's (zdd_lb.bpf.c): they take the path of a flow's packets.
 */
#ifndef ZDD_ICMP_H
#define ZDD_ICMP_H

#include <linux/icmpv6.h>
#include "clock.h"
#include "encap.h"

#define ZDD_ICMP_TTL	     64
#define ZDD_ICMP_COST_NS     (1000000000ULL / ZDD_ICMP_RATE)
#define ZDD_IPTOS_NETCONTROL 0xc0 /* precedence 6, as RFC 1812 4.3.2.5 has ICMP errors sent */
/* What the errors quote of the packet: RFC 1812 4.3.2.3 as much as keeps the error within 576
 * bytes, RFC 4443 2.4 within the IPv6 minimum MTU. One fixed length (the checksum's pieces are
 * constant for the verifier): every packet too big for an MTU of 568 / 1272 or more is longer. */
#define ZDD_ICMP4_QUOTE (576 - sizeof(struct iphdr) - sizeof(struct zdd_icmphdr))
#define ZDD_ICMP6_QUOTE (1280 - sizeof(struct ipv6hdr) - sizeof(struct zdd_icmphdr))

/*
 * This CPU's token bucket (zdd_abi.h: ZDD_ICMP_RATE, ZDD_ICMP_BURST): credit is time earned,
 * one reply costs 1 s / rate. A never-used bucket starts full. Per CPU, so no atomics: the
 * limit of a node is the rate times its CPUs that receive traffic.
 */
static __always_inline int zdd_icmp_allow(void)
{
	struct zdd_icmp_bucket *b;
	__u64 now, credit;
	__u32 zero = 0;

	b = bpf_map_lookup_elem(&zdd_icmp_bucket, &zero);
	if (!b)
		return 0;
	now = zdd_now_ns();
	credit = b->credit_ns;
	if ((__s64)(now - b->stamp_ns) > 0)
		credit += now - b->stamp_ns;
	if (credit > ZDD_ICMP_BURST * ZDD_ICMP_COST_NS)
		credit = ZDD_ICMP_BURST * ZDD_ICMP_COST_NS;
	b->stamp_ns = now;
	b->credit_ns = credit;
	if (credit < ZDD_ICMP_COST_NS)
		return 0;
	b->credit_ns = credit - ZDD_ICMP_COST_NS;
	return 1;
}

/* Whether the source names one host: not this network, loopback, multicast, broadcast or class
 * E; for IPv6 not unspecified, loopback or multicast. Nothing else is answered (RFC 1812
 * 4.3.2.7): one spoofed packet must not make a group of hosts hear from us. */
static __always_inline int zdd_icmp_to_host(const struct zdd_pkt *pkt)
{
	const __u32 *w = (const __u32 *)pkt->flow.saddr;
	const __u8 *s = pkt->flow.saddr;

	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		return s[12] && s[12] != 127 && s[12] < 224;
	return s[0] != 0xff && ((w[0] | w[1] | w[2]) || (w[3] && w[3] != bpf_htonl(1)));
}

/* Writes the IPv4 header and "fragmentation needed" of a reply; the quote is in place. */
static __always_inline int zdd_too_big4(struct xdp_md *ctx, const struct zdd_pkt *pkt,
					const struct zdd_config *cfg, __u32 l2_len)
{
	struct iphdr h = {
		.version = 4,
		.ihl = 5,
		.tos = ZDD_IPTOS_NETCONTROL,
		.tot_len = bpf_htons(sizeof(struct iphdr) + sizeof(struct zdd_icmphdr) +
				     ZDD_ICMP4_QUOTE),
		/* DF: an atomic datagram, so an id of 0 is fine (RFC 6864). */
		.frag_off = bpf_htons(ZDD_IP_DF),
		.ttl = ZDD_ICMP_TTL,
		.protocol = IPPROTO_ICMP,
	};
	struct zdd_icmphdr m = {
		.type = ZDD_ICMP4_DEST_UNREACH,
		.code = ZDD_ICMP4_FRAG_NEEDED,
		.rest = bpf_htonl(cfg->mtu - sizeof(struct iphdr)), /* what fits in the tunnel */
	};
	struct zdd_icmphdr *icmp;
	struct iphdr *iph;
	void *quote;

	/* From the service address: the client's stack takes the path MTU for what it sent to. */
	__builtin_memcpy(&h.saddr, pkt->flow.svc.addr + 12, 4);
	__builtin_memcpy(&h.daddr, pkt->flow.saddr + 12, 4);
	h.check = zdd_csum_ipv4(&h);
	iph = zdd_frame_at(ctx, l2_len, sizeof(*iph) + sizeof(*icmp) + ZDD_ICMP4_QUOTE);
	if (!iph)
		return -ZDD_R_ENCAP;
	icmp = (void *)(iph + 1);
	quote = icmp + 1;
	m.checksum = zdd_csum_fold64(
		zdd_csum_data(zdd_csum_words(0, &m, sizeof(m) / 4), quote, ZDD_ICMP4_QUOTE));
	*iph = h;
	*icmp = m;
	return 0;
}

static __always_inline int zdd_too_big6(struct xdp_md *ctx, const struct zdd_pkt *pkt,
					const struct zdd_config *cfg, __u32 l2_len)
{
	struct ipv6hdr h = {
		.version = 6,
		.payload_len = bpf_htons(sizeof(struct zdd_icmphdr) + ZDD_ICMP6_QUOTE),
		.nexthdr = IPPROTO_ICMPV6,
		.hop_limit = ZDD_ICMP_TTL,
	};
	struct zdd_icmphdr m = {
		.type = ICMPV6_PKT_TOOBIG,
		.rest = bpf_htonl(cfg->mtu - sizeof(struct ipv6hdr)),
	};
	/* The pseudo-header's length and next header, as 32-bit words (RFC 8200 8.1). */
	__be32 pseudo[2] = { bpf_htonl(sizeof(m) + ZDD_ICMP6_QUOTE), bpf_htonl(IPPROTO_ICMPV6) };
	struct zdd_icmphdr *icmp;
	struct ipv6hdr *ip6;
	void *quote;
	__u64 sum;

	__builtin_memcpy(&h.saddr, pkt->flow.svc.addr, 16);
	__builtin_memcpy(&h.daddr, pkt->flow.saddr, 16);
	ip6 = zdd_frame_at(ctx, l2_len, sizeof(*ip6) + sizeof(*icmp) + ZDD_ICMP6_QUOTE);
	if (!ip6)
		return -ZDD_R_ENCAP;
	icmp = (void *)(ip6 + 1);
	quote = icmp + 1;
	sum = zdd_csum_words(0, &h.saddr, 8); /* source and destination */
	sum = zdd_csum_words(sum, pseudo, 2);
	sum = zdd_csum_words(sum, &m, sizeof(m) / 4);
	m.checksum = zdd_csum_fold64(zdd_csum_data(sum, quote, ZDD_ICMP6_QUOTE));
	*ip6 = h;
	*icmp = m;
	return 0;
}

/*
 * A packet too big once encapsulated (lib/encap.h found it so, and left it untouched):
 * answered with the MTU the tunnel leaves, link MTU - 20 (IPIP) or - 40 (IP6IP6), from the
 * service address, quoting the packet's start. Not answered (counted drop_too_big):
 * - an IPv4 packet without DF. Its sender does no path MTU discovery and expects routers to
 *   fragment; XDP cannot, and the kernel here has no route for a service address. Dropped:
 *   the path to the backends needs room for it (MTU + 20), or the backends clamp the MSS.
 * - over this CPU's rate (zdd_icmp_allow()); the sender retransmits and asks again.
 * - from a source that names no single host (zdd_icmp_to_host()).
 * - shorter than the quote: only with an MTU below 568 (IPv4) or 1272 (IPv6).
 */
static __always_inline enum zdd_reason zdd_icmp_too_big(struct xdp_md *ctx,
							const struct zdd_pkt *pkt,
							const struct zdd_config *cfg)
{
	int v4 = pkt->eth_proto == bpf_htons(ETH_P_IP);
	__u32 quote = v4 ? ZDD_ICMP4_QUOTE : ZDD_ICMP6_QUOTE;
	__u32 hdrs = (v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)) +
		     sizeof(struct zdd_icmphdr);
	struct zdd_l2 l2 = { .vlan_tpid = pkt->vlan_tpid, .vlan_tci = pkt->vlan_tci };
	struct ethhdr *eth = zdd_frame_at(ctx, 0, sizeof(*eth));
	struct iphdr *iph;
	__u32 l2_len;
	int err;

	if (!eth || pkt->l3_len < quote || !zdd_icmp_to_host(pkt))
		return ZDD_R_TOO_BIG;
	if (v4) {
		iph = zdd_frame_at(ctx, zdd_l2_len(pkt->vlan_tpid), sizeof(*iph));
		if (!iph || !(iph->frag_off & bpf_htons(ZDD_IP_DF)))
			return ZDD_R_TOO_BIG;
	}
	if (!zdd_icmp_allow())
		return ZDD_R_TOO_BIG;
	/* Back where it came from: the router that sent it to us routes it to the client. */
	zdd_mac_copy(l2.dst, eth->h_source);
	zdd_mac_copy(l2.src, eth->h_dest);
	/* The new headers go between the Ethernet header and the packet, which stays where it
	 * is as the quote; then the tail goes. A failure after the first step leaves a frame
	 * that is no longer the packet: dropped as encap_failed. */
	if (bpf_xdp_adjust_head(ctx, -(int)hdrs))
		return ZDD_R_ENCAP;
	if (bpf_xdp_adjust_tail(ctx, (int)(zdd_l2_len(pkt->vlan_tpid) + hdrs + quote) -
					     (int)zdd_frame_len(ctx)))
		return ZDD_R_ENCAP;
	if (zdd_write_l2(ctx, &l2, pkt->eth_proto, &l2_len))
		return ZDD_R_ENCAP;
	err = v4 ? zdd_too_big4(ctx, pkt, cfg, l2_len) : zdd_too_big6(ctx, pkt, cfg, l2_len);
	return err ? -err : ZDD_R_TX_ICMP_TOO_BIG;
}

/*
 * An echo request to a service address, answered here: this node need not hold the address
 * (the router routes it here), so its kernel may not answer, and a ping of it tells whether
 * the path to the balancer works. Not rate limited: a reply is no bigger than its request.
 * The checksums are updated for what changes (type, TTL), so a bad one stays bad. A request
 * from a source that names no single host is left to the kernel.
 */
static __always_inline enum zdd_reason zdd_icmp_echo(struct xdp_md *ctx, const struct zdd_pkt *pkt)
{
	__u32 l2_len = zdd_l2_len(pkt->vlan_tpid);
	struct ethhdr *eth = zdd_frame_at(ctx, 0, sizeof(*eth));
	struct zdd_icmphdr *icmp;
	struct ipv6hdr *ip6;
	struct iphdr *iph;
	__u16 mac[3], old;
	__u8 addr[16];

	if (!zdd_icmp_to_host(pkt))
		return ZDD_R_NOT_L4;
	if (!eth)
		return ZDD_R_MALFORMED;
	zdd_mac_copy(mac, eth->h_source);
	zdd_mac_copy((__u16 *)eth->h_source, eth->h_dest);
	zdd_mac_copy((__u16 *)eth->h_dest, mac);
	if (pkt->eth_proto == bpf_htons(ETH_P_IP)) {
		/* parse.h took only requests without options: the header is 20 bytes. */
		iph = zdd_frame_at(ctx, l2_len, sizeof(*iph) + sizeof(*icmp));
		if (!iph)
			return ZDD_R_MALFORMED;
		icmp = (void *)(iph + 1);
		__builtin_memcpy(addr, &iph->saddr, 4);
		iph->saddr = iph->daddr;
		__builtin_memcpy(&iph->daddr, addr, 4);
		iph->ttl = ZDD_ICMP_TTL;
		iph->check = 0;
		iph->check = zdd_csum_ipv4(iph);
		old = *(__u16 *)icmp;
		icmp->type = ZDD_ICMP4_ECHOREPLY;
		icmp->checksum = zdd_csum_replace(icmp->checksum, old, *(__u16 *)icmp);
		return ZDD_R_TX_ICMP_ECHO;
	}
	ip6 = zdd_frame_at(ctx, l2_len, sizeof(*ip6) + sizeof(*icmp));
	if (!ip6)
		return ZDD_R_MALFORMED;
	icmp = (void *)(ip6 + 1);
	/* Swapping the addresses leaves the pseudo-header's sum as it was. */
	__builtin_memcpy(addr, &ip6->saddr, 16);
	ip6->saddr = ip6->daddr;
	__builtin_memcpy(&ip6->daddr, addr, 16);
	ip6->hop_limit = ZDD_ICMP_TTL;
	old = *(__u16 *)icmp;
	icmp->type = ICMPV6_ECHO_REPLY;
	icmp->checksum = zdd_csum_replace(icmp->checksum, old, *(__u16 *)icmp);
	return ZDD_R_TX_ICMP_ECHO;
}

#endif /* ZDD_ICMP_H */
