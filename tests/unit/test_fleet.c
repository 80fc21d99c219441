// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_fleet.c - the values a fleet's agents share through etcd (fleet.h): a record
 * and a node's outcomes survive the round trip, a bad value is refused whole with why, and the
 * commit->applied median and max are what they should be. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "curlm.h"
#include "etcd.h"
#include "fixture.h"
#include "fleet.h"
#include "servers.h"

#define NODES	 3
#define TTL_S	 2
#define START_MS 10000

/* One etcd for the cases against it: its data kept across a restart. */
static struct {
	char dir[64], url[64];
	__u16 port, peer;
	pid_t pid;
} w = { .pid = -1 };

static int etcd_start(void)
{
	char data[96], purl[64], cluster[80], log[96];
	const char *argv[] = { "etcd",	"--name",
			       "f0",	"--data-dir",
			       data,	"--listen-client-urls",
			       w.url,	"--advertise-client-urls",
			       w.url,	"--listen-peer-urls",
			       purl,	"--initial-advertise-peer-urls",
			       purl,	"--initial-cluster",
			       cluster, "--heartbeat-interval",
			       "10",	"--election-timeout",
			       "50",	"--log-level",
			       "warn",	NULL };

	snprintf(data, sizeof(data), "%s/f0", w.dir);
	snprintf(log, sizeof(log), "%s/f0.log", w.dir);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%u", w.peer);
	snprintf(cluster, sizeof(cluster), "f0=%s", purl);
	w.pid = spawn(log, argv);
	return w.pid > 0 && http_ready(w.port, "/health", "\"true\"", START_MS) ? 0 : -1;
}

static int world_down(void **state)
{
	(void)state;
	stop_child(&w.pid);
	if (w.dir[0])
		rm_tree(w.dir);
	return 0;
}

static int world_up(void **state)
{
	(void)state;
	strcpy(w.dir, "/tmp/zdd-test-fleet-XXXXXX");
	if (!in_path("etcd") || !mkdtemp(w.dir))
		return -1;
	w.port = free_port();
	w.peer = free_port();
	snprintf(w.url, sizeof(w.url), "http://127.0.0.1:%u", w.port);
	if (!w.port || !w.peer || etcd_start()) {
		fprintf(stderr, "test_fleet: etcd did not start (its log in %s)\n", w.dir);
		w.dir[0] = '\0';
		world_down(state);
		return -1;
	}
	return 0;
}

/* Three agents of one fleet in this process, each with its own etcd client. */
struct fleet_case {
	struct zdd_etcd *e[NODES];
	struct zdd_fleet *fl[NODES];
	int applied[NODES];
	__u64 applied_gen[NODES];
};

static void fc_release(void *p)
{
	struct fleet_case *f = p;

	for (int i = 0; i < NODES; i++) {
		zdd_fleet_free(f->fl[i]);
		zdd_etcd_free(f->e[i]);
		f->fl[i] = NULL;
		f->e[i] = NULL;
	}
}

static struct fleet_case *fc_cur;

static void on_apply(void *ctx, const char *svc, const struct zdd_fleet_record *r)
{
	int i = (int)(long)ctx;

	assert_string_equal(svc, "web");
	fc_cur->applied[i]++;
	fc_cur->applied_gen[i] = r->generation;
}

static int fc_setup(void **state)
{
	struct fleet_case *f = case_begin(state, sizeof(*f), fc_release, 60, "the fleet");
	const char *ep = w.url;
	struct zdd_etcd_opts o = { .endpoints = &ep, .n_endpoints = 1, .prefix = "/zdd-fleet/" };
	char name[16];

	if (!f)
		return -1;
	fc_cur = f;
	for (long i = 0; i < NODES; i++) {
		struct zdd_fleet_ops ops = { .apply = on_apply, .ctx = (void *)i };

		snprintf(name, sizeof(name), "edge%ld", i);
		if (zdd_etcd_new(&f->e[i], &o) ||
		    zdd_fleet_new(&f->fl[i], f->e[i], name, TTL_S, &ops))
			return -1;
	}
	return 0;
}

static __u64 wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

