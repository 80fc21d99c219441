// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/rollout.c - see rollout.h.
 *
 * The failure signal. DSR means the balancer never sees a backend's answer, only the client's
 * side of the handshake: a green that refuses connections (RST) or black-holes them never gets
 * the client's ACK. The data path counts, per flow, whether that ACK came within the handshake
 * timeout (bpf/lib/conntrack.h, zdd_cohorts); the agent feeds the outcomes of each cohort of
 * flows once it is older than the timeout (zdd_rollout_outcomes). The candidate is judged on
 * the flows started in the current step, against the stable pool's flows of the same step
 * (judge.c: a statistical test with a bounded false-positive rate), on every tick that brought
 * new outcomes. A step advances when its dwell is over and the candidate has min_samples
 * judged flows in it; it waits at most max_step_extension for them. Promotion needs them. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "rollout.h"

const char *const zdd_rollout_states[ZDD_RO_STATES + 1] = {
	"idle", "running", "paused", "promoted", "rolled_back", "aborted", NULL,
};

static int copy_argv(char *dst[], char *const src[])
{
	int i;

	for (i = 0; i < ZDD_CONF_MAX_ARGV && src[i]; i++) {
		dst[i] = strdup(src[i]);
		if (!dst[i])
			return -ENOMEM;
	}
	dst[i] = NULL;
	return 0;
}

static void free_argv(char *v[])
{
	int i;

	for (i = 0; v[i]; i++) {
		free(v[i]);
		v[i] = NULL;
	}
}

void zdd_rollout_policy_update(struct zdd_rollout_policy *p)
{
	p->judge.alpha = zdd_judge_alpha(p->confidence, p->n_steps, p->interval_ms,
					 p->extension_ms);
}

int zdd_rollout_policy_from_conf(struct zdd_rollout_policy *p, const struct zdd_conf_rollout *c,
				 bool handshakes)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->steps_bp, c->steps_bp, sizeof(p->steps_bp));
	p->n_steps = c->n_steps;
	p->interval_ms = c->interval_ms;
	p->extension_ms = c->max_extension_ms;
	p->handshake_timeout_ms = c->handshake_timeout_ms;
	p->handshakes = handshakes;
	p->judge.min_samples = c->min_samples;
	p->judge.ceiling = c->max_failure_bp / (double)ZDD_MAX_WEIGHT_BP;
	p->judge.max_ratio = c->max_ratio_to_blue;
	p->judge.min_excess = ZDD_RO_MIN_EXCESS;
	p->confidence = c->confidence_bp / (double)ZDD_MAX_WEIGHT_BP;
	zdd_rollout_policy_update(p);
	p->hooks.timeout_ms = c->hooks.timeout_ms;
	if (copy_argv(p->hooks.pre_step, c->hooks.pre_step) ||
	    copy_argv(p->hooks.post_promote, c->hooks.post_promote) ||
	    copy_argv(p->hooks.post_rollback, c->hooks.post_rollback)) {
		zdd_rollout_policy_free(p);
		return -ENOMEM;
	}
	if (c->n_analysis) {
		p->checks = calloc(c->n_analysis, sizeof(*p->checks));
		if (!p->checks) {
			zdd_rollout_policy_free(p);
			return -ENOMEM;
		}
		memcpy(p->checks, c->analysis, c->n_analysis * sizeof(*p->checks));
		p->n_checks = c->n_analysis;
	}
	return 0;
}

void zdd_rollout_policy_free(struct zdd_rollout_policy *p)
{
	free_argv(p->hooks.pre_step);
	free_argv(p->hooks.post_promote);
	free_argv(p->hooks.post_rollback);
	free(p->checks);
	p->checks = NULL;
	p->n_checks = 0;
}

bool zdd_rollout_active(const struct zdd_rollout *ro)
{
	return ro->state == ZDD_RO_RUNNING || ro->state == ZDD_RO_PAUSED;
}

