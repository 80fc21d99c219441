// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/health.c - see health.h. Each check of a target is a small state machine
 * (idle, connecting, sending, receiving) over one non-blocking socket in a private epoll set;
 * the target's state is the two checks' together. */
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
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "addr.h"
#include "hcheck.h"
#include "log.h"
#include "health.h"

#define NSEC_PER_MSEC 1000000ULL
#define REQ_MAX	      512 /* request line with a 255-byte path, and the fixed headers */
#define BATCH	      256 /* events per run; the rest keep the fd readable for the next run */
#define SPREAD_DIV    10  /* the first interval is shortened by up to 1/10 of itself */
#define TCP_HDR_TS    32  /* a TCP header with the timestamp option, as Linux sends data */
#define PAD_HDR	      "X-Zdd-Pad: "

/* "HTTP/d.d ddd" and a separator: the code is known without waiting for the end of the line. */
static const char status_pat[] = "HTTP/#.# ###";
#define STATUS_LEN (sizeof(status_pat)) /* the pattern, then SP, CR or LF */

enum phase { P_IDLE, P_CONNECT, P_SEND, P_RECV };
enum outcome { O_PENDING, O_SUCCESS, O_FAILURE, O_ABORTED };

struct target;

/* One check of a target: its schedule, its counts, its running probe. */
struct probe {
	struct target *tg;
	enum zdd_health_check which;
	enum zdd_health_state state;
	__u32 ok_run, fail_run; /* consecutive successes and failures */
	__u64 next_ns;		/* CLOCK_MONOTONIC: the next probe start */
	__u64 deadline_ns;	/* of the running probe */
	bool started;		/* the spread applies to the first interval only */
	bool na;		/* tunnel: cannot be tried from here (the last attempt said) */
	bool registered;	/* tunnel: flow is in the tunnel's table */
	struct zdd_flow_key flow;
	int fd; /* -1 when idle */
	enum phase phase;
	__u32 events; /* epoll interest of fd, 0 while not in the set */
	int err;      /* why the probe failed (errno), or... */
	int code;     /* ...the status that did not match */
	size_t off;   /* bytes of req sent, or of status received */
	char status[STATUS_LEN];
	char why[64]; /* of the last failure, kept for status while the check fails */
};

struct target {
	struct zdd_health_target t;
	enum zdd_health_state state; /* both checks together */
	struct probe p[ZDD_HEALTH_CHECKS];
	__u32 hint; /* the tunnel's, for this target's backend */
	size_t req_len;
	char req[REQ_MAX];
	char *treq; /* the tunnel probe's request, padded to the tunnel's MTU; NULL: req */
	size_t treq_len;
};

struct zdd_health {
	int epfd;
	zdd_health_cb cb;
	void *ctx;
	struct target **tg; /* sorted by (svc, addr), for lookups and set replacement */
	size_t n;
	bool in_cb;
	int local_err;	/* last errno logged for a probe that could not start, 0 after one did */
	int tunnel_err; /* the same for the tunnel's refusals (ops->add) */
	bool tunnel;	/* tunnel checks on: ops are set */
	struct zdd_health_tunnel_ops ops;
	struct zdd_hc *hc; /* zdd_health_tunnel()'s, closed with the checker */
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
	int i, len;

