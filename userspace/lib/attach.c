// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/attach.c - see attach.h. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include "attach.h"
#include "log.h"
#include "netlink.h"
#include "xdp.h"

static int configure(struct zdd *z, const struct zdd_attach_opts *o, const struct zdd_iface *ifc)
{
	struct zdd_config c;
	int err = zdd_config_get(z, &c);

	if (err)
		return err;
	c.ifindex = ifc->ifindex;
	c.mtu = ifc->mtu;
	memcpy(c.src4, o->has_src4 ? o->src4 : ifc->addr4, 4);
	memcpy(c.src6, o->has_src6 ? o->src6 : ifc->addr6, 16);
	if (o->has_gw_mac)
		memcpy(c.gw_mac, o->gw_mac, 6);
	else
		memset(c.gw_mac, 0, 6);
	if (!o->has_src4 && !ifc->has4)
		pr_warn("zdd: %s has no IPv4 address: IPv4 services will be dropped (give --src)\n",
			ifc->name);
	if (!o->has_src6 && !ifc->has6)
		pr_warn("zdd: %s has no global IPv6 address: IPv6 services will be dropped (give "
			"--src6)\n",
			ifc->name);
	return zdd_config_set(z, &c);
}

int zdd_attach(struct zdd *z, const char *pin_dir, const char *ifname,
	       const struct zdd_attach_opts *o, bool *updated)
{
	struct zdd_iface ifc;
	char path[PATH_MAX];
	int err;

	err = zdd_nl_iface(ifname, &ifc);
	if (err)
		return log_err(err, "interface %s", ifname);
	err = configure(z, o, &ifc) ?: zdd_backends_resolve(z);
	if (err)
		return err;
	err = zdd_xdp_link_path(path, sizeof(path), pin_dir, "lb", ifname);
	if (err)
		return log_err(err, "link pin path");
	return zdd_xdp_attach(zdd_lb_prog_fd(z), ifc.ifindex, o->generic, path, updated);
}
