// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_rollout.c - the rollout controller on a simulated clock and counters: steps
 * and dwell, promotion, the failure analysis and its rollback, the operator's verbs, hooks. */
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
	struct zdd_pool_counters c[ZDD_POOLS];
	__u64 now;
	int weight; /* last weight written, -1: none */
	int writes, changes;
};

static int sim_set_weight(void *ctx, const struct zdd_service_key *svc, __u16 bp)
{
	struct sim *s = ctx;

	(void)svc;
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
	memcpy(s->ro.pol.steps_bp, steps, sizeof(steps));
	s->ro.pol.n_steps = 3;
	s->ro.pol.interval_ms = 1000;
	s->ro.pol.window_ms = 3000;
	s->ro.pol.min_samples = 20;
	s->ro.pol.max_failure_bp = 500;
	s->ro.pol.max_ratio_to_blue = 2.0;
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

/* ms of simulated time at one tick per 100 ms; each pool gets rate new flows a tick, of which
 * a fraction fail[pool] never completes the handshake. */
static void run_for(struct sim *s, __u64 ms, int rate, double fail_green)
{
	__u64 end = s->now + ms;
	int p;

	while (s->now < end) {
		s->now += 100;
		for (p = 0; p < ZDD_POOLS; p++) {
			s->c[p].flows_new += rate;
			s->c[p].flows_established += p == ZDD_GREEN
							     ? rate - (int)(rate * fail_green)
							     : rate;
		}
		zdd_rollout_tick(&s->ro, &s->ops, s->c, s->now);
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

static void too_few_flows_are_not_judged(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	s->ro.pol.interval_ms = 60000;
	run_for(s, 3000, 0, 0);
	s->c[ZDD_GREEN].flows_new += 5; /* 5 failures of 5, fewer than min_samples */
	run_for(s, 500, 0, 0);
	assert_int_equal(s->ro.state, ZDD_RO_RUNNING);
}

static void unhealthy_pool_is_rolled_back(void **state)
{
	struct sim *s = *state;

	assert_int_equal(zdd_rollout_start(&s->ro, &s->ops, 0, s->now), 0);
	run_for(s, 200, 10, 0);
	s->c[ZDD_GREEN].checked = 2;
	s->c[ZDD_GREEN].healthy = 0;
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
		zdd_rollout_tick(&s->ro, &s->ops, s->c, s->now);
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
	assert_int_equal(s->ro.state, ZDD_RO_ABORTED);
	assert_int_equal(s->weight, 10000); /* stayed on the stable pool: green */
	assert_non_null(strstr(s->ro.event, "pre-step hook"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(steps_then_promotion),	   T(failing_green_is_rolled_back),
		T(healthy_noise_is_not_a_failure), T(too_few_flows_are_not_judged),
		T(unhealthy_pool_is_rolled_back),  T(pause_resume_abort_promote),
		T(mixed_weight_refuses_to_start),  T(hooks_gate_steps_and_follow_outcomes),
	};

	return cmocka_run_group_tests_name("rollout", tests, NULL, NULL);
}
