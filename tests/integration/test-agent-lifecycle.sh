#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-agent-lifecycle.sh - zdd-agent around its rollouts: health checks take
# a failing backend out and put it back; a bad config is refused with file:line (at start and
# on SIGHUP) and changes nothing; kill -9 mid-rollout and a restart resume the same step with
# every connection kept; /metrics passes promtool and a real Prometheus reads it back.
LAB_PREFIX=${LAB_PREFIX:-zl}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/prom.sh
source "$(dirname "${BASH_SOURCE[0]}")/prom.sh"
lab_require
lab_require_cmd promtool prometheus

tap_plan 23
lab_up || tap_bail "lab setup"
mkdir -p "$LAB_PIN_DIR"
for b in "${LAB_BACKENDS[@]}"; do
	lab_decap_attach "$b" >/dev/null || tap_bail "decap on $b"
done
conf=$LAB_DIR/zdd.yaml
lab_agent_conf "$conf" 4s

# 1. A bad file at start: refused with its line, the agent does not start.
printf 'services:\n  - service: 198.19.0.10:80/tcp\n    backends: []\n    bogus: 1\n' \
	>"$LAB_DIR/bad.yaml"
out=$(lab_nsenter lb "$LAB_OUT/zdd-agent" -c "$LAB_DIR/bad.yaml" 2>&1)
rc=$?
tap_is "bad config at start: exit 1" "$rc" 1
tap_is "bad config at start: file and line named" "$(grep -o 'bad.yaml:4: unknown key' <<<"$out")" \
	"bad.yaml:4: unknown key"

lab_agent_start "$conf" || tap_bail "zdd-agent"
sleep 1.5
# Least privilege: after setup only CAP_BPF (bit 39) is left, in the bounding set too.
caps=$(awk '/^Cap(Eff|Prm|Bnd):/ {printf "%s=%s ", $1, $2}' "/proc/$LAB_AGENT_PID/status")
tap_is "the agent keeps CAP_BPF alone" "$caps" \
	"CapPrm:=0000008000000000 CapEff:=0000008000000000 CapBnd:=0000008000000000 "
tap_is "the pins are root's alone" "$(stat -c '%U %a' "$LAB_PIN_DIR/lb" "$LAB_PIN_DIR/lb/zdd_flow_sets" | tr '\n' ' ')" \
	"root 700 root 600 "
tap_is "the control socket is root's alone" "$(stat -c '%U %a' "$LAB_DIR/agent.sock")" "root 600"
tap_check "/metrics listens on loopback only" bash -c \
	"ip netns exec '$LAB_NS_LB' ss -Hltn 'sport = :9334' | grep -q '127.0.0.1:9334'"
backend_state() { lab_ctl -j backend list "$LAB_SVC4" | jq -r ".[] | select(.address == \"$1\") | .state"; }
wait_backend()
{
	local i
	for ((i = 0; i < 40; i++)); do
		[[ $(backend_state "$1") == "$2" ]] && return 0
		sleep 0.1
	done
	return 1
}

# 2. Health: a backend that stops answering leaves the tables, and comes back when it rises.
tap_check "health: every backend up" wait_backend 198.18.3.12 up
lab_backend_stop b2
tap_check "health: a stopped backend is taken down" wait_backend 198.18.3.12 down
ok=1
for ((i = 0; i < 20; i++)); do
	[[ $(lab_curl "$LAB_VIP4") == "b1 blue" ]] || ok=0
done
tap_is "health: new connections all go to the healthy blue backend" "$ok" 1
lab_backend_start b2
tap_check "health: it rises again" wait_backend 198.18.3.12 up
# An operator's drain is theirs: a failing then passing health check does not undo it.
lab_ctl backend set "$LAB_SVC4" 198.18.3.12 --state drain >/dev/null
lab_backend_stop b2
sleep 1.5 # fall: 2 x 500 ms
lab_backend_start b2
sleep 1.5 # rise
tap_is "health: a drain set by the operator survives a flap" "$(backend_state 198.18.3.12)" drain
lab_ctl backend set "$LAB_SVC4" 198.18.3.12 --state up >/dev/null

