// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_decap.c - the backend side: what the LB encapsulated comes out of zdd_decap
 * byte-identical to what the LB took in; tunnels from sources not in the configured set are
 * dropped and counted; everything else passes untouched. */
#include <arpa/inet.h>
#include <errno.h>
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

/* Replaces the accepted sources with the n prefixes that follow. */
static void set_from(struct decap_fixture *df, size_t n, ...)
{
	struct zdd_prefix_key p[8];
	va_list ap;
	size_t i;

	assert_true(n <= 8);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		assert_int_equal(zdd_prefix_parse(va_arg(ap, const char *), &p[i]), 0);
	va_end(ap);
	assert_int_equal(zdd_decap_set_from(df->d, p, n), 0);
}

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
	/* The fixture's LB sends from LB_SRC4 and LB_SRC6 (fd00:2::2). */
	set_from(df, 2, LB_SRC4, "fd00:2::/64");
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

/* The LB's output with its outer source replaced (IPv4 header checksum kept right). */
static __u32 from_source(struct decap_fixture *df, struct pkt *p, const char *src, __u8 *frame)
{
	struct fixture *lb = df->lb;
	__u32 len;

	assert_int_equal(run(lb, p), XDP_TX);
	len = lb->out_len;
	memcpy(frame, lb->out, len);
	if (strchr(src, ':')) {
		assert_int_equal(inet_pton(AF_INET6, src, frame + 14 + 8), 1);
		return len;
	}
	assert_int_equal(inet_pton(AF_INET, src, frame + 14 + 12), 1);
	frame[14 + 10] = frame[14 + 11] = 0;
	*(__u16 *)(frame + 14 + 10) = csum_fold_sum(frame + 14, 20, 0);
	return len;
}

/* A tunnel from src: stripped (XDP_PASS, client's packet out) or dropped. */
static void assert_from(struct decap_fixture *df, const char *client, const char *vip,
			const char *src, bool accepted)
{
	struct pkt p = pkt_tcp(client, 40001, vip, 80, TH_SYN);
	__u8 frame[PKT_MAX + 64];
	__u32 len = from_source(df, &p, src, frame);

	if (!accepted) {
		assert_int_equal(decap(df, frame, len), XDP_DROP);
		return;
	}
	assert_int_equal(decap(df, frame, len), XDP_PASS);
	assert_int_equal(df->out_len, p.len);
	assert_memory_equal(df->out + p.l3_off, p.data + p.l3_off, p.len - p.l3_off);
}

static void tunnels_from_unknown_sources_are_dropped(void **state)
{
	struct decap_fixture *df = *state;

	assert_from(df, "198.18.1.2", VIP4, LB_SRC4, true);
	assert_from(df, "198.18.1.2", VIP4, "198.18.2.3", false); /* /32: the LB only */
	assert_from(df, "198.18.1.2", VIP4, "198.18.1.2", false); /* a client spoofing */
	assert_from(df, "fd00:1::2", VIP6, "fd00:2::2", true);
	assert_from(df, "fd00:1::2", VIP6, "fd00:2::99", true); /* in fd00:2::/64 */
	assert_from(df, "fd00:1::2", VIP6, "fd00:3::2", false);
	assert_int_equal(counter(df, ZDD_D_DECAP4), 1);
	assert_int_equal(counter(df, ZDD_D_DECAP6), 2);
	assert_int_equal(counter(df, ZDD_D_FOREIGN), 3);
	assert_int_equal(counter(df, ZDD_D_PASS), 0);
}

