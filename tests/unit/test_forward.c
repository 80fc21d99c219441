// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_forward.c - encapsulation: outer headers, MACs, checksums, TTL, and an inner
 * packet byte-identical to what the client sent. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include "fixture.h"

static void assert_l2(struct fixture *f, __u32 id, __u16 ethertype, __u32 l2_len)
{
	const __u8 mac[6] = { 0x02, 0xbe, 0, 0, 0, (__u8)id };
	__u16 proto;

	assert_memory_equal(f->out, mac, 6);	    /* next hop towards the backend */
	assert_memory_equal(f->out + 6, LB_MAC, 6); /* from us: the MAC the client sent to */
	memcpy(&proto, f->out + l2_len - 2, 2);
	assert_int_equal(ntohs(proto), ethertype);
}

static void syn_v4_is_encapsulated_to_blue(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);
	__u32 b1 = add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	struct iphdr *outer;
	__u8 src[4];

	add_backend(f, SVC4, "198.18.3.21", ZDD_GREEN);
	assert_int_equal(b1, 0);
	assert_int_equal(run(f, &p), XDP_TX);
	assert_int_equal(f->out_len, p.len + 20);
	assert_l2(f, b1, 0x0800, 14);
	outer = (struct iphdr *)(f->out + 14);
	assert_int_equal(outer->version, 4);
	assert_int_equal(outer->ihl, 5);
	assert_int_equal(outer->tos, 0x28);
	assert_int_equal(ntohs(outer->tot_len), p.len - 14 + 20);
	assert_int_equal(ntohs(outer->frag_off), 0x4000);
	assert_int_equal(outer->ttl, ZDD_DEF_OUTER_TTL);
	assert_int_equal(outer->protocol, IPPROTO_IPIP);
	assert_int_equal(csum_fold_sum(outer, 20, 0), 0); /* a valid checksum folds to 0 */
	inet_pton(AF_INET, LB_SRC4, src);
	assert_memory_equal(&outer->saddr, src, 4);
	assert_string_equal(outer_dst(f), "198.18.3.11");
	assert_memory_equal(f->out + 34, p.data + 14, p.len - 14);
	assert_int_equal(reason_count(f, ZDD_R_TX_NEW), 1);
	assert_int_equal(backend_stats(f, SVC4, "198.18.3.11").flows_new, 1);
	assert_int_equal(backend_stats(f, SVC4, "198.18.3.11").packets, 1);
	assert_int_equal(backend_stats(f, SVC4, "198.18.3.11").bytes, p.len - 14);
}

static void syn_v6_is_encapsulated_to_blue(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pkt_tcp("fd00:1::2", 40001, VIP6, 80, TH_SYN);
	__u32 b1 = add_backend(f, SVC6, "fd00:3::11", ZDD_BLUE);
	struct ipv6hdr *outer;
	__u8 src[16];

	add_backend(f, SVC6, "fd00:3::21", ZDD_GREEN);
	assert_int_equal(run(f, &p), XDP_TX);
	assert_int_equal(f->out_len, p.len + 40);
	assert_l2(f, b1, 0x86dd, 14);
	outer = (struct ipv6hdr *)(f->out + 14);
	assert_int_equal(outer->version, 6);
	assert_int_equal((outer->priority << 4) | (outer->flow_lbl[0] >> 4), 0x28);
	assert_int_equal(ntohs(outer->payload_len), p.len - 14);
	assert_int_equal(outer->nexthdr, IPPROTO_IPV6);
	assert_int_equal(outer->hop_limit, ZDD_DEF_OUTER_TTL);
	inet_pton(AF_INET6, LB_SRC6, src);
	assert_memory_equal(&outer->saddr, src, 16);
	assert_string_equal(outer_dst(f), "fd00:3::11");
	assert_memory_equal(f->out + 54, p.data + 14, p.len - 14);
	assert_int_equal(backend_stats(f, SVC6, "fd00:3::11").flows_new, 1);
}

