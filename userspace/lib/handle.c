// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/handle.c - open, load and pin the LB's maps; adopt them when already pinned,
 * so a restart or an upgrade keeps every flow. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpffs.h"
#include "handle.h"
#include "log.h"
#include "maglev.h"
#include "zdd_lb.skel.h"

static const char *const map_names[ZDD_MAP_COUNT] = {
	[ZDD_MAP_SERVICES] = "zdd_services",  [ZDD_MAP_VIPS] = "zdd_vips",
	[ZDD_MAP_BACKENDS] = "zdd_backends",  [ZDD_MAP_MAGLEV] = "zdd_maglev16",
	[ZDD_MAP_EMBRYO] = "zdd_embryo_sets", [ZDD_MAP_FLOWS] = "zdd_flow_sets",
	[ZDD_MAP_BSTATS] = "zdd_bstats",      [ZDD_MAP_SSTATS] = "zdd_sstats",
	[ZDD_MAP_REASONS] = "zdd_reasons",    [ZDD_MAP_CONFIG] = "zdd_config",
	[ZDD_MAP_COHORTS] = "zdd_cohorts",    [ZDD_MAP_ADOPTED] = "zdd_adopted",
};

const char *zdd_map_name(enum zdd_map map)
{
	return map_names[map];
}

int zdd_map_fd(const struct zdd *z, enum zdd_map map)
{
	return z->fd[map];
}

int zdd_lb_prog_fd(const struct zdd *z)
{
	return z->skel ? bpf_program__fd(z->skel->progs.zdd_xdp_lb) : -ENOENT;
}

const struct zdd_limits *zdd_get_limits(const struct zdd *z)
{
	return &z->limits;
}

bool zdd_adopted(const struct zdd *z)
{
	return z->adopted;
}

static struct zdd *zdd_alloc(void)
{
	struct zdd *z = calloc(1, sizeof(*z));
	int i;

	if (!z)
		return NULL;
	for (i = 0; i < ZDD_MAP_COUNT; i++)
		z->fd[i] = -1;
	z->dir_fd = -1;
	return z;
}

void zdd_close(struct zdd *z)
{
	int i;

	if (!z)
		return;
	if (z->maglev)
		munmap(z->maglev, z->maglev_len);
	if (z->flow_sets)
		munmap(z->flow_sets, z->flow_sets_len);
	if (z->skel)
		zdd_lb__destroy(z->skel); /* owns the map fds */
	else
		for (i = 0; i < ZDD_MAP_COUNT; i++)
			if (z->fd[i] >= 0)
				close(z->fd[i]);
	if (z->dir_fd >= 0)
		close(z->dir_fd);
	free(z);
}

static int max_entries(int fd, __u32 *out)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);

	if (err)
		return -errno;
	*out = info.max_entries;
	return 0;
}

/* Sizes of pinned maps win over defaults; an explicit different size is an error, not a
 * silent re-creation that would drop every flow. */
static int limits_from_fds(const int fd[ZDD_MAP_COUNT], struct zdd_limits *l)
{
	__u32 maglev = 0, sets = 0, flow_sets = 0;
	int err;

	err = max_entries(fd[ZDD_MAP_SERVICES], &l->services) ?:
	      max_entries(fd[ZDD_MAP_BACKENDS], &l->backends) ?:
	      max_entries(fd[ZDD_MAP_FLOWS], &flow_sets) ?:
	      max_entries(fd[ZDD_MAP_ADOPTED], &l->adopted) ?:
	      max_entries(fd[ZDD_MAP_EMBRYO], &sets) ?:
	      max_entries(fd[ZDD_MAP_MAGLEV], &maglev);
	if (err)
		return err;
	l->embryos = sets * ZDD_EMBRYO_WAYS;
	l->flows = flow_sets * ZDD_FLOWS_PER_SET;
	if (!l->services)
		return -EINVAL;
	/* Entries hold four ids each: m is the odd row length that fills them. */
	l->maglev_m = (__u64)maglev * 4 / (l->services * ZDD_POOLS * 2);
	if (ZDD_MAGLEV_ENTRIES(l->services, l->maglev_m) != maglev)
		return -EINVAL;
	return 0;
}

static int limits_check(struct zdd_limits *l, const struct zdd_limits *want)
{
	const __u32 *have = (const __u32 *)l, *req = (const __u32 *)want;
	size_t i;

	for (i = 0; i < sizeof(*l) / sizeof(__u32); i++)
		if (req[i] && req[i] != have[i])
			return -EEXIST;
	return 0;
}

