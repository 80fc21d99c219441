// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_fuzz_packets.c - random and mutated frames through the real program. Per
 * frame: a specified verdict; exactly one reason counted, the verdict's own; the verdict an
 * independent model of the spec predicts; a forwarded frame belongs to a service and goes to
 * one of its backends; an ICMP answer (too big, echo) is well formed and quotes or echoes the
 * frame; a passed or dropped frame is untouched. At the end the reason counters add up to the
 * frames run, and the too-big answers stay within the rate limit. Env: ZDD_FUZZ_PACKETS
 * (default 200000, 5000 under valgrind), ZDD_FUZZ_SEED (printed; replays a run),
 * ZDD_FUZZ_FRAME=HEX (runs that one frame). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include "addr.h"
#include "fixture.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define ARRAY_SIZE(a)	     (sizeof(a) / sizeof((a)[0]))
#define DEF_FRAMES	     200000
#define DEF_FRAMES_VALGRIND  5000
#define SWEEP_TEMPLATES	     64		 /* valid frames truncated at every offset */
#define FLIP_EVERY	     4096	 /* frames between weight changes */
#define TEST_RUN_MIN	     ETH_HLEN	 /* BPF_PROG_TEST_RUN refuses shorter XDP frames */
#define REASON_ANY_NOT_TX    (-1)	 /* the model allows any pass or drop reason */
#define REASON_ANY_TX	     (-2)	 /* the model wants a forward of a flow's packet */
#define REASON_TOO_BIG_RATED (-3)	 /* tx_icmp_too_big, or drop_too_big over the rate */
#define ICMP4_QUOTE	     (576 - 28)	 /* RFC 1812 4.3.2.3 */
#define ICMP6_QUOTE	     (1280 - 48) /* RFC 4443 2.4 */
#define V_PASS		     (1 << XDP_PASS)
#define V_DROP		     (1 << XDP_DROP)
#define V_TX		     (1 << XDP_TX)
#define MAX_BACKENDS_PER_SVC 4

#define ZDD_REASON_VERDICT(e, name, verdict) [ZDD_R_##e] = verdict,
static const int reason_verdict[ZDD_R_MAX] = { ZDD_REASONS(ZDD_REASON_VERDICT) };
#undef ZDD_REASON_VERDICT

/* The services the fixture gets, distinct backend addresses throughout: a frame sent to
 * another service's backend is caught. Some have one pool only, some none at all. */
struct fsvc {
	const char *name;
	const char *addrs[MAX_BACKENDS_PER_SVC];
	enum zdd_pool pools[MAX_BACKENDS_PER_SVC];
	struct zdd_service_key key;
	int v4;
	int nbe;
	__u8 be_addr[MAX_BACKENDS_PER_SVC][16];
	__u32 be_id[MAX_BACKENDS_PER_SVC];
};

static struct fsvc svcs[] = {
	{ .name = VIP4 ":80/tcp",
	  .addrs = { "198.18.3.11", "198.18.3.12", "198.18.3.21" },
	  .pools = { ZDD_BLUE, ZDD_BLUE, ZDD_GREEN } },
	{ .name = VIP4 ":53/udp",
	  .addrs = { "198.18.3.13", "198.18.3.23" },
	  .pools = { ZDD_BLUE, ZDD_GREEN } },
	{ .name = VIP4 ":443/tcp" }, /* no backend: drop_no_backend */
	{ .name = "198.19.0.12:8080/udp", .addrs = { "198.18.3.24" }, .pools = { ZDD_GREEN } },
	{ .name = "[" VIP6 "]:80/tcp",
	  .addrs = { "fd00:3::11", "fd00:3::21", "fd00:3::22" },
	  .pools = { ZDD_BLUE, ZDD_GREEN, ZDD_GREEN } },
	{ .name = "[" VIP6 "]:53/udp", .addrs = { "fd00:3::13" }, .pools = { ZDD_BLUE } },
	{ .name = "[" VIP6 "]:443/udp" },
};

/* Destinations the generator picks from: services, their neighbours, and an IPv6 frame to
 * the IPv4-mapped form of an IPv4 service address (not that service: a different family). */
static const char *const dsts4[] = { VIP4, "198.19.0.12", "198.19.0.11", "198.18.3.11" };
static const char *const dsts6[] = { VIP6, "fd00:5a::11", "::ffff:198.19.0.10", "fd00:3::11" };
static const __u16 ports[] = { 80, 53, 443, 8080, 81, 0 };
static const __u8 ext6[] = { 0, 43, 44, 60, 51, 135, 139, 140, 50, 59 };
static const __u8 protos[] = { IPPROTO_ICMP, 58, 47, 132, 4, 41, 0, 255 };
/* ICMP types: errors (IPv4 3, 11, 12; ICMPv6 1-4), echo requests (8, 128), and others. */
static const __u8 icmp_types[] = { 0, 1, 2, 3, 4, 5, 8, 11, 12, 128, 129, 135, 136, 255 };
static const __u16 tpids[] = { 0x8100, 0x88a8, 0x9100, 0x8100 };
static const __u16 ethertypes[] = { 0x0800, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x0806, 0x88cc };

/* One seed per run, printed: every case starts its stream from it. */
static __u64 seed;

struct fuzz {
	struct fixture *f;
	int reasons_fd;
	int ncpus;
	int batch; /* BPF_MAP_LOOKUP_BATCH works: one syscall per frame for the counters */
	__u64 *percpu;
	__u64 seed, rng;
	__u64 frame; /* index of the frame being checked */
	int last_reason;
	__u64 runs;
	__u64 counts[ZDD_R_MAX]; /* the reason counters after the last frame */
	__u64 verdicts[XDP_REDIRECT + 1];
	__u64 tx_bytes;	       /* inner IP datagram lengths of the forwarded frames */
	struct timespec start; /* of the case: the rate limit's bucket starts full then */
	__u8 dst4[ARRAY_SIZE(dsts4)][4];
	__u8 dst6[ARRAY_SIZE(dsts6)][16];
};

/* splitmix64: small, fast, and every seed gives a full-quality stream. */
static __u64 rnd(struct fuzz *z)
{
	__u64 x = (z->rng += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static __u32 below(struct fuzz *z, __u32 n)
{
	return n ? (__u32)(rnd(z) % n) : 0;
}

static int chance(struct fuzz *z, int percent)
{
	return below(z, 100) < (__u32)percent;
}

static __u16 rd16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static void wr16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = (__u8)v;
}

static int under_valgrind(void)
{
	return RUNNING_ON_VALGRIND || getenv("ZDD_UNDER_VALGRIND");
}

static __u64 env_u64(const char *name, __u64 def)
{
	const char *s = getenv(name);
	char *end;
	__u64 v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		fail_msg("%s=%s is not a number", name, s);
	return v;
}

/* --- the model: what the spec (DESIGN.md section 1, the ABI's reasons) says of a frame ---- */

struct expect {
	int verdicts;		/* V_* mask of allowed verdicts */
	int reason;		/* a zdd_reason, or REASON_ANY_* */
	const struct fsvc *svc; /* the service a forwarded frame belongs to */
};

static const __u8 v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

static const struct fsvc *find_svc(const __u8 addr[16], __u16 port, __u8 proto, int v4)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(svcs); i++)
		if (svcs[i].v4 == v4 && !memcmp(svcs[i].key.addr, addr, 16) &&
		    ntohs(svcs[i].key.port) == port && svcs[i].key.proto == proto)
			return &svcs[i];
	return NULL;
}

