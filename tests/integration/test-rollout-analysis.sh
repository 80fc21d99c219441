#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-rollout-analysis.sh - rollouts judged on what shoppers see: the
# application's own metrics (nginx access logs -> mtail -> a real Prometheus) and a web check,
# under the world's traffic (lab_load_realistic). Every broken green keeps /health at 200 and
# completes every handshake, so the L4 rule sees nothing:
#  - a green as bad as blue (1% of 500s in both pools) is promoted;
#  - a green answering 500 to 20% of requests is rolled back by http_5xx_ratio;
#  - a green answering 250 ms late is rolled back by p99_latency (max_ratio_to_blue);
#  - Prometheus stopped mid-rollout (SIGSTOP: connections unanswered) pauses the rollout, which
#    never advances meanwhile and resumes by itself when Prometheus is back; neither that nor
#    a black-holed Prometheus (its packets dropped) makes the agent's 100 ms loop late
#    (zdd_agent_ticks_late_total);
#  - a query Prometheus rejects is inconclusive, reported with Prometheus' own words;
#  - a web check (a team's own judge) answering a score below its min rolls back.
# Onset-to-rollback times are printed; the bound is generous for a shared CI machine.
LAB_PREFIX=${LAB_PREFIX:-za}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
lab_require_cmd mtail prometheus python3 jq nft
RATE=${RATE:-200}
BOUND_MS=${BOUND_MS:-10000}
WEB_PORT=18080

tap_plan 19
lab_up || tap_bail "lab setup"
for b in "${LAB_BACKENDS[@]}"; do
	lab_decap_attach "$b" >/dev/null || tap_bail "decap on $b"
done
lab_clients_add 64 >/dev/null || tap_bail "client addresses"
lab_appmetrics_up || tap_bail "mtail and Prometheus"

# A team's own judge: a web server in the lb namespace answering JSON from a file.
mkdir -p "$LAB_DIR/web"
echo '{"verdict": {"score": 1}}' >"$LAB_DIR/web/verdict.json"
ip netns exec "$LAB_NS_LB" python3 -m http.server "$WEB_PORT" --bind 127.0.0.1 \
	--directory "$LAB_DIR/web" >"$LAB_DIR/web.log" 2>&1 &
lab_defer kill "$!"

# The 5xx ratio needs "or vector(0)": a pool that never answered a 500 has no such series.
q5xx='(sum(rate(http_requests_total{pool="{{pool}}",code=~"5.."}[{{window}}])) or vector(0))'
q5xx+=' / sum(rate(http_requests_total{pool="{{pool}}"}[{{window}}]))'
# p99 floored at 50 ms: below that, latencies are noise, and a ratio of noise is not a verdict.
qp99='clamp_min(histogram_quantile(0.99, sum by (le) '
qp99+='(rate(http_request_duration_seconds_bucket{pool="{{pool}}"}[{{window}}]))), 0.05)'
prom_checks="analysis: [
	{ name: http_5xx_ratio, prometheus: { address: '$LAB_PROM_URL', query: '$q5xx' },
	  window: 3s, max: 0.05, inconclusive_limit: 5 },
	{ name: p99_latency, prometheus: { address: '$LAB_PROM_URL', query: '$qp99' },
	  window: 3s, max_ratio_to_blue: 2, max: 2, inconclusive_limit: 5 } ]"
