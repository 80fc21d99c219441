/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/analysis.h - the rollout's application checks (Prometheus queries, web
 * checks) for the agent's epoll loop: libcurl's multi interface on an epoll fd of its own,
 * every request with a timeout, at most one evaluation in flight per check, so a slow or
 * black-holed Prometheus never delays a tick. An evaluation queries the candidate pool (and the
 * stable one, to compare) and judges the value(s) against the check's thresholds. */
#ifndef ZDD_ANALYSIS_H
#define ZDD_ANALYSIS_H

#include <stdbool.h>
#include <linux/types.h>
#include "conffile.h"
#include "zdd_abi.h"

enum zdd_an_result { ZDD_AN_PASS, ZDD_AN_FAIL, ZDD_AN_INCONCLUSIVE };

/* The outcome of one evaluation of one check. */
struct zdd_an_eval {
	int check; /* index in the checks given to zdd_analysis_schedule() */
	enum zdd_an_result result;
	bool has_value[ZDD_POOLS];
	double value[ZDD_POOLS];
	/* pass/fail: the value and the threshold ("0.2013 over max 0.05", "0.31 is 2.6 x the
	 * stable pool's 0.12, over 2"); inconclusive: why (no data, NaN, the HTTP status and the
	 * server's own error text, a timeout). */
	char why[256];
};

/* Called from inside zdd_analysis_run() for each finished evaluation; e is valid during the
 * call only. The callback may call zdd_analysis_stop() and zdd_analysis_schedule(), not
 * zdd_analysis_free(). An evaluation aborted by stop or by a new check list is not reported. */
typedef void (*zdd_analysis_cb)(void *ctx, const struct zdd_service_key *svc,
				const struct zdd_an_eval *e);

struct zdd_analysis;

int zdd_analysis_new(struct zdd_analysis **out, zdd_analysis_cb cb, void *ctx);
/* Aborts every request in flight. NULL is fine. */
void zdd_analysis_free(struct zdd_analysis *an);

/*
 * Starts the due evaluations of svc's checks (those whose interval has passed since their last
 * start and that have none in flight). cand: the candidate pool ({{pool}} of the judged query;
 * the stable pool is the other). The engine copies what it needs: checks may be freed after
 * the call. Call it every tick while the rollout runs; a check list that changed (a reload)
 * takes effect for the next evaluations: checks are matched by name, a kept one keeps its
 * schedule and its evaluation in flight (reported with its new index), a removed one's is
 * aborted; n == 0 is zdd_analysis_stop(). 0, or -EINVAL (n out of 0..ZDD_CONF_MAX_CHECKS, a
 * name twice, an interval or timeout of 0, an unterminated string, cand not a pool), -ENOMEM.
 */
int zdd_analysis_schedule(struct zdd_analysis *an, const struct zdd_service_key *svc,
			  const struct zdd_conf_analysis *checks, int n, __u8 cand, __u64 now_ms);
/* Aborts svc's evaluations in flight and forgets its schedule (the rollout ended). */
void zdd_analysis_stop(struct zdd_analysis *an, const struct zdd_service_key *svc);

/* An epoll fd: readable when a transfer has something to do. */
int zdd_analysis_fd(const struct zdd_analysis *an);
/* Milliseconds until libcurl wants zdd_analysis_run() again (0: now), -1 when idle. */
int zdd_analysis_timeout_ms(const struct zdd_analysis *an);
/* Advances transfers, times them out, judges finished evaluations and calls the callback.
 * Never blocks. now_ms: CLOCK_MONOTONIC in ms, like agent_now_ms() (libcurl's timer is
 * compared with it). 0, or -errno when epoll itself fails. */
int zdd_analysis_run(struct zdd_analysis *an, __u64 now_ms);

#endif /* ZDD_ANALYSIS_H */
