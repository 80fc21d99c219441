#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-flip-under-load.sh - the zero-downtime claim: under keep-alive and
# new-connection HTTP load (wrk), 50 flips and weight changes lose no request, and every
# long-lived connection opened before them keeps answering from its first backend.
LAB_PREFIX=${LAB_PREFIX:-zf}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
lab_require_cmd wrk nstat

DURATION=${FLIP_DURATION:-24}	# seconds of load; the 50 changes take about 20
CHANGES=50
LONG=8				# long-lived connections, one request every 0.25 s

tap_plan 9
lab_up || tap_bail "lab setup"
lab_zdd_up || tap_bail "zdd setup"
run=$LAB_DIR/flip
mkdir -p "$run"

# Long-lived connections first: they must survive every change that follows.
for ((i = 0; i < LONG; i++)); do
	lab_exec client "$LAB_LIB_DIR/keepalive.sh" "$LAB_VIP4" "$LAB_PORT" $((DURATION * 4 - 8)) \
		0.25 >"$run/long.$i" 2>/dev/null &
	pids+=($!)
done
sleep 1
lab_exec client wrk -t1 -c16 -d"${DURATION}s" --timeout 3s "http://$LAB_VIP4/" \
	>"$run/wrk-keepalive" 2>&1 &
pids+=($!)
lab_exec client wrk -t1 -c16 -d"${DURATION}s" --timeout 3s -H "Connection: close" \
	"http://$LAB_VIP4/" >"$run/wrk-close" 2>&1 &
pids+=($!)
sleep 2

# The changes: full flips both ways and canary weights in between.
steps=("flip --to green" "weight green=10" "weight green=50" "flip --to blue" "weight green=1"
	"weight green=90" "weight green=25.5" "flip --to green" "weight green=0" "weight green=75")
done_changes=0 failed_changes=0 start=$SECONDS
for ((i = 0; i < CHANGES; i++)); do
	read -ra step <<<"${steps[i % ${#steps[@]}]}"
	case ${step[0]} in
	flip) args=(flip "$LAB_SVC4" "${step[@]:1}") ;;
	*) args=(weight "$LAB_SVC4" "${step[1]}") ;;
	esac
	if lab_ctl "${args[@]}" >/dev/null; then
		done_changes=$((done_changes + 1))
	else
		failed_changes=$((failed_changes + 1))
	fi
	sleep 0.35
done
change_secs=$((SECONDS - start))
wait "${pids[@]}"

tap_is "all $CHANGES changes applied (in ${change_secs}s)" "$done_changes/$failed_changes" \
	"$CHANGES/0"

# Where failed connections went, printed with a failure: zdd's counters (misses, second
# chances, reasons), each backend's resets and listen overflows, nginx's complaints.
post_mortem()
{
	local b
	lab_ctl stats 2>&1
	for b in b1 b2 g1 g2; do
		printf '%s: %s\n' "$b" "$(lab_exec "$b" nstat -asz TcpOutRsts TcpEstabResets \
			TcpAttemptFails TcpExtListenOverflows TcpExtListenDrops TcpExtTCPAbortOnData |
			awk '!/^#/ { printf "%s=%s ", $1, $2 }')"
		tail -n 5 "$LAB_DIR/$b/error.log" 2>/dev/null
	done
}

# wrk prints "Socket errors: ..." and "Non-2xx or 3xx responses: N" only when there are any.
for kind in keepalive close; do
	out=$run/wrk-$kind
	reqs=$(awk '/requests in/ {print $1}' "$out")
	tap_diag "wrk $kind: ${reqs:-?} requests"
	if [[ -n $reqs && $reqs -gt 1000 ]]; then
		tap_ok "wrk $kind: $reqs requests"
	else
		tap_fail "wrk $kind ran" "$(cat "$out")"
	fi
	if grep -qE 'Socket errors|Non-2xx' "$out"; then
		tap_fail "wrk $kind: no socket errors, no non-2xx" \
			"$(grep -E 'Socket|Non-2xx' "$out"; post_mortem)"
	else
		tap_ok "wrk $kind: 0 socket errors, 0 non-2xx responses"
	fi
done

answers=0 errs=0 moved=0
for ((i = 0; i < LONG; i++)); do
	answers=$((answers + $(grep -vc ERR "$run/long.$i")))
	errs=$((errs + $(grep -c ERR "$run/long.$i")))
	[[ $(sort -u "$run/long.$i" | wc -l) -eq 1 ]] || moved=$((moved + 1))
done
tap_diag "long-lived: $answers answers on $LONG connections, $errs errors"
tap_is "long-lived connections: no failed request" "$errs" 0
tap_is "long-lived connections: each kept its first backend" "$moved" 0
tap_check "long-lived connections answered throughout" test "$answers" -ge $((LONG * (DURATION * 4 - 8)))

# Both pools served new connections during the run: the changes were real.
pool_flows()
{
	lab_ctl -j status "$LAB_SVC4" | grep -oE '"(pool|flows_new)": ?("[a-z]+"|[0-9]+)' |
		tr -d '" ' | paste -d' ' - - |
		awk -F'[: ]' '{flows[$2] += $4} END {exit !(flows["blue"] > 0 && flows["green"] > 0)}'
}
tap_check "both pools took new flows during the flips" pool_flows
tap_done
