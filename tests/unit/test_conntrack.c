// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_conntrack.c - flows stay pinned to their backend through flips, drains and
 * table swaps; the handshake moves the right counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include "addr.h"
#include "fixture.h"

#define CLIENT "198.18.1.7"

static int setup_blue_green(void **state)
{
	fixture_setup(state);
	add_svc4_two_per_pool(*state);
	return 0;
}

static int is_green(const char *backend)
{
	return !strcmp(backend, "198.18.3.21") || !strcmp(backend, "198.18.3.22");
}

static void later_packets_follow_the_first(void **state)
{
	struct fixture *f = *state;
	char first[ZDD_ADDR_STRLEN];
	int i;

	strcpy(first, send_tcp4(f, CLIENT, 40001, TH_SYN));
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_ACK), first);
	for (i = 0; i < 8; i++)
		assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_ACK), first);
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_FIN | TH_ACK), first);
	assert_int_equal(backend_stats(f, SVC4, first).flows_new, 1);
	assert_int_equal(backend_stats(f, SVC4, first).flows_established, 1);
	assert_int_equal(backend_stats(f, SVC4, first).packets, 11);
	assert_int_equal(reason_count(f, ZDD_R_TX_NEW), 1);
	assert_int_equal(reason_count(f, ZDD_R_TX_FLOW), 10);
}

static void flip_keeps_established_and_embryonic_flows(void **state)
{
	struct fixture *f = *state;
	char est[ZDD_ADDR_STRLEN], emb[ZDD_ADDR_STRLEN];
	__u64 embryos, flows;

	strcpy(est, send_tcp4(f, CLIENT, 40001, TH_SYN));
	send_tcp4(f, CLIENT, 40001, TH_ACK);
	strcpy(emb, send_tcp4(f, CLIENT, 40002, TH_SYN));
	assert_false(is_green(est)); /* weight 0: blue only */
	assert_false(is_green(emb));
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, NULL), 0);
	assert_int_equal(embryos, 1);
	assert_int_equal(flows, 1);

	set_green(f, SVC4, 10000); /* everything new goes green */
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_ACK), est);
	assert_string_equal(send_tcp4(f, CLIENT, 40002, TH_ACK), emb);
	assert_true(is_green(send_tcp4(f, CLIENT, 40003, TH_SYN)));
	assert_true(is_green(send_tcp4(f, "198.18.1.8", 40001, TH_SYN)));
	set_green(f, SVC4, 0); /* and back: pinned flows still stay */
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_ACK), est);
	assert_true(is_green(send_tcp4(f, CLIENT, 40003, TH_ACK)));
}

static void syn_reusing_a_finished_flow_is_balanced_anew(void **state)
{
	struct fixture *f = *state;

	assert_false(is_green(send_tcp4(f, CLIENT, 40001, TH_SYN)));
	send_tcp4(f, CLIENT, 40001, TH_ACK);
	send_tcp4(f, CLIENT, 40001, TH_FIN | TH_ACK);
	set_green(f, SVC4, 10000);
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_SYN))); /* same port, next connection */
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_ACK)));
}

static void syn_reusing_a_reset_flow_is_balanced_anew(void **state)
{
	struct fixture *f = *state;

	assert_false(is_green(send_tcp4(f, CLIENT, 40001, TH_SYN)));
	send_tcp4(f, CLIENT, 40001, TH_ACK);
	send_tcp4(f, CLIENT, 40001, TH_RST);
	set_green(f, SVC4, 10000);
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_SYN)));
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_ACK)));
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_ACK)));
}

/* Calls fn on every way of zdd_flow_sets, behind the data path's and libzdd's back. */
static void each_flow_way(struct fixture *f, void (*fn)(struct zdd_flow *w))
{
	__u32 n, i;
	struct zdd_flow_set *s = zdd_flow_sets_mapped(f->z, &n);
	int w;

	for (i = 0; i < n; i++)
		for (w = 0; w < ZDD_FLOW_WAYS; w++)
			fn(&s[i].way[w]);
}

static void make_quiet(struct zdd_flow *w)
{
	w->val.last_seen_ns = 1;
}

/* Makes every established flow look quiet for minutes. */
static void age_flows(struct fixture *f)
{
	each_flow_way(f, make_quiet);
}

