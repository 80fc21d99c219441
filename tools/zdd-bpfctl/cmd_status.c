// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_status.c - status (what is configured, with its main counters) and
 * stats (every counter; --watch prints rates). Both read one snapshot of the maps. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "conffile.h"
#include "ctl.h"
#include "snapshot.h"

/* The agent's health verdict of backend addr of svc ({"state", "checks"}), NULL when the agent
 * did not answer or does not check it. */
static struct json_object *agent_health(struct json_object *health, const char *svc,
					const char *addr)
{
	struct json_object *e, *v;
	size_t i;

	for (i = 0; health && i < json_object_array_length(health); i++) {
		e = json_object_array_get_idx(health, i);
		if (json_object_object_get_ex(e, "service", &v) &&
		    !strcmp(json_object_get_string(v), svc) &&
		    json_object_object_get_ex(e, "backend", &v) &&
		    !strcmp(json_object_get_string(v), addr))
			return e;
	}
	return NULL;
}

static struct json_object *backend_json(const struct zdd_backend_val *b,
					const struct zdd_backend_stats *st, struct json_object *hl)
{
	struct json_object *o = json_object_new_object(), *c;
	char host[ZDD_ADDR_STRLEN];

	zdd_addr_format(b->addr, host, sizeof(host));
	json_object_object_add(o, "address", json_object_new_string(host));
	json_object_object_add(o, "pool", json_object_new_string(ctl_pool_name(b->pool)));
	json_object_object_add(o, "state", json_object_new_string(ctl_state_name(b->state)));
	json_object_object_add(o, "weight", json_object_new_int(b->weight));
	json_object_object_add(o, "packets", json_object_new_uint64(st->packets));
	json_object_object_add(o, "bytes", json_object_new_uint64(st->bytes));
	json_object_object_add(o, "flows_new", json_object_new_uint64(st->flows_new));
	json_object_object_add(o, "flows_established",
			       json_object_new_uint64(st->flows_established));
	json_object_object_add(o, "syn_retransmits", json_object_new_uint64(st->syn_retransmits));
	json_object_object_add(o, "client_resets", json_object_new_uint64(st->client_resets));
	if (hl && json_object_object_get_ex(hl, "checks", &c))
		json_object_object_add(o, "checks", json_object_get(c));
	return o;
}

static struct json_object *snap_json(const struct zdd_snap *s, bool with_reasons,
				     struct json_object *health)
{
	struct json_object *root = json_object_new_object(), *svcs = json_object_new_array();
	char name[ZDD_SVC_STRLEN];
	size_t i, j;

	for (i = 0; i < s->n_svc; i++) {
		const struct zdd_snap_service *ss = &s->svc[i];
		struct json_object *o = json_object_new_object(), *bes = json_object_new_array();

		zdd_service_format(&ss->s.key, name, sizeof(name));
		json_object_object_add(o, "service", json_object_new_string(name));
		json_object_object_add(o, "generation",
				       json_object_new_int64(ss->s.val.generation));
		json_object_object_add(o, "affinity",
				       json_object_new_string(ss->s.val.affinity == ZDD_AFF_FLOW
								      ? "flow"
								      : "client"));
		json_object_object_add(o, "green_weight_pct",
				       json_object_new_double(ss->s.val.green_weight / 100.0));
		json_object_object_add(o, "conntrack_misses",
				       json_object_new_uint64(ss->st.conntrack_misses));
		json_object_object_add(o, "adopted", json_object_new_uint64(ss->st.adopted));
		json_object_object_add(o, "promoted", json_object_new_uint64(ss->st.promoted));
		for (j = 0; j < ss->n_be; j++) {
			char host[ZDD_ADDR_STRLEN];

			zdd_addr_format(ss->be[j].val.addr, host, sizeof(host));
			json_object_array_add(bes, backend_json(&ss->be[j].val, &ss->bst[j],
								agent_health(health, name, host)));
		}
		json_object_object_add(o, "backends", bes);
		json_object_array_add(svcs, o);
	}
	json_object_object_add(root, "services", svcs);
	if (with_reasons) {
		struct json_object *r = json_object_new_object(), *ct = json_object_new_object();

		for (i = 0; i < ZDD_R_MAX; i++)
			json_object_object_add(r, zdd_reason_name(i),
					       json_object_new_uint64(s->reasons[i]));
		json_object_object_add(root, "reasons", r);
		json_object_object_add(ct, "embryonic", json_object_new_uint64(s->embryos));
		json_object_object_add(ct, "established", json_object_new_uint64(s->flows));
		json_object_object_add(ct, "adopted", json_object_new_uint64(s->adopted));
		json_object_object_add(root, "conntrack", ct);
	}
	return root;
}

/* Handshakes that never completed, over those started: the failure signal of DESIGN 4. */
static double unestablished_pct(const struct zdd_backend_stats *st)
{
	if (!st->flows_new || st->flows_established >= st->flows_new)
		return 0;
	return 100.0 * (st->flows_new - st->flows_established) / st->flows_new;
}

