// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/backend.c - backends: slots in zdd_backends owned by a service. Every change
 * ends in zdd_service_commit(), so the data path sees it in one table swap. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "addr.h"
#include "handle.h"
#include "log.h"
#include "netlink.h"

static int cmp_backend(const void *a, const void *b)
{
	const struct zdd_backend *x = a, *y = b;

	if (x->val.pool != y->val.pool)
		return x->val.pool - y->val.pool;
	return memcmp(x->val.addr, y->val.addr, 16);
}

int zdd_backend_read(struct zdd *z, __u32 id, struct zdd_backend_val *val)
{
	return bpf_map_lookup_elem(z->fd[ZDD_MAP_BACKENDS], &id, val) ? -errno : 0;
}

/* Visits every slot; an array lookup per slot is cheap next to a table rebuild. */
static int scan(struct zdd *z, __u32 service_index, struct zdd_backend *out, size_t *n,
		__u32 *first_free)
{
	struct zdd_backend_val val;
	__u32 id;
	int err;

	*n = 0;
	if (first_free)
		*first_free = ZDD_NO_BACKEND;
	for (id = 0; id < z->limits.backends; id++) {
		if ((err = zdd_backend_read(z, id, &val)))
			return err;
		if (val.state == ZDD_BE_EMPTY) {
			if (first_free && *first_free == ZDD_NO_BACKEND)
				*first_free = id;
			continue;
		}
		if (out && val.service == service_index) {
			out[*n].id = id;
			out[(*n)++].val = val;
		}
	}
	return 0;
}

int zdd_backend_list(struct zdd *z, __u32 service_index, struct zdd_backend **out, size_t *n)
{
	struct zdd_backend *list = calloc(z->limits.backends, sizeof(*list));
	int err;

	if (!list)
		return -ENOMEM;
	err = scan(z, service_index, list, n, NULL);
	if (err) {
		free(list);
		return err;
	}
	qsort(list, *n, sizeof(*list), cmp_backend);
	*out = list;
	return 0;
}

int zdd_backend_find(struct zdd *z, const struct zdd_service_key *svc, const __u8 addr[16],
		     struct zdd_backend *out)
{
	struct zdd_service_val sval;
	struct zdd_backend *list;
	int err = -ENOENT;
	size_t n, i;

	if (zdd_service_get(z, svc, &sval))
		return -ENOENT;
	if (zdd_backend_list(z, sval.index, &list, &n))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!memcmp(list[i].val.addr, addr, 16)) {
			*out = list[i];
			err = 0;
			break;
		}
	}
	free(list);
	return err;
}

int zdd_backend_write(struct zdd *z, __u32 id, const struct zdd_backend_val *val)
{
	return bpf_map_update_elem(z->fd[ZDD_MAP_BACKENDS], &id, val, BPF_ANY) ? -errno : 0;
}

/* The next hop MAC for a backend under config c: the operator's gateway, else the neighbour
 * on the attached interface; zero before attach (attach resolves every backend then). */
int zdd_next_hop_for(const struct zdd_config *c, const __u8 addr[16], __u8 mac[6])
{
	static const __u8 zero[6];
	char host[ZDD_ADDR_STRLEN];
	int err;

	memset(mac, 0, 6);
	if (memcmp(c->gw_mac, zero, 6)) {
		memcpy(mac, c->gw_mac, 6);
		return 0;
	}
	if (!c->ifindex)
		return 0;
	err = zdd_nl_next_hop_mac(c->ifindex, addr, mac);
	if (err) {
		zdd_addr_format(addr, host, sizeof(host));
		return log_err(
			err,
			"backend %s: no next-hop MAC on ifindex %u (%s); check the route and "
			"neighbour table, or attach with --gw-mac",
			host, c->ifindex,
			err == -EXDEV	       ? "the route leaves through another interface"
			: err == -EHOSTUNREACH ? "the neighbour does not answer"
					       : "no route");
	}
	return 0;
}

int zdd_next_hop(struct zdd *z, const __u8 addr[16], __u8 mac[6])
{
	struct zdd_config c;

	return zdd_config_get(z, &c) ?: zdd_next_hop_for(&c, addr, mac);
}

int zdd_backend_alloc(struct zdd *z, __u32 *id)
{
	size_t n;
	int err = scan(z, 0, NULL, &n, id);

	if (err)
		return err;
	return *id == ZDD_NO_BACKEND ? -ENOSPC : 0;
}

int zdd_backend_add(struct zdd *z, const struct zdd_service_key *svc, const __u8 addr[16],
		    enum zdd_pool pool, __u16 weight, const __u8 mac[6], __u32 *id)
{
	static const struct zdd_backend_val empty;
	char name[ZDD_SVC_STRLEN], host[ZDD_ADDR_STRLEN];
	struct zdd_backend_val val = { .pool = pool, .state = ZDD_BE_UP, .weight = weight };
	struct zdd_service_val sval;
	struct zdd_backend found;
	__u32 free_id;
	int err;

