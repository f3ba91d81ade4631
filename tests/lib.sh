# lib.sh: sourced by every e2e test (tests/e2e/*.sh) with  . "$(dirname "$0")/../lib.sh"
#
#   t_setup                    private directory $T under /tmp, removed (fleet stopped) at exit;
#                              T_KEEP=1 keeps it for a look afterwards
#   fleet_up K [--groups SPEC] real sshd terminals t01..tK: sets FLEET (their directory) and INV
#                              (FLEET/fleet.ini); see tests/fleet.sh for the layout
#   fleet_down                 stop them (also done at exit)
#   fleet_stop_one "$FLEET" t03 / fleet_start_one "$FLEET" t03 / fleet_rekey_one "$FLEET" t03
#   t_ssh t03 CMD...           run CMD on a terminal with the real OpenSSH client
#   pass NAME / fail NAME WHY  print "PASS: NAME" / "FAIL: NAME (WHY)" and count
#   run CMD...                 run it; T_RC, T_STDOUT, T_STDERR, T_OUT (both) hold the result
#   must_fail CMD...           true when CMD exits 1..125 (not a crash, not a signal)
#   expect_exit N CMD...       true when CMD exits N
#   expect_output ERE CMD...   true when stdout+stderr match ERE (grep -E) and CMD did not crash
#                              All three run CMD through `run`, are false when a sanitizer reported
#                              anything, and leave the reason in T_WHY (details on stdout as "# " lines).
#   t_check NAME HELPER ARGS.. pass NAME if `HELPER ARGS..` is true, else fail NAME "$T_WHY"
#   t_done                     exit 1 if anything failed
#
# FLEETCTL is the binary under test: $FLEETCTL_BIN, else build/test/fleetctl (sanitized).

T_TOP=$(cd "$(dirname "$0")/../.." && pwd)
FLEET_SH_LIB=1
. "$T_TOP/tests/fleet.sh"

FLEETCTL=${FLEETCTL_BIN:-$T_TOP/build/test/fleetctl}
# LeakSanitizer works in this sandbox and in CI (checked): leaks fail the test.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$T_TOP/tests/lsan.supp:print_suppressions=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
# No agent, no user ssh config from the environment of whoever runs the tests.
unset SSH_AUTH_SOCK FLEETCTL_INVENTORY

T=""
FLEET=""
INV=""
T_PASSED=0
T_FAILED=0
T_RC=0
T_OUT=""
T_STDOUT=""
T_STDERR=""
T_WHY=""

t_cleanup() {
	if [ -n "$FLEET" ]; then
		fleet_down_dir "$FLEET"
	fi
	if [ "${T_KEEP:-0}" = 1 ]; then
		echo "# kept $T"
		return 0
	fi
	case "$T" in
	/tmp/fleetctl-test.*) rm -rf "$T" ;;
	esac
}

t_setup() {
	T=$(mktemp -d /tmp/fleetctl-test.XXXXXX) || exit 1
	# Terminals log in as another account: it must be able to reach its files below $T.
	chmod 0755 "$T"
	trap t_cleanup EXIT
	trap 'exit 130' INT TERM HUP
}

fleet_up() {
	FLEET=$T/fleet
	if ! fleet_up_dir "$FLEET" "$@"; then
		fail fleet_up "the test fleet did not come up"
		exit 1
	fi
	INV=$FLEET/fleet.ini
}

fleet_down() {
	if [ -n "$FLEET" ]; then
		fleet_down_dir "$FLEET"
	fi
}

t_ssh() {
	local n="$1"
	shift
	fleet_ssh "$FLEET" "$n" "$@"
}

pass() {
	echo "PASS: $1"
	T_PASSED=$((T_PASSED + 1))
}

fail() {
	echo "FAIL: $1 (${2:-})"
	T_FAILED=$((T_FAILED + 1))
}

# Show what a command did, as "# " lines (capped), after a check on it failed.
t_diag() {
	echo "# \$ $T_CMD"
	echo "# exit $T_RC"
	printf '%s\n' "$T_OUT" | head -n 30 | sed 's/^/# /'
}

run() {
	T_CMD="$*"
	"$@" >"$T/.stdout" 2>"$T/.stderr" </dev/null
	T_RC=$?
	T_STDOUT=$(cat "$T/.stdout")
	T_STDERR=$(cat "$T/.stderr")
	T_OUT=$(cat "$T/.stdout" "$T/.stderr")
	T_SAN=0
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|AddressSanitizer|UndefinedBehaviorSanitizer' "$T/.stderr"; then
		T_SAN=1
	fi
	return 0
}

# Common verdict: a sanitizer report, a death by signal (128+N, except when it is the status the
# caller expects) and "not runnable" (126, 127) are always failures; 255 (ssh's error) is not.
t_sane() {
	if [ "$T_SAN" = 1 ]; then
		T_WHY="sanitizer report"
		t_diag
		return 1
	fi
	if [ "$T_RC" -gt 125 ] && [ "$T_RC" -ne 255 ] && [ "$T_RC" -ne "${1:--1}" ]; then
		T_WHY="exit $T_RC (crash, signal or not runnable)"
		t_diag
		return 1
	fi
	return 0
}

must_fail() {
	run "$@"
	t_sane || return 1
	if [ "$T_RC" -eq 0 ]; then
		T_WHY="exited 0, expected a failure"
		t_diag
		return 1
	fi
	return 0
}

