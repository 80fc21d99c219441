#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-tunnel-health.sh - the tunnel on real networks (issue #15): a backend's
# zdd_decap strips tunnels from the balancer's addresses only (`decap attach --from`), and a
# tunnel a client crafts (any inner source it likes) is dropped and counted at the backend.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zv}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require
lab_require_cmd python3 jq
tap_plan 7

SPOOFS=5		# crafted tunnels per family and check
SPOOF_INNER4=198.18.1.77	# the client address the attacker pretends to be
SPOOF_INNER6=fd00:1::77

# spoof NAME: from the client, SPOOFS IPv4-in-IPv4 and SPOOFS IPv6-in-IPv6 packets to backend
# NAME's own addresses, each holding a TCP SYN from SPOOF_INNER4/6 to the service. The kernel
# writes the outer header (raw socket of protocol 4 or 41): its source is the client's own.
spoof()
{
	local b=$1
	lab_exec client python3 - "$(lab_addr4 "$b")" "$(lab_addr6 "$b")" "$SPOOF_INNER4" \
		"$SPOOF_INNER6" "$LAB_VIP4" "$LAB_VIP6" "$LAB_PORT" "$SPOOFS" <<'PY'
import socket, struct, sys

to4, to6, src4, src6, vip4, vip6, port, n = sys.argv[1:9]

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xffff) + (s >> 16)
    return ~((s & 0xffff) + (s >> 16)) & 0xffff

def syn(pseudo):
    tcp = struct.pack("!HHIIBBHHH", 40000, int(port), 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    return tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]

def send(family, proto, to, packet):
    with socket.socket(family, socket.SOCK_RAW, proto) as sk:
        for _ in range(int(n)):
            sk.sendto(packet, (to, 0))

s, d = socket.inet_aton(src4), socket.inet_aton(vip4)
tcp = syn(s + d + struct.pack("!BBH", 0, 6, 20))
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, s, d)
send(socket.AF_INET, 4, to4, ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + tcp)

s, d = (socket.inet_pton(socket.AF_INET6, a) for a in (src6, vip6))
tcp = syn(s + d + struct.pack("!I3xB", 20, 6))
send(socket.AF_INET6, 41, to6, struct.pack("!IHBB16s16s", 6 << 28, 20, 6, 64, s, d) + tcp)
PY
}

# counter NAME COUNTER: one of backend NAME's decap counters.
counter() { lab_ctl_on "$1" -j decap status | jq -r ".counters.$2"; }

# spoofs_counted NAME COUNTER...: SPOOFS x 2 crafted tunnels to NAME move COUNTER (summed)
# by exactly that many; the other decap counters not at all.
spoofs_counted()
{
	local b=$1 before after c sum0=0 sum1=0
	shift
	before=$(lab_ctl_on "$b" -j decap status) || return 1
	spoof "$b" || return 1
	sleep 0.3
	after=$(lab_ctl_on "$b" -j decap status) || return 1
	for c in "$@"; do
		sum0=$((sum0 + $(jq -r ".counters.$c" <<<"$before")))
		sum1=$((sum1 + $(jq -r ".counters.$c" <<<"$after")))
	done
	echo "$* before $sum0, after $sum1; before $(jq -c .counters <<<"$before")," \
		"after $(jq -c .counters <<<"$after")"
	((sum1 - sum0 == 2 * SPOOFS))
}

status_names_the_lb()
{
	local st
	st=$(lab_ctl_on g1 -j decap status) || return 1
	echo "$st"
	[[ $(jq -c .from <<<"$st") == "[\"$LAB_LB4/32\",\"$LAB_LB6/128\"]" &&
		$(jq -r .any_source <<<"$st") == false &&
		$(jq -c .interfaces <<<"$st") == "[\"$LAB_BACKEND_DEV\"]" ]]
}

clients_get_through()
{
	lab_curl "$LAB_VIP4" / && lab_curl "$LAB_VIP6" /
}

# Without --from, the hole the option closes: a crafted tunnel is stripped, and said so.
any_source_takes_spoofs()
{
	local err
	err=$(lab_ctl_on g1 decap attach "$LAB_BACKEND_DEV" 2>&1 >/dev/null) || return 1
	echo "stderr: $err"
	[[ $err == *"accepts tunnels from any source"* && $(wc -l <<<"$err") -eq 1 ]] || return 1
	[[ $(lab_ctl_on g1 -j decap status | jq -r .any_source) == true ]] || return 1
	spoofs_counted g1 decap_ipip decap_ip6ip6
}

tap_check "lab up" lab_up
tap_check "zdd up, decap on every backend --from the lb's addresses" lab_zdd_up
tap_check "decap status on g1 names the lb's addresses, not any source" status_names_the_lb
tap_check "clients get through the tunnel (IPv4 and IPv6)" clients_get_through
tap_check "tunnels crafted by the client to g1 are dropped, counted drop_foreign_source" \
	spoofs_counted g1 drop_foreign_source
tap_check "decap attach without --from warns once, and then takes the crafted tunnels" \
	any_source_takes_spoofs
tap_check "decap attach --from again: the set is replaced, crafted tunnels dropped again" \
	eval 'lab_decap_attach g1 >/dev/null && spoofs_counted g1 drop_foreign_source'
tap_done
