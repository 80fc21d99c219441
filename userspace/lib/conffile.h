/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/conffile.h - zdd.yaml, the one config format of `zdd-bpfctl apply -f` and
 * `zdd-agent -c`: parsed and validated into plain structs, defaults filled. Touches no map. */
#ifndef ZDD_CONFFILE_H
#define ZDD_CONFFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "zdd_abi.h"

#define ZDD_CONF_MAX_STEPS 32
#define ZDD_CONF_MAX_ARGV  16

#define ZDD_CONF_DEF_METRICS	    "127.0.0.1:9334"
#define ZDD_CONF_DEF_CONTROL_SOCKET "/run/zdd/agent.sock"
#define ZDD_CONF_DEF_STATE_FILE	    "/var/lib/zdd/state.json"

enum zdd_check_type { ZDD_CHECK_NONE, ZDD_CHECK_TCP, ZDD_CHECK_HTTP };

struct zdd_conf_backend {
	__u8 addr[16]; /* IPv4 mapped, like every address in libzdd */
	__u8 pool;     /* enum zdd_pool */
	__u8 state;    /* enum zdd_backend_state: UP, DRAIN or DOWN */
	__u16 weight;
	int line; /* 1-based line of the backend's mapping in the file */
};

/* Defaults are filled even when type is ZDD_CHECK_NONE. */
struct zdd_conf_check {
	enum zdd_check_type type;
	__u16 port; /* host byte order; default: the service port */
	char path[256];
	int expect_status;
	__u32 interval_ms, timeout_ms, rise, fall;
};

/* NULL-terminated argv vectors (no shell); argv[0] == NULL: no hook. */
struct zdd_conf_hooks {
	char *pre_step[ZDD_CONF_MAX_ARGV + 1];
	char *post_promote[ZDD_CONF_MAX_ARGV + 1];
	char *post_rollback[ZDD_CONF_MAX_ARGV + 1];
	__u32 timeout_ms;
};

#define ZDD_CONF_MAX_CHECKS 16

enum zdd_an_kind { ZDD_AN_PROMETHEUS, ZDD_AN_WEB };

/* The placeholders of analysis strings: zdd_an_vars[ZDD_AN_POOL] is "{{pool}}". */
enum zdd_an_var { ZDD_AN_SERVICE, ZDD_AN_POOL, ZDD_AN_WINDOW, ZDD_AN_VARS };
extern const char *const zdd_an_vars[ZDD_AN_VARS];

/*
 * One check of rollout.analysis: a number from the application's own metrics, judged for the
 * candidate pool (and, with compare_blue, for the stable pool by the same query or request)
 * against thresholds. Strings may hold {{service}}, {{pool}} and {{window}}, substituted per
 * evaluation (pool: "blue" or "green"; window: the check's window as Prometheus writes it).
 */
struct zdd_conf_analysis {
	char name[64]; /* unique in the rollout; the metrics' check label */
	enum zdd_an_kind kind;
	char address[256]; /* prometheus: http://host:port, maybe a /prefix */
	char query[2048];  /* prometheus: PromQL returning one number */
	char url[512];	   /* web: http://host:port/path answering JSON */
	char method[8];	   /* web: GET (default) or POST; "" for prometheus */
	char body[2048];   /* web: POST body */
	char field[128];   /* web: dotted path of the number; "": the answer */
	__u32 window_ms;   /* {{window}} (default 30s) */
	__u32 interval_ms; /* between evaluations (default 1s) */
	__u32 timeout_ms;  /* of a request, <= interval (default: it, at most 10s) */
	bool has_max, has_min, has_ratio;
	double max, min;	  /* the candidate's value must stay within */
	double max_ratio_to_blue; /* and at most this many times the stable pool's value */
	bool compare_blue;	  /* query the stable pool too (implied by max_ratio_to_blue) */
	__u32 failure_limit;	  /* consecutive failed evaluations that roll back (default 2) */
	__u32 inconclusive_limit; /* consecutive inconclusive ones that pause (default 3) */
	int line;
};

