// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_control.c - the control socket's request parser, zdd_ctl_req_parse(): what
 * zdd-bpfctl sends is read back exactly; a request of a wrong type, range or shape (the two
 * that crashed the agent first) is refused with a reason and leaves the request zeroed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "control.h"

#define SVC "198.19.0.10:80/tcp"

static int parse(const char *text, struct zdd_ctl_req *req, char *err)
{
	return zdd_ctl_req_parse(text, strlen(text), req, err, ZDD_CTL_ERR_LEN);
}

static void what_the_cli_sends(void **state)
{
	struct zdd_service_key key;
	struct zdd_ctl_req req;
	char err[ZDD_CTL_ERR_LEN];

	(void)state;
	assert_int_equal(zdd_service_parse(SVC, &key), 0);
	assert_int_equal(parse("{\"verb\":\"start\",\"service\":\"" SVC
			       "\",\"steps\":[100,2500,10000],"
			       "\"interval_ms\":30000}\n",
			       &req, err),
			 0);
	assert_int_equal(req.verb, ZDD_CTL_START);
	assert_true(req.has_service);
	assert_memory_equal(&req.service, &key, sizeof(key));
	assert_int_equal(req.n_steps, 3);
	assert_int_equal(req.steps_bp[0], 100);
	assert_int_equal(req.steps_bp[1], 2500);
	assert_int_equal(req.steps_bp[2], 10000);
	assert_int_equal(req.interval_ms, 30000);

	assert_int_equal(
		parse("{\"verb\":\"start\",\"service\":\"[fd00:5a::10]:80/tcp\"}", &req, err), 0);
	assert_int_equal(req.n_steps, 0); /* the config's */
	assert_int_equal(req.interval_ms, 0);

	assert_int_equal(parse(" {\"verb\": \"status\"} \r\n", &req, err), 0);
	assert_int_equal(req.verb, ZDD_CTL_STATUS);
	assert_false(req.has_service);
	assert_int_equal(parse("{\"verb\":\"status\",\"service\":\"" SVC "\"}", &req, err), 0);
	assert_true(req.has_service);
	assert_int_equal(parse("{\"verb\":\"drain-node\"}", &req, err), 0);
	assert_int_equal(req.verb, ZDD_CTL_DRAIN_NODE);
	assert_int_equal(parse("{\"verb\":\"undrain-node\"}", &req, err), 0);
	assert_int_equal(req.verb, ZDD_CTL_UNDRAIN_NODE);
	assert_int_equal(parse("{\"verb\":\"pause\",\"service\":\"" SVC "\"}", &req, err), 0);
	assert_int_equal(req.verb, ZDD_CTL_PAUSE);
	assert_int_equal(parse("{\"verb\":\"resume\",\"service\":\"" SVC "\"}", &req, err), 0);
	assert_int_equal(req.verb, ZDD_CTL_RESUME);
	assert_int_equal(parse("{\"verb\":\"promote\",\"service\":\"" SVC "\"}", &req, err), 0);
	assert_int_equal(req.verb, ZDD_CTL_PROMOTE);
	assert_int_equal(parse("{\"verb\":\"abort\",\"service\":\"" SVC "\"}", &req, err), 0);
	assert_int_equal(req.verb, ZDD_CTL_ABORT);
	/* One step, straight to 100%; the dwell's bounds. */
	assert_int_equal(parse("{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[10000],"
			       "\"interval_ms\":100}",
			       &req, err),
			 0);
	assert_int_equal(parse("{\"verb\":\"start\",\"service\":\"" SVC
			       "\",\"interval_ms\":86400000}",
			       &req, err),
			 0);
}

