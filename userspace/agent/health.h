/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/health.h - active health checks (TCP connect, HTTP GET) for the agent's epoll
 * loop: every probe is a non-blocking socket with its own timeout, all probes run in parallel,
 * so one hung backend never delays the checks of the others. With the tunnel on, each backend
 * is checked twice: directly at its own address, and through the tunnel as clients reach it. */
#ifndef ZDD_HEALTH_H
#define ZDD_HEALTH_H

#include <stddef.h>
#include <linux/types.h>
#include "zdd_abi.h"
#include "conffile.h"
#include "zdd.h"

enum zdd_health_state { ZDD_HEALTH_UNKNOWN, ZDD_HEALTH_UP, ZDD_HEALTH_DOWN };

/*
 * The two checks of a backend. DIRECT: the check as configured, to the backend's own address.
 * TUNNEL: the same check to the service address (and the check's port) from this node,
 * through the balancer's tunnel to that backend, answered by direct server return: it fails
 * when the backend cannot take the tunnel (no zdd_decap, a wrong next-hop MAC, a path that
 * drops what the tunnel adds). A backend is up when both pass.
 */
enum zdd_health_check { ZDD_HEALTH_DIRECT, ZDD_HEALTH_TUNNEL, ZDD_HEALTH_CHECKS };

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
/* One of the target's checks; UNKNOWN until it has decided, and for the tunnel check while the
 * tunnel is off or cannot be tried (the service address is local here). */
enum zdd_health_state zdd_health_get_check(const struct zdd_health *h,
					   const struct zdd_service_key *svc, const __u8 addr[16],
					   enum zdd_health_check which);
/* Why the check fails ("Connection refused", "status 503, expected 200"): the last failure's,
 * "" while it does not fail. */
const char *zdd_health_check_why(const struct zdd_health *h, const struct zdd_service_key *svc,
				 const __u8 addr[16], enum zdd_health_check which);
/* The name of a check, "direct" or "tunnel", for logs and metrics labels. */
const char *zdd_health_check_name(enum zdd_health_check which);

/*
 * How tunnel probes reach their backend. add: before the probe connects, the packets of flow
 * (the probe socket's, keyed as the balancer keys clients' flows) are to go to target t's
 * backend; *hint is the implementation's, kept per target (ZDD_NO_BACKEND at first). Returns
 * 0, ZDD_HEALTH_TUNNEL_NA when the tunnel cannot be tried to that service address from here
 * (the check does not count), or -errno (this node's trouble: the probe is skipped, not
 * failed). del: after the probe's socket is closed.
 */
#define ZDD_HEALTH_TUNNEL_NA 1
struct zdd_health_tunnel_ops {
	int (*add)(void *ctx, const struct zdd_flow_key *flow, const struct zdd_health_target *t,
		   __u32 *hint);
	void (*del)(void *ctx, const struct zdd_flow_key *flow);
	void *ctx;
	/* The largest packet the tunnel carries, its header included (the balancer's MTU): an
	 * HTTP tunnel probe's request fills one, so a path that drops full-size tunnelled
	 * packets fails the check. 0: requests as the direct ones. */
	__u32 mtu;
};

/*
 * Turns the tunnel checks on with ops (copied), or off (NULL); running probes finish first.
 * -EBUSY from inside the callback.
 */
int zdd_health_set_tunnel(struct zdd_health *h, const struct zdd_health_tunnel_ops *ops);
/*
 * Turns them on through the balancer z: bpf/zdd_hcheck.bpf.c on the egress of the interface
 * the balancer is attached to (zdd_config.ifindex), detached by zdd_health_free(). Needs
 * CAP_BPF and CAP_NET_ADMIN (call it before dropping them). Logs why and returns -errno when
 * it cannot (the balancer attached nowhere, no BPF link): the direct checks go on alone.
 */
int zdd_health_tunnel(struct zdd_health *h, struct zdd *z);

#endif /* ZDD_HEALTH_H */
