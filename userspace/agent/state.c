// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/state.c - the rollouts, saved as JSON after every change and read back at
 * start: an agent killed mid-rollout resumes the same step with the dwell it had left. The
 * file is synced and replaced by rename, so a crash leaves the old state or the new, never
 * half; one that cannot be used all the same is moved aside, and the agent starts anyway. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "addr.h"
#include "agent.h"
#include "control.h"
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
	json_object_object_add(o, "reason", json_object_new_string(ro->reason));
	json_object_object_add(o, "conf_green_bp", json_object_new_int(ro->conf_green_bp));
	/* A rollback whose weight a restarted agent must still write. */
	json_object_object_add(o, "weight_unwritten", json_object_new_boolean(ro->unwritten));
	for (i = 0; i < ro->pol.n_steps; i++)
		json_object_array_add(steps, json_object_new_int(ro->pol.steps_bp[i]));
	json_object_object_add(o, "steps_bp", steps);
	json_object_object_add(o, "interval_ms", json_object_new_int64(ro->pol.interval_ms));
	return o;
}

/* A rename is on disk once the directory holding it is synced. */
static int fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = '\0'; /* "/state.json" lives in "/" */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

/* text replaces path whole: written and synced to path.tmp, renamed over path, and the rename
 * synced too. A crash or a power cut leaves the old state or the new, never an empty file. */
