/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/agent.h - the agent's state, shared by its main loop, the control socket and
 * the state file. One thread owns it; the metrics thread reads it under lock. */
#ifndef ZDD_AGENT_H
#define ZDD_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include "conffile.h"
#include "health.h"
#include "rollout.h"
#include "zdd.h"

struct agent_backend_ref {
	struct zdd_service_key svc;
	__u8 addr[16];
};

struct agent_service {
	struct zdd_service_key key;
	struct zdd_rollout ro;
	__u32 cohort_next; /* the next handshake cohort to feed the rollout; 0: none yet */
	int file_green_bp; /* green_weight as the file has it (-1: unset), before any overlay */
};

struct agent {
	const char *conf_path;
	const char *pin_dir;
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
};

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

/* control.c: the root-only Unix socket of the rollout verbs. */
int agent_control_open(struct agent *a, const char *path);
void agent_control_accept(struct agent *a);
void agent_control_close(struct agent *a, const char *path);
/* The JSON status of every rollout, also used by the control socket's "status". */
struct json_object *agent_rollouts_json(struct agent *a);

#endif /* ZDD_AGENT_H */
