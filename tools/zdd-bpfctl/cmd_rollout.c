// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_rollout.c - rollout start|status|pause|resume|promote|abort: the
 * agent drives rollouts, so these verbs go to its control socket. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "addr.h"
#include "conffile.h"
#include "ctl.h"

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "";
}

/* In a fleet: who leads, and how far each node's tables are behind the fleet's record. */
static void print_fleet(struct json_object *o)
{
	struct json_object *fl, *nodes, *n, *v;
	__s64 gen;
	size_t i;

	if (!json_object_object_get_ex(o, "fleet", &fl))
		return;
	json_object_object_get_ex(fl, "generation", &v);
	gen = json_object_get_int64(v);
	printf("\n  fleet: generation %lld, leader %s%s", (long long)gen,
	       *str(fl, "leader") ? str(fl, "leader") : "none",
	       json_object_object_get_ex(fl, "stale", &v) && json_object_get_boolean(v)
		       ? "; STALE: this node is cut off from etcd, its view is its last"
		       : "");
	if (!json_object_object_get_ex(fl, "nodes", &nodes))
		return;
	for (i = 0; i < json_object_array_length(nodes); i++) {
		n = json_object_array_get_idx(nodes, i);
		json_object_object_get_ex(n, "generation", &v);
		printf("\n    node %s: applied %lld", str(n, "node"),
		       (long long)json_object_get_int64(v));
		json_object_object_get_ex(n, "lag", &v);
		if (json_object_get_int64(v))
			printf(" (%lld behind)", (long long)json_object_get_int64(v));
	}
}

/* "  check http_5xx_ratio: pass, green 0.0012 blue 0.0010 (0.0012 <= max 0.05)" */
static void print_checks(struct json_object *o)
{
	struct json_object *checks, *c, *val, *v;
	size_t i;

	if (!json_object_object_get_ex(o, "checks", &checks))
		return;
	for (i = 0; i < json_object_array_length(checks); i++) {
		c = json_object_array_get_idx(checks, i);
		printf("\n  check %s: %s", str(c, "name"), *str(c, "last") ? str(c, "last") : "-");
		if (json_object_object_get_ex(c, "value", &val)) {
			if (json_object_object_get_ex(val, "green", &v))
				printf(", green %g", json_object_get_double(v));
			if (json_object_object_get_ex(val, "blue", &v))
				printf(", blue %g", json_object_get_double(v));
		}
		if (*str(c, "why"))
			printf(" (%s)", str(c, "why"));
	}
}

static void print_rollouts(struct json_object *arr, const char *only)
{
	size_t i, n = json_object_array_length(arr);
	struct json_object *o, *v, *steps, *r, *w;
	int shown = 0, step, nsteps;

	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(arr, i);
		if (only && strcmp(only, str(o, "service")))
			continue;
		shown++;
		json_object_object_get_ex(o, "step", &v);
		step = json_object_get_int(v);
		json_object_object_get_ex(o, "steps_bp", &steps);
		nsteps = (int)json_object_array_length(steps);
		printf("%s  %s", str(o, "service"), str(o, "state"));
		if (strcmp(str(o, "state"), "idle"))
			printf("  step %d/%d", step + 1, nsteps);
		if (json_object_object_get_ex(o, "green_weight_pct", &v))
			printf("  green %.2f%%", json_object_get_double(v));
		if (json_object_object_get_ex(o, "rollbacks", &v))
			printf("  rollbacks %d", json_object_get_int(v));
		/* the handshakes judged in this step, once there are any */
		if (json_object_object_get_ex(o, "failure_ratio", &r) &&
		    json_object_object_get_ex(o, "window_flows", &w) &&
		    json_object_object_get_ex(w, "green", &v) && json_object_get_int(v) &&
		    json_object_object_get_ex(w, "blue", &v) && json_object_get_int(v)) {
			json_object_object_get_ex(r, "green", &v);
			printf("\n  handshakes failed in this step: green %.1f%%",
			       100 * json_object_get_double(v));
			json_object_object_get_ex(w, "green", &v);
			printf(" of %d flows", json_object_get_int(v));
			json_object_object_get_ex(r, "blue", &v);
			printf(", blue %.1f%%", 100 * json_object_get_double(v));
			json_object_object_get_ex(w, "blue", &v);
			printf(" of %d flows", json_object_get_int(v));
		}
		print_checks(o);
		if (*str(o, "held"))
			printf("\n  held: %s", str(o, "held"));
		if (*str(o, "waiting"))
			printf("\n  waiting: %s", str(o, "waiting"));
		if (*str(o, "reason"))
			printf("\n  last rollback: %s", str(o, "reason"));
		if (*str(o, "weight_source"))
			printf("\n  weight from: %s", str(o, "weight_source"));
		if (*str(o, "event"))
			printf("\n  last: %s", str(o, "event"));
		print_fleet(o);
		printf("\n");
	}
	if (!shown)
		printf("no rollouts\n");
}

