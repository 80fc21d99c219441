// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/netlink.c - see netlink.h. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include "addr.h"
#include "log.h"
#include "netlink.h"

static struct nl_sock *nl_open(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk)
		return NULL;
	if (nl_connect(sk, NETLINK_ROUTE)) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

/* libnl's own error codes are not errnos: map the ones a caller can act on. */
static int nl_errno(int nlerr)
{
	switch (-nlerr) {
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		return -ENODEV;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	default:
		return -EIO;
	}
}

static void to_addr16(int family, const void *bin, __u8 out[16])
{
	if (family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, bin, 4);
	} else {
		memcpy(out, bin, 16);
	}
}

struct addr_walk {
	int ifindex;
	struct zdd_iface *iface; /* first global addresses, or NULL */
	__u8 (*addrs)[16];	 /* every address, or NULL */
	size_t max, n;
};

static void addr_visit(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct addr_walk *w = arg;
	struct nl_addr *local = rtnl_addr_get_local(a);
	int family = rtnl_addr_get_family(a);
	bool usable;

	if (!local || rtnl_addr_get_ifindex(a) != w->ifindex ||
	    (family != AF_INET && family != AF_INET6))
		return;
	if (w->addrs && w->n < w->max)
		to_addr16(family, nl_addr_get_binary_addr(local), w->addrs[w->n++]);
	usable = rtnl_addr_get_scope(a) == RT_SCOPE_UNIVERSE &&
		 !(rtnl_addr_get_flags(a) & (IFA_F_TENTATIVE | IFA_F_DEPRECATED | IFA_F_DADFAILED));
	if (!w->iface || !usable)
		return;
	if (family == AF_INET && !w->iface->has4) {
		memcpy(w->iface->addr4, nl_addr_get_binary_addr(local), 4);
		w->iface->has4 = true;
	} else if (family == AF_INET6 && !w->iface->has6) {
		memcpy(w->iface->addr6, nl_addr_get_binary_addr(local), 16);
		w->iface->has6 = true;
	}
}

static int walk_addrs(struct nl_sock *sk, struct addr_walk *w)
{
	struct nl_cache *cache;
	int err = rtnl_addr_alloc_cache(sk, &cache);

	if (err)
		return nl_errno(err);
	nl_cache_foreach(cache, addr_visit, w);
	nl_cache_free(cache);
	return 0;
}

int zdd_nl_iface(const char *name, struct zdd_iface *out)
{
	struct nl_sock *sk = nl_open();
	struct rtnl_link *link = NULL;
	struct addr_walk w = { .iface = out };
	struct nl_addr *mac;
	int err;

	memset(out, 0, sizeof(*out));
	if (!sk)
		return -ENOMEM;
	err = rtnl_link_get_kernel(sk, 0, name, &link);
	if (err) {
		err = nl_errno(err);
		goto out;
	}
	out->ifindex = rtnl_link_get_ifindex(link);
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->mtu = rtnl_link_get_mtu(link);
	mac = rtnl_link_get_addr(link);
	if (mac && nl_addr_get_len(mac) == 6)
		memcpy(out->mac, nl_addr_get_binary_addr(mac), 6);
	w.ifindex = out->ifindex;
	err = walk_addrs(sk, &w);
out:
	if (link)
		rtnl_link_put(link);
	nl_socket_free(sk);
	return err;
}

int zdd_nl_iface_addrs(int ifindex, __u8 (*addrs)[16], size_t max, size_t *n)
{
	struct nl_sock *sk = nl_open();
	struct addr_walk w = { .ifindex = ifindex, .addrs = addrs, .max = max };
	int err;

	if (!sk)
		return -ENOMEM;
	err = walk_addrs(sk, &w);
	nl_socket_free(sk);
	*n = w.n;
	return err;
}

struct route_result {
	int ifindex;
	bool has_gw;
	__u8 gw[16];
	int family;
};

