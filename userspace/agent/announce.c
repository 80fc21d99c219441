// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/announce.c - the service addresses on a dummy interface while this node
 * serves them, so a routing daemon (BIRD or FRR, `protocol direct`) advertises them to the
 * ECMP routers, and withdraws them when the node drains or the agent stops. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "agent.h"
#include "log.h"
#include "netlink.h"

static bool listed(const __u8 (*v)[16], size_t n, const __u8 addr[16])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(v[i], addr, 16))
			return true;
	return false;
}

int agent_announce(struct agent *a, bool on)
{
	const char *dev = a->conf->agent.announce_interface;
	__u8(*want)[16] = NULL;
	char host[ZDD_ADDR_STRLEN];
	size_t n = 0, i;
	int err = 0;

	if (!dev[0])
		return 0;
	if (on && !a->drained) {
		want = calloc(a->conf->n_services ?: 1, sizeof(*want));
		if (!want)
			return -ENOMEM;
		for (i = 0; i < a->conf->n_services; i++)
			if (!listed(want, n, a->conf->services[i].key.addr))
				memcpy(want[n++], a->conf->services[i].key.addr, 16);
		err = zdd_nl_dummy_up(dev);
	}
	/* Withdraw what is no longer wanted, then announce the rest. */
	for (i = 0; !err && i < a->n_announced; i++)
		if (!listed(want, n, a->announced[i]))
			err = zdd_nl_host_addr(dev, a->announced[i], false);
	for (i = 0; !err && i < n; i++)
		err = zdd_nl_host_addr(dev, want[i], true);
	if (err) {
		free(want);
		return log_err(err, "announce the service addresses on %s", dev);
	}
	free(a->announced);
	a->announced = want;
	a->n_announced = n;
	for (i = 0; i < n; i++) {
		zdd_addr_format(want[i], host, sizeof(host));
		pr_info("zdd-agent: announcing %s on %s\n", host, dev);
	}
	return 0;
}
