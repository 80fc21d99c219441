// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_hcheck.c - the LB's TC egress for health probes through the tunnel: a
 * registered probe's packet leaves encapsulated to its backend byte for byte as the balancer
 * sends a client's packet there; the host's other packets pass untouched; every fate counted. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include "addr.h"
#include "fixture.h"
#include "hcheck.h"

struct hc_fixture {
	struct fixture *lb; /* the balancer whose backends and config the probes use */
	struct zdd_hc *hc;
	__u8 out[PKT_MAX + 256];
	__u32 out_len;
};

static int setup(void **state)
{
	struct hc_fixture *hf = calloc(1, sizeof(*hf));
	void *lb;

	assert_non_null(hf);
	fixture_setup_blue_green(&lb); /* all new flows on blue: .11, fd00:3::11 */
	hf->lb = lb;
	assert_int_equal(zdd_hc_open(&hf->hc, hf->lb->z, 0), 0);
	*state = hf;
	return 0;
}

static int teardown(void **state)
{
	struct hc_fixture *hf = *state;
	void *lb = hf->lb;

	zdd_hc_close(hf->hc);
	fixture_teardown(&lb);
	free(hf);
	return 0;
}

static int tc(struct hc_fixture *hf, const struct pkt *p)
{
	return run_prog(zdd_hc_prog_fd(hf->hc), p->data, p->len, hf->out, &hf->out_len);
}

static __u64 counter(struct hc_fixture *hf, enum zdd_hcheck_counter c)
{
	__u64 counts[ZDD_HC_MAX];

	assert_int_equal(zdd_hc_counters(hf->hc, counts), 0);
	return counts[c];
}

/* The IPv4 address at off in the output, as text. */
static const char *ip4_at(struct hc_fixture *hf, __u32 off)
{
	static char buf[INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, hf->out + off, buf, sizeof(buf));
}

/* The flow of p as the parser keys it: the probe socket's side. */
static struct zdd_flow_key probe_key(const struct pkt *p)
{
	const __u8 *ip = p->data + p->l3_off, *l4 = p->data + p->l4_off;
	struct zdd_flow_key k = {};

	if ((ip[0] >> 4) == 4) {
		k.svc.addr[10] = k.svc.addr[11] = k.saddr[10] = k.saddr[11] = 0xff;
		memcpy(k.saddr + 12, ip + 12, 4);
		memcpy(k.svc.addr + 12, ip + 16, 4);
	} else {
		memcpy(k.saddr, ip + 8, 16);
		memcpy(k.svc.addr, ip + 24, 16);
	}
	memcpy(&k.sport, l4, 2);
	memcpy(&k.svc.port, l4 + 2, 2);
	k.svc.proto = IPPROTO_TCP;
	return k;
}

/* Registers the flow of p as a probe of backend addr of svc. */
static int probe_add(struct hc_fixture *hf, const struct pkt *p, const char *svc, const char *addr,
		     __u32 *id)
{
	struct zdd_service_key key = svc_key(svc);
	struct zdd_flow_key k = probe_key(p);
	__u8 a[16];

	assert_int_equal(zdd_addr_parse(addr, a), 0);
	return zdd_hc_probe_add(hf->hc, &k, &key, a, id);
}

/* The probe's packet: what the LB's stack sends to the service address, from the LB. */
static struct pkt probe4(__u8 flags)
{
	return pkt_tcp(LB_SRC4, 40001, VIP4, 80, flags);
}

