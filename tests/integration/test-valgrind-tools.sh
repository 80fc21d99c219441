#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-valgrind-tools.sh - the userspace binaries under valgrind, on the real
# lab: every zdd-bpfctl command and a zdd-agent life (start, rollout, SIGHUP, SIGTERM) with no
# memory error and no definite leak.
LAB_PREFIX=${LAB_PREFIX:-zv}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
lab_require_cmd valgrind

VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
	--suppressions="$LAB_ROOT/tests/valgrind.supp")
CMDS=(
	"attach $LAB_LB_DEV"
	"service add $LAB_SVC4"
	"backend add $LAB_SVC4 ${LAB_BLUE4[0]} --pool blue"
	"backend add $LAB_SVC4 ${LAB_GREEN4[0]} --pool green"
	"backend set $LAB_SVC4 ${LAB_GREEN4[0]} --weight 50"
	"weight $LAB_SVC4 green=25.5"
	"flip $LAB_SVC4 --to blue"
	"status"
	"-j status"
	"stats"
	"-j stats --watch 1 --count 1"
	"conntrack list"
	"-j conntrack count"
	"backend list $LAB_SVC4"
	"service list"
	"apply -f $LAB_DIR/zdd.yaml --dry-run"
	"apply -f $LAB_DIR/zdd.yaml"
	"backend del $LAB_SVC4 ${LAB_BLUE4[1]}"
	"conntrack flush"
	"weight $LAB_SVC4 green=101"
	"rollout status --socket $LAB_DIR/none.sock"
)
tap_plan $((${#CMDS[@]} + 2))
lab_up || tap_bail "lab setup"
mkdir -p "$LAB_PIN_DIR"
for b in "${LAB_BACKENDS[@]}"; do
	lab_decap_attach "$b" >/dev/null || tap_bail "decap on $b"
done
lab_agent_conf "$LAB_DIR/zdd.yaml" 1s

for c in "${CMDS[@]}"; do
	read -ra args <<<"$c"
	lab_nsenter lb "${VG[@]}" "$LAB_BPFCTL" -p "$LAB_PIN_DIR/lb" "${args[@]}" \
		>"$LAB_DIR/out" 2>&1
	rc=$?
	if ((rc == 99)); then
		tap_fail "valgrind: zdd-bpfctl $c" "$(head -n 30 "$LAB_DIR/out")"
	else
		tap_ok "valgrind: zdd-bpfctl $c (exit $rc)"
	fi
	lab_curl "$LAB_VIP4" >/dev/null 2>&1	# traffic for the counters and walks, once attached
done

# The agent: start, a rollout, a reload, then SIGTERM; valgrind's verdict is its exit status.
rm -f "$LAB_DIR/agent.sock"
nsenter --net="/run/netns/$LAB_NS_LB" -- "${VG[@]}" "$LAB_OUT/zdd-agent" -c "$LAB_DIR/zdd.yaml" \
	>"$LAB_DIR/agent.log" 2>&1 &
pid=$!
for ((i = 0; i < 100; i++)); do
	[[ -S $LAB_DIR/agent.sock ]] && break
	sleep 0.1
done
lab_rollout start "$LAB_SVC4" --steps 50,100 --interval 1s >/dev/null
sleep 1
lab_curl "$LAB_VIP4" >/dev/null
lab_nsenter lb curl -sf --max-time 5 http://127.0.0.1:9334/metrics >/dev/null
kill -HUP "$pid"
sleep 1.5
lab_rollout status >/dev/null
kill -TERM "$pid"
wait "$pid"
rc=$?
if ((rc == 0)); then
	tap_ok "valgrind: zdd-agent start, rollout, /metrics, SIGHUP, SIGTERM"
else
	tap_fail "valgrind: zdd-agent (exit $rc)" "$(grep -v 'zdd-agent:' "$LAB_DIR/agent.log" | head -n 40)"
fi
# A step advances only on judged handshakes (a curl or two are no evidence): the first step
# taken shows the rollout ran.
tap_check "the agent did its work under valgrind" grep -q "step 1 of 2" "$LAB_DIR/agent.log"
tap_done
