// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_node.c - node drain|undrain: the agent withdraws (or announces again)
 * the service addresses its routing daemon advertises, so ECMP routers stop (or start) sending
 * this edge node new flows. Flows already here keep being served. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "conffile.h"
#include "ctl.h"

int cmd_node(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *cmd = ctl_find_cmd("node");
	const char *sock = ZDD_CONF_DEF_CONTROL_SOCKET;
	struct json_object *req, *ans, *v;
	int c, ok;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'S')
			return ctl_usage_error(cmd, "unknown option");
		sock = optarg;
	}
	if (optind != argc - 1 ||
	    (strcmp(argv[optind], "drain") && strcmp(argv[optind], "undrain")))
		return ctl_usage_error(cmd, "want drain or undrain");
	req = json_object_new_object();
	json_object_object_add(req, "verb",
			       json_object_new_string(!strcmp(argv[optind], "drain")
							      ? "drain-node"
							      : "undrain-node"));
	ans = ctl_agent_ask(sock, req);
	json_object_put(req);
	if (!ans)
		return EXIT_FAIL;
	ok = json_object_object_get_ex(ans, "ok", &v) && json_object_get_boolean(v);
	if (ctl->json) {
		ctl_json_print(ans);
		return ok ? EXIT_OK : EXIT_FAIL;
	}
	if (ok && json_object_object_get_ex(ans, "event", &v))
		printf("zdd: %s\n", json_object_get_string(v));
	else if (json_object_object_get_ex(ans, "error", &v))
		fprintf(stderr, "zdd-bpfctl node: %s\n", json_object_get_string(v));
	json_object_put(ans);
	return ok ? EXIT_OK : EXIT_FAIL;
}
