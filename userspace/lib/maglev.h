/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/maglev.h - weighted Maglev lookup table builder (Eisenbud et al., NSDI'16).
 * Pure computation: the caller writes the resulting table into the zdd_maglev16 map. */
#ifndef ZDD_MAGLEV_H
#define ZDD_MAGLEV_H

#include <linux/types.h>
#include <stddef.h>

struct zdd_maglev_backend {
	__u32 id;      /* value written into the table; must not be ZDD_NO_BACKEND */
	__u8 addr[16]; /* identity that is hashed (IPv4 as ::ffff:a.b.c.d) */
	__u16 weight;  /* 0 = takes no slots */
};

/*
 * Fills table[0..m) with backend ids, or ZDD_NO_BACKEND everywhere when no backend has
 * weight > 0. The slot -> address mapping depends only on the set of (address, weight) pairs,
 * never on the order of b[] or on the ids. Returns 0, -EINVAL (m < 2, m not prime, m > 2^31,
 * n > 0 with b == NULL, table == NULL, duplicate addresses, a weighted backend whose id is
 * ZDD_NO_BACKEND) or -ENOMEM. On error table is left untouched.
 */
int zdd_maglev_build(__u32 *table, __u32 m, const struct zdd_maglev_backend *b, size_t n);

/* Returns 1 if m is prime, 0 otherwise (0 and 1 are not prime). */
int zdd_is_prime(__u32 m);

#endif /* ZDD_MAGLEV_H */
