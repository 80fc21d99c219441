// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/judge.c - see judge.h.
 *
 * Why these tests. Each flow's handshake either completes in time or fails, so a pool's
 * failures are a binomial count over its flows, and the data path counts successes and
 * failures of the same flows (no window alignment, no Poisson noise read as failures). Two
 * one-sided tests run on every evaluation:
 *  - the candidate against the stable pool over the same interval: Fisher's exact test, exact
 *    at any count (a canary at 1% sees few flows), conditional on the failures seen in both,
 *    so a cause common to both pools (a lossy network, a SYN flood spread over both) is no
 *    evidence against the candidate. It must also be worse by a margin that matters
 *    (max_ratio x and min_excess over the stable pool's ratio): clients are split by address,
 *    and a few bad clients landing in the canary must not read as a bad release;
 *  - the candidate against an absolute ceiling: a binomial tail, applied only while the stable
 *    pool is under that ceiling itself (both over it: the network or an attack; hold).
 * Each test at level alpha bounds its false positives per evaluation; zdd_judge_alpha() spreads
 * (1 - confidence) over every evaluation a rollout can make, so the bound holds per rollout.
 */
#include <math.h>
#include <stdio.h>
#include "judge.h"
#include "zdd_abi.h"

#define TAIL_EPS  1e-15	    /* a tail's terms are summed until they stop mattering */
#define MAX_TERMS 10000000u /* and never more: a bounded cost per evaluation */

__u64 zdd_outcomes_failed(const struct zdd_outcomes *o)
{
	return o->started > o->completed ? o->started - o->completed : 0;
}

void zdd_outcomes_add(struct zdd_outcomes *sum, const struct zdd_outcomes *o)
{
	sum->started += o->started;
	sum->completed += o->completed;
	sum->reset += o->reset;
}

static double lchoose(double n, double k)
{
	return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1);
}

double zdd_fisher_greater(__u64 fc, __u64 nc, __u64 fs, __u64 ns)
{
	double N = (double)nc + ns, K = (double)fc + fs, n = nc, term, sum;
	__u64 k, kmax = fc + fs < nc ? fc + fs : nc, i;

	if (!fc)
		return 1.0;
	/* P(X = fc) for X ~ Hypergeometric(N, K, n), then the ratio of successive terms. */
	term = exp(lchoose(K, fc) + lchoose(N - K, n - fc) - lchoose(N, n));
	sum = term;
	for (k = fc, i = 0; k < kmax && i < MAX_TERMS; k++, i++) {
		term *= (K - k) * (n - k) / ((k + 1) * (N - K - n + k + 1));
		sum += term;
		if (term < sum * TAIL_EPS)
			break;
	}
	return sum > 1.0 ? 1.0 : sum;
}

double zdd_binom_tail(__u64 k, __u64 n, double p)
{
	double term, sum, q = p / (1 - p);
	__u64 j, i;

	if (!k)
		return 1.0;
	if (k > n)
		return 0.0;
	term = exp(lchoose(n, k) + k * log(p) + (n - k) * log1p(-p));
	sum = term;
	for (j = k, i = 0; j < n && i < MAX_TERMS; j++, i++) {
		term *= (double)(n - j) / (j + 1) * q;
		sum += term;
		if (term < sum * TAIL_EPS)
			break;
	}
	return sum > 1.0 ? 1.0 : sum;
}

double zdd_judge_alpha(double confidence, int n_steps, __u32 step_ms, __u32 extension_ms)
{
	/* One evaluation per cohort the data path closes (ZDD_COHORT_NS apart). */
	double cohort_ms = ZDD_COHORT_NS / 1e6;
	double looks = n_steps * ceil(((double)step_ms + extension_ms) / cohort_ms + 1);

	return (1 - confidence) / (2 * (looks > 1 ? looks : 1));
}

static double ratio(__u64 failed, __u64 n)
{
	return n ? (double)failed / n : 0;
}

enum zdd_verdict zdd_judge(const struct zdd_judge_policy *p, const char *cand_name,
			   const struct zdd_outcomes *cand, const struct zdd_outcomes *stable,
			   char *why, size_t len)
{
	__u64 nc = cand->started, fc = zdd_outcomes_failed(cand);
	__u64 ns = stable->started, fs = zdd_outcomes_failed(stable);
	double rc = ratio(fc, nc), rs = ratio(fs, ns), pv;
	int stable_known = ns >= p->min_samples, stable_fails = stable_known && rs > p->ceiling;

	if (stable_known && rc > rs * p->max_ratio && rc >= rs + p->min_excess) {
		pv = zdd_fisher_greater(fc, nc, fs, ns);
		if (pv < p->alpha) {
			snprintf(why, len,
				 "%llu of %llu %s handshakes failed (%.1f%%), %llu of %llu on the "
				 "stable pool (%.1f%%): chance %.1e < %.1e",
				 (unsigned long long)fc, (unsigned long long)nc, cand_name,
				 rc * 100, (unsigned long long)fs, (unsigned long long)ns, rs * 100,
				 pv, p->alpha);
			return ZDD_V_FAIL;
		}
	}
	if (!stable_fails && rc > p->ceiling) {
		pv = zdd_binom_tail(fc, nc, p->ceiling);
		if (pv < p->alpha) {
			snprintf(why, len,
				 "%llu of %llu %s handshakes failed (%.1f%%), over the %.2f%% "
				 "ceiling: "
				 "chance %.1e < %.1e",
				 (unsigned long long)fc, (unsigned long long)nc, cand_name,
				 rc * 100, p->ceiling * 100, pv, p->alpha);
			return ZDD_V_FAIL;
		}
	}
	if (stable_fails) {
		snprintf(why, len,
			 "the stable pool fails %.1f%% of %llu handshakes, over the %.2f%% ceiling "
			 "(%s: %.1f%% of %llu): the network or an attack, not the release; holding",
			 rs * 100, (unsigned long long)ns, p->ceiling * 100, cand_name, rc * 100,
			 (unsigned long long)nc);
		return ZDD_V_BOTH_FAIL;
	}
	if (nc < p->min_samples) {
		snprintf(why, len, "%llu of the %llu %s handshakes needed to judge it",
			 (unsigned long long)nc, (unsigned long long)p->min_samples, cand_name);
		return ZDD_V_SHORT;
	}
	return ZDD_V_PASS;
}