	if (!tg)
		return NULL;
	tg->t = *t;
	tg->t.check.port = check_port(t);
	tg->state = ZDD_HEALTH_UNKNOWN;
	tg->hint = ZDD_NO_BACKEND;
	for (i = 0; i < ZDD_HEALTH_CHECKS; i++) {
		tg->p[i].tg = tg;
		tg->p[i].which = i;
		tg->p[i].fd = -1;
		tg->p[i].next_ns = now; /* the first probe at once */
	}
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

/*
 * The tunnel probe's request: the direct one with a padding header, as long as fills the
 * tunnel's largest packet in one segment (outer and inner IP header, TCP with timestamps).
 * A path that drops what the tunnel adds to a full-size packet then fails the check, where
 * small probes would pass and clients' uploads stall. Without the room, the direct request.
 */
static void tunnel_request(const struct zdd_health *h, struct target *tg)
{
	size_t ip = zdd_addr_is_v4(tg->t.svc.addr) ? 20 : 40, head, want, pad;
	const char *end = strstr(tg->req, "Connection: ");

	free(tg->treq);
	tg->treq = NULL;
	if (tg->t.check.type != ZDD_CHECK_HTTP || !h->tunnel || !h->ops.mtu || !end)
		return;
	want = h->ops.mtu > 2 * ip + TCP_HDR_TS ? h->ops.mtu - 2 * ip - TCP_HDR_TS : 0;
	if (want < tg->req_len + sizeof(PAD_HDR) + 2)
		return;
	/* Without the memory, the request unpadded: the check goes on, the MTU untried. */
	tg->treq = malloc(want);
	if (!tg->treq)
		return;
	head = (size_t)(end - tg->req);
	pad = want - tg->req_len - (sizeof(PAD_HDR) - 1) - 2;
	memcpy(tg->treq, tg->req, head);
	memcpy(tg->treq + head, PAD_HDR, sizeof(PAD_HDR) - 1);
	memset(tg->treq + head + sizeof(PAD_HDR) - 1, 'p', pad);
	memcpy(tg->treq + want - (tg->req_len - head) - 2, "\r\n", 2);
	memcpy(tg->treq + want - (tg->req_len - head), end, tg->req_len - head);
	tg->treq_len = want;
}

/* The checks that run: the tunnel's only while it is on. */
static int n_checks(const struct zdd_health *h)
{
	return h->tunnel ? ZDD_HEALTH_CHECKS : 1;
}

static void probe_close(struct zdd_health *h, struct probe *pr)
{
	if (pr->fd < 0)
		return;
	/*
	 * Removed explicitly: a hook child forked by the agent holds a copy of the socket until
	 * its exec, and epoll drops an fd on close() only when no copy is left. A stale entry
	 * would deliver a freed target as data.ptr.
	 */
	if (pr->events)
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, pr->fd, NULL);
	close(pr->fd);
	pr->fd = -1;
	pr->events = 0;
	pr->phase = P_IDLE;
	/* After the close: its last packet (a tunnel probe's RST) still goes through the tunnel. */
	if (pr->registered && h->tunnel)
		h->ops.del(h->ops.ctx, &pr->flow);
	pr->registered = false;
}

/* Out of fds or ports, every target would say so at every interval: once per errno is enough. */
static void local_failure(struct zdd_health *h, const char *what, int err)
{
	if (h->local_err == err)
		return;
	h->local_err = err;
	pr_warn("health: %s: %s (probes skipped, not failed)\n", what, strerror(err));
}

const char *zdd_health_check_name(enum zdd_health_check which)
{
	return which == ZDD_HEALTH_TUNNEL ? "tunnel" : "direct";
}

static void probe_names(const struct probe *pr, char *svc, char *addr)
{
	zdd_service_format(&pr->tg->t.svc, svc, ZDD_SVC_STRLEN);
	zdd_addr_format(pr->tg->t.addr, addr, ZDD_ADDR_STRLEN);
}

/* Why the probe failed, in words. */
static void probe_why(const struct probe *pr, char *buf, size_t len)
{
	if (pr->code)
		snprintf(buf, len, "status %d, expected %d", pr->code,
			 pr->tg->t.check.expect_status);
	else
		snprintf(buf, len, "%s", strerror(pr->err));
}

