// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_icmp.c - ICMP: "fragmentation needed" / "packet too big" for what the tunnel
 * header would push over the MTU (every field, the checksums, the quote, the rate limit); ICMP
 * errors about a service's flows forwarded to the flow's backend; echo replies; the fixed
 * rules for everything else. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include "fixture.h"

#define CLIENT4	 "198.18.1.2"
#define CLIENT6	 "fd00:1::2"
#define RTR4	 "198.18.1.1" /* a router on the way to the client */
#define RTR6	 "fd00:1::1"
#define LINK_MTU 1500
#define FLOWS	 16
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

/* --- ICMP errors about a service's flows ------------------------------------------------------ */

/* What a router sends the service when it cannot pass on the service's reply to client:sport:
 * quote bytes of that reply (a segment of 1400 bytes of data from VIP:80). */
static struct pkt error_about(const char *client, __u16 sport, __u8 type, __u8 code, __u32 rest,
			      __u32 quote)
{
	int v4 = !strchr(client, ':');
	struct pkt reply = pkt_tcp(v4 ? VIP4 : VIP6, 80, client, sport, TH_ACK);

	pkt_payload(&reply, 1400);
	assert_true(quote <= reply.len - reply.l3_off);
	return pkt_icmp(v4 ? RTR4 : RTR6, v4 ? VIP4 : VIP6, type, code, rest,
			reply.data + reply.l3_off, quote);
}

static struct pkt frag_needed(const char *client, __u16 sport)
{
	return error_about(client, sport, 3, 4, 1400, 548);
}

static struct pkt too_big6(const char *client, __u16 sport)
{
	return error_about(client, sport, 2, 0, 1400, 1232);
}

/* Forwarded whole, in the tunnel, to backend. */
static void assert_forwarded(struct fixture *f, const struct pkt *p, const char *backend)
{
	__u32 outer = strchr(backend, ':') ? 40 : 20;

	assert_int_equal(f->out_len, p->len + outer);
	assert_string_equal(outer_dst(f), backend);
	assert_memory_equal(f->out + ETH + outer, p->data + ETH, p->len - ETH);
}

static void error_goes_to_the_backend_of_its_flow(void **state)
{
	struct fixture *f = *state;
	char *be[FLOWS];
	int i, blue = 0;

	add_svc4_two_per_pool(f);
	for (i = 0; i < FLOWS; i++) {
		be[i] = strdup(send_tcp4(f, CLIENT4, (__u16)(41000 + i), TH_SYN));
		assert_string_equal(send_tcp4(f, CLIENT4, (__u16)(41000 + i), TH_ACK), be[i]);
		blue += !strcmp(be[i], "198.18.3.11");
	}
	assert_true(blue > 0 && blue < FLOWS); /* the flows are on both blue backends */
	set_green(f, SVC4, 10000);	       /* the tables now send every flow elsewhere */
	for (i = 0; i < FLOWS; i++) {
		struct pkt p = frag_needed(CLIENT4, (__u16)(41000 + i));

		assert_int_equal(run(f, &p), XDP_TX);
		assert_forwarded(f, &p, be[i]);
		free(be[i]);
	}
	assert_int_equal(reason_count(f, ZDD_R_TX_ICMP_ERROR), FLOWS);
}

/* A SYN-ACK's error: the handshake's backend, from the embryonic table. */
static void error_of_a_handshake_goes_to_its_backend(void **state)
{
	struct fixture *f = *state;
	struct pkt p = error_about(CLIENT4, 41000, 11, 0, 0, 28); /* time exceeded */
	char *be;

	add_svc4_two_per_pool(f);
	be = strdup(send_tcp4(f, CLIENT4, 41000, TH_SYN));
	set_green(f, SVC4, 10000);
	assert_int_equal(run(f, &p), XDP_TX);
	assert_forwarded(f, &p, be);
	free(be);
}

/* No entry: where the tables send the flow's next packet; and the error records nothing. */
static void error_of_an_unknown_flow_goes_where_the_tables_send_it(void **state)
{
	struct fixture *f = *state;
	char *be[FLOWS];
	__u64 embryos, flows;
	int i;

	add_svc4_two_per_pool(f);
	set_green(f, SVC4, 5000);
	for (i = 0; i < FLOWS; i++) {
		struct pkt p = frag_needed(CLIENT4, (__u16)(42000 + i));

		assert_int_equal(run(f, &p), XDP_TX);
		be[i] = strdup(outer_dst(f));
		assert_forwarded(f, &p, be[i]);
	}
	assert_int_equal(zdd_conntrack_count(f->z, &embryos, &flows, NULL), 0);
	assert_int_equal(embryos + flows, 0);
	for (i = 0; i < FLOWS; i++) {
		assert_string_equal(send_tcp4(f, CLIENT4, (__u16)(42000 + i), TH_ACK), be[i]);
		free(be[i]);
	}
}

