// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_parse.c - everything that is not a well-formed packet of a service: the
 * specified verdict and reason, never a forward. A table: packet in -> verdict -> reason. */
#include <arpa/inet.h>
#include <string.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include "fixture.h"

#define CLIENT4 "198.18.1.2"
#define CLIENT6 "fd00:1::2"

static struct pkt syn4(void)
{
	return pkt_tcp(CLIENT4, 40001, VIP4, 80, TH_SYN);
}

static struct pkt syn6(void)
{
	return pkt_tcp(CLIENT6, 40001, VIP6, 80, TH_SYN);
}

static struct iphdr *ip4(struct pkt *p)
{
	return (struct iphdr *)(p->data + p->l3_off);
}

static struct pkt arp(void)
{
	struct pkt p = syn4();

	p.data[12] = 0x08;
	p.data[13] = 0x06;
	p.len = 14 + 28;
	return p;
}

static struct pkt qinq(void)
{
	struct pkt p = syn4();

	pkt_vlan(&p, 0x8100, 7);
	pkt_vlan(&p, 0x88a8, 9);
	return p;
}

static struct pkt icmp4(void)
{
	return pkt_ip(CLIENT4, VIP4, IPPROTO_ICMP, 8);
}

static struct pkt icmp6(void)
{
	return pkt_ip(CLIENT6, VIP6, IPPROTO_ICMPV6, 8);
}

static struct pkt other_addr(void)
{
	return pkt_tcp(CLIENT4, 40001, "198.19.0.11", 80, TH_SYN);
}

static struct pkt other_port(void)
{
	return pkt_tcp(CLIENT4, 40001, VIP4, 81, TH_SYN);
}

static struct pkt udp_to_tcp_service(void)
{
	return pkt_udp(CLIENT4, 40001, VIP4, 80);
}

/* An 8-byte extension header of type ext in front of the TCP header. */
static struct pkt v6_ext(const char *daddr, __u8 ext)
{
	struct pkt p = pkt_tcp(CLIENT6, 40001, daddr, 80, TH_SYN);
	__u8 hdr[8] = { IPPROTO_TCP };
	struct ipv6hdr *ip6 = (struct ipv6hdr *)(p.data + p.l3_off);

	pkt_insert(&p, p.l4_off, hdr, sizeof(hdr));
	ip6->nexthdr = ext;
	ip6->payload_len = htons(ntohs(ip6->payload_len) + 8);
	return p;
}

static struct pkt hopopts_to_vip(void)
{
	return v6_ext(VIP6, IPPROTO_HOPOPTS);
}

static struct pkt frag6_to_vip(void)
{
	return v6_ext(VIP6, IPPROTO_FRAGMENT);
}

static struct pkt frag6_to_other(void)
{
	return v6_ext("fd00:5a::11", IPPROTO_FRAGMENT);
}

static struct pkt first_fragment(void)
{
	struct pkt p = syn4();

	ip4(&p)->frag_off = htons(0x2000); /* MF */
	pkt_fix_csums(&p);
	return p;
}

static struct pkt later_fragment(void)
{
	struct pkt p = syn4();

	ip4(&p)->frag_off = htons(185);
	pkt_fix_csums(&p);
	return p;
}

static struct pkt fragment_to_other(void)
{
	struct pkt p = other_addr();

	ip4(&p)->frag_off = htons(0x2000);
	pkt_fix_csums(&p);
	return p;
}

static struct pkt ihl_4(void)
{
	struct pkt p = syn4();

	ip4(&p)->ihl = 4;
	return p;
}

static struct pkt ihl_15_short(void)
{
	struct pkt p = syn4();

	ip4(&p)->ihl = 15; /* 60 bytes of header, the frame has 40 after L2 */
	return p;
}

static struct pkt version_5(void)
{
	struct pkt p = syn4();

	ip4(&p)->version = 5;
	return p;
}

static struct pkt v6_in_v4_ethertype(void)
{
	struct pkt p = syn6();

