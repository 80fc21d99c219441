// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_outcomes.c - handshake outcomes per flow in zdd_cohorts, through the real
 * program: a flow counts in the cohort of its first SYN, and its ACK (in time) or a client RST
 * before it lands in the same cohort. The rollback judgement reads nothing else. */
#include <arpa/inet.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "addr.h"
#include "fixture.h"

#define CLIENT "198.18.1.7"

static __u32 service_index(struct fixture *f, const char *svc)
{
	struct zdd_service_key key = svc_key(svc);
	struct zdd_service_val val;

	assert_int_equal(zdd_service_get(f->z, &key, &val), 0);
	return val.index;
}

/*
 * The pool's outcomes of every cohort since `since` (a clock reading taken before the first
 * SYN of the test; one cohort earlier too: the data path's coarse clock may lag a tick).
 */
static struct zdd_cohort outcomes(struct fixture *f, const char *svc, int pool, __u64 since)
{
	__u32 t, first = (since >> ZDD_COHORT_SHIFT) - 1, last = mono_ns() >> ZDD_COHORT_SHIFT;
	struct zdd_cohort sum = {}, c;

	for (t = first; t <= last; t++) {
		assert_int_equal(zdd_cohort_read(f->z, service_index(f, svc), pool, t, &c), 0);
		sum.started += c.started;
		sum.completed += c.completed;
		sum.reset += c.reset;
	}
	return sum;
}

static int pool_of(const char *backend)
{
	return strcmp(backend, "198.18.3.21") ? ZDD_BLUE : ZDD_GREEN; /* the fixture's backends */
}

static void set_handshake_ms(struct fixture *f, const char *svc, __u16 ms)
{
	struct zdd_service_key key = svc_key(svc);
	struct zdd_service_val val;

	assert_int_equal(zdd_service_get(f->z, &key, &val), 0);
	val.handshake_ms = ms;
	assert_int_equal(zdd_service_put(f->z, &key, &val, BPF_EXIST), 0);
}

static void completed_handshake_counts_in_its_syns_cohort(void **state)
{
	struct fixture *f = *state;
	__u64 t0 = mono_ns();
	char be[ZDD_ADDR_STRLEN];
	struct zdd_cohort c;

	strcpy(be, send_tcp4(f, CLIENT, 40001, TH_SYN));
	send_tcp4(f, CLIENT, 40001, TH_SYN); /* a retransmit is not another flow */
	send_tcp4(f, CLIENT, 40001, TH_ACK);
	send_tcp4(f, CLIENT, 40001, TH_ACK); /* nor is the flow's next packet */
	c = outcomes(f, SVC4, pool_of(be), t0);
	assert_int_equal(c.started, 1);
	assert_int_equal(c.completed, 1);
	assert_int_equal(c.reset, 0);
	c = outcomes(f, SVC4, !pool_of(be), t0);
	assert_int_equal(c.started, 0);
}

static void syn_without_ack_stays_failed(void **state)
{
	struct fixture *f = *state;
	__u64 t0 = mono_ns();
	struct zdd_cohort c;
	char be[ZDD_ADDR_STRLEN];

	strcpy(be, send_tcp4(f, CLIENT, 40002, TH_SYN));
	c = outcomes(f, SVC4, pool_of(be), t0);
	assert_int_equal(c.started, 1);
	assert_int_equal(c.completed, 0);
}

/* A client that gives up in its handshake: one failed flow, reset; its way is free, so a later
 * ACK of the tuple is a conntrack miss, not a completion. The flow's backend gets the RST. */
static void client_reset_in_handshake_is_one_failed_flow(void **state)
{
	struct fixture *f = *state;
	__u64 t0 = mono_ns();
	struct zdd_backend_stats st;
	char be[ZDD_ADDR_STRLEN];
	struct zdd_cohort c;

	strcpy(be, send_tcp4(f, CLIENT, 40003, TH_SYN));
	assert_string_equal(send_tcp4(f, CLIENT, 40003, TH_RST), be);
	send_tcp4(f, CLIENT, 40003, TH_RST); /* a flood of RST packets is still one flow */
	c = outcomes(f, SVC4, pool_of(be), t0);
	assert_int_equal(c.started, 1);
	assert_int_equal(c.reset, 1);
	assert_int_equal(c.completed, 0);
	st = backend_stats(f, SVC4, be);
	assert_int_equal(st.client_resets, 0); /* not an established flow's reset */
	send_tcp4(f, CLIENT, 40003, TH_ACK);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 2);
	assert_int_equal(outcomes(f, SVC4, pool_of(be), t0).completed, 0);
}