static void udp_is_encapsulated_and_tracked(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pkt_udp("198.18.1.2", 5353, VIP4, 53);
	const char *first;

	add_service(f, VIP4 ":53/udp");
	add_backend(f, VIP4 ":53/udp", "198.18.3.11", ZDD_BLUE);
	add_backend(f, VIP4 ":53/udp", "198.18.3.12", ZDD_BLUE);
	pkt_payload(&p, 100);
	assert_int_equal(run(f, &p), XDP_TX);
	first = strdup(outer_dst(f));
	assert_memory_equal(f->out + 34, p.data + 14, p.len - 14);
	assert_int_equal(run(f, &p), XDP_TX);
	assert_string_equal(outer_dst(f), first);
	assert_int_equal(reason_count(f, ZDD_R_TX_NEW), 1);
	assert_int_equal(reason_count(f, ZDD_R_TX_FLOW), 1);
	free((void *)first);
}

static void vlan_tag_is_kept(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);
	__u32 b1 = add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	__u8 tag[4] = { 0x81, 0x00, 0x00, 0x2a };

	pkt_vlan(&p, 0x8100, 42);
	assert_int_equal(run(f, &p), XDP_TX);
	assert_int_equal(f->out_len, p.len + 20);
	assert_l2(f, b1, 0x0800, 18);
	assert_memory_equal(f->out + 12, tag, 4);
	assert_string_equal(outer_dst(f), "198.18.3.11");
	assert_memory_equal(f->out + 38, p.data + 18, p.len - 18);
}

static void ethernet_padding_is_not_payload(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);
	__u32 ip_len = p.len - 14;
	struct iphdr *outer;

	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	memset(p.data + p.len, 0, 6); /* a 54-byte frame padded to 60 */
	p.len += 6;
	assert_int_equal(run(f, &p), XDP_TX);
	outer = (struct iphdr *)(f->out + 14);
	assert_int_equal(ntohs(outer->tot_len), ip_len + 20);
	assert_int_equal(backend_stats(f, SVC4, "198.18.3.11").bytes, ip_len);
}

static void larger_than_mtu_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct pkt fits = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_ACK);
	struct pkt big = pkt_tcp("198.18.1.2", 40002, VIP4, 80, TH_ACK);

	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	pkt_payload(&fits, TEST_MTU - 20 - 40); /* inner + outer == MTU */
	pkt_payload(&big, TEST_MTU - 20 - 40 + 1);
	assert_int_equal(run(f, &fits), XDP_TX);
	assert_int_equal(run(f, &big), XDP_DROP);
	assert_int_equal(reason_count(f, ZDD_R_TOO_BIG), 1);
}

static void no_source_address_is_an_encap_drop(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);
	struct zdd_config c;

	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	assert_int_equal(zdd_config_get(f->z, &c), 0);
	memset(c.src4, 0, 4);
	assert_int_equal(zdd_config_set(f->z, &c), 0);
	assert_int_equal(run(f, &p), XDP_DROP);
	assert_int_equal(reason_count(f, ZDD_R_ENCAP), 1);
}

static void service_without_backends_drops(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);

	assert_int_equal(run(f, &p), XDP_DROP);
	assert_int_equal(reason_count(f, ZDD_R_NO_BACKEND), 1);
}

static void empty_pool_hands_flows_to_the_other(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);

	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	set_green(f, SVC4, 10000);
	assert_int_equal(run(f, &p), XDP_TX);
	assert_string_equal(outer_dst(f), "198.18.3.11");
}

static int setup_with_services(void **state)
{
	struct fixture *f;

	fixture_setup(state);
	f = *state;
	add_service(f, SVC4);
	add_service(f, SVC6);
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_with_services, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(syn_v4_is_encapsulated_to_blue),	T(syn_v6_is_encapsulated_to_blue),
		T(udp_is_encapsulated_and_tracked),	T(vlan_tag_is_kept),
		T(ethernet_padding_is_not_payload),	T(larger_than_mtu_is_dropped),
		T(no_source_address_is_an_encap_drop),	T(service_without_backends_drops),
		T(empty_pool_hands_flows_to_the_other),
	};

	return cmocka_run_group_tests_name("forward", tests, NULL, NULL);
}
