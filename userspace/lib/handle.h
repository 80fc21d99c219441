/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/handle.h - the inside of struct zdd, for libzdd's own files only. */
#ifndef ZDD_HANDLE_H
#define ZDD_HANDLE_H

#include <limits.h>
#include "zdd.h"

struct zdd_lb;

struct zdd {
	int fd[ZDD_MAP_COUNT];
	__u32 *maglev; /* the zdd_maglev array, mmap'd: tables are written in place */
	size_t maglev_len;
	struct zdd_limits limits;
	int dir_fd; /* pin directory, flock'd by writers; -1 without pins */
	bool adopted;
	struct zdd_lb *skel; /* NULL when only the pinned maps were opened */
};

/* The maglev row of one (service, pool, slot): limits.maglev_m entries. */
static inline __u32 *zdd_maglev_row(struct zdd *z, __u32 index, int pool, int slot)
{
	return z->maglev + (size_t)ZDD_MAGLEV_ROW(index, pool, slot) * z->limits.maglev_m;
}

#endif /* ZDD_HANDLE_H */
