/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/hash.h - the 32-bit hashes that pick a pool and a backend. Derived from packet
 * fields and the service key only, so every LB node computes the same. */
#ifndef ZDD_HASH_H
#define ZDD_HASH_H

#include <linux/types.h>

static __always_inline __u32 zdd_rotl(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/*
 * Hashes n 64-bit words (p 8-byte aligned): each word is mixed on its own (xor a key of its
 * position, one multiply, fold the high half down: a bijection of the word), the mixes are
 * summed and the sum goes through MurmurHash3's 64-bit finaliser. The words' multiplies do not
 * wait on each other, so the CPU runs them side by side: MurmurHash3 over 32-bit words is one
 * chain of dependent multiplies, and over a flow key it was a large part of a SYN's cost
 * (tools/bench/README.md). The seed keys every word: hashes with different seeds are
 * independent (a flow's pool and its backend).
 */
static __always_inline __u32 zdd_hash_u64s(const __u64 *p, int n, __u64 seed)
{
	__u64 h = 0, x;
	int i;

#pragma unroll
	for (i = 0; i < n; i++) {
		x = (p[i] ^ (seed + (__u64)(i + 1) * 0x9e3779b97f4a7c15ULL)) *
		    0xbf58476d1ce4e5b9ULL;
		h += x ^ (x >> 31);
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (__u32)h;
}

/* h scaled into [0, n), as evenly as h % n, by a multiply where % would be a division (n,
 * Maglev's prime table size, is read from the config: the compiler cannot make it cheap). */
static __always_inline __u32 zdd_scale(__u32 h, __u32 n)
{
	return (__u32)(((__u64)h * n) >> 32);
}

#endif /* ZDD_HASH_H */
