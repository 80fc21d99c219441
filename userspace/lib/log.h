/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/log.h - leveled logging to stderr, and the bridge that shows libbpf's own
 * messages at -vv. An error is logged once, where its context is. */
#ifndef ZDD_LOG_H
#define ZDD_LOG_H

enum zdd_log_level { ZDD_LOG_WARN, ZDD_LOG_INFO, ZDD_LOG_DEBUG };

void zdd_log_set_level(enum zdd_log_level level);
enum zdd_log_level zdd_log_get_level(void);
void zdd_log(enum zdd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_warn(...)  zdd_log(ZDD_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  zdd_log(ZDD_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) zdd_log(ZDD_LOG_DEBUG, __VA_ARGS__)

/* Logs "msg: strerror(-err)" and returns err, so callers can `return log_err(err, ...)`. */
int log_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* ZDD_LOG_H */