/* No FIN or RST came through (the client vanished, a NAT gave its port to another client). */
static void syn_reusing_a_quiet_flow_is_balanced_anew(void **state)
{
	struct fixture *f = *state;

	assert_false(is_green(send_tcp4(f, CLIENT, 40001, TH_SYN)));
	send_tcp4(f, CLIENT, 40001, TH_ACK);
	age_flows(f);
	set_green(f, SVC4, 10000);
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_SYN)));
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_ACK)));
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_ACK)));
}

/* After the client's FIN the server may still send (DSR: not through us); the client's ACKs
 * must keep reaching it, quiet or not, whatever the weights say now. */
static void half_closed_flow_stays_on_its_backend(void **state)
{
	struct fixture *f = *state;
	char first[ZDD_ADDR_STRLEN];
	int i;

	strcpy(first, send_tcp4(f, CLIENT, 40001, TH_SYN));
	send_tcp4(f, CLIENT, 40001, TH_ACK);
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_FIN | TH_ACK), first);
	set_green(f, SVC4, 10000);
	for (i = 0; i < 4; i++)
		assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_ACK), first);
	age_flows(f);
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_ACK), first);
	assert_int_equal(reason_count(f, ZDD_R_TX_FLOW), 7);
}

/* All weight to green, then a first SYN from CLIENT:sport; its backend in first. */
static void first_syn_to_green(struct fixture *f, __u16 sport, char first[ZDD_ADDR_STRLEN])
{
	set_green(f, SVC4, 10000);
	strcpy(first, send_tcp4(f, CLIENT, sport, TH_SYN));
	assert_true(is_green(first));
}

static void syn_retransmit_follows_a_rollback(void **state)
{
	struct fixture *f = *state;
	char first[ZDD_ADDR_STRLEN];

	first_syn_to_green(f, 40001, first);
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_SYN), first); /* same tables: same */
	set_green(f, SVC4, 0); /* green is rolled back before it ever answered */
	assert_false(is_green(send_tcp4(f, CLIENT, 40001, TH_SYN)));
	assert_false(is_green(send_tcp4(f, CLIENT, 40001, TH_ACK))); /* and the flow stays there */
	assert_int_equal(backend_stats(f, SVC4, first).syn_retransmits, 2);
}

/* A change that still sends new flows to the first choice's pool leaves the retransmit there:
 * the backend may have answered, its SYN-ACK lost, and the client's ACK follows its answer. */
static void syn_retransmit_stays_while_its_pool_takes_flows(void **state)
{
	struct fixture *f = *state;
	char first[ZDD_ADDR_STRLEN];

	first_syn_to_green(f, 40002, first);
	set_green(f, SVC4, 1); /* a new flow of this client goes blue now */
	assert_false(is_green(send_tcp4(f, CLIENT, 40003, TH_SYN)));
	assert_string_equal(send_tcp4(f, CLIENT, 40002, TH_SYN), first);
	assert_string_equal(send_tcp4(f, CLIENT, 40002, TH_ACK), first);
	assert_int_equal(backend_stats(f, SVC4, first).syn_retransmits, 1);
}

static void syn_retransmit_and_reset_are_counted(void **state)
{
	struct fixture *f = *state;
	char be[ZDD_ADDR_STRLEN];
	struct zdd_backend_stats st;

	strcpy(be, send_tcp4(f, CLIENT, 40001, TH_SYN));
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_SYN), be);
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_SYN), be);
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_RST), be);
	st = backend_stats(f, SVC4, be);
	assert_int_equal(st.flows_new, 1);
	assert_int_equal(st.syn_retransmits, 2);
	assert_int_equal(st.client_resets, 0); /* a handshake's reset: test_outcomes.c */
	assert_int_equal(st.flows_established, 0);
}

/* A flow that lands on backend addr, found by trying source ports. */
static __u16 flow_to(struct fixture *f, const char *addr)
{
	__u16 port;

	for (port = 41000; port < 42000; port++)
		if (!strcmp(send_tcp4(f, CLIENT, port, TH_SYN), addr)) {
			send_tcp4(f, CLIENT, port, TH_ACK);
			return port;
		}
	fail_msg("no flow reached %s", addr);
	return 0;
}

static void drained_and_down_backends_get_no_new_flows(void **state)
{
	struct fixture *f = *state;
	enum zdd_backend_state states[] = { ZDD_BE_DRAIN, ZDD_BE_DOWN };
	__u16 pinned, port;
	size_t i;

	for (i = 0; i < 2; i++) {
		pinned = flow_to(f, "198.18.3.11");
		set_state(f, SVC4, "198.18.3.11", states[i]);
		for (port = 50000; port < 50200; port++)
			assert_string_equal(send_tcp4(f, "198.18.1.9", port, TH_SYN),
					    "198.18.3.12");
		assert_string_equal(send_tcp4(f, CLIENT, pinned, TH_ACK), "198.18.3.11");
		set_state(f, SVC4, "198.18.3.11", ZDD_BE_UP);
	}
}

