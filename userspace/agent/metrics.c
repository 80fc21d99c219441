// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/metrics.c - see metrics.h. The maps are read into a snapshot first, then
 * written family by family: the format wants each family's samples together. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "addr.h"
#include "log.h"
#include "metrics.h"
#include "rollout.h"
#include "snapshot.h"

#define METRICS_CT_MAX_AGE_MS 5000

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct label {
	const char *name;
	const char *value;
};

static const struct {
	const char *name;
	const char *help;
	size_t off;
} backend_counters[] = {
	{ "zdd_backend_packets_total", "Client-to-server packets forwarded to the backend.",
	  offsetof(struct zdd_backend_stats, packets) },
	{ "zdd_backend_bytes_total",
	  "Client-to-server bytes (IP packets, before encapsulation) forwarded to the backend.",
	  offsetof(struct zdd_backend_stats, bytes) },
	{ "zdd_backend_flows_new_total",
	  "Flows assigned to the backend (a TCP SYN or the first packet of a UDP flow).",
	  offsetof(struct zdd_backend_stats, flows_new) },
	{ "zdd_backend_flows_established_total",
	  "TCP handshakes completed towards the backend (the client's first ACK).",
	  offsetof(struct zdd_backend_stats, flows_established) },
	{ "zdd_backend_syn_retransmits_total",
	  "Repeated SYNs of flows the backend has not answered yet.",
	  offsetof(struct zdd_backend_stats, syn_retransmits) },
	{ "zdd_backend_client_resets_total",
	  "Established TCP flows to the backend that the client reset (once per flow).",
	  offsetof(struct zdd_backend_stats, client_resets) },
};

/* The caller's keys may carry a non-zero pad: compare what identifies a service. */
static bool same_service(const struct zdd_service_key *a, const struct zdd_service_key *b)
{
	return !memcmp(a->addr, b->addr, sizeof(a->addr)) && a->port == b->port &&
	       a->proto == b->proto;
}

static const struct zdd_metrics_rollout *find_rollout(const struct zdd_metrics_view *v,
						      const struct zdd_service_key *key)
{
	size_t i;

	for (i = 0; v && i < v->n_rollouts; i++)
		if (same_service(&v->rollouts[i].svc, key))
			return &v->rollouts[i];
	return NULL;
}

static const struct zdd_metrics_health *find_health(const struct zdd_metrics_view *v,
						    const struct zdd_service_key *key,
						    const __u8 addr[16])
{
	size_t i;

	for (i = 0; v && i < v->n_health; i++)
		if (same_service(&v->health[i].svc, key) && !memcmp(v->health[i].addr, addr, 16))
			return &v->health[i];
	return NULL;
}

static bool known_state(const char *state)
{
	size_t i;

	for (i = 0; state && zdd_rollout_states[i]; i++)
		if (!strcmp(state, zdd_rollout_states[i]))
			return true;
	return false;
}

/* Escapes what the text format reserves: backslash and newline, and in label values the
 * double quote. */
static void put_escaped(FILE *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	put_escaped(f, help, false);
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

static void sample(FILE *f, const char *name, const struct label *l, size_t n, const char *value)
{
	size_t i;

	fputs(name, f);
	for (i = 0; i < n; i++) {
		fprintf(f, "%c%s=\"", i ? ',' : '{', l[i].name);
		put_escaped(f, l[i].value, true);
		fputc('"', f);
	}
	fprintf(f, "%s %s\n", n ? "}" : "", value);
}

static void sample_u64(FILE *f, const char *name, const struct label *l, size_t n, __u64 value)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)value);
	sample(f, name, l, n, num);
}

static __u64 step_of(const struct zdd_metrics_rollout *r)
{
	return r->step;
}

static __u64 generation_of(const struct zdd_metrics_rollout *r)
{
	return r->fleet_generation;
}

/* A gauge per service from its rollout (0 without one). */
static void rollout_gauge(FILE *f, const struct zdd_snap *sn, const struct zdd_metrics_view *v,
			  const char *name, const char *help,
			  __u64 (*get)(const struct zdd_metrics_rollout *r))
{
	const struct zdd_metrics_rollout *r;
	struct label l = { "service", NULL };
	size_t i;

	family(f, name, "gauge", help);
	for (i = 0; i < sn->n_svc; i++) {
		r = find_rollout(v, &sn->svc[i].s.key);
		l.value = sn->svc[i].name;
		sample_u64(f, name, &l, 1, r ? get(r) : 0);
	}
}

