// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/bench/zdd-httpload.c - HTTP/1.1 load for the lab: many client source addresses (the LB
 * splits clients by source), a new TCP connection per request (or keep-alive with -k), or with -P
 * the world's traffic: Poisson arrivals of sessions with think times, some aborted with a RST. One
 * log line per request. Single thread, non-blocking sockets, edge-triggered epoll. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2

#define MAX_CONCURRENCY 100000
#define MAX_DURATION_S	3600
#define MAX_TIMEOUT_MS	3600000
#define MAX_SOURCES	(1u << 20)
#define MAX_SESSION	1000000	    /* requests of one -P session, whatever -n draws */
#define HDR_MAX		(64 * 1024) /* a bigger header block is a bad response */
#define NSEC_PER_SEC	1000000000ull
#define NSEC_PER_MSEC	1000000ull
#define BACKOFF_NS	(10 * NSEC_PER_MSEC)
#define FLUSH_NS	NSEC_PER_SEC /* the log is readable while the load runs */
#define EVENTS		256
#define ARRIVALS	256 /* -P arrivals handled per turn of the loop, at most */

/* Outcome of one request; the order is the summary's. */
enum kind { K_OK, K_REFUSED, K_CTIMEOUT, K_RESET, K_TIMEOUT, K_STATUS, K_BAD, K_LOCAL, K_NR };

static const char *const kind_name[K_NR] = {
	[K_OK] = "ok",
	[K_REFUSED] = "refused",
	[K_CTIMEOUT] = "connect-timeout",
	[K_RESET] = "reset",
	[K_TIMEOUT] = "timeout",
	[K_STATUS] = "status",
	[K_BAD] = "bad-response",
	[K_LOCAL] = "local",
};

/* C_CLOSING: the response is logged, the server's close is awaited (it then holds TIME_WAIT, not
 * this side's ports). C_IDLE: keep-alive, waiting for a token. C_THINK: a -P session between two
 * requests, in the think heap. */
enum conn_state { C_FREE, C_CONNECTING, C_SENDING, C_READING, C_CLOSING, C_IDLE, C_THINK };
enum body_mode { B_NONE, B_LENGTH, B_CHUNKED, B_EOF };
enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_TRAILER };

struct conn_list {
	struct conn *head, *tail;
};

struct conn {
	struct conn *prev, *next;
	struct conn_list *list; /* free, idle or in flight (ordered by deadline) */
	int fd;
	enum conn_state state;
	unsigned int src;
	uint64_t t_req, deadline; /* CLOCK_MONOTONIC ns */
	/* -P session: requests left (the current one included), its own random stream (so a seed
	 * replays the same sessions whatever the server's timing), abort with a RST at its end */
	unsigned int left, heap_idx;
	uint64_t rng, wake;
	bool rst;
	size_t sent;
	/* response parser: fed byte ranges as they arrive, so no per-connection receive buffer */
	uint64_t resp_bytes, remain;
	unsigned int hdr_bytes, chunk_digits, trailer_len, status;
	enum body_mode body;
	enum chunk_state chunk;
	bool got_status, hdr_done, complete, has_len, chunked, srv_close, line_over, first_done;
	unsigned short line_len, first_len;
	char line[256];
	char first[128]; /* the body's first line: the lab backends answer "b1 blue\n" */
};

struct src {
	struct sockaddr_storage sa;
	socklen_t len;
	char name[INET6_ADDRSTRLEN];
};

/* Latency histogram in microseconds: 64 linear sub-buckets per power of two (error < 1.6%). */
#define HIST_SUB_BITS 6
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_US   ((1ull << 40) - 1)
#define HIST_BUCKETS  (HIST_SUB * (40 - HIST_SUB_BITS + 1))

struct load {
	struct sockaddr_storage dst;
	socklen_t dst_len;
	struct src *srcs;
	unsigned int nsrc, next_src;
	char *req[2]; /* [1] asks the server to close the connection */
	size_t req_len[2];
	unsigned int concurrency;
	uint64_t timeout_ns, duration_ns;
	double rate, burst, tokens;
	bool keepalive;
	/* -P: mean gap between arrivals and think time in ns, mean requests per session */
	bool poisson;
	double gap_ns, think_ns, session_reqs, rst_pct;
	uint64_t seed, rng, t_arrival;
	struct conn **think; /* min-heap on wake */
	unsigned int nthink;
	FILE *log;
	char *logbuf;

	int epfd;
	struct conn *conns;
	struct conn_list free, idle, flight;
	unsigned int active;
	bool stopping;
	uint64_t t_begin, t_stop, t_tokens, t_flush, backoff_until;

	uint64_t count[K_NR], hist[HIST_BUCKETS], backoffs;
	uint64_t arrivals, over_cap, rst_closed;
	bool local_warned;
	char rbuf[64 * 1024];
};

