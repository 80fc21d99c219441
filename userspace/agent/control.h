/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/control.h - one request of the control socket, parsed and checked before
 * anything acts on it. The parser (control_req.c) touches no agent state: the unit test and
 * the fuzzer call it as the socket does. */
#ifndef ZDD_CONTROL_H
#define ZDD_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include "conffile.h"
#include "zdd_abi.h"

#define ZDD_CTL_REQ_MAX		4096 /* bytes of one request */
#define ZDD_CTL_MIN_INTERVAL_MS 100
#define ZDD_CTL_MAX_INTERVAL_MS 86400000 /* 24 h */
#define ZDD_CTL_ERR_LEN		160

enum zdd_ctl_verb {
	ZDD_CTL_STATUS, /* service optional */
	ZDD_CTL_START,	/* service; steps and interval_ms optional */
	ZDD_CTL_PAUSE,
	ZDD_CTL_RESUME,
	ZDD_CTL_PROMOTE,
	ZDD_CTL_ABORT,
	ZDD_CTL_DRAIN_NODE, /* no service */
	ZDD_CTL_UNDRAIN_NODE,
	ZDD_CTL_VERBS
};
/* The verbs as the client spells them, by enum zdd_ctl_verb, NULL-terminated. */
extern const char *const zdd_ctl_verbs[ZDD_CTL_VERBS + 1];

struct zdd_ctl_req {
	enum zdd_ctl_verb verb;
	bool has_service;
	struct zdd_service_key service;
	int n_steps; /* 0: the config's steps; else strictly rising, the last 10000 */
	__u16 steps_bp[ZDD_CONF_MAX_STEPS];
	__u32 interval_ms; /* 0: the config's dwell */
};

/*
 * text: len bytes of one JSON object, {"verb": "start", "service": "198.19.0.10:80/tcp",
 * "steps": [1000, 5000, 10000] (basis points), "interval_ms": 30000}, with whitespace after it
 * at most. Every field's type and range is checked, unknown fields refused. Returns 0 with *req
 * filled, or -EINVAL with err (errlen bytes, ZDD_CTL_ERR_LEN is enough) saying why.
 */
int zdd_ctl_req_parse(const char *text, size_t len, struct zdd_ctl_req *req, char *err,
		      size_t errlen);

/* Checked reads of JSON the agent is given, shared with the state file (state.c). */
struct json_object;
/* Writes why (printf-style) and returns -EINVAL: the refusal of an external input. */
int zdd_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* v as a C string: NULL unless a JSON string without a NUL inside (what is checked is then
 * what is used). */
const char *zdd_json_string(struct json_object *v);
/* v as rollout steps (named name in err): an array of 1 to ZDD_CONF_MAX_STEPS integers in basis
 * points, strictly rising, the last 10000. 0, or -EINVAL with err saying why. */
int zdd_json_steps(struct json_object *v, const char *name, __u16 steps_bp[ZDD_CONF_MAX_STEPS],
		   int *n_steps, char *err, size_t len);

#endif /* ZDD_CONTROL_H */
