#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tools/demo/demo.sh - `make demo`: the whole story on one machine, in network namespaces
# (client, router, the LB, two blue and two green nginx backends), under the world's traffic
# from many client addresses (random arrivals, keep-alive sessions, clients that abort):
#   1. zdd-agent rolls a good green out step by step and promotes it: no request fails;
#   2. the next release breaks (its servers refuse connections) in the middle of its rollout;
#      the agent sees it and rolls back on its own;
#   3. the release after answers 500 to one request in five, while /health and every handshake
#      stay fine: only the application's own metrics (nginx logs -> mtail -> Prometheus) show
#      it, and the agent's http_5xx_ratio check rolls it back.
# Ends with one line that starts with "demo:"; exit status 0 when the story went as told.
set -u
LAB_PREFIX=${LAB_PREFIX:-zdemo}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/integration/lib.sh"
lab_require_root
lab_require_cmd ip nsenter curl nginx mtail prometheus
CLIENTS=${CLIENTS:-64}
STEP=${STEP:-3s}
LOAD_SECS=${LOAD_SECS:-100}
RATE=${RATE:-300}	# new connections a second; their sessions ask about 4 times as often

say() { printf '\n== %s\n' "$*"; }
now_ms() { date +%s%3N; }
die() { echo "demo: failed: $*"; exit 1; }

wait_state() { lab_wait_state "$@" >/dev/null; }

# count FROM TO [PATTERN]: requests of the load log in [FROM, TO) ms (matching PATTERN).
count() { awk -v f="$1" -v t="$2" -v p="${3:-.}" '$1 >= f && $1 < t && $0 ~ p' "$run/load" | wc -l; }

say "building the lab: client -> router -> zdd (XDP) -> blue b1 b2 / green g1 g2"
lab_up || die "lab setup"
# No mkdir of the pin directories: zdd makes them, and mounts bpffs first on a fresh machine.
for b in "${LAB_BACKENDS[@]}"; do
	lab_decap_attach "$b" >/dev/null || die "decap on $b"
done
lab_clients_add "$CLIENTS" || die "client addresses"
lab_appmetrics_up || die "mtail and Prometheus"
echo "application metrics: nginx access logs -> mtail on every backend -> Prometheus"
q5xx='(sum(rate(http_requests_total{pool="{{pool}}",code=~"5.."}[{{window}}])) or vector(0))'
q5xx+=' / sum(rate(http_requests_total{pool="{{pool}}"}[{{window}}]))'
LAB_ROLLOUT_EXTRA="analysis: [ { name: http_5xx_ratio, prometheus: { address: '$LAB_PROM_URL',
	query: '$q5xx' }, window: 3s, max: 0.05, inconclusive_limit: 5 } ]"