__u16 zdd_rollout_committed_weight(const struct zdd_rollout *ro)
{
	return zdd_rollout_weight(ro, zdd_rollout_active(ro) ? ro->step : -1);
}

bool zdd_rollout_ticking(const struct zdd_rollout *ro)
{
	return zdd_rollout_active(ro) || ro->post.status == ZDD_HOOK_RUNNING || ro->unwritten;
}

__u16 zdd_rollout_weight(const struct zdd_rollout *ro, int step)
{
	__u16 share = step < 0 ? 0 : ro->pol.steps_bp[step];

	/* share is the candidate's; the candidate is the pool that is not stable */
	return ro->stable == ZDD_BLUE ? share : ZDD_MAX_WEIGHT_BP - share;
}

static const char *pool_name(int pool)
{
	return pool == ZDD_GREEN ? "green" : "blue";
}

static void event(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void event(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ro->event, sizeof(ro->event), fmt, ap);
	va_end(ap);
	ro->changed_ms = now_ms;
	if (ops->changed)
		ops->changed(ops->ctx, ro);
}

static int set_weight(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, int step)
{
	return ops->set_weight(ops->ctx, &ro->svc, zdd_rollout_weight(ro, step));
}

static void finish(struct zdd_rollout *ro, enum zdd_ro_state state)
{
	zdd_hook_kill(&ro->pre);
	ro->step_pending = false;
	ro->held[0] = ro->waiting[0] = '\0';
	ro->blind = false;
	ro->state = state;
}

/* A new step judges the flows that start in it, and needs every check to pass anew. */
static void step_begins(struct zdd_rollout *ro, __u64 now_ms)
{
	int i;

	for (i = 0; i < ZDD_CONF_MAX_CHECKS; i++)
		ro->checks[i].passed = false;
	ro->step_started_ms = now_ms;
	memset(ro->step_out, 0, sizeof(ro->step_out));
	memset(ro->last_ratio, 0, sizeof(ro->last_ratio));
	memset(ro->last_samples, 0, sizeof(ro->last_samples));
}

static void count_rollback(struct zdd_rollout *ro, const char *label)
{
	struct zdd_ro_reason_count *r = ro->rollbacks_by;
	int i;

	for (i = 0; i < ZDD_RO_REASONS && r[i].reason[0] && strcmp(r[i].reason, label); i++)
		;
	if (i == ZDD_RO_REASONS)
		i--; /* full (checks renamed by reloads): the last row takes the rest */
	if (!r[i].reason[0])
		snprintf(r[i].reason, sizeof(r[i].reason), "%s", label);
	r[i].n++;
	ro->rollbacks++;
}

/*
 * The post_promote or post_rollback hook, told the service, the step, the outcome and why
 * (ZDD_SERVICE, ZDD_STEP, ZDD_STATE, ZDD_REASON). Returns why it could not even start, for the
 * event, or "".
 */
static const char *start_post(struct zdd_rollout *ro, char *const argv[], __u64 now_ms)
{
	char env_svc[ZDD_SVC_STRLEN + 16], env_step[32], env_state[32],
		env_why[sizeof(ro->reason) + 16];
	char *env[] = { env_svc, env_step, env_state, env_why, NULL };
	char name[ZDD_SVC_STRLEN];

	zdd_service_format(&ro->svc, name, sizeof(name));
	snprintf(env_svc, sizeof(env_svc), "ZDD_SERVICE=%s", name);
	snprintf(env_step, sizeof(env_step), "ZDD_STEP=%d", ro->step + 1);
	snprintf(env_state, sizeof(env_state), "ZDD_STATE=%s", zdd_rollout_states[ro->state]);
	snprintf(env_why, sizeof(env_why), "ZDD_REASON=%s", ro->reason);
	if (zdd_hook_start_env(&ro->post, argv, env, ro->pol.hooks.timeout_ms, now_ms))
		return ro->post.what;
	return "";
}

