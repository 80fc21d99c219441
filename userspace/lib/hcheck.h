/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/hcheck.h - health probes through the tunnel: bpf/zdd_hcheck.bpf.c on the
 * balancer's egress sends each registered probe connection to its backend in the tunnel, as the
 * balancer sends clients' packets (the same backend entry: address and next-hop MAC). */
#ifndef ZDD_HCHECK_H
#define ZDD_HCHECK_H

#include <linux/types.h>
#include "zdd.h"

struct zdd_hc;

/*
 * Loads the program with z's own zdd_backends and zdd_config (z must outlive the handle) and
 * attaches it to the egress of ifindex: through a tcx link that lives as long as the handle,
 * so nothing stays on the interface once the agent is gone; on kernels before tcx (6.6),
 * through a clsact filter replaced by the next open. ifindex 0: loaded only (tests).
 */
int zdd_hc_open(struct zdd_hc **out, struct zdd *z, int ifindex);
/* Detaches; NULL is fine. */
void zdd_hc_close(struct zdd_hc *hc);
int zdd_hc_prog_fd(const struct zdd_hc *hc);

/*
 * Sends the packets of the probe flow k (k->svc: the service address, check port and TCP; saddr
 * and sport: the probe socket's) to the backend addr of service svc. *id is a hint, the backend's
 * id from the last call (ZDD_NO_BACKEND: none), checked with one read and looked up again only
 * when it no longer names that backend; it is updated. -ENOENT when the maps hold no such
 * backend; -E2BIG when ZDD_HC_MAX_PROBES probes are registered.
 */
int zdd_hc_probe_add(struct zdd_hc *hc, const struct zdd_flow_key *k,
		     const struct zdd_service_key *svc, const __u8 addr[16], __u32 *id);
int zdd_hc_probe_del(struct zdd_hc *hc, const struct zdd_flow_key *k);

int zdd_hc_counters(struct zdd_hc *hc, __u64 counts[ZDD_HC_MAX]);
const char *zdd_hc_counter_name(enum zdd_hcheck_counter c);

#endif /* ZDD_HCHECK_H */
