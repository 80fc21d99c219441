#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-lab-appmetrics.sh - the lab's application metrics (issue #14): nginx
# access logs, mtail on every backend and a real Prometheus scraping them and zdd-agent. A green
# answering 20% 500s, then 200 ms late, shows per pool in PromQL while its /health stays 200;
# and how long after each change the queries show it (the pipeline delay of the analysis).
# RATE (requests a second through the service) may be set from outside.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail
LAB_PREFIX=${LAB_PREFIX:-zp}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
lab_require_cmd mtail prometheus jq awk
RATE=${RATE:-200}
LOAD_SECS=45		# an upper bound: the load is stopped when the checks are done
WAIT_S=15		# bound of every wait for Prometheus to show a change
for bin in zdd-httpload zdd-agent zdd-bpfctl; do
	[[ -x $LAB_OUT/$bin ]] || lab_skip "$LAB_OUT/$bin not built"
done

tap_plan 15

# The PromQL of the checks: what an analysis of green against blue would ask.
q_rate='sum by (pool) (rate(http_requests_total[10s]))'
# The 5xx ratio of a pool (or of a backend: LABEL backend). `or vector(0)`: a pool that never
# answered a 5xx has no code="5.." series at all, and the ratio would be no sample, not 0.
q_5xx_ratio() # POOL [LABEL]
{
	printf '(sum(rate(http_requests_total{%s="%s",code=~"5.."}[5s])) or vector(0)) / ' \
		"${2:-pool}" "$1"
	printf 'sum(rate(http_requests_total{%s="%s"}[5s]))' "${2:-pool}" "$1"
}
q_p99() # POOL
{
	printf 'histogram_quantile(0.99, sum by (le) '
	printf '(rate(http_request_duration_seconds_bucket{pool="%s"}[5s])))' "$1"
}

# promql EXPR: an instant query through Prometheus' HTTP API; prints "POOL<tab>VALUE" per sample
# (POOL empty when the result has no pool label). 1 when the query fails.
promql()
{
	local out
	out=$(lab_exec lb curl -sS --noproxy '*' --max-time 3 -G "$LAB_PROM_URL/api/v1/query" \
		--data-urlencode "query=$1") || return 1
	jq -e '.status == "success"' <<<"$out" >/dev/null ||
		{ echo "# query '$1': $out" >&2; return 1; }
	jq -r '.data.result[] | "\(.metric.pool // "")\t\(.value[1])"' <<<"$out"
}

# value EXPR: the first sample's value, or nothing.
value() { promql "$1" | awk -F '\t' 'NR == 1 { print $2 }'; }
# pool_value EXPR POOL: the value of POOL's sample, or nothing.
pool_value() { promql "$1" | awk -F '\t' -v p="$2" '$1 == p { print $2 }'; }
# holds VALUE AWK_CONDITION_ON_v: a number (not NaN, not empty) for which the condition holds.
holds() { [[ $1 =~ ^[0-9.e+-]+$ ]] && awk -v v="$1" "BEGIN { exit !($2) }"; }
now_ms() { date +%s%3N; }
# settle T0_MS: sleeps until 6 s after T0_MS, so that every [5s] window is wholly after it.
settle()
{
	sleep "$(awk -v w="$(($(now_ms) - $1))" \
		'BEGIN { s = (6000 - w) / 1000; print (s > 0 ? s : 0) }')"
}

# wait_for DESC T0_MS CMD CONDITION: polls (bounded by WAIT_S) until CMD's output holds
# CONDITION; tap_diag with the ms since T0_MS. WAITED_MS is set; 1 after WAIT_S.
WAITED_MS=""
wait_for()
{
	local desc=$1 t0=$2 cmd=$3 cond=$4 v deadline=$((SECONDS + WAIT_S))
	WAITED_MS=""
	while ((SECONDS < deadline)); do
		v=$(eval "$cmd" 2>/dev/null)
		if holds "$v" "$cond"; then
			WAITED_MS=$(($(now_ms) - t0))
			tap_diag "$desc: ${WAITED_MS} ms ($v)"
			return 0
		fi
		sleep 0.1
	done
	tap_diag "$desc: not within ${WAIT_S}s (last: '$v')"
	return 1
}

# checked EXPR CONDITION: EXPR's value now holds CONDITION (for tap_check).
checked()
{
	local v
	v=$(value "$1")
	holds "$v" "$2" && return 0
	echo "$1 = '$v', want $2"
	return 1
}

# ---------------------------------------------------------------------------------------------

