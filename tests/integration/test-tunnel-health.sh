#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-tunnel-health.sh - the tunnel on real networks (issue #15): a backend's
# zdd_decap strips tunnels from the balancer's addresses only (`decap attach --from`), and a
# tunnel a client crafts (any inner source it likes) is dropped and counted at the backend.
# Then the agent's health checks through the tunnel: a backend whose zdd_decap is gone still
# answers its direct check, and is taken down all the same, by its tunnel check, within
# MAX_DOWN_MS; back up once zdd_decap is back. Likewise a backend behind a link 20 bytes short
# of what the tunnel adds to a full-size packet (clients' uploads would stall there): the
# tunnel probe fills the balancer's MTU. (Skipped where zdd-agent does not run the tunnel
# checks: it says so in its log when it does.)
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zv}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require
lab_require_cmd python3 jq
tap_plan 19

SPOOFS=5		# crafted tunnels per family and check
SPOOF_INNER4=198.18.1.77	# the client address the attacker pretends to be
SPOOF_INNER6=fd00:1::77
MAX_DOWN_MS=3000	# from zdd_decap detached to the backend taken down (checks every 500 ms,
			# timeout 300 ms, fall 2: about 1 s)
G1_4=${LAB_GREEN4[0]}
G1_6=${LAB_GREEN6[0]}
G2_4=${LAB_GREEN4[1]}
G2_6=${LAB_GREEN6[1]}

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

# --- health through the tunnel ------------------------------------------------------------------

TUNNEL=""	# why the tunnel checks are skipped, empty when they run

agent_up()
{
	lab_agent_conf "$LAB_DIR/zdd.yaml" && lab_agent_start "$LAB_DIR/zdd.yaml" || return 1
	grep -q "through the tunnel" "$LAB_DIR/agent.log" ||
		TUNNEL="zdd-agent runs no health checks through the tunnel (its log does not say so)"
	return 0
}

# states SVC: "ADDR STATE" per backend of SVC, as the maps have them.
states() { lab_ctl -j backend list "$1" | jq -r '.[] | .address + " " + .state' | sort; }

# all_up SECS: every backend of both services up in the maps, within SECS.
all_up()
{
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		[[ $(states "$LAB_SVC4" "$LAB_SVC6" | grep -vc " up$") == 0 &&
			$( (states "$LAB_SVC4"; states "$LAB_SVC6") | grep -c " up$") == 8 ]] && return 0
		sleep 0.1
	done
	states "$LAB_SVC4"
	states "$LAB_SVC6"
	return 1
}

# The probes really go through the tunnel: g1's zdd_decap strips them, with no client about.
probes_tunnelled()
{
	local a b
	a=$(lab_ctl_on g1 -j decap status | jq '.counters.decap_ipip + .counters.decap_ip6ip6')
	sleep 1.2
	b=$(lab_ctl_on g1 -j decap status | jq '.counters.decap_ipip + .counters.decap_ip6ip6')
	echo "g1 stripped $((b - a)) tunnelled packets in 1.2 s"
	((b - a >= 4))
}

