// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/decap.c - see decap.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpffs.h"
#include "decap.h"
#include "log.h"
#include "percpu.h"
#include "zdd_decap.skel.h"

/* The counters before drop_foreign_source, of another size: nothing reads them any more. */
#define OLD_STATS_PIN "zdd_dstats"

/* The handle is the skeleton itself: nothing else to keep. */
void zdd_decap_close(struct zdd_decap *d)
{
	zdd_decap__destroy(d);
}

static int pin_path(char *path, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(path, len, "%s/%s", dir, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int set_pin(struct bpf_map *map, const char *dir)
{
	char path[PATH_MAX];

	return pin_path(path, sizeof(path), dir, bpf_map__name(map))
		       ?: bpf_map__set_pin_path(map, path);
}

int zdd_decap_open_load(struct zdd_decap **out, const char *pin_dir, bool mount_bpffs)
{
	struct zdd_decap *d = zdd_decap__open();
	char old[PATH_MAX];
	int err;

	if (!d)
		return log_err(-errno, "open the zdd_decap BPF object");
	if (pin_dir) {
		err = zdd_bpffs_mkdir(pin_dir, mount_bpffs) ?:
		      set_pin(d->maps.zdd_decap_dst, pin_dir) ?:
		      set_pin(d->maps.zdd_decap_from, pin_dir) ?:
		      set_pin(d->maps.zdd_decap_stats, pin_dir);
		if (err)
			goto fail;
	}
	err = zdd_decap__load(d);
	if (err) {
		err = log_err(err, "load zdd_decap (-vv shows the verifier log)");
		goto fail;
	}
	if (pin_dir && !pin_path(old, sizeof(old), pin_dir, OLD_STATS_PIN))
		unlink(old);
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

int zdd_decap_set_from(struct zdd_decap *d, const struct zdd_prefix_key *p, size_t n)
{
	/* The shape of struct zdd_decap_src_set in the program: the kernel checks it. */
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	__u32 zero = 0;
	__u8 one = 1;
	int fd, err = 0;
	size_t i;

	if (n > ZDD_DECAP_MAX_FROM)
		return -E2BIG;
	fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "zdd_decap_src", sizeof(*p), sizeof(one),
			    ZDD_DECAP_MAX_FROM, &opts);
	if (fd < 0)
		return log_err(-errno, "create a set of tunnel sources");
	for (i = 0; i < n && !err; i++)
		if (bpf_map_update_elem(fd, &p[i], &one, BPF_ANY))
			err = log_err(-errno, "add a tunnel source");
	/* The outer map holds the set; our fd goes, the set stays for as long as it is in use. */
	if (!err && bpf_map__update_elem(d->maps.zdd_decap_from, &zero, sizeof(zero), &fd,
					 sizeof(fd), BPF_ANY))
		err = log_err(-errno, "install the tunnel sources");
	close(fd);
	return err;
}

static const char *const counter_names[ZDD_D_MAX] = {
#define ZDD_DECAP_NAME(e, name, verdict) [ZDD_D_##e] = name,
	ZDD_DECAP_COUNTERS(ZDD_DECAP_NAME)
#undef ZDD_DECAP_NAME
};

const char *zdd_decap_counter_name(enum zdd_decap_counter c)
{
	return (unsigned int)c < ZDD_D_MAX ? counter_names[c] : "unknown";
}

static int read_counters(int fd, __u64 counts[ZDD_D_MAX])
{
	int i, err;

	for (i = 0; i < ZDD_D_MAX; i++) {
		err = zdd_percpu_sum(fd, i, &counts[i], 1);
		if (err)
			return err;
	}
	return 0;
}

int zdd_decap_counters(struct zdd_decap *d, __u64 counts[ZDD_D_MAX])
{
	return read_counters(bpf_map__fd(d->maps.zdd_decap_stats), counts);
}

static int prefix_cmp(const void *a, const void *b)
{
	const struct zdd_prefix_key *x = a, *y = b;
	int r = memcmp(x->addr, y->addr, sizeof(x->addr));

	return r ? r : (x->prefixlen > y->prefixlen) - (x->prefixlen < y->prefixlen);
}

/* The set in the outer map's slot: userspace reads an inner map's id there. */
static int read_set(int outer_fd, struct zdd_decap_info *out)
{
	struct zdd_prefix_key key, *prev = NULL;
	__u32 zero = 0, id;
	int fd, err = 0;

	out->has_set = false;
	out->n_from = 0;
	if (bpf_map_lookup_elem(outer_fd, &zero, &id))
		return errno == ENOENT ? 0 : -errno;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	out->has_set = true;
	/* Bounded: the trie holds at most ZDD_DECAP_MAX_FROM keys. */
	while (out->n_from < ZDD_DECAP_MAX_FROM && !bpf_map_get_next_key(fd, prev, &key)) {
		out->from[out->n_from] = key;
		prev = &out->from[out->n_from++];
	}
	if (errno != ENOENT && out->n_from < ZDD_DECAP_MAX_FROM)
		err = -errno;
	close(fd);
	qsort(out->from, out->n_from, sizeof(out->from[0]), prefix_cmp);
	return err;
}

int zdd_decap_info(struct zdd_decap *d, struct zdd_decap_info *out)
{
	return read_set(bpf_map__fd(d->maps.zdd_decap_from), out)
		       ?: zdd_decap_counters(d, out->counts);
}

int zdd_decap_info_pinned(const char *pin_dir, struct zdd_decap_info *out)
{
	char path[PATH_MAX];
	int from = -1, stats = -1, err;

	err = pin_path(path, sizeof(path), pin_dir, "zdd_decap_from");
	if (!err && (from = bpf_obj_get(path)) < 0)
		err = -errno;
	if (!err)
		err = pin_path(path, sizeof(path), pin_dir, "zdd_decap_stats");
	if (!err && (stats = bpf_obj_get(path)) < 0)
		err = -errno;
	if (!err)
		err = read_set(from, out) ?: read_counters(stats, out->counts);
	if (from >= 0)
		close(from);
	if (stats >= 0)
		close(stats);
	return err;
}

bool zdd_decap_info_any(const struct zdd_decap_info *info)
{
	size_t i;

	for (i = 0; i < info->n_from; i++)
		if (!info->from[i].prefixlen)
			return true;
	return false;
}
