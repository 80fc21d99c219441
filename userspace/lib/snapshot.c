// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/snapshot.c - see snapshot.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "snapshot.h"

void zdd_snap_free(struct zdd_snap *sn)
{
	size_t i;

	for (i = 0; i < sn->n_svc; i++) {
		free(sn->svc[i].be);
		free(sn->svc[i].bst);
	}
	free(sn->svc);
	memset(sn, 0, sizeof(*sn));
}

static int read_service(struct zdd *z, struct zdd_snap_service *ss)
{
	size_t i;
	int err;

	zdd_service_format(&ss->s.key, ss->name, sizeof(ss->name));
	err = zdd_service_stats_read(z, ss->s.val.index, &ss->st)
		      ?: zdd_backend_list(z, ss->s.val.index, &ss->be, &ss->n_be);
	if (err)
		return err;
	ss->bst = calloc(ss->n_be ?: 1, sizeof(*ss->bst));
	if (!ss->bst)
		return -ENOMEM;
	for (i = 0; i < ss->n_be && !err; i++)
		err = zdd_backend_stats_read(z, ss->be[i].id, &ss->bst[i]);
	return err;
}

int zdd_snap_take(struct zdd *z, const struct zdd_service_key *only, bool conntrack,
		  struct zdd_snap *sn)
{
	struct zdd_service *list;
	size_t n, i;
	int err;

	memset(sn, 0, sizeof(*sn));
	err = zdd_service_list(z, &list, &n);
	if (err)
		return err;
	sn->svc = calloc(n ?: 1, sizeof(*sn->svc));
	if (!sn->svc) {
		free(list);
		return -ENOMEM;
	}
	for (i = 0; i < n && !err; i++) {
		if (only && memcmp(only, &list[i].key, sizeof(*only)))
			continue;
		sn->svc[sn->n_svc].s = list[i];
		/* counted before it is filled: zdd_snap_free frees what was read */
		err = read_service(z, &sn->svc[sn->n_svc++]);
	}
	free(list);
	if (!err)
		err = zdd_reasons_read(z, sn->reasons);
	if (!err && conntrack)
		err = zdd_conntrack_count(z, &sn->embryos, &sn->flows, &sn->adopted);
	return err;
}