/* Under a backend the agent's checks fail for: which one, and why ("tunnel check fails
 * (Connection refused); direct check passes"). */
static void print_checks(struct json_object *hl)
{
	static const char *const names[] = { "direct", "tunnel" };
	struct json_object *checks, *c, *v;
	const char *sep = "";
	bool failing = false;
	size_t i;

	if (!hl || !json_object_object_get_ex(hl, "checks", &checks))
		return;
	for (i = 0; i < 2; i++)
		failing |= json_object_object_get_ex(checks, names[i], &c) &&
			   json_object_object_get_ex(c, "state", &v) &&
			   !strcmp(json_object_get_string(v), "down");
	if (!failing)
		return;
	printf("        health: ");
	for (i = 0; i < 2; i++) {
		if (!json_object_object_get_ex(checks, names[i], &c) ||
		    !json_object_object_get_ex(c, "state", &v))
			continue;
		if (!strcmp(json_object_get_string(v), "down")) {
			json_object_object_get_ex(c, "why", &v);
			printf("%s%s check fails (%s)", sep, names[i], json_object_get_string(v));
		} else {
			printf("%s%s check %s", sep, names[i],
			       !strcmp(json_object_get_string(v), "up") ? "passes" : "undecided");
		}
		sep = "; ";
	}
	printf("\n");
}

static void print_status(const struct zdd_snap *s, struct json_object *health)
{
	char name[ZDD_SVC_STRLEN], host[ZDD_ADDR_STRLEN], pk[16], by[16], nw[16], es[16];
	size_t i, j;

	if (!s->n_svc)
		printf("no services\n");
	for (i = 0; i < s->n_svc; i++) {
		const struct zdd_snap_service *ss = &s->svc[i];
		unsigned int g = ss->s.val.green_weight;

		zdd_service_format(&ss->s.key, name, sizeof(name));
		printf("%s%s  green %u.%02u%%  blue %u.%02u%%  affinity %s  generation %u  "
		       "conntrack misses %llu  adopted %llu  promoted %llu\n",
		       i ? "\n" : "", name, g / 100, g % 100, (10000 - g) / 100, (10000 - g) % 100,
		       ss->s.val.affinity == ZDD_AFF_FLOW ? "flow" : "client", ss->s.val.generation,
		       (unsigned long long)ss->st.conntrack_misses,
		       (unsigned long long)ss->st.adopted, (unsigned long long)ss->st.promoted);
		if (!ss->n_be) {
			printf("  no backends\n");
			continue;
		}
		printf("  %-5s %-24s %-5s %6s %8s %10s %8s %8s %8s %7s %8s\n", "POOL", "BACKEND",
		       "STATE", "WEIGHT", "PACKETS", "BYTES", "FLOWS", "ESTAB", "SYN-RETX",
		       "RESETS", "UNESTAB");
		for (j = 0; j < ss->n_be; j++) {
			const struct zdd_backend_val *b = &ss->be[j].val;
			const struct zdd_backend_stats *st = &ss->bst[j];

			zdd_addr_format(b->addr, host, sizeof(host));
			ctl_fmt_count(st->packets, pk, sizeof(pk));
			ctl_fmt_bytes(st->bytes, by, sizeof(by));
			ctl_fmt_count(st->flows_new, nw, sizeof(nw));
			ctl_fmt_count(st->flows_established, es, sizeof(es));
			printf("  %-5s %-24s %-5s %6u %8s %10s %8s %8s %8llu %7llu %7.1f%%\n",
			       ctl_pool_name(b->pool), host, ctl_state_name(b->state), b->weight,
			       pk, by, nw, es, (unsigned long long)st->syn_retransmits,
			       (unsigned long long)st->client_resets, unestablished_pct(st));
			print_checks(agent_health(health, name, host));
		}
	}
}

static int parse_filter(const struct cmd *cmd, int argc, char **argv, struct zdd_service_key *key,
			const struct zdd_service_key **filter)
{
	*filter = NULL;
	if (optind == argc)
		return 0;
	if (optind != argc - 1)
		return ctl_usage_error(cmd, "at most one SVC");
	if (ctl_parse_service(cmd, argv[optind], key))
		return EXIT_USAGE;
	*filter = key;
	return 0;
}

/* The agent's health verdicts, when one runs here (its socket exists): the maps say a backend
 * is down, the agent says which check took it down. */
static struct json_object *ask_health(const char *sock)
{
	struct json_object *req, *ans, *h = NULL;

	if (access(sock, F_OK))
		return NULL;
	req = json_object_new_object();
	json_object_object_add(req, "verb", json_object_new_string("status"));
	ans = ctl_agent_ask(sock, req);
	json_object_put(req);
	if (ans && json_object_object_get_ex(ans, "health", &h))
		json_object_get(h);
	json_object_put(ans);
	return h;
}

