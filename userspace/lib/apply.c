// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/apply.c - see apply.h. The plan is a flat list of steps; per service the order
 * is: its options, backends leaving (marked down), changed and new backends, one swap (with
 * the weight), then the left backends' slots freed. Services not in the file go first. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "apply.h"
#include "handle.h"
#include "log.h"

enum step_kind {
	STEP_SVC_DEL,
	STEP_SVC_ADD,
	STEP_SVC_OPTS,
	STEP_BE_LEAVE, /* down now, freed after the swap */
	STEP_BE_SET,
	STEP_BE_ADD,
	STEP_SWAP,
	STEP_BE_FREE,
};

struct step {
	enum step_kind kind;
	struct zdd_service_key svc;
	struct zdd_service_opts opts;
	__u32 id;		    /* backend id of an existing backend */
	struct zdd_backend_val be;  /* the backend as it will be */
	struct zdd_backend_val old; /* and as it was (set) */
	int green_bp;		    /* swap: new weight, -1 to keep */
	int old_bp;
	bool shown; /* a swap is a change only when the weight moves */
};

struct zdd_plan {
	struct step *v;
	size_t n, cap;
};

static struct step *push(struct zdd_plan *p, enum step_kind kind, const struct zdd_service_key *k)
{
	struct step *v;

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		v = realloc(p->v, p->cap * sizeof(*v));
		if (!v)
			return NULL;
		p->v = v;
	}
	memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
	p->v[p->n].kind = kind;
	p->v[p->n].svc = *k;
	return &p->v[p->n++];
}

void zdd_plan_free(struct zdd_plan *p)
{
	if (!p)
		return;
	free(p->v);
	free(p);
}

static const struct zdd_conf_service *conf_find(const struct zdd_conf *c,
						const struct zdd_service_key *k)
{
	size_t i;

	for (i = 0; i < c->n_services; i++)
		if (!memcmp(&c->services[i].key, k, sizeof(*k)))
			return &c->services[i];
	return NULL;
}

static bool opts_differ(const struct zdd_service_val *v, const struct zdd_service_opts *o)
{
	return v->affinity != o->affinity || v->client_prefix4 != o->client_prefix4 ||
	       v->client_prefix6 != o->client_prefix6 || v->handshake_ms != o->handshake_ms;
}

