// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_health.c - active health checks against servers this test runs on 127.0.0.1
 * and ::1: listeners, a closed port, HTTP responder threads (fixed codes, garbage, early close,
 * black hole), driven like the agent does (poll + run). Checks states, timing and fd leaks.
 * Tunnel checks go to the service address: 127.0.0.2 here, a server of its own, through a
 * tunnel the test fakes (it only records what is registered). */
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "addr.h"
#include "health.h"
#include "servers.h"

#define MAX_T	      32
#define MAX_EV	      256
#define MAX_SRV	      16
#define MAX_FD	      16
#define MAX_CONN      64
#define ID_BASE	      1000  /* target id i is the service port ID_BASE + i */
#define RUN_MAX_US    50000 /* one zdd_health_run(); a blocking call would take a timeout */
#define WATCHDOG_S    20    /* a checker that blocks hangs a case: SIGALRM ends it, failed */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum mode {
	M_ANSWER,  /* "HTTP/1.0 <status> Test" once the request is in */
	M_RAW,	   /* raw bytes once the request is in, then close */
	M_DRIBBLE, /* the M_ANSWER reply one byte at a time */
	M_CLOSE,   /* close right after accept, before the request */
	M_SILENT,  /* accept, read, never answer: a black hole */
};

struct server {
	int lfd;
	int wake[2];
	__u16 port;
	atomic_int mode;
	atomic_int status;
	atomic_int accepts;
	const char *raw;
	pthread_t thread;
	pthread_mutex_t lock;
	char last_req[512]; /* the last whole request, under lock */
};

struct conn {
	int fd;
	size_t len;
	char buf[512];
};

struct event {
	int id;
	enum zdd_health_state s;
	long ms; /* since the fixture's t0 */
};

struct fixture {
	struct zdd_health *h;
	struct zdd_health_target t[MAX_T];
	size_t n;
	int want[MAX_T]; /* state drive() waits for, -1: any */
	struct event ev[MAX_EV];
	size_t n_ev;
	long t0;
	long max_run_us;
	long loops;
	struct server *srv[MAX_SRV];
	size_t n_srv;
	int fd[MAX_FD];
	size_t n_fd;
	bool reenter; /* the callback tries zdd_health_set_targets() */
	int reenter_err;
};

static bool have_ipv6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = !bind(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return ok;
}

static int keep_fd(struct fixture *f, int fd)
{
	assert_true(fd >= 0 && f->n_fd < MAX_FD);
	f->fd[f->n_fd++] = fd;
	return fd;
}

/* ---- HTTP responder thread ---- */

static void reply(struct server *s, int fd, const char *msg, bool dribble)
{
	size_t i, len = strlen(msg);

	if (!dribble) {
		(void)!send(fd, msg, len, MSG_NOSIGNAL);
		return;
	}
	/* Three ms apart: the checker sees the status line in pieces. */
	for (i = 0; i < len && atomic_load(&s->mode) == M_DRIBBLE; i++) {
		(void)!send(fd, msg + i, 1, MSG_NOSIGNAL);
		nap_ms(3);
	}
}

/* A whole request is in: answer as the mode says. False keeps the connection open. */
static bool respond(struct server *s, struct conn *c)
{
	int mode = atomic_load(&s->mode);
	char msg[128];

	pthread_mutex_lock(&s->lock);
	memcpy(s->last_req, c->buf, c->len + 1);
	pthread_mutex_unlock(&s->lock);
	snprintf(msg, sizeof(msg), "HTTP/1.0 %d Test\r\nContent-Length: 0\r\n\r\n",
		 atomic_load(&s->status));
	switch (mode) {
	case M_SILENT:
		return false;
	case M_RAW:
		reply(s, c->fd, s->raw, false);
		break;
	default:
		reply(s, c->fd, msg, mode == M_DRIBBLE);
	}
	return true;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	struct pollfd p[MAX_CONN + 2];
	struct conn *c = calloc(MAX_CONN, sizeof(*c));
	int i, nc = 0;
	ssize_t n;

	if (!c)
		return NULL;
	for (;;) {
		p[0] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		p[1] = (struct pollfd){ .fd = nc < MAX_CONN ? s->lfd : -1, .events = POLLIN };
		for (i = 0; i < nc; i++)
			p[i + 2] = (struct pollfd){ .fd = c[i].fd, .events = POLLIN };
		if (poll(p, (nfds_t)nc + 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		for (i = nc - 1; i >= 0; i--) {
			if (!p[i + 2].revents)
				continue;
			n = recv(c[i].fd, c[i].buf + c[i].len, sizeof(c[i].buf) - 1 - c[i].len, 0);
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n > 0) {
				c[i].len += (size_t)n;
				c[i].buf[c[i].len] = '\0';
				if (!strstr(c[i].buf, "\r\n\r\n") &&
				    c[i].len < sizeof(c[i].buf) - 1)
					continue;
				if (!respond(s, &c[i]))
					continue;
			}
			close(c[i].fd);
			c[i] = c[--nc];
		}
		if (p[1].revents & POLLIN) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd < 0)
				continue;
			atomic_fetch_add(&s->accepts, 1);
			if (atomic_load(&s->mode) == M_CLOSE) {
				close(fd);
				continue;
			}
			c[nc].fd = fd;
			c[nc].len = 0;
			nc++;
		}
	}
	for (i = 0; i < nc; i++)
		close(c[i].fd);
	free(c);
	return NULL;
}

