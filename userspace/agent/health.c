// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/health.c - see health.h. Each target is a small state machine (idle,
 * connecting, sending, receiving) over one non-blocking socket in a private epoll set. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "addr.h"
#include "log.h"
#include "health.h"

#define NSEC_PER_MSEC 1000000ULL
#define REQ_MAX	      512 /* request line with a 255-byte path, and the fixed headers */
#define BATCH	      256 /* events per run; the rest keep the fd readable for the next run */
#define SPREAD_DIV    10  /* the first interval is shortened by up to 1/10 of itself */

/* "HTTP/d.d ddd" and a separator: the code is known without waiting for the end of the line. */
static const char status_pat[] = "HTTP/#.# ###";
#define STATUS_LEN (sizeof(status_pat)) /* the pattern, then SP, CR or LF */

enum phase { P_IDLE, P_CONNECT, P_SEND, P_RECV };
enum outcome { O_PENDING, O_SUCCESS, O_FAILURE, O_ABORTED };

struct target {
	struct zdd_health_target t;
	enum zdd_health_state state;
	__u32 ok_run, fail_run; /* consecutive successes and failures */
	__u64 next_ns;		/* CLOCK_MONOTONIC: the next probe start */
	__u64 deadline_ns;	/* of the running probe */
	bool started;		/* the spread applies to the first interval only */
	int fd;			/* -1 when idle */
	enum phase phase;
	__u32 events; /* epoll interest of fd, 0 while not in the set */
	int err;      /* why the probe failed (errno), or... */
	int code;     /* ...the status that did not match */
	size_t off;   /* bytes of req sent, or of status received */
	size_t req_len;
	char status[STATUS_LEN];
	char req[REQ_MAX];
};

struct zdd_health {
	int epfd;
	zdd_health_cb cb;
	void *ctx;
	struct target **tg; /* sorted by (svc, addr), for lookups and set replacement */
	size_t n;
	bool in_cb;
	int local_err; /* last errno logged for a probe that could not start, 0 after one did */
};

static __u64 now_ns(void)
{
	struct timespec ts;

	/* Wall-clock steps must neither fire nor starve probes. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static int key_cmp(const struct zdd_health_target *a, const struct zdd_health_target *b)
{
	int r = memcmp(&a->svc, &b->svc, sizeof(a->svc));

	return r ? r : memcmp(a->addr, b->addr, sizeof(a->addr));
}

static int input_cmp(const void *a, const void *b)
{
	return key_cmp(*(const struct zdd_health_target *const *)a,
		       *(const struct zdd_health_target *const *)b);
}

static struct target *find(struct target *const *v, size_t n, const struct zdd_health_target *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = key_cmp(&v[mid]->t, key);

		if (!r)
			return v[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static __u16 check_port(const struct zdd_health_target *t)
{
	return t->check.port ? t->check.port : ntohs(t->svc.port);
}

static bool same_check(const struct zdd_health_target *a, const struct zdd_health_target *b)
{
	const struct zdd_conf_check *x = &a->check, *y = &b->check;

	if (x->type != y->type || check_port(a) != check_port(b) ||
	    x->interval_ms != y->interval_ms || x->timeout_ms != y->timeout_ms ||
	    x->rise != y->rise || x->fall != y->fall)
		return false;
	/* TCP checks carry the HTTP defaults too: they mean nothing there. */
	return x->type != ZDD_CHECK_HTTP ||
	       (x->expect_status == y->expect_status && !strcmp(x->path, y->path));
}

static int target_valid(const struct zdd_health_target *t)
{
	const struct zdd_conf_check *c = &t->check;
	size_t i;

	if (c->type != ZDD_CHECK_TCP && c->type != ZDD_CHECK_HTTP)
		return -EINVAL;
	/* An interval of 0 would spin the agent's loop; timeout 0 fails every probe. */
	if (!c->interval_ms || !c->timeout_ms || !c->rise || !c->fall)
		return -EINVAL;
	if (!check_port(t) || zdd_addr_is_zero(t->addr))
		return -EINVAL;
	if (c->type == ZDD_CHECK_TCP)
		return 0;
	if (c->expect_status < 100 || c->expect_status > 599)
		return -EINVAL;
	if (!memchr(c->path, 0, sizeof(c->path)) || c->path[0] != '/')
		return -EINVAL;
	/* It goes into the request line: a space or CR LF would forge another request. */
	for (i = 0; c->path[i]; i++)
		if ((unsigned char)c->path[i] <= 0x20 || (unsigned char)c->path[i] >= 0x7f)
			return -EINVAL;
	return 0;
}

static struct target *target_new(const struct zdd_health_target *t, __u64 now)
{
	struct target *tg = calloc(1, sizeof(*tg));
	char host[ZDD_ADDR_STRLEN];
	int len;

