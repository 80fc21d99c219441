// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/rollout.c - see rollout.h.
 *
 * The failure signal. DSR means the balancer never sees a backend's answer, only the client's
 * side of the handshake: a SYN makes a flow "new", the client's first ACK makes it
 * "established". A green that refuses connections (RST) or black-holes them never gets that
 * ACK. Over a sliding window of the handshake timeout, a pool's failure ratio is
 *     (new - established + client resets) / new
 * from the per-backend counters, which costs a few map reads per tick and needs no conntrack
 * walk. As the window slides over the onset of a failure the ratio climbs from 0, so a
 * ceiling of 5% trips within a few hundred milliseconds at demo load, well before the window
 * itself has passed. The candidate is judged against the ceiling and against the stable pool
 * over the same window (the same clients, the same network), after min_samples new flows. */
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

int zdd_rollout_policy_from_conf(struct zdd_rollout_policy *p, const struct zdd_conf_rollout *c)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->steps_bp, c->steps_bp, sizeof(p->steps_bp));
	p->n_steps = c->n_steps;
	p->interval_ms = c->interval_ms;
	p->window_ms = c->handshake_timeout_ms;
	p->min_samples = c->min_samples;
	p->max_failure_bp = c->max_failure_bp;
	p->max_ratio_to_blue = c->max_ratio_to_blue;
	p->hooks.timeout_ms = c->hooks.timeout_ms;
	if (copy_argv(p->hooks.pre_step, c->hooks.pre_step) ||
	    copy_argv(p->hooks.post_promote, c->hooks.post_promote) ||
	    copy_argv(p->hooks.post_rollback, c->hooks.post_rollback)) {
		zdd_rollout_policy_free(p);
		return -ENOMEM;
	}
	return 0;
}

void zdd_rollout_policy_free(struct zdd_rollout_policy *p)
{
	free_argv(p->hooks.pre_step);
	free_argv(p->hooks.post_promote);
	free_argv(p->hooks.post_rollback);
}

bool zdd_rollout_active(const struct zdd_rollout *ro)
{
	return ro->state == ZDD_RO_RUNNING || ro->state == ZDD_RO_PAUSED;
}

__u16 zdd_rollout_weight(const struct zdd_rollout *ro, int step)
{
	__u16 share = step < 0 ? 0 : ro->pol.steps_bp[step];

	/* share is the candidate's; the candidate is the pool that is not stable */
	return ro->stable == ZDD_BLUE ? share : ZDD_MAX_WEIGHT_BP - share;
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
	ro->state = state;
}

/* All new flows back on the stable pool; pinned flows are left where they are. */
static void roll_back(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms,
		      const char *why)
{
	int err = set_weight(ro, ops, -1);

	finish(ro, ZDD_RO_ROLLED_BACK);
	ro->rollbacks++;
	zdd_hook_start(&ro->post, ro->pol.hooks.post_rollback, ro->pol.hooks.timeout_ms, now_ms);
	event(ro, ops, now_ms, "rolled back at step %d (%u.%02u%%): %s%s", ro->step + 1,
	      ro->step >= 0 ? ro->pol.steps_bp[ro->step] / 100 : 0,
	      ro->step >= 0 ? ro->pol.steps_bp[ro->step] % 100 : 0, why,
	      err ? "; the weight could not be written!" : "");
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
	ro->step_started_ms = now_ms;
	event(ro, ops, now_ms, "step %d of %d: %s %u.%02u%%", ro->step + 1, ro->pol.n_steps,
	      ro->stable == ZDD_BLUE ? "green" : "blue", ro->pol.steps_bp[ro->step] / 100,
	      ro->pol.steps_bp[ro->step] % 100);
	return 0;
}

