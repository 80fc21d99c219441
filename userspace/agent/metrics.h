/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/metrics.h - the agent's /metrics: every series of DESIGN.md section 6 in the
 * Prometheus text format, and the small HTTP server that answers scrapes with it. */
#ifndef ZDD_METRICS_H
#define ZDD_METRICS_H

#include <stddef.h>
#include <linux/types.h>
#include "health.h"
#include "rollout.h"
#include "zdd.h"

/* One application check of a rollout: its last values and its evaluations so far. */
struct zdd_metrics_check {
	char name[64];
	bool has_value[ZDD_POOLS];
	double value[ZDD_POOLS];
	__u64 evaluations[3]; /* by enum zdd_an_result */
};

/* What only the agent knows, for the metrics that are not in the maps. Copies: the view is
 * rendered without the agent's lock. */
struct zdd_metrics_rollout {
	struct zdd_service_key svc;
	unsigned int step; /* 1-based index of the current step; 0: no rollout */
	const char *state; /* one of zdd_rollout_states[] */
	/* Rollbacks since the agent's state began, by reason (ZDD_RO_REASON_*, or a check's
	 * name); rows with an empty reason are unused. The L4 reasons are always shown. */
	struct zdd_ro_reason_count rollbacks[ZDD_RO_REASONS];
	struct zdd_metrics_check checks[ZDD_CONF_MAX_CHECKS];
	int n_checks;
	__u64 fleet_generation; /* of the fleet's record applied here; 0: none (or no fleet) */
};

/* The agent's place in a fleet (agent.cluster). */
struct zdd_metrics_cluster {
	bool on; /* the agent is in a fleet: the zdd_cluster_* families are shown */
	bool connected, leader;
	__u64 delay_p50_ms, delay_max_ms; /* commit -> applied here */
};

struct zdd_metrics_health {
	struct zdd_service_key svc;
	__u8 addr[16];
	int up; /* 1 up, 0 down (health check verdict) */
	/* Each check's own verdict, by enum zdd_health_check: UNKNOWN (no sample) while not run
	 * or not decided, as the tunnel's where it cannot be tried. */
	enum zdd_health_state check[ZDD_HEALTH_CHECKS];
};

struct zdd_metrics_view {
	const struct zdd_metrics_rollout *rollouts;
	size_t n_rollouts;
	const struct zdd_metrics_health *health; /* backends with a check */
	size_t n_health;
	bool agent; /* rendered by the agent: its loop's ticks below are shown */
	__u64 ticks, ticks_late;
	__u64 next_hop_changes; /* backend MACs rewritten after a neighbour or route change */
	struct zdd_metrics_cluster cluster;
};

/* The state names are the rollout controller's: zdd_rollout_states[] in rollout.h. */

/*
 * Renders every metric of DESIGN.md section 6 in the Prometheus text format 0.0.4 into a
 * malloc'd buffer (NUL-terminated; *len excludes the NUL). Series exist for the services in
 * the maps; view may be NULL (no rollouts, no health checks). A rollout whose state is not in
 * zdd_rollout_states[] is -EINVAL.
 */
int zdd_metrics_render(struct zdd *z, const struct zdd_metrics_view *v, char **buf, size_t *len);

/*
 * An HTTP server (libmicrohttpd, its own internal polling thread) answering GET /metrics with
 * the text the callback returns (a malloc'd buffer the server frees; the callback runs on the
 * server's thread and must do its own locking; an error from it is a 500), 404 elsewhere, 405
 * for other methods. listen is "ADDR:PORT", a numeric IPv4 address or an IPv6 one in brackets
 * ("127.0.0.1:9334", "[::1]:9334"); port 0 picks a free port (zdd_metrics_port tells which).
 * A malformed listen is -EINVAL; a bind failure its -errno.
 */
typedef int (*zdd_metrics_fn)(void *ctx, char **buf, size_t *len);
struct zdd_metrics_server;

int zdd_metrics_serve(struct zdd_metrics_server **out, const char *listen, zdd_metrics_fn fn,
		      void *ctx);
unsigned short zdd_metrics_port(const struct zdd_metrics_server *s);
/* Stops the server (waits for its thread) and frees it; NULL is a no-op. */
void zdd_metrics_stop(struct zdd_metrics_server *s);

#endif /* ZDD_METRICS_H */
