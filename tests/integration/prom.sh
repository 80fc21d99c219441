# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# tests/integration/prom.sh - a real Prometheus server scraping one target, for tests that check
# the agent's /metrics the way operators consume it. Sourced; not a test itself.
#
#   source prom.sh
#   prom_start 127.0.0.1:9334 || tap_bail "prometheus"   # sets PROM_URL, PROM_PID
#   prom_wait_series 'zdd_backend_up' 15 || ...         # bounded poll
#   prom_query 'sum(zdd_verdicts_total)'                  # prints one value per line
#   prom_stop                                             # also runs at exit
#
# prom_start runs in this shell (not in $(...)): it sets variables and registers the cleanup.
# With lib.sh and a lab that is up (LAB_OWNER=1), the cleanup goes through lab_defer: call
# prom_start after lab_up. Otherwise an EXIT trap is installed, chained to any existing one.
# PROM_NETNS=NAME runs the server, and the queries, in that network namespace (`ip netns exec`),
# so a target on 127.0.0.1 inside the lab's lb namespace can be scraped.
# PROM_SCRAPE_EXTRA: more scrape_configs entries (YAML list items indented by two spaces), after
# the job "zdd" of TARGET; they inherit the 1 s interval. PROM_TMPDIR: where the server's
# directory (config, storage, prometheus.log) is made (default $TMPDIR or /tmp).

PROM_URL=""
PROM_PID=""
PROM_DIR=""
PROM_NETNS=${PROM_NETNS:-}
PROM_SCRAPE_EXTRA=${PROM_SCRAPE_EXTRA:-}
PROM_TMPDIR=${PROM_TMPDIR:-}
PROM_START_TIMEOUT=${PROM_START_TIMEOUT:-30}	# seconds until the server answers /-/ready
PROM_CURL_TIMEOUT=${PROM_CURL_TIMEOUT:-5}
_PROM_PREV_EXIT=""
_PROM_TRAPPED=0

# Runs CMD in PROM_NETNS when set.
_prom_ns()
{
	if [[ -n $PROM_NETNS ]]; then
		ip netns exec "$PROM_NETNS" "$@"
	else
		"$@"
	fi
}

_prom_log_tail()
{
	[[ -n $PROM_DIR && -f $PROM_DIR/prometheus.log ]] || return 0
	tail -n 15 "$PROM_DIR/prometheus.log" | sed 's/^/#   /' >&2
}

# The port the server bound: it was started on port 0, so the kernel picked a free one and
# no other process can take it between a choice and the bind.
_prom_port()
{
	_prom_ns ss -Hltnp 2>/dev/null |
		sed -n "s/.* 127\.0\.0\.1:\([0-9][0-9]*\) .*pid=$PROM_PID,.*/\1/p" | head -n 1
}

_prom_on_exit()
{
	local rc=$?

	prom_stop
	if [[ -n $_PROM_PREV_EXIT ]]; then
		(exit "$rc")
		eval "$_PROM_PREV_EXIT"
	fi
	exit "$rc"
}

# Cleanup at exit: through lib.sh when it owns a lab, else our own trap after any earlier one.
_prom_register_cleanup()
{
	local prev

	if declare -F lab_defer >/dev/null && ((${LAB_OWNER:-0})); then
		lab_defer prom_stop
		return 0
	fi
	((_PROM_TRAPPED)) && return 0
	prev=$(trap -p EXIT)
	if [[ -n $prev ]]; then
		eval "set -- ${prev#trap }"	# trap -- 'CMD' EXIT: $2 is CMD, unquoted
		_PROM_PREV_EXIT=$2
	fi
	trap _prom_on_exit EXIT
	# Without these, a signal would end the shell without running the EXIT trap.
	[[ -n $(trap -p INT) ]] || trap 'exit 130' INT
	[[ -n $(trap -p TERM) ]] || trap 'exit 143' TERM
	[[ -n $(trap -p HUP) ]] || trap 'exit 129' HUP
	_PROM_TRAPPED=1
}