int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *cmd = ctl_find_cmd("status");
	const char *sock = ZDD_CONF_DEF_CONTROL_SOCKET;
	const struct zdd_service_key *filter;
	struct json_object *health;
	struct zdd_service_key key;
	struct zdd_snap s;
	struct zdd *z;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'S')
			return ctl_usage_error(cmd, "unknown option");
		sock = optarg;
	}
	if (parse_filter(cmd, argc, argv, &key, &filter))
		return EXIT_USAGE;
	if (ctl_open(ctl, &z))
		return EXIT_FAIL;
	err = zdd_snap_take(z, filter, false, &s);
	zdd_close(z);
	if (err)
		return EXIT_FAIL;
	if (filter && !s.n_svc) {
		fprintf(stderr, "zdd-bpfctl status: no service %s\n", argv[optind]);
		zdd_snap_free(&s);
		return EXIT_FAIL;
	}
	health = ask_health(sock);
	if (ctl->json)
		ctl_json_print(snap_json(&s, false, health));
	else
		print_status(&s, health);
	json_object_put(health);
	zdd_snap_free(&s);
	return EXIT_OK;
}

static void print_stats(const struct zdd_snap *s, const struct zdd_snap *prev, double secs)
{
	char name[ZDD_SVC_STRLEN], host[ZDD_ADDR_STRLEN];
	size_t i, j, r;
	/* With a previous snapshot, per-second rates of the same counters. */
#define RATE(now, then) (prev ? ((now) - (then)) / secs : (double)(now))

	for (i = 0; i < s->n_svc; i++) {
		const struct zdd_snap_service *ss = &s->svc[i];
		const struct zdd_snap_service *ps = prev && i < prev->n_svc ? &prev->svc[i] : NULL;

		zdd_service_format(&ss->s.key, name, sizeof(name));
		printf("%s\n  %-5s %-24s %12s %12s %10s %10s %10s %10s\n", name, "POOL", "BACKEND",
		       prev ? "PACKETS/s" : "PACKETS", prev ? "BYTES/s" : "BYTES",
		       prev ? "FLOWS/s" : "FLOWS", prev ? "ESTAB/s" : "ESTAB",
		       prev ? "SYNRETX/s" : "SYN-RETX", prev ? "RESETS/s" : "RESETS");
		for (j = 0; j < ss->n_be; j++) {
			const struct zdd_backend_stats *st = &ss->bst[j];
			const struct zdd_backend_stats *pt = ps && j < ps->n_be ? &ps->bst[j] : st;

			zdd_addr_format(ss->be[j].val.addr, host, sizeof(host));
			printf("  %-5s %-24s %12.0f %12.0f %10.0f %10.0f %10.0f %10.0f\n",
			       ctl_pool_name(ss->be[j].val.pool), host,
			       RATE(st->packets, pt->packets), RATE(st->bytes, pt->bytes),
			       RATE(st->flows_new, pt->flows_new),
			       RATE(st->flows_established, pt->flows_established),
			       RATE(st->syn_retransmits, pt->syn_retransmits),
			       RATE(st->client_resets, pt->client_resets));
		}
	}
	printf("verdicts%s:\n", prev ? " per second" : "");
	for (r = 0; r < ZDD_R_MAX; r++)
		printf("  %-24s %14.0f\n", zdd_reason_name(r),
		       RATE(s->reasons[r], prev->reasons[r]));
	printf("conntrack: %llu embryonic, %llu established, %llu adopted\n",
	       (unsigned long long)s->embryos, (unsigned long long)s->flows,
	       (unsigned long long)s->adopted);
#undef RATE
}

int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *cmd = ctl_find_cmd("stats");
	const struct zdd_service_key *filter;
	unsigned long watch = 0, count = 0, i;
	struct zdd_service_key key;
	struct zdd_snap s, prev = {};
	struct timespec ts;
	struct zdd *z;
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((c == 'w' && ctl_parse_uint(cmd, "interval", optarg, 3600, &watch)) ||
		    (c == 'c' && ctl_parse_uint(cmd, "count", optarg, 1000000, &count)))
			return EXIT_USAGE;
		if (c == '?')
			return ctl_usage_error(cmd, "unknown option");
	}
	if (parse_filter(cmd, argc, argv, &key, &filter))
		return EXIT_USAGE;
	if (count && !watch)
		return ctl_usage_error(cmd, "--count goes with --watch");
	if (ctl_open(ctl, &z))
		return EXIT_FAIL;
	for (i = 0; !err && (i == 0 || (watch && (!count || i <= count))); i++) {
		if (i) {
			ts = (struct timespec){ (time_t)watch, 0 };
			nanosleep(&ts, NULL);
		}
		err = zdd_snap_take(z, filter, true, &s);
		if (err)
			break;
		if (filter && !s.n_svc) {
			fprintf(stderr, "zdd-bpfctl stats: no service %s\n", argv[optind]);
			zdd_snap_free(&s);
			err = -ENOENT;
			break;
		}
		if (ctl->json) {
			ctl_json_print(snap_json(&s, true, NULL));
		} else if (!watch || i) {
			print_stats(&s, i ? &prev : NULL, (double)watch);
			fflush(stdout);
		}
		zdd_snap_free(&prev);
		prev = s;
	}
	zdd_snap_free(&prev);
	zdd_close(z);
	return err ? EXIT_FAIL : EXIT_OK;
}
