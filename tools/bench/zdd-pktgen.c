// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/bench/zdd-pktgen.c - a packet generator for the lab: TCP SYNs of new flows, ACKs of a
 * fixed set of flows, or UDP, from many source addresses and ports, out of one interface, with
 * BPF_PROG_TEST_RUN in BPF_F_TEST_XDP_LIVE_FRAMES mode (what xdp-trafficgen does). Bounded in
 * frames and in time; reports frames sent, the rate, and the interface's counters. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include "addr.h"
#include "log.h"
#include "netlink.h"
#include "zdd_pktgen.skel.h"

#define EXIT_USAGE 2

#define MAX_DURATION_S 600
#define DEF_DURATION_S 10
#define MAX_PAYLOAD    1400
#define MIN_FRAME      60 /* Ethernet minimum without the FCS */
#define MAX_FRAME      (MIN_FRAME + MAX_PAYLOAD + 100)
#define MAX_THREADS    64
#define MAX_BATCH      256 /* the kernel's TEST_XDP_MAX_BATCH */
#define DEF_ACK_FLOWS  1024
#define MAX_CHECK      1000000
/* One BPF_PROG_TEST_RUN call in live-frames mode costs ~25 ms of set-up and teardown on
 * kernel 6.18 (the page pool's teardown waits for an RCU grace period): calls are sized to
 * about CALL_NS, and a rate cap sends a burst every BURST_NS. */
#define CALL_NS		(250 * NSEC_PER_MSEC)
#define BURST_NS	(100 * NSEC_PER_MSEC)
#define MAX_CHUNK	(1u << 24)
#define NSEC_PER_SEC	1000000000ull
#define NSEC_PER_MSEC	1000000ull
#define TCP_MSS_OPT_LEN 4

enum mode { M_SYN, M_ACK, M_UDP };
static const char *const mode_name[] = { "syn", "ack", "udp" };

struct opts {
	const char *iface;
	enum mode mode;
	bool v6;
	__u8 dst[16], src[16]; /* src: the range's first address */
	bool have_dst, have_src, have_dst_mac;
	int src_plen;
	__u8 dst_mac[6];
	__u16 dport, port_lo, port_hi;
	__u64 flows;	 /* 0: default of the mode */
	__u64 count;	 /* 0: no frame limit */
	double duration; /* seconds */
	double rate;	 /* frames per second, all threads; 0: no cap */
	__u32 payload;
	__u32 batch;
	int threads;
	int cpus[MAX_THREADS], ncpus_pinned;
	__u64 check; /* --check N */
	bool socket; /* --socket: send through a packet socket, not live frames */
	bool json;
};

/* What the generator threads share. */
struct gen {
	int prog_fd;
	int ifindex;
	__u8 frame[MAX_FRAME];
	__u32 len;
	__u64 count;	/* per thread, 0: unbounded */
	double rate;	/* per thread */
	__u64 deadline; /* CLOCK_MONOTONIC ns */
	__u32 batch;
	bool socket;	 /* --socket */
	int told_socket; /* a thread said live frames were refused */
	int err;	 /* first error of any thread */
	pthread_mutex_t lock;
};

struct worker {
	pthread_t tid;
	struct gen *g;
	int cpu; /* -1: not pinned */
	__u64 calls;
	int sock;		/* the packet socket, once live frames were refused; else -1 */
	__u64 sock_dropped;	/* frames it refused: the device's queue was full */
	__u8 (*out)[MAX_FRAME]; /* its frames, SOCK_BATCH of them */
	volatile int done;
};

static volatile sig_atomic_t stop, interrupted;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	interrupted = 1;
}

/* SIGUSR1 only interrupts a worker's test run (no SA_RESTART): the kernel stops it at the next
 * batch, so the deadline is kept to a batch, whatever the size of the call. */
