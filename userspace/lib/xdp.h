/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/xdp.h - XDP attachment through pinned bpf_links: the program stays attached
 * after the command that attached it exits, and an upgrade swaps it in the same link. */
#ifndef ZDD_XDP_H
#define ZDD_XDP_H

#include <stdbool.h>
#include <stddef.h>

/* Pin path of the link of role ("lb" or "decap") on ifname. */
int zdd_xdp_link_path(char *buf, size_t len, const char *pin_dir, const char *role,
		      const char *ifname);
/* Attaches prog_fd to ifindex and pins the link at path; when path already holds a link, the
 * program is replaced in it atomically (*updated = true) and no packet misses XDP. */
int zdd_xdp_attach(int prog_fd, int ifindex, bool generic, const char *path, bool *updated);
/* Removes the pin; the kernel detaches when the last reference goes. -ENOENT if none. */
int zdd_xdp_detach(const char *path);

#endif /* ZDD_XDP_H */
