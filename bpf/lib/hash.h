/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf/lib/hash.h - the hashes of the data path: those userspace must compute too live in
 * zdd_hash.h. */
#ifndef ZDD_LIB_HASH_H
#define ZDD_LIB_HASH_H

#include "zdd_hash.h"

static __always_inline __u32 zdd_rotl(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

#endif /* ZDD_LIB_HASH_H */