static void on_wake(int sig)
{
	(void)sig;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zdd-pktgen -i IFACE --dst ADDR [--dport PORT] [--dst-mac MAC]\n"
		"         [--mode syn|ack|udp] [--src CIDR] [--sport LO[-HI]] [--flows N]\n"
		"         [-n FRAMES] [-d SECONDS] [-r PPS] [-s PAYLOAD] [-t THREADS] [--cpus "
		"LIST]\n"
		"         [--batch N] [--socket] [-j] [-v]\n"
		"       zdd-pktgen --check N --dst ADDR [same frame options]\n"
		"Sends frames out of IFACE (in the current network namespace: run it under\n"
		"`nsenter --net=/run/netns/NS`), written by an XDP program run with\n"
		"BPF_PROG_TEST_RUN in live-frames mode. Every frame has valid IPv4, TCP and UDP\n"
		"checksums. Needs root and a kernel with BPF_F_TEST_XDP_LIVE_FRAMES (5.18+).\n"
		"A kernel that refuses live frames (EPERM, as a locked-down one may) gets the\n"
		"same frames through a packet socket, with a note on stderr: slower, so a\n"
		"benchmark then measures the generator.\n"
		"\n"
		"  -i, --iface IFACE    where the frames leave; source MAC = IFACE's\n"
		"      --dst ADDR       destination IPv4 or IPv6 address\n"
		"      --dport PORT     destination port (default 80)\n"
		"      --dst-mac MAC    destination MAC (default: the next hop to ADDR from the\n"
		"                       routing and neighbour tables)\n"
		"  -m, --mode MODE      syn: TCP SYNs of new flows (the next flow each frame,\n"
		"                       as a SYN flood from spoofed sources); ack: TCP ACKs of a\n"
		"                       fixed set of --flows flows (established traffic); udp:\n"
		"                       UDP datagrams over --flows flows. Default syn\n"
		"      --src CIDR       source addresses (default 198.18.128.0/17, or\n"
		"                       fd00:8000::/96 for IPv6; IPv6 prefixes /96 or longer)\n"
		"      --sport LO[-HI]  source ports (default 1024-65535)\n"
		"      --flows N        distinct (address, port) pairs cycled through: flow f\n"
		"                       has address f %% addresses and port f / addresses.\n"
		"                       Default: every pair (syn, udp), %d (ack)\n"
		"  -n, --count N        stop after N frames\n"
		"  -d, --duration SEC   stop after SEC seconds (default %d when -n is not given,\n"
		"                       at most %d; also the bound with -n)\n"
		"  -r, --rate PPS       at most PPS frames a second in all, sent in bursts every\n"
		"                       100 ms (default: as fast as possible)\n"
		"  -s, --payload BYTES  TCP or UDP payload (default 0, at most %d); frames are\n"
		"                       padded to %d bytes\n"
		"  -t, --threads N      generator threads (default 1), each on its own CPU when\n"
		"                       --cpus is given\n"
		"      --cpus LIST      pin thread i to the i-th CPU of LIST (e.g. 1 or 0,1)\n"
		"      --batch N        frames per kernel batch (1..%d, default 64)\n"
		"      --socket         send through a packet socket even where live frames work\n"
		"                       (the program writes each frame in a test run of its own)\n"
		"      --check N        no interface: run the program on N frames without sending\n"
		"                       them and verify checksums, ranges and distinct flows\n"
		"  -j, --json           print the report as one JSON object\n"
		"  -v, --verbose        more messages (-vv: libbpf's too)\n"
		"\n"
		"Addresses: only the benchmark ranges 198.18.0.0/15 and fd00::/8, as sources and\n"
		"destinations.\n"
		"The receiving end must run an XDP program (a plain XDP_PASS one will do), or a\n"
		"veth peer drops every frame: see DESIGN.md section 7. `frames` in the report\n"
		"counts frames the program wrote and handed to the interface; tx_packets and\n"
		"tx_dropped are the interface's counters over the run (on a veth, tx_dropped\n"
		"grows when the peer's queue overflows).\n"
		"Each kernel call sends up to a quarter of a second of frames (a call costs\n"
		"~25 ms of set-up on kernel 6.18); a call still running at the deadline is\n"
		"interrupted at its next batch.\n"
		"Exit status: 0 ran, 1 failure, 2 usage error.\n"
		"\n"
		"Example, a SYN flood from the lab's client (tests/integration/lib.sh) at\n"
		"100k frames/s for 5 s; spoofed sources, so the backends' SYN-ACKs go nowhere:\n"
		"  ip -n zdd-rtr link set dev to-client xdpdrv obj .output/zdd_decap.bpf.o sec "
		"xdp\n"
		"  nsenter --net=/run/netns/zdd-client zdd-pktgen -i eth0 --dst 198.19.0.10 \\\n"
		"      -m syn -r 100000 -d 5\n"
		"With -m ack, zdd counts the first frame of each flow as a conntrack miss and\n"
		"pins the flow; the frames after it are conntrack hits.\n",
		DEF_ACK_FLOWS, DEF_DURATION_S, MAX_DURATION_S, MAX_PAYLOAD, MIN_FRAME, MAX_BATCH);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "zdd-pktgen: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (--help for usage)\n");
	return EXIT_USAGE;
}

static int parse_u64(const char *s, __u64 min, __u64 max, __u64 *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* LO or LO-HI, 1..65535. */
static int parse_ports(const char *s, __u16 *lo, __u16 *hi)
{
	char buf[32], *dash;
	__u64 a, b;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (parse_u64(buf, 1, 65535, &a))
		return -EINVAL;
	b = a;
	if (dash && parse_u64(dash + 1, 1, 65535, &b))
		return -EINVAL;
	if (b < a)
		return -EINVAL;
	*lo = a;
	*hi = b;
	return 0;
}

static int parse_cpus(const char *s, struct opts *o)
{
	char buf[256], *tok, *save = NULL;
	__u64 cpu;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	o->ncpus_pinned = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->ncpus_pinned == MAX_THREADS || parse_u64(tok, 0, CPU_SETSIZE - 1, &cpu))
			return -EINVAL;
		o->cpus[o->ncpus_pinned++] = cpu;
	}
	return o->ncpus_pinned ? 0 : -EINVAL;
}

/* ADDR/LEN: the whole prefix (host bits of ADDR are cleared). */
static int parse_cidr(const char *s, __u8 addr[16], int *plen)
{
	char buf[64], *slash;
	__u64 len, i;
	int v4;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (zdd_addr_parse(buf, addr))
		return -EINVAL;
	v4 = zdd_addr_is_v4(addr);
	if (!slash) {
		*plen = v4 ? 32 : 128;
		return 0;
	}
	if (parse_u64(slash + 1, 0, v4 ? 32 : 128, &len))
		return -EINVAL;
	*plen = len;
	for (i = (v4 ? 96 : 0) + len; i < 128; i++)
		addr[i / 8] &= ~(0x80 >> (i % 8));
	return 0;
}