static int is_vip(const __u8 addr[16], int v4)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(svcs); i++)
		if (svcs[i].v4 == v4 && !memcmp(svcs[i].key.addr, addr, 16))
			return 1;
	return 0;
}

static int is_ext6(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51 || nh == 135 || nh == 139 ||
	       nh == 140;
}

static void want(struct expect *x, int reason)
{
	x->reason = reason;
	if (reason == REASON_ANY_NOT_TX)
		x->verdicts = V_PASS | V_DROP;
	else if (reason == REASON_ANY_TX)
		x->verdicts = V_TX;
	else if (reason == REASON_TOO_BIG_RATED)
		x->verdicts = V_TX | V_DROP;
	else
		x->verdicts = 1 << reason_verdict[reason];
}

/* ICMP goes only to a source that names one host (RFC 1812 4.3.2.7); ip is the IP header. */
static int src_is_host(const __u8 *ip, int v4)
{
	static const __u8 unspecified[16], loopback[16] = { [15] = 1 };

	if (v4)
		return ip[12] && ip[12] != 127 && ip[12] < 224;
	return ip[8] != 0xff && memcmp(ip + 8, unspecified, 16) && memcmp(ip + 8, loopback, 16);
}

static int is_tcp_udp(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

/* ICMP (the rules in zdd_abi.h above ZDD_REASONS): only what is for a service address is ours.
 * l4 is the ICMP header, lim the datagram's end, tot its length, dst its destination. */
static void model_icmp(const __u8 *d, __u32 l3, __u32 l4, __u32 lim, __u32 tot, const __u8 dst[16],
		       int v4, struct expect *x)
{
	__u32 q = l4 + 8, ql4;
	__u8 type, qproto;

	if (!is_vip(dst, v4))
		return want(x, ZDD_R_NOT_L4);
	if (l4 + 8 > lim)
		return want(x, ZDD_R_MALFORMED);
	type = d[l4];
	if (type == (v4 ? 8 : 128)) /* echo request: answered, but not with IPv4 options */
		return want(x, (v4 && l4 - l3 != 20) || !src_is_host(d + l3, v4)
				       ? ZDD_R_NOT_L4
				       : ZDD_R_TX_ICMP_ECHO);
	if (v4 ? type != 3 && type != 11 && type != 12 : type < 1 || type > 4)
		return want(x, ZDD_R_NOT_L4); /* not an error */
	/* An error: the quoted IP header whole, or malformed; a TCP or UDP first fragment sent
	 * from the address the error goes to, or not ours; then its 8 bytes of ports, or
	 * malformed. */
	if (v4) {
		if (q + 20 > lim || d[q] >> 4 != 4 || (d[q] & 0xf) < 5 ||
		    q + (d[q] & 0xf) * 4u > lim)
			return want(x, ZDD_R_MALFORMED);
		qproto = d[q + 9];
		if (!is_tcp_udp(qproto) || (rd16(d + q + 6) & 0x1fff))
			return want(x, ZDD_R_NOT_L4);
		if (memcmp(d + q + 12, dst + 12, 4))
			return want(x, ZDD_R_NOT_L4);
		ql4 = q + (d[q] & 0xf) * 4u;
	} else {
		if (q + 40 > lim || d[q] >> 4 != 6 || !memcmp(d + q + 8, v4_mapped, 12) ||
		    !memcmp(d + q + 24, v4_mapped, 12))
			return want(x, ZDD_R_MALFORMED);
		qproto = d[q + 6];
		if (!is_tcp_udp(qproto))
			return want(x, ZDD_R_NOT_L4);
		if (memcmp(d + q + 8, dst, 16))
			return want(x, ZDD_R_NOT_L4);
		ql4 = q + 40;
	}
	if (ql4 + 8 > lim)
		return want(x, ZDD_R_MALFORMED);
	/* The quoted packet's source port is the service's. */
	x->svc = find_svc(dst, rd16(d + ql4), qproto, v4);
	if (!x->svc)
		return want(x, ZDD_R_NO_SERVICE);
	if (!x->svc->nbe)
		return want(x, ZDD_R_NO_BACKEND);
	if (tot + (v4 ? 20 : 40) > TEST_MTU)
		return want(x, ZDD_R_TOO_BIG); /* never an ICMP error about an ICMP error */
	want(x, ZDD_R_TX_ICMP_ERROR);
}

/* Written from the spec (DESIGN.md, the reasons in zdd_abi.h), apart from parse.h: where the
 * two disagree, one of them is wrong. */
static void model(const __u8 *d, __u32 len, struct expect *x)
{
	__u32 l3 = ETH_HLEN, tot, hl, l4, lim, doff, ulen;
	__u16 et = rd16(d + 12);
	__u8 dst[16], proto;
	int v4;

	memset(x, 0, sizeof(*x));
	if (et == ETH_P_8021Q || et == ETH_P_8021AD) {
		if (len < l3 + 4)
			return want(x, ZDD_R_MALFORMED);
		et = rd16(d + 16);
		l3 += 4;
	}
	if (et != ETH_P_IP && et != ETH_P_IPV6)
		return want(x, ZDD_R_NOT_IP); /* a second tag included */
	v4 = et == ETH_P_IP;
	if (v4) {
		hl = (d[l3] & 0xf) * 4u;
		if (len < l3 + 20 || d[l3] >> 4 != 4 || hl < 20 || l3 + hl > len)
			return want(x, ZDD_R_MALFORMED);
		tot = rd16(d + l3 + 2);
		if (tot < hl || l3 + tot > len)
			return want(x, ZDD_R_MALFORMED);
		memcpy(dst, v4_mapped, 12);
		memcpy(dst + 12, d + l3 + 16, 4);
		proto = d[l3 + 9];
		if (rd16(d + l3 + 6) & 0x3fff) /* MF or an offset: no ports */
			return want(x, is_vip(dst, 1) ? ZDD_R_FRAGMENT : ZDD_R_NO_SERVICE);
		l4 = l3 + hl;
	} else {
		if (len < l3 + 40 || d[l3] >> 4 != 6)
			return want(x, ZDD_R_MALFORMED);
		memcpy(dst, d + l3 + 24, 16);
		tot = 40 + rd16(d + l3 + 4);
		if (l3 + tot > len)
			return want(x, ZDD_R_MALFORMED);
		/* IPv4-mapped addresses never appear on the wire: either end mapped is malformed
		 * (it would alias an IPv4 service or flow). */
		if (!memcmp(dst, v4_mapped, 12) || !memcmp(d + l3 + 8, v4_mapped, 12))
			return want(x, ZDD_R_MALFORMED);
		proto = d[l3 + 6];
		if (proto == 44)
			return want(x, is_vip(dst, 0) ? ZDD_R_FRAGMENT : ZDD_R_IPV6_EXT);
		if (is_ext6(proto))
			return want(x, ZDD_R_IPV6_EXT);
		l4 = l3 + 40;
	}
	lim = l3 + tot; /* Ethernet padding is not payload */
	if (proto == (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6))
		return model_icmp(d, l3, l4, lim, tot, dst, v4, x);
	if (!is_tcp_udp(proto))
		return want(x, ZDD_R_NOT_L4);
	if (proto == IPPROTO_TCP) {
		if (l4 + 20 > lim)
			return want(x, ZDD_R_MALFORMED);
		doff = (d[l4 + 12] >> 4) * 4u;
		if (doff < 20 || l4 + doff > lim)
			return want(x, ZDD_R_MALFORMED);
	} else {
		if (l4 + 8 > lim)
			return want(x, ZDD_R_MALFORMED);
		ulen = rd16(d + l4 + 4);
		if (ulen < 8 || l4 + ulen > lim)
			return want(x, ZDD_R_MALFORMED);
	}
	x->svc = find_svc(dst, rd16(d + l4 + 2), proto, v4);
	if (!x->svc)
		return want(x, ZDD_R_NO_SERVICE);
	if (!x->svc->nbe)
		return want(x, ZDD_R_NO_BACKEND);
	if (tot + (v4 ? 20 : 40) > TEST_MTU) {
		/* Answered within the rate; IPv4 only with DF: routers fragment the rest, and we
		 * cannot. The quote needs the packet's first 548 / 1232 bytes. */
		if ((v4 && !(rd16(d + l3 + 6) & 0x4000)) || !src_is_host(d + l3, v4) ||
		    tot < (v4 ? ICMP4_QUOTE : ICMP6_QUOTE))
			return want(x, ZDD_R_TOO_BIG);
		return want(x, REASON_TOO_BIG_RATED);
	}
	want(x, REASON_ANY_TX);
}

/* --- running and checking one frame ---------------------------------------------------- */

/* One line of hex: pasted into ZDD_FUZZ_FRAME, it replays the frame. */
static void hex(const char *what, const __u8 *d, __u32 len)
{
	char *line = malloc(2 * (size_t)len + 1);
	__u32 i;

	if (!line)
		return;
	for (i = 0; i < len; i++)
		snprintf(line + 2 * i, 3, "%02x", d[i]);
	line[2 * len] = '\0';
	print_error("# %s (%u bytes): %s\n", what, len, line);
	free(line);
}

/* Every failure names the seed and frame, and dumps the frame: enough to replay it. */
static void __attribute__((format(printf, 3, 4), noreturn))
bad(struct fuzz *z, const struct pkt *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("# FAIL seed %llu frame %llu: %s\n", z->seed, z->frame, msg);
	hex("frame in (ZDD_FUZZ_FRAME=)", p->data, p->len);
	if (z->f->out_len && z->f->out_len <= sizeof(z->f->out))
		hex("frame out", z->f->out, z->f->out_len);
	fail_msg("seed %llu frame %llu: %s", z->seed, z->frame, msg);
	abort(); /* not reached: cmocka jumps out of the test */
}

/* The summing of zdd_reasons_read(), in one batch lookup per frame where the kernel has it. */
static void read_reasons(struct fuzz *z, __u64 counts[ZDD_R_MAX])
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u32 keys[ZDD_R_MAX], key, n = ZDD_R_MAX, out;
	int cpu, err = -1;

	if (z->batch) {
		err = bpf_map_lookup_batch(z->reasons_fd, NULL, &out, keys, z->percpu, &n, &o);
		if (err && errno == ENOENT && n == ZDD_R_MAX)
			err = 0; /* the whole array in one go */
		if (err || n != ZDD_R_MAX)
			z->batch = 0, err = -1;
	}
	for (key = 0; key < ZDD_R_MAX; key++) {
		if (err && bpf_map_lookup_elem(z->reasons_fd, &key, z->percpu + key * z->ncpus))
			fail_msg("zdd_reasons lookup: %s", strerror(errno));
		counts[key] = 0;
		for (cpu = 0; cpu < z->ncpus; cpu++)
			counts[key] += z->percpu[key * z->ncpus + cpu];
	}
}