/* Basis points as a percentage without a float's rounding: 1250 -> "12.5". */
static void percent(char *buf, size_t len, unsigned int bp)
{
	unsigned int frac = bp % 100;

	if (!frac)
		snprintf(buf, len, "%u", bp / 100);
	else if (frac % 10 == 0)
		snprintf(buf, len, "%u.%u", bp / 100, frac / 10);
	else
		snprintf(buf, len, "%u.%02u", bp / 100, frac);
}

static const char *pool_name(__u8 pool)
{
	return pool == ZDD_GREEN ? "green" : "blue";
}

/* zdd_backend_check_up{...,check}: which of a backend's checks fails, where the agent runs
 * more than the one (a backend that answers at its own address and not through the tunnel
 * black-holes clients for a reason of its own). No family without a sample. */
static void render_checks_up(FILE *f, const struct zdd_snap *sn, const struct zdd_metrics_view *v)
{
	char addr[ZDD_ADDR_STRLEN];
	struct label l[4] = {
		{ "service", NULL }, { "pool", NULL }, { "backend", addr }, { "check", NULL }
	};
	const struct zdd_metrics_health *h;
	const struct zdd_snap_service *ss;
	bool any = false, head = false;
	size_t i, j;
	int c;

	for (i = 0; v && i < v->n_health; i++)
		for (c = 0; c < ZDD_HEALTH_CHECKS; c++)
			any |= v->health[i].check[c] != ZDD_HEALTH_UNKNOWN;
	for (i = 0; any && i < sn->n_svc; i++) {
		ss = &sn->svc[i];
		l[0].value = ss->name;
		for (j = 0; j < ss->n_be; j++) {
			h = find_health(v, &ss->s.key, ss->be[j].val.addr);
			for (c = 0; h && c < ZDD_HEALTH_CHECKS; c++) {
				if (h->check[c] == ZDD_HEALTH_UNKNOWN)
					continue;
				if (!head)
					family(f, "zdd_backend_check_up", "gauge",
					       "1 while one health check of the backend passes, 0 "
					       "while "
					       "it fails: the direct one (to its own address) and "
					       "the one "
					       "through the tunnel (as clients' packets go).");
				head = true;
				zdd_addr_format(ss->be[j].val.addr, addr, sizeof(addr));
				l[1].value = pool_name(ss->be[j].val.pool);
				l[3].value = zdd_health_check_name(c);
				sample_u64(f, "zdd_backend_check_up", l, 4,
					   h->check[c] == ZDD_HEALTH_UP);
			}
		}
	}
}

static void render_backends(FILE *f, const struct zdd_snap *sn, const struct zdd_metrics_view *v)
{
	char addr[ZDD_ADDR_STRLEN];
	struct label l[3] = { { "service", NULL }, { "pool", NULL }, { "backend", addr } };
	const struct zdd_metrics_health *h;
	const struct zdd_snap_service *ss;
	size_t c, i, j;
	__u64 val;

	for (c = 0; c < sizeof(backend_counters) / sizeof(backend_counters[0]); c++) {
		family(f, backend_counters[c].name, "counter", backend_counters[c].help);
		for (i = 0; i < sn->n_svc; i++) {
			ss = &sn->svc[i];
			l[0].value = ss->name;
			for (j = 0; j < ss->n_be; j++) {
				zdd_addr_format(ss->be[j].val.addr, addr, sizeof(addr));
				l[1].value = pool_name(ss->be[j].val.pool);
				memcpy(&val, (const char *)&ss->bst[j] + backend_counters[c].off,
				       sizeof(val));
				sample_u64(f, backend_counters[c].name, l, 3, val);
			}
		}
	}
	family(f, "zdd_backend_up", "gauge",
	       "1 when the backend takes traffic: its health check passes, or without a check, "
	       "its state is up (not drain or down).");
	for (i = 0; i < sn->n_svc; i++) {
		ss = &sn->svc[i];
		l[0].value = ss->name;
		for (j = 0; j < ss->n_be; j++) {
			zdd_addr_format(ss->be[j].val.addr, addr, sizeof(addr));
			l[1].value = pool_name(ss->be[j].val.pool);
			h = find_health(v, &ss->s.key, ss->be[j].val.addr);
			if (h)
				val = h->up ? 1 : 0;
			else
				val = ss->be[j].val.state == ZDD_BE_UP;
			sample_u64(f, "zdd_backend_up", l, 3, val);
		}
	}
	render_checks_up(f, sn, v);
}

