// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf/zdd_hcheck.bpf.c - the LB's TC egress: a health probe's packets (a real TCP connection
 * of the agent to a service address, registered in zdd_hc_probes) leave in the tunnel to the
 * backend it checks, as clients' packets do, so a backend that cannot take the tunnel fails its
 * check. Everything else the host sends passes untouched. */
#include <linux/pkt_cls.h>
#include "encap.h"
#include "zdd_maps.h" /* zdd_backends and zdd_config: libzdd hands over the balancer's own */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZDD_HC_MAX_PROBES);
	__type(key, struct zdd_flow_key);
	__type(value, __u32); /* backend id */
} zdd_hc_probes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZDD_HCHECK_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} zdd_hc_stats SEC(".maps");

/* Counts the packet's fate and returns the verdict the ABI header pairs with it. */
static __always_inline int zdd_hc_verdict(enum zdd_hcheck_counter which)
{
	__u32 key = which;
	__u64 *count = bpf_map_lookup_elem(&zdd_hc_stats, &key);

	if (count)
		*count += 1;
	switch (which) {
#define ZDD_HCHECK_VERDICT(e, name, verdict) \
	case ZDD_HC_##e:                     \
		return verdict;
		ZDD_HCHECK_COUNTERS(ZDD_HCHECK_VERDICT)
#undef ZDD_HCHECK_VERDICT
	default:
		return TC_ACT_SHOT;
	}
}

/*
 * Room for the outer header between the MAC header and the probe's IP header, then the outer
 * header and the next hop's MAC, as zdd_encap() writes them for clients. The stack wrote the
 * probe's checksums or left them to offload (csum_start stays on the TCP header: the room goes
 * in front of it); the ENCAP flags tell GSO what it carries.
 */
static __always_inline int zdd_hc_encap(struct __sk_buff *skb, const struct zdd_pkt *pkt,
					const struct zdd_backend_val *be,
					const struct zdd_config *cfg)
{
	int v4 = pkt->eth_proto == bpf_htons(ETH_P_IP), err = zdd_encap_check(pkt, cfg);
	struct ipv6hdr ip6 = {};
	struct iphdr ip4;

	if (err)
		return err == -ZDD_R_TOO_BIG ? -ZDD_HC_TOO_BIG : -ZDD_HC_ENCAP;
	if (pkt->vlan_tpid)
		return -ZDD_HC_ENCAP; /* the host's own packets on a tagged port: a VLAN device's */
	if (v4) {
		zdd_outer_ipv4(&ip4, pkt->tos, pkt->l3_len, be, cfg);
		if (bpf_skb_adjust_room(skb, sizeof(ip4), BPF_ADJ_ROOM_MAC,
					BPF_F_ADJ_ROOM_ENCAP_L3_IPV4) ||
		    bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &ip4, sizeof(ip4), 0))
			return -ZDD_HC_ENCAP;
	} else {
		/* The flow label from the probe's port: probes spread over ECMP paths too. */
		zdd_outer_ipv6(&ip6, pkt->tos, pkt->l3_len, bpf_ntohs(pkt->flow.sport), be, cfg);
		if (bpf_skb_adjust_room(skb, sizeof(ip6), BPF_ADJ_ROOM_MAC,
					BPF_F_ADJ_ROOM_ENCAP_L3_IPV6) ||
		    bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &ip6, sizeof(ip6), 0))
			return -ZDD_HC_ENCAP;
	}
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), be->mac, ETH_ALEN, 0))
		return -ZDD_HC_ENCAP;
	return v4 ? ZDD_HC_TUNNEL4 : ZDD_HC_TUNNEL6;
}

/* A probe's packet is one TCP segment: an MTU at most, jumbo frames included. */
#define ZDD_HC_PULL_MAX 9216

SEC("tc")
int zdd_tc_hcheck(struct __sk_buff *skb)
{
	struct zdd_pkt pkt = {};
	struct zdd_backend_val *be;
	struct zdd_config *cfg;
	__u32 *id, zero = 0;
	int r;

	r = zdd_parse_skb(skb, &pkt);
	/* The stack sends TCP payload in page fragments, and the parser wants the datagram in the
	 * linear part: pulled in, for what can be a probe (longer ones are the host's own bulk
	 * traffic, GSO). Only when the headers alone did not parse: the rest is not copied. */
	if (r && skb->len <= ZDD_HC_PULL_MAX && !bpf_skb_pull_data(skb, skb->len)) {
		__builtin_memset(&pkt, 0, sizeof(pkt));
		r = zdd_parse_skb(skb, &pkt);
	}
	if (r || pkt.fragment || pkt.flow.svc.proto != IPPROTO_TCP)
		return zdd_hc_verdict(ZDD_HC_PASS);
	id = bpf_map_lookup_elem(&zdd_hc_probes, &pkt.flow);
	if (!id)
		return zdd_hc_verdict(ZDD_HC_PASS);
	be = bpf_map_lookup_elem(&zdd_backends, id);
	cfg = bpf_map_lookup_elem(&zdd_config, &zero);
	if (!be || be->state == ZDD_BE_EMPTY || !cfg)
		return zdd_hc_verdict(ZDD_HC_NO_BACKEND);
	r = zdd_hc_encap(skb, &pkt, be, cfg);
	return zdd_hc_verdict(r < 0 ? -r : r);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
