#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-ops-vagrant.sh - the Vagrant lab (vagrant/): the Vagrantfile validates
# and defines the lab's roles, the provisioning scripts are clean shell, their lab.env agrees
# with lib.sh, and the scripts themselves (--net-only) wire a namespace lab that carries the
# real data path: nginx backends from lib.sh, zdd attached, the service answering from blue.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zopsv}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VAGRANT_DIR="$LAB_ROOT/vagrant"
PROV="$VAGRANT_DIR/provision"
SCRIPTS=("$PROV"/common.sh "$PROV"/client.sh "$PROV"/rtr.sh "$PROV"/lb.sh "$PROV"/backend.sh)

lab_require
lab_require_cmd shellcheck
[[ -x $LAB_BPFCTL ]] || lab_skip "$LAB_BPFCTL not built (make)"
tap_plan 20

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zdd-ops-vagrant.XXXXXX") || tap_bail "mktemp"
lab_defer rm -rf "$TMP"

# --- the Vagrantfile ---------------------------------------------------------------------------

# vagrant with a state dir of its own: nothing is written next to the Vagrantfile or in ~.
vagrant_run()
{
	VAGRANT_HOME="$TMP/vagrant.d" VAGRANT_DOTFILE_PATH="$TMP/dot" VAGRANT_CWD="$VAGRANT_DIR" \
		VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_COLOR=1 VAGRANT_DEFAULT_PROVIDER=libvirt \
		vagrant "$@"
}

# With vagrant-libvirt the provider's settings are validated too; without it, only the rest.
VAGRANT_LIBVIRT=0
if command -v vagrant >/dev/null && vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt; then
	VAGRANT_LIBVIRT=1
fi

vagrant_validates()
{
	if ((VAGRANT_LIBVIRT)); then
		vagrant_run validate
	else
		echo "vagrant-libvirt missing: provider settings not validated"
		vagrant_run validate --ignore-provider
	fi
}

# `vagrant status` lists one machine per role of lib.sh, no more.
vagrant_defines_roles()
{
	local got want
	got=$(vagrant_run status --machine-readable | awk -F, '$3 == "state" { print $2 }' | sort)
	want=$(printf '%s\n' "${LAB_ROLES[@]}" | sort)
	[[ $got == "$want" ]] || { printf 'machines: %s\nroles: %s\n' "$got" "$want"; return 1; }
}

if ! command -v vagrant >/dev/null; then
	tap_skip "vagrant validate" "vagrant not installed (Debian: vagrant vagrant-libvirt)"
	tap_skip "the Vagrantfile defines the lab's roles" "vagrant not installed"
else
	((VAGRANT_LIBVIRT)) || tap_diag "vagrant-libvirt not installed: validating without provider settings"
	tap_check "vagrant validate" vagrant_validates
	if ((VAGRANT_LIBVIRT)); then
		tap_check "the Vagrantfile defines the lab's roles: ${LAB_ROLES[*]}" vagrant_defines_roles
	else
		tap_skip "the Vagrantfile defines the lab's roles" "needs vagrant-libvirt (vagrant status)"
	fi
fi

# --- the scripts -------------------------------------------------------------------------------

syntax_ok()
{
	local f
	for f in "${SCRIPTS[@]}" "$PROV/lab.env"; do
		bash -n "$f" || return 1
	done
}

