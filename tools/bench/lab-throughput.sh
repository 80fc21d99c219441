#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tools/bench/lab-throughput.sh - packets/s forwarded by the balancer in the lab, side by side in
# one run: a bare MAC-swap XDP_TX program (the ceiling), zdd (native XDP), and nftables DNAT in
# the kube-proxy style (numgen over the same four backends). zdd-pktgen in rtr sends straight
# into lb's eth0 (TCP SYNs of new flows, ACKs of 1024 flows, UDP); what lb sends back out is
# counted and dropped by an XDP program on rtr's side of the link, so the balancer alone is
# between generator and counter. Modes: syn (a new flow every frame), ack and udp (1024 flows).
# Every hop runs in the generator's softirq: forwarded/s is paced by generator + balancer +
# counter on one CPU, so compare the ratios. HAProxy (it terminates TCP: no packets to count
# through it) and the wrk runs are not here yet.
# Usage: tools/bench/lab-throughput.sh [--quick] [-o FILE.json]   (root; OUT=build dir)
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zbt}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/integration/lib.sh"

QUICK=0
JSON=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) QUICK=1 ;;
	-o) JSON=$2; shift ;;
	-h | --help) sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "lab-throughput: bad argument '$1'" >&2; exit 2 ;;
	esac
	shift
done

PKTGEN="$LAB_OUT/zdd-pktgen"
BENCH_OBJ="$LAB_OUT/zdd_bench.bpf.o"
PINS="/sys/fs/bpf/${LAB_PREFIX}-bench"
UDP_PORT=5353
WINDOWS=$((QUICK ? 1 : 3))	# per configuration and mode; the median is reported
SECS=$((QUICK ? 1 : 2))
MODES=(syn ack udp)

[[ $(id -u) -eq 0 ]] || { echo "lab-throughput: needs root" >&2; exit 2; }
for f in "$PKTGEN" "$BENCH_OBJ" "$LAB_BPFCTL"; do
	[[ -e $f ]] || { echo "lab-throughput: $f missing (make)" >&2; exit 2; }
done
for c in ip nsenter bpftool jq nginx; do
	command -v "$c" >/dev/null || { echo "lab-throughput: $c not installed" >&2; exit 2; }
done
HAVE_NFT=1
command -v nft >/dev/null || HAVE_NFT=0

# --- measuring -----------------------------------------------------------------------------------

counted() { bpftool map dump pinned "$PINS/maps/zdd_bench_count" -j | jq '[.[0].formatted.values[].value] | add'; }

# Busy CPU ticks of the whole machine (user + nice + system + irq + softirq + steal).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# measure MODE: WINDOWS windows of SECS seconds; prints "fwd_pps gen_pps cpu_ms_per_mpkt", the
# medians over the windows.
measure()
{
	local mode=$1 w out c0 c1 t0 t1 fwd secs args=()
	local -a fwds=() gens=() cpus=()
	case $mode in
	ack) args=(--flows 1024) ;;
	udp) args=(--flows 1024 --dport "$UDP_PORT") ;;
	esac
	for ((w = 0; w < WINDOWS; w++)); do
		sleep 0.3
		c0=$(counted) t0=$(busy_ticks)
		out=$(lab_nsenter rtr "$PKTGEN" -i "$LAB_RTR_LB_DEV" --dst-mac "$LB_MAC" \
			--dst "$LAB_VIP4" -m "$mode" -d "$SECS" -j "${args[@]}") || return 1
		t1=$(busy_ticks)
		sleep 0.2	# frames in flight land
		c1=$(counted)
		fwd=$((c1 - c0))
		secs=$(jq -r .seconds <<<"$out")
		fwds+=("$(awk -v n="$fwd" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')")
		gens+=("$(jq -r .pps <<<"$out")")
		cpus+=("$(awk -v t=$((t1 - t0)) -v n="$fwd" -v hz="$(getconf CLK_TCK)" \
			'BEGIN { printf "%.1f", n ? t * 1000 / hz / (n / 1e6) : 0 }')")
	done
	printf '%s %s %s\n' "$(median "${fwds[@]}")" "$(median "${gens[@]}")" "$(median "${cpus[@]}")"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ns per packet of the XDP program on lb's eth0, from the kernel's BPF run-time statistics.
prog_ns()
{
	local id
	id=$(ip -n "$LAB_NS_LB" -j link show dev "$LAB_LB_DEV" | jq -r '.[0].xdp.prog.id // empty')
	[[ -n $id ]] || { echo "-"; return; }
	bpftool prog show id "$id" -j |
		jq -r 'if .run_cnt and .run_cnt > 0 then (.run_time_ns / .run_cnt | floor) else "-" end'
}

declare -A RES=()	# "config mode" -> "fwd gen cpu"
declare -A PROGNS=()	# config -> ns/packet of its XDP program (XDP configurations)
run_config()
{
	local cfg=$1 mode
	for mode in "${MODES[@]}"; do
		RES["$cfg $mode"]=$(measure "$mode") || { echo "lab-throughput: $cfg $mode failed" >&2; return 1; }
	done
	PROGNS[$cfg]=$(prog_ns)
}

# --- configurations ------------------------------------------------------------------------------

xdp_off_lb() { ip -n "$LAB_NS_LB" link set dev "$LAB_LB_DEV" xdp off 2>/dev/null; true; }