static void probe_leaves_as_a_clients_packet_would(void **state)
{
	struct hc_fixture *hf = *state;
	struct pkt p = probe4(TH_SYN);
	__u32 id = ZDD_NO_BACKEND;

	pkt_payload(&p, 200);
	assert_int_equal(probe_add(hf, &p, SVC4, "198.18.3.11", &id), 0);
	assert_int_not_equal(id, ZDD_NO_BACKEND);
	assert_int_equal(tc(hf, &p), TC_ACT_OK);
	/* The balancer, given the same packet, sends it to .11 (blue has every new flow). */
	assert_int_equal(run(hf->lb, &p), XDP_TX);
	assert_string_equal(outer_dst(hf->lb), "198.18.3.11");
	assert_int_equal(hf->out_len, p.len + 20);
	assert_int_equal(hf->out_len, hf->lb->out_len);
	assert_memory_equal(hf->out, hf->lb->out, 6);	 /* the backend's next hop */
	assert_memory_equal(hf->out + 6, p.data + 6, 6); /* our own MAC, as the stack wrote it */
	assert_memory_equal(hf->out + 12, hf->lb->out + 12, hf->out_len - 12);
	assert_int_equal(counter(hf, ZDD_HC_TUNNEL4), 1);
}

/* Green gets no client: its probes go through the tunnel all the same. */
static void probe_reaches_a_backend_without_traffic(void **state)
{
	struct hc_fixture *hf = *state;
	struct pkt p = probe4(TH_ACK);
	__u32 id = ZDD_NO_BACKEND;

	assert_int_equal(probe_add(hf, &p, SVC4, "198.18.3.21", &id), 0);
	assert_int_equal(tc(hf, &p), TC_ACT_OK);
	assert_int_equal(hf->out_len, p.len + 20);
	assert_int_equal(hf->out[14 + 9], IPPROTO_IPIP);
	assert_string_equal(ip4_at(hf, 14 + 12), LB_SRC4);
	assert_string_equal(ip4_at(hf, 14 + 16), "198.18.3.21");
	assert_int_equal(hf->out[5], (__u8)id); /* fixture MACs end in the backend's id */
	assert_memory_equal(hf->out + 34, p.data + 14, p.len - 14);
}

static void ipv6_probe(void **state)
{
	struct hc_fixture *hf = *state;
	struct pkt p = pkt_tcp(LB_SRC6, 40002, VIP6, 80, TH_SYN);
	__u8 src[16], dst[16];
	__u32 id = ZDD_NO_BACKEND;

	assert_int_equal(probe_add(hf, &p, SVC6, "fd00:3::21", &id), 0);
	assert_int_equal(tc(hf, &p), TC_ACT_OK);
	assert_int_equal(hf->out_len, p.len + 40);
	assert_int_equal(hf->out[12] << 8 | hf->out[13], 0x86dd);
	assert_int_equal(hf->out[14] >> 4, 6);
	assert_int_equal(hf->out[14 + 4] << 8 | hf->out[14 + 5], p.len - 14);
	assert_int_equal(hf->out[14 + 6], IPPROTO_IPV6);
	assert_int_equal(inet_pton(AF_INET6, LB_SRC6, src), 1);
	assert_int_equal(inet_pton(AF_INET6, "fd00:3::21", dst), 1);
	assert_memory_equal(hf->out + 14 + 8, src, 16);
	assert_memory_equal(hf->out + 14 + 24, dst, 16);
	assert_memory_equal(hf->out + 54, p.data + 14, p.len - 14);
	assert_int_equal(counter(hf, ZDD_HC_TUNNEL6), 1);
}

static void assert_untouched(struct hc_fixture *hf, const struct pkt *p)
{
	assert_int_equal(tc(hf, p), TC_ACT_OK);
	assert_int_equal(hf->out_len, p->len);
	assert_memory_equal(hf->out, p->data, p->len);
}