static __u64 rollbacks_for(const struct zdd_metrics_rollout *r, const char *reason)
{
	int i;

	for (i = 0; r && i < ZDD_RO_REASONS; i++)
		if (!strcmp(r->rollbacks[i].reason, reason))
			return r->rollbacks[i].n;
	return 0;
}

static bool has_check(const struct zdd_metrics_rollout *r, const char *name)
{
	int i;

	for (i = 0; i < r->n_checks; i++)
		if (!strcmp(r->checks[i].name, name))
			return true;
	return false;
}

/* The L4 reasons and the rollout's checks always (a counter that exists before its first
 * increase), then the rest. */
static void render_rollbacks(FILE *f, struct label svc, const struct zdd_metrics_rollout *r)
{
	static const char *const l4[] = { ZDD_RO_REASON_HANDSHAKES, ZDD_RO_REASON_HEALTH,
					  ZDD_RO_REASON_HOOK };
	struct label l[2] = { svc, { "reason", NULL } };
	size_t i;

	for (i = 0; i < sizeof(l4) / sizeof(l4[0]); i++) {
		l[1].value = l4[i];
		sample_u64(f, "zdd_rollbacks_total", l, 2, rollbacks_for(r, l4[i]));
	}
	/* The rollout's checks, 0 until they roll back */
	for (i = 0; r && i < (size_t)r->n_checks; i++) {
		l[1].value = r->checks[i].name;
		sample_u64(f, "zdd_rollbacks_total", l, 2, rollbacks_for(r, r->checks[i].name));
	}
	/* and the checks of earlier configs that did */
	for (i = 0; r && i < ZDD_RO_REASONS && r->rollbacks[i].reason[0]; i++) {
		if (!strcmp(r->rollbacks[i].reason, ZDD_RO_REASON_HANDSHAKES) ||
		    !strcmp(r->rollbacks[i].reason, ZDD_RO_REASON_HEALTH) ||
		    !strcmp(r->rollbacks[i].reason, ZDD_RO_REASON_HOOK) ||
		    has_check(r, r->rollbacks[i].reason))
			continue;
		l[1].value = r->rollbacks[i].reason;
		sample_u64(f, "zdd_rollbacks_total", l, 2, r->rollbacks[i].n);
	}
}

/* zdd_analysis_value{service,check,pool} and zdd_analysis_evaluations_total{...,result}:
 * families only where a rollout has checks (no family without a sample). */
static void render_checks(FILE *f, const struct zdd_snap *sn, const struct zdd_metrics_view *v)
{
	static const char *const results[] = { "pass", "fail", "inconclusive" };
	const struct zdd_metrics_rollout *r;
	bool values = false, any = false;
	char value[32];
	size_t i;
	int c, p;

	for (i = 0; i < sn->n_svc; i++) {
		r = find_rollout(v, &sn->svc[i].s.key);
		for (c = 0; r && c < r->n_checks; c++) {
			any = true;
			values |= r->checks[c].has_value[0] || r->checks[c].has_value[1];
		}
	}
	if (values)
		family(f, "zdd_analysis_value", "gauge",
		       "The last value of a rollout's application check, per pool measured.");
	for (i = 0; values && i < sn->n_svc; i++) {
		r = find_rollout(v, &sn->svc[i].s.key);
		for (c = 0; r && c < r->n_checks; c++)
			for (p = 0; p < ZDD_POOLS; p++) {
				struct label l[3] = { { "service", sn->svc[i].name },
						      { "check", r->checks[c].name },
						      { "pool", pool_name(p) } };

				if (!r->checks[c].has_value[p])
					continue;
				snprintf(value, sizeof(value), "%.17g", r->checks[c].value[p]);
				sample(f, "zdd_analysis_value", l, 3, value);
			}
	}
	if (any)
		family(f, "zdd_analysis_evaluations_total", "counter",
		       "Evaluations of a rollout's application check, by result.");
	for (i = 0; any && i < sn->n_svc; i++) {
		r = find_rollout(v, &sn->svc[i].s.key);
		for (c = 0; r && c < r->n_checks; c++)
			for (p = 0; p < 3; p++) {
				struct label l[3] = { { "service", sn->svc[i].name },
						      { "check", r->checks[c].name },
						      { "result", results[p] } };

				sample_u64(f, "zdd_analysis_evaluations_total", l, 3,
					   r->checks[c].evaluations[p]);
			}
	}
}

