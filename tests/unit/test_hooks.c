// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_hooks.c - hook commands run as the agent runs them: from a process that
 * blocks SIGTERM, SIGINT, SIGHUP and SIGPIPE and ignores SIGUSR1. Signals reach the hook, its
 * timeout kills its whole process group (SIGKILL when SIGTERM is ignored), extra environment
 * reaches it. This process is a child subreaper, so a hook's orphans are ours to check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "hooks.h"

#define SH "/bin/sh"

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
	const struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

/* Polls like the agent's tick, on the real clock, for at most max_ms; returns the ms taken. */
static __u64 poll_until_done(struct zdd_hook *h, __u64 max_ms)
{
	__u64 start = now_ms();

	while (zdd_hook_poll(h, now_ms()) == ZDD_HOOK_RUNNING && now_ms() - start < max_ms)
		nap_ms(10);
	return now_ms() - start;
}

static int start_sh(struct zdd_hook *h, const char *script, char *const env[], __u32 timeout_ms)
{
	char *argv[] = { SH, "-c", (char *)script, NULL };

	return zdd_hook_start_env(h, argv, env, timeout_ms, now_ms());
}

/* The pid a hook wrote to path, once it is there (bounded). */
static pid_t read_pid(const char *path)
{
	int i, pid = 0;
	FILE *f;

	for (i = 0; i < 200 && pid <= 0; i++) {
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%d", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (pid <= 0)
			nap_ms(10);
	}
	return pid;
}

/* A hook's orphan, reparented to this subreaper: reaped within max_ms; its wait status. */
static int reap_orphan(pid_t pid, __u64 max_ms)
{
	__u64 start = now_ms();
	int st = 0;

	while (waitpid(pid, &st, WNOHANG) == 0 && now_ms() - start < max_ms)
		nap_ms(10);
	return st;
}

/* A signal mask of /proc/PID/status ("SigBlk:", "SigIgn:"); all ones when not found. */
static unsigned long long status_mask(pid_t pid, const char *field)
{
	unsigned long long mask = ~0ULL;
	char path[64], line[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return mask;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			mask = strtoull(line + strlen(field), NULL, 16);
	fclose(f);
	return mask;
}

static void pid_file(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "/tmp/zdd-test-hooks-%d-%s", getpid(), what);
	unlink(buf);
}

static void signals_reach_the_hook(void **state)
{
	struct zdd_hook h;

	(void)state;
	/* Blocked in the agent: without a clean mask this would sleep its 5 s and exit 0. */
	assert_int_equal(start_sh(&h, "kill -TERM $$; sleep 5", NULL, 4000), 0);
	assert_in_range(poll_until_done(&h, 3000), 0, 2999);
	assert_int_equal(h.status, ZDD_HOOK_FAILED);
	assert_string_equal(h.what, SH " killed by signal 15");

	/* Ignored in the agent: a non-interactive shell could not even trap it back. */
	assert_int_equal(start_sh(&h, "kill -USR1 $$; sleep 5", NULL, 4000), 0);
	assert_in_range(poll_until_done(&h, 3000), 0, 2999);
	assert_int_equal(h.status, ZDD_HOOK_FAILED);
	assert_string_equal(h.what, SH " killed by signal 10");

	/* What the hook starts with. glibc's posix_spawn leaves its two internal signals (32 and
	 * 33) ignored in the child: only the standard ones are looked at. */
	{
		char *argv[] = { "/bin/sleep", "5", NULL };

		assert_int_equal(zdd_hook_start(&h, argv, 4000, now_ms()), 0);
		assert_int_equal(status_mask(h.pid, "SigBlk:"), 0);
		assert_int_equal(status_mask(h.pid, "SigIgn:") & 0x7fffffff, 0);
		zdd_hook_kill(&h);
	}
}