static struct load load;
static volatile sig_atomic_t got_signal;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zdd-httpload -u HOST:PORT -s SRC1,SRC2,... | -S FILE [-c CONCURRENCY]\n"
		"         [-d SECONDS] [-t TIMEOUT_MS] [-r MAX_RATE_PER_S] [-o LOGFILE] [-k]\n"
		"       zdd-httpload -P -r RATE [-n REQS] [-T THINK_MS] [-x PCT] [-R SEED] ...\n"
		"HTTP/1.1 GET load, one new TCP connection per request, each connection bound to\n"
		"the next source address (round robin). With -P, the world's traffic instead.\n"
		"  -u TARGET   IPv4 or [IPv6] address and port (default 80), e.g. 198.19.0.10:80,\n"
		"              [fd00:5a::10]:80; http://TARGET/PATH also works\n"
		"  -s LIST     client source addresses, comma separated\n"
		"  -S FILE     client source addresses, one per line ('#' starts a comment)\n"
		"  -c N        connections in flight (default 32); with -P, a cap on open ones\n"
		"  -d SECONDS  run time (default 10, at most %d); in-flight requests then finish\n"
		"  -t MS       timeout of a whole request, connect included (default 2000)\n"
		"  -r N        at most N requests per second; with -P, the mean arrival rate of\n"
		"              new connections\n"
		"  -o FILE     one line per request: END_MS SRC RESULT; RESULT is the body's\n"
		"              first line, or FAIL:KIND with KIND refused, connect-timeout,\n"
		"              reset, timeout, status-NNN, bad-response or local (no\n"
		"              descriptor, address or port on this side)\n"
		"  -k          keep-alive: each connection sends requests back to back\n"
		"  -P          open loop: new connections arrive at random (Poisson) at a mean\n"
		"              RATE a second (-r), each from a random source, whatever the\n"
		"              answers; an arrival that finds -c connections open is not sent\n"
		"              and logs FAIL:local. Each connection is a session of requests\n"
		"  -n N        with -P, requests per session: random (geometric), mean N\n"
		"              (default 1: every connection one request); the last asks the\n"
		"              server to close\n"
		"  -T MS       with -P, a session waits a random (exponential) think time of\n"
		"              mean MS between its requests (default 0)\n"
		"  -x PCT      with -P, PCT%% of the sessions abort with a RST after their last\n"
		"              answer instead of a close: ok, not a failure (default 0)\n"
		"  -R SEED     with -P, the seed of every random draw (default: from the clock);\n"
		"              one seed replays the same arrivals and sessions\n"
		"Prints a summary; p50 and p99 are over the successful requests. With -P, also\n"
		"arrivals, those over the -c cap, sessions that sent a RST, and the seed.\n"
		"Exit status: 0 ran (even with failed requests), 1 setup failure, 2 usage error.\n",
		MAX_DURATION_S);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "zdd-httpload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	return EXIT_USAGE;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* --- random draws (-P) ------------------------------------------------------------------------- */

/* splitmix64: one 64-bit word of state, so each session carries its own stream */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so its logarithm is finite. */
static double rng_unit(uint64_t *s)
{
	return ((rng_next(s) >> 11) + 1) * 0x1p-53;
}

/* Exponential with the given mean: Poisson gaps and think times. At most 37 means (-log of
 * 2^-53), so a draw never overflows. */
static uint64_t rng_exp(uint64_t *s, double mean)
{
	return (uint64_t)(-log(rng_unit(s)) * mean);
}

/* Requests of a session: geometric on 1, 2, ... with the given mean, by inversion. */
static unsigned int rng_geometric(uint64_t *s, double mean)
{
	double k;

	if (mean <= 1)
		return 1;
	k = 1 + floor(log(rng_unit(s)) / log1p(-1 / mean));
	return k < MAX_SESSION ? (unsigned int)k : MAX_SESSION;
}

/* --- lists: every slot is on exactly one of free, idle (keep-alive) or flight ---------------- */

