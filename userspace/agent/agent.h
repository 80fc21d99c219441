/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/agent.h - the agent's state, shared by its main loop, the control socket and
 * the state file. One thread owns it; the metrics thread reads it under lock. */
#ifndef ZDD_AGENT_H
#define ZDD_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include "addr.h"
#include "conffile.h"
#include "fleet.h"
#include "health.h"
#include "netlink.h"
#include "rollout.h"
#include "zdd.h"

struct agent_backend_ref {
	struct zdd_service_key svc;
	__u8 addr[16];
};

/* cluster.c's, per service. */
struct agent_fleet_service {
	char name[ZDD_SVC_STRLEN];     /* the service as the fleet's keys name it */
	__u64 generation;	       /* of the record applied here */
	__u64 tag, step_mono;	       /* the step as records name it; ro.step_started_ms then */
	struct zdd_fleet_outcomes own; /* this node's outcomes in the step */
	struct zdd_fleet_outcomes sum; /* the fleet's, as the leader last judged them */
	bool was_active;
};

struct agent_service {
	struct zdd_service_key key;
	struct zdd_rollout ro;
	struct agent_fleet_service fleet;
	__u32 cohort_next; /* the next handshake cohort to feed the rollout; 0: none yet */
	int file_green_bp; /* green_weight as the file has it (-1: unset), before any overlay */
};

struct agent {
	const char *conf_path;
	char pin_dir[256];
	struct zdd_conf *conf;
	struct zdd *z;
	struct zdd_health *health;
	struct zdd_analysis *analysis; /* the rollouts' application checks */
	struct agent_service *svcs;
	size_t n_svcs;
	pthread_mutex_t lock; /* everything above, against the metrics thread */
	int ctl_fd;
	bool drained;	       /* the operator withdrew this node */
	__u8 (*announced)[16]; /* addresses now on agent.announce_interface */
	size_t n_announced;
	struct agent_backend_ref *downed; /* backends down because their health check fails */
	size_t n_downed;
	__u64 ticks, ticks_late, last_tick_ms; /* the loop's period, kept: zdd_agent_ticks_* */
	int reload_fd;			       /* eventfd: the reload thread is done (reload.c) */
	pthread_t reload_thread;
	bool reloading, reload_again;
	struct zdd_etcd *etcd; /* agent.cluster: the fleet's (cluster.c); NULL alone */
	struct zdd_fleet *fleet;
	bool fleet_synced;	       /* leading, with the records read: it may drive */
	bool fleet_reading;	       /* the read is in flight */
	bool fleet_connected;	       /* as last logged */
	bool fleet_drove;	       /* agent_cluster_drives() at the last run */
	struct zdd_nl_watch *nl_watch; /* neighbour and route changes (nexthop.c); NULL: none */
	bool nexthop_due;
	__u64 nexthop_last_ms;
	__u64 next_hop_changes; /* backend MACs rewritten: zdd_next_hop_changes_total */
};

/* A log line with the time, as every event of the agent's. */
void agent_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic milliseconds: the clock of every timer in the agent. */
__u64 agent_now_ms(void);
struct agent_service *agent_find(struct agent *a, const struct zdd_service_key *key);
const struct zdd_conf_service *agent_conf_service(const struct agent *a,
						  const struct zdd_service_key *key);
bool agent_health_downed(struct agent *a, const struct zdd_service_key *svc, const __u8 addr[16],
			 bool set);
extern const struct zdd_rollout_ops *agent_ro_ops(struct agent *a);

/* main.c: parse, plan, apply FILE; a bad file or an impossible plan changes nothing. */
int agent_config_load(struct agent *a, bool first);

/* reload.c: SIGHUP resolves the file's next hops in a thread, then the loop applies it. */
int agent_reload_open(struct agent *a);
void agent_reload_request(struct agent *a);
void agent_reload_ready(struct agent *a); /* reload_fd is readable */
void agent_reload_close(struct agent *a);

/* outcomes.c: the handshake outcomes of the cohorts closed since the last call, to s->ro. */
void agent_feed_outcomes(struct agent *a, struct agent_service *s, __u64 now_ms);

/* privs.c: after setup, only CAP_BPF stays (and CAP_NET_ADMIN when announcing). */
int agent_drop_privileges(bool keep_net_admin);

/* announce.c: on, the service addresses are on the announce interface (none while drained);
 * off, they are gone, and the routers stop sending this node new flows. */
int agent_announce(struct agent *a, bool on);

/* state.c: rollouts survive a restart of the agent. */
int agent_state_save(struct agent *a);
int agent_state_load(struct agent *a);

/* nexthop.c: each backend's next-hop MAC follows the neighbour and route tables. */
int agent_nexthop_open(struct agent *a);
void agent_nexthop_close(struct agent *a);
int agent_nexthop_fd(const struct agent *a);
void agent_nexthop_event(struct agent *a); /* its fd is readable */
void agent_nexthop_tick(struct agent *a, __u64 now);

/* cluster.c: one edge node of a fleet (agent.cluster); each is a no-op without one. */
int agent_cluster_open(struct agent *a);
void agent_cluster_close(struct agent *a);
int agent_cluster_fd(const struct agent *a);
int agent_cluster_timeout_ms(const struct agent *a);
/* From the loop, under the lock: etcd's answers, watches and publishing. */
void agent_cluster_run(struct agent *a);
/* Every tick, for each service: outcomes counted and published; the leader drives. */
void agent_cluster_tick(struct agent *a, struct agent_service *s,
			const struct zdd_pool_health h[ZDD_POOLS], __u64 now);
/* This agent's controllers drive: alone, or leading the fleet with its records read. */
bool agent_cluster_drives(const struct agent *a);
const struct zdd_rollout_ops *agent_cluster_ro_ops(struct agent *a);
/* The leader writes every service whose controller moved on from its record. */
void agent_cluster_flush(struct agent *a);
struct zdd_ctl_req;
struct json_object;
/* A rollout verb on a node that does not drive: handed to the leader through etcd. */
struct json_object *agent_cluster_forward(struct agent *a, const char *text);
void agent_cluster_json(struct agent *a, struct agent_service *s, struct json_object *o);
struct zdd_metrics_cluster;
void agent_cluster_metrics(struct agent *a, struct zdd_metrics_cluster *m);

/* control.c: the root-only Unix socket of the rollout verbs. */
struct json_object *agent_control_handle(struct agent *a, const struct zdd_ctl_req *req);
int agent_control_open(struct agent *a, const char *path);
void agent_control_accept(struct agent *a);
void agent_control_close(struct agent *a, const char *path);
/* The JSON status of every rollout, also used by the control socket's "status". */
struct json_object *agent_rollouts_json(struct agent *a);

#endif /* ZDD_AGENT_H */
