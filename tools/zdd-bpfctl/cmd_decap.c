// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_decap.c - decap attach IFACE [--from PREFIX]... | detach IFACE | status:
 * the backend's tunnel endpoint, accepting tunnels to the interface's own addresses from the
 * balancers' source prefixes. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "addr.h"
#include "ctl.h"
#include "decap.h"
#include "netlink.h"
#include "xdp.h"

#define MAX_ADDRS   64
#define LINK_PREFIX "link_decap_" /* zdd_xdp_link_path(..., "decap", IFACE) */

struct from {
	struct zdd_prefix_key p[ZDD_DECAP_MAX_FROM];
	size_t n;
};

/* "198.18.2.2/32, fd00:2::2/128", or the warning's words when every source is accepted. */
static void from_format(const struct zdd_prefix_key *p, size_t n, char *buf, size_t len)
{
	char one[ZDD_PREFIX_STRLEN];
	size_t i, at = 0;

	buf[0] = '\0';
	for (i = 0; i < n && at < len; i++) {
		zdd_prefix_format(&p[i], one, sizeof(one));
		at += snprintf(buf + at, len - at, "%s%s", i ? ", " : "", one);
	}
}

/*
 * Installs the new set, then attaches; an attach that fails puts the old set back, so a
 * second `decap attach` changes all or nothing.
 */
static int decap_attach(struct ctl *ctl, const char *ifname, bool generic, const struct from *f)
{
	static const struct zdd_prefix_key any = { .prefixlen = 0 };
	__u8 addrs[MAX_ADDRS][16];
	struct zdd_decap_info *old = NULL;
	struct zdd_decap *d = NULL;
	struct zdd_iface ifc;
	char path[PATH_MAX], list[ZDD_DECAP_MAX_FROM * ZDD_PREFIX_STRLEN];
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
	old = calloc(1, sizeof(*old));
	if (!old)
		err = -ENOMEM;
	err = err ?: zdd_decap_open_load(&d, ctl->pin_dir, true);
	for (i = 0; !err && i < n; i++)
		err = zdd_decap_addr_add(d, addrs[i]);
	err = err ?: zdd_decap_info(d, old);
	err = err ?: zdd_decap_set_from(d, f->n ? f->p : &any, f->n ? f->n : 1);
	err = err ?: zdd_xdp_link_path(path, sizeof(path), ctl->pin_dir, "decap", ifname);
	if (!err) {
		err = zdd_xdp_attach(zdd_decap_prog_fd(d), ifc.ifindex, generic, path, &updated);
		/* Never configured before (a new pin): nothing to restore, refusing is right. */
		if (err && old->has_set)
			zdd_decap_set_from(d, old->from, old->n_from);
	}
	zdd_decap_close(d);
	free(old);
	if (err)
		return EXIT_FAIL;
	printf("zdd: decap %s %s for %zu address%s", updated ? "upgraded on" : "attached to",
	       ifname, n, n == 1 ? "" : "es");
	if (!f->n) {
		printf(", tunnels from any source\n");
		fprintf(stderr,
			"zdd-bpfctl decap: no --from: %s accepts tunnels from any source, and "
			"anyone who reaches it can send packets from any address through them; "
			"name "
			"the balancers with --from PREFIX\n",
			ifname);
		return EXIT_OK;
	}
	from_format(f->p, f->n, list, sizeof(list));
	printf(", tunnels from %s\n", list);
	return EXIT_OK;
}

/* The interfaces with a pinned decap link in the pin directory. */
static struct json_object *attached_ifaces(const char *pin_dir)
{
	struct json_object *arr = json_object_new_array();
	DIR *dir = opendir(pin_dir);
	struct dirent *e;

	while (dir && (e = readdir(dir)))
		if (!strncmp(e->d_name, LINK_PREFIX, strlen(LINK_PREFIX)) &&
		    e->d_name[strlen(LINK_PREFIX)])
			json_object_array_add(
				arr, json_object_new_string(e->d_name + strlen(LINK_PREFIX)));
	if (dir)
		closedir(dir);
	return arr;
}

