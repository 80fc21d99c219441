// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/service.c - services: the zdd_services entry, its address in zdd_vips, its
 * maglev rows and counters. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "addr.h"
#include "handle.h"
#include "log.h"

int zdd_service_get(struct zdd *z, const struct zdd_service_key *key, struct zdd_service_val *val)
{
	if (bpf_map_lookup_elem(z->fd[ZDD_MAP_SERVICES], key, val))
		return -errno;
	return 0;
}

int zdd_service_put(struct zdd *z, const struct zdd_service_key *key,
		    const struct zdd_service_val *val, __u64 flags)
{
	if (bpf_map_update_elem(z->fd[ZDD_MAP_SERVICES], key, val, flags))
		return -errno;
	return zdd_caches_stale(z);
}

static int cmp_service(const void *a, const void *b)
{
	return memcmp(&((const struct zdd_service *)a)->key, &((const struct zdd_service *)b)->key,
		      sizeof(struct zdd_service_key));
}

int zdd_service_list(struct zdd *z, struct zdd_service **out, size_t *n)
{
	struct zdd_service *list = calloc(z->limits.services ?: 1, sizeof(*list));
	struct zdd_service_key key, *prev = NULL;
	size_t count = 0;

	if (!list)
		return -ENOMEM;
	while (count < z->limits.services &&
	       !bpf_map_get_next_key(z->fd[ZDD_MAP_SERVICES], prev, &key)) {
		if (!zdd_service_get(z, &key, &list[count].val)) {
			list[count].key = key;
			prev = &list[count++].key;
		} else {
			prev = &key; /* deleted under us: carry on from its key */
		}
	}
	qsort(list, count, sizeof(*list), cmp_service);
	*out = list;
	*n = count;
	return 0;
}

static int free_index(struct zdd *z, __u32 *index)
{
	struct zdd_service *list;
	size_t n, i;
	bool *used;
	int err;

	err = zdd_service_list(z, &list, &n);
	if (err)
		return err;
	used = calloc(z->limits.services, sizeof(*used));
	if (!used) {
		free(list);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		if (list[i].val.index < z->limits.services)
			used[list[i].val.index] = true;
	err = -ENOSPC;
	for (i = 0; i < z->limits.services; i++) {
		if (!used[i]) {
			*index = i;
			err = 0;
			break;
		}
	}
	free(used);
	free(list);
	return err;
}

static int vip_ref(struct zdd *z, const __u8 addr[16], int delta)
{
	struct zdd_vip_key vip = {};
	__u32 refs = 0;

	memcpy(vip.addr, addr, 16);
	bpf_map_lookup_elem(z->fd[ZDD_MAP_VIPS], &vip, &refs);
	refs += delta;
	if (refs == 0 || refs > z->limits.services)
		return bpf_map_delete_elem(z->fd[ZDD_MAP_VIPS], &vip) && errno != ENOENT ? -errno
											 : 0;
	return bpf_map_update_elem(z->fd[ZDD_MAP_VIPS], &vip, &refs, BPF_ANY) ? -errno : 0;
}

static int check_key(const struct zdd_service_key *key)
{
	if (key->pad || !key->port || (key->proto != IPPROTO_TCP && key->proto != IPPROTO_UDP))
		return -EINVAL;
	return 0;
}

int zdd_service_add(struct zdd *z, const struct zdd_service_key *key,
		    const struct zdd_service_opts *o)
{
	struct zdd_service_val val = {
		.generation = 1,
		.affinity = o->affinity,
		.client_prefix4 = o->client_prefix4 ?: 32,
		.client_prefix6 = o->client_prefix6 ?: 64,
		.handshake_ms = o->handshake_ms ?: ZDD_DEF_HANDSHAKE_MS,
	};
	char name[ZDD_SVC_STRLEN];
	int pool, slot, err;
	__u16 *row;
	__u32 i;

	zdd_service_format(key, name, sizeof(name));
	if (check_key(key) || o->affinity > ZDD_AFF_FLOW || val.client_prefix4 > 32 ||
	    val.client_prefix6 > 128 || val.handshake_ms > ZDD_MAX_HANDSHAKE_MS)
		return log_err(-EINVAL, "service %s: invalid key or options", name);
	if (!zdd_service_get(z, key, &val))
		return log_err(-EEXIST, "service %s", name);
	err = free_index(z, &val.index);
	if (err)
		return log_err(err, "service %s: the service table is full (%u)", name,
			       z->limits.services);
	/* Rows first: the service must never be visible with a previous owner's tables. */
	for (pool = 0; pool < ZDD_POOLS; pool++)
		for (slot = 0; slot < 2; slot++)
			for (row = zdd_maglev_row(z, val.index, pool, slot), i = 0;
			     i < z->limits.maglev_m; i++)
				row[i] = ZDD_MAGLEV_EMPTY;
	err = zdd_percpu_zero(z, ZDD_MAP_SSTATS, val.index) ?: zdd_cohorts_clear(z, val.index) ?:
	      vip_ref(z, key->addr, 1);
	if (err)
		return log_err(err, "service %s", name);
	err = zdd_service_put(z, key, &val, BPF_NOEXIST);
	if (err) {
		vip_ref(z, key->addr, -1);
		return log_err(err, "service %s: add", name);
	}
	return 0;
}

int zdd_service_set_opts(struct zdd *z, const struct zdd_service_key *key,
			 const struct zdd_service_opts *o)
{
	struct zdd_service_val val;

	if (zdd_service_get(z, key, &val))
		return -ENOENT;
	if ((o->handshake_ms ?: ZDD_DEF_HANDSHAKE_MS) > ZDD_MAX_HANDSHAKE_MS)
		return -EINVAL;
	val.affinity = o->affinity;
	val.client_prefix4 = o->client_prefix4 ?: 32;
	val.client_prefix6 = o->client_prefix6 ?: 64;
	val.handshake_ms = o->handshake_ms ?: ZDD_DEF_HANDSHAKE_MS;
	return zdd_service_put(z, key, &val, BPF_EXIST);
}

static int ct_of_service(const struct zdd_ct_entry *e, void *ctx)
{
	return !memcmp(&e->key.svc, ctx, sizeof(e->key.svc));
}

int zdd_service_del(struct zdd *z, const struct zdd_service_key *key)
{
	static const struct zdd_backend_val empty;
	struct zdd_service_val val;
	char name[ZDD_SVC_STRLEN];
	struct zdd_backend *list;
	size_t n, i;
	int err;

	zdd_service_format(key, name, sizeof(name));
	if (zdd_service_get(z, key, &val))
		return log_err(-ENOENT, "service %s", name);
	/* Unpublish first: from here on its packets are not ours (on every CPU: no copy serves). */
	if (bpf_map_delete_elem(z->fd[ZDD_MAP_SERVICES], key))
		return log_err(-errno, "service %s: delete", name);
	err = zdd_caches_stale(z);
	if (err)
		return log_err(err, "service %s: delete", name);
	err = vip_ref(z, key->addr, -1);
	if (!err)
		err = zdd_backend_list(z, val.index, &list, &n);
	if (err)
		return log_err(err, "service %s: clean up", name);
	for (i = 0; i < n; i++)
		bpf_map_update_elem(z->fd[ZDD_MAP_BACKENDS], &list[i].id, &empty, BPF_ANY);
	free(list);
	err = zdd_conntrack_walk(z, ct_of_service, (void *)key);
	return err < 0 ? log_err(err, "service %s: flush conntrack", name) : 0;
}
