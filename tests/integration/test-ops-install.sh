#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-ops-install.sh - `make install` (tools/ops/build.mk) into a DESTDIR:
# the tree, the systemd unit (systemd-analyze verify and security), the man pages (lint, and
# in step with the command table, the config keys and the metrics), the example config
# (parsed, and planned against real maps), bash completion, and zdd-agent run the way the unit
# runs it (its capability bounding set, no new privileges): serving, reloading, and leaving
# the data path attached when it stops.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zopsi}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_root
lab_require_cmd make man groff systemd-analyze setpriv nsenter curl ip
[[ -x $LAB_OUT/zdd-bpfctl && -x $LAB_OUT/zdd-agent ]] || lab_skip "zdd not built in $LAB_OUT (make)"
tap_plan 25

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zdd-ops-install.XXXXXX") || tap_bail "mktemp"
D=$TMP/dest
P=/usr/local # the default PREFIX
NS="$LAB_PREFIX-ns"
PIN="/sys/fs/bpf/$LAB_PREFIX-pins"
AGENT_PID=""
cleanup()
{
	[[ -n $AGENT_PID ]] && kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	[[ -e /run/netns/$NS ]] && ip netns del "$NS"
	rm -rf "$PIN" "$TMP"
}
cleanup
mkdir -p "$TMP"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# OUT as the Makefile was given it (tests/run passes .output): its dependency files name it so.
install_into() { make -C "$LAB_ROOT" --no-print-directory -s OUT="${OUT:-.output}" install "$@"; }

# --- the tree ----------------------------------------------------------------------------------

tree_complete()
{
	local f bad=0
	for f in $P/sbin/zdd-bpfctl $P/sbin/zdd-agent; do
		[[ -f $D$f && -x $D$f ]] || { echo "$f: not an executable file"; bad=1; }
	done
	for f in $P/lib/systemd/system/zdd-agent.service $P/share/man/man8/zdd-bpfctl.8 \
		$P/share/man/man8/zdd-agent.8 $P/share/man/man5/zdd.yaml.5 \
		$P/share/bash-completion/completions/zdd-bpfctl /etc/zdd/zdd.yaml \
		$P/share/zdd/zdd.yaml.example $P/share/zdd/zdd-dashboard.json \
		$P/share/zdd/zdd-alerts.yml $P/share/zdd/prometheus.yml \
		$P/share/zdd/ansible/zdd-fleet.yml $P/share/zdd/ansible/roles/zdd_fleet/tasks/main.yml \
		$P/share/doc/zdd/ecmp.md; do
		[[ -s $D$f ]] || { echo "$f missing"; bad=1; continue; }
		[[ $(stat -c %a "$D$f") == 644 ]] || { echo "$f: mode $(stat -c %a "$D$f")"; bad=1; }
	done
	# The skeletons embed the BPF objects: none is installed, nothing from the build dir.
	f=$(find "$D" -name '*.o' -o -name '*.skel.h' -o -name '*.d')
	[[ -z $f ]] || { echo "build files installed: $f"; bad=1; }
	return "$bad"
}

binaries_run()
{
	cmp "$D$P/sbin/zdd-bpfctl" "$LAB_OUT/zdd-bpfctl" && cmp "$D$P/sbin/zdd-agent" "$LAB_OUT/zdd-agent" &&
		"$D$P/sbin/zdd-bpfctl" --help >/dev/null && "$D$P/sbin/zdd-agent" --help >/dev/null
}

unit_line() { sed -n "s/^$2=//p" "$1"; }

unit_paths()
{
	local u=$D$P/lib/systemd/system/zdd-agent.service
	[[ $(unit_line "$u" ExecStart) == "$P/sbin/zdd-agent -c /etc/zdd/zdd.yaml" ]] ||
		{ unit_line "$u" ExecStart; return 1; }
}