ceiling_up() { lab_nsenter lb bpftool net attach xdpdrv pinned "$PINS/zdd_xdp_bench_macswap" dev "$LAB_LB_DEV"; }

zdd_up()
{
	lab_zdd_up || return 1
	lab_ctl service add "$LAB_VIP4:$UDP_PORT/udp" >/dev/null || return 1
	local i
	for i in "${!LAB_BACKENDS[@]}"; do
		lab_ctl backend add "$LAB_VIP4:$UDP_PORT/udp" "${LAB_BACKENDS4[i]}" \
			--pool "$(lab_pool "${LAB_BACKENDS[i]}")" >/dev/null || return 1
	done
}

# kube-proxy's nftables mode in small: service map -> service chain -> numgen -> endpoint DNAT;
# masquerade what was DNATed (one arm). lb's eth0 runs the pass-through XDP program, or the
# veth would drop the generator's frames.
nft_up()
{
	local b eps=""
	lab_xdp_pass lb "$LAB_LB_DEV" || return 1
	_lab_sysctl lb net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
		"net.ipv4.conf.$LAB_LB_DEV.send_redirects=0" || return 1
	for b in 0 1 2 3; do eps+="	chain ep$b { dnat to ${LAB_BACKENDS4[b]}; }"$'\n'; done
	ip netns exec "$LAB_NS_LB" nft -f - <<EOF
table ip zdd_bench {
	map services {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { $LAB_VIP4 . tcp . $LAB_PORT : goto svc, $LAB_VIP4 . udp . $UDP_PORT : goto svc }
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr . meta l4proto . th dport vmap @services
	}
	chain svc { numgen random mod 4 vmap { 0 : goto ep0, 1 : goto ep1, 2 : goto ep2, 3 : goto ep3 }; }
$eps	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ct status dnat masquerade
	}
}
EOF
}

# --- the run -------------------------------------------------------------------------------------

lab_up || { echo "lab-throughput: lab setup failed" >&2; exit 1; }
if ! mkdir -p "$PINS" || ! bpftool prog loadall "$BENCH_OBJ" "$PINS" type xdp pinmaps "$PINS/maps"; then
	echo "lab-throughput: load $BENCH_OBJ" >&2
	exit 1
fi
lab_defer rm -rf "$PINS"
# The counter replaces the pass-through on rtr's side of the lb link.
ip -n "$LAB_NS_RTR" link set dev "$LAB_RTR_LB_DEV" xdp off
lab_nsenter rtr bpftool net attach xdpdrv pinned "$PINS/zdd_xdp_bench_count" dev "$LAB_RTR_LB_DEV" ||
	{ echo "lab-throughput: attach the counter" >&2; exit 1; }
LB_MAC=$(lab_mac lb "$LAB_LB_DEV")
sysctl -q -w kernel.bpf_stats_enabled=1
lab_defer sysctl -q -w kernel.bpf_stats_enabled=0

CONFIGS=(ceiling zdd)
ceiling_up && run_config ceiling || exit 1
xdp_off_lb
zdd_up && run_config zdd || exit 1
lab_ctl detach "$LAB_LB_DEV" >/dev/null
xdp_off_lb
if ((HAVE_NFT)); then
	CONFIGS+=(nftables)
	nft_up && run_config nftables || exit 1
else
	echo "lab-throughput: nft not installed: nftables skipped" >&2
fi

printf '\nLab throughput (lb forwarding, %d x %d s windows, medians; generator: zdd-pktgen, 1 thread)\n' \
	"$WINDOWS" "$SECS"
printf '%-10s %-5s %14s %12s %16s %18s\n' config mode "forwarded/s" "x ceiling" "generated/s" \
	"CPU ms/Mpkt (all)"
for cfg in "${CONFIGS[@]}"; do
	for mode in "${MODES[@]}"; do
		read -r fwd gen cpu <<<"${RES["$cfg $mode"]}"
		read -r cfwd _ _ <<<"${RES["ceiling $mode"]}"
		printf '%-10s %-5s %14s %12s %16s %18s\n' "$cfg" "$mode" "$fwd" \
			"$(awk -v a="$fwd" -v b="$cfwd" 'BEGIN { printf "%.2f", b ? a / b : 0 }')" \
			"$gen" "$cpu"
	done
done
printf '\nXDP program on lb, ns/packet (kernel BPF stats): ceiling %s, zdd %s\n' \
	"${PROGNS[ceiling]}" "${PROGNS[zdd]}"

if [[ -n $JSON ]]; then
	{
		printf '{"windows":%d,"seconds":%d,"results":[' "$WINDOWS" "$SECS"
		sep=""
		for cfg in "${CONFIGS[@]}"; do
			for mode in "${MODES[@]}"; do
				read -r fwd gen cpu <<<"${RES["$cfg $mode"]}"
				printf '%s{"config":"%s","mode":"%s","forwarded_pps":%s,"generated_pps":%s,"cpu_ms_per_mpkt":%s}' \
					"$sep" "$cfg" "$mode" "$fwd" "$gen" "$cpu"
				sep=","
			done
		done
		printf '],"xdp_prog_ns":{"ceiling":"%s","zdd":"%s"}}\n' "${PROGNS[ceiling]}" "${PROGNS[zdd]}"
	} >"$JSON"
	echo "results: $JSON"
fi
