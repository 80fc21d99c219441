/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/agent/hooks.h - the operator's hook commands (migrations, notifications): spawned
 * without a shell, polled without blocking the agent, killed with their whole process group at
 * their timeout. */
#ifndef ZDD_HOOKS_H
#define ZDD_HOOKS_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

/* Between SIGTERM and SIGKILL to a hook's process group. */
#define ZDD_HOOK_GRACE_MS 2000

enum zdd_hook_status { ZDD_HOOK_IDLE, ZDD_HOOK_RUNNING, ZDD_HOOK_OK, ZDD_HOOK_FAILED };

struct zdd_hook {
	pid_t pid; /* also the id of its process group */
	__u32 timeout_ms;
	__u64 deadline_ms;
	bool timed_out; /* its group has had SIGTERM, and gets SIGKILL at kill_ms */
	__u64 kill_ms;
	enum zdd_hook_status status;
	char cmd[96];	/* argv[0], for messages */
	char what[192]; /* how it ended, for the event log */
};

/* Starts argv (argv[0] an absolute path) in a process group of its own, with the agent's
 * environment plus extra_env (NULL-terminated "NAME=value" strings, which win over the agent's
 * own; may be NULL), every signal unblocked and at its default action. No argv (NULL or argv[0]
 * NULL): ZDD_HOOK_OK at once. */
int zdd_hook_start_env(struct zdd_hook *h, char *const argv[], char *const extra_env[],
		       __u32 timeout_ms, __u64 now_ms);
/* zdd_hook_start_env() with no extra environment. */
int zdd_hook_start(struct zdd_hook *h, char *const argv[], __u32 timeout_ms, __u64 now_ms);
/* Reaps or times out the hook; returns its status. Never blocks: at the timeout the group gets
 * SIGTERM, ZDD_HOOK_GRACE_MS later SIGKILL; the hook stays RUNNING until reaped. */
enum zdd_hook_status zdd_hook_poll(struct zdd_hook *h, __u64 now_ms);
/* Kills a running hook's process group (agent exit, rollout finished): SIGTERM, SIGKILL after
 * at most ZDD_HOOK_GRACE_MS, reaped before it returns. */
void zdd_hook_kill(struct zdd_hook *h);

#endif /* ZDD_HOOKS_H */