static void promote(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops, __u64 now_ms)
{
	__u8 candidate = !ro->stable;

	finish(ro, ZDD_RO_PROMOTED);
	ro->stable = candidate; /* the next rollout moves clients back the other way */
	zdd_hook_start(&ro->post, ro->pol.hooks.post_promote, ro->pol.hooks.timeout_ms, now_ms);
	event(ro, ops, now_ms, "promoted: %s serves every new flow",
	      candidate == ZDD_GREEN ? "green" : "blue");
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
	ro->ring_len = 0;
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

/* The newest sample taken at or before t, or NULL. */
static const struct zdd_ro_sample *sample_before(const struct zdd_rollout *ro, __u64 t)
{
	const struct zdd_ro_sample *s;
	unsigned int i;

	for (i = 0; i < ro->ring_len; i++) {
		s = &ro->ring[(ro->ring_head + ZDD_RO_RING - 1 - i) % ZDD_RO_RING];
		if (s->t_ms <= t)
			return s;
	}
	return NULL;
}

static const struct zdd_ro_sample *oldest(const struct zdd_rollout *ro)
{
	if (!ro->ring_len)
		return NULL;
	return &ro->ring[(ro->ring_head + ZDD_RO_RING - ro->ring_len) % ZDD_RO_RING];
}

static void record(struct zdd_rollout *ro, const struct zdd_pool_counters c[ZDD_POOLS],
		   __u64 now_ms)
{
	struct zdd_ro_sample *s = &ro->ring[ro->ring_head];

	s->t_ms = now_ms;
	memcpy(s->c, c, sizeof(s->c));
	ro->ring_head = (ro->ring_head + 1) % ZDD_RO_RING;
	if (ro->ring_len < ZDD_RO_RING)
		ro->ring_len++;
}

/*
 * Flows started in [t - W - lag, t - lag] against handshakes completed in [t - W, t]: both
 * windows are W long, so in a steady state they match whatever the rate, and a handshake
 * that takes up to `lag` is counted complete. A failure shows after lag.
 */
static double failure_ratio(const struct zdd_ro_sample *n0, const struct zdd_ro_sample *n1,
			    const struct zdd_ro_sample *e0, const struct zdd_pool_counters *now,
			    int pool, __u64 *samples)
{
	__u64 n = n1->c[pool].flows_new - n0->c[pool].flows_new;
	__u64 est = now->flows_established - e0->c[pool].flows_established;
	__u64 rst = now->client_resets - e0->c[pool].client_resets;
	__u64 failed = (n > est ? n - est : 0) + rst;

	*samples = n;
	if (!n)
		return 0;
	return failed >= n ? 1.0 : (double)failed / n;
}

/* Returns true (with why filled) when the candidate must be rolled back. */
static bool judge(struct zdd_rollout *ro, const struct zdd_pool_counters c[ZDD_POOLS], __u64 now_ms,
		  char *why, size_t len)
{
	__u64 w = ro->pol.window_ms;
	const struct zdd_ro_sample *e0 = sample_before(ro, now_ms - w) ?: oldest(ro);
	const struct zdd_ro_sample *n0 = sample_before(ro, now_ms - w - ZDD_RO_LAG_MS)
						 ?: oldest(ro);
	const struct zdd_ro_sample *n1 = sample_before(ro, now_ms - ZDD_RO_LAG_MS);
	__u8 cand = !ro->stable;
	double rc, rs;

	if (c[cand].checked && !c[cand].healthy) {
		snprintf(why, len, "no %s backend passes its health check",
			 cand == ZDD_GREEN ? "green" : "blue");
		return true;
	}
	if (!e0 || !n1 || n1->t_ms <= n0->t_ms)
		return false;
	rc = failure_ratio(n0, n1, e0, &c[cand], cand, &ro->last_samples[cand]);
	rs = failure_ratio(n0, n1, e0, &c[ro->stable], ro->stable, &ro->last_samples[ro->stable]);
	ro->last_ratio[cand] = rc;
	ro->last_ratio[ro->stable] = rs;
	if (ro->last_samples[cand] < ro->pol.min_samples)
		return false; /* too few flows to tell a failure from chance */
	if (rc * ZDD_MAX_WEIGHT_BP > ro->pol.max_failure_bp) {
		snprintf(why, len,
			 "%.1f%% of %llu new %s flows failed in %u ms (ceiling %u.%02u%%)",
			 rc * 100, (unsigned long long)ro->last_samples[cand],
			 cand == ZDD_GREEN ? "green" : "blue", ro->pol.window_ms,
			 ro->pol.max_failure_bp / 100, ro->pol.max_failure_bp % 100);
		return true;
	}
	if (rc > ZDD_RO_ALLOWANCE && ro->last_samples[ro->stable] >= ro->pol.min_samples &&
	    rc > rs * ro->pol.max_ratio_to_blue) {
		snprintf(why, len,
			 "%s failure ratio %.1f%% is over %.1f x the stable pool's %.1f%%",
			 cand == ZDD_GREEN ? "green" : "blue", rc * 100, ro->pol.max_ratio_to_blue,
			 rs * 100);
		return true;
	}
	return false;
}

void zdd_rollout_tick(struct zdd_rollout *ro, const struct zdd_rollout_ops *ops,
		      const struct zdd_pool_counters *c, __u64 now_ms)
{
	enum zdd_hook_status hs;
	char why[192];

	if (zdd_hook_poll(&ro->post, now_ms) == ZDD_HOOK_FAILED && ro->post.pid) {
		ro->post.pid = 0; /* report once */
		event(ro, ops, now_ms, "hook failed: %s", ro->post.what);
	}
	if (!zdd_rollout_active(ro))
		return;
	/* Judged while the candidate has traffic: paused included. */
	if (ro->step >= 0 && judge(ro, c, now_ms, why, sizeof(why))) {
		record(ro, c, now_ms);
		roll_back(ro, ops, now_ms, why);
		return;
	}
	record(ro, c, now_ms);
	if (ro->state != ZDD_RO_RUNNING)
		return;
	if (ro->step_pending) {
		hs = zdd_hook_poll(&ro->pre, now_ms);
		if (hs == ZDD_HOOK_OK) {
			enter_step(ro, ops, now_ms);
		} else if (hs == ZDD_HOOK_FAILED) {
			set_weight(ro, ops, -1);
			finish(ro, ZDD_RO_ABORTED);
			event(ro, ops, now_ms, "aborted: pre-step hook of step %d failed: %s",
			      ro->step + 2, ro->pre.what);
		}
		return;
	}
	if (now_ms - ro->step_started_ms < ro->pol.interval_ms)
		return;
	if (ro->step == ro->pol.n_steps - 1)
		promote(ro, ops, now_ms);
	else
		request_next_step(ro, now_ms);
}
