#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-weights.sh - the blue/green split of new flows by client address
# (DESIGN.md 3), seen from 200 client addresses: weight 0 is all blue, 100 all green, 10 and 50
# split within a stated tolerance, the split is monotone (raising the weight only moves clients
# to green, lowering it moves the same clients back) and one client's connections all see one
# pool (--affinity client, the default).
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zw}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require
tap_plan 22

# 200 extra client addresses on the client's link: rtr has 198.18.1.0/24 connected, so the
# backends' direct replies (via rtr) find every one of them.
NCLIENTS=200
CLIENTS=()
for ((i = 0; i < NCLIENTS; i++)); do
	CLIENTS+=("198.18.1.$((10 + i))")
done
REPEAT_CLIENTS=20	# clients that open REPEAT_CONNS connections each
REPEAT_CONNS=5

# Tolerances on the green share, in percentage points. The split is a hash of the client address
# (prefix /32), so one request per client counts once; for N = 200 clients the share is
# binomial: sd = sqrt(p(1-p)/N) = 3.5 points at p = 0.5 and 2.1 points at p = 0.1. The bounds
# are about 3.5 sd: a hash that splits fairly stays inside them, one that is biased (or a
# weight read as the wrong unit: per mille, per cent of per cent) falls out.
TOL50=12
TOL10=8

# --- helpers -----------------------------------------------------------------------------------

add_clients()
{
	local a batch=""
	for a in "${CLIENTS[@]}"; do
		batch+="addr add $a/32 dev $LAB_CLIENT_DEV"$'\n'
	done
	ip -n "$LAB_NS_CLIENT" -batch - <<<"$batch" || return 1
	[[ $(ip -n "$LAB_NS_CLIENT" -4 -o addr show dev "$LAB_CLIENT_DEV" | grep -c ' inet ') -eq \
		$((NCLIENTS + 1)) ]]
}

