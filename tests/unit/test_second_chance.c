// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_second_chance.c - second chance on the real LB and decap programs, IPv4 and
 * IPv6: a miss the two table generations disagree about carries the other backend (struct
 * zdd_sc_opt, zdd_sc_dstopts); zdd_decap keeps what a local socket owns and forwards the rest,
 * once. The service is on the loopback address, so the decap's socket lookup (in this test's
 * network namespace) finds real sockets. */
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

/* Where a family's tunnel keeps what the tests look at (offsets from the frame's start). */
struct fam {
	int af;
	const char *lo, *blue, *green, *lb_src, *svc_fmt;
	__u32 outer;	    /* the outer header with the option */
	__u32 plain;	    /* without it */
	__u32 saddr, daddr; /* outer addresses */
	__u32 alen;
	__u32 ttl;  /* TTL / hop limit */
	__u32 hops; /* the option's hop count */
	__u32 addr; /* the option's address */
};

static const struct fam fam4 = {
	.af = AF_INET,
	.lo = "127.0.0.1",
	.blue = "198.18.3.11",
	.green = "198.18.3.21",
	.lb_src = LB_SRC4,
	.svc_fmt = "127.0.0.1:%u/tcp",
	.outer = 28,
	.plain = 20,
	.saddr = 14 + 12,
	.daddr = 14 + 16,
	.alen = 4,
	.ttl = 14 + 8,
	.hops = 14 + 20 + 2,
	.addr = 14 + 20 + 4,
};
static const struct fam fam6 = {
	.af = AF_INET6,
	.lo = "::1",
	.blue = "fd00:3::11",
	.green = "fd00:3::21",
	.lb_src = LB_SRC6,
	.svc_fmt = "[::1]:%u/tcp",
	.outer = 64,
	.plain = 40,
	.saddr = 14 + 8,
	.daddr = 14 + 24,
	.alen = 16,
	.ttl = 14 + 7,
	.hops = 14 + 40 + 4,
	.addr = 14 + 40 + 6,
};

struct sc_fixture {
	const struct fam *fam;
	struct fixture *lb;
	struct zdd_decap *blue, *green;
	int listener;
	__u16 port; /* the listener's, host order: the service's port */
	char svc[48];
	__u8 out[PKT_MAX + 256];
	__u32 out_len;
};

static struct zdd_decap *decap_for(const struct fam *fam, const char *addr)
{
	struct zdd_prefix_key from;
	struct zdd_decap *d;
	__u8 a[16];

	assert_int_equal(zdd_decap_open_load(&d, NULL, false), 0);
	assert_int_equal(zdd_addr_parse(addr, a), 0);
	assert_int_equal(zdd_decap_addr_add(d, a), 0);
	assert_int_equal(zdd_prefix_parse(fam->lb_src, &from), 0);
	assert_int_equal(zdd_decap_set_from(d, &from, 1), 0);
	return d;
}

/* A socket of the family on its loopback address, port 0 in sa: the kernel picks one. */
static int lo_socket(const struct fam *fam, __u16 port, struct sockaddr_storage *sa, socklen_t *len)
{
	int fd = socket(fam->af, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	memset(sa, 0, sizeof(*sa));
	sa->ss_family = fam->af;
	if (fam->af == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)sa;

		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;

		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
		*len = sizeof(*a);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)sa, *len), 0);
	return fd;
}

static int setup(void **state, const struct fam *fam)
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
	struct sockaddr_storage a;
	socklen_t alen;

	assert_non_null(sf);
	*state = sf;
	sf->fam = fam;
	fixture_setup_limits((void **)&sf->lb, &l);
	sf->listener = lo_socket(fam, 0, &a, &alen);
	assert_int_equal(listen(sf->listener, 8), 0);
	assert_int_equal(getsockname(sf->listener, (struct sockaddr *)&a, &alen), 0);
	sf->port = ntohs(((struct sockaddr_in *)&a)->sin_port); /* same place in sockaddr_in6 */
	snprintf(sf->svc, sizeof(sf->svc), fam->svc_fmt, sf->port);
	add_service(sf->lb, sf->svc);
	add_backend(sf->lb, sf->svc, fam->blue, ZDD_BLUE);
	add_backend(sf->lb, sf->svc, fam->green, ZDD_GREEN);
	sf->blue = decap_for(fam, fam->blue);
	sf->green = decap_for(fam, fam->green);
	return 0;
}

static int setup4(void **state)
{
	return setup(state, &fam4);
}