/* Later RSTs are the client's business, not a handshake failure: counted once per flow. */
static void established_flow_reset_counts_once_apart(void **state)
{
	struct fixture *f = *state;
	__u64 t0 = mono_ns();
	struct zdd_backend_stats st;
	char be[ZDD_ADDR_STRLEN];
	struct zdd_cohort c;

	strcpy(be, send_tcp4(f, CLIENT, 40004, TH_SYN));
	send_tcp4(f, CLIENT, 40004, TH_ACK);
	send_tcp4(f, CLIENT, 40004, TH_FIN | TH_ACK);
	send_tcp4(f, CLIENT, 40004, TH_RST | TH_ACK);
	send_tcp4(f, CLIENT, 40004, TH_RST);
	st = backend_stats(f, SVC4, be);
	assert_int_equal(st.client_resets, 1);
	assert_int_equal(st.flows_established, 1);
	c = outcomes(f, SVC4, pool_of(be), t0);
	assert_int_equal(c.started, 1);
	assert_int_equal(c.completed, 1);
	assert_int_equal(c.reset, 0);
}

/* An ACK after the handshake timeout: the connection works (the flow is established), but
 * it does not count as a handshake in time. */
static void late_ack_is_established_but_not_in_time(void **state)
{
	struct fixture *f = *state;
	__u64 t0 = mono_ns();
	struct zdd_backend_stats st;
	char be[ZDD_ADDR_STRLEN];
	struct zdd_cohort c;

	set_handshake_ms(f, SVC4, 100);
	strcpy(be, send_tcp4(f, CLIENT, 40005, TH_SYN));
	usleep(150 * 1000);
	assert_string_equal(send_tcp4(f, CLIENT, 40005, TH_ACK), be);
	st = backend_stats(f, SVC4, be);
	assert_int_equal(st.flows_established, 1);
	c = outcomes(f, SVC4, pool_of(be), t0);
	assert_int_equal(c.started, 1);
	assert_int_equal(c.completed, 0);
	assert_int_equal(reason_count(f, ZDD_R_TX_FLOW), 1);
}

/* A SYN retransmitted after a rollback follows the tables: it is a flow anew in the new pool's
 * cohort, completed there; the first pool's cohort keeps it as failed (its backend never
 * answered the first SYN). */
static void resteered_syn_moves_the_flow_to_the_new_pool(void **state)
{
	struct fixture *f = *state;
	__u64 t0 = mono_ns();
	struct zdd_cohort green, blue;

	set_green(f, SVC4, 10000);
	assert_string_equal(send_tcp4(f, CLIENT, 40006, TH_SYN), "198.18.3.21");
	set_green(f, SVC4, 0);
	assert_string_equal(send_tcp4(f, CLIENT, 40006, TH_SYN), "198.18.3.11");
	assert_string_equal(send_tcp4(f, CLIENT, 40006, TH_ACK), "198.18.3.11");
	green = outcomes(f, SVC4, ZDD_GREEN, t0);
	blue = outcomes(f, SVC4, ZDD_BLUE, t0);
	assert_int_equal(green.started, 1);
	assert_int_equal(green.completed, 0);
	assert_int_equal(blue.started, 1);
	assert_int_equal(blue.completed, 1);
}

/* UDP has no handshake: its flows never appear in the cohorts. */
static void udp_flows_are_not_handshakes(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_key key = svc_key("198.19.0.10:53/udp");
	struct zdd_service_opts o = {};
	__u64 t0 = mono_ns();
	struct pkt p;
	__u8 a[16];
	int i;

	assert_int_equal(zdd_service_add(f->z, &key, &o), 0);
	assert_int_equal(zdd_addr_parse("198.18.3.11", a), 0);
	assert_int_equal(
		zdd_backend_add(f->z, &key, a, ZDD_BLUE, 1, (const __u8 *)"\2\0\0\0\0\1", NULL), 0);
	assert_int_equal(zdd_service_commit(f->z, &key, -1), 0);
	for (i = 0; i < 3; i++) {
		p = pkt_udp(CLIENT, 5000 + i, VIP4, 53);
		assert_int_equal(run(f, &p), XDP_TX);
	}
	assert_int_equal(outcomes(f, "198.19.0.10:53/udp", ZDD_BLUE, t0).started, 0);
}

