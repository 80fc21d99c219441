#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-drain.sh - backend states (DESIGN.md 3): a backend set to drain or down
# gets no new connection, while a keep-alive connection already pinned to it keeps being
# answered by it to the end; set up again, it gets new connections again.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zd}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require
tap_plan 25

KA_REQUESTS=20		# keep-alive requests on one connection, one every KA_GAP s: about 4 s
KA_GAP=0.2
FRESH=40		# new connections per check: a 2-backend pool misses one with p = 2^-40

# --- helpers -----------------------------------------------------------------------------------

KA_PID=""
KA_FILE=""

# ka_start FILE: in the background, one TCP connection from the client to the VIP carrying
# KA_REQUESTS HTTP/1.1 keep-alive requests KA_GAP s apart; FILE gets "I NAME COLOUR" per answer.
# Bounded: every read times out, and the whole of it by `timeout`.
ka_start()
{
	KA_FILE=$1
	: >"$KA_FILE"
	# shellcheck disable=SC2016 # expanded by the inner shell
	lab_exec client timeout 15 bash -c '
		vip=$1 port=$2 n=$3 gap=$4
		exec 3<>"/dev/tcp/$vip/$port" || exit 1
		for ((i = 0; i < n; i++)); do
			printf "GET / HTTP/1.1\r\nHost: zdd-test\r\n\r\n" >&3 || exit 1
			len=""
			while IFS= read -r -t 2 line <&3; do
				line=${line%$'\''\r'\''}
				[[ -z $line ]] && break
				[[ ${line,,} == content-length:* ]] && len=${line#*: }
			done
			[[ $len =~ ^[0-9]+$ ]] || exit 1
			IFS= read -r -t 2 -N "$len" body <&3 || exit 1
			printf "%s %s\n" "$i" "${body%$'\''\n'\''}"
			sleep "$gap"
		done
		exec 3>&-' _ "$LAB_VIP4" "$LAB_PORT" "$KA_REQUESTS" "$KA_GAP" >>"$KA_FILE" 2>/dev/null &
	KA_PID=$!
	lab_defer kill "$KA_PID"
}

# ka_backend: waits (3 s at most) for the first answer on the keep-alive connection; prints the
# backend that gave it.
ka_backend()
{
	local i
	for ((i = 0; i < 60; i++)); do
		[[ -s $KA_FILE ]] && { awk 'NR == 1 { print $2 }' "$KA_FILE"; return 0; }
		sleep 0.05
	done
	return 1
}

# ka_finish NAME: the keep-alive connection ended on its own, answered all KA_REQUESTS, each
# from NAME, and some of them after the state change (lines beyond KA_MARK).
ka_finish()
{
	local name=$1 rc bad n
	wait "$KA_PID"
	rc=$?
	n=$(wc -l <"$KA_FILE")
	((rc == 0 && n == KA_REQUESTS)) ||
		{ echo "keep-alive client exit $rc, $n of $KA_REQUESTS answers"; cat "$KA_FILE"; return 1; }
	bad=$(awk -v n="$name" '$2 != n' "$KA_FILE")
	[[ -z $bad ]] || { echo "answers not from $name:"; echo "$bad"; return 1; }
	((n > KA_MARK)) || { echo "no answer after the state change ($KA_MARK before it)"; return 1; }
}

# fresh FILE: FRESH new connections from the client, one answer line each ("FAIL" on failure).
fresh()
{
	# shellcheck disable=SC2016 # expanded by the inner shell
	lab_exec client bash -c '
		for ((i = 0; i < $2; i++)); do
			curl -sS -f --noproxy "*" --connect-timeout "$3" --max-time "$3" "$1" \
				2>/dev/null || echo FAIL
		done' _ "$(lab_url "$LAB_VIP4")" "$FRESH" "$LAB_CURL_TIMEOUT" >"$1"
}

# fresh_avoid FILE NAME: all FRESH answered, none by NAME.
fresh_avoid()
{
	local n
	n=$(grep -vc FAIL "$1")
	((n == FRESH)) || { echo "$n of $FRESH answered"; return 1; }
	! grep -q "^$2 " "$1" || { echo "$2 answered $(grep -c "^$2 " "$1") new connections"; return 1; }
}

# fresh_reach FILE NAME: all FRESH answered, some by NAME.
fresh_reach()
{
	local n
	n=$(grep -vc FAIL "$1")
	((n == FRESH)) || { echo "$n of $FRESH answered"; return 1; }
	grep -q "^$2 " "$1" || { echo "$2 got no new connection:"; sort "$1" | uniq -c; return 1; }
}

# counter ADDR FIELD: a backend counter of the IPv4 service from status -j.
counter()
{
	lab_ctl status "$LAB_SVC4" -j |
		jq -r --arg a "$1" --arg f "$2" '.services[0].backends[] | select(.address == $a) | .[$f]'
}

state_is() { local got; got=$(counter "$1" state); [[ $got == "$2" ]] || { echo "state $got"; return 1; }; }

set_state() { lab_ctl backend set "$LAB_SVC4" "$1" --state "$2" >/dev/null && state_is "$1" "$2"; }

green_untouched()
{
	local name n
	for name in "${LAB_GREEN[@]}"; do
		n=$(counter "$(lab_addr4 "$name")" flows_new)
		[[ $n == 0 ]] || { echo "$name: flows_new $n"; return 1; }
	done
}

# drain_cycle STATE: the whole story for one state (drain or down).
drain_cycle()
{
	local st=$1 name addr other flows0 pkts0 f
	f=$LAB_DIR/$st
	ka_start "$f.ka"
	if ! name=$(ka_backend); then
		tap_fail "$st: the keep-alive connection gets a first answer" "$(cat "$f.ka")"
		return 1
	fi
	tap_ok "$st: the keep-alive connection gets a first answer (from $name)"
	addr=$(lab_addr4 "$name")
	other=b1
	[[ $name == b1 ]] && other=b2
	tap_check "$st: backend set $addr ($name) --state $st, status shows $st" set_state "$addr" "$st"
	KA_MARK=$(wc -l <"$f.ka")	# answers given before the state change surely took effect
	flows0=$(counter "$addr" flows_new)
	pkts0=$(counter "$addr" packets)
	fresh "$f.fresh"
	tap_check "$st: $FRESH new connections all answered, none by $name" fresh_avoid "$f.fresh" "$name"
	tap_check "$st: they all went to $other" test "$(grep -c "^$other " "$f.fresh")" -eq "$FRESH"
	tap_check "$st: the keep-alive connection is answered by $name to its end" ka_finish "$name"
	tap_is "$st: $name counted no new flow" "$(counter "$addr" flows_new)" "$flows0"
	tap_check "$st: $name still counts the pinned connection's packets" \
		test "$(counter "$addr" packets)" -gt "$pkts0"
	tap_check "$st: backend set $addr --state up, status shows up" set_state "$addr" up
	fresh "$f.up"
	tap_check "$st: up again, $name gets new connections" fresh_reach "$f.up" "$name"
	tap_check "$st: up again, $other still gets new connections" fresh_reach "$f.up" "$other"
}

# --- the test -----------------------------------------------------------------------------------

lab_require_cmd jq timeout
lab_up || tap_bail "lab setup"
# A 1 s grace window (default 30 s): past it a flow that lost its conntrack entry would follow the
# new table, so the keep-alive connection (4 s) proves conntrack pinning, not the fallback.
tap_check "zdd attached (--grace 1), services added (all new flows on blue)" lab_zdd_up --grace 1 ||
	tap_bail "zdd setup"
fresh "$LAB_DIR/before"
tap_check "before: new connections reach b1" fresh_reach "$LAB_DIR/before" b1
tap_check "before: new connections reach b2" fresh_reach "$LAB_DIR/before" b2
KA_MARK=0
drain_cycle drain
drain_cycle down
tap_check "at weight 0 throughout, the green backends got no flow" green_untouched
tap_is "no conntrack miss: the pinned connections were found in conntrack" \
	"$(lab_ctl status "$LAB_SVC4" -j | jq -r '.services[0].conntrack_misses')" 0
tap_done