static void hook_has_its_own_group_and_no_stdin(void **state)
{
	struct zdd_hook h;

	(void)state;
	assert_int_equal(
		start_sh(&h, "[ \"$(readlink /proc/self/fd/0)\" = /dev/null ]", NULL, 4000), 0);
	assert_int_equal(getpgid(h.pid), h.pid);
	assert_int_not_equal(getpgid(h.pid), getpgrp());
	poll_until_done(&h, 3000);
	assert_int_equal(h.status, ZDD_HOOK_OK);
}

static void timeout_kills_the_whole_group(void **state)
{
	char path[96], script[160];
	struct zdd_hook h;
	pid_t orphan;
	__u64 t0;
	int st;

	(void)state;
	pid_file(path, sizeof(path), "timeout");
	snprintf(script, sizeof(script), "sleep 100 & echo $! >%s; wait", path);
	t0 = now_ms();
	assert_int_equal(start_sh(&h, script, NULL, 300), 0);
	orphan = read_pid(path);
	assert_true(orphan > 0);
	poll_until_done(&h, 300 + ZDD_HOOK_GRACE_MS + 1000);
	/* The shell goes at SIGTERM: no need to wait for the grace. */
	assert_in_range(now_ms() - t0, 300, 300 + ZDD_HOOK_GRACE_MS / 2);
	assert_int_equal(h.status, ZDD_HOOK_FAILED);
	assert_string_equal(h.what, SH " timed out after 300 ms");
	st = reap_orphan(orphan, 1000);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(kill(orphan, 0), -1);
	assert_int_equal(errno, ESRCH);
	unlink(path);
}

/* A group that ignores SIGTERM gets SIGKILL after the grace: from the poll and from kill. */
static void sigterm_ignored_means_sigkill(void **state)
{
	char path[96], script[160];
	struct zdd_hook h;
	pid_t orphan;
	__u64 took, t0;
	int st, i;

	(void)state;
	for (i = 0; i < 2; i++) {
		pid_file(path, sizeof(path), "stubborn");
		snprintf(script, sizeof(script), "trap '' TERM; sleep 100 & echo $! >%s; wait",
			 path);
		t0 = now_ms();
		assert_int_equal(start_sh(&h, script, NULL, 200), 0);
		orphan = read_pid(path);
		assert_true(orphan > 0);
		if (i == 0) {
			poll_until_done(&h, 200 + ZDD_HOOK_GRACE_MS + 1000);
			assert_in_range(now_ms() - t0, 200 + ZDD_HOOK_GRACE_MS,
					200 + ZDD_HOOK_GRACE_MS + 500);
			assert_string_equal(h.what, SH " timed out after 200 ms");
		} else {
			t0 = now_ms();
			zdd_hook_kill(&h);
			took = now_ms() - t0;
			/* Never longer than the grace, and a little for SIGKILL. */
			assert_in_range(took, ZDD_HOOK_GRACE_MS - 50, ZDD_HOOK_GRACE_MS + 500);
			assert_string_equal(h.what, SH " stopped by the agent");
		}
		assert_int_equal(h.status, ZDD_HOOK_FAILED);
		st = reap_orphan(orphan, 1000);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		unlink(path);
	}
}

static void kill_of_a_polite_hook_is_quick(void **state)
{
	char path[96], script[160];
	struct zdd_hook h;
	pid_t orphan;
	__u64 t0;

	(void)state;
	pid_file(path, sizeof(path), "polite");
	snprintf(script, sizeof(script), "sleep 100 & echo $! >%s; wait", path);
	assert_int_equal(start_sh(&h, script, NULL, 60000), 0);
	orphan = read_pid(path);
	assert_true(orphan > 0);
	t0 = now_ms();
	zdd_hook_kill(&h);
	assert_in_range(now_ms() - t0, 0, ZDD_HOOK_GRACE_MS / 2);
	assert_int_equal(h.status, ZDD_HOOK_FAILED);
	assert_true(WIFSIGNALED(reap_orphan(orphan, 1000)));
	zdd_hook_kill(&h); /* twice: nothing */
	unlink(path);
}