/* 198.18.0.0/15 (RFC 2544 benchmarking) or fd00::/8 (unique local). */
static bool bench_addr(const __u8 a[16])
{
	if (zdd_addr_is_v4(a))
		return a[12] == 198 && (a[13] & 0xfe) == 18;
	return a[0] == 0xfd;
}

/* The last address of the prefix a/plen (IPv4 mapped or IPv6). */
static void range_last(const __u8 a[16], int plen, __u8 out[16])
{
	int bits = zdd_addr_is_v4(a) ? 96 + plen : plen, i;

	memcpy(out, a, 16);
	for (i = bits; i < 128; i++)
		out[i / 8] |= 0x80 >> (i % 8);
}

enum opt_id {
	O_DST = 256,
	O_DPORT,
	O_DST_MAC,
	O_SRC,
	O_SPORT,
	O_FLOWS,
	O_CPUS,
	O_BATCH,
	O_CHECK,
	O_SOCKET,
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = { { "iface", required_argument, NULL, 'i' },
					       { "dst", required_argument, NULL, O_DST },
					       { "dport", required_argument, NULL, O_DPORT },
					       { "dst-mac", required_argument, NULL, O_DST_MAC },
					       { "mode", required_argument, NULL, 'm' },
					       { "src", required_argument, NULL, O_SRC },
					       { "sport", required_argument, NULL, O_SPORT },
					       { "flows", required_argument, NULL, O_FLOWS },
					       { "count", required_argument, NULL, 'n' },
					       { "duration", required_argument, NULL, 'd' },
					       { "rate", required_argument, NULL, 'r' },
					       { "payload", required_argument, NULL, 's' },
					       { "threads", required_argument, NULL, 't' },
					       { "cpus", required_argument, NULL, O_CPUS },
					       { "batch", required_argument, NULL, O_BATCH },
					       { "check", required_argument, NULL, O_CHECK },
					       { "socket", no_argument, NULL, O_SOCKET },
					       { "json", no_argument, NULL, 'j' },
					       { "verbose", no_argument, NULL, 'v' },
					       { "help", no_argument, NULL, 'h' },
					       {} };
	bool have_duration = false;
	__u64 v;
	int c, verbose = 0;

	o->dport = 80;
	o->port_lo = 1024;
	o->port_hi = 65535;
	o->threads = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:m:n:d:r:s:t:jvh", lopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->iface = optarg;
			break;
		case O_DST:
			if (zdd_addr_parse(optarg, o->dst))
				return usage_error("bad --dst '%s'", optarg);
			o->have_dst = true;
			break;
		case O_DPORT:
			if (parse_u64(optarg, 1, 65535, &v))
				return usage_error("bad --dport '%s' (1..65535)", optarg);
			o->dport = v;
			break;
		case O_DST_MAC:
			if (zdd_mac_parse(optarg, o->dst_mac))
				return usage_error("bad --dst-mac '%s'", optarg);
			o->have_dst_mac = true;
			break;
		case 'm':
			if (!strcmp(optarg, "syn"))
				o->mode = M_SYN;
			else if (!strcmp(optarg, "ack"))
				o->mode = M_ACK;
			else if (!strcmp(optarg, "udp"))
				o->mode = M_UDP;
			else
				return usage_error("bad --mode '%s' (syn, ack or udp)", optarg);
			break;
		case O_SRC:
			if (parse_cidr(optarg, o->src, &o->src_plen))
				return usage_error("bad --src '%s' (ADDR/LEN)", optarg);
			o->have_src = true;
			break;
		case O_SPORT:
			if (parse_ports(optarg, &o->port_lo, &o->port_hi))
				return usage_error("bad --sport '%s' (LO or LO-HI, 1..65535)",
						   optarg);
			break;
		case O_FLOWS:
			if (parse_u64(optarg, 1, 1ull << 48, &o->flows))
				return usage_error("bad --flows '%s'", optarg);
			break;
		case 'n':
			if (parse_u64(optarg, 1, 1ull << 48, &o->count))
				return usage_error("bad --count '%s'", optarg);
			break;
		case 'd':
			if (parse_double(optarg, 0.001, MAX_DURATION_S, &o->duration))
				return usage_error("bad --duration '%s' (0.001..%d s)", optarg,
						   MAX_DURATION_S);
			have_duration = true;
			break;
		case 'r':
			if (parse_double(optarg, 1, 1e9, &o->rate))
				return usage_error("bad --rate '%s' (1..1e9 frames/s)", optarg);
			break;
		case 's':
			if (parse_u64(optarg, 0, MAX_PAYLOAD, &v))
				return usage_error("bad --payload '%s' (0..%d)", optarg,
						   MAX_PAYLOAD);
			o->payload = v;
			break;
		case 't':
			if (parse_u64(optarg, 1, MAX_THREADS, &v))
				return usage_error("bad --threads '%s' (1..%d)", optarg,
						   MAX_THREADS);
			o->threads = v;
			break;
		case O_CPUS:
			if (parse_cpus(optarg, o))
				return usage_error("bad --cpus '%s' (e.g. 1 or 0,1)", optarg);
			break;
		case O_BATCH:
			if (parse_u64(optarg, 1, MAX_BATCH, &v))
				return usage_error("bad --batch '%s' (1..%d)", optarg, MAX_BATCH);
			o->batch = v;
			break;
		case O_CHECK:
			if (parse_u64(optarg, 1, MAX_CHECK, &o->check))
				return usage_error("bad --check '%s' (1..%d)", optarg, MAX_CHECK);
			break;
		case O_SOCKET:
			o->socket = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (optopt >= 256 || optopt == 0)
				return usage_error("bad option '%s'", argv[optind - 1]);
			return usage_error("bad option or missing value: -%c", optopt);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	zdd_log_set_level(verbose >= 2 ? ZDD_LOG_DEBUG : verbose ? ZDD_LOG_INFO : ZDD_LOG_WARN);

