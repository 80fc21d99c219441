/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/sc_forward.h - zdd_decap's half of second chance (zdd_abi.h, struct zdd_sc_opt and
 * zdd_sc_dstopts): a tunnelled TCP packet no local socket wants goes on to the backend its
 * option names, instead of reaching a stack that would reset the client's connection. */
#ifndef ZDD_SC_FORWARD_H
#define ZDD_SC_FORWARD_H

#include "encap.h"

#define ZDD_SC_OUTER_LEN  (sizeof(struct iphdr) + sizeof(struct zdd_sc_opt))
#define ZDD_SC_OUTER6_LEN (sizeof(struct ipv6hdr) + sizeof(struct zdd_sc_dstopts))
#define ZDD_AF_INET	  2 /* linux/socket.h would pull libc's headers into BPF */
#define ZDD_AF_INET6	  10

/*
 * An IPv6 tunnel whose next header is a destination options header: when it is our option
 * alone, steps over it and makes pkt look like the plain tunnel it wraps (the caller's checks
 * go on as for one); anything else is left as it is, not a tunnel of ours.
 */
static __always_inline void zdd_sc_skip6(struct zdd_cursor *c, struct zdd_pkt *pkt)
{
	struct zdd_sc_dstopts *o = c->pos;

	if (pkt->eth_proto != bpf_htons(ETH_P_IPV6) || pkt->flow.svc.proto != IPPROTO_DSTOPTS)
		return;
	if (!zdd_pull(c, sizeof(*o)))
		return;
	if (o->nexthdr != IPPROTO_IPV6 || o->hdrlen != sizeof(*o) / 8 - 1 ||
	    o->type != ZDD_SC_OPT6_TYPE || o->len != sizeof(*o) - 6) {
		c->pos = o;
		return;
	}
	pkt->flow.svc.proto = IPPROTO_IPV6;
	pkt->ext_hdr = 0;
}

/*
 * Whether a socket here owns the inner TCP packet at c (the cursor on its IP header): an
 * established or half-open connection, or a listener whose SYN cookie this ACK carries (the
 * listener's queue overflowed, so the handshake left no state to find). Returns the counter.
 */
static __always_inline enum zdd_decap_counter zdd_sc_owner(struct xdp_md *ctx, struct zdd_cursor *c,
							   int v4)
{
	struct zdd_pkt in = {};
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	void *ip = c->pos, *th;
	long cookie;
	__u32 tlen;

	if (v4 ? zdd_parse_ipv4(c, &in) : zdd_parse_ipv6(c, &in))
		return ZDD_D_SC_BAD;
	if (in.fragment || in.ext_hdr)
		return ZDD_D_SC_BAD;
	if (in.flow.svc.proto != IPPROTO_TCP)
		return ZDD_D_SC_LOCAL; /* only TCP has connections to find */
	th = c->pos;
	if (zdd_parse_l4(c, &in))
		return ZDD_D_SC_BAD;
	if ((in.tcp_flags & (ZDD_TCP_SYN | ZDD_TCP_ACK)) == ZDD_TCP_SYN)
		return ZDD_D_SC_LOCAL; /* a new connection is anyone's */
	if (v4) {
		__builtin_memcpy(&t.ipv4.saddr, in.flow.saddr + 12, 4);
		__builtin_memcpy(&t.ipv4.daddr, in.flow.svc.addr + 12, 4);
		t.ipv4.sport = in.flow.sport;
		t.ipv4.dport = in.flow.svc.port;
		tlen = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, in.flow.saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, in.flow.svc.addr, 16);
		t.ipv6.sport = in.flow.sport;
		t.ipv6.dport = in.flow.svc.port;
		tlen = sizeof(t.ipv6);
	}
	sk = bpf_skc_lookup_tcp(ctx, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return ZDD_D_SC_FORWARD;
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return ZDD_D_SC_LOCAL;
	}
	/* The listener answers an ACK it has no request for with a reset, unless it is a cookie. */
	cookie = bpf_tcp_check_syncookie(sk, ip, v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr),
					 th, sizeof(struct tcphdr));
	bpf_sk_release(sk);
	return cookie ? ZDD_D_SC_FORWARD : ZDD_D_SC_COOKIE;
}

/*
 * The Ethernet header towards the other backend, out the interface the packet came in on: the
 * FIB's next hop; without a resolved neighbour there (backends seldom talk to each other), the
 * hop that brought the packet, which routed it to us and routes it on. fib has the addresses.
 */
static __always_inline enum zdd_decap_counter zdd_sc_l2(struct xdp_md *ctx,
							const struct zdd_pkt *pkt,
							struct bpf_fib_lookup *fib)
{
	struct zdd_l2 l2 = { .vlan_tpid = pkt->vlan_tpid, .vlan_tci = pkt->vlan_tci };
	enum zdd_decap_counter fate = ZDD_D_SC_FORWARD;
	struct ethhdr *eth = zdd_frame_at(ctx, 0, sizeof(*eth));
	__u32 l2_len;

