// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_state.c - the agent's state file (state.c): saved rollouts come back as they
 * were, with nothing left half-written; a missing file is a first start; a file that is empty,
 * not JSON, of a wrong type or out of range anywhere is moved aside whole to
 * <path>.corrupt-<unix time>, restores nothing, and the agent starts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "agent.h"

#define NOW  1000000
#define SVC4 "198.19.0.10:80/tcp"
#define SVC6 "[fd00:5a::10]:80/tcp"

/* What main.c gives state.c. */
__u64 agent_now_ms(void)
{
	return NOW;
}

struct env {
	char dir[64];
	struct zdd_conf conf;
	struct agent_service svcs[2];
	struct agent a;
};

/* Both services configured, idle, with the config's three steps. */
static void fresh_agent(struct env *e)
{
	const __u16 steps[] = { 1000, 5000, 10000 };
	size_t i;

	memset(e->svcs, 0, sizeof(e->svcs));
	assert_int_equal(zdd_service_parse(SVC4, &e->svcs[0].key), 0);
	assert_int_equal(zdd_service_parse(SVC6, &e->svcs[1].key), 0);
	for (i = 0; i < 2; i++) {
		e->svcs[i].ro.svc = e->svcs[i].key;
		e->svcs[i].ro.step = -1;
		memcpy(e->svcs[i].ro.pol.steps_bp, steps, sizeof(steps));
		e->svcs[i].ro.pol.n_steps = 3;
		e->svcs[i].ro.pol.interval_ms = 2000;
	}
	memset(&e->a, 0, sizeof(e->a));
	e->a.conf = &e->conf;
	e->a.svcs = e->svcs;
	e->a.n_svcs = 2;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/zdd-test-state-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->conf.agent.state_file, sizeof(e->conf.agent.state_file), "%s/state.json",
		 e->dir);
	fresh_agent(e);
	*state = e;
	return 0;
}

static void rm_glob(const char *pattern)
{
	glob_t g;
	size_t i;

	if (glob(pattern, 0, NULL, &g))
		return;
	for (i = 0; i < g.gl_pathc; i++)
		unlink(g.gl_pathv[i]);
	globfree(&g);
}

static int teardown(void **state)
{
	struct env *e = *state;
	char pattern[96];

	snprintf(pattern, sizeof(pattern), "%s/*", e->dir);
	rm_glob(pattern);
	rmdir(e->dir);
	free(e);
	return 0;
}