/* One family of a per-service counter, the __u64 at off in struct zdd_service_stats. */
static void service_counter(FILE *f, const struct zdd_snap *sn, const char *name, const char *help,
			    size_t off)
{
	struct label l = { "service", NULL };
	__u64 v;
	size_t i;

	family(f, name, "counter", help);
	for (i = 0; i < sn->n_svc; i++) {
		l.value = sn->svc[i].name;
		memcpy(&v, (const char *)&sn->svc[i].st + off, sizeof(v));
		sample_u64(f, name, &l, 1, v);
	}
}

static void render_services(FILE *f, const struct zdd_snap *sn, const struct zdd_metrics_view *v)
{
	struct label l[2] = { { "service", NULL }, { "pool", NULL } };
	const struct zdd_metrics_rollout *r;
	unsigned int green;
	char num[16];
	size_t i, k;

	family(f, "zdd_service_weight", "gauge",
	       "Share of new clients sent to the pool, in percent.");
	for (i = 0; i < sn->n_svc; i++) {
		green = sn->svc[i].s.val.green_weight;
		if (green > ZDD_MAX_WEIGHT_BP)
			green = ZDD_MAX_WEIGHT_BP;
		l[0].value = sn->svc[i].name;
		l[1].value = "blue";
		percent(num, sizeof(num), ZDD_MAX_WEIGHT_BP - green);
		sample(f, "zdd_service_weight", l, 2, num);
		l[1].value = "green";
		percent(num, sizeof(num), green);
		sample(f, "zdd_service_weight", l, 2, num);
	}
	service_counter(f, sn, "zdd_service_conntrack_misses_total",
			"Non-SYN TCP packets of flows in no conntrack table.",
			offsetof(struct zdd_service_stats, conntrack_misses));
	service_counter(f, sn, "zdd_service_adopted_flows_total",
			"Flows one packet created (TCP misses, new UDP flows): a flood shows here.",
			offsetof(struct zdd_service_stats, adopted));
	service_counter(f, sn, "zdd_service_promoted_flows_total",
			"Adopted TCP flows proven live and moved to the established table.",
			offsetof(struct zdd_service_stats, promoted));
	rollout_gauge(f, sn, v, "zdd_rollout_step",
		      "1-based index of the rollout's current step; 0 without a rollout.", step_of);
	family(f, "zdd_rollout_state", "gauge",
	       "1 for the rollout's current state, 0 for the others.");
	for (i = 0; i < sn->n_svc; i++) {
		r = find_rollout(v, &sn->svc[i].s.key);
		l[0].value = sn->svc[i].name;
		for (k = 0; zdd_rollout_states[k]; k++) {
			struct label ls[2] = { l[0], { "state", zdd_rollout_states[k] } };

			sample_u64(f, "zdd_rollout_state", ls, 2,
				   !strcmp(r ? r->state : "idle", zdd_rollout_states[k]));
		}
	}
	family(f, "zdd_rollbacks_total", "counter",
	       "Rollbacks of the service since the agent's state began, by reason: handshakes, "
	       "health_check, pre_step_hook, or the application check's name.");
	for (i = 0; i < sn->n_svc; i++) {
		r = find_rollout(v, &sn->svc[i].s.key);
		l[0].value = sn->svc[i].name;
		render_rollbacks(f, l[0], r);
	}
	render_checks(f, sn, v);
}