# round FILE [CONNS [N]]: from each of the first N (default all) client addresses, CONNS
# (default 1) requests to the VIP, each on a new connection (a new curl). FILE gets one line per
# request: "ADDR NAME COLOUR", or "ADDR FAIL" when the request failed. PAR shells share the
# addresses, each looping in the client namespace (no ip-netns-exec per request).
PAR=4
round()
{
	local file=$1 conns=${2:-1} n=${3:-$NCLIENTS} j pids=() rc=0
	for ((j = 0; j < PAR; j++)); do
		# shellcheck disable=SC2016 # expanded by the inner shell
		lab_exec client bash -c '
			url=$1 conns=$2 t=$3 j=$4 par=$5
			shift 5
			for ((i = j; i < $#; i += par)); do
				a=${*:i+1:1}
				for ((k = 0; k < conns; k++)); do
					b=$(curl -sS -f --noproxy "*" --connect-timeout "$t" \
						--max-time "$t" --interface "$a" "$url" 2>/dev/null) || b=FAIL
					printf "%s %s\n" "$a" "$b"
				done
			done' _ "$(lab_url "$LAB_VIP4")" "$conns" "$LAB_CURL_TIMEOUT" "$j" "$PAR" \
			"${CLIENTS[@]:0:n}" >"$file.$j" &
		pids+=($!)
	done
	for j in "${pids[@]}"; do
		wait "$j" || rc=1
	done
	cat "$file".[0-9]* >"$file" && rm -f "$file".[0-9]*
	return "$rc"
}

set_weight()
{
	lab_ctl weight "$LAB_SVC4" "green=$1" >/dev/null || return 1
	local got
	got=$(lab_ctl status "$LAB_SVC4" -j | jq -r '.services[0].green_weight_pct') || return 1
	[[ $got == "$1" || $got == "$1.0" ]] || { echo "status says green $got%, set $1%"; return 1; }
}

failures() { grep -c ' FAIL$' "$1"; }
greens() { awk '$3 == "green" { print $1 }' "$1" | sort; }
ngreen() { awk '$3 == "green"' "$1" | wc -l; }

# all_pool FILE POOL [N]: N (default all clients) answers, all from POOL.
all_pool()
{
	local n bad want=${3:-$NCLIENTS}
	n=$(wc -l <"$1")
	((n == want)) || { echo "$n answers, want $want"; return 1; }
	bad=$(awk -v p="$2" '$3 != p' "$1")
	[[ -z $bad ]] || { echo "not $2:"; head -n 10 <<<"$bad"; return 1; }
}

# backends_seen FILE NAME...: each NAME answered at least once.
backends_seen()
{
	local file=$1 name
	shift
	for name in "$@"; do
		awk -v n="$name" '$2 == n { f = 1 } END { exit !f }' "$file" ||
			{ echo "$name never answered"; awk '{ print $2 }' "$file" | sort | uniq -c; return 1; }
	done
}

# share_within FILE PCT TOL: no failure, and the green share is PCT +- TOL points.
share_within()
{
	local file=$1 want=$2 tol=$3 n g pct
	n=$(wc -l <"$file")
	((n == NCLIENTS)) || { echo "$n answers, want $NCLIENTS"; return 1; }
	(($(failures "$file") == 0)) || { echo "$(failures "$file") requests failed"; return 1; }
	g=$(ngreen "$file")
	pct=$((g * 100 / n))
	echo "green $g of $n ($pct%), want $want% +- $tol"
	((pct >= want - tol && pct <= want + tol))
}

# monotone FILE...: weights in rising order; every client green in one is green in the next.
monotone()
{
	local moved_back
	while (($# >= 2)); do
		moved_back=$(comm -23 <(greens "$1") <(greens "$2"))
		[[ -z $moved_back ]] ||
			{ echo "green in $1, blue in $2:"; echo "$moved_back"; return 1; }
		shift
	done
}

same_greens() { diff <(greens "$1") <(greens "$2"); }

# one_pool_per_client FILE REFERENCE: in FILE (several connections per client), each client saw
# one pool, the pool REFERENCE (one connection per client) gave it.
one_pool_per_client()
{
	local file=$1 ref=$2 out
	(($(failures "$file") == 0)) || { echo "$(failures "$file") requests failed"; return 1; }
	(($(wc -l <"$file") == REPEAT_CLIENTS * REPEAT_CONNS)) || { echo "short: $(wc -l <"$file")"; return 1; }
	out=$(awk 'NR == FNR { ref[$1] = $3; next }
		{ seen[$1] = seen[$1] " " $3; if ($3 != ref[$1]) bad[$1] = 1 }
		END { for (a in bad) print a ": first " ref[a] ", then" seen[a] }' "$ref" "$file")
	[[ -z $out ]] || { echo "$out"; return 1; }
	# Both pools among the repeating clients, or the check proves little.
	awk '{ p[$3] = 1 } END { exit !(p["blue"] && p["green"]) }' "$file" ||
		{ echo "the repeating clients all sat in one pool"; return 1; }
}

# --- the test -----------------------------------------------------------------------------------

lab_require_cmd jq
lab_up || tap_bail "lab setup"
tap_check "zdd attached, services added (2 blue + 2 green backends)" lab_zdd_up || tap_bail "zdd setup"
tap_check "$NCLIENTS extra client addresses on the client link" add_clients || tap_bail "client addresses"
R=$LAB_DIR/rounds
mkdir -p "$R"

tap_check "weight 0 (status agrees)" set_weight 0
round "$R/w0"
tap_check "weight 0: every one of $NCLIENTS clients answered from blue" all_pool "$R/w0" blue
tap_check "weight 0: both blue backends serve" backends_seen "$R/w0" "${LAB_BLUE[@]}"

tap_check "weight 10 (status agrees)" set_weight 10
round "$R/w10"
tap_check "weight 10: green share 10% +- $TOL10 points" share_within "$R/w10" 10 "$TOL10"
tap_diag "weight 10: $(ngreen "$R/w10") of $NCLIENTS clients green"

tap_check "weight 50 (status agrees)" set_weight 50
round "$R/w50"
tap_check "weight 50: green share 50% +- $TOL50 points" share_within "$R/w50" 50 "$TOL50"
tap_diag "weight 50: $(ngreen "$R/w50") of $NCLIENTS clients green"
tap_check "monotone: every client green at 10% is green at 50%" monotone "$R/w10" "$R/w50"
tap_check "weight 50: both green backends serve" backends_seen "$R/w50" "${LAB_GREEN[@]}"
round "$R/w50x5" "$REPEAT_CONNS" "$REPEAT_CLIENTS"
tap_check "weight 50: $REPEAT_CONNS new connections from each of $REPEAT_CLIENTS clients stay in its pool" \
	one_pool_per_client "$R/w50x5" "$R/w50"

tap_check "weight back to 10 (status agrees)" set_weight 10
round "$R/w10b"
tap_check "weight back to 10: no failure" test "$(failures "$R/w10b")" -eq 0
tap_check "weight back to 10: exactly the clients green at 10% before are green" \
	same_greens "$R/w10" "$R/w10b"

tap_check "weight 12.34 (two decimals; status agrees)" set_weight 12.34
round "$R/w1234"
tap_check "monotone: green at 10% within green at 12.34% within green at 50%" \
	monotone "$R/w10" "$R/w1234" "$R/w50"

tap_check "weight 100 (status agrees)" set_weight 100
round "$R/w100"
tap_check "weight 100: every one of $NCLIENTS clients answered from green" all_pool "$R/w100" green
tap_check "weight 100: both green backends serve" backends_seen "$R/w100" "${LAB_GREEN[@]}"

tap_check "weight 0 again (status agrees)" set_weight 0
round "$R/w0b" 1 50
tap_check "weight 0 again: 50 clients, all back on blue" all_pool "$R/w0b" blue 50

tap_done
