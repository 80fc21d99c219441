#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-lab-topology.sh - the lab itself, without the LB in the path: routing,
# addresses, MTUs, the pass-through XDP program, the nginx backends, coexistence and teardown.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require
tap_plan 42

# --- checks that need a function ----------------------------------------------------------------

# A crashed run (killed with SIGKILL: no trap ran) left a namespace of our prefix with a process in it, and its run dir.
STALE_PID=""
STALE_DIR=""
make_leftover()
{
	local i
	_lab_ns_exists "$LAB_NS_G2" || ip netns add "$LAB_NS_G2" || return 1	# a real one will do
	ip netns exec "$LAB_NS_G2" sleep 300 </dev/null >/dev/null 2>&1 &
	STALE_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ $'\n'$(ip netns pids "$LAB_NS_G2")$'\n' == *$'\n'"$STALE_PID"$'\n'* ]] && break
		sleep 0.02
	done
	STALE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/zdd-lab.$LAB_PREFIX.XXXXXX")
}

leftover_cleared()
{
	! _lab_alive "$STALE_PID" || { echo "leftover process $STALE_PID still runs"; return 1; }
	[[ ! -d $STALE_DIR ]] || { echo "leftover run dir $STALE_DIR remains"; return 1; }
}

keepalive_reuses_connection()
{
	local url got
	url=$(lab_url "${LAB_BACKENDS4[0]}")
	got=$(lab_exec client curl -sS --noproxy '*' --max-time 2 -o /dev/null -o /dev/null \
		-w '%{num_connects} ' "$url" "$url") || return 1
	[[ $got == "1 0 " ]] || { echo "connections per request: $got"; return 1; }
}

health_everywhere()
{
	local i
	for i in "${!LAB_BACKENDS[@]}"; do
		[[ $(lab_curl "${LAB_BACKENDS4[i]}" /health) == ok ]] || return 1
		[[ $(lab_curl "${LAB_BACKENDS6[i]}" /health) == ok ]] || return 1
	done
}

# route_to_lb VIP GATEWAY: rtr's route for VIP goes to the lb address on the lb link.
route_to_lb()
{
	local json
	json=$(ip -n "$LAB_NS_RTR" -j route get "$1") || return 1
	echo "$json"
	[[ $json == *"\"gateway\":\"$2\""* && $json == *"\"dev\":\"$LAB_RTR_LB_DEV\""* ]]
}

