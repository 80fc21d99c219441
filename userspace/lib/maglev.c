/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/maglev.c - weighted Maglev lookup table builder (Eisenbud et al., NSDI'16).
 * Backends take turns claiming their next preferred free slot; a backend's turns come at a
 * rate proportional to its weight, so its share of the table follows its share of the weight. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zdd_abi.h"
#include "maglev.h"

/* Two independent hashes of the address: one picks the first slot, the other the stride. */
#define OFFSET_SEED 0x7a64642d6f666673ULL
#define SKIP_SEED   0x7a64642d736b6970ULL

/* Largest accepted table: slot arithmetic below stays far from 64-bit overflow. */
#define MAGLEV_MAX_M (1U << 31)

/* State of one backend with weight > 0 while the table fills. */
struct claimer {
	__u64 pos;    /* (offset + next * skip) % m: the next slot this backend wants */
	__u64 skip;   /* in [1, m - 1]; with m prime the walk visits every slot once */
	__u64 turn;   /* round of the next claim */
	__u64 claims; /* slots claimed so far */
	__u32 id;
	__u16 weight;
};

/*
 * 64-bit finalizer in the style of murmur3's fmix64 (xor-shift, multiply by an odd constant,
 * twice): a bijection on 64 bits in which every input bit flips each output bit with
 * probability close to 1/2.
 */
static __u64 mix64(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 29;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 32;
	return x;
}

/* Explicit little-endian load: the table must not depend on the host's byte order. */
static __u64 load_le64(const __u8 *p)
{
	__u64 v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Seeded hash of a 16-byte address. Each step is a bijection of the 64-bit state, so two
 * addresses differing only in the upper half (all IPv4-mapped ones) never collide, and the
 * closing step folds the seed in again so the two seeded hashes of one address are unrelated.
 */
static __u64 addr_hash(const __u8 addr[16], __u64 seed)
{
	__u64 h;

	h = mix64(seed ^ load_le64(addr));
	h = mix64(h ^ load_le64(addr + 8));
	return mix64(h + seed);
}

static int addr_cmp(const void *a, const void *b)
{
	const struct zdd_maglev_backend *x = a, *y = b;

	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* Round of a backend's k-th claim (k >= 1): the credit scheme "add weight each round, claim
 * once per max_weight of credit" reaches k * max_weight in round ceil(k * max_weight / w). */
static __u64 claim_turn(__u64 k, __u16 max_weight, __u16 w)
{
	return (k * max_weight + w - 1) / w;
}

/* Heap order: earlier round first; within a round, lower address first (index = sort order). */
static int before(const struct claimer *c, size_t a, size_t b)
{
	if (c[a].turn != c[b].turn)
		return c[a].turn < c[b].turn;
	return a < b;
}

static void sift_down(size_t *heap, size_t len, size_t i, const struct claimer *c)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i, tmp;

		if (l < len && before(c, heap[l], heap[min]))
			min = l;
		if (r < len && before(c, heap[r], heap[min]))
			min = r;
		if (min == i)
			return;
		tmp = heap[i];
		heap[i] = heap[min];
		heap[min] = tmp;
		i = min;
	}
}

int zdd_is_prime(__u32 m)
{
	__u32 d;

	if (m < 2)
		return 0;
	if (m < 4)
		return 1;
	if (m % 2 == 0 || m % 3 == 0)
		return 0;
	/* Every prime above 3 is 6k +/- 1; d * d in 64 bits so m near 2^32 cannot overflow it. */
	for (d = 5; (__u64)d * d <= m; d += 6)
		if (m % d == 0 || m % (d + 2) == 0)
			return 0;
	return 1;
}

static void fill_empty(__u32 *table, __u32 m)
{
	__u32 i;

	for (i = 0; i < m; i++)
		table[i] = ZDD_NO_BACKEND;
}

int zdd_maglev_build(__u32 *table, __u32 m, const struct zdd_maglev_backend *b, size_t n)
{
	struct zdd_maglev_backend *sorted = NULL;
	struct claimer *cl = NULL;
	size_t *heap = NULL;
	size_t i, nw = 0;
	__u16 max_weight = 0;
	__u32 filled;
	int err = 0;

	if (!table || m < 2 || m > MAGLEV_MAX_M || !zdd_is_prime(m) || (n && !b))
		return -EINVAL;
	if (!n) {
		fill_empty(table, m);
		return 0;
	}

	/* Work on a copy sorted by address: input order and ids must not shape the table.
	 * calloc, not malloc(n * size): it refuses an n whose byte count would wrap. */
	sorted = calloc(n, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, b, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), addr_cmp);
	for (i = 0; i < n; i++) {
		if (i && !addr_cmp(&sorted[i - 1], &sorted[i])) {
			err = -EINVAL;
			goto out;
		}
		if (!sorted[i].weight)
			continue;
		/* The sentinel marks free slots while filling; a backend using it would vanish. */
		if (sorted[i].id == ZDD_NO_BACKEND) {
			err = -EINVAL;
			goto out;
		}
		nw++;
		if (sorted[i].weight > max_weight)
			max_weight = sorted[i].weight;
	}
	if (!nw) {
		fill_empty(table, m);
		goto out;
	}

	cl = calloc(nw, sizeof(*cl));
	heap = calloc(nw, sizeof(*heap));
	if (!cl || !heap) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0, nw = 0; i < n; i++) {
		const struct zdd_maglev_backend *s = &sorted[i];

		if (!s->weight)
			continue;
		cl[nw].pos = addr_hash(s->addr, OFFSET_SEED) % m;
		cl[nw].skip = addr_hash(s->addr, SKIP_SEED) % (m - 1) + 1;
		cl[nw].turn = claim_turn(1, max_weight, s->weight);
		cl[nw].id = s->id;
		cl[nw].weight = s->weight;
		heap[nw] = nw;
		nw++;
	}
	for (i = nw / 2; i-- > 0;)
		sift_down(heap, nw, i, cl);

	/*
	 * Popping (turn, index) in order replays the round-by-round credit loop without visiting
	 * backends that have no claim in a round, so a skewed weight set costs no idle rounds.
	 */
	fill_empty(table, m);
	for (filled = 0; filled < m; filled++) {
		struct claimer *c = &cl[heap[0]];

		/* Terminates: the walk covers all m slots and the table is not yet full.
		 * Stepping by addition equals (offset + next * skip) % m, minus a division. */
		while (table[c->pos] != ZDD_NO_BACKEND) {
			c->pos += c->skip;
			if (c->pos >= m)
				c->pos -= m;
		}
		table[c->pos] = c->id;
		c->claims++;
		c->turn = claim_turn(c->claims + 1, max_weight, c->weight);
		sift_down(heap, nw, 0, cl);
	}
out:
	free(heap);
	free(cl);
	free(sorted);
	return err;
}
