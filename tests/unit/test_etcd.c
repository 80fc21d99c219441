// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_etcd.c - the etcd client against a real etcd this test starts on 127.0.0.1
 * (free ports, a temporary data dir), driven like the agent's loop (poll + run): key-values,
 * compare-and-swap, watches (latency, a cut stream, an etcd restart, compaction), leases,
 * elections, endpoint failover past refused, silent and SYN-dropping endpoints, and a proxy the
 * test can cut. Every zdd_etcd_run() is timed. Skipped without etcd. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <valgrind/valgrind.h>

#include "curlm.h"
#include "etcd.h"
#include "servers.h"

#define MAX_CL	   4
#define MAX_EV	   64
#define MAX_HOLE   16
#define RUN_MAX_US 5000 /* one zdd_etcd_run(): a blocking call would take a timeout */
/* ...unless the scheduler preempted it (a loaded 2-vCPU CI machine: 51 ms seen) or, under ASan,
 * a TLS handshake took several times the CPU; a blocked run would take a request's timeout
 * (500 ms and more here), and slow_waited tells waiting from preemption anyway. */
#define RUN_HARD_US   250000
#define WATCHDOG_S    60 /* a case that blocks is ended by SIGALRM, failed */
#define START_MS      10000
#define OP_MS	      3000 /* the longest an operation is waited for */
#define TTL_S	      1
#define PREFIX	      "/zdd-test/"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One etcd member, alone in its cluster. */
struct member {
	const char *name;
	pid_t pid;
	__u16 port, peer;
	char url[64];
	bool tls; /* https, client certificates required: w.dir/{ca,server}.{crt,key} */
};

/* The etcd of every case; the TLS one of the TLS case. */
static struct {
	char dir[64];
	struct member m, tls;
} w = { .m = { .name = "zt", .pid = -1 }, .tls = { .name = "zs", .pid = -1, .tls = true } };

/* A TCP relay to etcd the test can cut: its connections closed, new ones closed at once. */
struct proxy {
	int lfd, wake[2];
	__u16 port;
	char url[64];
	atomic_bool cut, stop;
	atomic_bool dribble; /* etcd's bytes passed on one at a time */
	atomic_int relays;   /* connections relayed to etcd */
	pthread_t thread;
};

struct res {
	bool done;
	int err;
	char error[256];
	__s64 revision, lease, ttl, deleted;
	bool succeeded;
	size_t n;
	struct zdd_etcd_kv kv[8]; /* key and value point into text[] */
	char text[8][2][64];
	long ms; /* from the start to the answer */
	long t0;
};

struct event {
	enum zdd_etcd_ev_type type;
	char key[64];
	char value[64];
	size_t value_len;
	unsigned long value_sum; /* of all its bytes */
	__s64 mod_revision, lease;
	long ms; /* when it was delivered (now_ms) */
};

struct rec {
	struct event ev[MAX_EV];
	int n;
	__s64 compact;
	int batches;
};

struct cand {
	struct zdd_etcd_election *el;
	bool leader;
	char value[64];	      /* the leader, "" unknown */
	long led_ms, lost_ms; /* when it last became leader, last stopped (0: never) */
	int changes;
};

/* A lease's grant (first: the grant's callback takes it as a struct res) and its loss. */
struct lost {
	struct res r;
	int n, err;
	__s64 lease;
	long ms;
};

struct fixture {
	struct zdd_etcd *c[MAX_CL];
	long max_run_us;
	long runs;
	long slow;	  /* runs over RUN_MAX_US... */
	long slow_waited; /* ...in which the thread waited (a voluntary context switch)... */
	long slow_paged;  /* ...for code or data paged in from disk (a major fault) */
	int hole[MAX_HOLE];
	int n_hole;
	struct proxy *px;
};

static struct rusage usage(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru;
}

/* Ports and URL, picked once: a restart keeps them. */
static void member_init(struct member *m)
{
	m->port = free_port();
	m->peer = free_port();
	snprintf(m->url, sizeof(m->url), "%s://127.0.0.1:%u", m->tls ? "https" : "http", m->port);
}