/* The agents' loops, until done(f) or max_ms; done's last word. */
static bool drive(struct fleet_case *f, long max_ms, bool (*done)(struct fleet_case *f))
{
	long start = now_ms();
	struct pollfd pfd[NODES];
	int n;

	while (!(done && done(f)) && now_ms() - start < max_ms) {
		n = 0;
		for (int i = 0; i < NODES; i++)
			if (f->e[i])
				pfd[n++] = (struct pollfd){ .fd = zdd_etcd_fd(f->e[i]),
							    .events = POLLIN };
		poll(pfd, (nfds_t)n, 20);
		for (int i = 0; i < NODES; i++) {
			if (!f->e[i])
				continue;
			assert_int_equal(zdd_etcd_run(f->e[i], zdd_mono_ms()), 0);
			zdd_fleet_tick(f->fl[i], zdd_mono_ms(), wall_now());
		}
	}
	return done && done(f);
}

static int leader_of(struct fleet_case *f)
{
	int l = -1;

	for (int i = 0; i < NODES; i++)
		if (f->fl[i] && zdd_fleet_is_leader(f->fl[i])) {
			if (l >= 0)
				return -2; /* two leaders */
			l = i;
		}
	return l;
}

static bool one_leader(struct fleet_case *f)
{
	return leader_of(f) >= 0;
}

static __u64 want_gen;

static bool all_applied(struct fleet_case *f)
{
	for (int i = 0; i < NODES; i++)
		if (f->fl[i] && f->applied_gen[i] != want_gen)
			return false;
	return true;
}

static int sum_nodes;

static bool summed(struct fleet_case *f)
{
	struct zdd_fleet_outcomes o;
	int l = leader_of(f);

	return l >= 0 && zdd_fleet_sum(f->fl[l], "web", 7, &o) == sum_nodes &&
	       o.step[ZDD_GREEN].started == 100ULL * (__u64)sum_nodes;
}

/* One leader; its record applied by all; the live nodes' outcomes summed; its resignation
 * hands the rollout to another, at the same step and step start; and a follower cannot write. */
static void fleet_of_three(void **state)
{
	struct fleet_case *f = *state;
	struct zdd_fleet_record r = { .state = ZDD_RO_RUNNING,
				      .step = 1,
				      .green_bp = 500,
				      .step_started_ms = 1764900000000ULL };
	struct zdd_fleet_outcomes o = { 7,
					{ { 1000, 990, 1 }, { 100, 95, 2 } },
					{ { 5000, 4990, 1 }, { 100, 95, 2 } } },
				  other = { 6, { { 1, 1, 0 }, { 1, 1, 0 } }, {} }, sum;
	struct zdd_fleet_node nodes[NODES];
	const struct zdd_fleet_delays *d;
	int l, l2;

	assert_true(drive(f, 3000, one_leader));
	l = leader_of(f);
	assert_int_equal(zdd_fleet_write(f->fl[(l + 1) % NODES], "web", r, wall_now()), -EPERM);
	assert_int_equal(zdd_fleet_write(f->fl[l], "web", r, wall_now()), 0);
	want_gen = 1;
	assert_true(drive(f, 3000, all_applied));
	for (int i = 0; i < NODES; i++) {
		assert_int_equal(f->applied[i], 1);
		d = zdd_fleet_delays(f->fl[i]);
		printf("# edge%d: commit->applied %llu ms (max %llu)\n", i,
		       (unsigned long long)zdd_fleet_delay_p50(d), (unsigned long long)d->max);
	}
	for (int i = 0; i < NODES; i++)
		zdd_fleet_set_outcomes(f->fl[i], "web", &o);
	sum_nodes = NODES;
	assert_true(drive(f, 3000, summed));
	zdd_fleet_sum(f->fl[l], "web", 7, &sum);
	assert_true(sum.step[ZDD_BLUE].completed == 3 * 990 && sum.step[ZDD_GREEN].reset == 3 * 2);
	assert_true(sum.all[ZDD_BLUE].started == 3 * 5000);
	/* a node still in the step before is not counted in this one */
	zdd_fleet_set_outcomes(f->fl[(l + 1) % NODES], "web", &other);
	sum_nodes = NODES - 1;
	assert_true(drive(f, 3000, summed));
	assert_int_equal(zdd_fleet_nodes(f->fl[l], "web", nodes, NODES), NODES);
	assert_true(nodes[0].generation == 1 && strcmp(nodes[0].node, nodes[1].node) < 0);
	zdd_fleet_set_outcomes(f->fl[(l + 1) % NODES], "web", &o);

	/* the leader goes: its lease and keys with it */
	zdd_fleet_free(f->fl[l]);
	zdd_etcd_free(f->e[l]);
	f->fl[l] = NULL;
	f->e[l] = NULL;
	sum_nodes = NODES - 1;
	assert_true(drive(f, (TTL_S + 1) * 1000, summed));
	l2 = leader_of(f);
	assert_true(l2 >= 0 && l2 != l);
	r = *zdd_fleet_record(f->fl[l2], "web");
	assert_int_equal(r.step, 1);
	assert_true(r.step_started_ms == 1764900000000ULL);
	r.step = 2;
	r.green_bp = 2500;
	assert_int_equal(zdd_fleet_write(f->fl[l2], "web", r, wall_now()), 0);
	want_gen = 2;
	assert_true(drive(f, 3000, all_applied));
	case_finish(f);
}

