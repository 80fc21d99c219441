/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/rollout.h - one service's canary: steps of candidate weight, a dwell per
 * step, analysis of the candidate pool against the stable one on every tick, and automatic
 * rollback. The stable pool is the one serving before the rollout: blue at first, green after
 * a promotion, so the next release goes out on blue the same way. */
#ifndef ZDD_ROLLOUT_H
#define ZDD_ROLLOUT_H

#include <stdbool.h>
#include "conffile.h"
#include "analysis.h"
#include "hooks.h"
#include "judge.h"
#include "zdd.h"

enum zdd_ro_state {
	ZDD_RO_IDLE,
	ZDD_RO_RUNNING,
	ZDD_RO_PAUSED,
	ZDD_RO_PROMOTED,
	ZDD_RO_ROLLED_BACK,
	ZDD_RO_ABORTED,
	ZDD_RO_STATES
};
/* Names of the states, by enum zdd_ro_state, NULL-terminated (also the metrics labels). */
extern const char *const zdd_rollout_states[ZDD_RO_STATES + 1];

#define ZDD_RO_CONF_UNKNOWN (-2) /* conf_green_bp of a rollout saved before it was kept */

/* Failure ratio by which the candidate must exceed the stable pool's, besides the ratio. */
#define ZDD_RO_MIN_EXCESS 0.01

/* What the agent knows of one pool at a tick, besides the handshake outcomes. */
struct zdd_pool_health {
	int checked, healthy; /* backends with a health check, and those of them up */
};

struct zdd_rollout_policy {
	__u16 steps_bp[ZDD_CONF_MAX_STEPS]; /* candidate's share per step; the last is 10000 */
	int n_steps;
	__u32 interval_ms;  /* dwell per step */
	__u32 extension_ms; /* how long past its dwell a step may wait for evidence */
	__u32 handshake_timeout_ms;
	bool handshakes;	       /* TCP: judge handshake outcomes (UDP has none) */
	struct zdd_judge_policy judge; /* alpha follows the steps, dwell and extension */
	double confidence;
	struct zdd_conf_hooks hooks;	  /* argv strings owned by the rollout (copied) */
	struct zdd_conf_analysis *checks; /* the application checks (copied); NULL: none */
	int n_checks;
};

/* Why rollbacks happened, for zdd_rollbacks_total{reason}: the L4 rules, or a check's name. */
#define ZDD_RO_REASON_HANDSHAKES "handshakes"
#define ZDD_RO_REASON_HEALTH	 "health_check"
#define ZDD_RO_REASON_HOOK	 "pre_step_hook"
#define ZDD_RO_REASONS		 (3 + ZDD_CONF_MAX_CHECKS)

struct zdd_ro_reason_count {
	char reason[64];
	__u64 n;
};

/* One application check's evaluations in this rollout. */
struct zdd_ro_check {
	__u32 fails, inconclusive; /* in a row */
	bool passed;		   /* a pass since the step began, and no fail since */
	bool evaluated;
	enum zdd_an_result last;
	bool has_value[ZDD_POOLS];
	double value[ZDD_POOLS];
	__u64 evaluations[3]; /* by enum zdd_an_result */
	char why[256];	      /* of the last evaluation */
};

