/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/attach.h - put a loaded balancer on an interface: the tunnel's source
 * addresses and MTU from the interface, every backend's next hop, and a pinned XDP link. */
#ifndef ZDD_ATTACH_H
#define ZDD_ATTACH_H

#include <stdbool.h>
#include <linux/types.h>
#include "zdd.h"

struct zdd_attach_opts {
	bool generic; /* XDP in generic (skb) mode */
	bool has_src4, has_src6, has_gw_mac;
	__u8 src4[4]; /* outer IPv4 source; default: the interface's first address */
	__u8 src6[16];
	__u8 gw_mac[6]; /* one next hop for all backends; default: resolve each */
};

/* Needs the pin directory the balancer was loaded with; *updated is true when an attached
 * program was replaced in its link (an upgrade) rather than attached anew. */
int zdd_attach(struct zdd *z, const char *pin_dir, const char *ifname,
	       const struct zdd_attach_opts *o, bool *updated);

#endif /* ZDD_ATTACH_H */
