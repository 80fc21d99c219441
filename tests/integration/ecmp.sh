# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash disable=SC2034 # the ECMP_* variables are for the tests that source this
# tests/integration/ecmp.sh - a second edge node behind ECMP for the lab of lib.sh (DESIGN.md 8).
# Sourced after lib.sh, before lab_up. Adds the roles lb2 .. lbN (ECMP_NODES, default 2), linked
# to rtr like lb; BIRD 2 on every edge node and rtr: each LB announces the service addresses zdd-agent keeps on lo over BGP, rtr installs
# one multipath route per service prefix (5-tuple hash) instead of lib.sh's static routes.
#
#   client ---- [rtr] to-lb  ---- eth0 lb   198.18.2.2  fd00:2::2   (zdd-agent, bird, AS 65001)
#                     to-lb2 ---- eth0 lb2  198.18.5.2  fd00:5::2   (zdd-agent, bird, AS 65001)
#                     to-lbI ---- eth0 lbI  198.18.(3+I).2  fd00:(3+I)::2   (I = 3 .. ECMP_NODES)
#               rtr: bird AS 65000, merge paths: 198.19.0.0/24 nexthop via lb, via lb2, ...
#
# Usage: source lib.sh; source ecmp.sh; ecmp_require; lab_up; ecmp_up; ecmp_zdd_up; ...

ECMP_NODES=${ECMP_NODES:-2}		# edge nodes: lb, then lb2 .. lbN (set before sourcing)
ECMP_AS_RTR=65000
ECMP_AS_LB=65001			# one AS for the edge nodes: they announce the same prefixes
ECMP_LBS=(lb)
declare -gA ECMP_ADDR4=([lb]=$LAB_LB4) ECMP_ADDR6=([lb]=$LAB_LB6)
declare -gA ECMP_PEER4=([lb]=$LAB_RTR_LB4) ECMP_PEER6=([lb]=$LAB_RTR_LB6)
declare -gA ECMP_DEV=([lb]=$LAB_LB_DEV) ECMP_RTR_DEV=([lb]=$LAB_RTR_LB_DEV)
# Node I (2..N): role lbI on 198.18.(3+I).2/24 and fd00:(3+I)::2/64, rtr .1 on its to-lbI.
for ((_i = 2; _i <= ECMP_NODES; _i++)); do
	LAB_ROLES+=("lb$_i")		# lab_up creates its namespace, lab_down removes it
	ECMP_LBS+=("lb$_i")
	ECMP_ADDR4[lb$_i]=198.18.$((3 + _i)).2 ECMP_ADDR6[lb$_i]=fd00:$((3 + _i))::2
	ECMP_PEER4[lb$_i]=198.18.$((3 + _i)).1 ECMP_PEER6[lb$_i]=fd00:$((3 + _i))::1
	ECMP_DEV[lb$_i]=eth0 ECMP_RTR_DEV[lb$_i]=to-lb$_i	# rtr's side runs the pass-through XDP
done
unset _i
declare -gA ECMP_AGENT_PID=()		# zdd-agent of each edge node, by role

# ecmp_require: BIRD 2 (Debian's bird2) and the built tools; call it before tap_plan.
ecmp_require()
{
	local bin
	lab_require_cmd bird birdc jq bpftool
	for bin in zdd-agent zdd-bpfctl zdd-httpload; do
		[[ -x $LAB_OUT/$bin ]] || tap_bail "$LAB_OUT/$bin not built"
	done
	bird --version 2>&1 | grep -q '^BIRD version 2\.' || lab_skip "needs BIRD 2 ($(bird --version 2>&1))"
}

# --- topology -----------------------------------------------------------------------------------

# _ecmp_node_up ROLE: ROLE (lb2 .. lbN) linked to rtr as lib.sh links lb.
_ecmp_node_up()
{
	local r=$1 ns dev=${ECMP_DEV[$1]} rdev=${ECMP_RTR_DEV[$1]}
	ns=$(lab_ns "$r")
	_lab_veth rtr "$rdev" "$r" "$dev" "$LAB_MTU_LB" || return 1
	_lab_addr rtr "$rdev" "${ECMP_PEER4[$r]}/24" "${ECMP_PEER6[$r]}/64" || return 1
	_lab_addr "$r" "$dev" "${ECMP_ADDR4[$r]}/24" "${ECMP_ADDR6[$r]}/64" || return 1
	ecmp_link "$r" up || return 1
	if [[ $LAB_XDP_PASS == 1 ]]; then
		lab_xdp_pass rtr "$rdev" || return 1
	fi
	_lab_sysctl rtr "net.ipv4.conf.$rdev.rp_filter=0"
}

