/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/etcd.h - an etcd v3 client for the agent's epoll loop (issue #17: one rollout
 * across a fleet), through etcd's HTTP/JSON gateway (POST /v3/kv/..., /v3/lease/..., /v3/watch)
 * on libcurl's multi interface: every call returns at once, answers come through callbacks.
 *
 * How the agent uses it:
 *
 *	zdd_etcd_new(&e, &opts);
 *	epoll_ctl(agent_epfd, EPOLL_CTL_ADD, zdd_etcd_fd(e), &(struct epoll_event){EPOLLIN});
 *	for (;;) {
 *		timeout = min(the loop's own, zdd_etcd_timeout_ms(e));	(-1: etcd needs none)
 *		epoll_wait(agent_epfd, ..., timeout);
 *		zdd_etcd_run(e, zdd_mono_ms());	(on its fd's readiness or its timeout; more is harmless)
 *		...
 *	}
 *
 * zdd_etcd_run() never blocks; every callback is called from inside it, never from the call that
 * started the operation. Callbacks may start and cancel operations (watches, elections), never
 * zdd_etcd_free(). Keys are given and returned without the client's prefix.
 *
 * Endpoints and failover: every request goes to the current endpoint (the first at the start).
 * A request that gets no answer from it (refused, unreachable, timed out, or etcd's
 * "unavailable", as from a member without a leader) makes the next endpoint current and is
 * retried there, each endpoint once, within the operation's timeout: of the time left, an
 * attempt gets its share among the endpoints not tried yet (2 endpoints, 1 s: 500 ms for the
 * first). Reads, puts, deletes and lease operations are resent whatever happened; a txn (a
 * compare-and-swap) only when it surely never reached the server (no connection): else its
 * outcome is unknown, -ETIMEDOUT, and the caller reads the key again. Watches move to the new
 * current endpoint and resume from the revision after the last one they delivered. A failed
 * endpoint is tried again when its turn comes round.
 */
#ifndef ZDD_ETCD_H
#define ZDD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define ZDD_ETCD_MAX_ENDPOINTS 16
#define ZDD_ETCD_ABSENT	       0 /* txn_put_if()'s mod_revision: only if the key does not exist */

struct zdd_etcd_opts {
	/* "http://127.0.0.1:2379", "https://[fd00::1]:2379": scheme, address and port only. */
	const char *const *endpoints;
	size_t n_endpoints; /* 1..ZDD_ETCD_MAX_ENDPOINTS */
	const char *prefix; /* put before every key ("/zdd/"); NULL: none */
	__u32 timeout_ms;   /* of each operation, all its attempts; 0: 1000 */
	/* https: the CA to trust (NULL: the system's), a client certificate and its key (NULL:
	 * none). Ignored for http endpoints. */
	const char *ca_file, *cert_file, *key_file;
};

/* A key and its value as etcd holds them. Both NUL-terminated, and valid in the callback only. */
struct zdd_etcd_kv {
	const char *key; /* without the prefix */
	size_t key_len;
	const char *value; /* may hold NULs: value_len counts */
	size_t value_len;
	__s64 create_revision, mod_revision, version;
	__s64 lease; /* 0: none */
};

/*
 * The answer to one operation. err: 0, or
 *	-ETIMEDOUT	no answer in time; a txn (or a put) may or may not have been applied
 *	-ENOTCONN	no endpoint could be reached: nothing was applied
 *	-ENOENT		the lease is not (or no longer) known to etcd
 *	-EAGAIN		etcd answered "unavailable" (no leader, or its own timeout, after
 *			which a write may still apply), on the last endpoint tried
 *	-EINVAL, -EACCES, -ENOSPC, -EIO	etcd refused the request (see error)
 *	-EPROTO		the answer is not etcd's; -EFBIG: larger than 16 MiB; -ENOMEM
 */
struct zdd_etcd_result {
	int err;
	const char *error; /* err != 0: why, one line */
	__s64 revision;	   /* of the store when etcd answered */
	bool succeeded;	   /* txn_put_if: the compare held and the value was written */
	/* get, range: the keys found, sorted; a txn that failed: the key as it is now (none when
	 * it does not exist), so the caller knows the revision to compare with next. */
	const struct zdd_etcd_kv *kvs;
	size_t n_kvs;
	__s64 lease, ttl; /* lease_grant: the lease and its TTL in seconds as etcd granted it */
	__s64 deleted;	  /* delete: keys deleted */
};

typedef void (*zdd_etcd_cb)(void *ctx, const struct zdd_etcd_result *r);
/* The lease is gone: etcd says so (revoked elsewhere, or expired: err -ENOENT), or no keepalive
 * was answered before its TTL ran out (-ETIMEDOUT: from then on it may have expired). Once. */
typedef void (*zdd_etcd_lease_cb)(void *ctx, __s64 lease, int err);

struct zdd_etcd;

/* 0 with *out allocated, or -EINVAL (a bad endpoint), -ENOMEM. */
int zdd_etcd_new(struct zdd_etcd **out, const struct zdd_etcd_opts *o);
/*
 * Aborts every operation in flight without calling its callback, cancels watches and elections
 * and stops keeping leases alive without revoking them: they expire by their TTL. NULL is fine.
 */
void zdd_etcd_free(struct zdd_etcd *e);

/* An epoll fd: readable when a connection has something to do. */
int zdd_etcd_fd(const struct zdd_etcd *e);
/* Milliseconds until zdd_etcd_run() is due again (0: now), -1 when nothing is pending. */
int zdd_etcd_timeout_ms(const struct zdd_etcd *e);
/* Moves every request, watch, lease and election on and calls the callbacks. Never blocks.
 * now_ms: zdd_mono_ms(). 0, or -errno when epoll itself fails. */
int zdd_etcd_run(struct zdd_etcd *e, __u64 now_ms);
/* The endpoint requests go to now: an index into opts.endpoints. */
size_t zdd_etcd_endpoint(const struct zdd_etcd *e);

/*
 * Operations: 0 when started (cb is called once, later), or -EINVAL (a key empty or with the
 * prefix over 64 KiB, ttl 0), -ENOMEM: then cb is never called. cb may be NULL.
 */
int zdd_etcd_get(struct zdd_etcd *e, const char *key, zdd_etcd_cb cb, void *ctx);
/* Every key that starts with key_prefix ("" for all under the client's prefix). */
int zdd_etcd_range(struct zdd_etcd *e, const char *key_prefix, zdd_etcd_cb cb, void *ctx);
/* lease 0: none; a lease etcd does not know fails with -ENOENT. */
int zdd_etcd_put(struct zdd_etcd *e, const char *key, const void *value, size_t len, __s64 lease,
		 zdd_etcd_cb cb, void *ctx);
/*
 * Compare-and-swap: writes only if the key's mod_revision is still mod_revision, or, with
 * ZDD_ETCD_ABSENT, if the key does not exist (its create_revision is 0). r->succeeded says
 * which; when not, r->kvs holds the key as it is.
 */
int zdd_etcd_txn_put_if(struct zdd_etcd *e, const char *key, const void *value, size_t len,
			__s64 mod_revision, __s64 lease, zdd_etcd_cb cb, void *ctx);
int zdd_etcd_delete(struct zdd_etcd *e, const char *key, zdd_etcd_cb cb, void *ctx);
/*
 * Grants a lease of ttl_s seconds and keeps it alive (a keepalive every TTL/3, retried until the
 * TTL runs out) until zdd_etcd_lease_revoke() or its loss, reported once through lost.
 */
int zdd_etcd_lease_grant(struct zdd_etcd *e, __u32 ttl_s, zdd_etcd_cb cb, zdd_etcd_lease_cb lost,
			 void *ctx);
/* Stops the keepalives at once (lost is not called) and revokes: its keys are deleted.
 * -ENOENT: etcd had no such lease (expired, or revoked already). */
int zdd_etcd_lease_revoke(struct zdd_etcd *e, __s64 lease, zdd_etcd_cb cb, void *ctx);

/* ---- watches ---- */

enum zdd_etcd_ev_type { ZDD_ETCD_PUT, ZDD_ETCD_DELETE };

struct zdd_etcd_event {
	enum zdd_etcd_ev_type type;
	struct zdd_etcd_kv kv; /* a DELETE has the key and its mod_revision (the deletion's) */
};

/* What one answer of etcd's watch stream brought; valid in the callback only. */
struct zdd_etcd_watch_batch {
	const struct zdd_etcd_event *ev; /* in revision order */
	size_t n;
	__s64 revision; /* of the store when etcd sent it */
	/* Nonzero: the revisions the watch still had to deliver before compact_revision were
	 * compacted away (n is 0): the watch goes on from compact_revision, and the caller reads
	 * the range again to learn what it missed. */
	__s64 compact_revision;
};

typedef void (*zdd_etcd_watch_cb)(void *ctx, const struct zdd_etcd_watch_batch *b);

struct zdd_etcd_watch;

/*
 * Watches key (prefix false) or every key under it (true) from from_revision on (0: from now).
 * A stream that ends or fails is reopened (backing off to 2 s while it fails) from the
 * revision after the last event delivered: no event is lost or delivered twice.
 * 0 with *out, or -EINVAL, -ENOMEM.
 */
int zdd_etcd_watch(struct zdd_etcd *e, struct zdd_etcd_watch **out, const char *key, bool prefix,
		   __s64 from_revision, zdd_etcd_watch_cb cb, void *ctx);
/* No callback after it returns, and w is not to be used again. NULL is fine. */
void zdd_etcd_watch_cancel(struct zdd_etcd_watch *w);
/* The revision the watch asks for next: the last delivered + 1 (0: from now, not started yet). */
__s64 zdd_etcd_watch_next_revision(const struct zdd_etcd_watch *w);

/* ---- leader election ---- */

/*
 * One key per election, <prefix>election/<name>, created only if absent (a txn comparing its
 * create_revision with 0), holding the leader's value and bound to the leader's lease: whoever
 * created it leads while it exists. Every candidate watches it; when it is deleted (the leader
 * resigned, or its lease was revoked or expired) each candidate tries to create it again, and
 * one wins. No queue of candidates: who leads next is a race, which is all the fleet needs.
 *
 * Each election has a lease of its own (ttl_s), kept alive by the client. A leader stops being
 * one when the key is deleted or changed, when etcd says its lease is gone, or when no
 * keepalive has been answered for its TTL: by then etcd may have expired the lease and another
 * candidate lead. A leader cut off from etcd thus steps down no later than etcd lets another
 * take over. A lost lease is replaced by a new one and the candidate campaigns again.
 *
 * cb is called from zdd_etcd_run() when is_leader or the leader's value changes.
 */
typedef void (*zdd_etcd_election_cb)(void *ctx, bool leader, const char *leader_value);

struct zdd_etcd_election;

/* name: [A-Za-z0-9._-]+; value: this candidate (a node name). 0 with *out, -EINVAL, -ENOMEM. */
int zdd_etcd_campaign(struct zdd_etcd *e, struct zdd_etcd_election **out, const char *name,
		      const char *value, __u32 ttl_s, zdd_etcd_election_cb cb, void *ctx);
bool zdd_etcd_is_leader(const struct zdd_etcd_election *el);
/* The leader's value as last seen, NULL when unknown (none, or not read yet). */
const char *zdd_etcd_leader(const struct zdd_etcd_election *el);
/* The election's current lease, 0 while it has none. */
__s64 zdd_etcd_election_lease(const struct zdd_etcd_election *el);
/* Revokes the election's lease (a leader's key goes with it) and frees el: no callback after. */
void zdd_etcd_resign(struct zdd_etcd_election *el);

#endif /* ZDD_ETCD_H */
