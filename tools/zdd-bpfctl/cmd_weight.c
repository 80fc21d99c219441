// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_weight.c - weight SVC green=PCT and flip SVC --to POOL: both are one
 * table swap; flows in progress keep their backend. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "conffile.h"
#include "ctl.h"

/* A node of a fleet runs the weights etcd holds (its agent keeps the marker): a local change
 * would split shoppers between nodes until the next record undid it. */
static bool in_fleet(const struct ctl *ctl, const char *verb)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/" ZDD_CLUSTER_MARKER, ctl->pin_dir);
	if (access(path, F_OK))
		return false;
	fprintf(stderr,
		"zdd-bpfctl %s: refused: this node's agent is in a fleet (agent.cluster; %s): its "
		"weights are the fleet's, kept in etcd. Change them on any node of the fleet with "
		"`zdd-bpfctl rollout start|promote|abort SVC`, which go through etcd to the "
		"leader\n",
		verb, path);
	return true;
}

static int set_weight(struct ctl *ctl, const char *svc, const struct zdd_service_key *key, __u16 bp)
{
	struct zdd *z;
	int err;

	if (ctl_open_locked(ctl, &z))
		return EXIT_FAIL;
	err = zdd_service_commit(z, key, bp);
	ctl_close(z);
	if (err)
		return EXIT_FAIL;
	printf("zdd: %s green %u.%02u%%, blue %u.%02u%%\n", svc, bp / 100, bp % 100,
	       (10000 - bp) / 100, (10000 - bp) % 100);
	return EXIT_OK;
}

int cmd_weight(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd *cmd = ctl_find_cmd("weight");
	struct zdd_service_key key;
	__u16 bp;

	if (argc != 3)
		return ctl_usage_error(cmd, "want SVC green=PCT");
	if (ctl_parse_service(cmd, argv[1], &key))
		return EXIT_USAGE;
	if (strncmp(argv[2], "green=", 6) || zdd_percent_parse(argv[2] + 6, &bp))
		return ctl_usage_error(cmd,
				       "bad weight '%s': want green=PCT, PCT 0..100 with at "
				       "most two decimals",
				       argv[2]);
	if (in_fleet(ctl, "weight"))
		return EXIT_FAIL;
	return set_weight(ctl, argv[1], &key, bp);
}

int cmd_flip(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *cmd = ctl_find_cmd("flip");
	struct zdd_service_key key;
	enum zdd_pool pool;
	bool has_pool = false;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 't')
			return ctl_usage_error(cmd, "unknown option");
		if (ctl_parse_pool(cmd, optarg, &pool))
			return EXIT_USAGE;
		has_pool = true;
	}
	if (!has_pool || optind != argc - 1)
		return ctl_usage_error(cmd, "want SVC --to blue|green");
	if (ctl_parse_service(cmd, argv[optind], &key))
		return EXIT_USAGE;
	if (in_fleet(ctl, "flip"))
		return EXIT_FAIL;
	return set_weight(ctl, argv[optind], &key, pool == ZDD_GREEN ? ZDD_MAX_WEIGHT_BP : 0);
}