	p.data[12] = 0x08;
	p.data[13] = 0x00;
	return p;
}

static struct pkt tot_len_below_header(void)
{
	struct pkt p = syn4();

	ip4(&p)->tot_len = htons(19);
	return p;
}

static struct pkt tot_len_beyond_frame(void)
{
	struct pkt p = syn4();

	ip4(&p)->tot_len = htons(p.len - 14 + 1);
	return p;
}

static struct pkt tot_len_cuts_tcp(void)
{
	struct pkt p = syn4();

	ip4(&p)->tot_len = htons(20 + 19); /* the rest is "padding" */
	return p;
}

static struct pkt doff_4(void)
{
	struct pkt p = syn4();

	p.data[p.l4_off + 12] = 4 << 4;
	return p;
}

static struct pkt doff_beyond(void)
{
	struct pkt p = syn4();

	p.data[p.l4_off + 12] = 6 << 4;
	return p;
}

static struct pkt udp_len_7(void)
{
	struct pkt p = pkt_udp(CLIENT4, 40001, VIP4, 53);

	p.data[p.l4_off + 5] = 7;
	return p;
}

static struct pkt udp_len_beyond(void)
{
	struct pkt p = pkt_udp(CLIENT4, 40001, VIP4, 53);

	p.data[p.l4_off + 5] = 9;
	return p;
}

static struct pkt v6_payload_beyond(void)
{
	struct pkt p = syn6();
	struct ipv6hdr *ip6 = (struct ipv6hdr *)(p.data + p.l3_off);

	ip6->payload_len = htons(ntohs(ip6->payload_len) + 1);
	return p;
}

static struct pkt v6_version_4(void)
{
	struct pkt p = syn6();

	p.data[p.l3_off] = 0x40;
	return p;
}

static struct pkt v4_mapped_dst(void)
{
	return pkt_tcp(CLIENT6, 40001, "::ffff:198.19.0.10", 80, TH_SYN);
}

static struct pkt v4_mapped_src(void)
{
	return pkt_tcp("::ffff:198.18.1.2", 40001, VIP6, 80, TH_SYN);
}

static struct pkt options_to_service(void)
{
	struct pkt p = syn4();
	__u8 nop_eol[4] = { 1, 1, 1, 0 };

	pkt_insert(&p, p.l4_off, nop_eol, 4);
	ip4(&p)->ihl = 6;
	ip4(&p)->tot_len = htons(p.len - 14);
	pkt_fix_csums(&p);
	return p;
}

struct verdict_case {
	const char *name;
	struct pkt (*build)(void);
	int verdict;
	enum zdd_reason reason;
};

