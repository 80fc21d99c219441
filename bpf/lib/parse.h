/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/parse.h - the only packet parsing code: a bounds-checked cursor over Ethernet,
 * one 802.1Q tag, IPv4 (with options), IPv6, TCP, UDP, and ICMP / ICMPv6 with the packet an
 * error quotes. Every data_end check lives here. */
#ifndef ZDD_PARSE_H
#define ZDD_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/icmpv6.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "zdd_abi.h"

#define ZDD_IP_MF     0x2000
#define ZDD_IP_OFFSET 0x1fff
#define ZDD_TCP_FIN   0x01
#define ZDD_TCP_SYN   0x02
#define ZDD_TCP_RST   0x04
#define ZDD_TCP_ACK   0x10

/* ICMP types and codes (RFC 792): linux/icmp.h would pull libc's socket headers into BPF. */
#define ZDD_ICMP4_ECHOREPLY	0
#define ZDD_ICMP4_DEST_UNREACH	3
#define ZDD_ICMP4_FRAG_NEEDED	4
#define ZDD_ICMP4_ECHO		8
#define ZDD_ICMP4_TIME_EXCEEDED 11
#define ZDD_ICMP4_PARAMPROB	12

/* The 8 bytes every ICMP and ICMPv6 message starts with. */
struct zdd_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	/* By type: echo id and sequence; an ICMPv6 "too big" MTU; for IPv4 "fragmentation
	 * needed", 16 unused bits, then the next hop's MTU (RFC 1191). */
	__be32 rest;
};

/* zdd_parse() found an ICMP or ICMPv6 message: pkt->icmp says what it is to us. */
#define ZDD_PARSE_ICMP 1

/* What an ICMP message is to the balancer. Only those to a service address are ours. */
enum zdd_icmp_kind {
	ZDD_ICMP_NONE,	/* not ICMP */
	ZDD_ICMP_OTHER, /* not ours to act on: the kernel's */
	ZDD_ICMP_ECHO,	/* an echo request (IPv4: without options) */
	/* An error quoting a TCP or UDP packet sent from the address the error goes to: flow is
	 * the quoted packet's, turned round (the client's direction, as conntrack keys it). */
	ZDD_ICMP_ERROR,
	ZDD_ICMP_BAD, /* truncated or inconsistent: the ICMP header, or what an error quotes */
};

/*
 * end is data_end, the only bound the verifier learns from; limit is where the current
 * protocol's data stops (the IP datagram's end, before any Ethernet padding), checked too.
 */
struct zdd_cursor {
	void *pos;
	void *end;
	void *limit;
};

/* What the parser learnt; flow is complete only when zdd_parse() returned 0. */
struct zdd_pkt {
	struct zdd_flow_key flow __attribute__((aligned(8))); /* compared as 64-bit words */
	__u32 flow_hash;  /* zdd_flow_hash(); 0 until computed */
	__u32 l3_off;	  /* IP header offset from the frame start */
	__u32 l3_len;	  /* IP datagram length, Ethernet padding excluded */
	__be16 eth_proto; /* ETH_P_IP or ETH_P_IPV6 */
	__be16 vlan_tpid; /* 0 when untagged */
	__be16 vlan_tci;
	__u8 tcp_flags;
	__u8 tos;      /* IPv4 TOS or IPv6 traffic class */
	__u8 fragment; /* IPv4 fragment or IPv6 fragment header: no ports */
	__u8 ext_hdr;  /* IPv6 extension header before the transport header */
	__u8 icmp;     /* enum zdd_icmp_kind */
	__u8 pad;
	__be32 tcp_seq; /* with tcp_ack, proves an adopted flow live (conntrack.h) */
	__be32 tcp_ack;
};

struct zdd_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* Returns a pointer to len bytes at the cursor and advances it, or NULL if the frame is short. */
static __always_inline void *zdd_pull(struct zdd_cursor *c, __u32 len)
{
	void *p = c->pos;

	if (p + len > c->end || p + len > c->limit)
		return NULL;
	c->pos = p + len;
	return p;
}

/* For writers after bpf_xdp_adjust_head(): len bytes at off from the frame start, or NULL. */
static __always_inline void *zdd_frame_at(struct xdp_md *ctx, __u32 off, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	if (data + off + len > end)
		return NULL;
	return data + off;
}