# PREFIX=/usr SYSCONFDIR=/etc/alt: the unit and the man pages name those paths.
other_prefix()
{
	local d2=$TMP/dest-usr
	install_into DESTDIR="$d2" PREFIX=/usr SYSCONFDIR=/etc/alt >/dev/null || return 1
	[[ -x $d2/usr/sbin/zdd-agent && -s $d2/etc/alt/zdd/zdd.yaml ]] || return 1
	[[ $(unit_line "$d2/usr/lib/systemd/system/zdd-agent.service" ExecStart) == \
		"/usr/sbin/zdd-agent -c /etc/alt/zdd/zdd.yaml" ]] || return 1
	grep -q '^\.I /etc/alt/zdd/zdd.yaml$' "$d2/usr/share/man/man8/zdd-agent.8" || return 1
	! grep -rq '/usr/local' "$d2/usr/share/man" "$d2/usr/lib/systemd" ||
		{ grep -rn '/usr/local' "$d2/usr/share/man" "$d2/usr/lib/systemd"; return 1; }
}

keeps_config()
{
	echo "# edited by the operator" >>"$D/etc/zdd/zdd.yaml"
	install_into DESTDIR="$D" >/dev/null || return 1
	tail -n 1 "$D/etc/zdd/zdd.yaml" | grep -q 'edited by the operator'
}

tap_check "make install DESTDIR=... succeeds" install_into DESTDIR="$D"
tap_check "the tree: binaries, unit, man pages, completion, config, dashboards, docs" tree_complete
tap_check "the installed binaries are the built ones, and run" binaries_run
tap_check "the unit starts the installed agent on /etc/zdd/zdd.yaml" unit_paths
tap_check "PREFIX=/usr SYSCONFDIR=/etc/alt: the unit and man pages follow" other_prefix
tap_check "a second install keeps an edited /etc/zdd/zdd.yaml" keeps_config

# --- the systemd unit --------------------------------------------------------------------------

UNIT_DIR=$TMP/unit
mkdir -p "$UNIT_DIR"
# The unit as installed, its binary taken from the DESTDIR (verify checks that it exists).
sed "s|^ExecStart=$P/sbin/|ExecStart=$D$P/sbin/|" "$D$P/lib/systemd/system/zdd-agent.service" \
	>"$UNIT_DIR/zdd-agent.service"

unit_verifies()
{
	local out
	# MANPATH: verify looks up the Documentation= man pages, the installed ones.
	out=$(MANPATH="$D$P/share/man" systemd-analyze verify "$UNIT_DIR/zdd-agent.service" 2>&1) ||
		{ echo "$out"; return 1; }
	[[ -z $out ]] || { echo "$out"; return 1; }
}

unit_semantics()
{
	local u=$UNIT_DIR/zdd-agent.service want bad=0
	# shellcheck disable=SC2016 # $MAINPID is systemd's
	for want in "Restart=on-failure" 'ExecReload=/bin/kill -HUP $MAINPID' "KillSignal=SIGTERM" \
		"ReadWritePaths=/sys/fs/bpf" "RuntimeDirectory=zdd" "StateDirectory=zdd" \
		"ProtectSystem=strict" "NoNewPrivileges=yes" "LimitMEMLOCK=infinity"; do
		grep -qxF "$want" "$u" || { echo "missing: $want"; bad=1; }
	done
	# Nothing detaches the data path when the agent stops.
	! grep -Eq '^ExecStop(Post)?=' "$u" || { echo "an ExecStop"; bad=1; }
	return "$bad"
}

unit_exposure()
{
	local out score
	out=$(systemd-analyze security --offline=true "$UNIT_DIR/zdd-agent.service" 2>&1)
	score=$(sed -n 's/.*Overall exposure level for zdd-agent.service: \([0-9.]*\).*/\1/p' <<<"$out")
	echo "exposure: ${score:-?}"
	[[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s < 4.0) }'
}

tap_check "systemd-analyze verify passes, silently" unit_verifies
tap_check "the unit restarts on failure, reloads with SIGHUP, confines, never detaches" unit_semantics
tap_check "systemd-analyze security: exposure below 4.0 (OK)" unit_exposure

# --- man pages ---------------------------------------------------------------------------------

