// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_rollout.c - the rollout controller on a simulated clock and outcomes: steps
 * and dwell, evidence, promotion, rollback, the operator's verbs, hooks. test_judgement.c
 * drives it with random traffic. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fixture.h"
#include "rollout.h"

struct sim {
	struct zdd_rollout ro;
	struct zdd_rollout_ops ops;
	struct zdd_pool_health h[ZDD_POOLS];
	__u64 now;
	int weight; /* last weight written, -1: none */
	int writes, changes;
	int fail_writes; /* the next writes that fail (a lock held elsewhere) */
};

static int sim_set_weight(void *ctx, const struct zdd_service_key *svc, __u16 bp)
{
	struct sim *s = ctx;

	(void)svc;
	if (s->fail_writes > 0) {
		s->fail_writes--;
		return -ETIMEDOUT;
	}
	s->weight = bp;
	s->writes++;
	return 0;
}

static void sim_changed(void *ctx, struct zdd_rollout *ro)
{
	struct sim *s = ctx;

	(void)ro;
	s->changes++;
}

static int setup(void **state)
{
	struct sim *s = calloc(1, sizeof(*s));
	const __u16 steps[] = { 1000, 5000, 10000 };

	assert_non_null(s);
	s->ops = (struct zdd_rollout_ops){ sim_set_weight, sim_changed, s };
	s->ro.step = -1;
	s->ro.svc = svc_key(SVC4);
	memcpy(s->ro.pol.steps_bp, steps, sizeof(steps));
	s->ro.pol.n_steps = 3;
	s->ro.pol.interval_ms = 1000;
	s->ro.pol.extension_ms = 2000;
	s->ro.pol.handshake_timeout_ms = 3000;
	s->ro.pol.handshakes = true;
	s->ro.pol.judge = (struct zdd_judge_policy){ .min_samples = 20,
						     .ceiling = 0.05,
						     .max_ratio = 2.0,
						     .min_excess = ZDD_RO_MIN_EXCESS };
	s->ro.pol.confidence = 0.999;
	zdd_rollout_policy_update(&s->ro.pol);
	s->ro.pol.hooks.timeout_ms = 2000;
	s->now = 1000000;
	s->weight = -1;
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct sim *s = *state;

	zdd_hook_kill(&s->ro.pre);
	zdd_hook_kill(&s->ro.post);
	zdd_rollout_policy_free(&s->ro.pol);
	free(s);
	return 0;
}

/* ms of simulated time at one tick per 100 ms; each tick closes a cohort of rate flows a pool
 * (started a tick ago: the handshake timeout is the sim's business, not the controller's), of
 * which a fraction fail_green of green's never completes. */
static void run_for(struct sim *s, __u64 ms, int rate, double fail_green)
{
	__u64 end = s->now + ms;
	struct zdd_outcomes o[ZDD_POOLS];

	while (s->now < end) {
		s->now += 100;
		o[ZDD_BLUE] = (struct zdd_outcomes){ rate, rate, 0 };
		o[ZDD_GREEN] = (struct zdd_outcomes){ rate, rate - (int)(rate * fail_green), 0 };
		zdd_rollout_outcomes(&s->ro, s->now - 100, o);
		zdd_rollout_tick(&s->ro, &s->ops, s->h, s->now);
	}
}

static void steps_then_promotion(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	assert_int_equal(s->ro.stable, ZDD_BLUE);
	run_for(s, 200, 10, 0);
	assert_int_equal(s->weight, 1000);
	run_for(s, 1000, 10, 0);
	assert_int_equal(s->weight, 5000);
	run_for(s, 1100, 10, 0);
	assert_int_equal(s->weight, 10000);
	assert_int_equal(s->ro.state, ZDD_RO_RUNNING);
	run_for(s, 1100, 10, 0);
	assert_int_equal(s->ro.state, ZDD_RO_PROMOTED);
	assert_int_equal(s->ro.stable, ZDD_GREEN); /* the next release goes to blue */
	assert_int_equal(s->ro.rollbacks, 0);
	/* and the next rollout moves clients back to blue: weight falls */
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 10000, s->now), 0);
	run_for(s, 200, 10, 0);
	assert_int_equal(s->weight, 9000);
}

static void failing_green_is_rolled_back(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 1500, 20, 0);
	assert_int_equal(s->weight, 5000);
	run_for(s, 600, 20, 1.0); /* green stops completing handshakes */
	assert_int_equal(s->ro.state, ZDD_RO_ROLLED_BACK);
	assert_int_equal(s->weight, 0);
	assert_int_equal(s->ro.rollbacks, 1);
	assert_non_null(strstr(s->ro.event, "rolled back at step 2"));
}

