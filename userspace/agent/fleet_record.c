// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/fleet_record.c - the fleet's JSON values (fleet.h): a decode checks every
 * field before it fills anything, so a bad value written by hand into etcd is refused whole. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "control.h"
#include "fleet.h"

static const char *const pool_names[ZDD_POOLS] = { "blue", "green" };

static json_object *parse(const char *json, size_t len, char *why, size_t why_len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	if (!tok) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		snprintf(why, why_len, "not a JSON object");
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* The integer field name of o in [min, max]: 0, or -EINVAL with why. */
static int get_int(json_object *o, const char *name, __s64 min, __s64 max, __s64 *v, char *why,
		   size_t why_len)
{
	json_object *f;

	if (!json_object_object_get_ex(o, name, &f) || !json_object_is_type(f, json_type_int)) {
		snprintf(why, why_len, "\"%s\": missing or not an integer", name);
		return -EINVAL;
	}
	errno = 0;
	*v = json_object_get_int64(f);
	if (errno || *v < min || *v > max) {
		snprintf(why, why_len, "\"%s\": out of range %lld..%lld", name, (long long)min,
			 (long long)max);
		return -EINVAL;
	}
	return 0;
}

static int finish(json_object *o, char *buf, size_t len)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = s ? strlen(s) : 0;
	int ret = -ENOSPC;

	if (s && n < len) {
		memcpy(buf, s, n + 1);
		ret = (int)n;
	}
	json_object_put(o);
	return s ? ret : -ENOMEM;
}

int zdd_fleet_record_encode(const struct zdd_fleet_record *r, char *buf, size_t len)
{
	json_object *o = json_object_new_object(), *steps;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "state", json_object_new_string(zdd_rollout_states[r->state]));
	json_object_object_add(o, "step", json_object_new_int(r->step));
	json_object_object_add(o, "green_bp", json_object_new_int(r->green_bp));
	json_object_object_add(o, "step_started_ms",
			       json_object_new_int64((__s64)r->step_started_ms));
	json_object_object_add(o, "generation", json_object_new_int64((__s64)r->generation));
	json_object_object_add(o, "committed_ms", json_object_new_int64((__s64)r->committed_ms));
	json_object_object_add(o, "reason", json_object_new_string(r->reason));
	json_object_object_add(o, "stable", json_object_new_string(pool_names[r->stable & 1]));
	steps = json_object_new_array();
	for (int i = 0; steps && i < r->n_steps; i++)
		json_object_array_add(steps, json_object_new_int(r->steps_bp[i]));
	json_object_object_add(o, "steps", steps);
	json_object_object_add(o, "interval_ms", json_object_new_int64(r->interval_ms));
	return finish(o, buf, len);
}