MAN8=$D$P/share/man/man8
MAN5=$D$P/share/man/man5

man_lint()
{
	local f
	for f in "$MAN8/zdd-bpfctl.8" "$MAN8/zdd-agent.8" "$MAN5/zdd.yaml.5"; do
		# mandoc's lint is the stricter; groff's catches what man(1) would print wrong.
		if command -v mandoc >/dev/null; then
			mandoc -T lint -W warning "$f" || return 1
		fi
		groff -man -z -ww "$f" 2>&1 | grep . && return 1
		MANWIDTH=80 man -l "$f" 2>/dev/null | grep -q '^NAME' || { echo "$f: no NAME"; return 1; }
	done
	return 0
}

# Every command of `zdd-bpfctl --help` has a subsection (.SS NAME ...).
man_commands()
{
	local cmd bad=0
	for cmd in $("$LAB_OUT/zdd-bpfctl" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p'); do
		grep -q "^\.SS $cmd\( \|$\)" "$MAN8/zdd-bpfctl.8" || { echo "no .SS $cmd"; bad=1; }
	done
	return "$bad"
}

# Every key of the parser's tables (*_keys[] in conffile.c) is described (.B KEY).
man_config_keys()
{
	local key bad=0 keys
	keys=$(awk '/^static const char \*const [a-z_]*_keys\[/ { f = 1 } f { print } f && /};/ { f = 0 }' \
		"$LAB_ROOT/userspace/lib/conffile.c" | grep -o '"[a-z_]*"' | tr -d '"' | sort -u)
	[[ $(wc -w <<<"$keys") -gt 30 ]] || { echo "found only: $keys"; return 1; }
	for key in $keys; do
		grep -q "^\.B $key$" "$MAN5/zdd.yaml.5" || { echo "zdd.yaml(5) lacks '$key'"; bad=1; }
	done
	return "$bad"
}

# Every metric family of metrics.c is listed in zdd-agent(8).
man_metrics()
{
	local m bad=0
	for m in $(grep -o '"zdd_[a-z_]*"' "$LAB_ROOT/userspace/agent/metrics.c" | tr -d '"' | sort -u); do
		# with its labels, or alone when it has none
		grep -qE "^$m(\{|\$)" "$MAN8/zdd-agent.8" || { echo "zdd-agent(8) lacks $m"; bad=1; }
	done
	return "$bad"
}

# parses FILE: zdd-bpfctl gets past the file and stops at the (absent) pin directory.
parses()
{
	local out
	out=$("$LAB_OUT/zdd-bpfctl" -p "$TMP/no-pins" apply -f "$1" --dry-run 2>&1)
	[[ $out == *"$TMP/no-pins"* && $out != *"$1"* ]] || { echo "$out"; return 1; }
}

man_example_parses()
{
	MANWIDTH=100 man -l "$MAN5/zdd.yaml.5" 2>/dev/null |
		sed -n '/^EXAMPLE/,/^FILES/{/^[A-Z]/d;s/^       //;p;}' >"$TMP/man-example.yaml"
	grep -q '^services:' "$TMP/man-example.yaml" || { cat "$TMP/man-example.yaml"; return 1; }
	parses "$TMP/man-example.yaml"
}

command -v mandoc >/dev/null || tap_diag "mandoc not installed: groff's checks only"
tap_check "man pages pass mandoc/groff lint and render" man_lint
tap_check "zdd-bpfctl(8) has a subsection for every command" man_commands
tap_check "zdd.yaml(5) describes every key the parser knows" man_config_keys
tap_check "zdd-agent(8) lists every metric" man_metrics
tap_check "zdd.yaml(5)'s EXAMPLE parses" man_example_parses
tap_check "the installed /etc/zdd/zdd.yaml parses" parses "$D/usr/local/share/zdd/zdd.yaml.example"

# --- against real maps: a namespace with one veth, zdd attached --------------------------------

CONF=$D$P/share/zdd/zdd.yaml.example
maps_up()
{
	ip netns add "$NS" && ip -n "$NS" link set lo up &&
		ip -n "$NS" link add eth0 type veth peer name peer0 &&
		ip -n "$NS" addr add "$LAB_LB4/24" dev eth0 &&
		ip -n "$NS" -6 addr add "$LAB_LB6/64" dev eth0 nodad &&
		ip -n "$NS" link set eth0 up && ip -n "$NS" link set peer0 up || return 1
	# The next hop of every backend: rtr's address with a fixed MAC.
	ip -n "$NS" route add 198.18.0.0/15 via "$LAB_RTR_LB4" &&
		ip -n "$NS" -6 route add fd00::/8 via "$LAB_RTR_LB6" &&
		ip -n "$NS" neigh replace "$LAB_RTR_LB4" dev eth0 lladdr 02:00:5e:00:00:01 nud permanent &&
		ip -n "$NS" -6 neigh replace "$LAB_RTR_LB6" dev eth0 lladdr 02:00:5e:00:00:01 nud permanent ||
		return 1
	mkdir -p "$PIN"
	nsenter --net="/run/netns/$NS" "$LAB_OUT/zdd-bpfctl" -p "$PIN" attach eth0 --generic \
		--services 8 --backends 64 --maglev-m 251 --flows 1024 --embryos 256
}

example_plans()
{
	local out
	out=$(nsenter --net="/run/netns/$NS" "$LAB_OUT/zdd-bpfctl" -p "$PIN" apply -f "$CONF" --dry-run) ||
		{ echo "$out"; return 1; }
	echo "$out"
	[[ $out == *"+ service $LAB_SVC4"* && $out == *"+ service $LAB_SVC6"* ]]
}

tap_check "zdd attached in a namespace ($NS, generic XDP)" maps_up
tap_check "the example config plans against the maps (apply --dry-run)" example_plans
nsenter --net="/run/netns/$NS" "$LAB_OUT/zdd-bpfctl" -p "$PIN" apply -f "$CONF" >/dev/null ||
	tap_diag "apply of the example failed"

# --- bash completion ---------------------------------------------------------------------------

# complete LINE: the replies of the installed completion for LINE (the cursor at its end), one
# per line, with the installed zdd-bpfctl first in PATH.
complete_line()
{
	PATH="$D$P/sbin:$PATH" bash -c '
		source "$1"
		COMP_LINE=$2 COMP_POINT=${#2}
		read -ra COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_zdd_bpfctl
		printf "%s\n" "${COMPREPLY[@]}"' _ "$D$P/share/bash-completion/completions/zdd-bpfctl" "$1" |
		sort | tr '\n' ' '
}

# completes LINE WANT: the replies are WANT (sorted, blank-separated).
completes()
{
	local got want
	got=$(complete_line "$1")
	want="$(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort | tr '\n' ' ')"
	[[ $got == "$want" ]] || { echo "'$1': got '$got', want '$want'"; return 1; }
}

completes_commands()
{
	local want
	want=$("$LAB_OUT/zdd-bpfctl" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' |
		tr '\n' ' ')
	completes "zdd-bpfctl " "$want" && completes "zdd-bpfctl -j ro" "rollout"
}

completes_verbs_and_values()
{
	completes "zdd-bpfctl rollout " "start status pause resume promote abort" &&
		completes "zdd-bpfctl backend add $LAB_SVC4 ${LAB_BLUE4[0]} --pool " "blue green" &&
		completes "zdd-bpfctl backend set $LAB_SVC4 ${LAB_BLUE4[0]} --state d" "drain down" &&
		completes "zdd-bpfctl flip $LAB_SVC4 --to g" "green" &&
		completes "zdd-bpfctl weight $LAB_SVC4 gr" "green=" &&
		completes "zdd-bpfctl decap " "attach detach status" &&
		completes "zdd-bpfctl decap attach eth0 --f" "--from" &&
		completes "zdd-bpfctl apply --d" "--dry-run"
}

# Services and backends from the pins; bash replaces the text after the last ':' only.
completes_from_maps()
{
	completes "zdd-bpfctl -p $PIN status " "$LAB_SVC4 $LAB_SVC6" &&
		completes "zdd-bpfctl -p $PIN status 198.19.0.10:" "80/tcp" &&
		completes "zdd-bpfctl -p $PIN backend set $LAB_SVC4 198.18.3.1" \
			"198.18.3.11 198.18.3.12"
}

tap_check "completion: every command" completes_commands
tap_check "completion: verbs and option values, from the usage lines" completes_verbs_and_values
tap_check "completion: services and backends from the pinned maps" completes_from_maps

# --- zdd-agent as the unit runs it -------------------------------------------------------------

# The unit's CapabilityBoundingSet in setpriv's words: -all,+bpf,+net_admin,...
caps=$(unit_line "$UNIT_DIR/zdd-agent.service" CapabilityBoundingSet | tr '[:upper:]' '[:lower:]' |
	sed 's/cap_/+/g; s/ /,/g')
cat >"$TMP/agent.yaml" <<EOF
agent:
  interface: eth0
  pin_dir: $PIN
  metrics: 127.0.0.1:9334
  control_socket: $TMP/run/agent.sock
  state_file: $TMP/state/state.json
services:
  - service: "$LAB_SVC4"
    backends:
      - { address: ${LAB_BLUE4[0]}, pool: blue }
      - { address: ${LAB_GREEN4[0]}, pool: green }
EOF

agent_start()
{
	local i
	nsenter --net="/run/netns/$NS" setpriv --bounding-set "-all,$caps" --inh-caps -all \
		--no-new-privs -- "$D$P/sbin/zdd-agent" -c "$TMP/agent.yaml" >>"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	for ((i = 0; i < 50; i++)); do
		metrics >/dev/null 2>&1 && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$TMP/agent.log"
	return 1
}

metrics() { nsenter --net="/run/netns/$NS" curl -sf --max-time 2 http://127.0.0.1:9334/metrics; }

serves()
{
	local out
	out=$(metrics) || return 1
	[[ $out == *"zdd_backend_up{service=\"$LAB_SVC4\",pool=\"blue\",backend=\"${LAB_BLUE4[0]}\"}"* ]] ||
		{ echo "$out" | head; return 1; }
	# Only the services of its file: the example's IPv6 service went away.
	[[ $out != *"$LAB_VIP6"* ]] || { echo "IPv6 service still there"; return 1; }
}

reloads()
{
	local i
	sed -i "s/^      - { address: ${LAB_GREEN4[0]}, pool: green }$/&\n      - { address: ${LAB_GREEN4[1]}, pool: green }/" \
		"$TMP/agent.yaml"
	kill -HUP "$AGENT_PID" || return 1
	for ((i = 0; i < 30; i++)); do
		metrics | grep -q "backend=\"${LAB_GREEN4[1]}\"" && return 0
		sleep 0.1
	done
	tail -n 5 "$TMP/agent.log"
	return 1
}

stops_leaving_data_path()
{
	local rc
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	rc=$?
	AGENT_PID=""
	((rc == 0)) || { echo "exit status $rc"; tail -n 5 "$TMP/agent.log"; return 1; }
	ip -n "$NS" link show dev eth0 | grep -q 'xdp' || { echo "XDP detached"; return 1; }
	"$LAB_OUT/zdd-bpfctl" -p "$PIN" backend list "$LAB_SVC4" | grep -q "${LAB_GREEN4[1]}"
}

restarts_adopting()
{
	agent_start || return 1
	grep -q "adopted the data path's maps in $PIN" "$TMP/agent.log" && serves
}

tap_diag "bounding set: ${caps:-none}"
tap_check "zdd-agent starts with the unit's capabilities only, no new privileges" agent_start
tap_check "... serves /metrics for the services of its file" serves
tap_check "... applies a changed file on SIGHUP (capabilities dropped by then)" reloads
tap_check "... exits 0 on SIGTERM, XDP stays attached and the maps stay" stops_leaving_data_path
tap_check "... starts again, adopting the maps (a restart)" restarts_adopting
tap_done