/* The service a forwarded datagram belongs to: by its destination and port, or for an ICMP
 * error by the packet it quotes (sent from the service's address and port). */
static const struct fsvc *svc_of_inner(const __u8 *ip, __u32 len, int v4)
{
	__u8 addr[16], proto = v4 ? ip[9] : ip[6];
	__u32 l4, q;

	if (v4) {
		l4 = (ip[0] & 0xf) * 4u;
		memcpy(addr, v4_mapped, 12);
		memcpy(addr + 12, ip + 16, 4);
	} else {
		l4 = 40;
		memcpy(addr, ip + 24, 16);
	}
	if (proto == (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		q = l4 + 8;
		if (len < q + (v4 ? 20 : 40))
			return NULL;
		proto = v4 ? ip[q + 9] : ip[q + 6];
		l4 = q + (v4 ? (ip[q] & 0xf) * 4u : 40);
		if (len < l4 + 2)
			return NULL;
		return find_svc(addr, rd16(ip + l4), proto, v4);
	}
	if (len < l4 + 4)
		return NULL;
	return find_svc(addr, rd16(ip + l4 + 2), proto, v4);
}

/* Sent back whence it came: the MACs swapped, the VLAN tag and the ethertype kept. */
static void check_back_l2(struct fuzz *z, const struct pkt *p, __u32 l2)
{
	const __u8 *in = p->data, *out = z->f->out;

	if (memcmp(out, in + 6, 6) || memcmp(out + 6, in, 6) || memcmp(out + 12, in + 12, l2 - 12))
		bad(z, p, "an ICMP answer's Ethernet header is not the frame's, turned round");
}

/* "Fragmentation needed" / "packet too big" from the service address to the client, with the
 * MTU the tunnel leaves and the packet's first bytes. */
static void check_too_big(struct fuzz *z, const struct pkt *p, __u32 l2, int v4)
{
	const __u8 *in = p->data + l2, *ip = z->f->out + l2, *icmp = ip + (v4 ? 20 : 40);
	__u32 quote = v4 ? ICMP4_QUOTE : ICMP6_QUOTE, len = 8 + quote;

	if (z->f->out_len != l2 + (v4 ? 576 : 1280))
		bad(z, p, "too-big answer of %u bytes", z->f->out_len);
	check_back_l2(z, p, l2);
	if (v4 ? ip[0] != 0x45 || rd16(ip + 2) != 576 || !(ip[6] & 0x40) || ip[9] != IPPROTO_ICMP ||
			    csum_fold_sum(ip, 20, 0) || memcmp(ip + 12, in + 16, 4) ||
			    memcmp(ip + 16, in + 12, 4)
	       : ip[0] >> 4 != 6 || rd16(ip + 4) != len || ip[6] != IPPROTO_ICMPV6 ||
			    memcmp(ip + 8, in + 24, 16) || memcmp(ip + 24, in + 8, 16))
		bad(z, p, "bad IP header of a too-big answer");
	if (v4 ? icmp[0] != 3 || icmp[1] != 4 || rd16(icmp + 4) || rd16(icmp + 6) != TEST_MTU - 20
	       : icmp[0] != 2 || icmp[1] || rd16(icmp + 4) || rd16(icmp + 6) != TEST_MTU - 40)
		bad(z, p, "bad type, code or MTU in a too-big answer");
	if (csum_fold_sum(icmp, len, v4 ? 0 : csum_pseudo(ip, len, IPPROTO_ICMPV6)))
		bad(z, p, "bad ICMP checksum in a too-big answer");
	if (memcmp(icmp + 8, in, quote))
		bad(z, p, "a too-big answer does not quote the packet");
}

/* The request turned into a reply: addresses swapped, type, TTL and checksums updated, the
 * rest as it came; the ICMP checksum valid exactly when the request's was. */
static void check_echo(struct fuzz *z, const struct pkt *p, __u32 l2, int v4)
{
	const __u8 *in = p->data + l2, *ip = z->f->out + l2;
	__u32 hl = v4 ? 20 : 40, len = v4 ? rd16(in + 2) - hl : rd16(in + 4);
	__u32 in_sum = v4 ? 0 : csum_pseudo(in, len, IPPROTO_ICMPV6);
	__u32 out_sum = v4 ? 0 : csum_pseudo(ip, len, IPPROTO_ICMPV6);

	if (z->f->out_len != p->len)
		bad(z, p, "echo reply of %u bytes", z->f->out_len);
	check_back_l2(z, p, l2);
	if (memcmp(ip + (v4 ? 12 : 8), in + (v4 ? 16 : 24), v4 ? 4 : 16) ||
	    memcmp(ip + (v4 ? 16 : 24), in + (v4 ? 12 : 8), v4 ? 4 : 16) || ip[v4 ? 8 : 7] != 64 ||
	    (v4 && (memcmp(ip, in, 8) || ip[9] != in[9] || csum_fold_sum(ip, 20, 0))) ||
	    (!v4 && memcmp(ip, in, 7)))
		bad(z, p, "bad IP header of an echo reply");
	if (ip[hl] != (v4 ? 0 : 129) || ip[hl + 1] != in[hl + 1] ||
	    memcmp(ip + hl + 4, in + hl + 4, p->len - l2 - hl - 4))
		bad(z, p, "an echo reply is not its request's");
	if (!csum_fold_sum(ip + hl, len, out_sum) != !csum_fold_sum(in + hl, len, in_sum))
		bad(z, p, "an echo reply's checksum is not as good as its request's");
}

static int is_backend_of(const struct fsvc *s, const __u8 addr[16])
{
	int i;

	for (i = 0; i < s->nbe; i++)
		if (!memcmp(addr, s->be_addr[i], 16))
			return 1;
	return 0;
}

/* Encapsulated towards a backend of the service the inner frame is addressed to. */
static void check_tx(struct fuzz *z, const struct pkt *p)
{
	const __u8 *in = p->data, *out = z->f->out;
	__u16 et = rd16(in + 12);
	__u32 l2 = et == ETH_P_8021Q || et == ETH_P_8021AD ? 18 : 14;
	int v4 = rd16(in + l2 - 2) == ETH_P_IP, i;
	/* A second chance (struct zdd_sc_opt, zdd_sc_dstopts) makes IHL 7, or adds 24 bytes. */
	__u32 hdr = v4 ? (out[l2] & 0x0f) * 4 : out[l2 + 6] == 60 ? 64 : 40, inner_len;
	const __u8 *outer = out + l2, *inner = out + l2 + hdr;
	const struct fsvc *s;
	__u8 src[16], dst[16], second[16];

	if (hdr != 20 && hdr != 28 && hdr != 40 && hdr != 64)
		bad(z, p, "outer header of %u bytes", hdr);
	if (z->f->out_len != p->len + hdr)
		bad(z, p, "forwarded frame is %u bytes, want %u", z->f->out_len, p->len + hdr);
	if (memcmp(inner, in + l2, p->len - l2))
		bad(z, p, "the inner packet was modified");
	if (memcmp(out + 6, in, 6) || (l2 == 18 && memcmp(out + 12, in + 12, 4)) ||
	    rd16(out + l2 - 2) != (v4 ? ETH_P_IP : ETH_P_IPV6))
		bad(z, p, "wrong Ethernet header (source MAC, VLAN tag or ethertype)");
	s = svc_of_inner(inner, p->len - l2, v4);
	if (!s)
		bad(z, p, "forwarded a frame that belongs to no service");
	if (v4) {
		inner_len = rd16(inner + 2);
		if (outer[9] != IPPROTO_IPIP || rd16(outer + 2) != inner_len + hdr ||
		    csum_fold_sum(outer, hdr, 0))
			bad(z, p, "bad outer IPv4 header");
		if (hdr == 28 && (outer[20] != ZDD_SC_OPT_TYPE || outer[21] != 8 || outer[22] ||
				  outer[23] || !memcmp(outer + 24, outer + 16, 4)))
			bad(z, p, "bad second-chance option");
		memcpy(second, v4_mapped, 12);
		memcpy(second + 12, outer + 24, 4);
		memcpy(src, outer + 12, 4);
		memcpy(dst, v4_mapped, 12);
		memcpy(dst + 12, outer + 16, 4);
		inet_pton(AF_INET, LB_SRC4, src + 4);
		if (memcmp(src, src + 4, 4))
			bad(z, p, "outer source is not the LB's");
	} else {
		inner_len = 40 + rd16(inner + 4);
		if (outer[0] >> 4 != 6 || (hdr == 40 && outer[6] != 41) ||
		    rd16(outer + 4) != inner_len + hdr - 40)
			bad(z, p, "bad outer IPv6 header");
		if (hdr == 64 &&
		    (memcmp(outer + 40, (const __u8[]){ 41, 2, ZDD_SC_OPT6_TYPE, 18, 0, 0 }, 6) ||
		     memcmp(outer + 62, (const __u8[]){ 1, 0 }, 2) ||
		     !memcmp(outer + 46, outer + 24, 16)))
			bad(z, p, "bad second-chance destination option");
		memcpy(second, outer + 46, 16);
		memcpy(dst, outer + 24, 16);
		inet_pton(AF_INET6, LB_SRC6, src);
		if (memcmp(src, outer + 8, 16))
			bad(z, p, "outer source is not the LB's");
	}
	for (i = 0; i < s->nbe; i++)
		if (!memcmp(dst, s->be_addr[i], 16))
			break;
	if (i == s->nbe)
		bad(z, p, "outer destination is not a backend of %s", s->name);
	if ((hdr == 28 || hdr == 64) && !is_backend_of(s, second))
		bad(z, p, "the second chance is not a backend of %s", s->name);
	z->tx_bytes += inner_len;
	if (memcmp(out, (const __u8[]){ 0x02, 0xbe, 0, 0, 0 }, 5) || out[5] != (__u8)s->be_id[i])
		bad(z, p, "destination MAC is not backend %u's", s->be_id[i]);
}

static void check_frame(struct fuzz *z, const struct pkt *p)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->data, .data_size_in = p->len,
		    .data_out = z->f->out, .data_size_out = sizeof(z->f->out), .repeat = 1);
	__u64 now[ZDD_R_MAX];
	struct expect x;
	int v, r, moved = -1;

	z->f->out_len = 0;
	if (bpf_prog_test_run_opts(z->f->prog_fd, &opts))
		bad(z, p, "BPF_PROG_TEST_RUN: %s", strerror(errno));
	z->f->out_len = opts.data_size_out;
	v = (int)opts.retval;
	z->runs++;
	if (v != XDP_PASS && v != XDP_DROP && v != XDP_TX)
		bad(z, p, "verdict %d: not one of pass, drop, tx", v);
	z->verdicts[v]++;
	read_reasons(z, now);
	for (r = 0; r < ZDD_R_MAX; r++) {
		if (now[r] == z->counts[r])
			continue;
		if (moved >= 0 || now[r] != z->counts[r] + 1)
			bad(z, p, "not exactly one reason counted once (%s)", zdd_reason_name(r));
		moved = r;
	}
	memcpy(z->counts, now, sizeof(now));
	if (moved < 0)
		bad(z, p, "no reason counted");
	z->last_reason = moved;
	if (reason_verdict[moved] != v)
		bad(z, p, "verdict %d under reason %s", v, zdd_reason_name(moved));
	model(p->data, p->len, &x);
	if (!(x.verdicts & (1 << v)) || (x.reason >= 0 && x.reason != moved) ||
	    (x.reason == REASON_ANY_TX && moved != ZDD_R_TX_FLOW && moved != ZDD_R_TX_NEW &&
	     moved != ZDD_R_TX_MISS) ||
	    (x.reason == REASON_TOO_BIG_RATED && moved != ZDD_R_TX_ICMP_TOO_BIG &&
	     moved != ZDD_R_TOO_BIG))
		bad(z, p, "got %s, the model says %s", zdd_reason_name(moved),
		    x.reason >= 0		       ? zdd_reason_name(x.reason)
		    : x.reason == REASON_ANY_TX	       ? "a forward of a flow's packet"
		    : x.reason == REASON_TOO_BIG_RATED ? "tx_icmp_too_big or drop_too_big"
						       : "a pass or drop reason");
	if (moved == ZDD_R_TX_ICMP_TOO_BIG || moved == ZDD_R_TX_ICMP_ECHO) {
		__u16 et = rd16(p->data + 12);
		__u32 l2 = et == ETH_P_8021Q || et == ETH_P_8021AD ? 18 : 14;
		int v4 = rd16(p->data + l2 - 2) == ETH_P_IP;

		if (moved == ZDD_R_TX_ICMP_TOO_BIG)
			check_too_big(z, p, l2, v4);
		else
			check_echo(z, p, l2, v4);
	} else if (v == XDP_TX)
		check_tx(z, p);
	else if (z->f->out_len != p->len || memcmp(z->f->out, p->data, p->len))
		bad(z, p, "a %s frame was modified", v == XDP_PASS ? "passed" : "dropped");
}

