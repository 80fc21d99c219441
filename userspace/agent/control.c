// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/control.c - the rollout verbs over a Unix socket only root can open: one JSON
 * request per connection, one JSON answer. zdd-bpfctl rollout is its client. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-c/json.h>
#include "addr.h"
#include "agent.h"
#include "log.h"

#define REQ_MAX 4096

static int mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int agent_control_open(struct agent *a, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_err(-ENAMETOOLONG, "control socket %s", path);
	strcpy(sa.sun_path, path);
	err = mkdir_parent(path);
	if (err)
		return log_err(err, "control socket directory for %s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_err(-errno, "control socket");
	unlink(path); /* a previous agent's; a live one would hold the pins' lock */
	/* Root only: the socket is created 0600 (umask) before anyone can connect. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) || listen(fd, 8)) {
		err = log_err(-errno, "control socket %s", path);
		close(fd);
		return err;
	}
	a->ctl_fd = fd;
	return 0;
}

void agent_control_close(struct agent *a, const char *path)
{
	if (a->ctl_fd >= 0) {
		close(a->ctl_fd);
		unlink(path);
	}
	a->ctl_fd = -1;
}

static struct json_object *answer(bool ok, const char *error)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	if (error)
		json_object_object_add(o, "error", json_object_new_string(error));
	return o;
}

/* "steps": percent values in basis points; "interval_ms": dwell. Both optional. */
static int override_policy(struct zdd_rollout_policy *p, struct json_object *req, char *err,
			   size_t len)
{
	struct json_object *v;
	size_t i, n;
	int bp, prev = 0;

	if (json_object_object_get_ex(req, "steps", &v)) {
		n = json_object_array_length(v);
		if (!json_object_is_type(v, json_type_array) || n < 1 || n > ZDD_CONF_MAX_STEPS) {
			snprintf(err, len, "steps: 1 to %d values", ZDD_CONF_MAX_STEPS);
			return -EINVAL;
		}
		for (i = 0; i < n; i++) {
			bp = json_object_get_int(json_object_array_get_idx(v, i));
			if (bp <= prev || bp > ZDD_MAX_WEIGHT_BP) {
				snprintf(err, len,
					 "steps must rise strictly within 0 < step <= 100");
				return -EINVAL;
			}
			prev = bp;
		}
		if (prev != ZDD_MAX_WEIGHT_BP) {
			snprintf(err, len, "the last step must be 100");
			return -EINVAL;
		}
		for (i = 0; i < n; i++)
			p->steps_bp[i] = json_object_get_int(json_object_array_get_idx(v, i));
		p->n_steps = (int)n;
	}
	if (json_object_object_get_ex(req, "interval_ms", &v)) {
		if (json_object_get_int64(v) < 100 || json_object_get_int64(v) > 86400000) {
			snprintf(err, len, "interval: 100 ms to 24 h");
			return -EINVAL;
		}
		p->interval_ms = (__u32)json_object_get_int64(v);
	}
	return 0;
}

static struct json_object *handle(struct agent *a, struct json_object *req)
{
	const struct zdd_rollout_ops *ops = agent_ro_ops(a);
	struct json_object *v, *out;
	struct zdd_service_key key;
	struct zdd_service_val val;
	struct agent_service *s;
	struct zdd_rollout_policy saved;
	const char *verb;
	__u64 now = agent_now_ms();
	char err[160] = "";
	int rc;

	if (!json_object_object_get_ex(req, "verb", &v))
		return answer(false, "no verb");
	verb = json_object_get_string(v);
	if (!strcmp(verb, "drain-node") || !strcmp(verb, "undrain-node")) {
		if (!a->conf->agent.announce_interface[0])
			return answer(false,
				      "this agent announces nothing: no agent.announce_interface");
		a->drained = !strcmp(verb, "drain-node");
		agent_state_save(a); /* a restarted agent stays drained */
		if (agent_announce(a, !a->drained))
			return answer(false,
				      "the addresses could not be changed (see the agent's log)");
		out = answer(true, NULL);
		json_object_object_add(
			out, "event",
			json_object_new_string(
				a->drained ? "node drained: service addresses withdrawn"
					   : "node serving: service addresses announced"));
		return out;
	}
	if (!strcmp(verb, "status")) {
		out = answer(true, NULL);
		json_object_object_add(out, "rollouts", agent_rollouts_json(a));
		return out;
	}
	if (!json_object_object_get_ex(req, "service", &v) ||
	    zdd_service_parse(json_object_get_string(v), &key))
		return answer(false, "bad or missing service");
	s = agent_find(a, &key);
	if (!s || zdd_service_get(a->z, &key, &val))
		return answer(false, "the service is not in the agent's config");
	if (!strcmp(verb, "start")) {
		saved = s->ro.pol;
		if (override_policy(&s->ro.pol, req, err, sizeof(err)))
			return answer(false, err);
		rc = zdd_rollout_start(&s->ro, ops, val.green_weight, now);
		if (rc) {
			/* the hooks' strings are shared with saved: restore the numbers only */
			memcpy(s->ro.pol.steps_bp, saved.steps_bp, sizeof(saved.steps_bp));
			s->ro.pol.n_steps = saved.n_steps;
			s->ro.pol.interval_ms = saved.interval_ms;
		}
	} else if (!strcmp(verb, "pause")) {
		rc = zdd_rollout_pause(&s->ro, ops, now);
	} else if (!strcmp(verb, "resume")) {
		rc = zdd_rollout_resume(&s->ro, ops, now);
	} else if (!strcmp(verb, "promote")) {
		rc = zdd_rollout_promote(&s->ro, ops, now);
	} else if (!strcmp(verb, "abort")) {
		rc = zdd_rollout_abort(&s->ro, ops, now);
	} else {
		return answer(false, "unknown verb");
	}
	out = answer(!rc, rc ? s->ro.event : NULL);
	if (!rc)
		json_object_object_add(out, "event", json_object_new_string(s->ro.event));
	return out;
}

void agent_control_accept(struct agent *a)
{
	struct timeval tv = { .tv_sec = 1 };
	struct json_object *req, *out;
	char buf[REQ_MAX + 1];
	const char *text;
	ssize_t n, got = 0;
	int fd;

	while ((fd = accept4(a->ctl_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		/* A local client that stalls costs at most a second, never the data path. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		got = 0;
		while (got < REQ_MAX && (n = read(fd, buf + got, REQ_MAX - got)) > 0) {
			got += n;
			if (memchr(buf, '\n', got))
				break;
		}
		buf[got] = '\0';
		req = json_tokener_parse(buf);
		pthread_mutex_lock(&a->lock);
		out = req ? handle(a, req) : answer(false, "request is not JSON");
		pthread_mutex_unlock(&a->lock);
		text = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN);
		if (write(fd, text, strlen(text)) < 0 || write(fd, "\n", 1) < 0)
			pr_info("zdd-agent: control client went away\n");
		json_object_put(out);
		json_object_put(req);
		close(fd);
	}
}