/* The steps of one service of the file; *adds counts the backend slots it will take. */
static int plan_service(struct zdd *z, struct zdd_plan *p, const struct zdd_conf_service *cs,
			size_t *adds, size_t *services)
{
	/* The data path counts a handshake complete within the rollout's timeout. */
	struct zdd_service_opts o = { cs->affinity, cs->client_prefix4, cs->client_prefix6,
				      cs->rollout.handshake_timeout_ms };
	struct zdd_backend *have = NULL;
	struct zdd_service_val val;
	char host[ZDD_ADDR_STRLEN];
	size_t n = 0, i, j;
	struct step *s;
	bool exists = !zdd_service_get(z, &cs->key, &val);
	int err = 0;

	if (!exists) {
		(*services)++;
		s = push(p, STEP_SVC_ADD, &cs->key);
		if (!s)
			return -ENOMEM;
		s->opts = o;
	} else {
		if (opts_differ(&val, &o)) {
			s = push(p, STEP_SVC_OPTS, &cs->key);
			if (!s)
				return -ENOMEM;
			s->opts = o;
		}
		err = zdd_backend_list(z, val.index, &have, &n);
		if (err)
			return err;
	}
	/* Backends that are no longer in the file. */
	for (i = 0; i < n && !err; i++) {
		for (j = 0; j < cs->n_backends; j++)
			if (!memcmp(have[i].val.addr, cs->backends[j].addr, 16))
				break;
		if (j < cs->n_backends)
			continue;
		s = push(p, STEP_BE_LEAVE, &cs->key);
		if (!s)
			err = -ENOMEM;
		else
			s->id = have[i].id, s->be = have[i].val;
	}
	for (j = 0; j < cs->n_backends && !err; j++) {
		const struct zdd_conf_backend *cb = &cs->backends[j];
		struct zdd_backend_val want = { .pool = cb->pool,
						.state = cb->state,
						.weight = cb->weight };

		memcpy(want.addr, cb->addr, 16);
		for (i = 0; i < n; i++)
			if (!memcmp(have[i].val.addr, cb->addr, 16))
				break;
		if (i < n) {
			want.service = have[i].val.service;
			memcpy(want.mac, have[i].val.mac, 6);
			if (want.pool != have[i].val.pool) {
				zdd_addr_format(cb->addr, host, sizeof(host));
				err = log_err(-EINVAL,
					      "backend %s cannot move from %s to %s in place: its "
					      "flows are pinned; delete it and add it again",
					      host, have[i].val.pool ? "green" : "blue",
					      cb->pool ? "green" : "blue");
				break;
			}
			if (!memcmp(&want, &have[i].val, sizeof(want)))
				continue;
			s = push(p, STEP_BE_SET, &cs->key);
			if (!s) {
				err = -ENOMEM;
				break;
			}
			s->id = have[i].id, s->be = want, s->old = have[i].val;
			continue;
		}
		/* New: its next hop is resolved now, so a missing neighbour fails the plan. */
		err = zdd_next_hop(z, cb->addr, want.mac);
		s = err ? NULL : push(p, STEP_BE_ADD, &cs->key);
		if (!err && !s)
			err = -ENOMEM;
		if (s)
			s->be = want;
		(*adds)++;
	}
	s = err ? NULL : push(p, STEP_SWAP, &cs->key);
	if (!err && !s)
		err = -ENOMEM;
	if (s) {
		s->old_bp = exists ? val.green_weight : 0;
		s->green_bp = cs->green_bp;
		s->shown = cs->green_bp >= 0 && cs->green_bp != s->old_bp;
	}
	for (i = 0; i < n && !err; i++) {
		for (j = 0; j < cs->n_backends; j++)
			if (!memcmp(have[i].val.addr, cs->backends[j].addr, 16))
				break;
		if (j == cs->n_backends && !(s = push(p, STEP_BE_FREE, &cs->key)))
			err = -ENOMEM;
		else if (j == cs->n_backends)
			s->id = have[i].id;
	}
	free(have);
	return err;
}

static size_t free_backend_slots(struct zdd *z)
{
	struct zdd_backend_val val;
	size_t n = 0;
	__u32 id;

	for (id = 0; id < z->limits.backends; id++)
		if (!zdd_backend_read(z, id, &val) && val.state == ZDD_BE_EMPTY)
			n++;
	return n;
}

int zdd_plan_make(struct zdd *z, const struct zdd_conf *conf, struct zdd_plan **out)
{
	struct zdd_plan *p = calloc(1, sizeof(*p));
	size_t n, i, adds = 0, services = 0, kept = 0;
	struct zdd_service *list = NULL;
	int err;

	if (!p)
		return -ENOMEM;
	err = zdd_service_list(z, &list, &n);
	for (i = 0; !err && i < n; i++) {
		if (conf_find(conf, &list[i].key)) {
			kept++;
			continue;
		}
		if (!push(p, STEP_SVC_DEL, &list[i].key))
			err = -ENOMEM;
	}
	for (i = 0; !err && i < conf->n_services; i++)
		err = plan_service(z, p, &conf->services[i], &adds, &services);
	/* Capacity is checked before any change: a full table fails the plan, not the run. */
	if (!err && kept + services > z->limits.services)
		err = log_err(-ENOSPC, "%zu services do not fit the service table (%u)",
			      kept + services, z->limits.services);
	if (!err && adds > free_backend_slots(z))
		err = log_err(-ENOSPC, "%zu new backends do not fit the backend table (%u free)",
			      adds, (unsigned int)free_backend_slots(z));
	free(list);
	if (err) {
		zdd_plan_free(p);
		return err;
	}
	*out = p;
	return 0;
}

static bool step_shown(const struct step *s)
{
	return s->kind == STEP_SWAP ? s->shown : s->kind != STEP_BE_FREE;
}

