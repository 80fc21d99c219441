#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tools/bench/lab-throughput.sh - the lab's balancers side by side, in one run. Packets: packets/s
# forwarded by lb for a bare MAC-swap XDP_TX program (the ceiling), zdd (native XDP) and nftables
# DNAT in the kube-proxy style (numgen over the four backends); zdd-pktgen in rtr sends into lb's
# eth0 (syn: a new flow every frame; ack, udp: 1024 flows), what lb sends back is counted and
# dropped by XDP on rtr's side. Layout "shared": generator (on CPU 0), balancer and counter in
# the generator's softirq (compare the ratios; CPU is the whole machine's); the ceiling's and
# zdd's windows alternate, "x ceiling" is the median of the pairs' ratios. Layout "split":
# threaded NAPI on lb's eth0, its kthread pinned to CPU 1; its own CPU per Mpkt from /proc. Drops at both ends are reported. Requests: wrk (2 threads, 64 connections,
# keep-alive and Connection: close) from client through zdd, nftables, HAProxy (mode tcp, on lb)
# and straight to one backend: req/s, p99, errors, CPU per 1k requests.
# Usage: tools/bench/lab-throughput.sh [--quick] [-o FILE.json]   (root; OUT=build dir)
#
# Details. "CPU (all)" is the whole machine's busy time (generator, wrk and nginx included), so
# rows compare. "CPU (lb)" is lb's NAPI kthread (/proc/PID/schedstat, ns on CPU) plus, for
# HAProxy, its process (utime + stime): in the packet phase the counter on rtr's side runs in the
# softirq that lb's kthread raises, so it is in that figure (the ceiling row is that hand-off plus
# a MAC swap); in the wrk phase rtr's side is threaded too, so lb's kthread stops at the hand-off.
# zdd's lab service sends every new flow to its blue pool (b1, b2); nftables and HAProxy spread
# over all four backends (HAProxy: roundrobin, weight 1 each). --quick: 1 x 1 s windows, 1 s wrk.
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
	-h | --help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "lab-throughput: bad argument '$1'" >&2; exit 2 ;;
	esac
	shift
done

PKTGEN="$LAB_OUT/zdd-pktgen"
BENCH_OBJ="$LAB_OUT/zdd_bench.bpf.o"
PINS="/sys/fs/bpf/${LAB_PREFIX}-bench"
UDP_PORT=5353
WINDOWS=$((QUICK ? 1 : 7))	# per configuration, layout and mode; the median is reported
SECS=$((QUICK ? 1 : 2))
MODES=(syn ack udp)
WRK_SECS=$((QUICK ? 1 : 10))
WRK_MODES=(keepalive close)
GEN_CPU=0			# split layout: the generator's CPU
LB_CPU=1			# split layout: lb's NAPI kthread's CPU
HZ=$(getconf CLK_TCK)

[[ $(id -u) -eq 0 ]] || { echo "lab-throughput: needs root" >&2; exit 2; }
for f in "$PKTGEN" "$BENCH_OBJ" "$LAB_BPFCTL"; do
	[[ -e $f ]] || { echo "lab-throughput: $f missing (make)" >&2; exit 2; }
done
for c in ip nsenter bpftool jq nginx taskset; do
	command -v "$c" >/dev/null || { echo "lab-throughput: $c not installed" >&2; exit 2; }
done
HAVE_NFT=1
{ command -v nft && command -v conntrack; } >/dev/null || HAVE_NFT=0
HAVE_WRK=1
command -v wrk >/dev/null || HAVE_WRK=0
HAVE_HAPROXY=1
command -v haproxy >/dev/null || HAVE_HAPROXY=0

# --- measuring -----------------------------------------------------------------------------------

counted() { bpftool map dump pinned "$PINS/maps/zdd_bench_count" -j | jq '[.[0].formatted.values[].value] | add'; }

# Busy CPU ticks of the whole machine (user + nice + system + irq + softirq + steal).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# thread_ns PID: ns PID has been on a CPU (0 without a PID).
thread_ns() { if [[ -n $1 ]]; then awk '{ print $1 }' "/proc/$1/schedstat"; else echo 0; fi; }

# proc_ticks PID: utime + stime of process PID, all its threads (0 without a PID).
proc_ticks() { if [[ -n $1 ]]; then awk '{ print $14 + $15 }' "/proc/$1/stat"; else echo 0; fi; }