# took_ms TEXT LINE T0: ms from T0 to the agent's first line holding TEXT after line LINE,
# waiting for it MAX_DOWN_MS at most; nothing when it never came.
took_ms()
{
	local i at re
	re=${1//\[/\\[} # IPv6 services are bracketed
	re=${re//\]/\\]}
	for ((i = 0; i < MAX_DOWN_MS / 100 + 10; i++)); do
		at=$(lab_agent_log_ms "$re" "$2")
		[[ -n $at ]] && { echo $((at - $3)); return 0; }
		sleep 0.1
	done
}

DOWN4="" DOWN6=""

# changed STATE ADDR4 ADDR6 CMD...: runs CMD, then DOWN4 and DOWN6 (or UP4 and UP6, by STATE:
# failing or healthy) are the ms until the agent said so of ADDR4 and ADDR6; LOG_FROM is the
# log's line count before.
changed()
{
	local state=$1 a4=$2 a6=$3 t0 d4 d6
	shift 3
	LOG_FROM=$(wc -l <"$LAB_DIR/agent.log")
	t0=$(date +%s%3N)
	"$@" >/dev/null || return 1
	d4=$(took_ms "$LAB_SVC4: backend $a4 is $state" "$LOG_FROM" "$t0")
	d6=$(took_ms "$LAB_SVC6: backend $a6 is $state" "$LOG_FROM" "$t0")
	if [[ $state == failing ]]; then
		DOWN4=$d4 DOWN6=$d6
	else
		UP4=$d4 UP6=$d6
	fi
}

in_time() { [[ -n $1 ]] && (($1 <= MAX_DOWN_MS)); }
down_in_time() { in_time "$DOWN4" && in_time "$DOWN6"; }
up_in_time() { in_time "$UP4" && in_time "$UP6" && all_up 1; }

# tunnel_named ADDR4 ADDR6: since LOG_FROM, the log says which check failed: the tunnel's,
# while the direct one passes.
tunnel_named()
{
	local addr
	for addr in "$@"; do
		tail -n +"$((LOG_FROM + 1))" "$LAB_DIR/agent.log" |
			grep -q "backend $addr: the tunnel check fails (.*); the direct check passes" ||
			{ tail -n +"$((LOG_FROM + 1))" "$LAB_DIR/agent.log"; return 1; }
	done
}

# checks_metric ADDR...: zdd_backend_check_up of each: tunnel 0, direct 1.
checks_metric()
{
	local m addr
	m=$(lab_exec lb curl -s --max-time 2 "http://127.0.0.1:9334/metrics")
	for addr in "$@"; do
		if ! grep -q "^zdd_backend_check_up{.*backend=\"$addr\",check=\"tunnel\"} 0$" <<<"$m" ||
			! grep -q "^zdd_backend_check_up{.*backend=\"$addr\",check=\"direct\"} 1$" <<<"$m"; then
			grep "zdd_backend_check_up" <<<"$m"
			return 1
		fi
	done
}

# status_names_tunnel ADDR...: zdd-bpfctl status (the agent's socket) says, under each, that
# the tunnel check fails and why, and the direct one passes; --json has the same.
status_names_tunnel()
{
	local out json addr
	out=$(lab_ctl status --socket "$LAB_DIR/agent.sock")
	json=$(lab_ctl -j status --socket "$LAB_DIR/agent.sock")
	for addr in "$@"; do
		if ! grep -A1 " $addr " <<<"$out" |
			grep -q 'health: direct check passes; tunnel check fails (.\+)' ||
			! jq -e --arg a "$addr" '[.services[].backends[] | select(.address == $a)] |
				all(.checks.tunnel.state == "down" and .checks.direct.state == "up")' \
				<<<"$json" >/dev/null; then
			echo "$out"
			return 1
		fi
	done
}

# g1 down in the maps for both services, the other backends up; clients still served.
only_g1_down()
{
	local want4 want6
	want4=$(for a in "${LAB_BACKENDS4[@]}"; do
		[[ $a == "$G1_4" ]] && echo "$a down" || echo "$a up"; done | sort)
	want6=$(for a in "${LAB_BACKENDS6[@]}"; do
		[[ $a == "$G1_6" ]] && echo "$a down" || echo "$a up"; done | sort)
	[[ $(states "$LAB_SVC4") == "$want4" && $(states "$LAB_SVC6") == "$want6" ]] ||
		{ states "$LAB_SVC4"; states "$LAB_SVC6"; return 1; }
	clients_get_through
}

UP4="" UP6=""

# g2's link loses the 20 bytes the tunnel adds (40 for IPv6: both fail), or gets them back.
g2_mtu() { ip -n "$LAB_NS_G2" link set dev "$LAB_BACKEND_DEV" mtu "$1"; }

tunnel_check()
{
	if [[ -n $TUNNEL ]]; then
		tap_skip "$1" "$TUNNEL"
		return 0
	fi
	tap_check "$@"
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

tap_check "zdd-agent up, HTTP health checks" agent_up
tunnel_check "every backend up, through the tunnel too" all_up 5
tunnel_check "the probes go through the tunnel (g1's zdd_decap strips them)" probes_tunnelled
if [[ -z $TUNNEL ]]; then
	changed failing "$G1_4" "$G1_6" lab_ctl_on g1 decap detach "$LAB_BACKEND_DEV"
	tap_diag "g1's zdd_decap detached: taken down after ${DOWN4:-never} ms (IPv4), ${DOWN6:-never} ms (IPv6)"
fi
tunnel_check "g1 without zdd_decap: taken down within $MAX_DOWN_MS ms (IPv4 and IPv6)" \
	down_in_time
tunnel_check "the log names the tunnel check; the direct check passes" \
	tunnel_named "$G1_4" "$G1_6"
tunnel_check "only g1 down in the maps; clients still served" only_g1_down
tunnel_check "/metrics: g1's tunnel check 0, its direct check 1 (IPv4 and IPv6)" \
	checks_metric "$G1_4" "$G1_6"
tunnel_check "status names g1's failing check: the tunnel's, why, and that the direct passes" \
	status_names_tunnel "$G1_4" "$G1_6"
if [[ -z $TUNNEL ]]; then
	changed healthy "$G1_4" "$G1_6" lab_decap_attach g1
	tap_diag "zdd_decap back on g1: up again after ${UP4:-never} ms (IPv4), ${UP6:-never} ms (IPv6)"
fi
tunnel_check "zdd_decap back: g1 up again within $MAX_DOWN_MS ms" up_in_time
if [[ -z $TUNNEL ]]; then
	DOWN4="" DOWN6=""
	changed failing "$G2_4" "$G2_6" g2_mtu $((LAB_MTU_BACKEND - 20))
	tap_diag "g2's link at $((LAB_MTU_BACKEND - 20)): taken down after ${DOWN4:-never} ms (IPv4), ${DOWN6:-never} ms (IPv6)"
fi
tunnel_check "g2 behind a link too short for the tunnel: taken down within $MAX_DOWN_MS ms" \
	down_in_time
tunnel_check "the log names the tunnel check for g2; the direct check passes" \
	tunnel_named "$G2_4" "$G2_6"
if [[ -z $TUNNEL ]]; then
	UP4="" UP6=""
	changed healthy "$G2_4" "$G2_6" g2_mtu "$LAB_MTU_BACKEND"
fi
tunnel_check "g2's link whole again: up within $MAX_DOWN_MS ms" up_in_time
tap_done