/* --- building frames -------------------------------------------------------------------- */

static void put(struct pkt *p, __u32 off, const void *b, __u32 n)
{
	memcpy(p->data + off, b, n);
}

/* Where the IP header would be, by the Ethernet header as it is now. */
static __u32 l3_of(const struct pkt *p)
{
	__u16 et = rd16(p->data + 12);

	return et == ETH_P_8021Q || et == ETH_P_8021AD ? 18 : 14;
}

static void fill(struct fuzz *z, __u8 *d, __u32 n)
{
	while (n--)
		*d++ = (__u8)rnd(z);
}

static void fix_lengths(struct pkt *p, int v4, __u8 proto, __u32 ip_end)
{
	__u8 *l3 = p->data + p->l3_off;

	if (v4)
		wr16(l3 + 2, (__u16)(ip_end - p->l3_off));
	else
		wr16(l3 + 4, (__u16)(ip_end - p->l3_off - 40));
	if (proto == IPPROTO_UDP)
		wr16(p->data + p->l4_off + 4, (__u16)(ip_end - p->l4_off));
}

/* A VLAN tag, Ethernet padding, or neither. */
static void frame_extras(struct fuzz *z, struct pkt *p)
{
	__u32 n;

	if (chance(z, 20)) /* one 802.1Q or 802.1ad tag */
		pkt_vlan(p, chance(z, 70) ? ETH_P_8021Q : ETH_P_8021AD, (__u16)below(z, 4096));
	if (chance(z, 10)) { /* Ethernet padding after the datagram */
		n = 1 + below(z, 32);
		fill(z, p->data + p->len, n);
		p->len += n;
	}
}

