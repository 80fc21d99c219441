// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_second_chance.c - second chance on the real LB and decap programs: a miss the
 * two table generations disagree about carries the other backend (struct zdd_sc_opt); zdd_decap
 * keeps what a local socket owns and forwards the rest, once. The service is on 127.0.0.1, so
 * the decap's socket lookup (in this test's network namespace) finds real sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include "addr.h"
#include "decap.h"
#include "fixture.h"

#define LO	 "127.0.0.1"
#define BLUE	 "198.18.3.11"
#define GREEN	 "198.18.3.21"
#define OPT_OFF	 (14 + 20) /* the option, behind the outer IPv4 header */
#define SC_OUTER 28

struct sc_fixture {
	struct fixture *lb;
	struct zdd_decap *blue, *green;
	int listener;
	__u16 port; /* the listener's, host order: the service's port */
	char svc[32];
	__u8 out[PKT_MAX + 256];
	__u32 out_len;
};

static struct zdd_decap *decap_for(const char *addr)
{
	struct zdd_prefix_key from;
	struct zdd_decap *d;
	__u8 a[16];

	assert_int_equal(zdd_decap_open_load(&d, NULL, false), 0);
	assert_int_equal(zdd_addr_parse(addr, a), 0);
	assert_int_equal(zdd_decap_addr_add(d, a), 0);
	assert_int_equal(zdd_prefix_parse(LB_SRC4, &from), 0);
	assert_int_equal(zdd_decap_set_from(d, &from, 1), 0);
	return d;
}

static int setup(void **state)
{
	/* One embryo set of two ways: two newer SYNs evict a handshake's. */
	const struct zdd_limits l = {
		.services = 8,
		.backends = 64,
		.maglev_m = 1021,
		.flows = 4096,
		.embryos = 2,
	};
	struct sc_fixture *sf = calloc(1, sizeof(*sf));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	assert_non_null(sf);
	*state = sf;
	fixture_setup_limits((void **)&sf->lb, &l);
	sf->listener = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sf->listener >= 0);
	assert_int_equal(bind(sf->listener, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(sf->listener, 8), 0);
	assert_int_equal(getsockname(sf->listener, (struct sockaddr *)&a, &alen), 0);
	sf->port = ntohs(a.sin_port);
	snprintf(sf->svc, sizeof(sf->svc), LO ":%u/tcp", sf->port);
	add_service(sf->lb, sf->svc);
	add_backend(sf->lb, sf->svc, BLUE, ZDD_BLUE);
	add_backend(sf->lb, sf->svc, GREEN, ZDD_GREEN);
	sf->blue = decap_for(BLUE);
	sf->green = decap_for(GREEN);
	return 0;
}

static int teardown(void **state)
{
	struct sc_fixture *sf = *state;

	zdd_decap_close(sf->green);
	zdd_decap_close(sf->blue);
	close(sf->listener);
	fixture_teardown((void **)&sf->lb);
	free(sf);
	return 0;
}

/* A TCP packet from 127.0.0.1:sport to the service through the LB; the LB's frame in lb->out. */
static struct pkt lb_send(struct sc_fixture *sf, __u16 sport, __u8 flags)
{
	struct pkt p = pkt_tcp(LO, sport, LO, sf->port, flags);

	assert_int_equal(run(sf->lb, &p), XDP_TX);
	return p;
}

/* The backend the LB's last frame carries as its second chance, or NULL when it carries none. */
static const char *carried(struct sc_fixture *sf)
{
	static char buf[ZDD_ADDR_STRLEN];
	const __u8 *o = sf->lb->out + OPT_OFF;
	__u8 a[16] = { [10] = 0xff, [11] = 0xff };

	if ((sf->lb->out[14] & 0x0f) == 5)
		return NULL;
	assert_int_equal(sf->lb->out[14] & 0x0f, SC_OUTER / 4);
	assert_int_equal(csum_fold_sum(sf->lb->out + 14, SC_OUTER, 0), 0);
	assert_int_equal(o[0], ZDD_SC_OPT_TYPE);
	assert_int_equal(o[1], sizeof(struct zdd_sc_opt));
	assert_int_equal(o[2], 0); /* hops: not forwarded yet */
	memcpy(a + 12, o + 4, 4);
	zdd_addr_format(a, buf, sizeof(buf));
	return buf;
}

