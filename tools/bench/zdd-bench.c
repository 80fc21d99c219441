// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/bench/zdd-bench.c - `make bench`: zdd's cost per packet through BPF_PROG_TEST_RUN
 * against floors built here (XDP_DROP; parse + IPIP push + XDP_TX), its scaling in backends,
 * services and live flows, the Maglev build time and the end-to-end time of a weight change.
 * Every case runs the real zdd_xdp_lb (loaded by libzdd, with its own maps) behind one wrapper
 * (bpf/bench/zdd_bench.bpf.c) and has its verdict, its output and its counters checked. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "addr.h"
#include "log.h"
#include "maglev.h"
#include "pkt.h"
#include "zdd.h"
#include "zdd_bench.skel.h"

#define EXIT_USAGE 2

#define LB_SRC4	    "198.18.2.2"
#define LB_SRC6	    "fd00:2::2"
#define VIP4	    "198.19.0.10"
#define VIP6	    "fd00:5a::10"
#define OTHER4	    "198.18.9.9" /* no service there */
#define OTHER6	    "fd00:9::9"
#define CLIENT4	    "198.18.1.7"
#define CLIENT6	    "fd00:1::7"
#define SRC_BASE4   0xc6120000u /* 198.18.0.0: flows vary the low 17 bits... */
#define SRC_SPAN4   (1u << 17)	/* ...to stay inside 198.18.0.0/15 */
#define SRC_BASE6   0x00010000u /* low word of fd00:1::1:0 */
#define SPORT_BASE  10000
#define SPORT_SPAN  50000
#define BACKEND_MAC "02:be:00:00:00:01"
#define FLOOR_DST4  "198.18.3.11"
#define FLOOR_DST6  "fd00:3::11"
#define MTU	    1600
#define MAX_TRIALS  50
#define MAX_CASES   64
#define OUT_MAX	    (PKT_MAX + 256)
#define FLOWS_1M    (1u << 20)
#define NSEC	    1000000000ull

enum target { T_DROP, T_ENCAP, T_LB, T_LRU, T_LRU_PC, T_COLD };
enum family { F4, F6 };

struct result {
	char name[64];
	char group[16]; /* "main", "backends", "services", "flows" */
	double ns_median, ns_min, ratio;
	__u64 packets;
	int trials;
	double x; /* the scaling parameter */
	int fam;  /* enum family */
};

struct bench {
	struct zdd_bench *skel;
	int wrap_fd, progs_fd, drop_fd, encap_fd, lru_fd, lru_pc_fd, cold_fd;
	struct zdd *z; /* the LB of the current scenario */
	__u32 repeat;
	int trials;
	bool quick;
	const char *bpfctl;
	const char *out_dir;
	const char *only_case; /* --case: run only the cases whose name holds it, and the floors */
	struct result res[MAX_CASES];
	int nres;
	double floor_encap[2]; /* median ns, per family */
	/* Maglev and weight change, milliseconds */
	double maglev_ms[2][2], commit_ms[2][2], cli_ms[2][2]; /* [8 / 1000][median / min] */
	bool have_cli;
	int failures;
};

/* What a case sends and expects. */
struct bcase {
	const char *name;
	enum family fam;
	enum target target;
	struct pkt p;
	int verdict;
	int reason; /* -1: floors (no LB counters) */
	__u32 a_n, b_n;
	__u32 a_base, b_base; /* 0: the packet's own values */
	const char *group;
	double x;
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NSEC + ts.tv_nsec;
}

__attribute__((format(printf, 2, 3))) static void fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "zdd-bench: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	b->failures++;
}

/* --- the LB ------------------------------------------------------------------------------ */

static int lb_open(struct bench *b, __u32 services, __u32 backends, __u32 flows)
{
	pr_info("zdd-bench: LB with %u services, %u backends, %u flows\n", services, backends,
		flows);
	struct zdd_load_opts o = {
		.limits = { .services = services, .backends = backends, .flows = flows },
	};
	struct zdd_config c;
	int err;

	err = zdd_open_load(&b->z, &o);
	if (err)
		return err;
	err = zdd_config_get(b->z, &c);
	if (err)
		return err;
	inet_pton(AF_INET, LB_SRC4, c.src4);
	inet_pton(AF_INET6, LB_SRC6, c.src6);
	c.mtu = MTU;
	return zdd_config_set(b->z, &c);
}

static void lb_close(struct bench *b)
{
	zdd_close(b->z);
	b->z = NULL;
}

/* IPv6 clients are split per address, as IPv4 ones are: the cases vary only a source's low
 * 32 bits, so with the default /64 every IPv6 client would take one pool, and a SYN would read
 * one pool's Maglev row where real clients, from many /64s, read both. */
static int svc_add(struct bench *b, const char *svc)
{
	struct zdd_service_key key;
	struct zdd_service_opts o = { .client_prefix6 = 128 };

	if (zdd_service_parse(svc, &key))
		return -EINVAL;
	return zdd_service_add(b->z, &key, &o);
}

/*
 * n blue and n green backends, 198.18.4.1 on or fd00:4::1 on, written straight into the fresh
 * LB's zdd_backends (ids 0 .. 2n - 1, as the ABI header lays them out) and made live by one
 * table swap: zdd_backend_add swaps the tables once per backend, minutes for 2 x 1024.
 */
static int backends_add(struct bench *b, const char *svc, __u32 n)
{
	struct zdd_service_key key;
	struct zdd_service_val sv;
	struct zdd_backend_val val = { .state = ZDD_BE_UP, .weight = ZDD_DEF_BACKEND_WEIGHT };
	__u32 i, nb = zdd_get_limits(b->z)->backends;
	int fd = zdd_map_fd(b->z, ZDD_MAP_BACKENDS);

	if (zdd_service_parse(svc, &key) || zdd_mac_parse(BACKEND_MAC, val.mac) ||
	    zdd_service_get(b->z, &key, &sv))
		return -EINVAL;
	if (2 * n > nb)
		return -ENOSPC;
	for (i = 0; i < nb; i++) {
		struct zdd_backend_val cur;

		if (bpf_map_lookup_elem(fd, &i, &cur))
			return -errno;
		if (cur.state != ZDD_BE_EMPTY)
			return -EEXIST; /* only into an LB of one service's backends */
	}
	val.service = sv.index;
	for (i = 0; i < 2 * n; i++) {
		__u32 host = 0x0400 + i + 1; /* 198.18.4.1 on, up to 198.18.11.255 */
		char text[ZDD_ADDR_STRLEN];

		if (zdd_addr_is_v4(key.addr))
			snprintf(text, sizeof(text), "198.18.%u.%u", host >> 8, host & 0xff);
		else
			snprintf(text, sizeof(text), "fd00:4::%x", i + 1);
		if (zdd_addr_parse(text, val.addr))
			return -EINVAL;
		val.pool = i < n ? ZDD_BLUE : ZDD_GREEN;
		if (bpf_map_update_elem(fd, &i, &val, BPF_ANY))
			return -errno;
	}
	/* Half the clients to green: both pools' tables are read. */
	return zdd_service_commit(b->z, &key, ZDD_MAX_WEIGHT_BP / 2);
}