/* All new flows back on the stable pool; pinned flows are left where they are. */
static void roll_back(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms,
		      const char *label, const char *why)
{
	int err = set_weight(ro, ops, -1);
	const char *hook;

	finish(ro, ZDD_RO_ROLLED_BACK);
	count_rollback(ro, label);
	ro->unwritten = err != 0;
	snprintf(ro->reason, sizeof(ro->reason), "%s", why);
	hook = start_post(ro, ro->pol.hooks.post_rollback, now_ms);
	event(ro, ops, now_ms, "rolled back at step %d (%u.%02u%%): %s%s%s%s", ro->step + 1,
	      ro->step >= 0 ? ro->pol.steps_bp[ro->step] / 100 : 0,
	      ro->step >= 0 ? ro->pol.steps_bp[ro->step] % 100 : 0, ro->reason,
	      err ? "; the weight could not be written yet, retrying" : "",
	      *hook ? "; post_rollback hook failed: " : "", hook);
}

/* Starts step + 1: its pre-step hook first; the weight moves when the hook succeeds. */
static void request_next_step(struct zdd_rollout *ro, __u64 now_ms)
{
	ro->step_pending = true;
	ro->step_started_ms = now_ms;
	zdd_hook_start(&ro->pre, ro->pol.hooks.pre_step, ro->pol.hooks.timeout_ms, now_ms);
}

static int enter_step(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms)
{
	int err = set_weight(ro, ops, ro->step + 1);

	ro->step_pending = false;
	if (err) {
		finish(ro, ZDD_RO_ABORTED);
		event(ro, ops, now_ms, "aborted: the weight of step %d could not be written",
		      ro->step + 2);
		return err;
	}
	ro->step++;
	step_begins(ro, now_ms);
	event(ro, ops, now_ms, "step %d of %d: %s %u.%02u%%", ro->step + 1, ro->pol.n_steps,
	      ro->stable == ZDD_BLUE ? "green" : "blue", ro->pol.steps_bp[ro->step] / 100,
	      ro->pol.steps_bp[ro->step] % 100);
	return 0;
}

static void promote(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms)
{
	__u8 candidate = !ro->stable;

	const char *hook;

	finish(ro, ZDD_RO_PROMOTED);
	ro->stable = candidate; /* the next rollout moves clients back the other way */
	ro->reason[0] = '\0';
	hook = start_post(ro, ro->pol.hooks.post_promote, now_ms);
	event(ro, ops, now_ms, "promoted: %s serves every new flow%s%s",
	      candidate == ZDD_GREEN ? "green" : "blue",
	      *hook ? "; post_promote hook failed: " : "", hook);
}

int zdd_rollout_start(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops,
		      __u16 current_green_bp, __u64 now_ms)
{
	if (zdd_rollout_active(ro)) {
		snprintf(ro->event, sizeof(ro->event), "a rollout is already %s",
			 zdd_rollout_states[ro->state]);
		return -EBUSY;
	}
	if (current_green_bp != 0 && current_green_bp != ZDD_MAX_WEIGHT_BP) {
		snprintf(ro->event, sizeof(ro->event),
			 "green has %u.%02u%% of new clients: flip to one pool before a rollout",
			 current_green_bp / 100, current_green_bp % 100);
		return -EINVAL;
	}
	if (ro->pol.n_steps < 1 || ro->pol.steps_bp[ro->pol.n_steps - 1] != ZDD_MAX_WEIGHT_BP) {
		snprintf(ro->event, sizeof(ro->event), "the steps must end at 100%%");
		return -EINVAL;
	}
	ro->stable = current_green_bp ? ZDD_GREEN : ZDD_BLUE;
	ro->state = ZDD_RO_RUNNING;
	ro->step = -1;
	ro->reason[0] = ro->held[0] = ro->waiting[0] = '\0';
	ro->blind = false;
	memset(ro->checks, 0, sizeof(ro->checks));
	memset(ro->all_out, 0, sizeof(ro->all_out));
	step_begins(ro, now_ms);
	zdd_hook_kill(&ro->post);
	request_next_step(ro, now_ms);
	event(ro, ops, now_ms, "started: %d steps, %u ms each, stable pool %s", ro->pol.n_steps,
	      ro->pol.interval_ms, ro->stable == ZDD_BLUE ? "blue" : "green");
	return 0;
}