int cmd_rollout(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "steps", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "socket", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *cmd = ctl_find_cmd("rollout");
	static const char *const verbs[] = { "start",	"status", "pause", "resume",
					     "promote", "abort",  NULL };
	struct json_object *req, *steps = NULL, *ans, *v;
	const char *sock = ZDD_CONF_DEF_CONTROL_SOCKET, *verb;
	struct zdd_service_key key;
	char *tok, *save, list[256], name[ZDD_SVC_STRLEN] = "";
	__u32 interval_ms = 0;
	__u16 bp;
	int c, i, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snprintf(list, sizeof(list), "%s", optarg);
			json_object_put(steps);
			steps = json_object_new_array();
			for (tok = strtok_r(list, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (zdd_percent_parse(tok, &bp) || !bp) {
					json_object_put(steps);
					return ctl_usage_error(
						cmd, "bad step '%s': a percent 0 < x <= 100", tok);
				}
				json_object_array_add(steps, json_object_new_int(bp));
			}
			break;
		case 'i':
			if (zdd_duration_parse(optarg, &interval_ms)) {
				json_object_put(steps);
				return ctl_usage_error(
					cmd, "bad interval '%s': e.g. 500ms, 10s, 2m", optarg);
			}
			break;
		case 'S':
			sock = optarg;
			break;
		default:
			json_object_put(steps);
			return ctl_usage_error(cmd, "unknown option");
		}
	}
	for (i = 0; verbs[i] && optind < argc && strcmp(verbs[i], argv[optind]); i++)
		;
	if (optind >= argc || !verbs[i] || argc - optind > 2 ||
	    (strcmp(argv[optind], "status") && argc - optind != 2)) {
		json_object_put(steps);
		return ctl_usage_error(cmd, "want a verb and SVC (status: SVC optional)");
	}
	verb = argv[optind];
	if (argc - optind == 2 && ctl_parse_service(cmd, argv[optind + 1], &key)) {
		json_object_put(steps);
		return EXIT_USAGE;
	}
	/* The agent names services in one canonical form ("[fd00:5a::10]:80/tcp"). */
	if (argc - optind == 2)
		zdd_service_format(&key, name, sizeof(name));
	if ((steps || interval_ms) && strcmp(verb, "start")) {
		json_object_put(steps);
		return ctl_usage_error(cmd, "--steps and --interval go with start");
	}
	req = json_object_new_object();
	json_object_object_add(req, "verb", json_object_new_string(verb));
	if (argc - optind == 2)
		json_object_object_add(req, "service", json_object_new_string(name));
	if (steps)
		json_object_object_add(req, "steps", steps);
	if (interval_ms)
		json_object_object_add(req, "interval_ms", json_object_new_int64(interval_ms));
	ans = ctl_agent_ask(sock, req);
	json_object_put(req);
	if (!ans)
		return EXIT_FAIL;
	rc = json_object_object_get_ex(ans, "ok", &v) && json_object_get_boolean(v) ? EXIT_OK
										    : EXIT_FAIL;
	if (ctl->json) {
		ctl_json_print(ans);
		return rc;
	}
	if (rc)
		fprintf(stderr, "zdd-bpfctl rollout %s: %s\n", verb, str(ans, "error"));
	else if (!strcmp(verb, "status") && json_object_object_get_ex(ans, "rollouts", &v))
		print_rollouts(v, argc - optind == 2 ? name : NULL);
	else
		printf("zdd: %s\n", str(ans, "event"));
	json_object_put(ans);
	return rc;
}
