#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-bpffs-mount.sh - a fresh machine with no BPF filesystem on /sys/fs/bpf
# (issue #12), in a mount namespace of its own where bpffs is unmounted: read commands say how
# to attach and mount nothing; an attach without CAP_SYS_ADMIN fails naming it; the demo's
# first steps (decap on every backend, then the agent) work, the first decap mounting bpffs
# there and saying so once; and the agent alone mounts it too.
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

LAB_PREFIX=${LAB_PREFIX:-zm}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require
lab_require_cmd unshare umount mountpoint findmnt setpriv stat
[[ -x $LAB_BPFCTL && -x $LAB_OUT/zdd-agent ]] || lab_skip "zdd not built in $LAB_OUT (make)"

# Everything below runs in a private mount namespace: the host's bpffs stays as it is.
if [[ -z ${ZDD_BPFFS_TEST_NS:-} ]]; then
	ZDD_BPFFS_TEST_NS=1 exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}"
fi
for ((i = 0; i < 8; i++)); do	# the host may have stacked mounts
	mountpoint -q /sys/fs/bpf || break
	umount /sys/fs/bpf || break
done
mountpoint -q /sys/fs/bpf && lab_skip "cannot unmount /sys/fs/bpf in a private mount namespace"

tap_plan 10

# no_balancer CMD...: exit 1 with the hint to attach.
no_balancer()
{
	local err rc
	err=$(lab_ctl "$@" 2>&1 >/dev/null)
	rc=$?
	echo "exit $rc: $err"
	((rc == 1)) &&
		[[ $err == *"no balancer pinned in $LAB_PIN_DIR/lb: run zdd-bpfctl attach IFACE"* ]]
}

# ... and read commands mount nothing.
read_commands_hint()
{
	no_balancer status && no_balancer stats && no_balancer service list &&
		no_balancer conntrack list && ! mountpoint -q /sys/fs/bpf
}

# Root without CAP_SYS_ADMIN may not mount: the attach fails and says what it needs.
no_mount_without_cap()
{
	local err rc
	err=$(lab_nsenter b1 setpriv --bounding-set=-sys_admin -- "$LAB_BPFCTL" \
		-p "$LAB_PIN_DIR/b1" decap attach "$LAB_BACKEND_DEV" --from "$LAB_LB4" 2>&1 >/dev/null)
	rc=$?
	echo "exit $rc: $err"
	((rc == 1)) && [[ $err == *CAP_SYS_ADMIN* ]] && ! mountpoint -q /sys/fs/bpf
}

# decap on every backend, as the demo does first; the first one mounts, and only it says so.
decaps_mount()
{
	local b said=0
	for b in "${LAB_BACKENDS[@]}"; do
		lab_decap_attach "$b" 2>"$LAB_DIR/decap.err" || {
			cat "$LAB_DIR/decap.err"
			return 1
		}
		cat "$LAB_DIR/decap.err"
		grep -q 'mounted one' "$LAB_DIR/decap.err" && said=$((said + 1))
	done
	echo "$said of ${#LAB_BACKENDS[@]} said they mounted bpffs"
	((said == 1))
}

bpffs_mounted()
{
	local m
	m=$(findmnt -n -o FSTYPE,OPTIONS /sys/fs/bpf)
	echo "$m"
	[[ $m == "bpf "*nosuid,nodev,noexec*mode=700* ]]
}

pin_dirs_made()
{
	stat -c '%n %a' "$LAB_PIN_DIR" "$LAB_PIN_DIR/b1"
	[[ $(stat -c %a "$LAB_PIN_DIR" "$LAB_PIN_DIR/b1" | tr '\n' ' ') == "700 700 " ]]
}

forwards() { lab_curl "$LAB_VIP4" && lab_curl "$LAB_VIP6"; }

# The agent alone on a fresh machine: in a mount namespace of its own (inside this one) with
# bpffs unmounted, an agent with no interface and no service mounts bpffs and pins its maps.
agent_mounts()
{
	local d=$LAB_DIR/alone pid i rc=1
	mkdir -p "$d"
	printf 'agent:\n  pin_dir: %s\n  metrics: 127.0.0.1:9334\n  control_socket: %s\n' \
		"$LAB_PIN_DIR/alone" "$d/agent.sock" >"$d/zdd.yaml"
	printf '  state_file: %s\nservices: []\n' "$d/state.json" >>"$d/zdd.yaml"
	unshare --mount --propagation private sh -c 'umount /sys/fs/bpf && exec "$@"' sh \
		nsenter --net="/run/netns/$LAB_NS_CLIENT" -- "$LAB_OUT/zdd-agent" -c "$d/zdd.yaml" \
		>"$d/log" 2>&1 &
	pid=$!
	for ((i = 0; i < 50; i++)); do
		grep -q 'serving /metrics' "$d/log" && { rc=0; break; }
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	cat "$d/log"
	((rc == 0)) && grep -q 'mounted one' "$d/log"
}

lab_up || tap_bail "lab setup"
tap_check "no bpffs: status, stats, service list, conntrack list exit 1, say how to attach" \
	read_commands_hint
tap_check "decap attach without CAP_SYS_ADMIN fails naming it, mounts nothing" \
	no_mount_without_cap
tap_check "decap attach on every backend: the first mounts bpffs and says so, once" decaps_mount
tap_check "bpffs is mounted on /sys/fs/bpf: nosuid, nodev, noexec, mode 700" bpffs_mounted
tap_check "the pin directory and its parent were made, 700" pin_dirs_made
tap_check "bpffs there, nothing attached: status still says how to attach" no_balancer status
lab_agent_conf "$LAB_DIR/zdd.yaml"
tap_check "zdd-agent starts" lab_agent_start "$LAB_DIR/zdd.yaml"
sleep 1.5	# health checks rise
tap_check "the LB forwards (IPv4, IPv6)" forwards
tap_check "the agent's maps are pinned on the mounted bpffs" test -e "$LAB_PIN_DIR/lb/zdd_flow_sets"
tap_check "zdd-agent alone where bpffs is not mounted: mounts it, says so, serves" agent_mounts
tap_done
