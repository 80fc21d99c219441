// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_backend.c - backend add | del | set | list. Each change reaches the
 * data path in one table swap. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "ctl.h"

struct backend_args {
	struct zdd_service_key svc;
	__u8 addr[16];
	int pool; /* -1: not given */
	int state;
	int weight;
	bool has_mac;
	__u8 mac[6];
};

/* SVC ADDR and the options of add and set; what a subcommand does not take is refused. */
static int parse_backend(const struct cmd *cmd, int argc, char **argv, const char *allowed,
			 struct backend_args *a)
{
	static const struct option opts[] = {
		{ "pool", required_argument, NULL, 'P' },
		{ "state", required_argument, NULL, 'S' },
		{ "weight", required_argument, NULL, 'W' },
		{ "mac", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	enum zdd_backend_state state;
	enum zdd_pool pool;
	unsigned long w;
	int c;

	memset(a, 0, sizeof(*a));
	a->pool = a->state = a->weight = -1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == '?')
			return ctl_usage_error(cmd, "unknown option");
		if (!strchr(allowed, c))
			return ctl_usage_error(cmd, "option '%s' is not valid for backend %s",
					       argv[optind - 1], argv[0]);
		if (c == 'P' && ctl_parse_pool(cmd, optarg, &pool))
			return EXIT_USAGE;
		if (c == 'S' && ctl_parse_state(cmd, optarg, &state))
			return EXIT_USAGE;
		if (c == 'W' && ctl_parse_uint(cmd, "weight", optarg, ZDD_MAX_BACKEND_WEIGHT, &w))
			return EXIT_USAGE;
		if (c == 'M' && zdd_mac_parse(optarg, a->mac))
			return ctl_usage_error(cmd, "bad MAC '%s'", optarg);
		a->pool = c == 'P' ? (int)pool : a->pool;
		a->state = c == 'S' ? (int)state : a->state;
		a->weight = c == 'W' ? (int)w : a->weight;
		a->has_mac |= c == 'M';
	}
	if (optind != argc - 2)
		return ctl_usage_error(cmd, "backend %s wants SVC ADDR", argv[0]);
	if (ctl_parse_service(cmd, argv[optind], &a->svc) ||
	    ctl_parse_addr(cmd, argv[optind + 1], a->addr))
		return EXIT_USAGE;
	if (zdd_addr_is_v4(a->addr) != zdd_addr_is_v4(a->svc.addr))
		return ctl_usage_error(cmd, "the backend's address family must be the service's");
	return 0;
}

static int backend_change(struct ctl *ctl, const struct cmd *cmd, int argc, char **argv)
{
	struct backend_args a;
	const char *what;
	struct zdd *z;
	int err;

	if (!strcmp(argv[0], "add"))
		err = parse_backend(cmd, argc, argv, "PWM", &a);
	else if (!strcmp(argv[0], "set"))
		err = parse_backend(cmd, argc, argv, "SWM", &a);
	else
		err = parse_backend(cmd, argc, argv, "", &a);
	if (err)
		return err;
	if (!strcmp(argv[0], "add") && a.pool < 0)
		return ctl_usage_error(cmd, "backend add needs --pool blue|green");
	if (!strcmp(argv[0], "set") && a.state < 0 && a.weight < 0 && !a.has_mac)
		return ctl_usage_error(cmd, "backend set needs --state, --weight or --mac");
	if (ctl_open_locked(ctl, &z))
		return EXIT_FAIL;
	if (!strcmp(argv[0], "add")) {
		what = "added";
		err = zdd_backend_add(z, &a.svc, a.addr, a.pool,
				      a.weight < 0 ? ZDD_DEF_BACKEND_WEIGHT : a.weight,
				      a.has_mac ? a.mac : NULL, NULL);
	} else if (!strcmp(argv[0], "del")) {
		what = "deleted";
		err = zdd_backend_del(z, &a.svc, a.addr);
	} else {
		struct zdd_backend b;

		what = "updated";
		err = zdd_backend_find(z, &a.svc, a.addr, &b);
		if (err)
			fprintf(stderr, "zdd-bpfctl backend: no backend %s in %s\n",
				argv[optind + 1], argv[optind]);
		if (!err && a.has_mac)
			err = zdd_backend_set_mac(z, b.id, a.mac);
		if (!err && (a.state >= 0 || a.weight >= 0))
			err = zdd_backend_set(z, &a.svc, a.addr, a.state, a.weight);
	}
	ctl_close(z);
	if (err)
		return EXIT_FAIL;
	printf("zdd: backend %s of %s %s\n", argv[optind + 1], argv[optind], what);
	return EXIT_OK;
}

static int backend_list(struct ctl *ctl, const struct cmd *cmd, int argc, char **argv)
{
	struct json_object *arr = json_object_new_array();
	char host[ZDD_ADDR_STRLEN], mac[18];
	struct zdd_service_key key;
	struct zdd_service_val val;
	struct zdd_backend *list;
	size_t n, i;
	struct zdd *z;

	if (argc != 2 || ctl_parse_service(cmd, argv[1], &key)) {
		json_object_put(arr);
		return argc != 2 ? ctl_usage_error(cmd, "backend list wants SVC") : EXIT_USAGE;
	}
	if (ctl_open(ctl, &z)) {
		json_object_put(arr);
		return EXIT_FAIL;
	}
	if (zdd_service_get(z, &key, &val) || zdd_backend_list(z, val.index, &list, &n)) {
		fprintf(stderr, "zdd-bpfctl backend: no service %s\n", argv[1]);
		json_object_put(arr);
		zdd_close(z);
		return EXIT_FAIL;
	}
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		const struct zdd_backend_val *b = &list[i].val;

		zdd_addr_format(b->addr, host, sizeof(host));
		zdd_mac_format(b->mac, mac, sizeof(mac));
		if (!ctl->json)
			printf("%-6s %-40s %-6s weight %-5u next-hop %s\n", ctl_pool_name(b->pool),
			       host, ctl_state_name(b->state), b->weight, mac);
		json_object_object_add(o, "id", json_object_new_int64(list[i].id));
		json_object_object_add(o, "address", json_object_new_string(host));
		json_object_object_add(o, "pool", json_object_new_string(ctl_pool_name(b->pool)));
		json_object_object_add(o, "state",
				       json_object_new_string(ctl_state_name(b->state)));
		json_object_object_add(o, "weight", json_object_new_int(b->weight));
		json_object_object_add(o, "next_hop_mac", json_object_new_string(mac));
		json_object_array_add(arr, o);
	}
	free(list);
	zdd_close(z);
	return ctl_list_done(ctl, arr);
}

int cmd_backend(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd *cmd = ctl_find_cmd("backend");

	if (argc < 2)
		return ctl_usage_error(cmd, "want add, del, set or list");
	ctl_shift(&argc, &argv, 1);
	if (!strcmp(argv[0], "add") || !strcmp(argv[0], "del") || !strcmp(argv[0], "set"))
		return backend_change(ctl, cmd, argc, argv);
	if (!strcmp(argv[0], "list"))
		return backend_list(ctl, cmd, argc, argv);
	return ctl_usage_error(cmd, "unknown subcommand '%s'", argv[0]);
}