/* m, its data in w.dir/NAME (kept across restarts), its log in w.dir/NAME.log. */
static int member_start(struct member *m)
{
	char data[96], purl[64], cluster[80], log[96], cert[96], key[96], ca[96];
	const char *argv[40] = {
		"etcd",
		"--name",
		m->name,
		"--data-dir",
		data,
		"--listen-client-urls",
		m->url,
		"--advertise-client-urls",
		m->url,
		"--listen-peer-urls",
		purl,
		"--initial-advertise-peer-urls",
		purl,
		"--initial-cluster",
		cluster,
		/* Fast elections: a single member leads within ~100 ms of its start. */
		"--heartbeat-interval",
		"10",
		"--election-timeout",
		"50",
		"--logger",
		"zap",
		"--log-level",
		"warn",
	};
	size_t n = 23;

	snprintf(data, sizeof(data), "%s/%s", w.dir, m->name);
	snprintf(log, sizeof(log), "%s/%s.log", w.dir, m->name);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%u", m->peer);
	snprintf(cluster, sizeof(cluster), "%s=%s", m->name, purl);
	snprintf(cert, sizeof(cert), "%s/server.crt", w.dir);
	snprintf(key, sizeof(key), "%s/server.key", w.dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", w.dir);
	if (m->tls) {
		argv[n++] = "--cert-file";
		argv[n++] = cert;
		argv[n++] = "--key-file";
		argv[n++] = key;
		argv[n++] = "--trusted-ca-file";
		argv[n++] = ca;
		argv[n++] = "--client-cert-auth";
	}
	m->pid = spawn(log, argv);
	if (m->pid < 0)
		return -1;
	/* The TLS member's health is the TLS case's first check. */
	return m->tls || http_ready(m->port, "/health", "\"true\"", START_MS) ? 0 : -1;
}

static int world_down(void **state)
{
	(void)state;
	stop_child(&w.m.pid);
	stop_child(&w.tls.pid);
	if (w.dir[0])
		rm_tree(w.dir);
	return 0;
}

static int world_up(void **state)
{
	struct zdd_etcd_opts o = { .n_endpoints = 1 };
	struct zdd_etcd *e;
	const char *ep;
	long t0 = now_ms();

	strcpy(w.dir, "/tmp/zdd-test-etcd-XXXXXX");
	if (!mkdtemp(w.dir))
		return -1;
	member_init(&w.m);
	if (!w.m.port || !w.m.peer || member_start(&w.m)) {
		fprintf(stderr, "test_etcd: etcd did not start (its log in %s)\n", w.dir);
		w.dir[0] = '\0'; /* kept for the log */
		world_down(state);
		return -1;
	}
	printf("# etcd on %s, healthy %ld ms after its start\n", w.m.url, now_ms() - t0);
	/* libcurl's and OpenSSL's one-time state, before any case counts its fds. */
	ep = w.m.url;
	o.endpoints = &ep;
	if (zdd_etcd_new(&e, &o))
		return -1;
	zdd_etcd_free(e);
	return 0;
}

/* ---- the proxy ---- */

struct pair {
	int a, b;
};

static void pair_close(struct pair *p)
{
	close(p->a);
	close(p->b);
	p->a = p->b = -1;
}

/* Nonzero when the client is gone. Dribbling: a byte per segment, the client reads it so. */
static int relay(struct proxy *px, int fd, const char *buf, size_t len)
{
	size_t i;

	if (!atomic_load(&px->dribble))
		return send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len;
	for (i = 0; i < len; i++) {
		if (send(fd, buf + i, 1, MSG_NOSIGNAL) != 1)
			return -1;
		nap_ms(1);
	}
	return 0;
}

static void *proxy_main(void *arg)
{
	struct proxy *px = arg;
	struct pair conn[16];
	struct pollfd pfd[2 + 2 * ARRAY_SIZE(conn)];
	size_t n = 0, i, np;
	char buf[16384];
	ssize_t len;
	int fd, to;

	while (!atomic_load(&px->stop)) {
		if (atomic_load(&px->cut))
			while (n)
				pair_close(&conn[--n]);
		pfd[0] = (struct pollfd){ .fd = px->lfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = px->wake[0], .events = POLLIN };
		for (i = 0, np = 2; i < n; i++) {
			pfd[np++] = (struct pollfd){ .fd = conn[i].a, .events = POLLIN };
			pfd[np++] = (struct pollfd){ .fd = conn[i].b, .events = POLLIN };
		}
		if (poll(pfd, np, 100) <= 0)
			continue;
		if (pfd[1].revents)
			(void)!read(px->wake[0], buf, sizeof(buf));
		for (i = 0; i < n; i++) {
			short ra = pfd[2 + 2 * i].revents, rb = pfd[3 + 2 * i].revents;
			bool gone = false;

			if (ra && ((len = recv(conn[i].a, buf, sizeof(buf), 0)) <= 0 ||
				   send(conn[i].b, buf, (size_t)len, MSG_NOSIGNAL) != len))
				gone = true;
			if (!gone && rb &&
			    ((len = recv(conn[i].b, buf, sizeof(buf), 0)) <= 0 ||
			     relay(px, conn[i].a, buf, (size_t)len)))
				gone = true;
			if (gone) {
				pair_close(&conn[i]);
				conn[i] = conn[--n];
				i = n; /* the poll set is stale: poll again */
			}
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (atomic_load(&px->cut) || n == ARRAY_SIZE(conn)) {
			close(fd);
			continue;
		}
		conn[n].a = fd;
		conn[n].b = connect_lo(w.m.port, false);
		to = conn[n].b;
		if (to < 0) {
			close(fd);
			continue;
		}
		n++;
		atomic_fetch_add(&px->relays, 1);
	}
	while (n)
		pair_close(&conn[--n]);
	return NULL;
}

static struct proxy *proxy_start(struct fixture *f)
{
	struct proxy *px = calloc(1, sizeof(*px));

	assert_non_null(px);
	px->lfd = tcp_socket(AF_INET, 64, &px->port);
	assert_true(px->lfd >= 0);
	assert_int_equal(pipe2(px->wake, O_CLOEXEC | O_NONBLOCK), 0);
	snprintf(px->url, sizeof(px->url), "http://127.0.0.1:%u", px->port);
	assert_int_equal(pthread_create(&px->thread, NULL, proxy_main, px), 0);
	f->px = px;
	return px;
}

static void proxy_cut(struct proxy *px, bool cut)
{
	atomic_store(&px->cut, cut);
	(void)!write(px->wake[1], "x", 1);
}

static void proxy_stop(struct proxy *px)
{
	if (!px)
		return;
	atomic_store(&px->stop, true);
	(void)!write(px->wake[1], "x", 1);
	pthread_join(px->thread, NULL);
	close(px->lfd);
	close(px->wake[0]);
	close(px->wake[1]);
	free(px);
}

/* ---- cases' plumbing ---- */

static void release(void *arg)
{
	struct fixture *f = arg;
	size_t i;

	for (i = 0; i < MAX_CL; i++) {
		zdd_etcd_free(f->c[i]);
		f->c[i] = NULL;
	}
	proxy_stop(f->px);
	f->px = NULL;
	while (f->n_hole)
		close(f->hole[--f->n_hole]);
}

static int setup(void **state)
{
	struct fixture *f = case_begin(state, sizeof(*f), release, WATCHDOG_S, "the client");

	return f ? 0 : -1;
}

/*
 * Ends a case: no zdd_etcd_run() blocked, everything closed, no fd more than before. A run may
 * take over RUN_MAX_US when preempted (2 vCPUs, etcd beside) or when the first use of a
 * library's code pages it in, never when it waited for anything else.
 */
static void finish(struct fixture *f)
{
	printf("# %ld runs, the longest %ld us; %ld over %d us, %ld of them waiting, %ld paging\n",
	       f->runs, f->max_run_us, f->slow, RUN_MAX_US, f->slow_waited, f->slow_paged);
	/* valgrind runs the client some 20-50 times slower: what it checks is memory. */
	if (!RUNNING_ON_VALGRIND) {
		assert_int_equal(f->slow_waited, 0);
		assert_true(f->max_run_us < RUN_HARD_US);
	}
	case_finish(f);
}

/* Client i on these endpoints ("" or NULL entries: etcd itself). */
static struct zdd_etcd *client_on(struct fixture *f, int i, const char *const *eps, size_t n)
{
	const char *ep[ZDD_ETCD_MAX_ENDPOINTS];
	struct zdd_etcd_opts o = { .endpoints = ep, .n_endpoints = n, .prefix = PREFIX };
	size_t k;

	for (k = 0; k < n; k++)
		ep[k] = eps[k] && *eps[k] ? eps[k] : w.m.url;
	assert_int_equal(zdd_etcd_new(&f->c[i], &o), 0);
	return f->c[i];
}

static struct zdd_etcd *client(struct fixture *f, int i)
{
	const char *ep = w.m.url;

	return client_on(f, i, &ep, 1);
}

static void hole(struct fixture *f, int fd)
{
	assert_true(fd >= 0 && f->n_hole < MAX_HOLE);
	f->hole[f->n_hole++] = fd;
}

/* Runs every client like the agent's loop until done(arg) or max_ms; done's last word. */
static bool drive(struct fixture *f, long max_ms, bool (*done)(void *arg), void *arg)
{
	long start = now_ms(), left, t0, dt;
	struct rusage u0, u1;
	struct pollfd pfd[MAX_CL];
	int i, n, to, t;

	while (!(done && done(arg)) && (left = max_ms - (now_ms() - start)) > 0) {
		to = left > 50 ? 50 : (int)left;
		for (i = 0, n = 0; i < MAX_CL; i++) {
			if (!f->c[i])
				continue;
			pfd[n++] = (struct pollfd){ .fd = zdd_etcd_fd(f->c[i]), .events = POLLIN };
			t = zdd_etcd_timeout_ms(f->c[i]);
			if (t >= 0 && t < to)
				to = t;
		}
		poll(pfd, (nfds_t)n, to);
		for (i = 0; i < MAX_CL; i++) {
			if (!f->c[i])
				continue;
			u0 = usage();
			t0 = now_us();
			assert_int_equal(zdd_etcd_run(f->c[i], zdd_mono_ms()), 0);
			dt = now_us() - t0;
			f->runs++;
			if (dt > f->max_run_us)
				f->max_run_us = dt;
			if (dt < RUN_MAX_US)
				continue;
			u1 = usage();
			f->slow++;
			/* The first use of a library's code reads it from disk: not ours. */
			if (u1.ru_majflt != u0.ru_majflt)
				f->slow_paged++;
			else if (u1.ru_nvcsw != u0.ru_nvcsw)
				f->slow_waited++;
		}
	}
	return done ? done(arg) : true;
}

static void on_res(void *ctx, const struct zdd_etcd_result *r)
{
	struct res *s = ctx;
	size_t i;

	assert_false(s->done); /* once */
	s->done = true;
	s->ms = now_ms() - s->t0;
	s->err = r->err;
	if (r->err) {
		assert_non_null(r->error);
		snprintf(s->error, sizeof(s->error), "%s", r->error);
	}
	s->revision = r->revision;
	s->succeeded = r->succeeded;
	s->lease = r->lease;
	s->ttl = r->ttl;
	s->deleted = r->deleted;
	s->n = r->n_kvs;
	for (i = 0; i < r->n_kvs && i < ARRAY_SIZE(s->kv); i++) {
		s->kv[i] = r->kvs[i];
		assert_int_equal(r->kvs[i].key[r->kvs[i].key_len], '\0');
		assert_int_equal(r->kvs[i].value[r->kvs[i].value_len], '\0');
		assert_true(r->kvs[i].key_len < 64 && r->kvs[i].value_len < 64);
		memcpy(s->text[i][0], r->kvs[i].key, r->kvs[i].key_len + 1);
		memcpy(s->text[i][1], r->kvs[i].value, r->kvs[i].value_len + 1);
		s->kv[i].key = s->text[i][0];
		s->kv[i].value = s->text[i][1];
	}
}

static bool res_done(void *arg)
{
	return ((struct res *)arg)->done;
}

static struct res *res_new(struct res *s)
{
	memset(s, 0, sizeof(*s));
	s->t0 = now_ms();
	return s;
}

/* The operation started by call, waited for. */
#define SYNC(f, s, call)                                       \
	do {                                                   \
		res_new(s);                                    \
		assert_int_equal((call), 0);                   \
		assert_true(drive((f), OP_MS, res_done, (s))); \
	} while (0)

static __s64 put(struct fixture *f, int c, const char *key, const char *value, __s64 lease)
{
	struct res s;

	SYNC(f, &s, zdd_etcd_put(f->c[c], key, value, strlen(value), lease, on_res, &s));
	if (s.err)
		fprintf(stderr, "put %s: %s\n", key, s.error);
	assert_int_equal(s.err, 0);
	assert_true(s.revision > 0);
	return s.revision;
}

static void get(struct fixture *f, int c, const char *key, struct res *s)
{
	SYNC(f, s, zdd_etcd_get(f->c[c], key, on_res, s));
	assert_int_equal(s->err, 0);
}

static unsigned long sum(const char *p, size_t n)
{
	unsigned long s = 0;

	while (n--)
		s = s * 31 + (unsigned char)*p++;
	return s;
}

static void on_watch(void *ctx, const struct zdd_etcd_watch_batch *b)
{
	struct rec *r = ctx;
	size_t i;

	r->batches++;
	if (b->compact_revision) {
		assert_int_equal(b->n, 0);
		r->compact = b->compact_revision;
	}
	for (i = 0; i < b->n; i++) {
		struct event *e = &r->ev[r->n];

		assert_true(r->n < MAX_EV);
		e->type = b->ev[i].type;
		snprintf(e->key, sizeof(e->key), "%s", b->ev[i].kv.key);
		snprintf(e->value, sizeof(e->value), "%s", b->ev[i].kv.value);
		e->value_len = b->ev[i].kv.value_len;
		e->value_sum = sum(b->ev[i].kv.value, e->value_len);
		e->mod_revision = b->ev[i].kv.mod_revision;
		e->lease = b->ev[i].kv.lease;
		e->ms = now_ms();
		r->n++;
	}
}

struct count {
	const int *n;
	int want;
};

static bool reached(void *arg)
{
	const struct count *c = arg;

	return *c->n >= c->want;
}

static bool wait_events(struct fixture *f, struct rec *r, int want, long max_ms)
{
	struct count c = { &r->n, want };

	return drive(f, max_ms, reached, &c);
}

/* ---- key-values ---- */

static void put_get_round_trip(void **state)
{
	static const char bin[] = "a\0b\xff\n\"{}";
	struct fixture *f = *state;
	struct res s;
	__s64 rev;

	client(f, 0);
	rev = put(f, 0, "kv/one", "hello", 0);
	get(f, 0, "kv/one", &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.kv[0].key, "kv/one");
	assert_string_equal(s.kv[0].value, "hello");
	assert_int_equal(s.kv[0].mod_revision, rev);
	assert_int_equal(s.kv[0].create_revision, rev);
	assert_int_equal(s.kv[0].version, 1);
	assert_true(s.revision >= rev);

	/* Any bytes: values are base64 on the wire. */
	SYNC(f, &s, zdd_etcd_put(f->c[0], "kv/bin", bin, sizeof(bin), 0, on_res, &s));
	assert_int_equal(s.err, 0);
	get(f, 0, "kv/bin", &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.kv[0].value_len, sizeof(bin));
	assert_memory_equal(s.kv[0].value, bin, sizeof(bin));

	get(f, 0, "kv/none", &s);
	assert_int_equal(s.n, 0);
	finish(f);
}

static void range_and_delete(void **state)
{
	struct fixture *f = *state;
	struct res s;

	client(f, 0);
	put(f, 0, "rg/b", "2", 0);
	put(f, 0, "rg/a", "1", 0);
	put(f, 0, "rg/c", "3", 0);
	put(f, 0, "rg0", "not under rg/", 0);
	SYNC(f, &s, zdd_etcd_range(f->c[0], "rg/", on_res, &s));
	assert_int_equal(s.err, 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.kv[0].key, "rg/a");
	assert_string_equal(s.kv[1].key, "rg/b");
	assert_string_equal(s.kv[2].value, "3");

	SYNC(f, &s, zdd_etcd_delete(f->c[0], "rg/b", on_res, &s));
	assert_int_equal(s.err, 0);
	assert_int_equal(s.deleted, 1);
	SYNC(f, &s, zdd_etcd_delete(f->c[0], "rg/b", on_res, &s));
	assert_int_equal(s.deleted, 0);
	SYNC(f, &s, zdd_etcd_range(f->c[0], "rg/", on_res, &s));
	assert_int_equal(s.n, 2);

	/* Refused before anything is sent: no callback. */
	assert_int_equal(zdd_etcd_get(f->c[0], "", on_res, &s), -EINVAL);
	assert_int_equal(zdd_etcd_put(f->c[0], "k", "v", 1, -1, on_res, &s), -EINVAL);
	assert_int_equal(zdd_etcd_txn_put_if(f->c[0], "k", "v", 1, -2, 0, on_res, &s), -EINVAL);
	assert_int_equal(zdd_etcd_lease_grant(f->c[0], 0, on_res, NULL, &s), -EINVAL);
	finish(f);
}

static void bad_options_refused(void **state)
{
	static const char *const bad[] = { "ftp://127.0.0.1:1", "http://127.0.0.1:1/v3", "http://",
					   "127.0.0.1:2379", "http://a b:1" };
	struct zdd_etcd_opts o = { .n_endpoints = 1 };
	struct fixture *f = *state;
	struct zdd_etcd *e = NULL;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		o.endpoints = &bad[i];
		assert_int_equal(zdd_etcd_new(&e, &o), -EINVAL);
	}
	o.n_endpoints = 0;
	assert_int_equal(zdd_etcd_new(&e, &o), -EINVAL);
	o.n_endpoints = ZDD_ETCD_MAX_ENDPOINTS + 1;
	assert_int_equal(zdd_etcd_new(&e, &o), -EINVAL);
	finish(f);
}

/* ---- compare-and-swap ---- */

static void create_if_absent_wins_once(void **state)
{
	struct fixture *f = *state;
	struct res a, b, s;

	client(f, 0);
	client(f, 1);
	/* Both in flight at once, from two clients: etcd orders them. */
	res_new(&a);
	res_new(&b);
	assert_int_equal(
		zdd_etcd_txn_put_if(f->c[0], "cas/new", "A", 1, ZDD_ETCD_ABSENT, 0, on_res, &a), 0);
	assert_int_equal(
		zdd_etcd_txn_put_if(f->c[1], "cas/new", "B", 1, ZDD_ETCD_ABSENT, 0, on_res, &b), 0);
	assert_true(drive(f, OP_MS, res_done, &a));
	assert_true(drive(f, OP_MS, res_done, &b));
	assert_int_equal(a.err, 0);
	assert_int_equal(b.err, 0);
	assert_int_equal(a.succeeded + b.succeeded, 1);
	/* The loser is told what is there. */
	if (a.succeeded) {
		assert_int_equal(b.n, 1);
		assert_string_equal(b.kv[0].value, "A");
	} else {
		assert_int_equal(a.n, 1);
		assert_string_equal(a.kv[0].value, "B");
	}
	get(f, 0, "cas/new", &s);
	assert_string_equal(s.kv[0].value, a.succeeded ? "A" : "B");
	finish(f);
}

static void cas_fails_on_stale_revision(void **state)
{
	struct fixture *f = *state;
	__s64 r1;
	struct res s;

	client(f, 0);
	r1 = put(f, 0, "cas/rev", "v1", 0);
	SYNC(f, &s, zdd_etcd_txn_put_if(f->c[0], "cas/rev", "v2", 2, r1, 0, on_res, &s));
	assert_int_equal(s.err, 0);
	assert_true(s.succeeded);
	assert_true(s.revision > r1);
	/* r1 is stale now: refused, and the answer has the revision to compare with. */
	SYNC(f, &s, zdd_etcd_txn_put_if(f->c[0], "cas/rev", "v3", 2, r1, 0, on_res, &s));
	assert_int_equal(s.err, 0);
	assert_false(s.succeeded);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.kv[0].value, "v2");
	assert_true(s.kv[0].mod_revision > r1);
	r1 = s.kv[0].mod_revision;
	SYNC(f, &s, zdd_etcd_txn_put_if(f->c[0], "cas/rev", "v3", 2, r1, 0, on_res, &s));
	assert_true(s.succeeded);
	/* Create-if-absent on a key that exists fails too. */
	SYNC(f, &s,
	     zdd_etcd_txn_put_if(f->c[0], "cas/rev", "v4", 2, ZDD_ETCD_ABSENT, 0, on_res, &s));
	assert_false(s.succeeded);
	assert_string_equal(s.kv[0].value, "v3");
	finish(f);
}