static int not_active(struct zdd_rollout *ro)
{
	snprintf(ro->event, sizeof(ro->event), "no rollout in progress (%s)",
		 zdd_rollout_states[ro->state]);
	return -ENOENT;
}

int zdd_rollout_pause(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms)
{
	if (ro->state != ZDD_RO_RUNNING)
		return not_active(ro);
	/* The dwell so far is kept: resume continues the step where it was. */
	ro->step_started_ms = now_ms - ro->step_started_ms;
	ro->state = ZDD_RO_PAUSED;
	event(ro, ops, now_ms, "paused at step %d; analysis goes on", ro->step + 1);
	return 0;
}

int zdd_rollout_resume(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms)
{
	if (ro->state != ZDD_RO_PAUSED)
		return not_active(ro);
	ro->step_started_ms = now_ms - ro->step_started_ms;
	ro->state = ZDD_RO_RUNNING;
	ro->blind = false;
	event(ro, ops, now_ms, "resumed at step %d", ro->step + 1);
	return 0;
}

int zdd_rollout_promote(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms)
{
	if (!zdd_rollout_active(ro))
		return not_active(ro);
	if (set_weight(ro, ops, ro->pol.n_steps - 1)) {
		snprintf(ro->event, sizeof(ro->event), "the weight could not be written");
		return -EIO;
	}
	ro->step = ro->pol.n_steps - 1;
	promote(ro, ops, now_ms);
	return 0;
}

int zdd_rollout_abort(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms)
{
	if (!zdd_rollout_active(ro))
		return not_active(ro);
	if (set_weight(ro, ops, -1)) {
		snprintf(ro->event, sizeof(ro->event), "the weight could not be written");
		return -EIO;
	}
	finish(ro, ZDD_RO_ABORTED);
	event(ro, ops, now_ms, "aborted by the operator at step %d: new flows back on %s",
	      ro->step + 1, ro->stable == ZDD_BLUE ? "blue" : "green");
	return 0;
}

void zdd_rollout_outcomes(struct zdd_rollout *ro, __u64 start_ms,
			  const struct zdd_outcomes o[ZDD_POOLS])
{
	int p;

	if (!zdd_rollout_active(ro))
		return;
	for (p = 0; p < ZDD_POOLS; p++) {
		zdd_outcomes_add(&ro->all_out[p], &o[p]);
		if (start_ms >= ro->step_started_ms && ro->step >= 0 && !ro->step_pending)
			zdd_outcomes_add(&ro->step_out[p], &o[p]);
	}
	ro->fresh = true;
}

/* The handshake verdict on the step so far. The stable pool is compared over the same step;
 * at a step where it takes (almost) no new flows, over the whole rollout. */
static enum zdd_verdict judge_handshakes(struct zdd_rollout *ro, char *why, size_t len)
{
	__u8 cand = !ro->stable;
	const struct zdd_outcomes *s = &ro->step_out[ro->stable];
	int p;

	if (s->started < ro->pol.judge.min_samples)
		s = &ro->all_out[ro->stable];
	for (p = 0; p < ZDD_POOLS; p++) {
		ro->last_samples[p] = ro->step_out[p].started;
		ro->last_ratio[p] = ro->step_out[p].started
					    ? (double)zdd_outcomes_failed(&ro->step_out[p]) /
						      ro->step_out[p].started
					    : 0;
	}
	return zdd_judge(&ro->pol.judge, pool_name(cand), &ro->step_out[cand], s, why, len);
}

/* Returns the reason label (with why filled) when the candidate must be rolled back, else
 * NULL; fills ro->held when the handshake evidence is not in yet. */
