// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/nlwatch.c - see netlink.h: rtnetlink's neighbour and route groups on a
 * non-blocking socket. It says only that something changed: which backend that concerns is
 * the caller's to look up, as a message can be lost (ENOBUFS) and a route change moves every
 * backend behind it. */
#include <errno.h>
#include <stdlib.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include "netlink.h"

struct zdd_nl_watch {
	struct nl_sock *sk;
	bool changed;
};

static int on_msg(struct nl_msg *msg, void *arg)
{
	struct zdd_nl_watch *w = arg;
	int type = nlmsg_hdr(msg)->nlmsg_type;

	if (type == RTM_NEWNEIGH || type == RTM_DELNEIGH || type == RTM_NEWROUTE ||
	    type == RTM_DELROUTE)
		w->changed = true;
	return NL_OK;
}

int zdd_nl_watch_open(struct zdd_nl_watch **out)
{
	struct zdd_nl_watch *w = calloc(1, sizeof(*w));
	int err = -ENOMEM;

	if (!w || !(w->sk = nl_socket_alloc()))
		goto fail;
	nl_socket_disable_seq_check(w->sk); /* notifications answer no request */
	nl_socket_modify_cb(w->sk, NL_CB_VALID, NL_CB_CUSTOM, on_msg, w);
	if (nl_connect(w->sk, NETLINK_ROUTE) ||
	    nl_socket_add_memberships(w->sk, RTNLGRP_NEIGH, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
				      0) ||
	    nl_socket_set_nonblocking(w->sk)) {
		err = -EIO;
		goto fail;
	}
	*out = w;
	return 0;
fail:
	zdd_nl_watch_close(w);
	return err;
}

int zdd_nl_watch_fd(const struct zdd_nl_watch *w)
{
	return nl_socket_get_fd(w->sk);
}

bool zdd_nl_watch_changed(struct zdd_nl_watch *w)
{
	int err;

	w->changed = false;
	while ((err = nl_recvmsgs_default(w->sk)) > 0)
		;
	/* An error but "nothing more to read" may have lost a change. */
	if (err < 0 && err != -NLE_AGAIN)
		w->changed = true;
	return w->changed;
}

void zdd_nl_watch_close(struct zdd_nl_watch *w)
{
	if (!w)
		return;
	if (w->sk)
		nl_socket_free(w->sk);
	free(w);
}
