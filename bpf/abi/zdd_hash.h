/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/abi/zdd_hash.h - the 32-bit hashes that pick a pool, a backend and a flow's place in the
 * conntrack tables. Shared with userspace, which places flows in zdd_flow_sets where the
 * kernel looks for them. Derived from packet fields and the service key only, so every LB
 * node computes the same. */
#ifndef ZDD_HASH_H
#define ZDD_HASH_H

#include <linux/types.h>
#include "zdd_abi.h"

/* The BPF side must unroll these loops (clang); userspace's compiler may do as it likes. */
#ifdef __clang__
#define ZDD_UNROLL _Pragma("unroll")
#else
#define ZDD_UNROLL
#endif

#define ZDD_SPLIT_SEED 0x73706c6974ULL /* "split" */
#define ZDD_FLOW_SEED  0x666c6f77ULL   /* "flow" */

/*
 * Hashes n 64-bit words (p 8-byte aligned): each word is mixed on its own (xor a key of its
 * position, one multiply, fold the high half down: a bijection of the word), the mixes are
 * summed and the sum goes through MurmurHash3's 64-bit finaliser. The words' multiplies do not
 * wait on each other, so the CPU runs them side by side: MurmurHash3 over 32-bit words is one
 * chain of dependent multiplies, and over a flow key it was a large part of a SYN's cost
 * (tools/bench/README.md). The seed keys every word: hashes with different seeds are
 * independent (a flow's pool and its backend).
 */
static inline __attribute__((always_inline)) __u32 zdd_hash_u64s(const __u64 *p, int n, __u64 seed)
{
	__u64 h = 0, x;
	int i;

	ZDD_UNROLL
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
 * Maglev's prime table size or a table's sets, is read from the config: the compiler cannot
 * make it cheap). */
static inline __attribute__((always_inline)) __u32 zdd_scale(__u32 h, __u32 n)
{
	return (__u32)(((__u64)h * n) >> 32);
}

/*
 * Where a flow may be in zdd_flow_sets (n sets): two sets, the first by the flow hash's high
 * bits, the second by a remix of the hash, and in each a home way, probed first. A new flow
 * goes to the set with more free ways (two choices: the sets fill evenly, and one overflows
 * only when both are full; with one choice, sets of a table a third full already overflow:
 * tests/unit/test_flow_table.c).
 */
/* The flow hash of a key (8-byte aligned): its Maglev entry, its embryonic set, its place. */
static inline __attribute__((always_inline)) __u32 zdd_flow_key_hash(const struct zdd_flow_key *k)
{
	return zdd_hash_u64s((const __u64 *)k, sizeof(*k) / 8, ZDD_FLOW_SEED);
}

struct zdd_flow_place {
	__u32 set[2];
	__u32 home[2];
};

static inline __attribute__((always_inline)) void zdd_flow_place(__u32 flow_hash, __u32 n,
								 struct zdd_flow_place *p)
{
	__u32 h2 = (flow_hash ^ (flow_hash >> 16)) * 0x85ebca6bu;

	h2 ^= h2 >> 13;
	p->set[0] = zdd_scale(flow_hash, n);
	p->home[0] = flow_hash % ZDD_FLOW_WAYS;
	p->set[1] = zdd_scale(h2, n);
	p->home[1] = h2 % ZDD_FLOW_WAYS;
}

/* Eviction order: free 0 < closing (its client sent FIN or RST) [2^62, 2^63) < live [2^63,
 * 2^64), by last_seen within each. */
static inline __attribute__((always_inline)) __u64 zdd_flow_age(const struct zdd_flow *w)
{
	if (!w->key.svc.proto)
		return 0;
	return (w->val.last_seen_ns >> 2) | (w->val.closing ? 1ULL << 62 : 1ULL << 63);
}

/*
 * The way a flow in neither of its sets takes, as i * ZDD_FLOW_WAYS + way of set[i]: in the set
 * with more free ways (the first on a tie), its first free way from home; both sets full, the
 * way of a closing flow, else of the flow seen least recently.
 */
static inline __attribute__((always_inline)) __u32 zdd_flow_victim(const struct zdd_flow_set *s0,
								   const struct zdd_flow_set *s1,
								   const struct zdd_flow_place *p)
{
	__u32 i, idx, set, oldest = p->home[0], first_free[2] = {}, nfree[2] = {};
	__u64 best = ~0ULL, age;

	ZDD_UNROLL
	for (i = 0; i < 2 * ZDD_FLOW_WAYS; i++) {
		set = i / ZDD_FLOW_WAYS;
		idx = (p->home[set] + i) % ZDD_FLOW_WAYS;
		age = zdd_flow_age(&(set ? s1 : s0)->way[idx]);
		if (!age && !nfree[set]++)
			first_free[set] = set * ZDD_FLOW_WAYS + idx;
		if (age < best) {
			best = age;
			oldest = set * ZDD_FLOW_WAYS + idx;
		}
	}
	if (nfree[0] || nfree[1])
		return nfree[0] >= nfree[1] ? first_free[0] : first_free[1];
	return oldest;
}

#endif /* ZDD_HASH_H */
