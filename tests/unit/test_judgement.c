// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_judgement.c - the rollback judgement against the world's traffic: whole
 * rollouts (the real controller and its default policy) under simulated clients with random
 * (Poisson) arrivals, round trips of 1-300 ms, exponential handshake delays, lost SYNs, clients
 * that abort their handshake, a few clients on bad networks (split by address, so they cluster
 * in one pool), and spoofed SYNs; and UDP services. Healthy greens must never be rolled back;
 * failing ones must be, and the time it took is printed per case and rate.
 *
 * Each flow is counted as the data path counts it (zdd_cohorts: bpf/lib/conntrack.h, checked
 * by test_outcomes.c): in the cohort of its SYN, completed when its ACK comes within the
 * handshake timeout; the cohorts are fed to the controller once closed, as outcomes.c does.
 * ZDD_SIM_ROLLOUTS sets the number of healthy rollouts per rate (default 1000; tests/run
 * lowers it under valgrind). Seeds are fixed: a run is reproducible. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "rollout.h"

#define CLIENTS		 20000
#define TICK_MS		 100
#define CLOSE_MARGIN_NS	 50000000ULL
#define SYN_LOSS	 0.02  /* a lost SYN costs the client's 1 s retransmit timeout */
#define HANDSHAKE_ABORTS 0.005 /* clients that reset their own handshake */
#define BAD_CLIENTS	 0.01  /* on networks that lose 30% of their handshakes */
#define BAD_LOSS	 0.3
#define SPOOFED		 0.02 /* spoofed SYNs, as a share of arrivals: never completed */
#define FLOOD		 0.10 /* a spoofed SYN flood's share, in the flood case */
#define MAX_SIM_MS	 (15 * 60 * 1000ULL)

struct rng {
	__u64 s;
};

