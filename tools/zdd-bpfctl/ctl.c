// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/ctl.c - see ctl.h. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "addr.h"
#include "ctl.h"

char **ctl_argv;

int ctl_usage_error(const struct cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	/* getopt's "unknown option" is ours: name the option that was not understood */
	if (!strcmp(fmt, "unknown option") && optind > 0 && ctl_argv && ctl_argv[optind - 1])
		return ctl_usage_error(cmd, "unknown option '%s'", ctl_argv[optind - 1]);
	fprintf(stderr, "zdd-bpfctl %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: zdd-bpfctl %s %s\n", cmd->name, cmd->usage);
	return EXIT_USAGE;
}

bool ctl_wants_help(const struct cmd *cmd, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: zdd-bpfctl %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->help);
			return true;
		}
	}
	return false;
}

int ctl_open(struct ctl *ctl, struct zdd **z)
{
	int err = zdd_open_pinned(z, ctl->pin_dir);

	return err ? EXIT_FAIL : EXIT_OK; /* libzdd said why */
}

int ctl_open_locked(struct ctl *ctl, struct zdd **z)
{
	if (ctl_open(ctl, z))
		return EXIT_FAIL;
	if (zdd_lock(*z)) {
		zdd_close(*z);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

void ctl_close(struct zdd *z)
{
	zdd_unlock(z);
	zdd_close(z);
}

int ctl_parse_service(const struct cmd *cmd, const char *s, struct zdd_service_key *key)
{
	if (zdd_service_parse(s, key))
		return ctl_usage_error(cmd,
				       "bad service '%s': want ADDR:PORT/tcp|udp, IPv6 in brackets "
				       "(198.19.0.10:80/tcp, [fd00:5a::10]:443/tcp)",
				       s);
	return 0;
}

int ctl_parse_addr(const struct cmd *cmd, const char *s, __u8 addr[16])
{
	if (zdd_addr_parse(s, addr))
		return ctl_usage_error(cmd, "bad address '%s': want IPv4 or IPv6", s);
	return 0;
}

static const char *const pool_names[] = { "blue", "green" };
static const char *const state_names[] = { "empty", "up", "drain", "down" };

const char *ctl_pool_name(int pool)
{
	return pool >= 0 && pool < ZDD_POOLS ? pool_names[pool] : "?";
}

const char *ctl_state_name(int state)
{
	return state >= 0 && state <= ZDD_BE_DOWN ? state_names[state] : "?";
}

int ctl_parse_pool(const struct cmd *cmd, const char *s, enum zdd_pool *pool)
{
	if (!strcmp(s, "blue"))
		*pool = ZDD_BLUE;
	else if (!strcmp(s, "green"))
		*pool = ZDD_GREEN;
	else
		return ctl_usage_error(cmd, "bad pool '%s': want blue or green", s);
	return 0;
}

int ctl_parse_state(const struct cmd *cmd, const char *s, enum zdd_backend_state *state)
{
	int i;

	for (i = ZDD_BE_UP; i <= ZDD_BE_DOWN; i++) {
		if (!strcmp(s, state_names[i])) {
			*state = i;
			return 0;
		}
	}
	return ctl_usage_error(cmd, "bad state '%s': want up, drain or down", s);
}

int ctl_parse_uint(const struct cmd *cmd, const char *what, const char *s, unsigned long max,
		   unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (!*s || *end || errno || *out > max || s[0] == '-')
		return ctl_usage_error(cmd, "bad %s '%s': want an integer 0..%lu", what, s, max);
	return 0;
}

void ctl_shift(int *argc, char ***argv, int n)
{
	*argc -= n;
	*argv += n;
	optind = 0; /* glibc: 0 re-initialises getopt, argv changed */
	ctl_argv = *argv;
}

int ctl_list_done(const struct ctl *ctl, struct json_object *o)
{
	if (ctl->json)
		return ctl_json_print(o);
	json_object_put(o);
	return EXIT_OK;
}

int ctl_json_print(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return EXIT_OK;
}

static void fmt_scaled(double v, const char *const *units, double step, char *buf, size_t len)
{
	int i = 0;

	while (v >= step && units[i + 1]) {
		v /= step;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f%s", v, units[0]);
	else
		snprintf(buf, len, "%.1f%s", v, units[i]);
}

void ctl_fmt_count(__u64 v, char *buf, size_t len)
{
	static const char *const units[] = { "", "k", "M", "G", "T", NULL };

	fmt_scaled((double)v, units, 1000, buf, len);
}

void ctl_fmt_bytes(__u64 v, char *buf, size_t len)
{
	static const char *const units[] = { " B", " KiB", " MiB", " GiB", " TiB", NULL };

	fmt_scaled((double)v, units, 1024, buf, len);
}

#define ANSWER_MAX (1 << 20)

/* One request, one answer; the agent answers within a second or the socket times out. */
struct json_object *ctl_agent_ask(const char *path, struct json_object *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	static char buf[ANSWER_MAX];
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	ssize_t n, got = 0;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || write(fd, text, strlen(text)) < 0 ||
	    write(fd, "\n", 1) < 0) {
		fprintf(stderr, "zdd-bpfctl: cannot reach the agent at %s: %s\n", path,
			strerror(errno));
		close(fd);
		return NULL;
	}
	while (got < ANSWER_MAX - 1 && (n = read(fd, buf + got, ANSWER_MAX - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return json_tokener_parse(buf);
}
