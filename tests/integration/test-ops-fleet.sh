#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-ops-fleet.sh - several edge nodes: the Ansible playbook
# (tools/ops/ansible/zdd-fleet.yml) passes --syntax-check and, run against two "edge nodes" on
# this machine (two sets of pinned maps, connection local), pushes one zdd.yaml to both, puts
# back a change made by hand, and stops at the first node that refuses a bad file, leaving it
# and the next one as they were. The ECMP document's BIRD configurations parse (bird -p).
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zopsf}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_root
lab_require_cmd ip nsenter
[[ -x $LAB_BPFCTL ]] || lab_skip "$LAB_BPFCTL not built (make)"
tap_plan 11

OPS="$LAB_ROOT/tools/ops"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zdd-ops-fleet.XXXXXX") || tap_bail "mktemp"
NS="$LAB_PREFIX-edges"
EDGES=(edge1 edge2)
pin() { echo "/sys/fs/bpf/$LAB_PREFIX-$1"; }
cleanup()
{
	local e
	[[ -e /run/netns/$NS ]] && ip netns del "$NS"
	for e in "${EDGES[@]}"; do rm -rf "$(pin "$e")"; done
	rm -rf "$TMP"
}
cleanup
mkdir -p "$TMP"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Ansible -----------------------------------------------------------------------------------

# ansible-playbook with its state in TMP, quiet, no colour.
playbook()
{
	ANSIBLE_HOME="$TMP/ansible" ANSIBLE_LOCAL_TEMP="$TMP/ansible/tmp" \
		ANSIBLE_REMOTE_TMP="$TMP/ansible/remote" ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 \
		ANSIBLE_DEPRECATION_WARNINGS=0 ANSIBLE_LOCALHOST_WARNING=0 ansible-playbook "$@"
}

# Two edge nodes in one namespace: a veth each, zdd attached with its own pins (generic XDP).
edges_up()
{
	local i e
	ip netns add "$NS" && ip -n "$NS" link set lo up || return 1
	for i in "${!EDGES[@]}"; do
		e=${EDGES[i]}
		ip -n "$NS" link add "$e" type veth peer name "p-$e" &&
			ip -n "$NS" addr add "198.18.2.$((i + 2))/24" dev "$e" &&
			ip -n "$NS" -6 addr add "fd00:2::$((i + 2))/64" dev "$e" nodad &&
			ip -n "$NS" link set "$e" up && ip -n "$NS" link set "p-$e" up || return 1
		mkdir -p "$(pin "$e")" "$TMP/$e" || return 1
		nsenter --net="/run/netns/$NS" "$LAB_BPFCTL" -p "$(pin "$e")" attach "$e" --generic \
			--gw-mac 02:00:5e:00:00:01 --services 8 --backends 64 --maglev-m 251 \
			--flows 1024 --embryos 256 >/dev/null || return 1
	done
	{
		echo "[zdd_edges]"
		for e in "${EDGES[@]}"; do
			echo "$e zdd_pin_dir=$(pin "$e") zdd_config_dest=$TMP/$e/zdd.yaml"
		done
		echo "[zdd_edges:vars]"
		echo "ansible_connection=local"
		echo "ansible_become=false"
		echo "ansible_python_interpreter=$(command -v python3)"
		echo "zdd_bpfctl=$LAB_BPFCTL"
		echo "zdd_config_src=$TMP/fleet.yaml"
	} >"$TMP/inventory.ini"
}

# The fleet's file: the example, its IPv6 service without the last green backend.
cp "$OPS/zdd.yaml" "$TMP/fleet.yaml"

services_on() { "$LAB_BPFCTL" -p "$(pin "$1")" service list | tr '\n' ' '; }
backends_on() { "$LAB_BPFCTL" -p "$(pin "$1")" backend list "$2" | awk '{ print $1, $2, $3 }' | tr '\n' ' '; }

# recap LOG HOST: "changed=N failed=N" of HOST in the play recap.
recap() { sed -n "s/^$2 *: .*\(changed=[0-9]*\).*\(failed=[0-9]*\).*/\1 \2/p" "$1"; }

