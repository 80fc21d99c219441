# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# vagrant/provision/common.sh - what the role scripts share: options, finding an interface by
# the MAC the lab gives it, idempotent address / route / sysctl setters, packages, building
# and installing zdd. Sourced by client.sh, rtr.sh, lb.sh and backend.sh.
#
# Every lab interface has the MAC 52:54:00 + the last three bytes of its IPv4 address
# (198.18.3.11 -> 52:54:00:12:03:0b): the Vagrantfile gives the VMs' NICs these MACs, and the
# namespace lab can give them to its veths, so a role script finds its interfaces the same way
# in both. Every step can run again (vagrant provisions on each `up`).
#
# Options of every role script:
#   --net-only   addresses, routes and sysctls only: no packages, no services (the namespace
#                lab runs the scripts so, with `ip netns exec NS`)
#   --dev DEV    use DEV instead of looking the interface up by MAC (one-interface roles)

PROV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vagrant/provision/lab.env
source "$PROV_DIR/lab.env"

PROV_NET_ONLY=0
PROV_DEV=""
PROV_ARGS=()
ZDD_SRC=${ZDD_SRC:-$(cd "$PROV_DIR/../.." && pwd)}
ZDD_BUILD=${ZDD_BUILD:-/var/tmp/zdd-build}
ZDD_PREFIX=${ZDD_PREFIX:-/usr/local}

prov_log() { printf '%s: %s\n' "${PROV_ROLE:-provision}" "$*"; }
prov_die() { printf '%s: %s\n' "${PROV_ROLE:-provision}" "$*" >&2; exit 1; }

# prov_options "$@": the common options; the rest is left in PROV_ARGS.
prov_options()
{
	while [[ $# -gt 0 ]]; do
		case $1 in
		--net-only) PROV_NET_ONLY=1 ;;
		--dev)
			[[ $# -ge 2 ]] || prov_die "--dev needs an interface"
			PROV_DEV=$2
			shift
			;;
		-h | --help)
			sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
			exit 0
			;;
		*) PROV_ARGS+=("$1") ;;
		esac
		shift
	done
}

# prov_mac ADDR4: the lab MAC of the interface holding ADDR4.
prov_mac()
{
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	[[ -n $a && -n $d ]] || return 1
	printf '52:54:00:%02x:%02x:%02x\n' "$b" "$c" "$d"
}

# prov_dev ADDR4: the interface with ADDR4's lab MAC (or --dev when given).
prov_dev()
{
	local mac name addr _
	if [[ -n $PROV_DEV ]]; then
		echo "$PROV_DEV"
		return 0
	fi
	mac=$(prov_mac "$1") || return 1
	while read -r name _ addr _; do
		if [[ ${addr,,} == "$mac" ]]; then
			echo "${name%@*}"
			return 0
		fi
	done < <(ip -br link show)
	prov_die "no interface with MAC $mac (the lab interface of $1)"
}

# prov_link DEV MTU: up, with the lab MTU.
prov_link() { ip link set dev "$1" mtu "$2" up; }

# prov_addr DEV ADDR/LEN...: replace keeps it idempotent; IPv6 without DAD (usable at once).
prov_addr()
{
	local dev=$1 a
	shift
	for a in "$@"; do
		if [[ $a == *:* ]]; then
			ip -6 addr replace "$a" dev "$dev" nodad || return 1
		else
			ip addr replace "$a" dev "$dev" || return 1
		fi
	done
}

# prov_route NET GW: NET through GW (IPv4 or IPv6 by GW).
prov_route()
{
	if [[ $2 == *:* ]]; then
		ip -6 route replace "$1" via "$2"
	else
		ip route replace "$1" via "$2"
	fi
}

prov_sysctl() { sysctl -q -w "$@" >/dev/null; }

# What lib.sh sets in every namespace before any link exists: no DAD, no autoconfiguration, no
# reverse-path filter (DSR replies leave from the VIP, which rtr routes to lb).
prov_sysctl_base()
{
	prov_sysctl net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
		net.ipv6.conf.default.autoconf=0 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.lo.rp_filter=0
}

# prov_packages PKG...: installs what is missing (not with --net-only).
prov_packages()
{
	local missing=() p
	((PROV_NET_ONLY)) && return 0
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
			missing+=("$p")
	done
	((${#missing[@]})) || return 0
	prov_log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What building zdd-bpfctl and zdd-agent takes (the Makefile's `make deps` has these and the
# test tools; it is the fallback when this list falls behind).
PROV_BUILD_PKGS=(make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libnl-3-dev
	libnl-route-3-dev libyaml-dev libmicrohttpd-dev libjson-c-dev libcap-dev pkg-config
	linux-libc-dev)

# prov_install_zdd: builds zdd from ZDD_SRC (the synced source tree) outside it and runs
# `make install`. Not with --net-only.
prov_install_zdd()
{
	local make_args=(-C "$ZDD_SRC" --no-print-directory OUT="$ZDD_BUILD")
	((PROV_NET_ONLY)) && return 0
	[[ -f $ZDD_SRC/Makefile ]] || prov_die "no zdd source in $ZDD_SRC (set ZDD_SRC)"
	prov_packages "${PROV_BUILD_PKGS[@]}" || return 1
	prov_log "building zdd from $ZDD_SRC into $ZDD_BUILD"
	if ! make "${make_args[@]}" "$ZDD_BUILD/zdd-bpfctl" "$ZDD_BUILD/zdd-agent"; then
		prov_log "build failed: installing everything \`make deps\` lists, then again"
		make "${make_args[@]}" deps &&
			make "${make_args[@]}" "$ZDD_BUILD/zdd-bpfctl" "$ZDD_BUILD/zdd-agent" || return 1
	fi
	make "${make_args[@]}" PREFIX="$ZDD_PREFIX" install
}

# The bpffs the pins live on (systemd mounts it; a minimal system may not).
prov_bpffs()
{
	((PROV_NET_ONLY)) && return 0
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}