static void limits_default(struct zdd_limits *l)
{
	if (!l->services)
		l->services = ZDD_DEF_SERVICES;
	if (!l->backends)
		l->backends = ZDD_DEF_BACKENDS;
	if (!l->maglev_m)
		l->maglev_m = ZDD_DEF_MAGLEV_M;
	if (!l->flows)
		l->flows = ZDD_DEF_FLOWS;
	if (!l->embryos)
		l->embryos = ZDD_DEF_EMBRYOS;
	if (!l->adopted)
		l->adopted = ZDD_DEF_ADOPTED;
}

#define ZDD_MAX_EMBRYOS (1U << 30)
#define ZDD_MAX_FLOWS	(1U << 28) /* 32 GiB of zdd_flow_sets */

/* Sets of a set-associative table that hold n, rounded up. */
static __u32 whole_sets(__u32 n, __u32 per_set)
{
	return n / per_set + !!(n % per_set);
}

static __u32 embryo_sets(const struct zdd_limits *l)
{
	return whole_sets(l->embryos, ZDD_EMBRYO_WAYS);
}

static __u32 flow_sets(const struct zdd_limits *l)
{
	return whole_sets(l->flows, ZDD_FLOWS_PER_SET);
}

static int limits_valid(const struct zdd_limits *l)
{
	__u64 maglev = (__u64)l->services * ZDD_POOLS * 2 * l->maglev_m;

	if (!zdd_is_prime(l->maglev_m) || l->maglev_m < 3)
		return log_err(-EINVAL, "maglev size %u must be an odd prime", l->maglev_m);
	if (maglev * sizeof(__u16) > (1ULL << 31))
		return log_err(-E2BIG, "%u services x maglev %u exceed 2 GiB of tables",
			       l->services, l->maglev_m);
	if (l->backends < 1 || l->flows < 1 || l->embryos < 1 || l->adopted < 1)
		return log_err(-EINVAL, "every limit must be at least 1");
	if (l->backends > ZDD_MAX_BACKENDS)
		return log_err(-E2BIG, "at most %u backends: Maglev rows hold 16-bit ids",
			       ZDD_MAX_BACKENDS);
	return 0;
}

static int map_mmap_one(struct zdd *z, enum zdd_map map, size_t len, void **at, size_t *at_len)
{
	size_t page = sysconf(_SC_PAGESIZE);
	void *p;

	len = (len + page - 1) / page * page;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, z->fd[map], 0);
	if (p == MAP_FAILED)
		return log_err(-errno, "mmap %s", map_names[map]);
	*at = p;
	*at_len = len;
	return 0;
}

/* The Maglev tables are written, and the flow table walked and filled, in place. */
static int map_mmap(struct zdd *z)
{
	size_t maglev = (size_t)ZDD_MAGLEV_ENTRIES(z->limits.services, z->limits.maglev_m) *
			sizeof(struct zdd_maglev_ids);
	size_t flows = (size_t)flow_sets(&z->limits) * sizeof(struct zdd_flow_set);

	return map_mmap_one(z, ZDD_MAP_MAGLEV, maglev, (void **)&z->maglev, &z->maglev_len)
		       ?: map_mmap_one(z, ZDD_MAP_FLOWS, flows, (void **)&z->flow_sets,
				       &z->flow_sets_len);
}

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The commands that read or change a balancer need one: say how to get it, not ENOENT. */
static int nothing_pinned(const char *dir)
{
	pr_warn("no balancer pinned in %s: run zdd-bpfctl attach IFACE\n", dir);
	return -ENOENT;
}

static int open_pin_dir(struct zdd *z, const char *dir)
{
	z->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (z->dir_fd < 0)
		return errno == ENOENT ? nothing_pinned(dir)
				       : log_err(-errno, "open pin directory %s", dir);
	return zdd_bpffs_check(z->dir_fd, dir);
}

/* Opens whatever of our maps is pinned in dir. Returns how many were found. */
static int open_pins(const char *dir, int fd[ZDD_MAP_COUNT])
{
	char path[PATH_MAX];
	int i, found = 0;

	for (i = 0; i < ZDD_MAP_COUNT; i++) {
		fd[i] = -1;
		if (pin_path(path, sizeof(path), dir, map_names[i]))
			continue;
		fd[i] = bpf_obj_get(path);
		found += fd[i] >= 0;
	}
	return found;
}

static void close_fds(int fd[ZDD_MAP_COUNT])
{
	int i;

	for (i = 0; i < ZDD_MAP_COUNT; i++)
		if (fd[i] >= 0)
			close(fd[i]);
}

/* Adopted maps must speak this zdd's ABI. Checked before the load: libbpf refuses to reuse a
 * pinned map whose size changed with an error that names no version. */
