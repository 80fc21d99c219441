#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-agent-rollout.sh - zdd-agent under HTTP load: a good green is promoted
# with no failed request; a green that refuses connections and one that black-holes them are
# each rolled back on their own within the handshake timeout + 1.5 s; pause, resume, abort and
# promote do what they say.
LAB_PREFIX=${LAB_PREFIX:-zr}
# A failed handshake is known only a handshake timeout after its SYN: a short one, for speed.
LAB_ROLLOUT_EXTRA=${LAB_ROLLOUT_EXTRA:-"handshake_timeout: 1s"}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
BOUND_MS=2500

tap_plan 13
lab_up || tap_bail "lab setup"
mkdir -p "$LAB_PIN_DIR"
for b in "${LAB_BACKENDS[@]}"; do
	lab_decap_attach "$b" >/dev/null || tap_bail "decap on $b"
done
lab_clients_add 48 || tap_bail "client addresses"
lab_agent_conf "$LAB_DIR/zdd.yaml" 1s
lab_agent_start "$LAB_DIR/zdd.yaml" || tap_bail "zdd-agent"
sleep 1.5
run=$LAB_DIR/run
mkdir -p "$run"

state_is() { lab_rollout status "$LAB_SVC4" | grep -q "^$LAB_SVC4  $1"; }
wait_state()
{
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		state_is "$1" && return 0
		sleep 0.1
	done
	return 1
}
weight_is() { lab_ctl status "$LAB_SVC4" | grep -q "green $1%"; }
# green_up SECS: every green backend of the service up in the maps again, within SECS.
green_up()
{
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		[[ $(lab_ctl -j backend list "$LAB_SVC4" |
			jq '[.[] | select(.pool == "green" and .state != "up")] | length') == 0 ]] &&
			return 0
		sleep 0.1
	done
	return 1
}
# load_until MS FILE: the load ends at MS (epoch ms), 2 s past the window judged after a
# rollback, not at its full length.
load_until()
{
	local ms=$(($1 - $(date +%s%3N)))
	((ms <= 0)) || sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	lab_load_stop "$2"
}
# ms of the agent's first log line matching PATTERN (its clock: local time of day).
log_ms() { date -d "today $(grep -m1 "$1" "$LAB_DIR/agent.log" | cut -d' ' -f1)" +%s%3N; }

# 1. A good rollout under load: promoted, no failure.
lab_load 8 64 "$run/good"
lab_rollout start "$LAB_SVC4" --steps 20,50,100 --interval 1s >/dev/null
tap_check "good rollout: promoted" wait_state promoted 15
lab_load_stop "$run/good"
tap_is "good rollout: no failed request ($(wc -l <"$run/good") requests)" \
	"$(grep -c FAIL "$run/good")" 0
tap_check "good rollout: green has every new client" weight_is 100.00
tap_check "good rollout: answers come from green" bash -c "grep -q 'green' '$run/good'"

# 2. Back to blue for the next release; then green refuses connections mid-rollout.
lab_ctl flip "$LAB_SVC4" --to blue >/dev/null
lab_load 10 64 "$run/refuse"
lab_rollout start "$LAB_SVC4" --steps 50,100 --interval 5s >/dev/null
sleep 1.5
onset=$(date +%s%3N)
for b in "${LAB_GREEN[@]}"; do lab_backend_stop "$b"; done
tap_check "refusing green: rolled back" wait_state rolled_back 10
took=$(($(log_ms 'rolled back') - onset))
tap_diag "refusing green: rolled back ${took} ms after the onset: $(grep -m1 'rolled back' "$LAB_DIR/agent.log")"
tap_check "refusing green: rolled back within ${BOUND_MS} ms (${took} ms)" test "$took" -le "$BOUND_MS"
tap_check "refusing green: new clients back on blue" weight_is 0.00
load_until $((onset + took + 4500)) "$run/refuse"
late=$(awk -v t=$((onset + took + 2500)) '$1 >= t && / FAIL:/' "$run/refuse" | wc -l)
tap_is "refusing green: no failure after the rollback" "$late" 0
for b in "${LAB_GREEN[@]}"; do lab_backend_start "$b"; done
sleep 1.5

# 3. Green black-holes tunnelled packets: health checks to its own address still pass; the
# handshake outcomes, or the health checks through the tunnel where the agent runs them, say it.
lines=$(wc -l <"$LAB_DIR/agent.log")
lab_load 10 64 "$run/hole"
lab_rollout start "$LAB_SVC4" --steps 50,100 --interval 5s >/dev/null
sleep 1.5
onset=$(date +%s%3N)
for b in "${LAB_GREEN[@]}"; do lab_ctl_on "$b" decap detach "$LAB_BACKEND_DEV" >/dev/null; done
tap_check "black-holing green: rolled back" wait_state rolled_back 10
rb=$(tail -n +"$((lines + 1))" "$LAB_DIR/agent.log" | grep -m1 'rolled back')
took=$(($(date -d "today ${rb%% *}" +%s%3N) - onset))
tap_diag "black-holing green: ${took} ms: $rb"
tap_check "black-holing green: rolled back within ${BOUND_MS} ms (${took} ms)" \
	test "$took" -le "$BOUND_MS"
lab_load_stop "$run/hole"
for b in "${LAB_GREEN[@]}"; do lab_decap_attach "$b" >/dev/null; done
# A tunnel check took green down: a rollout started before it is back would roll back at once.
green_up 5 || echo "# green not up again 5 s after its zdd_decap came back"

# 4. The operator's verbs.
lab_rollout start "$LAB_SVC4" --steps 30,100 --interval 2s >/dev/null
sleep 0.5
lab_rollout pause "$LAB_SVC4" >/dev/null
sleep 2.5
in_state() { state_is "$1" && weight_is "$2"; }
tap_check "pause: the step holds past its dwell" in_state paused 30.00
lab_rollout resume "$LAB_SVC4" >/dev/null
lab_rollout abort "$LAB_SVC4" >/dev/null
tap_check "abort: new clients back on blue" in_state aborted 0.00
lab_rollout start "$LAB_SVC4" --steps 30,100 --interval 30s >/dev/null
sleep 0.5
lab_rollout promote "$LAB_SVC4" >/dev/null
tap_check "promote: straight to 100%" in_state promoted 100.00
tap_done