struct zdd_rollout {
	struct zdd_service_key svc;
	struct zdd_rollout_policy pol;
	enum zdd_ro_state state;
	int step;    /* current step index; -1 while the first pre-step hook runs */
	__u8 stable; /* enum zdd_pool */
	/* The file's green_weight (bp, -1 unset) when the rollout started: a later change of it is
	 * the operator's new intent, which wins over a finished rollout's weight. */
	int conf_green_bp;
	char weight_source[160]; /* who set the weight at the last config load, for status */
	__u64 step_started_ms;	 /* monotonic; with a step pending, when it was requested */
	__u64 rollbacks;
	struct zdd_ro_reason_count rollbacks_by[ZDD_RO_REASONS];
	__u64 changed_ms;  /* last state change */
	bool step_pending; /* the pre-step hook of step + 1 runs */
	struct zdd_hook pre, post;
	char event[512];   /* the last thing that happened, for logs and status */
	char reason[384];  /* why the last rollback happened, "" when none */
	char held[256];	   /* why the step does not advance now, "" when it may */
	char waiting[384]; /* which application check the step waits for, "" when none */
	/* Handshake outcomes of the flows started in this step, and since the rollout started. */
	struct zdd_outcomes step_out[ZDD_POOLS], all_out[ZDD_POOLS];
	bool fresh;	/* outcomes came in since the last judgement */
	bool unwritten; /* a rollback's weight failed to write: retried every tick */
	bool blind;	/* paused because a check had no data: resumes by itself */
	struct zdd_ro_check checks[ZDD_CONF_MAX_CHECKS];
	double last_ratio[ZDD_POOLS];  /* failure ratios of the step's judged flows */
	__u64 last_samples[ZDD_POOLS]; /* and their number */
};

struct zdd_rollout_ops {
	/* Moves new clients: green_bp of them to green. The only write to the data path. */
	int (*set_weight)(void *ctx, const struct zdd_service_key *svc, __u16 green_bp);
	/* Something happened (ro->event says what): log it, persist the state. */
	void (*changed)(void *ctx, struct zdd_rollout *ro);
	void *ctx;
};

/* The policy of a service's config section, with the hooks' strings copied. handshakes: the
 * service is TCP. */
int zdd_rollout_policy_from_conf(struct zdd_rollout_policy *p, const struct zdd_conf_rollout *c,
				 bool handshakes);
/* Recomputes the judgement's alpha after the steps, dwell or extension changed. */
void zdd_rollout_policy_update(struct zdd_rollout_policy *p);
void zdd_rollout_policy_free(struct zdd_rollout_policy *p);

/* The verbs. current_green_bp: the service's weight now (it decides the stable pool).
 * Each returns 0, or -errno with ro->event saying why (nothing changed then). */
int zdd_rollout_start(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops,
		      __u16 current_green_bp, __u64 now_ms);
int zdd_rollout_pause(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms);
int zdd_rollout_resume(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms);
int zdd_rollout_promote(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms);
int zdd_rollout_abort(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms);

/* Handshake outcomes of one cohort now closed (older than the handshake timeout), whose flows
 * started from start_ms on, o[ZDD_BLUE] and o[ZDD_GREEN]. Counted in the step they started in
 * (a cohort that began before the step's weight was written belongs to the step before). */
void zdd_rollout_outcomes(struct zdd_rollout *ro, __u64 start_ms,
			  const struct zdd_outcomes o[ZDD_POOLS]);

/* One evaluation of one application check (analysis.h): failure_limit failed ones in a row
 * roll back, inconclusive_limit inconclusive ones pause (never advance or promote blind) until
 * a conclusive one comes. */
void zdd_rollout_analysis(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops,
			  const struct zdd_an_eval *e, __u64 now_ms);

/* Every tick: analysis (and rollback), hooks, and the next step when the dwell is over and the
 * evidence is in. h: the health of each pool, h[ZDD_BLUE] and h[ZDD_GREEN]. */
void zdd_rollout_tick(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops,
		      const struct zdd_pool_health *h, __u64 now_ms);

/* The candidate's green weight at step i (the stable pool's share when i < 0). */
__u16 zdd_rollout_weight(const struct zdd_rollout *ro, int step);
bool zdd_rollout_active(const struct zdd_rollout *ro);
/* The green weight the rollout stands for: its step's while active, else its stable pool's
 * (promoted: the promoted pool; rolled back or aborted: the pool it started from). */
__u16 zdd_rollout_committed_weight(const struct zdd_rollout *ro);
/* The rollout needs ticks: active, a hook running, or a weight to write again. */
bool zdd_rollout_ticking(const struct zdd_rollout *ro);

#endif /* ZDD_ROLLOUT_H */
