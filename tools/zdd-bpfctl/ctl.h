/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tools/zdd-bpfctl/ctl.h - what every zdd-bpfctl command shares: global options, exit codes,
 * argument parsers that print the operator's mistake, and JSON output. */
#ifndef ZDD_CTL_H
#define ZDD_CTL_H

#include <stdbool.h>
#include <json-c/json.h>
#include "zdd.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct ctl {
	const char *pin_dir;
	bool json;
	int verbose;
};

struct cmd {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv);
	const char *usage; /* arguments, after the command name */
	const char *help;  /* one line */
};

/* The argv getopt is working on, to name an option it did not know. */
extern char **ctl_argv;

/* Prints "zdd-bpfctl CMD: reason" and the command's usage; returns EXIT_USAGE. */
int ctl_usage_error(const struct cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* True (after printing help) when argv asks for --help / -h. */
bool ctl_wants_help(const struct cmd *cmd, int argc, char **argv);

/* Opening the pinned maps; writers also take the lock. EXIT_FAIL with a message on error. */
int ctl_open(struct ctl *ctl, struct zdd **z);
int ctl_open_locked(struct ctl *ctl, struct zdd **z);
void ctl_close(struct zdd *z);

/* Parsers: 0, or a usage error already printed (EXIT_USAGE). */
int ctl_parse_service(const struct cmd *cmd, const char *s, struct zdd_service_key *key);
int ctl_parse_addr(const struct cmd *cmd, const char *s, __u8 addr[16]);
int ctl_parse_pool(const struct cmd *cmd, const char *s, enum zdd_pool *pool);
int ctl_parse_state(const struct cmd *cmd, const char *s, enum zdd_backend_state *state);
int ctl_parse_uint(const struct cmd *cmd, const char *what, const char *s, unsigned long max,
		   unsigned long *out);

const char *ctl_pool_name(int pool);
const char *ctl_state_name(int state);

/* One JSON request to the agent's control socket, its JSON answer (NULL, said why, if none). */
struct json_object *ctl_agent_ask(const char *path, struct json_object *req);

/* Drops the first n words of argv (the command, then its subcommand) and re-arms getopt for
 * what is left: argv[0] becomes the word getopt treats as the program name. */
void ctl_shift(int *argc, char ***argv, int n);
/* The end of a list command: the JSON built along the way printed with -j, else dropped (the
 * text went out line by line). Returns EXIT_OK. */
int ctl_list_done(const struct ctl *ctl, struct json_object *o);

/* Prints a JSON value to stdout and frees it; returns EXIT_OK. */
int ctl_json_print(struct json_object *o);

/* Human units: "1.2k", "3.4M" (count) and "1.2 KiB" (bytes). */
void ctl_fmt_count(__u64 v, char *buf, size_t len);
void ctl_fmt_bytes(__u64 v, char *buf, size_t len);

/* The commands, one file per noun. */
int cmd_attach(struct ctl *ctl, int argc, char **argv);
int cmd_detach(struct ctl *ctl, int argc, char **argv);
int cmd_decap(struct ctl *ctl, int argc, char **argv);
int cmd_service(struct ctl *ctl, int argc, char **argv);
int cmd_backend(struct ctl *ctl, int argc, char **argv);
int cmd_weight(struct ctl *ctl, int argc, char **argv);
int cmd_flip(struct ctl *ctl, int argc, char **argv);
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_stats(struct ctl *ctl, int argc, char **argv);
int cmd_conntrack(struct ctl *ctl, int argc, char **argv);
int cmd_apply(struct ctl *ctl, int argc, char **argv);
int cmd_rollout(struct ctl *ctl, int argc, char **argv);
int cmd_node(struct ctl *ctl, int argc, char **argv);

extern const struct cmd ctl_cmds[];
const struct cmd *ctl_find_cmd(const char *name);

#endif /* ZDD_CTL_H */