/* The agent's loop: a slow Prometheus, a hung check or a lock must never make it late. */
static void render_ticks(FILE *f, const struct zdd_metrics_view *v)
{
	family(f, "zdd_agent_ticks_total", "counter",
	       "Rounds of the agent's 100 ms loop (rollout analysis, steps, rollbacks).");
	sample_u64(f, "zdd_agent_ticks_total", NULL, 0, v->ticks);
	family(f, "zdd_agent_ticks_late_total", "counter",
	       "Rounds of the agent's loop that came more than 150 ms after the one before.");
	sample_u64(f, "zdd_agent_ticks_late_total", NULL, 0, v->ticks_late);
	family(f, "zdd_next_hop_changes_total", "counter",
	       "Backends' next-hop MACs the agent rewrote after a neighbour or route change.");
	sample_u64(f, "zdd_next_hop_changes_total", NULL, 0, v->next_hop_changes);
}

/* A node in a fleet says whether it hears etcd, whether it drives, and how far behind it is. */
static void render_cluster(FILE *f, const struct zdd_snap *sn, const struct zdd_metrics_view *v)
{
	struct label l = { "stat", NULL };

	if (!v->cluster.on)
		return;
	family(f, "zdd_cluster_connected", "gauge",
	       "1 while etcd answers this node within its lease's TTL; 0: cut off, holding the "
	       "last applied weights (fail-static).");
	sample_u64(f, "zdd_cluster_connected", NULL, 0, v->cluster.connected);
	family(f, "zdd_cluster_is_leader", "gauge",
	       "1 on the one node that drives the fleet's rollouts.");
	sample_u64(f, "zdd_cluster_is_leader", NULL, 0, v->cluster.leader);
	rollout_gauge(f, sn, v, "zdd_cluster_applied_generation",
		      "Generation of the fleet's rollout record this node applied, per service.",
		      generation_of);
	family(f, "zdd_cluster_apply_delay_ms", "gauge",
	       "Milliseconds from the leader's commit of a record to this node's table swap: the "
	       "median of the last 256 (stat=\"p50\") and the largest since the start (\"max\").");
	l.value = "p50";
	sample_u64(f, "zdd_cluster_apply_delay_ms", &l, 1, v->cluster.delay_p50_ms);
	l.value = "max";
	sample_u64(f, "zdd_cluster_apply_delay_ms", &l, 1, v->cluster.delay_max_ms);
}

static void render_global(FILE *f, const struct zdd_snap *sn)
{
	struct label l;
	int r;

	family(f, "zdd_verdicts_total", "counter",
	       "Packets seen by the balancer, by the reason of their verdict.");
	l.name = "reason";
	for (r = 0; r < ZDD_R_MAX; r++) {
		l.value = zdd_reason_name(r);
		sample_u64(f, "zdd_verdicts_total", &l, 1, sn->reasons[r]);
	}
	family(f, "zdd_conntrack_entries", "gauge",
	       "Conntrack entries: embryonic (SYN seen, handshake open), established (handshake "
	       "seen, or adopted and proven live) and adopted (UDP, TCP first seen mid-stream).");
	l.name = "table";
	l.value = zdd_ct_table_name(ZDD_CT_EMBRYO);
	sample_u64(f, "zdd_conntrack_entries", &l, 1, sn->embryos);
	l.value = zdd_ct_table_name(ZDD_CT_FLOWS);
	sample_u64(f, "zdd_conntrack_entries", &l, 1, sn->flows);
	l.value = zdd_ct_table_name(ZDD_CT_ADOPTED);
	sample_u64(f, "zdd_conntrack_entries", &l, 1, sn->adopted);
}

int zdd_metrics_render(struct zdd *z, const struct zdd_metrics_view *v, char **buf, size_t *len)
{
	struct zdd_snap sn = {};
	char *text = NULL;
	size_t size = 0, i;
	FILE *f;
	int err;

	for (i = 0; v && i < v->n_rollouts; i++)
		if (!known_state(v->rollouts[i].state))
			return -EINVAL;
	/* The conntrack sizes, walked at most every few seconds: a walk of a million flows is
	 * slow, and Prometheus may scrape often. The other counters are read on every scrape. */
	err = zdd_snap_take(z, NULL, false, &sn)
		      ?: zdd_conntrack_count_recent(z, METRICS_CT_MAX_AGE_MS, &sn.embryos,
						    &sn.flows, &sn.adopted);
	if (err)
		goto out;
	f = open_memstream(&text, &size);
	if (!f) {
		err = -errno;
		goto out;
	}
	render_backends(f, &sn, v);
	render_services(f, &sn, v);
	render_global(f, &sn);
	if (v && v->agent) {
		render_ticks(f, v);
		render_cluster(f, &sn, v);
	}
	/* memstream writes fail only for lack of memory; the error sticks until fclose */
	if (ferror(f))
		err = -ENOMEM;
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (err) {
		free(text);
		goto out;
	}
	*buf = text;
	*len = size;
out:
	zdd_snap_free(&sn);
	return err;
}

