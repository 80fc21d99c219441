/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/apply.h - make the maps match a zdd.yaml: plan every step first (validated in
 * full: capacity, families, next hops), print it, then carry it out with one table swap per
 * service. Used by `zdd-bpfctl apply` and by the agent's (re)load. */
#ifndef ZDD_APPLY_H
#define ZDD_APPLY_H

#include <stdio.h>
#include "conffile.h"
#include "zdd.h"

struct zdd_plan;

/* Plans the change from the maps' state to conf. Nothing is written. Errors are logged. */
int zdd_plan_make(struct zdd *z, const struct zdd_conf *conf, struct zdd_plan **out);
/* One line per change ("+", "-", "~"); returns the number of changes. */
size_t zdd_plan_print(const struct zdd_plan *p, FILE *f);
size_t zdd_plan_changes(const struct zdd_plan *p);
/* Carries the plan out; the caller holds the lock, and planned under it. */
int zdd_plan_run(struct zdd *z, const struct zdd_plan *p);
void zdd_plan_free(struct zdd_plan *p);

#endif /* ZDD_APPLY_H */
