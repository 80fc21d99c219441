// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/control.c - the rollout verbs over a Unix socket only root can open: one JSON
 * request per connection, checked whole by control_req.c before it acts, one JSON answer.
 * zdd-bpfctl rollout and node are its clients. */
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
#include "control.h"
#include "log.h"

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

/* The request's steps and dwell over the config's, for the rollout it starts. */
static void override_policy(struct zdd_rollout_policy *p, const struct zdd_ctl_req *req)
{
	if (req->n_steps) {
		memcpy(p->steps_bp, req->steps_bp, sizeof(req->steps_bp));
		p->n_steps = req->n_steps;
	}
	if (req->interval_ms)
		p->interval_ms = req->interval_ms;
}

static struct json_object *node_drain(struct agent *a, bool drain)
{
	struct json_object *out;

	if (!a->conf->agent.announce_interface[0])
		return answer(false, "this agent announces nothing: no agent.announce_interface");
	a->drained = drain;
	agent_state_save(a); /* a restarted agent stays drained */
	if (agent_announce(a, !a->drained))
		return answer(false, "the addresses could not be changed (see the agent's log)");
	out = answer(true, NULL);
	json_object_object_add(
		out, "event",
		json_object_new_string(a->drained ? "node drained: service addresses withdrawn"
						  : "node serving: service addresses announced"));
	return out;
}

static const char *health_name(enum zdd_health_state st)
{
	return st == ZDD_HEALTH_UP ? "up" : st == ZDD_HEALTH_DOWN ? "down" : "unknown";
}

/* Every backend with a health check: its verdict, and each check's with why it fails, so the
 * operator learns which one took it down (zdd-bpfctl status shows them). */
static struct json_object *health_json(struct agent *a)
{
	struct json_object *arr = json_object_new_array(), *o, *checks, *c;
	char svc[ZDD_SVC_STRLEN], addr[ZDD_ADDR_STRLEN];
	enum zdd_health_state st;
	size_t i, j;
	int k;

	for (i = 0; i < a->conf->n_services; i++) {
		const struct zdd_conf_service *cs = &a->conf->services[i];

		zdd_service_format(&cs->key, svc, sizeof(svc));
		for (j = 0; j < cs->n_backends; j++) {
			const __u8 *ba = cs->backends[j].addr;

			st = zdd_health_get(a->health, &cs->key, ba);
			if (st == ZDD_HEALTH_UNKNOWN)
				continue;
			zdd_addr_format(ba, addr, sizeof(addr));
			o = json_object_new_object();
			json_object_object_add(o, "service", json_object_new_string(svc));
			json_object_object_add(o, "backend", json_object_new_string(addr));
			json_object_object_add(o, "state", json_object_new_string(health_name(st)));
			checks = json_object_new_object();
			for (k = 0; k < ZDD_HEALTH_CHECKS; k++) {
				st = zdd_health_get_check(a->health, &cs->key, ba, k);
				if (st == ZDD_HEALTH_UNKNOWN)
					continue;
				c = json_object_new_object();
				json_object_object_add(c, "state",
						       json_object_new_string(health_name(st)));
				json_object_object_add(c, "why",
						       json_object_new_string(zdd_health_check_why(
							       a->health, &cs->key, ba, k)));
				json_object_object_add(checks, zdd_health_check_name(k), c);
			}
			json_object_object_add(o, "checks", checks);
			json_object_array_add(arr, o);
		}
	}
	return arr;
}

/* req is checked (control_req.c): what is left to refuse is what the agent's state forbids. */
struct json_object *agent_control_handle(struct agent *a, const struct zdd_ctl_req *req)
{
	const struct zdd_rollout_ops *ops = agent_ro_ops(a);
	struct zdd_rollout_policy saved;
	struct zdd_service_val val;
	int saved_conf_bp;
	struct agent_service *s;
	struct json_object *out, *arr;
	__u64 now = agent_now_ms();
	int rc;