static void healthy_noise_is_not_a_failure(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 4000, 100, 0.005); /* 0.5%: under the 1% allowance and the 5% ceiling */
	assert_int_equal(s->ro.state, ZDD_RO_PROMOTED);
}

/* Without flows a step waits past its dwell for evidence, up to the extension; then an
 * intermediate step goes on, but the last one pauses instead of promoting blind. */
static void no_evidence_holds_and_never_promotes(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 200, 0, 0);
	assert_int_equal(s->weight, 1000);
	run_for(s, 2500, 0, 0); /* dwell 1 s + 1.5 s of the 2 s extension */
	assert_int_equal(s->weight, 1000);
	assert_non_null(strstr(s->ro.held, "handshakes"));
	run_for(s, 700, 0, 0);
	assert_int_equal(s->weight, 5000); /* went on, saying why */
	run_for(s, 3200, 0, 0);
	assert_int_equal(s->weight, 10000);
	run_for(s, 3200, 0, 0);
	assert_int_equal(s->ro.state, ZDD_RO_PAUSED);
	assert_non_null(strstr(s->ro.event, "paused before promotion"));
	/* resumed, it waits a whole extension again; evidence then promotes */
	assert_int_equal(zdd_rollout_resume(&s->ro, &s->ops, s->now), 0);
	run_for(s, 1000, 0, 0);
	assert_int_equal(s->ro.state, ZDD_RO_RUNNING);
	run_for(s, 400, 10, 0);
	assert_int_equal(s->ro.state, ZDD_RO_PROMOTED);
	assert_int_equal(s->ro.rollbacks, 0);
}

/* One failed flow of three is no evidence against green (three of three would be, against
 * none of blue's 200: chance 7e-7). */
static void one_failure_is_not_a_rollback(void **state)
{
	struct sim *s = *state;
	struct zdd_outcomes o[ZDD_POOLS] = { { 200, 200, 0 }, { 3, 2, 1 } };

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 200, 0, 0);
	zdd_rollout_outcomes(&s->ro, s->now, o);
	run_for(s, 100, 0, 0);
	assert_int_equal(s->ro.state, ZDD_RO_RUNNING);
}

/* A rollback whose weight cannot be written (the lock held by a hung writer) is not silently
 * lost: the weight is written again every tick until it lands. */
static void rollback_weight_is_retried_until_written(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 1500, 20, 0);
	assert_int_equal(s->weight, 5000);
	s->fail_writes = 3;
	run_for(s, 300, 20, 1.0);
	assert_int_equal(s->ro.state, ZDD_RO_ROLLED_BACK);
	assert_true(s->ro.unwritten);
	assert_int_equal(s->weight, 5000);
	assert_true(zdd_rollout_ticking(&s->ro));
	run_for(s, 400, 20, 0);
	assert_false(s->ro.unwritten);
	assert_int_equal(s->weight, 0);
	assert_non_null(strstr(s->ro.event, "new flows are on blue"));
}

/* One application check, as zdd.yaml's defaults make it. */
static void with_check(struct sim *s)
{
	s->ro.pol.checks = calloc(1, sizeof(*s->ro.pol.checks));
	assert_non_null(s->ro.pol.checks);
	strcpy(s->ro.pol.checks[0].name, "http_5xx_ratio");
	s->ro.pol.checks[0].failure_limit = 2;
	s->ro.pol.checks[0].inconclusive_limit = 3;
	s->ro.pol.n_checks = 1;
}

static void eval(struct sim *s, enum zdd_an_result r, const char *why)
{
	struct zdd_an_eval e = { .check = 0, .result = r, .has_value = { false, true } };

	e.value[ZDD_GREEN] = r == ZDD_AN_FAIL ? 0.2 : 0.001;
	snprintf(e.why, sizeof(e.why), "%s", why);
	zdd_rollout_analysis(&s->ro, &s->ops, &e, s->now);
}

/* A step advances only when every check has passed in it: the dwell and the handshakes are
 * not enough. */
