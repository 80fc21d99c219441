// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/curlm.c - see curlm.h. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "log.h"
#include "curlm.h"

#define BATCH	 64 /* socket events per drive; the rest keep the fd readable */
#define NO_TIMER UINT64_MAX

__u64 zdd_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct zdd_curlm *m = arg;
	struct epoll_event ev = { .data.fd = s };

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* Explicitly: a child between fork and exec may still hold a copy of s. */
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (epoll_ctl(m->epfd, sockp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev))
		return -1; /* libcurl fails the transfer, which reports it */
	/* Any non-NULL pointer: libcurl hands it back as sockp while s is in the set. */
	if (!sockp)
		curl_multi_assign(m->multi, s, m);
	return 0;
}

static int on_timer(CURLM *multi, long ms, void *arg)
{
	struct zdd_curlm *m = arg;

	(void)multi;
	/* libcurl rounds its delay down: a ms more, or its timer is not due yet when we act. */
	m->timer_ms = ms < 0 ? NO_TIMER : zdd_mono_ms() + (__u64)ms + (ms > 0);
	return 0;
}

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)arg;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int zdd_curlm_init(struct zdd_curlm *m, const char *what)
{
	int err;

	memset(m, 0, sizeof(*m));
	m->timer_ms = NO_TIMER;
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0)
		return log_err(-errno, "%s: epoll_create1", what);
	/* Reference counted by libcurl: each engine takes one and gives it back. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		err = log_err(-ENOMEM, "%s: curl_global_init", what);
		goto fail;
	}
	m->global = 1;
	m->multi = curl_multi_init();
	if (!m->multi || curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket) ||
	    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m) ||
	    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer) ||
	    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m)) {
		err = log_err(-ENOMEM, "%s: curl_multi_init", what);
		goto fail;
	}
	return 0;
fail:
	zdd_curlm_fini(m);
	return err;
}

void zdd_curlm_fini(struct zdd_curlm *m)
{
	/* Before the epoll fd: closing cached connections calls on_socket(). */
	if (m->multi)
		curl_multi_cleanup(m->multi);
	m->multi = NULL;
	if (m->global)
		curl_global_cleanup();
	m->global = 0;
	if (m->epfd >= 0)
		close(m->epfd);
	m->epfd = -1;
}

int zdd_curlm_timeout_ms(const struct zdd_curlm *m, __u64 now_ms)
{
	if (m->timer_ms == NO_TIMER)
		return -1;
	if (m->timer_ms <= now_ms)
		return 0;
	return m->timer_ms - now_ms > INT_MAX ? INT_MAX : (int)(m->timer_ms - now_ms);
}

int zdd_curlm_drive(struct zdd_curlm *m, __u64 now_ms)
{
	struct epoll_event ev[BATCH];
	int i, n, running;
	long next;

	n = epoll_wait(m->epfd, ev, BATCH, 0);
	if (n < 0 && errno != EINTR)
		return -errno;
	/* libcurl's own errors end up in its transfers' results. */
	for (i = 0; i < n; i++)
		curl_multi_socket_action(
			m->multi, ev[i].data.fd,
			(ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
				(ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
				(ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0),
			&running);
	if (m->timer_ms != NO_TIMER && now_ms >= m->timer_ms) {
		curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		/*
		 * The timer is one-shot, and libcurl (7.88) does not always say when it wants none
		 * after: kept, the fired one would stay due and the loop spin. Asked instead.
		 */
		if (curl_multi_timeout(m->multi, &next) || next < 0)
			m->timer_ms = NO_TIMER;
		else
			m->timer_ms = zdd_mono_ms() + (__u64)next + (next > 0);
	}
	return 0;
}

int zdd_curlm_easy_defaults(CURL *easy)
{
	return curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket) ||
	       curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) ||
	       curl_easy_setopt(easy, CURLOPT_PROXY, "") ||
	       curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) ||
	       curl_easy_setopt(easy, CURLOPT_USERAGENT, "zdd-agent");
}