static void error_v6_goes_to_the_backend_of_its_flow(void **state)
{
	struct fixture *f = *state;
	const char *blue[] = { "fd00:3::11", "fd00:3::12" };
	char *be[FLOWS];
	int i;

	add_backend(f, SVC6, blue[0], ZDD_BLUE);
	add_backend(f, SVC6, blue[1], ZDD_BLUE);
	add_backend(f, SVC6, "fd00:3::21", ZDD_GREEN);
	for (i = 0; i < FLOWS; i++) {
		struct pkt syn = pkt_tcp(CLIENT6, (__u16)(43000 + i), VIP6, 80, TH_SYN);
		struct pkt ack = pkt_tcp(CLIENT6, (__u16)(43000 + i), VIP6, 80, TH_ACK);

		assert_int_equal(run(f, &syn), XDP_TX);
		be[i] = strdup(outer_dst(f));
		assert_int_equal(run(f, &ack), XDP_TX);
	}
	set_green(f, SVC6, 10000);
	for (i = 0; i < FLOWS; i++) {
		struct pkt p = i % 2 ? too_big6(CLIENT6, (__u16)(43000 + i))
				     : error_about(CLIENT6, (__u16)(43000 + i), 1, 4, 0, 48);

		assert_int_equal(run(f, &p), XDP_TX);
		assert_int_equal(rd16(f->out + 12), 0x86dd);
		assert_int_equal(f->out[ETH + 6], 41); /* IP6IP6 */
		assert_forwarded(f, &p, be[i]);
		free(be[i]);
	}
	assert_int_equal(reason_count(f, ZDD_R_TX_ICMP_ERROR), FLOWS);
}

/* An error is never answered with an error: one too big for the tunnel is dropped. */
static void error_too_big_for_the_tunnel_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct pkt p = error_about(CLIENT4, 41000, 3, 4, 1400, 1000);

	add_backend(f, SVC4, "198.18.3.11", ZDD_BLUE);
	set_mtu(f, (__u32)(p.len - ETH + 20 - 1));
	p.data[p.l3_off + 6] |= 0x40; /* DF: it would be answered, were it no ICMP error */
	pkt_fix_csums(&p);
	assert_int_equal(run(f, &p), XDP_DROP);
	assert_counted_once(f, ZDD_R_TOO_BIG);
	assert_memory_equal(f->out, p.data, p.len);
}

/* --- echo requests ---------------------------------------------------------------------------- */

static void echo_to_a_service_address_is_answered(void **state)
{
	struct fixture *f = *state;
	__u8 body[56];
	size_t i;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (__u8)(i * 3 + 1);
	for (i = 0; i < 2; i++) {
		int v4 = i == 0;
		struct pkt p = pkt_icmp(v4 ? CLIENT4 : CLIENT6, v4 ? VIP4 : VIP6, v4 ? 8 : 128, 0,
					0x12340001, body, sizeof(body));
		const __u8 *ip = f->out + ETH, *icmp = ip + (v4 ? 20 : 40);
		__u32 len = 8 + sizeof(body);

		assert_int_equal(run(f, &p), XDP_TX);
		assert_int_equal(f->out_len, p.len);
		assert_memory_equal(f->out, CLIENT_MAC, 6);
		assert_memory_equal(f->out + 6, LB_MAC, 6);
		assert_addr(ip + (v4 ? 12 : 8), v4 ? VIP4 : VIP6);
		assert_addr(ip + (v4 ? 16 : 24), v4 ? CLIENT4 : CLIENT6);
		assert_int_equal(ip[v4 ? 8 : 7], 64);
		if (v4)
			assert_int_equal(csum_fold_sum(ip, 20, 0), 0);
		assert_int_equal(icmp[0], v4 ? 0 : 129); /* echo reply */
		assert_int_equal(
			csum_fold_sum(icmp, len, v4 ? 0 : csum_pseudo(ip, len, IPPROTO_ICMPV6)), 0);
		assert_memory_equal(icmp + 4, p.data + p.l4_off + 4, len - 4); /* id, seq, data */
	}
	assert_int_equal(reason_count(f, ZDD_R_TX_ICMP_ECHO), 2);
}