static void list_add_tail(struct conn_list *l, struct conn *c)
{
	c->list = l;
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

static void list_del(struct conn *c)
{
	struct conn_list *l = c->list;

	if (!l)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->list = NULL;
	c->prev = c->next = NULL;
}

/* --- think heap: -P sessions between two requests, on no list, the next to wake on top ------- */

static void heap_set(struct load *ld, unsigned int i, struct conn *c)
{
	ld->think[i] = c;
	c->heap_idx = i;
}

static void heap_up(struct load *ld, unsigned int i)
{
	struct conn *c = ld->think[i];

	while (i && ld->think[(i - 1) / 2]->wake > c->wake) {
		heap_set(ld, i, ld->think[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(ld, i, c);
}

static void heap_down(struct load *ld, unsigned int i)
{
	struct conn *c = ld->think[i];
	unsigned int k;

	while ((k = 2 * i + 1) < ld->nthink) {
		if (k + 1 < ld->nthink && ld->think[k + 1]->wake < ld->think[k]->wake)
			k++;
		if (c->wake <= ld->think[k]->wake)
			break;
		heap_set(ld, i, ld->think[k]);
		i = k;
	}
	heap_set(ld, i, c);
}

static void think_add(struct load *ld, struct conn *c)
{
	heap_set(ld, ld->nthink++, c);
	heap_up(ld, c->heap_idx);
}

static void think_del(struct load *ld, struct conn *c)
{
	struct conn *last = ld->think[--ld->nthink];

	if (last == c)
		return;
	heap_set(ld, c->heap_idx, last);
	heap_up(ld, last->heap_idx);
	heap_down(ld, last->heap_idx);
}

/* --- arguments --------------------------------------------------------------------------------- */

static int parse_ip(const char *s, int family, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	if (family == AF_INET6 && n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
		return inet_pton(AF_INET, buf, &sin->sin_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	*len = sizeof(*sin6);
	return inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1 ? 0 : -EINVAL;
}

/* TARGET: [http://]ADDR[:PORT][/PATH] with ADDR a.b.c.d or [v6]. Fills the address, the Host
 * header (ADDR[:PORT] as written) and the path. */
static int parse_target(struct load *ld, const char *arg, char *host, size_t hostsz, char *path,
			size_t pathsz)
{
	const char *p = arg, *end, *port = NULL;
	char addr[INET6_ADDRSTRLEN + 2];
	unsigned long pn = 80;
	int family = AF_INET;
	size_t n;

	if (!strncasecmp(p, "http://", 7))
		p += 7;
	end = strchr(p, '/');
	n = end ? (size_t)(end - p) : strlen(p);
	if (!n || n >= hostsz || strlen(end ? end : "/") >= pathsz)
		return -EINVAL;
	memcpy(host, p, n);
	host[n] = '\0';
	strcpy(path, end ? end : "/");
	if (host[0] == '[') {
		char *rb = strchr(host, ']');

		if (!rb || (rb[1] && rb[1] != ':'))
			return -EINVAL;
		family = AF_INET6;
		n = rb - host - 1;
		port = rb[1] ? rb + 2 : NULL;
		if (n >= sizeof(addr))
			return -EINVAL;
		memcpy(addr, host + 1, n);
	} else {
		const char *colon = strchr(host, ':');

		n = colon ? (size_t)(colon - host) : strlen(host);
		port = colon ? colon + 1 : NULL;
		if (n >= sizeof(addr))
			return -EINVAL;
		memcpy(addr, host, n);
	}
	addr[n] = '\0';
	if (port) {
		char *e;

		errno = 0;
		pn = strtoul(port, &e, 10);
		if (errno || e == port || *e || !pn || pn > 65535)
			return -EINVAL;
	}
	if (parse_ip(addr, family, &ld->dst, &ld->dst_len))
		return -EINVAL;
	if (family == AF_INET)
		((struct sockaddr_in *)&ld->dst)->sin_port = htons(pn);
	else
		((struct sockaddr_in6 *)&ld->dst)->sin6_port = htons(pn);
	return 0;
}

static int add_source(struct load *ld, const char *s)
{
	struct src *src;

	if (ld->nsrc >= MAX_SOURCES)
		return -E2BIG;
	/* Grows by doubling: -S files of thousands of addresses stay cheap to read. */
	if (!(ld->nsrc & (ld->nsrc - 1))) {
		struct src *n = realloc(ld->srcs, sizeof(*n) * (ld->nsrc ? ld->nsrc * 2 : 1));

		if (!n)
			return -ENOMEM;
		ld->srcs = n;
	}
	src = &ld->srcs[ld->nsrc];
	if (parse_ip(s, ld->dst.ss_family, &src->sa, &src->len))
		return -EINVAL;
	/* The name is printed once per request: format it once. */
	if (ld->dst.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&src->sa)->sin_addr, src->name,
			  sizeof(src->name));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&src->sa)->sin6_addr, src->name,
			  sizeof(src->name));
	ld->nsrc++;
	return 0;
}

static int add_source_list(struct load *ld, char *list)
{
	char *save = NULL, *tok;
	int err;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		err = add_source(ld, tok);
		if (err)
			return usage_error("%s source address '%s' (in the target's family)",
					   err == -EINVAL ? "bad" : "too many at", tok);
	}
	return 0;
}

static int add_source_file(struct load *ld, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int err = 0;

	if (!f) {
		fprintf(stderr, "zdd-httpload: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		char *s = line, *e;

		e = strchr(s, '#');
		if (e)
			*e = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (!*s)
			continue;
		if (add_source(ld, s)) {
			fprintf(stderr, "zdd-httpload: %s: bad source address '%s'\n", path, s);
			err = 1;
		}
	}
	if (!err && ferror(f)) {
		fprintf(stderr, "zdd-httpload: %s: read error\n", path);
		err = 1;
	}
	fclose(f);
	return err;
}

static int parse_num(const char *s, double min, double max, double *out)
{
	char *e;

	errno = 0;
	*out = strtod(s, &e);
	return errno || e == s || *e || !(*out >= min && *out <= max) ? -EINVAL : 0;
}

/* --- results ----------------------------------------------------------------------------------- */

static unsigned int hist_index(uint64_t us)
{
	unsigned int shift;

	if (us > HIST_MAX_US)
		us = HIST_MAX_US;
	if (us < 2 * HIST_SUB)
		return us;
	shift = 63 - __builtin_clzll(us) - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (us >> shift) - HIST_SUB;
}

static double hist_value_ms(unsigned int i)
{
	unsigned int shift;

	if (i < 2 * HIST_SUB)
		return i / 1000.0;
	shift = i / HIST_SUB - 1;
	/* the middle of the bucket */
	return (((uint64_t)(i % HIST_SUB + HIST_SUB) << shift) + ((1ull << shift) - 1) / 2.0) /
	       1000.0;
}

static double hist_pct(const struct load *ld, double pct)
{
	uint64_t want = (uint64_t)(ld->count[K_OK] * pct / 100.0 + 0.999999), seen = 0;
	unsigned int i;

	if (!ld->count[K_OK])
		return 0;
	if (!want)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += ld->hist[i];
		if (seen >= want)
			return hist_value_ms(i);
	}
	return hist_value_ms(HIST_BUCKETS - 1);
}

static void log_line(struct load *ld, unsigned int src, const char *result)
{
	fprintf(ld->log, "%llu %s %s\n",
		(unsigned long long)(now_ns(CLOCK_REALTIME) / NSEC_PER_MSEC), ld->srcs[src].name,
		result);
}

/* Counts the outcome of the connection's current request and logs it. */
static void record(struct load *ld, struct conn *c, enum kind kind)
{
	char result[sizeof(c->first) + 16];
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	unsigned int i;

	if (kind == K_OK && c->status != 200)
		kind = K_STATUS;
	ld->count[kind]++;
	if (kind == K_OK)
		ld->hist[hist_index((now - c->t_req) / 1000)]++;
	if (!ld->log)
		return;
	if (kind == K_OK) {
		/* One line per request: the body's line loses its CR and any control byte. */
		for (i = 0; i < c->first_len && c->first[i] != '\r'; i++) {
			unsigned char ch = c->first[i];

			result[i] = ch < 0x20 || ch == 0x7f ? '?' : ch;
		}
		if (!i)
			result[i++] = '-';
		result[i] = '\0';
	} else if (kind == K_STATUS) {
		snprintf(result, sizeof(result), "FAIL:status-%03u", c->status);
	} else {
		snprintf(result, sizeof(result), "FAIL:%s", kind_name[kind]);
	}
	log_line(ld, c->src, result);
}

/* Local failures (no address or port on this side) are the lab's setup, not the server: say so
 * once, on stderr, with the reason. */
static void record_local(struct load *ld, struct conn *c, const char *op, int err)
{
	if (!ld->local_warned) {
		ld->local_warned = true;
		fprintf(stderr, "zdd-httpload: %s from %s: %s (FAIL:local; not repeated)\n", op,
			ld->srcs[c->src].name, strerror(err));
	}
	record(ld, c, K_LOCAL);
}

/* A -P arrival this side could not send (the -c cap, no descriptor): an open loop counts it
 * rather than sending it late, and logs it, so load it did not send is never hidden. */
static void not_sent(struct load *ld, unsigned int src, const char *why)
{
	if (!ld->local_warned) {
		ld->local_warned = true;
		fprintf(stderr,
			"zdd-httpload: an arrival from %s not sent: %s (FAIL:local; not "
			"repeated)\n",
			ld->srcs[src].name, why);
	}
	ld->count[K_LOCAL]++;
	if (ld->log)
		log_line(ld, src, "FAIL:local");
}

/* --- connections ------------------------------------------------------------------------------- */

static void conn_close(struct load *ld, struct conn *c)
{
	if (c->state == C_THINK)
		think_del(ld, c);
	list_del(c);
	if (c->fd >= 0) {
		/* close() also removes the socket from the epoll set: it is never dup()ed */
		close(c->fd);
		c->fd = -1;
		ld->active--;
		ld->backoff_until = 0; /* after EMFILE: a descriptor is free again */
	}
	c->state = C_FREE;
	list_add_tail(&ld->free, c);
}

static void finish(struct load *ld, struct conn *c, enum kind kind)
{
	record(ld, c, kind);
	conn_close(ld, c);
}

/* A client that goes away mid-conversation (a closed tab, a killed app): a zero linger makes
 * close() send a RST instead of a FIN, and the server never sees the connection end cleanly. */
static void conn_abort(struct load *ld, struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (!setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		ld->rst_closed++;
	conn_close(ld, c);
}

static enum kind connect_error_kind(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case EPERM: /* a local firewall rejected it */
	case EACCES:
		return K_REFUSED;
	case EADDRNOTAVAIL: /* no free port for this source and target */
	case EADDRINUSE:
	case EAGAIN:
	case ENOBUFS:
	case ENOMEM:
		return K_LOCAL;
	default:
		/* ETIMEDOUT, and no answer at all: EHOSTUNREACH after failed neighbour resolution,
		 * ENETUNREACH */
		return K_CTIMEOUT;
	}
}

static void parser_reset(struct conn *c)
{
	c->resp_bytes = c->remain = 0;
	c->hdr_bytes = c->chunk_digits = c->trailer_len = c->status = 0;
	c->body = B_NONE;
	c->chunk = CH_SIZE;
	c->got_status = c->hdr_done = c->complete = false;
	c->has_len = c->chunked = c->srv_close = false;
	c->line_over = c->first_done = false;
	c->line_len = c->first_len = 0;
}

static void body_data(struct conn *c, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !c->first_done; i++) {
		if (p[i] == '\n' || c->first_len >= sizeof(c->first) - 1)
			c->first_done = true;
		else
			c->first[c->first_len++] = p[i];
	}
}

static int hdr_end(struct conn *c)
{
	/* 1xx (100 Continue) is an interim response; the real one follows on the same stream */
	if (c->status >= 100 && c->status < 200) {
		c->got_status = c->has_len = c->chunked = c->srv_close = false;
		return 0;
	}
	c->hdr_done = true;
	if (c->status == 204 || c->status == 304)
		c->body = B_NONE;
	else if (c->chunked)
		c->body = B_CHUNKED; /* wins over Content-Length (RFC 9112 6.3) */
	else if (c->has_len)
		c->body = c->remain ? B_LENGTH : B_NONE;
	else
		c->body = B_EOF;
	c->complete = c->body == B_NONE;
	return 0;
}

static bool hdr_is(const char *line, size_t namelen, const char *name)
{
	return namelen == strlen(name) && !strncasecmp(line, name, namelen);
}

static int hdr_line(struct conn *c)
{
	char *line = c->line, *v, *e;
	size_t namelen;

	if (!c->got_status) {
		/* "HTTP/1.x NNN reason" */
		if (c->line_over || strncmp(line, "HTTP/1.", 7) || line[7] < '0' || line[7] > '9' ||
		    line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' ||
		    line[10] > '9' || line[11] < '0' || line[11] > '9' ||
		    (line[12] && line[12] != ' '))
			return -EBADMSG;
		c->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
		c->got_status = true;
		return 0;
	}
	if (!c->line_len)
		return hdr_end(c);
	if (c->line_over)
		return 0; /* a long header none of the ones below */
	v = strchr(line, ':');
	if (!v || v == line)
		return -EBADMSG;
	namelen = v - line;
	for (v++; *v == ' ' || *v == '\t'; v++)
		;
	if (hdr_is(line, namelen, "content-length")) {
		unsigned long long len;

		errno = 0;
		len = strtoull(v, &e, 10);
		while (*e == ' ' || *e == '\t')
			e++;
		if (errno || e == v || *v < '0' || *v > '9' || *e ||
		    (c->has_len && c->remain != len))
			return -EBADMSG;
		c->has_len = true;
		c->remain = len;
	} else if (hdr_is(line, namelen, "transfer-encoding")) {
		c->chunked = strcasestr(v, "chunked") != NULL;
	} else if (hdr_is(line, namelen, "connection")) {
		c->srv_close = strcasestr(v, "close") != NULL;
	}
	return 0;
}

static int hdr_byte(struct conn *c, char ch)
{
	int err;

	if (++c->hdr_bytes > HDR_MAX)
		return -EBADMSG;
	if (ch != '\n') {
		if (c->line_len < sizeof(c->line) - 1)
			c->line[c->line_len++] = ch;
		else
			c->line_over = true;
		return 0;
	}
	if (c->line_len && c->line[c->line_len - 1] == '\r')
		c->line_len--;
	c->line[c->line_len] = '\0';
	err = hdr_line(c);
	c->line_len = 0;
	c->line_over = false;
	return err;
}

static int chunk_size_done(struct conn *c)
{
	c->chunk = c->remain ? CH_DATA : CH_TRAILER;
	c->trailer_len = 0;
	return 0;
}

/* Chunked framing outside the data itself: "HEX[;ext]\r\n" DATA "\r\n" ... "0\r\n" trailers
 * "\r\n". */
static int chunk_byte(struct conn *c, char ch)
{
	int hex = -1;

	switch (c->chunk) {
	case CH_SIZE:
		if (ch >= '0' && ch <= '9')
			hex = ch - '0';
		else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
			hex = (ch | 0x20) - 'a' + 10;
		if (hex >= 0) {
			if (c->remain >> 56)
				return -EBADMSG;
			c->remain = c->remain * 16 + hex;
			c->chunk_digits++;
			return 0;
		}
		if (!c->chunk_digits)
			return -EBADMSG;
		if (ch == '\n')
			return chunk_size_done(c);
		c->chunk = CH_EXT; /* ";ext" or the CR */
		return 0;
	case CH_EXT:
		return ch == '\n' ? chunk_size_done(c) : 0;
	case CH_DATA_END:
		if (ch == '\r')
			return 0;
		if (ch != '\n')
			return -EBADMSG;
		c->chunk = CH_SIZE;
		c->chunk_digits = 0;
		return 0;
	case CH_TRAILER:
		if (ch == '\n') {
			if (!c->trailer_len)
				c->complete = true;
			c->trailer_len = 0;
		} else if (ch != '\r') {
			c->trailer_len++;
		}
		return 0;
	case CH_DATA:
		break;
	}
	return -EBADMSG;
}

/* Feeds received bytes to the parser. Returns how many it used (it stops at the end of the
 * response), or -EBADMSG. */
static ssize_t parse(struct conn *c, const char *p, size_t n)
{
	size_t i = 0, take;

	c->resp_bytes += n;
	while (i < n && !c->complete) {
		if (!c->hdr_done) {
			if (hdr_byte(c, p[i++]))
				return -EBADMSG;
			continue;
		}
		if (c->body == B_EOF) {
			body_data(c, p + i, n - i);
			i = n;
		} else if (c->body == B_LENGTH || (c->body == B_CHUNKED && c->chunk == CH_DATA)) {
			take = c->remain < n - i ? c->remain : n - i;
			body_data(c, p + i, take);
			i += take;
			c->remain -= take;
			if (!c->remain) {
				if (c->body == B_LENGTH)
					c->complete = true;
				else
					c->chunk = CH_DATA_END;
			}
		} else if (chunk_byte(c, p[i++])) {
			return -EBADMSG;
		}
	}
	return i;
}

/* Whether the connection's current request asks the server to close: every one without -k; with
 * -P, a session's last, unless the session aborts (an aborting client had meant to go on). */
static bool req_closes(const struct load *ld, const struct conn *c)
{
	if (ld->poisson)
		return c->left == 1 && !c->rst;
	return !ld->keepalive;
}

/* Sends the rest of the request; the socket is then waited on for the response. */
static void conn_send(struct load *ld, struct conn *c)
{
	bool closes = req_closes(ld, c);
	ssize_t n;

	while (c->sent < ld->req_len[closes]) {
		n = send(c->fd, ld->req[closes] + c->sent, ld->req_len[closes] - c->sent,
			 MSG_NOSIGNAL);
		if (n >= 0) {
			c->sent += n;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return; /* EPOLLOUT comes back: it is edge-triggered */
		if (errno == EINTR)
			continue;
		finish(ld, c, errno == ECONNREFUSED ? K_REFUSED : K_RESET);
		return;
	}
	c->state = C_READING;
}

/* The next request of a keep-alive connection, on the same socket. */
static void req_begin(struct load *ld, struct conn *c, uint64_t now)
{
	list_del(c);
	parser_reset(c);
	c->sent = 0;
	c->t_req = now;
	c->deadline = now + ld->timeout_ns;
	c->state = C_SENDING;
	list_add_tail(&ld->flight, c); /* one timeout for all: the tail has the latest deadline */
	conn_send(ld, c);
}

static bool take_token(struct load *ld, uint64_t now)
{
	if (!ld->rate)
		return true;
	ld->tokens += (now - ld->t_tokens) * ld->rate / NSEC_PER_SEC;
	if (ld->tokens > ld->burst)
		ld->tokens = ld->burst;
	ld->t_tokens = now;
	if (ld->tokens < 1)
		return false;
	ld->tokens -= 1;
	return true;
}

/* A keep-alive response is complete: log it, then go on with the next request or wait for a
 * token. The server's "Connection: close" ends the connection. */
static void ka_done(struct load *ld, struct conn *c)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	record(ld, c, K_OK);
	if (c->srv_close) {
		c->state = C_CLOSING;
		return;
	}
	if (ld->stopping) {
		conn_close(ld, c);
		return;
	}
	if (take_token(ld, now)) {
		req_begin(ld, c, now);
		return;
	}
	list_del(c);
	c->state = C_IDLE;
	list_add_tail(&ld->idle, c);
}

/* A -P session's response is complete: log it, then think and ask again, or end the session:
 * with a RST if it aborts, else by awaiting the close it asked for. The end of the run, or the
 * server's "Connection: close", cuts a session short. */
static void session_done(struct load *ld, struct conn *c)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	record(ld, c, K_OK);
	if (--c->left && !c->srv_close && !ld->stopping) {
		if (!ld->think_ns) {
			req_begin(ld, c, now);
			return;
		}
		list_del(c);
		c->state = C_THINK;
		c->wake = now + rng_exp(&c->rng, ld->think_ns);
		think_add(ld, c);
	} else if (c->rst) {
		conn_abort(ld, c);
	} else if (c->srv_close) {
		c->state = C_CLOSING;
	} else {
		conn_close(ld, c);
	}
}

