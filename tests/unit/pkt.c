// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/pkt.c - see pkt.h. */
#include <arpa/inet.h>
#include <assert.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include "pkt.h"

const __u8 LB_MAC[6] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x01 };
const __u8 CLIENT_MAC[6] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x02 };

__u16 csum_fold_sum(const void *data, __u32 len, __u32 sum)
{
	const __u8 *b = data;
	__u32 i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	if (len & 1)
		sum += b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((__u16)~sum);
}

static int is_v4(const struct pkt *p)
{
	return p->data[p->l3_off] >> 4 == 4;
}

static __u32 l4_len(const struct pkt *p)
{
	return p->len - p->l4_off;
}

__u32 csum_pseudo(const __u8 *l3, __u32 len, __u8 proto)
{
	int v4 = l3[0] >> 4 == 4, i, alen = v4 ? 4 : 16;
	__u32 sum = proto + len;

	for (i = 0; i < 2 * alen; i += 2)
		sum += (l3[(v4 ? 12 : 8) + i] << 8) | l3[(v4 ? 12 : 8) + i + 1];
	return sum;
}

/* Checksum over the pseudo-header and the transport segment (check field zeroed first). */
static __u16 l4_csum(struct pkt *p)
{
	__u8 *l3 = p->data + p->l3_off;
	__u32 len = l4_len(p);

	return csum_fold_sum(p->data + p->l4_off, len,
			     csum_pseudo(l3, len, is_v4(p) ? l3[9] : l3[6]));
}

void pkt_fix_csums(struct pkt *p)
{
	__u8 *l3 = p->data + p->l3_off;
	__u8 proto = is_v4(p) ? l3[9] : l3[6];
	struct iphdr *iph = (struct iphdr *)l3;
	__u16 *check;

	if (is_v4(p)) {
		iph->check = 0;
		iph->check = csum_fold_sum(iph, iph->ihl * 4, 0);
	}
	if (proto == IPPROTO_TCP)
		check = &((struct tcphdr *)(p->data + p->l4_off))->check;
	else if (proto == IPPROTO_UDP)
		check = &((struct udphdr *)(p->data + p->l4_off))->check;
	else if ((is_v4(p) && proto == IPPROTO_ICMP) || (!is_v4(p) && proto == IPPROTO_ICMPV6))
		check = (__u16 *)(p->data + p->l4_off + 2);
	else
		return;
	if (p->len < p->l4_off + 4)
		return; /* too short to hold its checksum */
	*check = 0;
	/* ICMP sums its message alone; TCP, UDP and ICMPv6 a pseudo-header too. */
	*check = proto == IPPROTO_ICMP ? csum_fold_sum(p->data + p->l4_off, l4_len(p), 0)
				       : l4_csum(p);
}

static void fix_lengths(struct pkt *p)
{
	__u8 *l3 = p->data + p->l3_off;

	if (is_v4(p))
		((struct iphdr *)l3)->tot_len = htons(p->len - p->l3_off);
	else
		((struct ipv6hdr *)l3)->payload_len = htons(p->len - p->l3_off - 40);
	if ((is_v4(p) ? l3[9] : l3[6]) == IPPROTO_UDP)
		((struct udphdr *)(p->data + p->l4_off))->len = htons(l4_len(p));
	pkt_fix_csums(p);
}

struct pkt pkt_ip(const char *saddr, const char *daddr, __u8 proto, __u32 payload)
{
	struct pkt p = {};
	struct ethhdr *eth = (struct ethhdr *)p.data;
	int v4 = !strchr(saddr, ':');