static void log_failure(const struct probe *pr)
{
	char addr[ZDD_ADDR_STRLEN], svc[ZDD_SVC_STRLEN], why[64];

	if (zdd_log_get_level() < ZDD_LOG_DEBUG)
		return;
	probe_names(pr, svc, addr);
	probe_why(pr, why, sizeof(why));
	pr_debug("health: %s backend %s port %u (%s): %s\n", svc, addr, pr->tg->t.check.port,
		 zdd_health_check_name(pr->which), why);
}

/*
 * With two checks, the operator must learn which one failed: a backend that answers at its
 * own address and not through the tunnel black-holes clients for a reason of its own.
 */
static void log_check(const struct zdd_health *h, const struct probe *pr, enum zdd_health_state was)
{
	const struct probe *other = &pr->tg->p[!pr->which];
	char addr[ZDD_ADDR_STRLEN], svc[ZDD_SVC_STRLEN], why[64];

	if (!h->tunnel || (pr->state == ZDD_HEALTH_UP && was != ZDD_HEALTH_DOWN))
		return;
	probe_names(pr, svc, addr);
	if (pr->state == ZDD_HEALTH_UP) {
		pr_warn("health: %s backend %s: the %s check passes again\n", svc, addr,
			zdd_health_check_name(pr->which));
		return;
	}
	probe_why(pr, why, sizeof(why));
	pr_warn("health: %s backend %s: the %s check fails (%s); the %s check %s\n", svc, addr,
		zdd_health_check_name(pr->which), why, zdd_health_check_name(other->which),
		other->state == ZDD_HEALTH_UP	  ? "passes"
		: other->state == ZDD_HEALTH_DOWN ? "fails too"
		: other->na			  ? "cannot be tried from here"
						  : "has not decided yet");
}

/*
 * Both checks together: down as soon as one is down, up once both are (or the direct one is
 * and the tunnel cannot be tried). A check that has not decided leaves the state as it was.
 */
static enum zdd_health_state combined(const struct zdd_health *h, const struct target *tg)
{
	enum zdd_health_state d = tg->p[ZDD_HEALTH_DIRECT].state;
	const struct probe *tp = &tg->p[ZDD_HEALTH_TUNNEL];
	enum zdd_health_state t = h->tunnel && !tp->na ? tp->state : d;

	if (d == ZDD_HEALTH_DOWN || t == ZDD_HEALTH_DOWN)
		return ZDD_HEALTH_DOWN;
	if (d == ZDD_HEALTH_UP && t == ZDD_HEALTH_UP)
		return ZDD_HEALTH_UP;
	return tg->state;
}