# Frames lb failed to send (XDP_TX into a full peer ring, or the stack's drops).
lb_txdrop() { ip -n "$LAB_NS_LB" -j -s link show dev "$LAB_LB_DEV" | jq '.[0].stats64.tx.dropped'; }

progress() { echo "lab-throughput: [$((SECONDS - START)) s] $*" >&2; }

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ratio A B: A / B to two decimals, "-" when B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

# gen_args MODE: zdd-pktgen's flow options for MODE.
gen_args()
{
	case $1 in
	ack) echo "--flows 1024" ;;
	udp) echo "--flows 1024 --dport $UDP_PORT" ;;
	esac
}

# measure MODE LAYOUT [N]: N (default WINDOWS) windows of SECS seconds; prints "fwd_pps gen_pps
# cpu_all cpu_lb gen_drop_ps lb_drop_ps", the medians over the windows (CPU in ms per million
# forwarded; cpu_lb "-" unless LAYOUT is split).
measure()
{
	local mode=$1 layout=$2 n=${3:-$WINDOWS} w out c0 c1 t0 t1 n0 n1 d0 d1 fwd secs
	local -a args=() gargs=()
	local -a fwds=() gens=() cpus=() owns=() gdrops=() ldrops=()
	read -ra args <<<"$(gen_args "$mode")"
	gargs=(--cpus "$GEN_CPU")	# a migrating generator adds noise to every window
	for ((w = 0; w < n; w++)); do
		sleep 0.3
		c0=$(counted) t0=$(busy_ticks) d0=$(lb_txdrop) n0=$(thread_ns "$LB_THREAD")
		out=$(lab_nsenter rtr "$PKTGEN" -i "$LAB_RTR_LB_DEV" --dst-mac "$LB_MAC" \
			--dst "$LAB_VIP4" -m "$mode" -d "$SECS" -j "${args[@]}" "${gargs[@]}") || return 1
		t1=$(busy_ticks)
		sleep 0.2	# frames in flight land
		c1=$(counted) d1=$(lb_txdrop) n1=$(thread_ns "$LB_THREAD")
		fwd=$((c1 - c0))
		secs=$(jq -r .seconds <<<"$out")
		fwds+=("$(awk -v n="$fwd" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')")
		gens+=("$(jq -r .pps <<<"$out")")
		# measure runs in a subshell: a file tells the report.
		[[ $(jq -r '.sent_by // "live-frames"' <<<"$out") == socket ]] &&
			: >"$LAB_DIR/pktgen-by-socket"
		cpus+=("$(awk -v t=$((t1 - t0)) -v n="$fwd" -v hz="$HZ" \
			'BEGIN { printf "%.1f", n ? t * 1000 / hz / (n / 1e6) : 0 }')")
		if [[ $layout == split ]]; then
			owns+=("$(awk -v t=$((n1 - n0)) -v n="$fwd" \
				'BEGIN { printf "%.1f", n ? t / 1e6 / (n / 1e6) : 0 }')")
		fi
		gdrops+=("$(jq -r --argjson s "$secs" '(.tx_dropped // 0) / $s | floor' <<<"$out")")
		ldrops+=("$(awk -v n=$((d1 - d0)) -v s="$secs" 'BEGIN { printf "%.0f", n / s }')")
	done
	printf '%s %s %s %s %s %s\n' "$(median "${fwds[@]}")" "$(median "${gens[@]}")" \
		"$(median "${cpus[@]}")" "$( ((${#owns[@]})) && median "${owns[@]}" || echo -)" \
		"$(median "${gdrops[@]}")" "$(median "${ldrops[@]}")"
}

# prog_stats ID: "run_cnt run_time_ns" of BPF program ID (counted only while statistics are on).
prog_stats() { bpftool prog show id "$1" -j | jq -r '"\(.run_cnt // 0) \(.run_time_ns // 0)"'; }

