# lib.sh: shared helpers for fleetctl's benchmark scripts (bench/exec.sh, bench/push.sh).  Sourced, not run.
#
#   bench_init N [TAG]           checks, temp dir $B on a tmpfs, fleet of N terminals at $B/fleet, the trap
#   bench_peer_files             ssh configs, hosts list, Ansible inventory for the peers (see below)
#   bench_floor_build            compile bench/floor.c to $B/floor (sets FLOOR)
#   bench_case NAME CHECK CMD... run CMD once, timed; CHECK (a function, given the output file, the exit
#                                status and N) says whether the run really succeeded; appends one line
#                                "NAME seconds ok(0|1) maxrss_kb" to $B/times (maxrss: what CMD left in
#                                $B/rss, e.g. with bench_rss; else 0)
#   bench_rss CMD...             run CMD under /usr/bin/time, its peak RSS (KiB) into $B/rss
#   bench_median NAME            median seconds of NAME's successful runs ("-" when none)
#   bench_row NAME REF           one markdown table row: NAME | median | ratio to REF's median | runs ok
#
# Layout under $B/fleet (from tests/fleet.sh): fleet.ini, client/{id_ed25519,known_hosts}, names, tNN/port.
# bench_peer_files adds: ssh_config (one Host block per terminal, nothing else), ssh_config.kex (the same
# plus KexAlgorithms curve25519-sha256), hosts (one name a line), inventory.ini (Ansible).
#
# Environment: FLEETCTL (default ./fleetctl), BENCH_TMP (default /dev/shm), ROUNDS (default 5).

BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
FLEETCTL=${FLEETCTL:-$BENCH_ROOT/fleetctl}
ROUNDS=${ROUNDS:-5}

bench_err() {
	echo "bench: $*" >&2
}

bench_cleanup() {
	if [ -n "${B:-}" ] && [ -d "$B" ]; then
		sh "$BENCH_ROOT/tests/fleet.sh" down "$B/fleet" >/dev/null 2>&1
		rm -rf "$B"
	fi
}

# bench_need CMD...: fail early, naming the Debian package, when a tool is missing.
bench_need() {
	local c missing=""
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	if [ -n "$missing" ]; then
		bench_err "missing:$missing (sh scripts/deps.sh --bench installs them)"
		return 1
	fi
}

bench_init() {
	N=$1
	case "$N" in '' | *[!0-9]* | 0) bench_err "N must be a positive number"; return 2 ;; esac
	[ -x "$FLEETCTL" ] || { bench_err "no fleetctl at $FLEETCTL (make fleetctl, or set FLEETCTL)"; return 1; }
	B=$(mktemp -d "${BENCH_TMP:-/dev/shm}/fleet-bench-${2:-run}.XXXXXX") || return 1
	trap 'bench_cleanup' EXIT
	# sshd reads authorized_keys below it as the login account
	chmod 0755 "$B"
	trap 'exit 130' INT TERM
	# one descriptor per connection on each side, and a few per ssh process
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	: >"$B/times"
	sh "$BENCH_ROOT/tests/fleet.sh" up "$B/fleet" "$N" --groups none || { bench_err "fleet did not come up"; return 1; }
	FLEET=$B/fleet
	USER_LOGIN=$(sed -n 's/^user = //p' "$FLEET/fleet.ini")
}

bench_peer_files() {
	local n
	while read -r n; do
		printf 'Host %s\n\tHostName 127.0.0.1\n\tPort %s\n\tUser %s\n\tIdentityFile %s\n\tUserKnownHostsFile %s\n\tStrictHostKeyChecking yes\n' \
		    "$n" "$(cat "$FLEET/$n/port")" "$USER_LOGIN" "$FLEET/client/id_ed25519" "$FLEET/client/known_hosts"
	done <"$FLEET/names" >"$B/ssh_config"
	{
		echo "KexAlgorithms curve25519-sha256"
		cat "$B/ssh_config"
	} >"$B/ssh_config.kex"
	cp "$FLEET/names" "$B/hosts"
	{
		echo "[fleet]"
		cat "$FLEET/names"
	} >"$B/inventory.ini"
	# host:port pairs for the floor program
	while read -r n; do
		echo "127.0.0.1:$(cat "$FLEET/$n/port")"
	done <"$FLEET/names" >"$B/hostports"
}