static __u64 rng_next(struct rng *r)
{
	__u64 z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rng_unit(struct rng *r) /* (0, 1] */
{
	return ((rng_next(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static double rng_exp(struct rng *r, double mean)
{
	return -log(rng_unit(r)) * mean;
}

struct client {
	__u16 split; /* where the client falls in the pool split: green when < the weight */
	__u16 rtt_ms;
	__u8 bad;
};

struct world {
	struct zdd_rollout ro;
	struct zdd_rollout_ops ops;
	struct rng r;
	struct client clients[CLIENTS];
	struct zdd_outcomes cohort[ZDD_COHORTS][ZDD_POOLS];
	__u32 tag[ZDD_COHORTS];
	__u32 next_cohort;
	int weight; /* green's, basis points */
	double green_fails, spoofed;
	__u64 now_ns, next_arrival_ns, first_green_ms;
};

static int w_set_weight(void *ctx, const struct zdd_service_key *svc, __u16 bp)
{
	struct world *w = ctx;

	(void)svc;
	w->weight = bp;
	return 0;
}

static void world_init(struct world *w, __u64 seed, bool tcp, double green_fails)
{
	struct zdd_conf_rollout c = {};
	int i;

	memset(w, 0, sizeof(*w));
	w->r.s = seed;
	for (i = 0; i < CLIENTS; i++) {
		w->clients[i].split = rng_next(&w->r) % ZDD_MAX_WEIGHT_BP;
		w->clients[i].rtt_ms = (__u16)exp(log(300.0) * rng_unit(&w->r)); /* 1..300 */
		w->clients[i].bad = rng_unit(&w->r) <= BAD_CLIENTS;
	}
	/* The defaults of zdd.yaml(5). */
	c = (struct zdd_conf_rollout){ .steps_bp = { 100, 500, 2500, 5000, 10000 },
				       .n_steps = 5,
				       .interval_ms = 10000,
				       .handshake_timeout_ms = ZDD_DEF_HANDSHAKE_MS,
				       .min_samples = 20,
				       .max_extension_ms = 60000,
				       .max_failure_bp = 500,
				       .confidence_bp = 9990,
				       .max_ratio_to_blue = 2.0 };
	assert_int_equal(zdd_rollout_policy_from_conf(&w->ro.pol, &c, tcp), 0);
	w->ro.step = -1;
	w->ops = (struct zdd_rollout_ops){ w_set_weight, NULL, w };
	w->green_fails = green_fails;
	w->spoofed = SPOOFED;
	w->now_ns = 1000ULL * 1000000000ULL; /* 1000 s of uptime */
}

/* One flow's SYN at now: its outcome, counted as the data path would. */
static void flow(struct world *w)
{
	__u32 tick = w->now_ns >> ZDD_COHORT_SHIFT, slot = tick % ZDD_COHORTS;
	bool spoofed = rng_unit(&w->r) <= w->spoofed, ok;
	const struct client *c = &w->clients[rng_next(&w->r) % CLIENTS];
	__u16 split = spoofed ? rng_next(&w->r) % ZDD_MAX_WEIGHT_BP : c->split;
	int pool = split < w->weight ? ZDD_GREEN : ZDD_BLUE;
	struct zdd_outcomes *o;
	double delay_ms;

	if (w->tag[slot] != tick) {
		memset(w->cohort[slot], 0, sizeof(w->cohort[slot]));
		w->tag[slot] = tick;
	}
	o = &w->cohort[slot][pool];
	o->started++;
	if (pool == ZDD_GREEN && !w->first_green_ms)
		w->first_green_ms = w->now_ns / 1000000;
	if (spoofed || (pool == ZDD_GREEN && rng_unit(&w->r) <= w->green_fails))
		return; /* no ACK ever: refused, black-holed, or nobody there */
	if (rng_unit(&w->r) <= HANDSHAKE_ABORTS) {
		o->reset++;
		return;
	}
	if (c->bad && rng_unit(&w->r) <= BAD_LOSS)
		return;
	delay_ms = rng_exp(&w->r, c->rtt_ms);
	while (rng_unit(&w->r) <= SYN_LOSS)
		delay_ms += 1000;
	ok = delay_ms <= w->ro.pol.handshake_timeout_ms;
	o->completed += ok;
}

/* What outcomes.c does every tick: closed cohorts to the controller, then the tick. */
static void tick(struct world *w)
{
	__u64 wait_ns = w->ro.pol.handshake_timeout_ms * 1000000ULL + CLOSE_MARGIN_NS;
	__u32 closed = (w->now_ns - wait_ns) >> ZDD_COHORT_SHIFT, t;
	struct zdd_outcomes none[ZDD_POOLS] = {};
	struct zdd_pool_health h[ZDD_POOLS] = { { 2, 2 }, { 2, 2 } };

	if (!w->next_cohort)
		w->next_cohort = closed;
	for (t = w->next_cohort; t != closed; t++)
		zdd_rollout_outcomes(&w->ro, ((__u64)t << ZDD_COHORT_SHIFT) / 1000000,
				     w->tag[t % ZDD_COHORTS] == t ? w->cohort[t % ZDD_COHORTS]
								  : none);
	w->next_cohort = closed;
	zdd_rollout_tick(&w->ro, &w->ops, h, w->now_ns / 1000000);
}

/* Runs a rollout to its end at rate new flows a second; returns the simulated ms it took. */
static __u64 rollout(struct world *w, double rate)
{
	__u64 start_ns = w->now_ns, next_tick_ns = w->now_ns;

	assert_int_equal(zdd_rollout_start(&w->ro, &w->ops, 0, w->now_ns / 1000000), 0);
	w->next_arrival_ns = w->now_ns + (__u64)(rng_exp(&w->r, 1e9 / rate));
	while (zdd_rollout_active(&w->ro) && w->ro.state != ZDD_RO_PAUSED &&
	       w->now_ns - start_ns < MAX_SIM_MS * 1000000) {
		if (w->next_arrival_ns < next_tick_ns) {
			w->now_ns = w->next_arrival_ns;
			flow(w);
			w->next_arrival_ns += (__u64)rng_exp(&w->r, 1e9 / rate) + 1;
		} else {
			w->now_ns = next_tick_ns;
			tick(w);
			next_tick_ns += TICK_MS * 1000000ULL;
		}
	}
	return (w->now_ns - start_ns) / 1000000;
}

static int sim_rollouts(void)
{
	const char *e = getenv("ZDD_SIM_ROLLOUTS");
	int n = e ? atoi(e) : 1000;

	return n > 0 ? n : 1000;
}

static const double rates[] = { 20, 200, 2000 };

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Healthy greens, identical to blue: never rolled back. */
static void healthy_greens_are_never_rolled_back(void **state)
{
	int n = sim_rollouts(), i, r, promoted, paused, rolled;
	struct world *w = malloc(sizeof(*w));
	__u64 ms, total;

	(void)state;
	assert_non_null(w);
	for (r = 0; r < 3; r++) {
		promoted = paused = rolled = 0;
		total = 0;
		for (i = 0; i < n; i++) {
			world_init(w, 1000003ULL * i + r, true, 0);
			ms = rollout(w, rates[r]);
			promoted += w->ro.state == ZDD_RO_PROMOTED;
			paused += w->ro.state == ZDD_RO_PAUSED;
			if (w->ro.state == ZDD_RO_ROLLED_BACK && !rolled++)
				print_message("# false rollback: %s\n", w->ro.event);
			total += ms;
			zdd_rollout_policy_free(&w->ro.pol);
		}
		print_message(
			"# healthy, %5.0f new flows/s: %d rollouts, %d rolled back, %d promoted, "
			"%d paused; %.1f s to promotion on average\n",
			rates[r], n, rolled, promoted, paused, total / 1000.0 / n);
		assert_int_equal(rolled, 0);
		assert_int_equal(promoted, n);
	}
	free(w);
}

/* A spoofed SYN flood hits both pools alike: it may hold a rollout (blue itself fails more
 * than the ceiling then), never roll it back. */
static void syn_flood_holds_but_never_rolls_back(void **state)
{
	struct world *w = malloc(sizeof(*w));
	int i, n = sim_rollouts() / 10 ?: 1, held = 0;

	(void)state;
	assert_non_null(w);
	for (i = 0; i < n; i++) {
		world_init(w, 4242ULL * i, true, 0);
		w->spoofed = FLOOD;
		rollout(w, 200);
		assert_int_not_equal(w->ro.state, ZDD_RO_ROLLED_BACK);
		held += w->ro.state == ZDD_RO_PAUSED;
		zdd_rollout_policy_free(&w->ro.pol);
	}
	print_message("# healthy under a SYN flood of %.0f%% of arrivals, 200 new flows/s: %d "
		      "rollouts, 0 rolled back, %d paused before promotion (the stable pool over "
		      "the ceiling)\n",
		      FLOOD * 100, n, held);
	free(w);
}

/* UDP has no handshake: judged by health checks only, its rollouts run on their dwell. */
static void udp_rollouts_run_on_their_dwell(void **state)
{
	struct world *w = malloc(sizeof(*w));
	int i, n = sim_rollouts() / 10 ?: 1;

	(void)state;
	assert_non_null(w);
	for (i = 0; i < n; i++) {
		world_init(w, i, false, 0);
		/* each step: its dwell, and a tick for its (empty) pre-step hook */
		assert_in_range(rollout(w, 200), 5 * 10000, 5 * (10000 + 2 * TICK_MS));
		assert_int_equal(w->ro.state, ZDD_RO_PROMOTED);
		zdd_rollout_policy_free(&w->ro.pol);
	}
	free(w);
}

struct fault {
	const char *what;
	double fails;
	double min_caught; /* share of rollouts rolled back before promotion */
};

/* Greens that fail a share of handshakes from their first flow: rolled back, and how soon. */
static void failing_greens_are_rolled_back(void **state)
{
	static const struct fault faults[] = {
		{ "refusing or black-holing every handshake", 1.0, 1.0 },
		{ "one of two green backends dead (50%)", 0.5, 1.0 },
		{ "failing 20% of handshakes", 0.2, 1.0 },
		{ "failing 5% of handshakes", 0.05, 0.0 },
	};
	int n = sim_rollouts() / 10 ?: 1, f, r, i, caught;
	struct world *w = malloc(sizeof(*w));
	__u64 *took = calloc(n, sizeof(*took));

	(void)state;
	assert_non_null(w);
	assert_non_null(took);
	for (f = 0; f < (int)(sizeof(faults) / sizeof(faults[0])); f++) {
		for (r = 0; r < 3; r++) {
			caught = 0;
			for (i = 0; i < n; i++) {
				world_init(w, 7777ULL * i + r + 100 * f, true, faults[f].fails);
				rollout(w, rates[r]);
				if (w->ro.state == ZDD_RO_ROLLED_BACK)
					took[caught++] = w->now_ns / 1000000 - w->first_green_ms;
				zdd_rollout_policy_free(&w->ro.pol);
			}
			qsort(took, caught, sizeof(*took), cmp_u64);
			print_message(
				"# %s, %5.0f new flows/s: rolled back %d of %d; from the first "
				"green flow: median %.1f s, max %.1f s\n",
				faults[f].what, rates[r], caught, n,
				caught ? took[caught / 2] / 1000.0 : 0,
				caught ? took[caught - 1] / 1000.0 : 0);
			assert_true(caught >= faults[f].min_caught * n);
		}
	}
	free(took);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(healthy_greens_are_never_rolled_back),
		cmocka_unit_test(syn_flood_holds_but_never_rolls_back),
		cmocka_unit_test(udp_rollouts_run_on_their_dwell),
		cmocka_unit_test(failing_greens_are_rolled_back),
	};

	return cmocka_run_group_tests_name("judgement", tests, NULL, NULL);
}