static void miss_is_routed_and_recorded(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_key key = svc_key(SVC4);
	struct zdd_service_val val;
	struct zdd_service_stats ss;
	char be[ZDD_ADDR_STRLEN];
	__u64 embryos, flows, adopted;

	strcpy(be, send_tcp4(f, CLIENT, 40001, TH_ACK)); /* mid-flow, never seen */
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 1);
	assert_int_equal(zdd_service_get(f->z, &key, &val), 0);
	assert_int_equal(zdd_service_stats_read(f->z, val.index, &ss), 0);
	assert_int_equal(ss.conntrack_misses, 1);
	assert_int_equal(ss.adopted, 1);
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, &adopted), 0);
	assert_int_equal(flows, 0); /* a packet alone creates no entry there: floods cannot */
	assert_int_equal(adopted, 1);
	set_green(f, SVC4, 10000);
	assert_string_equal(send_tcp4(f, CLIENT, 40001, TH_ACK), be); /* now pinned */
}

/* Forces the last swap to look old, so the grace window is over. */
static void age_last_swap(struct fixture *f)
{
	set_changed_ns(f, SVC4, 1);
}

static void miss_after_flip_uses_previous_generation_in_grace(void **state)
{
	struct fixture *f = *state;
	__u16 port;

	set_green(f, SVC4, 0);
	set_green(f, SVC4, 10000);
	/* Within the grace window a miss is routed as before the flip: blue. */
	for (port = 43000; port < 43050; port++)
		assert_false(is_green(send_tcp4(f, CLIENT, port, TH_ACK)));
	age_last_swap(f);
	for (port = 44000; port < 44050; port++)
		assert_true(is_green(send_tcp4(f, CLIENT, port, TH_ACK)));
	/* SYNs are new flows: always the current generation. */
	set_green(f, SVC4, 0);
	set_green(f, SVC4, 10000);
	assert_true(is_green(send_tcp4(f, CLIENT, 45000, TH_SYN)));
}

#define FLOOD 3000

/* Room for a flood's records: a way is lost only when two newer SYNs land in its set, and
 * that is no sampler's doing. */
static int setup_roomy_embryos(void **state)
{
	struct zdd_limits l = fixture_limits();

	l.embryos = 1 << 20;
	fixture_setup_limits(state, &l);
	add_svc4_two_per_pool(*state);
	return 0;
}

/*
 * SYN sampling (bpf/lib/conntrack.h): a flood on settled tables records few SYNs, yet every
 * handshake's ACK reaches its SYN's backend: across a weight change (the miss path routes an
 * unrecorded ACK by the previous generation), and in the grace window after a change that
 * moved half the flows (the SYNs the miss path would send elsewhere are recorded).
 */
static void flood_handshakes_stay_pinned_across_a_change(void **state)
{
	struct fixture *f = *state;
	static char be[FLOOD][ZDD_ADDR_STRLEN];
	__u64 embryos, flows;
	__u32 i, round;

	set_green(f, SVC4, 5000);
	set_syn_budget(f, 8);
	for (round = 0; round < 2; round++) {
		/* 0: tables settled long ago. 1: the change to 100% green, 5 s ago: beyond the
		 * handshake timeout, within the grace window. */
		set_changed_ns(f, SVC4, round ? mono_ns() - 5000000000ULL : 1);
		for (i = 0; i < FLOOD; i++)
			strcpy(be[i], send_flood4(f, round * FLOOD + i, TH_SYN));
		if (!round) {
			assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, NULL), 0);
			assert_true(embryos < FLOOD / 4); /* the sampler ran */
			set_green(f, SVC4, 10000);	  /* SYNs before the change, ACKs after */
		}
		for (i = 0; i < FLOOD; i++)
			if (strcmp(send_flood4(f, round * FLOOD + i, TH_ACK), be[i]))
				fail_msg("round %u, flow %u: the ACK went to %s, its SYN to %s",
					 round, i, outer_dst(f), be[i]);
	}
}

