// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/hooks.c - see hooks.h. posix_spawn, not system(): no shell parses the
 * operator's arguments, and the agent keeps serving while the hook runs. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include "hooks.h"

#define KILL_NAP_MS 10 /* zdd_hook_kill() looks again for the end of the hook this often */

extern char **environ;

/* "NAME=value" with a name. */
static bool env_valid(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq && eq != kv;
}

/* kv's name is the one of "NAME=value" def. */
static bool env_same_name(const char *kv, const char *def)
{
	size_t n = strcspn(def, "=") + 1;

	return !strncmp(kv, def, n);
}

static bool env_overridden(const char *kv, char *const extra[])
{
	size_t i;

	for (i = 0; extra && extra[i]; i++)
		if (env_same_name(kv, extra[i]))
			return true;
	return false;
}

/* The agent's environment with extra appended. A name in both is left out of the agent's part:
 * with two definitions, which one the hook saw would be up to its libc. The strings are
 * borrowed; only the array is allocated. */
static char **env_merge(char *const extra[])
{
	size_t n = 0, i;
	char **env;

	for (i = 0; environ && environ[i]; i++)
		n++;
	for (i = 0; extra && extra[i]; i++)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	n = 0;
	for (i = 0; environ && environ[i]; i++)
		if (!env_overridden(environ[i], extra))
			env[n++] = environ[i];
	for (i = 0; extra && extra[i]; i++)
		env[n++] = extra[i];
	return env;
}

/*
 * The agent blocks SIGTERM, SIGINT, SIGHUP and SIGPIPE in every thread (they reach it through a
 * signalfd), and a child inherits its mask and ignored signals through exec: `timeout` or `kill`
 * in a hook would do nothing. The hook starts with every signal unblocked and at its default
 * action, in a process group of its own, so its timeout reaches whatever it started too.
 */
static int spawn(struct zdd_hook *h, char *const argv[], char *const env[])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int err;

	sigemptyset(&none);
	sigfillset(&all);
	err = posix_spawn_file_actions_init(&fa);
	if (err)
		return -err;
	err = posix_spawnattr_init(&attr);
	if (err)
		goto out_fa;
	/* The hook gets no stdin: it must not wait for a terminal the agent does not have. */
	err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ?:
	      posix_spawnattr_setsigmask(&attr, &none) ?:
	      posix_spawnattr_setsigdefault(&attr, &all) ?:
	      posix_spawnattr_setpgroup(&attr, 0) ?:
	      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						      POSIX_SPAWN_SETPGROUP);
	if (!err)
		err = posix_spawn(&h->pid, argv[0], &fa, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
out_fa:
	posix_spawn_file_actions_destroy(&fa);
	return -err; /* posix_spawn*() return the error number itself */
}

int zdd_hook_start_env(struct zdd_hook *h, char *const argv[], char *const extra_env[],
		       __u32 timeout_ms, __u64 now_ms)
{
	char **env;
	size_t i;
	int err = 0;

	memset(h, 0, sizeof(*h));
	if (!argv || !argv[0]) {
		h->status = ZDD_HOOK_OK;
		return 0;
	}
	h->status = ZDD_HOOK_FAILED;
	snprintf(h->cmd, sizeof(h->cmd), "%s", argv[0]);
	for (i = 0; extra_env && extra_env[i] && !err; i++)
		if (!env_valid(extra_env[i]))
			err = -EINVAL;
	env = err ? NULL : env_merge(extra_env);
	if (!err && !env)
		err = -ENOMEM;
	if (!err)
		err = spawn(h, argv, env);
	free(env);
	if (err) {
		snprintf(h->what, sizeof(h->what), "%s: %s", argv[0], strerror(-err));
		return err;
	}
	h->timeout_ms = timeout_ms;
	h->deadline_ms = now_ms + timeout_ms;
	h->status = ZDD_HOOK_RUNNING;
	return 0;
}