/* Reports a change of the target's state. */
static void update(struct zdd_health *h, struct target *tg)
{
	enum zdd_health_state s = combined(h, tg);

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

/* Counts one probe's result. */
static void record(struct zdd_health *h, struct probe *pr, bool ok)
{
	enum zdd_health_state was = pr->state;

	if (ok) {
		pr->fail_run = 0;
		if (pr->ok_run < UINT32_MAX)
			pr->ok_run++;
		if (pr->ok_run >= pr->tg->t.check.rise)
			pr->state = ZDD_HEALTH_UP;
	} else {
		log_failure(pr);
		probe_why(pr, pr->why, sizeof(pr->why));
		pr->ok_run = 0;
		if (pr->fail_run < UINT32_MAX)
			pr->fail_run++;
		if (pr->fail_run >= pr->tg->t.check.fall)
			pr->state = ZDD_HEALTH_DOWN;
	}
	if (pr->state == was)
		return;
	log_check(h, pr, was);
	update(h, pr->tg);
}

static void finish(struct zdd_health *h, struct probe *pr, enum outcome o)
{
	probe_close(h, pr);
	/* Aborted: the agent itself ran short (fds, memory); the backend is not to blame. */
	if (o != O_ABORTED)
		record(h, pr, o == O_SUCCESS);
}

static enum outcome fail(struct probe *pr, int err)
{
	pr->err = err;
	return O_FAILURE;
}

static enum outcome wait_for(struct zdd_health *h, struct probe *pr, __u32 events)
{
	struct epoll_event ev = { .events = events, .data.ptr = pr };

	if (pr->events == events)
		return O_PENDING;
	if (epoll_ctl(h->epfd, pr->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, pr->fd, &ev)) {
		pr->err = errno;
		local_failure(h, "epoll_ctl", errno);
		return O_ABORTED;
	}
	pr->events = events;
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
static enum outcome advance(struct zdd_health *h, struct probe *pr)
{
	const struct target *tg = pr->tg;
	bool padded = pr->which == ZDD_HEALTH_TUNNEL && tg->treq;
	const char *req = padded ? tg->treq : tg->req;
	size_t req_len = padded ? tg->treq_len : tg->req_len;
	socklen_t len = sizeof(int);
	int err = 0, code, r;
	ssize_t n;

	switch (pr->phase) {
	case P_IDLE:
		return O_PENDING;
	case P_CONNECT:
		/* Only reached once the socket is writable or in error: SO_ERROR has the verdict. */
		if (getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		if (err)
			return fail(pr, err);
		if (tg->t.check.type == ZDD_CHECK_TCP)
			return O_SUCCESS;
		pr->phase = P_SEND;
		pr->off = 0;
		/* fall through */
	case P_SEND:
		while (pr->off < req_len) {
			/* MSG_NOSIGNAL: a backend that closed early is a failure, not a SIGPIPE. */
			n = send(pr->fd, req + pr->off, req_len - pr->off, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return wait_for(h, pr, EPOLLOUT);
			if (n < 0)
				return fail(pr, errno);
			pr->off += (size_t)n;
		}
		pr->phase = P_RECV;
		pr->off = 0;
		/* fall through */
	case P_RECV:
		for (;;) {
			/* No more than the status needs: the body is of no interest. */
			n = recv(pr->fd, pr->status + pr->off, STATUS_LEN - pr->off, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return wait_for(h, pr, EPOLLIN);
			if (n < 0)
				return fail(pr, errno);
			pr->off += (size_t)n;
			r = status_parse(pr->status, pr->off, n == 0, &code);
			if (r < 0)
				return fail(pr, -r);
			if (r == 0)
				continue;
			if (code == tg->t.check.expect_status)
				return O_SUCCESS;
			pr->code = code;
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

static void schedule(struct probe *pr, __u64 now)
{
	__u64 iv = pr->tg->t.check.interval_ms * NSEC_PER_MSEC;

	/* Targets set together would otherwise probe in lockstep forever. */
	if (!pr->started)
		iv -= spread_ns(pr->tg, iv);
	pr->started = true;
	pr->next_ns += iv;
	/* A probe outlived its interval, or the loop stalled: resume the cadence, no burst. */
	if (pr->next_ns <= now)
		pr->next_ns = now + iv;
}

/* Where a probe connects: the backend, or through the tunnel, the service address. */
static socklen_t sockaddr_of(const struct probe *pr, struct sockaddr_storage *ss)
{
	const __u8 *addr = pr->which == ZDD_HEALTH_TUNNEL ? pr->tg->t.svc.addr : pr->tg->t.addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (zdd_addr_is_v4(addr)) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(pr->tg->t.check.port);
		memcpy(&s4->sin_addr, addr + 12, 4);
		return sizeof(*s4);
	}
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(pr->tg->t.check.port);
	memcpy(&s6->sin6_addr, addr, 16);
	return sizeof(*s6);
}

/* The 16-byte form of a socket address, and its port. */
static void addr_of(const struct sockaddr_storage *ss, __u8 addr[16], __be16 *port)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

	if (ss->ss_family == AF_INET) {
		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &s4->sin_addr, 4);
		*port = s4->sin_port;
		return;
	}
	memcpy(addr, &s6->sin6_addr, 16);
	*port = s6->sin6_port;
}

/*
 * A tunnel probe's socket, bound to the address and port its packets will carry, and that
 * flow registered with the tunnel before the first packet (the SYN of connect()). The
 * source is the one the kernel picks for the service address; a connected UDP socket asks
 * without sending anything. 0, ZDD_HEALTH_TUNNEL_NA, or -errno.
 */
static int tunnel_socket(struct zdd_health *h, struct probe *pr, const struct sockaddr_storage *to,
			 socklen_t len)
{
	static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr_storage src;
	socklen_t slen = sizeof(src);
	int fd, err;

	fd = socket(to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect(fd, (const struct sockaddr *)to, len) ||
			      getsockname(fd, (struct sockaddr *)&src, &slen)
		      ? -errno
		      : 0;
	close(fd);
	if (err)
		return err;
	if (to->ss_family == AF_INET)
		((struct sockaddr_in *)&src)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&src)->sin6_port = 0;
	/* Port 0: the kernel picks one no other socket holds, and says which. The same family
	 * as to: len fits. */
	slen = sizeof(src);
	if (bind(pr->fd, (struct sockaddr *)&src, len) ||
	    getsockname(pr->fd, (struct sockaddr *)&src, &slen))
		return -errno;
	/* Closed with a RST, while the flow is still registered: no FIN or TIME_WAIT left to
	 * leave outside the tunnel once it is not. */
	if (setsockopt(pr->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst)))
		return -errno;
	memset(&pr->flow, 0, sizeof(pr->flow));
	addr_of(to, pr->flow.svc.addr, &pr->flow.svc.port);
	pr->flow.svc.proto = IPPROTO_TCP;
	addr_of(&src, pr->flow.saddr, &pr->flow.sport);
	err = h->ops.add(h->ops.ctx, &pr->flow, &pr->tg->t, &pr->tg->hint);
	if (err)
		return err;
	pr->registered = true;
	return 0;
}

static void start_probe(struct zdd_health *h, struct probe *pr, __u64 now)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(pr, &ss);
	char addr[ZDD_ADDR_STRLEN], svc[ZDD_SVC_STRLEN];
	bool na = pr->na;
	enum outcome o;
	int err;

	schedule(pr, now);
	pr->deadline_ns = now + pr->tg->t.check.timeout_ms * NSEC_PER_MSEC;
	pr->err = 0;
	pr->code = 0;
	pr->off = 0;
	pr->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pr->fd < 0) {
		local_failure(h, "socket", errno);
		return;
	}
	pr->phase = P_CONNECT;
	if (pr->which == ZDD_HEALTH_TUNNEL) {
		err = tunnel_socket(h, pr, &ss, len);
		pr->na = err == ZDD_HEALTH_TUNNEL_NA;
		if (pr->na != na) {
			probe_names(pr, svc, addr);
			pr_info("health: %s backend %s: %s\n", svc, addr,
				pr->na ? "the service address is local here, the tunnel check "
					 "cannot be tried: the direct check decides alone"
				       : "the tunnel check can be tried again");
			update(h, pr->tg);
		}
		if (err) {
			/* Apart from local_err: the direct probes' successes would reset it. */
			if (err < 0 && h->tunnel_err != err) {
				probe_names(pr, svc, addr);
				pr_warn("health: %s backend %s: no tunnel probe: %s (probes "
					"skipped, not failed)\n",
					svc, addr, strerror(-err));
			}
			h->tunnel_err = err;
			probe_close(h, pr);
			return;
		}
	}
	if (pr->which == ZDD_HEALTH_TUNNEL)
		h->tunnel_err = 0;
	if (!connect(pr->fd, (struct sockaddr *)&ss, len)) {
		o = advance(h, pr); /* loopback may connect at once */
	} else if (errno == EINPROGRESS || errno == EINTR) {
		o = wait_for(h, pr, EPOLLOUT);
	} else if (errno == EADDRNOTAVAIL || errno == EAGAIN || errno == ENOBUFS ||
		   errno == ENOMEM) {
		/* Out of local ports or memory: ours to fix, no reason to fail the backend. */
		local_failure(h, "connect", errno);
		o = O_ABORTED;
	} else {
		o = fail(pr, errno); /* ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ... */
	}
	if (o != O_ABORTED)
		h->local_err = 0;
	if (o != O_PENDING)
		finish(h, pr, o);
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

static void target_free(struct zdd_health *h, struct target *tg)
{
	int i;

	for (i = 0; i < ZDD_HEALTH_CHECKS; i++)
		probe_close(h, &tg->p[i]);
	free(tg->treq);
	free(tg);
}

void zdd_health_free(struct zdd_health *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->n; i++)
		target_free(h, h->tg[i]);
	free(h->tg);
	close(h->epfd);
	zdd_hc_close(h->hc);
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
		tunnel_request(h, nt[i]);
	}
	/* Committed: drop what the new set does not share with the old one. */
	for (i = 0; i < h->n; i++)
		if (find(nt, m, &h->tg[i]->t) != h->tg[i])
			target_free(h, h->tg[i]);
	free(h->tg);
	h->tg = nt;
	h->n = m;
	nt = NULL;
	goto out;
undo:
	while (i--)
		if (find(h->tg, h->n, in[i]) != nt[i])
			target_free(h, nt[i]); /* idle: no probe to close */
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
	int c;

	for (i = 0; i < h->n; i++) {
		for (c = 0; c < n_checks(h); c++) {
			const struct probe *pr = &h->tg[i]->p[c];
			__u64 at = pr->fd >= 0 ? pr->deadline_ns : pr->next_ns;

			if (at < next)
				next = at;
		}
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
	int n, c;

	n = epoll_wait(h->epfd, ev, BATCH, 0);
	if (n < 0 && errno != EINTR)
		return log_err(-errno, "health: epoll_wait");
	for (i = 0; n > 0 && i < (size_t)n; i++) {
		struct probe *pr = ev[i].data.ptr;

		o = advance(h, pr);
		if (o != O_PENDING)
			finish(h, pr, o);
	}
	/* Read after the events: an answer that arrived is not timed out because we ran late. */
	now = now_ns();
	for (i = 0; i < h->n; i++) {
		for (c = 0; c < ZDD_HEALTH_CHECKS; c++) {
			struct probe *pr = &h->tg[i]->p[c];

			if (pr->fd >= 0 && now >= pr->deadline_ns)
				finish(h, pr, fail(pr, ETIMEDOUT));
			/* A probe still running at its next interval is not doubled: it starts
			 * after. A tunnel probe of a checker whose tunnel went off does not. */
			if (pr->fd < 0 && now >= pr->next_ns && c < n_checks(h))
				start_probe(h, pr, now);
		}
	}
	return 0;
}

static const struct target *lookup(const struct zdd_health *h, const struct zdd_service_key *svc,
				   const __u8 addr[16])
{
	struct zdd_health_target key;

	memcpy(&key.svc, svc, sizeof(key.svc));
	memcpy(key.addr, addr, sizeof(key.addr));
	return find(h->tg, h->n, &key);
}

enum zdd_health_state zdd_health_get(const struct zdd_health *h, const struct zdd_service_key *svc,
				     const __u8 addr[16])
{
	const struct target *tg = lookup(h, svc, addr);

	return tg ? tg->state : ZDD_HEALTH_UNKNOWN;
}

enum zdd_health_state zdd_health_get_check(const struct zdd_health *h,
					   const struct zdd_service_key *svc, const __u8 addr[16],
					   enum zdd_health_check which)
{
	const struct target *tg = lookup(h, svc, addr);

	if (!tg || (unsigned int)which >= ZDD_HEALTH_CHECKS ||
	    (which == ZDD_HEALTH_TUNNEL && (!h->tunnel || tg->p[which].na)))
		return ZDD_HEALTH_UNKNOWN;
	return tg->p[which].state;
}

const char *zdd_health_check_why(const struct zdd_health *h, const struct zdd_service_key *svc,
				 const __u8 addr[16], enum zdd_health_check which)
{
	const struct target *tg = lookup(h, svc, addr);

	if (zdd_health_get_check(h, svc, addr, which) != ZDD_HEALTH_DOWN)
		return "";
	return tg->p[which].why;
}

int zdd_health_set_tunnel(struct zdd_health *h, const struct zdd_health_tunnel_ops *ops)
{
	size_t i;

	if (h->in_cb)
		return -EBUSY;
	if (ops && (!ops->add || !ops->del))
		return -EINVAL;
	/* Running tunnel probes end now: their flows are unregistered through the old ops. */
	for (i = 0; i < h->n; i++)
		probe_close(h, &h->tg[i]->p[ZDD_HEALTH_TUNNEL]);
	h->tunnel = ops != NULL;
	if (ops)
		h->ops = *ops;
	for (i = 0; i < h->n; i++) {
		struct probe *tp = &h->tg[i]->p[ZDD_HEALTH_TUNNEL];

		/* Afresh: what a former tunnel said no longer holds. */
		tunnel_request(h, h->tg[i]);
		tp->state = ZDD_HEALTH_UNKNOWN;
		tp->ok_run = tp->fail_run = 0;
		tp->na = false;
		tp->next_ns = now_ns();
		update(h, h->tg[i]);
	}
	return 0;
}

/* The tunnel of the balancer: bpf/zdd_hcheck.bpf.c, through libzdd. */
static int hc_add(void *ctx, const struct zdd_flow_key *flow, const struct zdd_health_target *t,
		  __u32 *hint)
{
	struct sockaddr_storage ss = { .ss_family = zdd_addr_is_v4(flow->svc.addr) ? AF_INET
										   : AF_INET6 };
	socklen_t len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						: sizeof(struct sockaddr_in6);
	int fd, local;

	/* A service address held here (announced for ECMP) is reached through lo: the probe
	 * would never meet the tunnel. Bindable means local. */
	if (ss.ss_family == AF_INET)
		memcpy(&((struct sockaddr_in *)&ss)->sin_addr, flow->svc.addr + 12, 4);
	else
		memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, flow->svc.addr, 16);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	local = !bind(fd, (struct sockaddr *)&ss, len);
	close(fd);
	if (local)
		return ZDD_HEALTH_TUNNEL_NA;
	return zdd_hc_probe_add(ctx, flow, &t->svc, t->addr, hint);
}

static void hc_del(void *ctx, const struct zdd_flow_key *flow)
{
	zdd_hc_probe_del(ctx, flow);
}

int zdd_health_tunnel(struct zdd_health *h, struct zdd *z)
{
	struct zdd_health_tunnel_ops ops = { hc_add, hc_del, NULL, 0 };
	char ifname[IF_NAMESIZE] = "?";
	struct zdd_config c;
	int err;

	err = zdd_config_get(z, &c);
	if (err)
		return err;
	if (!c.ifindex) {
		pr_warn("health: the balancer is attached nowhere: no checks through the tunnel, "
			"direct checks only\n");
		return -ENODEV;
	}
	if_indextoname(c.ifindex, ifname);
	err = zdd_hc_open(&h->hc, z, (int)c.ifindex);
	if (err) {
		pr_warn("health: no checks through the tunnel on %s (%s): direct checks only\n",
			ifname, strerror(-err));
		return err;
	}
	ops.ctx = h->hc;
	ops.mtu = c.mtu;
	err = zdd_health_set_tunnel(h, &ops);
	if (err) {
		zdd_hc_close(h->hc);
		h->hc = NULL;
		return err;
	}
	pr_info("health: every backend is checked directly and through the tunnel from %s\n",
		ifname);
	return 0;
}
