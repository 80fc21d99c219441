#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-ipv6.sh - the IPv6 service end to end (IP6IP6 to the backends, direct
# return): blue at weight 0, green after `flip --to green`, blue again after `weight green=0`,
# the IPv4 service untouched by all of it, per-backend counters in `status -j` that match the
# answers, IPv6 client affinity by /64 (the default client prefix), full-size segments.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-z6}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require
tap_plan 21

N=20			# requests per phase; a 2-backend pool misses one with p = 2^-19
declare -A ANSWERS=()	# backend name -> IPv6 requests it answered

# --- helpers -----------------------------------------------------------------------------------

# requests FILE [CURL_ARGS...]: N requests to the IPv6 VIP, each on a new connection; one
# answer line each in FILE ("FAIL" on failure). Counts the answers per backend in ANSWERS.
requests()
{
	local file=$1 name
	shift
	# shellcheck disable=SC2016 # expanded by the inner shell
	lab_exec client bash -c '
		url=$1 n=$2 t=$3
		shift 3
		for ((i = 0; i < n; i++)); do
			curl -sS -f -g --noproxy "*" --connect-timeout "$t" --max-time "$t" "$@" \
				"$url" 2>/dev/null || echo FAIL
		done' _ "$(lab_url "$LAB_VIP6")" "$N" "$LAB_CURL_TIMEOUT" "$@" >"$file"
	for name in "${LAB_BACKENDS[@]}"; do
		ANSWERS[$name]=$((${ANSWERS[$name]:-0} + $(grep -c "^$name " "$file")))
	done
}

# all_from FILE POOL: N answers, all from POOL, from both of its backends.
all_from()
{
	local file=$1 pool=$2 n name
	n=$(grep -c " $pool$" "$file")
	((n == N)) || { echo "$n of $N answers from $pool:"; sort "$file" | uniq -c; return 1; }
	for name in $(if [[ $pool == blue ]]; then echo "${LAB_BLUE[@]}"; else echo "${LAB_GREEN[@]}"; fi); do
		grep -q "^$name " "$file" || { echo "$name never answered"; sort "$file" | uniq -c; return 1; }
	done
}

# weight_is SVC PCT: status -j shows that green weight for SVC.
weight_is()
{
	local got
	got=$(lab_ctl status "$1" -j | jq -r '.services[0].green_weight_pct') || return 1
	[[ $got == "$2" || $got == "$2.0" ]] || { echo "green_weight_pct $got, want $2"; return 1; }
}

flip_green() { lab_ctl flip "$LAB_SVC6" --to green >/dev/null && weight_is "$LAB_SVC6" 100; }
flip_blue() { lab_ctl flip "$LAB_SVC6" --to blue >/dev/null && weight_is "$LAB_SVC6" 0; }
weight0() { lab_ctl weight "$LAB_SVC6" green=0 >/dev/null && weight_is "$LAB_SVC6" 0; }

