// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_service.c - service add | del | list. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "ctl.h"

static int service_add(struct ctl *ctl, const struct cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "affinity", required_argument, NULL, 'a' },
		{ "client-prefix", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct zdd_service_opts so = {};
	struct zdd_service_key key;
	unsigned long prefix = 0;
	bool has_prefix = false;
	struct zdd *z;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!strcmp(optarg, "client"))
				so.affinity = ZDD_AFF_CLIENT;
			else if (!strcmp(optarg, "flow"))
				so.affinity = ZDD_AFF_FLOW;
			else
				return ctl_usage_error(cmd, "bad affinity '%s': client or flow",
						       optarg);
			break;
		case 'c':
			if (ctl_parse_uint(cmd, "client prefix", optarg, 128, &prefix))
				return EXIT_USAGE;
			has_prefix = true;
			break;
		default:
			return ctl_usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc - 1)
		return ctl_usage_error(cmd, "service add wants one SVC");
	if (ctl_parse_service(cmd, argv[optind], &key))
		return EXIT_USAGE;
	if (has_prefix) {
		if (zdd_addr_is_v4(key.addr) && prefix > 32)
			return ctl_usage_error(cmd, "an IPv4 client prefix is 0..32");
		if (!prefix)
			return ctl_usage_error(cmd,
					       "a client prefix of 0 would put every client in "
					       "one pool; use --affinity flow to spread them");
		if (zdd_addr_is_v4(key.addr))
			so.client_prefix4 = prefix;
		else
			so.client_prefix6 = prefix;
	}
	if (ctl_open_locked(ctl, &z))
		return EXIT_FAIL;
	err = zdd_service_add(z, &key, &so);
	ctl_close(z);
	if (err)
		return EXIT_FAIL;
	printf("zdd: service %s added\n", argv[optind]);
	return EXIT_OK;
}

static int service_del(struct ctl *ctl, const struct cmd *cmd, int argc, char **argv)
{
	struct zdd_service_key key;
	struct zdd *z;
	int err;

	if (argc != 2)
		return ctl_usage_error(cmd, "service del wants one SVC");
	if (ctl_parse_service(cmd, argv[1], &key))
		return EXIT_USAGE;
	if (ctl_open_locked(ctl, &z))
		return EXIT_FAIL;
	err = zdd_service_del(z, &key);
	ctl_close(z);
	if (err)
		return EXIT_FAIL;
	printf("zdd: service %s deleted\n", argv[1]);
	return EXIT_OK;
}

static int service_list(struct ctl *ctl, const struct cmd *cmd, int argc)
{
	struct json_object *arr = json_object_new_array();
	char name[ZDD_SVC_STRLEN];
	struct zdd_service *list;
	size_t n, i;
	struct zdd *z;

	if (argc != 1) {
		json_object_put(arr);
		return ctl_usage_error(cmd, "service list takes no arguments");
	}
	if (ctl_open(ctl, &z) || zdd_service_list(z, &list, &n)) {
		json_object_put(arr);
		return EXIT_FAIL;
	}
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		zdd_service_format(&list[i].key, name, sizeof(name));
		if (!ctl->json)
			printf("%s\n", name);
		json_object_object_add(o, "service", json_object_new_string(name));
		json_object_object_add(o, "generation",
				       json_object_new_int64(list[i].val.generation));
		json_object_object_add(o, "green_weight_pct",
				       json_object_new_double(list[i].val.green_weight / 100.0));
		json_object_array_add(arr, o);
	}
	free(list);
	zdd_close(z);
	return ctl_list_done(ctl, arr);
}

int cmd_service(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd *cmd = ctl_find_cmd("service");

	if (argc < 2)
		return ctl_usage_error(cmd, "want add, del or list");
	ctl_shift(&argc, &argv, 1);
	if (!strcmp(argv[0], "add"))
		return service_add(ctl, cmd, argc, argv);
	if (!strcmp(argv[0], "del"))
		return service_del(ctl, cmd, argc, argv);
	if (!strcmp(argv[0], "list"))
		return service_list(ctl, cmd, argc);
	return ctl_usage_error(cmd, "unknown subcommand '%s'", argv[0]);
}