static const char *judge(struct zdd_rollout *ro, const struct zdd_pool_health h[ZDD_POOLS],
			 char *why, size_t len)
{
	__u8 cand = !ro->stable;
	char held[sizeof(ro->held)];

	if (h[cand].checked && !h[cand].healthy) {
		snprintf(why, len, "no %s backend passes its health check", pool_name(cand));
		return ZDD_RO_REASON_HEALTH;
	}
	if (!ro->pol.handshakes) {
		ro->held[0] = '\0'; /* UDP: the health checks are the evidence */
		return NULL;
	}
	if (!ro->fresh)
		return NULL;
	ro->fresh = false;
	switch (judge_handshakes(ro, held, sizeof(held))) {
	case ZDD_V_FAIL:
		snprintf(why, len, "%s", held);
		return ZDD_RO_REASON_HANDSHAKES;
	case ZDD_V_SHORT:
	case ZDD_V_BOTH_FAIL:
		snprintf(ro->held, sizeof(ro->held), "%s", held);
		return NULL;
	case ZDD_V_PASS:
		break;
	}
	ro->held[0] = '\0';
	return NULL;
}

/* The check that has not passed in this step, or whose last evaluation did not pass; NULL when
 * every check passed. */
static const struct zdd_conf_analysis *check_not_passed(const struct zdd_rollout *ro,
							const struct zdd_ro_check **st)
{
	int i;

	for (i = 0; i < ro->pol.n_checks; i++) {
		*st = &ro->checks[i];
		if (!(*st)->passed || (*st)->last != ZDD_AN_PASS)
			return &ro->pol.checks[i];
	}
	return NULL;
}

static void resume_if_seeing(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops,
			     __u64 now_ms)
{
	int i;

	for (i = 0; i < ro->pol.n_checks; i++)
		if (ro->checks[i].inconclusive >= ro->pol.checks[i].inconclusive_limit)
			return;
	ro->blind = false;
	ro->step_started_ms = now_ms - ro->step_started_ms; /* as zdd_rollout_resume */
	ro->state = ZDD_RO_RUNNING;
	event(ro, ops, now_ms, "resumed at step %d: the checks have data again", ro->step + 1);
}

void zdd_rollout_analysis(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops,
			  const struct zdd_an_eval *e, __u64 now_ms)
{
	const struct zdd_conf_analysis *c;
	struct zdd_ro_check *st;
	char why[sizeof(ro->reason)];

	if (!zdd_rollout_active(ro) || e->check < 0 || e->check >= ro->pol.n_checks)
		return; /* late: the rollout ended, or a reload dropped the check */
	c = &ro->pol.checks[e->check];
	st = &ro->checks[e->check];
	st->evaluated = true;
	st->last = e->result;
	st->evaluations[e->result]++;
	memcpy(st->has_value, e->has_value, sizeof(st->has_value));
	memcpy(st->value, e->value, sizeof(st->value));
	snprintf(st->why, sizeof(st->why), "%s", e->why);
	if (e->result == ZDD_AN_INCONCLUSIVE) {
		/* Neither for nor against the release: a failure streak goes on where it was. */
		if (++st->inconclusive >= c->inconclusive_limit && ro->state == ZDD_RO_RUNNING) {
			ro->step_started_ms = now_ms - ro->step_started_ms; /* as a pause */
			ro->state = ZDD_RO_PAUSED;
			ro->blind = true;
			event(ro, ops, now_ms,
			      "paused at step %d: check %s had no answer %u times in a row (%s); "
			      "resumes when it has",
			      ro->step + 1, c->name, st->inconclusive, e->why);
		}
		return;
	}
	st->inconclusive = 0;
	if (e->result == ZDD_AN_PASS) {
		st->fails = 0;
		st->passed = true;
	} else {
		st->passed = false;
		if (++st->fails >= c->failure_limit) {
			snprintf(why, sizeof(why), "check %s failed %u times in a row: %s", c->name,
				 st->fails, e->why);
			roll_back(ro, ops, now_ms, c->name, why);
			return;
		}
	}
	if (ro->blind)
		resume_if_seeing(ro, ops, now_ms);
}

