// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_icmp.c - ICMP: "fragmentation needed" / "packet too big" for what the tunnel
 * header would push over the MTU (every field, the checksums, the quote, the rate limit). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include "fixture.h"

#define CLIENT4	 "198.18.1.2"
#define CLIENT6	 "fd00:1::2"
#define LINK_MTU 1500
#define ETH	 14

static __u16 rd16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static __u32 rd32(const __u8 *p)
{
	return (__u32)rd16(p) << 16 | rd16(p + 2);
}

static void assert_addr(const __u8 *got, const char *want)
{
	__u8 a[16];
	int v4 = !strchr(want, ':');

	assert_int_equal(inet_pton(v4 ? AF_INET : AF_INET6, want, a), 1);
	assert_memory_equal(got, a, v4 ? 4 : 16);
}

static void set_mtu(struct fixture *f, __u32 mtu)
{
	struct zdd_config c;

	assert_int_equal(zdd_config_get(f->z, &c), 0);
	c.mtu = mtu;
	assert_int_equal(zdd_config_set(f->z, &c), 0);
}

/* A segment from the client whose IP datagram is len bytes; IPv4 with DF when df. */
static struct pkt segment(const char *client, __u16 sport, const char *daddr, __u32 len, int df)
{
	struct pkt p = pkt_tcp(client, sport, daddr, 80, TH_ACK);

	pkt_payload(&p, len - (p.len - p.l3_off));
	if (df) {
		p.data[p.l3_off + 6] |= 0x40;
		pkt_fix_csums(&p);
	}
	return p;
}

static void assert_counted_once(struct fixture *f, enum zdd_reason r)
{
	__u64 counts[ZDD_R_MAX], i, total = 0;

	assert_int_equal(zdd_reasons_read(f->z, counts), 0);
	for (i = 0; i < ZDD_R_MAX; i++)
		total += counts[i];
	assert_int_equal(counts[r], 1);
	assert_int_equal(total, 1);
}

/* --- path MTU: the too-big answer ---------------------------------------------------------- */

static void too_big_v4_is_answered_with_frag_needed(void **state)
{
	struct fixture *f = *state;
	struct pkt p = segment(CLIENT4, 40001, VIP4, LINK_MTU, 1);
	const __u8 *ip = f->out + ETH, *icmp = ip + 20;

	set_mtu(f, LINK_MTU);
	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	assert_int_equal(p.len - ETH, 1500);
	assert_int_equal(run(f, &p), XDP_TX);
	assert_counted_once(f, ZDD_R_TX_ICMP_TOO_BIG);
	assert_int_equal(f->out_len, ETH + 576);    /* RFC 1812 4.3.2.3: as much as fits in 576 */
	assert_memory_equal(f->out, CLIENT_MAC, 6); /* back to the router it came from */
	assert_memory_equal(f->out + 6, LB_MAC, 6);
	assert_int_equal(rd16(f->out + 12), 0x0800);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(ip[1], 0xc0); /* precedence 6, internetwork control */
	assert_int_equal(rd16(ip + 2), 576);
	assert_int_equal(rd16(ip + 4), 0);	/* id: an atomic datagram */
	assert_int_equal(rd16(ip + 6), 0x4000); /* DF, no offset */
	assert_int_equal(ip[8], 64);
	assert_int_equal(ip[9], IPPROTO_ICMP);
	assert_int_equal(csum_fold_sum(ip, 20, 0), 0);
	assert_addr(ip + 12, VIP4); /* from the address the client sent to */
	assert_addr(ip + 16, CLIENT4);
	assert_int_equal(icmp[0], 3); /* destination unreachable */
	assert_int_equal(icmp[1], 4); /* fragmentation needed and DF set */
	assert_int_equal(csum_fold_sum(icmp, 576 - 20, 0), 0);
	assert_int_equal(rd16(icmp + 4), 0);		       /* unused */
	assert_int_equal(rd16(icmp + 6), 1500 - 20);	       /* the MTU left inside IPIP */
	assert_memory_equal(icmp + 8, p.data + ETH, 576 - 28); /* the packet's start */
	assert_int_equal(backend_stats(f, SVC4, "198.18.3.11").packets, 0);
}

