/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tests/unit/test_maglev.c - Maglev table builder: determinism, weight proportionality,
 * disruption on membership changes, zero weights and argument validation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zdd_abi.h"
#include "maglev.h"

#define M	      ZDD_DEF_MAGLEV_M
#define MAX_N	      1001    /* largest set in any case, one added backend included */
#define SHARE_TOL     0.01    /* |share - weight share|, and disruption above the minimum */
#define ID_BASE	      1000000 /* ids unrelated to positions, so an id leak shows */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
	__u32 *t1;
	__u32 *t2;
	struct zdd_maglev_backend *b;
	struct zdd_maglev_backend *b2;
	unsigned int *count;
	__u64 rng;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->t1 = calloc(M, sizeof(*f->t1));
	f->t2 = calloc(M, sizeof(*f->t2));
	f->b = calloc(MAX_N, sizeof(*f->b));
	f->b2 = calloc(MAX_N, sizeof(*f->b2));
	f->count = calloc(MAX_N, sizeof(*f->count));
	f->rng = 0x5eed;
	*state = f;
	if (!f->t1 || !f->t2 || !f->b || !f->b2 || !f->count)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	free(f->t1);
	free(f->t2);
	free(f->b);
	free(f->b2);
	free(f->count);
	free(f);
	return 0;
}

/* splitmix64: fixed seeds keep every case reproducible. */
static __u64 rnd(struct fixture *f)
{
	__u64 z = (f->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Backend i: even i IPv4-mapped ::ffff:10.x.y.z, odd i 2001:db8::/32; distinct for all i. */
static void set_backend(struct zdd_maglev_backend *be, unsigned int i, __u16 weight)
{
	memset(be, 0, sizeof(*be));
	be->id = i;
	be->weight = weight;
	if (i % 2 == 0) {
		be->addr[10] = 0xff;
		be->addr[11] = 0xff;
		be->addr[12] = 10;
		be->addr[13] = (i >> 16) & 0xff;
		be->addr[14] = (i >> 8) & 0xff;
		be->addr[15] = i & 0xff;
	} else {
		be->addr[0] = 0x20;
		be->addr[1] = 0x01;
		be->addr[2] = 0x0d;
		be->addr[3] = 0xb8;
		be->addr[12] = (i >> 24) & 0xff;
		be->addr[13] = (i >> 16) & 0xff;
		be->addr[14] = (i >> 8) & 0xff;
		be->addr[15] = i & 0xff;
	}
}

static void make_set(struct fixture *f, size_t n, int weighted)
{
	size_t i;

	for (i = 0; i < n; i++)
		set_backend(&f->b[i], i, weighted ? 1 + rnd(f) % 100 : ZDD_DEF_BACKEND_WEIGHT);
}

static void shuffle(struct fixture *f, struct zdd_maglev_backend *b, size_t n)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = rnd(f) % i;
		struct zdd_maglev_backend tmp = b[i - 1];

		b[i - 1] = b[j];
		b[j] = tmp;
	}
}

/* Counts slots per id; every slot must hold an id below n. */
static void count_slots(const struct fixture *f, const __u32 *table, size_t n)
{
	__u32 i;

	memset(f->count, 0, MAX_N * sizeof(*f->count));
	for (i = 0; i < M; i++) {
		assert_in_range(table[i], 0, n - 1);
		f->count[table[i]]++;
	}
}

/* Ids equal positions in the full set, so a changed id is a changed address. */
static double moved(const __u32 *a, const __u32 *b)
{
	__u32 i, changed = 0;

	for (i = 0; i < M; i++)
		changed += a[i] != b[i];
	return (double)changed / M;
}

static void build(__u32 *table, const struct zdd_maglev_backend *b, size_t n)
{
	assert_int_equal(zdd_maglev_build(table, M, b, n), 0);
}

static void same_set_any_order_same_table(void **state)
{
	struct fixture *f = *state;
	const size_t n = 64;
	int round;

	make_set(f, n, 1);
	f->b[7].weight = 0;
	f->b[40].weight = 0;
	build(f->t1, f->b, n);
	for (round = 0; round < 8; round++) {
		memcpy(f->b2, f->b, n * sizeof(*f->b));
		shuffle(f, f->b2, n);
		build(f->t2, f->b2, n);
		assert_memory_equal(f->t1, f->t2, M * sizeof(*f->t1));
	}
}