	if (!o->have_dst)
		return usage_error("--dst is required");
	if (!o->iface && !o->check)
		return usage_error("-i IFACE is required (or --check N)");
	o->v6 = !zdd_addr_is_v4(o->dst);
	if (!o->have_src) {
		const char *def = o->v6 ? "fd00:8000::/96" : "198.18.128.0/17";

		parse_cidr(def, o->src, &o->src_plen);
	}
	if (zdd_addr_is_v4(o->src) == o->v6)
		return usage_error("--src and --dst must be of one family");
	if (o->v6 && o->src_plen < 96)
		return usage_error("an IPv6 --src prefix must be /96 or longer");
	{
		__u8 last[16];

		range_last(o->src, o->src_plen, last);
		if (!bench_addr(o->dst) || !bench_addr(o->src) || !bench_addr(last))
			return usage_error("addresses must lie in 198.18.0.0/15 or fd00::/8 "
					   "(benchmark ranges)");
	}
	if (!have_duration && !o->count)
		o->duration = DEF_DURATION_S;
	if (!have_duration && o->count)
		o->duration = MAX_DURATION_S;
	if (o->ncpus_pinned && o->ncpus_pinned != o->threads)
		return usage_error("--cpus names %d CPUs for %d threads", o->ncpus_pinned,
				   o->threads);
	return 0;
}

/* One's complement sum of len bytes in memory order (len even). */
static __u32 sum16(const void *p, size_t len, __u32 sum)
{
	const __u8 *b = p;
	__u16 w;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		memcpy(&w, b + i, 2);
		sum += w;
	}
	if (len & 1) {
		w = 0;
		memcpy(&w, b + len - 1, 1);
		sum += w;
	}
	return sum;
}

static __u32 fold32(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

struct layout {
	__u32 l3, l4, l4_len, len; /* offsets and lengths in the frame */
	__u64 naddrs, nports, flows;
	__u32 addr_base; /* host order */
	__u32 ip_sum, l4_sum;
};

/* Writes the template frame and the sums the program completes. */
static void build_frame(const struct opts *o, const __u8 src_mac[6], __u8 *frame,
			struct layout *lay)
{
	struct ethhdr *eth = (struct ethhdr *)frame;
	__u32 hdr = o->mode == M_UDP
			    ? sizeof(struct udphdr)
			    : sizeof(struct tcphdr) + (o->mode == M_SYN ? TCP_MSS_OPT_LEN : 0);
	__u8 proto = o->mode == M_UDP ? IPPROTO_UDP : IPPROTO_TCP;
	__u8 *l4;
	__u32 i, sum;

	memset(frame, 0, MAX_FRAME);
	lay->l3 = sizeof(*eth);
	lay->l4 = lay->l3 + (o->v6 ? sizeof(struct ip6_hdr) : sizeof(struct iphdr));
	lay->l4_len = hdr + o->payload;
	lay->len = lay->l4 + lay->l4_len;
	if (lay->len < MIN_FRAME)
		lay->len = MIN_FRAME;

	memcpy(eth->h_dest, o->dst_mac, 6);
	memcpy(eth->h_source, src_mac, 6);
	eth->h_proto = htons(o->v6 ? ETH_P_IPV6 : ETH_P_IP);
	l4 = frame + lay->l4;
	if (o->mode == M_UDP) {
		struct udphdr *uh = (struct udphdr *)l4;

		uh->dest = htons(o->dport);
		uh->len = htons(lay->l4_len);
	} else {
		struct tcphdr *th = (struct tcphdr *)l4;

		th->dest = htons(o->dport);
		th->doff = hdr / 4;
		th->window = htons(64240);
		if (o->mode == M_SYN) {
			th->syn = 1;
			l4[sizeof(*th)] = TCPOPT_MAXSEG;
			l4[sizeof(*th) + 1] = TCP_MSS_OPT_LEN;
			l4[sizeof(*th) + 2] = 1460 >> 8;
			l4[sizeof(*th) + 3] = 1460 & 0xff;
		} else {
			th->ack = 1;
			th->ack_seq = htonl(1);
		}
	}
	for (i = 0; i < o->payload; i++)
		l4[hdr + i] = (__u8)(i * 7 + 1);

	/* Pseudo-header: the varying source word is zero here, the program adds it. */
	sum = 0;
	if (o->v6) {
		struct ip6_hdr *ip6 = (struct ip6_hdr *)(frame + lay->l3);

		ip6->ip6_flow = htonl(6u << 28);
		ip6->ip6_plen = htons(lay->l4_len);
		ip6->ip6_nxt = proto;
		ip6->ip6_hlim = 64;
		memcpy(&ip6->ip6_src, o->src, 12);
		memcpy(&ip6->ip6_dst, o->dst, 16);
		sum = sum16(&ip6->ip6_src, 32, sum);
	} else {
		struct iphdr *iph = (struct iphdr *)(frame + lay->l3);

		iph->version = 4;
		iph->ihl = 5;
		iph->tot_len = htons(sizeof(*iph) + lay->l4_len);
		iph->frag_off = htons(IP_DF);
		iph->ttl = 64;
		iph->protocol = proto;
		memcpy(&iph->daddr, o->dst + 12, 4);
		lay->ip_sum = fold32(sum16(iph, sizeof(*iph), 0));
		sum = sum16(&iph->daddr, 4, sum);
	}
	sum += htons(proto) + htons(lay->l4_len);
	lay->l4_sum = fold32(sum16(l4, lay->l4_len, sum));

	memcpy(&lay->addr_base, o->src + 12, 4);
	lay->addr_base = ntohl(lay->addr_base);
	{
		int host = (o->v6 ? 128 : 32) - o->src_plen;

		lay->naddrs = host >= 32 ? 0xffffffffull : 1ull << host;
	}
	lay->nports = (__u64)o->port_hi - o->port_lo + 1;
	lay->flows = lay->naddrs * lay->nports;
	if (o->flows && o->flows < lay->flows)
		lay->flows = o->flows;
	else if (!o->flows && o->mode == M_ACK && lay->flows > DEF_ACK_FLOWS)
		lay->flows = DEF_ACK_FLOWS;
}

static int load_prog(const struct opts *o, const struct layout *lay, const __u8 *frame, int ncpus,
		     struct zdd_pktgen **out)
{
	struct zdd_pktgen *skel = zdd_pktgen__open();
	int err;

	if (!skel)
		return log_err(-errno, "open the zdd_pktgen BPF object");
	skel->rodata->cfg_v6 = o->v6;
	skel->rodata->cfg_tcp = o->mode != M_UDP;
	skel->rodata->cfg_cpu_stride = lay->flows / ncpus;
	skel->rodata->cfg_addr_base = lay->addr_base;
	skel->rodata->cfg_naddrs = lay->naddrs;
	skel->rodata->cfg_port_lo = o->port_lo;
	skel->rodata->cfg_nports = lay->nports;
	skel->rodata->cfg_nflows = lay->flows;
	skel->rodata->cfg_ip_sum = lay->ip_sum;
	skel->rodata->cfg_l4_sum = lay->l4_sum;
	skel->rodata->cfg_tmpl_len = lay->len < sizeof(skel->rodata->cfg_tmpl)
					     ? lay->len
					     : sizeof(skel->rodata->cfg_tmpl);
	memcpy((void *)skel->rodata->cfg_tmpl, frame, skel->rodata->cfg_tmpl_len);
	err = zdd_pktgen__load(skel);
	if (err) {
		zdd_pktgen__destroy(skel);
		return log_err(err, "load zdd_pktgen (-vv shows the verifier log)");
	}
	*out = skel;
	return 0;
}

/* Frames the program wrote, all CPUs. */
static int frames_written(struct zdd_pktgen *skel, __u64 *total)
{
	int n = libbpf_num_possible_cpus(), i;
	__u32 key = 0;
	__u64 *v;

	if (n < 0)
		return n;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.zdd_pktgen_seq), &key, v)) {
		free(v);
		return log_err(-errno, "read the frame counter");
	}
	*total = 0;
	for (i = 0; i < n; i++)
		*total += v[i];
	free(v);
	return 0;
}

