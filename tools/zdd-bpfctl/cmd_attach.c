// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_attach.c - attach / detach: load the balancer (or adopt its pinned
 * maps), configure the tunnel source from the interface, and pin the XDP link. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include "addr.h"
#include "attach.h"
#include "ctl.h"
#include "xdp.h"

struct attach_args {
	struct zdd_attach_opts attach;
	struct zdd_load_opts load;
};

static int parse_attach(const struct cmd *cmd, int argc, char **argv, struct attach_args *o)
{
	static const struct option opts[] = {
		{ "generic", no_argument, NULL, 'g' },
		{ "src", required_argument, NULL, '4' },
		{ "src6", required_argument, NULL, '6' },
		{ "gw-mac", required_argument, NULL, 'm' },
		{ "services", required_argument, NULL, 's' },
		{ "backends", required_argument, NULL, 'b' },
		{ "maglev-m", required_argument, NULL, 'M' },
		{ "flows", required_argument, NULL, 'f' },
		{ "embryos", required_argument, NULL, 'e' },
		{ "adopted", required_argument, NULL, 'a' },
		{ "grace", required_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 },
	};
	struct zdd_attach_opts *a = &o->attach;
	struct zdd_limits *l = &o->load.limits;
	unsigned long v;
	__u8 addr[16];
	int c, err = 0;

	while (!err && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			a->generic = true;
			break;
		case '4':
			if (zdd_addr_parse(optarg, addr) || !zdd_addr_is_v4(addr))
				return ctl_usage_error(cmd, "bad --src '%s': want IPv4", optarg);
			memcpy(a->src4, addr + 12, 4);
			a->has_src4 = true;
			break;
		case '6':
			if (zdd_addr_parse(optarg, addr) || zdd_addr_is_v4(addr))
				return ctl_usage_error(cmd, "bad --src6 '%s': want IPv6", optarg);
			memcpy(a->src6, addr, 16);
			a->has_src6 = true;
			break;
		case 'm':
			if (zdd_mac_parse(optarg, a->gw_mac))
				return ctl_usage_error(cmd, "bad MAC '%s'", optarg);
			a->has_gw_mac = true;
			break;
		case 's':
		case 'b':
		case 'M':
		case 'f':
		case 'e':
		case 'a':
			err = ctl_parse_uint(cmd, "size", optarg, UINT_MAX, &v);
			*(c == 's'   ? &l->services
			  : c == 'b' ? &l->backends
			  : c == 'M' ? &l->maglev_m
			  : c == 'f' ? &l->flows
			  : c == 'e' ? &l->embryos
				     : &l->adopted) = (__u32)v;
			break;
		case 'G':
			err = ctl_parse_uint(cmd, "grace seconds", optarg, 86400, &v);
			o->load.grace_ns = v * 1000000000ULL;
			break;
		default:
			return ctl_usage_error(cmd, "unknown option");
		}
	}
	if (!err && optind != argc - 1)
		return ctl_usage_error(cmd, "want exactly one interface");
	return err;
}

int cmd_attach(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd *cmd = ctl_find_cmd("attach");
	struct attach_args o = {};
	struct zdd *z;
	bool updated;
	int err;

	err = parse_attach(cmd, argc, argv, &o);
	if (err)
		return err;
	if (!if_nametoindex(argv[optind])) {
		fprintf(stderr, "zdd-bpfctl attach: no interface '%s' here\n", argv[optind]);
		return EXIT_FAIL;
	}
	o.load.pin_dir = ctl->pin_dir;
	o.load.mount_bpffs = true;
	if (zdd_open_load(&z, &o.load))
		return EXIT_FAIL;
	err = zdd_lock(z) ?: zdd_attach(z, ctl->pin_dir, argv[optind], &o.attach, &updated);
	if (!err)
		printf("zdd: %s %s (%s maps in %s)\n",
		       updated ? "upgraded the program on" : "attached to", argv[optind],
		       zdd_adopted(z) ? "adopted" : "new", ctl->pin_dir);
	ctl_close(z);
	return err ? EXIT_FAIL : EXIT_OK;
}

static int unpin_maps(const char *pin_dir)
{
	char path[PATH_MAX];
	int i, err = 0;

	for (i = 0; i < ZDD_MAP_COUNT; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, zdd_map_name(i));
		if (unlink(path) && errno != ENOENT)
			err = -errno;
	}
	return err;
}

int cmd_detach(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "purge", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *cmd = ctl_find_cmd("detach");
	char path[PATH_MAX];
	bool purge = false;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'P')
			return ctl_usage_error(cmd, "unknown option");
		purge = true;
	}
	if (optind != argc - 1)
		return ctl_usage_error(cmd, "want exactly one interface");
	if (zdd_xdp_link_path(path, sizeof(path), ctl->pin_dir, "lb", argv[optind]))
		return EXIT_FAIL;
	err = zdd_xdp_detach(path);
	if (err == -ENOENT) {
		fprintf(stderr, "zdd-bpfctl detach: zdd is not attached to %s (no %s)\n",
			argv[optind], path);
		return EXIT_FAIL;
	}
	if (!err && purge)
		err = unpin_maps(ctl->pin_dir);
	if (err) {
		fprintf(stderr, "zdd-bpfctl detach: %s: %s\n", path, strerror(-err));
		return EXIT_FAIL;
	}
	printf("zdd: detached from %s%s\n", argv[optind], purge ? ", state removed" : "");
	return EXIT_OK;
}
