// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/cluster.c - zdd-agent as one edge node of a fleet (agent.cluster, issue #17).
 *
 * Every node runs the same rollout controllers (rollout.c) over the same config, but only the
 * leader's drive: its controllers step, judge and roll back, and each of their changes becomes
 * the service's record in etcd (fleet.c), written by a compare-and-swap. No node, the leader
 * included, writes a weight of its own: each applies the records it sees through its watch,
 * one table swap each, so every node runs the weight etcd committed, and a follower's
 * controller mirrors the record (state, step, pools) for status and for the day it leads.
 *
 * The judgement is the fleet's: each node counts its own flows' handshake outcomes into the
 * step it had applied when they started, as a lone agent does, and publishes them tagged by
 * the step (its record's step_started_ms); the leader judges the sum of the nodes in the same
 * step. The leader's own controller is therefore fed twice over: its own outcomes go in, and
 * before it judges, the fleet's sum replaces them (kept apart in own).
 *
 * Fail-static: cut off from etcd, a node keeps the weights it applied; the leader stops
 * driving as soon as it is not sure it still leads (zdd_fleet_is_leader). A leader adopts the
 * records as etcd has them before it drives, so an agent restarted with an old state file
 * never writes it over the fleet's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "addr.h"
#include "agent.h"
#include "control.h"
#include "etcd.h"
#include "log.h"
#include "metrics.h"

#define ETCD_TIMEOUT_MS 1000

static __u64 wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static struct agent_service *by_name(struct agent *a, const char *name)
{
	for (size_t i = 0; i < a->n_svcs; i++)
		if (!strcmp(a->svcs[i].fleet.name, name))
			return &a->svcs[i];
	return NULL;
}

/* The step's tag: its start on the wall clock, computed once per step so that every record and
 * every node's outcomes name it alike. */
static __u64 step_tag(struct agent_service *s, __u64 now, __u64 wall)
{
	struct agent_fleet_service *c = &s->fleet;

	if (c->step_mono != s->ro.step_started_ms) {
		c->step_mono = s->ro.step_started_ms;
		c->tag = wall - (now - s->ro.step_started_ms);
	}
	return c->tag;
}

static void record_of(struct agent_service *s, struct zdd_fleet_record *r, __u64 now, __u64 wall)
{
	const struct zdd_rollout *ro = &s->ro;

	memset(r, 0, sizeof(*r));
	r->state = ro->state;
	r->step = ro->step;
	r->green_bp = zdd_rollout_committed_weight(ro);
	r->step_started_ms = ro->state == ZDD_RO_IDLE ? 0 : step_tag(s, now, wall);
	snprintf(r->reason, sizeof(r->reason), "%s", ro->reason);
	r->stable = ro->stable;
	memcpy(r->steps_bp, ro->pol.steps_bp, sizeof(r->steps_bp));
	r->n_steps = ro->state == ZDD_RO_IDLE ? 0 : ro->pol.n_steps;
	r->interval_ms = ro->pol.interval_ms;
}

/* Whether a and b say the same to the nodes (generation and commit time aside). */
static bool same_record(const struct zdd_fleet_record *a, const struct zdd_fleet_record *b)
{
	return a->state == b->state && a->step == b->step && a->green_bp == b->green_bp &&
	       a->step_started_ms == b->step_started_ms && a->stable == b->stable &&
	       a->n_steps == b->n_steps && a->interval_ms == b->interval_ms &&
	       !memcmp(a->steps_bp, b->steps_bp, sizeof(a->steps_bp)) &&
	       !strcmp(a->reason, b->reason);
}

/* The controller's state from a record: how a follower mirrors the fleet's rollout, and how a
 * new leader takes it over at the same step, its dwell counted from the record's start. */
static void mirror(struct agent_service *s, const struct zdd_fleet_record *r, __u64 now, __u64 wall)
{
	struct zdd_rollout *ro = &s->ro;
	bool was_active = zdd_rollout_active(ro);
	__u64 age;

	if (r->n_steps) {
		memcpy(ro->pol.steps_bp, r->steps_bp, sizeof(r->steps_bp));
		ro->pol.n_steps = r->n_steps;
		ro->pol.interval_ms = r->interval_ms;
		zdd_rollout_policy_update(&ro->pol);
	}
	ro->state = r->state;
	ro->step = r->step;
	ro->stable = r->stable;
	ro->step_pending = false;
	ro->held[0] = ro->waiting[0] = '\0';
	snprintf(ro->reason, sizeof(ro->reason), "%s", r->reason);
	if (r->state != ZDD_RO_IDLE && (s->fleet.tag != r->step_started_ms || !was_active)) {
		age = wall > r->step_started_ms ? wall - r->step_started_ms : 0;
		ro->step_started_ms = now > age ? now - age : 0;
		s->fleet.step_mono = ro->step_started_ms;
		s->fleet.tag = r->step_started_ms;
		memset(ro->step_out, 0, sizeof(ro->step_out));
		for (int i = 0; i < ZDD_CONF_MAX_CHECKS; i++)
			ro->checks[i].passed = false;
	}
	if (zdd_rollout_active(ro) && !was_active) { /* a new rollout counts from its start */
		memset(ro->all_out, 0, sizeof(ro->all_out));
		s->cohort_next = 0;
	}
}

/* --- what the leader's controllers write: the record, never the maps ---------------------- */

static int ro_set_weight(void *ctx, const struct zdd_service_key *svc, __u16 green_bp)
{
	struct agent *a = ctx;

	(void)svc;
	(void)green_bp;
	/* The write itself is agent_cluster_flush()'s, from the controller's state. */
	return zdd_fleet_is_leader(a->fleet) ? 0 : -EPERM;
}

static void ro_changed(void *ctx, struct zdd_rollout *ro)
{
	struct agent *a = ctx;
	char name[ZDD_SVC_STRLEN];

	zdd_service_format(&ro->svc, name, sizeof(name));
	agent_logf("%s: %s (the fleet's)", name, ro->event);
	agent_state_save(a);
	agent_cluster_flush(a);
}

const struct zdd_rollout_ops *agent_cluster_ro_ops(struct agent *a)
{
	static struct zdd_rollout_ops ops = { ro_set_weight, ro_changed, NULL };

	ops.ctx = a;
	return &ops;
}

void agent_cluster_flush(struct agent *a)
{
	const struct zdd_fleet_record *cur;
	struct zdd_fleet_record r;
	__u64 now = agent_now_ms(), wall = wall_ms();
	int err;

	if (!a->fleet || !a->fleet_synced || !zdd_fleet_is_leader(a->fleet))
		return;
	for (size_t i = 0; i < a->n_svcs; i++) {
		struct agent_service *s = &a->svcs[i];

		cur = zdd_fleet_record(a->fleet, s->fleet.name);
		if (!cur && s->ro.state == ZDD_RO_IDLE)
			continue; /* nothing to coordinate yet */
		record_of(s, &r, now, wall);
		if (cur && same_record(cur, &r))
			continue;
		err = zdd_fleet_write(a->fleet, s->fleet.name, r, wall);
		if (err && err != -EBUSY) /* in flight: compared again at the next tick */
			agent_logf("cluster: %s: record not written: %s", s->fleet.name,
				   strerror(-err));
	}
}

/* --- what every node applies ---------------------------------------------------------------- */

static void on_apply(void *ctx, const char *name, const struct zdd_fleet_record *r)
{
	struct agent *a = ctx;
	struct agent_service *s = by_name(a, name);
	struct zdd_service_val val;
	int err;

	if (!s) {
		agent_logf("cluster: record of %s: not a service of this node's config", name);
		return;
	}
	err = zdd_service_get(a->z, &s->key, &val) ?: zdd_lock(a->z);
	if (!err) {
		if (val.green_weight != r->green_bp)
			err = zdd_service_commit(a->z, &s->key, r->green_bp);
		zdd_unlock(a->z);
	}
	if (err) {
		agent_logf("cluster: %s: generation %llu not applied: %s", name,
			   (unsigned long long)r->generation, strerror(-err));
		return;
	}
	s->fleet.generation = r->generation;
	/* The leader's controllers are the record's source: they are ahead of it, or equal. */
	if (!zdd_fleet_is_leader(a->fleet) || !a->fleet_synced)
		mirror(s, r, agent_now_ms(), wall_ms());
	snprintf(s->ro.event, sizeof(s->ro.event),
		 "fleet generation %llu applied: %s, step %d, green %u.%02u%%",
		 (unsigned long long)r->generation, zdd_rollout_states[r->state], r->step + 1,
		 r->green_bp / 100, r->green_bp % 100);
	agent_logf("%s: %s", name, s->ro.event);
	agent_state_save(a);
}

/* A new leader reads every record before it drives: its own state may be older. */
static void on_records(void *ctx, const struct zdd_etcd_result *res)
{
	struct agent *a = ctx;
	struct zdd_fleet_record r;
	struct agent_service *s;
	char why[256];

	a->fleet_reading = false;
	if (res->err) {
		agent_logf("cluster: reading the records: %s; trying again",
			   res->error ? res->error : strerror(-res->err));
		return;
	}
	for (size_t i = 0; i < res->n_kvs; i++) {
		s = by_name(a, res->kvs[i].key + strlen("rollout/"));
		if (!s || zdd_fleet_record_decode(&r, res->kvs[i].value, res->kvs[i].value_len, why,
						  sizeof(why)))
			continue;
		mirror(s, &r, agent_now_ms(), wall_ms());
	}
	a->fleet_synced = true;
	agent_logf("cluster: this node drives the fleet's rollouts");
}

static void on_leading(void *ctx, bool leader)
{
	struct agent *a = ctx;

	a->fleet_synced = false;
	if (!leader)
		agent_logf("cluster: this node no longer drives the fleet");
}

/* The leader runs a rollout verb a follower was given, once it drives. */
static bool on_request(void *ctx, const char *key, const char *value, size_t len)
{
	struct agent *a = ctx;
	struct json_object *out;
	struct zdd_ctl_req req;
	char why[ZDD_CTL_ERR_LEN];

	if (!agent_cluster_drives(a))
		return false;
	if (zdd_ctl_req_parse(value, len, &req, why, sizeof(why))) {
		agent_logf("cluster: %s refused: %s", key, why);
		return true;
	}
	out = agent_control_handle(a, &req);
	agent_logf("cluster: %s: %s", key,
		   json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	return true;
}

/* --- the loop ------------------------------------------------------------------------------- */

/* A follower's controller never ticks; its outcomes are counted all the same (for the leader),
 * and the leader's controller judges the fleet's. Called for every service at every tick. */
void agent_cluster_tick(struct agent *a, struct agent_service *s,
			const struct zdd_pool_health h[ZDD_POOLS], __u64 now)
{
	struct agent_fleet_service *c = &s->fleet;
	bool active = zdd_rollout_active(&s->ro), lead;
	struct zdd_fleet_outcomes sum;
	__u64 wall = wall_ms(), tag;

	lead = a->fleet_synced && zdd_fleet_is_leader(a->fleet);
	if (active) {
		tag = step_tag(s, now, wall);
		if (!c->was_active)
			memset(&c->own.all, 0, sizeof(c->own.all));
		if (c->own.tag != tag)
			memset(&c->own.step, 0, sizeof(c->own.step));
		c->own.tag = tag;
		/* own in, fed, own out: the controller's counters may hold the fleet's sum */
		memcpy(s->ro.step_out, c->own.step, sizeof(c->own.step));
		memcpy(s->ro.all_out, c->own.all, sizeof(c->own.all));
		agent_feed_outcomes(a, s, now);
		memcpy(c->own.step, s->ro.step_out, sizeof(c->own.step));
		memcpy(c->own.all, s->ro.all_out, sizeof(c->own.all));
		zdd_fleet_set_outcomes(a->fleet, c->name, &c->own);
		if (lead) {
			zdd_fleet_sum(a->fleet, c->name, tag, &sum);
			s->ro.fresh = memcmp(&sum, &c->sum, sizeof(sum)) != 0;
			c->sum = sum;
			memcpy(s->ro.step_out, sum.step, sizeof(sum.step));
			memcpy(s->ro.all_out, sum.all, sizeof(sum.all));
		}
	}
	c->was_active = active;
	if (lead && zdd_rollout_ticking(&s->ro))
		zdd_rollout_tick(&s->ro, agent_cluster_ro_ops(a), h, now);
}

bool agent_cluster_drives(const struct agent *a)
{
	return !a->fleet || (a->fleet_synced && zdd_fleet_is_leader(a->fleet));
}

/* A leader that stops driving (cut off, or another leads) may have moved its controllers past
 * what etcd committed (a step whose write never got through): they go back to the records, so
 * that its status says what it applies, and what another leader goes on from. */
static void drop_uncommitted(struct agent *a)
{
	const struct zdd_fleet_record *r;
	bool drives = agent_cluster_drives(a);
	size_t i;

	if (a->fleet_drove && !drives)
		for (i = 0; i < a->n_svcs; i++) {
			r = zdd_fleet_record(a->fleet, a->svcs[i].fleet.name);
			if (r)
				mirror(&a->svcs[i], r, agent_now_ms(), wall_ms());
		}
	a->fleet_drove = drives;
}

void agent_cluster_run(struct agent *a)
{
	__u64 now = agent_now_ms();
	bool connected;

	if (!a->fleet)
		return;
	zdd_etcd_run(a->etcd, now);
	zdd_fleet_tick(a->fleet, now, wall_ms());
	connected = zdd_fleet_connected(a->fleet);
	if (connected != a->fleet_connected) {
		a->fleet_connected = connected;
		agent_logf("%s",
			   connected ? "cluster: etcd answers again; applying what the fleet "
				       "decided"
				     : "cluster: cut off from etcd: holding the weights applied, "
				       "driving nothing (fail-static)");
	}
	if (zdd_fleet_is_leader(a->fleet) && !a->fleet_synced && !a->fleet_reading &&
	    !zdd_etcd_range(a->etcd, "rollout/", on_records, a))
		a->fleet_reading = true;
	drop_uncommitted(a);
	/* Level-triggered: a change made while a write was in flight goes out after it. */
	agent_cluster_flush(a);
}

int agent_cluster_timeout_ms(const struct agent *a)
{
	return a->etcd ? zdd_etcd_timeout_ms(a->etcd) : -1;
}

int agent_cluster_fd(const struct agent *a)
{
	return a->etcd ? zdd_etcd_fd(a->etcd) : -1;
}

/* --- the rollout verbs a follower is given -------------------------------------------------- */

static void on_forwarded(void *ctx, int err)
{
	(void)ctx;
	if (err)
		agent_logf("cluster: a rollout verb for the leader was not written: %s",
			   strerror(-err));
}

struct json_object *agent_cluster_forward(struct agent *a, const char *text)
{
	const char *leader = zdd_fleet_leader(a->fleet);
	struct json_object *out = json_object_new_object();
	char key[128], msg[256];
	int err;

	snprintf(key, sizeof(key), "requests/%s", a->conf->agent.cluster.node);
	err = zdd_fleet_put(a->fleet, key, text, on_forwarded, a);
	if (err)
		snprintf(msg, sizeof(msg),
			 "this node is cut off from etcd (%s): the fleet's rollouts cannot be "
			 "changed from here now; run it on a node that is not",
			 strerror(-err));
	else
		snprintf(msg, sizeof(msg),
			 "sent through etcd to the fleet's leader (%s); `zdd-bpfctl rollout "
			 "status` shows when it is applied",
			 leader ? leader : "none elected yet: the next one runs it");
	json_object_object_add(out, "ok", json_object_new_boolean(!err));
	json_object_object_add(out, err ? "error" : "event", json_object_new_string(msg));
	return out;
}

/* The fleet's view of service s for rollout status: every live node's applied generation. */
void agent_cluster_json(struct agent *a, struct agent_service *s, struct json_object *o)
{
	struct zdd_fleet_node n[ZDD_FLEET_MAX_NODES];
	const struct zdd_fleet_record *r;
	struct json_object *fo, *nodes, *no;
	const char *leader;
	__u64 gen;
	int k;

	if (!a->fleet)
		return;
	r = zdd_fleet_record(a->fleet, s->fleet.name);
	gen = r ? r->generation : 0;
	leader = zdd_fleet_leader(a->fleet);
	fo = json_object_new_object();
	json_object_object_add(fo, "node", json_object_new_string(a->conf->agent.cluster.node));
	json_object_object_add(fo, "leader", leader ? json_object_new_string(leader) : NULL);
	json_object_object_add(fo, "connected",
			       json_object_new_boolean(zdd_fleet_connected(a->fleet)));
	json_object_object_add(fo, "generation", json_object_new_int64((__s64)gen));
	json_object_object_add(fo, "applied_generation",
			       json_object_new_int64((__s64)s->fleet.generation));
	/* Cut off, this node's view of the fleet is as old as its last answer. */
	json_object_object_add(fo, "stale",
			       json_object_new_boolean(!zdd_fleet_connected(a->fleet)));
	nodes = json_object_new_array();
	k = zdd_fleet_nodes(a->fleet, s->fleet.name, n, ZDD_FLEET_MAX_NODES);
	for (int i = 0; i < k; i++) {
		no = json_object_new_object();
		json_object_object_add(no, "node", json_object_new_string(n[i].node));
		json_object_object_add(no, "generation",
				       json_object_new_int64((__s64)n[i].generation));
		json_object_object_add(
			no, "lag",
			json_object_new_int64(gen > n[i].generation ? (__s64)(gen - n[i].generation)
								    : 0));
		json_object_array_add(nodes, no);
	}
	json_object_object_add(fo, "nodes", nodes);
	json_object_object_add(o, "fleet", fo);
}

void agent_cluster_metrics(struct agent *a, struct zdd_metrics_cluster *m)
{
	const struct zdd_fleet_delays *d;

	if (!a->fleet)
		return;
	d = zdd_fleet_delays(a->fleet);
	m->on = true;
	m->connected = zdd_fleet_connected(a->fleet);
	m->leader = agent_cluster_drives(a);
	m->delay_p50_ms = zdd_fleet_delay_p50(d);
	m->delay_max_ms = d->max;
}

/* --- start and end -------------------------------------------------------------------------- */

/* A directory in the pin directory (a BPF filesystem holds no files) tells zdd-bpfctl that the
 * weights are the fleet's: a local weight or flip would split shoppers between nodes until the
 * next record undid it. */
static void marker(struct agent *a, bool on)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/" ZDD_CLUSTER_MARKER, a->pin_dir);
	if (!on)
		rmdir(path);
	else if (mkdir(path, 0700) && errno != EEXIST)
		agent_logf("cluster: %s: %s", path, strerror(errno));
}

int agent_cluster_open(struct agent *a)
{
	const struct zdd_conf_cluster *k = &a->conf->agent.cluster;
	const char *ep[ZDD_CONF_MAX_ENDPOINTS];
	struct zdd_etcd_opts o = {
		.endpoints = ep,
		.n_endpoints = (size_t)k->n_endpoints,
		.prefix = k->prefix,
		.timeout_ms = ETCD_TIMEOUT_MS,
		.ca_file = k->ca[0] ? k->ca : NULL,
		.cert_file = k->cert[0] ? k->cert : NULL,
		.key_file = k->key[0] ? k->key : NULL,
	};
	struct zdd_fleet_ops ops = { on_apply, on_leading, a };
	int err;

	marker(a, k->present);
	if (!k->present)
		return 0;
	for (int i = 0; i < k->n_endpoints; i++)
		ep[i] = k->endpoints[i];
	for (size_t i = 0; i < a->n_svcs; i++)
		zdd_service_format(&a->svcs[i].key, a->svcs[i].fleet.name,
				   sizeof(a->svcs[i].fleet.name));
	err = zdd_etcd_new(&a->etcd, &o);
	if (!err)
		err = zdd_fleet_new(&a->fleet, a->etcd, k->node, (k->lease_ttl_ms + 999) / 1000,
				    &ops);
	if (err)
		return log_err(err, "cluster: etcd client");
	zdd_fleet_on_request(a->fleet, on_request, a);
	a->fleet_connected = true;
	agent_logf("cluster: node %s of the fleet at %s%s (prefix %s)", k->node, k->endpoints[0],
		   k->n_endpoints > 1 ? " and others" : "", k->prefix);
	return 0;
}

void agent_cluster_close(struct agent *a)
{
	zdd_fleet_free(a->fleet);
	zdd_etcd_free(a->etcd);
	a->fleet = NULL;
	a->etcd = NULL;
}