static const struct bad {
	const char *text;
	const char *why; /* a part of the error */
} bads[] = {
	/* the two that crashed the agent (json-c type assertions) */
	{ "{\"verb\":null}", "verb: want a string" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":5}", "steps: want an array" },
	/* not a request */
	{ "", "not JSON" },
	{ "{", "not JSON" },
	{ "{\"verb\":\"status\"", "not JSON" },
	{ "nonsense", "not JSON" },
	{ "[]", "not a JSON object" },
	{ "\"status\"", "not a JSON object" },
	{ "42 ", "not a JSON object" },
	{ "null\n", "not a JSON object" },
	{ "{\"verb\":\"status\"} {}", "data after the request" },
	{ "{\"verb\":\"status\"}x", "data after the request" },
	{ "{}", "no verb" },
	{ "{\"service\":\"" SVC "\"}", "no verb" },
	{ "{\"verb\":\"status\",\"force\":true}", "unknown field 'force'" },
	/* verb */
	{ "{\"verb\":5}", "verb: want a string" },
	{ "{\"verb\":[\"status\"]}", "verb: want a string" },
	{ "{\"verb\":{}}", "verb: want a string" },
	{ "{\"verb\":true}", "verb: want a string" },
	{ "{\"verb\":\"reboot\"}", "unknown verb 'reboot'" },
	{ "{\"verb\":\"\"}", "unknown verb ''" },
	{ "{\"verb\":\"status\\u0000x\"}", "verb: want a string" },
	{ "{\"verb\":\"START\",\"service\":\"" SVC "\"}", "unknown verb" },
	/* service */
	{ "{\"verb\":\"pause\"}", "pause needs a service" },
	{ "{\"verb\":\"start\",\"service\":null}", "service: want a string" },
	{ "{\"verb\":\"start\",\"service\":7}", "service: want a string" },
	{ "{\"verb\":\"start\",\"service\":[\"" SVC "\"]}", "service: want a string" },
	{ "{\"verb\":\"start\",\"service\":\"198.19.0.10\"}", "bad service '198.19.0.10'" },
	{ "{\"verb\":\"start\",\"service\":\"198.19.0.10:80/sctp\"}", "bad service" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\\u0000junk\"}", "service: want a string" },
	{ "{\"verb\":\"status\",\"service\":\"nope\"}", "bad service 'nope'" },
	{ "{\"verb\":\"drain-node\",\"service\":\"" SVC "\"}", "drain-node takes no service" },
	/* steps */
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[]}", "steps: 1 to 32 values" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":\"1,5,100\"}",
	  "steps: want an array" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":null}", "steps: want an array" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":{\"a\":1}}",
	  "steps: want an array" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[null]}", "steps: want integers" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[\"100\",10000]}",
	  "steps: want integers" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[10.5,10000]}",
	  "steps: want integers" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[[100],10000]}",
	  "steps: want integers" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[true,10000]}",
	  "steps: want integers" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[0,10000]}", "rise strictly" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[-100,10000]}", "rise strictly" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[5000,5000,10000]}",
	  "rise strictly" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[5000,1000,10000]}",
	  "rise strictly" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[10001]}", "rise strictly" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[65636]}", "rise strictly" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[18446744073709551615]}",
	  "rise strictly" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"steps\":[100,5000]}",
	  "last step must be 100" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC
	  "\",\"steps\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
	  "16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,10000]}",
	  "steps: 1 to 32 values" },
	{ "{\"verb\":\"pause\",\"service\":\"" SVC "\",\"steps\":[10000]}",
	  "steps and interval_ms go with start, not pause" },
	/* interval_ms */
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"interval_ms\":\"30s\"}",
	  "interval_ms: want an integer" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"interval_ms\":null}",
	  "interval_ms: want an integer" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"interval_ms\":1.5}",
	  "interval_ms: want an integer" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"interval_ms\":99}", "100 ms to 24 h" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"interval_ms\":0}", "100 ms to 24 h" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"interval_ms\":-1000}", "100 ms to 24 h" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"interval_ms\":86400001}",
	  "100 ms to 24 h" },
	{ "{\"verb\":\"start\",\"service\":\"" SVC "\",\"interval_ms\":4294967396}",
	  "100 ms to 24 h" },
	{ "{\"verb\":\"status\",\"interval_ms\":1000}", "go with start, not status" },
};

static void bad_requests_are_refused(void **state)
{
	struct zdd_ctl_req req, zero;
	char err[ZDD_CTL_ERR_LEN];
	size_t i;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		memset(err, 0, sizeof(err));
		memset(&req, 0xa5, sizeof(req));
		if (parse(bads[i].text, &req, err) != -EINVAL || !strstr(err, bads[i].why))
			fail_msg("'%s': want -EINVAL and '%s', got '%s'", bads[i].text, bads[i].why,
				 err);
		assert_memory_equal(&req, &zero, sizeof(req));
	}
}

static void length_is_what_counts(void **state)
{
	static char big[ZDD_CTL_REQ_MAX + 2];
	const char ok[] = "{\"verb\":\"status\"}";
	struct zdd_ctl_req req;
	char err[ZDD_CTL_ERR_LEN];

	(void)state;
	/* Not NUL-terminated, as read from the socket: only len bytes are looked at. */
	assert_int_equal(zdd_ctl_req_parse(ok, sizeof(ok) - 1, &req, err, sizeof(err)), 0);
	assert_int_equal(zdd_ctl_req_parse(ok, sizeof(ok) - 2, &req, err, sizeof(err)), -EINVAL);
	/* An embedded NUL is data after the request. */
	assert_int_equal(zdd_ctl_req_parse(ok, sizeof(ok), &req, err, sizeof(err)), -EINVAL);
	memset(big, ' ', sizeof(big));
	memcpy(big, ok, sizeof(ok) - 1);
	assert_int_equal(zdd_ctl_req_parse(big, ZDD_CTL_REQ_MAX, &req, err, sizeof(err)), 0);
	assert_int_equal(zdd_ctl_req_parse(big, ZDD_CTL_REQ_MAX + 1, &req, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "longer than 4096 bytes"));
	/* A small error buffer is truncated, not overrun. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(zdd_ctl_req_parse("{}", 2, &req, err, 4), -EINVAL);
	assert_string_equal(err, "no ");
	assert_int_equal(err[4], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(what_the_cli_sends),
		cmocka_unit_test(bad_requests_are_refused),
		cmocka_unit_test(length_is_what_counts),
	};

	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
