/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/health.h - active health checks (TCP connect, HTTP GET) for the agent's epoll
 * loop: every probe is a non-blocking socket with its own timeout, all probes run in parallel,
 * so one hung backend never delays the checks of the others. */
#ifndef ZDD_HEALTH_H
#define ZDD_HEALTH_H

#include <stddef.h>
#include <linux/types.h>
#include "zdd_abi.h"
#include "conffile.h"

enum zdd_health_state { ZDD_HEALTH_UNKNOWN, ZDD_HEALTH_UP, ZDD_HEALTH_DOWN };

struct zdd_health_target {
	struct zdd_service_key svc;  /* identifies the target together with addr */
	__u8 addr[16];		     /* backend address (IPv4-mapped for IPv4) */
	struct zdd_conf_check check; /* port 0: the service port */
};

/*
 * Called on every state change, UNKNOWN->UP and UNKNOWN->DOWN included, from inside
 * zdd_health_run(). t is valid during the call only. The callback must not call
 * zdd_health_set_targets() (it fails with -EBUSY) nor zdd_health_free().
 */
typedef void (*zdd_health_cb)(void *ctx, const struct zdd_health_target *t,
			      enum zdd_health_state s);

struct zdd_health;

/* 0 with *out allocated, or -errno. cb may be NULL (then poll with zdd_health_get()). */
int zdd_health_new(struct zdd_health **out, zdd_health_cb cb, void *ctx);
/* Closes every probe socket. NULL is fine. */
void zdd_health_free(struct zdd_health *h);

/*
 * Replaces the target set, all or nothing. Targets with the same (svc, addr, check) keep their
 * state, counters and running probe; the others start UNKNOWN with a probe due at once; the
 * removed ones are dropped silently (no callback). Targets of type ZDD_CHECK_NONE are ignored.
 * -EINVAL on a bad check (interval, timeout, rise or fall 0; bad path or status; no port), a
 * zero address or the same (svc, addr) twice; -ENOMEM; -EBUSY from inside the callback.
 */
int zdd_health_set_targets(struct zdd_health *h, const struct zdd_health_target *t, size_t n);

/* An epoll fd: readable when a probe socket has something to do. */
int zdd_health_fd(const struct zdd_health *h);
/* Milliseconds until the next probe start or timeout (0: overdue), -1 when there is none. */
int zdd_health_timeout_ms(const struct zdd_health *h);
/*
 * Starts due probes, advances those with socket events, fails timed-out ones and calls the
 * callback on state changes. Never blocks. 0, or -errno when epoll itself fails; a probe's
 * failure to even start (out of fds) is logged and retried at the next interval, uncounted.
 */
int zdd_health_run(struct zdd_health *h);
/* UNKNOWN too for a target that is not in the set. */
enum zdd_health_state zdd_health_get(const struct zdd_health *h, const struct zdd_service_key *svc,
				     const __u8 addr[16]);

#endif /* ZDD_HEALTH_H */