static int setup6(void **state)
{
	return setup(state, &fam6);
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

/* A TCP packet from the loopback address:sport to the service through the LB (lb->out). */
static struct pkt lb_send(struct sc_fixture *sf, __u16 sport, __u8 flags)
{
	struct pkt p = pkt_tcp(sf->fam->lo, sport, sf->fam->lo, sf->port, flags);

	assert_int_equal(run(sf->lb, &p), XDP_TX);
	return p;
}

/* The backend the LB's last frame carries as its second chance, or NULL when it carries none. */
static const char *carried(struct sc_fixture *sf)
{
	static char buf[ZDD_ADDR_STRLEN];
	const struct fam *fam = sf->fam;
	const __u8 *out = sf->lb->out;
	__u8 a[16] = { [10] = 0xff, [11] = 0xff };

	if (fam->af == AF_INET) {
		if ((out[14] & 0x0f) == 5)
			return NULL;
		assert_int_equal(out[14] & 0x0f, fam->outer / 4);
		assert_int_equal(csum_fold_sum(out + 14, fam->outer, 0), 0);
		assert_int_equal(out[fam->hops - 2], ZDD_SC_OPT_TYPE);
		assert_int_equal(out[fam->hops - 1], sizeof(struct zdd_sc_opt));
	} else {
		if (out[14 + 6] == IPPROTO_IPV6)
			return NULL;
		assert_int_equal(out[14 + 6], IPPROTO_DSTOPTS);
		assert_memory_equal(out + 14 + 40, ((const __u8[]){ IPPROTO_IPV6, 2, 0x1e, 18 }),
				    4);
		assert_memory_equal(out + 14 + 62, ((const __u8[]){ 1, 0 }), 2);
	}
	assert_int_equal(out[fam->hops], 0); /* not forwarded yet */
	memcpy(a + 16 - fam->alen, out + fam->addr, fam->alen);
	zdd_addr_format(a, buf, sizeof(buf));
	return buf;
}

static int decap(struct sc_fixture *sf, struct zdd_decap *d, const void *in, __u32 len)
{
	return run_prog(zdd_decap_prog_fd(d), in, len, sf->out, &sf->out_len);
}

/* The counter of a tunnel without a second chance, in the fixture's family. */
static enum zdd_decap_counter plain(const struct sc_fixture *sf)
{
	return sf->fam->af == AF_INET ? ZDD_D_DECAP4 : ZDD_D_DECAP6;
}

static __u64 counter(struct zdd_decap *d, enum zdd_decap_counter c)
{
	__u64 counts[ZDD_D_MAX];

	assert_int_equal(zdd_decap_counters(d, counts), 0);
	return counts[c];
}

/* A connection from the loopback address:sport to the listener, accepted: a socket owns that
 * 4-tuple. */
static int connect_from(struct sc_fixture *sf, __u16 sport)
{
	struct sockaddr_storage a;
	socklen_t alen;
	int fd = lo_socket(sf->fam, sport, &a, &alen), conn;

	((struct sockaddr_in *)&a)->sin_port = htons(sf->port);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, alen), 0);
	conn = accept(sf->listener, NULL, NULL);
	assert_true(conn >= 0);
	close(conn);
	return fd;
}

/* The frame in sf->out went on to green, marked, TTL lowered, the client's packet unchanged. */
static void assert_forwarded_to_green(struct sc_fixture *sf, const struct pkt *p, const __u8 *in)
{
	const struct fam *fam = sf->fam;
	__u8 green[16];

	assert_int_equal(sf->out_len, p->len + fam->outer);
	assert_int_equal(inet_pton(fam->af, fam->green, green), 1);
	assert_memory_equal(sf->out + fam->daddr, green, fam->alen);
	/* The LB's source stays: the other backend's --from check holds. */
	assert_memory_equal(sf->out + fam->saddr, in + fam->saddr, fam->alen);
	assert_int_equal(sf->out[fam->hops], 1); /* forwarded once */
	assert_int_equal(sf->out[fam->ttl], in[fam->ttl] - 1);
	if (fam->af == AF_INET)
		assert_int_equal(csum_fold_sum(sf->out + 14, fam->outer, 0), 0);
	assert_memory_equal(sf->out + 14 + fam->outer, p->data + 14, p->len - 14);
}

