// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf/bench/zdd_bench.bpf.c - the harness of `make bench` (tools/bench/zdd-bench.c): a wrapper
 * that puts the frame back as it was and tail-calls the program under test, and the programs
 * that bound zdd's cost from below (XDP_DROP; parse + IPIP push + XDP_TX) and, in the lab, the
 * MAC-swap XDP_TX ceiling. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define BENCH_ORIG_MAX 128 /* bytes of the frame the wrapper can restore */

/*
 * With `repeat`, BPF_PROG_TEST_RUN hands the same buffer to every iteration, so the program
 * under test would see its own output from the second iteration on. The wrapper undoes that
 * first: it moves the start of the frame back (undoing bpf_xdp_adjust_head) and rewrites the
 * first bench_restore bytes from bench_orig (an encapsulation rewrites the Ethernet header,
 * the outer header lies before it). Then it stamps the varying fields: a 32-bit word (a
 * source address) and a 16-bit one (a source port) counting through a range, so a case can
 * walk through new flows or a set of live flows. Every case pays the same wrapper, floors
 * included; the program under test is reached by a tail call, so it is the very program
 * userspace loaded, with its own maps.
 */
__u8 bench_orig[BENCH_ORIG_MAX];
__u32 bench_len;     /* the frame's length as given to BPF_PROG_TEST_RUN */
__u32 bench_restore; /* multiple of 8, at most BENCH_ORIG_MAX, at most bench_len */
__u32 stamp_a_off;   /* offset of the 32-bit field */
__u32 stamp_a_base;  /* host order */
__u32 stamp_a_n;     /* values base .. base + n - 1 */
__u32 stamp_b_off;   /* offset of the 16-bit field; it steps when a wraps */
__u32 stamp_b_base;
__u32 stamp_b_n;
__u32 ctr_a, ctr_b;

/* Floors: the outer header they push. */
__u8 floor_src6[16], floor_dst6[16];
__be32 floor_src4, floor_dst4;
__u8 floor_mac[6];

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} zdd_bench_progs SEC(".maps");

SEC("xdp")
int zdd_xdp_bench(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 len = end - data, off, i;
	__u64 *orig = (__u64 *)bench_orig;
	__be32 a;
	__be16 b;

	if (len != bench_len) {
		if (bpf_xdp_adjust_head(ctx, (int)len - (int)bench_len))
			return XDP_ABORTED;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
	}
#pragma unroll
	for (i = 0; i < BENCH_ORIG_MAX / 8; i++) {
		if (i * 8 >= bench_restore)
			break;
		if (data + (i + 1) * 8 > end)
			return XDP_ABORTED;
		((__u64 *)data)[i] = orig[i];
	}
	a = bpf_htonl(stamp_a_base + ctr_a);
	b = bpf_htons(stamp_b_base + ctr_b);
	if (++ctr_a >= stamp_a_n) {
		ctr_a = 0;
		if (++ctr_b >= stamp_b_n)
			ctr_b = 0;
	}
	off = stamp_a_off;
	if (off > BENCH_ORIG_MAX || data + off + 4 > end)
		return XDP_ABORTED;
	__builtin_memcpy(data + off, &a, 4);
	off = stamp_b_off;
	if (off > BENCH_ORIG_MAX || data + off + 2 > end)
		return XDP_ABORTED;
	__builtin_memcpy(data + off, &b, 2);
	bpf_tail_call(ctx, &zdd_bench_progs, 0);
	return XDP_ABORTED; /* no program under test */
}

SEC("xdp")
int zdd_xdp_bench_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