static void checks_gate_every_step(void **state)
{
	struct sim *s = *state;

	with_check(s);
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 3000, 10, 0);
	assert_int_equal(s->weight, 1000); /* dwell and evidence, but no pass */
	assert_non_null(strstr(s->ro.waiting, "http_5xx_ratio"));
	eval(s, ZDD_AN_PASS, "0.001 <= max 0.05");
	run_for(s, 200, 10, 0);
	assert_int_equal(s->weight, 5000);
	run_for(s, 1500, 10, 0);
	assert_int_equal(s->weight, 5000); /* a pass of the step before does not count */
	eval(s, ZDD_AN_PASS, "0.001 <= max 0.05");
	run_for(s, 200, 10, 0);
	assert_int_equal(s->weight, 10000);
	eval(s, ZDD_AN_PASS, "0.001 <= max 0.05");
	run_for(s, 1500, 10, 0);
	assert_int_equal(s->ro.state, ZDD_RO_PROMOTED);
}

/* failure_limit failed evaluations in a row roll back, named; an inconclusive one between
 * them does not clear the streak, a pass does. */
static void failing_check_rolls_back_by_name(void **state)
{
	struct sim *s = *state;
	int i;

	with_check(s);
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 200, 10, 0);
	eval(s, ZDD_AN_FAIL, "0.2 over max 0.05");
	eval(s, ZDD_AN_PASS, "0.001 <= max 0.05");
	eval(s, ZDD_AN_FAIL, "0.2 over max 0.05");
	assert_int_equal(s->ro.state, ZDD_RO_RUNNING);
	eval(s, ZDD_AN_INCONCLUSIVE, "timeout");
	eval(s, ZDD_AN_FAIL, "0.2013 over max 0.05");
	assert_int_equal(s->ro.state, ZDD_RO_ROLLED_BACK);
	assert_int_equal(s->weight, 0);
	assert_non_null(strstr(s->ro.reason, "check http_5xx_ratio failed 2 times in a row: "
					     "0.2013 over max 0.05"));
	for (i = 0; i < ZDD_RO_REASONS; i++)
		if (!strcmp(s->ro.rollbacks_by[i].reason, "http_5xx_ratio"))
			break;
	assert_true(i < ZDD_RO_REASONS && s->ro.rollbacks_by[i].n == 1);
	assert_int_equal(s->ro.checks[0].evaluations[ZDD_AN_FAIL], 3);
}

/* No data is no verdict: inconclusive_limit of them in a row pause the rollout (it never
 * advances or promotes blind), and it resumes by itself when the data returns. */
static void blind_rollout_pauses_and_resumes(void **state)
{
	struct sim *s = *state;

	with_check(s);
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 200, 10, 0);
	eval(s, ZDD_AN_PASS, "0.001 <= max 0.05");
	eval(s, ZDD_AN_INCONCLUSIVE, "Prometheus: connection refused");
	eval(s, ZDD_AN_INCONCLUSIVE, "Prometheus: connection refused");
	assert_int_equal(s->ro.state, ZDD_RO_RUNNING);
	eval(s, ZDD_AN_INCONCLUSIVE, "Prometheus: connection refused");
	assert_int_equal(s->ro.state, ZDD_RO_PAUSED);
	assert_true(s->ro.blind);
	assert_non_null(strstr(s->ro.event, "resumes when it has"));
	run_for(s, 5000, 10, 0);
	assert_int_equal(s->weight, 1000); /* held, past the dwell */
	eval(s, ZDD_AN_PASS, "0.001 <= max 0.05");
	assert_int_equal(s->ro.state, ZDD_RO_RUNNING);
	assert_false(s->ro.blind);
	run_for(s, 1000, 10, 0); /* the rest of the dwell: paused time does not count */
	assert_int_equal(s->weight, 5000);
}

static void unhealthy_pool_is_rolled_back(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 200, 10, 0);
	s->h[ZDD_GREEN].checked = 2;
	s->h[ZDD_GREEN].healthy = 0;
	run_for(s, 100, 10, 0);
	assert_int_equal(s->ro.state, ZDD_RO_ROLLED_BACK);
	assert_non_null(strstr(s->ro.event, "health check"));
}

static void pause_resume_abort_promote(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_pause(&s->ro, &s->ops, s->now), -ENOENT);
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), -EBUSY);
	run_for(s, 600, 10, 0);
	assert_int_equal(zdd_rollout_pause(&s->ro, &s->ops, s->now), 0);
	run_for(s, 5000, 10, 0);
	assert_int_equal(s->weight, 1000); /* held past its dwell */
	assert_int_equal(zdd_rollout_resume(&s->ro, &s->ops, s->now), 0);
	run_for(s, 300, 10, 0);
	assert_int_equal(s->weight, 1000); /* the dwell so far was kept: 0.5 s more */
	run_for(s, 400, 10, 0);
	assert_int_equal(s->weight, 5000);
	assert_int_equal(zdd_rollout_abort(&s->ro, &s->ops, s->now), 0);
	assert_int_equal(s->weight, 0);
	assert_int_equal(s->ro.state, ZDD_RO_ABORTED);
	assert_int_equal(s->ro.rollbacks, 0);
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	assert_int_equal(zdd_rollout_promote(&s->ro, &s->ops, s->now), 0);
	assert_int_equal(s->weight, 10000);
	assert_int_equal(s->ro.state, ZDD_RO_PROMOTED);
}

