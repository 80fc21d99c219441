#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-synflood.sh - SYN, ACK and UDP floods from spoofed sources, each 10x
# and more its table (the SYNs the embryonic table, the ACKs and the UDP flows the flow table),
# with flips in the middle, while 1,000 keep-alive connections keep asking: none of them fails
# (a connection moved to another backend would be reset), the established table keeps them all,
# the counters show the floods, and legitimate new connections still get through.
LAB_PREFIX=${LAB_PREFIX:-zs}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
[[ -x $LAB_OUT/zdd-pktgen ]] || lab_skip "zdd-pktgen not built (make)"

EMBRYOS=4096
FLOWS=8192	# room for the keep-alive and the new connections, small enough to flood 10x
ADOPTED=4096
FLOOD_FLOWS=90000	# distinct spoofed tuples of the ACK and the UDP floods: > 10x FLOWS
LONG=1000
FLOOD_SECS=${FLOOD_SECS:-8}
SVCU="$LAB_VIP4:53/udp"

tap_plan 13
lab_up || tap_bail "lab setup"
lab_zdd_up --embryos "$EMBRYOS" --flows "$FLOWS" --adopted "$ADOPTED" || tap_bail "zdd setup"
{ lab_ctl service add "$SVCU" && lab_ctl backend add "$SVCU" "${LAB_BLUE4[0]}" --pool blue; } \
	>/dev/null || tap_bail "UDP service"
lab_clients_add 150 || tap_bail "client addresses"
# Generated frames are only taken by an interface that runs XDP: rtr's side of the client link.
lab_xdp_pass rtr "$LAB_RTR_CLIENT_DEV" || tap_bail "pass-through on rtr"
run=$LAB_DIR/flood
mkdir -p "$run"
printf '%s\n' "${LAB_CLIENTS[@]}" >"$run/sources"

# 1,000 keep-alive connections, each asking again every 4 s (250 requests/s in all): quiet in
# between, as a flood's LRU churn finds most connections. (An LRU keeps what is used often: at
# 2 a second each, the ACK and UDP floods did not evict them even when they shared one table;
# at one every 4 s, they did, and 551 of 3,980 requests were reset after the weight change.)
lab_exec client "$LAB_OUT/zdd-httpload" -u "$(lab_url "$LAB_VIP4")" -S "$run/sources" -k \
	-c "$LONG" -r 250 -d $((FLOOD_SECS + 8)) -t 5000 -o "$run/long" >"$run/long.summary" 2>&1 &
long=$!
for ((i = 0; i < 50; i++)); do	# until the keep-alive connections are all up (bounded)
	est_before=$(lab_ctl -j conntrack count | jq .established)
	((est_before >= LONG)) && break
	sleep 0.2
done
est_before=$(lab_ctl -j conntrack count | jq .established)
lab_load $((FLOOD_SECS + 2)) 8 "$run/new" 200
sleep 1
# The rate the lab's router forwards without starving the two CPUs everything here shares (the
# generator alone makes 5 Mpps; the router's stack passes 300-700k/s of them), a third each.
# The ACKs and the UDP datagrams cycle through FLOOD_FLOWS tuples, one sequence number each.
spoof() # NAME MODE SRC [pktgen options]
{
	lab_nsenter client "$LAB_OUT/zdd-pktgen" -i "$LAB_CLIENT_DEV" --dst "$LAB_VIP4" -m "$2" \
		--src "$3" -d "$FLOOD_SECS" -r "${FLOOD_PPS:-100000}" -j "${@:4}" \
		>"$run/$1.json" 2>"$run/$1.err"
}
spoof flood syn 198.19.128.0/17 &
flood=$!
spoof ackflood ack 198.19.64.0/18 --flows "$FLOOD_FLOWS" &
ackflood=$!
spoof udpflood udp 198.19.32.0/19 --flows "$FLOOD_FLOWS" --dport 53 &
udpflood=$!
sleep $((FLOOD_SECS / 3))
lab_ctl flip "$LAB_SVC4" --to green >/dev/null
sleep $((FLOOD_SECS / 3))
lab_ctl weight "$LAB_SVC4" green=50 >/dev/null
wait "$flood" "$ackflood" "$udpflood"
sent=$(jq -r '.frames // .sent // .packets // 0' "$run/flood.json")
pps=$(jq -r '.pps // .rate // 0' "$run/flood.json")
lab_load_collect "$run/new"
wait "$long"
est_after=$(lab_ctl -j conntrack count | jq .established)
seen=$(lab_ctl -j stats | jq '.reasons.tx_new')	# SYNs that reached the balancer
embryos=$(lab_ctl -j conntrack count | jq .embryonic)
adopted=$(lab_ctl -j conntrack count | jq .adopted)
status=$(lab_ctl -j status)
svc_stat() { jq -r --arg s "$1" ".services[] | select(.service == \$s) | .$2" <<<"$status"; }
acks=$(svc_stat "$LAB_SVC4" adopted)	# spoofed ACKs the balancer took as flows
udps=$(svc_stat "$SVCU" adopted)

tap_diag "flood: $sent SYNs sent in ${FLOOD_SECS}s ($pps/s); $seen new flows reached the" \
	"balancer through the router's stack; embryonic table $EMBRYOS" \
	"established flows before/after: $est_before/$est_after" \
	"ACK flood: $(jq -c . "$run/ackflood.json"); adopted into a table of $ADOPTED: $acks" \
	"UDP flood: $(jq -c . "$run/udpflood.json"); adopted: $udps; promoted to the flow" \
	"table: $(svc_stat "$LAB_SVC4" promoted)" \
	"keep-alive: $(cat "$run/long.summary")"
tap_check "the balancer took more than 10x its embryonic table in SYNs ($seen)" \
	test "$seen" -gt $((10 * EMBRYOS))
tap_check "the embryonic table stayed within its size ($embryos)" test "$embryos" -le "$EMBRYOS"
tap_check "the balancer took spoofed ACKs as more than 10x its flow table of flows ($acks)" \
	test "$acks" -gt $((10 * FLOWS))
tap_check "and UDP flows, more than 10x its flow table ($udps)" test "$udps" -gt $((10 * FLOWS))
tap_check "the adopted table stayed within its size ($adopted)" test "$adopted" -le "$ADOPTED"
misses=$(lab_ctl -j stats | jq '.reasons.tx_conntrack_miss')
tap_check "the ACK flood shows in the verdicts as misses ($misses)" test "$misses" -ge "$acks"
tap_check "the established table holds no more than its size ($est_after)" \
	test "$est_after" -le "$FLOWS"
tap_check "all $LONG keep-alive connections were established before the flood ($est_before)" \
	test "$est_before" -ge "$LONG"
tap_check "the established table kept them ($est_after)" test "$est_after" -ge "$LONG"
total=$(wc -l <"$run/long")
tap_is "keep-alive connections: no request failed ($total requests)" \
	"$(grep -c ' FAIL:' "$run/long")" 0
tap_check "keep-alive connections kept being answered" test "$total" -gt $((LONG * 2))
new=$(wc -l <"$run/new")
new_ok=$(grep -vc ' FAIL:' "$run/new")
tap_diag "legitimate new connections during the flood: $new_ok of $new succeeded"
tap_check "legitimate new connections got through ($new_ok of $new)" test "$new_ok" -gt 0
tap_check "at least 95% of them ($new_ok of $new)" test $((new_ok * 100)) -ge $((new * 95))
tap_done