/* The outer destination must be one of these. */
static bool is_backend(struct bench *b, const char *svc, const __u8 addr[16])
{
	struct zdd_service_key key;
	struct zdd_backend be;

	if (zdd_service_parse(svc, &key))
		return false;
	return !zdd_backend_find(b->z, &key, addr, &be);
}

/*
 * n live flows in zdd_flow_sets, as the wrapper will stamp them: source address base + i % span,
 * source port SPORT_BASE + i / span. Each is pinned to a backend of the service, as the data
 * path would have pinned it. They are put in a scrambled order (i = j * a prime mod n), not in
 * the order the wrapper visits them: a table that lays entries out in the order they came (a
 * kernel hash map takes preallocated elements in turn) would otherwise be read as a stream the
 * CPU prefetches, which live traffic, whose packets do not come in their flows' order, never
 * gives it (tools/bench/README.md).
 */
static int flows_fill(struct bench *b, const char *svc, enum family fam, __u32 n, __u32 span)
{
	struct zdd_service_key key;
	struct zdd_service_val sv;
	struct zdd_backend *bes = NULL;
	struct zdd_flow_key k = {};
	struct zdd_flow_val v = {};
	size_t nbe = 0;
	__u8 src[16];
	__u32 j;
	int err;

	if (zdd_service_parse(svc, &key) || zdd_service_get(b->z, &key, &sv))
		return -ENOENT;
	err = zdd_backend_list(b->z, sv.index, &bes, &nbe);
	if (err || !nbe) {
		free(bes);
		return err ?: -ENOENT;
	}
	zdd_addr_parse(fam == F4 ? CLIENT4 : CLIENT6, src);
	k.svc = key;
	memcpy(k.saddr, src, 16);
	v.generation = sv.generation;
	v.last_seen_ns = now_ns();
	for (j = 0; j < n && !err; j++) {
		__u32 i = (__u32)((__u64)j * 1000003 % n);
		__u32 word = htonl((fam == F4 ? SRC_BASE4 : SRC_BASE6) + i % span);

		memcpy(k.saddr + 12, &word, 4);
		k.sport = htons(SPORT_BASE + i / span);
		v.backend = bes[i % nbe].id;
		v.pool = bes[i % nbe].val.pool;
		err = zdd_flow_put(b->z, &k, &v);
	}
	free(bes);
	return err;
}

/* --- one case -------------------------------------------------------------------------------- */

static __u64 reasons_total(struct bench *b, __u64 counts[ZDD_R_MAX])
{
	__u64 sum = 0;
	int r;

	if (zdd_reasons_read(b->z, counts))
		memset(counts, 0, sizeof(__u64) * ZDD_R_MAX);
	for (r = 0; r < ZDD_R_MAX; r++)
		sum += counts[r];
	return sum;
}

static int prog_fd_of(struct bench *b, enum target t)
{
	if (t == T_DROP)
		return b->drop_fd;
	if (t == T_ENCAP)
		return b->encap_fd;
	if (t == T_LRU)
		return b->lru_fd;
	if (t == T_LRU_PC)
		return b->lru_pc_fd;
	if (t == T_COLD)
		return b->cold_fd;
	return zdd_lb_prog_fd(b->z);
}

/* Points the wrapper at the case: the frame it restores, the stamps, the program. */
static int wrapper_set(struct bench *b, const struct bcase *c)
{
	struct zdd_bench__bss *bss = b->skel->bss;
	__u32 l3 = c->p.l3_off, l4 = c->p.l4_off, key = 0, word;
	__u16 port;
	int fd = prog_fd_of(b, c->target);

	if (c->p.len < l4 + 4 || l4 + 2 > sizeof(bss->bench_orig))
		return -EINVAL;
	memset(bss->bench_orig, 0, sizeof(bss->bench_orig));
	memcpy(bss->bench_orig, c->p.data,
	       c->p.len < sizeof(bss->bench_orig) ? c->p.len : sizeof(bss->bench_orig));
	bss->bench_len = c->p.len;
	/* An encapsulation rewrites the Ethernet header only (the outer one lies before it). */
	bss->bench_restore = 16;
	bss->stamp_a_off = l3 + (c->fam == F4 ? 12 : 8 + 12);
	bss->stamp_b_off = l4;
	memcpy(&word, c->p.data + bss->stamp_a_off, 4);
	memcpy(&port, c->p.data + l4, 2);
	bss->stamp_a_base = c->a_base ?: ntohl(word);
	bss->stamp_b_base = c->b_base ?: ntohs(port);
	bss->stamp_a_n = c->a_n ?: 1;
	bss->stamp_b_n = c->b_n ?: 1;
	bss->ctr_a = bss->ctr_b = 0;
	if (bpf_map_update_elem(b->progs_fd, &key, &fd, BPF_ANY))
		return -errno;
	return 0;
}

static int run_wrapped(struct bench *b, const struct pkt *p, __u32 repeat, __u8 *out,
		       __u32 *out_len, __u32 *retval, __u32 *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->data, .data_size_in = p->len,
		    .data_out = out, .data_size_out = OUT_MAX, .repeat = repeat);

	if (bpf_prog_test_run_opts(b->wrap_fd, &o))
		return -errno;
	*out_len = o.data_size_out;
	*retval = o.retval;
	*ns = o.duration;
	return 0;
}

/* The stamped fields of the last iteration's input, read back from the output. */
static bool stamp_in_range(const struct zdd_bench__bss *bss, const __u8 *inner, __u32 l3_shift)
{
	__u32 word;
	__u16 port;

	memcpy(&word, inner + bss->stamp_a_off - l3_shift, 4);
	memcpy(&port, inner + bss->stamp_b_off - l3_shift, 2);
	word = ntohl(word) - bss->stamp_a_base;
	port = ntohs(port) - bss->stamp_b_base;
	return word < bss->stamp_a_n && port < bss->stamp_b_n;
}

