#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-cli-errors.sh - zdd-bpfctl refuses what is wrong and changes nothing:
# every bad command exits 2 (usage) or 1 (runtime failure) with a message on stderr that names
# the problem and nothing on stdout, and `status -j` (with the backend lists) is byte-identical
# before and after it. `--help` on every command exits 0 with its usage. A failed attach leaves
# the running balancer forwarding.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zc}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require

S4=$LAB_SVC4
S6=$LAB_SVC6
NOSVC=198.19.0.99:80/tcp	# well-formed, never added
B4=${LAB_BLUE4[0]}		# a backend of the IPv4 service
B6=${LAB_BLUE6[0]}		# a backend of the IPv6 service

# --- the cases: case WANT WORD ARGS... --------------------------------------------------------
# WANT: the exit status (1 or 2, or "nz" for any failure); WORD: what stderr must mention
# (case-insensitive; "" for any message); ARGS: the zdd-bpfctl command line after -p, where
# @GARBAGE@ stands for a file of broken YAML in the run dir.

C_WANT=()
C_WORD=()
C_ARGS=()
case_()
{
	C_WANT+=("$1")
	C_WORD+=("$2")
	shift 2
	if (($#)); then
		C_ARGS+=("$(printf '%q ' "$@")")
	else
		C_ARGS+=("")
	fi
}

# Bad SVC syntax, in every command that takes one.
for bad in 1.2.3:80/tcp 198.19.0.10:0/tcp 198.19.0.10:80/sctp fd00::1:80/tcp \
	198.19.0.10:65536/tcp 198.19.0.10/tcp "[fd00:5a::10]:80" "[198.19.0.10]:80/tcp" \
	"[::ffff:198.19.0.10]:80/tcp" "fd00:5a::10]:80/tcp" ":80/tcp"; do
	case_ 2 "$bad" service add "$bad"
done
case_ 2 1.2.3:80/tcp service del 1.2.3:80/tcp
case_ 2 198.19.0.10:0/tcp weight 198.19.0.10:0/tcp green=5
case_ 2 198.19.0.10:80/sctp flip 198.19.0.10:80/sctp --to green
case_ 2 fd00::1:80/tcp backend add fd00::1:80/tcp fd00:3::13 --pool blue
case_ 2 1.2.3:80/tcp backend set 1.2.3:80/tcp "$B4" --state drain
case_ 2 1.2.3:80/tcp backend del 1.2.3:80/tcp "$B4"
case_ 2 1.2.3:80/tcp backend list 1.2.3:80/tcp
case_ 2 fd00::1:80/tcp status fd00::1:80/tcp
case_ 2 1.2.3:80/tcp stats 1.2.3:80/tcp
case_ 2 1.2.3:80/tcp conntrack list 1.2.3:80/tcp
case_ 2 1.2.3:80/tcp conntrack flush 1.2.3:80/tcp

# Unknown backends and services (well-formed: runtime failures).
case_ 1 198.18.3.99 backend set "$S4" 198.18.3.99 --state drain
case_ 1 198.18.3.99 backend set "$S4" 198.18.3.99 --weight 5
case_ 1 198.18.3.99 backend del "$S4" 198.18.3.99
case_ 1 fd00:3::99 backend set "$S6" fd00:3::99 --state down
case_ 1 fd00:3::99 backend del "$S6" fd00:3::99
case_ 1 "$NOSVC" backend set "$NOSVC" "$B4" --state drain
case_ 1 "$NOSVC" backend add "$NOSVC" 198.18.3.13 --pool blue
case_ 1 "$NOSVC" weight "$NOSVC" green=5
case_ 1 "$NOSVC" flip "$NOSVC" --to green
case_ 1 "$NOSVC" service del "$NOSVC"
case_ 1 "$NOSVC" status "$NOSVC"
case_ 1 "$NOSVC" status -j "$NOSVC"
case_ 1 "$NOSVC" backend list "$NOSVC"
case_ 1 "$NOSVC" stats "$NOSVC"		# like status: an unknown service is an error
# Already there: refused, and the existing one keeps its settings.
case_ 1 "$S4" service add "$S4" --affinity flow
case_ 1 "$B4" backend add "$S4" "$B4" --pool green --weight 5
case_ 1 "$B6" backend add "$S6" "$B6" --pool green

# Weights out of range or malformed.
for bad in 101 -1 12.345 abc 100.01 "" 1e2 +5 " 5" .5 5. 0x10 50%; do
	case_ 2 "green=$bad" weight "$S4" "green=$bad"
done
case_ 2 blue=50 weight "$S4" blue=50
case_ 2 "'50'" weight "$S4" 50
case_ 2 "want SVC" weight "$S4"
case_ 2 "want SVC" weight "$S4" green=5 green=6

# Backend options.
case_ 2 --pool backend add "$S4" 198.18.3.13
case_ 2 purple backend add "$S4" 198.18.3.13 --pool purple
case_ 2 family backend add "$S4" fd00:3::13 --pool blue
case_ 2 family backend add "$S6" 198.18.3.13 --pool blue
case_ 2 not-an-address backend add "$S4" not-an-address --pool blue
case_ 2 10001 backend add "$S4" 198.18.3.13 --pool blue --weight 10001
case_ 2 sideways backend set "$S4" "$B4" --state sideways
case_ 2 --state backend set "$S4" "$B4"
case_ 2 10001 backend set "$S4" "$B4" --weight 10001
case_ 2 -3 backend set "$S4" "$B4" --weight -3
case_ 2 zz backend set "$S4" "$B4" --mac zz
case_ 2 "not valid" backend set "$S4" "$B4" --pool green
case_ 2 "SVC ADDR" backend del "$S4"
case_ 2 frob backend frob "$S4"

# flip, service options.
case_ 2 --to flip "$S4"
case_ 2 purple flip "$S4" --to purple
case_ 2 sideways service add 198.19.0.20:80/tcp --affinity sideways
case_ 2 "client prefix" service add 198.19.0.20:80/tcp --client-prefix 33
case_ 2 "client prefix" service add 198.19.0.20:80/tcp --client-prefix abc
case_ 2 "prefix of 0" service add 198.19.0.20:80/tcp --client-prefix 0
case_ 2 "one SVC" service add
case_ 2 frob service frob

# Unknown commands and options.
case_ 2 frobnicate frobnicate
case_ 2 verb rollout frob "$S4"
case_ 1 /nonexistent/agent.sock rollout status "$S4" --socket /nonexistent/agent.sock
case_ 2 --bogus --bogus status
case_ 2 --bogus status --bogus
case_ 2 --bogus service add 198.19.0.20:80/tcp --bogus
case_ 2 --bogus backend add "$S4" 198.18.3.13 --pool blue --bogus
case_ 2 "want SVC green=PCT" weight "$S4" green=5 --bogus	# weight takes no option: a word too many
case_ 2 --bogus flip "$S4" --to green --bogus
case_ 2 --bogus conntrack list --bogus
case_ 2 frob conntrack frob
case_ 2 abc stats --watch abc
case_ 2 "at most one" status "$S4" "$S6"
case_ 2 Usage
case_ 2 "one interface" attach
case_ 2 "one interface" detach
case_ 2 bogus decap bogus "$LAB_LB_DEV"
case_ 2 "no prefix" decap attach "$LAB_LB_DEV" --from 198.18.2.2/24
case_ 2 "no prefix" decap attach "$LAB_LB_DEV" --from fd00:2::/129
case_ 2 twice decap attach "$LAB_LB_DEV" --from 198.18.2.2 --from 198.18.2.2/32
case_ 2 "no argument" decap status "$LAB_LB_DEV"

# apply may be a stub: any failure will do, as long as it changes nothing.
case_ nz "" apply -f /nonexistent/zdd.yaml
case_ nz "" apply -f /nonexistent/zdd.yaml --dry-run
case_ 2 "" apply
case_ nz "" apply -f @GARBAGE@
case_ nz "" apply -f @GARBAGE@ --dry-run
case_ nz "" apply -f /

# Runtime failures of the data-path commands.
case_ 1 nosuch0 attach nosuch0
case_ 1 nosuch0 detach nosuch0
case_ 1 nosuch0 detach nosuch0 --purge
case_ 1 nosuch0 decap attach nosuch0

# Every command's --help (the list comes from the top-level help, so a new command is covered).
mapfile -t COMMANDS < <("$LAB_BPFCTL" --help 2>/dev/null | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
HELP_FORMS=("service add" "service del" "service list" "backend add" "backend del" "backend set"
	"backend list" "conntrack list" "conntrack count" "conntrack flush" "decap attach"
	"decap detach" "decap status" "weight $S4" "flip $S4")

tap_plan $((3 + ${#C_ARGS[@]} + ${#COMMANDS[@]} + 9))

# --- helpers -----------------------------------------------------------------------------------

SNAP=""		# the state every failed command must leave alone
snapshot()
{
	lab_ctl status -j && lab_ctl service list -j && lab_ctl backend list "$S4" -j &&
		lab_ctl backend list "$S6" -j
}
baseline()
{
	SNAP=$LAB_DIR/snapshot
	snapshot >"$SNAP" 2>&1 || { cat "$SNAP"; return 1; }
	[[ $(jq -r '.services | length' <(lab_ctl status -j)) == 2 ]]
}
unchanged()
{
	local now=$LAB_DIR/now
	snapshot >"$now" 2>&1
	cmp -s "$SNAP" "$now" || { diff "$SNAP" "$now" | head -n 20; return 1; }
}

# run_case I: case I, one TAP line.
run_case()
{
	local want=${C_WANT[$1]} word=${C_WORD[$1]} args out err rc problems=()
	eval "args=(${C_ARGS[$1]})"
	args=("${args[@]/#@GARBAGE@/$LAB_DIR/garbage.yaml}")
	out=$(lab_ctl "${args[@]}" 2>"$LAB_DIR/stderr")
	rc=$?
	err=$(<"$LAB_DIR/stderr")
	if [[ $want == nz ]]; then
		((rc != 0)) || problems+=("exit 0, want a failure")
	else
		((rc == want)) || problems+=("exit $rc, want $want")
	fi
	[[ -n $err ]] || problems+=("nothing on stderr")
	[[ ${err,,} == *"${word,,}"* ]] || problems+=("stderr does not mention '$word'")
	[[ -z $out ]] || problems+=("stdout: $(head -n 3 <<<"$out")")
	unchanged >"$LAB_DIR/diff" || problems+=("the state changed:" "$(<"$LAB_DIR/diff")")
	if ((${#problems[@]} == 0)); then
		[[ -z $word ]] || word=", names \"$word\""
		tap_ok "zdd-bpfctl ${C_ARGS[$1]}-> exit $rc$word, nothing changed"
	else
		tap_fail "zdd-bpfctl ${C_ARGS[$1]}refused cleanly" "${problems[@]}" "stderr: $(head -n 3 <<<"$err")"
	fi
}

# help_ok ARGS...: exit 0, "Usage: zdd-bpfctl ..." on stdout, nothing on stderr.
help_ok()
{
	local out rc
	out=$(lab_ctl "$@" 2>"$LAB_DIR/stderr")
	rc=$?
	((rc == 0)) || { echo "exit $rc"; cat "$LAB_DIR/stderr"; return 1; }
	[[ $out == "Usage: zdd-bpfctl "* ]] || { echo "stdout: $out"; return 1; }
	[[ ! -s $LAB_DIR/stderr ]] || { echo "stderr:"; cat "$LAB_DIR/stderr"; return 1; }
}

help_global()
{
	local out
	for out in --help -h; do
		out=$("$LAB_BPFCTL" "$out" 2>&1) || return 1
		[[ $out == "Usage: zdd-bpfctl "* ]] || { echo "$out"; return 1; }
	done
}

no_pins()
{
	local err rc
	err=$("$LAB_BPFCTL" -p /nonexistent/zdd status 2>&1 >/dev/null)
	rc=$?
	echo "exit $rc: $err"
	((rc == 1)) && [[ $err == *"/nonexistent/zdd"* ]]
}

help_forms()
{
	local f w
	for f in "${HELP_FORMS[@]}"; do
		read -ra w <<<"$f"
		help_ok "${w[@]}" --help || { echo "in: $f --help"; return 1; }
		help_ok "${w[@]}" -h || { echo "in: $f -h"; return 1; }
	done
}

# forwards: new connections through the LB answer, IPv4 and IPv6 (then a new baseline: the
# counters moved).
forwards()
{
	local got rc=0
	got=$(lab_curl "$LAB_VIP4") || rc=1
	echo "IPv4: $got"
	got=$(lab_curl "$LAB_VIP6") || rc=1
	echo "IPv6: $got"
	((rc == 0)) || { echo "drop verdicts:"; lab_ctl stats | grep -E '^ +drop_' | grep -v ' 0$'; }
	baseline >/dev/null 2>&1 || rc=1
	return "$rc"
}

# attach_fails_cleanly ARGS...: a failing attach (exit 1 or 2, state unchanged) ...
attach_fails_cleanly()
{
	local rc
	lab_ctl attach "$@" >"$LAB_DIR/out" 2>&1
	rc=$?
	cat "$LAB_DIR/out"
	((rc == 1 || rc == 2)) || { echo "exit $rc"; return 1; }
	unchanged
}

valid_change_shows()
{
	local out
	out=$(timeout 5 "$LAB_BPFCTL" -p "$LAB_PIN_DIR/lb" weight "$S4" green=5 2>&1) || { echo "$out"; return 1; }
	[[ -n $out ]] || { echo "nothing on stdout"; return 1; }
	! unchanged >/dev/null || { echo "the snapshot did not see weight 5%"; return 1; }
}

# --- the test -----------------------------------------------------------------------------------

lab_require_cmd jq timeout
lab_up || tap_bail "lab setup"
tap_check "zdd attached, services added" lab_zdd_up || tap_bail "zdd setup"
tap_check "the LB forwards" forwards
tap_check "status -j and the backend lists taken as the baseline" baseline || tap_bail "no baseline"
printf 'services:\n  - address: [198.19.0.10\n    port: {{{\n\t- oops: ]\n' >"$LAB_DIR/garbage.yaml"

for i in "${!C_ARGS[@]}"; do
	run_case "$i"
done

for c in "${COMMANDS[@]}"; do
	tap_check "zdd-bpfctl $c --help: exit 0, usage on stdout" help_ok "$c" --help
done
tap_check "zdd-bpfctl --help and -h: exit 0, usage on stdout" help_global
tap_check "--help and -h on ${#HELP_FORMS[@]} subcommand forms: exit 0, usage on stdout" help_forms
tap_check "after every --help, nothing changed" unchanged
tap_check "no pins: -p /nonexistent/zdd status exits 1 naming the directory" no_pins

# Failed attaches, and whether the balancer they failed on still works.
tap_check "attach $LAB_LB_DEV --gw-mac zz fails, nothing changed" attach_fails_cleanly "$LAB_LB_DEV" --gw-mac zz
tap_check "after it, the LB still forwards" forwards
# The config (tunnel source, ifindex, MTU) must not be rewritten by an attach that then fails:
# lo has no address and no route to the backends, so this one fails after configuring.
tap_check "attach lo (backends unreachable through it) fails, nothing changed" attach_fails_cleanly lo
tap_check "after the failed attach to lo, the LB still forwards on $LAB_LB_DEV" forwards
# Whatever it broke, put the balancer back for the last checks.
lab_ctl attach "$LAB_LB_DEV" >/dev/null 2>&1
baseline >/dev/null 2>&1

tap_check "a valid command still works after all that (lock free) and shows in status -j" \
	valid_change_shows
tap_done