/* An entry still holding a cohort ZDD_COHORTS older starts afresh: stale counts never add up
 * with new ones. */
static void stale_cohort_entry_starts_afresh(void **state)
{
	struct fixture *f = *state;
	int ncpus = libbpf_num_possible_cpus(), cpu;
	__u32 idx = service_index(f, SVC4), tick, key, t;
	struct zdd_cohort stale[ncpus], c;
	char be[ZDD_ADDR_STRLEN];
	__u64 t0 = mono_ns();

	/* Plant stale counts in every entry the SYN may use (this cohort, and the next in case
	 * the clock moves on), in both pools. */
	for (t = 0; t < 2; t++) {
		tick = (t0 >> ZDD_COHORT_SHIFT) + t;
		for (cpu = 0; cpu < ncpus; cpu++)
			stale[cpu] = (struct zdd_cohort){ tick - ZDD_COHORTS, 99, 98, 97 };
		for (key = ZDD_COHORT_KEY(idx, 0, tick); key <= ZDD_COHORT_KEY(idx, 1, tick);
		     key += ZDD_COHORTS)
			assert_int_equal(bpf_map_update_elem(zdd_map_fd(f->z, ZDD_MAP_COHORTS),
							     &key, stale, BPF_ANY),
					 0);
	}
	strcpy(be, send_tcp4(f, CLIENT, 40007, TH_SYN));
	c = outcomes(f, SVC4, pool_of(be), t0);
	assert_int_equal(c.started, 1);
	assert_int_equal(c.completed, 0);
	assert_int_equal(c.reset, 0);
	/* The reader takes only the cohort asked for: the per-CPU entries of the slot still
	 * holding the stale tick, whichever the SYN (or a cohort boundary crossed meanwhile)
	 * left so. */
	tick = (t0 >> ZDD_COHORT_SHIFT) - ZDD_COHORTS;
	key = ZDD_COHORT_KEY(idx, ZDD_BLUE, tick);
	assert_int_equal(bpf_map_lookup_elem(zdd_map_fd(f->z, ZDD_MAP_COHORTS), &key, stale), 0);
	for (t = 0, cpu = 0; cpu < ncpus; cpu++)
		t += stale[cpu].tick == tick ? stale[cpu].started : 0;
	assert_int_equal(zdd_cohort_read(f->z, idx, ZDD_BLUE, tick, &c), 0);
	assert_int_equal(c.started, t);
}

/* Counts belong to the pool's row of the service: a new service in a used index starts with
 * none of the previous owner's. */
static void new_service_starts_with_no_cohorts(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_key key = svc_key(SVC4);
	struct zdd_service_opts o = {};
	__u64 t0 = mono_ns();

	send_tcp4(f, CLIENT, 40008, TH_SYN);
	assert_int_equal(outcomes(f, SVC4, ZDD_BLUE, t0).started +
				 outcomes(f, SVC4, ZDD_GREEN, t0).started,
			 1);
	assert_int_equal(zdd_service_del(f->z, &key), 0);
	assert_int_equal(zdd_service_add(f->z, &key, &o), 0);
	assert_int_equal(outcomes(f, SVC4, ZDD_BLUE, t0).started, 0);
	assert_int_equal(outcomes(f, SVC4, ZDD_GREEN, t0).started, 0);
}

/* Outcomes belong to the pool, not to a backend: removing one mid-rollout takes nothing
 * back (summed per-backend counters went down then, and an unsigned difference wrapped). */
static void removed_backend_keeps_its_pools_outcomes(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_key key = svc_key(SVC4);
	__u64 t0 = mono_ns();
	struct zdd_cohort c;
	__u8 a[16];

	set_green(f, SVC4, 10000);
	assert_string_equal(send_tcp4(f, CLIENT, 40009, TH_SYN), "198.18.3.21");
	send_tcp4(f, CLIENT, 40009, TH_ACK);
	assert_int_equal(zdd_addr_parse("198.18.3.21", a), 0);
	assert_int_equal(zdd_backend_del(f->z, &key, a), 0);
	c = outcomes(f, SVC4, ZDD_GREEN, t0);
	assert_int_equal(c.started, 1);
	assert_int_equal(c.completed, 1);
}

#define FLOOD 40000