static int route_visit(struct nl_msg *msg, void *arg)
{
	struct route_result *r = arg;
	struct rtnl_route *route;
	struct rtnl_nexthop *nh;
	struct nl_addr *gw;

	if (rtnl_route_parse(nlmsg_hdr(msg), &route) < 0)
		return NL_SKIP;
	if (rtnl_route_get_nnexthops(route) > 0) {
		nh = rtnl_route_nexthop_n(route, 0);
		r->ifindex = rtnl_route_nh_get_ifindex(nh);
		gw = rtnl_route_nh_get_gateway(nh);
		if (gw && nl_addr_get_family(gw) == r->family) {
			to_addr16(r->family, nl_addr_get_binary_addr(gw), r->gw);
			r->has_gw = true;
		}
	}
	rtnl_route_put(route);
	return NL_OK;
}

/* RTM_GETROUTE: the kernel's own answer for where a packet to addr goes. */
static int route_get(struct nl_sock *sk, const __u8 addr[16], struct route_result *r)
{
	bool v4 = zdd_addr_is_v4(addr);
	struct rtmsg rtm = { .rtm_family = v4 ? AF_INET : AF_INET6, .rtm_dst_len = v4 ? 32 : 128 };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, 0);
	int err;

	if (!msg)
		return -ENOMEM;
	r->family = rtm.rtm_family;
	err = nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO)
		      ?: nla_put(msg, RTA_DST, v4 ? 4 : 16, v4 ? addr + 12 : addr);
	if (!err)
		err = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (err < 0)
		return nl_errno(err);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, route_visit, r);
	err = nl_recvmsgs_default(sk);
	if (err < 0)
		return err == -NLE_OBJ_NOTFOUND || err == -NLE_NOADDR ? -ENETUNREACH
								      : nl_errno(err);
	return r->ifindex ? 0 : -ENETUNREACH;
}

/* A socket of its own: one that answered RTM_GETROUTE may still hold the end of that dump. */
static int neigh_lookup(int ifindex, const __u8 addr[16], __u8 mac[6])
{
	struct nl_sock *sk = nl_open();
	bool v4 = zdd_addr_is_v4(addr);
	struct nl_addr *dst = nl_addr_build(v4 ? AF_INET : AF_INET6, v4 ? addr + 12 : addr,
					    v4 ? 4 : 16);
	struct nl_cache *cache = NULL;
	struct rtnl_neigh *n = NULL;
	struct nl_addr *ll;
	int err = -EHOSTUNREACH;

	if (!dst || !sk) {
		err = -ENOMEM;
		goto out;
	}
	if (rtnl_neigh_alloc_cache(sk, &cache)) {
		err = -EIO;
		goto out;
	}
	n = rtnl_neigh_get(cache, ifindex, dst);
	if (n && (rtnl_neigh_get_state(n) & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE |
					     NUD_PERMANENT | NUD_NOARP))) {
		ll = rtnl_neigh_get_lladdr(n);
		if (ll && nl_addr_get_len(ll) == 6) {
			memcpy(mac, nl_addr_get_binary_addr(ll), 6);
			err = 0;
		}
	}
out:
	if (n)
		rtnl_neigh_put(n);
	nl_cache_free(cache);
	nl_addr_put(dst);
	nl_socket_free(sk);
	return err;
}

/* Makes the kernel resolve the neighbour: one datagram to the discard port. */
static void neigh_probe(const __u8 addr[16])
{
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
	struct sockaddr_in sa4 = { .sin_family = AF_INET, .sin_port = htons(9) };
	bool v4 = zdd_addr_is_v4(addr);
	int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	memcpy(&sa4.sin_addr, addr + 12, 4);
	memcpy(&sa6.sin6_addr, addr, 16);
	if (v4)
		sendto(fd, "", 0, MSG_DONTWAIT, (struct sockaddr *)&sa4, sizeof(sa4));
	else
		sendto(fd, "", 0, MSG_DONTWAIT, (struct sockaddr *)&sa6, sizeof(sa6));
	close(fd);
}

