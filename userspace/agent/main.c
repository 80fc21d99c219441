// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/main.c - zdd-agent: adopts (or loads and attaches) the data path, applies the
 * config, health-checks the backends, drives rollouts and rolls back on its own, and serves
 * /metrics. One thread and one epoll loop; /metrics runs on libmicrohttpd's thread under lock.
 * SIGHUP reloads the config all or nothing; SIGTERM leaves the data path running. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include "addr.h"
#include "agent.h"
#include "apply.h"
#include "attach.h"
#include "log.h"
#include "metrics.h"

#define TICK_MS	     100 /* rollout analysis: rollback within a tick of the verdict */
#define TICK_LATE_MS 150 /* a tick this long after the one before is late */

static struct agent agent = { .lock = PTHREAD_MUTEX_INITIALIZER, .ctl_fd = -1, .reload_fd = -1 };

__u64 agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void agent_logf(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld zdd-agent: ", when, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- what the rollouts write ------------------------------------------------------------- */

static int ro_set_weight(void *ctx, const struct zdd_service_key *svc, __u16 green_bp)
{
	struct agent *a = ctx;
	int err = zdd_lock(a->z);

	if (!err)
		err = zdd_service_commit(a->z, svc, green_bp);
	zdd_unlock(a->z);
	return err;
}

static void ro_changed(void *ctx, struct zdd_rollout *ro)
{
	struct agent *a = ctx;
	char name[ZDD_SVC_STRLEN];

	zdd_service_format(&ro->svc, name, sizeof(name));
	agent_logf("%s: %s", name, ro->event);
	agent_state_save(a);
}

const struct zdd_rollout_ops *agent_ro_ops(struct agent *a)
{
	static struct zdd_rollout_ops ops = { ro_set_weight, ro_changed, NULL };

	if (a->fleet)
		return agent_cluster_ro_ops(a);
	ops.ctx = a;
	return &ops;
}

/* --- health ---------------------------------------------------------------------------------- */

/*
 * The backends the health checks took down (not the operator): set, remembers one; else tells
 * whether it is one, and forgets it. Few backends fail at once: a short list does.
 */
bool agent_health_downed(struct agent *a, const struct zdd_service_key *svc, const __u8 addr[16],
			 bool set)
{
	struct agent_backend_ref *r;
	size_t i;

	for (i = 0; i < a->n_downed; i++) {
		r = &a->downed[i];
		if (memcmp(&r->svc, svc, sizeof(*svc)) || memcmp(r->addr, addr, 16))
			continue;
		if (!set)
			a->downed[i] = a->downed[--a->n_downed];
		return true;
	}
	if (!set)
		return false;
	r = realloc(a->downed, (a->n_downed + 1) * sizeof(*r));
	if (!r)
		return false;
	a->downed = r;
	r[a->n_downed].svc = *svc;
	memcpy(r[a->n_downed++].addr, addr, 16);
	return true;
}

static const struct zdd_conf_backend *conf_backend(const struct zdd_conf_service *cs,
						   const __u8 addr[16])
{
	size_t i;

	for (i = 0; cs && i < cs->n_backends; i++)
		if (!memcmp(cs->backends[i].addr, addr, 16))
			return &cs->backends[i];
	return NULL;
}

/*
 * A failing backend leaves the tables for new flows, and comes back when it passes again. The
 * health check moves a backend between up and down only: a drain or down set by the operator
 * (in the file, or with zdd-bpfctl on the map) is theirs to undo. The map is read under the
 * lock, so a drain written a moment before is seen.
 */
static void on_health(void *ctx, const struct zdd_health_target *t, enum zdd_health_state s)
{
	struct agent *a = ctx;
	const struct zdd_conf_backend *cb = conf_backend(agent_conf_service(a, &t->svc), t->addr);
	char name[ZDD_SVC_STRLEN], host[ZDD_ADDR_STRLEN];
	bool up = s == ZDD_HEALTH_UP;
	struct zdd_backend b;

	zdd_service_format(&t->svc, name, sizeof(name));
	zdd_addr_format(t->addr, host, sizeof(host));
	agent_logf("%s: backend %s is %s", name, host, up ? "healthy" : "failing");
	if (!cb || cb->state != ZDD_BE_UP || zdd_lock(a->z))
		return;
	if (!zdd_backend_find(a->z, &t->svc, t->addr, &b) &&
	    b.val.state == (up ? ZDD_BE_DOWN : ZDD_BE_UP) &&
	    (!up || agent_health_downed(a, &t->svc, t->addr, false)) &&
	    !zdd_backend_set(a->z, &t->svc, t->addr, up ? ZDD_BE_UP : ZDD_BE_DOWN, -1) && !up)
		agent_health_downed(a, &t->svc, t->addr, true);
	zdd_unlock(a->z);
}

static int health_targets(struct agent *a)
{
	struct zdd_health_target *t;
	size_t i, j, n = 0;
	int err;

	for (i = 0; i < a->conf->n_services; i++)
		n += a->conf->services[i].n_backends;
	t = calloc(n ?: 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	n = 0;
	for (i = 0; i < a->conf->n_services; i++) {
		const struct zdd_conf_service *cs = &a->conf->services[i];

		for (j = 0; cs->check.type != ZDD_CHECK_NONE && j < cs->n_backends; j++) {
			t[n].svc = cs->key;
			memcpy(t[n].addr, cs->backends[j].addr, 16);
			t[n++].check = cs->check;
		}
	}
	err = zdd_health_set_targets(a->health, t, n);
	free(t);
	return err;
}

/* --- config ---------------------------------------------------------------------------------- */

/*
 * The weight a service with a rollout gets from a config load. The maps hold what the rollout
 * wrote: they keep it (a reload must not undo a promotion). When they were lost (a reboot
 * empties bpffs), the rollout's committed weight is written again over the file's, unless the
 * operator changed the file's green_weight since the rollout began: that is a new intent, and
 * a finished rollout gives way to it. Says which won, in the log and in rollout status.
 */
static void weight_of_rollout(struct agent_service *s, struct zdd_conf_service *cs, bool in_maps,
			      const char *path)
{
	struct zdd_rollout *ro = &s->ro;
	char name[ZDD_SVC_STRLEN];
	__u16 bp = zdd_rollout_committed_weight(ro);

	zdd_service_format(&cs->key, name, sizeof(name));
	if (!zdd_rollout_active(ro) && ro->conf_green_bp != ZDD_RO_CONF_UNKNOWN &&
	    cs->green_bp != ro->conf_green_bp) {
		snprintf(ro->weight_source, sizeof(ro->weight_source),
			 "%s: green_weight changed there since the %s rollout", path,
			 zdd_rollout_states[ro->state]);
		ro->state = ZDD_RO_IDLE; /* the file's weight applies from now on */
	} else if (in_maps) {
		cs->green_bp = -1;
		snprintf(ro->weight_source, sizeof(ro->weight_source),
			 "the %s rollout (in the maps)", zdd_rollout_states[ro->state]);
		return;
	} else {
		cs->green_bp = bp;
		snprintf(ro->weight_source, sizeof(ro->weight_source),
			 "the %s rollout, written again: the maps had lost it",
			 zdd_rollout_states[ro->state]);
	}
	agent_logf("%s: green %u.%02u%%, from %s", name,
		   (cs->green_bp < 0 ? bp : cs->green_bp) / 100,
		   (cs->green_bp < 0 ? bp : cs->green_bp) % 100, ro->weight_source);
}

/*
 * The file is the operator's intent, with two things the agent knows better: a backend whose
 * health check fails stays down, and the weight of a service that had a rollout is the
 * rollout's (weight_of_rollout).
 */
static void overlay_runtime(struct agent *a, struct zdd_conf *c)
{
	struct zdd_service_val val;
	struct agent_service *s;
	size_t i, j;

	for (i = 0; i < c->n_services; i++) {
		struct zdd_conf_service *cs = &c->services[i];
		s = agent_find(a, &cs->key);
		if (s)
			s->file_green_bp = cs->green_bp;
		if (s && s->ro.state != ZDD_RO_IDLE)
			weight_of_rollout(s, cs, !zdd_service_get(a->z, &cs->key, &val),
					  a->conf_path);
		for (j = 0; a->health && j < cs->n_backends; j++)
			if (cs->backends[j].state == ZDD_BE_UP &&
			    zdd_health_get(a->health, &cs->key, cs->backends[j].addr) ==
				    ZDD_HEALTH_DOWN)
				cs->backends[j].state = ZDD_BE_DOWN;
	}
}

/* The services of c, keeping the rollouts of those that stay. */
static int adopt_services(struct agent *a, const struct zdd_conf *c)
{
	struct agent_service *svcs = calloc(c->n_services ?: 1, sizeof(*svcs)), *old;
	size_t i;
	int err = 0;

	if (!svcs)
		return -ENOMEM;
	for (i = 0; i < c->n_services; i++) {
		svcs[i].key = c->services[i].key;
		old = agent_find(a, &svcs[i].key);
		/* overlay_runtime changes only the weights of services that are already here */
		svcs[i].file_green_bp = old ? old->file_green_bp : c->services[i].green_bp;
		if (old) {
			/* moved, not copied: the old entry gives up its hooks and strings */
			svcs[i].ro = old->ro;
			svcs[i].fleet = old->fleet;
			memset(&old->ro.pol.hooks, 0, sizeof(old->ro.pol.hooks));
			old->ro.pol.checks = NULL;
			old->ro.pre.status = old->ro.post.status = ZDD_HOOK_IDLE;
			zdd_rollout_policy_free(&svcs[i].ro.pol);
		} else {
			svcs[i].ro.svc = svcs[i].key;
			svcs[i].ro.step = -1;
			zdd_service_format(&svcs[i].key, svcs[i].fleet.name,
					   sizeof(svcs[i].fleet.name));
		}
		/* The policy follows the file; a running rollout keeps its steps and dwell. */
		{
			struct zdd_rollout_policy p;

			err = err
				      ?: zdd_rollout_policy_from_conf(&p, &c->services[i].rollout,
								      svcs[i].key.proto ==
									      IPPROTO_TCP);
			if (!err && zdd_rollout_active(&svcs[i].ro)) {
				memcpy(p.steps_bp, svcs[i].ro.pol.steps_bp, sizeof(p.steps_bp));
				p.n_steps = svcs[i].ro.pol.n_steps;
				p.interval_ms = svcs[i].ro.pol.interval_ms;
				zdd_rollout_policy_update(&p);
			}
			if (!err)
				svcs[i].ro.pol = p;
		}
	}
	for (i = 0; i < a->n_svcs; i++) {
		zdd_hook_kill(&a->svcs[i].ro.pre);
		zdd_rollout_policy_free(&a->svcs[i].ro.pol);
	}
	free(a->svcs);
	a->svcs = svcs;
	a->n_svcs = c->n_services;
	return err;
}

int agent_config_load(struct agent *a, bool first)
{
	struct zdd_plan *plan = NULL;
	struct zdd_conf *c;
	char msg[512];
	size_t n;
	int err;

	err = zdd_conf_load(a->conf_path, &c, msg, sizeof(msg));
	if (err) {
		agent_logf("config rejected, nothing changed: %s", msg);
		return err;
	}
	pthread_mutex_lock(&a->lock);
	overlay_runtime(a, c);
	err = zdd_lock(a->z);
	if (!err) {
		err = zdd_plan_make(a->z, c, &plan);
		n = err ? 0 : zdd_plan_changes(plan);
		if (!err && n) {
			zdd_plan_print(plan, stderr);
			err = zdd_plan_run(a->z, plan);
		}
		zdd_unlock(a->z);
	}
	zdd_plan_free(plan);
	if (err) {
		pthread_mutex_unlock(&a->lock);
		agent_logf("config %s not applied: %s", a->conf_path, strerror(-err));
		zdd_conf_free(c);
		return err;
	}
	if (!first)
		/* keep agent settings (interface, sockets) of the running agent */
		c->agent = a->conf->agent;
	zdd_conf_free(a->conf);
	a->conf = c;
	err = adopt_services(a, c) ?: (a->health ? health_targets(a) : 0);
	if (!err && !first)
		err = agent_announce(a, true);
	pthread_mutex_unlock(&a->lock);
	agent_logf("config %s applied (%zu change%s)", a->conf_path, n, n == 1 ? "" : "s");
	return err;
}

/* --- rollouts -------------------------------------------------------------------------------- */

static void pool_health(struct agent *a, const struct agent_service *s,
			struct zdd_pool_health h[ZDD_POOLS])
{
	struct zdd_service_val val;
	struct zdd_backend *list;
	enum zdd_health_state hs;
	size_t n, i;

	memset(h, 0, sizeof(*h) * ZDD_POOLS);
	if (zdd_service_get(a->z, &s->key, &val) || zdd_backend_list(a->z, val.index, &list, &n))
		return;
	for (i = 0; i < n; i++) {
		hs = zdd_health_get(a->health, &s->key, list[i].val.addr);
		if (hs != ZDD_HEALTH_UNKNOWN) {
			h[list[i].val.pool & 1].checked++;
			h[list[i].val.pool & 1].healthy += hs == ZDD_HEALTH_UP;
		}
	}
	free(list);
}

static void tick(struct agent *a)
{
	struct zdd_pool_health h[ZDD_POOLS];
	__u64 now = agent_now_ms();
	size_t i;

	pthread_mutex_lock(&a->lock);
	agent_nexthop_tick(a, now);
	/* A rollback waits for a tick: every late one is counted (and shown on /metrics). */
	if (a->last_tick_ms && now - a->last_tick_ms > TICK_LATE_MS)
		a->ticks_late++;
	a->ticks++;
	a->last_tick_ms = now;
	for (i = 0; i < a->n_svcs; i++) {
		struct agent_service *s = &a->svcs[i];

		if (a->fleet) {
			pool_health(a, s, h);
			agent_cluster_tick(a, s, h, now);
		} else if (zdd_rollout_ticking(&s->ro)) {
			agent_feed_outcomes(a, s, now);
			pool_health(a, s, h);
			zdd_rollout_tick(&s->ro, agent_ro_ops(a), h, now);
		}
		/* The checks judge the candidate while it has traffic, paused included (a blind
		 * pause ends when they answer again); in a fleet, only where it is driven. */
		if (zdd_rollout_active(&s->ro) && s->ro.step >= 0 && agent_cluster_drives(a)) {
			zdd_analysis_schedule(a->analysis, &s->key, s->ro.pol.checks,
					      s->ro.pol.n_checks, !s->ro.stable, now);
		} else {
			zdd_analysis_stop(a->analysis, &s->key);
			if (!zdd_rollout_active(&s->ro))
				s->cohort_next = 0; /* the next rollout reads from its start */
		}
	}
	pthread_mutex_unlock(&a->lock);
}

static void on_analysis(void *ctx, const struct zdd_service_key *svc, const struct zdd_an_eval *e)
{
	struct agent *a = ctx;
	struct agent_service *s = agent_find(a, svc);

	if (s)
		zdd_rollout_analysis(&s->ro, agent_ro_ops(a), e, agent_now_ms());
}

static int min_timeout(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* The loop wakes for the next health probe, check transfer or etcd timer, whichever first. */
static int loop_timeout_ms(const struct agent *a)
{
	return min_timeout(
		min_timeout(zdd_health_timeout_ms(a->health), zdd_analysis_timeout_ms(a->analysis)),
		agent_cluster_timeout_ms(a));
}

/* --- metrics --------------------------------------------------------------------------------- */

static int render_metrics(void *ctx, char **buf, size_t *len)
{
	struct agent *a = ctx;
	struct zdd_metrics_rollout *ro;
	struct zdd_metrics_health *hl;
	struct zdd_metrics_view v = {};
	size_t i, j, nb = 0;
	int c;
	int err = -ENOMEM;

	pthread_mutex_lock(&a->lock);
	for (i = 0; i < a->conf->n_services; i++)
		nb += a->conf->services[i].n_backends;
	ro = calloc(a->n_svcs ?: 1, sizeof(*ro));
	hl = calloc(nb ?: 1, sizeof(*hl));
	if (ro && hl) {
		for (i = 0; i < a->n_svcs; i++) {
			const struct zdd_rollout *r = &a->svcs[i].ro;

			ro[i].svc = a->svcs[i].key;
			ro[i].step = r->state == ZDD_RO_IDLE ? 0 : (unsigned int)(r->step + 1);
			ro[i].state = zdd_rollout_states[r->state];
			memcpy(ro[i].rollbacks, r->rollbacks_by, sizeof(ro[i].rollbacks));
			for (j = 0; j < (size_t)r->pol.n_checks; j++) {
				struct zdd_metrics_check *mc = &ro[i].checks[j];

				snprintf(mc->name, sizeof(mc->name), "%s", r->pol.checks[j].name);
				memcpy(mc->has_value, r->checks[j].has_value,
				       sizeof(mc->has_value));
				memcpy(mc->value, r->checks[j].value, sizeof(mc->value));
				memcpy(mc->evaluations, r->checks[j].evaluations,
				       sizeof(mc->evaluations));
			}
			ro[i].n_checks = r->pol.n_checks;
			ro[i].fleet_generation = a->svcs[i].fleet.generation;
		}
		for (i = 0; i < a->conf->n_services; i++) {
			const struct zdd_conf_service *cs = &a->conf->services[i];
			enum zdd_health_state hs;

			for (j = 0; j < cs->n_backends; j++) {
				hs = zdd_health_get(a->health, &cs->key, cs->backends[j].addr);
				if (hs == ZDD_HEALTH_UNKNOWN)
					continue;
				hl[v.n_health].svc = cs->key;
				memcpy(hl[v.n_health].addr, cs->backends[j].addr, 16);
				for (c = 0; c < ZDD_HEALTH_CHECKS; c++)
					hl[v.n_health].check[c] = zdd_health_get_check(
						a->health, &cs->key, cs->backends[j].addr, c);
				hl[v.n_health++].up = hs == ZDD_HEALTH_UP;
			}
		}
		v.rollouts = ro;
		v.n_rollouts = a->n_svcs;
		v.health = hl;
		v.ticks = a->ticks;
		v.ticks_late = a->ticks_late;
		v.next_hop_changes = a->next_hop_changes;
		v.agent = true;
		agent_cluster_metrics(a, &v.cluster);
	}
	pthread_mutex_unlock(&a->lock);
	/* The maps are read without the agent's lock: a scrape never delays a tick. */
	if (ro && hl)
		err = zdd_metrics_render(a->z, &v, buf, len);
	free(ro);
	free(hl);
	return err;
}

/* --- main ------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zdd-agent -c FILE [--metrics ADDR:PORT] [-p PIN_DIR] [-v]\n\n"
		"Runs zdd: applies FILE (zdd.yaml), health-checks backends, drives rollouts\n"
		"and rolls back on its own, serves /metrics (default %s).\n"
		"SIGHUP reloads FILE all or nothing; SIGTERM exits and leaves the data path\n"
		"running. Exit status: 0 after SIGTERM, 1 on failure, 2 on usage errors.\n",
		ZDD_CONF_DEF_METRICS);
}

static int setup(struct agent *a, const char *metrics, struct zdd_metrics_server **srv)
{
	struct zdd_load_opts lo = { .pin_dir = a->pin_dir, .mount_bpffs = true };
	struct zdd_attach_opts ao = {};
	bool updated = false;
	int err;

	err = zdd_open_load(&a->z, &lo);
	if (err)
		return err;
	agent_logf("%s the data path's maps in %s", zdd_adopted(a->z) ? "adopted" : "created",
		   a->pin_dir);
	if (a->conf->agent.interface[0]) {
		err = zdd_lock(a->z)
			      ?: zdd_attach(a->z, a->pin_dir, a->conf->agent.interface, &ao,
					    &updated);
		zdd_unlock(a->z);
		if (err)
			return err;
		agent_logf("%s %s", updated ? "program replaced in place on" : "attached to",
			   a->conf->agent.interface);
	}
	err = adopt_services(a, a->conf) ?: agent_state_load(a) ?: agent_config_load(a, true) ?:
	      agent_cluster_open(a);
	if (err)
		return err;
	err = zdd_analysis_new(&a->analysis, on_analysis, a);
	if (err)
		return log_err(err, "application checks");
	err = zdd_health_new(&a->health, on_health, a) ?: health_targets(a);
	if (err)
		return log_err(err, "health checks");
	/* Before privileges are dropped: it attaches zdd_hcheck. On failure it says why and the
	 * direct checks go on alone. */
	if (!zdd_health_tunnel(a->health, a->z))
		agent_logf("health checks go directly and through the tunnel");
	err = agent_announce(a, true) ?: agent_nexthop_open(a);
	if (err)
		return err;
	err = agent_control_open(a, a->conf->agent.control_socket);
	if (err)
		return err;
	err = zdd_metrics_serve(srv, metrics ?: a->conf->agent.metrics, render_metrics, a);
	if (err)
		return log_err(err, "serve /metrics on %s", metrics ?: a->conf->agent.metrics);
	agent_logf("serving /metrics on %s, control socket %s", metrics ?: a->conf->agent.metrics,
		   a->conf->agent.control_socket);
	return 0;
}

/* Blocked from the start, in every thread (libmicrohttpd's inherits the mask): they arrive
 * only through the signalfd of the main loop. */
static void agent_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, mask, NULL);
}

