// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/fuzz/fuzz_control.c - libFuzzer target for the control socket's request parser,
 * zdd_ctl_req_parse(), fed the bytes as the socket reads them. Either -EINVAL, a reason and a
 * zeroed request, or a request that keeps every promise of control.h and comes back the same
 * when written out as zdd-bpfctl would and parsed again. A small error buffer changes only
 * the message's length. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "addr.h"
#include "control.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_control: %s:%d: %s does not hold\n", __FILE__, \
				__LINE__, #cond);                                            \
			abort();                                                             \
		}                                                                            \
	} while (0)

static bool zeroed(const struct zdd_ctl_req *r)
{
	static const struct zdd_ctl_req zero;

	return !memcmp(r, &zero, sizeof(zero));
}

static void check_request(const struct zdd_ctl_req *r, size_t size)
{
	struct zdd_service_key again;
	char buf[ZDD_SVC_STRLEN];
	int i;

	CHECK(size <= ZDD_CTL_REQ_MAX);
	CHECK((unsigned int)r->verb < ZDD_CTL_VERBS);
	if (r->verb == ZDD_CTL_DRAIN_NODE || r->verb == ZDD_CTL_UNDRAIN_NODE)
		CHECK(!r->has_service);
	else if (r->verb != ZDD_CTL_STATUS)
		CHECK(r->has_service);
	if (r->has_service) {
		zdd_service_format(&r->service, buf, sizeof(buf));
		CHECK(!zdd_service_parse(buf, &again) &&
		      !memcmp(&again, &r->service, sizeof(again)));
	}
	CHECK(r->n_steps >= 0 && r->n_steps <= ZDD_CONF_MAX_STEPS);
	CHECK(!r->n_steps || r->verb == ZDD_CTL_START);
	for (i = 0; i < r->n_steps; i++)
		CHECK(r->steps_bp[i] > (i ? r->steps_bp[i - 1] : 0));
	CHECK(!r->n_steps || r->steps_bp[r->n_steps - 1] == ZDD_MAX_WEIGHT_BP);
	for (; i < ZDD_CONF_MAX_STEPS; i++)
		CHECK(!r->steps_bp[i]);
	CHECK(!r->interval_ms || r->verb == ZDD_CTL_START);
	CHECK(!r->interval_ms || (r->interval_ms >= ZDD_CTL_MIN_INTERVAL_MS &&
				  r->interval_ms <= ZDD_CTL_MAX_INTERVAL_MS));
}

/* r as zdd-bpfctl writes a request, parsed again: the same request. */
static void check_round_trip(const struct zdd_ctl_req *r)
{
	struct json_object *o = json_object_new_object(), *steps;
	char buf[ZDD_SVC_STRLEN], err[ZDD_CTL_ERR_LEN];
	struct zdd_ctl_req again;
	const char *text;
	int i;

	CHECK(o);
	json_object_object_add(o, "verb", json_object_new_string(zdd_ctl_verbs[r->verb]));
	if (r->has_service) {
		zdd_service_format(&r->service, buf, sizeof(buf));
		json_object_object_add(o, "service", json_object_new_string(buf));
	}
	if (r->n_steps) {
		steps = json_object_new_array();
		for (i = 0; i < r->n_steps; i++)
			json_object_array_add(steps, json_object_new_int(r->steps_bp[i]));
		json_object_object_add(o, "steps", steps);
	}
	if (r->interval_ms)
		json_object_object_add(o, "interval_ms", json_object_new_int64(r->interval_ms));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	CHECK(zdd_ctl_req_parse(text, strlen(text), &again, err, sizeof(err)) == 0);
	CHECK(!memcmp(&again, r, sizeof(again)));
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ZDD_CTL_ERR_LEN], small[8];
	struct zdd_ctl_req req, req2;
	int rc, rc2;

	memset(err, 0, sizeof(err));
	memset(&req, 0xa5, sizeof(req));
	rc = zdd_ctl_req_parse((const char *)data, size, &req, err, sizeof(err));
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc) {
		CHECK(zeroed(&req));
		CHECK(err[0] && memchr(err, '\0', sizeof(err)));
	} else {
		check_request(&req, size);
		check_round_trip(&req);
	}
	memset(small, 0xa5, sizeof(small));
	rc2 = zdd_ctl_req_parse((const char *)data, size, &req2, small, sizeof(small));
	CHECK(rc2 == rc);
	CHECK(!memcmp(&req2, &req, sizeof(req)));
	CHECK(!rc || !strncmp(small, err, sizeof(small) - 1));
	return 0;
}
