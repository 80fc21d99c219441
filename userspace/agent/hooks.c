// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/hooks.c - see hooks.h. posix_spawn, not system(): no shell parses the
 * operator's arguments, and the agent keeps serving while the hook runs. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include "hooks.h"

extern char **environ;

int zdd_hook_start(struct zdd_hook *h, char *const argv[], __u32 timeout_ms, __u64 now_ms)
{
	posix_spawn_file_actions_t fa;
	int err;

	memset(h, 0, sizeof(*h));
	if (!argv || !argv[0]) {
		h->status = ZDD_HOOK_OK;
		return 0;
	}
	/* The hook gets no stdin: it must not wait for a terminal the agent does not have. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", 0, 0);
	err = posix_spawn(&h->pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		h->status = ZDD_HOOK_FAILED;
		snprintf(h->what, sizeof(h->what), "%s: %s", argv[0], strerror(err));
		return -err;
	}
	snprintf(h->cmd, sizeof(h->cmd), "%s", argv[0]);
	h->deadline_ms = now_ms + timeout_ms;
	h->status = ZDD_HOOK_RUNNING;
	return 0;
}

enum zdd_hook_status zdd_hook_poll(struct zdd_hook *h, __u64 now_ms)
{
	const char *cmd = h->cmd;
	int st;
	pid_t r;

	if (h->status != ZDD_HOOK_RUNNING)
		return h->status;
	r = waitpid(h->pid, &st, WNOHANG);
	if (r == h->pid) {
		h->status = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? ZDD_HOOK_OK : ZDD_HOOK_FAILED;
		if (WIFEXITED(st))
			snprintf(h->what, sizeof(h->what), "%s exited with %d", cmd,
				 WEXITSTATUS(st));
		else
			snprintf(h->what, sizeof(h->what), "%s killed by signal %d", cmd,
				 WTERMSIG(st));
	} else if (r < 0) {
		h->status = ZDD_HOOK_FAILED;
		snprintf(h->what, sizeof(h->what), "%s: %s", cmd, strerror(errno));
	} else if (now_ms >= h->deadline_ms) {
		zdd_hook_kill(h);
		snprintf(h->what, sizeof(h->what), "%s timed out", cmd);
	}
	return h->status;
}

void zdd_hook_kill(struct zdd_hook *h)
{
	if (h->status != ZDD_HOOK_RUNNING)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	h->status = ZDD_HOOK_FAILED;
}
