// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_flow_table.c - zdd_flow_sets (zdd_abi.h): no established flow is lost below
 * the limit, userspace places a flow where the data path finds it, and a full set gives up a
 * closing flow first, then the one seen least recently. */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "addr.h"
#include "fixture.h"

#define FLOWS_LIMIT 6144
#define FLOWS	    4096 /* two thirds of the limit: a third of the ways */

static int setup_limit(void **state, __u32 flows)
{
	struct zdd_limits l = fixture_limits();

	l.flows = flows;
	fixture_setup_limits(state, &l);
	add_svc4_two_per_pool(*state);
	set_syn_budget(*state, 1 << 20); /* every SYN recorded: every handshake is established */
	return 0;
}

static int setup_roomy(void **state)
{
	return setup_limit(state, FLOWS_LIMIT);
}

/* Room for two flows: one set of four ways, both choices the same. */
static int setup_one_set(void **state)
{
	return setup_limit(state, 2);
}

/* The i-th flow: 4096 clients in 16 /24s, then the next port (send_flood4's). */
static struct zdd_flow_key flow_key(__u32 i)
{
	struct zdd_flow_key k = { .svc = svc_key(SVC4), .sport = htons(20000 + i / 4096) };
	char addr[ZDD_ADDR_STRLEN];

	snprintf(addr, sizeof(addr), "198.18.%u.%u", 16 + (i % 4096) / 256, i % 256);
	assert_int_equal(zdd_addr_parse(addr, k.saddr), 0);
	return k;
}

static __u64 established(struct fixture *f)
{
	__u64 embryos, flows;

	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, NULL), 0);
	return flows;
}

/* Handshakes through the data path fill two thirds of the limit; every flow is still there:
 * its next packet is forwarded from the table, none takes the miss path. */
static void no_flow_is_lost_below_the_limit(void **state)
{
	struct fixture *f = *state;
	__u64 handshakes;
	__u32 i;

	for (i = 0; i < FLOWS; i++) {
		send_flood4(f, i, TH_SYN);
		send_flood4(f, i, TH_ACK);
	}
	assert_int_equal(established(f), FLOWS);
	handshakes = reason_count(f, ZDD_R_TX_FLOW); /* the ACKs, from the embryonic sets */
	for (i = 0; i < FLOWS; i++)
		send_flood4(f, i, TH_ACK);
	assert_int_equal(reason_count(f, ZDD_R_TX_FLOW) - handshakes, FLOWS);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 0);
}

/* zdd_flow_put (the bench fills its million flows with it) and the kernel agree on where a
 * flow lives, in its first set or its second. */
static void userspace_puts_flows_where_the_data_path_looks(void **state)
{
	struct fixture *f = *state;
	struct zdd_flow_val v = { .last_seen_ns = mono_ns() };
	struct zdd_service_key svc = svc_key(SVC4);
	struct zdd_flow_key k;
	struct zdd_backend be;
	__u8 addr[16];
	__u32 i;

	assert_int_equal(zdd_addr_parse("198.18.3.22", addr), 0);
	assert_int_equal(zdd_backend_find(f->z, &svc, addr, &be), 0);
	v.backend = be.id;
	v.pool = ZDD_GREEN;
	for (i = 0; i < FLOWS; i++) {
		k = flow_key(i);
		assert_int_equal(zdd_flow_put(f->z, &k, &v), 0);
	}
	assert_int_equal(established(f), FLOWS);
	for (i = 0; i < FLOWS; i++)
		assert_string_equal(send_flood4(f, i, TH_ACK), "198.18.3.22");
	assert_int_equal(reason_count(f, ZDD_R_TX_FLOW), FLOWS);
}

struct ports {
	__u16 sport[8];
	int n;
};

static int collect_established(const struct zdd_ct_entry *e, void *ctx)
{
	struct ports *p = ctx;

	if (e->table == ZDD_CT_FLOWS && p->n < 8)
		p->sport[p->n++] = ntohs(e->key.sport);
	return 0;
}

/* The established flows' ports, as a bit set of port - 40000. */
static unsigned int established_ports(struct fixture *f)
{
	struct ports p = {};
	unsigned int set = 0;
	int i;

	assert_int_equal(zdd_conntrack_walk(f->z, collect_established, &p), 0);
	for (i = 0; i < p.n; i++)
		set |= 1u << (p.sport[i] - 40000);
	return set;
}

static void handshake(struct fixture *f, __u16 sport)
{
	send_tcp4(f, "198.18.1.7", sport, TH_SYN);
	send_tcp4(f, "198.18.1.7", sport, TH_ACK);
}

static void full_set_evicts_a_closing_flow_then_the_least_recent(void **state)
{
	struct fixture *f = *state;
	struct zdd_flow_set *s;
	__u32 n;
	int w;

	for (w = 0; w < 4; w++)
		handshake(f, 40000 + w);
	assert_int_equal(established_ports(f), 0xf);
	send_tcp4(f, "198.18.1.7", 40001, TH_FIN | TH_ACK);
	handshake(f, 40004); /* 40001 closing: it goes */
	assert_int_equal(established_ports(f), 0x1d);
	s = zdd_flow_sets_mapped(f->z, &n);
	assert_int_equal(n, 1);
	for (w = 0; w < ZDD_FLOW_WAYS; w++)
		if (ntohs(s->way[w].key.sport) == 40002)
			s->way[w].val.last_seen_ns = 1; /* seen least recently */
	handshake(f, 40005);
	assert_int_equal(established_ports(f), 0x39);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_flow_is_lost_below_the_limit, setup_roomy,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(userspace_puts_flows_where_the_data_path_looks,
						setup_roomy, fixture_teardown),
		cmocka_unit_test_setup_teardown(
			full_set_evicts_a_closing_flow_then_the_least_recent, setup_one_set,
			fixture_teardown),
	};

	return cmocka_run_group_tests_name("flow_table", tests, NULL, NULL);
}