/* ---- watches ---- */

static void watch_sees_puts_fast(void **state)
{
	struct fixture *f = *state;
	struct zdd_etcd_watch *wt;
	long lat[20], sum = 0, max = 0, t0;
	struct rec r = { 0 };
	char key[32];
	__s64 rev;
	int i;

	client(f, 0);
	client(f, 1);
	rev = put(f, 1, "lat/0", "x", 0);
	assert_int_equal(zdd_etcd_watch(f->c[0], &wt, "lat/", true, rev + 1, on_watch, &r), 0);
	drive(f, 100, NULL, NULL); /* the stream opens */
	for (i = 0; i < (int)ARRAY_SIZE(lat); i++) {
		snprintf(key, sizeof(key), "lat/%d", i + 1);
		t0 = now_ms();
		assert_int_equal(zdd_etcd_put(f->c[1], key, "v", 1, 0, NULL, NULL), 0);
		assert_true(wait_events(f, &r, i + 1, 1000));
		assert_string_equal(r.ev[i].key, key);
		lat[i] = r.ev[i].ms - t0;
		sum += lat[i];
		if (lat[i] > max)
			max = lat[i];
	}
	printf("# watch latency, put started to event delivered: mean %ld ms, max %ld ms (%zu "
	       "puts)\n",
	       sum / (long)ARRAY_SIZE(lat), max, ARRAY_SIZE(lat));
	assert_true(max < 200);
	zdd_etcd_watch_cancel(wt);
	finish(f);
}

