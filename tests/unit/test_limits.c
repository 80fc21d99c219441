// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_limits.c - full tables: SYN, ACK and UDP floods 10x the tables leave every
 * established flow where it was, across weight changes; adopted TCP flows that prove live join
 * them; a full embryonic set forgets its oldest handshake; a full flow table is seen in the miss
 * counters; full service and backend tables are clear errors that change nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <bpf/bpf.h>
#include "addr.h"
#include "apply.h"
#include "fixture.h"

#define EMBRYOS 256
#define FLOWS	512
#define ADOPTED 256
#define FLOOD	(10 * FLOWS) /* 10x the largest table */
#define SVCU	VIP4 ":53/udp"

static int setup_embryos(void **state, __u32 embryos)
{
	const struct zdd_limits l = {
		.services = 4,
		.backends = 8,
		.maglev_m = 251,
		.flows = FLOWS,
		.embryos = embryos,
		.adopted = ADOPTED,
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
 * not change), counted as a miss, and is adopted; the two others complete as usual. */
static void a_full_embryo_set_forgets_its_oldest_handshake(void **state)
{
	struct fixture *f = *state;
	char a[ZDD_ADDR_STRLEN], b[ZDD_ADDR_STRLEN], c[ZDD_ADDR_STRLEN];
	__u64 embryos, flows, adopted;

	strcpy(a, send_tcp4(f, "198.18.1.1", 40000, TH_SYN));
	strcpy(b, send_tcp4(f, "198.18.1.2", 40000, TH_SYN));
	strcpy(c, send_tcp4(f, "198.18.1.3", 40000, TH_SYN));
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, NULL), 0);
	assert_int_equal(embryos, 2);
	assert_string_equal(send_tcp4(f, "198.18.1.2", 40000, TH_ACK), b);
	assert_string_equal(send_tcp4(f, "198.18.1.3", 40000, TH_ACK), c);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 0);
	assert_string_equal(send_tcp4(f, "198.18.1.1", 40000, TH_ACK), a);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 1);
	assert_int_equal(reason_count(f, ZDD_R_TX_FLOW), 2);
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, &adopted), 0);
	assert_int_equal(embryos, 0);
	assert_int_equal(flows, 2);
	assert_int_equal(adopted, 1);
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
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, NULL), 0);
	assert_in_range(embryos, 1, EMBRYOS);
	assert_int_equal(flows, 100);
	for (i = 0; i < 100; i++) {
		snprintf(src, sizeof(src), "198.18.1.%d", i + 1);
		assert_string_equal(send_tcp4(f, src, 40000, TH_ACK), backend[i]);
	}
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 0);
}

#define N_EST 100

/* N_EST completed handshakes from 198.18.1.x; their backends in be. */
static void establish(struct fixture *f, char be[N_EST][ZDD_ADDR_STRLEN])
{
	char src[32];
	int i;

	for (i = 0; i < N_EST; i++) {
		snprintf(src, sizeof(src), "198.18.1.%d", i + 1);
		strcpy(be[i], send_tcp4(f, src, 40000, TH_SYN));
		send_tcp4(f, src, 40000, TH_ACK);
	}
}

/* The flow cache forgets its copies (as it does within a second anyway): what follows is
 * conntrack's doing alone. */
static void cache_forget(struct fixture *f)
{
	assert_int_equal(zdd_caches_stale(f->z), 0);
}

/* Every established flow still on its backend, by conntrack alone. The grace window's
 * fallback to the previous table cannot help: two weight changes came since they started. */
static void assert_established(struct fixture *f, char be[N_EST][ZDD_ADDR_STRLEN])
{
	char src[32];
	__u64 misses = reason_count(f, ZDD_R_TX_MISS);
	int i;

	cache_forget(f);
	for (i = 0; i < N_EST; i++) {
		snprintf(src, sizeof(src), "198.18.1.%d", i + 1);
		assert_string_equal(send_tcp4(f, src, 40000, TH_ACK), be[i]);
	}
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), misses);
}

static struct zdd_service_stats svc_stats(struct fixture *f, const char *svc)
{
	struct zdd_service_key key = svc_key(svc);
	struct zdd_service_stats ss;
	struct zdd_service_val val;

	assert_int_equal(zdd_service_get(f->z, &key, &val), 0);
	assert_int_equal(zdd_service_stats_read(f->z, val.index, &ss), 0);
	return ss;
}

/* FLOOD packets from spoofed sources, one per 5-tuple: TCP ACKs to SVC4, or UDP to SVCU; the
 * rollout moves on twice meanwhile (green 50%, then 100%). */
static void flood(struct fixture *f, int udp)
{
	char src[32];
	struct pkt p;
	int i;

	for (i = 0; i < FLOOD; i++) {
		snprintf(src, sizeof(src), "198.19.%d.%d", 100 + i / 250, 1 + i % 250);
		p = udp ? pkt_udp(src, (__u16)(1024 + i), VIP4, 53)
			: pkt_tcp(src, (__u16)(1024 + i), VIP4, 80, TH_ACK);
		assert_int_equal(run(f, &p), XDP_TX);
		if (i == FLOOD / 2)
			set_green(f, SVC4, 5000);
	}
	set_green(f, SVC4, 10000);
}

