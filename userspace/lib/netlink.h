/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/netlink.h - what the data path needs to know about the host, from rtnetlink
 * (libnl): an interface's index, MTU and addresses, the MAC of the next hop to a backend, and
 * the changes of neighbours and routes that move it. */
#ifndef ZDD_NETLINK_H
#define ZDD_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <linux/types.h>

struct zdd_iface {
	int ifindex;
	char name[IF_NAMESIZE];
	__u32 mtu;
	__u8 mac[6];
	bool has4, has6;
	__u8 addr4[4];	/* first global IPv4 address */
	__u8 addr6[16]; /* first global IPv6 address, not tentative or deprecated */
};

/* Looks the interface up by name in the current network namespace. */
int zdd_nl_iface(const char *name, struct zdd_iface *out);
/* Every address on the interface (16-byte form, IPv4 mapped); *n is set to the count. */
int zdd_nl_iface_addrs(int ifindex, __u8 (*addrs)[16], size_t max, size_t *n);
/* The MAC to send to for addr: the route's gateway, or addr itself when on-link. The route
 * must leave through ifindex. A missing neighbour is probed once, then -EHOSTUNREACH. */
int zdd_nl_next_hop_mac(int ifindex, const __u8 addr[16], __u8 mac[6]);
/* The same without waiting: a missing neighbour is probed, and -EHOSTUNREACH at once. */
int zdd_nl_next_hop_lookup(int ifindex, const __u8 addr[16], __u8 mac[6]);

/* A subscription to the kernel's neighbour and route changes, for an epoll loop. */
struct zdd_nl_watch;
int zdd_nl_watch_open(struct zdd_nl_watch **out);
int zdd_nl_watch_fd(const struct zdd_nl_watch *w);
/* Reads what arrived, without blocking: true when a neighbour or a route changed, or when
 * changes were lost (the socket overflowed): then every next hop is to be looked up again. */
bool zdd_nl_watch_changed(struct zdd_nl_watch *w);
void zdd_nl_watch_close(struct zdd_nl_watch *w);

/* The interface where announced addresses live, up: an existing one (lo, say) as it is, else
 * a dummy interface created under that name (where the kernel has the dummy driver). */
int zdd_nl_dummy_up(const char *name);
/* Adds (or removes) addr as a host address (/32, /128, no DAD) on the interface. Adding an
 * address that is there, or removing one that is not, is not an error. */
int zdd_nl_host_addr(const char *ifname, const __u8 addr[16], bool add);

#endif /* ZDD_NETLINK_H */