/* Events k/1..k/n in order, each once, at the revisions their puts returned. */
static void assert_sequence(const struct rec *r, const char *prefix, const __s64 *revs, int n)
{
	char key[32];
	int i;

	assert_int_equal(r->n, n);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i + 1);
		assert_string_equal(r->ev[i].key, key);
		assert_int_equal(r->ev[i].type, ZDD_ETCD_PUT);
		assert_int_equal(r->ev[i].mod_revision, revs[i]);
	}
}

static void watch_resumes_after_cut_stream(void **state)
{
	struct fixture *f = *state;
	struct proxy *px = proxy_start(f);
	const char *via = px->url;
	struct zdd_etcd_watch *wt;
	struct rec r = { 0 };
	__s64 revs[15], rev;
	char key[32];
	int i;

	client_on(f, 0, &via, 1); /* the watcher, through the proxy */
	client(f, 1);		  /* the writer, direct */
	rev = put(f, 1, "cut/0", "x", 0);
	assert_int_equal(zdd_etcd_watch(f->c[0], &wt, "cut/", true, rev + 1, on_watch, &r), 0);
	for (i = 0; i < 15; i++) {
		if (i == 5) {
			assert_true(wait_events(f, &r, 5, 1000));
			proxy_cut(px, true);
		}
		snprintf(key, sizeof(key), "cut/%d", i + 1);
		revs[i] = put(f, 1, key, "v", 0);
		if (i == 9) {
			/* The watcher tries to come back meanwhile, and fails. */
			drive(f, 300, NULL, NULL);
			assert_int_equal(r.n, 5);
			proxy_cut(px, false);
		}
	}
	assert_true(wait_events(f, &r, 15, 3000));
	drive(f, 100, NULL, NULL); /* nothing twice */
	assert_sequence(&r, "cut/", revs, 15);
	assert_true(atomic_load(&px->relays) >= 2);
	assert_int_equal(zdd_etcd_watch_next_revision(wt), revs[14] + 1);
	zdd_etcd_watch_cancel(wt);
	finish(f);
}

