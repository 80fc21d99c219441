// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_limits.c - full tables: a SYN flood 10x the embryonic table leaves every
 * established flow where it was; a full embryonic set forgets its oldest handshake; a full flow
 * table is seen in the miss counters; full service and backend tables are clear errors that
 * change nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include "addr.h"
#include "apply.h"
#include "fixture.h"

#define EMBRYOS 256
#define FLOWS	512

static int setup_embryos(void **state, __u32 embryos)
{
	const struct zdd_limits l = {
		.services = 4, .backends = 8, .maglev_m = 251, .flows = FLOWS, .embryos = embryos
	};
	fixture_setup_limits(state, &l);
	add_svc4_two_per_pool(*state);
	return 0;
}

static int setup_small(void **state)
{
	return setup_embryos(state, EMBRYOS);
}

static int setup_one_set(void **state)
{
	return setup_embryos(state, ZDD_EMBRYO_WAYS);
}

/* Three handshakes in flight in one set of two ways: the third SYN takes the way of the
 * oldest. That one's ACK takes the miss path, to the backend its SYN went to (the tables did
 * not change), counted as a miss; the two others complete as usual. */
static void a_full_embryo_set_forgets_its_oldest_handshake(void **state)
{
	struct fixture *f = *state;
	char a[ZDD_ADDR_STRLEN], b[ZDD_ADDR_STRLEN], c[ZDD_ADDR_STRLEN];
	__u64 embryos, flows;

	strcpy(a, send_tcp4(f, "198.18.1.1", 40000, TH_SYN));
	strcpy(b, send_tcp4(f, "198.18.1.2", 40000, TH_SYN));
	strcpy(c, send_tcp4(f, "198.18.1.3", 40000, TH_SYN));
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows), 0);
	assert_int_equal(embryos, 2);
	assert_string_equal(send_tcp4(f, "198.18.1.2", 40000, TH_ACK), b);
	assert_string_equal(send_tcp4(f, "198.18.1.3", 40000, TH_ACK), c);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 0);
	assert_string_equal(send_tcp4(f, "198.18.1.1", 40000, TH_ACK), a);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 1);
	assert_int_equal(reason_count(f, ZDD_R_TX_FLOW), 2);
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows), 0);
	assert_int_equal(embryos, 0);
	assert_int_equal(flows, 3);
}

static void syn_flood_leaves_established_flows_alone(void **state)
{
	struct fixture *f = *state;
	char backend[100][ZDD_ADDR_STRLEN], src[32];
	__u64 embryos, flows;
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(src, sizeof(src), "198.18.1.%d", i + 1);
		strcpy(backend[i], send_tcp4(f, src, 40000, TH_SYN));
		send_tcp4(f, src, 40000, TH_ACK);
	}
	/* 10x the embryonic table from spoofed sources, a flip in the middle. */
	for (i = 0; i < 10 * EMBRYOS; i++) {
		snprintf(src, sizeof(src), "198.19.%d.%d", 100 + i / 250, 1 + i % 250);
		send_tcp4(f, src, (__u16)(1024 + i), TH_SYN);
		if (i == 5 * EMBRYOS)
			set_green(f, SVC4, 10000);
	}
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows), 0);
	assert_in_range(embryos, 1, EMBRYOS);
	assert_int_equal(flows, 100);
	for (i = 0; i < 100; i++) {
		snprintf(src, sizeof(src), "198.18.1.%d", i + 1);
		assert_string_equal(send_tcp4(f, src, 40000, TH_ACK), backend[i]);
	}
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 0);
}

static void full_flow_table_shows_in_misses(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_key key = svc_key(SVC4);
	struct zdd_service_stats ss;
	struct zdd_service_val val;
	char src[32];
	int i;

	for (i = 0; i < 2 * FLOWS; i++) {
		snprintf(src, sizeof(src), "198.18.%d.%d", 10 + i / 250, 1 + i % 250);
		send_tcp4(f, src, 40000, TH_SYN);
		send_tcp4(f, src, 40000, TH_ACK);
	}
	for (i = 0; i < 2 * FLOWS; i++) { /* every packet still goes somewhere */
		snprintf(src, sizeof(src), "198.18.%d.%d", 10 + i / 250, 1 + i % 250);
		send_tcp4(f, src, 40000, TH_ACK);
	}
	assert_int_equal(zdd_service_get(f->z, &key, &val), 0);
	assert_int_equal(zdd_service_stats_read(f->z, val.index, &ss), 0);
	assert_true(ss.conntrack_misses > 0); /* the evicted flows, counted */
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), ss.conntrack_misses);
}

/* Everything an operator reads, to check that a failed change changed nothing. */
static void snapshot(struct fixture *f, struct zdd_service **svcs, size_t *n,
		     struct zdd_backend **bes, size_t *nb)
{
	assert_int_equal(zdd_service_list(f->z, svcs, n), 0);
	assert_int_equal(zdd_backend_list(f->z, (*svcs)[0].val.index, bes, nb), 0);
}

static void full_service_and_backend_tables_change_nothing(void **state)
{
	struct fixture *f = *state;
	struct zdd_service *s0, *s1;
	struct zdd_backend *b0, *b1;
	size_t n0, n1, nb0, nb1;
	struct zdd_service_key key;
	struct zdd_service_opts so = {};
	__u8 a[16];
	int i;

	add_service(f, VIP4 ":81/tcp");
	add_service(f, VIP4 ":82/tcp");
	add_service(f, VIP4 ":83/tcp");
	for (i = 0; i < 4; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "198.18.4.%d", i + 1);
		add_backend(f, VIP4 ":81/tcp", addr, ZDD_BLUE);
	}
	snapshot(f, &s0, &n0, &b0, &nb0);
	key = svc_key(VIP4 ":84/tcp");
	assert_int_equal(zdd_service_add(f->z, &key, &so), -ENOSPC);
	key = svc_key(SVC4);
	zdd_addr_parse("198.18.3.99", a);
	assert_int_equal(zdd_backend_add(f->z, &key, a, ZDD_BLUE, 100, NULL, NULL), -ENOSPC);
	snapshot(f, &s1, &n1, &b1, &nb1);
	assert_int_equal(n1, n0);
	assert_memory_equal(s1, s0, n0 * sizeof(*s0));
	assert_int_equal(nb1, nb0);
	assert_memory_equal(b1, b0, nb0 * sizeof(*b0));
	free(s0);
	free(s1);
	free(b0);
	free(b1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_small, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(syn_flood_leaves_established_flows_alone),
		T(full_flow_table_shows_in_misses),
		T(full_service_and_backend_tables_change_nothing),
		cmocka_unit_test_setup_teardown(a_full_embryo_set_forgets_its_oldest_handshake,
						setup_one_set, fixture_teardown),
	};

	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