static void deleted_backend_loses_its_flows_not_others(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_key key = svc_key(SVC4);
	__u16 gone = flow_to(f, "198.18.3.11"), kept = flow_to(f, "198.18.3.12");
	__u8 a[16];

	zdd_addr_parse("198.18.3.11", a);
	assert_int_equal(zdd_backend_del(f->z, &key, a), 0);
	assert_string_equal(send_tcp4(f, CLIENT, kept, TH_ACK), "198.18.3.12");
	assert_string_equal(send_tcp4(f, CLIENT, gone, TH_ACK), "198.18.3.12");
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 1);
}

static void deleted_backend_loses_its_embryonic_flows(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_key key = svc_key(SVC4);
	__u64 embryos, flows, gone = 0;
	__u16 port;
	__u8 a[16];

	for (port = 46000; port < 46100; port++)
		gone += !strcmp(send_tcp4(f, CLIENT, port, TH_SYN), "198.18.3.11");
	assert_in_range(gone, 1, 99);
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, NULL), 0);
	assert_int_equal(embryos, 100);
	zdd_addr_parse("198.18.3.11", a);
	assert_int_equal(zdd_backend_del(f->z, &key, a), 0);
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, NULL), 0);
	assert_int_equal(embryos, 100 - gone);
}

static void reasons_add_up_to_packets(void **state)
{
	struct fixture *f = *state;
	struct pkt other = pkt_udp(CLIENT, 1, "198.18.9.9", 53);
	__u64 counts[ZDD_R_MAX], sum = 0;
	int i;

	for (i = 0; i < 20; i++)
		send_tcp4(f, CLIENT, 40000 + i % 5, i < 5 ? TH_SYN : TH_ACK);
	for (i = 0; i < 7; i++)
		assert_int_equal(run(f, &other), XDP_PASS);
	assert_int_equal(zdd_reasons_read(f->z, counts), 0);
	for (i = 0; i < ZDD_R_MAX; i++)
		sum += counts[i];
	assert_int_equal(sum, 27);
	assert_int_equal(counts[ZDD_R_NO_SERVICE], 7);
}

/* Deletes every zdd_flow_sets entry the way nothing of ours does: behind libzdd's back, so no
 * flow epoch is bumped and only the flow cache still knows the flows. */
static void free_way(struct zdd_flow *w)
{
	w->key.svc.proto = 0;
}

static void delete_flows_behind_libzdd(struct fixture *f)
{
	each_flow_way(f, free_way);
}

static int every_flow(const struct zdd_ct_entry *e, void *ctx)
{
	(void)ctx;
	return e->table == ZDD_CT_FLOWS;
}

/* Handshake, then one packet that finds the flow in zdd_flow_sets: this CPU caches it. */
static void open_cached_flow(struct fixture *f, __u16 sport)
{
	send_tcp4(f, CLIENT, sport, TH_SYN);
	send_tcp4(f, CLIENT, sport, TH_ACK);
	send_tcp4(f, CLIENT, sport, TH_ACK);
}

/* A flow only this CPU's cache still knows: its zdd_flow_sets entry gone, its next ACK is still
 * forwarded from the copy instead of missing. */
static void orphan_cached_flow(struct fixture *f, __u16 sport)
{
	__u64 misses = reason_count(f, ZDD_R_TX_MISS);

	open_cached_flow(f, sport);
	delete_flows_behind_libzdd(f);
	send_tcp4(f, CLIENT, sport, TH_ACK);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), misses);
}

/* A flush through libzdd ends the copies at once. */
static void flow_cache_serves_until_a_flush(void **state)
{
	struct fixture *f = *state;

	orphan_cached_flow(f, 40001);
	open_cached_flow(f, 40002);
	assert_int_equal(zdd_conntrack_walk(f->z, every_flow, NULL), 0);
	send_tcp4(f, CLIENT, 40002, TH_ACK);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 1);
	send_tcp4(f, CLIENT, 40001, TH_ACK); /* its copy is of the old epoch too */
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 2);
}

/* A copy serves for at most a second: then the flow passes conntrack again. */
static void flow_cache_copy_goes_stale(void **state)
{
	struct fixture *f = *state;

	orphan_cached_flow(f, 40001);
	usleep(1100 * 1000); /* ZDD_FLOW_CACHE_TICKS: 1 s at HZ=100, less above */
	send_tcp4(f, CLIENT, 40001, TH_ACK);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 1);
}

