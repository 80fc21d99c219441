/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tests/unit/fixture.h - a fresh LB per test case (private maps, small limits), and helpers
 * that run a frame through the real program with BPF_PROG_TEST_RUN. */
#ifndef ZDD_TEST_FIXTURE_H
#define ZDD_TEST_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "pkt.h"
#include "zdd.h"

#define VIP4	 "198.19.0.10"
#define VIP6	 "fd00:5a::10"
#define SVC4	 VIP4 ":80/tcp"
#define SVC6	 "[" VIP6 "]:80/tcp"
#define LB_SRC4	 "198.18.2.2"
#define LB_SRC6	 "fd00:2::2"
#define TEST_MTU 1600

struct fixture {
	struct zdd *z;
	int prog_fd;
	__u32 out_len;
	__u8 headroom[2]; /* out + 14 is 4-byte aligned, like pkt.data */
	__u8 out[PKT_MAX + 256];
};

int fixture_setup(void **state);
/* SVC4 and SVC6, one blue and one green backend each (198.18.3.11/.21, fd00:3::11/::21). */
int fixture_setup_blue_green(void **state);
/* The same with other map sizes; fixture_limits() are fixture_setup's. */
int fixture_setup_limits(void **state, const struct zdd_limits *l);
struct zdd_limits fixture_limits(void);
int fixture_teardown(void **state);

/* Runs p through the program; returns the XDP verdict, output in f->out. */
int run(struct fixture *f, const struct pkt *p);
int run_prog(int prog_fd, const void *in, __u32 len, void *out, __u32 *out_len);

struct zdd_service_key svc_key(const char *svc);
void add_service(struct fixture *f, const char *svc);
/* backend MAC is 02:be:00:00:00:<id>; returns the id */
__u32 add_backend(struct fixture *f, const char *svc, const char *addr, enum zdd_pool pool);
/* SVC4 with two blue (198.18.3.11, .12) and two green (198.18.3.21, .22) backends. */
void add_svc4_two_per_pool(struct fixture *f);
void set_green(struct fixture *f, const char *svc, int basis_points);
void set_state(struct fixture *f, const char *svc, const char *addr, enum zdd_backend_state s);

/* A TCP packet from saddr:sport to VIP4:80 that must be forwarded; returns outer_dst(). */
const char *send_tcp4(struct fixture *f, const char *saddr, __u16 sport, __u8 flags);
/* The i-th flow of a flood: 4096 clients in 16 /24s (198.18.16.0 on), then the next port. */
const char *send_flood4(struct fixture *f, __u32 i, __u8 flags);
/* CLOCK_MONOTONIC in ns, the data path's clock. */
__u64 mono_ns(void);
/* Makes the service's last table swap look as if it happened at ns (prev_valid kept). */
void set_changed_ns(struct fixture *f, const char *svc, __u64 ns);
/* zdd_config.syn_budget: SYNs a CPU records per window before it samples them. */
void set_syn_budget(struct fixture *f, __u32 n);
/* The backend the last forwarded frame went to (outer destination), as text. */
const char *outer_dst(struct fixture *f);
struct zdd_backend_stats backend_stats(struct fixture *f, const char *svc, const char *addr);
__u64 reason_count(struct fixture *f, enum zdd_reason r);

#endif /* ZDD_TEST_FIXTURE_H */
