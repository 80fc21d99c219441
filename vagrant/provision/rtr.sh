#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# vagrant/provision/rtr.sh - the router role: one leg on each lab network (client .1, lb .1,
# backends .1), forwarding on, no redirects, no reverse-path filter (DSR replies come from the
# VIP through the backends' leg), the service prefixes routed to lb.
# Usage: rtr.sh [--net-only]     (the three interfaces are found by their lab MACs)
set -euo pipefail
PROV_ROLE=rtr
# shellcheck source=vagrant/provision/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
prov_options "$@"
[[ -z $PROV_DEV ]] || prov_die "rtr has three interfaces: they are found by MAC, not --dev"

prov_packages iproute2
prov_sysctl_base
client_dev=$(prov_dev "$LAB_RTR_CLIENT4")
lb_dev=$(prov_dev "$LAB_RTR_LB4")
be_dev=$(prov_dev "$LAB_RTR_BE4")
prov_link "$client_dev" "$LAB_MTU_CLIENT"
prov_link "$lb_dev" "$LAB_MTU_LB"
prov_link "$be_dev" "$LAB_MTU_BACKEND"
prov_addr "$client_dev" "$LAB_RTR_CLIENT4/24" "$LAB_RTR_CLIENT6/64"
prov_addr "$lb_dev" "$LAB_RTR_LB4/24" "$LAB_RTR_LB6/64"
prov_addr "$be_dev" "$LAB_RTR_BE4/24" "$LAB_RTR_BE6/64"
prov_route "$LAB_VIP4_NET" "$LAB_LB4"
prov_route "$LAB_VIP6_NET" "$LAB_LB6"
prov_sysctl net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
	net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0
for dev in "$client_dev" "$lb_dev" "$be_dev"; do
	prov_sysctl "net.ipv4.conf.$dev.rp_filter=0"
done
prov_log "up: client $client_dev, lb $lb_dev, backends $be_dev; $LAB_VIP4_NET via $LAB_LB4"