static int decap_status(struct ctl *ctl)
{
	struct json_object *o, *ifs, *from, *counts;
	struct zdd_decap_info info;
	char one[ZDD_PREFIX_STRLEN];
	size_t i;
	int err;

	err = zdd_decap_info_pinned(ctl->pin_dir, &info);
	if (err == -ENOENT) {
		fprintf(stderr,
			"zdd-bpfctl decap: no decap pinned in %s: run zdd-bpfctl decap "
			"attach IFACE\n",
			ctl->pin_dir);
		return EXIT_FAIL;
	}
	if (err) {
		fprintf(stderr, "zdd-bpfctl decap: read the maps in %s: %s\n", ctl->pin_dir,
			strerror(-err));
		return EXIT_FAIL;
	}
	o = json_object_new_object();
	ifs = attached_ifaces(ctl->pin_dir);
	from = json_object_new_array();
	counts = json_object_new_object();
	for (i = 0; i < info.n_from; i++) {
		zdd_prefix_format(&info.from[i], one, sizeof(one));
		json_object_array_add(from, json_object_new_string(one));
	}
	for (i = 0; i < ZDD_D_MAX; i++)
		json_object_object_add(counts, zdd_decap_counter_name(i),
				       json_object_new_int64((int64_t)info.counts[i]));
	json_object_object_add(o, "interfaces", ifs);
	json_object_object_add(o, "from", from);
	json_object_object_add(o, "any_source", json_object_new_boolean(zdd_decap_info_any(&info)));
	json_object_object_add(o, "counters", counts);
	if (ctl->json)
		return ctl_json_print(o);
	printf("attached to:  ");
	for (i = 0; i < json_object_array_length(ifs); i++)
		printf("%s%s", i ? ", " : "",
		       json_object_get_string(json_object_array_get_idx(ifs, i)));
	printf("%s\n", json_object_array_length(ifs) ? "" : "nothing (detached)");
	if (zdd_decap_info_any(&info))
		printf("tunnels from: any source (no --from: anyone who reaches this host can "
		       "send through the tunnel)\n");
	else if (!info.n_from)
		printf("tunnels from: none (every tunnel is dropped)\n");
	else
		for (i = 0; i < info.n_from; i++) {
			zdd_prefix_format(&info.from[i], one, sizeof(one));
			printf("%s%s\n", i ? "              " : "tunnels from: ", one);
		}
	for (i = 0; i < ZDD_D_MAX; i++)
		printf("%-24s %llu\n", zdd_decap_counter_name(i),
		       (unsigned long long)info.counts[i]);
	json_object_put(o);
	return EXIT_OK;
}

static int decap_detach(struct ctl *ctl, const char *ifname)
{
	char path[PATH_MAX];

	if (zdd_xdp_link_path(path, sizeof(path), ctl->pin_dir, "decap", ifname))
		return EXIT_FAIL;
	if (zdd_xdp_detach(path)) {
		fprintf(stderr, "zdd-bpfctl decap: not attached to %s\n", ifname);
		return EXIT_FAIL;
	}
	printf("zdd: decap detached from %s\n", ifname);
	return EXIT_OK;
}

int cmd_decap(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "generic", no_argument, NULL, 'g' },
		{ "from", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *cmd = ctl_find_cmd("decap");
	bool generic = false, with_opts = false;
	struct from f = { .n = 0 };
	const char *verb;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		with_opts = true;
		if (c == 'g') {
			generic = true;
			continue;
		}
		if (c != 'f')
			return ctl_usage_error(cmd, "unknown option");
		if (f.n == ZDD_DECAP_MAX_FROM)
			return ctl_usage_error(cmd, "at most %d --from", ZDD_DECAP_MAX_FROM);
		if (zdd_prefix_parse(optarg, &f.p[f.n]))
			return ctl_usage_error(cmd,
					       "'%s' is no prefix (ADDR/LEN, no bits set after "
					       "LEN, or ADDR for one host)",
					       optarg);
		for (i = 0; i < f.n; i++)
			if (!memcmp(&f.p[i], &f.p[f.n], sizeof(f.p[i])))
				return ctl_usage_error(cmd, "--from %s twice", optarg);
		f.n++;
	}
	verb = optind < argc ? argv[optind] : "";
	if (!strcmp(verb, "status")) {
		if (optind != argc - 1 || with_opts)
			return ctl_usage_error(cmd, "status takes no argument");
		return decap_status(ctl);
	}
	if (optind != argc - 2)
		return ctl_usage_error(cmd, "want attach or detach, and one interface");
	if (!strcmp(verb, "attach"))
		return decap_attach(ctl, argv[optind + 1], generic, &f);
	if (strcmp(verb, "detach"))
		return ctl_usage_error(cmd, "unknown subcommand '%s'", verb);
	if (with_opts)
		return ctl_usage_error(cmd, "detach takes no option");
	return decap_detach(ctl, argv[optind + 1]);
}