# lab.env's LAB_* values are lib.sh's (lib.sh is sourced in this shell; lab.env in a subshell).
value_of() { local -n ref=$1; printf '%s' "${ref[*]}"; }
same_as_lib()
{
	local name mine theirs bad=0 names
	mapfile -t names < <(sed -n 's/^\(LAB_[A-Z0-9_]*\)=.*/\1/p' "$PROV/lab.env")
	((${#names[@]} > 20)) || { echo "lab.env: only ${#names[@]} LAB_ values"; return 1; }
	for name in "${names[@]}"; do
		theirs=$(value_of "$name")
		# shellcheck disable=SC1091
		mine=$(source "$PROV/lab.env" && value_of "$name")
		[[ $mine == "$theirs" ]] || { echo "$name: lab.env '$mine', lib.sh '$theirs'"; bad=1; }
	done
	return "$bad"
}

# The build packages of common.sh are in the Makefile's DEB_PKGS (plus make and gcc).
build_pkgs_in_makefile()
{
	local deb p bad=0
	# DEB_PKGS := a b \ (continued) c d
	deb=" make gcc $(sed -n -e '/^DEB_PKGS/,/[^\\]$/{s/^DEB_PKGS *:= *//;s/\\$//;p;}' \
		"$LAB_ROOT/Makefile" | tr -s ' \t\n' ' ') "
	# shellcheck disable=SC1091
	for p in $(source "$PROV/common.sh" && echo "${PROV_BUILD_PKGS[*]}"); do
		[[ $deb == *" $p "* ]] || { echo "$p is not in the Makefile's DEB_PKGS"; bad=1; }
	done
	return "$bad"
}

tap_check "provisioning scripts parse (bash -n)" syntax_ok
# From the top: the scripts' `source=` directives name paths from there.
shellcheck_ok() { (cd "$LAB_ROOT" && shellcheck -x "${SCRIPTS[@]#"$LAB_ROOT/"}" vagrant/provision/lab.env); }
tap_check "provisioning scripts pass shellcheck" shellcheck_ok
tap_check "lab.env has lib.sh's roles, addresses and MTUs" same_as_lib
tap_check "the build packages of common.sh are in make deps" build_pkgs_in_makefile

# --- the scripts wire a namespace lab ----------------------------------------------------------

# What Vagrant and libvirt do for the VMs: namespaces, and links with the lab's MACs (52:54:00 +
# the IPv4 address' last three bytes), named as lib.sh names them. Nothing else: no address.
mac() { bash -c 'source "$1" && prov_mac "$2"' _ "$PROV/common.sh" "$1"; }
wire()
{
	local role ns i name
	lab_down >/dev/null 2>&1 || return 1
	lab_trap
	LAB_OWNER=1
	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/zdd-lab.$LAB_PREFIX.XXXXXX") || return 1
	chmod 755 "$LAB_DIR"
	for role in "${LAB_ROLES[@]}"; do
		ns=$(lab_ns "$role")
		ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
	done
	ip -n "$LAB_NS_RTR" link add to-client address "$(mac "$LAB_RTR_CLIENT4")" type veth \
		peer name eth0 netns "$LAB_NS_CLIENT" address "$(mac "$LAB_CLIENT4")" || return 1
	ip -n "$LAB_NS_RTR" link add to-lb address "$(mac "$LAB_RTR_LB4")" type veth \
		peer name eth0 netns "$LAB_NS_LB" address "$(mac "$LAB_LB4")" || return 1
	ip -n "$LAB_NS_RTR" link add br0 address "$(mac "$LAB_RTR_BE4")" type bridge stp_state 0 \
		forward_delay 0 mcast_snooping 0 || return 1
	for i in "${!LAB_BACKENDS[@]}"; do
		name=${LAB_BACKENDS[i]}
		ip -n "$LAB_NS_RTR" link add "to-$name" mtu "$LAB_MTU_BACKEND" type veth peer name eth0 \
			netns "$(lab_ns "$name")" address "$(mac "${LAB_BACKENDS4[i]}")" || return 1
		ip -n "$LAB_NS_RTR" link set "to-$name" master br0 up || return 1
	done
}

# provision ROLE [ARGS...]: the role's script, --net-only, inside the role's namespace.
provision()
{
	local role=$1 script=$1
	shift
	[[ $role == [bg][12] ]] && { script=backend; set -- "$role" "$@"; }
	ip netns exec "$(lab_ns "$role")" bash "$PROV/$script.sh" --net-only "$@"
}

provision_all()
{
	local role
	for role in "${LAB_ROLES[@]}"; do
		provision "$role" || { echo "$role failed"; return 1; }
	done
}

# state: addresses, links and routes of every namespace, to compare two runs.
state()
{
	local role ns
	for role in "${LAB_ROLES[@]}"; do
		ns=$(lab_ns "$role")
		echo "== $role"
		ip -n "$ns" -br addr
		ip -n "$ns" -br link
		ip -n "$ns" route
		ip -n "$ns" -6 route
		ip -n "$ns" neigh show nud permanent
	done
}

idempotent()
{
	local before after
	before=$(state)
	provision_all >/dev/null || return 1
	after=$(state)
	[[ $before == "$after" ]] || { diff <(echo "$before") <(echo "$after"); return 1; }
}

mtu_of() { ip -n "$(lab_ns "$1")" -j link show dev "$2" | sed -n 's/.*"mtu":\([0-9]*\).*/\1/p'; }
mtus_as_lib()
{
	local got="" want="" name
	got+="$(mtu_of client eth0) $(mtu_of rtr to-client) $(mtu_of lb eth0) $(mtu_of rtr to-lb) "
	want+="$LAB_MTU_CLIENT $LAB_MTU_CLIENT $LAB_MTU_LB $LAB_MTU_LB "
	got+="$(mtu_of rtr br0)"
	want+="$LAB_MTU_BACKEND"
	for name in "${LAB_BACKENDS[@]}"; do
		got+=" $(mtu_of "$name" eth0)"
		want+=" $LAB_MTU_BACKEND"
	done
	[[ $got == "$want" ]] || { echo "MTUs $got, want $want"; return 1; }
}

rtr_routes_vips_to_lb()
{
	ip -n "$LAB_NS_RTR" route get "$LAB_VIP4" | grep -q "via $LAB_LB4 dev to-lb" &&
		ip -n "$LAB_NS_RTR" -6 route get "$LAB_VIP6" | grep -q "via $LAB_LB6 dev to-lb"
}

backends_hold_vips()
{
	local name out
	for name in "${LAB_BACKENDS[@]}"; do
		out=$(ip -n "$(lab_ns "$name")" addr show dev lo)
		[[ $out == *"inet $LAB_VIP4/32 "* && $out == *"inet6 $LAB_VIP6/128 "* ]] ||
			{ echo "$name: $out"; return 1; }
		[[ $(lab_exec "$name" sysctl -n net.ipv4.conf.all.arp_ignore) == 1 ]] ||
			{ echo "$name: arp_ignore"; return 1; }
	done
}

lb_neighbour_permanent()
{
	ip -n "$LAB_NS_LB" neigh show "$LAB_RTR_LB4" dev eth0 |
		grep -q "lladdr $(lab_mac rtr to-lb) PERMANENT"
}

client_addresses() { [[ $(ip -n "$LAB_NS_CLIENT" -4 -o addr show dev eth0 | wc -l) -eq 65 ]]; }

backends_answer()
{
	local i name want
	for i in "${!LAB_BACKENDS[@]}"; do
		name=${LAB_BACKENDS[i]}
		want="$name $(lab_pool "$name")"
		[[ $(lab_curl "${LAB_BACKENDS4[i]}") == "$want" ]] || { echo "$name v4"; return 1; }
		[[ $(lab_curl "${LAB_BACKENDS6[i]}") == "$want" ]] || { echo "$name v6"; return 1; }
	done
}

# The service through zdd: blue answers (all new flows on blue), on both addresses.
service_answers()
{
	local got
	got=$(lab_curl "$1") || return 1
	[[ $got == b[12]" blue" ]] || { echo "got '$got'"; return 1; }
}

if wire; then
	tap_ok "namespaces and links with the lab's MACs"
else
	tap_fail "namespaces and links with the lab's MACs"
	tap_bail "no lab"
fi
tap_check "client.sh, rtr.sh, lb.sh, backend.sh --net-only configure their namespaces" provision_all
tap_check "a second run changes nothing" idempotent
tap_check "MTUs are lib.sh's" mtus_as_lib
tap_check "rtr routes the service prefixes to lb" rtr_routes_vips_to_lb
tap_check "backends hold the VIPs on lo, arp_ignore on" backends_hold_vips
tap_check "lb's next hop (rtr) is a permanent neighbour" lb_neighbour_permanent
tap_check "the client has its address and 64 more" client_addresses
# The rest is lib.sh's: the veth quirk's pass-through on rtr, nginx backends, zdd.
tap_check "lib.sh's pass-through XDP on rtr/to-lb" lab_xdp_pass rtr "$LAB_RTR_LB_DEV"
for name in "${LAB_BACKENDS[@]}"; do
	lab_backend_start "$name" || tap_bail "nginx on $name"
done
tap_check "the client reaches every backend, IPv4 and IPv6" backends_answer
tap_check "zdd attached on lb, decap on the backends (lab_zdd_up)" lab_zdd_up
tap_check "the client reaches $LAB_SVC4 through zdd" service_answers "$LAB_VIP4"
tap_check "the client reaches $LAB_SVC6 through zdd" service_answers "$LAB_VIP6"
tap_check "lab_down clears it" lab_down
tap_done
