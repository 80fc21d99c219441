#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-ecmp.sh - DESIGN.md 8 with a real routing daemon. Two edge nodes, lb and
# lb2, run zdd-agent with the same config; BIRD on each announces the service addresses the agent
# keeps on lo over BGP to rtr's BIRD, which installs a multipath route hashed on the 5-tuple.
# New connections spread over both nodes. Then lb leaves under load and comes back: `node drain`
# (the agent withdraws the addresses), its bird killed (-9), its link down, and `node drain` just
# after a weight change on both nodes. The long-lived connections lb carried move to lb2, which
# never saw their handshakes, and keep their backend: identical Maglev tables, and after the
# weight change the previous generation's table. Counts the flows that moved and that broke.
# And the other side of that fallback: flows opened just after a weight change that move within
# the grace window are routed by the table they were not balanced by; where the two disagree,
# the packet carries the other backend (second chance) and the backend without the connection
# forwards it there: none breaks.
LAB_PREFIX=${LAB_PREFIX:-ze}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/ecmp.sh
source "$(dirname "${BASH_SOURCE[0]}")/ecmp.sh"
lab_require
ecmp_require

LONG=24			# long-lived connections per failover, one client address each
LONG_SECS=5		# each failover: 1.5 s on both nodes, lb leaves, 1 s on lb2, lb rejoins
LONG_RATE=10		# requests a second on each connection
SPREAD=24		# client addresses of the new-connection load (24 + 5 x 24 <= 155)
FLIP=50			# green weight of the flip before the last failovers

tap_plan 35
lab_up || tap_bail "lab setup"
ecmp_up || tap_bail "second edge node"
ecmp_zdd_up || tap_bail "zdd-agent and bird on both edge nodes"
lab_clients_add $((SPREAD + 5 * LONG)) || tap_bail "client addresses"
clients=("${LAB_CLIENTS[@]}")
next=$SPREAD		# the next unused client address: every failover has fresh ones

# 1. rtr learns both services from both nodes, over BGP alone (ecmp_up removed the static route).
for fam in 4 6; do
	gws=$(ecmp_gw$fam lb lb2)
	if msg=$(ecmp_wait_nexthops "$fam" "$gws" 10); then
		tap_ok "rtr: IPv$fam service route from BGP, multipath over both nodes ($gws), after $msg"
	else
		tap_fail "rtr: IPv$fam service route from BGP, multipath over both nodes" "$msg" \
			"$(ecmp_birdc rtr show protocols)"
	fi
done
tap_diag "$(ip -n "$LAB_NS_RTR" route show root "$LAB_VIP4_NET")" \
	"$(ip -n "$LAB_NS_RTR" -6 route show root "$LAB_VIP6_NET")"

# 2. New connections from many clients spread over both nodes, IPv4 and IPv6 (one client
# address, many ports: the hash takes the ports in).
LAB_CLIENTS=("${clients[@]:0:SPREAD}")
lab_load 2 16 "$LAB_DIR/spread4" 500
lab_exec client "$LAB_OUT/zdd-httpload" -u "$(lab_url "$LAB_VIP6")" -s "$LAB_CLIENT6" -c 4 \
	-d 2 -r 100 -t 2000 -o "$LAB_DIR/spread6" >"$LAB_DIR/spread6.summary" 2>&1 &
LAB_LOAD_PIDS+=($!)
lab_load_collect "$LAB_DIR/spread4"
for fam in 4 6; do
	file=$LAB_DIR/spread$fam
	svc=LAB_SVC$fam
	n=$(wc -l <"$file")
	failed=$(grep -c FAIL "$file")
	on_lb=$(ecmp_flows lb "${!svc}")
	on_lb2=$(ecmp_flows lb2 "${!svc}")
	desc="spread, IPv$fam: $n requests, $failed failed; new flows on lb $on_lb, on lb2 $on_lb2"
	# each node at least a quarter of the flows (an even split is expected)
	if ((n >= 100 && failed == 0 && on_lb * 4 >= n && on_lb2 * 4 >= n)); then
		tap_ok "$desc"
	else
		tap_fail "$desc" "$(grep FAIL "$file" | head -n 5)" "$(cat "$file.summary")"
	fi
done

# 3. Failovers under long-lived connections.
declare -A moved_of broken_of
tags=()