/* An HTTP server on addr:port (NULL, 0: loopback, an ephemeral port). */
static struct server *server_start_at(struct fixture *f, int family, const char *addr, __u16 port,
				      enum mode mode, int status)
{
	struct server *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	assert_true(f->n_srv < MAX_SRV);
	f->srv[f->n_srv++] = s;
	s->port = port;
	s->lfd = tcp_socket_at(family, addr, SOMAXCONN, &s->port);
	assert_true(s->lfd >= 0);
	assert_int_equal(pipe2(s->wake, O_CLOEXEC), 0);
	atomic_init(&s->mode, mode);
	atomic_init(&s->status, status);
	atomic_init(&s->accepts, 0);
	s->raw = "";
	pthread_mutex_init(&s->lock, NULL);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
	return s;
}

static struct server *server_start(struct fixture *f, int family, enum mode mode, int status)
{
	return server_start_at(f, family, NULL, 0, mode, status);
}

static void server_stop(struct server *s)
{
	(void)!write(s->wake[1], "x", 1);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	close(s->wake[0]);
	close(s->wake[1]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void last_request(struct server *s, char *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	snprintf(buf, len, "%s", s->last_req);
	pthread_mutex_unlock(&s->lock);
}

/* ---- the checker, driven like the agent's loop ---- */

static void on_change(void *ctx, const struct zdd_health_target *t, enum zdd_health_state s)
{
	struct fixture *f = ctx;

	if (f->n_ev < MAX_EV)
		f->ev[f->n_ev++] = (struct event){ ntohs(t->svc.port) - ID_BASE, s,
						   now_ms() - f->t0 };
	if (f->reenter)
		f->reenter_err = zdd_health_set_targets(f->h, NULL, 0);
}

static void release(void *arg)
{
	struct fixture *f = arg;

	zdd_health_free(f->h);
	f->h = NULL;
	while (f->n_srv)
		server_stop(f->srv[--f->n_srv]);
	while (f->n_fd)
		close(f->fd[--f->n_fd]);
}

static int setup(void **state)
{
	struct fixture *f = case_begin(state, sizeof(*f), release, WATCHDOG_S, "the checker");
	size_t i;

	if (!f)
		return -1;
	for (i = 0; i < MAX_T; i++)
		f->want[i] = -1;
	if (zdd_health_new(&f->h, on_change, f))
		return -1;
	f->t0 = now_ms();
	return 0;
}

/* Target id: service 198.18.0.10:ID_BASE+id/tcp, backend addr, check on port. */
static struct zdd_health_target *target(struct fixture *f, int id, const char *addr,
					enum zdd_check_type type, __u16 port)
{
	struct zdd_health_target *t = &f->t[id];

	assert_true(id < MAX_T);
	memset(t, 0, sizeof(*t));
	assert_int_equal(zdd_addr_parse("198.18.0.10", t->svc.addr), 0);
	t->svc.port = htons(ID_BASE + id);
	t->svc.proto = IPPROTO_TCP;
	assert_int_equal(zdd_addr_parse(addr, t->addr), 0);
	t->check.type = type;
	t->check.port = port;
	strcpy(t->check.path, "/healthz");
	t->check.expect_status = 200;
	t->check.interval_ms = 50;
	t->check.timeout_ms = 500;
	t->check.rise = 2;
	t->check.fall = 2;
	if ((size_t)id >= f->n)
		f->n = (size_t)id + 1;
	return t;
}

static void apply(struct fixture *f)
{
	assert_int_equal(zdd_health_set_targets(f->h, f->t, f->n), 0);
}

static enum zdd_health_state state_of(struct fixture *f, int id)
{
	return zdd_health_get(f->h, &f->t[id].svc, f->t[id].addr);
}

static int events_of(struct fixture *f, int id)
{
	size_t i;
	int n = 0;

	for (i = 0; i < f->n_ev; i++)
		n += f->ev[i].id == id;
	return n;
}

static const struct event *last_event(struct fixture *f, int id)
{
	size_t i;

	for (i = f->n_ev; i-- > 0;)
		if (f->ev[i].id == id)
			return &f->ev[i];
	return NULL;
}

static bool wants_met(struct fixture *f)
{
	bool any = false;
	size_t i;

	for (i = 0; i < MAX_T; i++) {
		if (f->want[i] < 0)
			continue;
		any = true;
		if ((int)state_of(f, (int)i) != f->want[i])
			return false;
	}
	return any;
}

static void want(struct fixture *f, int lo, int hi, int s)
{
	int i;

	for (i = 0; i < MAX_T; i++)
		f->want[i] = i >= lo && i < hi ? s : -1;
}

/*
 * poll(fd, timeout) + run, as the agent's loop does, until every wanted state is reached:
 * returns the ms it took, or -1 when max_ms pass first (with nothing wanted, always).
 */
static long drive(struct fixture *f, long max_ms)
{
	long start = now_ms(), left, t0;
	struct pollfd p = { .fd = zdd_health_fd(f->h), .events = POLLIN };
	int ms;

	for (;;) {
		if (wants_met(f))
			return now_ms() - start;
		left = max_ms - (now_ms() - start);
		if (left <= 0)
			return -1;
		ms = zdd_health_timeout_ms(f->h);
		if (ms < 0 || ms > left)
			ms = (int)left;
		assert_true(poll(&p, 1, ms) >= 0);
		t0 = now_us();
		assert_int_equal(zdd_health_run(f->h), 0);
		t0 = now_us() - t0;
		if (t0 > f->max_run_us)
			f->max_run_us = t0;
		f->loops++;
	}
}

/* ---- cases ---- */

static void nothing_to_do_without_targets(void **state)
{
	struct fixture *f = *state;
	struct zdd_health_target *t;

	assert_true(zdd_health_fd(f->h) >= 0);
	assert_int_equal(zdd_health_timeout_ms(f->h), -1);
	assert_int_equal(zdd_health_run(f->h), 0);
	assert_int_equal(zdd_health_set_targets(f->h, NULL, 0), 0);

	/* ZDD_CHECK_NONE is no target at all. */
	target(f, 0, "127.0.0.1", ZDD_CHECK_NONE, 1);
	apply(f);
	assert_int_equal(zdd_health_timeout_ms(f->h), -1);

	/* A real one: its first probe is due at once. */
	target(f, 1, "127.0.0.1", ZDD_CHECK_TCP, 1);
	apply(f);
	assert_int_equal(zdd_health_timeout_ms(f->h), 0);
	assert_int_equal(state_of(f, 1), ZDD_HEALTH_UNKNOWN);

	/* Bad sets are refused whole; the one in place stays. */
	t = target(f, 2, "127.0.0.1", ZDD_CHECK_HTTP, 1);
	strcpy(t->check.path, "/a b");
	assert_int_equal(zdd_health_set_targets(f->h, f->t, f->n), -EINVAL);
	strcpy(t->check.path, "nope");
	assert_int_equal(zdd_health_set_targets(f->h, f->t, f->n), -EINVAL);
	t = target(f, 2, "127.0.0.1", ZDD_CHECK_TCP, 1);
	t->check.interval_ms = 0;
	assert_int_equal(zdd_health_set_targets(f->h, f->t, f->n), -EINVAL);
	t = target(f, 2, "127.0.0.1", ZDD_CHECK_TCP, 0);
	t->svc.port = 0;
	assert_int_equal(zdd_health_set_targets(f->h, f->t, f->n), -EINVAL);
	t = target(f, 2, "::", ZDD_CHECK_TCP, 1);
	assert_int_equal(zdd_health_set_targets(f->h, f->t, f->n), -EINVAL);
	f->t[2] = f->t[1]; /* the same (svc, addr) twice */
	assert_int_equal(zdd_health_set_targets(f->h, f->t, f->n), -EINVAL);
	assert_int_equal(zdd_health_timeout_ms(f->h), 0);
	case_finish(f);
}

static void tcp_listener_up_closed_port_down(void **state)
{
	struct fixture *f = *state;
	__u16 up_port, down_port;
	const struct event *e;
	long ms;

	keep_fd(f, tcp_socket(AF_INET, SOMAXCONN, &up_port));
	keep_fd(f, tcp_socket(AF_INET, -1, &down_port));
	target(f, 0, "127.0.0.1", ZDD_CHECK_TCP, up_port)->check.rise = 3;
	target(f, 1, "127.0.0.1", ZDD_CHECK_TCP, down_port)->check.fall = 3;
	apply(f);
	want(f, 0, 1, ZDD_HEALTH_UP);
	f->want[1] = ZDD_HEALTH_DOWN;
	ms = drive(f, 1000);
	assert_in_range(ms, 0, 1000);
	/* Three probes 50 ms apart (the first interval up to 10 % shorter): not before ~90 ms. */
	e = last_event(f, 0);
	assert_non_null(e);
	assert_true(e->ms >= 80);
	e = last_event(f, 1);
	assert_non_null(e);
	assert_true(e->ms >= 80);
	/* Settled: no flapping afterwards. */
	want(f, 0, 0, -1);
	drive(f, 100);
	assert_int_equal(events_of(f, 0), 1);
	assert_int_equal(events_of(f, 1), 1);
	assert_int_equal(state_of(f, 0), ZDD_HEALTH_UP);
	assert_int_equal(state_of(f, 1), ZDD_HEALTH_DOWN);
	case_finish(f);
}

static const struct http_case {
	const char *name;
	enum mode mode;
	const char *raw;
	int status, expect;
	enum zdd_health_state want;
} http_cases[] = {
	{ "200, expect 200", M_ANSWER, NULL, 200, 200, ZDD_HEALTH_UP },
	{ "503, expect 200", M_ANSWER, NULL, 503, 200, ZDD_HEALTH_DOWN },
	{ "204, expect 204", M_ANSWER, NULL, 204, 204, ZDD_HEALTH_UP },
	{ "200, expect 204", M_ANSWER, NULL, 200, 204, ZDD_HEALTH_DOWN },
	{ "reply one byte at a time", M_DRIBBLE, NULL, 200, 200, ZDD_HEALTH_UP },
	{ "no reason phrase", M_RAW, "HTTP/1.1 200\r\n\r\n", 0, 200, ZDD_HEALTH_UP },
	{ "closed right after the code", M_RAW, "HTTP/1.1 200", 0, 200, ZDD_HEALTH_UP },
	{ "closed inside the code", M_RAW, "HTTP/1.0 20", 0, 200, ZDD_HEALTH_DOWN },
	{ "four-digit code", M_RAW, "HTTP/1.1 2000 OK\r\n\r\n", 0, 200, ZDD_HEALTH_DOWN },
	{ "not http", M_RAW, "SSH-2.0-OpenSSH_9.6\r\n", 0, 200, ZDD_HEALTH_DOWN },
	{ "closed without a reply", M_RAW, "", 0, 200, ZDD_HEALTH_DOWN },
	{ "closed before the request", M_CLOSE, NULL, 200, 200, ZDD_HEALTH_DOWN },
};

static void http_status_decides(void **state)
{
	static const char want_req[] = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n"
				       "User-Agent: zdd-agent\r\nConnection: close\r\n\r\n";
	struct fixture *f = *state;
	struct server *s[ARRAY_SIZE(http_cases)];
	char req[512];
	size_t i;
	int bad = 0;

	/* All rows at once, each with its own server: they also run in parallel. */
	for (i = 0; i < ARRAY_SIZE(http_cases); i++) {
		const struct http_case *c = &http_cases[i];

		s[i] = server_start(f, AF_INET, c->mode, c->status);
		if (c->raw)
			s[i]->raw = c->raw;
		target(f, (int)i, "127.0.0.1", ZDD_CHECK_HTTP, s[i]->port)->check.expect_status =
			c->expect;
		f->want[i] = c->want;
	}
	apply(f);
	drive(f, 2000);
	drive(f, 100); /* and no flapping after */
	for (i = 0; i < ARRAY_SIZE(http_cases); i++) {
		if (state_of(f, (int)i) == http_cases[i].want && events_of(f, (int)i) == 1)
			continue;
		print_error("%s: state %d (want %d) after %d changes\n", http_cases[i].name,
			    state_of(f, (int)i), http_cases[i].want, events_of(f, (int)i));
		bad++;
	}
	assert_int_equal(bad, 0);
	last_request(s[0], req, sizeof(req));
	assert_string_equal(req, want_req);
	case_finish(f);
}

static void outage_seen_within_fall_intervals(void **state)
{
	struct fixture *f = *state;
	struct server *s = server_start(f, AF_INET, M_ANSWER, 200);
	struct zdd_health_target *t;
	long ms;

	t = target(f, 0, "127.0.0.1", ZDD_CHECK_HTTP, s->port);
	t->check.interval_ms = 100;
	t->check.timeout_ms = 80;
	apply(f);
	want(f, 0, 1, ZDD_HEALTH_UP);
	assert_in_range(drive(f, 500), 0, 500);

	/* Outage: two failed probes 100 ms apart, so DOWN after ~100-200 ms, never at once. */
	atomic_store(&s->status, 503);
	want(f, 0, 1, ZDD_HEALTH_DOWN);
	ms = drive(f, 1000);
	assert_in_range(ms, 80, 350);

	atomic_store(&s->status, 200);
	want(f, 0, 1, ZDD_HEALTH_UP);
	ms = drive(f, 1000);
	assert_in_range(ms, 80, 350);

	assert_int_equal(f->n_ev, 3);
	assert_int_equal(f->ev[0].s, ZDD_HEALTH_UP);
	assert_int_equal(f->ev[1].s, ZDD_HEALTH_DOWN);
	assert_int_equal(f->ev[2].s, ZDD_HEALTH_UP);
	case_finish(f);
}

#define N_HEALTHY 20

static void black_hole_does_not_stall_others(void **state)
{
	struct fixture *f = *state;
	struct server *hole = server_start(f, AF_INET, M_SILENT, 200);
	struct server *good = server_start(f, AF_INET, M_ANSWER, 200);
	struct zdd_health_target *t;
	const struct event *e;
	int i;
	long ms;

	/* Target 0 accepts and never answers; 1..20 share a healthy server. */
	for (i = 0; i <= N_HEALTHY; i++) {
		t = target(f, i, "127.0.0.1", ZDD_CHECK_HTTP, i ? good->port : hole->port);
		t->check.interval_ms = 100;
		t->check.timeout_ms = 1000;
	}
	f->t0 = now_ms();
	apply(f);
	want(f, 1, N_HEALTHY + 1, ZDD_HEALTH_UP);
	ms = drive(f, 500);
	assert_in_range(ms, 0, 500);
	assert_int_equal(state_of(f, 0), ZDD_HEALTH_UNKNOWN);
	/* Ten intervals went by while the first probe hangs: it is not doubled. */
	assert_int_equal(atomic_load(&hole->accepts), 1);

	want(f, 0, 1, ZDD_HEALTH_DOWN);
	assert_true(drive(f, 3000) >= 0);
	e = last_event(f, 0);
	assert_non_null(e);
	/* fall 2: two whole timeouts, back to back. */
	assert_in_range(e->ms, 1950, 2600);
	assert_in_range(atomic_load(&hole->accepts), 2, 3);
	/* The healthy ones went on every ~100 ms meanwhile, and never flapped. */
	assert_true(atomic_load(&good->accepts) >= N_HEALTHY * 15);
	for (i = 1; i <= N_HEALTHY; i++)
		assert_int_equal(events_of(f, i), 1);
	assert_true(f->max_run_us < RUN_MAX_US);
	/* ~21 targets x 20 intervals x a few steps; a busy loop would be far above. */
	assert_true(f->loops < 4000);
	case_finish(f); /* with a probe to the hole still in flight */
}

static void connect_that_hangs_times_out(void **state)
{
	struct fixture *f = *state;
	int fds[SYN_SINK_FDS], n, i;
	struct zdd_health_target *t;
	__u16 port;
	long ms;

	/* SYNs dropped, connect() in progress: a backend behind a silent firewall. */
	n = syn_sink(fds, &port);
	assert_true(n >= 0);
	for (i = 0; i < n; i++)
		keep_fd(f, fds[i]);
	if (!n) {
		case_finish(f);
		skip(); /* this kernel completes connections past the backlog */
	}
	t = target(f, 0, "127.0.0.1", ZDD_CHECK_TCP, port);
	t->check.interval_ms = 1000;
	t->check.timeout_ms = 200;
	t->check.fall = 1;
	apply(f);
	want(f, 0, 1, ZDD_HEALTH_DOWN);
	ms = drive(f, 2000);
	assert_in_range(ms, 190, 700);
	assert_true(f->max_run_us < RUN_MAX_US);
	case_finish(f);
}

static void set_targets_keeps_unchanged(void **state)
{
	struct fixture *f = *state;
	struct server *web = server_start(f, AF_INET, M_ANSWER, 200);
	struct server *hole = server_start(f, AF_INET, M_SILENT, 200);
	struct zdd_health_target next[4];
	size_t n_ev;
	__u16 port;

	keep_fd(f, tcp_socket(AF_INET, SOMAXCONN, &port));
	target(f, 0, "127.0.0.1", ZDD_CHECK_HTTP, web->port);
	target(f, 1, "127.0.0.1", ZDD_CHECK_TCP, port);
	target(f, 2, "127.0.0.1", ZDD_CHECK_TCP, port);
	target(f, 3, "127.0.0.1", ZDD_CHECK_HTTP, hole->port)->check.timeout_ms = 5000;
	apply(f);
	want(f, 0, 3, ZDD_HEALTH_UP);
	assert_in_range(drive(f, 1000), 0, 1000);
	assert_int_equal(atomic_load(&hole->accepts), 1);
	n_ev = f->n_ev;

	/* 0 unchanged, 1 with another rise, 2 and 3 (probe in flight) gone, 4 new, 5 NONE. */
	f->t[1].check.rise = 3;
	target(f, 4, "127.0.0.1", ZDD_CHECK_TCP, port);
	target(f, 5, "127.0.0.1", ZDD_CHECK_NONE, port);
	/* Given in another order: identity is (svc, addr, check), not the position. */
	next[0] = f->t[5];
	next[1] = f->t[4];
	next[2] = f->t[1];
	next[3] = f->t[0];
	assert_int_equal(zdd_health_set_targets(f->h, next, 4), 0);
	assert_int_equal(state_of(f, 0), ZDD_HEALTH_UP);
	assert_int_equal(state_of(f, 1), ZDD_HEALTH_UNKNOWN);
	assert_int_equal(state_of(f, 4), ZDD_HEALTH_UNKNOWN);
	assert_int_equal(state_of(f, 5), ZDD_HEALTH_UNKNOWN);
	assert_int_equal(state_of(f, 2), ZDD_HEALTH_UNKNOWN);
	assert_int_equal(state_of(f, 3), ZDD_HEALTH_UNKNOWN);

	want(f, 1, 2, ZDD_HEALTH_UP);
	f->want[4] = ZDD_HEALTH_UP;
	assert_in_range(drive(f, 1000), 0, 1000);
	assert_int_equal(events_of(f, 0), 1); /* kept: no second UP */
	assert_int_equal(events_of(f, 1), 2);
	assert_int_equal(events_of(f, 2), 1);
	assert_int_equal(events_of(f, 3), 0);
	assert_int_equal(events_of(f, 4), 1);
	assert_int_equal(events_of(f, 5), 0);
	assert_int_equal(f->n_ev, n_ev + 2);

	/* The callback cannot replace the set it is called from. */
	f->reenter = true;
	atomic_store(&web->status, 500);
	want(f, 0, 1, ZDD_HEALTH_DOWN);
	assert_in_range(drive(f, 1000), 0, 1000);
	assert_int_equal(f->reenter_err, -EBUSY);
	assert_int_equal(state_of(f, 1), ZDD_HEALTH_UP);
	f->reenter = false;

	/* The empty set drops everything. */
	assert_int_equal(zdd_health_set_targets(f->h, NULL, 0), 0);
	assert_int_equal(zdd_health_timeout_ms(f->h), -1);
	assert_int_equal(state_of(f, 0), ZDD_HEALTH_UNKNOWN);
	case_finish(f);
}

static void out_of_fds_is_not_a_backend_failure(void **state)
{
	struct fixture *f = *state;
	struct rlimit saved, low;
	__u16 port;
	int lowest;

	keep_fd(f, tcp_socket(AF_INET, SOMAXCONN, &port));
	target(f, 0, "127.0.0.1", ZDD_CHECK_TCP, port)->check.fall = 1;
	apply(f);
	/* The next fd would be the lowest free number: a limit there makes socket() fail. */
	lowest = dup(0);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	drive(f, 160);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	/* Three intervals without a probe, and yet not DOWN: the agent was short, not the backend. */
	assert_int_equal(f->n_ev, 0);
	assert_int_equal(state_of(f, 0), ZDD_HEALTH_UNKNOWN);
	want(f, 0, 1, ZDD_HEALTH_UP);
	assert_in_range(drive(f, 500), 0, 500);
	case_finish(f);
}

static void stalled_loop_does_not_burst(void **state)
{
	struct fixture *f = *state;
	struct server *s = server_start(f, AF_INET, M_ANSWER, 200);
	int before;

	target(f, 0, "127.0.0.1", ZDD_CHECK_HTTP, s->port)->check.rise = 1;
	apply(f);
	want(f, 0, 1, ZDD_HEALTH_UP);
	assert_in_range(drive(f, 500), 0, 500);
	/* Five intervals missed (the agent was busy): resume the cadence, do not catch up. */
	nap_ms(250);
	before = atomic_load(&s->accepts);
	want(f, 0, 0, -1);
	drive(f, 100);
	assert_in_range(atomic_load(&s->accepts) - before, 2, 4);
	case_finish(f);
}

static void ipv6_loopback(void **state)
{
	static const char want_req[] = "GET /healthz HTTP/1.0\r\nHost: [::1]\r\n"
				       "User-Agent: zdd-agent\r\nConnection: close\r\n\r\n";
	struct fixture *f = *state;
	struct server *web;
	__u16 up_port, down_port;
	char req[512];

	if (!have_ipv6()) {
		case_finish(f);
		skip();
	}
	web = server_start(f, AF_INET6, M_ANSWER, 200);
	keep_fd(f, tcp_socket(AF_INET6, SOMAXCONN, &up_port));
	keep_fd(f, tcp_socket(AF_INET6, -1, &down_port));
	target(f, 0, "::1", ZDD_CHECK_TCP, up_port);
	target(f, 1, "::1", ZDD_CHECK_TCP, down_port);
	target(f, 2, "::1", ZDD_CHECK_HTTP, web->port);
	/* The same service and port on IPv4: another target, refused there. */
	target(f, 3, "127.0.0.1", ZDD_CHECK_HTTP, web->port)->svc = f->t[2].svc;
	apply(f);
	want(f, 0, 1, ZDD_HEALTH_UP);
	f->want[1] = ZDD_HEALTH_DOWN;
	f->want[2] = ZDD_HEALTH_UP;
	f->want[3] = ZDD_HEALTH_DOWN;
	assert_in_range(drive(f, 1000), 0, 1000);
	last_request(web, req, sizeof(req));
	assert_string_equal(req, want_req);
	case_finish(f);
}

/* ---- through the tunnel ---- */

/* What the fake tunnel was asked. */
struct fake_tunnel {
	int ret;   /* what add returns */
	__u32 mtu; /* the tunnel's, for the ops */
	int adds, dels, registered;
	struct zdd_flow_key last;
	bool hint_kept; /* every add after the first saw the hint the first left */
};

static int fake_add(void *ctx, const struct zdd_flow_key *flow, const struct zdd_health_target *t,
		    __u32 *hint)
{
	struct fake_tunnel *ft = ctx;

	(void)t;
	if (ft->adds++ && *hint != 7)
		ft->hint_kept = false;
	*hint = 7;
	ft->last = *flow;
	ft->registered += !ft->ret;
	return ft->ret;
}

static void fake_del(void *ctx, const struct zdd_flow_key *flow)
{
	struct fake_tunnel *ft = ctx;

	(void)flow;
	ft->dels++;
	ft->registered--;
}

/* Target 0: backend 127.0.0.1 (the direct server), service address 127.0.0.2 (the tunnel's
 * server, on the same port), an HTTP check; the fake tunnel on. */
static void tunnel_target(struct fixture *f, struct fake_tunnel *ft, struct server **direct,
			  struct server **tunnel, int direct_status, int tunnel_status)
{
	const struct zdd_health_tunnel_ops ops = { fake_add, fake_del, ft, ft->mtu };
	struct zdd_health_target *t;

	ft->hint_kept = true;
	*direct = server_start(f, AF_INET, M_ANSWER, direct_status);
	*tunnel = tunnel_status ? server_start_at(f, AF_INET, "127.0.0.2", (*direct)->port,
						  M_ANSWER, tunnel_status)
				: NULL;
	t = target(f, 0, "127.0.0.1", ZDD_CHECK_HTTP, (*direct)->port);
	assert_int_equal(zdd_addr_parse("127.0.0.2", t->svc.addr), 0);
	assert_int_equal(zdd_health_set_tunnel(f->h, &ops), 0);
	apply(f);
}

static enum zdd_health_state check_of(struct fixture *f, enum zdd_health_check which)
{
	return zdd_health_get_check(f->h, &f->t[0].svc, f->t[0].addr, which);
}

static void both_checks_decide(void **state)
{
	static const char want_req[] = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n"
				       "User-Agent: zdd-agent\r\nConnection: close\r\n\r\n";
	struct fixture *f = *state;
	struct fake_tunnel ft = {};
	struct server *direct, *tunnel;
	char req[512];
	__u8 a[16];

	tunnel_target(f, &ft, &direct, &tunnel, 200, 200);
	want(f, 0, 1, ZDD_HEALTH_UP);
	assert_in_range(drive(f, 1000), 0, 1000);
	assert_int_equal(check_of(f, ZDD_HEALTH_DIRECT), ZDD_HEALTH_UP);
	assert_int_equal(check_of(f, ZDD_HEALTH_TUNNEL), ZDD_HEALTH_UP);
	/* The tunnel probe: the backend's request, sent to the service address, from the port
	 * registered for it. */
	last_request(tunnel, req, sizeof(req));
	assert_string_equal(req, want_req);
	assert_int_equal(zdd_addr_parse("127.0.0.2", a), 0);
	assert_memory_equal(ft.last.svc.addr, a, 16);
	assert_int_equal(ntohs(ft.last.svc.port), direct->port);
	assert_int_equal(ft.last.svc.proto, IPPROTO_TCP);
	assert_true(zdd_addr_is_v4(ft.last.saddr));
	assert_int_not_equal(ft.last.sport, 0);
	/* The service address stops answering (no decap there): down, the tunnel named. */
	atomic_store(&tunnel->mode, M_CLOSE);
	want(f, 0, 1, ZDD_HEALTH_DOWN);
	assert_in_range(drive(f, 1000), 0, 1000);
	assert_int_equal(check_of(f, ZDD_HEALTH_DIRECT), ZDD_HEALTH_UP);
	assert_int_equal(check_of(f, ZDD_HEALTH_TUNNEL), ZDD_HEALTH_DOWN);
	atomic_store(&tunnel->mode, M_ANSWER);
	want(f, 0, 1, ZDD_HEALTH_UP);
	assert_in_range(drive(f, 1000), 0, 1000);
	assert_int_equal(events_of(f, 0), 3);
	assert_true(ft.hint_kept);
	assert_true(ft.adds >= 4);
	case_finish(f);
	/* Every flow registered was unregistered, the last ones by zdd_health_free(). */
	assert_int_equal(ft.registered, 0);
	assert_int_equal(ft.dels, ft.adds);
}

static void direct_failure_downs_despite_the_tunnel(void **state)
{
	struct fixture *f = *state;
	struct fake_tunnel ft = {};
	struct server *direct, *tunnel;

	tunnel_target(f, &ft, &direct, &tunnel, 503, 200);
	want(f, 0, 1, ZDD_HEALTH_DOWN);
	assert_in_range(drive(f, 1000), 0, 1000);
	want(f, 0, 0, -1);
	drive(f, 200);
	assert_int_equal(check_of(f, ZDD_HEALTH_DIRECT), ZDD_HEALTH_DOWN);
	assert_int_equal(check_of(f, ZDD_HEALTH_TUNNEL), ZDD_HEALTH_UP);
	assert_int_equal(state_of(f, 0), ZDD_HEALTH_DOWN);
	assert_int_equal(events_of(f, 0), 1);
	case_finish(f);
}

/* A service address held here: the tunnel cannot be tried, the direct check decides alone. */
static void tunnel_not_applicable_leaves_direct_alone(void **state)
{
	struct fixture *f = *state;
	struct fake_tunnel ft = { .ret = ZDD_HEALTH_TUNNEL_NA };
	struct server *direct, *tunnel;

	tunnel_target(f, &ft, &direct, &tunnel, 200, 0);
	want(f, 0, 1, ZDD_HEALTH_UP);
	assert_in_range(drive(f, 1000), 0, 1000);
	assert_int_equal(check_of(f, ZDD_HEALTH_TUNNEL), ZDD_HEALTH_UNKNOWN);
	assert_true(ft.adds >= 1);
	case_finish(f);
	assert_int_equal(ft.dels, 0);
}

/* The tunnel refuses to register (this node's trouble): not counted against the backend. */
static void tunnel_local_failure_is_not_a_backend_failure(void **state)
{
	struct fixture *f = *state;
	struct fake_tunnel ft = { .ret = -ENOENT };
	struct server *direct, *tunnel;

	tunnel_target(f, &ft, &direct, &tunnel, 200, 0);
	want(f, 0, 0, -1);
	drive(f, 400);
	assert_int_equal(check_of(f, ZDD_HEALTH_DIRECT), ZDD_HEALTH_UP);
	assert_int_equal(check_of(f, ZDD_HEALTH_TUNNEL), ZDD_HEALTH_UNKNOWN);
	assert_int_equal(events_of(f, 0), 0);
	assert_true(ft.adds >= 4);
	case_finish(f);
	assert_int_equal(ft.dels, 0);
}

/* HTTP tunnel probes fill the tunnel's largest packet: 500 - 2 x 20 (IPv4 headers) - 32 (TCP). */
static void tunnel_request_fills_the_mtu(void **state)
{
	static const char head[] = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n"
				   "User-Agent: zdd-agent\r\nX-Zdd-Pad: ppp";
	static const char tail[] = "pp\r\nConnection: close\r\n\r\n";
	struct fixture *f = *state;
	struct fake_tunnel ft = { .mtu = 500 };
	struct server *direct, *tunnel;
	char req[512];

	tunnel_target(f, &ft, &direct, &tunnel, 200, 200);
	want(f, 0, 1, ZDD_HEALTH_UP);
	assert_in_range(drive(f, 1000), 0, 1000);
	last_request(tunnel, req, sizeof(req));
	assert_int_equal(strlen(req), 500 - 2 * 20 - 32);
	assert_memory_equal(req, head, sizeof(head) - 1);
	assert_string_equal(req + strlen(req) - (sizeof(tail) - 1), tail);
	/* The direct probe's request is as it was. */
	last_request(direct, req, sizeof(req));
	assert_string_equal(req,
			    "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: zdd-agent\r\n"
			    "Connection: close\r\n\r\n");
	case_finish(f);
}

/* Off again: the direct check alone, and the state follows at once. */
static void tunnel_off_leaves_the_direct_check(void **state)
{
	struct fixture *f = *state;
	struct fake_tunnel ft = {};
	struct server *direct, *tunnel;
	int adds;

	tunnel_target(f, &ft, &direct, &tunnel, 200, 200);
	want(f, 0, 1, ZDD_HEALTH_UP); /* the direct check has decided */
	assert_in_range(drive(f, 1000), 0, 1000);
	atomic_store(&tunnel->mode, M_CLOSE);
	want(f, 0, 1, ZDD_HEALTH_DOWN);
	assert_in_range(drive(f, 1000), 0, 1000);
	assert_int_equal(zdd_health_set_tunnel(f->h, NULL), 0);
	assert_int_equal(state_of(f, 0), ZDD_HEALTH_UP);
	assert_int_equal(last_event(f, 0)->s, ZDD_HEALTH_UP);
	assert_int_equal(ft.registered, 0);
	adds = ft.adds;
	want(f, 0, 0, -1);
	drive(f, 200);
	assert_int_equal(ft.adds, adds);
	assert_int_equal(state_of(f, 0), ZDD_HEALTH_UP);
	case_finish(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, case_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(nothing_to_do_without_targets),
		T(tcp_listener_up_closed_port_down),
		T(http_status_decides),
		T(outage_seen_within_fall_intervals),
		T(black_hole_does_not_stall_others),
		T(connect_that_hangs_times_out),
		T(set_targets_keeps_unchanged),
		T(out_of_fds_is_not_a_backend_failure),
		T(stalled_loop_does_not_burst),
		T(ipv6_loopback),
		T(both_checks_decide),
		T(direct_failure_downs_despite_the_tunnel),
		T(tunnel_not_applicable_leaves_direct_alone),
		T(tunnel_local_failure_is_not_a_backend_failure),
		T(tunnel_request_fills_the_mtu),
		T(tunnel_off_leaves_the_direct_check),
	};

	/* Non-zero (the number of failures) when any case fails. */
	return cmocka_run_group_tests_name("health", tests, NULL, NULL) ? 1 : 0;
}