/* The server closed (or reset) the connection before the response was complete. */
static void conn_end(struct load *ld, struct conn *c, int err)
{
	if (c->hdr_done && c->body == B_EOF && !err)
		finish(ld, c, K_OK); /* the close ends the body; logs ok or status-NNN */
	else if (err || !c->resp_bytes)
		finish(ld, c, K_RESET); /* also a close without any answer */
	else
		finish(ld, c, K_BAD); /* truncated */
}

static void conn_readable(struct load *ld, struct conn *c)
{
	ssize_t n, used;

	for (;;) {
		n = recv(c->fd, ld->rbuf, sizeof(ld->rbuf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (c->state == C_CLOSING && n > 0)
			continue; /* the response is logged: only its end matters */
		if (c->state == C_IDLE || c->state == C_THINK || c->state == C_CLOSING) {
			/* the server's close after a logged response, or of an idle keep-alive
			 * connection: no request is lost */
			conn_close(ld, c);
			return;
		}
		if (n <= 0) {
			conn_end(ld, c, n ? errno : 0);
			return;
		}
		used = parse(c, ld->rbuf, n);
		if (used < n) {
			/* a bad byte, or bytes after the end of the response */
			finish(ld, c, K_BAD);
			return;
		}
		if (c->complete && ld->poisson) {
			session_done(ld, c);
		} else if (c->complete && ld->keepalive) {
			ka_done(ld, c);
		} else if (c->complete) {
			/* logged now, so END_MS and the latency do not wait for the server's FIN */
			record(ld, c, K_OK);
			c->state = C_CLOSING;
		}
		if (c->state == C_FREE || c->state == C_IDLE || c->state == C_THINK)
			return;
	}
}

static void conn_connected(struct load *ld, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err) {
		if (connect_error_kind(err) == K_LOCAL)
			record_local(ld, c, "connect", err);
		else
			record(ld, c, connect_error_kind(err));
		conn_close(ld, c);
		return;
	}
	c->state = C_SENDING;
	conn_send(ld, c);
}

static void conn_event(struct load *ld, struct conn *c, uint32_t ev)
{
	switch (c->state) {
	case C_CONNECTING:
		/* edge-triggered: EPOLLOUT once the handshake is done, EPOLLERR if it failed */
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_connected(ld, c);
		break;
	case C_SENDING:
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_send(ld, c);
		break;
	case C_READING:
	case C_CLOSING:
	case C_IDLE:
	case C_THINK:
	case C_FREE:
		break;
	}
	if ((c->state == C_READING || c->state == C_CLOSING || c->state == C_IDLE ||
	     c->state == C_THINK) &&
	    (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_readable(ld, c);
}

/* Starts one request on a new connection in the free slot C, from the next source. Returns 0
 * when the slot was used (the request may have failed already), -EAGAIN when out of file
 * descriptors. */
static int conn_start(struct load *ld, struct conn *c, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
	int one = 1, fd, err, tries;

	fd = socket(ld->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			ld->backoffs++;
			ld->backoff_until = now + BACKOFF_NS;
			return -EAGAIN;
		}
		fprintf(stderr, "zdd-httpload: socket: %s\n", strerror(errno));
		return -errno;
	}
	list_del(c);
	parser_reset(c);
	c->fd = fd;
	c->sent = 0;
	c->t_req = now;
	c->deadline = now + ld->timeout_ns;
	c->state = C_CONNECTING;
	ld->active++;
	list_add_tail(&ld->flight, c);

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* The port is picked at connect(), per 4-tuple, instead of one exclusive port per bind():
	 * many short connections from one source do not run out of ports. */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	for (tries = 0;; tries++) {
		c->src = ld->next_src;
		ld->next_src = (ld->next_src + 1) % ld->nsrc;
		if (!bind(fd, (struct sockaddr *)&ld->srcs[c->src].sa, ld->srcs[c->src].len))
			break;
		err = errno;
		if (err != EADDRINUSE || tries + 1 >= (int)ld->nsrc) {
			record_local(ld, c, "bind", err);
			conn_close(ld, c);
			return 0;
		}
	}
	ev.data.ptr = c;
	if (epoll_ctl(ld->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		record_local(ld, c, "epoll_ctl", errno);
		conn_close(ld, c);
		return 0;
	}
	if (!connect(fd, (struct sockaddr *)&ld->dst, ld->dst_len)) {
		c->state = C_SENDING;
		conn_send(ld, c);
	} else if (errno != EINPROGRESS) {
		err = errno;
		if (connect_error_kind(err) == K_LOCAL)
			record_local(ld, c, "connect", err);
		else
			record(ld, c, connect_error_kind(err));
		conn_close(ld, c);
	}
	return 0;
}

/* -P: sessions whose think time is over send their next request. */
static void think_over(struct load *ld, uint64_t now)
{
	struct conn *c;

	while (ld->nthink && (c = ld->think[0])->wake <= now) {
		think_del(ld, c);
		req_begin(ld, c, now);
	}
}

/* -P: the arrivals due by now, each a new session on a new connection. Late ones (the loop was
 * busy) go at once: an open loop keeps its schedule whatever the answers. A batch at a time: a
 * rate this side cannot keep up with still stops on time (the summary's arrival rate then falls
 * short of -r). */
static int arrive(struct load *ld, uint64_t now)
{
	struct conn *c;
	unsigned int src, n;
	uint64_t rng;
	int err;

	for (n = 0; n < ARRIVALS && ld->t_arrival <= now; n++) {
		/* Two draws per arrival, sent or not, and the session's own stream after: a seed
		 * replays the same arrivals and sessions. */
		ld->t_arrival += rng_exp(&ld->rng, ld->gap_ns);
		rng = rng_next(&ld->rng);
		ld->arrivals++;
		src = rng_next(&rng) % ld->nsrc;
		c = ld->free.head;
		if (!c) {
			ld->over_cap++;
			not_sent(ld, src, "-c connections are open");
			continue;
		}
		if (now < ld->backoff_until) {
			not_sent(ld, src, "out of descriptors");
			continue;
		}
		c->rng = rng;
		c->left = rng_geometric(&c->rng, ld->session_reqs);
		c->rst = rng_unit(&c->rng) * 100 <= ld->rst_pct;
		ld->next_src = src;
		err = conn_start(ld, c, now);
		if (err == -EAGAIN)
			not_sent(ld, src, "out of descriptors");
		else if (err)
			return err;
	}
	return 0;
}

/* Keeps CONCURRENCY connections busy within the rate, or with -P, keeps the schedule. */
static int fill(struct load *ld, uint64_t now)
{
	int err;

	if (ld->stopping)
		return 0;
	if (ld->poisson) {
		think_over(ld, now);
		return arrive(ld, now);
	}
	/* Connections first: with -k and -r, idle connections asking again would otherwise take
	 * every token, and the load would never reach CONCURRENCY connections. */
	while (ld->free.head && now >= ld->backoff_until && take_token(ld, now)) {
		err = conn_start(ld, ld->free.head, now);
		if (err) {
			if (ld->rate)
				ld->tokens += 1; /* not spent */
			if (err != -EAGAIN)
				return err;
			break;
		}
	}
	while (ld->idle.head && take_token(ld, now))
		req_begin(ld, ld->idle.head, now);
	return 0;
}

/* Milliseconds until the next thing to do: a deadline, a token, the end, a log flush. */
static int wait_ms(const struct load *ld, uint64_t now)
{
	uint64_t wake = ld->t_flush + FLUSH_NS;

	if (!ld->stopping) {
		if (ld->t_begin + ld->duration_ns < wake)
			wake = ld->t_begin + ld->duration_ns;
		if (ld->free.head && ld->backoff_until > now && ld->backoff_until < wake)
			wake = ld->backoff_until;
		if (ld->poisson) {
			if (ld->t_arrival < wake)
				wake = ld->t_arrival;
			if (ld->nthink && ld->think[0]->wake < wake)
				wake = ld->think[0]->wake;
		} else if (ld->rate && (ld->free.head || ld->idle.head) && ld->tokens < 1) {
			uint64_t t = now + (uint64_t)((1 - ld->tokens) * NSEC_PER_SEC / ld->rate);

			if (t < wake)
				wake = t;
		}
	}
	if (ld->flight.head && ld->flight.head->deadline < wake)
		wake = ld->flight.head->deadline;
	if (wake <= now)
		return 0;
	/* round up: waking early only spins */
	return (wake - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
}

static void expire(struct load *ld, uint64_t now)
{
	struct conn *c;

	while ((c = ld->flight.head) && c->deadline <= now) {
		if (c->state == C_CLOSING) /* logged; only the server's close is late */
			conn_close(ld, c);
		else
			finish(ld, c, c->state == C_CONNECTING ? K_CTIMEOUT : K_TIMEOUT);
	}
}

static void stop(struct load *ld, uint64_t now)
{
	struct conn *c;

	ld->stopping = true;
	ld->t_stop = now;
	while (ld->idle.head)
		conn_close(ld, ld->idle.head);
	/* A session cut short ends as it would have: -x sessions still abort. */
	while (ld->nthink) {
		c = ld->think[0];
		if (c->rst)
			conn_abort(ld, c);
		else
			conn_close(ld, c);
	}
}

static int run(struct load *ld, const sigset_t *waitmask)
{
	struct epoll_event evs[EVENTS];
	uint64_t now;
	int i, n, err;

	ld->t_begin = ld->t_flush = ld->t_tokens = now_ns(CLOCK_MONOTONIC);
	if (ld->poisson)
		ld->t_arrival = ld->t_begin + rng_exp(&ld->rng, ld->gap_ns);
	for (;;) {
		now = now_ns(CLOCK_MONOTONIC);
		if (!ld->stopping && (got_signal || now >= ld->t_begin + ld->duration_ns))
			stop(ld, now);
		expire(ld, now);
		err = fill(ld, now);
		if (err)
			break;
		if (ld->stopping && !ld->active)
			return 0;
		if (ld->log && now >= ld->t_flush + FLUSH_NS) {
			fflush(ld->log);
			ld->t_flush = now;
		}
		n = epoll_pwait(ld->epfd, evs, EVENTS, wait_ms(ld, now), waitmask);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			fprintf(stderr, "zdd-httpload: epoll_wait: %s\n", strerror(errno));
			break;
		}
		/* No connection starts while a batch is handled: a freed slot is never reused
		 * under a stale event of the same batch. */
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->state != C_FREE)
				conn_event(ld, c, evs[i].events);
		}
	}
	/* A failure midway: the summary still covers what ran. */
	if (!ld->stopping)
		ld->t_stop = now;
	return err;
}

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int setup(struct load *ld, const char *host, const char *path)
{
	struct rlimit rl;
	unsigned int i;
	int closes;

	raise_nofile();
	/* A few descriptors stay for stdio, the log and epoll; more connections would only ever
	 * back off on EMFILE. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    ld->concurrency + 16 > rl.rlim_cur) {
		ld->concurrency = rl.rlim_cur > 32 ? rl.rlim_cur - 16 : 16;
		fprintf(stderr, "zdd-httpload: descriptor limit %llu: -c lowered to %u\n",
			(unsigned long long)rl.rlim_cur, ld->concurrency);
	}
	/* Formatted once, sent as they are; -P sessions use both. */
	for (closes = 0; closes < 2; closes++) {
		int n = asprintf(&ld->req[closes], "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path,
				 host, closes ? "Connection: close\r\n" : "");

		if (n < 0) {
			ld->req[closes] = NULL;
			break;
		}
		ld->req_len[closes] = n;
	}
	ld->conns = calloc(ld->concurrency, sizeof(*ld->conns));
	if (ld->poisson)
		ld->think = calloc(ld->concurrency, sizeof(*ld->think));
	if (!ld->req[0] || !ld->req[1] || !ld->conns || (ld->poisson && !ld->think)) {
		fprintf(stderr, "zdd-httpload: out of memory\n");
		return -ENOMEM;
	}
	for (i = 0; i < ld->concurrency; i++) {
		ld->conns[i].fd = -1;
		list_add_tail(&ld->free, &ld->conns[i]);
	}
	ld->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ld->epfd < 0) {
		fprintf(stderr, "zdd-httpload: epoll_create: %s\n", strerror(errno));
		return -errno;
	}
	/* 10 ms of burst: smooth, yet the ms resolution of epoll_wait never starves the rate */
	ld->burst = ld->rate / 100 > 1 ? ld->rate / 100 : 1;
	ld->tokens = 1;
	return 0;
}

