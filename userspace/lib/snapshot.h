/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/snapshot.h - one read of everything an operator looks at: services with their
 * counters, their backends with theirs, the verdict reasons and the conntrack sizes. Shared
 * by `zdd-bpfctl status|stats` and the agent's /metrics. */
#ifndef ZDD_SNAPSHOT_H
#define ZDD_SNAPSHOT_H

#include <stdbool.h>
#include "addr.h"
#include "zdd.h"

struct zdd_snap_service {
	struct zdd_service s;
	char name[ZDD_SVC_STRLEN]; /* as operators write it */
	struct zdd_service_stats st;
	struct zdd_backend *be;	       /* sorted by pool, then address */
	struct zdd_backend_stats *bst; /* bst[i] belongs to be[i] */
	size_t n_be;
};

struct zdd_snap {
	struct zdd_snap_service *svc;
	size_t n_svc;
	__u64 reasons[ZDD_R_MAX];
	__u64 embryos, flows, adopted; /* read only when asked for: a walk of the tables */
};

/* only: one service, or NULL for all. Free with zdd_snap_free, also after an error. */
int zdd_snap_take(struct zdd *z, const struct zdd_service_key *only, bool conntrack,
		  struct zdd_snap *sn);
void zdd_snap_free(struct zdd_snap *sn);

#endif /* ZDD_SNAPSHOT_H */
