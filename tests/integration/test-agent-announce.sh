#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-agent-announce.sh - with agent.announce_interface, the agent keeps the
# service addresses on an interface for a routing daemon to advertise (ECMP): `node drain`
# withdraws them, `node undrain` brings them back, SIGTERM withdraws them; forwarding goes on.
LAB_PREFIX=${LAB_PREFIX:-za}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require

tap_plan 8
lab_up || tap_bail "lab setup"
mkdir -p "$LAB_PIN_DIR"
for b in "${LAB_BACKENDS[@]}"; do
	lab_decap_attach "$b" >/dev/null || tap_bail "decap on $b"
done
LAB_ANNOUNCE=lo lab_agent_conf "$LAB_DIR/zdd.yaml"
lab_agent_start "$LAB_DIR/zdd.yaml" || tap_bail "zdd-agent"
# The service addresses on lo (this kernel has no dummy driver; lo serves BIRD as well).
announced()
{
	ip -n "$LAB_NS_LB" -br addr show dev lo | tr ' ' '\n' |
		grep -E "^($LAB_VIP4/32|$LAB_VIP6/128)\$" | paste -sd' '
}

tap_is "both service addresses are announced" "$(announced)" \
	"$LAB_VIP4/32 $LAB_VIP6/128"
tap_check "the agent kept CAP_NET_ADMIN for it" \
	grep -q '^CapEff:.*0000008000001000' "/proc/$LAB_AGENT_PID/status"
lab_node() { lab_ctl node --socket "$LAB_DIR/agent.sock" "$@"; }
lab_node drain >/dev/null
tap_is "node drain withdraws them" "$(announced)" ""
tap_check "a drained node still forwards what reaches it" lab_curl "$LAB_VIP4"
kill -TERM "$LAB_AGENT_PID"
wait "$LAB_AGENT_PID"
lab_agent_start "$LAB_DIR/zdd.yaml" || tap_bail "zdd-agent restart"
tap_is "a restarted agent stays drained" "$(announced)" ""
lab_node undrain >/dev/null
tap_is "node undrain announces them again" "$(announced)" "$LAB_VIP4/32 $LAB_VIP6/128"
kill -TERM "$LAB_AGENT_PID"
wait "$LAB_AGENT_PID"
tap_is "SIGTERM withdraws them" "$(announced)" ""
tap_check "and the data path keeps forwarding" lab_curl "$LAB_VIP4"
tap_done