static void summary(const struct load *ld)
{
	uint64_t total = 0;
	double secs = (ld->t_stop - ld->t_begin) / (double)NSEC_PER_SEC;
	int k;

	for (k = 0; k < K_NR; k++)
		total += ld->count[k];
	printf("requests %llu ok %llu failed %llu (refused %llu, connect-timeout %llu, reset %llu, "
	       "timeout %llu, status %llu, bad %llu, local %llu) rate %.1f/s p50 %.2f ms p99 "
	       "%.2f ms\n",
	       (unsigned long long)total, (unsigned long long)ld->count[K_OK],
	       (unsigned long long)(total - ld->count[K_OK]),
	       (unsigned long long)ld->count[K_REFUSED], (unsigned long long)ld->count[K_CTIMEOUT],
	       (unsigned long long)ld->count[K_RESET], (unsigned long long)ld->count[K_TIMEOUT],
	       (unsigned long long)ld->count[K_STATUS], (unsigned long long)ld->count[K_BAD],
	       (unsigned long long)ld->count[K_LOCAL], secs > 0 ? total / secs : 0.0,
	       hist_pct(ld, 50), hist_pct(ld, 99));
	if (ld->poisson)
		printf("arrivals %llu (%.1f/s) over-cap %llu rst-closed %llu seed %llu\n",
		       (unsigned long long)ld->arrivals, secs > 0 ? ld->arrivals / secs : 0.0,
		       (unsigned long long)ld->over_cap, (unsigned long long)ld->rst_closed,
		       (unsigned long long)ld->seed);
	if (ld->backoffs)
		fprintf(stderr,
			"zdd-httpload: out of descriptors %llu times: backed off (ulimit -n, -c)\n",
			(unsigned long long)ld->backoffs);
}

