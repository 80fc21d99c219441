// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_split.c - the blue/green split: it tracks the weight, it is monotone (raising
 * the weight only moves clients to green), and a client's connections share one pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include "fixture.h"

#define CLIENTS 10000

static void client_addr(int v6, int i, char *buf, size_t len)
{
	if (v6)
		snprintf(buf, len, "fd00:c1:%x:%x::1", i >> 8, i & 0xff); /* one /64 each */
	else
		snprintf(buf, len, "198.18.%d.%d", 128 + i / 250, 1 + i % 250);
}

/* Fills green[i] for every client with a fresh flow (a new source port per round). */
static int green_share(struct fixture *f, int v6, __u16 sport, bool *green)
{
	const char *vip = v6 ? VIP6 : VIP4, *g = v6 ? "fd00:3::21" : "198.18.3.21";
	char saddr[64];
	int i, count = 0;

	for (i = 0; i < CLIENTS; i++) {
		struct pkt p;

		client_addr(v6, i, saddr, sizeof(saddr));
		p = pkt_tcp(saddr, sport, vip, 80, TH_SYN);
		assert_int_equal(run(f, &p), XDP_TX);
		green[i] = !strcmp(outer_dst(f), g);
		count += green[i];
	}
	return count;
}

static void split_is_proportional_and_monotone(void **state, int v6)
{
	struct fixture *f = *state;
	const int weights[] = { 0, 100, 1000, 5000, 9000, 10000 }; /* basis points */
	bool *prev = calloc(CLIENTS, sizeof(bool)), *cur = calloc(CLIENTS, sizeof(bool));
	const char *svc = v6 ? SVC6 : SVC4;
	size_t w;
	int i, n;

	for (w = 0; w < sizeof(weights) / sizeof(weights[0]); w++) {
		set_green(f, svc, weights[w]);
		n = green_share(f, v6, (__u16)(1000 + w), cur);
		print_message("# %s green %5.2f%%: %5.2f%% of %d clients\n", v6 ? "v6" : "v4",
			      weights[w] / 100.0, n * 100.0 / CLIENTS, CLIENTS);
		/* within one percentage point of the weight */
		if (abs(n - weights[w] * CLIENTS / 10000) > CLIENTS / 100)
			fail_msg("green share %d of %d at %d bp", n, CLIENTS, weights[w]);
		for (i = 0; w && i < CLIENTS; i++)
			if (prev[i] && !cur[i])
				fail_msg("client %d left green when the weight rose", i);
		memcpy(prev, cur, CLIENTS * sizeof(bool));
	}
	free(prev);
	free(cur);
}

static void split_v4(void **state)
{
	split_is_proportional_and_monotone(state, 0);
}

static void split_v6(void **state)
{
	split_is_proportional_and_monotone(state, 1);
}

static void a_clients_connections_share_a_pool(void **state)
{
	struct fixture *f = *state;
	char first[64];
	__u16 port;
	int i;

	set_green(f, SVC4, 5000);
	for (i = 0; i < 20; i++) {
		char saddr[64];

		client_addr(0, i, saddr, sizeof(saddr));
		for (port = 30000; port < 30020; port++) {
			struct pkt p = pkt_tcp(saddr, port, VIP4, 80, TH_SYN);

			assert_int_equal(run(f, &p), XDP_TX);
			if (port == 30000)
				strcpy(first, outer_dst(f));
			assert_string_equal(outer_dst(f), first);
		}
	}
}

static void flow_affinity_spreads_one_client(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_opts o = { .affinity = ZDD_AFF_FLOW };
	struct zdd_service_key key = svc_key(VIP4 ":443/tcp");
	int port, green = 0;

	assert_int_equal(zdd_service_add(f->z, &key, &o), 0);
	add_backend(f, VIP4 ":443/tcp", "198.18.3.11", ZDD_BLUE);
	add_backend(f, VIP4 ":443/tcp", "198.18.3.21", ZDD_GREEN);
	set_green(f, VIP4 ":443/tcp", 5000);
	for (port = 30000; port < 31000; port++) {
		struct pkt p = pkt_tcp("198.18.1.2", port, VIP4, 443, TH_SYN);

		assert_int_equal(run(f, &p), XDP_TX);
		green += !strcmp(outer_dst(f), "198.18.3.21");
	}
	assert_in_range(green, 400, 600);
}

/*
 * Eight backends, four a pool, green at half: structured flows (clients counting up, ports
 * counting up) land evenly on every backend. The pool's hash and the backend's are seeded
 * apart: were they related, a pool's flows would crowd some of its backends.
 */
static void pool_and_backend_spread_evenly(void **state, int v6)
{
	struct fixture *f = *state;
	const char *svc = v6 ? "[" VIP6 "]:8080/tcp" : VIP4 ":8080/tcp";
	const int clients = 1000, ports = 8, n = clients * ports, want = n / 8;
	char addr[8][64], saddr[64];
	int count[8] = { 0 }, i, j, b;

	add_service(f, svc);
	for (b = 0; b < 8; b++) {
		snprintf(addr[b], sizeof(addr[b]), v6 ? "fd00:3::%d" : "198.18.3.%d", 40 + b);
		add_backend(f, svc, addr[b], b < 4 ? ZDD_BLUE : ZDD_GREEN);
	}
	set_green(f, svc, 5000);
	for (i = 0; i < clients; i++) {
		client_addr(v6, i, saddr, sizeof(saddr));
		for (j = 0; j < ports; j++) {
			struct pkt p = pkt_tcp(saddr, (__u16)(40000 + j), v6 ? VIP6 : VIP4, 8080,
					       TH_SYN);

			assert_int_equal(run(f, &p), XDP_TX);
			for (b = 0; b < 8; b++)
				count[b] += !strcmp(outer_dst(f), addr[b]);
		}
	}
	for (b = 0, i = 0; b < 8; b++)
		i += count[b];
	assert_int_equal(i, n); /* every flow went to one of them */
	for (b = 0; b < 8; b++) {
		print_message("# %s backend %s: %d of %d flows\n", v6 ? "v6" : "v4", addr[b],
			      count[b], n);
		/* Binomial, sd 30 here: 5 sd. */
		if (abs(count[b] - want) > 150)
			fail_msg("backend %s has %d flows, want %d +- 150", addr[b], count[b],
				 want);
	}
}

static void spread_v4(void **state)
{
	pool_and_backend_spread_evenly(state, 0);
}

static void spread_v6(void **state)
{
	pool_and_backend_spread_evenly(state, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup_blue_green, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(split_v4),
		T(split_v6),
		T(a_clients_connections_share_a_pool),
		T(flow_affinity_spreads_one_client),
		T(spread_v4),
		T(spread_v6),
	};

	return cmocka_run_group_tests_name("split", tests, NULL, NULL);
}