/* An encapsulated output: outer header right, the original packet unchanged inside it. */
static int check_encap(struct bench *b, const struct bcase *c, const char *svc, const __u8 *out,
		       __u32 len)
{
	const struct zdd_bench__bss *bss = b->skel->bss;
	__u32 outer = c->fam == F4 ? 20 : 40, l3 = c->p.l3_off, ilen = c->p.len - l3;
	__u8 want[PKT_MAX], dst[16], src[16], mac[6];
	const __u8 *ip = out + 14, *inner = ip + outer;
	__u16 proto;

	if (len != c->p.len + outer)
		return fail(b, "%s: output of %u bytes, want %u", c->name, len, c->p.len + outer),
		       -1;
	memcpy(&proto, out + 12, 2);
	zdd_mac_parse(BACKEND_MAC, mac);
	if (memcmp(out + 6, c->p.data, 6) || (c->target == T_LB && memcmp(out, mac, 6)) ||
	    proto != htons(c->fam == F4 ? ETH_P_IP : ETH_P_IPV6))
		return fail(b, "%s: outer Ethernet header wrong", c->name), -1;
	zdd_addr_parse(c->fam == F4 ? LB_SRC4 : LB_SRC6, src);
	if (c->fam == F4) {
		memset(dst, 0, 10);
		dst[10] = dst[11] = 0xff;
		memcpy(dst + 12, ip + 16, 4);
		if (ip[0] != 0x45 || ip[9] != IPPROTO_IPIP ||
		    (__u32)((ip[2] << 8) | ip[3]) != ilen + 20 || csum_fold_sum(ip, 20, 0) != 0 ||
		    memcmp(ip + 12, src + 12, 4))
			return fail(b, "%s: outer IPv4 header wrong", c->name), -1;
	} else {
		memcpy(dst, ip + 24, 16);
		if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_IPV6 ||
		    (__u32)((ip[4] << 8) | ip[5]) != ilen || memcmp(ip + 8, src, 16))
			return fail(b, "%s: outer IPv6 header wrong", c->name), -1;
	}
	if (c->target == T_LB) {
		if (!is_backend(b, svc, dst))
			return fail(b, "%s: outer destination is no backend", c->name), -1;
	} else {
		__u8 fdst[16];

		zdd_addr_parse(c->fam == F4 ? FLOOR_DST4 : FLOOR_DST6, fdst);
		if (memcmp(dst, fdst, 16))
			return fail(b, "%s: outer destination wrong", c->name), -1;
	}
	/* Inner: the original, except the stamped source, which must be in its range. */
	memcpy(want, c->p.data + l3, ilen);
	memcpy(want + bss->stamp_a_off - l3, inner + bss->stamp_a_off - l3, 4);
	memcpy(want + bss->stamp_b_off - l3, inner + bss->stamp_b_off - l3, 2);
	if (memcmp(inner, want, ilen) || !stamp_in_range(bss, inner, l3))
		return fail(b, "%s: inner packet changed", c->name), -1;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Trials of `repeat` iterations. After each: the verdict and the output of the last
 * iteration; after all: the LB's reason counters, which must have grown by exactly one
 * expected reason per iteration (every iteration took the path the case names).
 */
static int run_case(struct bench *b, const struct bcase *c, const char *svc)
{
	__u64 before[ZDD_R_MAX], after[ZDD_R_MAX], t0 = 0, t1;
	double ns[MAX_TRIALS];
	static __u8 out[OUT_MAX];
	struct result *r;
	__u32 len, ret, d;
	int i, err;

	if (b->nres == MAX_CASES)
		return -ENOSPC;
	/* The floors always run: every ratio is to one. */
	if (b->only_case && c->target != T_DROP && c->target != T_ENCAP &&
	    !strstr(c->name, b->only_case))
		return 0;
	err = wrapper_set(b, c);
	if (err)
		return fail(b, "%s: set up the wrapper: %s", c->name, strerror(-err)), err;
	if (b->z)
		t0 = reasons_total(b, before);
	for (i = 0; i < b->trials; i++) {
		err = run_wrapped(b, &c->p, b->repeat, out, &len, &ret, &d);
		if (err)
			return fail(b, "%s: BPF_PROG_TEST_RUN: %s", c->name, strerror(-err)), err;
		if ((int)ret != c->verdict)
			return fail(b, "%s: verdict %u, want %d", c->name, ret, c->verdict), -1;
		if (c->verdict == XDP_TX && check_encap(b, c, svc, out, len))
			return -1;
		if (c->verdict == XDP_PASS && (len != c->p.len || memcmp(out, c->p.data, len)))
			return fail(b, "%s: a passed packet was changed", c->name), -1;
		ns[i] = d;
	}
	if (c->reason >= 0) {
		__u64 want = (__u64)b->repeat * b->trials;

		t1 = reasons_total(b, after);
		if (after[c->reason] - before[c->reason] != want || t1 - t0 != want)
			return fail(b,
				    "%s: %llu packets counted as %s, %llu in all, want %llu of "
				    "each",
				    c->name,
				    (unsigned long long)(after[c->reason] - before[c->reason]),
				    zdd_reason_name(c->reason), (unsigned long long)(t1 - t0),
				    (unsigned long long)want),
			       -1;
	}
	qsort(ns, b->trials, sizeof(double), cmp_double);
	r = &b->res[b->nres++];
	snprintf(r->name, sizeof(r->name), "%s", c->name);
	snprintf(r->group, sizeof(r->group), "%s", c->group ?: "main");
	r->ns_median = b->trials % 2 ? ns[b->trials / 2]
				     : (ns[b->trials / 2 - 1] + ns[b->trials / 2]) / 2;
	r->ns_min = ns[0];
	r->packets = (__u64)b->repeat * b->trials;
	r->trials = b->trials;
	r->x = c->x;
	r->fam = c->fam;
	if (c->target == T_ENCAP)
		b->floor_encap[c->fam] = r->ns_median;
	return 0;
}

/* One run of the LB outside the timing, for state a case needs (a handshake, an embryo). */
static int prime(struct bench *b, const struct bcase *c, const struct pkt *p)
{
	struct bcase pc = *c;
	static __u8 out[OUT_MAX];
	__u32 len, ret = 0, d;
	int err;

	pc.p = *p;
	pc.a_n = pc.b_n = 1;
	pc.a_base = pc.b_base = 0;
	err = wrapper_set(b, &pc) ?: run_wrapped(b, p, 1, out, &len, &ret, &d);
	if (err || ret != XDP_TX)
		return fail(b, "%s: priming run: %s, verdict %u", c->name, strerror(-err), ret), -1;
	return 0;
}

/* --- the cases ------------------------------------------------------------------------------- */

static const char *svc_of(enum family f)
{
	return f == F4 ? VIP4 ":80/tcp" : "[" VIP6 "]:80/tcp";
}

static struct pkt tcp_pkt(enum family f, const char *dst, __u8 flags)
{
	return pkt_tcp(f == F4 ? CLIENT4 : CLIENT6, 40001, dst, 80, flags);
}