size_t zdd_plan_changes(const struct zdd_plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		n += step_shown(&p->v[i]);
	return n;
}

static const char *state_name(int s)
{
	static const char *const names[] = { "empty", "up", "drain", "down" };

	return s >= 0 && s <= ZDD_BE_DOWN ? names[s] : "?";
}

size_t zdd_plan_print(const struct zdd_plan *p, FILE *f)
{
	char svc[ZDD_SVC_STRLEN], host[ZDD_ADDR_STRLEN];
	const struct step *s;
	size_t i;

	for (i = 0; i < p->n; i++) {
		s = &p->v[i];
		zdd_service_format(&s->svc, svc, sizeof(svc));
		zdd_addr_format(s->be.addr, host, sizeof(host));
		switch (s->kind) {
		case STEP_SVC_DEL:
			fprintf(f, "- service %s\n", svc);
			break;
		case STEP_SVC_ADD:
			fprintf(f, "+ service %s affinity %s\n", svc,
				s->opts.affinity == ZDD_AFF_FLOW ? "flow" : "client");
			break;
		case STEP_SVC_OPTS:
			fprintf(f, "~ service %s affinity %s client prefix /%u /%u\n", svc,
				s->opts.affinity == ZDD_AFF_FLOW ? "flow" : "client",
				s->opts.client_prefix4, s->opts.client_prefix6);
			break;
		case STEP_BE_LEAVE:
			fprintf(f, "- backend %s %s of %s\n", s->be.pool ? "green" : "blue", host,
				svc);
			break;
		case STEP_BE_SET:
			fprintf(f, "~ backend %s %s of %s: state %s -> %s, weight %u -> %u\n",
				s->be.pool ? "green" : "blue", host, svc, state_name(s->old.state),
				state_name(s->be.state), s->old.weight, s->be.weight);
			break;
		case STEP_BE_ADD:
			fprintf(f, "+ backend %s %s of %s, %s, weight %u\n",
				s->be.pool ? "green" : "blue", host, svc, state_name(s->be.state),
				s->be.weight);
			break;
		case STEP_SWAP:
			if (s->shown)
				fprintf(f, "~ weight %s green %d.%02d%% -> %d.%02d%%\n", svc,
					s->old_bp / 100, s->old_bp % 100, s->green_bp / 100,
					s->green_bp % 100);
			break;
		case STEP_BE_FREE:
			break;
		}
	}
	return zdd_plan_changes(p);
}

static int run_step(struct zdd *z, const struct step *s)
{
	struct zdd_service_val val;
	struct zdd_backend_val be;
	__u32 id;
	int err;

	switch (s->kind) {
	case STEP_SVC_DEL:
		return zdd_service_del(z, &s->svc);
	case STEP_SVC_ADD:
		return zdd_service_add(z, &s->svc, &s->opts);
	case STEP_SVC_OPTS:
		return zdd_service_set_opts(z, &s->svc, &s->opts);
	case STEP_BE_LEAVE:
		be = s->be;
		be.state = ZDD_BE_DOWN;
		return zdd_backend_write(z, s->id, &be);
	case STEP_BE_SET:
		return zdd_backend_write(z, s->id, &s->be);
	case STEP_BE_ADD:
		err = zdd_service_get(z, &s->svc, &val) ?: zdd_backend_alloc(z, &id);
		if (err)
			return err;
		be = s->be;
		be.service = val.index;
		return zdd_percpu_zero(z, ZDD_MAP_BSTATS, id) ?: zdd_backend_write(z, id, &be);
	case STEP_SWAP:
		return zdd_service_commit(z, &s->svc, s->green_bp);
	case STEP_BE_FREE:
		return zdd_backend_free(z, s->id);
	}
	return -EINVAL;
}

int zdd_plan_run(struct zdd *z, const struct zdd_plan *p)
{
	size_t i;
	int err;

	for (i = 0; i < p->n; i++) {
		err = run_step(z, &p->v[i]);
		if (err)
			return log_err(err,
				       "apply: step %zu of %zu failed; the steps before it are "
				       "in place",
				       i + 1, p->n);
	}
	return 0;
}