conf=$LAB_DIR/zdd.yaml
# conf_with CHECKS: the lab's config, rollouts with a 1 s handshake timeout and CHECKS.
conf_with() { LAB_ROLLOUT_EXTRA="handshake_timeout: 1s, ${1//$'\n'/ }" lab_agent_conf "$conf" 2s; }
reload()
{
	local n i
	n=$(grep -c "config $conf applied" "$LAB_DIR/agent.log")
	kill -HUP "$LAB_AGENT_PID"
	for ((i = 0; i < 50; i++)); do
		(($(grep -c "config $conf applied" "$LAB_DIR/agent.log") > n)) && return 0
		sleep 0.1
	done
	return 1
}
weight() { lab_ctl -j status "$LAB_SVC4" | jq -r '.services[0].green_weight_pct'; }
metric() { lab_exec lb curl -s --max-time 2 "http://127.0.0.1:9334/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
heal() { for b in "${LAB_BACKENDS[@]}"; do lab_backend_app "$b"; done; }
back_to_blue() { lab_ctl flip "$LAB_SVC4" --to blue >/dev/null; }

conf_with "$prom_checks"
lab_agent_start "$conf" || tap_bail "zdd-agent"
sleep 1.5 # health checks rise

# broken_green WHAT ARGS CHECK: a rollout whose green starts failing (lab_backend_app ARGS on
# both green backends) 3 s in, at its first step; rolled back by CHECK, and how soon.
broken_green()
{
	local what=$1 args=$2 check=$3 lines onset at
	lines=$(wc -l <"$LAB_DIR/agent.log")
	lab_load_realistic 25 "$LAB_DIR/load-$check" "$RATE"
	sleep 2
	lab_rollout start "$LAB_SVC4" --steps 10,50,100 --interval 4s >/dev/null
	sleep 3
	onset=$(date +%s%3N)
	# shellcheck disable=SC2086 # the options, one word each
	for b in "${LAB_GREEN[@]}"; do lab_backend_app "$b" $args; done
	tap_check "$what: rolled back" lab_wait_state "$LAB_SVC4" rolled_back 20
	at=$(lab_agent_log_ms 'rolled back' "$lines")
	tap_diag "$what: rolled back $((${at:-0} - onset)) ms after the onset:" \
		"$(tail -n +"$((lines + 1))" "$LAB_DIR/agent.log" | grep -m1 'rolled back')"
	tap_check "$what: by $check, within $BOUND_MS ms ($((${at:-0} - onset)) ms)" bash -c \
		"[[ -n '$at' ]] && (($at - $onset <= $BOUND_MS)) &&
		 tail -n +$((lines + 1)) '$LAB_DIR/agent.log' | grep -m1 'rolled back' |
		 grep -q 'check $check failed'"
	tap_is "$what: new clients back on blue" "$(weight)" 0
	lab_load_stop "$LAB_DIR/load-$check"
	heal
}

# 1. A green as bad as blue is no worse: promoted.
for b in "${LAB_BACKENDS[@]}"; do lab_backend_app "$b" --error-pct 1; done
lab_load_realistic 30 "$LAB_DIR/load-same" "$RATE"
sleep 2
lab_rollout start "$LAB_SVC4" --steps 10,50,100 --interval 3s >/dev/null
tap_check "green as bad as blue (1% of 500s each): promoted" lab_wait_state "$LAB_SVC4" promoted 40
tap_is "green as bad as blue: no rollback" "$(metric 'zdd_rollbacks_total{service="'"$LAB_SVC4"'",reason="http_5xx_ratio"}')" 0
lab_load_stop "$LAB_DIR/load-same"
heal
back_to_blue

# 2-3. What shoppers see: errors, then latency.
broken_green "5xx green (20% of requests)" "--error-pct 20" http_5xx_ratio
broken_green "slow green (250 ms)" "--delay-ms 250" p99_latency

# 4. Prometheus stopped mid-rollout: no verdict is no promotion; back, the rollout goes on.
late0=$(metric zdd_agent_ticks_late_total) ticks0=$(metric zdd_agent_ticks_total)
lab_load_realistic 40 "$LAB_DIR/load-stop" "$RATE"
sleep 2
lab_rollout start "$LAB_SVC4" --steps 10,50,100 --interval 3s >/dev/null
sleep 2
kill -STOP "$PROM_PID"
tap_check "Prometheus stopped: the rollout pauses" lab_wait_state "$LAB_SVC4" paused 15
held=$(weight)
sleep 4
tap_is "Prometheus stopped: still paused 4 s later, at the same weight" \
	"$(lab_rollout_json "$LAB_SVC4" | jq -r .state) $(weight)" "paused $held"
late1=$(metric zdd_agent_ticks_late_total) ticks1=$(metric zdd_agent_ticks_total)
kill -CONT "$PROM_PID"
tap_check "Prometheus back: the rollout resumes and is promoted" \
	lab_wait_state "$LAB_SVC4" promoted 30
# A loop that waited on the stopped Prometheus would be late at every evaluation, by the
# request's timeout; one tick late is a scheduling delay of the busy two-CPU machine.
tap_check "Prometheus stopped: at most one tick of the agent's loop late ($((late1 - late0)) of $((ticks1 - ticks0)) ticks)" \
	test "$((late1 - late0))" -le 1
back_to_blue

# 4b. Black-holed: every packet to Prometheus dropped. Each request waits out its timeout, in
# the engine's own epoll: the loop stays on time.
late0=$(metric zdd_agent_ticks_late_total) ticks0=$(metric zdd_agent_ticks_total)
lab_rollout start "$LAB_SVC4" --steps 10,50,100 --interval 3s >/dev/null
lab_exec lb nft -f - <<EOF || tap_bail "nft: black-hole Prometheus"
table inet zdd_blackhole {
	chain out {
		type filter hook output priority 0;
		ip daddr 127.0.0.1 tcp dport ${LAB_PROM_URL##*:} drop
	}
}
EOF
sleep 4
late1=$(metric zdd_agent_ticks_late_total) ticks1=$(metric zdd_agent_ticks_total)
lab_exec lb nft delete table inet zdd_blackhole
tap_is "Prometheus black-holed: no tick late ($((ticks1 - ticks0)) ticks in 4 s)" \
	"$((late1 - late0))" 0
lab_rollout abort "$LAB_SVC4" >/dev/null
lab_load_stop "$LAB_DIR/load-stop"

# 5. A query Prometheus refuses: inconclusive, in Prometheus' words; the rollout pauses.
conf_with "analysis: [ { name: bad_query, prometheus: { address: '$LAB_PROM_URL',
	query: 'sum(rate(http_requests_total[3s]' }, max: 1, inconclusive_limit: 3 } ]"