/* The frame's length, for bpf_xdp_adjust_tail(). The barrier keeps it a difference of the
 * two pointers: folded into a caller's sum, it became arithmetic on data_end, refused. */
static __always_inline __u32 zdd_frame_len(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 len = end - data;

	barrier_var(len);
	return len;
}

static __always_inline int zdd_parse_eth(struct zdd_cursor *c, struct zdd_pkt *pkt)
{
	struct ethhdr *eth = zdd_pull(c, sizeof(*eth));
	struct zdd_vlan_hdr *vlan;

	if (!eth)
		return -ZDD_R_MALFORMED;
	pkt->eth_proto = eth->h_proto;
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD)) {
		vlan = zdd_pull(c, sizeof(*vlan));
		if (!vlan)
			return -ZDD_R_MALFORMED;
		pkt->vlan_tpid = eth->h_proto;
		pkt->vlan_tci = vlan->tci;
		pkt->eth_proto = vlan->proto;
	}
	/* A second tag (QinQ) is not ours to parse: it falls through as "not IP". */
	if (pkt->eth_proto != bpf_htons(ETH_P_IP) && pkt->eth_proto != bpf_htons(ETH_P_IPV6))
		return -ZDD_R_NOT_IP;
	return 0;
}

static __always_inline void zdd_addr_map4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

/* Leaves the cursor on the transport header; rejects what the kernel would discard. */
static __always_inline int zdd_parse_ipv4(struct zdd_cursor *c, struct zdd_pkt *pkt)
{
	struct iphdr *iph = c->pos;
	__u32 hlen, tot;

	if (!zdd_pull(c, sizeof(*iph)))
		return -ZDD_R_MALFORMED;
	hlen = iph->ihl * 4;
	tot = bpf_ntohs(iph->tot_len);
	if (iph->version != 4 || hlen < sizeof(*iph) || tot < hlen)
		return -ZDD_R_MALFORMED;
	/* Options: skip them, the cursor must stay inside the frame. */
	if (!zdd_pull(c, hlen - sizeof(*iph)))
		return -ZDD_R_MALFORMED;
	if ((void *)iph + tot > c->end)
		return -ZDD_R_MALFORMED; /* tot_len beyond the frame: truncated */
	pkt->l3_len = tot;
	pkt->tos = iph->tos;
	pkt->flow.svc.proto = iph->protocol;
	pkt->fragment = !!(iph->frag_off & bpf_htons(ZDD_IP_MF | ZDD_IP_OFFSET));
	zdd_addr_map4(pkt->flow.svc.addr, iph->daddr);
	zdd_addr_map4(pkt->flow.saddr, iph->saddr);
	/* Transport parsing must not read Ethernet padding as payload. */
	c->limit = (void *)iph + tot;
	return 0;
}

static __always_inline int zdd_ipv6_is_ext(__u8 nexthdr)
{
	switch (nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case 135: /* mobility */
	case 139: /* HIP */
	case 140: /* shim6 */
		return 1;
	}
	return 0;
}