static void mixed_weight_refuses_to_start(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 2500, s->now), -EINVAL);
	assert_int_equal(s->ro.state, ZDD_RO_IDLE);
	assert_int_equal(s->writes, 0);
}

/* Hooks run for real: /bin/false fails a step, touch leaves a trace after promotion. */
static void hooks_gate_steps_and_follow_outcomes(void **state)
{
	struct sim *s = *state;
	char trace[64], *t;
	int i;

	snprintf(trace, sizeof(trace), "/tmp/zdd-test-hook-%d", getpid());
	unlink(trace);
	s->ro.pol.hooks.post_promote[0] = strdup("/usr/bin/touch");
	s->ro.pol.hooks.post_promote[1] = t = strdup(trace);
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 3500, 10, 0);
	for (i = 0; i < 50 && s->ro.post.status == ZDD_HOOK_RUNNING; i++) {
		usleep(20000);
		zdd_rollout_tick(&s->ro, &s->ops, s->h, s->now);
	}
	assert_int_equal(s->ro.state, ZDD_RO_PROMOTED);
	assert_int_equal(access(trace, F_OK), 0);
	unlink(trace);
	(void)t;

	s->ro.pol.hooks.pre_step[0] = strdup("/bin/false");
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 10000, s->now), 0);
	for (i = 0; i < 50 && s->ro.state == ZDD_RO_RUNNING; i++) {
		usleep(20000);
		run_for(s, 100, 10, 0);
	}
	/* a failed precondition is a failed release: rolled back, counted, hooked */
	assert_int_equal(s->ro.state, ZDD_RO_ROLLED_BACK);
	assert_int_equal(s->ro.rollbacks, 1);
	assert_int_equal(s->weight, 10000); /* stayed on the stable pool: green */
	assert_non_null(strstr(s->ro.event, "pre-step hook"));
}

/* The post_rollback hook is told the service, the step, the outcome and why. */
static void post_rollback_hook_is_told_why(void **state)
{
	struct sim *s = *state;
	char trace[64], cmd[160], got[512] = "";
	FILE *f;
	int i;

	snprintf(trace, sizeof(trace), "/tmp/zdd-test-env-%d", getpid());
	unlink(trace);
	snprintf(cmd, sizeof(cmd), "echo \"$ZDD_SERVICE|$ZDD_STEP|$ZDD_STATE|$ZDD_REASON\" > %s",
		 trace);
	s->ro.pol.hooks.post_rollback[0] = strdup("/bin/sh");
	s->ro.pol.hooks.post_rollback[1] = strdup("-c");
	s->ro.pol.hooks.post_rollback[2] = strdup(cmd);
	with_check(s);
	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 200, 10, 0);
	eval(s, ZDD_AN_FAIL, "0.2 over max 0.05");
	eval(s, ZDD_AN_FAIL, "0.2 over max 0.05");
	for (i = 0; i < 100 && s->ro.post.status == ZDD_HOOK_RUNNING; i++) {
		usleep(20000);
		run_for(s, 100, 0, 0);
	}
	f = fopen(trace, "r");
	assert_non_null(f);
	assert_non_null(fgets(got, sizeof(got), f));
	fclose(f);
	unlink(trace);
	assert_string_equal(got, "198.19.0.10:80/tcp|1|rolled_back|check http_5xx_ratio failed 2 "
				 "times in a row: 0.2 over max 0.05\n");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(steps_then_promotion),
		T(failing_green_is_rolled_back),
		T(healthy_noise_is_not_a_failure),
		T(no_evidence_holds_and_never_promotes),
		T(one_failure_is_not_a_rollback),
		T(rollback_weight_is_retried_until_written),
		T(checks_gate_every_step),
		T(failing_check_rolls_back_by_name),
		T(blind_rollout_pauses_and_resumes),
		T(post_rollback_hook_is_told_why),
		T(unhealthy_pool_is_rolled_back),
		T(pause_resume_abort_promote),
		T(mixed_weight_refuses_to_start),
		T(hooks_gate_steps_and_follow_outcomes),
	};

	return cmocka_run_group_tests_name("rollout", tests, NULL, NULL);
}