/* An ICMP message: mostly an error about a flow of a service (the reply it quotes, cut as
 * routers cut it, or anywhere), else an echo request to a service address, else any type to
 * any destination. */
static void build_icmp(struct fuzz *z, struct pkt *p)
{
	static const __u8 errors4[] = { 3, 11, 12 };
	const struct fsvc *s = &svcs[below(z, ARRAY_SIZE(svcs))];
	int v4 = s->v4, k = (int)below(z, 100), af = v4 ? AF_INET : AF_INET6;
	char vip[INET6_ADDRSTRLEN], client[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	__u16 port = (__u16)(40000 + below(z, 8)), sport = ntohs(s->key.port);
	__u32 len, cap = v4 ? ICMP4_QUOTE : ICMP6_QUOTE;
	__u8 body[128];
	struct pkt reply;

	inet_ntop(af, v4 ? s->key.addr + 12 : s->key.addr, vip, sizeof(vip));
	snprintf(client, sizeof(client), v4 ? "198.18.1.%u" : "fd00:1::%u", 1 + below(z, 8));
	if (k < 65) {
		reply = s->key.proto == IPPROTO_TCP ? pkt_tcp(vip, sport, client, port, TH_ACK)
						    : pkt_udp(vip, sport, client, port);
		pkt_payload(&reply, below(z, 1500));
		len = reply.len - reply.l3_off;
		if (len > cap && chance(z, 70))
			len = cap;
		else if (chance(z, 30))
			len = below(z, len + 1);
		*p = pkt_icmp(v4 ? "198.18.1.1" : "fd00:1::1", vip,
			      v4 ? errors4[below(z, 3)] : (__u8)(1 + below(z, 4)),
			      (__u8)below(z, 16), (__u32)rnd(z), reply.data + reply.l3_off, len);
	} else if (k < 85) {
		len = below(z, 64);
		fill(z, body, len);
		*p = pkt_icmp(client, vip, v4 ? 8 : 128, 0, (__u32)rnd(z), body, len);
	} else {
		len = below(z, sizeof(body));
		fill(z, body, len);
		inet_ntop(af, v4 ? z->dst4[below(z, ARRAY_SIZE(dsts4))] : z->dst6[below(z, 4)], dst,
			  sizeof(dst));
		*p = pkt_icmp(client, dst, icmp_types[below(z, ARRAY_SIZE(icmp_types))],
			      (__u8)rnd(z), (__u32)rnd(z), body, len);
	}
	if (v4 && chance(z, 50)) { /* DF */
		p->data[p->l3_off + 6] |= 0x40;
		pkt_fix_csums(p);
	}
	frame_extras(z, p);
}

/* A well-formed frame; to_service: addressed to one of the services (so its mutants are near
 * a forwarded frame), else to a mix of service addresses, ports and protocols. */
static void build(struct fuzz *z, struct pkt *p, int to_service)
{
	const struct fsvc *s = to_service ? &svcs[below(z, ARRAY_SIZE(svcs))] : NULL;
	int v4 = s ? s->v4 : chance(z, 50), tcp, i, k;
	__u32 payload, n;
	__u8 proto, *ip, hdr[64];
	__u16 dport = s ? ntohs(s->key.port) : ports[below(z, ARRAY_SIZE(ports))];

	if (chance(z, 12))
		return build_icmp(z, p);
	memset(p, 0, offsetof(struct pkt, data) + 128);
	put(p, 0, LB_MAC, 6);
	put(p, 6, CLIENT_MAC, 6);
	wr16(p->data + 12, v4 ? ETH_P_IP : ETH_P_IPV6);
	p->l3_off = ETH_HLEN;
	ip = p->data + p->l3_off;
	i = below(z, 100);
	proto = i < 60 ? IPPROTO_TCP : i < 92 ? IPPROTO_UDP : protos[below(z, ARRAY_SIZE(protos))];
	if (s)
		proto = s->key.proto;
	tcp = proto == IPPROTO_TCP;
	if (!dport)
		dport = (__u16)rnd(z);
	if (v4) {
		ip[0] = 0x45;
		ip[1] = (__u8)rnd(z);
		wr16(ip + 4, (__u16)rnd(z));
		wr16(ip + 6, chance(z, 50) ? 0x4000 : 0);
		ip[8] = 64;
		ip[9] = proto;
		ip[12] = 198, ip[13] = 18, ip[14] = 1, ip[15] = (__u8)(1 + below(z, 8));
		memcpy(ip + 16, s ? s->key.addr + 12 : z->dst4[below(z, ARRAY_SIZE(dsts4))], 4);
		p->l4_off = p->l3_off + 20;
	} else {
		ip[0] = 0x60 | (__u8)below(z, 16);
		ip[6] = proto;
		ip[7] = 64;
		inet_pton(AF_INET6, "fd00:1::", ip + 8);
		ip[23] = (__u8)(1 + below(z, 8));
		memcpy(ip + 24, s ? s->key.addr : z->dst6[below(z, ARRAY_SIZE(dsts6))], 16);
		p->l4_off = p->l3_off + 40;
	}
	if (chance(z, 5)) /* a source from anywhere, for the LRU tables */
		fill(z, ip + (v4 ? 12 : 8), v4 ? 4 : 16);
	n = tcp ? 20 : 8;
	memset(hdr, 0, sizeof(hdr));
	wr16(hdr, (__u16)(40000 + below(z, 8)));
	wr16(hdr + 2, dport);
	if (tcp) {
		static const __u8 flags[] = { TH_SYN, TH_SYN,	       TH_ACK,
					      TH_ACK, TH_ACK | 0x08,   TH_SYN | TH_ACK,
					      TH_RST, TH_RST | TH_ACK, TH_FIN | TH_ACK,
					      0 };

		hdr[12] = 5 << 4;
		hdr[13] = flags[below(z, ARRAY_SIZE(flags))];
		if (!hdr[13])
			hdr[13] = (__u8)rnd(z);
		wr16(hdr + 14, 64240);
		if (chance(z, 10)) { /* TCP options */
			k = 1 + below(z, 10);
			memset(hdr + 20, 1, 4 * k);
			hdr[12] = (__u8)((5 + k) << 4);
			n += 4 * k;
		}
	} else if (proto != IPPROTO_UDP) {
		fill(z, hdr, n);
	}
	put(p, p->l4_off, hdr, n);
	i = below(z, 100);
	payload = i < 70 ? 0 : i < 95 ? below(z, 64) : below(z, 1700);
	p->len = p->l4_off + n + payload;
	if (p->len > PKT_MAX - 128)
		p->len = PKT_MAX - 128;
	fill(z, p->data + p->l4_off + n, p->len - p->l4_off - n);
	fix_lengths(p, v4, proto, p->len);
	if (v4 && chance(z, 10)) { /* options: NOPs, an end, random */
		__u8 opt[40];

		k = 1 + below(z, 10);
		fill(z, opt, 4 * k);
		if (chance(z, 50))
			memset(opt, 1, 4 * k);
		pkt_insert(p, p->l4_off, opt, 4 * k);
		ip[0] = (__u8)(0x40 | (5 + k));
		wr16(ip + 2, (__u16)(rd16(ip + 2) + 4 * k));
	}
	pkt_fix_csums(p);
	if (!v4 && chance(z, 10)) { /* a chain of extension headers, consistent */
		k = 1 + below(z, 3);
		while (k--) {
			__u8 ext[16];
			__u32 elen = chance(z, 70) ? 8 : 16;

			fill(z, ext, elen);
			ext[0] = ip[6];
			ext[1] = (__u8)(elen / 8 - 1);
			ip[6] = ext6[below(z, 8)];
			pkt_insert(p, p->l3_off + 40, ext, elen);
			wr16(ip + 4, (__u16)(rd16(ip + 4) + elen));
		}
	}
	frame_extras(z, p);
}

/* One mutation of many kinds; header fields are found where the parser would look. */
static void mutate(struct fuzz *z, struct pkt *p)
{
	__u32 l3 = l3_of(p), l4, off, n, i;
	__u8 *d = p->data, ip = p->len > l3 ? d[l3] : 0, junk[16];
	int v4 = ip >> 4 == 4;

	l4 = l3 + (v4 ? (ip & 0xf) * 4u : 40);
	switch (below(z, 19)) {
	case 0: /* truncate anywhere */
		if (p->len > TEST_RUN_MIN)
			p->len = TEST_RUN_MIN + below(z, p->len - TEST_RUN_MIN);
		break;
	case 1: /* IHL */
		if (p->len > l3)
			d[l3] = (__u8)((d[l3] & 0xf0) | below(z, 16));
		break;
	case 2: /* IP version */
		if (p->len > l3)
			d[l3] = (__u8)((d[l3] & 0x0f) | below(z, 16) << 4);
		break;
	case 3: /* IPv4 total length or IPv6 payload length: near the truth, or anything */
		off = l3 + (v4 ? 2 : 4);
		if (off + 2 <= p->len)
			wr16(d + off, chance(z, 50) ? (__u16)(rd16(d + off) + below(z, 9) - 4)
						    : (__u16)rnd(z));
		break;
	case 4: /* UDP length or TCP data offset */
		if (l4 + 13 <= p->len && chance(z, 50))
			d[l4 + 12] = (__u8)(below(z, 16) << 4 | (d[l4 + 12] & 0xf));
		else if (l4 + 6 <= p->len)
			wr16(d + l4 + 4, chance(z, 50) ? (__u16)(rd16(d + l4 + 4) + below(z, 9) - 4)
						       : (__u16)rnd(z));
		break;
	case 5: /* TCP flags */
		if (l4 + 14 <= p->len)
			d[l4 + 13] = (__u8)rnd(z);
		break;
	case 6: /* fragment bits: MF, an offset, DF */
		if (v4 && l3 + 8 <= p->len)
			wr16(d + l3 + 6, (__u16)(rnd(z) & (chance(z, 50) ? 0x2000 : 0xffff)));
		break;
	case 7: /* protocol or next header */
		off = l3 + (v4 ? 9 : 6);
		if (off < p->len)
			d[off] = chance(z, 50) ? ext6[below(z, ARRAY_SIZE(ext6))] : (__u8)rnd(z);
		break;
	case 8: /* ethertype, outer or inner */
		off = chance(z, 70) ? 12 : l3 - 2;
		wr16(d + off,
		     chance(z, 80) ? ethertypes[below(z, ARRAY_SIZE(ethertypes))] : (__u16)rnd(z));
		break;
	case 9: /* a stack of VLAN tags */
		for (n = 1 + below(z, 3); n-- && p->len + 4 <= PKT_MAX - 128;)
			pkt_vlan(p, tpids[below(z, ARRAY_SIZE(tpids))], (__u16)rnd(z));
		break;
	case 10: /* random bytes in the headers */
		for (n = 1 + below(z, 8); n--;)
			d[below(z, p->len < 96 ? p->len : 96)] = (__u8)rnd(z);
		break;
	case 11: /* bit flips anywhere */
		for (n = 1 + below(z, 4); n--;)
			d[below(z, p->len)] ^= (__u8)(1 << below(z, 8));
		break;
	case 12: /* insert bytes */
		n = 1 + below(z, 16);
		if (p->len + n <= PKT_MAX - 128) {
			fill(z, junk, n);
			pkt_insert(p, TEST_RUN_MIN + below(z, p->len - TEST_RUN_MIN + 1), junk, n);
		}
		break;
	case 13: /* delete bytes */
		off = TEST_RUN_MIN + below(z, p->len - TEST_RUN_MIN + 1);
		n = below(z, p->len - off + 1);
		if (n && p->len - n >= TEST_RUN_MIN) {
			memmove(d + off, d + off + n, p->len - off - n);
			p->len -= n;
		}
		break;
	case 14: /* junk after the end */
		n = 1 + below(z, 64);
		if (p->len + n <= PKT_MAX - 128) {
			fill(z, d + p->len, n);
			p->len += n;
		}
		break;
	case 15: /* an IPv6 extension header, length field as it comes */
		if (!v4 && l3 + 40 <= p->len && p->len + 16 <= PKT_MAX - 128) {
			n = chance(z, 50) ? 8 : 16;
			fill(z, junk, n);
			junk[0] = d[l3 + 6];
			d[l3 + 6] = ext6[below(z, ARRAY_SIZE(ext6))];
			pkt_insert(p, l3 + 40, junk, n);
			if (chance(z, 70))
				wr16(d + l3 + 4, (__u16)(rd16(d + l3 + 4) + n));
		}
		break;
	case 16: /* another destination address, family as found */
		if (v4 && l3 + 20 <= p->len)
			memcpy(d + l3 + 16, z->dst4[below(z, ARRAY_SIZE(dsts4))], 4);
		else if (!v4 && l3 + 40 <= p->len)
			memcpy(d + l3 + 24, z->dst6[below(z, ARRAY_SIZE(dsts6))], 16);
		break;
	case 17: /* an ICMP type, or a byte of what an error quotes */
		if (chance(z, 50) && l4 < p->len)
			d[l4] = icmp_types[below(z, ARRAY_SIZE(icmp_types))];
		else if (l4 + 8 < p->len)
			d[l4 + 8 + below(z, p->len - l4 - 8 < 48 ? p->len - l4 - 8 : 48)] = (__u8)
				rnd(z);
		break;
	default: /* destination port */
		if (l4 + 4 <= p->len)
			wr16(d + l4 + 2, ports[below(z, ARRAY_SIZE(ports) - 1)]);
		break;
	}
	for (i = p->len; i < p->len + 4 && i < PKT_MAX; i++)
		d[i] = 0; /* nothing stale right after the end, for the readers of headers */
}

/* Random bytes: mostly behind a plausible Ethernet header, to get past the first check. */
static void random_frame(struct fuzz *z, struct pkt *p)
{
	p->len = TEST_RUN_MIN + below(z, 256);
	fill(z, p->data, p->len);
	if (chance(z, 70))
		wr16(p->data + 12, ethertypes[below(z, 2)]);
}

/* --- the fixture ------------------------------------------------------------------------ */

static int setup(void **state)
{
	struct fuzz *z = calloc(1, sizeof(*z));
	struct fixture *f;
	size_t i;
	int j;

	assert_non_null(z);
	fixture_setup(state);
	f = *state;
	z->f = f;
	for (i = 0; i < ARRAY_SIZE(svcs); i++) {
		struct fsvc *s = &svcs[i];

		s->key = svc_key(s->name);
		s->v4 = zdd_addr_is_v4(s->key.addr);
		add_service(f, s->name);
		for (j = 0; j < MAX_BACKENDS_PER_SVC && s->addrs[j]; j++) {
			s->be_id[j] = add_backend(f, s->name, s->addrs[j], s->pools[j]);
			assert_int_equal(zdd_addr_parse(s->addrs[j], s->be_addr[j]), 0);
		}
		s->nbe = j;
	}
	for (i = 0; i < ARRAY_SIZE(dsts4); i++)
		assert_int_equal(inet_pton(AF_INET, dsts4[i], z->dst4[i]), 1);
	for (i = 0; i < ARRAY_SIZE(dsts6); i++)
		assert_int_equal(inet_pton(AF_INET6, dsts6[i], z->dst6[i]), 1);
	z->reasons_fd = zdd_map_fd(f->z, ZDD_MAP_REASONS);
	z->ncpus = libbpf_num_possible_cpus();
	assert_true(z->ncpus > 0);
	z->percpu = calloc((size_t)z->ncpus * ZDD_R_MAX, sizeof(__u64));
	z->batch = !under_valgrind(); /* it does not know the batch command: noise per frame */
	assert_non_null(z->percpu);
	read_reasons(z, z->counts);
	clock_gettime(CLOCK_MONOTONIC, &z->start);
	z->seed = seed;
	z->rng = seed;
	*state = z;
	return 0;
}

static int teardown(void **state)
{
	struct fuzz *z = *state;

	*state = z->f;
	fixture_teardown(state);
	free(z->percpu);
	free(z);
	return 0;
}

/* The counters, read the way zdd-bpfctl and /metrics read them, add up to the frames run,
 * per verdict to the frames that got it, and per backend to the frames forwarded there (ICMP
 * answers go back to the client). The too-big answers stay within the rate limit: the case's
 * fresh program starts with a full bucket. */
static void counters_add_up(struct fuzz *z)
{
	__u64 counts[ZDD_R_MAX], sum = 0, per[XDP_REDIRECT + 1] = { 0 }, pkts, bytes, answers;
	struct zdd_backend_stats st;
	struct timespec now;
	double secs;
	size_t i;
	int r, j;

	assert_int_equal(zdd_reasons_read(z->f->z, counts), 0);
	for (r = 0; r < ZDD_R_MAX; r++) {
		sum += counts[r];
		per[reason_verdict[r]] += counts[r];
	}
	if (sum != z->runs)
		fail_msg("seed %llu: reasons add up to %llu, %llu frames run", z->seed, sum,
			 z->runs);
	for (r = 0; r <= XDP_REDIRECT; r++)
		if (per[r] != z->verdicts[r])
			fail_msg("seed %llu: verdict %d returned %llu"
				 " times, its reasons count %llu",
				 z->seed, r, z->verdicts[r], per[r]);
	for (i = 0, pkts = bytes = 0; i < ARRAY_SIZE(svcs); i++) {
		for (j = 0; j < svcs[i].nbe; j++) {
			assert_int_equal(zdd_backend_stats_read(z->f->z, svcs[i].be_id[j], &st), 0);
			pkts += st.packets;
			bytes += st.bytes;
		}
	}
	answers = counts[ZDD_R_TX_ICMP_TOO_BIG] + counts[ZDD_R_TX_ICMP_ECHO];
	if (pkts != z->verdicts[XDP_TX] - answers || bytes != z->tx_bytes)
		fail_msg("seed %llu: backends counted %llu packets, %llu bytes; %llu forwarded, "
			 "%llu bytes",
			 z->seed, pkts, bytes, z->verdicts[XDP_TX] - answers, z->tx_bytes);
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - z->start.tv_sec) + (now.tv_nsec - z->start.tv_nsec) / 1e9;
	/* Slack of 2: the coarse clock may be a tick off at either end. */
	if (counts[ZDD_R_TX_ICMP_TOO_BIG] > ZDD_ICMP_BURST + ZDD_ICMP_RATE * secs + 2)
		fail_msg("seed %llu: %llu too-big answers in %.2f s: over %d/s, burst %d", z->seed,
			 counts[ZDD_R_TX_ICMP_TOO_BIG], secs, ZDD_ICMP_RATE, ZDD_ICMP_BURST);
	print_message("# seed %llu: %llu frames, %llu tx %llu"
		      " pass %llu drop\n",
		      z->seed, z->runs, z->verdicts[XDP_TX], z->verdicts[XDP_PASS],
		      z->verdicts[XDP_DROP]);
	for (r = 0; r < ZDD_R_MAX; r++)
		print_message("#   %-22s %llu\n", zdd_reason_name(r), counts[r]);
}