xdp_pass_attached()
{
	local json
	json=$(ip -n "$LAB_NS_RTR" -j link show dev "$LAB_RTR_LB_DEV") || return 1
	echo "$json"
	# mode 1 is XDP_ATTACHED_DRV: only a native program lets XDP_TX frames from lb through.
	[[ $json =~ \"xdp\":\{\"mode\":1,\"prog\":\{[^}]*\"name\":\"$LAB_PASS_PROG\" ]]
}

# mtu_is NS DEV... MTU
mtu_is()
{
	local ns=$1 want=${*: -1} dev json
	for dev in "${@:2:$#-2}"; do
		json=$(ip -n "$(lab_ns "$ns")" -j link show dev "$dev") || return 1
		[[ $json == *"\"mtu\":$want,"* ]] || { echo "$ns/$dev: $json"; return 1; }
	done
}

# An XDP_TX frame from lb reaches rtr (and so the client) only through rtr's pass-through
# program: xdp_reflect.bpf.c on lb sends UDP to VIP:7777 straight back.
xdp_tx_round_trip()
{
	local obj="$LAB_DIR/xdp_reflect.bpf.o" arch got
	arch=$(${CC:-gcc} -print-multiarch 2>/dev/null) || arch="$(uname -m)-linux-gnu"
	clang -O2 -g -Wall -Werror -target bpf -I"/usr/include/$arch" \
		-c "$LAB_LIB_DIR/xdp_reflect.bpf.c" -o "$obj" || return 1
	ip -n "$LAB_NS_LB" link set dev "$LAB_LB_DEV" xdpdrv obj "$obj" sec xdp || return 1
	got=$(lab_exec client python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((sys.argv[1], 7777))
s.send(b"zdd lab")
print(s.recv(64).decode())' "$LAB_VIP4" 2>&1)
	ip -n "$LAB_NS_LB" link set dev "$LAB_LB_DEV" xdp off
	[[ $got == "zdd lab" ]] || { echo "$got"; return 1; }
}

client_mtus()
{
	mtu_is client "$LAB_CLIENT_DEV" "$LAB_MTU_CLIENT" &&
		mtu_is rtr "$LAB_RTR_CLIENT_DEV" "$LAB_MTU_CLIENT"
}

lb_mtus() { mtu_is lb "$LAB_LB_DEV" "$LAB_MTU_LB" && mtu_is rtr "$LAB_RTR_LB_DEV" "$LAB_MTU_LB"; }

backend_mtus()
{
	local name
	mtu_is rtr "$LAB_RTR_BRIDGE" to-b1 to-b2 to-g1 to-g2 "$LAB_MTU_BACKEND" || return 1
	for name in "${LAB_BACKENDS[@]}"; do
		mtu_is "$name" "$LAB_BACKEND_DEV" "$LAB_MTU_BACKEND" || return 1
	done
}

client_tx_csum_off()
{
	local features
	features=$(lab_exec client ethtool -k "$LAB_CLIENT_DEV") || return 1
	[[ $features == *$'\n''tx-checksumming: off'$'\n'* ]] || { echo "$features"; return 1; }
}

sysctl_is() # NS KEY WANT
{
	local got
	got=$(lab_exec "$1" sysctl -n "$2") || return 1
	[[ $got == "$3" ]] || { echo "$1: $2 = $got, want $3"; return 1; }
}

rtr_forwards()
{
	sysctl_is rtr net.ipv4.ip_forward 1 && sysctl_is rtr net.ipv6.conf.all.forwarding 1
}

backends_accept_vip()
{
	local name addrs
	for name in "${LAB_BACKENDS[@]}"; do
		sysctl_is "$name" net.ipv4.conf.all.rp_filter 0 || return 1
		sysctl_is "$name" "net.ipv4.conf.$LAB_BACKEND_DEV.rp_filter" 0 || return 1
		sysctl_is "$name" net.ipv4.conf.lo.rp_filter 0 || return 1
		addrs=$(ip -n "$(lab_ns "$name")" addr show dev lo) || return 1
		[[ $addrs == *"inet $LAB_VIP4/32 "* && $addrs == *"inet6 $LAB_VIP6/128 "* ]] ||
			{ echo "$name: $addrs"; return 1; }
	done
}

# The rtr end of the lb link reports lb's interface as its peer: lab_ifindex agrees with it.
ifindex_matches_peer()
{
	local idx json
	idx=$(lab_ifindex lb "$LAB_LB_DEV") || return 1
	json=$(ip -n "$LAB_NS_RTR" -j link show dev "$LAB_RTR_LB_DEV") || return 1
	[[ $idx =~ ^[0-9]+$ && $json == *"\"link_index\":$idx,"* ]] || { echo "$idx vs $json"; return 1; }
}

stop_and_start_backend()
{
	lab_backend_stop b2 || return 1
	if lab_curl "$(lab_addr4 b2)" 2>/dev/null; then
		echo "stopped b2 still answers"
		return 1
	fi
	lab_backend_start b2 || return 1
	[[ $(lab_curl "$(lab_addr4 b2)") == "b2 blue" ]]
}

respond_with_code()
{
	local code
	lab_backend_respond g1 500 || return 1
	code=$(lab_exec client curl -s --noproxy '*' --max-time 2 -o /dev/null -w '%{http_code}' \
		"$(lab_url "$(lab_addr4 g1)")")
	[[ $code == 500 ]] || { echo "broken g1 answered $code"; return 1; }
	lab_backend_respond g1 200 || return 1
	[[ $(lab_curl "$(lab_addr4 g1)") == "g1 green" ]]
}

second_lab()
{
	# shellcheck disable=SC2016 # expanded by the child shell
	LAB_PREFIX="$LAB_PREFIX-2nd" bash -c 'source "$1" && lab_up &&
		[[ $(lab_curl "$2") == "g1 green" ]] && lab_down' _ "$LAB_LIB_DIR/lib.sh" "$(lab_addr4 g1)"
}

no_namespace_left()
{
	local ns list
	list=$(ip netns list | cut -d' ' -f1) || return 1
	for ns in "$LAB_NS_CLIENT" "$LAB_NS_RTR" "$LAB_NS_LB" "$LAB_NS_B1" "$LAB_NS_B2" "$LAB_NS_G1" \
		"$LAB_NS_G2"; do
		[[ $'\n'$list$'\n' == *$'\n'"$ns"$'\n'* ]] && { echo "$ns remains"; return 1; }
	done
	return 0
}

# no_nginx_of DIR: no process runs with DIR (a run dir) in its command line.
no_nginx_of() { ! pgrep -af -- "$1"; }

# --- the test -----------------------------------------------------------------------------------

make_leftover
if lab_up; then
	tap_ok "lab comes up"
else
	tap_fail "lab comes up"
	tap_bail "no lab"
fi
tap_check "lab_up clears a crashed run's leftovers" leftover_cleared

for i in "${!LAB_BACKENDS[@]}"; do
	name=${LAB_BACKENDS[i]}
	want="$name $(lab_pool "$name")"
	tap_is "client reaches $name at ${LAB_BACKENDS4[i]}" "$(lab_curl "${LAB_BACKENDS4[i]}")" "$want"
	tap_is "client reaches $name at ${LAB_BACKENDS6[i]}" "$(lab_curl "${LAB_BACKENDS6[i]}")" "$want"
	tap_is "$name answers on $LAB_VIP4 locally" "$(lab_curl_from "$name" "$LAB_VIP4")" "$want"
	tap_is "$name answers on $LAB_VIP6 locally" "$(lab_curl_from "$name" "$LAB_VIP6")" "$want"
done
tap_check "/health answers ok on every backend, IPv4 and IPv6" health_everywhere
tap_check "keep-alive: two requests share one connection" keepalive_reuses_connection
tap_check "rtr routes $LAB_VIP4 to lb" route_to_lb "$LAB_VIP4" "$LAB_LB4"
tap_check "rtr routes $LAB_VIP6 to lb" route_to_lb "$LAB_VIP6" "$LAB_LB6"
tap_check "native pass-through XDP on rtr/$LAB_RTR_LB_DEV" xdp_pass_attached
if command -v clang >/dev/null && command -v python3 >/dev/null; then
	tap_check "an XDP_TX frame from lb gets back to the client" xdp_tx_round_trip
else
	tap_skip "an XDP_TX frame from lb gets back to the client" "needs clang and python3"
fi
tap_is "lb reaches b1 through the pass-through" "$(lab_curl_from lb "$(lab_addr4 b1)")" "b1 blue"
tap_is "lb reaches g2 through the pass-through (IPv6)" "$(lab_curl_from lb "$(lab_addr6 g2)")" \
	"g2 green"
tap_check "client link MTU $LAB_MTU_CLIENT" client_mtus
tap_check "lb link MTU $LAB_MTU_LB" lb_mtus
tap_check "backend segment MTU $LAB_MTU_BACKEND" backend_mtus
tap_check "client TX checksum offload off" client_tx_csum_off
tap_check "rtr forwards IPv4 and IPv6" rtr_forwards
tap_check "backends hold both VIPs on lo with rp_filter off" backends_accept_vip
tap_check "lab_ifindex agrees with the veth peer index" ifindex_matches_peer
tap_check "a stopped backend refuses, a restarted one answers" stop_and_start_backend
tap_check "lab_backend_respond makes g1 answer 500, then 200" respond_with_code
tap_check "a second lab ($LAB_PREFIX-2nd) comes up and down beside this one" second_lab
tap_is "this lab still answers after the second one is gone" "$(lab_curl "$(lab_addr6 g2)")" \
	"g2 green"

run_dir=$LAB_DIR
tap_check "lab_down succeeds" lab_down
tap_check "no namespace of prefix $LAB_PREFIX remains" no_namespace_left
tap_check "no nginx of this run remains" no_nginx_of "$run_dir"
tap_check "the run dir is gone" test ! -e "$run_dir"
tap_check "a second lab_down is harmless" lab_down
tap_done
