// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/fuzz/fuzz_args.c - libFuzzer target for the parsers of what operators type: the first
 * byte picks zdd_addr_parse, zdd_service_parse, zdd_mac_parse, zdd_percent_parse,
 * zdd_duration_parse or zdd_prefix_parse, the rest is the string. A rejected string leaves the output untouched;
 * an accepted one is exactly a documented form and survives format -> parse unchanged. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "addr.h"
#include "conffile.h"

enum { P_ADDR, P_SERVICE, P_MAC, P_PERCENT, P_DURATION, P_PREFIX, P_MAX };

#define FILLER 0xa5

/* Aborts with the input quoted, so the crash report says which rule broke on what. */
#define CHECK(cond, s)                                                                       \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_args: %s:%d: %s fails for \"%s\"\n", __FILE__, \
				__LINE__, #cond, s);                                         \
			abort();                                                             \
		}                                                                            \
	} while (0)

static bool untouched(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		if (*b++ != FILLER)
			return false;
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The decimal grammar conffile.h documents, written again: digits without a leading zero (a
 * lone 0 is fine), optionally a point and at least one digit. Returns the end or NULL; the
 * value is ipart + frac / 10^fdigits, with at most 18 integer digits kept (more: *big).
 */
static const char *decimal(const char *s, unsigned long long *ipart, unsigned long long *frac,
			   int *fdigits, bool *big)
{
	int n = 0;

	*ipart = *frac = 0;
	*fdigits = 0;
	*big = false;
	if (!is_digit(*s) || (s[0] == '0' && is_digit(s[1])))
		return NULL;
	for (; is_digit(*s); s++, n++) {
		if (n == 18)
			*big = true;
		else
			*ipart = *ipart * 10 + (unsigned long long)(*s - '0');
	}
	if (*s != '.')
		return s;
	if (!is_digit(*++s))
		return NULL;
	for (; is_digit(*s); s++, (*fdigits)++)
		if (*fdigits < 18)
			*frac = *frac * 10 + (unsigned long long)(*s - '0');
	return s;
}

static unsigned long long pow10u(int n)
{
	unsigned long long v = 1;

	while (n-- > 0)
		v *= 10;
	return v;
}

static void addr(const char *s)
{
	__u8 a[16], again[16];
	char buf[ZDD_ADDR_STRLEN];
	struct in_addr a4;
	int rc;

	memset(a, FILLER, sizeof(a));
	rc = zdd_addr_parse(s, a);
	CHECK(rc == 0 || rc == -EINVAL, s);
	if (rc) {
		CHECK(untouched(a, sizeof(a)), s);
		return;
	}
	/* IPv4 only in its own notation: ::ffff:a.b.c.d is refused. */
	CHECK(zdd_addr_is_v4(a) == (inet_pton(AF_INET, s, &a4) == 1), s);
	zdd_addr_format(a, buf, sizeof(buf));
	CHECK(zdd_addr_parse(buf, again) == 0 && !memcmp(a, again, 16), s);
}

static void service(const char *s)
{
	struct zdd_service_key key, again;
	char buf[ZDD_SVC_STRLEN];
	int rc;

	memset(&key, FILLER, sizeof(key));
	rc = zdd_service_parse(s, &key);
	CHECK(rc == 0 || rc == -EINVAL, s);
	if (rc)
		return;
	CHECK(key.port != 0 && key.pad == 0, s);
	CHECK(key.proto == IPPROTO_TCP || key.proto == IPPROTO_UDP, s);
	/* IPv6 in brackets, IPv4 without: the first character tells the family. */
	CHECK(zdd_addr_is_v4(key.addr) == (s[0] != '['), s);
	zdd_service_format(&key, buf, sizeof(buf));
	CHECK(zdd_service_parse(buf, &again) == 0 && !memcmp(&key, &again, sizeof(key)), s);
}

static void mac(const char *s)
{
	__u8 m[6];
	char buf[18];
	int rc;

	memset(m, FILLER, sizeof(m));
	rc = zdd_mac_parse(s, m);
	CHECK(rc == 0 || rc == -EINVAL, s);
	if (rc) {
		CHECK(untouched(m, sizeof(m)), s);
		return;
	}
	/* Strict, like every parser in addr.c: six two-digit hex bytes and colons, nothing else
	 * (no sign, space or 0x that sscanf() would let through). */
	zdd_mac_format(m, buf, sizeof(buf));
	CHECK(!strcasecmp(buf, s), s);
}

static void percent(const char *s)
{
	unsigned long long ip, fr;
	const char *end;
	int fd, rc;
	bool big, ok;
	__u16 bp, again;
	char buf[16];

	end = decimal(s, &ip, &fr, &fd, &big);
	ok = end && !*end && !big && fd <= 2 && ip <= 100 &&
	     ip * 100 + fr * pow10u(2 - fd) <= ZDD_MAX_WEIGHT_BP;
	memset(&bp, FILLER, sizeof(bp));
	rc = zdd_percent_parse(s, &bp);
	CHECK(rc == 0 || rc == -EINVAL, s);
	CHECK(ok == !rc, s);
	if (rc) {
		CHECK(untouched(&bp, sizeof(bp)), s);
		return;
	}
	CHECK(bp == ip * 100 + fr * pow10u(2 - fd), s);
	snprintf(buf, sizeof(buf), "%u.%02u", bp / 100, bp % 100);
	CHECK(zdd_percent_parse(buf, &again) == 0 && again == bp, s);
}

static void duration(const char *s)
{
	unsigned long long ip, fr, mult = 0, scaled, v = 0;
	const char *unit;
	int fd, rc;
	bool big, exact = false, fits = false;
	__u32 ms;

	unit = decimal(s, &ip, &fr, &fd, &big);
	if (unit && !strcmp(unit, "ms"))
		mult = 1;
	else if (unit && (!strcmp(unit, "s") || !*unit))
		mult = 1000;
	else if (unit && !strcmp(unit, "m"))
		mult = 60000;
	if (mult && !big && fd <= 9 && ip <= 1000000000000ULL) {
		scaled = fr * mult;
		exact = scaled % pow10u(fd) == 0;
		v = ip * mult + scaled / pow10u(fd);
		fits = v <= UINT32_MAX;
	}
	memset(&ms, FILLER, sizeof(ms));
	rc = zdd_duration_parse(s, &ms);
	CHECK(rc == 0 || rc == -EINVAL, s);
	if (rc) {
		CHECK(untouched(&ms, sizeof(ms)), s);
		/* Refused: garbage, a fraction of a millisecond, too long, or more digits than
		 * the parser keeps (beyond 9 decimals or 10^12: never a useful duration). */
		CHECK(!(exact && fits), s);
		return;
	}
	CHECK(mult && exact && fits && ms == v, s);
}

static void prefix(const char *s)
{
	struct zdd_prefix_key p, again;
	char buf[ZDD_PREFIX_STRLEN];
	unsigned int bit;
	int rc;

	rc = zdd_prefix_parse(s, &p);
	CHECK(rc == 0 || rc == -EINVAL, s);
	if (rc)
		return;
	/* IPv4 keys are mapped, their length 96 + the operator's; nothing after the prefix. */
	CHECK(p.prefixlen <= 128, s);
	CHECK(!zdd_addr_is_v4(p.addr) || p.prefixlen >= 96, s);
	for (bit = p.prefixlen; bit < 128; bit++)
		CHECK(!(p.addr[bit / 8] & (0x80 >> (bit % 8))), s);
	zdd_prefix_format(&p, buf, sizeof(buf));
	CHECK(zdd_prefix_parse(buf, &again) == 0 && !memcmp(&p, &again, sizeof(p)), s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (!size)
		return 0;
	/* An exact-size copy: ASan catches a read past the terminating NUL. */
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % P_MAX) {
	case P_ADDR:
		addr(s);
		break;
	case P_SERVICE:
		service(s);
		break;
	case P_MAC:
		mac(s);
		break;
	case P_PERCENT:
		percent(s);
		break;
	case P_DURATION:
		duration(s);
		break;
	default:
		prefix(s);
		break;
	}
	free(s);
	return 0;
}
