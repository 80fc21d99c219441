// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/hcheck.c - see hcheck.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "handle.h"
#include "hcheck.h"
#include "log.h"
#include "percpu.h"
#include "zdd_hcheck.skel.h"

/* linux/bpf.h of Debian 12 (Linux 6.1) predates tcx: the kernel's value of BPF_TCX_EGRESS. */
#define TCX_EGRESS 47
/* The clsact filter of kernels without tcx: ours by its handle and priority. */
#define TC_HANDLE 0x2dd
#define TC_PRIO	  0x2dd

struct zdd_hc {
	struct zdd_hcheck *skel;
	struct zdd *z;
	int ifindex;
	int link_fd; /* the tcx link; -1 without (tests, or the clsact filter) */
	bool tc_filter;
};

static int attach_tc(struct zdd_hc *hc)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = hc->ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO,
		    .prog_fd = bpf_program__fd(hc->skel->progs.zdd_tc_hcheck),
		    .flags = BPF_TC_F_REPLACE);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return log_err(err, "create the clsact qdisc on ifindex %d", hc->ifindex);
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return log_err(err, "attach the tunnel probes' TC program to ifindex %d",
			       hc->ifindex);
	hc->tc_filter = true;
	return 0;
}

static int attach(struct zdd_hc *hc)
{
	hc->link_fd = bpf_link_create(bpf_program__fd(hc->skel->progs.zdd_tc_hcheck), hc->ifindex,
				      TCX_EGRESS, NULL);
	if (hc->link_fd >= 0)
		return 0;
	if (errno != EINVAL)
		return log_err(-errno, "attach the tunnel probes' TC program to ifindex %d",
			       hc->ifindex);
	return attach_tc(hc); /* no tcx here */
}

int zdd_hc_open(struct zdd_hc **out, struct zdd *z, int ifindex)
{
	struct zdd_hc *hc = calloc(1, sizeof(*hc));
	struct bpf_map *m;
	int err = 0;

	if (!hc)
		return -ENOMEM;
	hc->z = z;
	hc->ifindex = ifindex;
	hc->link_fd = -1;
	hc->skel = zdd_hcheck__open();
	if (!hc->skel) {
		err = log_err(-errno, "open the zdd_hcheck BPF object");
		goto fail;
	}
	/* zdd_maps.h declares every map of the balancer: the two read here are its own, the
	 * others are not made at all. */
	bpf_object__for_each_map(m, hc->skel->obj)
	{
		if (m == hc->skel->maps.zdd_backends)
			err = bpf_map__reuse_fd(m, zdd_map_fd(z, ZDD_MAP_BACKENDS));
		else if (m == hc->skel->maps.zdd_config)
			err = bpf_map__reuse_fd(m, zdd_map_fd(z, ZDD_MAP_CONFIG));
		else if (m != hc->skel->maps.zdd_hc_probes && m != hc->skel->maps.zdd_hc_stats &&
			 !bpf_map__is_internal(m))
			err = bpf_map__set_autocreate(m, false);
		if (err)
			break;
	}
	if (!err)
		err = zdd_hcheck__load(hc->skel);
	if (err) {
		err = log_err(err, "load zdd_hcheck (-vv shows the verifier log)");
		goto fail;
	}
	if (ifindex) {
		err = attach(hc);
		if (err)
			goto fail;
	}
	*out = hc;
	return 0;
fail:
	zdd_hc_close(hc);
	return err;
}

void zdd_hc_close(struct zdd_hc *hc)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO);

	if (!hc)
		return;
	if (hc->link_fd >= 0)
		close(hc->link_fd);
	if (hc->tc_filter) {
		hook.ifindex = hc->ifindex;
		bpf_tc_detach(&hook, &opts);
	}
	zdd_hcheck__destroy(hc->skel);
	free(hc);
}

int zdd_hc_prog_fd(const struct zdd_hc *hc)
{
	return bpf_program__fd(hc->skel->progs.zdd_tc_hcheck);
}

/* Whether slot id holds backend addr of the service with that index. */
static bool holds(struct zdd *z, __u32 id, __u32 index, const __u8 addr[16])
{
	struct zdd_backend_val val;

	return id != ZDD_NO_BACKEND && !zdd_backend_read(z, id, &val) &&
	       val.state != ZDD_BE_EMPTY && val.service == index && !memcmp(val.addr, addr, 16);
}

int zdd_hc_probe_add(struct zdd_hc *hc, const struct zdd_flow_key *k,
		     const struct zdd_service_key *svc, const __u8 addr[16], __u32 *id)
{
	struct zdd_service_val sval;
	struct zdd_backend b;
	int err;

	err = zdd_service_get(hc->z, svc, &sval);
	if (err)
		return err;
	if (!holds(hc->z, *id, sval.index, addr)) {
		/* A scan of the slots: once per backend, and again after it moved. */
		err = zdd_backend_find(hc->z, svc, addr, &b);
		if (err)
			return err;
		*id = b.id;
	}
	if (bpf_map__update_elem(hc->skel->maps.zdd_hc_probes, k, sizeof(*k), id, sizeof(*id),
				 BPF_ANY))
		return -errno;
	return 0;
}

int zdd_hc_probe_del(struct zdd_hc *hc, const struct zdd_flow_key *k)
{
	if (bpf_map__delete_elem(hc->skel->maps.zdd_hc_probes, k, sizeof(*k), 0))
		return -errno;
	return 0;
}

int zdd_hc_counters(struct zdd_hc *hc, __u64 counts[ZDD_HC_MAX])
{
	int fd = bpf_map__fd(hc->skel->maps.zdd_hc_stats), i, err;

	for (i = 0; i < ZDD_HC_MAX; i++) {
		err = zdd_percpu_sum(fd, i, &counts[i], 1);
		if (err)
			return err;
	}
	return 0;
}

static const char *const counter_names[ZDD_HC_MAX] = {
#define ZDD_HCHECK_NAME(e, name, verdict) [ZDD_HC_##e] = name,
	ZDD_HCHECK_COUNTERS(ZDD_HCHECK_NAME)
#undef ZDD_HCHECK_NAME
};

const char *zdd_hc_counter_name(enum zdd_hcheck_counter c)
{
	return (unsigned int)c < ZDD_HC_MAX ? counter_names[c] : "unknown";
}
