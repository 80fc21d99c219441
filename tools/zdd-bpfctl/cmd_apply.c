// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_apply.c - apply -f FILE [--dry-run]: services and backends become what
 * the file says. The file is checked whole and the plan validated before any change; services
 * in the maps but not in the file are removed. A weight absent from the file is left as is. */
#include <getopt.h>
#include <stdio.h>
#include "apply.h"
#include "conffile.h"
#include "ctl.h"

int cmd_apply(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *cmd = ctl_find_cmd("apply");
	struct zdd_plan *plan = NULL;
	struct zdd_conf *conf = NULL;
	const char *file = NULL;
	bool dry_run = false;
	char err_msg[512];
	struct zdd *z;
	size_t changes;
	int c, err;

	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		if (c == 'f')
			file = optarg;
		else if (c == 'n')
			dry_run = true;
		else
			return ctl_usage_error(cmd, "unknown option");
	}
	if (!file || optind != argc)
		return ctl_usage_error(cmd, "want -f FILE");
	if (zdd_conf_load(file, &conf, err_msg, sizeof(err_msg))) {
		fprintf(stderr, "zdd-bpfctl apply: %s\n", err_msg);
		return EXIT_FAIL;
	}
	if (ctl_open_locked(ctl, &z)) {
		zdd_conf_free(conf);
		return EXIT_FAIL;
	}
	err = zdd_plan_make(z, conf, &plan);
	if (!err) {
		changes = zdd_plan_print(plan, stdout);
		if (!changes)
			printf("no changes\n");
		if (!dry_run && changes)
			err = zdd_plan_run(z, plan);
		if (!err && !dry_run && changes)
			printf("zdd: applied %zu change%s from %s\n", changes,
			       changes == 1 ? "" : "s", file);
	}
	zdd_plan_free(plan);
	ctl_close(z);
	zdd_conf_free(conf);
	if (err) {
		fprintf(stderr, "zdd-bpfctl apply: %s not applied%s\n", file,
			plan ? "" : "; nothing was changed");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
