#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-nexthop.sh - next hops followed (issue #15): the lb reaches every
# backend through rtr, so the MAC the data path writes into each tunnelled packet is rtr's.
# rtr's interface gets a new MAC (a router failed over, a VM replaced) and says so once, as a
# failed-over router's gratuitous ARP does: the lb's kernel learns it, zdd-agent sees the
# neighbour change and rewrites every backend's next-hop MAC in the maps, and clients, whose
# packets went to a MAC nobody answered, get through again, within a second.
LAB_PREFIX=${LAB_PREFIX:-zn}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require

MAX_MS=1000
NEW_MAC=02:00:5e:10:00:99

tap_plan 6
lab_up || tap_bail "lab setup"
for b in "${LAB_BACKENDS[@]}"; do
	lab_decap_attach "$b" >/dev/null || tap_bail "decap on $b"
done
# The lab pins the lb's entries for rtr (nud permanent): here the kernel learns them, as on a
# real network, and the agent's first look-up has them probed.
ip -n "$LAB_NS_LB" neigh del "$LAB_RTR_LB4" dev "$LAB_LB_DEV"
ip -n "$LAB_NS_LB" -6 neigh del "$LAB_RTR_LB6" dev "$LAB_LB_DEV"
conf=$LAB_DIR/zdd.yaml
lab_agent_conf "$conf"
lab_agent_start "$conf" || tap_bail "zdd-agent"
sleep 1.5 # health checks rise

metric() { lab_exec lb curl -s --max-time 2 "http://127.0.0.1:9334/metrics" |
	awk -v m="$1" '$1 == m {print $2}'; }
# served ADDR: one request to the service address ADDR answered.
served() { lab_exec client curl -s -o /dev/null -f --max-time 1 "$(lab_url "$1")"; }
all_served() { local i; for ((i = 0; i < 8; i++)); do served "$LAB_VIP4" || return 1; done; }
# macs: the next-hop MAC of every backend in the maps, one per line.
bl() { local svc; for svc in "$LAB_SVC4" "$LAB_SVC6"; do lab_ctl -j backend list "$svc"; done; }
macs() { bl 2>/dev/null | jq -r '.. | objects | .next_hop_mac? // empty' | sort -u; }

tap_check "clients served through rtr's MAC" all_served
old=$(macs)
tap_diag "backends' next-hop MACs before: $(echo "$old" | paste -sd' ')"
changes0=$(metric zdd_next_hop_changes_total)

# rtr's lb-facing interface takes a new MAC; rtr then asks for the lb's (forgetting it first),
# so its ARP request and neighbour solicitation carry the new MAC: the lb's kernel updates its
# entries for rtr from them, as from a failed-over router's gratuitous ARP.
t0=$(date +%s%3N)
ip -n "$LAB_NS_RTR" link set dev "$LAB_RTR_LB_DEV" address "$NEW_MAC"
ip -n "$LAB_NS_RTR" neigh flush dev "$LAB_RTR_LB_DEV"
# One datagram each way to the discard port: its sending makes rtr resolve the lb's address.
lab_exec rtr bash -c "echo >/dev/udp/$LAB_LB4/9; echo >/dev/udp/$LAB_LB6/9"
followed() { [[ $(macs) == "$NEW_MAC" ]]; }
took=""
for ((i = 0; i < 30; i++)); do
	if followed; then
		took=$(($(date +%s%3N) - t0))
		break
	fi
	sleep 0.05
done
tap_diag "backends' next-hop MACs after: $(macs | paste -sd' ') (${took:-not} followed, in ms)"
[[ -n $took ]] || tap_diag "lb's neighbours: $(ip -n "$LAB_NS_LB" neigh show dev "$LAB_LB_DEV")"
tap_check "every backend's next-hop MAC is rtr's new one within $MAX_MS ms (${took:-never})" \
	test -n "$took" -a "${took:-0}" -le "$MAX_MS"
tap_check "clients served again" all_served
changes=$(($(metric zdd_next_hop_changes_total) - changes0))
tap_is "zdd_next_hop_changes_total counts each backend rewritten" "$changes" \
	"$(bl | jq -s '[.. | objects | select(has("next_hop_mac"))] | length')"
tap_check "the agent's log names a backend, the old MAC and the new one" \
	grep -q "next hop MAC .* -> $NEW_MAC (the neighbour or route changed)" "$LAB_DIR/agent.log"

# Nothing changed: the periodic look-up rewrites nothing.
sleep 5.5
tap_is "nothing moved: no rewrite in 5.5 s" "$(($(metric zdd_next_hop_changes_total) - changes0))" \
	"$changes"
tap_done
