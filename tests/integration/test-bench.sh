#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-bench.sh - the harness of `make bench`, small: every per-packet case
# runs and passes its checks (verdict, output, counters) against the zdd_xdp_lb of this tree,
# and the JSON has what tools/bench/README.md promises. Numbers are not judged here.
set -uo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH="$LAB_OUT/zdd-bench"
lab_require_root
lab_require_cmd jq
[[ -x $BENCH ]] || lab_skip "zdd-bench not built (make)"
mountpoint -q /sys/fs/bpf || lab_skip "no bpffs on /sys/fs/bpf"
tap_plan 8

dir=$(mktemp -d) || tap_bail "mktemp"
stats=/proc/sys/kernel/bpf_stats_enabled
stats_was=$(cat "$stats" 2>/dev/null || echo 0)
trap 'echo "$stats_was" >"$stats" 2>/dev/null; rm -rf "$dir"' EXIT
[[ $stats_was == 0 ]] || tap_bail "kernel.bpf_stats_enabled is $stats_was: no honest figures"

# With bpf_stats on every run pays two clock reads: zdd-bench must refuse, print no ratio.
refused() {
	local rc
	echo 1 >"$stats" || return 1
	"$BENCH" --only main --repeat 1000 --trials 5 >"$dir/s.out" 2>"$dir/s.err"
	rc=$?
	echo 0 >"$stats"
	[[ $rc == 1 ]] && grep -q 'bpf_stats_enabled is 1' "$dir/s.err" &&
		! grep -q 'encap floor' "$dir/s.out"
}
tap_check "with kernel.bpf_stats_enabled = 1 zdd-bench refuses, exit 1, no ratio" refused

main_part() { "$BENCH" --only main --repeat 20000 --trials 5 -o "$dir/r.json" >"$dir/r.out"; }
tap_check "zdd-bench --only main runs and every check passes" main_part
# Every target line: ns median, its floor's ns, the ratio, the bound, met or NOT MET.
targets() {
	[[ $(grep -cE '^  v[46] .* +[0-9]+\.[0-9] +[0-9]+\.[0-9] +[0-9]+\.[0-9]{2}  <= [0-9]+ +(met|NOT MET)$' \
		"$dir/r.out") == 6 ]]
}
tap_check "the targets show ns, the floor's ns and the ratio, in both families" targets
tap_check "the table's floors show their ns" \
	grep -qE '^v[46] floor parse\+encap\+XDP_TX +[0-9]+\.[0-9] +[0-9]+\.[0-9] +1\.00$' "$dir/r.out"
tap_check "the JSON lists 20 cases with medians, minimums and ratios" \
	jq -e '(.cases | length) == 20 and .failures == 0 and
		all(.cases[]; .ns_median > 0 and .ns_min > 0 and .ns_min <= .ns_median and
			.ratio_to_floor > 0)' "$dir/r.json"
tap_check "the encap floors are the reference (ratio 1)" \
	jq -e '[.cases[] | select(.name | test("floor parse")) | .ratio_to_floor] == [1, 1]' \
	"$dir/r.json"
# --case: the named case and the floors its ratio needs, nothing else.
one_case() {
	"$BENCH" --only main --case 'v4 SYN, new flow' --repeat 20000 --trials 5 \
		-o "$dir/c.json" >/dev/null &&
		jq -e '[.cases[].name] | sort == ["v4 SYN, new flow (insert)",
			"v4 floor XDP_DROP", "v4 floor parse+encap+XDP_TX", "v6 floor XDP_DROP",
			"v6 floor parse+encap+XDP_TX"]' "$dir/c.json"
}
tap_check "--case runs the named case and the floors only" one_case
tap_check "Maglev and weight-change times are measured" \
	"$BENCH" --only times --quick -o "$dir/t.json" --bpfctl "$LAB_BPFCTL"

tap_done