# counters_match: for each IPv6 backend, status -j counts one new and one established flow per
# request it answered, and packets and bytes exactly when it answered any.
counters_match()
{
	local json name addr got want bad=0
	json=$(lab_ctl status "$LAB_SVC6" -j) || return 1
	for name in "${LAB_BACKENDS[@]}"; do
		addr=$(lab_addr6 "$name")
		want=${ANSWERS[$name]:-0}
		got=$(jq -r --arg a "$addr" '.services[0].backends[] | select(.address == $a) |
			"\(.flows_new) \(.flows_established) \(.packets > 0) \(.bytes > 0)"' <<<"$json")
		if ((want > 0)); then
			[[ $got == "$want $want true true" ]] || bad=1
		else
			[[ $got == "0 0 false false" ]] || bad=1
		fi
		echo "$name ($addr): answered $want; flows_new flows_established packets>0 bytes>0: $got"
	done
	((bad == 0))
}

# v4_counters_match: the IPv4 service counted the one IPv4 request and nothing else.
v4_counters_match()
{
	local got
	got=$(lab_ctl status "$LAB_SVC4" -j |
		jq -r '[.services[0].backends[].flows_new] | add') || return 1
	[[ $got == 1 ]] || { echo "IPv4 flows_new total $got, want 1"; return 1; }
}

conntrack_has_v6()
{
	local got
	got=$(lab_ctl conntrack list "$LAB_SVC6" -j | jq -r --arg c "$LAB_CLIENT6" \
		'[.[] | select(.client == $c)] | length') || return 1
	((got > 0)) || { lab_ctl conntrack list -j; return 1; }
}

conntrack_count() { lab_ctl conntrack count -j | jq -e '.established > 0'; }

# 10 more client addresses in the client's /64: with the default IPv6 client prefix (/64)
# they are one client for the split, so at 50% they all land in one pool.
CLIENTS6=()
for ((i = 0; i < 10; i++)); do
	CLIENTS6+=("${LAB_CLIENT6%::*}::$((100 + i))")
done

same_pool_in_64()
{
	local a out
	lab_ctl weight "$LAB_SVC6" green=50 >/dev/null || return 1
	for a in "${CLIENTS6[@]}"; do
		ip -n "$LAB_NS_CLIENT" -6 addr add "$a/128" dev "$LAB_CLIENT_DEV" nodad || return 1
	done
	# shellcheck disable=SC2016 # expanded by the inner shell
	out=$(lab_exec client bash -c '
		url=$1 t=$2
		shift 2
		for a; do
			for k in 1 2 3; do
				curl -sS -f -g --noproxy "*" --connect-timeout "$t" --max-time "$t" \
					--interface "$a" "$url" 2>/dev/null || echo FAIL
			done
		done' _ "$(lab_url "$LAB_VIP6")" "$LAB_CURL_TIMEOUT" "$LAB_CLIENT6" "${CLIENTS6[@]}")
	echo "$out" | sort | uniq -c
	[[ $(grep -c ' blue$' <<<"$out") == $((3 * (${#CLIENTS6[@]} + 1))) ||
		$(grep -c ' green$' <<<"$out") == $((3 * (${#CLIENTS6[@]} + 1))) ]]
}

# A 256 KiB upload: the client's full-size segments (MTU 1500) do not fit in IP6IP6 on the path
# to the backends (MTU 1500 unless LAB_MTU says more), so zdd's "packet too big" has to make the
# client send smaller ones (test-pmtu.sh has more of it). nginx may answer before it has read the whole body, so
# the proof is the LB's byte counter: the client sent it all, which its window allows only when
# the backend acknowledged most of it.
v6_bytes() { lab_ctl status "$LAB_SVC6" -j | jq -r '[.services[0].backends[].bytes] | add'; }

upload()
{
	local body got size=262144 b0 b1
	body=$LAB_DIR/upload.bin
	head -c "$size" /dev/zero >"$body" || return 1
	b0=$(v6_bytes) || return 1
	got=$(lab_curl "$LAB_VIP6" / --data-binary "@$body" -H 'Content-Type: application/octet-stream' \
		--max-time 5) || return 1
	[[ $got =~ ^(b1|b2|g1|g2)\ (blue|green)$ ]] || { echo "got '$got'"; return 1; }
	b1=$(v6_bytes) || return 1
	echo "LB counted $((b1 - b0)) bytes for the upload of $size"
	((b1 - b0 >= size))
}

# --- the test -----------------------------------------------------------------------------------

lab_require_cmd jq
lab_up || tap_bail "lab setup"
tap_check "zdd attached, services added (all new flows on blue)" lab_zdd_up || tap_bail "zdd setup"
tap_check "IPv6 service at weight 0 in status -j" weight_is "$LAB_SVC6" 0

requests "$LAB_DIR/blue"
tap_check "$N requests to [$LAB_VIP6]: all answered from blue, by b1 and b2" all_from "$LAB_DIR/blue" blue

tap_check "flip $LAB_SVC6 --to green, status -j shows green 100%" flip_green
requests "$LAB_DIR/green"
tap_check "after the flip: all $N answered from green, by g1 and g2" all_from "$LAB_DIR/green" green
tap_check "the flip left the IPv4 service at 0%" weight_is "$LAB_SVC4" 0
tap_is "the IPv4 service still answers from blue" "$(lab_curl "$LAB_VIP4" / | cut -d' ' -f2)" blue
tap_check "the IPv4 service counted that one flow and no IPv6 one" v4_counters_match

tap_check "weight $LAB_SVC6 green=0, status -j shows 0%" weight0
requests "$LAB_DIR/blue2"
tap_check "after weight 0: all $N answered from blue, by b1 and b2" all_from "$LAB_DIR/blue2" blue

tap_check "status -j counts, per IPv6 backend, one new and one established flow per answer" \
	counters_match
for name in "${LAB_BACKENDS[@]}"; do
	tap_check "status -j: $name ($(lab_addr6 "$name")) answered ${ANSWERS[$name]:-0}, counters non-zero" \
		test "$(lab_ctl status "$LAB_SVC6" -j | jq -r --arg a "$(lab_addr6 "$name")" \
			'.services[0].backends[] | select(.address == $a) | .flows_new * .packets * .bytes')" -gt 0
done
tap_check "conntrack list shows the IPv6 client's flows" conntrack_has_v6
tap_check "conntrack count -j counts established flows" conntrack_count

tap_check "a 256 KiB upload over IPv6 (path MTU discovery for IP6IP6) completes" upload
tap_check "weight 50: 11 addresses of the client's /64 share one pool (3 connections each)" \
	same_pool_in_64
tap_check "flip $LAB_SVC6 --to blue, status -j shows 0%" flip_blue
requests "$LAB_DIR/blue3" --interface "${CLIENTS6[3]}"
tap_check "after flip --to blue: all $N answered from blue" all_from "$LAB_DIR/blue3" blue
tap_done
