// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/fixture.c - see fixture.h. */
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "addr.h"
#include "fixture.h"

int fixture_setup(void **state)
{
	const struct zdd_limits l = fixture_limits();

	return fixture_setup_limits(state, &l);
}

struct zdd_limits fixture_limits(void)
{
	return (struct zdd_limits){
		.services = 8,
		.backends = 64,
		.maglev_m = 1021,
		.flows = 65536,
		.embryos = 32768,
	};
}

int fixture_setup_blue_green(void **state)
{
	struct fixture *f;

	fixture_setup(state);
	f = *state;
	add_service(f, SVC4);
	add_service(f, SVC6);
	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	add_backend(f, SVC4, "198.18.3.21", ZDD_GREEN);
	add_backend(f, SVC6, "fd00:3::11", ZDD_BLUE);
	add_backend(f, SVC6, "fd00:3::21", ZDD_GREEN);
	return 0;
}

int fixture_setup_limits(void **state, const struct zdd_limits *l)
{
	struct zdd_load_opts o = { .limits = *l };
	struct fixture *f = calloc(1, sizeof(*f));
	struct zdd_config c;
	cpu_set_t one;

	/* Every packet of a test on one CPU, as RSS keeps a flow on one: the flow cache
	 * (bpf/lib/flow_cache.h) is per CPU. */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_non_null(f);
	assert_int_equal(zdd_open_load(&f->z, &o), 0);
	f->prog_fd = zdd_lb_prog_fd(f->z);
	assert_int_equal(zdd_config_get(f->z, &c), 0);
	assert_int_equal(inet_pton(AF_INET, LB_SRC4, c.src4), 1);
	assert_int_equal(inet_pton(AF_INET6, LB_SRC6, c.src6), 1);
	c.mtu = TEST_MTU;
	assert_int_equal(zdd_config_set(f->z, &c), 0);
	*state = f;
	return 0;
}

int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	zdd_close(f->z);
	free(f);
	return 0;
}

int run_prog(int prog_fd, const void *in, __u32 len, void *out, __u32 *out_len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = out,
		    .data_size_out = PKT_MAX + 256, .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &opts), 0);
	*out_len = opts.data_size_out;
	return (int)opts.retval;
}

int run(struct fixture *f, const struct pkt *p)
{
	return run_prog(f->prog_fd, p->data, p->len, f->out, &f->out_len);
}

struct zdd_service_key svc_key(const char *svc)
{
	struct zdd_service_key key;

	assert_int_equal(zdd_service_parse(svc, &key), 0);
	return key;
}

void add_service(struct fixture *f, const char *svc)
{
	struct zdd_service_key key = svc_key(svc);
	struct zdd_service_opts o = {};

	assert_int_equal(zdd_service_add(f->z, &key, &o), 0);
}

__u32 add_backend(struct fixture *f, const char *svc, const char *addr, enum zdd_pool pool)
{
	struct zdd_service_key key = svc_key(svc);
	__u8 a[16], mac[6] = { 0x02, 0xbe, 0, 0, 0, 0 };
	struct zdd_backend b;
	__u32 id;

	assert_int_equal(zdd_addr_parse(addr, a), 0);
	assert_int_equal(zdd_backend_add(f->z, &key, a, pool, ZDD_DEF_BACKEND_WEIGHT, mac, &id), 0);
	mac[5] = (__u8)id;
	assert_int_equal(zdd_backend_set_mac(f->z, id, mac), 0);
	assert_int_equal(zdd_backend_find(f->z, &key, a, &b), 0);
	assert_int_equal(b.id, id);
	return id;
}

void add_svc4_two_per_pool(struct fixture *f)
{
	add_service(f, SVC4);
	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	add_backend(f, SVC4, "198.18.3.12", ZDD_BLUE);
	add_backend(f, SVC4, "198.18.3.21", ZDD_GREEN);
	add_backend(f, SVC4, "198.18.3.22", ZDD_GREEN);
}

void set_green(struct fixture *f, const char *svc, int basis_points)
{
	struct zdd_service_key key = svc_key(svc);

	assert_int_equal(zdd_service_commit(f->z, &key, basis_points), 0);
}

void set_state(struct fixture *f, const char *svc, const char *addr, enum zdd_backend_state s)
{
	struct zdd_service_key key = svc_key(svc);
	__u8 a[16];

	assert_int_equal(zdd_addr_parse(addr, a), 0);
	assert_int_equal(zdd_backend_set(f->z, &key, a, s, -1), 0);
}

const char *send_tcp4(struct fixture *f, const char *saddr, __u16 sport, __u8 flags)
{
	struct pkt p = pkt_tcp(saddr, sport, VIP4, 80, flags);

	assert_int_equal(run(f, &p), XDP_TX);
	return outer_dst(f);
}

const char *send_flood4(struct fixture *f, __u32 i, __u8 flags)
{
	char addr[ZDD_ADDR_STRLEN];

	snprintf(addr, sizeof(addr), "198.18.%u.%u", 16 + (i % 4096) / 256, i % 256);
	return send_tcp4(f, addr, 20000 + i / 4096, flags);
}

__u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void set_changed_ns(struct fixture *f, const char *svc, __u64 ns)
{
	struct zdd_service_key key = svc_key(svc);
	struct zdd_service_val val;

	assert_int_equal(zdd_service_get(f->z, &key, &val), 0);
	val.changed_ns = ns;
	assert_int_equal(zdd_service_put(f->z, &key, &val, BPF_EXIST), 0);
}

void set_syn_budget(struct fixture *f, __u32 n)
{
	struct zdd_config c;

	assert_int_equal(zdd_config_get(f->z, &c), 0);
	c.syn_budget = n;
	assert_int_equal(zdd_config_set(f->z, &c), 0);
}

const char *outer_dst(struct fixture *f)
{
	static char buf[ZDD_ADDR_STRLEN];
	__u16 proto;
	__u32 l3 = 14;
	__u8 a[16] = { [10] = 0xff, [11] = 0xff };

	memcpy(&proto, f->out + 12, 2);
	if (proto == htons(0x8100) || proto == htons(0x88a8)) {
		memcpy(&proto, f->out + 16, 2);
		l3 = 18;
	}
	if (proto == htons(0x0800))
		memcpy(a + 12, f->out + l3 + 16, 4);
	else
		memcpy(a, f->out + l3 + 24, 16);
	zdd_addr_format(a, buf, sizeof(buf));
	return buf;
}

struct zdd_backend_stats backend_stats(struct fixture *f, const char *svc, const char *addr)
{
	struct zdd_service_key key = svc_key(svc);
	struct zdd_backend_stats st;
	struct zdd_backend b;
	__u8 a[16];

	assert_int_equal(zdd_addr_parse(addr, a), 0);
	assert_int_equal(zdd_backend_find(f->z, &key, a, &b), 0);
	assert_int_equal(zdd_backend_stats_read(f->z, b.id, &st), 0);
	return st;
}

__u64 reason_count(struct fixture *f, enum zdd_reason r)
{
	__u64 counts[ZDD_R_MAX];

	assert_int_equal(zdd_reasons_read(f->z, counts), 0);
	return counts[r];
}