static void fill_floor(struct bench *b)
{
	struct zdd_bench__bss *bss = b->skel->bss;
	__u8 a[16];

	zdd_addr_parse(LB_SRC4, a);
	memcpy(&bss->floor_src4, a + 12, 4);
	zdd_addr_parse(FLOOR_DST4, a);
	memcpy(&bss->floor_dst4, a + 12, 4);
	zdd_addr_parse(LB_SRC6, a);
	memcpy(bss->floor_src6, a, 16);
	zdd_addr_parse(FLOOR_DST6, a);
	memcpy(bss->floor_dst6, a, 16);
	zdd_mac_parse(BACKEND_MAC, bss->floor_mac);
}

/*
 * A SYN flood is recorded whole within the handshake timeout of a table change (bpf/lib/
 * conntrack.h, "SYN sampling"): the new-flow case waits until the setup's swap is older, to
 * measure the flood of a service whose tables are settled.
 */
static int wait_tables_settled(struct bench *b, const char *svc)
{
	struct zdd_service_key key;
	struct zdd_service_val val;
	struct timespec ts;
	__u64 now, settled;

	if (zdd_service_parse(svc, &key) || zdd_service_get(b->z, &key, &val))
		return -EINVAL;
	settled = val.changed_ns + (__u64)(val.handshake_ms ?: ZDD_DEF_HANDSHAKE_MS) * 1000000 +
		  ZDD_COHORT_NS;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (__u64)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (now < settled)
		usleep((settled - now) / 1000);
	return 0;
}

/* The cases of issue 7, for one family. The LB has the service with 2 + 2 backends. */
static int main_cases(struct bench *b, enum family f)
{
	const char *fam = f == F4 ? "v4" : "v6", *vip = f == F4 ? VIP4 : VIP6;
	const char *svc = svc_of(f);
	char name[10][56];
	struct bcase c[10];
	__u32 span = f == F4 ? SRC_SPAN4 : 1u << 24, base = f == F4 ? SRC_BASE4 : SRC_BASE6;
	int i, err = 0;

	for (i = 0; i < 10; i++)
		c[i] = (struct bcase){ .fam = f, .name = name[i], .reason = -1 };
	snprintf(name[0], sizeof(name[0]), "%s floor XDP_DROP", fam);
	c[0].target = T_DROP;
	c[0].p = tcp_pkt(f, vip, TH_ACK);
	c[0].verdict = XDP_DROP;
	snprintf(name[1], sizeof(name[1]), "%s floor parse+encap+XDP_TX", fam);
	c[1].target = T_ENCAP;
	c[1].p = tcp_pkt(f, vip, TH_ACK);
	c[1].verdict = XDP_TX;
	snprintf(name[2], sizeof(name[2]), "%s established flow", fam);
	c[2].target = T_LB;
	c[2].p = tcp_pkt(f, vip, TH_ACK);
	c[2].verdict = XDP_TX;
	c[2].reason = ZDD_R_TX_FLOW;
	snprintf(name[3], sizeof(name[3]), "%s SYN, new flow (insert)", fam);
	c[3].target = T_LB;
	c[3].p = tcp_pkt(f, vip, TH_SYN);
	c[3].verdict = XDP_TX;
	c[3].reason = ZDD_R_TX_NEW;
	c[3].a_n = span; /* a new source for every SYN: 2^17 x 50000 before one repeats */
	c[3].a_base = base;
	c[3].b_n = SPORT_SPAN;
	c[3].b_base = SPORT_BASE;
	snprintf(name[4], sizeof(name[4]), "%s SYN retransmit", fam);
	c[4].target = T_LB;
	c[4].p = pkt_tcp(f == F4 ? CLIENT4 : CLIENT6, 40002, vip, 80, TH_SYN);
	c[4].verdict = XDP_TX;
	c[4].reason = ZDD_R_TX_FLOW;
	snprintf(name[5], sizeof(name[5]), "%s non-service packet", fam);
	c[5].target = T_LB;
	c[5].p = tcp_pkt(f, f == F4 ? OTHER4 : OTHER6, TH_ACK);
	c[5].verdict = XDP_PASS;
	c[5].reason = ZDD_R_NO_SERVICE;
	snprintf(name[6], sizeof(name[6]), "%s established, cycling 1M flows", fam);
	c[6].target = T_LB;
	c[6].p = tcp_pkt(f, vip, TH_ACK);
	c[6].verdict = XDP_TX;
	c[6].reason = ZDD_R_TX_FLOW;
	c[6].a_n = f == F4 ? SRC_SPAN4 : FLOWS_1M;
	c[6].a_base = base;
	c[6].b_n = FLOWS_1M / c[6].a_n;
	c[6].b_base = SPORT_BASE;

	snprintf(name[7], sizeof(name[7]), "%s reference: LRU insert alone", fam);
	c[7] = c[3];
	c[7].name = name[7];
	c[7].target = T_LRU;
	c[7].verdict = XDP_DROP;
	c[7].reason = -1;
	snprintf(name[8], sizeof(name[8]), "%s reference: LRU insert, per-CPU lists", fam);
	c[8] = c[7];
	c[8].name = name[8];
	c[8].target = T_LRU_PC;
	snprintf(name[9], sizeof(name[9]), "%s reference: one cold read", fam);
	c[9].target = T_COLD;
	c[9].p = tcp_pkt(f, vip, TH_ACK);
	c[9].verdict = XDP_DROP;

	/* The established flow: its handshake through the LB. The retransmit: its first SYN,
	 * just before (the new-flow case churns the embryonic table). */
	{
		struct pkt syn = tcp_pkt(f, vip, TH_SYN);

		if (prime(b, &c[2], &syn) || prime(b, &c[2], &c[2].p))
			return -1;
	}
	for (i = 0; i < 6 && !err; i++) {
		if (i == 3 && wait_tables_settled(b, svc))
			return -1;
		/* After a window without SYNs, a CPU records every SYN again: the first SYN of
		 * the retransmit case is recorded, as it is when no flood runs. */
		if (i == 4)
			usleep(2 * (1u << ZDD_SYN_WINDOW_SHIFT) / 1000);
		if (i == 4 && prime(b, &c[4], &c[4].p))
			return -1;
		err = run_case(b, &c[i], svc);
	}
	if (err)
		return err;
	err = flows_fill(b, svc, f, FLOWS_1M, c[6].a_n);
	if (err)
		return fail(b, "%s: fill 1M flows: %s", c[6].name, strerror(-err)), err;
	return run_case(b, &c[6], svc) ?: run_case(b, &c[9], svc) ?: run_case(b, &c[7], svc) ?:
	       run_case(b, &c[8], svc);
}

/* --- scaling --------------------------------------------------------------------------------- */