/* --- the HTTP server --------------------------------------------------------------------- */

struct zdd_metrics_server {
	struct MHD_Daemon *d;
	zdd_metrics_fn fn;
	void *ctx;
	unsigned short port;
};

/* ADDR:PORT with a numeric address (no name lookups in the agent's start-up path). */
static int parse_listen(const char *s, struct sockaddr_storage *sa, socklen_t *sa_len)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
	struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
	char host[INET6_ADDRSTRLEN];
	const char *end, *port;
	unsigned long p;
	bool v6 = s[0] == '[';
	size_t n;

	if (v6) {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		s++;
		port = end + 2;
	} else {
		end = strchr(s, ':');
		if (!end)
			return -EINVAL;
		port = end + 1;
	}
	n = (size_t)(end - s);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	n = strlen(port);
	if (n == 0 || n > 5 || strspn(port, "0123456789") != n)
		return -EINVAL;
	p = strtoul(port, NULL, 10);
	if (p > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	if (v6) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((__u16)p);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -EINVAL;
		*sa_len = sizeof(*a6);
	} else {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((__u16)p);
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		*sa_len = sizeof(*a4);
	}
	return 0;
}

/* Our own socket rather than MHD's: a bind failure then has an errno to report, and port 0
 * has a getsockname() to tell the port. */
static int open_listener(const struct sockaddr_storage *sa, socklen_t sa_len, int *fd_out,
			 unsigned short *port)
{
	struct sockaddr_storage bound;
	socklen_t len = sizeof(bound);
	int fd, one = 1, err;

	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* a restarted agent rebinds at once, despite the old connections in TIME_WAIT */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)sa, sa_len) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&bound, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (bound.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	else
		*port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	*fd_out = fd;
	return 0;
}

/* MHD's messages concern single connections (a client gone, a malformed request): seen at -v. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	pr_info("metrics: %s\n", msg);
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int status, const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_GET);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **req)
{
	static int headers_seen; /* a marker: no per-request state is kept */
	struct zdd_metrics_server *s = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *buf = NULL;
	size_t len = 0;
	int err;

	(void)version;
	(void)upload;
	/* The first call has the headers only: answering then would leave a body unread. */
	if (!*req) {
		*req = &headers_seen;
		return MHD_YES;
	}
	if (*upload_len) {
		*upload_len = 0; /* no request body is ever used */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/metrics"))
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	err = s->fn(s->ctx, &buf, &len);
	if (!err && !buf && len)
		err = -EFAULT;
	if (err) {
		free(buf);
		log_err(err, "metrics: render");
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
	}
	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

int zdd_metrics_serve(struct zdd_metrics_server **out, const char *listen, zdd_metrics_fn fn,
		      void *ctx)
{
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	struct zdd_metrics_server *s;
	struct sockaddr_storage sa;
	socklen_t sa_len;
	int fd = -1, err;

	if (!out || !listen || !fn || parse_listen(listen, &sa, &sa_len))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fn = fn;
	s->ctx = ctx;
	err = open_listener(&sa, sa_len, &fd, &s->port);
	if (err) {
		free(s);
		return log_err(err, "metrics: listen on %s", listen);
	}
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* From here MHD owns fd: it closes it on stop, and on a failed start too. */
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER,
				mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
	if (!s->d) {
		free(s);
		return log_err(-EIO, "metrics: start the HTTP server on %s", listen);
	}
	*out = s;
	return 0;
}

unsigned short zdd_metrics_port(const struct zdd_metrics_server *s)
{
	return s ? s->port : 0;
}

void zdd_metrics_stop(struct zdd_metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s);
}