static int decap(struct sc_fixture *sf, struct zdd_decap *d, const void *in, __u32 len)
{
	return run_prog(zdd_decap_prog_fd(d), in, len, sf->out, &sf->out_len);
}

static __u64 counter(struct zdd_decap *d, enum zdd_decap_counter c)
{
	__u64 counts[ZDD_D_MAX];

	assert_int_equal(zdd_decap_counters(d, counts), 0);
	return counts[c];
}

/* A connection from 127.0.0.1:sport to the listener, accepted: a socket owns that 4-tuple. */
static int connect_from(struct sc_fixture *sf, __u16 sport)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0), conn;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	a.sin_port = htons(sport);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	a.sin_port = htons(sf->port);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	conn = accept(sf->listener, NULL, NULL);
	assert_true(conn >= 0);
	close(conn);
	return fd;
}

/* The frame in sf->out went on to GREEN, marked, TTL lowered, the client's packet unchanged. */
static void assert_forwarded_to_green(struct sc_fixture *sf, const struct pkt *p, const __u8 *in)
{
	__u8 green[4];

	assert_int_equal(sf->out_len, p->len + SC_OUTER);
	assert_int_equal(inet_pton(AF_INET, GREEN, green), 1);
	assert_memory_equal(sf->out + 14 + 16, green, 4);
	assert_memory_equal(sf->out + 14 + 12, in + 14 + 12, 4); /* the LB's source: --from holds */
	assert_int_equal(sf->out[OPT_OFF + 2], 1);		 /* hops: forwarded once */
	assert_int_equal(sf->out[14 + 8], in[14 + 8] - 1);	 /* TTL */
	assert_int_equal(csum_fold_sum(sf->out + 14, SC_OUTER, 0), 0);
	assert_memory_equal(sf->out + 14 + SC_OUTER, p->data + 14, p->len - 14);
}

static void miss_carries_the_other_generation(void **state)
{
	struct sc_fixture *sf = *state;

	/* One generation only: nothing to disagree about. */
	lb_send(sf, 41000, TH_ACK);
	assert_null(carried(sf));
	set_green(sf->lb, sf->svc, 10000);
	/* The swap: a miss goes where the previous table says (blue), green is its second
	 * chance; and so do the flow's next packets, which conntrack now knows. */
	lb_send(sf, 41001, TH_ACK);
	assert_string_equal(outer_dst(sf->lb), BLUE);
	assert_string_equal(carried(sf), GREEN);
	assert_int_equal(sf->lb->out_len, 14 + SC_OUTER + 40);
	lb_send(sf, 41001, TH_ACK);
	assert_string_equal(carried(sf), GREEN);
	/* A SYN is new: it needs none. */
	lb_send(sf, 41002, TH_SYN);
	assert_string_equal(outer_dst(sf->lb), GREEN);
	assert_null(carried(sf));
	/* Both generations at 100% green: they agree, nothing carried. */
	set_green(sf->lb, sf->svc, 10000);
	lb_send(sf, 41003, TH_ACK);
	assert_string_equal(outer_dst(sf->lb), GREEN);
	assert_null(carried(sf));
}

static void decap_keeps_what_a_socket_owns(void **state)
{
	struct sc_fixture *sf = *state;
	int fd = connect_from(sf, 41010);
	struct pkt p;

	set_green(sf->lb, sf->svc, 10000);
	p = lb_send(sf, 41010, TH_ACK);
	assert_string_equal(carried(sf), GREEN);
	assert_int_equal(decap(sf, sf->blue, sf->lb->out, sf->lb->out_len), XDP_PASS);
	assert_int_equal(sf->out_len, p.len);
	assert_memory_equal(sf->out + 14, p.data + 14, p.len - 14);
	assert_int_equal(counter(sf->blue, ZDD_D_SC_LOCAL), 1);
	assert_int_equal(counter(sf->blue, ZDD_D_DECAP4), 0);
	close(fd);
}