LAB_ROLLOUT_EXTRA=${LAB_ROLLOUT_EXTRA//$'\n'/ } lab_agent_conf "$LAB_DIR/zdd.yaml" "$STEP"
lab_agent_start "$LAB_DIR/zdd.yaml" || die "zdd-agent"
sleep 1.5	# health checks rise
echo "zdd-agent runs the LB; service $LAB_SVC4; $CLIENTS client addresses"
echo "one request: $(lab_curl "$LAB_VIP4")"

run=$LAB_DIR/demo
mkdir -p "$run"
say "load for ${LOAD_SECS}s from $CLIENTS clients: new connections at random (${RATE}/s)," \
	"keep-alive sessions with think times, 3% of them aborted with a RST"
lab_load_realistic "$LOAD_SECS" "$run/load" "$RATE"
sleep 3

say "release 2 on green: rollout 10% -> 50% -> 100%, $STEP per step"
t_good=$(now_ms)
lab_rollout start "$LAB_SVC4"
wait_state "$LAB_SVC4" promoted 60 || die "the good rollout was not promoted"
t_promoted=$(now_ms)
lab_rollout status "$LAB_SVC4"
lab_ctl status "$LAB_SVC4"

say "release 3 goes to blue next: every new client back on blue first"
lab_ctl flip "$LAB_SVC4" --to blue
sleep 3
say "release 3 on green: rollout starts; 2 s in, green's servers start refusing connections"
lab_rollout start "$LAB_SVC4"
sleep 2
t_onset=$(now_ms)
for b in "${LAB_GREEN[@]}"; do lab_backend_stop "$b"; done
echo "green broken at $(date +%T.%3N)"
wait_state "$LAB_SVC4" rolled_back 30 || die "the bad rollout was not rolled back"
lab_rollout status "$LAB_SVC4"
lines=$(wc -l <"$LAB_DIR/agent.log")
t_rollback=$(lab_agent_log_ms 'rolled back')
sleep 4
t_bad_end=$(now_ms)
lab_ctl status "$LAB_SVC4"

say "release 4 goes to blue next; green's servers come back, fixed"
for b in "${LAB_GREEN[@]}"; do lab_backend_start "$b"; done
sleep 2	# health checks rise
say "release 4 on green: 2 s in, it answers 500 to 1 request in 5;" \
	"/health and every handshake stay fine"
lab_rollout start "$LAB_SVC4"
sleep 2
t_5xx_onset=$(now_ms)
for b in "${LAB_GREEN[@]}"; do lab_backend_app "$b" --error-pct 20; done
echo "green answers 500s from $(date +%T.%3N)"
wait_state "$LAB_SVC4" rolled_back 30 || die "the 5xx release was not rolled back"
lab_rollout status "$LAB_SVC4"
t_5xx_rollback=$(lab_agent_log_ms 'rolled back' "$lines")
for b in "${LAB_GREEN[@]}"; do lab_backend_app "$b"; done
sleep 2
t_5xx_end=$(now_ms)

lab_load_collect "$run/load"
say "what the clients saw"
good=$(count "$t_good" "$t_promoted")
good_failed=$(count "$t_good" "$t_promoted" FAIL)
bad=$(count "$t_promoted" "$t_bad_end")
bad_failed=$(count "$t_promoted" "$t_bad_end" FAIL)
x5=$(count "$t_bad_end" "$t_5xx_end")
x5_failed=$(count "$t_bad_end" "$t_5xx_end" FAIL)
# The 500s came from green only: blue's access logs have none.
x5_blue=$(cat "$LAB_DIR/b1/access.log" "$LAB_DIR/b2/access.log" | awk '$2 >= 500' | wc -l)
# Every failure falls between green breaking and the rollback (plus one client timeout).
late=$(awk -v t=$((t_rollback + 2500)) -v u="$t_5xx_onset" '$1 >= t && $1 < u && / FAIL:/' \
	"$run/load" | wc -l)
early=$(awk -v t="$t_onset" '$1 < t && / FAIL:/' "$run/load" | wc -l)
total=$(wc -l <"$run/load")
secs=$(awk -v a="$t_onset" -v b="$t_rollback" 'BEGIN {printf "%.1f", (b - a) / 1000}')
x5_secs=$(awk -v a="$t_5xx_onset" -v b="$t_5xx_rollback" 'BEGIN {printf "%.1f", (b - a) / 1000}')
printf '  all requests: %d, failed: %d\n' "$total" "$(grep -c ' FAIL:' "$run/load")"
printf '  sessions: %s\n' "$(awk '/^arrivals/ {print $2, "arrived,", $7, "aborted with a RST"}' \
	"$run/load.summary")"
printf '  failures before green broke: %d; after the rollback (+2.5 s): %d\n' "$early" "$late"
echo "demo: rollout promoted, $good requests, $good_failed failed;" \
	"bad rollout rolled back in $secs s, $bad requests, $bad_failed failed" \
	"(all on green before rollback);" \
	"5xx release rolled back in $x5_secs s by http_5xx_ratio, $x5 requests, $x5_failed failed" \
	"(all on green)"
[[ $good_failed -eq 0 && $early -eq 0 && $late -eq 0 && $x5_blue -eq 0 ]]