/* shift[i]: the weight shift of flow i's record in zdd_embryo_sets (send_flood4), -1 none. */
static void recorded_shifts(struct fixture *f, int *shift)
{
	__u32 k, w, i, sets = zdd_get_limits(f->z)->embryos / ZDD_EMBRYO_WAYS;
	int fd = zdd_map_fd(f->z, ZDD_MAP_EMBRYO);
	struct zdd_embryo_set s;
	const struct zdd_flow_key *key;

	for (i = 0; i < FLOOD; i++)
		shift[i] = -1;
	for (k = 0; k < sets; k++) {
		assert_int_equal(bpf_map_lookup_elem(fd, &k, &s), 0);
		for (w = 0; w < ZDD_EMBRYO_WAYS; w++) {
			key = &s.way[w].key;
			/* ::ffff:198.18.c.d */
			if (!s.way[w].val.syns || key->saddr[14] < 16 || key->saddr[14] > 31)
				continue;
			i = (ntohs(key->sport) - 20000) * 4096 + (key->saddr[14] - 16) * 256 +
			    key->saddr[15];
			if (i < FLOOD)
				shift[i] = s.way[w].val.weight_shift;
		}
	}
}

/*
 * SYN sampling (bpf/lib/conntrack.h): a flood over the budget records few handshakes, each
 * counting 2^shift; one flow in four completes, a fraction the sampler cannot see. Each pool's
 * started and completed stay within 5 standard deviations of the truth (Horvitz-Thompson: a
 * flow counts 2^shift with chance 2^-shift; the variance, sum(w^2 - w) over all flows, is
 * estimated by sum(w^2) over the recorded ones).
 */
static void sampled_flood_counts_stay_unbiased(void **state)
{
	struct fixture *f = *state;
	static int pool[FLOOD], shift[FLOOD];
	double truth[ZDD_POOLS][2] = {}, var[ZDD_POOLS][2] = {}, w;
	__u32 i, recorded = 0;
	struct zdd_cohort c;
	__u64 t0;
	int p;

	set_green(f, SVC4, 5000);
	set_handshake_ms(f, SVC4, ZDD_MAX_HANDSHAKE_MS); /* a slow run still completes in time */
	set_changed_ns(f, SVC4, 1);			 /* settled tables: sampling on */
	set_syn_budget(f, 64);
	t0 = mono_ns();
	for (i = 0; i < FLOOD; i++)
		pool[i] = pool_of(send_flood4(f, i, TH_SYN));
	recorded_shifts(f, shift);
	for (i = 0; i < FLOOD; i += 4)
		send_flood4(f, i, TH_ACK);
	for (i = 0; i < FLOOD; i++) {
		w = shift[i] < 0 ? 0 : (double)(1u << shift[i]);
		truth[pool[i]][0]++;
		var[pool[i]][0] += w * w;
		if (i % 4 == 0) {
			truth[pool[i]][1]++;
			var[pool[i]][1] += w * w;
		}
		recorded += shift[i] >= 0;
	}
	assert_true(recorded < FLOOD / 4); /* the sampler ran */
	for (p = 0; p < ZDD_POOLS; p++) {
		c = outcomes(f, SVC4, p, t0);
		assert_true(truth[p][1] > 1000);
		if (fabs(c.started - truth[p][0]) > 5 * sqrt(var[p][0]) + 1 ||
		    fabs(c.completed - truth[p][1]) > 5 * sqrt(var[p][1]) + 1)
			fail_msg("pool %d: started %u (truth %.0f), completed %u (truth %.0f), "
				 "sd %.0f / %.0f, %u recorded",
				 p, c.started, truth[p][0], c.completed, truth[p][1],
				 sqrt(var[p][0]), sqrt(var[p][1]), recorded);
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup_blue_green, fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(completed_handshake_counts_in_its_syns_cohort),
		T(syn_without_ack_stays_failed),
		T(client_reset_in_handshake_is_one_failed_flow),
		T(established_flow_reset_counts_once_apart),
		T(late_ack_is_established_but_not_in_time),
		T(resteered_syn_moves_the_flow_to_the_new_pool),
		T(udp_flows_are_not_handshakes),
		T(stale_cohort_entry_starts_afresh),
		T(new_service_starts_with_no_cohorts),
		T(removed_backend_keeps_its_pools_outcomes),
		T(sampled_flood_counts_stay_unbiased),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