# ecmp_up: lb2 .. lbN linked to rtr as lib.sh links lb, ECMP hashing on rtr, and no static route
# to the services: rtr learns them from BGP alone.
ecmp_up()
{
	local r
	for r in "${ECMP_LBS[@]:1}"; do
		_ecmp_node_up "$r" || return 1
	done
	# Hash the 5-tuple (not the addresses alone: one client's connections spread too), and
	# never hash onto a link whose carrier is gone.
	_lab_sysctl rtr net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1 \
		net.ipv4.conf.all.ignore_routes_with_linkdown=1 \
		net.ipv6.conf.all.ignore_routes_with_linkdown=1 || return 1
	# An edge node whose link goes down keeps its IPv6 address (ecmp_link).
	for r in "${ECMP_LBS[@]}"; do
		_lab_sysctl "$r" "net.ipv6.conf.${ECMP_DEV[$r]}.keep_addr_on_down=1" || return 1
	done
	_lab_do ip -n "$LAB_NS_RTR" route del "$LAB_VIP4_NET" || return 1
	_lab_do ip -n "$LAB_NS_RTR" -6 route del "$LAB_VIP6_NET" || return 1
}

# ecmp_link ROLE down|up: ROLE's link to rtr loses its carrier (rtr sees it at once), or comes
# back (also at setup) with what the kernel dropped meanwhile: the default routes and the
# permanent neighbour entries of rtr (ecmp_up keeps the IPv6 address: keep_addr_on_down).
ecmp_link()
{
	local role=$1 ns dev=${ECMP_DEV[$1]} mac
	ns=$(lab_ns "$role")
	if [[ $2 == down ]]; then
		_lab_do ip -n "$ns" link set "$dev" down
		return
	fi
	mac=$(lab_mac rtr "${ECMP_RTR_DEV[$role]}") || return 1
	_lab_do ip -n "$ns" link set "$dev" up &&
		_lab_do ip -n "$ns" route replace default via "${ECMP_PEER4[$role]}" &&
		_lab_do ip -n "$ns" -6 route replace default via "${ECMP_PEER6[$role]}" &&
		_lab_do ip -n "$ns" neigh replace "${ECMP_PEER4[$role]}" dev "$dev" nud permanent \
			lladdr "$mac" &&
		_lab_do ip -n "$ns" -6 neigh replace "${ECMP_PEER6[$role]}" dev "$dev" nud permanent \
			lladdr "$mac"
}

# --- BIRD ---------------------------------------------------------------------------------------

# Short timers: sessions come up within a second or two, and a silent peer is dropped in 6 s. No
# failover here waits for the hold timer (a withdrawal travels at once, a killed bird's sessions
# are closed by the kernel, a link down is seen at once), so it need not be shorter, and a
# starved CPU does not drop a session.
_ecmp_bgp_timers='hold time 6; keepalive time 2; connect delay time 1; connect retry time 1;
	error wait time 1, 2; error forget time 10;'

