/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/csum.h - the Internet checksum of what we write ourselves: headers summed on the
 * stack, packet data summed by the kernel's helper, one field changed in place. */
#ifndef ZDD_CSUM_H
#define ZDD_CSUM_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* bpf_csum_diff() takes at most this much in one call before Linux 6.13. */
#define ZDD_CSUM_CHUNK 512

static __always_inline __u16 zdd_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Checksum of an IPv4 header without options (its check field must be zero). */
static __always_inline __u16 zdd_csum_ipv4(const void *iph)
{
	const __u16 *w = iph;
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < 10; i++)
		sum += w[i];
	return zdd_csum_fold(sum);
}

/*
 * A ones' complement sum in 64 bits: 32-bit words and the helper's partial sums add without
 * overflow, and zdd_csum_fold64() carries the rest round. Words are summed as they lie in
 * memory, so the folded checksum is stored as it comes (RFC 1071's byte-order independence).
 */
static __always_inline __u64 zdd_csum_words(__u64 sum, const void *p, int words)
{
	const __u32 *w = p;
	int i;

#pragma unroll
	for (i = 0; i < words; i++)
		sum += w[i];
	return sum;
}

static __always_inline __u16 zdd_csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return zdd_csum_fold((__u32)sum);
}

/* Adds len bytes of packet data at p (len constant, a multiple of 4: the verifier checks the
 * range once, the helper reads it). The helper returns a partial sum, folded or not by
 * kernel version; either adds up the same. */
static __always_inline __u64 zdd_csum_data(__u64 sum, void *p, const __u32 len)
{
	__u32 off;

#pragma unroll
	for (off = 0; off + ZDD_CSUM_CHUNK <= len; off += ZDD_CSUM_CHUNK)
		sum += (__u32)bpf_csum_diff(NULL, 0, p + off, ZDD_CSUM_CHUNK, 0);
	if (len % ZDD_CSUM_CHUNK)
		sum += (__u32)bpf_csum_diff(NULL, 0, p + off, len % ZDD_CSUM_CHUNK, 0);
	return sum;
}

/* A checksum after one 16-bit word changed from old to new (RFC 1624, equation 3). */
static __always_inline __u16 zdd_csum_replace(__u16 check, __u16 old, __u16 new)
{
	return zdd_csum_fold((__u16)~check + (__u32)(__u16)~old + new);
}

#endif /* ZDD_CSUM_H */