	zdd_service_format(svc, name, sizeof(name));
	zdd_addr_format(addr, host, sizeof(host));
	if (zdd_service_get(z, svc, &sval))
		return log_err(-ENOENT, "service %s", name);
	if (zdd_addr_is_v4(addr) != zdd_addr_is_v4(svc->addr) || zdd_addr_is_zero(addr))
		return log_err(-EINVAL, "backend %s: an %s service needs %s backends", host,
			       zdd_addr_is_v4(svc->addr) ? "IPv4" : "IPv6",
			       zdd_addr_is_v4(svc->addr) ? "IPv4" : "IPv6");
	if (pool >= ZDD_POOLS || weight > ZDD_MAX_BACKEND_WEIGHT)
		return log_err(-EINVAL, "backend %s: pool or weight out of range", host);
	if (!zdd_backend_find(z, svc, addr, &found))
		return log_err(-EEXIST, "backend %s of %s", host, name);
	err = zdd_backend_alloc(z, &free_id);
	if (err == -ENOSPC)
		return log_err(err, "backend %s: the backend table is full (%u)", host,
			       z->limits.backends);
	if (err)
		return log_err(err, "read zdd_backends");
	memcpy(val.addr, addr, 16);
	if (mac)
		memcpy(val.mac, mac, 6);
	else if ((err = zdd_next_hop(z, addr, val.mac)))
		return err;
	val.service = sval.index;
	err = zdd_percpu_zero(z, ZDD_MAP_BSTATS, free_id) ?: zdd_backend_write(z, free_id, &val);
	if (err)
		return log_err(err, "backend %s: add", host);
	err = zdd_service_commit(z, svc, -1);
	if (err) {
		zdd_backend_write(z, free_id, &empty); /* nothing half-applied */
		return err;
	}
	if (id)
		*id = free_id;
	return 0;
}

static int ct_of_backend(const struct zdd_ct_entry *e, void *ctx)
{
	return e->backend == *(__u32 *)ctx;
}

int zdd_backend_free(struct zdd *z, __u32 id)
{
	static const struct zdd_backend_val empty;
	int err = zdd_backend_write(z, id, &empty);

	/* Forget its flows, so a later owner of the id inherits none. */
	if (!err)
		err = zdd_conntrack_walk(z, ct_of_backend, &id);
	return err < 0 ? err : 0;
}

int zdd_backend_del(struct zdd *z, const struct zdd_service_key *svc, const __u8 addr[16])
{
	char host[ZDD_ADDR_STRLEN];
	struct zdd_backend b;
	int err;

	zdd_addr_format(addr, host, sizeof(host));
	if (zdd_backend_find(z, svc, addr, &b))
		return log_err(-ENOENT, "backend %s", host);
	/* Out of the tables first (down keeps its pinned flows meanwhile), then free the slot. */
	b.val.state = ZDD_BE_DOWN;
	err = zdd_backend_write(z, b.id, &b.val) ?: zdd_service_commit(z, svc, -1) ?:
						 zdd_backend_free(z, b.id);
	return err ? log_err(err, "backend %s: delete", host) : 0;
}

int zdd_backend_set(struct zdd *z, const struct zdd_service_key *svc, const __u8 addr[16],
		    int state, int weight)
{
	char host[ZDD_ADDR_STRLEN];
	struct zdd_backend_val old;
	struct zdd_backend b;
	int err;

	zdd_addr_format(addr, host, sizeof(host));
	if ((state >= 0 && (state < ZDD_BE_UP || state > ZDD_BE_DOWN)) ||
	    weight > ZDD_MAX_BACKEND_WEIGHT)
		return log_err(-EINVAL, "backend %s: state or weight out of range", host);
	if (zdd_backend_find(z, svc, addr, &b))
		return log_err(-ENOENT, "backend %s", host);
	old = b.val;
	if (state >= 0)
		b.val.state = state;
	if (weight >= 0)
		b.val.weight = weight;
	err = zdd_backend_write(z, b.id, &b.val);
	if (err)
		return log_err(err, "backend %s: update", host);
	err = zdd_service_commit(z, svc, -1);
	if (err)
		zdd_backend_write(z, b.id, &old);
	return err;
}

int zdd_backend_set_mac(struct zdd *z, __u32 id, const __u8 mac[6])
{
	struct zdd_backend_val val;

	if (bpf_map_lookup_elem(z->fd[ZDD_MAP_BACKENDS], &id, &val))
		return -errno;
	memcpy(val.mac, mac, 6);
	return zdd_backend_write(z, id, &val);
}
