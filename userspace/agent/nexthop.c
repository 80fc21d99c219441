// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/nexthop.c - keeps each backend's next-hop MAC in the maps what the kernel's
 * neighbour and route tables say it is. The MAC is resolved when a backend is added; a backend
 * replaced at the same address, a router that fails over, a route that moves to another
 * gateway would otherwise leave the data path sending to a MAC nobody answers, black-holing
 * every client of that backend. The kernel says when a neighbour or a route changes
 * (rtnetlink, nlwatch.c); the agent then looks every backend's next hop up again, without
 * waiting for one (an unknown neighbour is probed, and its answer is the next event), at most
 * every LOOKUP_GAP_MS, and every RESYNC_MS besides in case a change was never told. Not with a
 * fixed gateway MAC (attach --gw-mac): there is nothing to follow then. */
#include <errno.h>
#include <string.h>
#include "addr.h"
#include "agent.h"
#include "log.h"
#include "netlink.h"

#define LOOKUP_GAP_MS 100
#define RESYNC_MS     5000

int agent_nexthop_open(struct agent *a)
{
	static const __u8 zero[6];
	struct zdd_config c;
	int err;

	if (zdd_config_get(a->z, &c) || !c.ifindex || memcmp(c.gw_mac, zero, 6))
		return 0;
	err = zdd_nl_watch_open(&a->nl_watch);
	if (err)
		return log_err(err, "neighbour and route changes");
	a->nexthop_due = true;
	return 0;
}

void agent_nexthop_close(struct agent *a)
{
	zdd_nl_watch_close(a->nl_watch);
	a->nl_watch = NULL;
}

int agent_nexthop_fd(const struct agent *a)
{
	return a->nl_watch ? zdd_nl_watch_fd(a->nl_watch) : -1;
}

void agent_nexthop_event(struct agent *a)
{
	if (zdd_nl_watch_changed(a->nl_watch))
		a->nexthop_due = true;
}

/* One backend: its entry's MAC set to its next hop's, when the kernel knows it and it moved. */
static void follow(struct agent *a, int ifindex, const struct zdd_service_key *svc,
		   const __u8 addr[16])
{
	char host[ZDD_ADDR_STRLEN], name[ZDD_SVC_STRLEN];
	struct zdd_backend b;
	__u8 mac[6];
	int err;

	if (zdd_backend_find(a->z, svc, addr, &b) || zdd_nl_next_hop_lookup(ifindex, addr, mac) ||
	    !memcmp(mac, b.val.mac, 6))
		return;
	err = zdd_lock(a->z) ?: zdd_backend_set_mac(a->z, b.id, mac);
	zdd_unlock(a->z);
	zdd_addr_format(addr, host, sizeof(host));
	zdd_service_format(svc, name, sizeof(name));
	if (err) {
		agent_logf("%s: backend %s: next hop MAC not updated: %s", name, host,
			   strerror(-err));
		return;
	}
	a->next_hop_changes++;
	agent_logf("%s: backend %s: next hop MAC %02x:%02x:%02x:%02x:%02x:%02x -> "
		   "%02x:%02x:%02x:%02x:%02x:%02x (the neighbour or route changed)",
		   name, host, b.val.mac[0], b.val.mac[1], b.val.mac[2], b.val.mac[3], b.val.mac[4],
		   b.val.mac[5], mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

void agent_nexthop_tick(struct agent *a, __u64 now)
{
	struct zdd_config c;
	size_t i, j;

	if (!a->nl_watch || now - a->nexthop_last_ms < LOOKUP_GAP_MS ||
	    (!a->nexthop_due && now - a->nexthop_last_ms < RESYNC_MS))
		return;
	a->nexthop_due = false;
	a->nexthop_last_ms = now;
	if (zdd_config_get(a->z, &c) || !c.ifindex)
		return;
	for (i = 0; i < a->conf->n_services; i++) {
		const struct zdd_conf_service *cs = &a->conf->services[i];

		for (j = 0; j < cs->n_backends; j++)
			follow(a, c.ifindex, &cs->key, cs->backends[j].addr);
	}
}