/* The established and new-flow IPv4 cases on the LB as it is, labelled with x. */
static int scale_cases(struct bench *b, const char *group, const char *label, double x, bool syn)
{
	char n1[64], n2[64];
	struct bcase est = { .fam = F4,
			     .target = T_LB,
			     .verdict = XDP_TX,
			     .name = n1,
			     .reason = ZDD_R_TX_FLOW,
			     .group = group,
			     .x = x };
	struct bcase sc = est;
	struct pkt synp;
	int err;

	snprintf(n1, sizeof(n1), "%s: established", label);
	snprintf(n2, sizeof(n2), "%s: SYN, new flow", label);
	est.p = tcp_pkt(F4, VIP4, TH_ACK);
	synp = tcp_pkt(F4, VIP4, TH_SYN);
	if (prime(b, &est, &synp) || prime(b, &est, &est.p))
		return -1;
	err = run_case(b, &est, svc_of(F4));
	if (err || !syn)
		return err;
	sc.name = n2;
	sc.p = synp;
	sc.reason = ZDD_R_TX_NEW;
	sc.a_n = SRC_SPAN4;
	sc.a_base = SRC_BASE4;
	sc.b_n = SPORT_SPAN;
	sc.b_base = SPORT_BASE;
	return run_case(b, &sc, svc_of(F4));
}

static int scale_backends(struct bench *b)
{
	static const __u32 n[] = { 2, 16, 128, 1024 };
	char label[48];
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(n) / sizeof(n[0]) && !err; i++) {
		if (b->quick && n[i] == 128)
			continue;
		err = lb_open(b, 0, 2 * n[i] + 16, 0) ?: svc_add(b, svc_of(F4)) ?:
		      backends_add(b, svc_of(F4), n[i]);
		if (err) {
			fail(b, "backends %u: set up: %s", n[i], strerror(-err));
		} else {
			snprintf(label, sizeof(label), "%u backends per pool", n[i]);
			err = scale_cases(b, "backends", label, n[i], true);
		}
		lb_close(b);
	}
	return err;
}

static int scale_services(struct bench *b)
{
	static const __u32 n[] = { 1, 64, 1024 };
	char label[48], svc[64];
	size_t i;
	__u32 j;
	int err = 0;

	for (i = 0; i < sizeof(n) / sizeof(n[0]) && !err; i++) {
		/* The other services share the VIP's /16 and have no backends: the lookup is
		 * what grows. The measured one comes last. */
		err = lb_open(b, n[i] < 64 ? 64 : n[i], 0, 0);
		for (j = 1; j < n[i] && !err; j++) {
			snprintf(svc, sizeof(svc), "198.19.%u.%u:%u/tcp", 1 + j / 250, j % 250,
				 80 + j % 3);
			err = svc_add(b, svc);
		}
		err = err ?: svc_add(b, svc_of(F4)) ?: backends_add(b, svc_of(F4), 2);
		if (err) {
			fail(b, "services %u: set up: %s", n[i], strerror(-err));
		} else {
			snprintf(label, sizeof(label), "%u services", n[i]);
			err = scale_cases(b, "services", label, n[i], true);
		}
		lb_close(b);
	}
	return err;
}

static int scale_flows(struct bench *b)
{
	static const __u32 n[] = { 1000, 100000, FLOWS_1M };
	char name[64];
	size_t i;
	int err;

	err = lb_open(b, 0, 0, FLOWS_1M + FLOWS_1M / 2) ?: svc_add(b, svc_of(F4)) ?:
	      backends_add(b, svc_of(F4), 2);
	if (err) {
		fail(b, "flows: set up: %s", strerror(-err));
		lb_close(b);
		return err;
	}
	for (i = 0; i < sizeof(n) / sizeof(n[0]) && !err; i++) {
		struct bcase c = { .fam = F4,
				   .target = T_LB,
				   .verdict = XDP_TX,
				   .name = name,
				   .reason = ZDD_R_TX_FLOW,
				   .group = "flows",
				   .x = n[i] };

		snprintf(name, sizeof(name), "%u live flows: established, cycling", n[i]);
		c.p = tcp_pkt(F4, VIP4, TH_ACK);
		c.a_n = n[i] < SRC_SPAN4 ? n[i] : SRC_SPAN4;
		c.a_base = SRC_BASE4;
		c.b_n = n[i] / c.a_n;
		c.b_base = SPORT_BASE;
		/* Bigger sets include the smaller ones: the map holds n[i] flows now. */
		err = flows_fill(b, svc_of(F4), F4, n[i], c.a_n);
		if (err)
			fail(b, "%s: fill: %s", name, strerror(-err));
		else
			err = run_case(b, &c, svc_of(F4));
	}
	lb_close(b);
	return err;
}

/* --- Maglev and weight changes --------------------------------------------------------------- */

static void med_min(double *v, int n, double out[2])
{
	qsort(v, n, sizeof(*v), cmp_double);
	out[0] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	out[1] = v[0];
}

static int maglev_build_time(struct bench *b)
{
	static const __u32 n[] = { 8, 1000 };
	struct zdd_maglev_backend be[1000];
	__u32 *table = malloc(sizeof(__u32) * ZDD_DEF_MAGLEV_M);
	double ms[MAX_TRIALS];
	int i, k, runs = b->quick ? 5 : 20;
	size_t j;

	if (!table)
		return -ENOMEM;
	for (j = 0; j < 2; j++) {
		for (i = 0; i < (int)n[j]; i++) {
			be[i] = (struct zdd_maglev_backend){ .id = i, .weight = 100 };
			be[i].addr[10] = be[i].addr[11] = 0xff;
			be[i].addr[12] = 198;
			be[i].addr[13] = 18;
			be[i].addr[14] = 4 + i / 250;
			be[i].addr[15] = 1 + i % 250;
		}
		for (k = 0; k < runs; k++) {
			__u64 t0 = now_ns();

			if (zdd_maglev_build(table, ZDD_DEF_MAGLEV_M, be, n[j])) {
				free(table);
				return fail(b, "maglev build of %u backends", n[j]), -1;
			}
			ms[k] = (now_ns() - t0) / 1e6;
		}
		med_min(ms, runs, b->maglev_ms[j]);
	}
	free(table);
	return 0;
}

static int rm_pins(const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	return rmdir(dir) ? -errno : 0;
}

