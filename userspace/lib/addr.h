/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/addr.h - addresses and services as operators write them, and back:
 * "198.18.0.10", "fd00::5", "198.18.0.10:80/tcp", "[fd00:5a::10]:443/udp", "fd00:2::/64". */
#ifndef ZDD_ADDR_H
#define ZDD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "zdd_abi.h"

#define ZDD_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */
#define ZDD_SVC_STRLEN	64

/* Parses an IPv4 or IPv6 address into the 16-byte form (IPv4 mapped). 0 or -EINVAL. */
int zdd_addr_parse(const char *s, __u8 addr[16]);
void zdd_addr_format(const __u8 addr[16], char *buf, size_t len);
bool zdd_addr_is_v4(const __u8 addr[16]);
bool zdd_addr_is_zero(const __u8 addr[16]);

/* Parses ADDR:PORT/PROTO (IPv6 in brackets; port 1..65535; proto tcp or udp). */
int zdd_service_parse(const char *s, struct zdd_service_key *key);
void zdd_service_format(const struct zdd_service_key *key, char *buf, size_t len);

/*
 * Parses ADDR/LEN, or ADDR alone for one host (/32, /128), into an LPM key: IPv4 mapped, its
 * length + 96. Bits set after the prefix are -EINVAL: "198.18.2.2/24" is a typo for /32 or
 * for 198.18.2.0/24, and guessing which would trust the wrong hosts.
 */
#define ZDD_PREFIX_STRLEN (ZDD_ADDR_STRLEN + 4)
int zdd_prefix_parse(const char *s, struct zdd_prefix_key *p);
void zdd_prefix_format(const struct zdd_prefix_key *p, char *buf, size_t len);

int zdd_mac_parse(const char *s, __u8 mac[6]);
void zdd_mac_format(const __u8 mac[6], char *buf, size_t len);

#endif /* ZDD_ADDR_H */