static void the_set_is_replaced_whole(void **state)
{
	static const struct zdd_prefix_key many[ZDD_DECAP_MAX_FROM + 1];
	struct decap_fixture *df = *state;
	struct zdd_decap_info info;
	char buf[ZDD_PREFIX_STRLEN];

	set_from(df, 1, "198.18.9.0/24");
	assert_from(df, "198.18.1.2", VIP4, LB_SRC4, false);
	assert_from(df, "198.18.1.2", VIP4, "198.18.9.200", true);
	assert_from(df, "fd00:1::2", VIP6, "fd00:2::2", false); /* the old IPv6 prefix is gone */
	assert_int_equal(zdd_decap_info(df->d, &info), 0);
	assert_true(info.has_set);
	assert_int_equal(info.n_from, 1);
	zdd_prefix_format(&info.from[0], buf, sizeof(buf));
	assert_string_equal(buf, "198.18.9.0/24");
	assert_false(zdd_decap_info_any(&info));
	assert_int_equal(info.counts[ZDD_D_FOREIGN], 2);
	/* Too many: refused, and the set in place stays. */
	assert_int_equal(zdd_decap_set_from(df->d, many, ZDD_DECAP_MAX_FROM + 1), -E2BIG);
	assert_from(df, "198.18.1.2", VIP4, "198.18.9.200", true);
	/* Empty: every tunnel refused; ::/0: every source accepted. */
	assert_int_equal(zdd_decap_set_from(df->d, NULL, 0), 0);
	assert_from(df, "198.18.1.2", VIP4, "198.18.9.200", false);
	set_from(df, 1, "::/0");
	assert_from(df, "198.18.1.2", VIP4, "198.18.1.2", true);
	assert_from(df, "fd00:1::2", VIP6, "fd00:3::2", true);
	assert_int_equal(zdd_decap_info(df->d, &info), 0);
	assert_true(zdd_decap_info_any(&info));
}

static void without_a_set_every_tunnel_is_refused(void **state)
{
	struct decap_fixture *df = *state;
	struct zdd_decap_info info;
	__u8 a[16];

	zdd_decap_close(df->d);
	assert_int_equal(zdd_decap_open_load(&df->d, NULL, false), 0);
	assert_int_equal(zdd_decap_info(df->d, &info), 0);
	assert_false(info.has_set);
	assert_int_equal(zdd_addr_parse("198.18.3.11", a), 0);
	assert_int_equal(zdd_decap_addr_add(df->d, a), 0);
	assert_from(df, "198.18.1.2", VIP4, LB_SRC4, false);
	assert_int_equal(counter(df, ZDD_D_FOREIGN), 1);
}

static void prefixes_parse_strictly(void **state)
{
	static const char *const good[][2] = {
		{ "198.18.2.0/24", "198.18.2.0/24" }, { "198.18.2.2", "198.18.2.2/32" },
		{ "fd00:2::/64", "fd00:2::/64" },     { "fd00:2::2", "fd00:2::2/128" },
		{ "0.0.0.0/0", "0.0.0.0/0" },	      { "::/0", "::/0" },
	};
	static const char *const bad[] = {
		"198.18.2.2/24",
		"198.18.2.0/33",
		"fd00:2::1/64",
		"fd00::/129",
		"198.18.2.0/",
		"198.18.2.0/024",
		"198.18.2.0/+8",
		"/24",
		"::ffff:198.18.2.2/128",
		"host/8",
		"",
	};
	struct zdd_prefix_key p;
	char buf[ZDD_PREFIX_STRLEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(zdd_prefix_parse(good[i][0], &p), 0);
		zdd_prefix_format(&p, buf, sizeof(buf));
		assert_string_equal(buf, good[i][1]);
	}
	assert_int_equal(zdd_prefix_parse("198.18.2.0/24", &p), 0);
	assert_int_equal(p.prefixlen, 96 + 24);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(zdd_prefix_parse(bad[i], &p), -EINVAL);
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
		T(tunnels_from_unknown_sources_are_dropped),
		T(the_set_is_replaced_whole),
		T(without_a_set_every_tunnel_is_refused),
		cmocka_unit_test(prefixes_parse_strictly),
	};

	return cmocka_run_group_tests_name("decap", tests, NULL, NULL);
}