/* Defaults are filled even when the section is absent (present == false). */
struct zdd_conf_rollout {
	bool present;
	__u16 steps_bp[ZDD_CONF_MAX_STEPS]; /* strictly increasing, the last is 10000 */
	int n_steps;
	__u32 interval_ms, handshake_timeout_ms, min_samples;
	__u32 max_extension_ms; /* how long a step may wait for evidence past its dwell */
	__u16 max_failure_bp;
	__u16 confidence_bp; /* of each rollout's handshake verdicts: 9000..9999 */
	double max_ratio_to_blue;
	struct zdd_conf_hooks hooks;
	struct zdd_conf_analysis *analysis; /* n_analysis checks, malloc'd; NULL when none */
	int n_analysis;
};

struct zdd_conf_service {
	struct zdd_service_key key;
	__u8 affinity;	     /* enum zdd_affinity */
	__u8 client_prefix4; /* 0..32, default 32 */
	__u8 client_prefix6; /* 0..128, default 64 */
	int green_bp;	     /* 0..10000; -1: unset, leave the weight as it is */
	struct zdd_conf_backend *backends;
	size_t n_backends;
	struct zdd_conf_check check;
	struct zdd_conf_rollout rollout;
	int line;
};

#define ZDD_CONF_MAX_ENDPOINTS 8

/* agent.cluster: the edge nodes of a fleet run one rollout, coordinated through etcd. The
 * agent of such a node keeps this file in its pin directory: zdd-bpfctl then refuses local
 * weight changes, which the fleet's next record would undo. */
#define ZDD_CLUSTER_MARKER "cluster"
struct zdd_conf_cluster {
	bool present;
	char endpoints[ZDD_CONF_MAX_ENDPOINTS][128]; /* http://HOST:PORT of etcd members */
	int n_endpoints;
	char prefix[128];   /* of every key zdd writes; default /zdd/ */
	char node[64];	    /* this node's name in the fleet; default the host name */
	__u32 lease_ttl_ms; /* of this node's lease (leadership, liveness); default 3 s */
	/* https endpoints: the CA to trust ("": the system's), a client certificate and its key
	 * ("": none). */
	char ca[256], cert[256], key[256];
};

/* Filled with defaults even when the file has no agent section; interface "" = unset. */
struct zdd_conf_agent {
	char interface[16];
	char announce_interface[16]; /* "" = none; else the service addresses live there */
	char pin_dir[256];
	char metrics[64]; /* ADDR:PORT, IPv6 in brackets */
	char control_socket[108];
	char state_file[256];
	struct zdd_conf_cluster cluster;
};

struct zdd_conf {
	struct zdd_conf_agent agent;
	struct zdd_conf_service *services;
	size_t n_services;
};

/*
 * Returns 0 with *out allocated, or -EINVAL/-ENOENT/-ENOMEM (or another -errno from opening
 * the file) with err = "FILE:LINE: reason", or "FILE: reason" when no line applies. The whole
 * file is rejected on the first error. Never prints.
 */
int zdd_conf_load(const char *path, struct zdd_conf **out, char *err, size_t errlen);
/* Same from memory (name is used in messages); for tests and the fuzzer. */
int zdd_conf_parse(const char *name, const char *data, size_t len, struct zdd_conf **out, char *err,
		   size_t errlen);
void zdd_conf_free(struct zdd_conf *c);

/* Percent with at most two decimals ("12.5", "100", "0.01") -> basis points; else -EINVAL. */
int zdd_percent_parse(const char *s, __u16 *bp);
/* "500ms", "1.5s", "2m", "3" (seconds) -> milliseconds; -EINVAL on garbage, a fraction of a
 * millisecond, or more than UINT32_MAX ms. */
int zdd_duration_parse(const char *s, __u32 *ms);

#endif /* ZDD_CONFFILE_H */