/* -s and -S are read after every option: the sources take the target's address family. */
struct src_arg {
	bool file;
	char *arg;
};

int main(int argc, char **argv)
{
	struct load *ld = &load;
	char host[INET6_ADDRSTRLEN + 16], path[1024];
	const char *target = NULL, *logpath = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct src_arg *srcargs;
	sigset_t block, waitmask;
	int opt, i, nsrcargs = 0, rc = 0, session_opt = 0;
	bool seeded = false;
	char *e;
	double v;

	ld->concurrency = 32;
	ld->session_reqs = 1;
	ld->duration_ns = 10 * NSEC_PER_SEC;
	ld->timeout_ns = 2000 * NSEC_PER_MSEC;
	ld->epfd = -1;
	srcargs = calloc(argc, sizeof(*srcargs));
	if (!srcargs) {
		fprintf(stderr, "zdd-httpload: out of memory\n");
		return 1;
	}
	while ((opt = getopt(argc, argv, "u:s:S:c:d:t:r:o:kPn:T:x:R:h")) != -1) {
		switch (opt) {
		case 'u':
			target = optarg;
			break;
		case 's':
		case 'S':
			srcargs[nsrcargs].file = opt == 'S';
			srcargs[nsrcargs++].arg = optarg;
			break;
		case 'c':
			if (parse_num(optarg, 1, MAX_CONCURRENCY, &v) || v != (unsigned int)v)
				rc = usage_error("bad concurrency '%s'", optarg);
			ld->concurrency = v;
			break;
		case 'd':
			if (parse_num(optarg, 0.001, MAX_DURATION_S, &v))
				rc = usage_error("bad duration '%s' (seconds, <= 3600)", optarg);
			ld->duration_ns = v * NSEC_PER_SEC;
			break;
		case 't':
			if (parse_num(optarg, 1, MAX_TIMEOUT_MS, &v))
				rc = usage_error("bad timeout '%s' (milliseconds)", optarg);
			ld->timeout_ns = v * NSEC_PER_MSEC;
			break;
		case 'r':
			if (parse_num(optarg, 0.001, 1e9, &v))
				rc = usage_error("bad rate '%s' (requests per second)", optarg);
			ld->rate = v;
			break;
		case 'o':
			logpath = optarg;
			break;
		case 'k':
			ld->keepalive = true;
			break;
		case 'P':
			ld->poisson = true;
			break;
		case 'n':
			if (parse_num(optarg, 1, MAX_SESSION, &v))
				rc = usage_error("bad requests per session '%s' (mean, 1 to %d)",
						 optarg, MAX_SESSION);
			ld->session_reqs = v;
			session_opt = opt;
			break;
		case 'T':
			if (parse_num(optarg, 0, MAX_TIMEOUT_MS, &v))
				rc = usage_error("bad think time '%s' (mean milliseconds)", optarg);
			ld->think_ns = v * NSEC_PER_MSEC;
			session_opt = opt;
			break;
		case 'x':
			if (parse_num(optarg, 0, 100, &v))
				rc = usage_error("bad RST share '%s' (percent, 0 to 100)", optarg);
			ld->rst_pct = v;
			session_opt = opt;
			break;
		case 'R':
			errno = 0;
			ld->seed = strtoull(optarg, &e, 10);
			if (errno || e == optarg || *e || optarg[0] == '-')
				rc = usage_error("bad seed '%s' (a number, 0 to 2^64-1)", optarg);
			seeded = true;
			session_opt = opt;
			break;
		case 'h':
			usage(stdout);
			goto out;
		default:
			usage(stderr);
			rc = EXIT_USAGE;
			break;
		}
		if (rc)
			goto out;
	}
	if (optind < argc)
		rc = usage_error("unexpected argument '%s'", argv[optind]);
	else if (session_opt && !ld->poisson)
		rc = usage_error("-%c goes with -P", session_opt);
	else if (ld->poisson && !ld->rate)
		rc = usage_error("-P needs the mean arrival rate (-r)");
	else if (ld->poisson && ld->keepalive)
		rc = usage_error("-P and -k exclude each other (-P sessions: -n)");
	else if (!target)
		rc = usage_error("a target is needed (-u)");
	else if (parse_target(ld, target, host, sizeof(host), path, sizeof(path)))
		rc = usage_error("bad target '%s'", target);
	for (i = 0; !rc && i < nsrcargs; i++)
		if (srcargs[i].file)
			rc = add_source_file(ld, srcargs[i].arg);
		else
			rc = add_source_list(ld, srcargs[i].arg);
	if (!rc && !ld->nsrc)
		rc = usage_error("source addresses are needed (-s or -S)");
	if (rc)
		goto out;
	if (ld->poisson) {
		if (!seeded)
			ld->seed = now_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
		ld->rng = ld->seed;
		ld->gap_ns = NSEC_PER_SEC / ld->rate;
	}

	if (logpath) {
		ld->log = fopen(logpath, "w");
		ld->logbuf = malloc(1 << 20);
		if (!ld->log || !ld->logbuf) {
			fprintf(stderr, "zdd-httpload: %s: %s\n", logpath, strerror(errno));
			rc = 1;
			goto out;
		}
		/* thousands of lines a second: written in 1 MiB blocks, and flushed every second */
		setvbuf(ld->log, ld->logbuf, _IOFBF, 1 << 20);
	}
	if (setup(ld, host, path)) {
		rc = 1;
		goto out;
	}
	/* SIGINT/SIGTERM end the load like -d does; they are only let in while waiting, so a
	 * signal never falls between the check and epoll_pwait(). */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (run(ld, &waitmask))
		rc = 1;
	summary(ld);
out:
	free(srcargs);
	if (ld->log && fclose(ld->log)) {
		fprintf(stderr, "zdd-httpload: %s: %s\n", logpath, strerror(errno));
		rc = 1;
	}
	free(ld->logbuf);
	if (ld->epfd >= 0)
		close(ld->epfd);
	free(ld->conns);
	free(ld->think);
	free(ld->req[0]);
	free(ld->req[1]);
	free(ld->srcs);
	return rc;
}
