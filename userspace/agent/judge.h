/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/judge.h - the handshake verdict on a candidate pool: statistics over the
 * per-flow outcomes the data path counts (zdd_cohorts), candidate against stable over the
 * same flows' interval. Pure functions: the rollout controller and the simulations call them. */
#ifndef ZDD_JUDGE_H
#define ZDD_JUDGE_H

#include <stddef.h>
#include <linux/types.h>

/* Handshakes of one pool whose outcome is known (their cohort is older than the timeout). */
struct zdd_outcomes {
	__u64 started;	 /* flows */
	__u64 completed; /* their handshake's ACK came in time */
	__u64 reset;	 /* the client reset them before it (failed, like those that timed out) */
};

struct zdd_judge_policy {
	double alpha;	   /* false-positive bound of one evaluation of one test */
	__u64 min_samples; /* candidate flows before it may pass (and the stable pool's before
			     * it is compared with) */
	double ceiling;	   /* failure ratio never acceptable while the stable pool is healthy */
	double max_ratio;  /* candidate worse than ratio x stable ... */
	double min_excess; /* ... and by at least this much, as a fraction of flows */
};

enum zdd_verdict {
	ZDD_V_PASS,	 /* enough evidence, and no sign of failure */
	ZDD_V_FAIL,	 /* roll back */
	ZDD_V_SHORT,	 /* not enough evidence yet: hold */
	ZDD_V_BOTH_FAIL, /* both pools over the ceiling: the network or an attack: hold */
};

/* Flows of o that failed: started without completing in time. Never wraps. */
__u64 zdd_outcomes_failed(const struct zdd_outcomes *o);
void zdd_outcomes_add(struct zdd_outcomes *sum, const struct zdd_outcomes *o);

/* One-sided Fisher's exact test: the probability, were both pools alike, that the candidate
 * gets fc or more of the fc + fs failures among nc + ns flows. */
double zdd_fisher_greater(__u64 fc, __u64 nc, __u64 fs, __u64 ns);
/* P(X >= k) for X ~ Binomial(n, p). */
double zdd_binom_tail(__u64 k, __u64 n, double p);

/* alpha for each of a rollout's evaluations: (1 - confidence) spread over the two tests of
 * every cohort the rollout can last (Bonferroni: the bound holds however they correlate). */
double zdd_judge_alpha(double confidence, int n_steps, __u32 step_ms, __u32 extension_ms);

/* The verdict on cand, with why (for the event log) when not PASS. stable: the stable pool's
 * outcomes over the same interval. */
enum zdd_verdict zdd_judge(const struct zdd_judge_policy *p, const char *cand_name,
			   const struct zdd_outcomes *cand, const struct zdd_outcomes *stable,
			   char *why, size_t len);

#endif /* ZDD_JUDGE_H */
