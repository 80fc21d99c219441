// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_fleet.c - the values a fleet's agents share through etcd (fleet.h): a record
 * and a node's outcomes survive the round trip, a bad value is refused whole with why, and the
 * commit->applied median and max are what they should be. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "fixture.h"
#include "fleet.h"

static void record_round_trip(void **state)
{
	struct zdd_fleet_record r = { ZDD_RO_ROLLED_BACK,
				      2,
				      0,
				      1764900000123ULL,
				      42,
				      1764900000456ULL,
				      "handshakes: \"green\" failed 9%" },
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
	assert_int_equal(zdd_fleet_record_encode(&r, buf, 16), -ENOSPC);
}

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
	struct zdd_outcomes o[ZDD_POOLS] = { { 1000, 990, 4 }, { 100, 91, 9 } }, t[ZDD_POOLS];
	const char *more_done = "{\"blue\":{\"started\":5,\"completed\":6,\"reset\":0},"
				"\"green\":{\"started\":0,\"completed\":0,\"reset\":0}}";
	char buf[512], why[256];
	int n;

	(void)state;
	n = zdd_fleet_outcomes_encode(o, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(zdd_fleet_outcomes_decode(t, buf, (size_t)n, why, sizeof(why)), 0);
	assert_memory_equal(t, o, sizeof(o));
	/* completed more than started is a corrupt value, not evidence */
	assert_int_equal(
		zdd_fleet_outcomes_decode(t, more_done, strlen(more_done), why, sizeof(why)),
		-EINVAL);
	assert_non_null(strstr(why, "\"completed\""));
	assert_memory_equal(t, o, sizeof(o));
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

	return cmocka_run_group_tests(tests, NULL, NULL);
}