static void watch_survives_etcd_restart(void **state)
{
	struct fixture *f = *state;
	struct zdd_etcd_watch *wt;
	struct rec r = { 0 };
	__s64 revs[2], rev;
	long t0, t1;

	client(f, 0);
	client(f, 1);
	rev = put(f, 1, "rs/0", "x", 0);
	assert_int_equal(zdd_etcd_watch(f->c[0], &wt, "rs/", true, rev + 1, on_watch, &r), 0);
	revs[0] = put(f, 1, "rs/1", "v", 0);
	assert_true(wait_events(f, &r, 1, 1000));
	stop_child(&w.m.pid);
	drive(f, 200, NULL, NULL); /* the stream breaks, reconnects fail */
	t0 = now_ms();
	assert_int_equal(member_start(&w.m), 0);
	t1 = now_ms();
	revs[1] = put(f, 1, "rs/2", "v", 0);
	assert_true(wait_events(f, &r, 2, 3000));
	printf("# etcd restarted in %ld ms; the event after it delivered %ld ms after its put\n",
	       t1 - t0, r.ev[1].ms - t1);
	assert_sequence(&r, "rs/", revs, 2);
	zdd_etcd_watch_cancel(wt);
	finish(f);
}

static void watch_reports_compaction(void **state)
{
	struct fixture *f = *state;
	struct zdd_etcd_watch *wt;
	struct rec r = { 0 };
	__s64 r1, r3;
	char body[64], buf[1024];

	client(f, 0);
	r1 = put(f, 0, "cmp/1", "v", 0);
	put(f, 0, "cmp/2", "v", 0);
	r3 = put(f, 0, "cmp/3", "v", 0);
	snprintf(body, sizeof(body), "{\"revision\":\"%lld\",\"physical\":true}", (long long)r3);
	assert_int_equal(http_ask(w.m.port, "POST", "/v3/kv/compaction", body, buf, sizeof(buf)),
			 0);
	/* From r1, gone: told so, then on from what is left. */
	assert_int_equal(zdd_etcd_watch(f->c[0], &wt, "cmp/", true, r1, on_watch, &r), 0);
	assert_true(wait_events(f, &r, 1, 2000));
	assert_int_equal(r.compact, r3);
	assert_string_equal(r.ev[0].key, "cmp/3");
	assert_int_equal(r.ev[0].mod_revision, r3);
	zdd_etcd_watch_cancel(wt);
	finish(f);
}

static void watch_parses_a_stream_in_pieces(void **state)
{
	struct fixture *f = *state;
	struct proxy *px = proxy_start(f);
	const char *via = px->url;
	size_t big_len = 300 << 10, i;
	struct zdd_etcd_watch *wt;
	struct rec r = { 0 };
	__s64 revs[3], rev;
	struct res s;
	char *big;

	/* A byte at a time: headers, chunk sizes and JSON objects all cut everywhere. */
	atomic_store(&px->dribble, true);
	client_on(f, 0, &via, 1);
	client(f, 1);
	rev = put(f, 1, "pc/0", "x", 0);
	assert_int_equal(zdd_etcd_watch(f->c[0], &wt, "pc/", true, rev + 1, on_watch, &r), 0);
	revs[0] = put(f, 1, "pc/1", "{\"json\": [\"in a value\"]}", 0);
	revs[1] = put(f, 1, "pc/2", "v", 0);
	assert_true(wait_events(f, &r, 2, 5000));
	assert_string_equal(r.ev[0].value, "{\"json\": [\"in a value\"]}");

	/* And one event larger than any read: whole, byte for byte. */
	atomic_store(&px->dribble, false);
	big = malloc(big_len);
	assert_non_null(big);
	for (i = 0; i < big_len; i++)
		big[i] = (char)(i * 7 + i / 251);
	SYNC(f, &s, zdd_etcd_put(f->c[1], "pc/3", big, big_len, 0, on_res, &s));
	assert_int_equal(s.err, 0);
	revs[2] = s.revision;
	assert_true(wait_events(f, &r, 3, 3000));
	assert_int_equal(r.ev[2].value_len, big_len);
	assert_int_equal(r.ev[2].value_sum, sum(big, big_len));
	free(big);
	assert_sequence(&r, "pc/", revs, 3);
	zdd_etcd_watch_cancel(wt);
	finish(f);
}