# failover TAG LEAVE REJOIN [BEFORE]: LONG keep-alive connections from fresh client addresses;
# after 1.5 s, BEFORE (if any), then LEAVE takes lb out; 1 s later REJOIN puts it back. Four
# checks. Sets MOVED (the sources of the flows lb carried), BROKEN (the sources whose connection
# broke) and FAILOVER_LOG.
failover()
{
	local tag=$1 leave=$2 rejoin=$3 before=${4:-} file="$LAB_DIR/$1" srcs on_lb2 msg t0 t1 took
	local late fb
	srcs=("${clients[@]:next:LONG}")
	next=$((next + LONG))
	FAILOVER_LOG=$file
	ecmp_long_start "$file" "$LONG_SECS" "$LONG_RATE" "${srcs[@]}"
	sleep 1.5
	mapfile -t MOVED < <(ecmp_on lb "${srcs[@]}")
	mapfile -t on_lb2 < <(ecmp_on lb2 "${srcs[@]}")
	if ((${#MOVED[@]} > 0 && ${#on_lb2[@]} > 0 && ${#MOVED[@]} + ${#on_lb2[@]} == LONG)); then
		tap_ok "$tag: the $LONG long-lived flows are spread: lb ${#MOVED[@]}, lb2 ${#on_lb2[@]}"
	else
		tap_fail "$tag: the $LONG long-lived flows are spread over both nodes" \
			"lb: ${MOVED[*]}" "lb2: ${on_lb2[*]}" "rtr's BGP sessions:" \
			"$(grep -E 'State changed to (up|stop)' "$LAB_DIR/bird-rtr.log" | tail -n 8)"
	fi
	[[ -z $before ]] || "$before"

	fb=$(ecmp_fallback_prev lb2)
	t0=$(date +%s%3N)
	"$leave"
	if msg=$(ecmp_wait_nexthops 4 "$(ecmp_gw4 lb2)" 5); then
		tap_ok "$tag: rtr routes to lb2 alone after $msg"
	else
		tap_fail "$tag: rtr routes to lb2 alone" "$msg"
	fi
	sleep 1
	# lb2 never saw these flows' handshakes: its entries for them come from the misses.
	took=$(ecmp_on lb2 "${MOVED[@]}" | wc -l)
	FALLBACK=$(($(ecmp_fallback_prev lb2) - fb))
	t1=$(date +%s%3N)

	"$rejoin"
	if msg=$(ecmp_wait_nexthops 4 "$(ecmp_gw4 lb lb2)" 5); then
		tap_ok "$tag: lb back in rtr's route after $msg"
	else
		tap_fail "$tag: lb back in rtr's route" "$msg" "$(ecmp_birdc rtr show protocols)"
	fi
	ecmp_long_wait "$file"
	# Every moved client went on getting answers while lb2 alone carried its flow.
	late=$(awk -v from=$((t0 + 300)) -v to="$t1" 'NR == FNR { moved[$1] = 1; next }
		($2 in moved) && $1 > from && $1 < to && $3 !~ /^FAIL/ { ok[$2] = 1 }
		END { print length(ok) }' <(printf '%s\n' "${MOVED[@]}") "$file")
	tap_is "$tag: lb2 carried the ${#MOVED[@]} moved flows (in its conntrack $took, answering $late)" \
		"$took/$late" "${#MOVED[@]}/${#MOVED[@]}"
	mapfile -t BROKEN < <(ecmp_broken "$file")
	tags+=("$tag")
	moved_of[$tag]=${#MOVED[@]}
	broken_of[$tag]=${#BROKEN[@]}
}

# unbroken TAG: the check that no long-lived connection of the last failover broke.
unbroken()
{
	local n_req n_fail
	n_req=$(wc -l <"$FAILOVER_LOG")
	n_fail=$(grep -c FAIL "$FAILOVER_LOG")
	if ((${#BROKEN[@]} == 0 && n_req >= LONG * LONG_SECS * LONG_RATE * 8 / 10)); then
		tap_ok "$1: 0 of $LONG long-lived connections broke, ${#MOVED[@]} moved to lb2 and back ($n_req requests, $n_fail failed)"
	else
		tap_fail "$1: no long-lived connection broke (${#MOVED[@]} moved)" \
			"broken: ${#BROKEN[@]} (${BROKEN[*]}); requests $n_req, failed $n_fail" \
			"$(grep -F -f <(printf '%s\n' "${BROKEN[@]}") "$FAILOVER_LOG" | grep FAIL |
				head -n 5)"
	fi
}

# sc_count COUNTER...: those zdd_decap counters, summed over every backend.
sc_count()
{
	local b n=0 sum
	sum=$(printf '.counters.%s + ' "$@")
	for b in "${LAB_BACKENDS[@]}"; do
		n=$((n + $(lab_ctl_on "$b" -j decap status | jq "${sum% + }")))
	done
	echo "$n"
}

drain() { ecmp_node lb drain >/dev/null; }
undrain() { ecmp_node lb undrain >/dev/null; }
bird_kill() { ecmp_bird_stop lb KILL; }
bird_start() { ecmp_bird_start lb; }
link_down() { ecmp_link lb down; }
link_up() { ecmp_link lb up; }

# 3a. The agent withdraws the service addresses; BIRD withdraws the routes.
failover drain drain undrain
unbroken drain
# 3b. lb's routing daemon dies; the kernel closes its BGP sessions.
failover bird-kill bird_kill bird_start
unbroken bird-kill
# 3c. lb loses its link: rtr drops the path at once (carrier), BGP comes back after.
failover link-down link_down link_up
unbroken link-down

# 3d. A weight change on both nodes, then the failover within the grace window: lb2's table of
# now would send some moved clients to green; the previous generation's keeps them on blue.
flip()
{
	local role
	for role in lb lb2; do
		ecmp_ctl "$role" weight "$LAB_SVC4" "green=$1" >/dev/null || return 1
	done
}
flip_up() { tap_check "flip: green $FLIP% on both nodes, just before the failover" flip "$FLIP"; }
failover flip drain undrain flip_up
unbroken flip
tap_check "flip: lb2 routed the moved flows' first packets by the previous generation ($FALLBACK)" \
	test "$FALLBACK" -ge "${#MOVED[@]}"
# Where does the table of now send the moved clients? Without the fallback, the connections of
# those it sends to green would have been reset there.
LAB_CLIENTS=("${MOVED[@]}")
lab_load 1 8 "$LAB_DIR/after-flip" 300
lab_load_collect "$LAB_DIR/after-flip"
green=$(awk '$4 == "green" { g[$2] = 1 } END { print length(g) }' "$LAB_DIR/after-flip")
tap_check "flip: new connections of $green of the ${#MOVED[@]} moved clients go green now: the fallback kept them" \
	test "$green" -gt 0

# 3e. The other side of the fallback: flows opened on lb AFTER a weight change (here the
# rollback to 0%) that move to lb2 within the grace window are routed by lb2's previous
# generation (green $FLIP%). Where the two tables disagree, the green backend has no socket for
# the flow and sends it on to the blue one its packets carry (second chance).
flip 0 || tap_diag "flip back to 0% failed"
sleep 0.2
sc0=$(sc_count second_chance_forwarded second_chance_via_hop)
failover after-rollback drain undrain
sc=$(($(sc_count second_chance_forwarded second_chance_via_hop) - sc0))
unbroken after-rollback
tap_check "after-rollback: backends without the connection forwarded $sc packets of moved flows to the other backend" \
	test "$sc" -gt 0
tap_diag "second chances found no socket on either backend: $(sc_count second_chance_spent) packets in the whole run"

# 4. The agent stopping withdraws its node too.
kill -TERM "${ECMP_AGENT_PID[lb]}"
if msg=$(ecmp_wait_nexthops 4 "$(ecmp_gw4 lb2)" 5); then
	tap_ok "SIGTERM on lb's agent: rtr routes to lb2 alone after $msg"
else
	tap_fail "SIGTERM on lb's agent: rtr routes to lb2 alone" "$msg"
fi
tap_check "and the service still answers" lab_curl "$LAB_VIP4"

summary=() moved=0 broken=0
for tag in "${tags[@]}"; do
	summary+=("$tag ${moved_of[$tag]}/${broken_of[$tag]}")
	moved=$((moved + moved_of[$tag]))
	broken=$((broken + broken_of[$tag]))
done
line=$(printf "%s, " "${summary[@]}")
tap_diag "ecmp: $moved long-lived flows moved between nodes, $broken broke (moved/broke: ${line%, }); ${SECONDS}s"
tap_done
