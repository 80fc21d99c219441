// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/servers.c - see servers.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "servers.h"

#define STOP_GRACE_MS 5000 /* a server's own shutdown, before SIGKILL */

long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

long now_ms(void)
{
	return now_us() / 1000;
}

void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -errno;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int tcp_socket_at(int family, const char *addr, int backlog, __u16 *port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT,
				   .sin6_port = htons(*port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(*port) };
	struct sockaddr *a = family == AF_INET ? (struct sockaddr *)&a4 : (struct sockaddr *)&a6;
	socklen_t len = family == AF_INET ? sizeof(a4) : sizeof(a6);
	int fd, err;

	if (addr &&
	    inet_pton(family, addr,
		      family == AF_INET ? (void *)&a4.sin_addr : (void *)&a6.sin6_addr) != 1)
		return -EINVAL;
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The port bound is read back into the same address. */
	if (bind(fd, a, len) || (backlog >= 0 && listen(fd, backlog)) || getsockname(fd, a, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(family == AF_INET ? a4.sin_port : a6.sin6_port);
	return fd;
}

int tcp_socket(int family, int backlog, __u16 *port)
{
	*port = 0;
	return tcp_socket_at(family, NULL, backlog, port);
}

__u16 free_port(void)
{
	__u16 port = 0;
	int fd = tcp_socket(AF_INET, -1, &port);

	if (fd < 0)
		return 0;
	close(fd);
	return port;
}

int connect_lo(__u16 port, bool nonblock)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	int err;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int syn_sink(int fds[SYN_SINK_FDS], __u16 *port)
{
	struct pollfd p = { .events = POLLOUT };
	int n = 0, fd, err = 0;

	fd = tcp_socket(AF_INET, 0, port);
	if (fd < 0)
		return fd;
	fds[n++] = fd;
	while (n < SYN_SINK_FDS) {
		fd = connect_lo(*port, true);
		if (fd < 0) {
			err = fd;
			break;
		}
		fds[n++] = fd;
		p.fd = fd;
		/* Not connected in 100 ms: its SYN was dropped, and so are the next ones. */
		if (poll(&p, 1, 100) == 0)
			return n;
	}
	while (n)
		close(fds[--n]);
	return err;
}

int http_ask(__u16 port, const char *method, const char *path, const char *body, char *out,
	     size_t len)
{
	struct timeval tv = { 1, 0 };
	size_t got = 0;
	char req[512];
	ssize_t n;
	int fd, rlen;

	out[0] = '\0';
	rlen = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s", method,
			path, body ? strlen(body) : 0, body ?: "");
	if (rlen < 0 || (size_t)rlen >= sizeof(req))
		return -EMSGSIZE;
	fd = connect_lo(port, false);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, req, (size_t)rlen, MSG_NOSIGNAL) != rlen) {
		close(fd);
		return -EIO;
	}
	/* HTTP/1.0: the server closes the connection after its answer. */
	while (got + 1 < len && (n = recv(fd, out + got, len - 1 - got, 0)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd);
	return strncmp(out, "HTTP/1.", 7) || strncmp(out + 8, " 200", 4) ? -EPROTO : 0;
}

bool http_ready(__u16 port, const char *path, const char *want, long max_ms)
{
	long start = now_ms();
	char buf[1024];

	while (now_ms() - start < max_ms) {
		if (!http_ask(port, "GET", path, NULL, buf, sizeof(buf)) &&
		    (!want || strstr(buf, want)))
			return true;
		nap_ms(20);
	}
	return false;
}

bool in_path(const char *prog)
{
	const char *path = getenv("PATH") ?: "/usr/bin:/bin";
	char buf[512];
	size_t n;

	while (*path) {
		n = strcspn(path, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (!access(buf, X_OK))
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

pid_t spawn(const char *log, const char *const argv[])
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid)
		return pid;
	/* Dies with the test, whatever ends it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Appended: a server restarted by a case keeps its earlier log. */
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
		_exit(127);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

void stop_child(pid_t *pid)
{
	long start = now_ms();

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	while (!waitpid(*pid, NULL, WNOHANG)) {
		if (now_ms() - start >= STOP_GRACE_MS) {
			kill(*pid, SIGKILL);
			waitpid(*pid, NULL, 0);
			break;
		}
		nap_ms(10);
	}
	*pid = -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path); /* -1 with errno: nftw stops and returns it */
}

int rm_tree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) ? -errno : 0;
}

static struct {
	void (*release)(void *f);
	int fds;
	char watchdog_msg[160];
	size_t watchdog_len;
} cur;

static void watchdog(int sig)
{
	(void)sig;
	/* Only async-signal-safe calls: the message was written by case_begin(). */
	(void)!write(STDOUT_FILENO, cur.watchdog_msg, cur.watchdog_len);
	_exit(1);
}

void *case_begin(void **state, size_t size, void (*release)(void *f), unsigned int watchdog_s,
		 const char *what)
{
	*state = calloc(1, size);
	if (!*state)
		return NULL;
	cur.release = release;
	cur.fds = count_fds();
	snprintf(cur.watchdog_msg, sizeof(cur.watchdog_msg),
		 "not ok - watchdog: a case blocked, %s must not\n", what);
	cur.watchdog_len = strlen(cur.watchdog_msg);
	signal(SIGALRM, watchdog);
	alarm(watchdog_s);
	return *state;
}

void case_finish(void *f)
{
	int n;

	cur.release(f);
	n = count_fds();
	if (n != cur.fds)
		fail_msg("%d fds open at the end of the case, %d at its start", n, cur.fds);
}

int case_teardown(void **state)
{
	alarm(0);
	if (*state)
		cur.release(*state);
	free(*state);
	*state = NULL;
	return 0;
}