/* One frame as the program writes it, in a test run of its own that returns it: *out_len its
 * length, *verdict the program's (XDP_TX for a frame to send). 0, or -errno. */
static int frame_write(int prog_fd, const __u8 *frame, __u32 len, __u8 *out, __u32 *out_len,
		       __u32 *verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = frame, .data_size_in = len, .data_out = out,
		    .data_size_out = MAX_FRAME, .repeat = 1);

	while (bpf_prog_test_run_opts(prog_fd, &t))
		if (errno != EINTR)
			return -errno;
	*out_len = t.data_size_out;
	*verdict = t.retval;
	return 0;
}

/* --check: run the program without sending and verify every frame it writes. */
static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static int check_frames(const struct opts *o, const struct layout *lay, int prog_fd,
			const __u8 *frame)
{
	__u8 out[MAX_FRAME];
	__u64 *seen, i, distinct = 0, want;
	__u32 first = lay->addr_base, last = lay->addr_base + (__u32)(lay->naddrs - 1);
	int bad = 0;

	seen = calloc(o->check, sizeof(*seen));
	if (!seen)
		return -ENOMEM;
	for (i = 0; i < o->check && !bad; i++) {
		const __u8 *l3 = out + lay->l3, *l4 = out + lay->l4;
		__u32 a, sum, len, verdict;
		__u16 sport;
		int err = frame_write(prog_fd, frame, lay->len, out, &len, &verdict);

		if (err) {
			free(seen);
			return log_err(err, "BPF_PROG_TEST_RUN");
		}
		if (verdict != XDP_TX || len != lay->len) {
			fprintf(stderr, "zdd-pktgen: frame %llu: verdict %u, %u bytes\n",
				(unsigned long long)i, verdict, len);
			bad = 1;
			break;
		}
		/* A valid checksum sums to all ones, check field included. */
		if (!o->v6 && fold32(sum16(l3, sizeof(struct iphdr), 0)) != 0xffff) {
			fprintf(stderr, "zdd-pktgen: frame %llu: bad IPv4 header checksum\n",
				(unsigned long long)i);
			bad = 1;
		}
		sum = o->v6 ? sum16(l3 + 8, 32, 0) : sum16(l3 + 12, 8, 0);
		sum += htons(o->mode == M_UDP ? IPPROTO_UDP : IPPROTO_TCP) + htons(lay->l4_len);
		if (fold32(sum16(l4, lay->l4_len, sum)) != 0xffff) {
			fprintf(stderr, "zdd-pktgen: frame %llu: bad %s checksum\n",
				(unsigned long long)i, o->mode == M_UDP ? "UDP" : "TCP");
			bad = 1;
		}
		if (memcmp(out, frame, lay->l3) ||
		    memcmp(l3 + (o->v6 ? 24 : 16), frame + lay->l3 + (o->v6 ? 24 : 16),
			   o->v6 ? 16 : 4)) {
			fprintf(stderr,
				"zdd-pktgen: frame %llu: Ethernet header or destination "
				"changed\n",
				(unsigned long long)i);
			bad = 1;
		}
		memcpy(&a, l3 + (o->v6 ? 8 + 12 : 12), 4);
		memcpy(&sport, l4, 2);
		a = ntohl(a);
		sport = ntohs(sport);
		if (a < first || a > last || sport < o->port_lo || sport > o->port_hi) {
			fprintf(stderr, "zdd-pktgen: frame %llu: source out of range\n",
				(unsigned long long)i);
			bad = 1;
		}
		seen[i] = (__u64)a << 16 | sport;
	}
	if (!bad) {
		qsort(seen, o->check, sizeof(*seen), cmp_u64);
		for (i = 0; i < o->check; i++)
			distinct += !i || seen[i] != seen[i - 1];
		want = o->check < lay->flows ? o->check : lay->flows;
		if (distinct != want) {
			fprintf(stderr,
				"zdd-pktgen: %llu distinct flows in %llu frames, want %llu\n",
				(unsigned long long)distinct, (unsigned long long)o->check,
				(unsigned long long)want);
			bad = 1;
		}
	}
	free(seen);
	if (bad)
		return -EBADMSG;
	if (o->json)
		printf("{\"check\":\"ok\",\"mode\":\"%s\",\"frames\":%llu,\"distinct_flows\":%llu,"
		       "\"frame_bytes\":%u}\n",
		       mode_name[o->mode], (unsigned long long)o->check,
		       (unsigned long long)distinct, lay->len);
	else
		printf("check: %llu %s frames of %u bytes ok: valid checksums, sources in range, "
		       "%llu distinct flows\n",
		       (unsigned long long)o->check, mode_name[o->mode], lay->len,
		       (unsigned long long)distinct);
	return 0;
}

