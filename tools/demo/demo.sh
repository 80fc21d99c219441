#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tools/demo/demo.sh - `make demo`: the lab story on one machine. Network namespaces (client,
# router, the LB, two blue and two green nginx backends), real HTTP load from many client
# addresses, and a canary of green 10% -> 50% -> 100% done live with zdd-bpfctl while the
# clients keep connecting. Ends with one line that starts with "demo:"; exit status 0 only if
# no request failed.
set -u
LAB_PREFIX=${LAB_PREFIX:-zdemo}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/integration/lib.sh"
lab_require_root
lab_require_cmd ip nsenter curl nginx wrk
STEP_SECS=${STEP_SECS:-6}
CLIENTS=${CLIENTS:-64}

say() { printf '\n== %s\n' "$*"; }
now_ms() { date +%s%3N; }

say "building the lab: client -> router -> zdd (XDP) -> blue b1 b2 / green g1 g2"
lab_up || { echo "demo: lab setup failed"; exit 1; }
lab_zdd_up || { echo "demo: zdd setup failed"; exit 1; }
lab_clients_add "$CLIENTS" || { echo "demo: client addresses failed"; exit 1; }
echo "service $LAB_SVC4: blue ${LAB_BLUE4[*]}, green ${LAB_GREEN4[*]}; $CLIENTS client addresses"
echo "one request: $(lab_curl "$LAB_VIP4")"

run=$LAB_DIR/demo
mkdir -p "$run"
secs=$((STEP_SECS * 4 + 1))
say "load for ${secs}s: new connections from $CLIENTS clients, and keep-alive sessions (wrk)"
lab_load "$secs" 6 "$run/load"
lab_exec client wrk -t1 -c8 -d"${secs}s" --timeout 3s "http://$LAB_VIP4/" >"$run/ka" 2>&1 &
ka=$!
marks=("$(now_ms) 0")
sleep "$STEP_SECS"
for pct in 10 50 100; do
	say "canary: green $pct%"
	marks+=("$(now_ms) $pct")
	lab_ctl weight "$LAB_SVC4" "green=$pct"
	sleep "$STEP_SECS"
	lab_ctl status "$LAB_SVC4"
done
marks+=("$(now_ms) end")
lab_load_collect "$run/load"
wait "$ka"

say "what the clients saw (new connections, by step)"
for ((i = 0; i + 1 < ${#marks[@]}; i++)); do
	read -r from pct <<<"${marks[i]}"
	read -r to _ <<<"${marks[i + 1]}"
	awk -v from="$from" -v to="$to" -v pct="$pct" '$1 >= from && $1 < to {
			n++; if ($4 == "green") g++; if ($3 == "FAIL") f++ }
		END { printf "  green %3s%%: %5d requests, %5.1f%% answered by green, %d failed\n",
			pct, n, n ? 100 * g / n : 0, f }' "$run/load"
done
new=$(wc -l <"$run/load")
new_failed=$(grep -c ' FAIL$' "$run/load")
ka_reqs=$(awk '/requests in/ {print $1}' "$run/ka")
ka_failed=$(grep -cE 'Socket errors|Non-2xx' "$run/ka")
echo "  keep-alive sessions: ${ka_reqs:-0} requests, $ka_failed wrk error lines"
total=$((new + ${ka_reqs:-0}))
failed=$((new_failed + ka_failed))
echo "demo: canary green 10% -> 50% -> 100% under load, $total requests, $failed failed"
[[ $failed -eq 0 && $total -gt 0 ]]