	memcpy(eth->h_dest, LB_MAC, 6);
	memcpy(eth->h_source, CLIENT_MAC, 6);
	eth->h_proto = htons(v4 ? ETH_P_IP : ETH_P_IPV6);
	p.l3_off = sizeof(*eth);
	if (v4) {
		struct iphdr *iph = (struct iphdr *)(p.data + p.l3_off);

		iph->version = 4;
		iph->ihl = 5;
		iph->tos = 0x28; /* a DSCP value, to see it copied */
		iph->id = htons(0x1234);
		iph->ttl = 61;
		iph->protocol = proto;
		assert(inet_pton(AF_INET, saddr, &iph->saddr) == 1);
		assert(inet_pton(AF_INET, daddr, &iph->daddr) == 1);
		p.l4_off = p.l3_off + sizeof(*iph);
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(p.data + p.l3_off);

		ip6->version = 6;
		ip6->priority = 0x2;
		ip6->flow_lbl[0] = 0x80;
		ip6->flow_lbl[2] = 0x42;
		ip6->nexthdr = proto;
		ip6->hop_limit = 61;
		assert(inet_pton(AF_INET6, saddr, &ip6->saddr) == 1);
		assert(inet_pton(AF_INET6, daddr, &ip6->daddr) == 1);
		p.l4_off = p.l3_off + sizeof(*ip6);
	}
	p.len = p.l4_off + payload;
	fix_lengths(&p);
	return p;
}

struct pkt pkt_tcp(const char *saddr, __u16 sport, const char *daddr, __u16 dport, __u8 flags)
{
	struct pkt p = pkt_ip(saddr, daddr, IPPROTO_TCP, 0);
	struct tcphdr *th = (struct tcphdr *)(p.data + p.l4_off);

	th->source = htons(sport);
	th->dest = htons(dport);
	th->seq = htonl(1000);
	th->ack_seq = htonl(flags & TH_ACK ? 2000 : 0);
	th->doff = 5;
	((__u8 *)th)[13] = flags;
	th->window = htons(64240);
	p.len = p.l4_off + sizeof(*th);
	fix_lengths(&p);
	return p;
}

struct pkt pkt_udp(const char *saddr, __u16 sport, const char *daddr, __u16 dport)
{
	struct pkt p = pkt_ip(saddr, daddr, IPPROTO_UDP, 0);
	struct udphdr *uh = (struct udphdr *)(p.data + p.l4_off);

	uh->source = htons(sport);
	uh->dest = htons(dport);
	p.len = p.l4_off + sizeof(*uh);
	fix_lengths(&p);
	return p;
}

struct pkt pkt_icmp(const char *saddr, const char *daddr, __u8 type, __u8 code, __u32 rest,
		    const void *body, __u32 len)
{
	int v4 = !strchr(saddr, ':');
	struct pkt p = pkt_ip(saddr, daddr, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, 8 + len);
	__u8 *h = p.data + p.l4_off;

	h[0] = type;
	h[1] = code;
	rest = htonl(rest);
	memcpy(h + 4, &rest, 4);
	memcpy(h + 8, body, len);
	pkt_fix_csums(&p);
	return p;
}

void pkt_payload(struct pkt *p, __u32 bytes)
{
	__u32 i;

	assert(p->len + bytes <= PKT_MAX);
	for (i = 0; i < bytes; i++)
		p->data[p->len + i] = (__u8)(i * 7 + 1);
	p->len += bytes;
	fix_lengths(p);
}

void pkt_insert(struct pkt *p, __u32 off, const void *bytes, __u32 n)
{
	assert(p->len + n <= PKT_MAX && off <= p->len);
	memmove(p->data + off + n, p->data + off, p->len - off);
	memcpy(p->data + off, bytes, n);
	p->len += n;
	if (p->l4_off >= off)
		p->l4_off += n;
}

void pkt_vlan(struct pkt *p, __u16 tpid, __u16 tci)
{
	__u16 tag[2] = { htons(tpid), htons(tci) };

	assert(p->len + 4 <= PKT_MAX);
	memmove(p->data + 16, p->data + 12, p->len - 12);
	memcpy(p->data + 12, tag, 4);
	p->len += 4;
	p->l3_off += 4;
	p->l4_off += 4;
}