/* The dwell is over but the evidence is not in. Within the extension, wait; past it, an
 * intermediate step goes on (the next one brings the candidate more flows, and it is judged
 * all along), while the last one pauses: a release is never promoted blind. */
static void held_past_dwell(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms)
{
	if (now_ms - ro->step_started_ms < (__u64)ro->pol.interval_ms + ro->pol.extension_ms)
		return;
	if (ro->step == ro->pol.n_steps - 1) {
		/* Paused with the dwell done (as zdd_rollout_pause keeps it): a resume waits a
		 * whole extension again. */
		ro->step_started_ms = ro->pol.interval_ms;
		ro->state = ZDD_RO_PAUSED;
		event(ro, ops, now_ms,
		      "paused before promotion, %u ms past the dwell: %s; resume to wait longer, "
		      "or promote by hand",
		      ro->pol.extension_ms, ro->held);
		return;
	}
	event(ro, ops, now_ms, "step %d: %s after %u ms more than the dwell; going on",
	      ro->step + 1, ro->held, ro->pol.extension_ms);
	request_next_step(ro, now_ms);
}

void zdd_rollout_tick(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops,
		      const struct zdd_pool_health *h, __u64 now_ms)
{
	const struct zdd_conf_analysis *check;
	const struct zdd_ro_check *st;
	char why[sizeof(ro->reason)];
	enum zdd_hook_status hs;
	const char *label;

	if (ro->unwritten && !set_weight(ro, ops, -1)) {
		ro->unwritten = false;
		event(ro, ops, now_ms, "rolled back: new flows are on %s now",
		      pool_name(ro->stable));
	}
	if (zdd_hook_poll(&ro->post, now_ms) == ZDD_HOOK_FAILED && ro->post.pid) {
		ro->post.pid = 0; /* report once */
		event(ro, ops, now_ms, "hook failed: %s", ro->post.what);
	}
	if (!zdd_rollout_active(ro))
		return;
	/* Judged while the candidate has traffic: paused included. */
	if (ro->step >= 0 && (label = judge(ro, h, why, sizeof(why)))) {
		roll_back(ro, ops, now_ms, label, why);
		return;
	}
	if (ro->state != ZDD_RO_RUNNING)
		return;
	if (ro->step_pending) {
		hs = zdd_hook_poll(&ro->pre, now_ms);
		if (hs == ZDD_HOOK_OK) {
			enter_step(ro, ops, now_ms);
		} else if (hs == ZDD_HOOK_FAILED) {
			/* The step's precondition (a migration, a check) failed: the release is
			 * not fit to take more traffic, as if it had failed its analysis. */
			snprintf(why, sizeof(why), "pre-step hook of step %d failed: %s",
				 ro->step + 2, ro->pre.what);
			roll_back(ro, ops, now_ms, ZDD_RO_REASON_HOOK, why);
		}
		return;
	}
	if (now_ms - ro->step_started_ms < ro->pol.interval_ms)
		return;
	/* The application checks bind without an end: a step never outwaits them. */
	check = ro->step >= 0 ? check_not_passed(ro, &st) : NULL;
	if (check) {
		snprintf(ro->waiting, sizeof(ro->waiting),
			 "check %s has not passed in this step%s%s", check->name,
			 st->evaluated ? ": " : "", st->evaluated ? st->why : "");
		return;
	}
	ro->waiting[0] = '\0';
	if (ro->held[0] || (ro->pol.handshakes && ro->step >= 0 &&
			    ro->step_out[!ro->stable].started < ro->pol.judge.min_samples)) {
		if (!ro->held[0])
			snprintf(ro->held, sizeof(ro->held), "no %s handshakes judged yet",
				 pool_name(!ro->stable));
		held_past_dwell(ro, ops, now_ms);
		return;
	}
	if (ro->step == ro->pol.n_steps - 1)
		promote(ro, ops, now_ms);
	else
		request_next_step(ro, now_ms);
}