/* FIN and RST may end a connection: conntrack sees them, and the copy is gone. */
static void flow_cache_lets_fin_and_rst_through(void **state)
{
	static const __u8 flags[] = { TH_FIN | TH_ACK, TH_RST };
	/* Misses so far, after the flagged packet and after the ACK behind it: both miss; after
	 * a FIN the flow is recorded again, after a RST not. */
	static const __u64 after_flag[] = { 1, 2 }, after_ack[] = { 1, 3 };
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(flags); i++) {
		open_cached_flow(f, 40001 + i);
		delete_flows_behind_libzdd(f);
		send_tcp4(f, CLIENT, 40001 + i, flags[i]);
		assert_int_equal(reason_count(f, ZDD_R_TX_MISS), after_flag[i]);
		send_tcp4(f, CLIENT, 40001 + i, TH_ACK);
		assert_int_equal(reason_count(f, ZDD_R_TX_MISS), after_ack[i]);
	}
}

/* The last ACK after the client's FIN finds a closing flow: it must not be cached, or the
 * next connection on the port sends its handshake ACK to the old backend from the copy. */
static void flow_cache_never_keeps_a_closing_flow(void **state)
{
	struct fixture *f = *state;

	assert_false(is_green(send_tcp4(f, CLIENT, 40001, TH_SYN)));
	send_tcp4(f, CLIENT, 40001, TH_ACK);
	send_tcp4(f, CLIENT, 40001, TH_FIN | TH_ACK);
	assert_false(is_green(send_tcp4(f, CLIENT, 40001, TH_ACK))); /* the last ACK */
	set_green(f, SVC4, 10000);
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_SYN))); /* within the cache's time */
	assert_true(is_green(send_tcp4(f, CLIENT, 40001, TH_ACK)));
}

/* The service cache (bpf/lib/svc_cache.h) holds this CPU's copy of SVC4 from the first SYN:
 * a deleted service takes no packet from the next one on, as when zdd_services was read for
 * every packet. */
static void deleted_service_takes_no_packet_at_once(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_key key = svc_key(SVC4);
	struct pkt p = pkt_tcp(CLIENT, 40002, VIP4, 80, TH_SYN);

	send_tcp4(f, CLIENT, 40001, TH_SYN);
	assert_int_equal(zdd_service_del(f->z, &key), 0);
	assert_int_equal(run(f, &p), XDP_PASS);
	assert_int_equal(reason_count(f, ZDD_R_NO_SERVICE), 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_blue_green, fixture_teardown)

/* /metrics walks the tables at most every few seconds: the cached count until then. */
static void conntrack_count_recent_is_cached(void **state)
{
	struct fixture *f = *state;
	__u64 embryos, flows;

	send_tcp4(f, CLIENT, 40001, TH_SYN);
	send_tcp4(f, CLIENT, 40001, TH_ACK);
	assert_int_equal(zdd_conntrack_count_recent(f->z, 60000, &embryos, &flows, NULL), 0);
	assert_int_equal(flows, 1);
	send_tcp4(f, CLIENT, 40002, TH_SYN);
	send_tcp4(f, CLIENT, 40002, TH_ACK);
	assert_int_equal(zdd_conntrack_count_recent(f->z, 60000, &embryos, &flows, NULL), 0);
	assert_int_equal(flows, 1);
	assert_int_equal(zdd_conntrack_count_recent(f->z, 0, &embryos, &flows, NULL), 0);
	assert_int_equal(flows, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(later_packets_follow_the_first),
		T(flip_keeps_established_and_embryonic_flows),
		T(syn_reusing_a_finished_flow_is_balanced_anew),
		T(syn_reusing_a_reset_flow_is_balanced_anew),
		T(syn_reusing_a_quiet_flow_is_balanced_anew),
		T(half_closed_flow_stays_on_its_backend),
		T(syn_retransmit_follows_a_rollback),
		T(syn_retransmit_stays_while_its_pool_takes_flows),
		T(syn_retransmit_and_reset_are_counted),
		T(drained_and_down_backends_get_no_new_flows),
		T(miss_is_routed_and_recorded),
		T(miss_after_flip_uses_previous_generation_in_grace),
		cmocka_unit_test_setup_teardown(flood_handshakes_stay_pinned_across_a_change,
						setup_roomy_embryos, fixture_teardown),
		T(deleted_backend_loses_its_flows_not_others),
		T(deleted_backend_loses_its_embryonic_flows),
		T(reasons_add_up_to_packets),
		T(conntrack_count_recent_is_cached),
		T(flow_cache_serves_until_a_flush),
		T(flow_cache_copy_goes_stale),
		T(flow_cache_lets_fin_and_rst_through),
		T(flow_cache_never_keeps_a_closing_flow),
		T(deleted_service_takes_no_packet_at_once),
	};

	return cmocka_run_group_tests_name("conntrack", tests, NULL, NULL);
}