/* Wall time of `zdd-bpfctl -p DIR weight SVC green=PCT`, from spawn to exit, in ms. */
static int cli_weight(struct bench *b, const char *dir, const char *pct, double *ms)
{
	char arg[32];
	char *argv[] = {
		(char *)b->bpfctl, "-p", (char *)dir, "weight", VIP4 ":80/tcp", arg, NULL
	};
	extern char **environ;
	posix_spawn_file_actions_t fa;
	__u64 t0;
	pid_t pid;
	int st, err;

	snprintf(arg, sizeof(arg), "green=%s", pct);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	t0 = now_ns();
	err = posix_spawn(&pid, b->bpfctl, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return -err;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	*ms = (now_ns() - t0) / 1e6;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -EIO;
}

static int weight_change_time(struct bench *b)
{
	static const __u32 n[] = { 4, 500 }; /* per pool: 8 and 1000 backends */
	struct zdd_load_opts o = {};
	struct zdd_service_key key;
	char dir[64];
	double ms[MAX_TRIALS], cms[MAX_TRIALS];
	int i, runs = b->quick ? 5 : 15, err = 0;
	size_t j;

	snprintf(dir, sizeof(dir), "/sys/fs/bpf/zdd-bench-%d" /* bpffs names have no dots */,
		 (int)getpid());
	o.pin_dir = dir;
	zdd_service_parse(VIP4 ":80/tcp", &key);
	b->have_cli = b->bpfctl && access(b->bpfctl, X_OK) == 0;
	for (j = 0; j < 2 && !err; j++) {
		err = zdd_open_load(&b->z, &o);
		if (err) {
			fail(b, "weight change: load with pins in %s: %s", dir, strerror(-err));
			break;
		}
		err = svc_add(b, svc_of(F4)) ?: backends_add(b, svc_of(F4), n[j]);
		for (i = 0; i < runs && !err; i++) {
			__u64 t0 = now_ns();

			err = zdd_service_commit(b->z, &key, (i % 2 ? 2000 : 3000));
			cms[i] = (now_ns() - t0) / 1e6;
		}
		if (!err)
			med_min(cms, runs, b->commit_ms[j]);
		for (i = 0; i < runs && !err && b->have_cli; i++)
			err = cli_weight(b, dir, i % 2 ? "10" : "20.5", &ms[i]);
		if (!err && b->have_cli)
			med_min(ms, runs, b->cli_ms[j]);
		if (err)
			fail(b, "weight change, %u backends: %s", 2 * n[j], strerror(-err));
		lb_close(b);
		rm_pins(dir);
	}
	return err;
}

/* --- output ---------------------------------------------------------------------------------- */

static void print_table(struct bench *b, const char *group, const char *title)
{
	int i;

	printf("\n%s\n%-44s %10s %10s %12s\n", title, "case", "ns median", "ns min",
	       "x encap floor");
	for (i = 0; i < b->nres; i++) {
		const struct result *r = &b->res[i];

		if (strcmp(r->group, group))
			continue;
		printf("%-44s %10.1f %10.1f ", r->name, r->ns_median, r->ns_min);
		if (r->ratio >= 0)
			printf("%12.2f\n", r->ratio);
		else
			printf("%12s\n", "-");
	}
}

static const struct result *find(struct bench *b, const char *name)
{
	int i;

	for (i = 0; i < b->nres; i++)
		if (!strcmp(b->res[i].name, name))
			return &b->res[i];
	return NULL;
}

/* Every ratio is to the encap floor of the case's family, measured in the same run. */
static void ratios(struct bench *b)
{
	int i;

	for (i = 0; i < b->nres; i++) {
		struct result *r = &b->res[i];

		r->ratio = b->floor_encap[r->fam] > 0 ? r->ns_median / b->floor_encap[r->fam] : -1;
	}
}

/* The targets of issue 16 against the measured ratios, each beside its ns and its floor's ns. */
static void print_targets(struct bench *b)
{
	static const struct {
		const char *suffix;
		double max;
	} t[] = {
		{ "established flow", 2 },
		{ "SYN, new flow (insert)", 5 },
		{ "established, cycling 1M flows", 10 },
	};
	char name[96];
	size_t i;
	int f;

	printf("\nTargets (ratio to the encap floor of the same family, this run)\n"
	       "  %-40s %9s %9s %6s\n",
	       "case", "ns median", "floor ns", "ratio");
	for (f = 0; f < 2; f++)
		for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			const struct result *r;

			snprintf(name, sizeof(name), "%s %s", f ? "v6" : "v4", t[i].suffix);
			r = find(b, name);
			if (r && r->ratio >= 0)
				printf("  %-40s %9.1f %9.1f %6.2f  <= %-4.0f %s\n", name,
				       r->ns_median, b->floor_encap[f], r->ratio, t[i].max,
				       r->ratio <= t[i].max ? "met" : "NOT MET");
		}
}