static bool none_connected(struct fleet_case *f)
{
	for (int i = 0; i < NODES; i++)
		if (zdd_fleet_connected(f->fl[i]))
			return false;
	return true;
}

/* etcd gone: every node keeps what it applied, says it is cut off, and nobody writes; back,
 * they catch up. */
static void fail_static(void **state)
{
	struct fleet_case *f = *state;
	struct zdd_fleet_record r = { .state = ZDD_RO_RUNNING, .step = 0, .green_bp = 100 };
	int l;

	assert_true(drive(f, 3000, one_leader));
	l = leader_of(f);
	r = zdd_fleet_record(f->fl[l], "web") ? *zdd_fleet_record(f->fl[l], "web") : r;
	assert_int_equal(zdd_fleet_write(f->fl[l], "web", r, wall_now()), 0);
	want_gen = r.generation + 1;
	assert_true(drive(f, 3000, all_applied));
	stop_child(&w.pid);
	assert_true(drive(f, (TTL_S + 2) * 1000, none_connected));
	assert_int_equal(leader_of(f), -1);
	for (int i = 0; i < NODES; i++) {
		assert_non_null(zdd_fleet_record(f->fl[i], "web"));
		assert_true(zdd_fleet_record(f->fl[i], "web")->generation == want_gen);
		assert_int_equal(zdd_fleet_write(f->fl[i], "web", r, wall_now()), -EPERM);
	}
	assert_int_equal(etcd_start(), 0);
	assert_true(drive(f, (TTL_S + 3) * 1000, one_leader));
	l = leader_of(f);
	r = *zdd_fleet_record(f->fl[l], "web");
	assert_int_equal(zdd_fleet_write(f->fl[l], "web", r, wall_now()), 0);
	want_gen++;
	assert_true(drive(f, 3000, all_applied));
	case_finish(f);
}

static void record_round_trip(void **state)
{
	struct zdd_fleet_record r = { .state = ZDD_RO_ROLLED_BACK,
				      .step = 2,
				      .green_bp = 0,
				      .step_started_ms = 1764900000123ULL,
				      .generation = 42,
				      .committed_ms = 1764900000456ULL,
				      .reason = "handshakes: \"green\" failed 9%",
				      .stable = ZDD_BLUE,
				      .steps_bp = { 100, 2500, 10000 },
				      .n_steps = 3,
				      .interval_ms = 30000 },
				t;
	char buf[1024], why[256];
	int n;

	(void)state;
	n = zdd_fleet_record_encode(&r, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(zdd_fleet_record_decode(&t, buf, (size_t)n, why, sizeof(why)), 0);
	assert_int_equal(t.state, r.state);
	assert_int_equal(t.step, r.step);
	assert_int_equal(t.green_bp, r.green_bp);
	assert_true(t.step_started_ms == r.step_started_ms);
	assert_true(t.generation == r.generation);
	assert_true(t.committed_ms == r.committed_ms);
	assert_string_equal(t.reason, r.reason);
	assert_int_equal(t.stable, r.stable);
	assert_int_equal(t.n_steps, 3);
	assert_memory_equal(t.steps_bp, r.steps_bp, sizeof(r.steps_bp));
	assert_int_equal(t.interval_ms, r.interval_ms);
	assert_int_equal(zdd_fleet_record_encode(&r, buf, 16), -ENOSPC);
}

/* A record's fields up to its reason, right: what follows is tested. */
#define REC_HEAD                                                                  \
	"{\"state\":\"running\",\"step\":1,\"green_bp\":5,\"step_started_ms\":1," \
	"\"generation\":3,\"committed_ms\":1,\"reason\":\"\""

static void record_refused(void **state)
{
	static const char *const bad[][2] = {
		{ "[1]", "not a JSON object" },
		{ "{\"state\":\"running\"", "not a JSON object" },
		{ "{\"state\":\"flying\"}", "no state" },
		{ "{\"state\":\"running\",\"step\":99}", "\"step\": out of range" },
		{ "{\"state\":\"running\",\"step\":1,\"green_bp\":10001}", "\"green_bp\"" },
		{ "{\"state\":\"running\",\"step\":1,\"green_bp\":\"5\"}", "not an integer" },
		{ "{\"state\":\"running\",\"step\":1,\"green_bp\":5,\"step_started_ms\":1,"
		  "\"generation\":0,\"committed_ms\":1,\"reason\":\"\"}",
		  "\"generation\"" },
		{ "{\"state\":\"running\",\"step\":1,\"green_bp\":5,\"step_started_ms\":1,"
		  "\"generation\":3,\"committed_ms\":1}",
		  "\"reason\"" },
		{ REC_HEAD ",\"stable\":\"red\",\"steps\":[],\"interval_ms\":1}", "\"stable\"" },
		{ REC_HEAD ",\"stable\":\"blue\",\"steps\":[50,10],\"interval_ms\":1}",
		  "must rise" },
		{ REC_HEAD ",\"stable\":\"blue\",\"steps\":[50,9000],\"interval_ms\":1}",
		  "the last step must be 100%" },
		{ REC_HEAD ",\"stable\":\"blue\",\"steps\":[],\"interval_ms\":-1}",
		  "\"interval_ms\"" },
	};
	struct zdd_fleet_record r, before;
	char why[256];

	(void)state;
	memset(&r, 0x5a, sizeof(r));
	before = r;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		assert_int_equal(
			zdd_fleet_record_decode(&r, bad[i][0], strlen(bad[i][0]), why, sizeof(why)),
			-EINVAL);
		if (!strstr(why, bad[i][1]))
			fail_msg("%s: why is \"%s\", expected \"%s\"", bad[i][0], why, bad[i][1]);
		assert_memory_equal(&r, &before, sizeof(r)); /* nothing half-applied */
	}
}

