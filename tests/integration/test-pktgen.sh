#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-pktgen.sh - zdd-pktgen in the lab: frames from the client's eth0 reach
# zdd on lb (SYNs of new flows, ACKs of a fixed set of flows, UDP, IPv4 and IPv6), the backends'
# kernels take them with valid checksums, and the duration bound holds.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zpg}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKTGEN="$LAB_OUT/zdd-pktgen"
UDP_PORT=5353
SVC_UDP="$LAB_VIP4:$UDP_PORT/udp"
RATE=${RATE:-10000}	# frames/s (bursts of 1000): far under what the lab forwards, so none is lost

lab_require
lab_require_cmd jq nstat
[[ -x $PKTGEN && -x $LAB_BPFCTL ]] || lab_skip "zdd-pktgen or zdd-bpfctl not built (make)"
tap_plan 12

# --- helpers -----------------------------------------------------------------------------------

pktgen() { lab_nsenter client "$PKTGEN" -i "$LAB_CLIENT_DEV" "$@"; }

# reason NAME: the LB's count of that verdict reason.
reason() { lab_ctl stats -j | jq -r ".reasons.$1"; }

# backend_mib NAME...: the sum over the four backends of those kernel counters (nstat names).
backend_mib()
{
	local b total=0 v
	for b in "${LAB_BACKENDS[@]}"; do
		v=$(lab_exec "$b" nstat -asz "$@" | awk '!/^#/ { s += $2 } END { print s + 0 }')
		total=$((total + v))
	done
	echo "$total"
}

# settle: frames in flight (queues, softirqs) have landed.
settle() { sleep 0.3; }

# expect WHAT GOT WANT
expect() { [[ $2 == "$3" ]] || { echo "$1: got $2, want $3"; return 1; }; }

# --- checks ------------------------------------------------------------------------------------

check_mode_works()
{
	"$PKTGEN" --check 2000 --dst "$LAB_VIP4" -m syn &&
		"$PKTGEN" --check 2000 --dst "$LAB_VIP6" -m udp -s 100 &&
		"$PKTGEN" --check 2000 --dst "$LAB_VIP4" -m ack --flows 300
}

refuses_other_addresses()
{
	local rc
	"$PKTGEN" --check 10 --dst 192.0.2.1 2>&1
	rc=$?
	expect "exit status" "$rc" 2 || return 1
	"$PKTGEN" --check 10 --dst "$LAB_VIP4" --src 198.18.0.0/14 2>&1
	rc=$?
	expect "exit status for a range leaving 198.18.0.0/15" "$rc" 2
}

help_documents()
{
	local help
	help=$("$PKTGEN" --help) || return 1
	[[ $help == *"syn: TCP SYNs"* && $help == *"must run an XDP program"* ]]
}

bad_option()
{
	local rc
	"$PKTGEN" --bogus 2>&1
	rc=$?
	expect "exit status" "$rc" 2
}

# syn_flood DST N [pktgen options]: N SYNs of new flows; zdd balances every one as new and the
# backends' TCP takes every one with a good checksum. With --socket, the frames must have gone
# through the packet socket.
syn_flood()
{
	local dst=$1 n=$2 new0 segs0 bad0 out
	shift 2
	new0=$(reason tx_new) segs0=$(backend_mib TcpInSegs) bad0=$(backend_mib TcpInCsumErrors)
	out=$(pktgen --dst "$dst" -m syn -n "$n" -r "$RATE" -j "$@") || { echo "$out"; return 1; }
	echo "$out"
	settle
	if [[ $* == *--socket* ]]; then
		expect "sent by" "$(jq -r .sent_by <<<"$out")" socket || return 1
	fi
	expect "frames sent" "$(jq -r .frames <<<"$out")" "$n" &&
		expect "tx_new" "$(($(reason tx_new) - new0))" "$n" &&
		expect "TCP segments at the backends" "$(($(backend_mib TcpInSegs) - segs0))" "$n" &&
		expect "TCP checksum errors" "$(($(backend_mib TcpInCsumErrors) - bad0))" 0
}

# path_drops: frames the kernel dropped between the client and zdd (veth rings, backlogs), as
# the devices on the way count them.
path_drops()
{
	local ns_dev ns dev total=0 v
	for ns_dev in "rtr $LAB_RTR_CLIENT_DEV" "rtr $LAB_RTR_LB_DEV" "lb $LAB_LB_DEV"; do
		read -r ns dev <<<"$ns_dev"
		v=$(lab_exec "$ns" ip -s -j link show dev "$dev" |
			jq '.[0].stats64 | .rx.dropped + .tx.dropped')
		total=$((total + v))
	done
	echo "$total"
}