/*
 * The way out when the kernel refuses live frames (EPERM: a kernel locked down, as some VMs'
 * are): the program still writes every frame, in a test run of its own that returns it
 * (data_out), so both ways send the same frames, and a packet socket bound to the interface
 * sends them, SOCK_BATCH per sendmmsg. Slower (a test run per frame, a send per batch), so
 * the packet phase of a lab bench measures the generator, not the balancer; tests that send a
 * bounded count at a bounded rate are served alike.
 */
#define SOCK_BATCH 64

static int socket_open(struct worker *w)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = w->g->ifindex };
	int one = 1;

	w->out = malloc(SOCK_BATCH * sizeof(*w->out));
	if (!w->out)
		return -ENOMEM;
	w->sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* protocol 0: sends only */
	if (w->sock < 0)
		return log_err(-errno, "open a packet socket");
	/* Straight to the driver, as live frames go: no qdisc between. */
	setsockopt(w->sock, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	if (bind(w->sock, (struct sockaddr *)&sll, sizeof(sll)))
		return log_err(-errno, "bind a packet socket to the interface");
	return 0;
}

/* n frames (at most SOCK_BATCH) written by the program, then sent; every frame written is sent
 * (a signal does not cut a batch short), so the program's frame counter stays the count. */
static int socket_send(struct worker *w, __u32 n)
{
	struct mmsghdr msgs[SOCK_BATCH] = {};
	struct iovec iov[SOCK_BATCH];
	struct gen *g = w->g;
	__u32 i, len, verdict, done = 0;
	int r;

	for (i = 0; i < n; i++) {
		r = frame_write(g->prog_fd, g->frame, g->len, w->out[i], &len, &verdict);
		if (r)
			return log_err(r, "BPF_PROG_TEST_RUN (a frame to send)");
		if (verdict != XDP_TX)
			return log_err(-EPROTO, "the frame writer returned %u", verdict);
		iov[i] = (struct iovec){ .iov_base = w->out[i], .iov_len = len };
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (done < n) {
		r = sendmmsg(w->sock, msgs + done, n - done, 0);
		if (r > 0) {
			done += r;
		} else if (errno == ENOBUFS || errno == EAGAIN) {
			/* The device's queue is full: the frame is lost, as a live frame is then,
			 * and counted in sock_dropped (the device's tx_dropped may not see it). */
			w->sock_dropped++;
			done++;
		} else if (errno != EINTR) {
			return log_err(-errno, "send on the packet socket");
		}
	}
	w->calls++;
	return 0;
}

/* One generator thread: test runs of `chunk` frames until count, deadline or a signal. */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct gen *g = w->g;
	struct xdp_md md = { .data_end = g->len, .ingress_ifindex = g->ifindex };
	__u64 sent = 0, chunk = 65536, t0, t, want, burst = 0;
	double ns_per_frame = 0; /* of the last call, set-up included */
	int err = 0;

	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (err) {
			err = log_err(-err, "pin a thread to CPU %d", w->cpu);
			goto out;
		}
	}
	if (g->socket) {
		err = socket_open(w);
		if (err)
			goto out;
	}
	if (g->rate > 0) {
		burst = (__u64)(g->rate * BURST_NS / NSEC_PER_SEC);
		if (burst < 1)
			burst = 1;
	}
	t0 = now_ns();
	while (!stop && (!g->count || sent < g->count)) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = g->frame, .data_size_in = g->len,
			    .ctx_in = &md, .ctx_size_in = sizeof(md),
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = g->batch);
		__u64 n = chunk, c0;

		t = now_ns();
		if (t >= g->deadline)
			break;
		if (burst) {
			/* Sleep until the frames already sent are due, then send a burst. */
			want = t0 + (__u64)(sent / g->rate * NSEC_PER_SEC);
			if (want > t) {
				struct timespec ts = { .tv_sec = want / NSEC_PER_SEC,
						       .tv_nsec = want % NSEC_PER_SEC };

				if (want >= g->deadline)
					break;
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
				continue;
			}
			n = burst;
		} else if (ns_per_frame > 0 && n * ns_per_frame > g->deadline - t) {
			/* The last call: about what fits before the deadline. */
			n = (g->deadline - t) / ns_per_frame;
			if (n < 64)
				n = 64;
		}
		if (g->count && n > g->count - sent)
			n = g->count - sent;
		if (w->sock >= 0) {
			if (n > SOCK_BATCH)
				n = SOCK_BATCH;
			err = socket_send(w, n);
			if (err)
				goto out;
			sent += n;
			continue;
		}
		opts.repeat = n;
		c0 = now_ns();
		if (bpf_prog_test_run_opts(g->prog_fd, &opts)) {
			if (errno == EINTR)
				break; /* a signal; the frame counter knows what was sent */
			if (errno == EPERM && !w->calls) {
				/* Refused before any frame went out: send through a socket. */
				if (!__atomic_exchange_n(&g->told_socket, 1, __ATOMIC_RELAXED))
					fprintf(stderr,
						"zdd-pktgen: the kernel refuses live frames "
						"(EPERM); sending through a packet socket, "
						"slower\n");
				err = socket_open(w);
				if (err)
					goto out;
				continue;
			}
			err = log_err(-errno, "BPF_PROG_TEST_RUN (live frames)");
			goto out;
		}
		w->calls++;
		sent += n;
		t = now_ns() - c0;
		if (!t)
			continue;
		ns_per_frame = (double)t / n;
		/* The set-up cost is fixed: calls grow until they take about CALL_NS. */
		chunk = n * CALL_NS / t;
		if (chunk < 64)
			chunk = 64;
		if (chunk > MAX_CHUNK)
			chunk = MAX_CHUNK;
	}
