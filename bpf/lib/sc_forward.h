/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/sc_forward.h - zdd_decap's half of second chance (zdd_abi.h, struct zdd_sc_opt): a
 * tunnelled TCP packet no local socket wants goes on to the backend its option names, instead
 * of reaching a stack that would reset the client's connection. */
#ifndef ZDD_SC_FORWARD_H
#define ZDD_SC_FORWARD_H

#include "encap.h"

#define ZDD_SC_OUTER_LEN (sizeof(struct iphdr) + sizeof(struct zdd_sc_opt))
#define ZDD_AF_INET	 2 /* linux/socket.h would pull libc's headers into BPF */

/*
 * Whether a socket here owns the inner TCP packet at c (the cursor on its IP header): an
 * established or half-open connection, or a listener whose SYN cookie this ACK carries (the
 * listener's queue overflowed, so the handshake left no state to find). Returns the counter.
 */
static __always_inline enum zdd_decap_counter zdd_sc_owner(struct xdp_md *ctx, struct zdd_cursor *c)
{
	struct zdd_pkt in = {};
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	void *ip = c->pos, *th;
	long cookie;

	if (zdd_parse_ipv4(c, &in) || in.fragment)
		return ZDD_D_SC_BAD;
	if (in.flow.svc.proto != IPPROTO_TCP)
		return ZDD_D_SC_LOCAL; /* only TCP has connections to find */
	th = c->pos;
	if (zdd_parse_l4(c, &in))
		return ZDD_D_SC_BAD;
	if ((in.tcp_flags & (ZDD_TCP_SYN | ZDD_TCP_ACK)) == ZDD_TCP_SYN)
		return ZDD_D_SC_LOCAL; /* a new connection is anyone's */
	__builtin_memcpy(&t.ipv4.saddr, in.flow.saddr + 12, 4);
	__builtin_memcpy(&t.ipv4.daddr, in.flow.svc.addr + 12, 4);
	t.ipv4.sport = in.flow.sport;
	t.ipv4.dport = in.flow.svc.port;
	sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return ZDD_D_SC_FORWARD;
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return ZDD_D_SC_LOCAL;
	}
	/* The listener answers an ACK it has no request for with a reset, unless it is a cookie. */
	cookie = bpf_tcp_check_syncookie(sk, ip, sizeof(struct iphdr), th, sizeof(struct tcphdr));
	bpf_sk_release(sk);
	return cookie ? ZDD_D_SC_FORWARD : ZDD_D_SC_COOKIE;
}

/*
 * Sends the tunnelled packet to the backend its option names: the outer destination rewritten,
 * the option marked as used (never forwarded twice), the TTL lowered, out the interface it
 * came in on. The next hop is the FIB's; without a resolved neighbour there (backends seldom
 * talk to each other), the hop that brought the packet, which routed it to us and routes it on.
 */
static __always_inline enum zdd_decap_counter zdd_sc_send(struct xdp_md *ctx,
							  const struct zdd_pkt *pkt)
{
	struct zdd_l2 l2 = { .vlan_tpid = pkt->vlan_tpid, .vlan_tci = pkt->vlan_tci };
	struct bpf_fib_lookup fib = {};
	enum zdd_decap_counter fate = ZDD_D_SC_FORWARD;
	union zdd_sc_outer *o, h;
	struct ethhdr *eth;
	__u32 l2_len;

	o = zdd_frame_at(ctx, zdd_l2_len(pkt->vlan_tpid), sizeof(*o));
	eth = zdd_frame_at(ctx, 0, sizeof(*eth));
	if (!o || !eth)
		return ZDD_D_SC_BAD;
	h = *o;
	if (h.opt.hops || h.ip.ttl <= 1 || !__builtin_memcmp(h.opt.addr, &h.ip.daddr, 4))
		return ZDD_D_SC_SPENT;
	__builtin_memcpy(&h.ip.daddr, h.opt.addr, 4);
	h.opt.hops = 1;
	h.ip.ttl--;
	h.ip.check = zdd_sc_outer_csum(&h);

	fib.family = ZDD_AF_INET;
	fib.l4_protocol = IPPROTO_IPIP;
	fib.tot_len = bpf_ntohs(h.ip.tot_len);
	fib.ipv4_src = h.ip.saddr;
	fib.ipv4_dst = h.ip.daddr;
	fib.ifindex = ctx->ingress_ifindex;
	/* OUTPUT: a backend need not forward packets to send this one; the interface is fixed. */
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT) ==
		    BPF_FIB_LKUP_RET_SUCCESS &&
	    fib.ifindex == ctx->ingress_ifindex) {
		zdd_mac_copy(l2.dst, fib.dmac);
		zdd_mac_copy(l2.src, fib.smac);
	} else {
		zdd_mac_copy(l2.dst, eth->h_source);
		zdd_mac_copy(l2.src, eth->h_dest);
		fate = ZDD_D_SC_VIA_HOP;
	}
	if (zdd_write_l2(ctx, &l2, bpf_htons(ETH_P_IP), &l2_len))
		return ZDD_D_SC_BAD;
	o = zdd_frame_at(ctx, l2_len, sizeof(*o));
	if (!o)
		return ZDD_D_SC_BAD;
	*o = h;
	return fate;
}

/*
 * The fate of an IPv4 tunnel to us whose outer header is ZDD_SC_OUTER_LEN long: DECAP4 when it
 * carries no second chance, else one of the second_chance_* counters. Only SC_FORWARD and
 * SC_VIA_HOP have sent it; SC_BAD leaves it as it came.
 */
static __always_inline enum zdd_decap_counter zdd_sc_fate(struct xdp_md *ctx,
							  const struct zdd_pkt *pkt)
{
	struct zdd_cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
		.limit = (void *)(long)ctx->data_end,
	};
	__u32 l2_len = zdd_l2_len(pkt->vlan_tpid);
	struct zdd_sc_opt *opt;
	enum zdd_decap_counter fate;

	opt = zdd_frame_at(ctx, l2_len + sizeof(struct iphdr), sizeof(*opt));
	if (!opt || opt->type != ZDD_SC_OPT_TYPE || opt->len != sizeof(*opt))
		return ZDD_D_DECAP4;
	if (!zdd_pull(&c, l2_len + ZDD_SC_OUTER_LEN))
		return ZDD_D_SC_BAD;
	fate = zdd_sc_owner(ctx, &c);
	if (fate != ZDD_D_SC_FORWARD)
		return fate;
	return zdd_sc_send(ctx, pkt);
}

#endif /* ZDD_SC_FORWARD_H */