static void too_big_v6_is_answered_with_packet_too_big(void **state)
{
	struct fixture *f = *state;
	struct pkt p = segment(CLIENT6, 40001, VIP6, LINK_MTU, 0);
	const __u8 *ip6 = f->out + ETH, *icmp = ip6 + 40;

	set_mtu(f, LINK_MTU);
	add_backend(f, SVC6, "fd00:3::11", ZDD_BLUE);
	assert_int_equal(run(f, &p), XDP_TX);
	assert_counted_once(f, ZDD_R_TX_ICMP_TOO_BIG);
	assert_int_equal(f->out_len, ETH + 1280); /* RFC 4443 2.4: within the minimum MTU */
	assert_memory_equal(f->out, CLIENT_MAC, 6);
	assert_memory_equal(f->out + 6, LB_MAC, 6);
	assert_int_equal(rd16(f->out + 12), 0x86dd);
	assert_int_equal(rd32(ip6), 0x60000000); /* version 6, class and label 0 */
	assert_int_equal(rd16(ip6 + 4), 1280 - 40);
	assert_int_equal(ip6[6], IPPROTO_ICMPV6);
	assert_int_equal(ip6[7], 64);
	assert_addr(ip6 + 8, VIP6);
	assert_addr(ip6 + 24, CLIENT6);
	assert_int_equal(icmp[0], 2); /* packet too big */
	assert_int_equal(icmp[1], 0);
	assert_int_equal(csum_fold_sum(icmp, 1240, csum_pseudo(ip6, 1240, IPPROTO_ICMPV6)), 0);
	assert_int_equal(rd32(icmp + 4), 1500 - 40); /* the MTU left inside IP6IP6 */
	assert_memory_equal(icmp + 8, p.data + ETH, 1280 - 48);
}

static void too_big_reply_keeps_the_vlan_tag(void **state)
{
	struct fixture *f = *state;
	struct pkt p = segment(CLIENT4, 40001, VIP4, LINK_MTU, 1);
	const __u8 tag[4] = { 0x81, 0x00, 0x00, 0x2a };

	set_mtu(f, LINK_MTU);
	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	pkt_vlan(&p, 0x8100, 42);
	assert_int_equal(run(f, &p), XDP_TX);
	assert_int_equal(f->out_len, 18 + 576);
	assert_memory_equal(f->out + 12, tag, 4);
	assert_int_equal(rd16(f->out + 16), 0x0800);
	assert_int_equal(csum_fold_sum(f->out + 18, 20, 0), 0);
	assert_int_equal(csum_fold_sum(f->out + 38, 556, 0), 0);
	assert_memory_equal(f->out + 18 + 28, p.data + 18, 548);
}

/* No DF: the sender wants routers to fragment, which XDP cannot; dropped and counted. */
static void too_big_v4_without_df_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct pkt p = segment(CLIENT4, 40001, VIP4, LINK_MTU, 0);

	set_mtu(f, LINK_MTU);
	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	assert_int_equal(run(f, &p), XDP_DROP);
	assert_counted_once(f, ZDD_R_TOO_BIG);
	assert_int_equal(f->out_len, p.len);
	assert_memory_equal(f->out, p.data, p.len);
}

/* ZDD_ICMP_BURST answers at once, then drop_too_big; the bucket refills at ZDD_ICMP_RATE. */
/* One spoofed packet must not make a group hear from us: no answer to a multicast, broadcast,
 * loopback or unspecified source. */
static void too_big_from_no_single_host_is_dropped(void **state)
{
	struct fixture *f = *state;
	const char *sources[] = { "224.0.0.5", "255.255.255.255", "127.0.0.1",
				  "0.0.0.0",   "ff02::1",	  "::1",
				  "::" };
	size_t i;

	set_mtu(f, LINK_MTU);
	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	add_backend(f, SVC6, "fd00:3::11", ZDD_BLUE);
	for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		int v4 = !strchr(sources[i], ':');
		struct pkt p = segment(sources[i], 40001, v4 ? VIP4 : VIP6, LINK_MTU, v4);

		if (run(f, &p) != XDP_DROP || memcmp(f->out, p.data, p.len))
			fail_msg("a too-big packet from %s was answered", sources[i]);
	}
	assert_int_equal(reason_count(f, ZDD_R_TOO_BIG), i);
}