static void extra_environment_reaches_the_hook(void **state)
{
	char *env[] = { "ZDD_REASON=x", "ZDD_STEP=3", NULL };
	char *bad[] = { "ZDD_REASON=x", "NO_VALUE", NULL };
	char *unnamed[] = { "=x", NULL };
	struct zdd_hook h;

	(void)state;
	setenv("ZDD_STEP", "from the agent", 1);
	setenv("ZDD_TEST_KEPT", "kept", 1);
	assert_int_equal(start_sh(&h,
				  "test \"$ZDD_REASON\" = x && test \"$ZDD_STEP\" = 3 && "
				  "test \"$ZDD_TEST_KEPT\" = kept && "
				  "test $(env | grep -c ^ZDD_STEP=) = 1",
				  env, 4000),
			 0);
	poll_until_done(&h, 3000);
	assert_int_equal(h.status, ZDD_HOOK_OK);

	assert_int_equal(start_sh(&h, "test \"$ZDD_REASON\" = y", env, 4000), 0);
	poll_until_done(&h, 3000);
	assert_int_equal(h.status, ZDD_HOOK_FAILED);
	assert_string_equal(h.what, SH " exited with 1");

	/* zdd_hook_start: the agent's environment only. */
	{
		char *argv[] = { SH, "-c", "test -z \"$ZDD_REASON\"", NULL };

		assert_int_equal(zdd_hook_start(&h, argv, 4000, now_ms()), 0);
		poll_until_done(&h, 3000);
		assert_int_equal(h.status, ZDD_HOOK_OK);
	}
	assert_int_equal(start_sh(&h, "true", bad, 4000), -EINVAL);
	assert_int_equal(h.status, ZDD_HOOK_FAILED);
	assert_int_equal(zdd_hook_poll(&h, now_ms()), ZDD_HOOK_FAILED);
	assert_int_equal(start_sh(&h, "true", unnamed, 4000), -EINVAL);
	unsetenv("ZDD_STEP");
	unsetenv("ZDD_TEST_KEPT");
}

static void no_command_and_bad_command(void **state)
{
	char *missing[] = { "/nonexistent/zdd-hook", NULL };
	char *none[] = { NULL };
	struct zdd_hook h;
	int rc;

	(void)state;
	assert_int_equal(zdd_hook_start(&h, NULL, 1000, now_ms()), 0);
	assert_int_equal(zdd_hook_poll(&h, now_ms()), ZDD_HOOK_OK);
	assert_int_equal(zdd_hook_start(&h, none, 1000, now_ms()), 0);
	assert_int_equal(h.status, ZDD_HOOK_OK);
	/* glibc reports a failed exec at once; under valgrind, posix_spawn forks and the child
	 * exits with 127. */
	rc = zdd_hook_start(&h, missing, 1000, now_ms());
	assert_true(rc == -ENOENT || rc == 0);
	poll_until_done(&h, 3000);
	assert_int_equal(h.status, ZDD_HOOK_FAILED);
	assert_non_null(strstr(h.what, rc ? "/nonexistent/zdd-hook: " : " exited with 127"));
	zdd_hook_kill(&h); /* not running: nothing */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(signals_reach_the_hook),
		cmocka_unit_test(hook_has_its_own_group_and_no_stdin),
		cmocka_unit_test(timeout_kills_the_whole_group),
		cmocka_unit_test(sigterm_ignored_means_sigkill),
		cmocka_unit_test(kill_of_a_polite_hook_is_quick),
		cmocka_unit_test(extra_environment_reaches_the_hook),
		cmocka_unit_test(no_command_and_bad_command),
	};
	sigset_t mask;

	/* As zdd-agent: these come through its signalfd only. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGUSR1, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		return 1;
	return cmocka_run_group_tests_name("hooks", tests, NULL, NULL);
}