# _ecmp_bird_conf ROLE: the config of ROLE's bird (rtr or an edge node), in $LAB_DIR/bird-ROLE.conf.
_ecmp_bird_conf()
{
	local role=$1 lb
	{
		printf '# generated by tests/integration/ecmp.sh for lab %s, %s\n' "$LAB_PREFIX" "$role"
		printf 'log "%s" all;\n' "$LAB_DIR/bird-$role.log"
		printf 'debug protocols { states };	# every session change in the log\n'
		printf 'protocol device { scan time 1; }\n'
		if [[ $role == rtr ]]; then
			cat <<EOF
router id $LAB_RTR_LB4;
# Equal BGP routes from both edge nodes become one multipath route in the kernel.
protocol kernel kernel4 { merge paths on; ipv4 { import none; export all; }; }
protocol kernel kernel6 { merge paths on; ipv6 { import none; export all; }; }
EOF
			for lb in "${ECMP_LBS[@]}"; do
				cat <<EOF
protocol bgp ${lb}_4 {
	local ${ECMP_PEER4[$lb]} as $ECMP_AS_RTR; neighbor ${ECMP_ADDR4[$lb]} as $ECMP_AS_LB;
	$_ecmp_bgp_timers
	ipv4 { import where net ~ [ $LAB_VIP4_NET+ ]; export none; };
}
protocol bgp ${lb}_6 {
	local ${ECMP_PEER6[$lb]} as $ECMP_AS_RTR; neighbor ${ECMP_ADDR6[$lb]} as $ECMP_AS_LB;
	$_ecmp_bgp_timers
	ipv6 { import where net ~ [ $LAB_VIP6_NET+ ]; export none; };
}
EOF
			done
		else
			cat <<EOF
router id ${ECMP_ADDR4[$role]};
# What zdd-agent keeps on lo while the node serves: the service addresses, nothing else.
protocol direct vips {
	interface "lo";
	ipv4 { import where net ~ [ $LAB_VIP4_NET+ ]; };
	ipv6 { import where net ~ [ $LAB_VIP6_NET+ ]; };
}
protocol bgp rtr_4 {
	local ${ECMP_ADDR4[$role]} as $ECMP_AS_LB; neighbor ${ECMP_PEER4[$role]} as $ECMP_AS_RTR;
	$_ecmp_bgp_timers
	ipv4 { import none; export where source = RTS_DEVICE; };
}
protocol bgp rtr_6 {
	local ${ECMP_ADDR6[$role]} as $ECMP_AS_LB; neighbor ${ECMP_PEER6[$role]} as $ECMP_AS_RTR;
	$_ecmp_bgp_timers
	ipv6 { import none; export where source = RTS_DEVICE; };
}
EOF
		fi
	} >"$LAB_DIR/bird-$role.conf"
}

# ecmp_bird_start ROLE: ROLE's bird (it daemonizes once its config is parsed); stopped at
# teardown.
ecmp_bird_start()
{
	local role=$1 d=$LAB_DIR
	[[ -f $d/bird-$role.conf ]] || _ecmp_bird_conf "$role" || return 1
	rm -f "$d/bird-$role.pid"
	_lab_do ip netns exec "$(lab_ns "$role")" bird -c "$d/bird-$role.conf" \
		-s "$d/bird-$role.ctl" -P "$d/bird-$role.pid" || return 1
	lab_defer ecmp_bird_stop "$role"
}

# ecmp_bird_stop ROLE [SIGNAL]: stop ROLE's bird (default TERM; KILL: no goodbye to its peers
# beyond the kernel closing its sockets) and wait for it to be gone.
ecmp_bird_stop()
{
	local pid
	pid=$(cat "$LAB_DIR/bird-$1.pid" 2>/dev/null) || return 0
	_lab_kill_wait "${2:-TERM}" "$pid"
	rm -f "$LAB_DIR/bird-$1.pid"
}

# ecmp_birdc ROLE CMD...: a command to ROLE's bird.
ecmp_birdc() { local role=$1; shift; birdc -s "$LAB_DIR/bird-$role.ctl" "$@"; }

# ecmp_nexthops FAMILY(4|6): the gateways of rtr's routes into the service prefix (the host
# routes of the service addresses), sorted, space separated ("" without a route).
ecmp_nexthops()
{
	local net=$LAB_VIP4_NET
	[[ $1 == 6 ]] && net=$LAB_VIP6_NET
	ip -n "$LAB_NS_RTR" "-$1" -j route show root "$net" |
		jq -r '.[] | if .nexthops then .nexthops[].gateway else .gateway end // empty' |
		sort -u | paste -sd' '
}