out:
	if (err) {
		pthread_mutex_lock(&g->lock);
		if (!g->err)
			g->err = err;
		pthread_mutex_unlock(&g->lock);
		stop = 1;
	}
	w->done = 1;
	return NULL;
}

struct if_counters {
	__u64 tx_packets, tx_dropped, tx_errors;
};

static int if_counters(int ifindex, struct if_counters *c)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_link *link = NULL;
	int err;

	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	if (!err)
		err = rtnl_link_get_kernel(sk, ifindex, NULL, &link);
	if (err) {
		nl_socket_free(sk);
		return -EIO;
	}
	c->tx_packets = rtnl_link_get_stat(link, RTNL_LINK_TX_PACKETS);
	c->tx_dropped = rtnl_link_get_stat(link, RTNL_LINK_TX_DROPPED);
	c->tx_errors = rtnl_link_get_stat(link, RTNL_LINK_TX_ERRORS);
	rtnl_link_put(link);
	nl_socket_free(sk);
	return 0;
}

static int generate(const struct opts *o, const struct layout *lay, struct zdd_pktgen *skel,
		    const struct zdd_iface *ifc, const __u8 *frame)
{
	struct worker w[MAX_THREADS] = {};
	struct if_counters c0 = {}, c1 = {};
	bool have_counters;
	struct gen *g;
	__u64 t0, t1, frames = 0, calls = 0, sock_dropped = 0;
	bool by_socket = false;
	double secs;
	char dst[ZDD_ADDR_STRLEN];
	int i, err = 0, started = 0;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->prog_fd = bpf_program__fd(skel->progs.zdd_xdp_pktgen);
	g->ifindex = ifc->ifindex;
	memcpy(g->frame, frame, lay->len);
	g->len = lay->len;
	g->batch = o->batch;
	g->socket = o->socket;
	g->rate = o->rate / o->threads;
	g->count = o->count ? (o->count + o->threads - 1) / o->threads : 0;
	pthread_mutex_init(&g->lock, NULL);

	have_counters = !if_counters(ifc->ifindex, &c0);
	t0 = now_ns();
	g->deadline = t0 + (__u64)(o->duration * NSEC_PER_SEC);
	for (i = 0; i < o->threads; i++) {
		w[i].g = g;
		w[i].sock = -1;
		w[i].cpu = o->ncpus_pinned ? o->cpus[i] : -1;
		err = -pthread_create(&w[i].tid, NULL, worker_run, &w[i]);
		if (err) {
			log_err(err, "start a generator thread");
			stop = 1;
			break;
		}
		started++;
	}
	/* Watch the deadline and the signals; wake the workers out of their test runs. */
	for (;;) {
		const struct timespec tick = { 0, 5 * 1000 * 1000 };
		int running = 0;

		for (i = 0; i < started; i++)
			running += !w[i].done;
		if (!running)
			break;
		if (stop || now_ns() >= g->deadline) {
			stop = 1;
			for (i = 0; i < started; i++)
				if (!w[i].done)
					pthread_kill(w[i].tid, SIGUSR1);
		}
		nanosleep(&tick, NULL);
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		calls += w[i].calls;
		by_socket |= w[i].sock >= 0;
		sock_dropped += w[i].sock_dropped;
		if (w[i].sock >= 0)
			close(w[i].sock);
		free(w[i].out);
	}
	t1 = now_ns();
	if (!err)
		err = g->err;
	if (have_counters)
		have_counters = !if_counters(ifc->ifindex, &c1);
	if (!err)
		err = frames_written(skel, &frames);
	pthread_mutex_destroy(&g->lock);
	free(g);
	if (err)
		return err;

	secs = (t1 - t0) / 1e9;
	zdd_addr_format(o->dst, dst, sizeof(dst));
	if (o->json) {
		printf("{\"mode\":\"%s\",\"iface\":\"%s\",\"dst\":\"%s\",\"dport\":%u,"
		       "\"frame_bytes\":%u,\"flows\":%llu,\"threads\":%d,\"frames\":%llu,"
		       "\"seconds\":%.6f,\"pps\":%.0f,\"calls\":%llu,\"sent_by\":\"%s\"",
		       mode_name[o->mode], ifc->name, dst, o->dport, lay->len,
		       (unsigned long long)lay->flows, o->threads, (unsigned long long)frames, secs,
		       secs > 0 ? frames / secs : 0, (unsigned long long)calls,
		       by_socket ? "socket" : "live-frames");
		if (have_counters)
			printf(",\"tx_packets\":%llu,\"tx_dropped\":%llu,\"tx_errors\":%llu",
			       (unsigned long long)(c1.tx_packets - c0.tx_packets),
			       (unsigned long long)(c1.tx_dropped - c0.tx_dropped),
			       (unsigned long long)(c1.tx_errors - c0.tx_errors));
		if (by_socket)
			printf(",\"socket_dropped\":%llu", (unsigned long long)sock_dropped);
		printf(",\"interrupted\":%s}\n", interrupted ? "true" : "false");
	} else {
		printf("zdd-pktgen: %llu %s frames of %u bytes to %s port %u out of %s in %.3f s: "
		       "%.0f frames/s (%llu flows, %d thread%s, sent by %s)\n",
		       (unsigned long long)frames, mode_name[o->mode], lay->len, dst, o->dport,
		       ifc->name, secs, secs > 0 ? frames / secs : 0,
		       (unsigned long long)lay->flows, o->threads, o->threads > 1 ? "s" : "",
		       by_socket ? "a packet socket" : "live frames");
		if (have_counters)
			printf("zdd-pktgen: %s counters: tx_packets +%llu, tx_dropped +%llu, "
			       "tx_errors +%llu\n",
			       ifc->name, (unsigned long long)(c1.tx_packets - c0.tx_packets),
			       (unsigned long long)(c1.tx_dropped - c0.tx_dropped),
			       (unsigned long long)(c1.tx_errors - c0.tx_errors));
		if (by_socket)
			printf("zdd-pktgen: %llu frames lost to a full device queue\n",
			       (unsigned long long)sock_dropped);
	}
	return 0;
}