bench_floor_build() {
	FLOOR=$B/floor
	${CC:-gcc} -std=c17 -D_GNU_SOURCE -O2 -pthread -o "$FLOOR" "$BENCH_ROOT/bench/floor.c" \
	    $(pkg-config --cflags --libs libssh2) || { bench_err "cannot build bench/floor.c"; return 1; }
}

bench_rss() {
	/usr/bin/time -f '%M' -o "$B/rss" "$@"
}

bench_now() {
	date +%s.%N
}

# bench_case NAME CHECK CMD...
bench_case() {
	local name="$1" check="$2" t0 t1 rc ok rss
	shift 2
	rm -f "$B/rss"
	t0=$(bench_now)
	"$@" >"$B/out" 2>&1 </dev/null
	rc=$?
	t1=$(bench_now)
	rss=$(tail -n 1 "$B/rss" 2>/dev/null)
	case "$rss" in '' | *[!0-9]*) rss=0 ;; esac
	if "$check" "$B/out" "$rc" "$N"; then
		ok=1
	else
		ok=0
		cp "$B/out" "$B/failed-$(echo "$name" | tr -c 'A-Za-z0-9\n' '_')"
		bench_err "$name: run failed (exit $rc): $(tail -n 2 "$B/out" | tr '\n' ' ' | cut -c1-200)"
	fi
	awk -v n="$name" -v a="$t0" -v b="$t1" -v ok="$ok" -v rss="$rss" \
	    'BEGIN { printf "%s %.3f %s %s\n", n, b - a, ok, rss }' >>"$B/times"
	[ "$ok" = 1 ]
}

# Lines of a case's record: the field F (2 seconds, 3 ok, 4 rss) of every run of NAME.
bench_field() {
	awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$B/times"
}

bench_median() {
	awk -v n="$1" '$1 == n && $3 == 1 { print $2 }' "$B/times" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "-"; exit }
			if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]
			else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# bench_median_of NAME F OKF: the median of field F over NAME's runs whose field OKF is 1 ("-" skipped).
bench_median_of() {
	awk -v n="$1" -v f="$2" -v k="$3" '$1 == n && $k == 1 && $f != "-" { print $f }' "$B/times" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "-"; exit }
			if (NR % 2) print v[(NR + 1) / 2]
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# bench_rotate ROUND WORD...: the words rotated by ROUND - 1, so each round starts with another case.
bench_rotate() {
	local r="$1"
	shift
	echo "$@" | awk -v r="$r" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }'
}

# The "Notes from the run" part of a report, when $B/notes has any.
bench_notes() {
	if [ -s "$B/notes" ]; then
		echo
		echo "Notes from the run:"
		echo
		sed 's/^/- /' "$B/notes"
	fi
}

bench_ok_count() {
	local runs ok
	runs=$(bench_field "$1" 3 | wc -l)
	ok=$(bench_field "$1" 3 | grep -c '^1$')
	echo "$ok/$runs"
}

bench_max_rss_mib() {
	bench_field "$1" 4 | sort -n | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }'
}

# bench_ratio A B: A / B with two decimals, "-" if either is missing
bench_ratio() {
	case "$1$2" in *-*) echo "-"; return 0 ;; esac
	echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f\n", $1 / $2; else print "-" }'
}

# bench_row LABEL NAME REF
bench_row() {
	local m r
	m=$(bench_median "$2")
	r=$(bench_ratio "$m" "$(bench_median "$3")")
	echo "| $1 | $m | $r | $(bench_ok_count "$2") |"
}

# bench_count_lines FILE PATTERN: lines of FILE matching the fixed string PATTERN
bench_count_lines() {
	grep -cF -- "$2" "$1" 2>/dev/null || true
}
