// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf/bench/zdd_pktgen.bpf.c - zdd-pktgen's frame writer. Run with BPF_PROG_TEST_RUN in
 * BPF_F_TEST_XDP_LIVE_FRAMES mode: each run stamps the next flow's source address and port
 * (and TCP sequence number) into the template frame, fixes the checksums, and returns XDP_TX,
 * which the kernel turns into a transmission out of the interface given as ingress_ifindex. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/*
 * Set by zdd-pktgen before load. The template frame is Ethernet + IPv4 (no options) or IPv6
 * (no extension headers) + TCP or UDP. The *_sum values are 32-bit one's complement partial
 * sums, in memory order, of the template with every field this program writes set to zero:
 * the checksum of a frame is then that sum plus the written fields, folded.
 */
const volatile __u8 cfg_v6;
const volatile __u8 cfg_tcp;
const volatile __u32 cfg_addr_base;   /* host order: the low 32 bits of the first source */
const volatile __u32 cfg_naddrs = 1;  /* sources base .. base + naddrs - 1 */
const volatile __u32 cfg_port_lo = 1; /* source ports port_lo .. port_lo + nports - 1 */
const volatile __u32 cfg_nports = 1;
const volatile __u64 cfg_nflows = 1; /* flow f uses address f % naddrs, port f / naddrs */
const volatile __u64 cfg_cpu_stride; /* CPU c starts at flow c * stride: threads differ */
const volatile __u32 cfg_ip_sum;     /* IPv4 header, saddr and check zero */
const volatile __u32 cfg_l4_sum;     /* pseudo-header + segment, saddr, port, seq, check zero */

/*
 * The first cfg_tmpl_len bytes of the template (8 <= len <= 128, at most the frame). Live-frames
 * mode initialises a page once and recycles it: a frame that comes back from a receiver that
 * rewrote it (an XDP_TX balancer writes its outer header over the Ethernet header) would be
 * sent again as it came back. So every run rewrites the headers from here, not only the fields
 * that vary.
 */
#define TMPL_MAX 128
const volatile __u8 cfg_tmpl[TMPL_MAX];
const volatile __u32 cfg_tmpl_len = 8;

/* Frames written by this CPU: the flow number, from the CPU's starting point. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} zdd_pktgen_seq SEC(".maps");

static __always_inline __u32 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* The two 16-bit halves of a 32-bit value as it lies in memory. */
static __always_inline __u32 halves(__u32 v)
{
	return (v & 0xffff) + (v >> 16);
}

SEC("xdp")
int zdd_xdp_pktgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 key = 0, l4_off, f32, addr, seq, sum, a, i;
	__u64 *count, n, f;
	__be16 sport;
	__be32 *saddr;
	__u16 *check;

	if (data + cfg_tmpl_len > end || cfg_tmpl_len < 8 || cfg_tmpl_len > TMPL_MAX)
		return XDP_ABORTED;
#pragma unroll
	for (i = 0; i < TMPL_MAX / 8; i++) {
		if ((i + 1) * 8 > cfg_tmpl_len)
			break;
		((__u64 *)data)[i] = *(const volatile __u64 *)&cfg_tmpl[i * 8];
	}
	/* The tail, in one more (overlapping) word. */
	*(__u64 *)(data + cfg_tmpl_len - 8) = *(const volatile __u64 *)&cfg_tmpl[cfg_tmpl_len - 8];

	count = bpf_map_lookup_elem(&zdd_pktgen_seq, &key);
	if (!count)
		return XDP_ABORTED;
	n = *count + bpf_get_smp_processor_id() * cfg_cpu_stride;
	*count += 1;
	f = n % cfg_nflows;
	a = f % cfg_naddrs;
	f32 = f;
	addr = bpf_htonl(cfg_addr_base + a);
	sport = bpf_htons(cfg_port_lo + (__u32)((f / cfg_naddrs) % cfg_nports));
	/* Spread sequence numbers like ISNs; constant per flow, so ACKs look like one stream. */
	seq = bpf_htonl(f32 * 2654435761u);

	l4_off = sizeof(struct ethhdr) + (cfg_v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr));
	if (data + l4_off + sizeof(struct tcphdr) > end)
		return XDP_ABORTED; /* zdd-pktgen pads every frame past this */
	if (cfg_v6) {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

		saddr = &ip6->saddr.in6_u.u6_addr32[3];
	} else {
		struct iphdr *iph = data + sizeof(struct ethhdr);

		saddr = &iph->saddr;
		iph->check = ~fold(cfg_ip_sum + halves(addr)) & 0xffff;
	}
	*saddr = addr;
	sum = cfg_l4_sum + halves(addr) + sport;
	if (cfg_tcp) {
		struct tcphdr *th = data + l4_off;

		th->source = sport;
		th->seq = seq;
		sum += halves(seq);
		check = &th->check;
	} else {
		struct udphdr *uh = data + l4_off;

		uh->source = sport;
		check = &uh->check;
	}
	sum = ~fold(sum) & 0xffff;
	/* Zero means "no checksum" in UDP; one's complement has two zeros, send the other. */
	if (!cfg_tcp && !sum)
		sum = 0xffff;
	*check = sum;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