/* The MAC of the next hop towards dst. libzdd probes a missing neighbour but has been seen to
 * fail with EIO on the lookup that follows the probe: the neighbour is resolved by then, so
 * ask again a few times. */
static int next_hop_mac(int ifindex, const __u8 dst[16], __u8 mac[6])
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	int err, i;

	for (i = 0;; i++) {
		err = zdd_nl_next_hop_mac(ifindex, dst, mac);
		if (!err || i == 5 || err == -ENODEV || err == -EXDEV || err == -ENETUNREACH)
			return err;
		pr_info("zdd-pktgen: next hop lookup: %s, again\n", strerror(-err));
		nanosleep(&tick, NULL);
	}
}

int main(int argc, char **argv)
{
	struct opts o = {};
	struct zdd_iface ifc = {};
	struct layout lay = {};
	struct zdd_pktgen *skel = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	static __u8 frame[MAX_FRAME];
	int err, ncpus;

	err = parse_args(argc, argv, &o);
	if (err)
		return err;
	if (o.iface) {
		err = zdd_nl_iface(o.iface, &ifc);
		if (err)
			return log_err(err, "interface %s", o.iface), 1;
		if (!o.have_dst_mac) {
			err = next_hop_mac(ifc.ifindex, o.dst, o.dst_mac);
			if (err)
				return log_err(err, "next hop MAC towards --dst (give --dst-mac)"),
				       1;
		}
	}
	build_frame(&o, ifc.mac, frame, &lay);
	if (o.iface && ifc.mtu && lay.len - sizeof(struct ethhdr) > ifc.mtu)
		return usage_error("%u-byte frames exceed the MTU of %s (%u)", lay.len, o.iface,
				   ifc.mtu);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0)
		return log_err(ncpus, "count CPUs"), 1;
	err = load_prog(&o, &lay, frame, ncpus, &skel);
	if (err)
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_wake;
	sigaction(SIGUSR1, &sa, NULL);
	if (o.check)
		err = check_frames(&o, &lay, bpf_program__fd(skel->progs.zdd_xdp_pktgen), frame);
	else
		err = generate(&o, &lay, skel, &ifc, frame);
	zdd_pktgen__destroy(skel);
	return err ? 1 : 0;
}