/* --- the fixed rules for the rest --------------------------------------------------------------- */

/* error_about(), with the quote edited at off. */
static struct pkt quote_edited(__u32 off, __u8 byte, __u32 quote)
{
	struct pkt p = error_about(CLIENT4, 41000, 3, 4, 1400, quote);

	p.data[p.l4_off + 8 + off] = byte;
	pkt_fix_csums(&p);
	return p;
}

static struct pkt quote_cut_in_ports(void)
{
	return error_about(CLIENT4, 41000, 3, 4, 1400, 20 + 7);
}

static struct pkt quote_cut_in_header(void)
{
	return error_about(CLIENT4, 41000, 3, 4, 1400, 12);
}

static struct pkt icmp_header_cut(void)
{
	struct pkt p = error_about(CLIENT4, 41000, 3, 4, 1400, 0);

	p.len -= 4;
	p.data[p.l3_off + 3] -= 4; /* tot_len */
	pkt_fix_csums(&p);
	return p;
}

static struct pkt cut_to_another_address(void)
{
	struct pkt p = quote_cut_in_ports();

	p.data[p.l3_off + 19] = 11; /* 198.19.0.11: no service there */
	pkt_fix_csums(&p);
	return p;
}

static struct pkt quote_v6_in_v4(void)
{
	return quote_edited(0, 0x65, 548);
}

static struct pkt quote_ihl_4(void)
{
	return quote_edited(0, 0x44, 548);
}

static struct pkt quote_from_elsewhere(void)
{
	return quote_edited(15, 11, 548); /* sent from 198.19.0.11, not the VIP */
}

static struct pkt quote_of_icmp(void)
{
	return quote_edited(9, IPPROTO_ICMP, 548);
}

static struct pkt quote_of_later_fragment(void)
{
	return quote_edited(7, 185, 548);
}

static struct pkt quote_port_81(void)
{
	return quote_edited(21, 81, 548); /* from VIP4:81, no service */
}

static struct pkt quote_udp_no_backend(void)
{
	struct pkt reply = pkt_udp(VIP4, 53, CLIENT4, 5353);

	return pkt_icmp(RTR4, VIP4, 3, 3, 0, reply.data + reply.l3_off, reply.len - reply.l3_off);
}

static struct pkt redirect(void)
{
	return error_about(CLIENT4, 41000, 5, 1, 0x0a000001, 28);
}

static struct pkt echo_with_options(void)
{
	__u8 nop_eol[4] = { 1, 1, 1, 0 };
	struct pkt p = pkt_icmp(CLIENT4, VIP4, 8, 0, 1, "ping", 4);

	pkt_insert(&p, p.l4_off, nop_eol, 4);
	p.data[p.l3_off] = 0x46;
	p.data[p.l3_off + 3] += 4;
	pkt_fix_csums(&p);
	return p;
}

static struct pkt echo_elsewhere(void)
{
	return pkt_icmp(CLIENT4, "198.19.0.11", 8, 0, 1, "ping", 4);
}

static struct pkt echo_from_multicast(void)
{
	return pkt_icmp("224.0.0.1", VIP4, 8, 0, 1, "ping", 4);
}

static struct pkt v6_quote_cut(void)
{
	return error_about(CLIENT6, 41000, 2, 0, 1400, 40 + 4);
}

static struct pkt v6_quote_mapped(void)
{
	struct pkt p = too_big6(CLIENT6, 41000);
	__u8 *q = p.data + p.l4_off + 8;

	memset(q + 24, 0, 10); /* to ::ffff:198.18.1.2 */
	memset(q + 34, 0xff, 2);
	q[36] = 198, q[37] = 18, q[38] = 1, q[39] = 2;
	pkt_fix_csums(&p);
	return p;
}

static struct pkt v6_quote_ext(void)
{
	struct pkt p = too_big6(CLIENT6, 41000);

	p.data[p.l4_off + 8 + 6] = IPPROTO_DSTOPTS;
	pkt_fix_csums(&p);
	return p;
}

static struct pkt v6_neighbour_solicitation(void)
{
	return pkt_icmp(CLIENT6, VIP6, 135, 0, 0, "0123456789abcdef", 16);
}