# ACKs of F flows: the first of each is a conntrack miss, every other one a conntrack hit, and
# every frame is accounted for: seen by zdd or dropped on the way, which the message names.
# Sources of their own: the SYN floods' flows are in conntrack.
ack_flows()
{
	local n=3000 f=100 r0 r1 drops0 drops out delta seen i
	r0=$(lab_ctl stats -j) drops0=$(path_drops)
	out=$(pktgen --dst "$LAB_VIP4" -m ack --src 198.18.64.0/24 --flows "$f" -n "$n" \
		-r "$RATE" -s 64 -j) ||
		{ echo "$out"; return 1; }
	echo "$out"
	# Frames may still be in queues on a loaded machine: wait (at most 3 s) until all are counted.
	for ((i = 0; i < 30; i++)); do
		r1=$(lab_ctl stats -j) drops=$(($(path_drops) - drops0))
		delta=$(jq -n --argjson a "$r0" --argjson b "$r1" '$b.reasons |
			with_entries(.value -= $a.reasons[.key]) | with_entries(select(.value != 0))')
		# ICMP and ARP from the lab's own traffic may land meanwhile; not the generator's.
		seen=$(jq '[to_entries[] | select(.key | test("icmp|not_ip|not_tcp") | not) |
			.value] | add // 0' <<<"$delta")
		((seen + drops >= n)) && break
		sleep 0.1
	done
	echo "reasons: $(jq -c . <<<"$delta"), dropped on the way: $drops"
	expect "frames seen by zdd + dropped on the way" $((seen + drops)) "$n" &&
		expect "conntrack misses" "$(jq '.tx_conntrack_miss // 0' <<<"$delta")" "$f" &&
		expect "conntrack hits" "$(jq '.tx_flow // 0' <<<"$delta")" $((seen - f))
}

# UDP to a UDP service: balanced as new flows, and the backends' UDP finds no socket there
# (but a good checksum).
udp_flows()
{
	local n=1000 new0 noport0 bad0 out i
	lab_ctl service add "$SVC_UDP" >/dev/null || return 1
	for i in "${!LAB_BACKENDS[@]}"; do
		lab_ctl backend add "$SVC_UDP" "${LAB_BACKENDS4[i]}" \
			--pool "$(lab_pool "${LAB_BACKENDS[i]}")" >/dev/null || return 1
	done
	new0=$(reason tx_new) noport0=$(backend_mib UdpNoPorts) bad0=$(backend_mib UdpInCsumErrors)
	out=$(pktgen --dst "$LAB_VIP4" --dport "$UDP_PORT" -m udp -n "$n" -r "$RATE" -s 32 -j) ||
		{ echo "$out"; return 1; }
	echo "$out"
	settle
	expect "tx_new" "$(($(reason tx_new) - new0))" "$n" &&
		expect "UDP datagrams to no socket" "$(($(backend_mib UdpNoPorts) - noport0))" "$n" &&
		expect "UDP checksum errors" "$(($(backend_mib UdpInCsumErrors) - bad0))" 0
}

# Straight into lb from rtr: zdd sends each frame back out rewritten (its outer header over the
# Ethernet header), and live-frames mode recycles the page; the generator must not resend it so.
direct_into_lb()
{
	local n=5000 new0 out
	new0=$(reason tx_new)
	out=$(lab_nsenter rtr "$PKTGEN" -i "$LAB_RTR_LB_DEV" --dst-mac "$(lab_mac lb "$LAB_LB_DEV")" \
		--dst "$LAB_VIP4" --src 198.18.96.0/20 -m syn -n "$n" -r "$RATE" -j) ||
		{ echo "$out"; return 1; }
	echo "$out"
	settle
	expect "tx_new" "$(($(reason tx_new) - new0))" "$n"
}

# -d bounds a run at full speed; the report has a rate and the interface's counters.
duration_bound()
{
	local out start ms
	start=$(date +%s%N)
	out=$(pktgen --dst "$LAB_VIP4" -m syn -d 1 -j) || { echo "$out"; return 1; }
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "$out (${ms} ms)"
	((ms < 4000)) || { echo "took $ms ms"; return 1; }
	jq -e '.frames > 0 and .pps > 0 and .seconds < 1.5 and (.tx_packets | type) == "number"' \
		<<<"$out" >/dev/null
}

# Resolve every neighbour on the path first: frames to an unresolved neighbour wait in a short
# queue, and a burst overflows it.
warm_up()
{
	local a
	for a in "${LAB_BACKENDS4[@]}" "${LAB_BACKENDS6[@]}"; do
		lab_curl_from rtr "$a" /health >/dev/null || return 1
	done
	# rtr -> lb, through zdd.
	lab_curl "$LAB_VIP4" >/dev/null && lab_curl "$LAB_VIP6" >/dev/null
}

# --- the run -----------------------------------------------------------------------------------

lab_up || tap_bail "lab setup"
lab_zdd_up || tap_bail "zdd setup"
# Frames leaving the client's veth reach rtr only if rtr runs XDP there (DESIGN.md 7).
lab_xdp_pass rtr "$LAB_RTR_CLIENT_DEV" || tap_bail "XDP pass-through on rtr/$LAB_RTR_CLIENT_DEV"
warm_up || tap_bail "the lab's paths do not answer"

tap_check "--check verifies SYN, UDP (IPv6) and ACK frames" check_mode_works
tap_check "addresses outside the benchmark ranges are refused (exit 2)" refuses_other_addresses
tap_check "--help documents the modes and the XDP receiver" help_documents
tap_check "a bad option is a usage error" bad_option
tap_check "IPv4 SYN flood: every SYN balanced as new, good TCP checksums" syn_flood "$LAB_VIP4" 2000
tap_check "IPv6 SYN flood: every SYN balanced as new, good TCP checksums" syn_flood "$LAB_VIP6" 1000
tap_check "--socket: an IPv4 SYN flood through a packet socket, every SYN balanced as new" \
	syn_flood "$LAB_VIP4" 2000 --socket --src 198.18.48.0/20	# not the first flood's flows
tap_check "ACKs of 100 flows: one miss per flow, then conntrack hits" ack_flows
tap_check "UDP: every datagram a new flow, good UDP checksums" udp_flows
tap_check "frames zdd sent back rewritten are not resent as they came back" direct_into_lb
tap_check "-d 1 at full speed stops after a second and reports" duration_bound
tap_check "the lab still answers HTTP through zdd" lab_curl "$LAB_VIP4"

tap_done
