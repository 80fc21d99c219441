// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/addr.c - see addr.h. Strict: anything not exactly one of the documented forms
 * is -EINVAL, so a typo never becomes a different service. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"

static const __u8 v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool zdd_addr_is_v4(const __u8 addr[16])
{
	return !memcmp(addr, v4_prefix, sizeof(v4_prefix));
}

bool zdd_addr_is_zero(const __u8 addr[16])
{
	static const __u8 zero[16];

	return !memcmp(addr, zero, sizeof(zero));
}

int zdd_addr_parse(const char *s, __u8 addr[16])
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		memcpy(addr, v4_prefix, sizeof(v4_prefix));
		memcpy(addr + 12, &a4, 4);
		return 0;
	}
	/* "::ffff:a.b.c.d" would alias an IPv4 address: accept IPv4 in its own notation only. */
	if (inet_pton(AF_INET6, s, &a6) == 1 && !zdd_addr_is_v4(a6.s6_addr)) {
		memcpy(addr, &a6, 16);
		return 0;
	}
	return -EINVAL;
}

void zdd_addr_format(const __u8 addr[16], char *buf, size_t len)
{
	if (zdd_addr_is_v4(addr))
		inet_ntop(AF_INET, addr + 12, buf, len);
	else
		inet_ntop(AF_INET6, addr, buf, len);
}

static int parse_port(const char *s, size_t n, __be16 *port)
{
	char digits[6];
	unsigned long v;
	char *end;

	if (n == 0 || n >= sizeof(digits) || s[0] == '0')
		return -EINVAL;
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (strspn(digits, "0123456789") != n)
		return -EINVAL;
	v = strtoul(digits, &end, 10);
	if (*end || v == 0 || v > 65535)
		return -EINVAL;
	*port = htons((__u16)v);
	return 0;
}

int zdd_service_parse(const char *s, struct zdd_service_key *key)
{
	char host[ZDD_ADDR_STRLEN];
	const char *colon, *slash, *h = s;
	size_t hlen;

	memset(key, 0, sizeof(*key));
	slash = strrchr(s, '/');
	if (!slash)
		return -EINVAL;
	if (!strcmp(slash + 1, "tcp"))
		key->proto = IPPROTO_TCP;
	else if (!strcmp(slash + 1, "udp"))
		key->proto = IPPROTO_UDP;
	else
		return -EINVAL;
	if (s[0] == '[') {
		colon = memchr(s, ']', slash - s);
		if (!colon || colon[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = colon - h;
		colon++;
	} else {
		colon = memchr(s, ':', slash - s);
		if (!colon)
			return -EINVAL;
		hlen = colon - s;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	/* IPv6 must be bracketed, IPv4 must not: "fd00::1:80/tcp" is ambiguous. */
	if (zdd_addr_parse(host, key->addr) || zdd_addr_is_v4(key->addr) != (s[0] != '['))
		return -EINVAL;
	return parse_port(colon + 1, slash - colon - 1, &key->port);
}

void zdd_service_format(const struct zdd_service_key *key, char *buf, size_t len)
{
	char host[ZDD_ADDR_STRLEN];
	bool v4 = zdd_addr_is_v4(key->addr);

	zdd_addr_format(key->addr, host, sizeof(host));
	snprintf(buf, len, "%s%s%s:%u/%s", v4 ? "" : "[", host, v4 ? "" : "]", ntohs(key->port),
		 key->proto == IPPROTO_UDP ? "udp" : "tcp");
}

int zdd_prefix_parse(const char *s, struct zdd_prefix_key *p)
{
	char host[ZDD_ADDR_STRLEN];
	const char *slash = strchr(s, '/'), *d;
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s), n;
	unsigned long len;
	unsigned int bit;

	memset(p, 0, sizeof(*p));
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (zdd_addr_parse(host, p->addr))
		return -EINVAL;
	len = zdd_addr_is_v4(p->addr) ? 32 : 128;
	if (slash) {
		/* Digits only, no leading zero: strtoul would take " 24", "+24" and "024". */
		d = slash + 1;
		n = strlen(d);
		if (!n || n > 3 || strspn(d, "0123456789") != n || (d[0] == '0' && n > 1) ||
		    strtoul(d, NULL, 10) > len)
			return -EINVAL;
		len = strtoul(d, NULL, 10);
	}
	p->prefixlen = (__u32)len + (zdd_addr_is_v4(p->addr) ? 96 : 0);
	for (bit = p->prefixlen; bit < 128; bit++)
		if (p->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -EINVAL;
	return 0;
}

void zdd_prefix_format(const struct zdd_prefix_key *p, char *buf, size_t len)
{
	char host[ZDD_ADDR_STRLEN];
	bool v4 = zdd_addr_is_v4(p->addr) && p->prefixlen >= 96;

	/* ::/0 holds the IPv4 space too: it is written as IPv6. */
	if (v4)
		inet_ntop(AF_INET, p->addr + 12, host, sizeof(host));
	else
		inet_ntop(AF_INET6, p->addr, host, sizeof(host));
	snprintf(buf, len, "%s/%u", host, p->prefixlen - (v4 ? 96 : 0));
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly xx:xx:xx:xx:xx:xx in hex digits: scanf's %x would take signs, spaces and 0x. */
int zdd_mac_parse(const char *s, __u8 mac[6])
{
	__u8 out[6];
	int i, hi, lo;

	if (strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		hi = hex_digit(s[3 * i]);
		lo = hex_digit(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		out[i] = (__u8)(hi << 4 | lo);
	}
	memcpy(mac, out, 6);
	return 0;
}

void zdd_mac_format(const __u8 mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}