struct rule_case {
	const char *name;
	struct pkt (*build)(void);
	int verdict;
	enum zdd_reason reason;
};

static const struct rule_case rules[] = {
	{ "quote cut in the ports", quote_cut_in_ports, XDP_DROP, ZDD_R_MALFORMED },
	{ "quote cut in the ip header", quote_cut_in_header, XDP_DROP, ZDD_R_MALFORMED },
	{ "icmp header cut", icmp_header_cut, XDP_DROP, ZDD_R_MALFORMED },
	{ "quote of version 6 in icmp", quote_v6_in_v4, XDP_DROP, ZDD_R_MALFORMED },
	{ "quote with ihl 4", quote_ihl_4, XDP_DROP, ZDD_R_MALFORMED },
	{ "cut quote to another address", cut_to_another_address, XDP_PASS, ZDD_R_NOT_L4 },
	{ "quote from another address", quote_from_elsewhere, XDP_PASS, ZDD_R_NOT_L4 },
	{ "quote of an icmp packet", quote_of_icmp, XDP_PASS, ZDD_R_NOT_L4 },
	{ "quote of a later fragment", quote_of_later_fragment, XDP_PASS, ZDD_R_NOT_L4 },
	{ "quote from a port without service", quote_port_81, XDP_PASS, ZDD_R_NO_SERVICE },
	{ "quote of a service without backend", quote_udp_no_backend, XDP_DROP, ZDD_R_NO_BACKEND },
	{ "redirect to the vip", redirect, XDP_PASS, ZDD_R_NOT_L4 },
	{ "echo with ip options", echo_with_options, XDP_PASS, ZDD_R_NOT_L4 },
	{ "echo to another address", echo_elsewhere, XDP_PASS, ZDD_R_NOT_L4 },
	{ "echo from a multicast source", echo_from_multicast, XDP_PASS, ZDD_R_NOT_L4 },
	{ "ipv6 quote cut in the ports", v6_quote_cut, XDP_DROP, ZDD_R_MALFORMED },
	{ "ipv6 quote to a mapped address", v6_quote_mapped, XDP_DROP, ZDD_R_MALFORMED },
	{ "ipv6 quote with an extension header", v6_quote_ext, XDP_PASS, ZDD_R_NOT_L4 },
	{ "neighbour solicitation to the vip", v6_neighbour_solicitation, XDP_PASS, ZDD_R_NOT_L4 },
};

static void other_icmp_gets_its_fixed_rule(void **state)
{
	struct fixture *f = *state;
	size_t i;

	add_service(f, VIP4 ":53/udp");
	add_svc4_two_per_pool(f);
	add_backend(f, SVC6, "fd00:3::11", ZDD_BLUE);
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct pkt p = rules[i].build();
		__u64 before = reason_count(f, rules[i].reason);
		int v = run(f, &p);

		if (v != rules[i].verdict || reason_count(f, rules[i].reason) != before + 1)
			fail_msg("%s: verdict %d (want %d), %s not counted once", rules[i].name, v,
				 rules[i].verdict, zdd_reason_name(rules[i].reason));
		if (f->out_len != p.len || memcmp(f->out, p.data, p.len))
			fail_msg("%s: the packet was modified", rules[i].name);
	}
}

static int setup(void **state)
{
	struct fixture *f;

	fixture_setup(state);
	f = *state;
	add_service(f, SVC6);
	return 0;
}

/* SVC4 is left to each case: add_svc4_two_per_pool() adds it with its backends. */
static int setup_svc4(void **state)
{
	struct fixture *f;

	setup(state);
	f = *state;
	add_service(f, SVC4);
	return 0;
}

#define T(fn)  cmocka_unit_test_setup_teardown(fn, setup_svc4, fixture_teardown)
#define T2(fn) cmocka_unit_test_setup_teardown(fn, setup, fixture_teardown)

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
		T2(error_goes_to_the_backend_of_its_flow),
		T2(error_of_a_handshake_goes_to_its_backend),
		T2(error_of_an_unknown_flow_goes_where_the_tables_send_it),
		T2(error_v6_goes_to_the_backend_of_its_flow),
		T(error_too_big_for_the_tunnel_is_dropped),
		T(echo_to_a_service_address_is_answered),
		T2(other_icmp_gets_its_fixed_rule),
	};

	return cmocka_run_group_tests_name("icmp", tests, NULL, NULL);
}