tap_check "config with a query Prometheus refuses: applied on SIGHUP" reload
lab_rollout start "$LAB_SVC4" --steps 10,100 --interval 2s >/dev/null
tap_check "refused query: the rollout pauses, never advances" lab_wait_state "$LAB_SVC4" paused 10
why=$(lab_rollout_json "$LAB_SVC4" | jq -r '.checks[0].why')
tap_diag "refused query: $why"
said_by_prometheus() { [[ $why == *"parse error"* ]]; }
tap_check "refused query: Prometheus' error text is reported" said_by_prometheus
tap_check "refused query: counted inconclusive" bash -c "(($(metric \
	'zdd_analysis_evaluations_total{service="'"$LAB_SVC4"'",check="bad_query",result="inconclusive"}') >= 3))"
lab_rollout abort "$LAB_SVC4" >/dev/null

# 6. A web check, the team's own judge: a score below its min rolls back.
conf_with "analysis: [ { name: judge, web: { url: 'http://127.0.0.1:$WEB_PORT/verdict.json',
	field: verdict.score }, min: 1 } ]"
reload || tap_fail "config with a web check: applied on SIGHUP"
lab_load_realistic 15 "$LAB_DIR/load-web" "$RATE"
sleep 1
lab_rollout start "$LAB_SVC4" --steps 10,50,100 --interval 3s >/dev/null
sleep 3
tap_is "web check scoring 1: the rollout runs" "$(lab_rollout_json "$LAB_SVC4" | jq -r .state)" \
	running
echo '{"verdict": {"score": 0}}' >"$LAB_DIR/web/verdict.json"
rolled_back_by() { lab_wait_state "$LAB_SVC4" rolled_back 10 && lab_rollout_json "$LAB_SVC4" |
	jq -e --arg c "check $1 failed" '.reason | contains($c)' >/dev/null; }
tap_check "web check scoring 0 (min 1): rolled back by judge" rolled_back_by judge
lab_load_stop "$LAB_DIR/load-web"
tap_done
