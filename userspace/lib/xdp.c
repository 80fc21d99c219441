// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/xdp.c - see xdp.h. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include "log.h"
#include "xdp.h"

int zdd_xdp_link_path(char *buf, size_t len, const char *pin_dir, const char *role,
		      const char *ifname)
{
	if ((size_t)snprintf(buf, len, "%s/link_%s_%s", pin_dir, role, ifname) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int zdd_xdp_attach(int prog_fd, int ifindex, bool generic, const char *path, bool *updated)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = generic ? XDP_FLAGS_SKB_MODE : 0);
	int fd, err;

	*updated = false;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		err = bpf_link_update(fd, prog_fd, NULL);
		close(fd);
		if (err)
			return log_err(-errno, "replace the program in %s", path);
		*updated = true;
		return 0;
	}
	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		err = -errno;
		if (err == -EBUSY || err == -EEXIST)
			return log_err(err, "another XDP program is attached to ifindex %d",
				       ifindex);
		return log_err(err, "attach XDP (%s mode) to ifindex %d%s",
			       generic ? "generic" : "native", ifindex,
			       generic ? "" : "; --generic may work where the driver has no XDP");
	}
	err = bpf_obj_pin(fd, path) ? -errno : 0;
	close(fd); /* on success the pin holds the link; on failure this detaches */
	if (err)
		return log_err(err, "pin the XDP link at %s", path);
	return 0;
}

int zdd_xdp_detach(const char *path)
{
	if (unlink(path))
		return -errno;
	return 0;
}
