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
tap_plan 4

dir=$(mktemp -d) || tap_bail "mktemp"
trap 'rm -rf "$dir"' EXIT

tap_check "zdd-bench --only main runs and every check passes" \
	"$BENCH" --only main --repeat 20000 --trials 5 -o "$dir/r.json"
tap_check "the JSON lists 18 cases with medians, minimums and ratios" \
	jq -e '(.cases | length) == 18 and .failures == 0 and
		all(.cases[]; .ns_median > 0 and .ns_min > 0 and .ns_min <= .ns_median and
			.ratio_to_floor > 0)' "$dir/r.json"
tap_check "the encap floors are the reference (ratio 1)" \
	jq -e '[.cases[] | select(.name | test("floor parse")) | .ratio_to_floor] == [1, 1]' \
	"$dir/r.json"
tap_check "Maglev and weight-change times are measured" \
	"$BENCH" --only times --quick -o "$dir/t.json" --bpfctl "$LAB_BPFCTL"

tap_done
