// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/main.c - the operator's CLI: global options and the command table. Every
 * command works on the pinned maps directly, with or without the agent running. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "ctl.h"
#include "log.h"

const struct cmd ctl_cmds[] = {
	{ "attach", cmd_attach,
	  "IFACE [--generic] [--src ADDR] [--src6 ADDR] [--gw-mac MAC] [--services N] "
	  "[--backends N] [--maglev-m PRIME] [--flows N] [--embryos N] [--adopted N] [--grace SEC]",
	  "load the balancer (or adopt its pinned maps) and attach it to IFACE" },
	{ "detach", cmd_detach, "IFACE [--purge]",
	  "detach the balancer from IFACE (--purge also removes every pinned map)" },
	{ "decap", cmd_decap, "attach IFACE [--from PREFIX]... [--generic] | detach IFACE | status",
	  "backend side: strip the tunnel headers the balancers (--from, repeated) send to IFACE's "
	  "addresses; drop tunnels from elsewhere" },
	{ "service", cmd_service,
	  "add SVC [--affinity client|flow] [--client-prefix N] | del SVC | list",
	  "manage services; SVC is ADDR:PORT/PROTO, e.g. 198.19.0.10:80/tcp, "
	  "[fd00:5a::10]:443/tcp" },
	{ "backend", cmd_backend,
	  "add SVC ADDR --pool blue|green [--weight N] [--mac MAC] | del SVC ADDR | "
	  "set SVC ADDR [--state up|drain|down] [--weight N] | list SVC",
	  "manage a service's backends" },
	{ "weight", cmd_weight, "SVC green=PCT",
	  "send PCT percent (0..100, two decimals) of new clients to green, the rest to blue" },
	{ "flip", cmd_flip, "SVC --to blue|green",
	  "send every new flow to one pool; flows in progress keep their backend" },
	{ "status", cmd_status, "[SVC] [--socket PATH]",
	  "services, pools, weights and backends with counters" },
	{ "stats", cmd_stats, "[SVC] [--watch SEC] [--count N]",
	  "counters: per backend, per verdict reason, conntrack tables (--watch: rates)" },
	{ "conntrack", cmd_conntrack, "list [SVC] | count | flush [SVC]",
	  "the connection-tracking tables" },
	{ "apply", cmd_apply, "-f FILE [--dry-run]",
	  "make services and backends match a zdd.yaml, all or nothing (--dry-run: show the "
	  "diff)" },
	{ "rollout", cmd_rollout,
	  "start SVC [--steps 1,5,25,50,100] [--interval 10s] | status [SVC] | pause SVC | "
	  "resume SVC | promote SVC | abort SVC  [--socket PATH]",
	  "canary rollouts, driven by zdd-agent (through its control socket)" },
	{ "node", cmd_node, "drain|undrain [--socket PATH]",
	  "withdraw this node's service addresses from the routers (ECMP), or announce them again; "
	  "through zdd-agent" },
	{ NULL, NULL, NULL, NULL },
};

const struct cmd *ctl_find_cmd(const char *name)
{
	const struct cmd *c;

	for (c = ctl_cmds; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void usage(FILE *f)
{
	const struct cmd *c;

	fprintf(f,
		"Usage: zdd-bpfctl [-p PIN_DIR] [-j] [-v] COMMAND [ARGS]\n\n"
		"Operate the zdd XDP balancer through its pinned maps (default %s).\n\n"
		"Commands:\n",
		ZDD_PIN_DIR);
	for (c = ctl_cmds; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->help);
	fprintf(f, "\nOptions:\n"
		   "  -p, --pin-dir DIR  where the maps are pinned\n"
		   "  -j, --json         JSON output for read commands\n"
		   "  -v, --verbose      more output (-vv: libbpf and verifier logs)\n"
		   "  -h, --help         this help; COMMAND --help for a command's\n\n"
		   "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

/* -j and -v are accepted anywhere on the line: operators append them. */
static int take_anywhere(struct ctl *ctl, int argc, char **argv)
{
	int i, out = 1;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
			ctl->json = true;
		else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
			ctl->verbose++;
		else if (!strcmp(argv[i], "-vv"))
			ctl->verbose += 2;
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	return out;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .pin_dir = ZDD_PIN_DIR };
	const struct cmd *cmd;
	int c;

	argc = take_anywhere(&ctl, argc, argv);
	opterr = 0; /* our usage errors name the command and the option */
	while ((c = getopt_long(argc, argv, "+p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			ctl.pin_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "zdd-bpfctl: unknown option '%s'\n\n", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	zdd_log_set_level(ctl.verbose >= 2 ? ZDD_LOG_DEBUG
			  : ctl.verbose	   ? ZDD_LOG_INFO
					   : ZDD_LOG_WARN);
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = ctl_find_cmd(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "zdd-bpfctl: unknown command '%s'\n\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	ctl_shift(&argc, &argv, optind);
	if (ctl_wants_help(cmd, argc, argv))
		return EXIT_OK;
	return cmd->run(&ctl, argc, argv);
}