int zdd_fleet_record_decode(struct zdd_fleet_record *r, const char *json, size_t len, char *why,
			    size_t why_len)
{
	json_object *o = parse(json, len, why, why_len), *f;
	struct zdd_fleet_record t = {};
	__s64 step, bp, started, gen, committed, interval;
	const char *s;
	int ret = -EINVAL;

	if (!o)
		return -EINVAL;
	if (!json_object_object_get_ex(o, "state", &f) ||
	    !json_object_is_type(f, json_type_string)) {
		snprintf(why, why_len, "\"state\": missing or not a string");
		goto out;
	}
	s = json_object_get_string(f);
	for (t.state = 0; t.state < ZDD_RO_STATES; t.state++)
		if (!strcmp(s, zdd_rollout_states[t.state]))
			break;
	if (t.state == ZDD_RO_STATES) {
		snprintf(why, why_len, "\"state\": no state \"%.64s\"", s);
		goto out;
	}
	if (get_int(o, "step", -1, ZDD_CONF_MAX_STEPS - 1, &step, why, why_len) ||
	    get_int(o, "green_bp", 0, 10000, &bp, why, why_len) ||
	    get_int(o, "step_started_ms", 0, INT64_MAX, &started, why, why_len) ||
	    get_int(o, "generation", 1, INT64_MAX, &gen, why, why_len) ||
	    get_int(o, "committed_ms", 0, INT64_MAX, &committed, why, why_len))
		goto out;
	if (!json_object_object_get_ex(o, "reason", &f) ||
	    !json_object_is_type(f, json_type_string) ||
	    (size_t)json_object_get_string_len(f) >= sizeof(t.reason)) {
		snprintf(why, why_len, "\"reason\": missing, not a string, or over %zu bytes",
			 sizeof(t.reason) - 1);
		goto out;
	}
	memcpy(t.reason, json_object_get_string(f), (size_t)json_object_get_string_len(f));
	s = json_object_object_get_ex(o, "stable", &f) ? zdd_json_string(f) : NULL;
	if (!s || (strcmp(s, pool_names[ZDD_BLUE]) && strcmp(s, pool_names[ZDD_GREEN]))) {
		snprintf(why, why_len, "\"stable\": missing, or neither \"blue\" nor \"green\"");
		goto out;
	}
	t.stable = strcmp(s, pool_names[ZDD_BLUE]) ? ZDD_GREEN : ZDD_BLUE;
	if (!json_object_object_get_ex(o, "steps", &f)) {
		snprintf(why, why_len, "\"steps\": missing");
		goto out;
	}
	/* An idle fleet has no steps yet: the empty array is the one exception to the rule. */
	if ((!json_object_is_type(f, json_type_array) || json_object_array_length(f)) &&
	    zdd_json_steps(f, "\"steps\"", t.steps_bp, &t.n_steps, why, why_len))
		goto out;
	if (get_int(o, "interval_ms", 0, ZDD_CTL_MAX_INTERVAL_MS, &interval, why, why_len))
		goto out;
	t.interval_ms = (__u32)interval;
	t.step = (int)step;
	t.green_bp = (__u16)bp;
	t.step_started_ms = (__u64)started;
	t.generation = (__u64)gen;
	t.committed_ms = (__u64)committed;
	*r = t;
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

static json_object *pools_json(const struct zdd_outcomes o[ZDD_POOLS])
{
	json_object *root = json_object_new_object();

	for (int p = 0; root && p < ZDD_POOLS; p++) {
		json_object *po = json_object_new_object();

		json_object_object_add(po, "started", json_object_new_int64((__s64)o[p].started));
		json_object_object_add(po, "completed",
				       json_object_new_int64((__s64)o[p].completed));
		json_object_object_add(po, "reset", json_object_new_int64((__s64)o[p].reset));
		json_object_object_add(root, pool_names[p], po);
	}
	return root;
}

int zdd_fleet_outcomes_encode(const struct zdd_fleet_outcomes *o, char *buf, size_t len)
{
	json_object *root = json_object_new_object();

	if (!root)
		return -ENOMEM;
	json_object_object_add(root, "tag", json_object_new_int64((__s64)o->tag));
	json_object_object_add(root, "step", pools_json(o->step));
	json_object_object_add(root, "all", pools_json(o->all));
	return finish(root, buf, len);
}

/* root's field name: per pool, started >= completed + reset. */
static int get_pools(json_object *root, const char *name, struct zdd_outcomes t[ZDD_POOLS],
		     char *why, size_t why_len)
{
	json_object *f, *po;
	__s64 v[3];

	if (!json_object_object_get_ex(root, name, &f) ||
	    !json_object_is_type(f, json_type_object)) {
		snprintf(why, why_len, "\"%s\": missing or not an object", name);
		return -EINVAL;
	}
	for (int p = 0; p < ZDD_POOLS; p++) {
		if (!json_object_object_get_ex(f, pool_names[p], &po) ||
		    !json_object_is_type(po, json_type_object)) {
			snprintf(why, why_len, "\"%s\": \"%s\": missing or not an object", name,
				 pool_names[p]);
			return -EINVAL;
		}
		if (get_int(po, "started", 0, INT64_MAX, &v[0], why, why_len) ||
		    get_int(po, "completed", 0, v[0], &v[1], why, why_len) ||
		    get_int(po, "reset", 0, v[0] - v[1], &v[2], why, why_len))
			return -EINVAL;
		t[p] = (struct zdd_outcomes){ (__u64)v[0], (__u64)v[1], (__u64)v[2] };
	}
	return 0;
}

int zdd_fleet_outcomes_decode(struct zdd_fleet_outcomes *o, const char *json, size_t len, char *why,
			      size_t why_len)
{
	json_object *root = parse(json, len, why, why_len);
	struct zdd_fleet_outcomes t = {};
	__s64 tag;
	int ret = -EINVAL;

	if (!root)
		return -EINVAL;
	if (!get_int(root, "tag", 0, INT64_MAX, &tag, why, why_len) &&
	    !get_pools(root, "step", t.step, why, why_len) &&
	    !get_pools(root, "all", t.all, why, why_len)) {
		t.tag = (__u64)tag;
		*o = t;
		ret = 0;
	}
	json_object_put(root);
	return ret;
}

void zdd_fleet_delay_add(struct zdd_fleet_delays *d, __u64 ms)
{
	d->ms[d->next] = ms;
	d->next = (d->next + 1) % ZDD_FLEET_DELAYS;
	if (d->n < ZDD_FLEET_DELAYS)
		d->n++;
	if (ms > d->max)
		d->max = ms;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return (x > y) - (x < y);
}

__u64 zdd_fleet_delay_p50(const struct zdd_fleet_delays *d)
{
	__u64 s[ZDD_FLEET_DELAYS];

	if (!d->n)
		return 0;
	memcpy(s, d->ms, d->n * sizeof(s[0]));
	qsort(s, d->n, sizeof(s[0]), cmp_u64);
	return s[(d->n - 1) / 2];
}