int zdd_hook_start(struct zdd_hook *h, char *const argv[], __u32 timeout_ms, __u64 now_ms)
{
	return zdd_hook_start_env(h, argv, NULL, timeout_ms, now_ms);
}

/* To the group, and to the main process itself in case it left the group: whatever the hook
 * did, SIGKILL reaches the process that reap() waits for. */
static void signal_hook(const struct zdd_hook *h, int sig)
{
	kill(-h->pid, sig);
	kill(h->pid, sig);
}

/* 1: the hook's main process has exited and is left a zombie (WNOWAIT), so its pid, the id of
 * its group, cannot be reused until reap(); 0: it runs; -errno: it is not our child. */
static int exited(pid_t pid)
{
	siginfo_t si = {};

	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT))
		return -errno;
	return si.si_pid == pid;
}

/* Collects the hook: its main process has exited, or why is set and the whole group is killed
 * here first (children that would outlive their parent included). why: how the agent ended it. */
static void reap(struct zdd_hook *h, const char *why)
{
	pid_t r;
	int st;

	if (why)
		signal_hook(h, SIGKILL);
	h->status = ZDD_HOOK_FAILED;
	while ((r = waitpid(h->pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (r != h->pid)
		snprintf(h->what, sizeof(h->what), "%s: %s", h->cmd, strerror(errno));
	else if (why)
		snprintf(h->what, sizeof(h->what), "%s %s", h->cmd, why);
	else if (WIFEXITED(st) && !WEXITSTATUS(st))
		h->status = ZDD_HOOK_OK;
	else if (WIFEXITED(st))
		snprintf(h->what, sizeof(h->what), "%s exited with %d", h->cmd, WEXITSTATUS(st));
	else
		snprintf(h->what, sizeof(h->what), "%s killed by signal %d", h->cmd, WTERMSIG(st));
}

static void reap_timed_out(struct zdd_hook *h)
{
	char why[48];

	snprintf(why, sizeof(why), "timed out after %u ms", h->timeout_ms);
	reap(h, why);
}

enum zdd_hook_status zdd_hook_poll(struct zdd_hook *h, __u64 now_ms)
{
	int r;

	if (h->status != ZDD_HOOK_RUNNING)
		return h->status;
	r = exited(h->pid);
	if (r < 0) {
		h->status = ZDD_HOOK_FAILED;
		snprintf(h->what, sizeof(h->what), "%s: %s", h->cmd, strerror(-r));
	} else if (r) {
		if (h->timed_out)
			reap_timed_out(h);
		else
			reap(h, NULL);
	} else if (!h->timed_out && now_ms >= h->deadline_ms) {
		/* A chance to clean up; the loop goes on meanwhile. */
		signal_hook(h, SIGTERM);
		h->timed_out = true;
		h->kill_ms = now_ms + ZDD_HOOK_GRACE_MS;
	} else if (h->timed_out && now_ms >= h->kill_ms) {
		reap_timed_out(h); /* SIGKILL: reaped at once */
	}
	return h->status;
}

void zdd_hook_kill(struct zdd_hook *h)
{
	const struct timespec nap = { .tv_nsec = KILL_NAP_MS * 1000000 };
	int r, i;

	if (h->status != ZDD_HOOK_RUNNING)
		return;
	signal_hook(h, SIGTERM);
	/* Bounded by the grace (and the naps' slack): the caller is the agent's loop. Then
	 * SIGKILL, which no process ignores. */
	for (i = 0; !(r = exited(h->pid)) && i < ZDD_HOOK_GRACE_MS / KILL_NAP_MS; i++)
		nanosleep(&nap, NULL);
	if (r < 0) {
		h->status = ZDD_HOOK_FAILED;
		snprintf(h->what, sizeof(h->what), "%s: %s", h->cmd, strerror(-r));
		return;
	}
	reap(h, "stopped by the agent");
}
