// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/outcomes.c - feeds a rollout the handshake outcomes the data path counted per
 * flow (zdd_cohorts), one cohort at a time, once the cohort is older than the handshake
 * timeout: by then every flow of it has completed in time or failed. Two map reads a cohort,
 * about four a second per service: no conntrack walk. */
#include "agent.h"

/* The data path's coarse clock may lag a tick, and its last ACKs in time may still be on
 * their way through the program. */
#define CLOSE_MARGIN_NS 50000000ULL
/* Unread cohorts further back than this may be reused by the data path already: it keeps
 * ZDD_COHORTS, and the newest closed one is up to the longest timeout old. */
#define MAX_BACKLOG 16
_Static_assert((ZDD_MAX_HANDSHAKE_MS * 1000000ULL + CLOSE_MARGIN_NS) / ZDD_COHORT_NS + 2 +
			       MAX_BACKLOG <
		       ZDD_COHORTS,
	       "cohorts must outlive the handshake timeout and the backlog");

void agent_feed_outcomes(struct agent *a, struct agent_service *s, __u64 now_ms)
{
	__u64 now_ns = now_ms * 1000000ULL, wait_ns;
	struct zdd_outcomes o[ZDD_POOLS];
	struct zdd_service_val val;
	struct zdd_cohort c;
	__u32 closed, t;
	int p;

	wait_ns = (__u64)s->ro.pol.handshake_timeout_ms * 1000000ULL + CLOSE_MARGIN_NS;
	if (!s->ro.pol.handshakes || now_ns < wait_ns || zdd_service_get(a->z, &s->key, &val))
		return;
	closed = (now_ns - wait_ns) >> ZDD_COHORT_SHIFT; /* every cohort before it is closed */
	/* The first call of a rollout, or the agent stalled: what is too old is skipped. */
	if (!s->cohort_next || closed - s->cohort_next > MAX_BACKLOG)
		s->cohort_next = closed;
	for (t = s->cohort_next; t != closed; t++) {
		for (p = 0; p < ZDD_POOLS; p++) {
			if (zdd_cohort_read(a->z, val.index, p, t, &c))
				return; /* tried again next tick */
			o[p] = (struct zdd_outcomes){ c.started, c.completed, c.reset };
		}
		zdd_rollout_outcomes(&s->ro, ((__u64)t << ZDD_COHORT_SHIFT) / 1000000, o);
		s->cohort_next = t + 1;
	}
}