static void print_times(struct bench *b)
{
	printf("\nMaglev table build (M = %d)          median ms   min ms\n", ZDD_DEF_MAGLEV_M);
	printf("  %-34s %10.2f %8.2f\n", "8 backends", b->maglev_ms[0][0], b->maglev_ms[0][1]);
	printf("  %-34s %10.2f %8.2f\n", "1000 backends", b->maglev_ms[1][0], b->maglev_ms[1][1]);
	printf("\nWeight change                        median ms   min ms\n");
	printf("  %-34s %10.2f %8.2f\n", "libzdd commit, 8 backends", b->commit_ms[0][0],
	       b->commit_ms[0][1]);
	printf("  %-34s %10.2f %8.2f\n", "libzdd commit, 1000 backends", b->commit_ms[1][0],
	       b->commit_ms[1][1]);
	if (b->have_cli) {
		printf("  %-34s %10.2f %8.2f\n", "zdd-bpfctl weight, 8 backends", b->cli_ms[0][0],
		       b->cli_ms[0][1]);
		printf("  %-34s %10.2f %8.2f\n", "zdd-bpfctl weight, 1000 backends",
		       b->cli_ms[1][0], b->cli_ms[1][1]);
	} else {
		printf("  (zdd-bpfctl not found: --bpfctl PATH for the end-to-end times)\n");
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void machine(char *buf, size_t len)
{
	struct utsname u;
	char line[256], model[128] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	uname(&u);
	snprintf(buf, len, "%s %s, %ld CPUs, %s", u.sysname, u.release,
		 sysconf(_SC_NPROCESSORS_ONLN), model);
}

static int write_json(struct bench *b, const char *path, const char *mach)
{
	FILE *f = fopen(path, "w");
	int i, j;
	static const char *const sizes[] = { "8", "1000" };

	if (!f)
		return -errno;
	fprintf(f, "{\"machine\":");
	json_str(f, mach);
	fprintf(f, ",\"quick\":%s,\"repeat\":%u,\"trials\":%d,\"cases\":[",
		b->quick ? "true" : "false", b->repeat, b->trials);
	for (i = 0; i < b->nres; i++) {
		const struct result *r = &b->res[i];

		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, r->name);
		fprintf(f, ",\"group\":\"%s\",\"ns_median\":%.2f,\"ns_min\":%.2f,", r->group,
			r->ns_median, r->ns_min);
		if (r->ratio >= 0)
			fprintf(f, "\"ratio_to_floor\":%.3f", r->ratio);
		else
			fprintf(f, "\"ratio_to_floor\":null");
		fprintf(f, ",\"packets\":%llu,\"trials\":%d", (unsigned long long)r->packets,
			r->trials);
		if (strcmp(r->group, "main"))
			fprintf(f, ",\"x\":%.0f", r->x);
		fputc('}', f);
	}
	fprintf(f, "],\"maglev_build_ms\":{");
	for (j = 0; j < 2; j++)
		fprintf(f, "%s\"%s\":{\"median\":%.3f,\"min\":%.3f}", j ? "," : "", sizes[j],
			b->maglev_ms[j][0], b->maglev_ms[j][1]);
	fprintf(f, "},\"weight_change_ms\":{\"commit\":{");
	for (j = 0; j < 2; j++)
		fprintf(f, "%s\"%s\":{\"median\":%.3f,\"min\":%.3f}", j ? "," : "", sizes[j],
			b->commit_ms[j][0], b->commit_ms[j][1]);
	fprintf(f, "}");
	if (b->have_cli) {
		fprintf(f, ",\"cli\":{");
		for (j = 0; j < 2; j++)
			fprintf(f, "%s\"%s\":{\"median\":%.3f,\"min\":%.3f}", j ? "," : "",
				sizes[j], b->cli_ms[j][0], b->cli_ms[j][1]);
		fprintf(f, "}");
	}
	fprintf(f, "},\"failures\":%d}\n", b->failures);
	return fclose(f) ? -errno : 0;
}

/* gnuplot, when installed: one PNG per scaling curve. */
static bool on_path(const char *cmd)
{
	char buf[4096], *dir, *save = NULL;
	const char *path = getenv("PATH");
	char full[4200];

	if (!path || strlen(path) >= sizeof(buf))
		return false;
	strcpy(buf, path);
	for (dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(full, sizeof(full), "%s/%s", dir, cmd);
		if (!access(full, X_OK))
			return true;
	}
	return false;
}

static int plot(struct bench *b, const char *dir)
{
	static const struct {
		const char *group, *xlabel;
		bool logx;
	} g[] = {
		{ "backends", "backends per pool", true },
		{ "services", "services", true },
		{ "flows", "live flows", true },
	};
	char data[512], script[512], png[512];
	extern char **environ;
	size_t i;
	int k;

	if (!on_path("gnuplot")) {
		printf("\nplots: gnuplot not installed (apt-get install gnuplot-nox): skipped\n");
		return 0;
	}
	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		FILE *f;
		pid_t pid;
		int st;
		char *argv[] = { "gnuplot", script, NULL };

		snprintf(data, sizeof(data), "%s/bench-%s.dat", dir, g[i].group);
		snprintf(script, sizeof(script), "%s/bench-%s.gp", dir, g[i].group);
		snprintf(png, sizeof(png), "%s/bench-%s.png", dir, g[i].group);
		f = fopen(data, "w");
		if (!f)
			return -errno;
		fprintf(f, "# x established_ns syn_new_ns\n");
		for (k = 0; k < b->nres; k++) {
			const struct result *r = &b->res[k], *s;
			char sname[96];

			if (strcmp(r->group, g[i].group) || strstr(r->name, "SYN"))
				continue;
			snprintf(sname, sizeof(sname), "%.*s: SYN, new flow",
				 (int)strcspn(r->name, ":"), r->name);
			s = find(b, sname);
			if (s)
				fprintf(f, "%.0f %.2f %.2f\n", r->x, r->ns_median, s->ns_median);
			else
				fprintf(f, "%.0f %.2f\n", r->x, r->ns_median);
		}
		fclose(f);
		f = fopen(script, "w");
		if (!f)
			return -errno;
		fprintf(f,
			"set terminal png noenhanced size 800,500\nset output '%s'\n"
			"set title 'zdd ns/packet vs %s (IPv4, BPF_PROG_TEST_RUN, medians)'\n"
			"set xlabel '%s'\nset ylabel 'ns/packet'\nset yrange [0:*]\n%s"
			"set key outside bottom center horizontal\nset grid\n"
			"plot '%s' using 1:2 with linespoints lw 2 title 'established flow'",
			png, g[i].xlabel, g[i].xlabel, g[i].logx ? "set logscale x\n" : "", data);
		if (strcmp(g[i].group, "flows"))
			fprintf(f, ", '' using 1:3 with linespoints lw 2 title 'SYN, new flow'");
		if (b->floor_encap[F4] > 0)
			fprintf(f, ", %.2f with lines dt 2 title 'encap floor'",
				b->floor_encap[F4]);
		fprintf(f, "\n");
		fclose(f);
		if (posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ) ||
		    waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			return fail(b, "gnuplot %s failed", script), -1;
		printf("%s%s", i ? " " : "\nplots: ", png);
	}
	printf("\n");
	return 0;
}

/* --- main ------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zdd-bench [--quick] [-o FILE.json] [--bpfctl PATH] [--plot-dir DIR]\n"
		"         [--repeat N] [--trials N] [--only main|scaling|times] [--case TEXT] "
		"[-v]\n"
		"zdd's cost per packet through BPF_PROG_TEST_RUN, IPv4 and IPv6: an established\n"
		"flow, a SYN of a new flow (conntrack insert), a SYN retransmit, a packet to no\n"
		"service, an established flow while cycling through 1M live flows; against two\n"
		"floors (XDP_DROP; parse + IPIP/IP6IP6 push + XDP_TX). Every case runs behind one\n"
		"wrapper that restores the frame each iteration and tail-calls the program under\n"
		"test (the real zdd_xdp_lb, loaded by libzdd). Verdict, output and counters are\n"
		"checked for every case. Then scaling (backends, services, live flows), Maglev\n"
		"build time and weight-change time. Needs root.\n"
		"  --quick        fewer iterations and points (make bench QUICK=1)\n"
		"  -o FILE        write the results as JSON\n"
		"  --bpfctl PATH  zdd-bpfctl, for the end-to-end weight-change time\n"
		"  --plot-dir DIR where the scaling PNGs go (needs gnuplot)\n"
		"  --repeat N     iterations per trial (default 1000000, quick 200000)\n"
		"  --trials N     trials per case (default 7, quick 5; at least 5)\n"
		"  --only PART    run one part\n"
		"  --case TEXT    run only the per-packet cases whose name holds TEXT, and the\n"
		"                 floors (to profile one case: perf record while it runs)\n"
		"Exit status: 0 every check passed, 1 a check or a step failed, 2 usage error.\n");
}

/* With kernel.bpf_stats_enabled every program run also reads the clock twice: in this VM that
 * doubles a floor, so the ratios would be wrong. */
static bool bpf_stats_on(void)
{
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
	int on = 0;

	if (f) {
		if (fscanf(f, "%d", &on) != 1)
			on = 0;
		fclose(f);
	}
	return on;
}

