// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/decap.c - see decap.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpffs.h"
#include "decap.h"
#include "log.h"
#include "percpu.h"
#include "zdd_decap.skel.h"

/* The handle is the skeleton itself: nothing else to keep. */
void zdd_decap_close(struct zdd_decap *d)
{
	zdd_decap__destroy(d);
}

static int set_pin(struct bpf_map *map, const char *dir)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map)) >= sizeof(path))
		return -ENAMETOOLONG;
	return bpf_map__set_pin_path(map, path);
}

int zdd_decap_open_load(struct zdd_decap **out, const char *pin_dir, bool mount_bpffs)
{
	struct zdd_decap *d = zdd_decap__open();
	int err;

	if (!d)
		return log_err(-errno, "open the zdd_decap BPF object");
	if (pin_dir) {
		err = zdd_bpffs_mkdir(pin_dir, mount_bpffs) ?:
		      set_pin(d->maps.zdd_decap_dst, pin_dir) ?:
		      set_pin(d->maps.zdd_dstats, pin_dir);
		if (err)
			goto fail;
	}
	err = zdd_decap__load(d);
	if (err) {
		err = log_err(err, "load zdd_decap (-vv shows the verifier log)");
		goto fail;
	}
	*out = d;
	return 0;
fail:
	zdd_decap_close(d);
	return err;
}

int zdd_decap_prog_fd(const struct zdd_decap *d)
{
	return bpf_program__fd(d->progs.zdd_xdp_decap);
}

int zdd_decap_addr_add(struct zdd_decap *d, const __u8 addr[16])
{
	struct zdd_vip_key key;
	__u8 one = 1;

	__builtin_memcpy(key.addr, addr, 16);
	if (bpf_map__update_elem(d->maps.zdd_decap_dst, &key, sizeof(key), &one, sizeof(one),
				 BPF_ANY))
		return -errno;
	return 0;
}

int zdd_decap_counters(struct zdd_decap *d, __u64 counts[ZDD_D_MAX])
{
	int fd = bpf_map__fd(d->maps.zdd_dstats), i, err;

	for (i = 0; i < ZDD_D_MAX; i++) {
		err = zdd_percpu_sum(fd, i, &counts[i], 1);
		if (err)
			return err;
	}
	return 0;
}