	if (!tg)
		return NULL;
	tg->t = *t;
	tg->t.check.port = check_port(t);
	tg->state = ZDD_HEALTH_UNKNOWN;
	tg->fd = -1;
	tg->next_ns = now; /* the first probe at once */
	if (t->check.type != ZDD_CHECK_HTTP)
		return tg;
	zdd_addr_format(t->addr, host, sizeof(host));
	/* Built once; a valid path (< 256 bytes) always fits. IPv6 hosts need their brackets. */
	len = snprintf(tg->req, sizeof(tg->req),
		       "GET %s HTTP/1.0\r\nHost: %s%s%s\r\nUser-Agent: zdd-agent\r\n"
		       "Connection: close\r\n\r\n",
		       t->check.path, zdd_addr_is_v4(t->addr) ? "" : "[", host,
		       zdd_addr_is_v4(t->addr) ? "" : "]");
	tg->req_len = (size_t)len;
	return tg;
}

static void probe_close(struct zdd_health *h, struct target *tg)
{
	if (tg->fd < 0)
		return;
	/*
	 * Removed explicitly: a hook child forked by the agent holds a copy of the socket until
	 * its exec, and epoll drops an fd on close() only when no copy is left. A stale entry
	 * would deliver a freed target as data.ptr.
	 */
	if (tg->events)
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, tg->fd, NULL);
	close(tg->fd);
	tg->fd = -1;
	tg->events = 0;
	tg->phase = P_IDLE;
}

/* Out of fds or ports, every target would say so at every interval: once per errno is enough. */
static void local_failure(struct zdd_health *h, const char *what, int err)
{
	if (h->local_err == err)
		return;
	h->local_err = err;
	pr_warn("health: %s: %s (probes skipped, not failed)\n", what, strerror(err));
}

static void log_failure(const struct target *tg)
{
	char addr[ZDD_ADDR_STRLEN], svc[ZDD_SVC_STRLEN];

	if (zdd_log_get_level() < ZDD_LOG_DEBUG)
		return;
	zdd_service_format(&tg->t.svc, svc, sizeof(svc));
	zdd_addr_format(tg->t.addr, addr, sizeof(addr));
	if (tg->code)
		pr_debug("health: %s backend %s port %u: status %d, expected %d\n", svc, addr,
			 tg->t.check.port, tg->code, tg->t.check.expect_status);
	else
		pr_debug("health: %s backend %s port %u: %s\n", svc, addr, tg->t.check.port,
			 strerror(tg->err));
}

/* Counts one probe's result and reports a state change. */
static void record(struct zdd_health *h, struct target *tg, bool ok)
{
	enum zdd_health_state s = tg->state;

	if (ok) {
		tg->fail_run = 0;
		if (tg->ok_run < UINT32_MAX)
			tg->ok_run++;
		if (tg->ok_run >= tg->t.check.rise)
			s = ZDD_HEALTH_UP;
	} else {
		log_failure(tg);
		tg->ok_run = 0;
		if (tg->fail_run < UINT32_MAX)
			tg->fail_run++;
		if (tg->fail_run >= tg->t.check.fall)
			s = ZDD_HEALTH_DOWN;
	}
	if (s == tg->state)
		return;
	tg->state = s;
	if (!h->cb)
		return;
	/* The callback must not replace the set: this run still walks it. */
	h->in_cb = true;
	h->cb(h->ctx, &tg->t, s);
	h->in_cb = false;
}

static void finish(struct zdd_health *h, struct target *tg, enum outcome o)
{
	probe_close(h, tg);
	/* Aborted: the agent itself ran short (fds, memory); the backend is not to blame. */
	if (o != O_ABORTED)
		record(h, tg, o == O_SUCCESS);
}

static enum outcome fail(struct target *tg, int err)
{
	tg->err = err;
	return O_FAILURE;
}

static enum outcome wait_for(struct zdd_health *h, struct target *tg, __u32 events)
{
	struct epoll_event ev = { .events = events, .data.ptr = tg };

	if (tg->events == events)
		return O_PENDING;
	if (epoll_ctl(h->epfd, tg->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, tg->fd, &ev)) {
		tg->err = errno;
		local_failure(h, "epoll_ctl", errno);
		return O_ABORTED;
	}
	tg->events = events;
	return O_PENDING;
}

/*
 * Checks what has arrived of the status line: 1 with *code once known, 0 to read on, -EPROTO
 * for anything else than "HTTP/d.d ddd" followed by SP, CR or LF (or by the end of the stream).
 */