static __always_inline int zdd_ipv6_is_v4mapped(const struct in6_addr *a)
{
	return !a->in6_u.u6_addr32[0] && !a->in6_u.u6_addr32[1] &&
	       a->in6_u.u6_addr32[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int zdd_parse_ipv6(struct zdd_cursor *c, struct zdd_pkt *pkt)
{
	struct ipv6hdr *ip6 = zdd_pull(c, sizeof(*ip6));
	__u32 tot;

	if (!ip6 || ip6->version != 6)
		return -ZDD_R_MALFORMED;
	tot = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if ((void *)ip6 + tot > c->end)
		return -ZDD_R_MALFORMED;
	/* IPv4-mapped addresses never appear on the wire (the kernel drops a mapped source);
	 * taken as they are, they would alias the IPv4 services and flows keyed the same way. */
	if (zdd_ipv6_is_v4mapped(&ip6->saddr) || zdd_ipv6_is_v4mapped(&ip6->daddr))
		return -ZDD_R_MALFORMED;
	pkt->l3_len = tot;
	pkt->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	pkt->flow.svc.proto = ip6->nexthdr;
	pkt->ext_hdr = zdd_ipv6_is_ext(ip6->nexthdr);
	pkt->fragment = ip6->nexthdr == IPPROTO_FRAGMENT;
	__builtin_memcpy(pkt->flow.svc.addr, &ip6->daddr, 16);
	__builtin_memcpy(pkt->flow.saddr, &ip6->saddr, 16);
	c->limit = (void *)ip6 + tot;
	return 0;
}

static __always_inline int zdd_parse_l4(struct zdd_cursor *c, struct zdd_pkt *pkt)
{
	struct tcphdr *th;
	struct udphdr *uh;
	__u32 len;

	if (pkt->flow.svc.proto == IPPROTO_TCP) {
		th = c->pos;
		if (!zdd_pull(c, sizeof(*th)))
			return -ZDD_R_MALFORMED;
		len = th->doff * 4;
		if (len < sizeof(*th) || !zdd_pull(c, len - sizeof(*th)))
			return -ZDD_R_MALFORMED;
		pkt->flow.sport = th->source;
		pkt->flow.svc.port = th->dest;
		pkt->tcp_flags = ((__u8 *)th)[13];
		pkt->tcp_seq = th->seq;
		pkt->tcp_ack = th->ack_seq;
		return 0;
	}
	uh = zdd_pull(c, sizeof(*uh));
	if (!uh)
		return -ZDD_R_MALFORMED;
	len = bpf_ntohs(uh->len);
	/* UDP length must cover its header and fit the IP payload. */
	if (len < sizeof(*uh) || (void *)uh + len > c->limit)
		return -ZDD_R_MALFORMED;
	pkt->flow.sport = uh->source;
	pkt->flow.svc.port = uh->dest;
	return 0;
}

static __always_inline int zdd_is_tcp_udp(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

/* The ports of a quoted packet, turned round into the flow key: the error is about a packet
 * the service sent (source port = the service's), the flow is keyed from the client. */
static __always_inline int zdd_quote_ports(struct zdd_cursor *c, struct zdd_pkt *pkt)
{
	__be16 *ports = zdd_pull(c, 8); /* RFC 792 quotes 8 bytes: ports, and TCP's sequence */

	if (!ports)
		return ZDD_ICMP_BAD;
	pkt->flow.svc.port = ports[0];
	pkt->flow.sport = ports[1];
	return ZDD_ICMP_ERROR;
}

/* The IPv4 packet an error quotes: its header whole, then 8 bytes of TCP or UDP. */
static __always_inline int zdd_parse_quote4(struct zdd_cursor *c, struct zdd_pkt *pkt)
{
	struct iphdr *q = c->pos;
	__be32 to;

	if (!zdd_pull(c, sizeof(*q)) || q->version != 4 || q->ihl < 5 ||
	    !zdd_pull(c, q->ihl * 4 - sizeof(*q)))
		return ZDD_ICMP_BAD;
	/* A later fragment quoted has no ports: no flow to find. */
	if (!zdd_is_tcp_udp(q->protocol) || (q->frag_off & bpf_htons(ZDD_IP_OFFSET)))
		return ZDD_ICMP_OTHER;
	__builtin_memcpy(&to, pkt->flow.svc.addr + 12, 4);
	if (q->saddr != to)
		return ZDD_ICMP_OTHER; /* not about a packet sent from this address */
	zdd_addr_map4(pkt->flow.saddr, q->daddr);
	pkt->flow.svc.proto = q->protocol;
	return zdd_quote_ports(c, pkt);
}

static __always_inline int zdd_parse_quote6(struct zdd_cursor *c, struct zdd_pkt *pkt)
{
	struct ipv6hdr *q = zdd_pull(c, sizeof(*q));
	const __u32 *s, *to = (const __u32 *)pkt->flow.svc.addr;

	if (!q || q->version != 6 || zdd_ipv6_is_v4mapped(&q->saddr) ||
	    zdd_ipv6_is_v4mapped(&q->daddr))
		return ZDD_ICMP_BAD;
	if (!zdd_is_tcp_udp(q->nexthdr))
		return ZDD_ICMP_OTHER; /* extension headers included: no ports where we look */
	s = q->saddr.in6_u.u6_addr32;
	if ((s[0] ^ to[0]) | (s[1] ^ to[1]) | (s[2] ^ to[2]) | (s[3] ^ to[3]))
		return ZDD_ICMP_OTHER;
	__builtin_memcpy(pkt->flow.saddr, &q->daddr, 16);
	pkt->flow.svc.proto = q->nexthdr;
	return zdd_quote_ports(c, pkt);
}

/*
 * Classifies an ICMP or ICMPv6 message (the cursor on its header; l3_hlen the IP header's
 * length). An error's flow replaces pkt->flow only when the kind is ZDD_ICMP_ERROR; otherwise
 * pkt->flow.svc.addr stays the message's destination. No checksum is checked: the backend's
 * kernel checks what it is sent, and an echo reply keeps a bad checksum bad.
 */
static __always_inline int zdd_parse_icmp(struct zdd_cursor *c, struct zdd_pkt *pkt, __u32 l3_hlen)
{
	struct zdd_icmphdr *h = zdd_pull(c, sizeof(*h));

	if (!h)
		return ZDD_ICMP_BAD;
	if (pkt->eth_proto == bpf_htons(ETH_P_IP)) {
		if (h->type == ZDD_ICMP4_ECHO) /* options would be echoed, reversed: the kernel's */
			return l3_hlen == sizeof(struct iphdr) ? ZDD_ICMP_ECHO : ZDD_ICMP_OTHER;
		if (h->type == ZDD_ICMP4_DEST_UNREACH || h->type == ZDD_ICMP4_TIME_EXCEEDED ||
		    h->type == ZDD_ICMP4_PARAMPROB)
			return zdd_parse_quote4(c, pkt);
		return ZDD_ICMP_OTHER;
	}
	if (h->type == ICMPV6_ECHO_REQUEST)
		return ZDD_ICMP_ECHO;
	if (h->type >= ICMPV6_DEST_UNREACH && h->type <= ICMPV6_PARAMPROB) /* the errors, 1-4 */
		return zdd_parse_quote6(c, pkt);
	return ZDD_ICMP_OTHER;
}

/* zdd_parse() on a cursor over the frame that starts at data, for either kind of program. */
static __always_inline int zdd_parse_frame(struct zdd_cursor *c, void *data, struct zdd_pkt *pkt)
{
	int err;

	err = zdd_parse_eth(c, pkt);
	if (err)
		return err;
	pkt->l3_off = c->pos - data;
	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		err = zdd_parse_ipv4(c, pkt);
	else
		err = zdd_parse_ipv6(c, pkt);
	if (err || pkt->fragment)
		return err;
	if (pkt->ext_hdr)
		return -ZDD_R_IPV6_EXT;
	if (!zdd_is_tcp_udp(pkt->flow.svc.proto)) {
		if (pkt->flow.svc.proto !=
		    (pkt->eth_proto == bpf_htons(ETH_P_IP) ? IPPROTO_ICMP : IPPROTO_ICMPV6))
			return -ZDD_R_NOT_L4;
		pkt->icmp = zdd_parse_icmp(c, pkt, c->pos - data - pkt->l3_off);
		return ZDD_PARSE_ICMP;
	}
	return zdd_parse_l4(c, pkt);
}

/*
 * Parses up to the transport header. Returns 0 with pkt->flow filled for TCP and UDP; or a
 * negative reason. Fragments return 0 with pkt->fragment set and no ports: the caller decides
 * by the destination address, since only fragments to a service are ours to drop. ICMP and
 * ICMPv6 return ZDD_PARSE_ICMP with pkt->icmp set (zdd_parse_icmp()).
 */
static __always_inline int zdd_parse(struct xdp_md *ctx, struct zdd_pkt *pkt)
{
	struct zdd_cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
		.limit = (void *)(long)ctx->data_end,
	};

	return zdd_parse_frame(&c, c.pos, pkt);
}

/* The same for a TC program: the headers it reads must be in the linear part of the skb. */
static __always_inline int zdd_parse_skb(struct __sk_buff *skb, struct zdd_pkt *pkt)
{
	struct zdd_cursor c = {
		.pos = (void *)(long)skb->data,
		.end = (void *)(long)skb->data_end,
		.limit = (void *)(long)skb->data_end,
	};

	return zdd_parse_frame(&c, c.pos, pkt);
}

#endif /* ZDD_PARSE_H */