static const struct verdict_case cases[] = {
	{ "arp", arp, XDP_PASS, ZDD_R_NOT_IP },
	{ "two vlan tags", qinq, XDP_PASS, ZDD_R_NOT_IP },
	{ "icmp to the vip", icmp4, XDP_PASS, ZDD_R_NOT_L4 },
	{ "icmpv6 to the vip", icmp6, XDP_PASS, ZDD_R_NOT_L4 },
	{ "tcp to another address", other_addr, XDP_PASS, ZDD_R_NO_SERVICE },
	{ "tcp to another port", other_port, XDP_PASS, ZDD_R_NO_SERVICE },
	{ "udp to a tcp service", udp_to_tcp_service, XDP_PASS, ZDD_R_NO_SERVICE },
	{ "ipv6 hop-by-hop to the vip", hopopts_to_vip, XDP_PASS, ZDD_R_IPV6_EXT },
	{ "ipv6 fragment to the vip", frag6_to_vip, XDP_DROP, ZDD_R_FRAGMENT },
	{ "ipv6 fragment elsewhere", frag6_to_other, XDP_PASS, ZDD_R_IPV6_EXT },
	{ "first fragment to the vip", first_fragment, XDP_DROP, ZDD_R_FRAGMENT },
	{ "later fragment to the vip", later_fragment, XDP_DROP, ZDD_R_FRAGMENT },
	{ "fragment elsewhere", fragment_to_other, XDP_PASS, ZDD_R_NO_SERVICE },
	{ "ihl 4", ihl_4, XDP_DROP, ZDD_R_MALFORMED },
	{ "ihl 15, short frame", ihl_15_short, XDP_DROP, ZDD_R_MALFORMED },
	{ "ip version 5", version_5, XDP_DROP, ZDD_R_MALFORMED },
	{ "ipv6 under the ipv4 ethertype", v6_in_v4_ethertype, XDP_DROP, ZDD_R_MALFORMED },
	{ "tot_len below the header", tot_len_below_header, XDP_DROP, ZDD_R_MALFORMED },
	{ "tot_len beyond the frame", tot_len_beyond_frame, XDP_DROP, ZDD_R_MALFORMED },
	{ "tot_len cuts the tcp header", tot_len_cuts_tcp, XDP_DROP, ZDD_R_MALFORMED },
	{ "tcp doff 4", doff_4, XDP_DROP, ZDD_R_MALFORMED },
	{ "tcp doff beyond the packet", doff_beyond, XDP_DROP, ZDD_R_MALFORMED },
	{ "udp length 7", udp_len_7, XDP_DROP, ZDD_R_MALFORMED },
	{ "udp length beyond the packet", udp_len_beyond, XDP_DROP, ZDD_R_MALFORMED },
	{ "ipv6 payload beyond the frame", v6_payload_beyond, XDP_DROP, ZDD_R_MALFORMED },
	{ "ipv6 version 4", v6_version_4, XDP_DROP, ZDD_R_MALFORMED },
	{ "ipv6 to an ipv4-mapped service address", v4_mapped_dst, XDP_DROP, ZDD_R_MALFORMED },
	{ "ipv6 from an ipv4-mapped address", v4_mapped_src, XDP_DROP, ZDD_R_MALFORMED },
	{ "ipv4 options to a service", options_to_service, XDP_TX, ZDD_R_TX_NEW },
};

static int setup_services(void **state)
{
	struct fixture *f;

	fixture_setup(state);
	f = *state;
	add_service(f, SVC4);
	add_service(f, SVC6);
	add_service(f, VIP4 ":53/udp");
	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	add_backend(f, SVC6, "fd00:3::11", ZDD_BLUE);
	add_backend(f, VIP4 ":53/udp", "198.18.3.11", ZDD_BLUE);
	return 0;
}

static void every_case_gets_its_verdict_and_reason(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt p = cases[i].build();
		__u64 before = reason_count(f, cases[i].reason);
		int v = run(f, &p);

		if (v != cases[i].verdict || reason_count(f, cases[i].reason) != before + 1)
			fail_msg("%s: verdict %d (want %d), %s not counted once", cases[i].name, v,
				 cases[i].verdict, zdd_reason_name(cases[i].reason));
		if (v == XDP_PASS && (f->out_len != p.len || memcmp(f->out, p.data, p.len)))
			fail_msg("%s: a passed packet was modified", cases[i].name);
	}
}

/* Every prefix of a valid packet is malformed: dropped and counted, never forwarded. */
static void truncated_at_every_offset_is_malformed(void **state)
{
	struct fixture *f = *state;
	struct pkt full[5] = { syn4(), syn6(), pkt_udp(CLIENT4, 1, VIP4, 53), syn4(),
			       options_to_service() };
	__u64 before = reason_count(f, ZDD_R_MALFORMED), runs = 0;
	size_t i;

	pkt_vlan(&full[3], 0x8100, 5);
	for (i = 0; i < 5; i++) {
		struct pkt p = full[i];

		for (p.len = 14; p.len < full[i].len; p.len++, runs++)
			if (run(f, &p) != XDP_DROP)
				fail_msg("packet %zu cut to %u bytes was not dropped", i, p.len);
	}
	assert_int_equal(reason_count(f, ZDD_R_MALFORMED), before + runs);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_services, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(every_case_gets_its_verdict_and_reason),
		T(truncated_at_every_offset_is_malformed),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
