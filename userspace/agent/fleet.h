/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/fleet.h - what the agents of a fleet (issue #17) share through etcd, as JSON
 * values: a service's rollout record (written by the leader only, by a txn comparing its mod
 * revision), each node's handshake outcomes per pool (summed by the leader for the judge), and
 * the commit-to-applied delays a node measures. Pure functions: no etcd, no clock. */
#ifndef ZDD_FLEET_H
#define ZDD_FLEET_H

#include <stdbool.h>
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
	/* What a new leader needs to go on with the same rollout: the pool it started from, and
	 * the steps and dwell it was started with (a start may override the file's). */
	__u8 stable; /* enum zdd_pool */
	__u16 steps_bp[ZDD_CONF_MAX_STEPS];
	int n_steps; /* 0..ZDD_CONF_MAX_STEPS: 0 while idle */
	__u32 interval_ms;
};

/* The record as JSON into buf: its length, or -ENOSPC. */
int zdd_fleet_record_encode(const struct zdd_fleet_record *r, char *buf, size_t len);
/* 0 with *r filled, or -EINVAL with why (*r untouched): not JSON, a field missing, of the
 * wrong type or out of range. */
int zdd_fleet_record_decode(struct zdd_fleet_record *r, const char *json, size_t len, char *why,
			    size_t why_len);

/* One node's handshake outcomes per pool in the fleet's current step (tag: the record's
 * step_started_ms, which names the step), counted by the node as its own rollout controller
 * counts them (a flow belongs to the step its node had applied when it started), and since the
 * rollout began. Cumulative within the step: a lost update loses nothing, and the leader sums
 * the nodes that report the step it judges. */
struct zdd_fleet_outcomes {
	__u64 tag;
	struct zdd_outcomes step[ZDD_POOLS], all[ZDD_POOLS];
};
int zdd_fleet_outcomes_encode(const struct zdd_fleet_outcomes *o, char *buf, size_t len);
int zdd_fleet_outcomes_decode(struct zdd_fleet_outcomes *o, const char *json, size_t len, char *why,
			      size_t why_len);

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

/* ---- the fleet engine: one per agent, on its etcd client ----
 *
 * Keys under the client's prefix:
 *	rollout/<service>		the record; written by the leader only, by a txn comparing
 *					the mod revision it last saw
 *	applied/<service>/<node>	the generation this node applied ({"generation": N}),
 *	outcomes/<service>/<node>	its outcomes (every 200 ms): both bound to its lease
 *	election/driver			who leads (etcd.h's election)
 */
#define ZDD_FLEET_MAX_SERVICES 64
#define ZDD_FLEET_MAX_NODES    64
#define ZDD_FLEET_PUBLISH_MS   200

struct zdd_etcd;
struct zdd_fleet;

struct zdd_fleet_ops {
	/* A new record of service (a name as in the config) to apply: one table swap. */
	void (*apply)(void *ctx, const char *service, const struct zdd_fleet_record *r);
	/* This node became (or stopped being) the leader. */
	void (*leading)(void *ctx, bool leader);
	void *ctx;
};

/* 0 with *out, -EINVAL, -ENOMEM. e stays the caller's and outlives the fleet. */
int zdd_fleet_new(struct zdd_fleet **out, struct zdd_etcd *e, const char *node, __u32 ttl_s,
		  const struct zdd_fleet_ops *ops);
/* Then zdd_etcd_free(e), with no zdd_etcd_run(e) between: answers still in flight name fl. */
void zdd_fleet_free(struct zdd_fleet *fl);
/* From the agent's loop after zdd_etcd_run(): publishes what is due. now: zdd_mono_ms(),
 * wall: ms since the epoch. */
void zdd_fleet_tick(struct zdd_fleet *fl, __u64 now, __u64 wall);
bool zdd_fleet_is_leader(const struct zdd_fleet *fl);
/* etcd answered within the lease's TTL: false is fail-static (apply nothing new, advance
 * nothing). */
bool zdd_fleet_connected(const struct zdd_fleet *fl);
/* The last record applied of service, NULL when none. */
const struct zdd_fleet_record *zdd_fleet_record(const struct zdd_fleet *fl, const char *service);
/* The leader writes service's next record (generation and committed_ms are set here): 0 when
 * the write started, -EPERM when not leading or cut off, -EBUSY while a write is in flight. */
int zdd_fleet_write(struct zdd_fleet *fl, const char *service, struct zdd_fleet_record r,
		    __u64 wall);
/* This node's outcomes of service, published with the next tick. */
void zdd_fleet_set_outcomes(struct zdd_fleet *fl, const char *service,
			    const struct zdd_fleet_outcomes *o);
/* The sum of the live nodes' last published outcomes of service in the step tagged tag (this
 * node's as last set, the others' as last seen); the number of nodes summed. */
int zdd_fleet_sum(const struct zdd_fleet *fl, const char *service, __u64 tag,
		  struct zdd_fleet_outcomes *sum);
/* The live nodes (their lease holds) and the generation each applied of service, this node
 * included: n at most max, sorted by name; the number of nodes. */
struct zdd_fleet_node {
	char node[64];
	__u64 generation;
};
int zdd_fleet_nodes(const struct zdd_fleet *fl, const char *service, struct zdd_fleet_node *n,
		    int max);
/* The leader's name as last seen, NULL when none is known. */
const char *zdd_fleet_leader(const struct zdd_fleet *fl);
/* Puts value under key (below the prefix) bound to this node's lease, and calls cb with the
 * answer: for the rollout verbs a follower hands to the leader. -ENOTCONN without a lease. */
int zdd_fleet_put(struct zdd_fleet *fl, const char *key, const char *value,
		  void (*cb)(void *ctx, int err), void *ctx);
/* Each request put under "requests/" (by any node), once, to the leader: fn parses and runs
 * it, and returns true when it did, and the key is deleted; false leaves it for later (the
 * leader is not ready), or for the next leader. */
void zdd_fleet_on_request(struct zdd_fleet *fl,
			  bool (*fn)(void *ctx, const char *key, const char *value, size_t len),
			  void *ctx);
const struct zdd_fleet_delays *zdd_fleet_delays(const struct zdd_fleet *fl);

#endif /* ZDD_FLEET_H */
