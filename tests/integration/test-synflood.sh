#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-synflood.sh - a SYN flood from spoofed sources, 10x and more the
# embryonic table, with flips in the middle, while 1,000 keep-alive connections keep asking:
# none of them fails (a connection moved to another backend would be reset), the established
# table keeps them all, and legitimate new connections still get through.
LAB_PREFIX=${LAB_PREFIX:-zs}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
[[ -x $LAB_OUT/zdd-pktgen ]] || lab_skip "zdd-pktgen not built (make)"

EMBRYOS=4096
LONG=1000
FLOOD_SECS=${FLOOD_SECS:-8}

tap_plan 8
lab_up || tap_bail "lab setup"
lab_zdd_up --embryos "$EMBRYOS" || tap_bail "zdd setup"
lab_clients_add 150 || tap_bail "client addresses"
# Generated frames are only taken by an interface that runs XDP: rtr's side of the client link.
lab_xdp_pass rtr "$LAB_RTR_CLIENT_DEV" || tap_bail "pass-through on rtr"
run=$LAB_DIR/flood
mkdir -p "$run"
printf '%s\n' "${LAB_CLIENTS[@]}" >"$run/sources"

# 1,000 keep-alive connections, each asking again and again (2,000 requests/s in all).
lab_exec client "$LAB_OUT/zdd-httpload" -u "$(lab_url "$LAB_VIP4")" -S "$run/sources" -k \
	-c "$LONG" -r 2000 -d $((FLOOD_SECS + 8)) -t 5000 -o "$run/long" >"$run/long.summary" 2>&1 &
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
# generator alone makes 5 Mpps; the router's stack passes 300-700k/s of them).
lab_nsenter client "$LAB_OUT/zdd-pktgen" -i "$LAB_CLIENT_DEV" --dst "$LAB_VIP4" -m syn \
	--src 198.19.128.0/17 -d "$FLOOD_SECS" -r "${FLOOD_PPS:-300000}" -j \
	>"$run/flood.json" 2>"$run/flood.err" &
flood=$!
sleep $((FLOOD_SECS / 3))
lab_ctl flip "$LAB_SVC4" --to green >/dev/null
sleep $((FLOOD_SECS / 3))
lab_ctl weight "$LAB_SVC4" green=50 >/dev/null
wait "$flood"
sent=$(jq -r '.frames // .sent // .packets // 0' "$run/flood.json")
pps=$(jq -r '.pps // .rate // 0' "$run/flood.json")
lab_load_collect "$run/new"
wait "$long"
est_after=$(lab_ctl -j conntrack count | jq .established)
seen=$(lab_ctl -j stats | jq '.reasons.tx_new')	# SYNs that reached the balancer
embryos=$(lab_ctl -j conntrack count | jq .embryonic)

tap_diag "flood: $sent SYNs sent in ${FLOOD_SECS}s ($pps/s); $seen new flows reached the" \
	"balancer through the router's stack; embryonic table $EMBRYOS" \
	"established flows before/after: $est_before/$est_after" \
	"keep-alive: $(cat "$run/long.summary")"
tap_check "the balancer took more than 10x its embryonic table in SYNs ($seen)" \
	test "$seen" -gt $((10 * EMBRYOS))
tap_check "the embryonic table stayed within its size ($embryos)" test "$embryos" -le "$EMBRYOS"
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