#define BPF_STATS_ADVICE                                                                         \
	"kernel.bpf_stats_enabled is 1 (bpftool prog profile, lab-throughput.sh or an exporter " \
	"turned it on): every run pays two clock reads"

int main(int argc, char **argv)
{
	static const struct option lopts[] = { { "quick", no_argument, NULL, 'q' },
					       { "output", required_argument, NULL, 'o' },
					       { "bpfctl", required_argument, NULL, 'b' },
					       { "plot-dir", required_argument, NULL, 'P' },
					       { "repeat", required_argument, NULL, 'R' },
					       { "trials", required_argument, NULL, 'T' },
					       { "only", required_argument, NULL, 'O' },
					       { "case", required_argument, NULL, 'C' },
					       { "verbose", no_argument, NULL, 'v' },
					       { "help", no_argument, NULL, 'h' },
					       {} };
	struct bench *b = calloc(1, sizeof(*b));
	const char *json = NULL, *only = NULL;
	char mach[256];
	long repeat = 0, trials = 0;
	int c, err = 0, verbose = 0, f;
	__u64 t0 = now_ns();
	cpu_set_t set;

	if (!b)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0); /* tables show as they come, through a pipe too */
	while ((c = getopt_long(argc, argv, "qo:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			b->quick = true;
			break;
		case 'o':
			json = optarg;
			break;
		case 'b':
			b->bpfctl = optarg;
			break;
		case 'P':
			b->out_dir = optarg;
			break;
		case 'R':
			repeat = strtol(optarg, NULL, 10);
			if (repeat < 1000 || repeat > 100000000)
				return fprintf(stderr, "zdd-bench: bad --repeat\n"), EXIT_USAGE;
			break;
		case 'T':
			trials = strtol(optarg, NULL, 10);
			if (trials < 5 || trials > MAX_TRIALS)
				return fprintf(stderr, "zdd-bench: --trials 5..%d\n", MAX_TRIALS),
				       EXIT_USAGE;
			break;
		case 'O':
			only = optarg;
			if (strcmp(only, "main") && strcmp(only, "scaling") &&
			    strcmp(only, "times"))
				return fprintf(stderr, "zdd-bench: bad --only\n"), EXIT_USAGE;
			break;
		case 'C':
			if (!*optarg)
				return fprintf(stderr, "zdd-bench: empty --case\n"), EXIT_USAGE;
			b->only_case = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	zdd_log_set_level(verbose >= 2 ? ZDD_LOG_DEBUG : verbose ? ZDD_LOG_INFO : ZDD_LOG_WARN);
	b->repeat = repeat ?: b->quick ? 200000 : 1000000;
	b->trials = trials ?: b->quick ? 5 : 7;

	if (bpf_stats_on()) {
		fprintf(stderr, "zdd-bench: %s; set it to 0 first\n", BPF_STATS_ADVICE);
		return 1;
	}
	/* One CPU, the last: iterations never migrate, and the other CPU takes the noise. */
	CPU_ZERO(&set);
	CPU_SET(sysconf(_SC_NPROCESSORS_ONLN) - 1, &set);
	sched_setaffinity(0, sizeof(set), &set);

	b->skel = zdd_bench__open_and_load();
	if (!b->skel) {
		fprintf(stderr, "zdd-bench: load the bench programs: %s (root?)\n",
			strerror(errno));
		return 1;
	}
	b->wrap_fd = bpf_program__fd(b->skel->progs.zdd_xdp_bench);
	b->drop_fd = bpf_program__fd(b->skel->progs.zdd_xdp_bench_drop);
	b->encap_fd = bpf_program__fd(b->skel->progs.zdd_xdp_bench_encap);
	b->lru_fd = bpf_program__fd(b->skel->progs.zdd_xdp_bench_lru);
	b->lru_pc_fd = bpf_program__fd(b->skel->progs.zdd_xdp_bench_lru_pc);
	b->cold_fd = bpf_program__fd(b->skel->progs.zdd_xdp_bench_cold);
	b->progs_fd = bpf_map__fd(b->skel->maps.zdd_bench_progs);
	fill_floor(b);
	machine(mach, sizeof(mach));
	printf("zdd-bench: %s; %u iterations x %d trials per case%s\n", mach, b->repeat, b->trials,
	       b->quick ? " (quick)" : "");

	if (!only || !strcmp(only, "main")) {
		/* One LB per family: each fills its own million flows. */
		for (f = F4; f <= F6 && !err; f++) {
			err = lb_open(b, 0, 0, FLOWS_1M + FLOWS_1M / 2) ?: svc_add(b, svc_of(f)) ?:
			      backends_add(b, svc_of(f), 2);
			if (err)
				fail(b, "set up the %s LB: %s", f == F4 ? "IPv4" : "IPv6",
				     strerror(-err));
			err = err ?: main_cases(b, f);
			lb_close(b);
		}
		ratios(b);
		print_table(b, "main",
			    "Per packet, through BPF_PROG_TEST_RUN (ratio: to the "
			    "encap floor of the same family)");
		print_targets(b);
	}
	if (!only || !strcmp(only, "scaling")) {
		/* The IPv4 encap floor of the main part, or measure it here. */
		if (!b->floor_encap[F4]) {
			struct bcase fl = { .name = "v4 floor parse+encap+XDP_TX",
					    .fam = F4,
					    .target = T_ENCAP,
					    .verdict = XDP_TX,
					    .reason = -1,
					    .group = "floor" };

			fl.p = tcp_pkt(F4, VIP4, TH_ACK);
			run_case(b, &fl, NULL);
		}
		scale_backends(b);
		scale_services(b);
		scale_flows(b);
		ratios(b);
		print_table(b, "backends",
			    "Scaling: backends per pool (IPv4; half the clients green)");
		print_table(b, "services", "Scaling: services");
		print_table(b, "flows",
			    "Scaling: live flows (established, each packet the next flow)");
		if (b->out_dir)
			plot(b, b->out_dir);
	}
	if (!only || !strcmp(only, "times")) {
		maglev_build_time(b);
		weight_change_time(b);
		print_times(b);
	}
	if (json) {
		err = write_json(b, json, mach);
		if (err)
			fail(b, "write %s: %s", json, strerror(-err));
		else
			printf("\nresults: %s\n", json);
	}
	if (bpf_stats_on())
		fail(b, "%s, since some time during this run: the figures are too high",
		     BPF_STATS_ADVICE);
	printf("zdd-bench: %d check%s failed, %.1f s\n", b->failures, b->failures == 1 ? "" : "s",
	       (now_ns() - t0) / 1e9);
	zdd_bench__destroy(b->skel);
	err = b->failures ? 1 : 0;
	free(b);
	return err;
}