# prog_ns MODE: ns per packet of the XDP program on lb's eth0 for MODE, from the kernel's BPF
# run-time statistics, in a 1 s window of its own (shared layout): with statistics on, every
# XDP program run also reads the clock twice, so the forwarding windows run without them.
prog_ns()
{
	local mode=$1 id a b args=()
	id=$(ip -n "$LAB_NS_LB" -j link show dev "$LAB_LB_DEV" | jq -r '.[0].xdp.prog.id // empty')
	[[ -n $id ]] || { echo "-"; return; }
	read -ra args <<<"$(gen_args "$mode")"
	a=$(prog_stats "$id")
	sysctl -q -w kernel.bpf_stats_enabled=1
	lab_nsenter rtr "$PKTGEN" -i "$LAB_RTR_LB_DEV" --dst-mac "$LB_MAC" --dst "$LAB_VIP4" \
		-m "$mode" -d 1 "${args[@]}" >/dev/null
	sysctl -q -w kernel.bpf_stats_enabled=0
	b=$(prog_stats "$id")
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); n = y[1] - x[1];
		if (n > 0) printf "%.0f", (y[2] - x[2]) / n; else printf "-" }'
}

# --- threaded NAPI -------------------------------------------------------------------------------

# napi_threaded NS DEV 0|1: NAPI of DEV in a kthread of its own (1) or in softirq (0).
napi_threaded()
{
	# shellcheck disable=SC2016 # expanded by sh -c
	ip netns exec "$(lab_ns "$1")" sh -c 'echo "$1" >"/sys/class/net/$2/threaded"' sh "$3" "$2"
}

napi_pids() { ps -eo pid=,comm= | awk '$2 ~ /^napi\// { print $1 }' | sort; }

