/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/csum.h - the Internet checksum of a header we wrote ourselves. */
#ifndef ZDD_CSUM_H
#define ZDD_CSUM_H

#include <linux/types.h>

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

#endif /* ZDD_CSUM_H */