# prom_start TARGET: Prometheus on 127.0.0.1 (a free port), a temporary storage directory, and
# TARGET (ADDR:PORT, IPv6 in brackets) scraped every second at /metrics. Returns when the
# server is ready, or 1 (with its log on stderr) within PROM_START_TIMEOUT seconds.
prom_start()
{
	local target=$1 port="" deadline cmd in_ns=()

	if [[ -n $PROM_PID ]]; then
		echo "# prom: already running (pid $PROM_PID)" >&2
		return 1
	fi
	for cmd in prometheus curl ss; do
		command -v "$cmd" >/dev/null 2>&1 || { echo "# prom: $cmd not installed" >&2; return 1; }
	done
	PROM_DIR=$(mktemp -d "${PROM_TMPDIR:-${TMPDIR:-/tmp}}/zdd-prom.XXXXXX") || return 1
	{
		cat <<-EOF
		global:
		  scrape_interval: 1s
		  scrape_timeout: 1s
		  evaluation_interval: 1s
		scrape_configs:
		  - job_name: zdd
		    metrics_path: /metrics
		    static_configs:
		      - targets: ['$target']
		EOF
		[[ -z $PROM_SCRAPE_EXTRA ]] || printf '%s\n' "$PROM_SCRAPE_EXTRA"
	} >"$PROM_DIR/prometheus.yml"
	# A simple command, not _prom_ns: a backgrounded function would be a subshell, and $!
	# its pid rather than the server's (ip netns exec execs, keeping the pid).
	[[ -n $PROM_NETNS ]] && in_ns=(ip netns exec "$PROM_NETNS")
	"${in_ns[@]}" prometheus --config.file="$PROM_DIR/prometheus.yml" \
		--storage.tsdb.path="$PROM_DIR/data" --web.listen-address=127.0.0.1:0 \
		--log.level=warn </dev/null >"$PROM_DIR/prometheus.log" 2>&1 &
	PROM_PID=$!
	_prom_register_cleanup

	deadline=$((SECONDS + PROM_START_TIMEOUT))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$PROM_PID" 2>/dev/null; then
			echo "# prom: prometheus exited during start-up:" >&2
			_prom_log_tail
			prom_stop
			return 1
		fi
		[[ -n $port ]] || port=$(_prom_port)
		if [[ -n $port ]] && _prom_ns curl -sf -o /dev/null --noproxy '*' \
			--max-time 1 "http://127.0.0.1:$port/-/ready"; then
			PROM_URL="http://127.0.0.1:$port"
			return 0
		fi
		sleep 0.2
	done
	echo "# prom: prometheus not ready after ${PROM_START_TIMEOUT}s:" >&2
	_prom_log_tail
	prom_stop
	return 1
}

# prom_query EXPR: an instant query; prints each sample's value, one per line, in the order
# Prometheus returns them (nothing for an empty result). 1 when the query fails.
prom_query()
{
	local out

	[[ -n $PROM_URL ]] || { echo "# prom: not started" >&2; return 1; }
	out=$(_prom_ns curl -sS --noproxy '*' --max-time "$PROM_CURL_TIMEOUT" -G \
		"$PROM_URL/api/v1/query" --data-urlencode "query=$1") || return 1
	if [[ $out != *'"status":"success"'* ]]; then
		echo "# prom: query '$1': $out" >&2
		return 1
	fi
	# vector/matrix samples carry "value":[TS,"V"]; a scalar or string result is [TS,"V"]
	if [[ $out == *'"resultType":"scalar"'* || $out == *'"resultType":"string"'* ]]; then
		sed -n 's/.*"result":\[[^,]*,"\([^"]*\)"\].*/\1/p' <<<"$out"
	else
		grep -o '"value":\[[^]]*\]' <<<"$out" | sed 's/.*,"\([^"]*\)"\]$/\1/'
	fi
}

# prom_wait_series EXPR TIMEOUT_S: polls until EXPR returns at least one sample; 1 (with the
# target's scrape state on stderr) after TIMEOUT_S seconds.
prom_wait_series()
{
	local expr=$1 timeout=${2:-15} deadline got

	deadline=$((SECONDS + timeout))
	while :; do
		got=$(prom_query "$expr" 2>/dev/null)
		[[ -n $got ]] && return 0
		((SECONDS < deadline)) || break
		sleep 0.5
	done
	echo "# prom: no sample for '$expr' after ${timeout}s; targets:" >&2
	_prom_ns curl -sS --noproxy '*' --max-time "$PROM_CURL_TIMEOUT" \
		"$PROM_URL/api/v1/targets" 2>&1 | grep -o '"\(health\|lastError\|scrapeUrl\)":"[^"]*"' |
		sed 's/^/#   /' >&2
	return 1
}

# prom_stop: stops the server (TERM, then KILL after 10 s) and removes its storage. Idempotent.
prom_stop()
{
	local i

	if [[ -n $PROM_PID ]] && kill -0 "$PROM_PID" 2>/dev/null; then
		kill -TERM "$PROM_PID" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$PROM_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$PROM_PID" 2>/dev/null && kill -KILL "$PROM_PID" 2>/dev/null
	fi
	[[ -n $PROM_PID ]] && wait "$PROM_PID" 2>/dev/null
	[[ -n $PROM_DIR && -d $PROM_DIR ]] && rm -rf "$PROM_DIR"
	PROM_PID=""
	PROM_URL=""
	PROM_DIR=""
	return 0
}