static void other_packets_pass_untouched(void **state)
{
	struct hc_fixture *hf = *state;
	struct pkt p = probe4(TH_SYN), other = probe4(TH_SYN), udp, arp;
	__u32 id = ZDD_NO_BACKEND;
	struct zdd_flow_key key;

	assert_int_equal(probe_add(hf, &p, SVC4, "198.18.3.11", &id), 0);
	other.data[14 + 20 + 1]++; /* source port 40002: another connection of the host */
	pkt_fix_csums(&other);
	udp = pkt_udp(LB_SRC4, 40001, VIP4, 80);
	arp = other;
	arp.data[13] = 0x06;
	assert_untouched(hf, &other);
	assert_untouched(hf, &udp);
	assert_untouched(hf, &arp);
	assert_int_equal(counter(hf, ZDD_HC_PASS), 3);
	/* Unregistered, the probe's own flow passes too. */
	key = probe_key(&p);
	assert_int_equal(zdd_hc_probe_del(hf->hc, &key), 0);
	assert_untouched(hf, &p);
	assert_int_equal(zdd_hc_probe_del(hf->hc, &key), -ENOENT);
}

static void gone_backend_or_too_big_is_dropped(void **state)
{
	struct hc_fixture *hf = *state;
	struct zdd_service_key key = svc_key(SVC4);
	struct pkt p = probe4(TH_SYN), big = probe4(TH_ACK);
	__u32 id = ZDD_NO_BACKEND;
	__u8 a[16];

	/* MTU 1600 in the fixture: 1581 bytes of IP are 1601 with the tunnel's 20. */
	pkt_payload(&big, 1581 - (big.len - 14));
	assert_int_equal(probe_add(hf, &big, SVC4, "198.18.3.11", &id), 0);
	assert_int_equal(tc(hf, &big), TC_ACT_SHOT);
	assert_int_equal(counter(hf, ZDD_HC_TOO_BIG), 1);
	/* The slot emptied under a registered probe: nowhere to send it. */
	assert_int_equal(probe_add(hf, &p, SVC4, "198.18.3.21", &id), 0);
	assert_int_equal(zdd_addr_parse("198.18.3.21", a), 0);
	assert_int_equal(zdd_backend_del(hf->lb->z, &key, a), 0);
	assert_int_equal(tc(hf, &p), TC_ACT_SHOT);
	assert_int_equal(counter(hf, ZDD_HC_NO_BACKEND), 1);
	/* And it can no longer be registered. */
	assert_int_equal(probe_add(hf, &p, SVC4, "198.18.3.21", &id), -ENOENT);
}

/* The id hint: kept while it names the backend, found again when the backend moved. */
static void backend_id_follows_the_backend(void **state)
{
	struct hc_fixture *hf = *state;
	struct zdd_service_key key = svc_key(SVC4);
	struct pkt p = probe4(TH_SYN);
	__u32 id = ZDD_NO_BACKEND, first, moved;
	__u8 a[16];

	assert_int_equal(probe_add(hf, &p, SVC4, "198.18.3.21", &id), 0);
	first = id;
	assert_int_equal(probe_add(hf, &p, SVC4, "198.18.3.21", &id), 0);
	assert_int_equal(id, first);
	/* Deleted and added again after another backend took its slot. */
	assert_int_equal(zdd_addr_parse("198.18.3.21", a), 0);
	assert_int_equal(zdd_backend_del(hf->lb->z, &key, a), 0);
	add_backend(hf->lb, SVC4, "198.18.3.22", ZDD_GREEN);
	moved = add_backend(hf->lb, SVC4, "198.18.3.21", ZDD_GREEN);
	assert_int_not_equal(moved, first);
	assert_int_equal(probe_add(hf, &p, SVC4, "198.18.3.21", &id), 0);
	assert_int_equal(id, moved);
	assert_int_equal(tc(hf, &p), TC_ACT_OK);
	assert_string_equal(ip4_at(hf, 14 + 16), "198.18.3.21");
	assert_int_equal(hf->out[5], (__u8)moved);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(probe_leaves_as_a_clients_packet_would),
		T(probe_reaches_a_backend_without_traffic),
		T(ipv6_probe),
		T(other_packets_pass_untouched),
		T(gone_backend_or_too_big_is_dropped),
		T(backend_id_follows_the_backend),
	};

	return cmocka_run_group_tests_name("hcheck", tests, NULL, NULL);
}
