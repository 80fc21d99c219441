// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/control_req.c - see control.h. A request is external input: each field's JSON
 * type is checked before its value is read (json-c asserts on a wrong one: {"verb": null} took
 * the agent down), and strings with a NUL inside are refused, so what is checked is what is
 * used. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "addr.h"
#include "control.h"

const char *const zdd_ctl_verbs[ZDD_CTL_VERBS + 1] = {
	"status", "start",	"pause",	"resume", "promote",
	"abort",  "drain-node", "undrain-node", NULL,
};

int zdd_why(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *zdd_json_string(struct json_object *v)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* Basis points, as zdd-bpfctl sends them and the state file keeps them: integers, so a step is
 * exactly what was asked. */
int zdd_json_steps(struct json_object *v, const char *name, __u16 steps_bp[ZDD_CONF_MAX_STEPS],
		   int *n_steps, char *err, size_t len)
{
	struct json_object *e;
	int64_t bp, prev = 0;
	size_t i, n;

	if (!json_object_is_type(v, json_type_array))
		return zdd_why(err, len, "%s: want an array of basis points (100 = 1%%)", name);
	n = json_object_array_length(v);
	if (n < 1 || n > ZDD_CONF_MAX_STEPS)
		return zdd_why(err, len, "%s: 1 to %d values", name, ZDD_CONF_MAX_STEPS);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_int))
			return zdd_why(err, len, "%s: want integers, basis points (100 = 1%%)",
				       name);
		bp = json_object_get_int64(e);
		if (bp <= prev || bp > ZDD_MAX_WEIGHT_BP)
			return zdd_why(err, len, "%s must rise strictly within 0 < step <= 100%%",
				       name);
		steps_bp[i] = (__u16)bp;
		prev = bp;
	}
	if (prev != ZDD_MAX_WEIGHT_BP)
		return zdd_why(err, len, "%s: the last step must be 100%%", name);
	*n_steps = (int)n;
	return 0;
}

static int get_verb(struct json_object *v, struct zdd_ctl_req *req, char *err, size_t len)
{
	const char *s = zdd_json_string(v);
	int i;

	if (!s)
		return zdd_why(err, len, "verb: want a string");
	for (i = 0; zdd_ctl_verbs[i]; i++) {
		if (!strcmp(s, zdd_ctl_verbs[i])) {
			req->verb = i;
			return 0;
		}
	}
	return zdd_why(err, len, "unknown verb '%.32s'", s);
}

static int get_service(struct json_object *v, struct zdd_ctl_req *req, char *err, size_t len)
{
	const char *s = zdd_json_string(v);

	if (!s)
		return zdd_why(err, len, "service: want a string such as 198.19.0.10:80/tcp");
	if (zdd_service_parse(s, &req->service))
		return zdd_why(err, len, "bad service '%.64s'", s);
	req->has_service = true;
	return 0;
}

static int get_steps(struct json_object *v, struct zdd_ctl_req *req, char *err, size_t len)
{
	return zdd_json_steps(v, "steps", req->steps_bp, &req->n_steps, err, len);
}

static int get_interval(struct json_object *v, struct zdd_ctl_req *req, char *err, size_t len)
{
	int64_t ms;

	if (!json_object_is_type(v, json_type_int))
		return zdd_why(err, len, "interval_ms: want an integer");
	ms = json_object_get_int64(v);
	if (ms < ZDD_CTL_MIN_INTERVAL_MS || ms > ZDD_CTL_MAX_INTERVAL_MS)
		return zdd_why(err, len, "interval: %d ms to 24 h", ZDD_CTL_MIN_INTERVAL_MS);
	req->interval_ms = (__u32)ms;
	return 0;
}

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const struct field {
	const char *name;
	int (*get)(struct json_object *v, struct zdd_ctl_req *req, char *err, size_t len);
} fields[] = {
	{ "verb", get_verb },
	{ "service", get_service },
	{ "steps", get_steps },
	{ "interval_ms", get_interval },
};

static int parse_object(struct json_object *root, struct zdd_ctl_req *req, char *err, size_t len)
{
	const char *verb;
	size_t i;
	int rc;

	if (!json_object_is_type(root, json_type_object))
		return zdd_why(err, len, "the request is not a JSON object");
	req->verb = ZDD_CTL_VERBS; /* none yet */
	json_object_object_foreach(root, key, val)
	{
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (!strcmp(key, fields[i].name))
				break;
		if (i == sizeof(fields) / sizeof(fields[0]))
			return zdd_why(err, len, "unknown field '%.32s'", key);
		rc = fields[i].get(val, req, err, len);
		if (rc)
			return rc;
	}
	if (req->verb == ZDD_CTL_VERBS)
		return zdd_why(err, len, "no verb");
	verb = zdd_ctl_verbs[req->verb];
	if ((req->n_steps || req->interval_ms) && req->verb != ZDD_CTL_START)
		return zdd_why(err, len, "steps and interval_ms go with start, not %s", verb);
	switch (req->verb) {
	case ZDD_CTL_STATUS:
		return 0;
	case ZDD_CTL_DRAIN_NODE:
	case ZDD_CTL_UNDRAIN_NODE:
		return req->has_service ? zdd_why(err, len, "%s takes no service", verb) : 0;
	default:
		return req->has_service ? 0 : zdd_why(err, len, "%s needs a service", verb);
	}
}

int zdd_ctl_req_parse(const char *text, size_t len, struct zdd_ctl_req *req, char *err,
		      size_t errlen)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	struct json_object *root; /* NULL for a JSON null */
	size_t end;
	int rc;

	memset(req, 0, sizeof(*req));
	if (len > ZDD_CTL_REQ_MAX)
		return zdd_why(err, errlen, "the request is longer than %d bytes", ZDD_CTL_REQ_MAX);
	tok = json_tokener_new();
	if (!tok) {
		zdd_why(err, errlen, "out of memory");
		return -ENOMEM;
	}
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success) /* incomplete included: no more is coming */
		return zdd_why(err, errlen, "the request is not JSON");
	while (end < len && json_space(text[end]))
		end++;
	rc = end < len ? zdd_why(err, errlen, "data after the request")
		       : parse_object(root, req, err, errlen);
	json_object_put(root);
	if (rc)
		memset(req, 0, sizeof(*req)); /* a refused request leaves nothing half-read */
	return rc;
}
