/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/hash.h - the 32-bit hashes that pick a pool and a backend (MurmurHash3's mixing).
 * Derived from packet fields and the service key only, so every LB node computes the same. */
#ifndef ZDD_HASH_H
#define ZDD_HASH_H

#include <linux/types.h>

static __always_inline __u32 zdd_rotl(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 zdd_hash_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = zdd_rotl(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = zdd_rotl(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 zdd_hash_final(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* Hashes n 32-bit words; p need not be aligned. */
static __always_inline __u32 zdd_hash_words(const void *p, int n, __u32 seed)
{
	__u32 h = seed, w;
	int i;

#pragma unroll
	for (i = 0; i < n; i++) {
		__builtin_memcpy(&w, (const __u8 *)p + 4 * i, 4);
		h = zdd_hash_mix(h, w);
	}
	return zdd_hash_final(h, n * 4);
}

#endif /* ZDD_HASH_H */