# napi_thread NS DEV: threaded NAPI on DEV; NAPI_PID = its kthread (named napi/DEV-ID, found as
# the thread that appears when threaded NAPI is switched on). On failure NAPI_ERR says why.
napi_thread()
{
	local before after p err
	local -a found=()
	NAPI_PID="" NAPI_ERR=""
	napi_threaded "$1" "$2" 0 2>/dev/null
	before=$(napi_pids)
	if ! err=$(napi_threaded "$1" "$2" 1 2>&1); then
		NAPI_ERR="echo 1 > /sys/class/net/$2/threaded in $(lab_ns "$1"): ${err:-failed}"
		return 1
	fi
	after=$(napi_pids)
	for p in $(comm -13 <(echo "$before") <(echo "$after")); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == "napi/$2-"* ]] && found+=("$p")
	done
	if ((${#found[@]} != 1)); then
		NAPI_ERR="threaded NAPI on $(lab_ns "$1")/$2: ${#found[@]} new napi/$2-* kthreads, not 1"
		return 1
	fi
	NAPI_PID=${found[0]}
}

THREADED_ERR=""		# why the split layout could not run (empty: it ran)
LB_THREAD=""		# lb's NAPI kthread while lb's eth0 runs threaded

# lb_split_on: threaded NAPI on lb's eth0, its kthread on LB_CPU. The counter on rtr's side stays
# in softirq: it runs in the softirq lb's kthread raises (a thread of its own would share a CPU
# with the generator or with lb and overflow lb's XDP_TX ring).
lb_split_on()
{
	local err
	if (($(nproc) < 2)); then
		THREADED_ERR="one CPU: nothing to split onto"
		return 1
	fi
	napi_thread lb "$LAB_LB_DEV" || { THREADED_ERR=$NAPI_ERR; return 1; }
	if ! err=$(taskset -p -c "$LB_CPU" "$NAPI_PID" 2>&1 >/dev/null); then
		THREADED_ERR="taskset -p -c $LB_CPU $NAPI_PID (${NAPI_PID:+$(cat "/proc/$NAPI_PID/comm")}): $err"
		napi_threaded lb "$LAB_LB_DEV" 0
		return 1
	fi
	LB_THREAD=$NAPI_PID
}

lb_split_off() { napi_threaded lb "$LAB_LB_DEV" 0; LB_THREAD=""; }

declare -A RES=()	# "config layout mode" -> "fwd gen cpu_all cpu_lb gen_drop lb_drop"
declare -A XCEIL=()	# "config mode" -> zdd's forwarded/s over the ceiling's, shared layout
declare -A PAIRS=()	# "config mode" -> every pair's ratio, in order
declare -A PROGNS=()	# "config mode" -> ns/packet of its XDP program (XDP configurations)
LAYOUTS=(shared)	# split joins when threaded NAPI works

# run_layout CONFIG LAYOUT: every mode in one layout.
run_layout()
{
	local cfg=$1 layout=$2 mode
	if [[ $layout == split ]]; then
		[[ -z $THREADED_ERR ]] || return 0
		if ! lb_split_on; then
			echo "lab-throughput: split layout skipped: $THREADED_ERR" >&2
			return 0
		fi
		[[ ${LAYOUTS[*]} == *split* ]] || LAYOUTS+=(split)
	fi
	for mode in "${MODES[@]}"; do
		# Every nftables cell starts from an empty conntrack table: a SYN cell fills it
		# (half-open entries live 120 s) and would starve the cells after it.
		[[ $cfg == nftables ]] && ip netns exec "$LAB_NS_LB" conntrack -F 2>/dev/null
		RES["$cfg $layout $mode"]=$(measure "$mode" "$layout") ||
			{ echo "lab-throughput: $cfg $layout $mode failed" >&2; return 1; }
	done
	[[ $layout == split ]] && lb_split_off
	return 0
}

run_prog_ns() { local mode; for mode in "${MODES[@]}"; do PROGNS["$1 $mode"]=$(prog_ns "$mode"); done; }

# swap_to ceiling|zdd: lb's eth0 runs the MAC swap, or zdd again (its pinned maps, flows
# included, stay between the two).
swap_to()
{
	xdp_off_lb
	if [[ $1 == ceiling ]]; then
		lab_ctl detach "$LAB_LB_DEV" >/dev/null 2>&1
		ceiling_up
	else
		lab_ctl attach "$LAB_LB_DEV" >/dev/null
	fi
}

# ceiling_and_zdd: the shared layout in pairs of windows, the ceiling's and zdd's back to back:
# this VM's speed drifts by tens of percent within a minute, so only neighbours compare. RES
# gets each side's median window, XCEIL the median of the pairs' ratios. zdd is set up.
ceiling_and_zdd()
{
	local mode w cfg
	local -a order ratios
	local -A rows row
	progress "ceiling and zdd: packets, in pairs of windows"
	rtr_counter || { echo "lab-throughput: counter on rtr" >&2; return 1; }
	for mode in "${MODES[@]}"; do
		rows=() ratios=()
		for ((w = 0; w < WINDOWS; w++)); do
			# Odd pairs in the other order: a steady drift favours neither.
			order=(ceiling zdd)
			((w % 2)) && order=(zdd ceiling)
			for cfg in "${order[@]}"; do
				swap_to "$cfg" && row[$cfg]=$(measure "$mode" shared 1) || return 1
				rows[$cfg]+="${row[$cfg]}"$'\n'
			done
			ratios+=("$(ratio "${row[zdd]%% *}" "${row[ceiling]%% *}")")
		done
		for cfg in ceiling zdd; do
			RES["$cfg shared $mode"]=$(median_row "${rows[$cfg]}")
		done
		XCEIL["zdd $mode"]=$(median "${ratios[@]}")
		PAIRS["zdd $mode"]="${ratios[*]}"
	done
}

# median_row LINES: the line whose first field is the median of the first fields.
median_row() { sort -g <<<"${1%$'\n'}" | awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }'; }

# --- requests (wrk) ------------------------------------------------------------------------------

declare -A WRK=()	# "config mode" -> "req_s p99_ms errors cpu_all cpu_lb cpu_proc requests
			#   socket_errors non2xx failed"
WRK_CONFIGS=()
HAPROXY_PID=""

# rtr's side of the lb link: the counter (packets) or the pass-through (requests).
rtr_counter()
{
	ip -n "$LAB_NS_RTR" link set dev "$LAB_RTR_LB_DEV" xdp off
	lab_nsenter rtr bpftool net attach xdpdrv pinned "$PINS/zdd_xdp_bench_count" dev "$LAB_RTR_LB_DEV"
}
rtr_pass() { lab_xdp_off rtr "$LAB_RTR_LB_DEV" && lab_xdp_pass rtr "$LAB_RTR_LB_DEV"; }

# wrk_measure ADDR MODE LBPID PROCPID: one wrk run from the client; prints a WRK value.
wrk_measure()
{
	local addr=$1 mode=$2 lbpid=$3 procpid=$4 out rc t0 t1 n0 n1 p0 p1 hdr=()
	[[ $mode == close ]] && hdr=(-H "Connection: close")
	sleep 0.5
	t0=$(busy_ticks) n0=$(thread_ns "$lbpid") p0=$(proc_ticks "$procpid")
	out=$(lab_exec client timeout $((WRK_SECS + 30)) wrk -t 2 -c 64 -d "${WRK_SECS}s" --latency \
		"${hdr[@]}" "$(lab_url "$addr")" 2>&1)
	rc=$?
	t1=$(busy_ticks) n1=$(thread_ns "$lbpid") p1=$(proc_ticks "$procpid")
	awk -v t=$((t1 - t0)) -v n=$((n1 - n0)) -v p=$((p1 - p0)) -v hz="$HZ" \
		-v lb="${lbpid:-}" -v proc="${procpid:-}" '
		function ms(v) {
			if (v ~ /us$/) return v / 1000
			if (v ~ /ms$/) return v + 0
			if (v ~ /s$/) return v * 1000
			if (v ~ /m$/) return v * 60000
			return v + 0
		}
		/ requests in / { req = $1 }
		/^Requests\/sec:/ { rps = $2; ok = 1 }
		$1 == "99%" { p99 = ms($2) }
		/Socket errors:/ { gsub(",", ""); serr = $4 + $6 + $8 + $10 }
		/Non-2xx or 3xx responses:/ { non2xx = $NF }
		END {
			k = req / 1000
			all = k ? sprintf("%.2f", t * 1000 / hz / k) : "-"
			own = "-"; pr = "-"
			if (proc != "" && k) pr = sprintf("%.2f", p * 1000 / hz / k)
			if (lb != "" && k) own = sprintf("%.2f", (n / 1e6 + p * 1000 / hz) / k)
			printf "%.0f %s %d %s %s %s %d %d %d %d\n", rps, ok ? sprintf("%.2f", p99) : "-",
				serr + non2xx, all, own, pr, req, serr, non2xx, ok ? 0 : 1
		}' <<<"$out"
	[[ $out == *Requests/sec:* ]] ||
		printf 'wrk %s %s: exit %s%s\n%s\n' "$addr" "$mode" "$rc" \
			"$( ((rc == 124)) && echo " (timed out, killed)")" "$out" | sed 's/^/# /' >&2
}

# run_wrk CONFIG ADDR [PROCPID]: both wrk modes against ADDR. rtr's side of the lb link gets the
# pass-through back; lb's eth0 and rtr's to-lb run threaded NAPI (not pinned), so lb's kthread
# holds lb's receive path and no more. The direct config passes lb by: no lb CPU.
run_wrk()
{
	local cfg=$1 addr=$2 procpid=${3:-} mode lbpid=""
	((HAVE_WRK)) || return 0
	progress "$cfg: wrk"
	rtr_pass || { echo "lab-throughput: pass-through on rtr" >&2; return 1; }
	if [[ $cfg != direct ]]; then
		if napi_thread lb "$LAB_LB_DEV"; then
			lbpid=$NAPI_PID
			napi_thread rtr "$LAB_RTR_LB_DEV" ||
				{ napi_threaded lb "$LAB_LB_DEV" 0; lbpid=""; }
		fi
		[[ -n $lbpid ]] || echo "lab-throughput: $cfg: no lb CPU for wrk: $NAPI_ERR" >&2
	fi
	WRK_CONFIGS+=("$cfg")
	for mode in "${WRK_MODES[@]}"; do
		WRK["$cfg $mode"]=$(wrk_measure "$addr" "$mode" "$lbpid" "$procpid")
	done
	napi_threaded lb "$LAB_LB_DEV" 0 2>/dev/null
	napi_threaded rtr "$LAB_RTR_LB_DEV" 0 2>/dev/null
	true
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
	ip netns exec "$LAB_NS_LB" nft -f - <<EOT
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
EOT
}

# HAProxy in TCP mode on lb, a foreground process of this script: the service address on lb's lo,
# round robin with a weight per server over the four backends, maxconn 8000 (at 50000 it cannot
# raise its descriptor limit and stops).
haproxy_up()
{
	local conf="$LAB_DIR/haproxy.cfg" i
	lab_xdp_pass lb "$LAB_LB_DEV" || return 1	# NAPI on lb's eth0, as for the others
	_lab_do ip -n "$LAB_NS_LB" addr add "$LAB_VIP4/32" dev lo || return 1
	rtr_pass || return 1	# lb's answers reach the client
	{
		printf 'global\n\tmaxconn 8000\n'
		printf 'defaults\n\tmode tcp\n\ttimeout connect 2s\n\ttimeout client 30s\n'
		printf '\ttimeout server 30s\n'
		printf 'frontend svc\n\tbind %s:%s\n\tdefault_backend pool\n' "$LAB_VIP4" "$LAB_PORT"
		printf 'backend pool\n\tbalance roundrobin\n'
		for i in "${!LAB_BACKENDS[@]}"; do
			printf '\tserver %s %s:%s weight 1\n' "${LAB_BACKENDS[i]}" "${LAB_BACKENDS4[i]}" \
				"$LAB_PORT"
		done
	} >"$conf"
	# nsenter execs haproxy in place: $! is its pid. -db: foreground.
	nsenter --net="/run/netns/$LAB_NS_LB" -- haproxy -db -f "$conf" >>"$LAB_DIR/haproxy.log" 2>&1 &
	HAPROXY_PID=$!
	lab_defer kill -TERM "$HAPROXY_PID"
	for ((i = 0; i < 20; i++)); do	# a curl waits 2 s at most
		lab_curl "$LAB_VIP4" >/dev/null 2>&1 && return 0
		_lab_alive "$HAPROXY_PID" || break
		sleep 0.1
	done
	echo "lab-throughput: haproxy did not start:" >&2
	sed 's/^/#   /' "$LAB_DIR/haproxy.log" >&2
	return 1
}

haproxy_down()
{
	[[ -n $HAPROXY_PID ]] && _lab_kill_wait TERM "$HAPROXY_PID"
	HAPROXY_PID=""
	ip -n "$LAB_NS_LB" addr del "$LAB_VIP4/32" dev lo 2>/dev/null
	xdp_off_lb
}

# --- the run -------------------------------------------------------------------------------------

START=$SECONDS
lab_up || { echo "lab-throughput: lab setup failed" >&2; exit 1; }
if ! mkdir -p "$PINS" || ! bpftool prog loadall "$BENCH_OBJ" "$PINS" type xdp pinmaps "$PINS/maps"; then
	echo "lab-throughput: load $BENCH_OBJ" >&2
	exit 1
fi
lab_defer rm -rf "$PINS"
LB_MAC=$(lab_mac lb "$LAB_LB_DEV")
# Statistics are switched on only for prog_ns's windows; the previous value comes back at exit.
lab_defer sysctl -q -w "kernel.bpf_stats_enabled=$(sysctl -n kernel.bpf_stats_enabled)"
sysctl -q -w kernel.bpf_stats_enabled=0
# Connection: close load: reuse TIME_WAIT ports, and more of them (client, and lb as a client of
# the backends for HAProxy and the masquerade).
for ns in client lb; do
	_lab_sysctl "$ns" net.ipv4.tcp_tw_reuse=1 "net.ipv4.ip_local_port_range=1024 65000" || exit 1
done
((HAVE_WRK)) || echo "lab-throughput: wrk not installed: no requests/s" >&2

CONFIGS=(ceiling zdd)
zdd_up && ceiling_and_zdd || exit 1
swap_to ceiling && run_layout ceiling split && run_prog_ns ceiling || exit 1
swap_to zdd && run_layout zdd split && run_prog_ns zdd || exit 1
run_wrk zdd "$LAB_VIP4" || exit 1
lab_ctl detach "$LAB_LB_DEV" >/dev/null
xdp_off_lb
if ((HAVE_HAPROXY && HAVE_WRK)); then
	haproxy_up && run_wrk haproxy "$LAB_VIP4" "$HAPROXY_PID" || exit 1
	haproxy_down
else
	echo "lab-throughput: haproxy or wrk not installed: HAProxy skipped" >&2
fi
if ((HAVE_NFT)); then
	CONFIGS+=(nftables)
	# wrk first: the SYN flood fills lb's conntrack table (its SYN_SENT entries live 120 s).
	progress "nftables: packets"
	nft_up && run_wrk nftables "$LAB_VIP4" && rtr_counter && run_layout nftables shared &&
		run_layout nftables split || exit 1
	CT_NOTE=$(ip netns exec "$LAB_NS_LB" cat /proc/sys/net/netfilter/nf_conntrack_count \
		/proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null | paste -sd/)
	ip netns exec "$LAB_NS_LB" nft delete table ip zdd_bench
	xdp_off_lb
else
	echo "lab-throughput: nft or conntrack not installed: nftables skipped" >&2
fi
run_wrk direct "${LAB_BACKENDS4[0]}" || exit 1
ELAPSED=$((SECONDS - START))

# x_ceiling CONFIG LAYOUT MODE: forwarded/s as a fraction of the ceiling's. zdd: the median of
# its paired windows' ratios; nftables: of the medians (its windows ran minutes apart). Split:
# "-", forwarded/s is set by how the generator overruns lb's ring, not by lb's capacity (its
# figure is lb's own CPU per Mpkt).
x_ceiling()
{
	local fwd cfwd
	[[ $2 == shared ]] || { echo -; return; }
	[[ -n ${XCEIL["$1 $3"]:-} ]] && { echo "${XCEIL["$1 $3"]}"; return; }
	read -r fwd _ <<<"${RES["$1 $2 $3"]}"
	read -r cfwd _ <<<"${RES["ceiling $2 $3"]}"
	ratio "$fwd" "$cfwd"
}

# --- the tables ----------------------------------------------------------------------------------

printf '\nLab throughput (lb forwarding, %d x %d s windows, medians; generator: zdd-pktgen, 1 thread)\n' \
	"$WINDOWS" "$SECS"
if [[ -e $LAB_DIR/pktgen-by-socket ]]; then
	printf 'NOTE: this kernel refuses live frames; zdd-pktgen sent through a packet socket, so the\n'
	printf '      packet rows measure the generator, not the balancers\n'
fi
printf 'layout shared: generator (CPU %d), balancer and counter in its softirq; zdd: median of paired windows\n' "$GEN_CPU"
if [[ -z $THREADED_ERR ]]; then
	printf 'layout split:  generator on CPU %d; lb'"'"'s eth0 threaded NAPI, its kthread pinned to CPU %d\n' \
		"$GEN_CPU" "$LB_CPU"
else
	printf 'layout split:  not run: %s\n' "$THREADED_ERR"
fi
printf 'CPU (all): whole machine per Mpkt forwarded; CPU (lb): lb'"'"'s NAPI kthread (incl. the count)\n'
printf '%-10s %-6s %-5s %11s %9s %11s %10s %10s %11s %10s\n' config layout mode "forwarded/s" \
	"x ceiling" "generated/s" "gen drop/s" "lb drop/s" "CPU ms/Mpkt" "(lb only)"
for cfg in "${CONFIGS[@]}"; do
	for layout in "${LAYOUTS[@]}"; do
		for mode in "${MODES[@]}"; do
			read -r fwd gen cpu own gd ld <<<"${RES["$cfg $layout $mode"]}"
			x=$(x_ceiling "$cfg" "$layout" "$mode")
			printf '%-10s %-6s %-5s %11s %9s %11s %10s %10s %11s %10s\n' "$cfg" "$layout" \
				"$mode" "$fwd" "$x" "$gen" "$gd" "$ld" "$cpu" "$own"
		done
	done
done
printf 'zdd x ceiling, each pair (shared):'
for mode in "${MODES[@]}"; do printf ' %s %s;' "$mode" "${PAIRS["zdd $mode"]}"; done
printf '\n'
[[ -z ${CT_NOTE:-} ]] || printf 'nftables: lb conntrack entries after its runs: %s (count/max; a full table drops new flows)\n' \
	"$CT_NOTE"
printf '\nXDP program on lb, ns/packet (kernel BPF stats, a 1 s window per mode):\n'
for cfg in ceiling zdd; do
	printf '  %-8s syn %s, ack %s, udp %s\n' "$cfg" "${PROGNS["$cfg syn"]}" \
		"${PROGNS["$cfg ack"]}" "${PROGNS["$cfg udp"]}"
done

if ((${#WRK_CONFIGS[@]})); then
	printf '\nRequests (wrk, 2 threads, 64 connections, %d s per row, client -> %s:%s; direct: -> %s)\n' \
		"$WRK_SECS" "$LAB_VIP4" "$LAB_PORT" "${LAB_BACKENDS4[0]}"
	printf 'CPU (all): whole machine per 1k requests; CPU (lb): lb'"'"'s eth0 NAPI kthread + haproxy process\n'
	printf '%-10s %-9s %9s %8s %8s %8s %11s %10s %10s\n' config mode "req/s" "x direct" \
		"p99 ms" errors "CPU ms/1k" "(lb only)" "(haproxy)"
	WRK_BAD=0
	for cfg in "${WRK_CONFIGS[@]}"; do
		for mode in "${WRK_MODES[@]}"; do
			read -r rps p99 err all own pr _ _ _ failed <<<"${WRK["$cfg $mode"]}"
			flag=""
			((failed)) && flag="  <- wrk FAILED"
			((!failed && err > 0)) && flag="  <- ERRORS"
			((failed || err > 0)) && WRK_BAD=1
			read -r drps _ <<<"${WRK["direct $mode"]:-0}"
			x=$(ratio "$rps" "$drps")
			printf '%-10s %-9s %9s %8s %8s %8s %11s %10s %10s%s\n' "$cfg" "$mode" "$rps" "$x" \
				"$p99" "$err" "$all" "$own" "$pr" "$flag"
		done
	done
	((WRK_BAD)) || printf 'every wrk row: 0 socket errors, 0 non-2xx\n'
fi
printf '\nrun time %d s\n' "$ELAPSED"

if [[ -n $JSON ]]; then
	{
		printf '{"windows":%d,"seconds":%d,"wrk_seconds":%d,"run_seconds":%d,' "$WINDOWS" \
			"$SECS" "$WRK_SECS" "$ELAPSED"
		printf '"generator_sent_by":"%s",' \
			"$([[ -e $LAB_DIR/pktgen-by-socket ]] && echo socket || echo live-frames)"
		printf '"split_layout":{"ran":%s,"generator_cpu":%d,"lb_cpu":%d,"error":%s},' \
			"$([[ -z $THREADED_ERR ]] && echo true || echo false)" "$GEN_CPU" "$LB_CPU" \
			"$(jq -Rn --arg e "$THREADED_ERR" '$e')"
		printf '"results":['
		sep=""
		for cfg in "${CONFIGS[@]}"; do
			for layout in "${LAYOUTS[@]}"; do
				for mode in "${MODES[@]}"; do
					read -r fwd gen cpu own gd ld <<<"${RES["$cfg $layout $mode"]}"
					[[ $own == - ]] && own=null
					x=$(x_ceiling "$cfg" "$layout" "$mode")
					[[ $x == - ]] && x=null
					printf '%s{"config":"%s","layout":"%s","mode":"%s","forwarded_pps":%s,' \
						"$sep" "$cfg" "$layout" "$mode" "$fwd"
					pairs=null
					[[ -n ${PAIRS["$cfg $mode"]:-} && $layout == shared ]] &&
						pairs="[${PAIRS["$cfg $mode"]// /,}]"
					printf '"x_ceiling":%s,"x_ceiling_pairs":%s,' "$x" "$pairs"
					printf '"generated_pps":%s,"gen_dropped_pps":%s,"lb_dropped_pps":%s,' \
						"$gen" "$gd" "$ld"
					printf '"cpu_ms_per_mpkt":%s,"lb_cpu_ms_per_mpkt":%s}' "$cpu" "$own"
					sep=","
				done
			done
		done
		printf '],"xdp_prog_ns":{'
		for cfg in ceiling zdd; do
			printf '"%s":{"syn":"%s","ack":"%s","udp":"%s"}%s' "$cfg" "${PROGNS["$cfg syn"]}" \
				"${PROGNS["$cfg ack"]}" "${PROGNS["$cfg udp"]}" "$([[ $cfg == zdd ]] || echo ,)"
		done
		printf '},"wrk":['
		sep=""
		for cfg in "${WRK_CONFIGS[@]}"; do
			for mode in "${WRK_MODES[@]}"; do
				read -r rps p99 err all own pr req serr non2xx failed <<<"${WRK["$cfg $mode"]}"
				for v in p99 all own pr; do [[ ${!v} == - ]] && printf -v "$v" null; done
				printf '%s{"config":"%s","mode":"%s","req_s":%s,"p99_ms":%s,"requests":%s,' \
					"$sep" "$cfg" "$mode" "$rps" "$p99" "$req"
				printf '"errors":%s,"socket_errors":%s,"non_2xx":%s,"failed":%s,' "$err" \
					"$serr" "$non2xx" "$([[ $failed == 1 ]] && echo true || echo false)"
				printf '"cpu_ms_per_1k":%s,"lb_cpu_ms_per_1k":%s,"haproxy_cpu_ms_per_1k":%s}' \
					"$all" "$own" "$pr"
				sep=","
			done
		done
		printf ']}\n'
	} >"$JSON"
	jq -e . "$JSON" >/dev/null || echo "lab-throughput: $JSON is not valid JSON" >&2
	echo "results: $JSON"
fi
