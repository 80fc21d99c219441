#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# vagrant/provision/client.sh - the client role: 198.18.1.2 (and PROV_CLIENTS more addresses,
# 198.18.1.100 on) and fd00:1::2 on the link to rtr, the lab's prefixes routed through rtr,
# TX checksum offload off; with packages: curl and wrk for load.
# Usage: client.sh [--net-only] [--dev DEV]     (see common.sh)
set -euo pipefail
PROV_ROLE=client
# shellcheck source=vagrant/provision/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
prov_options "$@"

prov_packages curl wrk ethtool iproute2
prov_sysctl_base
dev=$(prov_dev "$LAB_CLIENT4")
prov_link "$dev" "$LAB_MTU_CLIENT"
prov_addr "$dev" "$LAB_CLIENT4/24" "$LAB_CLIENT6/64"
for ((i = 0; i < PROV_CLIENTS; i++)); do
	prov_addr "$dev" "198.18.1.$((100 + i))/32"
done
prov_route "$PROV_ROUTE4" "$LAB_RTR_CLIENT4"
prov_route "$PROV_ROUTE6" "$LAB_RTR_CLIENT6"
# Partial checksums would not survive the balancer's XDP forwarding (a real NIC's sender
# fills them in; a veth or virtio sender may not).
ethtool -K "$dev" tx off >/dev/null
prov_log "up on $dev: $LAB_CLIENT4, $LAB_CLIENT6, $PROV_CLIENTS more from 198.18.1.100"