static int epoll_add(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int run(struct agent *a)
{
	struct itimerspec its = { { 0, TICK_MS * 1000000 }, { 0, TICK_MS * 1000000 } };
	struct signalfd_siginfo si;
	struct epoll_event ev[8];
	int ep, tfd, sfd, n, i, err;
	sigset_t mask;
	__u64 ticks;

	agent_signals(&mask);
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (ep < 0 || tfd < 0 || sfd < 0 || timerfd_settime(tfd, 0, &its, NULL))
		return log_err(-errno, "event loop");
	err = agent_reload_open(a) ?: epoll_add(ep, tfd) ?: epoll_add(ep, sfd) ?:
	      epoll_add(ep, a->ctl_fd) ?: epoll_add(ep, a->reload_fd) ?:
	      epoll_add(ep, zdd_health_fd(a->health)) ?:
	      epoll_add(ep, zdd_analysis_fd(a->analysis)) ?:
	      (a->etcd ? epoll_add(ep, agent_cluster_fd(a)) : 0) ?:
	      (a->nl_watch ? epoll_add(ep, agent_nexthop_fd(a)) : 0);
	while (!err) {
		n = epoll_wait(ep, ev, 8, loop_timeout_ms(a));
		if (n < 0 && errno != EINTR)
			err = -errno;
		for (i = 0; i < n; i++) {
			if (ev[i].data.fd == tfd) {
				if (read(tfd, &ticks, sizeof(ticks)) > 0)
					tick(a);
			} else if (ev[i].data.fd == sfd) {
				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					agent_logf("SIGHUP: reloading %s", a->conf_path);
					agent_reload_request(a);
					continue;
				}
				agent_logf("signal %u: exiting; the data path keeps running",
					   si.ssi_signo);
				agent_announce(a, false);
				goto out;
			} else if (ev[i].data.fd == a->ctl_fd) {
				agent_control_accept(a);
			} else if (ev[i].data.fd == a->reload_fd) {
				agent_reload_ready(a);
			} else if (a->nl_watch && ev[i].data.fd == agent_nexthop_fd(a)) {
				agent_nexthop_event(a);
			}
		}
		pthread_mutex_lock(&a->lock);
		zdd_health_run(a->health);
		zdd_analysis_run(a->analysis, agent_now_ms());
		agent_cluster_run(a);
		pthread_mutex_unlock(&a->lock);
	}
out:
	close(ep);
	close(tfd);
	close(sfd);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zdd_metrics_server *srv = NULL;
	struct agent *a = &agent;
	const char *metrics = NULL, *pin_dir = NULL;
	sigset_t mask;
	char msg[512];
	int c, verbose = 0, err;
	size_t i;

	while ((c = getopt_long(argc, argv, "c:m:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->conf_path = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'p':
			pin_dir = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!a->conf_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	agent_signals(&mask);
	zdd_log_set_level(verbose >= 2 ? ZDD_LOG_DEBUG : verbose ? ZDD_LOG_INFO : ZDD_LOG_WARN);
	if (zdd_conf_load(a->conf_path, &a->conf, msg, sizeof(msg))) {
		fprintf(stderr, "zdd-agent: %s\n", msg);
		return 1;
	}
	/* A copy: the config it comes from is replaced at every load. */
	if (pin_dir && strlen(pin_dir) >= sizeof(a->pin_dir)) {
		fprintf(stderr, "zdd-agent: --pin-dir: longer than %zu bytes\n",
			sizeof(a->pin_dir) - 1);
		zdd_conf_free(a->conf);
		return 2;
	}
	snprintf(a->pin_dir, sizeof(a->pin_dir), "%s", pin_dir ?: a->conf->agent.pin_dir);
	err = setup(a, metrics, &srv)
		      ?: agent_drop_privileges(a->conf->agent.announce_interface[0] != '\0');
	if (!err)
		err = run(a);
	zdd_metrics_stop(srv);
	agent_cluster_close(a);
	agent_nexthop_close(a);
	agent_reload_close(a);
	agent_control_close(a, a->conf->agent.control_socket);
	for (i = 0; i < a->n_svcs; i++) {
		zdd_hook_kill(&a->svcs[i].ro.pre);
		zdd_rollout_policy_free(&a->svcs[i].ro.pol);
	}
	free(a->svcs);
	free(a->announced);
	free(a->downed);
	zdd_health_free(a->health);
	zdd_analysis_free(a->analysis);
	zdd_close(a->z);
	zdd_conf_free(a->conf);
	return err ? 1 : 0;
}
