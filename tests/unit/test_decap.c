// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_decap.c - the backend side: what the LB encapsulated comes out of zdd_decap
 * byte-identical to what the LB took in; everything else passes untouched. */
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include "addr.h"
#include "decap.h"
#include "fixture.h"

struct decap_fixture {
	void *lb; /* struct fixture: the LB whose output is decapsulated */
	struct zdd_decap *d;
	__u8 out[PKT_MAX + 256];
	__u32 out_len;
};

static int setup(void **state)
{
	struct decap_fixture *df = calloc(1, sizeof(*df));
	__u8 a[16];

	assert_non_null(df);
	*state = df;
	fixture_setup(&df->lb);
	add_service(df->lb, SVC4);
	add_service(df->lb, SVC6);
	add_backend(df->lb, SVC4, "198.18.3.11", ZDD_BLUE);
	add_backend(df->lb, SVC6, "fd00:3::11", ZDD_BLUE);
	assert_int_equal(zdd_decap_open_load(&df->d, NULL, false), 0);
	assert_int_equal(zdd_addr_parse("198.18.3.11", a), 0);
	assert_int_equal(zdd_decap_addr_add(df->d, a), 0);
	assert_int_equal(zdd_addr_parse("fd00:3::11", a), 0);
	assert_int_equal(zdd_decap_addr_add(df->d, a), 0);
	return 0;
}

static int teardown(void **state)
{
	struct decap_fixture *df = *state;

	zdd_decap_close(df->d);
	fixture_teardown(&df->lb);
	free(df);
	return 0;
}

static int decap(struct decap_fixture *df, const void *in, __u32 len)
{
	return run_prog(zdd_decap_prog_fd(df->d), in, len, df->out, &df->out_len);
}

static __u64 counter(struct decap_fixture *df, enum zdd_decap_counter c)
{
	__u64 counts[ZDD_D_MAX];

	assert_int_equal(zdd_decap_counters(df->d, counts), 0);
	return counts[c];
}

/* LB, then decap: the client's packet again, behind the LB's Ethernet header. */
static void round_trip(struct decap_fixture *df, struct pkt *p, __u32 outer)
{
	struct fixture *lb = df->lb;

	assert_int_equal(run(lb, p), XDP_TX);
	assert_int_equal(lb->out_len, p->len + outer);
	assert_int_equal(decap(df, lb->out, lb->out_len), XDP_PASS);
	assert_int_equal(df->out_len, p->len);
	assert_memory_equal(df->out, lb->out, p->l3_off); /* L2 as the LB sent it */
	assert_memory_equal(df->out + p->l3_off, p->data + p->l3_off, p->len - p->l3_off);
}

static void ipv4_in_ipv4_round_trip(void **state)
{
	struct decap_fixture *df = *state;
	struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);

	pkt_payload(&p, 300);
	round_trip(df, &p, 20);
	assert_int_equal(counter(df, ZDD_D_DECAP4), 1);
}

static void ipv6_in_ipv6_round_trip(void **state)
{
	struct decap_fixture *df = *state;
	struct pkt p = pkt_tcp("fd00:1::2", 40001, VIP6, 80, TH_SYN);

	pkt_payload(&p, 300);
	round_trip(df, &p, 40);
	assert_int_equal(counter(df, ZDD_D_DECAP6), 1);
}

static void vlan_round_trip(void **state)
{
	struct decap_fixture *df = *state;
	struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);

	pkt_vlan(&p, 0x8100, 42);
	round_trip(df, &p, 20);
}

static void assert_untouched(struct decap_fixture *df, const void *in, __u32 len)
{
	assert_int_equal(decap(df, in, len), XDP_PASS);
	assert_int_equal(df->out_len, len);
	assert_memory_equal(df->out, in, len);
}

static void others_pass_untouched(void **state)
{
	struct decap_fixture *df = *state;
	struct pkt plain = pkt_tcp("198.18.1.2", 40001, "198.18.3.11", 80, TH_SYN);
	struct pkt arp = plain;
	struct fixture *lb = df->lb;

	arp.data[13] = 0x06;
	assert_untouched(df, plain.data, plain.len);
	assert_untouched(df, arp.data, arp.len);
	/* A tunnel to another host (198.18.3.12) is not ours. */
	add_backend(lb, SVC4, "198.18.3.12", ZDD_BLUE);
	set_state(lb, SVC4, "198.18.3.11", ZDD_BE_DOWN);
	plain = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);
	assert_int_equal(run(lb, &plain), XDP_TX);
	assert_string_equal(outer_dst(lb), "198.18.3.12");
	assert_untouched(df, lb->out, lb->out_len);
	assert_int_equal(counter(df, ZDD_D_PASS), 3);
}

static void malformed_tunnel_passes_untouched(void **state)
{
	struct decap_fixture *df = *state;
	struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);
	struct fixture *lb = df->lb;
	__u8 frame[PKT_MAX];
	__u32 len;

	assert_int_equal(run(lb, &p), XDP_TX);
	len = lb->out_len;
	memcpy(frame, lb->out, len);
	frame[14 + 6] = 0x20; /* outer "more fragments": the inner is incomplete */
	assert_untouched(df, frame, len);
	assert_untouched(df, frame, 14 + 10); /* outer header cut short */
	assert_int_equal(counter(df, ZDD_D_MALFORMED), 2);
	assert_int_equal(counter(df, ZDD_D_DECAP4), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(ipv4_in_ipv4_round_trip),
		T(ipv6_in_ipv6_round_trip),
		T(vlan_round_trip),
		T(others_pass_untouched),
		T(malformed_tunnel_passes_untouched),
	};

	return cmocka_run_group_tests_name("decap", tests, NULL, NULL);
}
