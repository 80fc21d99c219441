#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-agent-state.sh - zdd-agent and what it is handed: a state file that is
# empty, not JSON, or of the wrong types is moved aside (<file>.corrupt-<unix time>, as it was)
# with one loud log line, and the agent starts from the maps; a state file of its own is read
# back; control requests of the wrong types (the two that crashed it) get an error answer and
# the agent serves on; a reboot restores the weight the last rollout committed.
LAB_PREFIX=${LAB_PREFIX:-zs}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
lab_require_cmd python3

tap_plan 20
lab_up || tap_bail "lab setup"
mkdir -p "$LAB_PIN_DIR"
conf=$LAB_DIR/zdd.yaml
state=$LAB_DIR/agent-state.json # lab_agent_conf's
lab_agent_conf "$conf"

agent_stop()
{
	kill -TERM "$LAB_AGENT_PID"
	wait "$LAB_AGENT_PID" 2>/dev/null
}

# One request on the control socket, as bytes; prints the answer line.
ctl_raw()
{
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
' "$LAB_DIR/agent.sock" "$1"
}

# 1. Corrupt state files: the agent starts, says so once, and the file is kept aside as it was.
wrong_types='{"drained": false, "rollouts": [{"service": "'"$LAB_SVC4"'", "state": "running",
 "step": "x", "stable": 0, "steps_bp": [1000, 5000, 10000], "interval_ms": 2000}]}'
for name in empty garbage wrong-types; do
	case $name in
	empty) content= ;;
	garbage) content='this is not JSON {' ;;
	wrong-types) content=$wrong_types ;;
	esac
	rm -f "$state" "$state".corrupt-*
	printf '%s' "$content" >"$state"
	before=$(grep -c "is corrupt" "$LAB_DIR/agent.log" 2>/dev/null)
	if ! lab_agent_start "$conf"; then
		tap_fail "$name state file: the agent starts"
		tap_fail "$name state file: the move is logged"
		tap_fail "$name state file: kept aside as it was"
		continue
	fi
	tap_check "$name state file: the agent starts and answers" lab_rollout status "$LAB_SVC4"
	tap_is "$name state file: the move is logged, once" \
		"$(($(grep -c "state file $state is corrupt (.*): moved to $state.corrupt-[0-9]*;" \
			"$LAB_DIR/agent.log") - ${before:-0}))" 1
	aside=("$state".corrupt-*)
	tap_is "$name state file: kept aside as it was" \
		"${#aside[@]} $(cat "${aside[0]}" 2>/dev/null)" "1 $content"
	agent_stop
done
grep "is corrupt" "$LAB_DIR/agent.log" | sed 's/^/# /'

# 2. The agent's own file is read back, not moved aside.
rm -f "$state".corrupt-*
lab_agent_start "$conf" || tap_bail "zdd-agent"
lab_rollout start "$LAB_SVC4" >/dev/null
lab_rollout abort "$LAB_SVC4" >/dev/null
agent_stop
lab_agent_start "$conf" || tap_bail "zdd-agent restart"
tap_is "its own state file is read back" \
	"$(lab_rollout -j status | jq -r ".rollouts[] | select(.service == \"$LAB_SVC4\") | .state") $(
		compgen -G "$state.corrupt-*" | wc -l)" "aborted 0"

# 3. Control requests of the wrong types: an answer, and the agent goes on.
for req in '{"verb":null}' '{"verb":"start","service":"'"$LAB_SVC4"'","steps":5}' \
	'{"verb":"start","service":"'"$LAB_SVC4"'","steps":[1.5,100]}' '[1, 2'; do
	ans=$(ctl_raw "$req")
	if [[ $ans =~ ^\{\"ok\":false,\"error\":\"[^\"]+\"\}$ ]]; then
		tap_ok "$req: refused with a reason ($ans)"
	else
		tap_fail "$req: refused with a reason" "answer: '$ans'"
	fi
done
tap_check "the agent is still there" kill -0 "$LAB_AGENT_PID"
tap_is "and still serves the rollout verbs" \
	"$(lab_rollout -j status | jq -r ".rollouts[] | select(.service == \"$LAB_SVC4\") | .state")" \
	aborted

# 4. A reboot (bpffs emptied) restores what the last rollout committed, not the file's weight;
# a green_weight the operator changed in the file since wins over a finished rollout.
green_pct() { lab_ctl -j status "$LAB_SVC4" | jq -r '.services[0].green_weight_pct'; }
reboot() { agent_stop && lab_ctl detach "$LAB_LB_DEV" --purge >/dev/null && lab_agent_start "$conf"; }
lab_rollout start "$LAB_SVC4" >/dev/null
lab_rollout promote "$LAB_SVC4" >/dev/null
reboot || tap_bail "zdd-agent after the reboot"
tap_is "reboot after a promotion: green keeps every new client" "$(green_pct)" 100
tap_check "reboot: the log says the rollout's weight was written again" \
	grep -q "green 100.00%, from the promoted rollout, written again" "$LAB_DIR/agent.log"
said_promoted() { lab_rollout_json "$LAB_SVC4" | jq -e '.weight_source | test("promoted")'; }
tap_check "reboot: rollout status says where the weight came from" said_promoted
sed -i '0,/green_weight: 0/s//green_weight: 25/' "$conf"
reboot || tap_bail "zdd-agent after the second reboot"
tap_is "reboot with the file's green_weight changed since: the file wins" "$(green_pct)" 25
agent_stop
tap_done