# ecmp_wait_nexthops FAMILY WANT [SECONDS]: until rtr's route has exactly the gateways WANT
# (sorted, space separated; "" for no route). Prints how long it took ("N ms"), or what it saw.
ecmp_wait_nexthops()
{
	local fam=$1 want=$2 secs=${3:-10} t0 i
	t0=$(date +%s%N)
	for ((i = 0; i < secs * 20; i++)); do
		if [[ $(ecmp_nexthops "$fam") == "$want" ]]; then
			echo "$((($(date +%s%N) - t0) / 1000000)) ms"
			return 0
		fi
		sleep 0.05
	done
	echo "rtr's route to the services: '$(ecmp_nexthops "$fam")', want '$want'"
	return 1
}

# The gateways of rtr's route when ROLES... announce: "" for none.
ecmp_gw4() { local r; for r in "$@"; do echo "${ECMP_ADDR4[$r]}"; done | sort | paste -sd' '; }
ecmp_gw6() { local r; for r in "$@"; do echo "${ECMP_ADDR6[$r]}"; done | sort | paste -sd' '; }

# ecmp_wait_announced ROLES...: both routes of rtr name exactly ROLES.
ecmp_wait_announced()
{
	ecmp_wait_nexthops 4 "$(ecmp_gw4 "$@")" >/dev/null && ecmp_wait_nexthops 6 "$(ecmp_gw6 "$@")"
}

# --- zdd on both edge nodes ---------------------------------------------------------------------

# zdd-bpfctl on ROLE's pins, in ROLE's namespace (lab_ctl_on names pin dirs after the role).
ecmp_ctl() { lab_ctl_on "$@"; }

# _ecmp_agent_conf ROLE FILE: lab_agent_conf's services and backends, the same on every node,
# announced on lo; lb keeps lib.sh's pins, socket and state file, lbI gets its own
# (metrics on port 9333 + I).
_ecmp_agent_conf()
{
	local role=$1 file=$2
	LAB_ANNOUNCE=lo lab_agent_conf "$file" || return 1
	if [[ -n ${ECMP_CONF_HOOK:-} ]]; then	# more of agent: (fleet.sh's cluster)
		"$ECMP_CONF_HOOK" "$role" >"$file.hook" &&
			awk -v hook="$file.hook" '/^services:/ { while ((getline l <hook) > 0) print l }
				{ print }' "$file" >"$file.new" && mv "$file.new" "$file" || return 1
	fi
	[[ $role == lb ]] && return 0
	sed -i -e "s|^  pin_dir: .*|  pin_dir: $LAB_PIN_DIR/$role|" \
		-e "s|^  metrics: .*|  metrics: 127.0.0.1:$((9333 + ${role#lb}))|" \
		-e "s|^  control_socket: .*|  control_socket: $(ecmp_agent_sock "$role")|" \
		-e "s|^  state_file: .*|  state_file: $LAB_DIR/agent-$role-state.json|" "$file"
}

ecmp_agent_sock() { [[ $1 == lb ]] && echo "$LAB_DIR/agent.sock" || echo "$LAB_DIR/agent-$1.sock"; }

# ecmp_agent_start ROLE: zdd-agent on ROLE (an edge node), log in $LAB_DIR/agent-ROLE.log; waits
# (bounded) for its control socket. ECMP_AGENT_PID[ROLE] is set.
ecmp_agent_start()
{
	local role=$1 conf="$LAB_DIR/zdd-$1.yaml" sock pid i
	sock=$(ecmp_agent_sock "$role")
	_ecmp_agent_conf "$role" "$conf" || return 1
	rm -f "$sock"
	nsenter --net="/run/netns/$(lab_ns "$role")" -- "$LAB_OUT/zdd-agent" -c "$conf" \
		>>"$LAB_DIR/agent-$role.log" 2>&1 &
	pid=$!
	ECMP_AGENT_PID[$role]=$pid
	lab_defer kill -TERM "$pid"
	for ((i = 0; i < 50; i++)); do
		[[ -S $sock ]] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "# ecmp: zdd-agent on $role did not start:" >&2
	sed 's/^/#   /' "$LAB_DIR/agent-$role.log" >&2
	return 1
}

# ecmp_node ROLE drain|undrain: through ROLE's agent.
ecmp_node() { ecmp_ctl "$1" node --socket "$(ecmp_agent_sock "$1")" "$2"; }

