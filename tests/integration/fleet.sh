# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash disable=SC2034 # the FLEET_* variables are for the tests that source this
# tests/integration/fleet.sh - a fleet for the lab of lib.sh and ecmp.sh (issue #17): a 3-member
# etcd cluster (Debian's etcd-server), each member in a namespace of its own linked to rtr, which
# the edge nodes reach through their default route, and the agents' agent.cluster pointing at it.
#
#   [rtr] to-e1 ---- eth0 e1  198.18.11.2   etcd member e1 (clients :2379, peers :2380)
#         to-e2 ---- eth0 e2  198.18.12.2   etcd member e2
#         to-e3 ---- eth0 e3  198.18.13.2   etcd member e3
#
# Usage: source lib.sh; ECMP_NODES=3; source ecmp.sh; source fleet.sh; ecmp_require;
# fleet_require; lab_up; ecmp_up; fleet_up; ecmp_zdd_up; ... Helpers: a member killed and
# restarted (fleet_etcd_kill, fleet_etcd_start), quorum lost and regained, an edge node cut off
# from etcd by nftables in its namespace (fleet_cut, fleet_uncut).

FLEET_MEMBERS=(e1 e2 e3)
declare -gA FLEET_ADDR=() FLEET_ETCD_PID=()
for _m in "${FLEET_MEMBERS[@]}"; do
	LAB_ROLES+=("$_m")		# lab_up creates its namespace, lab_down removes it
	FLEET_ADDR[$_m]=198.18.$((10 + ${_m#e})).2
done
unset _m
FLEET_TTL=${FLEET_TTL:-1}		# the agents' lease_ttl, seconds: failovers within a second
ECMP_CONF_HOOK=fleet_conf_hook		# ecmp_agent_start's config gets agent.cluster

# fleet_require: etcd and etcdctl (Debian's etcd-server and etcd-client), nft.
fleet_require() { lab_require_cmd etcd etcdctl nft; }

# fleet_endpoints [SEP]: the client URLs of every member, SEP separated (default ',').
fleet_endpoints()
{
	local m out=()
	for m in "${FLEET_MEMBERS[@]}"; do out+=("http://${FLEET_ADDR[$m]}:2379"); done
	local IFS=${1:-,}
	echo "${out[*]}"
}

# fleet_conf_hook ROLE: agent.cluster for ROLE's agent (ecmp.sh's ECMP_CONF_HOOK).
fleet_conf_hook()
{
	printf '  cluster:\n    endpoints: [%s]\n    node: %s\n    lease_ttl: %ss\n' \
		"$(fleet_endpoints ', ')" "$1" "$FLEET_TTL"
}

# fleet_up: each member's namespace linked to rtr, then the members started; waits (bounded)
# until the cluster answers a linearizable read.
fleet_up()
{
	local m a i
	for m in "${FLEET_MEMBERS[@]}"; do
		a=${FLEET_ADDR[$m]}
		_lab_veth rtr "to-$m" "$m" eth0 "$LAB_MTU_LB" || return 1
		_lab_addr rtr "to-$m" "${a%.2}.1/24" || return 1
		_lab_addr "$m" eth0 "$a/24" || return 1
		_lab_do ip -n "$(lab_ns "$m")" link set lo up || return 1
		_lab_do ip -n "$(lab_ns "$m")" route add default via "${a%.2}.1" || return 1
	done
	for m in "${FLEET_MEMBERS[@]}"; do
		fleet_etcd_start "$m" || return 1
	done
	for ((i = 0; i < 100; i++)); do
		fleet_etcdctl get --consistency=l /zdd-lab-probe >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "# fleet: the etcd cluster did not answer in 10 s" >&2
	tail -n 5 "$LAB_DIR"/etcd-*.log | sed 's/^/#   /' >&2
	return 1
}

# fleet_etcd_start MEMBER: MEMBER's etcd, in its namespace, log in $LAB_DIR/etcd-MEMBER.log; its
# data dir is kept over a restart (the initial-cluster flags only count for an empty one).
# Heartbeat and election timeouts short, as the lab's network is fast: a leader is elected
# again within a second.
fleet_etcd_start()
{
	local m=$1 a=${FLEET_ADDR[$1]} cluster=() x
	for x in "${FLEET_MEMBERS[@]}"; do cluster+=("$x=http://${FLEET_ADDR[$x]}:2380"); done
	# ip netns exec execs etcd: $! is etcd's pid. Disowned: a kill -9 is no news to print.
	ip netns exec "$(lab_ns "$m")" etcd --name "$m" --data-dir "$LAB_DIR/etcd-$m" \
		--listen-client-urls "http://$a:2379" --advertise-client-urls "http://$a:2379" \
		--listen-peer-urls "http://$a:2380" --initial-advertise-peer-urls "http://$a:2380" \
		--initial-cluster "$(IFS=,; echo "${cluster[*]}")" --initial-cluster-state new \
		--initial-cluster-token "zdd-lab-$LAB_PREFIX" --heartbeat-interval 50 \
		--election-timeout 500 --snapshot-count 10000 \
		>>"$LAB_DIR/etcd-$m.log" 2>&1 &
	FLEET_ETCD_PID[$m]=$!
	disown "$!"
	lab_defer fleet_etcd_kill "$m" TERM
}

# fleet_etcd_kill MEMBER [SIGNAL]: stop MEMBER's etcd (default KILL: no goodbye to its peers)
# and wait for it to be gone.
fleet_etcd_kill()
{
	local pid=${FLEET_ETCD_PID[$1]:-}
	[[ -n $pid ]] || return 0
	_lab_kill_wait "${2:-KILL}" "$pid"
	FLEET_ETCD_PID[$1]=
}

# fleet_etcdctl ARGS...: etcdctl (v3) from rtr, against every member.
fleet_etcdctl()
{
	ETCDCTL_API=3 lab_exec rtr etcdctl --endpoints "$(fleet_endpoints)" \
		--dial-timeout 1s --command-timeout 2s "$@"
}

# fleet_healthy: how many members answer a health check (a quorum read through each).
fleet_healthy()
{
	fleet_etcdctl -w json endpoint health 2>/dev/null |
		jq '[.[] | select(.health == true)] | length' 2>/dev/null || echo 0
}

# fleet_leader: the name of the member that leads the raft group ("" without one).
fleet_leader()
{
	local json
	json=$(fleet_etcdctl -w json endpoint status 2>/dev/null) || true
	jq -r --argjson m "$(fleet_etcdctl -w json member list 2>/dev/null || echo '{}')" '
		[.[] | select(.Status.leader == .Status.header.member_id) | .Status.leader] as $l
		| ($m.members // [])[] | select(.ID == $l[0]) | .name' <<<"${json:-[]}" 2>/dev/null
}

# fleet_quorum down|up: two members killed (-9), or started again.
fleet_quorum()
{
	local m
	for m in e2 e3; do
		if [[ $1 == down ]]; then fleet_etcd_kill "$m"; else fleet_etcd_start "$m"; fi
	done
}

# fleet_cut ROLE / fleet_uncut ROLE: ROLE (an edge node) loses its etcd traffic, both ways, by
# nftables in its namespace (its open streams stall as on a real partition: no reset), or gets
# it back.
fleet_cut()
{
	local set
	set=$(fleet_endpoints ', ' | sed -e 's|http://||g' -e 's|:2379||g')
	lab_exec "$1" nft -f - <<EOF
table inet zdd_lab_cut {
	chain out { type filter hook output priority 0; ip daddr { $set } tcp dport 2379 drop; }
	chain in { type filter hook input priority 0; ip saddr { $set } tcp sport 2379 drop; }
}
EOF
}

fleet_uncut() { lab_exec "$1" nft delete table inet zdd_lab_cut; }

# fleet_reaches ROLE: ROLE can read from etcd (curl to the gateway of each member in turn).
fleet_reaches()
{
	local m
	for m in "${FLEET_MEMBERS[@]}"; do
		lab_exec "$1" curl -sS -f --noproxy '*' --max-time 1 -X POST \
			-d '{"key":"L3pkZC1sYWItcHJvYmU="}' \
			"http://${FLEET_ADDR[$m]}:2379/v3/kv/range" >/dev/null 2>&1 && return 0
	done
	return 1
}

# fleet_clients_add N: N client addresses (N <= 254: 198.18.16.1 on) on the client's interface,
# in LAB_CLIENTS, routed back by rtr (lib.sh's lab_clients_add has room for 155 only).
fleet_clients_add()
{
	local i batch=""
	LAB_CLIENTS=()
	for ((i = 1; i <= $1; i++)); do
		LAB_CLIENTS+=("198.18.16.$i")
		batch+="addr add 198.18.16.$i/32 dev $LAB_CLIENT_DEV"$'\n'
	done
	ip -n "$LAB_NS_CLIENT" -batch - <<<"$batch" &&
		_lab_do ip -n "$LAB_NS_RTR" route add 198.18.16.0/24 via "${LAB_CLIENT4:?}"
}

# fleet_split FILE: of a load's answers (lab_load's "MS SRC NAME COLOUR" lines), "SOURCES
# MIXED FAILED": the client addresses answered, those answered by both pools (the stickiness
# violations: the pool split is per client address), and the failed requests.
fleet_split()
{
	awk '$3 ~ /^FAIL/ { failed++; next }
		{ seen[$2] = 1; colours[$2] = colours[$2] == "" || colours[$2] == $4 ? $4 : "mixed" }
		END { for (s in seen) { n++; if (colours[s] == "mixed") mixed++ }
			printf "%d %d %d\n", n, mixed, failed }' "$1"
}