static int status_parse(const char *buf, size_t len, bool eof, int *code)
{
	size_t i;

	for (i = 0; i < len && i < STATUS_LEN - 1; i++)
		if (status_pat[i] == '#' ? buf[i] < '0' || buf[i] > '9' : buf[i] != status_pat[i])
			return -EPROTO;
	if (len == STATUS_LEN && !memchr(" \r\n", buf[len - 1], 3))
		return -EPROTO;
	if (len < STATUS_LEN - 1 || (len == STATUS_LEN - 1 && !eof))
		return eof ? -EPROTO : 0;
	*code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	return 1;
}

/* Takes a probe as far as it goes without blocking. */
static enum outcome advance(struct zdd_health *h, struct target *tg)
{
	socklen_t len = sizeof(int);
	int err = 0, code, r;
	ssize_t n;

	switch (tg->phase) {
	case P_IDLE:
		return O_PENDING;
	case P_CONNECT:
		/* Only reached once the socket is writable or in error: SO_ERROR has the verdict. */
		if (getsockopt(tg->fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		if (err)
			return fail(tg, err);
		if (tg->t.check.type == ZDD_CHECK_TCP)
			return O_SUCCESS;
		tg->phase = P_SEND;
		tg->off = 0;
		/* fall through */
	case P_SEND:
		while (tg->off < tg->req_len) {
			/* MSG_NOSIGNAL: a backend that closed early is a failure, not a SIGPIPE. */
			n = send(tg->fd, tg->req + tg->off, tg->req_len - tg->off, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return wait_for(h, tg, EPOLLOUT);
			if (n < 0)
				return fail(tg, errno);
			tg->off += (size_t)n;
		}
		tg->phase = P_RECV;
		tg->off = 0;
		/* fall through */
	case P_RECV:
		for (;;) {
			/* No more than the status needs: the body is of no interest. */
			n = recv(tg->fd, tg->status + tg->off, STATUS_LEN - tg->off, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return wait_for(h, tg, EPOLLIN);
			if (n < 0)
				return fail(tg, errno);
			tg->off += (size_t)n;
			r = status_parse(tg->status, tg->off, n == 0, &code);
			if (r < 0)
				return fail(tg, -r);
			if (r == 0)
				continue;
			if (code == tg->t.check.expect_status)
				return O_SUCCESS;
			tg->code = code;
			return O_FAILURE;
		}
	}
	return O_PENDING;
}

static __u64 spread_ns(const struct target *tg, __u64 interval)
{
	const __u8 *p = (const __u8 *)&tg->t.svc;
	__u32 hash = 2166136261u; /* FNV-1a */
	size_t i;

	for (i = 0; i < sizeof(tg->t.svc); i++)
		hash = (hash ^ p[i]) * 16777619u;
	for (i = 0; i < sizeof(tg->t.addr); i++)
		hash = (hash ^ tg->t.addr[i]) * 16777619u;
	return hash % (interval / SPREAD_DIV + 1);
}

static void schedule(struct target *tg, __u64 now)
{
	__u64 iv = tg->t.check.interval_ms * NSEC_PER_MSEC;

	/* Targets set together would otherwise probe in lockstep forever. */
	if (!tg->started)
		iv -= spread_ns(tg, iv);
	tg->started = true;
	tg->next_ns += iv;
	/* A probe outlived its interval, or the loop stalled: resume the cadence, no burst. */
	if (tg->next_ns <= now)
		tg->next_ns = now + iv;
}

static int sockaddr_of(const struct target *tg, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (zdd_addr_is_v4(tg->t.addr)) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(tg->t.check.port);
		memcpy(&s4->sin_addr, tg->t.addr + 12, 4);
		return sizeof(*s4);
	}
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(tg->t.check.port);
	memcpy(&s6->sin6_addr, tg->t.addr, 16);
	return sizeof(*s6);
}

static void start_probe(struct zdd_health *h, struct target *tg, __u64 now)
{
	struct sockaddr_storage ss;
	socklen_t len = (socklen_t)sockaddr_of(tg, &ss);
	enum outcome o;

	schedule(tg, now);
	tg->deadline_ns = now + tg->t.check.timeout_ms * NSEC_PER_MSEC;
	tg->err = 0;
	tg->code = 0;
	tg->off = 0;
	tg->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (tg->fd < 0) {
		local_failure(h, "socket", errno);
		return;
	}
	tg->phase = P_CONNECT;
	if (!connect(tg->fd, (struct sockaddr *)&ss, len)) {
		o = advance(h, tg); /* loopback may connect at once */
	} else if (errno == EINPROGRESS || errno == EINTR) {
		o = wait_for(h, tg, EPOLLOUT);
	} else if (errno == EADDRNOTAVAIL || errno == EAGAIN || errno == ENOBUFS ||
		   errno == ENOMEM) {
		/* Out of local ports or memory: ours to fix, no reason to fail the backend. */
		local_failure(h, "connect", errno);
		o = O_ABORTED;
	} else {
		o = fail(tg, errno); /* ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ... */
	}
	if (o != O_ABORTED)
		h->local_err = 0;
	if (o != O_PENDING)
		finish(h, tg, o);
}

int zdd_health_new(struct zdd_health **out, zdd_health_cb cb, void *ctx)
{
	struct zdd_health *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		int err = -errno;

		free(h);
		return log_err(err, "health: epoll_create1");
	}
	h->cb = cb;
	h->ctx = ctx;
	*out = h;
	return 0;
}

void zdd_health_free(struct zdd_health *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->n; i++) {
		probe_close(h, h->tg[i]);
		free(h->tg[i]);
	}
	free(h->tg);
	close(h->epfd);
	free(h);
}

int zdd_health_set_targets(struct zdd_health *h, const struct zdd_health_target *t, size_t n)
{
	const struct zdd_health_target **in = NULL;
	struct target **nt = NULL, *old;
	__u64 now = now_ns();
	size_t i, m = 0;
	int err = 0;

	if (h->in_cb)
		return -EBUSY;
	if (n && !t)
		return -EINVAL;
	if (n) {
		in = calloc(n, sizeof(*in));
		nt = calloc(n, sizeof(*nt));
		if (!in || !nt) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (t[i].check.type == ZDD_CHECK_NONE)
			continue;
		err = target_valid(&t[i]);
		if (err)
			goto out;
		in[m++] = &t[i];
	}
	/* Sorted input gives a sorted set, and puts duplicates side by side. */
	if (m)
		qsort(in, m, sizeof(*in), input_cmp);
	for (i = 1; i < m; i++) {
		if (!key_cmp(in[i - 1], in[i])) {
			err = -EINVAL;
			goto out;
		}
	}
	for (i = 0; i < m; i++) {
		old = find(h->tg, h->n, in[i]);
		if (old && same_check(&old->t, in[i])) {
			nt[i] = old;
			continue;
		}
		nt[i] = target_new(in[i], now);
		if (!nt[i]) {
			err = -ENOMEM;
			goto undo;
		}
	}
	/* Committed: drop what the new set does not share with the old one. */
	for (i = 0; i < h->n; i++) {
		if (find(nt, m, &h->tg[i]->t) == h->tg[i])
			continue;
		probe_close(h, h->tg[i]);
		free(h->tg[i]);
	}
	free(h->tg);
	h->tg = nt;
	h->n = m;
	nt = NULL;
	goto out;
undo:
	while (i--)
		if (find(h->tg, h->n, in[i]) != nt[i])
			free(nt[i]);
out:
	free(nt);
	free(in);
	return err;
}

int zdd_health_fd(const struct zdd_health *h)
{
	return h->epfd;
}

int zdd_health_timeout_ms(const struct zdd_health *h)
{
	__u64 now = now_ns(), next = UINT64_MAX, ms;
	size_t i;

	for (i = 0; i < h->n; i++) {
		const struct target *tg = h->tg[i];
		__u64 at = tg->fd >= 0 ? tg->deadline_ns : tg->next_ns;

		if (at < next)
			next = at;
	}
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	/* Rounded up: waking a little early would only find nothing due and spin. */
	ms = (next - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int zdd_health_run(struct zdd_health *h)
{
	struct epoll_event ev[BATCH];
	enum outcome o;
	__u64 now;
	size_t i;
	int n;

	n = epoll_wait(h->epfd, ev, BATCH, 0);
	if (n < 0 && errno != EINTR)
		return log_err(-errno, "health: epoll_wait");
	for (i = 0; n > 0 && i < (size_t)n; i++) {
		struct target *tg = ev[i].data.ptr;

		o = advance(h, tg);
		if (o != O_PENDING)
			finish(h, tg, o);
	}
	/* Read after the events: an answer that arrived is not timed out because we ran late. */
	now = now_ns();
	for (i = 0; i < h->n; i++) {
		struct target *tg = h->tg[i];

		if (tg->fd >= 0 && now >= tg->deadline_ns)
			finish(h, tg, fail(tg, ETIMEDOUT));
		/* A probe still running at its next interval is not doubled: it starts after. */
		if (tg->fd < 0 && now >= tg->next_ns)
			start_probe(h, tg, now);
	}
	return 0;
}

enum zdd_health_state zdd_health_get(const struct zdd_health *h, const struct zdd_service_key *svc,
				     const __u8 addr[16])
{
	struct zdd_health_target key;
	const struct target *tg;

	memcpy(&key.svc, svc, sizeof(key.svc));
	memcpy(key.addr, addr, sizeof(key.addr));
	tg = find(h->tg, h->n, &key);
	return tg ? tg->state : ZDD_HEALTH_UNKNOWN;
}
