// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/log.c - see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>
#include "log.h"

static enum zdd_log_level log_level = ZDD_LOG_WARN;

/* libbpf's warnings are ours too; its debug output (verifier logs) only at -vv. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && log_level < ZDD_LOG_DEBUG)
		return 0;
	if (level == LIBBPF_INFO && log_level < ZDD_LOG_INFO)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void zdd_log_set_level(enum zdd_log_level level)
{
	log_level = level;
	libbpf_set_print(libbpf_print);
}

enum zdd_log_level zdd_log_get_level(void)
{
	return log_level;
}

void zdd_log(enum zdd_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

int log_err(int err, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	libbpf_strerror(err, buf, sizeof(buf));
	fprintf(stderr, ": %s\n", buf);
	return err;
}
