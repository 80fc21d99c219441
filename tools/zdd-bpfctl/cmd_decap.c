// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_decap.c - decap attach|detach IFACE: the backend's tunnel endpoint,
 * accepting tunnels to the interface's own addresses. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "ctl.h"
#include "decap.h"
#include "netlink.h"
#include "xdp.h"

#define MAX_ADDRS 64

static int decap_attach(struct ctl *ctl, const char *ifname, bool generic)
{
	__u8 addrs[MAX_ADDRS][16];
	struct zdd_decap *d = NULL;
	struct zdd_iface ifc;
	char path[PATH_MAX];
	size_t n = 0, i;
	bool updated;
	int err;

	if (zdd_nl_iface(ifname, &ifc)) {
		fprintf(stderr, "zdd-bpfctl decap: no interface '%s' here\n", ifname);
		return EXIT_FAIL;
	}
	err = zdd_nl_iface_addrs(ifc.ifindex, addrs, MAX_ADDRS, &n);
	if (!err && !n) {
		fprintf(stderr, "zdd-bpfctl decap: %s has no address to receive tunnels on\n",
			ifname);
		return EXIT_FAIL;
	}
	err = err ?: zdd_decap_open_load(&d, ctl->pin_dir, true);
	for (i = 0; !err && i < n; i++)
		err = zdd_decap_addr_add(d, addrs[i]);
	err = err ?: zdd_xdp_link_path(path, sizeof(path), ctl->pin_dir, "decap", ifname);
	err = err ?: zdd_xdp_attach(zdd_decap_prog_fd(d), ifc.ifindex, generic, path, &updated);
	zdd_decap_close(d);
	if (err)
		return EXIT_FAIL;
	printf("zdd: decap %s %s for %zu address%s\n", updated ? "upgraded on" : "attached to",
	       ifname, n, n == 1 ? "" : "es");
	return EXIT_OK;
}

int cmd_decap(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "generic", no_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *cmd = ctl_find_cmd("decap");
	char path[PATH_MAX];
	bool generic = false;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'g')
			return ctl_usage_error(cmd, "unknown option");
		generic = true;
	}
	if (optind != argc - 2)
		return ctl_usage_error(cmd, "want attach or detach, and one interface");
	if (!strcmp(argv[optind], "attach"))
		return decap_attach(ctl, argv[optind + 1], generic);
	if (strcmp(argv[optind], "detach"))
		return ctl_usage_error(cmd, "unknown subcommand '%s'", argv[optind]);
	if (zdd_xdp_link_path(path, sizeof(path), ctl->pin_dir, "decap", argv[optind + 1]))
		return EXIT_FAIL;
	if (zdd_xdp_detach(path)) {
		fprintf(stderr, "zdd-bpfctl decap: not attached to %s\n", argv[optind + 1]);
		return EXIT_FAIL;
	}
	printf("zdd: decap detached from %s\n", argv[optind + 1]);
	return EXIT_OK;
}
