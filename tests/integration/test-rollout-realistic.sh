#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-rollout-realistic.sh - the rollback rule under the world's traffic, not a
# metronome (lab_load_realistic: Poisson arrivals, keep-alive sessions with think times, 3% of the
# clients abort with a RST). Healthy rollouts, green identical to blue, are promoted every time
# with no failed request; a green that refuses connections is rolled back within the handshake
# timeout + 2 s, whether its health checks fail too or only the clients' handshakes show it.
# The load's own claims (random arrivals, RSTs sent) are checked first.
# RATE (new connections a second), RUNS (healthy rollouts in a row) and SEED (replays the loads'
# draws; each load's seed is in the output) may be set from outside.
LAB_PREFIX=${LAB_PREFIX:-zq}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require
lab_require_cmd nft
RATE=${RATE:-250}
RUNS=${RUNS:-3}
SEED=${SEED:-}
HS_TIMEOUT_MS=1000
BOUND_MS=$((HS_TIMEOUT_MS + 2000))
HTTPLOAD=$LAB_OUT/zdd-httpload
[[ -x $HTTPLOAD ]] || lab_skip "$HTTPLOAD not built"

tap_plan $((12 + 2 * RUNS))

# 1. Bad arguments of the realistic mode are usage errors (2), before any lab exists.
bad_args_exit_2()
{
	local args rc
	for args in "-P" "-P -r 10 -k" "-x 3" "-T 100" "-n 4" "-R 1" "-P -r 10 -x 101" \
		"-P -r 10 -n 0" "-P -r 10 -T -1" "-P -r 10 -R abc" "-P -r 10 -R -1"; do
		# shellcheck disable=SC2086 # one word per option
		"$HTTPLOAD" -u "$LAB_VIP4:$LAB_PORT" -s "$LAB_CLIENT4" -d 1 $args >/dev/null 2>&1
		rc=$?
		((rc == 2)) || { echo "zdd-httpload $args: exit $rc, not 2"; return 1; }
	done
	"$HTTPLOAD" -h | grep -q -- '^  -P ' || { echo "-h does not describe -P"; return 1; }
}
tap_check "zdd-httpload: bad -P, -n, -T, -x, -R arguments exit 2" bad_args_exit_2

lab_up || tap_bail "lab setup"
mkdir -p "$LAB_PIN_DIR"
for b in "${LAB_BACKENDS[@]}"; do
	lab_decap_attach "$b" >/dev/null || tap_bail "decap on $b"
done
lab_clients_add 64 || tap_bail "client addresses"
LAB_ROLLOUT_EXTRA="handshake_timeout: ${HS_TIMEOUT_MS}ms" lab_agent_conf "$LAB_DIR/zdd.yaml" 2s
lab_agent_start "$LAB_DIR/zdd.yaml" || tap_bail "zdd-agent"
sleep 1.5
run=$LAB_DIR/run
mkdir -p "$run"
seed_args=()
[[ -z $SEED ]] || seed_args=(-R "$SEED")

state() { lab_rollout status "$LAB_SVC4" | awk 'NR == 1 { print $2 }'; }
# start STEPS INTERVAL: a rollout; one that does not start must not pass for the last one's end.
start() { lab_rollout start "$LAB_SVC4" --steps "$1" --interval "$2" >/dev/null; }
# wait_end SECS: until the rollout is over (bounded); prints the state it ended in.
wait_end()
{
	local i s
	for ((i = 0; i < $1 * 10; i++)); do
		s=$(state)
		[[ $s == running || $s == paused ]] || break
		sleep 0.1
	done
	echo "$s"
}
weight_is() { lab_ctl status "$LAB_SVC4" | grep -q "green $1%"; }
# agent_event LINE PATTERN: the agent's first log line after LINE that matches PATTERN.
agent_event() { tail -n +"$(($1 + 1))" "$LAB_DIR/agent.log" | grep -m1 "$2"; }
# The line's time of day in ms since the epoch (the agent logs local time).
event_ms() { date -d "today ${1%% *}" +%s%3N; }
seed_of() { awk '/^arrivals/ { print $NF }' "$1.summary"; }
# gaps FILE: the count of requests and the coefficient of variation of the gaps between them.
gaps()
{
	awk 'NR > 1 { g = $1 - t; s += g; ss += g * g; n++ } { t = $1 }
		END { m = n ? s / n : 0; cv = m > 0 ? sqrt(ss / n - m * m) / m : 0
			printf "%d %.2f\n", NR, cv }' "$1"
}
in_range() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
# RSTs of zero-linger closes the client's kernel sent (absolute, no nstat history touched).
rsts_sent()
{
	lab_exec client nstat -asz TcpExtTCPAbortOnData | awk '$1 ~ /AbortOnData/ { print $2 }'
}

# 2. The realistic mode's arrivals are random, the paced mode's are not: one-shot requests at
# 200/s for 3 s, side by side. Exponential gaps have a coefficient of variation of 1.
lab_load 3 64 "$run/paced" 200
paced=${LAB_LOAD_PIDS[0]}
lab_load_realistic 3 "$run/poisson" 200 -n 1 -x 0 "${seed_args[@]}"
lab_load_collect "$run/poisson"
LAB_LOAD_PIDS=("$paced")
lab_load_collect "$run/paced"
read -r n cv < <(gaps "$run/poisson")
poisson_ok() { in_range "$n" 480 720 && in_range "$cv" 0.8 1.2; }
tap_check "Poisson arrivals: $n in 3 s at 200/s, gaps' variation $cv (~1)" poisson_ok
read -r n cv < <(gaps "$run/paced")
tap_check "paced arrivals: gaps' variation $cv (~0)" in_range "$cv" 0 0.5

