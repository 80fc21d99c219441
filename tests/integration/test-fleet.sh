#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-fleet.sh - one rollout across a fleet (issue #17): three edge nodes
# behind rtr's multipath route (ecmp.sh, BIRD), each running zdd-agent with agent.cluster, and a
# 3-member etcd cluster in namespaces of its own (fleet.sh). First the lab itself: the members
# healthy with one leader, rtr's route over the three nodes, an edge node cut off from etcd and
# back. Then the fleet, (a)-(e) of the issue: a rollout through every node with each client in
# one pool at each step, the leading agent killed, a node cut off, a bad green rolled back
# everywhere, etcd losing a member and then its quorum (writes refused) under a rollout.
LAB_PREFIX=${LAB_PREFIX:-zf}
ECMP_NODES=3
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/ecmp.sh
source "$(dirname "${BASH_SOURCE[0]}")/ecmp.sh"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "${BASH_SOURCE[0]}")/fleet.sh"
lab_require
ecmp_require
fleet_require

CLIENTS=200		# client addresses of the loads, spread over the nodes by rtr's hash
RATE=500		# new connections a second, at random (Poisson), each from a random client
SECS=4			# of load per measure: about 2,000 connections

# ms: wall-clock milliseconds.
ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_for SECS CMD...: until CMD succeeds, polled every 50 ms; prints the milliseconds taken.
wait_for()
{
	local secs=$1 t0 i
	shift
	t0=$(ms)
	for ((i = 0; i < secs * 20; i++)); do
		if "$@" >/dev/null 2>&1; then
			echo "$(($(ms) - t0))"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

healthy_is() { [[ $(fleet_healthy) == "$1" ]]; }
has_driver() { [[ -n $(leader_node) ]]; }
has_leader() { [[ -n $(fleet_leader) ]]; }
put() { fleet_etcdctl put /zdd-lab-probe "$1"; }
not() { ! "$@"; }

tap_plan 33
lab_up || tap_bail "lab setup"
ecmp_up || tap_bail "edge nodes lb2, lb3"
fleet_clients_add "$CLIENTS" || tap_bail "client addresses"
fleet_up || tap_bail "etcd cluster"

ecmp_zdd_up || tap_bail "zdd-agent and bird on the three edge nodes"

# 1-2. The members are one cluster with a leader; rtr's route spreads over the three nodes.
if t=$(wait_for 10 healthy_is 3) && wait_for 5 has_leader >/dev/null; then
	tap_ok "etcd: 3 members healthy, leader $(fleet_leader) (${t} ms after start)"
else
	tap_fail "etcd: 3 members healthy with a leader" "healthy: $(fleet_healthy)" \
		"$(tail -n 3 "$LAB_DIR"/etcd-*.log)"
fi
for fam in 4 6; do
	gws=$(ecmp_gw$fam lb lb2 lb3)
	if msg=$(ecmp_wait_nexthops "$fam" "$gws" 10); then
		tap_ok "rtr: IPv$fam service route multipath over the 3 nodes ($gws), after $msg"
	else
		tap_fail "rtr: IPv$fam service route multipath over the 3 nodes" "$msg" \
			"$(ecmp_birdc rtr show protocols)"
	fi
done

# 3. Every edge node reaches etcd; lb2 cut off does not, and the others still do; back after.
all_reach() { fleet_reaches lb && fleet_reaches lb2 && fleet_reaches lb3; }
tap_check "every edge node reaches etcd" all_reach
fleet_cut lb2 || tap_bail "cutting lb2 off"
if ! fleet_reaches lb2 && fleet_reaches lb && fleet_reaches lb3; then
	tap_ok "lb2 cut off from etcd (nftables in its namespace), lb and lb3 still reach it"
else
	tap_fail "lb2 cut off from etcd, lb and lb3 still reach it" \
		"$(lab_exec lb2 nft list ruleset)"
fi
fleet_uncut lb2
tap_check "lb2 reaches etcd again once uncut" fleet_reaches lb2

split() # NAME: a load of about RATE x SECS connections; prints fleet_split's
{
	lab_load_realistic "$SECS" "$LAB_DIR/$1" "$RATE" -n 1 -x 0
	lab_load_collect "$LAB_DIR/$1"
	fleet_split "$LAB_DIR/$1"
}

# The fleet itself: (a)-(e) of issue #17.
NODES=(lb lb2 lb3)
# njson ROLE: ROLE's agent's view of the service's rollout (fleet included), one line of JSON.
njson() { ecmp_ctl "$1" rollout --socket "$(ecmp_agent_sock "$1")" -j status 2>/dev/null |
	jq -c --arg s "$LAB_SVC4" '.rollouts[] | select(.service == $s)'; }
# nrollout ROLE VERB ARGS...: a rollout verb through ROLE's agent.
nrollout() { local r=$1; shift; ecmp_ctl "$r" rollout --socket "$(ecmp_agent_sock "$r")" "$@"; }
nmetric() { lab_exec "$1" curl -s --max-time 2 "http://127.0.0.1:$2/metrics" |
	awk -v m="$3" '$1 == m {print $2}'; }
mport() { [[ $1 == lb ]] && echo 9334 || echo $((9333 + ${1#lb})); }
# fleet_at STATE STEP [ROLES...]: every node (or ROLES) shows STATE at STEP (0-based; "any":
# whichever), and its tables run the fleet's last generation.
fleet_at()
{
	local want=$1 step=$2 r j
	shift 2
	[[ $step == any ]] && step=-2
	for r in "${@:-${NODES[@]}}"; do
		j=$(njson "$r") || return 1
		jq -e --arg st "$want" --argjson sp "$step" '.state == $st and
			($sp == -2 or .step == $sp) and .fleet.generation > 0 and
			.fleet.applied_generation == .fleet.generation' <<<"$j" >/dev/null || return 1
	done
}
# leader_node: the node whose agent drives the fleet (as lb's agent sees it).
leader_node() { njson lb | jq -r '.fleet.leader // empty'; }
view() { local r; for r in "${@:-${NODES[@]}}"; do echo "$r: $(njson "$r" | jq -c '{state, step,
	green_weight_pct, event, fleet: {generation: .fleet.generation, applied: .fleet.applied_generation,
	leader: .fleet.leader, connected: .fleet.connected}}')"; done; }
# step_split NAME: a load of SECS seconds now, then fleet_split's "SOURCES MIXED FAILED".
step_split() { split "$1"; }

# (a) A rollout across the fleet, started on a node that does not lead: every node at the same
# step; in each step every client's connections land in one pool.
connected() { local r; for r in "${NODES[@]}"; do
	njson "$r" | jq -e '.fleet.connected and .fleet.leader != null' >/dev/null || return 1; done; }
# The lab's own checks above took etcd down and up: every agent hears it again first.
wait_for 15 connected >/dev/null || tap_diag "not every node is connected: $(view)"
leader=$(leader_node)
follower=lb2; [[ $leader == lb2 ]] && follower=lb3
tap_diag "the fleet's leader: ${leader:-none}; the rollout is started on $follower"
nrollout "$follower" start "$LAB_SVC4" --steps 10,50,100 --interval 6s >/dev/null
for step in 0 1; do
	if ! t=$(wait_for 15 fleet_at running "$step"); then
		tap_fail "(a) every node at step $((step + 1))" "$(view)"
		continue
	fi
	read -r n mixed failed < <(step_split "a$step")
	conns=$(grep -c . "$LAB_DIR/a$step")
	if ((mixed == 0 && failed == 0 && n >= CLIENTS * 8 / 10)); then
		tap_ok "(a) step $((step + 1)) on the 3 nodes ($t ms): $conns connections from $n clients, each client in one pool"
	else
		tap_fail "(a) step $((step + 1)): each client in one pool" "$conns connections, $n clients, $mixed mixed, $failed failed" "$(view)"
	fi
done
# The last step is judged on its own flows too: the load goes on until the promotion.
lab_load_realistic 20 "$LAB_DIR/a3" "$RATE" -n 1 -x 0
tap_check "(a) promoted on every node" wait_for 20 fleet_at promoted any
lab_load_stop "$LAB_DIR/a3"
for r in "${NODES[@]}"; do
	p=$(mport "$r")
	tap_diag "(a) $r: commit->applied p50 $(nmetric "$r" "$p" 'zdd_cluster_apply_delay_ms{stat="p50"}') ms, max $(nmetric "$r" "$p" 'zdd_cluster_apply_delay_ms{stat="max"}') ms"
done
within_200() { local r p; for r in "${NODES[@]}"; do p=$(mport "$r")
	(($(nmetric "$r" "$p" 'zdd_cluster_apply_delay_ms{stat="p50"}') <= 200)) || return 1; done; }
tap_check "(a) every node applies a record within 200 ms of its commit (p50)" within_200
tap_is "(a) a local weight on a node of the fleet is refused, naming the etcd way" \
	"$(ecmp_ctl lb2 weight "$LAB_SVC4" green=50 2>&1 | grep -c 'rollout start|promote|abort')" 1

# (b) kill -9 of the leader mid-rollout: another leads within a TTL, at the same step; no
# request fails (the killed agent's data path goes on forwarding).
nrollout lb start "$LAB_SVC4" --steps 10,50,100 --interval 30s >/dev/null
wait_for 15 fleet_at running 0 >/dev/null || tap_diag "$(view)"
leader=$(leader_node)
others=(); for r in "${NODES[@]}"; do [[ $r == "$leader" ]] || others+=("$r"); done
lab_load_realistic 6 "$LAB_DIR/b" "$RATE" -n 1 -x 0
sleep 1
t0=$(ms)
kill -9 "${ECMP_AGENT_PID[$leader]}"
new_leader() { local l; l=$(njson "${others[0]}" | jq -r '.fleet.leader // empty')
	[[ -n $l && $l != "$leader" ]]; }
if wait_for 5 new_leader >/dev/null; then
	took=$(($(ms) - t0))
	nl=$(njson "${others[0]}" | jq -r .fleet.leader)
	tap_check "(b) leader $leader killed: $nl leads after $took ms (TTL ${FLEET_TTL}s + etcd's expiry)" \
		test "$took" -le $(((FLEET_TTL + 2) * 1000))
else
	tap_fail "(b) leader $leader killed: another leads" "$(view "${others[@]}")"
fi
tap_check "(b) the new leader goes on at the same step" fleet_at running 0 "${others[@]}"
lab_load_collect "$LAB_DIR/b"
read -r n mixed failed < <(fleet_split "$LAB_DIR/b")
tap_is "(b) no request failed across the failover ($(grep -c . "$LAB_DIR/b") requests)" "$failed" 0
ecmp_agent_start "$leader" || tap_bail "agent on $leader again"
tap_check "(b) $leader's agent back: it applies the fleet's record" wait_for 10 fleet_at running 0

# (c) lb3 cut off from etcd: it keeps its weight and serves; the others go on; back, it
# converges.
w3=$(njson lb3 | jq .green_weight_pct)
fleet_cut lb3 || tap_bail "cut lb3"
cut_off() { [[ $(nmetric lb3 "$(mport lb3)" zdd_cluster_connected) == 0 ]]; }
tap_check "(c) lb3 cut off: zdd_cluster_connected 0 within $((FLEET_TTL + 2)) s" wait_for $((FLEET_TTL + 2)) cut_off
lab_exec lb curl -s --max-time 2 "http://127.0.0.1:9334/metrics" >/dev/null
nrollout lb promote "$LAB_SVC4" >/dev/null
tap_check "(c) the others go on: promoted on lb and lb2" wait_for 10 fleet_at promoted any lb lb2
tap_is "(c) lb3 holds its weight, cut off" "$(njson lb3 | jq .green_weight_pct)" "$w3"
stale() { [[ $(nrollout lb3 status 2>/dev/null) == *STALE* ]]; }
tap_check "(c) lb3's status says it is stale" stale
read -r n mixed failed < <(split c)
tap_is "(c) requests through all 3 nodes meanwhile: none failed" "$failed" 0
# What the fleet is for, and that the measure of (a) can fail: lb3 at its old weight, the others
# at the promoted one, the clients whose connections cross lb3 and another node see both pools.
tap_check "(c) meanwhile $mixed of $n clients see both pools (green: lb3 ${w3}%, the others $(njson lb | jq .green_weight_pct)%)" \
	test "$mixed" -gt 0
fleet_uncut lb3
tap_check "(c) lb3 back: it converges on the fleet's record" wait_for 10 fleet_at promoted any

# (d) A bad green (refusing connections), seen through every node: rolled back everywhere, the
# candidate at 0% on every node within 1 s of the decision, never promoted.
lab_load_realistic 25 "$LAB_DIR/d" "$RATE" -n 1 -x 0
sleep 1
nrollout lb start "$LAB_SVC4" --steps 20,50,100 --interval 4s >/dev/null
wait_for 10 fleet_at running 0 >/dev/null || tap_diag "$(view)"
cand=$(njson lb | jq -r 'if .stable == 1 then "blue" else "green" end')
for b in "${LAB_BACKENDS[@]}"; do [[ $(lab_pool "$b") == "$cand" ]] && lab_backend_stop "$b"; done
tap_check "(d) $cand refusing: rolled back on every node" wait_for 20 fleet_at rolled_back any
lab_load_stop "$LAB_DIR/d"
decided=$(grep -h 'rolled back' "$LAB_DIR"/agent*.log | grep -m1 "the fleet's" | cut -c1-12)
tap_diag "(d) decision: $decided; $(view | tr '\n' ' ')"
stable_pct=$(njson lb | jq -r 'if .stable == 1 then 100 else 0 end')
all_stable() { local r; for r in "${NODES[@]}"; do
	[[ $(njson "$r" | jq .green_weight_pct) == "$stable_pct" ]] || return 1; done; }
tap_check "(d) new flows on the stable pool on every node" all_stable
# The last node's apply of the rollback, after the leader's decision (the logs' clocks are one).
last=$(grep -h "rolled_back, step" "$LAB_DIR"/agent*.log | cut -c1-12 | sort | tail -n 1)
took=$(($(date -d "$last" +%s%3N) - $(date -d "${decided:-00:00:00}" +%s%3N)))
tap_check "(d) every node applied it within 1 s of the decision ($took ms)" \
	test -n "$decided" -a "$took" -ge 0 -a "$took" -le 1000
for b in "${LAB_BACKENDS[@]}"; do [[ $(lab_pool "$b") == "$cand" ]] && lab_backend_start "$b"; done
all_up() { local r; for r in "${NODES[@]}"; do ecmp_ctl "$r" -j status "$LAB_SVC4" |
	jq -e 'all(.services[0].backends[]; .state == "up")' >/dev/null || return 1; done; }
wait_for 10 all_up >/dev/null || tap_diag "(d) $cand's backends not all up again"

# (e) One etcd member killed: the rollout goes on. Quorum lost: every node holds, no step,
# none promoted. Back: it resumes.
nrollout lb start "$LAB_SVC4" --steps 10,50,100 --interval 3s >/dev/null
lab_load_realistic 30 "$LAB_DIR/e" "$RATE" -n 1 -x 0
wait_for 10 fleet_at running 0 >/dev/null || tap_diag "$(view)"
member=$(fleet_leader)
[[ -n $member ]] || member=e1
t0=$(ms)
fleet_etcd_kill "$member"
if wait_for 10 put "one-down" >/dev/null && healthy_is 2; then
	tap_ok "(e) etcd's leader member $member killed (-9): 2 healthy, a write after $(($(ms) - t0)) ms"
else
	tap_fail "(e) etcd's leader member $member killed: writes go on" "healthy: $(fleet_healthy)"
fi
tap_check "(e) one member killed: the rollout goes on to step 2" wait_for 15 fleet_at running 1
fleet_etcd_start "$member"
tap_check "(e) member $member back: 3 healthy" wait_for 10 healthy_is 3
fleet_quorum down
# The measure can fail: etcd without a quorum refuses every write.
if wait_for 3 not put "no-quorum" >/dev/null && ! put "no-quorum" >/dev/null 2>&1; then
	tap_ok "(e) quorum lost (2 of 3 members killed): a write is refused"
else
	tap_fail "(e) quorum lost: a write is refused" "healthy: $(fleet_healthy)"
fi
# By now (a write refused, a lease TTL gone) no agent drives: what they show is what they hold.
held=$(njson lb | jq -c '[.state, .step]')
sleep 5
same() { local r; for r in "${NODES[@]}"; do [[ $(njson "$r" | jq -c '[.state, .step]') == "$held" ]] || return 1; done; }
tap_check "(e) quorum lost: every node holds at $held for 5 s (dwell 3 s), none promoted" same
t0=$(ms)
fleet_quorum up
if wait_for 10 put "quorum-back" >/dev/null; then
	tap_ok "(e) quorum back: a write after $(($(ms) - t0)) ms"
else
	tap_fail "(e) quorum back: writes again" "$(tail -n 5 "$LAB_DIR"/etcd-e2.log)"
fi
tap_check "(e) quorum back: the rollout resumes and is promoted" wait_for 30 fleet_at promoted any
lab_load_stop "$LAB_DIR/e"
read -r n mixed failed < <(fleet_split "$LAB_DIR/e")
tap_is "(e) no request failed through it all" "$failed" 0
tap_done
