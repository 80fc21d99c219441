/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tests/unit/servers.h - what the tests of the agent's network engines share: the clock, fd
 * counts, loopback sockets, the servers they run as child processes, and a case's life (no fd
 * left open at its end, a watchdog for the case that blocks). Failures are returned (-errno,
 * false) for the caller to assert, as world_up() runs outside any case; only case_finish()
 * asserts. */
#ifndef ZDD_TEST_SERVERS_H
#define ZDD_TEST_SERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

/* CLOCK_MONOTONIC. */
long now_us(void);
long now_ms(void);
void nap_ms(long ms);

/* The fds the process has open (a case ends with as many as it began with), or -errno. */
int count_fds(void);

/*
 * A non-blocking TCP socket on an ephemeral port of 127.0.0.1 or ::1 (family AF_INET or
 * AF_INET6); listening when backlog >= 0, else only bound (connecting to it is refused, and
 * holding it keeps the port from being reused). The fd, or -errno.
 */
int tcp_socket(int family, int backlog, __u16 *port);
/* The same on addr (NULL: loopback; -EINVAL when it is no address of family) and on *port
 * unless it is 0. */
int tcp_socket_at(int family, const char *addr, int backlog, __u16 *port);
/* A port of 127.0.0.1 free now, released for a server to take: a race nobody else runs. 0 when
 * there is none. */
__u16 free_port(void);
/* A TCP connection to 127.0.0.1:port; nonblock: maybe still in progress. The fd, or -errno. */
int connect_lo(__u16 port, bool nonblock);
/*
 * A port of 127.0.0.1 that drops SYNs, so a connect to it hangs: a listener of backlog 0, never
 * accepted, its queue filled. The listener and the connections that filled it are put in fds,
 * for the caller to close: their number is returned, 0 when this kernel completes connections
 * past the backlog (nothing is left open: the caller skips), or -errno.
 */
#define SYN_SINK_FDS 9 /* the listener and up to 8 connections */
int syn_sink(int fds[SYN_SINK_FDS], __u16 *port);
/*
 * A blocking HTTP/1.0 exchange with 127.0.0.1:port (body may be NULL), a second at most per
 * read: the answer, headers and all, NUL-terminated in out. 0 when its status is 200, -EPROTO
 * when it is another, or -errno.
 */
int http_ask(__u16 port, const char *method, const char *path, const char *body, char *out,
	     size_t len);
/* GET path answers 200 within max_ms, with want in its answer unless want is NULL. */
bool http_ready(__u16 port, const char *path, const char *want, long max_ms);

/* prog is an executable in PATH. */
bool in_path(const char *prog);
/* argv[0] (from PATH) in a child that dies with the test (PDEATHSIG), its stdout and stderr
 * appended to log. The pid, or -errno. */
pid_t spawn(const char *log, const char *const argv[]);
/* SIGTERM, then SIGKILL after 5 s; reaped, and *pid is -1. Nothing when *pid <= 0. */
void stop_child(pid_t *pid);
/* rm -r dir. 0, or -errno. */
int rm_tree(const char *dir);

/*
 * A case's life. setup: f = case_begin(state, sizeof(*f), release, ...), a zeroed fixture in
 * *state (NULL when out of memory), the fds open counted, and a watchdog that ends the test,
 * failed ("a case blocked, <what> must not"), when the case lasts watchdog_s seconds. It ends
 * with case_finish(f): release(f), then not one fd more than at its start. case_teardown, the
 * cases' teardown, releases and frees on every exit path, a failed assert's too: release must
 * be safe twice.
 */
void *case_begin(void **state, size_t size, void (*release)(void *f), unsigned int watchdog_s,
		 const char *what);
void case_finish(void *f);
int case_teardown(void **state);

#endif /* ZDD_TEST_SERVERS_H */