expect_exit() {
	local want="$1"
	shift
	run "$@"
	t_sane "$want" || return 1
	if [ "$T_RC" -ne "$want" ]; then
		T_WHY="exit $T_RC, expected $want"
		t_diag
		return 1
	fi
	return 0
}

expect_output() {
	local pat="$1"
	shift
	run "$@"
	t_sane || return 1
	if ! printf '%s\n' "$T_OUT" | grep -qE -- "$pat"; then
		T_WHY="output does not match '$pat'"
		t_diag
		return 1
	fi
	return 0
}

t_check() {
	local name="$1"
	shift
	T_WHY="false"
	if "$@"; then
		pass "$name"
	else
		fail "$name" "$T_WHY"
	fi
}

t_done() {
	echo "# $T_PASSED passed, $T_FAILED failed"
	[ "$T_FAILED" -eq 0 ] || exit 1
	exit 0
}

# ---- Helpers the e2e tests share -----------------------------------------------------------------
#   fl ARGS..                  fleetctl with the test's inventory ($FL_INV when set, else $INV)
#   hj HOST JQ / sj JQ         a field of the last `run`'s --json output: one host's object / the summary
#   link TNN [COMP]            what the terminal's COMP (app) current points at
#   commits                    commits on the history's main ($HIST)
#   names FROM TO              "tFROM ... tTO " as fleet_up spells the terminals (two digits)
#   sshd_sessions LISTENER_PID the sshd processes serving that terminal's sessions (not the listener):
#                              killing them is that terminal's link going down
#   t_rel TAG                  a small release tree in $T/rel whose content depends on TAG
#   t_push_cut TNN ARCHIVE     push ARCHIVE to TNN (--json into $T/cut.json, stderr $T/cut.err) and cut that
#                              terminal's link once its partial upload passes 1 MB: CUTAT (bytes seen, 0 if
#                              never), CUTRC (the push's exit status)
#   term_start TNN             start a stopped terminal again (on a free port, the inventory and known_hosts
#                              following, when another process took its port meanwhile)
#   wait_pid PID SECONDS       wait for a background job, bounded; kill it when it overstays (false then)
fl() {
	"$FLEETCTL" -i "${FL_INV:-$INV}" "$@"
}

hj() {
	printf '%s\n' "$T_STDOUT" | jq -r "select(.host == \"$1\") | $2"
}

sj() {
	printf '%s\n' "$T_STDOUT" | jq -r "select(.summary == true) | $1"
}

link() {
	readlink "$FLEET/$1/root/${2:-app}/current"
}

commits() {
	git -C "$HIST" rev-list --count main 2>/dev/null || echo 0
}

names() {
	local i=$1 out=""
	while [ "$i" -le "$2" ]; do
		out="$out$(printf 't%02d' "$i") "
		i=$((i + 1))
	done
	printf '%s' "$out"
}

sshd_sessions() {
	local p
	for p in $(fleet_tree "$1" | grep -vx "$1"); do
		{ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q '^sshd: ' && echo "$p"
	done | tr '\n' ' '
}

t_rel() {
	rm -rf "$T/rel"
	mkdir -p "$T/rel/bin"
	printf '#!/bin/sh\necho %s\n' "$1" >"$T/rel/bin/run"
	chmod 755 "$T/rel/bin/run"
	printf 'version %s\n' "$1" >"$T/rel/VERSION"
}

t_push_cut() {
	local i=0 s="" lpid sess="" pid
	lpid=$(fleet_pid "$FLEET" "$1")
	fl push "$2" -l "$1" --json >"$T/cut.json" 2>"$T/cut.err" </dev/null &
	pid=$!
	CUTAT=0
	while [ "$i" -lt 1500 ]; do
		# The sessions exist from the probe on: learn their PIDs before the upload starts.
		[ -n "$sess" ] || sess=$(sshd_sessions "$lpid")
		s=$(stat -c %s "$FLEET/$1"/root/app/.fleet/incoming/*.partial 2>/dev/null | head -n 1)
		if [ -n "$s" ] && [ "$s" -gt 1000000 ]; then
			kill -KILL $sess $(sshd_sessions "$lpid") 2>/dev/null
			CUTAT=$s
			break
		fi
		i=$((i + 1))
		sleep 0.005
	done
	wait "$pid"
	CUTRC=$?
}

# While a terminal was down another process (another test's fleet, an outgoing connection's ephemeral
# port) may have taken its port: then it moves to a free one.  Only while no fleetctl runs.
term_start() {
	fleet_start_one "$FLEET" "$1" 2>/dev/null && return 0
	grep -q 'Cannot bind' "$FLEET/$1/sshd.log" || return 1
	fleet_write_sshd_config "$FLEET" "$1" "$(fleet_free_ports 1)"
	awk -v h="[host:$1]" -v p="port = $(cat "$FLEET/$1/port")" \
	    '/^\[/ { inh = ($0 == h) } inh && /^port = / { print p; next } { print }' "$INV" >"$INV.tmp" &&
	    mv "$INV.tmp" "$INV"
	while read -r n; do fleet_known_hosts_line "$FLEET" "$n"; done <"$FLEET/names" >"$FLEET/client/kh.tmp" &&
	    mv "$FLEET/client/kh.tmp" "$FLEET/client/known_hosts"
	fleet_start_one "$FLEET" "$1"
}

wait_pid() {
	local i=0
	while kill -0 "$1" 2>/dev/null && [ "$i" -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 1
	fi
	wait "$1"
}