static void write_state(struct env *e, const char *text, size_t len)
{
	FILE *f = fopen(e->conf.agent.state_file, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The files in the state's directory matching name ("state.json.corrupt-*"). */
static size_t count(struct env *e, const char *name)
{
	char pattern[96];
	size_t n = 0;
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s/%s", e->dir, name);
	if (!glob(pattern, 0, NULL, &g))
		n = g.gl_pathc;
	else
		return 0;
	globfree(&g);
	return n;
}

static void missing_file_is_a_first_start(void **state)
{
	struct env *e = *state;

	assert_int_equal(agent_state_load(&e->a), 0);
	assert_int_equal(e->svcs[0].ro.state, ZDD_RO_IDLE);
	assert_int_equal(count(e, "*"), 0);
}

static void saved_rollouts_come_back(void **state)
{
	const __u16 steps[] = { 500, 10000 };
	struct env *e = *state;
	struct zdd_rollout *r4 = &e->svcs[0].ro, *r6 = &e->svcs[1].ro;

	r4->state = ZDD_RO_RUNNING;
	r4->step = 0;
	r4->step_pending = true;
	r4->step_started_ms = NOW - 700;
	r4->rollbacks = 2;
	r6->state = ZDD_RO_PAUSED;
	r6->stable = ZDD_GREEN;
	r6->step = 1;
	r6->step_started_ms = 1500; /* paused: the dwell so far */
	memcpy(r6->pol.steps_bp, steps, sizeof(steps));
	r6->pol.n_steps = 2;
	r6->pol.interval_ms = 60000;
	e->a.drained = true;
	assert_int_equal(agent_state_save(&e->a), 0);
	assert_int_equal(count(e, "*"), 1); /* no .tmp left behind */

	fresh_agent(e);
	assert_int_equal(agent_state_load(&e->a), 0);
	assert_true(e->a.drained);
	assert_int_equal(r4->state, ZDD_RO_RUNNING);
	assert_int_equal(r4->step, 0);
	assert_true(r4->step_pending);
	assert_int_equal(r4->pre.status, ZDD_HOOK_OK); /* no hook configured: asked again, yes */
	assert_int_equal(r4->step_started_ms, NOW - 700);
	assert_int_equal(r4->rollbacks, 2);
	assert_int_equal(r4->pol.n_steps, 3);
	assert_int_equal(r6->state, ZDD_RO_PAUSED);
	assert_int_equal(r6->stable, ZDD_GREEN);
	assert_int_equal(r6->step, 1);
	assert_int_equal(r6->step_started_ms, 1500);
	assert_int_equal(r6->pol.n_steps, 2);
	assert_int_equal(r6->pol.steps_bp[0], 500);
	assert_int_equal(r6->pol.steps_bp[1], 10000);
	assert_int_equal(r6->pol.interval_ms, 60000);
	assert_string_equal(r6->event, "restored: paused at step 2");
	assert_int_equal(count(e, "state.json"), 1);
	assert_int_equal(count(e, "*.corrupt-*"), 0);
}

static void unwritten_rollback_is_retried_after_restart(void **state)
{
	struct env *e = *state;
	struct zdd_rollout *r4 = &e->svcs[0].ro, *r6 = &e->svcs[1].ro;

	r4->state = ZDD_RO_ROLLED_BACK;
	r4->step = 1;
	r4->rollbacks = 1;
	r4->unwritten = true;
	snprintf(r4->reason, sizeof(r4->reason), "green failed \"badly\"");
	r6->state = ZDD_RO_PROMOTED;
	r6->step = 2;
	r6->unwritten = true; /* only a rollback's weight is retried */
	assert_int_equal(agent_state_save(&e->a), 0);
	fresh_agent(e);
	assert_int_equal(agent_state_load(&e->a), 0);
	assert_int_equal(r4->state, ZDD_RO_ROLLED_BACK);
	assert_true(r4->unwritten);
	assert_string_equal(r4->reason, "green failed \"badly\"");
	assert_int_equal(r6->state, ZDD_RO_PROMOTED);
	assert_false(r6->unwritten);
	assert_string_equal(r6->reason, "");
}

#define RO(fields) "{\"drained\":false,\"rollouts\":[" fields "]}"
#define GOOD4                                                                                 \
	"{\"service\":\"" SVC4 "\",\"state\":\"running\",\"step\":1,\"step_pending\":false,"  \
	"\"stable\":0,\"in_step_ms\":100,\"rollbacks\":0,\"event\":\"e\",\"steps_bp\":[1000," \
	"5000,10000],\"interval_ms\":2000"

static const char *const corrupt[] = {
	"", "\n", "garbage", "{", "{\"rollouts\":[]", "null", "[]", "5", "{}", "{\"rollouts\":5}",
	"{\"rollouts\":{}}", "{\"rollouts\":null}", "{\"drained\":\"yes\",\"rollouts\":[]}",
	RO("5"), RO("null"), RO("[]"), RO("{}"),
	/* each field missing, of a wrong type, or out of range; one good rollout beside it */
	RO(GOOD4 "}, {\"state\":\"idle\",\"step\":-1,\"stable\":0,\"steps_bp\":[10000],"
		 "\"interval_ms\":1}"),
	RO(GOOD4 ",\"step\":\"x\"}"), RO(GOOD4 ",\"step\":null}"), RO(GOOD4 ",\"step\":1.0}"),
	RO(GOOD4 ",\"step\":3}"), RO(GOOD4 ",\"step\":-2}"), RO(GOOD4 ",\"step\":4294967297}"),
	RO(GOOD4 ",\"service\":\"nope\"}"), RO(GOOD4 ",\"service\":5}"),
	RO(GOOD4 ",\"service\":\"198.19.0.10:80/tcp\\u0000\"}"), RO(GOOD4 ",\"state\":\"flying\"}"),
	RO(GOOD4 ",\"state\":1}"), RO(GOOD4 ",\"stable\":2}"), RO(GOOD4 ",\"stable\":-1}"),
	RO(GOOD4 ",\"stable\":true}"), RO(GOOD4 ",\"steps_bp\":[5000,1000,10000]}"),
	RO(GOOD4 ",\"steps_bp\":[1000,1000,10000]}"), RO(GOOD4 ",\"steps_bp\":[1000,5000]}"),
	RO(GOOD4 ",\"steps_bp\":[0,5000,10000]}"), RO(GOOD4 ",\"steps_bp\":[1000,5000,10001]}"),
	RO(GOOD4 ",\"steps_bp\":[1000,\"5000\",10000]}"), RO(GOOD4 ",\"steps_bp\":[]}"),
	RO(GOOD4 ",\"steps_bp\":\"1000,5000,10000\"}"),
	RO(GOOD4 ",\"steps_bp\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,"
		 "25,26,27,28,29,30,31,32,10000]}"),
	RO(GOOD4 ",\"interval_ms\":0}"), RO(GOOD4 ",\"interval_ms\":4294967296}"),
	RO(GOOD4 ",\"interval_ms\":\"2s\"}"), RO(GOOD4 ",\"in_step_ms\":-5}"),
	RO(GOOD4 ",\"in_step_ms\":\"5\"}"), RO(GOOD4 ",\"rollbacks\":-1}"),
	RO(GOOD4 ",\"rollbacks\":18446744073709551615}"), RO(GOOD4 ",\"step_pending\":\"true\"}"),
	RO(GOOD4 ",\"event\":7}"), RO(GOOD4 ",\"reason\":7}"),
	RO(GOOD4 ",\"reason\":\"a\\u0000b\"}"), RO(GOOD4 ",\"weight_unwritten\":\"yes\"}"),
	RO(GOOD4 "}," GOOD4 "}"), /* the same service twice */
};

static void corrupt_files_are_moved_aside(void **state)
{
	struct env *e = *state;
	char aside[96], again[4096];
	size_t i, n;
	FILE *f;

	for (i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		fresh_agent(e);
		rm_glob(strcat(strcpy(aside, e->dir), "/*"));
		write_state(e, corrupt[i], strlen(corrupt[i]));
		if (agent_state_load(&e->a))
			fail_msg("'%s': the agent would not start", corrupt[i]);
		if (count(e, "state.json") || count(e, "state.json.corrupt-*") != 1)
			fail_msg("'%s': not moved aside", corrupt[i]);
		/* Whole or nothing: the good rollout beside the bad one is not restored. */
		assert_int_equal(e->svcs[0].ro.state, ZDD_RO_IDLE);
		assert_int_equal(e->svcs[0].ro.step, -1);
		assert_false(e->a.drained);
		/* The operator gets the file as it was. */
		snprintf(aside, sizeof(aside), "%s/state.json.corrupt-*", e->dir);
		{
			glob_t g;

			assert_int_equal(glob(aside, 0, NULL, &g), 0);
			f = fopen(g.gl_pathv[0], "r");
			globfree(&g);
		}
		assert_non_null(f);
		n = fread(again, 1, sizeof(again), f);
		fclose(f);
		assert_int_equal(n, strlen(corrupt[i]));
		assert_memory_equal(again, corrupt[i], n);
	}
	/* A NUL inside is corrupt too; and then the agent saves a good file again. */
	fresh_agent(e);
	rm_glob(strcat(strcpy(aside, e->dir), "/*"));
	write_state(e, "{\"rollouts\":[]}\0x", 17);
	assert_int_equal(agent_state_load(&e->a), 0);
	assert_int_equal(count(e, "state.json.corrupt-*"), 1);
	assert_int_equal(agent_state_save(&e->a), 0);
	assert_int_equal(agent_state_load(&e->a), 0);
	assert_int_equal(count(e, "state.json"), 1);
	assert_int_equal(count(e, "state.json.corrupt-*"), 1);
}

static void old_or_foreign_rollouts_are_fine(void **state)
{
	struct env *e = *state;
	/* An older agent's file (no "drained", no optional fields), and a service that has left
	 * the config since: dropped, the rest restored. */
	const char *text = "{\"rollouts\":[{\"service\":\"198.19.0.99:80/tcp\",\"state\":"
			   "\"running\",\"step\":0,\"stable\":0,\"steps_bp\":[10000],"
			   "\"interval_ms\":5},{\"service\":\"" SVC6 "\",\"state\":\"promoted\","
			   "\"step\":2,\"stable\":1,\"steps_bp\":[1000,5000,10000],"
			   "\"interval_ms\":2000,\"rollbacks\":1,\"future_field\":[1]}]}";

	write_state(e, text, strlen(text));
	assert_int_equal(agent_state_load(&e->a), 0);
	assert_int_equal(count(e, "state.json.corrupt-*"), 0);
	assert_false(e->a.drained);
	assert_int_equal(e->svcs[0].ro.state, ZDD_RO_IDLE);
	assert_int_equal(e->svcs[1].ro.state, ZDD_RO_PROMOTED);
	assert_int_equal(e->svcs[1].ro.stable, ZDD_GREEN);
	assert_int_equal(e->svcs[1].ro.rollbacks, 1);
	assert_false(e->svcs[1].ro.step_pending);
}

static void unwritable_state_is_an_error(void **state)
{
	struct env *e = *state;

	snprintf(e->conf.agent.state_file, sizeof(e->conf.agent.state_file),
		 "%s/no/such/dir/state.json", e->dir);
	assert_int_equal(agent_state_save(&e->a), -ENOENT);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(missing_file_is_a_first_start),
		T(saved_rollouts_come_back),
		T(corrupt_files_are_moved_aside),
		T(old_or_foreign_rollouts_are_fine),
		T(unwritten_rollback_is_retried_after_restart),
		T(unwritable_state_is_an_error),
	};

	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