pushes_to_all()
{
	local e
	# Both nodes at once (as ecmp.md advises once a file has passed on one node).
	playbook -i "$TMP/inventory.ini" -e zdd_serial=2 "$OPS/ansible/zdd-fleet.yml" \
		>"$TMP/run1.log" 2>&1 ||
		{ tail -n 30 "$TMP/run1.log"; return 1; }
	for e in "${EDGES[@]}"; do
		[[ $(services_on "$e") == "$LAB_SVC4 $LAB_SVC6 " ]] || { echo "$e: $(services_on "$e")"; return 1; }
		cmp -s "$TMP/fleet.yaml" "$TMP/$e/zdd.yaml" || { echo "$e: file differs"; return 1; }
		[[ $(recap "$TMP/run1.log" "$e") == "changed=2 failed=0" ]] ||
			{ echo "$e: $(recap "$TMP/run1.log" "$e")"; return 1; }
	done
}

# Both nodes hold the same backends: the condition of consistent Maglev tables.
same_tables()
{
	local a b
	a=$(backends_on edge1 "$LAB_SVC4")
	b=$(backends_on edge2 "$LAB_SVC4")
	[[ -n $a && $a == "$b" ]] || { printf 'edge1: %s\nedge2: %s\n' "$a" "$b"; return 1; }
}

# A backend drained by hand on edge2: the next run puts it back, and changes nothing on edge1.
puts_back_drift()
{
	"$LAB_BPFCTL" -p "$(pin edge2)" backend set "$LAB_SVC4" "${LAB_BLUE4[0]}" --state drain >/dev/null ||
		return 1
	playbook -i "$TMP/inventory.ini" -e zdd_serial=2 "$OPS/ansible/zdd-fleet.yml" \
		>"$TMP/run2.log" 2>&1 ||
		{ tail -n 30 "$TMP/run2.log"; return 1; }
	[[ $(recap "$TMP/run2.log" edge1) == "changed=0 failed=0" &&
		$(recap "$TMP/run2.log" edge2) == "changed=1 failed=0" ]] ||
		{ grep -A3 'PLAY RECAP' "$TMP/run2.log"; return 1; }
	same_tables
}

# A file that does not parse, one node at a time (the default): edge1 refuses it (the copy's
# validate), keeps its file and its maps, and the play stops there: edge2 is not touched.
stops_at_bad_file()
{
	local before1 before2
	before1=$(backends_on edge1 "$LAB_SVC4")
	before2=$(backends_on edge2 "$LAB_SVC4")
	sed 's/pool: green }/pool: purple }/' "$OPS/zdd.yaml" >"$TMP/fleet.yaml"
	if playbook -i "$TMP/inventory.ini" "$OPS/ansible/zdd-fleet.yml" >"$TMP/run3.log" 2>&1; then
		echo "the playbook passed a bad file"
		return 1
	fi
	grep -q "is not one of blue|green" "$TMP/run3.log" || { tail -n 20 "$TMP/run3.log"; return 1; }
	cmp -s "$OPS/zdd.yaml" "$TMP/edge1/zdd.yaml" || { echo "edge1's file changed"; return 1; }
	[[ -z $(recap "$TMP/run3.log" edge2) ]] || { echo "edge2 was reached"; return 1; }
	cmp -s "$OPS/zdd.yaml" "$TMP/edge2/zdd.yaml" || { echo "edge2's file changed"; return 1; }
	[[ $(backends_on edge1 "$LAB_SVC4") == "$before1" && $(backends_on edge2 "$LAB_SVC4") == "$before2" ]]
}

syntax_ok()
{
	playbook --syntax-check -i "$OPS/ansible/inventory.example.ini" "$OPS/ansible/zdd-fleet.yml"
}

if ! command -v ansible-playbook >/dev/null; then
	for t in "ansible-playbook --syntax-check" "two edge nodes with zdd attached" \
		"the playbook pushes one zdd.yaml to both nodes and applies it" \
		"both nodes hold the same backends" "a change made by hand is put back, on that node only" \
		"a file that fails stops the fleet at the first node, which keeps its file and maps"; do
		tap_skip "$t" "ansible-playbook not installed (Debian: ansible-core)"
	done