# 3. Healthy rollouts in a row: green is blue's twin, so each must be promoted without a failed
# request, whatever the arrivals did. The rule must not mistake chance for a bad release.
rst0=$(rsts_sent)
promoted=0
for ((i = 1; i <= RUNS; i++)); do
	f=$run/healthy$i
	lines=$(wc -l <"$LAB_DIR/agent.log")
	lab_load_realistic 10 "$f" "$RATE" "${seed_args[@]}"
	sleep 1	# sessions build up before the first step
	got="not started"
	start 10,50,100 2s && got=$(wait_end 15)
	lab_load_stop "$f" # the rollout is over: what came after it is not the question
	[[ $got == promoted ]] && promoted=$((promoted + 1))
	tap_is "healthy rollout $i of $RUNS: promoted (seed $(seed_of "$f"))" "$got" promoted ||
		tap_diag "$(agent_event "$lines" 'rolled back')"
	failed=$(grep -c ' FAIL:' "$f")
	tap_is "healthy rollout $i: no failed request ($(wc -l <"$f") requests)" "$failed" 0 ||
		tap_diag "$(grep -m5 ' FAIL:' "$f")" "$(cat "$f.summary")"
	lab_ctl flip "$LAB_SVC4" --to blue >/dev/null
	sleep 0.5
done
tap_diag "healthy rollouts promoted: $promoted of $RUNS"

# 4. The clients really aborted: the RSTs their kernel sent are the sessions the load aborted,
# about 3% of them.
rst=$(($(rsts_sent) - rst0))
read -r sessions aborted < <(cat "$run"/healthy*.summary | awk '/^arrivals/ { a += $2; r += $7 }
	END { print a, r }')
rst_ok() { ((rst == aborted)) && in_range "$((aborted * 1000 / sessions))" 15 50; }
tap_check "RST closers: $aborted of $sessions sessions aborted, their kernel sent $rst RSTs" rst_ok

# broken_green FILE WHAT CMD...: a rollout under the load in which CMD breaks green 1.5 s in (at
# 10% of new clients). It is rolled back on its own, within BOUND_MS, and nothing fails once new
# clients are back on blue.
broken_green()
{
	local f=$run/$1 what=$2 lines onset got rb took late
	shift 2
	lines=$(wc -l <"$LAB_DIR/agent.log")
	lab_load_realistic 12 "$f" "$RATE" "${seed_args[@]}"
	sleep 1
	if start 10,50,100 4s; then
		sleep 1.5
		onset=$(date +%s%3N)
		"$@"
		got=$(wait_end 10)
	else
		onset=$(date +%s%3N) got="not started"
	fi
	tap_is "$what: rolled back" "$got" rolled_back
	rb=$(agent_event "$lines" 'rolled back')
	took=none
	[[ -z $rb ]] || took=$(($(event_ms "$rb") - onset))
	tap_diag "$what: rolled back ${took} ms after the onset: $rb"
	# Before the onset (a negative time) is a healthy green rolled back: no better than late.
	in_time() { [[ $took != none ]] && ((took >= 0 && took <= BOUND_MS)); }
	tap_check "$what: rolled back within ${BOUND_MS} ms of the onset (${took} ms)" in_time
	tap_check "$what: new clients back on blue" weight_is 0.00
	# The load goes on 2 s past the window it is judged on (2.5 s after the rollback).
	sleep "$(awk -v ms=$((onset + ${took/none/0} + 4500 - $(date +%s%3N))) \
		'BEGIN { print (ms > 0 ? ms / 1000 : 0) }')"
	lab_load_stop "$f"
	late=$(awk -v t=$((onset + ${took/none/0} + 2500)) '$1 >= t && / FAIL:/' "$f" | wc -l)
	tap_is "$what: no failure after the rollback (seed $(seed_of "$f"))" "$late" 0
}

green_stop() { local b; for b in "${LAB_GREEN[@]}"; do lab_backend_stop "$b"; done; }
# Green resets every new connection to the service address, while its health checks (to its
# own address) pass: only the clients' handshakes can tell.
green_reject()
{
	local b
	for b in "${LAB_GREEN[@]}"; do
		lab_exec "$b" nft -f - <<EOF || return 1
table inet zq_reject {
	chain input {
		type filter hook input priority 0;
		ip daddr $LAB_VIP4 tcp dport $LAB_PORT tcp flags syn / syn,ack reject with tcp reset
	}
}
EOF
	done
}

# 5. Green's servers stop: connections are refused, and its health checks fail too.
broken_green refuse "refusing green" green_stop
for b in "${LAB_GREEN[@]}"; do lab_backend_start "$b" || tap_bail "nginx on $b"; done
sleep 2	# green's health checks rise again

# 6. Green refuses new connections while its health checks pass.
broken_green reject "green resetting new connections, health checks passing" green_reject
tap_done
