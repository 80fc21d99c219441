/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/hooks.h - the operator's hook commands (migrations, notifications): spawned
 * without a shell, polled without blocking the agent, killed at their timeout. */
#ifndef ZDD_HOOKS_H
#define ZDD_HOOKS_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

enum zdd_hook_status { ZDD_HOOK_IDLE, ZDD_HOOK_RUNNING, ZDD_HOOK_OK, ZDD_HOOK_FAILED };

struct zdd_hook {
	pid_t pid;
	__u64 deadline_ms;
	enum zdd_hook_status status;
	char cmd[96];	/* argv[0], for messages */
	char what[192]; /* how it ended, for the event log */
};

/* Starts argv (argv[0] an absolute path). No argv (NULL or argv[0] NULL): ZDD_HOOK_OK at once. */
int zdd_hook_start(struct zdd_hook *h, char *const argv[], __u32 timeout_ms, __u64 now_ms);
/* Reaps or times out the hook; returns its status. */
enum zdd_hook_status zdd_hook_poll(struct zdd_hook *h, __u64 now_ms);
/* Kills a running hook (agent exit, rollout aborted). */
void zdd_hook_kill(struct zdd_hook *h);

#endif /* ZDD_HOOKS_H */