static void ids_do_not_shape_table(void **state)
{
	struct fixture *f = *state;
	const size_t n = 64;
	unsigned int perm[64], pos[64];
	size_t i, j;
	int round;

	make_set(f, n, 1);
	build(f->t1, f->b, n);
	for (round = 0; round < 8; round++) {
		/* A fresh id per address, ID_BASE + perm[position]; pos[] maps it back. */
		for (i = 0; i < n; i++)
			perm[i] = i;
		for (i = n; i > 1; i--) {
			unsigned int tmp;

			j = rnd(f) % i;
			tmp = perm[i - 1];
			perm[i - 1] = perm[j];
			perm[j] = tmp;
		}
		memcpy(f->b2, f->b, n * sizeof(*f->b));
		for (i = 0; i < n; i++) {
			f->b2[i].id = ID_BASE + perm[i];
			pos[perm[i]] = i;
		}
		shuffle(f, f->b2, n);
		build(f->t2, f->b2, n);
		for (i = 0; i < M; i++) {
			__u32 v = f->t2[i] - ID_BASE;

			assert_in_range(v, 0, n - 1);
			assert_int_equal(pos[v], f->t1[i]);
		}
	}
}

static void check_shares(struct fixture *f, size_t n)
{
	double total = 0;
	size_t i;

	for (i = 0; i < n; i++)
		total += f->b[i].weight;
	build(f->t1, f->b, n);
	count_slots(f, f->t1, n);
	for (i = 0; i < n; i++) {
		double err = (double)f->count[i] / M - f->b[i].weight / total;

		if (err < -SHARE_TOL || err > SHARE_TOL)
			fail_msg("n=%zu backend %zu weight %u: %u slots, share error %.5f", n, i,
				 f->b[i].weight, f->count[i], err);
	}
}

static void shares_follow_weights(void **state)
{
	static const size_t sizes[] = { 2, 3, 10, 100, 1000 };
	struct fixture *f = *state;
	size_t s;

	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		make_set(f, sizes[s], 1);
		check_shares(f, sizes[s]);
	}
}

static void shares_follow_skewed_weights(void **state)
{
	struct fixture *f = *state;
	size_t i, n = 50;

	/* Weights spanning the whole allowed range: small ones must still advance. */
	for (i = 0; i < n; i++)
		set_backend(&f->b[i], i, 1 + rnd(f) % ZDD_MAX_BACKEND_WEIGHT);
	f->b[0].weight = 1;
	f->b[1].weight = ZDD_MAX_BACKEND_WEIGHT;
	check_shares(f, n);
}

static void equal_weights_split_evenly(void **state)
{
	static const size_t sizes[] = { 2, 3, 10, 100, 1000 };
	struct fixture *f = *state;
	size_t s, i;

	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		unsigned int lo = M, hi = 0;

		make_set(f, sizes[s], 0);
		check_shares(f, sizes[s]);
		/* Equal weights are plain Maglev: one slot per backend per round. */
		for (i = 0; i < sizes[s]; i++) {
			lo = f->count[i] < lo ? f->count[i] : lo;
			hi = f->count[i] > hi ? f->count[i] : hi;
		}
		assert_in_range(hi - lo, 0, 1);
	}
}

static void adding_backend_moves_few_slots(void **state)
{
	static const size_t sizes[] = { 2, 5, 10, 100, 500 };
	struct fixture *f = *state;
	size_t s;

	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		size_t n = sizes[s];
		double frac, limit = 1.0 / (n + 1) + SHARE_TOL;

		make_set(f, n + 1, 0);
		build(f->t1, f->b, n);
		build(f->t2, f->b, n + 1);
		frac = moved(f->t1, f->t2);
		if (frac > limit)
			fail_msg("%zu -> %zu backends: %.5f of slots moved, limit %.5f", n, n + 1,
				 frac, limit);
	}
}

static void removing_backend_moves_few_slots(void **state)
{
	static const size_t sizes[] = { 2, 5, 10, 100, 500 };
	struct fixture *f = *state;
	size_t s;

	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		size_t n = sizes[s], gone = n / 2;
		double frac, limit;

		make_set(f, n, 0);
		build(f->t1, f->b, n);
		count_slots(f, f->t1, n);
		limit = (double)f->count[gone] / M + SHARE_TOL;
		memcpy(f->b2, f->b, n * sizeof(*f->b));
		f->b2[gone] = f->b2[n - 1];
		build(f->t2, f->b2, n - 1);
		frac = moved(f->t1, f->t2);
		if (frac > limit)
			fail_msg("%zu -> %zu backends: %.5f of slots moved, limit %.5f", n, n - 1,
				 frac, limit);
	}
}

static void zero_weight_takes_no_slots(void **state)
{
	struct fixture *f = *state;
	size_t i, k = 0, n = 30;

	make_set(f, n, 1);
	for (i = 0; i < n; i += 3)
		f->b[i].weight = 0;
	build(f->t1, f->b, n);
	count_slots(f, f->t1, n);
	for (i = 0; i < n; i++) {
		if (!f->b[i].weight)
			assert_int_equal(f->count[i], 0);
		else
			assert_true(f->count[i] > 0);
	}
	/* A zero-weight backend is as if absent: the table equals the one built without it. */
	for (i = 0; i < n; i++)
		if (f->b[i].weight)
			f->b2[k++] = f->b[i];
	build(f->t2, f->b2, k);
	assert_memory_equal(f->t1, f->t2, M * sizeof(*f->t1));
}

