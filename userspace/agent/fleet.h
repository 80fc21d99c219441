/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/fleet.h - what the agents of a fleet (issue #17) share through etcd, as JSON
 * values: a service's rollout record (written by the leader only, by a txn comparing its mod
 * revision), each node's handshake outcomes per pool (summed by the leader for the judge), and
 * the commit-to-applied delays a node measures. Pure functions: no etcd, no clock. */
#ifndef ZDD_FLEET_H
#define ZDD_FLEET_H

#include <stddef.h>
#include <linux/types.h>
#include "judge.h"
#include "rollout.h"
#include "zdd.h"

/* One service's rollout as every node applies it. */
struct zdd_fleet_record {
	enum zdd_ro_state state;
	int step;	       /* -1..ZDD_CONF_MAX_STEPS - 1, as struct zdd_rollout's */
	__u16 green_bp;	       /* the weight every node writes: 0..10000 */
	__u64 step_started_ms; /* wall clock (ms since the epoch): a new leader keeps it */
	__u64 generation;      /* +1 per write: what nodes report as applied */
	__u64 committed_ms;    /* wall clock when the leader wrote it: for commit->applied */
	char reason[384];      /* why the last rollback happened, "" when none */
};

/* The record as JSON into buf: its length, or -ENOSPC. */
int zdd_fleet_record_encode(const struct zdd_fleet_record *r, char *buf, size_t len);
/* 0 with *r filled, or -EINVAL with why (*r untouched): not JSON, a field missing, of the
 * wrong type or out of range. */
int zdd_fleet_record_decode(struct zdd_fleet_record *r, const char *json, size_t len, char *why,
			    size_t why_len);

/* One node's handshake outcomes since it started, per pool: cumulative, so a lost update loses
 * nothing and the leader judges differences. */
int zdd_fleet_outcomes_encode(const struct zdd_outcomes o[ZDD_POOLS], char *buf, size_t len);
int zdd_fleet_outcomes_decode(struct zdd_outcomes o[ZDD_POOLS], const char *json, size_t len,
			      char *why, size_t why_len);

/* Commit->applied delays in ms, the last ZDD_FLEET_DELAYS of them. */
#define ZDD_FLEET_DELAYS 256
struct zdd_fleet_delays {
	__u64 ms[ZDD_FLEET_DELAYS];
	size_t n, next;
	__u64 max; /* of every delay since the start */
};
void zdd_fleet_delay_add(struct zdd_fleet_delays *d, __u64 ms);
/* The median of the kept delays (0 when none). */
__u64 zdd_fleet_delay_p50(const struct zdd_fleet_delays *d);

#endif /* ZDD_FLEET_H */