static __u64 frames_wanted(void)
{
	return env_u64("ZDD_FUZZ_PACKETS", under_valgrind() ? DEF_FRAMES_VALGRIND : DEF_FRAMES);
}

/* --- the cases -------------------------------------------------------------------------- */

/* Valid frames of every shape, cut at every offset from the Ethernet header on. */
static void valid_frames_truncated_at_every_offset(void **state)
{
	struct fuzz *z = *state;
	struct pkt full, p;
	int t;

	for (t = 0; t < SWEEP_TEMPLATES; t++) {
		build(z, &full, 1);
		for (p = full, p.len = TEST_RUN_MIN; p.len <= full.len; p.len++, z->frame++)
			check_frame(z, &p);
	}
	counters_add_up(z);
}

/* Mutants of valid frames (one to four mutations) and random bytes, while the weights move. */
static void random_and_mutated_frames(void **state)
{
	struct fuzz *z = *state;
	__u64 n = frames_wanted();
	struct pkt p;
	size_t i;
	int k;

	print_message("# %llu frames (ZDD_FUZZ_PACKETS)\n", n);
	for (z->frame = 0; z->frame < n; z->frame++) {
		if (z->frame % FLIP_EVERY == FLIP_EVERY - 1)
			for (i = 0; i < ARRAY_SIZE(svcs); i++)
				if (svcs[i].nbe)
					set_green(z->f, svcs[i].name, (int)below(z, 10001));
		k = (int)below(z, 100);
		if (k < 5) {
			random_frame(z, &p);
		} else {
			build(z, &p, chance(z, 70));
			for (k = k < 30 ? 0 : 1 + (int)below(z, 4); k > 0; k--)
				mutate(z, &p);
		}
		check_frame(z, &p);
	}
	counters_add_up(z);
}

