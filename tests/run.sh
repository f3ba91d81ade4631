#!/bin/sh
# run.sh: run fleetctl's tests and count PASS:/FAIL: lines.
#
#   BUILD=build sh tests/run.sh [-v] [--unit] [FILTER...]
#
# Runs every unit test binary $BUILD/test/unit/test_*, every fuzz corpus replay $BUILD/test/fuzz/replay_x
# (on tests/fuzz/corpus/x), then every tests/e2e/*.sh (alphabetical), each under `timeout` ($T_TIMEOUT
# seconds, default 600).  FILTER keeps only the files whose name (unit/test_x, fuzz/replay_x, e2e/x.sh, or
# as a path tests/e2e/x.sh) contains one of the FILTER strings.  A file that exits non-zero without a
# FAIL line (crash, timeout, error) counts as one failure named after it.  Prints the failures, each
# file's log path, and as its last line "N passed, N failed"; exits 1 if anything failed.
# -v prints every file's whole output.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
mkdir -p "$BUILD/test" || exit 1
BUILD=$(cd "$BUILD" && pwd)
LOGS=$BUILD/test/logs
mkdir -p "$LOGS" || exit 1
T_TIMEOUT=${T_TIMEOUT:-600}

verbose=0
unit_only=0
filters=""
for a in "$@"; do
	case "$a" in
	-v) verbose=1 ;;
	--unit) unit_only=1 ;;
	-h | --help)
		sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	tests/*) filters="$filters ${a#tests/}" ;;   # a path works too: tests/e2e/rollout.sh
	*) filters="$filters $a" ;;
	esac
done

FLEETCTL_BIN=${FLEETCTL_BIN:-$BUILD/test/fleetctl}
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp:print_suppressions=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export FLEETCTL_BIN ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

passed=0
failed=0

wanted() {
	[ -z "$filters" ] && return 0
	for f in $filters; do
		case "$1" in *"$f"*) return 0 ;; esac
	done
	return 1
}

# run_one LABEL CMD...: run, count, report.
run_one() {
	label=$1
	shift
	log=$LOGS/$(echo "$label" | tr '/' '_').log
	start=$(date +%s)
	timeout -k 10 "$T_TIMEOUT" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(($(date +%s) - start))
	np=$(grep -c '^PASS: ' "$log")
	nf=$(grep -c '^FAIL: ' "$log")
	extra=0
	why=""
	if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
		extra=1
		case "$rc" in
		124 | 137) why="timed out after ${T_TIMEOUT}s" ;;
		*) why="exit $rc without a FAIL line" ;;
		esac
	fi
	passed=$((passed + np))
	failed=$((failed + nf + extra))
	if [ "$verbose" = 1 ]; then
		echo "=== $label"
		cat "$log"
	fi
	if [ "$nf" -gt 0 ] || [ "$extra" -gt 0 ]; then
		echo "FAIL $label: $np passed, $((nf + extra)) failed (${secs}s), log $log"
		# The failures and the diagnostics the e2e helpers print, not the whole log.
		grep -E '^(FAIL: |# )' "$log" | head -n 60 | sed 's/^/    /'
		if [ "$extra" -gt 0 ]; then
			echo "    FAIL: $label ($why)"
			tail -n 15 "$log" | sed 's/^/    | /'
		fi
	else
		echo "ok   $label: $np passed (${secs}s)"
	fi
}

# A unit test whose source has no binary was not built: that is a failure, not a silent skip.
for src in tests/unit/test_*.c; do
	[ -f "$src" ] || continue
	label=unit/$(basename "$src" .c)
	wanted "$label" || continue
	if [ ! -x "$BUILD/test/unit/$(basename "$src" .c)" ]; then
		echo "FAIL $label: not built (make BUILD=$BUILD $BUILD/test/unit/$(basename "$src" .c))"
		failed=$((failed + 1))
	fi
done

for bin in "$BUILD"/test/unit/test_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	label=unit/$(basename "$bin")
	wanted "$label" || continue
	run_one "$label" "$bin"
done

# Each fuzz harness tests/fuzz/fuzz_x.c has a replay binary, run over its corpus (tests/fuzz/replay.c).
for src in tests/fuzz/fuzz_*.c; do
	[ -f "$src" ] || continue
	name=$(basename "$src" .c | sed 's/^fuzz_//')
	label=fuzz/replay_$name
	wanted "$label" || continue
	if [ -x "$BUILD/test/fuzz/replay_$name" ]; then
		run_one "$label" "$BUILD/test/fuzz/replay_$name" "tests/fuzz/corpus/$name"
	else
		echo "FAIL $label: not built (make BUILD=$BUILD $BUILD/test/fuzz/replay_$name)"
		failed=$((failed + 1))
	fi
done

if [ "$unit_only" = 0 ]; then
	for t in tests/e2e/*.sh; do
		[ -f "$t" ] || continue
		label=e2e/$(basename "$t")
		wanted "$label" || continue
		if head -n 1 "$t" | grep -q bash; then
			run_one "$label" bash "$t"
		else
			run_one "$label" sh "$t"
		fi
	done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