# ecmp_zdd_up: decap on every backend, then on each edge node its agent (same services and
# backends, service addresses on lo) and its bird; rtr's bird last.
ecmp_zdd_up()
{
	local b role from=()
	mkdir -p "$LAB_PIN_DIR" || return 1
	for role in "${ECMP_LBS[@]:1}"; do
		from+=("${ECMP_ADDR4[$role]}" "${ECMP_ADDR6[$role]}")
	done
	for b in "${LAB_BACKENDS[@]}"; do
		LAB_DECAP_FROM="${from[*]}" lab_decap_attach "$b" >/dev/null || return 1
		# A backend's decap sends second chances back out with XDP_TX: a veth delivers
		# those only when its peer runs XDP (or GRO), as rtr's side of the lb link does.
		lab_xdp_pass rtr "to-$b" || return 1
	done
	for role in "${ECMP_LBS[@]}"; do
		ecmp_agent_start "$role" || return 1
	done
	for role in "${ECMP_LBS[@]}" rtr; do
		ecmp_bird_start "$role" || return 1
	done
}

# ecmp_fallback_prev ROLE: misses ROLE routed by the previous generation's table, all services
# (zdd_sstats holds conntrack_misses and fallback_prev per CPU; no command prints the latter).
ecmp_fallback_prev()
{
	local map
	map=$(find "$LAB_PIN_DIR/$1" -maxdepth 1 -name 'zdd_sstats*' | head -n 1)
	[[ -n $map ]] || { echo "no zdd_sstats pinned on $1" >&2; return 1; }
	bpftool -j map dump pinned "$map" |
		jq '[.[].formatted.values[].value.fallback_prev] | add // 0'
}

# --- long-lived connections ---------------------------------------------------------------------

# ecmp_long_start FILE SECS RATE SRC...: one keep-alive connection from each source address, at
# most RATE requests a second on each, for SECS seconds: one zdd-httpload -k -c 1 per source
# (a single one with -c N and -r opens only about rate/100 connections: its keep-alive requests
# take the tokens first). ecmp_long_wait FILE waits and merges their logs into FILE, one line
# per request, by time: "MS SRC NAME COLOUR" or "MS SRC FAIL:KIND".
ecmp_long_start()
{
	local file=$1 secs=$2 rate=$3 src i=0
	shift 3
	printf '%s\n' "$@" >"$file.sources"
	ECMP_LONG_PIDS=()
	for src in "$@"; do
		lab_exec client "$LAB_OUT/zdd-httpload" -k -u "$(lab_url "$LAB_VIP4")" -s "$src" \
			-c 1 -d "$secs" -r "$rate" -t 2000 -o "$file.$i" >"$file.$i.summary" 2>&1 &
		ECMP_LONG_PIDS+=($!)
		i=$((i + 1))
	done
}

ecmp_long_wait()
{
	local n=${#ECMP_LONG_PIDS[@]} i
	wait "${ECMP_LONG_PIDS[@]}"
	for ((i = 0; i < n; i++)); do
		cat "$1.$i"
	done | sort -n >"$1"
	for ((i = 0; i < n; i++)); do
		cat "$1.$i.summary"
	done >"$1.summary"
}

# ecmp_on ROLE SRC...: the sources with a flow on ROLE (its conntrack: established, or adopted
# when the node first saw it mid-stream), one a line.
ecmp_on()
{
	local role=$1
	shift
	ecmp_ctl "$role" -j conntrack list "$LAB_SVC4" |
		jq -r '.[] | select(.table != "embryonic") | .client' | sort -u |
		grep -Fx -f <(printf '%s\n' "$@")
}

# ecmp_broken FILE: the sources whose connection broke: a failed request, or answers from more
# than one backend (a connection moved to a backend that never saw its handshake would be reset).
ecmp_broken()
{
	awk '$3 ~ /^FAIL/ { bad[$2] = 1; next }
		!($2 in first) { first[$2] = $3; next }
		first[$2] != $3 { bad[$2] = 1 }
		END { for (s in bad) print s }' "$1" | sort
}

# ecmp_flows ROLE SVC: new flows ROLE has balanced for SVC (its backends' flows_new, summed).
ecmp_flows()
{
	ecmp_ctl "$1" -j status "$2" | jq '[.services[].backends[].flows_new] | add // 0'
}