/* ---- leases ---- */

static void on_lost(void *ctx, __s64 lease, int err)
{
	struct lost *l = ctx;

	l->n++;
	l->lease = lease;
	l->err = err;
	l->ms = now_ms();
}

static bool lost_done(void *arg)
{
	return ((struct lost *)arg)->n > 0;
}

static __s64 grant(struct fixture *f, int c, struct lost *l)
{
	struct res *s = &l->r;

	SYNC(f, s, zdd_etcd_lease_grant(f->c[c], TTL_S, on_res, on_lost, l));
	assert_int_equal(s->err, 0);
	assert_true(s->lease > 0);
	assert_int_equal(s->ttl, TTL_S);
	return s->lease;
}

static void keepalive_keeps_key_then_revoke_deletes(void **state)
{
	struct fixture *f = *state;
	struct lost l = { 0 };
	struct res s;
	__s64 lease;

	client(f, 0);
	lease = grant(f, 0, &l);
	put(f, 0, "ls/alive", "v", lease);
	/* Past twice the TTL: only the keepalives keep it. */
	drive(f, 2500 * TTL_S, lost_done, &l);
	assert_int_equal(l.n, 0);
	get(f, 0, "ls/alive", &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.kv[0].lease, lease);

	SYNC(f, &s, zdd_etcd_lease_revoke(f->c[0], lease, on_res, &s));
	assert_int_equal(s.err, 0);
	get(f, 0, "ls/alive", &s);
	assert_int_equal(s.n, 0);
	/* A put with it now is refused; and revoking is not a loss. */
	SYNC(f, &s, zdd_etcd_put(f->c[0], "ls/alive", "v", 1, lease, on_res, &s));
	assert_int_equal(s.err, -ENOENT);
	drive(f, 500, NULL, NULL);
	assert_int_equal(l.n, 0);
	finish(f);
}

static void lease_revoked_elsewhere_is_noticed(void **state)
{
	struct fixture *f = *state;
	struct lost l = { 0 };
	struct res s;
	__s64 lease;
	long t0;

	client(f, 0);
	client(f, 1);
	lease = grant(f, 0, &l);
	t0 = now_ms();
	SYNC(f, &s, zdd_etcd_lease_revoke(f->c[1], lease, on_res, &s));
	assert_int_equal(s.err, 0);
	/* At its next keepalive, TTL/3 at most. */
	assert_true(drive(f, 1000 * TTL_S, lost_done, &l));
	assert_int_equal(l.lease, lease);
	assert_int_equal(l.err, -ENOENT);
	printf("# a lease revoked elsewhere noticed in %ld ms\n", l.ms - t0);
	drive(f, 500, NULL, NULL);
	assert_int_equal(l.n, 1);
	finish(f);
}

static void lease_expires_without_keepalives(void **state)
{
	struct fixture *f = *state;
	struct zdd_etcd_watch *wt;
	struct lost l = { 0 };
	struct rec r = { 0 };
	__s64 lease, rev;
	long t0;

	client(f, 0);
	client(f, 1);
	lease = grant(f, 0, &l);
	rev = put(f, 0, "ex/key", "v", lease);
	assert_int_equal(zdd_etcd_watch(f->c[1], &wt, "ex/key", false, rev + 1, on_watch, &r), 0);
	/* Its holder is gone without a word: the key goes with the TTL. */
	zdd_etcd_free(f->c[0]);
	f->c[0] = NULL;
	t0 = now_ms();
	assert_true(wait_events(f, &r, 1, 1000 * TTL_S + 2000));
	assert_int_equal(r.ev[0].type, ZDD_ETCD_DELETE);
	assert_string_equal(r.ev[0].key, "ex/key");
	printf("# a lease of %d s without keepalives expired after %ld ms\n", TTL_S,
	       r.ev[0].ms - t0);
	zdd_etcd_watch_cancel(wt);
	finish(f);
}

/* ---- elections ---- */

static void on_role(void *ctx, bool leader, const char *value)
{
	struct cand *c = ctx;

	if (leader && !c->leader)
		c->led_ms = now_ms();
	if (!leader && c->leader)
		c->lost_ms = now_ms();
	c->leader = leader;
	snprintf(c->value, sizeof(c->value), "%s", value ?: "");
	c->changes++;
}

struct pair_of {
	struct cand *a, *b;
};

/* One leads, and the other knows who. */
static bool settled(void *arg)
{
	const struct pair_of *p = arg;
	const struct cand *l = p->a->leader ? p->a : p->b, *o = l == p->a ? p->b : p->a;

	return p->a->leader != p->b->leader && !strcmp(o->value, l->value) && *l->value;
}

static bool leads(void *arg)
{
	return ((struct cand *)arg)->leader;
}

static void campaign(struct fixture *f, int c, struct cand *cd, const char *name, const char *value)
{
	memset(cd, 0, sizeof(*cd));
	assert_int_equal(zdd_etcd_campaign(f->c[c], &cd->el, name, value, TTL_S, on_role, cd), 0);
}

static void one_leads_then_the_other_within_a_ttl(void **state)
{
	struct fixture *f = *state;
	struct cand a, b, *old, *next;
	struct pair_of p = { &a, &b };
	struct res s;
	long t0;

	client(f, 0);
	client(f, 1);
	client(f, 2);
	campaign(f, 0, &a, "lead", "node-a");
	campaign(f, 1, &b, "lead", "node-b");
	assert_true(drive(f, OP_MS, settled, &p));
	old = a.leader ? &a : &b;
	next = old == &a ? &b : &a;
	assert_true(zdd_etcd_is_leader(old->el));
	assert_false(zdd_etcd_is_leader(next->el));
	assert_string_equal(zdd_etcd_leader(next->el), old == &a ? "node-a" : "node-b");
	get(f, 2, "election/lead", &s);
	assert_int_equal(s.kv[0].lease, zdd_etcd_election_lease(old->el));

	/* Its lease revoked behind its back: the other leads, and it knows it does not. */
	t0 = now_ms();
	SYNC(f, &s, zdd_etcd_lease_revoke(f->c[2], zdd_etcd_election_lease(old->el), on_res, &s));
	assert_int_equal(s.err, 0);
	assert_true(drive(f, 1000 * TTL_S, leads, next));
	printf("# leader's lease revoked: the other leads after %ld ms\n", next->led_ms - t0);
	assert_true(drive(f, 1000 * TTL_S, settled, &p));
	assert_true(next->leader && !old->leader);
	assert_true(old->lost_ms >= t0);

	/* It resigns: the first leads again, at once. */
	t0 = now_ms();
	zdd_etcd_resign(next->el);
	next->leader = false;
	assert_true(drive(f, 1000 * TTL_S, leads, old));
	printf("# leader resigned: the other leads after %ld ms\n", old->led_ms - t0);
	zdd_etcd_resign(old->el);
	drive(f, 200, NULL, NULL);
	get(f, 2, "election/lead", &s);
	assert_int_equal(s.n, 0);
	finish(f);
}