# 3. SIGHUP with a bad file: refused, nothing changed; with a good one: applied.
before=$(lab_config)
cp "$conf" "$conf.good"
cp "$LAB_DIR/bad.yaml" "$conf"
kill -HUP "$LAB_AGENT_PID"
sleep 0.5
tap_check "SIGHUP, bad file: refused with file:line" grep -q "zdd.yaml:4: unknown key" "$LAB_DIR/agent.log"
tap_is "SIGHUP, bad file: the maps are unchanged" "$(lab_config)" "$before"
sed 's/green_weight: 0/green_weight: 5/' "$conf.good" >"$conf"
kill -HUP "$LAB_AGENT_PID"
sleep 0.5
weight_is() { lab_ctl status "$LAB_SVC4" | grep -q "green $1%"; }
tap_check "SIGHUP, good file: applied" weight_is 5.00
cp "$conf.good" "$conf"
kill -HUP "$LAB_AGENT_PID"
sleep 0.5

# 4. kill -9 mid-rollout, restart: the same step resumes; long-lived connections keep going.
for ((i = 0; i < 4; i++)); do
	lab_exec client "$LAB_LIB_DIR/keepalive.sh" "$LAB_VIP4" "$LAB_PORT" 40 0.25 \
		>"$LAB_DIR/long.$i" 2>/dev/null &
	pids+=($!)
done
sleep 0.5
lab_rollout start "$LAB_SVC4" --steps 10,50,100 --interval 6s >/dev/null
sleep 2.5
step_before=$(lab_rollout -j status | jq -r ".rollouts[] | select(.service == \"$LAB_SVC4\") | \"\(.state) \(.step)\"")
kill -9 "$LAB_AGENT_PID"
wait "$LAB_AGENT_PID" 2>/dev/null
tap_check "kill -9: the data path still forwards" lab_curl "$LAB_VIP4"
lab_agent_start "$conf" || tap_bail "zdd-agent restart"
step_after=$(lab_rollout -j status | jq -r ".rollouts[] | select(.service == \"$LAB_SVC4\") | \"\(.state) \(.step)\"")
tap_is "restart: the rollout resumes at the same step" "$step_after" "$step_before"
tap_check "restart: the maps were adopted, not recreated" grep -q "adopted the data path" "$LAB_DIR/agent.log"
wait "${pids[@]}"
errs=$(cat "$LAB_DIR"/long.* | grep -c ERR)
moved=0
for ((i = 0; i < 4; i++)); do
	[[ $(sort -u "$LAB_DIR/long.$i" | wc -l) -eq 1 ]] || moved=$((moved + 1))
done
tap_is "restart: no long-lived request failed, none moved ($(cat "$LAB_DIR"/long.* | wc -l) answers)" "$errs/$moved" "0/0"

# 5. /metrics: promtool, and a real Prometheus scraping the agent.
lab_nsenter lb curl -sf --max-time 2 "http://127.0.0.1:9334/metrics" >"$LAB_DIR/metrics.txt"
tap_check "promtool check metrics passes" promtool check metrics <"$LAB_DIR/metrics.txt"
PROM_NETNS=$LAB_NS_LB
prom_start 127.0.0.1:9334 || tap_bail "prometheus"
tap_check "Prometheus reads zdd series back" prom_wait_series "zdd_backend_flows_new_total{pool=\"blue\"}" 30
tap_check "Prometheus: the rollout step is there" prom_wait_series "zdd_rollout_step{service=\"$LAB_SVC4\"}" 10

# 6. SIGTERM: the agent exits cleanly and the data path keeps forwarding.
kill -TERM "$LAB_AGENT_PID"
wait "$LAB_AGENT_PID"
tap_is "SIGTERM: the agent exits with 0" "$?" 0
tap_check "SIGTERM: the data path still forwards" lab_curl "$LAB_VIP4"
tap_done