static void ack_flood_leaves_established_flows_alone(void **state)
{
	struct fixture *f = *state;
	char be[N_EST][ZDD_ADDR_STRLEN];
	__u64 embryos, flows, adopted;

	establish(f, be);
	flood(f, 0);
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, &adopted), 0);
	assert_int_equal(flows, N_EST);
	assert_in_range(adopted, 1, ADOPTED);
	/* the flood shows: as misses, and as adopted flows, none of them promoted */
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), FLOOD);
	assert_int_equal(svc_stats(f, SVC4).adopted, FLOOD);
	assert_int_equal(svc_stats(f, SVC4).promoted, 0);
	assert_established(f, be);
}

static void udp_flood_leaves_established_flows_alone(void **state)
{
	struct fixture *f = *state;
	char be[N_EST][ZDD_ADDR_STRLEN];
	__u64 embryos, flows, adopted, tx_new;

	add_service(f, SVCU);
	add_backend(f, SVCU, "198.18.3.31", ZDD_BLUE);
	establish(f, be);
	tx_new = reason_count(f, ZDD_R_TX_NEW);
	flood(f, 1);
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, &adopted), 0);
	assert_int_equal(flows, N_EST);
	assert_in_range(adopted, 1, ADOPTED);
	assert_int_equal(reason_count(f, ZDD_R_TX_NEW) - tx_new, FLOOD);
	assert_int_equal(svc_stats(f, SVCU).adopted, FLOOD);
	assert_established(f, be);
}

/* Two seconds pass for the adopted flow: its last sight goes back, the flow cache's copies
 * expire, and its next packet is its once-a-second check. */
static void age_adopted(struct fixture *f, const char *saddr, __u16 sport)
{
	struct zdd_flow_key k = { .svc = svc_key(SVC4), .sport = htons(sport) };
	int fd = zdd_map_fd(f->z, ZDD_MAP_ADOPTED);
	struct zdd_adopted_val v;

	assert_int_equal(zdd_addr_parse(saddr, k.saddr), 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	v.f.last_seen_ns -= 2000000000ULL;
	assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_EXIST), 0);
	cache_forget(f);
}

/* An ACK of the flow 198.18.9.9:sport with sequence and acknowledgement numbers seq, ack. */
static const char *send_seq(struct fixture *f, __u16 sport, __u32 seq, __u32 ack)
{
	struct pkt p = pkt_tcp("198.18.9.9", sport, VIP4, 80, TH_ACK);
	struct tcphdr *th = (struct tcphdr *)(p.data + p.l4_off);

	th->seq = htonl(seq);
	th->ack_seq = htonl(ack);
	pkt_fix_csums(&p);
	assert_int_equal(run(f, &p), XDP_TX);
	return outer_dst(f);
}

/* Connections the balancer first sees mid-stream (an LB restart, a flow moved from another
 * node) are adopted; a second later, one sent data (its sequence number moved on), the other
 * received some (its acknowledgement number did): both are promoted to zdd_flow_sets, where the
 * floods cannot evict them. The same numbers again (a replay) promote nothing. */
static void adopted_flows_proven_live_survive_floods(void **state)
{
	struct fixture *f = *state;
	char up[ZDD_ADDR_STRLEN], down[ZDD_ADDR_STRLEN];
	__u64 embryos, flows, adopted;

	set_green(f, SVC4, 0);
	strcpy(up, send_seq(f, 41000, 1000, 5000));
	strcpy(down, send_seq(f, 41001, 1000, 5000));
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, &adopted), 0);
	assert_int_equal(flows, 0);
	assert_int_equal(adopted, 2);
	age_adopted(f, "198.18.9.9", 41000);
	assert_string_equal(send_seq(f, 41000, 1000, 5000), up); /* a replay, not proof */
	assert_int_equal(svc_stats(f, SVC4).promoted, 0);
	assert_string_equal(send_seq(f, 41000, 1200, 5000), up); /* within the second: no check */
	assert_int_equal(svc_stats(f, SVC4).promoted, 0);
	age_adopted(f, "198.18.9.9", 41000);
	age_adopted(f, "198.18.9.9", 41001);
	assert_string_equal(send_seq(f, 41000, 1400, 5000), up);
	assert_string_equal(send_seq(f, 41001, 1000, 9000), down);
	assert_int_equal(svc_stats(f, SVC4).promoted, 2);
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, &adopted), 0);
	assert_int_equal(flows, 2);
	assert_int_equal(adopted, 0);
	flood(f, 0);
	assert_int_equal(svc_stats(f, SVC4).promoted, 2);
	cache_forget(f);
	assert_string_equal(send_seq(f, 41000, 1600, 5000), up);
	assert_string_equal(send_seq(f, 41001, 1000, 9500), down);
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
		T(ack_flood_leaves_established_flows_alone),
		T(udp_flood_leaves_established_flows_alone),
		T(adopted_flows_proven_live_survive_floods),
		T(full_flow_table_shows_in_misses),
		T(full_service_and_backend_tables_change_nothing),
		cmocka_unit_test_setup_teardown(a_full_embryo_set_forgets_its_oldest_handshake,
						setup_one_set, fixture_teardown),
	};

	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