static void cut_off_leader_steps_down_before_another_leads(void **state)
{
	struct fixture *f = *state;
	struct proxy *px = proxy_start(f);
	const char *via = px->url;
	struct cand a, b;
	long t0;

	client_on(f, 0, &via, 1);
	client(f, 1);
	campaign(f, 0, &a, "cut", "node-a");
	assert_true(drive(f, OP_MS, leads, &a));
	campaign(f, 1, &b, "cut", "node-b");
	drive(f, 300, NULL, NULL);
	assert_string_equal(b.value, "node-a");

	/* a cannot reach etcd: it must stop leading by itself, before b may start. */
	t0 = now_ms();
	proxy_cut(px, true);
	assert_true(drive(f, 1000 * TTL_S + 2500, leads, &b));
	assert_false(a.leader);
	printf("# leader cut off: stepped down after %ld ms, the other led after %ld ms\n",
	       a.lost_ms - t0, b.led_ms - t0);
	assert_true(a.lost_ms - t0 <= 1000 * TTL_S + 100);
	assert_true(a.lost_ms <= b.led_ms);

	/* Back: a follows. */
	proxy_cut(px, false);
	drive(f, 1500, NULL, NULL);
	assert_false(a.leader);
	assert_true(b.leader);
	assert_string_equal(a.value, "node-b");
	zdd_etcd_resign(a.el);
	zdd_etcd_resign(b.el);
	finish(f);
}

/* ---- TLS ---- */

/* A CA, etcd's certificate (for 127.0.0.1; a client's too: its gateway dials etcd's own gRPC
 * with it), a client's, and another CA nobody uses, in w.dir. */
static const char certs_sh[] =
	"set -e; cd \"$1\"\n"
	"ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	"-days 2 -subj /CN=$1 -keyout $1.key -out $1.crt; }\n"
	"cert() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	"-subj /CN=$1 -keyout $1.key -out $1.csr\n"
	"  printf \"$2\" > $1.ext\n"
	"  openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
	"-extfile $1.ext -out $1.crt; }\n"
	"ca ca; ca other\n"
	"cert server 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n'\n"
	"cert client 'extendedKeyUsage=clientAuth\\n'\n";

