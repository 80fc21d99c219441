/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/decap.h - the backend-side decapsulation program: load (adopting its pinned
 * maps), the local tunnel addresses it accepts, the balancers it accepts them from, its
 * counters. */
#ifndef ZDD_DECAP_H
#define ZDD_DECAP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "zdd_abi.h"

struct zdd_decap; /* the skeleton of bpf/zdd_decap.bpf.c */

/* pin_dir NULL: private maps (tests). mount_bpffs: as in struct zdd_load_opts. */
int zdd_decap_open_load(struct zdd_decap **out, const char *pin_dir, bool mount_bpffs);
void zdd_decap_close(struct zdd_decap *d);
int zdd_decap_prog_fd(const struct zdd_decap *d);
/* Tunnels to addr (16-byte form) are stripped; anything else passes untouched. */
int zdd_decap_addr_add(struct zdd_decap *d, const __u8 addr[16]);
/*
 * Replaces the set of sources tunnels are accepted from, whole: the new set is built aside and
 * swapped in by one map update, so packets see the old set or the new one, and a failure
 * leaves the old one. Tunnels from elsewhere are dropped (drop_foreign_source); a prefix of
 * length 0 (::/0) accepts every source. At most ZDD_DECAP_MAX_FROM prefixes (-E2BIG).
 */
int zdd_decap_set_from(struct zdd_decap *d, const struct zdd_prefix_key *p, size_t n);
int zdd_decap_counters(struct zdd_decap *d, __u64 counts[ZDD_D_MAX]);
const char *zdd_decap_counter_name(enum zdd_decap_counter c);

/* What the pinned maps of a decap program say, for status. */
struct zdd_decap_info {
	bool has_set; /* false: no set configured, every tunnel is refused */
	size_t n_from;
	struct zdd_prefix_key from[ZDD_DECAP_MAX_FROM]; /* sorted */
	__u64 counts[ZDD_D_MAX];
};
/* From the maps of d, or from those pinned in pin_dir (-ENOENT when there are none). */
int zdd_decap_info(struct zdd_decap *d, struct zdd_decap_info *out);
int zdd_decap_info_pinned(const char *pin_dir, struct zdd_decap_info *out);
/* The set accepts every source: no --from was given (or ::/0 was). */
bool zdd_decap_info_any(const struct zdd_decap_info *info);

#endif /* ZDD_DECAP_H */