static void outcomes_round_trip(void **state)
{
	struct zdd_fleet_outcomes o = { 1764900000123ULL,
					{ { 1000, 990, 4 }, { 100, 91, 9 } },
					{ { 3000, 2990, 4 }, { 300, 291, 9 } } },
				  t;
	const char *more_done = "{\"tag\":1,\"step\":{\"blue\":{\"started\":5,\"completed\":6,"
				"\"reset\":0},\"green\":{\"started\":0,\"completed\":0,"
				"\"reset\":0}},\"all\":{}}";
	const char *no_all = "{\"tag\":1,\"step\":{\"blue\":{\"started\":5,\"completed\":5,"
			     "\"reset\":0},\"green\":{\"started\":0,\"completed\":0,"
			     "\"reset\":0}}}";
	char buf[512], why[256];
	int n;

	(void)state;
	n = zdd_fleet_outcomes_encode(&o, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(zdd_fleet_outcomes_decode(&t, buf, (size_t)n, why, sizeof(why)), 0);
	assert_memory_equal(&t, &o, sizeof(o));
	/* completed more than started is a corrupt value, not evidence */
	assert_int_equal(
		zdd_fleet_outcomes_decode(&t, more_done, strlen(more_done), why, sizeof(why)),
		-EINVAL);
	assert_non_null(strstr(why, "\"completed\""));
	assert_int_equal(zdd_fleet_outcomes_decode(&t, no_all, strlen(no_all), why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "\"all\""));
	assert_memory_equal(&t, &o, sizeof(o));
}

static void delays(void **state)
{
	static struct zdd_fleet_delays d;

	(void)state;
	assert_true(zdd_fleet_delay_p50(&d) == 0);
	zdd_fleet_delay_add(&d, 30);
	zdd_fleet_delay_add(&d, 10);
	zdd_fleet_delay_add(&d, 20);
	assert_true(zdd_fleet_delay_p50(&d) == 20);
	assert_true(d.max == 30);
	/* a window of the last ZDD_FLEET_DELAYS: the old slow ones leave the median, not the max */
	zdd_fleet_delay_add(&d, 5000);
	for (int i = 0; i < ZDD_FLEET_DELAYS; i++)
		zdd_fleet_delay_add(&d, 7);
	assert_true(zdd_fleet_delay_p50(&d) == 7);
	assert_true(d.max == 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record_round_trip),
		cmocka_unit_test(record_refused),
		cmocka_unit_test(outcomes_round_trip),
		cmocka_unit_test(delays),
	};

	const struct CMUnitTest with_etcd[] = {
		cmocka_unit_test_setup_teardown(fleet_of_three, fc_setup, case_teardown),
		cmocka_unit_test_setup_teardown(fail_static, fc_setup, case_teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	return failed + cmocka_run_group_tests(with_etcd, world_up, world_down);
}