/* ZDD_FUZZ_FRAME=HEX: that frame alone, through the same checks, for replaying a failure. */
static void replay_one_frame(void **state)
{
	struct fuzz *z = *state;
	const char *s = getenv("ZDD_FUZZ_FRAME");
	struct pkt p = {};
	unsigned int b;

	for (; s[0] && s[1] && p.len < PKT_MAX && sscanf(s, "%2x", &b) == 1; s += 2)
		p.data[p.len++] = (__u8)b;
	assert_true(p.len >= TEST_RUN_MIN);
	check_frame(z, &p);
	print_message("# replayed %u bytes: %s\n", p.len, zdd_reason_name(z->last_reason));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(valid_frames_truncated_at_every_offset),
		T(random_and_mutated_frames),
	};
	const struct CMUnitTest replay[] = { T(replay_one_frame) };
	struct timespec ts;
	const char *frame = getenv("ZDD_FUZZ_FRAME");

	if (frame && *frame)
		return cmocka_run_group_tests_name("fuzz_packets_replay", replay, NULL, NULL);
	seed = env_u64("ZDD_FUZZ_SEED", 0);
	if (!seed) {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (__u64)ts.tv_sec * 1000000007ULL ^ (__u64)ts.tv_nsec ^ (__u64)getpid() << 32;
	}
	print_message("# seed %llu (ZDD_FUZZ_SEED replays the run)\n", seed);
	return cmocka_run_group_tests_name("fuzz_packets", tests, NULL, NULL);
}
