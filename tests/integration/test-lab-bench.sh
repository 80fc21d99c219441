#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-lab-bench.sh - the lab half of `make bench`, quick: every balancer and
# mode is measured, each forwarded packets, every wrk row answered without an error, and the
# JSON has what tools/bench/README.md promises. Numbers are not judged here (a noisy VM).
set -uo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCRIPT="$(dirname "${BASH_SOURCE[0]}")/../../tools/bench/lab-throughput.sh"
lab_require_root
lab_require_cmd jq nft conntrack haproxy wrk
[[ -x $LAB_OUT/zdd-pktgen ]] || lab_skip "zdd-pktgen not built (make)"
mountpoint -q /sys/fs/bpf || lab_skip "no bpffs on /sys/fs/bpf"
tap_plan 7

dir=$(mktemp -d) || tap_bail "mktemp"
trap 'rm -rf "$dir"' EXIT
stats_before=$(sysctl -n kernel.bpf_stats_enabled)

tap_check "lab-throughput.sh --quick runs to the end" \
	env OUT="$LAB_OUT" LAB_PREFIX=ztl "$SCRIPT" --quick -o "$dir/lab.json"
tap_check "packets: ceiling, zdd and nftables x shared, split x syn, ack, udp" \
	jq -e '[.results[] | "\(.config) \(.layout) \(.mode)"] | unique | length == 18' "$dir/lab.json"
tap_check "every cell forwarded packets" \
	jq -e 'all(.results[]; .forwarded_pps > 0 and .generated_pps >= .forwarded_pps * 0.99)' \
	"$dir/lab.json"
tap_check "x ceiling: zdd's from paired windows, every shared cell's a ratio, split's null" \
	jq -e 'all(.results[]; if .layout == "shared" then .x_ceiling > 0 else .x_ceiling == null end)
		and all(.results[] | select(.config == "zdd" and .layout == "shared");
			(.x_ceiling_pairs | length) == 1)' "$dir/lab.json"
tap_check "requests: zdd, haproxy, nftables, direct x keep-alive, close; 0 errors" \
	jq -e '(.wrk | length) == 8 and all(.wrk[]; .req_s > 0 and .errors == 0 and (.failed | not))' \
	"$dir/lab.json"
tap_check "the XDP programs' own ns/packet, per mode" \
	jq -e '[.xdp_prog_ns[][] | tonumber] | length == 6 and all(. > 0)' "$dir/lab.json"
tap_check "BPF statistics are as they were before the run" \
	test "$(sysctl -n kernel.bpf_stats_enabled)" = "$stats_before"

tap_done