static void miss_carries_the_other_generation(void **state)
{
	struct sc_fixture *sf = *state;
	struct pkt p;

	/* One generation only: nothing to disagree about. */
	lb_send(sf, 41000, TH_ACK);
	assert_null(carried(sf));
	set_green(sf->lb, sf->svc, 10000);
	/* The swap: a miss goes where the previous table says (blue), green is its second
	 * chance; and so do the flow's next packets, which conntrack now knows. */
	p = lb_send(sf, 41001, TH_ACK);
	assert_string_equal(outer_dst(sf->lb), sf->fam->blue);
	assert_string_equal(carried(sf), sf->fam->green);
	assert_int_equal(sf->lb->out_len, p.len + sf->fam->outer);
	lb_send(sf, 41001, TH_ACK);
	assert_string_equal(carried(sf), sf->fam->green);
	/* A SYN is new: it needs none. */
	lb_send(sf, 41002, TH_SYN);
	assert_string_equal(outer_dst(sf->lb), sf->fam->green);
	assert_null(carried(sf));
	/* Both generations at 100% green: they agree, nothing carried. */
	set_green(sf->lb, sf->svc, 10000);
	lb_send(sf, 41003, TH_ACK);
	assert_string_equal(outer_dst(sf->lb), sf->fam->green);
	assert_null(carried(sf));
}

static void decap_keeps_what_a_socket_owns(void **state)
{
	struct sc_fixture *sf = *state;
	int fd = connect_from(sf, 41010);
	struct pkt p;

	set_green(sf->lb, sf->svc, 10000);
	p = lb_send(sf, 41010, TH_ACK);
	assert_string_equal(carried(sf), sf->fam->green);
	assert_int_equal(decap(sf, sf->blue, sf->lb->out, sf->lb->out_len), XDP_PASS);
	assert_int_equal(sf->out_len, p.len);
	assert_memory_equal(sf->out + 14, p.data + 14, p.len - 14);
	assert_int_equal(counter(sf->blue, ZDD_D_SC_LOCAL), 1);
	assert_int_equal(counter(sf->blue, plain(sf)), 0);
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
	assert_string_equal(outer_dst(sf->lb), sf->fam->green);
	lb_send(sf, 41031, TH_SYN);
	lb_send(sf, 41032, TH_SYN);
	p = lb_send(sf, 41030, TH_ACK);
	assert_string_equal(outer_dst(sf->lb),
			    sf->fam->blue); /* the miss path: the previous table */
	assert_string_equal(carried(sf), sf->fam->green);
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
	const struct fam *fam = sf->fam;
	__u8 in[PKT_MAX + 64];
	__u32 len;

	set_green(sf->lb, sf->svc, 10000);
	lb_send(sf, 41040, TH_ACK);
	len = sf->lb->out_len;
	/* The inner header is no IP of the family: untouched, counted. */
	memcpy(in, sf->lb->out, len);
	in[14 + fam->outer] = 0x55;
	assert_int_equal(decap(sf, sf->blue, in, len), XDP_PASS);
	assert_int_equal(sf->out_len, len);
	assert_memory_equal(sf->out, in, len);
	assert_int_equal(counter(sf->blue, ZDD_D_SC_BAD), 1);
	/* Another option than ours, same length: IPv4 strips it as a plain tunnel's header;
	 * behind IPv6, a destination option not ours is not a tunnel of ours: untouched. */
	memcpy(in, sf->lb->out, len);
	in[fam->hops - 2] = 0x94; /* IPv4 router alert; for IPv6, an unknown type */
	if (fam->af == AF_INET) {
		in[fam->hops - 1] = 4;
		assert_int_equal(decap(sf, sf->blue, in, len), XDP_PASS);
		assert_int_equal(sf->out_len, len - fam->outer);
		assert_int_equal(counter(sf->blue, ZDD_D_DECAP4), 1);
	} else {
		assert_int_equal(decap(sf, sf->blue, in, len), XDP_PASS);
		assert_int_equal(sf->out_len, len);
		assert_int_equal(counter(sf->blue, ZDD_D_PASS), 1);
	}
	/* Cut inside the inner TCP header: the outer length no longer fits, the kernel's. */
	assert_int_equal(decap(sf, sf->blue, sf->lb->out, 14 + fam->outer + 30), XDP_PASS);
	assert_int_equal(counter(sf->blue, ZDD_D_MALFORMED), 1);
}

#define T(fn)                                                  \
	cmocka_unit_test_setup_teardown(fn, setup4, teardown), \
		cmocka_unit_test_setup_teardown(fn, setup6, teardown)

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