static int check_abi(int config_fd, const char *pin_dir)
{
	struct zdd_config c;
	__u32 key = 0;

	if (bpf_map_lookup_elem(config_fd, &key, &c))
		return log_err(-errno, "read zdd_config");
	if (c.abi_version != ZDD_ABI_VERSION)
		return log_err(
			-EPROTO,
			"the maps pinned in %s are of zdd ABI %u, this zdd speaks %u: run the "
			"matching version, or detach --purge to start afresh (drops every flow)",
			pin_dir, c.abi_version, ZDD_ABI_VERSION);
	return 0;
}

/* Pinned maps to adopt: of this ABI (checked first: pins of another may lack a map of this
 * one, zdd_adopted of 6), and all of them. */
static int check_pins(const int fd[ZDD_MAP_COUNT], int found, const char *pin_dir)
{
	int err = fd[ZDD_MAP_CONFIG] >= 0 ? check_abi(fd[ZDD_MAP_CONFIG], pin_dir) : 0;

	if (!err && found != ZDD_MAP_COUNT)
		err = log_err(-EUCLEAN,
			      "%s holds %d of zdd's %d maps: an older or broken install; "
			      "remove it to start afresh",
			      pin_dir, found, ZDD_MAP_COUNT);
	return err;
}

/* Decides the limits: those of the pinned maps when there are any, else the requested. */
static int resolve_limits(struct zdd *z, const struct zdd_load_opts *o)
{
	struct zdd_limits want = o->limits;
	int pinned[ZDD_MAP_COUNT];
	int found, err = 0;

	if (want.embryos > ZDD_MAX_EMBRYOS)
		return log_err(-E2BIG, "at most %u embryonic flows", ZDD_MAX_EMBRYOS);
	if (want.flows > ZDD_MAX_FLOWS)
		return log_err(-E2BIG, "at most %u established flows", ZDD_MAX_FLOWS);
	want.embryos = embryo_sets(&want) * ZDD_EMBRYO_WAYS; /* whole sets */
	want.flows = flow_sets(&want) * ZDD_FLOWS_PER_SET;
	z->limits = want;
	if (!o->pin_dir) {
		limits_default(&z->limits);
		return limits_valid(&z->limits);
	}
	found = open_pins(o->pin_dir, pinned);
	if (found) {
		z->adopted = true;
		err = check_pins(pinned, found, o->pin_dir) ?: limits_from_fds(pinned, &z->limits);
		if (!err && limits_check(&z->limits, &want))
			err = log_err(-EEXIST, "pinned maps in %s have other sizes than requested",
				      o->pin_dir);
	} else {
		limits_default(&z->limits);
		err = limits_valid(&z->limits);
	}
	close_fds(pinned);
	return err;
}

static int size_and_pin_maps(struct zdd *z, const char *pin_dir)
{
	const struct zdd_limits *l = &z->limits;
	__u32 sizes[ZDD_MAP_COUNT] = {
		[ZDD_MAP_SERVICES] = l->services,
		[ZDD_MAP_VIPS] = l->services,
		[ZDD_MAP_BACKENDS] = l->backends,
		[ZDD_MAP_MAGLEV] = ZDD_MAGLEV_ENTRIES(l->services, l->maglev_m),
		[ZDD_MAP_EMBRYO] = embryo_sets(l),
		[ZDD_MAP_FLOWS] = flow_sets(l),
		[ZDD_MAP_ADOPTED] = l->adopted,
		[ZDD_MAP_BSTATS] = l->backends,
		[ZDD_MAP_SSTATS] = l->services,
		[ZDD_MAP_REASONS] = ZDD_REASON_SLOTS,
		[ZDD_MAP_CONFIG] = 1,
		[ZDD_MAP_COHORTS] = l->services * ZDD_POOLS * ZDD_COHORTS,
	};
	char path[PATH_MAX];
	struct bpf_map *map;
	int i, err, cpus;

	for (i = 0; i < ZDD_MAP_COUNT; i++) {
		map = bpf_object__find_map_by_name(z->skel->obj, map_names[i]);
		if (!map)
			return log_err(-ENOENT, "map %s missing from the BPF object", map_names[i]);
		err = bpf_map__set_max_entries(map, sizes[i]);
		if (!err && pin_dir) {
			err = pin_path(path, sizeof(path), pin_dir, map_names[i]);
			/* With a pin path, load reuses the pinned map or pins the new one. */
			err = err ?: bpf_map__set_pin_path(map, path);
		}
		if (err)
			return log_err(err, "prepare map %s", map_names[i]);
	}
	/* The caches: their slots per possible CPU, never pinned (flow_cache.h, svc_cache.h). */
	cpus = libbpf_num_possible_cpus();
	if (cpus < 0)
		return log_err(cpus, "count the possible CPUs");
	err = bpf_map__set_max_entries(z->skel->maps.zdd_flow_cache, cpus * ZDD_FLOW_CACHE_SLOTS);
	if (err)
		return log_err(err, "prepare map zdd_flow_cache");
	err = bpf_map__set_max_entries(z->skel->maps.zdd_svc_cache, cpus * ZDD_SVC_CACHE_SLOTS);
	return err ? log_err(err, "prepare map zdd_svc_cache") : 0;
}