static void decap_forwards_what_no_socket_owns_once(void **state)
{
	struct sc_fixture *sf = *state;
	__u8 in[PKT_MAX + 64], again[PKT_MAX + 64];
	__u32 len;
	struct pkt p;

	set_green(sf->lb, sf->svc, 10000);
	/* Only the listener knows the port: an ACK without a cookie it would reset. */
	p = lb_send(sf, 41020, TH_ACK);
	len = sf->lb->out_len;
	memcpy(in, sf->lb->out, len);
	assert_int_equal(decap(sf, sf->blue, in, len), XDP_TX);
	assert_forwarded_to_green(sf, &p, in);
	assert_int_equal(counter(sf->blue, ZDD_D_SC_FORWARD) + counter(sf->blue, ZDD_D_SC_VIA_HOP),
			 1);
	/* Marked: nowhere is it forwarded again, not even back. */
	memcpy(again, sf->out, sf->out_len);
	len = sf->out_len;
	assert_int_equal(decap(sf, sf->green, again, len), XDP_PASS);
	assert_int_equal(sf->out_len, p.len);
	assert_int_equal(counter(sf->green, ZDD_D_SC_SPENT), 1);
	/* And a SYN is always kept: a new connection is anyone's. */
	lb_send(sf, 41021, TH_SYN);
	assert_null(carried(sf));
}

/*
 * The fault second chance answers: after a 0->100% change, a SYN goes to green; its embryo is
 * evicted before the ACK, which takes the miss path to blue. Blue has the listener but not the
 * handshake: the ACK goes on to green, where the connection is.
 */
static void handshake_ack_after_embryo_eviction_reaches_its_syn_backend(void **state)
{
	struct sc_fixture *sf = *state;
	__u8 in[PKT_MAX + 64];
	struct pkt p;
	__u32 len;
	int fd;

	set_green(sf->lb, sf->svc, 10000);
	lb_send(sf, 41030, TH_SYN);
	assert_string_equal(outer_dst(sf->lb), GREEN);
	lb_send(sf, 41031, TH_SYN);
	lb_send(sf, 41032, TH_SYN);
	p = lb_send(sf, 41030, TH_ACK);
	assert_string_equal(outer_dst(sf->lb), BLUE); /* the miss path: the previous table */
	assert_string_equal(carried(sf), GREEN);
	len = sf->lb->out_len;
	memcpy(in, sf->lb->out, len);
	assert_int_equal(decap(sf, sf->blue, in, len), XDP_TX);
	assert_forwarded_to_green(sf, &p, in);
	/* Green holds the connection (here established on lo; a half-open one in the lab). */
	fd = connect_from(sf, 41030);
	memcpy(in, sf->out, sf->out_len);
	len = sf->out_len;
	assert_int_equal(decap(sf, sf->green, in, len), XDP_PASS);
	assert_int_equal(sf->out_len, p.len);
	assert_memory_equal(sf->out + 14, p.data + 14, p.len - 14);
	assert_int_equal(counter(sf->green, ZDD_D_SC_LOCAL), 1);
	close(fd);
}

static void malformed_second_chances_pass_untouched(void **state)
{
	struct sc_fixture *sf = *state;
	__u8 in[PKT_MAX + 64];
	__u32 len;

	set_green(sf->lb, sf->svc, 10000);
	lb_send(sf, 41040, TH_ACK);
	len = sf->lb->out_len;
	/* The inner header is no IPv4: untouched, counted. */
	memcpy(in, sf->lb->out, len);
	in[14 + SC_OUTER] = 0x55;
	assert_int_equal(decap(sf, sf->blue, in, len), XDP_PASS);
	assert_int_equal(sf->out_len, len);
	assert_memory_equal(sf->out, in, len);
	assert_int_equal(counter(sf->blue, ZDD_D_SC_BAD), 1);
	/* Another option than ours, same length: a plain tunnel. */
	memcpy(in, sf->lb->out, len);
	in[OPT_OFF] = 0x94; /* router alert */
	in[OPT_OFF + 1] = 4;
	assert_int_equal(decap(sf, sf->blue, in, len), XDP_PASS);
	assert_int_equal(sf->out_len, len - SC_OUTER);
	assert_int_equal(counter(sf->blue, ZDD_D_DECAP4), 1);
	/* Cut inside the inner TCP header: the outer length no longer fits, the kernel's. */
	assert_int_equal(decap(sf, sf->blue, sf->lb->out, 14 + SC_OUTER + 30), XDP_PASS);
	assert_int_equal(counter(sf->blue, ZDD_D_MALFORMED), 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(miss_carries_the_other_generation),
		T(decap_keeps_what_a_socket_owns),
		T(decap_forwards_what_no_socket_owns_once),
		T(handshake_ack_after_embryo_eviction_reaches_its_syn_backend),
		T(malformed_second_chances_pass_untouched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