	if (!eth)
		return ZDD_D_SC_BAD;
	fib->ifindex = ctx->ingress_ifindex;
	/* OUTPUT: a backend need not forward packets to send this one; the interface is fixed. */
	if (bpf_fib_lookup(ctx, fib, sizeof(*fib), BPF_FIB_LOOKUP_OUTPUT) ==
		    BPF_FIB_LKUP_RET_SUCCESS &&
	    fib->ifindex == ctx->ingress_ifindex) {
		zdd_mac_copy(l2.dst, fib->dmac);
		zdd_mac_copy(l2.src, fib->smac);
	} else {
		zdd_mac_copy(l2.dst, eth->h_source);
		zdd_mac_copy(l2.src, eth->h_dest);
		fate = ZDD_D_SC_VIA_HOP;
	}
	if (zdd_write_l2(ctx, &l2, pkt->eth_proto, &l2_len))
		return ZDD_D_SC_BAD;
	return fate;
}

/*
 * Sends the tunnelled packet to the backend its option names: the outer destination rewritten,
 * the option marked as used (never forwarded twice), the TTL lowered.
 */
static __always_inline enum zdd_decap_counter zdd_sc_send4(struct xdp_md *ctx,
							   const struct zdd_pkt *pkt, __u32 l2_len)
{
	struct bpf_fib_lookup fib = { .family = ZDD_AF_INET, .l4_protocol = IPPROTO_IPIP };
	union zdd_sc_outer *o, h;

	o = zdd_frame_at(ctx, l2_len, sizeof(*o));
	if (!o)
		return ZDD_D_SC_BAD;
	h = *o;
	if (h.opt.hops || h.ip.ttl <= 1 || !__builtin_memcmp(h.opt.addr, &h.ip.daddr, 4))
		return ZDD_D_SC_SPENT;
	__builtin_memcpy(&h.ip.daddr, h.opt.addr, 4);
	h.opt.hops = 1;
	h.ip.ttl--;
	h.ip.check = zdd_sc_outer_csum(&h);
	*o = h;
	fib.tot_len = bpf_ntohs(h.ip.tot_len);
	fib.ipv4_src = h.ip.saddr;
	fib.ipv4_dst = h.ip.daddr;
	return zdd_sc_l2(ctx, pkt, &fib);
}

/* The same for IPv6: no header checksum; the hop limit lowered. */
static __always_inline enum zdd_decap_counter zdd_sc_send6(struct xdp_md *ctx,
							   const struct zdd_pkt *pkt, __u32 l2_len)
{
	struct bpf_fib_lookup fib = { .family = ZDD_AF_INET6, .l4_protocol = IPPROTO_DSTOPTS };
	struct zdd_sc_outer6 *o = zdd_frame_at(ctx, l2_len, sizeof(*o));
	__u64 to[2], self[2];

	if (!o)
		return ZDD_D_SC_BAD;
	__builtin_memcpy(to, o->opt.addr, 16);
	__builtin_memcpy(self, &o->ip.daddr, 16);
	if (o->opt.hops || o->ip.hop_limit <= 1 || (to[0] == self[0] && to[1] == self[1]))
		return ZDD_D_SC_SPENT;
	__builtin_memcpy(&o->ip.daddr, o->opt.addr, 16);
	o->opt.hops = 1;
	o->ip.hop_limit--;
	fib.tot_len = sizeof(o->ip) + bpf_ntohs(o->ip.payload_len);
	__builtin_memcpy(fib.ipv6_src, &o->ip.saddr, 16);
	__builtin_memcpy(fib.ipv6_dst, &o->ip.daddr, 16);
	return zdd_sc_l2(ctx, pkt, &fib);
}

/*
 * The fate of a tunnel to us, outer bytes of outer header: DECAP4 or DECAP6 when it carries no
 * second chance, else one of the second_chance_* counters. Only SC_FORWARD and SC_VIA_HOP have
 * sent it; SC_BAD leaves it as it came.
 */
static __always_inline enum zdd_decap_counter zdd_sc_fate(struct xdp_md *ctx,
							  const struct zdd_pkt *pkt, int outer)
{
	struct zdd_cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
		.limit = (void *)(long)ctx->data_end,
	};
	int v4 = pkt->eth_proto == bpf_htons(ETH_P_IP);
	__u32 l2_len = zdd_l2_len(pkt->vlan_tpid);
	struct zdd_sc_opt *opt;
	enum zdd_decap_counter fate;

	if (v4) {
		if (outer != ZDD_SC_OUTER_LEN)
			return ZDD_D_DECAP4;
		opt = zdd_frame_at(ctx, l2_len + sizeof(struct iphdr), sizeof(*opt));
		if (!opt || opt->type != ZDD_SC_OPT_TYPE || opt->len != sizeof(*opt))
			return ZDD_D_DECAP4;
	} else if (outer != ZDD_SC_OUTER6_LEN) {
		return ZDD_D_DECAP6; /* zdd_sc_skip6() let only our option through */
	}
	if (!zdd_pull(&c, l2_len + (v4 ? ZDD_SC_OUTER_LEN : ZDD_SC_OUTER6_LEN)))
		return ZDD_D_SC_BAD;
	/* Inlined once per family, v4 a constant in each: the verifier then knows which header
	 * the cursor passed, and how long it is, on every path. */
	fate = v4 ? zdd_sc_owner(ctx, &c, 1) : zdd_sc_owner(ctx, &c, 0);
	if (fate != ZDD_D_SC_FORWARD)
		return fate;
	return v4 ? zdd_sc_send4(ctx, pkt, l2_len) : zdd_sc_send6(ctx, pkt, l2_len);
}

#endif /* ZDD_SC_FORWARD_H */
