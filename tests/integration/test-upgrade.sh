#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-upgrade.sh - a data path upgrade under HTTP load: `attach` again loads
# a new instance of the program on the pinned maps and swaps it into the pinned bpf_link in one
# step. No request fails and every long-lived connection keeps its backend.
LAB_PREFIX=${LAB_PREFIX:-zu}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
lab_require_cmd wrk

tap_plan 7
lab_up || tap_bail "lab setup"
lab_zdd_up || tap_bail "zdd setup"
lab_clients_add 32 || tap_bail "client addresses"
run=$LAB_DIR/upgrade
mkdir -p "$run"
prog_id() { ip -n "$LAB_NS_LB" -j link show dev "$LAB_LB_DEV" | jq -r '.[0].xdp.prog.id // empty'; }

before=$(prog_id)
for ((i = 0; i < 6; i++)); do
	lab_exec client "$LAB_LIB_DIR/keepalive.sh" "$LAB_VIP4" "$LAB_PORT" 40 0.25 \
		>"$run/long.$i" 2>/dev/null &
	pids+=($!)
done
sleep 0.5
lab_load 10 32 "$run/load"
lab_exec client wrk -t1 -c8 -d10s --timeout 3s "http://$LAB_VIP4/" >"$run/wrk" 2>&1 &
pids+=($!)
sleep 3
out=$(lab_ctl attach "$LAB_LB_DEV")
sleep 1
lab_ctl weight "$LAB_SVC4" green=50 >/dev/null	# the new program takes changes too
lab_load_collect "$run/load"
wait "${pids[@]}"
after=$(prog_id)

tap_is "attach on an attached interface upgrades in place" "$out" \
	"zdd: upgraded the program on $LAB_LB_DEV (adopted maps in $LAB_PIN_DIR/lb)"
tap_check "a new program runs (id $before -> $after)" test -n "$after" -a "$after" != "$before"
tap_is "new connections: no failure ($(wc -l <"$run/load") requests)" \
	"$(grep -c ' FAIL:' "$run/load")" 0
tap_check "keep-alive load: no socket error, no non-2xx ($(awk '/requests in/ {print $1}' "$run/wrk") requests)" \
	bash -c "! grep -qE 'Socket errors|Non-2xx' '$run/wrk'"
answers=$(cat "$run"/long.* | grep -vc ERR)
moved=0
for ((i = 0; i < 6; i++)); do
	[[ $(sort -u "$run/long.$i" | wc -l) -eq 1 ]] || moved=$((moved + 1))
done
tap_is "long-lived connections: no failed request ($answers answers)" \
	"$(cat "$run"/long.* | grep -c ERR)" 0
tap_is "long-lived connections: each kept its backend" "$moved" 0
tap_check "after the upgrade, green takes new clients" bash -c \
	"awk -v t=\$(( \$(date +%s%3N) - 6000 )) '\$1 > t' '$run/load' | grep -q green"
tap_done