else
	tap_check "ansible-playbook --syntax-check" syntax_ok
	tap_check "two edge nodes with zdd attached (pins $(pin edge1), $(pin edge2))" edges_up
	tap_check "the playbook pushes one zdd.yaml to both nodes and applies it" pushes_to_all
	tap_check "both nodes hold the same backends" same_tables
	tap_check "a change made by hand is put back, on that node only" puts_back_drift
	tap_check "a file that fails stops the fleet at the first node, which keeps its file and maps" \
		stops_at_bad_file
fi

# --- the ECMP document -------------------------------------------------------------------------

ECMP="$OPS/ecmp.md"

# Each ```bird block of ecmp.md is a whole configuration: bird parses it.
bird_blocks_parse()
{
	local n
	awk -v dir="$TMP" '/^```bird$/ { f = 1; n++; next } /^```$/ { f = 0 } f { print > (dir "/bird" n ".conf") }' \
		"$ECMP"
	n=$(find "$TMP" -maxdepth 1 -name 'bird*.conf' | wc -l)
	((n >= 2)) || { echo "$n bird blocks"; return 1; }
	for f in "$TMP"/bird*.conf; do
		bird -p -c "$f" || return 1
	done
}

# The consistency guarantees of DESIGN.md 8, and what is not guaranteed.
ecmp_covers()
{
	local want bad=0
	for want in "## What is guaranteed" "## What is not guaranteed" "Maglev is deterministic" \
		"previous generation" "announce_interface" "zdd-bpfctl node drain" "--maglev-m" \
		"fib_multipath_hash_policy" "resilient"; do
		grep -qF -- "$want" "$ECMP" || { echo "ecmp.md does not mention '$want'"; bad=1; }
	done
	return "$bad"
}

# Lab addresses only (198.18.0.0/15, fd00::/8) in the document and the playbook's files; and
# loopback, where a default is stated.
lab_addresses_only()
{
	local bad
	bad=$(grep -rhoE '\b([0-9]{1,3}\.){3}[0-9]{1,3}\b' "$ECMP" "$OPS/ansible" "$OPS/zdd.yaml" \
		"$OPS/prometheus" "$OPS/systemd" | grep -vE '^(198\.(18|19)\.|127\.0\.0\.1$)' | sort -u)
	[[ -z $bad ]] || { echo "not lab addresses: $bad"; return 1; }
}

# The etcd member drop-in: the member it names is in the initial cluster at its peer URL, and
# its client URL is one the member listens on.
etcd_dropin_consistent()
{
	local f=$OPS/systemd/etcd-zdd-member.conf name peer cluster listen adv
	v() { sed -n "s/^Environment=$1=//p" "$f"; }
	name=$(v ETCD_NAME) peer=$(v ETCD_INITIAL_ADVERTISE_PEER_URLS) cluster=$(v ETCD_INITIAL_CLUSTER)
	listen=$(v ETCD_LISTEN_CLIENT_URLS) adv=$(v ETCD_ADVERTISE_CLIENT_URLS)
	[[ -n $name && ,$cluster, == *",$name=$peer,"* ]] ||
		{ echo "member '$name' at '$peer' is not in '$cluster'"; return 1; }
	[[ ,$listen, == *",$adv,"* ]] || { echo "'$adv' is not in '$listen'"; return 1; }
	[[ $(v ETCD_LISTEN_PEER_URLS) == "$peer" ]] || { echo "peer URLs differ"; return 1; }
}

if command -v bird >/dev/null; then
	tap_check "ecmp.md: its BIRD configurations parse (bird -p)" bird_blocks_parse
else
	tap_skip "ecmp.md: its BIRD configurations parse (bird -p)" "bird not installed (Debian: bird2)"
fi
tap_check "ecmp.md: what is guaranteed and what is not, announce, drain, router settings" ecmp_covers
tap_check "ecmp.md and the fleet files use lab addresses only" lab_addresses_only
tap_check "the etcd member drop-in names itself in its initial cluster" etcd_dropin_consistent
tap_check "ecmp.md's example is the example config's service" grep -q "$LAB_VIP4" "$ECMP"
tap_done
