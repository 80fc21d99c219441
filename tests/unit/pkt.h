/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tests/unit/pkt.h - builders of the frames the tests feed to the programs: Ethernet (+VLAN),
 * IPv4 / IPv6, TCP / UDP, with valid checksums, so a test only states what it varies. */
#ifndef ZDD_TEST_PKT_H
#define ZDD_TEST_PKT_H

#include <linux/types.h>

#define PKT_MAX 2048

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

/* The LB's own MAC (the frames are sent to it) and the client's. */
extern const __u8 LB_MAC[6];
extern const __u8 CLIENT_MAC[6];

/* data is placed 2 bytes off a 4-byte boundary, so the IP header after 14 (or 18) bytes of
 * Ethernet is aligned, as NET_IP_ALIGN does in drivers: the tests cast headers freely. */
struct pkt {
	__u32 len;
	__u32 l3_off; /* where the IP header starts */
	__u32 l4_off;
	__u8 headroom[2];
	__u8 data[PKT_MAX];
};

/* addresses are IPv4 or IPv6 text; the family of both must match */
struct pkt pkt_tcp(const char *saddr, __u16 sport, const char *daddr, __u16 dport, __u8 flags);
struct pkt pkt_udp(const char *saddr, __u16 sport, const char *daddr, __u16 dport);
/* an IP packet with payload zero bytes of protocol proto after the IP header */
struct pkt pkt_ip(const char *saddr, const char *daddr, __u8 proto, __u32 payload);
/* an ICMP (IPv4) or ICMPv6 message: type, code, the 4 bytes after the checksum (host order),
 * then len bytes of body; checksum set */
struct pkt pkt_icmp(const char *saddr, const char *daddr, __u8 type, __u8 code, __u32 rest,
		    const void *body, __u32 len);
/* inserts n bytes at off (the l4 offset moves if it was at or after off); no fix-ups */
void pkt_insert(struct pkt *p, __u32 off, const void *bytes, __u32 n);
/* payload bytes appended to a TCP or UDP packet (lengths and checksums fixed up) */
void pkt_payload(struct pkt *p, __u32 bytes);
/* inserts an 802.1Q (or 802.1ad) tag after the MACs */
void pkt_vlan(struct pkt *p, __u16 tpid, __u16 tci);
/* recomputes the IPv4 header and TCP, UDP or ICMP checksums after a test edited fields */
void pkt_fix_csums(struct pkt *p);
/* the Internet checksum of len bytes plus sum, in network order: 0 when data holds a valid one */
__u16 csum_fold_sum(const void *data, __u32 len, __u32 sum);
/* the sum of the pseudo-header of an IPv4 or IPv6 header l3, for len bytes of protocol proto */
__u32 csum_pseudo(const __u8 *l3, __u32 len, __u8 proto);

#endif /* ZDD_TEST_PKT_H */
