// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/attach.c - see attach.h. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "attach.h"
#include "handle.h"
#include "log.h"
#include "netlink.h"
#include "xdp.h"

/* The config the interface asks for: tunnel sources, MTU, where next hops are found. */
static void configure(struct zdd_config *c, const struct zdd_attach_opts *o,
		      const struct zdd_iface *ifc)
{
	c->ifindex = ifc->ifindex;
	c->mtu = ifc->mtu;
	memcpy(c->src4, o->has_src4 ? o->src4 : ifc->addr4, 4);
	memcpy(c->src6, o->has_src6 ? o->src6 : ifc->addr6, 16);
	if (o->has_gw_mac)
		memcpy(c->gw_mac, o->gw_mac, 6);
	else
		memset(c->gw_mac, 0, 6);
	if (!o->has_src4 && !ifc->has4)
		pr_warn("zdd: %s has no IPv4 address: IPv4 services will be dropped (give --src)\n",
			ifc->name);
	if (!o->has_src6 && !ifc->has6)
		pr_warn("zdd: %s has no global IPv6 address: IPv6 services will be dropped (give "
			"--src6)\n",
			ifc->name);
}

struct mac_change {
	__u32 id;
	struct zdd_backend_val old, new;
};

/* Every backend's next hop under c, resolved before anything is written. */
static int resolve_all(struct zdd *z, const struct zdd_config *c, struct mac_change **out,
		       size_t *n)
{
	const struct zdd_limits *l = zdd_get_limits(z);
	struct mac_change *v = calloc(l->backends, sizeof(*v));
	struct zdd_backend_val val;
	int err = 0;
	__u32 id;

	*n = 0;
	if (!v)
		return -ENOMEM;
	for (id = 0; id < l->backends && !err; id++) {
		err = zdd_backend_read(z, id, &val);
		if (err || val.state == ZDD_BE_EMPTY)
			continue;
		v[*n].id = id;
		v[*n].old = v[*n].new = val;
		err = zdd_next_hop_for(c, val.addr, v[(*n)++].new.mac);
	}
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	return 0;
}

static int write_macs(struct zdd *z, const struct mac_change *v, size_t n, bool undo)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = zdd_backend_write(z, v[i].id, undo ? &v[i].old : &v[i].new);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Nothing is half-applied: next hops are resolved for the new interface first; then the
 * config and MACs are written and the link attached; a failed attach puts both back, so the
 * balancer keeps forwarding where it was.
 */
int zdd_attach(struct zdd *z, const char *pin_dir, const char *ifname,
	       const struct zdd_attach_opts *o, bool *updated)
{
	struct zdd_config old, new;
	struct mac_change *macs = NULL;
	struct zdd_iface ifc;
	char path[PATH_MAX];
	size_t n = 0;
	int err;

	err = zdd_nl_iface(ifname, &ifc);
	if (err)
		return log_err(err, "interface %s", ifname);
	err = zdd_xdp_link_path(path, sizeof(path), pin_dir, "lb", ifname)
		      ?: zdd_config_get(z, &old);
	if (err)
		return err;
	new = old;
	configure(&new, o, &ifc);
	err = resolve_all(z, &new, &macs, &n);
	if (err)
		return err;
	err = zdd_config_set(z, &new) ?: write_macs(z, macs, n, false);
	if (!err)
		err = zdd_xdp_attach(zdd_lb_prog_fd(z), ifc.ifindex, o->generic, path, updated);
	if (err) {
		write_macs(z, macs, n, true);
		zdd_config_set(z, &old);
	}
	free(macs);
	return err;
}