lab_up || tap_bail "lab setup"
mkdir -p "$LAB_PIN_DIR"
for b in "${LAB_BACKENDS[@]}"; do
	lab_decap_attach "$b" >/dev/null || tap_bail "decap on $b"
done
lab_clients_add 64 >/dev/null || tap_bail "client addresses"
lab_agent_conf "$LAB_DIR/zdd.yaml"
lab_agent_start "$LAB_DIR/zdd.yaml" || tap_bail "zdd-agent"

# 1-2. The pipeline is up: every mtail and the agent are targets Prometheus reports up.
t=$(now_ms)
tap_check "lab_appmetrics_up: mtail on every backend, Prometheus scraping them and the agent" \
	lab_appmetrics_up || tap_bail "app metrics"
tap_diag "app metrics up in $(($(now_ms) - t)) ms; Prometheus at $LAB_PROM_URL (lb namespace)"
tap_check "zdd-agent's /metrics are scraped: up{job=\"zdd\"} == 1" \
	checked 'up{job="zdd"}' 'v == 1'
labels_ok()
{
	local got want
	got=$(lab_exec lb curl -sS --noproxy '*' --max-time 3 "$LAB_PROM_URL/api/v1/targets" |
		jq -r '.data.activeTargets[] | select(.labels.job == "app") |
			"\(.labels.backend) \(.labels.pool) \(.labels.service) \(.health)"' | sort)
	want=$(printf '%s\n' "b1 blue $LAB_SVC4 up" "b2 blue $LAB_SVC4 up" \
		"g1 green $LAB_SVC4 up" "g2 green $LAB_SVC4 up")
	[[ $got == "$want" ]] || { echo "targets: $got"; return 1; }
}
tap_check "the mtail targets carry pool, backend and service labels" labels_ok

# 3. Load through the service, all on blue: blue's request rate shows, green has none.
lab_load "$LOAD_SECS" 64 "$LAB_DIR/load" "$RATE"
t=$(now_ms)
wait_for "blue's request rate visible after the load starts" "$t" \
	"pool_value '$q_rate' blue" 'v > 0'
blue_only()
{
	local blue green
	blue=$(pool_value "$q_rate" blue) green=$(pool_value "$q_rate" green)
	holds "$blue" 'v > 0' && [[ -z $green || $green == 0 ]] && return 0
	echo "blue '$blue', green '$green'"
	return 1
}
tap_check "blue's request rate > 0, green's none (weight 0): $q_rate" blue_only

# 4. Half the new clients to green (a canary and its baseline side by side).
lab_ctl weight "$LAB_SVC4" green=50 >/dev/null || tap_bail "weight green=50"
t=$(now_ms)
wait_for "green's request rate visible after weight green=50" "$t" \
	"pool_value '$q_rate' green" 'v > 0'

# 5-8. Both green backends fail 20% of their requests, their /health stays 200.
for b in "${LAB_GREEN[@]}"; do
	lab_backend_app "$b" --error-pct 20 || tap_bail "lab_backend_app $b --error-pct 20"
done
t=$(now_ms)
wait_for "green's first 5xx visible (raw counter) after the change" "$t" \
	"value 'sum(http_requests_total{pool=\"green\",code=~\"5..\"})'" 'v > 0'
wait_for "green's 5xx ratio over [5s] >= 0.1 after the change" "$t" \
	"value '$(q_5xx_ratio green)'" 'v >= 0.1'
health=$(lab_exec lb curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 2 \
	"$(lab_url "$(lab_addr4 g1)" /health)")
tap_is "g1's /health still answers 200 while it fails 20%" "$health" 200
settle "$t"
tap_check "green's 5xx ratio is 0.1-0.3: $(q_5xx_ratio green)" \
	checked "$(q_5xx_ratio green)" 'v >= 0.1 && v <= 0.3'
tap_check "blue's 5xx ratio is 0" checked "$(q_5xx_ratio blue)" 'v == 0'
tap_check "g1 alone (label backend) fails 0.1-0.3" checked "$(q_5xx_ratio g1 backend)" \
	'v >= 0.1 && v <= 0.3'

# 9-11. Green answers right, 200 ms late.
for b in "${LAB_GREEN[@]}"; do
	lab_backend_app "$b" --delay-ms 200 || tap_bail "lab_backend_app $b --delay-ms 200"
done
t=$(now_ms)
wait_for "green's p99 over [5s] >= 0.2 s after the change" "$t" \
	"value '$(q_p99 green)'" 'v >= 0.2'
settle "$t"
tap_check "green's p99 is >= 0.2 s: $(q_p99 green)" checked "$(q_p99 green)" 'v >= 0.2'
tap_check "blue's p99 is < 0.05 s" checked "$(q_p99 blue)" 'v < 0.05'
tap_check "green's 5xx ratio is back to 0 (the delay alone)" checked "$(q_5xx_ratio green)" 'v == 0'

# 12. The load: the only failures are green's 500s, no connection failed.
kill -TERM "${LAB_LOAD_PIDS[@]}" 2>/dev/null
lab_load_collect "$LAB_DIR/load"
total=$(wc -l <"$LAB_DIR/load")
s500=$(grep -c ' FAIL:status-500$' "$LAB_DIR/load")
other=$(grep ' FAIL:' "$LAB_DIR/load" | grep -vc ' FAIL:status-500$')
tap_diag "load: $total requests, $s500 answered 500, $other other failures"
tap_is "the load's only failures are green's 500s (TCP fine)" "$other" 0

# 13. The pipeline's own delay, without the windows of the queries: from a request answered to
# Prometheus counting it (mtail's poll, the scrape interval), a few times at random phases.
pipeline_delay()
{
	local i c0 c t0 d delays=()
	for ((i = 0; i < 5; i++)); do
		sleep "0.$((RANDOM % 10))"
		c0=$(value 'sum(http_requests_total{backend="b1"})')
		holds "$c0" 'v >= 0' || { echo "no b1 counter: '$c0'"; return 1; }
		lab_curl_from lb "$(lab_addr4 b1)" /probe >/dev/null || return 1
		t0=$(now_ms) d=""
		while (($(now_ms) - t0 < 3000)); do
			c=$(value 'sum(http_requests_total{backend="b1"})')
			holds "$c" "v > $c0" && { d=$(($(now_ms) - t0)); break; }
			sleep 0.05
		done
		[[ -n $d ]] || { echo "probe $i not counted within 3 s"; return 1; }
		delays+=("$d")
	done
	read -r -a delays <<<"$(printf '%s\n' "${delays[@]}" | sort -n | tr '\n' ' ')"
	PIPELINE="request answered -> counted in Prometheus: ${delays[*]} ms (median ${delays[2]})"
	((delays[4] <= 2000)) || { echo "max ${delays[4]} ms > 2000"; return 1; }
}
PIPELINE=""
tap_check "Prometheus counts a request within 2 s of its answer (5 probes)" pipeline_delay
[[ -z $PIPELINE ]] || tap_diag "$PIPELINE"

# 14. lab_backend_respond and lab_backend_app keep each other's settings.
respond_and_app()
{
	local t1
	lab_backend_respond g2 503 || return 1
	[[ $(lab_curl_from lb "$(lab_addr4 g2)" /health -o /dev/null -w '%{http_code}') == 503 ]] ||
		{ echo "g2 /health is not 503"; return 1; }
	lab_backend_respond g2 200 || return 1
	t1=$(lab_curl_from lb "$(lab_addr4 g2)" /x -o /dev/null -w '%{time_total}') || return 1
	# The 200 ms delay is echo_sleep, an nginx timer on a cached millisecond clock: it may answer
	# a hair early by curl's clock. Without the delay it answers at once.
	holds "$t1" 'v >= 0.19' ||
		{ echo "g2 after 503 -> 200 answers in $t1 s, not >= 0.19 (delay lost)"; return 1; }
	lab_backend_app g2 || return 1
	t1=$(lab_curl_from lb "$(lab_addr4 g2)" /x -o /dev/null -w '%{time_total}') || return 1
	holds "$t1" 'v < 0.1' || { echo "g2 healed answers in $t1 s"; return 1; }
	lab_backend_app g2 --error-pct 101 2>/dev/null && { echo "101% accepted"; return 1; }
	lab_backend_app g2 --delay-ms x 2>/dev/null && { echo "delay-ms x accepted"; return 1; }
	lab_backend_app g2 --error-pct 2>/dev/null && { echo "no value accepted"; return 1; }
	return 0
}
tap_check "respond 503 then 200 keeps lab_backend_app's delay; no option heals; bad values fail" \
	respond_and_app

# 15. Teardown stops mtail and Prometheus.
pids=("${LAB_MTAIL_PID[@]}" "$PROM_PID")
lab_down >/dev/null 2>&1
left=""
for p in "${pids[@]}"; do
	_lab_alive "$p" && left+=" $p"
done
tap_is "lab_down stops every mtail and Prometheus (pids ${pids[*]})" "$left" ""
tap_done