static void assert_all_empty(const __u32 *table)
{
	__u32 i;

	for (i = 0; i < M; i++)
		assert_int_equal(table[i], ZDD_NO_BACKEND);
}

static void no_weight_means_no_backend(void **state)
{
	struct fixture *f = *state;
	size_t i, n = 10;

	memset(f->t1, 0x5a, M * sizeof(*f->t1));
	build(f->t1, NULL, 0);
	assert_all_empty(f->t1);

	make_set(f, n, 0);
	memset(f->t1, 0x5a, M * sizeof(*f->t1));
	build(f->t1, f->b, 0);
	assert_all_empty(f->t1);

	for (i = 0; i < n; i++)
		f->b[i].weight = 0;
	memset(f->t1, 0x5a, M * sizeof(*f->t1));
	build(f->t1, f->b, n);
	assert_all_empty(f->t1);
}

static void every_slot_holds_a_weighted_id(void **state)
{
	static const __u32 primes[] = { 2, 3, 7, 251, M };
	static const size_t sizes[] = { 1, 2, 7, 1000 };
	struct fixture *f = *state;
	size_t p, s, i;

	/* Small m with more backends than slots: the table still fills and the build ends. */
	for (p = 0; p < ARRAY_SIZE(primes); p++) {
		for (s = 0; s < ARRAY_SIZE(sizes); s++) {
			size_t n = sizes[s];

			make_set(f, n, 1);
			if (n > 1)
				f->b[n - 1].weight = 0;
			assert_int_equal(zdd_maglev_build(f->t1, primes[p], f->b, n), 0);
			for (i = 0; i < primes[p]; i++) {
				assert_in_range(f->t1[i], 0, n - 1);
				assert_int_not_equal(f->b[f->t1[i]].weight, 0);
			}
		}
	}
}

static void bad_arguments_are_rejected(void **state)
{
	static const __u32 bad_m[] = { 0, 1, 4, 9, 65535, 65536, 2147483659u, 4294967291u };
	struct fixture *f = *state;
	size_t i, n = 10;

	make_set(f, n, 0);
	memset(f->t1, 0x5a, M * sizeof(*f->t1));
	memcpy(f->t2, f->t1, M * sizeof(*f->t1));

	/* The last two are prime but above 2^31: rejected for size, never dereferenced. */
	for (i = 0; i < ARRAY_SIZE(bad_m); i++)
		assert_int_equal(zdd_maglev_build(f->t1, bad_m[i], f->b, n), -EINVAL);
	assert_int_equal(zdd_maglev_build(f->t1, M, NULL, n), -EINVAL);
	assert_int_equal(zdd_maglev_build(NULL, M, f->b, n), -EINVAL);

	/* Duplicate addresses, weighted or not, and whatever their ids. */
	f->b[5] = f->b[2];
	f->b[5].id = 5;
	assert_int_equal(zdd_maglev_build(f->t1, M, f->b, n), -EINVAL);
	f->b[5].weight = 0;
	assert_int_equal(zdd_maglev_build(f->t1, M, f->b, n), -EINVAL);

	/* A weighted backend may not use the empty-slot sentinel as its id. */
	set_backend(&f->b[5], 5, 1);
	f->b[5].id = ZDD_NO_BACKEND;
	assert_int_equal(zdd_maglev_build(f->t1, M, f->b, n), -EINVAL);

	/* Failed calls leave the table alone. */
	assert_memory_equal(f->t1, f->t2, M * sizeof(*f->t1));

	/* The sentinel id is harmless on a backend that takes no slots. */
	f->b[5].weight = 0;
	assert_int_equal(zdd_maglev_build(f->t1, M, f->b, n), 0);
}

static void is_prime_matches_known_values(void **state)
{
	static const __u32 primes[] = { 2, 3, 5, 7, 251, 65521, 65537, 2147483647u, 4294967291u };
	/* 4292870399 = 65519 * 65521: the smallest factor sits right below the square root. */
	static const __u32 composites[] = {
		0, 1, 4, 9, 25, 65535, 65536, 4292870399u, 4294967295u,
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(primes); i++)
		assert_int_equal(zdd_is_prime(primes[i]), 1);
	for (i = 0; i < ARRAY_SIZE(composites); i++)
		assert_int_equal(zdd_is_prime(composites[i]), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(same_set_any_order_same_table),
		T(ids_do_not_shape_table),
		T(shares_follow_weights),
		T(shares_follow_skewed_weights),
		T(equal_weights_split_evenly),
		T(adding_backend_moves_few_slots),
		T(removing_backend_moves_few_slots),
		T(zero_weight_takes_no_slots),
		T(no_weight_means_no_backend),
		T(every_slot_holds_a_weighted_id),
		T(bad_arguments_are_rejected),
		T(is_prime_matches_known_values),
	};

	/* Non-zero (the number of failures) when any case fails. */
	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL) ? 1 : 0;
}