static int write_durably(const char *path, const char *text)
{
	size_t len = strlen(text), off = 0;
	char tmp[PATH_MAX];
	ssize_t n;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (!err && off < len) {
		n = write(fd, text + off, len - off);
		if (n > 0)
			off += (size_t)n;
		else if (!n || errno != EINTR)
			err = n ? -errno : -EIO;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	return fsync_dir(path);
}

/* {"drained": bool, "rollouts": [...]}: what the agent knows that no file or map says. */
int agent_state_save(struct agent *a)
{
	struct json_object *root = json_object_new_object(), *rollouts = json_object_new_array();
	const char *path = a->conf->agent.state_file;
	__u64 now = agent_now_ms();
	size_t i;
	int err;

	for (i = 0; i < a->n_svcs; i++)
		if (a->svcs[i].ro.state != ZDD_RO_IDLE || a->svcs[i].ro.rollbacks)
			json_object_array_add(rollouts, rollout_json(&a->svcs[i], now));
	json_object_object_add(root, "drained", json_object_new_boolean(a->drained));
	json_object_object_add(root, "rollouts", rollouts);
	err = write_durably(path, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
	json_object_put(root);
	return err ? log_err(err, "save the rollout state to %s", path) : 0;
}

/* --- load: the file is checked whole before anything of it is used ------------------------ */

#define STATE_MAX_BYTES (16 << 20) /* far beyond the rollouts of any config */

/* One rollout of the file, checked. */
struct saved_rollout {
	struct zdd_service_key key;
	enum zdd_ro_state state;
	int step;
	__u8 stable;
	bool step_pending;
	bool unwritten;
	int conf_green_bp;
	char reason[sizeof(((struct zdd_rollout *)0)->reason)];
	__u64 in_step_ms, rollbacks;
	__u16 steps_bp[ZDD_CONF_MAX_STEPS];
	int n_steps;
	__u32 interval_ms;
};

/* *v = o[key] if it is of type t; missing, *v is NULL, which only an optional key may be. */
static int get(struct json_object *o, const char *key, enum json_type t, bool required,
	       struct json_object **v, char *why, size_t len)
{
	if (!json_object_object_get_ex(o, key, v)) {
		*v = NULL;
		return required ? zdd_why(why, len, "%s: missing", key) : 0;
	}
	if (!json_object_is_type(*v, t))
		return zdd_why(why, len, "%s is %s, want %s", key,
			       json_type_to_name(json_object_get_type(*v)), json_type_to_name(t));
	return 0;
}

/* o[key], an integer within [min, max]; *out untouched when optional and missing. */
static int get_int(struct json_object *o, const char *key, bool required, int64_t min, int64_t max,
		   int64_t *out, char *why, size_t len)
{
	struct json_object *v;
	int err = get(o, key, json_type_int, required, &v, why, len);

	if (err || !v)
		return err;
	*out = json_object_get_int64(v);
	if (*out < min || *out > max)
		return zdd_why(why, len, "%s: %lld is out of range", key, (long long)*out);
	return 0;
}

/* o[key], a boolean; false when missing. */
static int get_bool(struct json_object *o, const char *key, bool *out, char *why, size_t len)
{
	struct json_object *v;
	int err = get(o, key, json_type_boolean, false, &v, why, len);

	*out = !err && v && json_object_get_boolean(v);
	return err;
}

static int parse_rollout(struct json_object *o, struct saved_rollout *r, char *why, size_t len)
{
	int64_t step = 0, stable = 0, interval = 0, in_step = 0, rollbacks = 0;
	int64_t conf_bp = ZDD_RO_CONF_UNKNOWN; /* files of older agents have none */
	struct json_object *v;
	const char *s;
	int err, i;

	memset(r, 0, sizeof(*r));
	if (!json_object_is_type(o, json_type_object))
		return zdd_why(why, len, "not an object");
	err = get(o, "service", json_type_string, true, &v, why, len);
	if (err)
		return err;
	s = zdd_json_string(v);
	if (!s)
		return zdd_why(why, len, "service: a NUL inside");
	if (zdd_service_parse(s, &r->key))
		return zdd_why(why, len, "service: '%.64s' is not a service", s);
	err = get(o, "state", json_type_string, true, &v, why, len);
	if (err)
		return err;
	s = zdd_json_string(v) ?: "";
	for (i = 0; i < ZDD_RO_STATES && strcmp(s, zdd_rollout_states[i]); i++)
		;
	if (i == ZDD_RO_STATES)
		return zdd_why(why, len, "state: '%.32s' is not a rollout state", s);
	r->state = i;
	err = get(o, "steps_bp", json_type_array, true, &v, why, len) ?:
	      zdd_json_steps(v, "steps_bp", r->steps_bp, &r->n_steps, why, len) ?:
	      get_int(o, "step", true, -1, r->n_steps - 1, &step, why, len) ?:
	      get_int(o, "stable", true, ZDD_BLUE, ZDD_GREEN, &stable, why, len) ?:
	      get_int(o, "interval_ms", true, 1, UINT32_MAX, &interval, why, len) ?:
	      get_int(o, "in_step_ms", false, 0, INT64_MAX - 1, &in_step, why, len) ?:
	      get_int(o, "rollbacks", false, 0, INT64_MAX - 1, &rollbacks, why, len) ?:
	      get(o, "event", json_type_string, false, &v, why, len) ?:
	      get_bool(o, "step_pending", &r->step_pending, why, len) ?:	      get_bool(o, "weight_unwritten", &r->unwritten, why, len) ?:
	      get_int(o, "conf_green_bp", false, ZDD_RO_CONF_UNKNOWN, ZDD_MAX_WEIGHT_BP, &conf_bp,
		      why, len) ?:
	      get(o, "reason", json_type_string, false, &v, why, len);
	if (err)
		return err;
	s = v ? zdd_json_string(v) : "";
	if (!s)
		return zdd_why(why, len, "reason: a NUL inside");
	snprintf(r->reason, sizeof(r->reason), "%s", s);
	r->step = (int)step;
	r->stable = (__u8)stable;
	r->interval_ms = (__u32)interval;
	r->in_step_ms = (__u64)in_step;
	r->rollbacks = (__u64)rollbacks;
	r->conf_green_bp = (int)conf_bp;
	return 0;
}

static void restore(struct agent *a, const struct saved_rollout *r, __u64 now_ms)
{
	struct agent_service *s = agent_find(a, &r->key);
	char name[ZDD_SVC_STRLEN];
	struct zdd_rollout *ro;

	if (!s) {
		zdd_service_format(&r->key, name, sizeof(name));
		pr_warn("zdd-agent: the saved rollout of %s, no longer configured, is dropped\n",
			name);
		return;
	}
	ro = &s->ro;
	ro->state = r->state;
	ro->step = r->step;
	ro->stable = r->stable;
	ro->rollbacks = r->rollbacks;
	ro->unwritten = r->unwritten && ro->state == ZDD_RO_ROLLED_BACK;
	ro->conf_green_bp = r->conf_green_bp;
	snprintf(ro->reason, sizeof(ro->reason), "%s", r->reason);
	memcpy(ro->pol.steps_bp, r->steps_bp, sizeof(r->steps_bp));
	ro->pol.n_steps = r->n_steps;
	ro->pol.interval_ms = r->interval_ms;
	/* The dwell left in the step carries over (a paused rollout keeps the dwell so far). */
	ro->step_started_ms = ro->state == ZDD_RO_PAUSED ? r->in_step_ms : now_ms - r->in_step_ms;
	/* A pending step asks its hook again: its answer was lost with the agent. Paused too, as
	 * the hook of a rollout paused while it runs goes on, and resume reads its answer. */
	ro->step_pending = r->step_pending && zdd_rollout_active(ro);
	if (ro->step_pending)
		zdd_hook_start(&ro->pre, ro->pol.hooks.pre_step, ro->pol.hooks.timeout_ms, now_ms);
	snprintf(ro->event, sizeof(ro->event), "restored: %s at step %d",
		 zdd_rollout_states[ro->state], ro->step + 1);
}

/* The whole file, checked: 0 with *rs (*n of them, to free) and *drained; -EINVAL, why saying
 * what is wrong with it; or -ENOMEM. */
static int parse_state(const char *text, size_t size, struct saved_rollout **rs, size_t *n,
		       bool *drained, char *why, size_t len)
{
	struct json_object *root, *rollouts, *v;
	enum json_tokener_error jerr;
	char what[128];
	size_t i, j;
	int err;

	*rs = NULL;
	*n = 0;
	*drained = false;
	if (!size)
		return zdd_why(why, len, "empty");
	if (strlen(text) != size)
		return zdd_why(why, len, "a NUL byte at offset %zu", strlen(text));
	root = json_tokener_parse_verbose(text, &jerr);
	if (jerr != json_tokener_success)
		return zdd_why(why, len, "not JSON: %s", json_tokener_error_desc(jerr));
	err = json_object_is_type(root, json_type_object) ? 0 : zdd_why(why, len, "not an object");
	err = err ?: get(root, "drained", json_type_boolean, false, &v, why, len);
	*drained = !err && v && json_object_get_boolean(v);
	err = err ?: get(root, "rollouts", json_type_array, true, &rollouts, why, len);
	if (!err) {
		*n = json_object_array_length(rollouts);
		*rs = calloc(*n ?: 1, sizeof(**rs));
		if (!*rs)
			err = -ENOMEM;
	}
	for (i = 0; !err && i < *n; i++) {
		err = parse_rollout(json_object_array_get_idx(rollouts, i), &(*rs)[i], what,
				    sizeof(what));
		for (j = 0; !err && j < i; j++)
			if (!memcmp(&(*rs)[j].key, &(*rs)[i].key, sizeof((*rs)[i].key)))
				err = zdd_why(what, sizeof(what),
					      "the service of rollouts[%zu] again", j);
		if (err)
			zdd_why(why, len, "rollouts[%zu]: %s", i, what);
	}
	json_object_put(root);
	if (err) {
		free(*rs);
		*rs = NULL;
		*n = 0;
		*drained = false;
	}
	return err;
}

/* fd's contents, NUL-terminated (to free), in *size bytes; NULL with errno. */
static char *read_all(int fd, size_t *size)
{
	size_t got = 0;
	struct stat st;
	ssize_t n = 1;
	char *buf;
	int e;

	if (fstat(fd, &st))
		return NULL;
	if (st.st_size > STATE_MAX_BYTES) {
		errno = EFBIG;
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && got < (size_t)st.st_size && n) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			goto fail;
	}
	if (!buf)
		return NULL;
	buf[got] = '\0';
	*size = got;
	return buf;
fail:
	e = errno;
	free(buf);
	errno = e;
	return NULL;
}

/*
 * A file that cannot be used is moved aside, loudly, and the agent starts from the maps, as on
 * a first start: refusing to start would leave the node without an agent until someone deletes
 * the file, and the maps hold the weights and backends as they are. Rollouts in progress are
 * left where they stand, at their last weight, for the operator to start again or abort.
 */
static void set_aside(const char *path, const char *why)
{
	char dst[PATH_MAX];

	snprintf(dst, sizeof(dst), "%s.corrupt-%lld", path, (long long)time(NULL));
	if (rename(path, dst))
		pr_warn("zdd-agent: the state file %s is corrupt (%s) and cannot be moved aside "
			"(%s): no rollout restored, starting from the maps; the next save replaces "
			"it\n",
			path, why, strerror(errno));
	else
		pr_warn("zdd-agent: the state file %s is corrupt (%s): moved to %s; no rollout "
			"restored, starting from the maps\n",
			path, why, dst);
}

int agent_state_load(struct agent *a)
{
	const char *path = a->conf->agent.state_file;
	struct saved_rollout *rs = NULL;
	__u64 now = agent_now_ms();
	char why[192], *text;
	bool drained = false;
	size_t i, n = 0, size = 0;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0; /* first start */
	if (fd < 0)
		return log_err(-errno, "read the agent state %s", path);
	text = read_all(fd, &size);
	err = text ? 0 : -errno;
	close(fd);
	if (err && err != -ENOMEM)
		err = zdd_why(why, sizeof(why), "unreadable: %s", strerror(-err));
	err = err ?: parse_state(text, size, &rs, &n, &drained, why, sizeof(why));
	free(text);
	if (err == -EINVAL) {
		set_aside(path, why);
		return 0;
	}
	if (err)
		return log_err(err, "read the agent state %s", path);
	a->drained = drained;
	for (i = 0; i < n; i++)
		restore(a, &rs[i], now);
	free(rs);
	return 0;
}

/* The application checks' last evaluations, for status. */
static struct json_object *checks_json(const struct zdd_rollout *ro)
{
	static const char *const results[] = { "pass", "fail", "inconclusive" };
	struct json_object *arr = json_object_new_array(), *c, *v;
	const struct zdd_ro_check *st;
	int i, p;

	for (i = 0; i < ro->pol.n_checks; i++) {
		st = &ro->checks[i];
		c = json_object_new_object();
		json_object_object_add(c, "name", json_object_new_string(ro->pol.checks[i].name));
		json_object_object_add(c, "last",
				       st->evaluated ? json_object_new_string(results[st->last])
						     : NULL);
		v = json_object_new_object();
		for (p = 0; p < ZDD_POOLS; p++)
			if (st->has_value[p])
				json_object_object_add(v, p == ZDD_GREEN ? "green" : "blue",
						       json_object_new_double(st->value[p]));
		json_object_object_add(c, "value", v);
		json_object_object_add(c, "why", json_object_new_string(st->why));
		json_object_object_add(c, "passed_in_step", json_object_new_boolean(st->passed));
		json_object_array_add(arr, c);
	}
	return arr;
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
		json_object_object_add(o, "held", json_object_new_string(ro->held));
		json_object_object_add(o, "waiting", json_object_new_string(ro->waiting));
		json_object_object_add(o, "weight_source",
				       json_object_new_string(ro->weight_source));
		json_object_object_add(o, "checks", checks_json(ro));
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
