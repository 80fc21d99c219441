// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/state.c - the rollouts, saved as JSON after every change and read back at
 * start: an agent killed mid-rollout resumes the same step with the dwell it had left. The
 * file is replaced by rename, so a crash leaves the old state or the new, never half. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "addr.h"
#include "agent.h"
#include "log.h"

static struct json_object *rollout_json(const struct agent_service *s, __u64 now_ms)
{
	const struct zdd_rollout *ro = &s->ro;
	struct json_object *o = json_object_new_object(), *steps = json_object_new_array();
	char name[ZDD_SVC_STRLEN];
	__u64 in_step;
	int i;

	/* Paused rollouts keep the dwell so far in step_started_ms (see zdd_rollout_pause). */
	in_step = ro->state == ZDD_RO_PAUSED ? ro->step_started_ms : now_ms - ro->step_started_ms;
	zdd_service_format(&s->key, name, sizeof(name));
	json_object_object_add(o, "service", json_object_new_string(name));
	json_object_object_add(o, "state", json_object_new_string(zdd_rollout_states[ro->state]));
	json_object_object_add(o, "step", json_object_new_int(ro->step));
	json_object_object_add(o, "step_pending", json_object_new_boolean(ro->step_pending));
	json_object_object_add(o, "stable", json_object_new_int(ro->stable));
	json_object_object_add(o, "in_step_ms", json_object_new_uint64(in_step));
	json_object_object_add(o, "rollbacks", json_object_new_uint64(ro->rollbacks));
	json_object_object_add(o, "event", json_object_new_string(ro->event));
	for (i = 0; i < ro->pol.n_steps; i++)
		json_object_array_add(steps, json_object_new_int(ro->pol.steps_bp[i]));
	json_object_object_add(o, "steps_bp", steps);
	json_object_object_add(o, "interval_ms", json_object_new_int64(ro->pol.interval_ms));
	return o;
}

/* {"drained": bool, "rollouts": [...]}: what the agent knows that no file or map says. */
int agent_state_save(struct agent *a)
{
	struct json_object *root = json_object_new_object(), *rollouts = json_object_new_array();
	const char *path = a->conf->agent.state_file;
	char tmp[PATH_MAX];
	__u64 now = agent_now_ms();
	size_t i;
	int err = 0;

	for (i = 0; i < a->n_svcs; i++)
		if (a->svcs[i].ro.state != ZDD_RO_IDLE || a->svcs[i].ro.rollbacks)
			json_object_array_add(rollouts, rollout_json(&a->svcs[i], now));
	json_object_object_add(root, "drained", json_object_new_boolean(a->drained));
	json_object_object_add(root, "rollouts", rollouts);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) || rename(tmp, path))
		err = log_err(-EIO, "save the rollout state to %s", path);
	json_object_put(root);
	return err;
}

static __u64 get_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? (__u64)json_object_get_int64(v) : 0;
}

static void restore(struct agent *a, struct json_object *o, __u64 now_ms)
{
	struct json_object *v, *steps;
	struct zdd_service_key key;
	struct agent_service *s;
	struct zdd_rollout *ro;
	const char *state;
	int i;

	if (!json_object_object_get_ex(o, "service", &v) ||
	    zdd_service_parse(json_object_get_string(v), &key) || !(s = agent_find(a, &key))) {
		pr_warn("zdd-agent: state for a service that is not configured: ignored\n");
		return;
	}
	ro = &s->ro;
	state = json_object_object_get_ex(o, "state", &v) ? json_object_get_string(v) : "";
	for (i = 0; i < ZDD_RO_STATES; i++)
		if (!strcmp(state, zdd_rollout_states[i]))
			ro->state = i;
	ro->step = (int)get_u64(o, "step");
	ro->stable = get_u64(o, "stable") ? ZDD_GREEN : ZDD_BLUE;
	ro->rollbacks = get_u64(o, "rollbacks");
	ro->step_pending = json_object_object_get_ex(o, "step_pending", &v) &&
			   json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "steps_bp", &steps) &&
	    json_object_array_length(steps) <= ZDD_CONF_MAX_STEPS) {
		ro->pol.n_steps = (int)json_object_array_length(steps);
		for (i = 0; i < ro->pol.n_steps; i++)
			ro->pol.steps_bp[i] = (__u16)json_object_get_int(
				json_object_array_get_idx(steps, i));
	}
	if (get_u64(o, "interval_ms"))
		ro->pol.interval_ms = (__u32)get_u64(o, "interval_ms");
	if (ro->step < -1 || ro->step >= ro->pol.n_steps)
		ro->state = ZDD_RO_IDLE; /* a state file that does not fit: start over */
	/* The dwell left in the step carries over; a pending step asks its hook again. */
	ro->step_started_ms = ro->state == ZDD_RO_PAUSED ? get_u64(o, "in_step_ms")
							 : now_ms - get_u64(o, "in_step_ms");
	if (ro->step_pending && ro->state == ZDD_RO_RUNNING)
		zdd_hook_start(&ro->pre, ro->pol.hooks.pre_step, ro->pol.hooks.timeout_ms, now_ms);
	snprintf(ro->event, sizeof(ro->event), "restored: %s at step %d",
		 zdd_rollout_states[ro->state], ro->step + 1);
}

int agent_state_load(struct agent *a)
{
	const char *path = a->conf->agent.state_file;
	struct json_object *root, *rollouts, *v;
	__u64 now = agent_now_ms();
	size_t i, n;

	if (access(path, F_OK))
		return 0; /* first start */
	root = json_object_from_file(path);
	if (!root || !json_object_object_get_ex(root, "rollouts", &rollouts) ||
	    !json_object_is_type(rollouts, json_type_array)) {
		json_object_put(root);
		return log_err(-EINVAL, "read the agent state %s", path);
	}
	a->drained = json_object_object_get_ex(root, "drained", &v) && json_object_get_boolean(v);
	n = json_object_array_length(rollouts);
	for (i = 0; i < n; i++)
		restore(a, json_object_array_get_idx(rollouts, i), now);
	json_object_put(root);
	return 0;
}

struct json_object *agent_rollouts_json(struct agent *a)
{
	struct json_object *arr = json_object_new_array(), *o, *r;
	__u64 now = agent_now_ms();
	size_t i;

	for (i = 0; i < a->n_svcs; i++) {
		const struct zdd_rollout *ro = &a->svcs[i].ro;
		struct zdd_service_val val;

		o = rollout_json(&a->svcs[i], now);
		if (!zdd_service_get(a->z, &a->svcs[i].key, &val))
			json_object_object_add(o, "green_weight_pct",
					       json_object_new_double(val.green_weight / 100.0));
		r = json_object_new_object();
		json_object_object_add(r, "blue", json_object_new_double(ro->last_ratio[ZDD_BLUE]));
		json_object_object_add(r, "green",
				       json_object_new_double(ro->last_ratio[ZDD_GREEN]));
		json_object_object_add(o, "failure_ratio", r);
		r = json_object_new_object();
		json_object_object_add(r, "blue",
				       json_object_new_uint64(ro->last_samples[ZDD_BLUE]));
		json_object_object_add(r, "green",
				       json_object_new_uint64(ro->last_samples[ZDD_GREEN]));
		json_object_object_add(o, "window_flows", r);
		json_object_array_add(arr, o);
	}
	return arr;
}