static int init_config(struct zdd *z, __u64 grace_ns)
{
	struct zdd_config c = {
		.grace_ns = grace_ns ?: ZDD_DEF_GRACE_NS,
		.maglev_m = z->limits.maglev_m,
		.outer_ttl = ZDD_DEF_OUTER_TTL,
		.abi_version = ZDD_ABI_VERSION,
		.embryo_sets = embryo_sets(&z->limits),
		.flow_sets = flow_sets(&z->limits),
	};

	return zdd_config_set(z, &c);
}

int zdd_open_load(struct zdd **out, const struct zdd_load_opts *o)
{
	struct zdd *z = zdd_alloc();
	int i, err;

	if (!z)
		return -ENOMEM;
	if (o->pin_dir) {
		err = zdd_bpffs_mkdir(o->pin_dir, o->mount_bpffs) ?: open_pin_dir(z, o->pin_dir);
		if (err)
			goto fail;
	}
	err = resolve_limits(z, o);
	if (err)
		goto fail;
	z->skel = zdd_lb__open();
	if (!z->skel) {
		err = log_err(-errno, "open the zdd_lb BPF object");
		goto fail;
	}
	err = size_and_pin_maps(z, o->pin_dir);
	if (err)
		goto fail;
	err = zdd_lb__load(z->skel);
	if (err) {
		err = log_err(err, "load zdd_lb (-vv shows the verifier log)");
		goto fail;
	}
	for (i = 0; i < ZDD_MAP_COUNT; i++)
		z->fd[i] = bpf_map__fd(bpf_object__find_map_by_name(z->skel->obj, map_names[i]));
	err = map_mmap(z);
	if (!err && !z->adopted)
		err = init_config(z, o->grace_ns);
	if (err)
		goto fail;
	pr_debug("zdd: loaded, %s maps\n", z->adopted ? "adopted pinned" : "new");
	*out = z;
	return 0;
fail:
	zdd_close(z);
	return err;
}

int zdd_open_pinned(struct zdd **out, const char *pin_dir)
{
	struct zdd *z = zdd_alloc();
	int found, err;

	if (!z)
		return -ENOMEM;
	err = open_pin_dir(z, pin_dir);
	if (err)
		goto fail;
	found = open_pins(pin_dir, z->fd);
	if (!found) {
		err = nothing_pinned(pin_dir);
		goto fail;
	}
	z->adopted = true;
	err = check_pins(z->fd, found, pin_dir) ?: limits_from_fds(z->fd, &z->limits) ?:
	      map_mmap(z);
	if (err)
		goto fail;
	*out = z;
	return 0;
fail:
	zdd_close(z);
	return err;
}

/* Bounded: the agent takes it in its loop, and a writer stuck in it (a hung zdd-bpfctl) must
 * not stall rollbacks; the caller gets -ETIMEDOUT and tries again later. */
int zdd_lock(struct zdd *z)
{
	struct timespec pause = { 0, ZDD_LOCK_POLL_MS * 1000000L };
	int waited_ms;

	if (z->dir_fd < 0)
		return 0;
	for (waited_ms = 0; flock(z->dir_fd, LOCK_EX | LOCK_NB); waited_ms += ZDD_LOCK_POLL_MS) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return log_err(-errno, "lock the pin directory");
		if (waited_ms >= ZDD_LOCK_TIMEOUT_MS)
			return log_err(-ETIMEDOUT,
				       "lock the pin directory: another writer held it for %d ms",
				       waited_ms);
		nanosleep(&pause, NULL);
	}
	return 0;
}

void zdd_unlock(struct zdd *z)
{
	if (z->dir_fd >= 0)
		flock(z->dir_fd, LOCK_UN);
}

int zdd_config_get(struct zdd *z, struct zdd_config *c)
{
	__u32 key = 0;

	if (bpf_map_lookup_elem(z->fd[ZDD_MAP_CONFIG], &key, c))
		return log_err(-errno, "read zdd_config");
	return 0;
}

int zdd_config_set(struct zdd *z, const struct zdd_config *c)
{
	__u32 key = 0;

	if (bpf_map_update_elem(z->fd[ZDD_MAP_CONFIG], &key, c, BPF_ANY))
		return log_err(-errno, "write zdd_config");
	return 0;
}

int zdd_caches_stale(struct zdd *z)
{
	struct zdd_config c;
	int err = zdd_config_get(z, &c);

	if (err)
		return err;
	c.cache_epoch++;
	return zdd_config_set(z, &c);
}
