// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf/zdd_lb.bpf.c - the XDP entry point of the balancer: parse -> flow cache, or service
 * (its cache) -> conntrack -> encapsulate -> XDP_TX; ICMP for the services. Every exit counts
 * exactly one reason (lib/stats.h). */
#include "icmp.h"
#include "svc_cache.h"

static __always_inline void zdd_count_backend(const struct zdd_pkt *pkt, __u32 backend)
{
	struct zdd_backend_stats *st = zdd_backend_stats(backend);

	if (!st)
		return;
	st->packets++;
	st->bytes += pkt->l3_len;
}

/* Sends the packet where ct says; returns the reason to count. */
static __always_inline enum zdd_reason zdd_send(struct xdp_md *ctx, struct zdd_pkt *pkt,
						const struct zdd_config *cfg,
						const struct zdd_ct *ct)
{
	__u32 label = 0;
	int err;

	if (pkt->eth_proto == bpf_htons(ETH_P_IPV6))
		label = zdd_flow_hash(pkt);
	err = zdd_encap(ctx, pkt, ct->to.be, cfg, label, ct->second.be);
	if (err) {
		/* Never an ICMP error about an ICMP error (RFC 1122 3.2.2). */
		if (err == -ZDD_R_TOO_BIG && !pkt->icmp)
			return zdd_icmp_too_big(ctx, pkt, cfg);
		return -err;
	}
	zdd_count_backend(pkt, ct->to.backend);
	return ct->reason;
}

/*
 * An ICMP message; ours only when it is addressed to a service address (lib/parse.h says what
 * it is). An error about a flow of a service goes to the flow's backend, as the flow's own
 * packets do: the router on the way back to the client sent it to the service address, and
 * the backend's stack, which sent the packet it quotes, is the one to act on it (path MTU
 * discovery of downloads, a client's unreachable port).
 */
static __always_inline enum zdd_reason zdd_icmp(struct xdp_md *ctx, struct zdd_pkt *pkt)
{
	struct zdd_ct ct = { .reason = ZDD_R_TX_ICMP_ERROR };
	struct zdd_service_val *svc;
	struct zdd_config *cfg;
	__u32 zero = 0;
	int err;

	if (!bpf_map_lookup_elem(&zdd_vips, pkt->flow.svc.addr))
		return ZDD_R_NOT_L4;
	if (pkt->icmp == ZDD_ICMP_ECHO)
		return zdd_icmp_echo(ctx, pkt);
	if (pkt->icmp == ZDD_ICMP_BAD)
		return ZDD_R_MALFORMED;
	if (pkt->icmp != ZDD_ICMP_ERROR)
		return ZDD_R_NOT_L4;
	cfg = bpf_map_lookup_elem(&zdd_config, &zero);
	if (!cfg)
		return ZDD_R_ENCAP;
	svc = bpf_map_lookup_elem(&zdd_services, &pkt->flow.svc);
	if (!svc)
		return ZDD_R_NO_SERVICE;
	err = zdd_ct_peek(pkt, svc, cfg, &ct.to);
	if (err)
		return -err;
	return zdd_send(ctx, pkt, cfg, &ct);
}

SEC("xdp")
int zdd_xdp_lb(struct xdp_md *ctx)
{
	struct zdd_pkt pkt = {};
	struct zdd_ct ct = {};
	struct zdd_flow_cache_slot *slot;
	struct zdd_service_val *svc;
	struct zdd_config *cfg;
	__u32 zero = 0, epoch;
	int ret;

	ret = zdd_parse(ctx, &pkt);
	if (ret)
		return zdd_verdict(ret < 0 ? -ret : zdd_icmp(ctx, &pkt));
	if (pkt.fragment) {
		/* No ports to hash: a fragment to a service cannot be balanced consistently. */
		if (bpf_map_lookup_elem(&zdd_vips, pkt.flow.svc.addr))
			return zdd_verdict(ZDD_R_FRAGMENT);
		return zdd_verdict(pkt.ext_hdr ? ZDD_R_IPV6_EXT : ZDD_R_NO_SERVICE);
	}
	cfg = bpf_map_lookup_elem(&zdd_config, &zero);
	if (!cfg)
		return zdd_verdict(ZDD_R_ENCAP);
	/* Read before conntrack and zdd_services are: userspace bumps it after its writes. */
	epoch = *(volatile __u32 *)&cfg->cache_epoch;
	slot = zdd_flow_cache_slot(&pkt);
	if (zdd_flow_cache_get(slot, &pkt, epoch, &ct))
		return zdd_verdict(zdd_send(ctx, &pkt, cfg, &ct));
	svc = zdd_service_of(&pkt, epoch);
	if (!svc)
		return zdd_verdict(ZDD_R_NO_SERVICE);
	ret = zdd_conntrack(&pkt, svc, cfg, &ct);
	if (ret)
		return zdd_verdict(-ret);
	zdd_flow_cache_put(slot, &pkt, epoch, svc->index, &ct);
	return zdd_verdict(zdd_send(ctx, &pkt, cfg, &ct));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
