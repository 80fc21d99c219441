// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/reload.c - SIGHUP's slow half off the loop. Applying a file resolves the
 * next hop of each new backend, and an unknown neighbour is probed for up to a second: in the
 * loop, that would hold every rollback back. So a thread reads the file first and resolves
 * its backends' next hops (the kernel keeps the answers in its neighbour table); the loop then
 * applies the file under its locks, with the neighbours known, in milliseconds. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "agent.h"
#include "log.h"
#include "netlink.h"

static void *resolve_next_hops(void *arg)
{
	struct agent *a = arg;
	struct zdd_conf_service *cs;
	struct zdd_config cfg;
	struct zdd_conf *c;
	static const __u8 zero[6];
	__u64 one = 1;
	char msg[512];
	__u8 mac[6];
	size_t i, j;

	/* Errors are left to the apply that follows, which reports them once. */
	if (!zdd_conf_load(a->conf_path, &c, msg, sizeof(msg))) {
		if (!zdd_config_get(a->z, &cfg) && cfg.ifindex && !memcmp(cfg.gw_mac, zero, 6))
			for (i = 0; i < c->n_services; i++)
				for (cs = &c->services[i], j = 0; j < cs->n_backends; j++)
					zdd_nl_next_hop_mac(cfg.ifindex, cs->backends[j].addr, mac);
		zdd_conf_free(c);
	}
	if (write(a->reload_fd, &one, sizeof(one)) != sizeof(one))
		pr_warn("zdd-agent: reload: %s\n", strerror(errno));
	return NULL;
}

int agent_reload_open(struct agent *a)
{
	a->reload_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return a->reload_fd < 0 ? log_err(-errno, "reload eventfd") : 0;
}

void agent_reload_request(struct agent *a)
{
	int err;

	if (a->reloading) {
		a->reload_again = true; /* the file may have changed after the thread read it */
		return;
	}
	err = pthread_create(&a->reload_thread, NULL, resolve_next_hops, a);
	if (err) {
		log_err(-err, "reload thread: applying %s in the loop", a->conf_path);
		agent_config_load(a, false);
		return;
	}
	a->reloading = true;
}

void agent_reload_ready(struct agent *a)
{
	__u64 n;

	if (read(a->reload_fd, &n, sizeof(n)) != sizeof(n) || !a->reloading)
		return;
	pthread_join(a->reload_thread, NULL);
	a->reloading = false;
	agent_config_load(a, false);
	if (a->reload_again) {
		a->reload_again = false;
		agent_reload_request(a);
	}
}

void agent_reload_close(struct agent *a)
{
	if (a->reloading)
		pthread_join(a->reload_thread, NULL);
	if (a->reload_fd >= 0)
		close(a->reload_fd);
}
