/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/curlm.h - libcurl's multi interface on an epoll fd of its own, for the agent's
 * loop: curl's sockets enter the set through CURLMOPT_SOCKETFUNCTION, its one timer is kept
 * through CURLMOPT_TIMERFUNCTION, and zdd_curlm_drive() never blocks. The engines that talk
 * HTTP (etcd.c) embed one; each reads its finished transfers with curl_multi_info_read(). */
#ifndef ZDD_CURLM_H
#define ZDD_CURLM_H

#include <curl/curl.h>
#include <linux/types.h>

struct zdd_curlm {
	int epfd;
	CURLM *multi;
	__u64 timer_ms; /* CLOCK_MONOTONIC: when libcurl wants its timeout action */
	int global;	/* curl_global_init() done, to be undone */
};

/* CLOCK_MONOTONIC in milliseconds: the clock of every now_ms of the agent's engines. */
__u64 zdd_mono_ms(void);

/* 0, or -errno (logged, with what as the engine's name). m is zeroed first. */
int zdd_curlm_init(struct zdd_curlm *m, const char *what);
/* Closes curl's cached connections, then the epoll fd. Safe after a failed init, and twice. */
void zdd_curlm_fini(struct zdd_curlm *m);
/* Milliseconds until libcurl's timer is due (0: now), -1 when it has none. */
int zdd_curlm_timeout_ms(const struct zdd_curlm *m, __u64 now_ms);
/*
 * Hands libcurl the socket events that are ready and its timer if due; never waits. 0, or
 * -errno when epoll_wait fails. Must not be called from inside a libcurl callback.
 */
int zdd_curlm_drive(struct zdd_curlm *m, __u64 now_ms);
/*
 * What every transfer of the agent sets: close-on-exec sockets (a hook the agent spawns must
 * not inherit a connection), no signals, no proxy from the environment. Nonzero on failure.
 */
int zdd_curlm_easy_defaults(CURL *easy);

#endif /* ZDD_CURLM_H */