	switch (req->verb) {
	case ZDD_CTL_DRAIN_NODE:
	case ZDD_CTL_UNDRAIN_NODE:
		return node_drain(a, req->verb == ZDD_CTL_DRAIN_NODE);
	case ZDD_CTL_STATUS:
		out = answer(true, NULL);
		arr = agent_rollouts_json(a);
		for (size_t i = 0; i < a->n_svcs; i++) /* in a fleet, each node's generation */
			agent_cluster_json(a, &a->svcs[i], json_object_array_get_idx(arr, i));
		json_object_object_add(out, "rollouts", arr);
		json_object_object_add(out, "health", health_json(a));
		return out;
	default:
		break;
	}
	s = agent_find(a, &req->service);
	if (!s || zdd_service_get(a->z, &req->service, &val))
		return answer(false, "the service is not in the agent's config");
	switch (req->verb) {
	case ZDD_CTL_START:
		saved = s->ro.pol;
		override_policy(&s->ro.pol, req);
		zdd_rollout_policy_update(&s->ro.pol); /* alpha follows the steps and dwell */
		saved_conf_bp = s->ro.conf_green_bp;
		s->ro.conf_green_bp = s->file_green_bp;
		rc = zdd_rollout_start(&s->ro, ops, val.green_weight, now);
		if (rc) {
			/* the hooks' strings are shared with saved: restore the numbers only */
			memcpy(s->ro.pol.steps_bp, saved.steps_bp, sizeof(saved.steps_bp));
			s->ro.pol.n_steps = saved.n_steps;
			s->ro.pol.interval_ms = saved.interval_ms;
			zdd_rollout_policy_update(&s->ro.pol);
			s->ro.conf_green_bp = saved_conf_bp;
		}
		break;
	case ZDD_CTL_PAUSE:
		rc = zdd_rollout_pause(&s->ro, ops, now);
		break;
	case ZDD_CTL_RESUME:
		rc = zdd_rollout_resume(&s->ro, ops, now);
		break;
	case ZDD_CTL_PROMOTE:
		rc = zdd_rollout_promote(&s->ro, ops, now);
		break;
	default:
		rc = zdd_rollout_abort(&s->ro, ops, now);
		break;
	}
	out = answer(!rc, rc ? s->ro.event : NULL);
	if (!rc)
		json_object_object_add(out, "event", json_object_new_string(s->ro.event));
	return out;
}

void agent_control_accept(struct agent *a)
{
	struct timeval tv = { .tv_sec = 1 };
	char buf[ZDD_CTL_REQ_MAX + 1], err[ZDD_CTL_ERR_LEN];
	struct zdd_ctl_req req;
	struct json_object *out;
	const char *text;
	ssize_t n, got;
	int fd;

	while ((fd = accept4(a->ctl_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		/* A local client that stalls costs at most a second, never the data path. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		got = 0;
		/* One byte over the limit tells a long request from one that fits. */
		while (got <= ZDD_CTL_REQ_MAX &&
		       (n = read(fd, buf + got, ZDD_CTL_REQ_MAX + 1 - got)) > 0) {
			got += n;
			if (memchr(buf, '\n', got))
				break;
		}
		if (zdd_ctl_req_parse(buf, got, &req, err, sizeof(err))) {
			out = answer(false, err);
		} else {
			pthread_mutex_lock(&a->lock);
			/* In a fleet, a rollout verb is the leader's to run. */
			if (req.verb >= ZDD_CTL_START && req.verb <= ZDD_CTL_ABORT &&
			    !agent_cluster_drives(a)) {
				buf[got] = '\0';
				out = agent_cluster_forward(a, buf);
			} else {
				out = agent_control_handle(a, &req);
			}
			pthread_mutex_unlock(&a->lock);
		}
		text = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN);
		if (write(fd, text, strlen(text)) < 0 || write(fd, "\n", 1) < 0)
			pr_info("zdd-agent: control client went away\n");
		json_object_put(out);
		close(fd);
	}
}
