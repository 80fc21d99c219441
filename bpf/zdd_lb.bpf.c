// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf/zdd_lb.bpf.c - the XDP entry point of the balancer: parse -> service -> conntrack ->
 * encapsulate -> XDP_TX. Every exit counts exactly one reason (lib/stats.h). */
#include "conntrack.h"
#include "encap.h"

static __always_inline void zdd_count_backend(const struct zdd_pkt *pkt, __u32 backend)
{
	struct zdd_backend_stats *st = zdd_backend_stats(backend);

	if (!st)
		return;
	st->packets++;
	st->bytes += pkt->l3_len;
	if (pkt->tcp_flags & ZDD_TCP_RST)
		st->client_resets++;
}

static __always_inline int zdd_forward(struct xdp_md *ctx, struct zdd_pkt *pkt,
				       const struct zdd_service_val *svc)
{
	__u32 zero = 0, label = 0;
	struct zdd_config *cfg = bpf_map_lookup_elem(&zdd_config, &zero);
	struct zdd_ct ct = {};
	int err;

	if (!cfg)
		return -ZDD_R_ENCAP;
	err = zdd_conntrack(pkt, svc, cfg, &ct);
	if (err)
		return err;
	if (pkt->eth_proto == bpf_htons(ETH_P_IPV6))
		label = zdd_flow_hash(pkt);
	err = zdd_encap(ctx, pkt, ct.to.be, cfg, label);
	if (err)
		return err;
	zdd_count_backend(pkt, ct.to.backend);
	return ct.reason;
}

SEC("xdp")
int zdd_xdp_lb(struct xdp_md *ctx)
{
	struct zdd_pkt pkt = {};
	struct zdd_service_val *svc;
	int ret;

	ret = zdd_parse(ctx, &pkt);
	if (ret < 0)
		return zdd_verdict(-ret);
	if (pkt.fragment) {
		/* No ports to hash: a fragment to a service cannot be balanced consistently. */
		if (bpf_map_lookup_elem(&zdd_vips, pkt.flow.svc.addr))
			return zdd_verdict(ZDD_R_FRAGMENT);
		return zdd_verdict(pkt.ext_hdr ? ZDD_R_IPV6_EXT : ZDD_R_NO_SERVICE);
	}
	svc = bpf_map_lookup_elem(&zdd_services, &pkt.flow.svc);
	if (!svc)
		return zdd_verdict(ZDD_R_NO_SERVICE);
	ret = zdd_forward(ctx, &pkt, svc);
	return zdd_verdict(ret < 0 ? -ret : ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