static __always_inline __u16 csum_ipv4(const struct iphdr *iph)
{
	const __u16 *w = (const __u16 *)iph;
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)sizeof(*iph) / 2; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* The least a tunnelling balancer does: parse Ethernet and IP, push the outer header, send. */
SEC("xdp")
int zdd_xdp_bench_encap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data, *neth;
	struct ipv6hdr *ip6, *o6;
	struct iphdr *iph, *o4;
	__u8 src_mac[6];
	__u16 plen;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	__builtin_memcpy(src_mac, eth->h_dest, 6);
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		iph = (void *)(eth + 1);
		if ((void *)(iph + 1) > end || iph->version != 4 || iph->ihl < 5)
			return XDP_PASS;
		plen = bpf_ntohs(iph->tot_len);
		if (bpf_xdp_adjust_head(ctx, -(int)sizeof(*o4)))
			return XDP_DROP;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		neth = data;
		o4 = data + sizeof(*neth);
		if ((void *)(o4 + 1) > end)
			return XDP_DROP;
		__builtin_memcpy(neth->h_dest, floor_mac, 6);
		__builtin_memcpy(neth->h_source, src_mac, 6);
		neth->h_proto = bpf_htons(ETH_P_IP);
		o4->version = 4;
		o4->ihl = 5;
		o4->tos = 0;
		o4->tot_len = bpf_htons(plen + sizeof(*o4));
		o4->id = 0;
		o4->frag_off = bpf_htons(0x4000);
		o4->ttl = 64;
		o4->protocol = IPPROTO_IPIP;
		o4->check = 0;
		o4->saddr = floor_src4;
		o4->daddr = floor_dst4;
		o4->check = csum_ipv4(o4);
		return XDP_TX;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return XDP_PASS;
		plen = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		if (bpf_xdp_adjust_head(ctx, -(int)sizeof(*o6)))
			return XDP_DROP;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		neth = data;
		o6 = data + sizeof(*neth);
		if ((void *)(o6 + 1) > end)
			return XDP_DROP;
		__builtin_memcpy(neth->h_dest, floor_mac, 6);
		__builtin_memcpy(neth->h_source, src_mac, 6);
		neth->h_proto = bpf_htons(ETH_P_IPV6);
		__builtin_memset(o6, 0, 4);
		o6->version = 6;
		o6->payload_len = bpf_htons(plen);
		o6->nexthdr = IPPROTO_IPV6;
		o6->hop_limit = 64;
		__builtin_memcpy(&o6->saddr, floor_src6, 16);
		__builtin_memcpy(&o6->daddr, floor_dst6, 16);
		return XDP_TX;
	}
	return XDP_PASS;
}

/* A reference for the SYN case: the insert alone, into an LRU hash shaped like the old zdd_embryo
 * (40-byte keys, 24-byte values, 64k entries, full after the first 64k frames). The key is
 * the 40 bytes after the Ethernet header, which hold the stamped source. */
struct bench_lru_key {
	__u8 bytes[40];
};

struct bench_lru_val {
	__u64 a, b, c;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bench_lru_key);
	__type(value, struct bench_lru_val);
} zdd_bench_lru SEC(".maps");

/* The same with per-CPU LRU lists (BPF_F_NO_COMMON_LRU, what Katran uses). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct bench_lru_key);
	__type(value, struct bench_lru_val);
} zdd_bench_lru_pc SEC(".maps");

static __always_inline int lru_insert(struct xdp_md *ctx, void *map)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct bench_lru_val v = { .a = bpf_ktime_get_ns() };
	struct bench_lru_key key;

	if (data + sizeof(struct ethhdr) + sizeof(key) > end)
		return XDP_PASS;
	__builtin_memcpy(&key, data + sizeof(struct ethhdr), sizeof(key));
	bpf_map_update_elem(map, &key, &v, BPF_ANY);
	return XDP_DROP;
}

SEC("xdp")
int zdd_xdp_bench_lru(struct xdp_md *ctx)
{
	return lru_insert(ctx, &zdd_bench_lru);
}

SEC("xdp")
int zdd_xdp_bench_lru_pc(struct xdp_md *ctx)
{
	return lru_insert(ctx, &zdd_bench_lru_pc);
}

/*
 * A reference for the 1M-flow case: the read of one random cache line of a table far bigger
 * than the caches, each address depending on the value the last read returned, so that reads
 * cannot overlap. A packet's conntrack lookup waits on its read in the same way: the next
 * packet's path is too long for the CPU to run ahead into it (tools/bench/README.md, "Side by
 * side with Katran", measures how short a path must be for reads to overlap). No flow table
 * that reads a cold line per packet can cost less than the encap floor plus this.
 */
#define BENCH_COLD_BITS 21 /* 2M lines of 64 bytes: 128 MiB */

struct bench_line {
	__u64 w[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << BENCH_COLD_BITS);
	__uint(map_flags, BPF_F_MMAPABLE); /* page-aligned: a value is one line */
	__type(key, __u32);
	__type(value, struct bench_line);
} zdd_bench_cold SEC(".maps");

__u64 cold_last;
__u32 cold_ctr;

SEC("xdp")
int zdd_xdp_bench_cold(struct xdp_md *ctx)
{
	__u32 i = ((cold_ctr++ + cold_last) * 0x9e3779b97f4a7c15ULL) >> (64 - BENCH_COLD_BITS);
	struct bench_line *l = bpf_map_lookup_elem(&zdd_bench_cold, &i);

	if (!l)
		return XDP_ABORTED;
	cold_last = l->w[0];
	return XDP_DROP;
}

/* The lab's sink: counts the frames a balancer sent back out, and drops them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} zdd_bench_count SEC(".maps");

SEC("xdp")
int zdd_xdp_bench_count(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&zdd_bench_count, &key);

	if (n)
		*n += 1;
	return XDP_DROP;
}

/* The lab's ceiling: every frame straight back out, MACs swapped. */
SEC("xdp")
int zdd_xdp_bench_macswap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 mac[6];

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	__builtin_memcpy(mac, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, mac, 6);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