static int make_certs(void)
{
	const char *const argv[] = { "sh", "-c", certs_sh, "certs", w.dir, NULL };
	char log[96];
	int status;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/openssl.log", w.dir);
	pid = spawn(log, argv);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/* Client i of the TLS member trusting ca (NULL: the system's CAs), with the client's
 * certificate or none. */
static struct zdd_etcd *tls_client(struct fixture *f, int i, const char *ca, bool cert)
{
	char ca_file[96], cert_file[96], key_file[96];
	const char *ep = w.tls.url;
	struct zdd_etcd_opts o = {
		.endpoints = &ep,
		.n_endpoints = 1,
		.prefix = PREFIX,
		.ca_file = ca ? ca_file : NULL,
		.cert_file = cert ? cert_file : NULL,
		.key_file = cert ? key_file : NULL,
	};

	snprintf(ca_file, sizeof(ca_file), "%s/%s.crt", w.dir, ca ?: "");
	snprintf(cert_file, sizeof(cert_file), "%s/client.crt", w.dir);
	snprintf(key_file, sizeof(key_file), "%s/client.key", w.dir);
	assert_int_equal(zdd_etcd_new(&f->c[i], &o), 0);
	return f->c[i];
}

static void tls_with_client_certificates(void **state)
{
	struct fixture *f = *state;
	struct zdd_etcd_watch *wt;
	struct rec r = { 0 };
	long t0 = now_ms();
	struct res s;
	__s64 rev;

	if (!in_path("openssl")) {
		finish(f);
		skip();
	}
	assert_int_equal(make_certs(), 0);
	member_init(&w.tls);
	assert_int_equal(member_start(&w.tls), 0);
	tls_client(f, 0, "ca", true);
	/* Up when it answers. */
	do {
		SYNC(f, &s, zdd_etcd_get(f->c[0], "tls/k", on_res, &s));
		if (s.err)
			drive(f, 20, NULL, NULL);
	} while (s.err && now_ms() - t0 < START_MS);
	assert_int_equal(s.err, 0);
	printf("# TLS etcd answering %ld ms after its certificates were made\n", now_ms() - t0);
	rev = put(f, 0, "tls/k", "v", 0);
	get(f, 0, "tls/k", &s);
	assert_int_equal(s.kv[0].mod_revision, rev);
	assert_int_equal(zdd_etcd_watch(f->c[0], &wt, "tls/", true, rev + 1, on_watch, &r), 0);
	rev = put(f, 0, "tls/1", "v", 0);
	assert_true(wait_events(f, &r, 1, 2000));
	assert_int_equal(r.ev[0].mod_revision, rev);
	zdd_etcd_watch_cancel(wt);

	/* No client certificate: refused. */
	tls_client(f, 1, "ca", false);
	SYNC(f, &s, zdd_etcd_get(f->c[1], "tls/k", on_res, &s));
	assert_int_not_equal(s.err, 0);
	printf("# without a client certificate: %s\n", s.error);
	/* A server no CA we trust signed: refused before anything is sent. */
	tls_client(f, 2, "other", true);
	SYNC(f, &s, zdd_etcd_get(f->c[2], "tls/k", on_res, &s));
	assert_int_equal(s.err, -ENOTCONN);
	printf("# an untrusted server: %s\n", s.error);
	stop_child(&w.tls.pid);
	finish(f);
}

/* ---- failover ---- */

static void refused_endpoint_first(void **state)
{
	struct fixture *f = *state;
	__u16 port;
	char dead[64];
	const char *eps[2] = { dead, "" };
	struct res s;

	hole(f, tcp_socket(AF_INET, -1, &port)); /* bound, not listening: refused */
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%u", port);
	client_on(f, 0, eps, 2);
	SYNC(f, &s,
	     zdd_etcd_txn_put_if(f->c[0], "fo/refused", "v", 1, ZDD_ETCD_ABSENT, 0, on_res, &s));
	assert_int_equal(s.err, 0);
	assert_true(s.succeeded); /* never sent to the first: sent again */
	assert_int_equal(zdd_etcd_endpoint(f->c[0]), 1);
	printf("# refused first endpoint: a txn answered in %ld ms\n", s.ms);
	assert_true(s.ms < 200);

	/* Only refused: nothing applied, said at once. */
	client_on(f, 1, eps, 1);
	SYNC(f, &s, zdd_etcd_get(f->c[1], "fo/refused", on_res, &s));
	assert_int_equal(s.err, -ENOTCONN);
	assert_true(s.ms < 200);
	finish(f);
}

static void silent_endpoint_first(void **state)
{
	struct fixture *f = *state;
	__u16 port;
	char dead[64];
	const char *eps[2] = { dead, "" };
	struct res s;

	/* Listening, never accepting: connections complete, requests go unanswered. */
	hole(f, tcp_socket(AF_INET, 64, &port));
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%u", port);

	client_on(f, 0, eps, 2);
	SYNC(f, &s, zdd_etcd_get(f->c[0], "fo/x", on_res, &s));
	assert_int_equal(s.err, 0);
	printf("# silent first endpoint: a get answered in %ld ms (timeout 1000)\n", s.ms);
	assert_true(s.ms < 1000);
	/* The second is current now: no more waiting. */
	SYNC(f, &s, zdd_etcd_put(f->c[0], "fo/x", "v", 1, 0, on_res, &s));
	assert_int_equal(s.err, 0);
	assert_true(s.ms < 200);

	/* A put is sent again, its outcome being the same state either way. */
	client_on(f, 1, eps, 2);
	SYNC(f, &s, zdd_etcd_put(f->c[1], "fo/y", "v", 1, 0, on_res, &s));
	assert_int_equal(s.err, 0);
	assert_true(s.ms < 1000);

	/* A txn is not: it may have reached the first; the caller is told it does not know. */
	client_on(f, 2, eps, 2);
	SYNC(f, &s, zdd_etcd_txn_put_if(f->c[2], "fo/z", "v", 1, ZDD_ETCD_ABSENT, 0, on_res, &s));
	assert_int_equal(s.err, -ETIMEDOUT);
	assert_true(s.ms < 1000);
	SYNC(f, &s, zdd_etcd_txn_put_if(f->c[2], "fo/z", "v", 1, ZDD_ETCD_ABSENT, 0, on_res, &s));
	assert_int_equal(s.err, 0);
	assert_true(s.succeeded);
	assert_true(s.ms < 200);

	/* Alone, silent: the whole timeout, then "unknown". */
	client_on(f, 3, eps, 1);
	SYNC(f, &s, zdd_etcd_get(f->c[3], "fo/x", on_res, &s));
	assert_int_equal(s.err, -ETIMEDOUT);
	assert_in_range(s.ms, 900, 1500);
	finish(f);
}

static void syn_dropping_endpoint_first(void **state)
{
	struct fixture *f = *state;
	__u16 port;
	char dead[64];
	const char *eps[2] = { dead, "" };
	int fds[SYN_SINK_FDS], n, i;
	struct res s;

	n = syn_sink(fds, &port);
	assert_true(n >= 0);
	for (i = 0; i < n; i++)
		hole(f, fds[i]);
	if (!n) {
		finish(f);
		skip(); /* this kernel completes connections past the backlog */
	}
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%u", port);
	client_on(f, 0, eps, 2);
	/* Never connected, so never sent: even a txn goes on to the second. */
	SYNC(f, &s, zdd_etcd_txn_put_if(f->c[0], "fo/syn", "v", 1, ZDD_ETCD_ABSENT, 0, on_res, &s));
	assert_int_equal(s.err, 0);
	assert_true(s.succeeded);
	printf("# SYN-dropping first endpoint: a txn answered in %ld ms\n", s.ms);
	assert_true(s.ms < 1000);
	finish(f);
}

static void watch_follows_failover(void **state)
{
	struct fixture *f = *state;
	struct proxy *px = proxy_start(f);
	const char *eps[2] = { px->url, "" };
	struct zdd_etcd_watch *wt;
	struct rec r = { 0 };
	__s64 revs[4], rev;
	struct lost l = { 0 };

	/* Through the proxy first; when it goes, the lease's keepalives move the client. */
	client_on(f, 0, eps, 2);
	client(f, 1);
	rev = put(f, 1, "wf/0", "x", 0);
	assert_int_equal(zdd_etcd_watch(f->c[0], &wt, "wf/", true, rev + 1, on_watch, &r), 0);
	grant(f, 0, &l);
	revs[0] = put(f, 1, "wf/1", "v", 0);
	revs[1] = put(f, 1, "wf/2", "v", 0);
	assert_true(wait_events(f, &r, 2, 1000));
	assert_int_equal(zdd_etcd_endpoint(f->c[0]), 0);
	proxy_cut(px, true);
	revs[2] = put(f, 1, "wf/3", "v", 0);
	revs[3] = put(f, 1, "wf/4", "v", 0);
	assert_true(wait_events(f, &r, 4, 1000 * TTL_S + 1000));
	assert_int_equal(zdd_etcd_endpoint(f->c[0]), 1);
	assert_sequence(&r, "wf/", revs, 4);
	assert_int_equal(l.n, 0);
	zdd_etcd_watch_cancel(wt);
	finish(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, case_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(put_get_round_trip),
		T(range_and_delete),
		T(bad_options_refused),
		T(create_if_absent_wins_once),
		T(cas_fails_on_stale_revision),
		T(watch_sees_puts_fast),
		T(watch_resumes_after_cut_stream),
		T(watch_survives_etcd_restart),
		T(watch_reports_compaction),
		T(watch_parses_a_stream_in_pieces),
		T(keepalive_keeps_key_then_revoke_deletes),
		T(lease_revoked_elsewhere_is_noticed),
		T(lease_expires_without_keepalives),
		T(one_leads_then_the_other_within_a_ttl),
		T(cut_off_leader_steps_down_before_another_leads),
		T(refused_endpoint_first),
		T(silent_endpoint_first),
		T(syn_dropping_endpoint_first),
		T(watch_follows_failover),
		T(tls_with_client_certificates),
	};

	/* ZDD_TEST_FILTER=pattern: the cases whose name matches (cmocka's * and ?). */
	if (getenv("ZDD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("ZDD_TEST_FILTER"));
	if (!in_path("etcd")) {
		printf("1..0 # SKIP etcd is not installed (Debian: etcd-server)\n");
		return 77;
	}
	/* Non-zero (the number of failures) when any case fails. */
	return cmocka_run_group_tests_name("etcd", tests, world_up, world_down) ? 1 : 0;
}
