#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-fuzz.sh - a bounded libFuzzer run (ASan + UBSan) of each target in
# tests/fuzz, from its seed corpus: the YAML loader, the argument parsers and the agent's
# control requests. A crash, a leak, a timeout or a broken invariant is a failure, reported with
# its reproducer. Needs no lab; `make fuzz` runs the same targets for longer.
# env: OUT (build dir), FUZZ_SHORT_SECS (per target, default 10; the targets run side by side),
# CLANG. New corpus entries accumulate in $OUT/fuzz/corpus, so each run starts where the last
# one stopped.
set -uo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LAB_ROOT" || exit 2

OUT=${OUT:-.output}
SECS=${FUZZ_SHORT_SECS:-10}
CLANG=${CLANG:-clang}
DIR=$OUT/fuzz
TARGETS=(fuzz_conf fuzz_args fuzz_control)

command -v "$CLANG" >/dev/null || tap_skip_all "$CLANG is not installed"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# Debian's clang ships the libFuzzer runtime separately (libclang-rt-14-dev).
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' |
	"$CLANG" -x c -fsanitize=fuzzer,address,undefined - -o "$tmp/probe" >/dev/null 2>&1 ||
	tap_skip_all "$CLANG cannot link -fsanitize=fuzzer (the libclang-rt-*-dev package)"

tap_plan $((${#TARGETS[@]} + 1))

# The nested make must not inherit the suite's jobserver.
if ! env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory OUT="$OUT" CLANG="$CLANG" \
	fuzz-build >"$tmp/build.log" 2>&1; then
	tap_fail "the fuzz targets build" "$(tail -n 20 "$tmp/build.log")"
	for t in "${TARGETS[@]}"; do tap_fail "$t: not built"; done
	tap_done
fi
tap_ok "the fuzz targets build (clang, -fsanitize=fuzzer,address,undefined)"

pids=()
for t in "${TARGETS[@]}"; do
	mkdir -p "$DIR/corpus/$t" "$DIR/artifacts"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$DIR/$t" \
		-max_total_time="$SECS" -timeout=10 -print_final_stats=1 \
		-dict="tests/fuzz/$t.dict" -artifact_prefix="$DIR/artifacts/$t-" \
		"$DIR/corpus/$t" "tests/fuzz/corpus/$t" >"$tmp/$t.log" 2>&1 &
	pids+=($!)
done

for i in "${!TARGETS[@]}"; do
	t=${TARGETS[$i]}
	wait "${pids[$i]}"
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log")
	if ((rc == 0)); then
		tap_ok "$t: ${runs:-?} inputs in ${SECS} s, no crash, leak or broken invariant"
		continue
	fi
	# What broke, the first frames of the stack, and the input that did it.
	tap_fail "$t: failed (exit $rc) after ${runs:-?} inputs" \
		"$(grep -m1 -E "^$t: |^==[0-9]+==ERROR|runtime error|^SUMMARY" "$tmp/$t.log")" \
		"$(grep -m8 -E '^ +#[0-9]+ .*(tests/fuzz|userspace/(lib|agent))/' "$tmp/$t.log")" \
		"$(grep -E '^(Test unit written to|Base64:)|artifact_prefix' "$tmp/$t.log")" \
		"replay: $DIR/$t <that file>"
done
tap_done