/* The next hop toward addr through ifindex (*hop: the gateway, or addr when on-link), and its
 * MAC when the neighbour table has it. */
static int next_hop(int ifindex, const __u8 addr[16], __u8 hop[16], __u8 mac[6])
{
	struct nl_sock *sk = nl_open();
	struct route_result r = {};
	int err;

	if (!sk)
		return -ENOMEM;
	err = route_get(sk, addr, &r);
	nl_socket_free(sk);
	if (!err && r.ifindex != ifindex)
		err = -EXDEV; /* the tunnel would leave through another interface */
	memcpy(hop, r.has_gw ? r.gw : addr, 16);
	return err ?: neigh_lookup(ifindex, hop, mac);
}

int zdd_nl_next_hop_lookup(int ifindex, const __u8 addr[16], __u8 mac[6])
{
	__u8 hop[16];
	int err = next_hop(ifindex, addr, hop, mac);

	if (err == -EHOSTUNREACH)
		neigh_probe(hop); /* its answer comes as a neighbour event */
	return err;
}

int zdd_nl_next_hop_mac(int ifindex, const __u8 addr[16], __u8 mac[6])
{
	const struct timespec tick = { 0, 50 * 1000 * 1000 };
	__u8 hop[16];
	int err, i;

	err = next_hop(ifindex, addr, hop, mac);
	/* Not resolved yet: ask the kernel to, and give it a second. */
	for (i = 0; err == -EHOSTUNREACH && i < 20; i++) {
		if (i == 0)
			neigh_probe(hop);
		nanosleep(&tick, NULL);
		err = neigh_lookup(ifindex, hop, mac);
	}
	return err;
}

int zdd_nl_dummy_up(const char *name)
{
	struct nl_sock *sk = nl_open();
	struct rtnl_link *link = NULL, *change = NULL;
	int err;

	if (!sk)
		return -ENOMEM;
	err = rtnl_link_get_kernel(sk, 0, name, &link);
	if (err) {
		link = rtnl_link_alloc();
		err = link ? 0 : -NLE_NOMEM;
		if (!err) {
			rtnl_link_set_name(link, name);
			err = rtnl_link_set_type(link, "dummy")
				      ?: rtnl_link_add(sk, link, NLM_F_CREATE);
		}
		rtnl_link_put(link);
		link = NULL;
		err = err ?: rtnl_link_get_kernel(sk, 0, name, &link);
	}
	change = err ? NULL : rtnl_link_alloc();
	if (change) {
		rtnl_link_set_flags(change, IFF_UP);
		err = rtnl_link_change(sk, link, change, 0);
		rtnl_link_put(change);
	}
	if (link)
		rtnl_link_put(link);
	nl_socket_free(sk);
	return err ? nl_errno(err) : 0;
}

int zdd_nl_host_addr(const char *ifname, const __u8 addr[16], bool add)
{
	bool v4 = zdd_addr_is_v4(addr);
	struct nl_sock *sk = nl_open();
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = nl_addr_build(v4 ? AF_INET : AF_INET6, v4 ? addr + 12 : addr,
					      v4 ? 4 : 16);
	int ifindex = if_nametoindex(ifname), err;

	err = !sk || !a || !local ? -NLE_NOMEM : !ifindex ? -NLE_NODEV : 0;
	if (!err) {
		nl_addr_set_prefixlen(local, v4 ? 32 : 128);
		rtnl_addr_set_ifindex(a, ifindex);
		rtnl_addr_set_local(a, local);
		rtnl_addr_set_flags(a, IFA_F_NODAD);
		err = add ? rtnl_addr_add(sk, a, NLM_F_REPLACE) : rtnl_addr_delete(sk, a, 0);
		if (!add && (err == -NLE_NOADDR || err == -NLE_OBJ_NOTFOUND))
			err = 0; /* already gone */
	}
	nl_addr_put(local);
	rtnl_addr_put(a);
	nl_socket_free(sk);
	return err ? nl_errno(err) : 0;
}