static void too_big_answers_are_rate_limited(void **state)
{
	struct fixture *f = *state;
	struct pkt p = segment(CLIENT4, 40001, VIP4, LINK_MTU, 1);
	int sent, v = XDP_TX;

	set_mtu(f, LINK_MTU);
	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	for (sent = 0; sent < 4 * ZDD_ICMP_BURST; sent++) {
		v = run(f, &p);
		if (v != XDP_TX)
			break;
	}
	assert_int_equal(v, XDP_DROP);
	assert_true(sent >= ZDD_ICMP_BURST);
	assert_int_equal(reason_count(f, ZDD_R_TX_ICMP_TOO_BIG), sent);
	assert_int_equal(reason_count(f, ZDD_R_TOO_BIG), 1);
	assert_memory_equal(f->out, p.data, p.len);  /* refused: dropped as it came */
	usleep(3 * 1000000 / ZDD_ICMP_RATE + 20000); /* three replies' worth, and a tick */
	assert_int_equal(run(f, &p), XDP_TX);
}

static void fitting_and_foreign_packets_are_unaffected(void **state)
{
	struct fixture *f = *state;
	struct pkt fits4 = segment(CLIENT4, 40001, VIP4, LINK_MTU - 20, 1);
	struct pkt fits6 = segment(CLIENT6, 40001, VIP6, LINK_MTU - 40, 0);
	struct pkt other = segment(CLIENT4, 40002, "198.19.0.11", LINK_MTU, 1);
	struct pkt port = segment(CLIENT4, 40003, VIP4, LINK_MTU, 1);
	struct pkt small = pkt_tcp(CLIENT4, 40004, VIP4, 80, TH_SYN);

	set_mtu(f, LINK_MTU);
	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	add_backend(f, SVC6, "fd00:3::11", ZDD_BLUE);
	port.data[port.l4_off + 3] = 81; /* VIP4:81: no service */
	pkt_fix_csums(&port);
	assert_int_equal(run(f, &fits4), XDP_TX);
	assert_int_equal(f->out_len, fits4.len + 20);
	assert_string_equal(outer_dst(f), "198.18.3.11");
	assert_int_equal(run(f, &fits6), XDP_TX);
	assert_int_equal(f->out_len, fits6.len + 40);
	assert_int_equal(run(f, &small), XDP_TX);
	assert_int_equal(reason_count(f, ZDD_R_TX_MISS), 2); /* ACKs without a SYN seen */
	assert_int_equal(reason_count(f, ZDD_R_TX_NEW), 1);
	assert_int_equal(run(f, &other), XDP_PASS);
	assert_memory_equal(f->out, other.data, other.len);
	assert_int_equal(run(f, &port), XDP_PASS);
	assert_memory_equal(f->out, port.data, port.len);
	assert_int_equal(reason_count(f, ZDD_R_NO_SERVICE), 2);
	assert_int_equal(reason_count(f, ZDD_R_TX_ICMP_TOO_BIG), 0);
}

static int setup(void **state)
{
	struct fixture *f;

	fixture_setup(state);
	f = *state;
	add_service(f, SVC4);
	add_service(f, SVC6);
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(too_big_v4_is_answered_with_frag_needed),
		T(too_big_v6_is_answered_with_packet_too_big),
		T(too_big_reply_keeps_the_vlan_tag),
		T(too_big_v4_without_df_is_dropped),
		T(too_big_from_no_single_host_is_dropped),
		T(too_big_answers_are_rate_limited),
		T(fitting_and_foreign_packets_are_unaffected),
	};

	return cmocka_run_group_tests_name("icmp", tests, NULL, NULL);
}
