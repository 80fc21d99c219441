/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/decap.h - the backend-side decapsulation program: load (adopting its pinned
 * maps), the local tunnel addresses it accepts, its counters. */
#ifndef ZDD_DECAP_H
#define ZDD_DECAP_H

#include <stdbool.h>
#include <linux/types.h>
#include "zdd_abi.h"

struct zdd_decap; /* the skeleton of bpf/zdd_decap.bpf.c */

/* pin_dir NULL: private maps (tests). mount_bpffs: as in struct zdd_load_opts. */
int zdd_decap_open_load(struct zdd_decap **out, const char *pin_dir, bool mount_bpffs);
void zdd_decap_close(struct zdd_decap *d);
int zdd_decap_prog_fd(const struct zdd_decap *d);
/* Tunnels to addr (16-byte form) are stripped; anything else passes untouched. */
int zdd_decap_addr_add(struct zdd_decap *d, const __u8 addr[16]);
int zdd_decap_counters(struct zdd_decap *d, __u64 counts[ZDD_D_MAX]);

#endif /* ZDD_DECAP_H */
