#!/bin/sh
# relay.sh: a store behind a shaped uplink (tests/site.sh: network namespaces, tc tbf): N terminals
# reached through a relay, a fresh release of random bytes pushed to all of them, directly
# (`push --no-relay`: each terminal's session goes through the relay as a jump host, so the bundle
# crosses the uplink N times) and through the relay (staged once in the relay's cache, fanned out on
# the site LAN by the relay's ssh), alternating within each round; wall time and bytes on the relay's
# uplink interface, every terminal's `current` checked after each run.  See bench/README.md ("Relay").
#
#   sh bench/relay.sh [N]          (default 20; needs root: network namespaces)
#
# Environment: FLEETCTL (default ./fleetctl; copied before the first run), ROUNDS (default 3),
# CASES (default "direct relay fanout"; fanout = a relay push of a release already in the relay's
# cache: the fan-out alone), RATE (tc rate of the uplink, default 32mbit = 4 MB/s), BUNDLE_MB
# (default 16: MB of random bytes in each release), RELAY_PARALLEL (default: unset, fleetctl's
# default relay_parallel), WARMUP (default 1: one unrecorded 1 MB push each way first), PARTS
# (default 1: after the rounds, the fan-out's parts alone, 3 runs each: the relay's logins, the
# stream, the terminals' unpack), BENCH_TMP (default /dev/shm), OUT (default
# bench/results/relay-N<N>.md; the raw runs go next to it as .times).
# Needs: root, ip, tc, jq, ssh-keygen, sha256sum, cmp, /usr/bin/time, a cgroup file system for the
# CPU of the relay and the terminals (without one the run goes on and says so).
set -u
ROUNDS=${ROUNDS:-3}
. "$(dirname "$0")/lib.sh"
SITE_TOP=$BENCH_ROOT
. "$BENCH_ROOT/tests/site.sh"

N=${1:-20}
case "$N" in '' | *[!0-9]* | 0) bench_err "N must be a positive number"; exit 2 ;; esac
CASES=${CASES:-direct relay fanout}
RATE=${RATE:-32mbit}
BUNDLE_MB=${BUNDLE_MB:-16}
RELAY_PARALLEL=${RELAY_PARALLEL:-}
WARMUP=${WARMUP:-1}
OUT=${OUT:-$BENCH_ROOT/bench/results/relay-N$N.md}
CLK_TCK=$(getconf CLK_TCK)

# tc's units: kbit, mbit, gbit are 10^3, 10^6, 10^9 bits per second
case "$RATE" in
*kbit) RATE_BPS=$((${RATE%kbit} * 1000 / 8)) ;;
*mbit) RATE_BPS=$((${RATE%mbit} * 1000000 / 8)) ;;
*gbit) RATE_BPS=$((${RATE%gbit} * 1000000000 / 8)) ;;
*) bench_err "RATE must be NNkbit, NNmbit or NNgbit (tc's units), not '$RATE'"; exit 2 ;;
esac

load_start=$(cat /proc/loadavg)
date_start=$(date -u '+%Y-%m-%d %H:%M UTC')
[ "$(id -u)" -eq 0 ] || { bench_err "needs root (network namespaces, tc)"; exit 1; }
bench_need ip tc jq ssh-keygen sha256sum cmp awk /usr/bin/time || exit 1
ip netns list >/dev/null 2>&1 || { bench_err "ip netns does not work here"; exit 1; }
[ -x "$FLEETCTL" ] || { bench_err "no fleetctl at $FLEETCTL (make fleetctl, or set FLEETCTL)"; exit 1; }

B=$(mktemp -d "${BENCH_TMP:-/dev/shm}/fleet-bench-relay-N$N.XXXXXX") || exit 1
SITE=$B/site
relay_bench_cleanup() {
	site_down "$SITE" >/dev/null 2>&1
	if [ -n "${CG:-}" ]; then
		# the killed sessions may take a moment to leave them
		i=0
		while [ "$i" -lt 50 ]; do
			rmdir "$CG/relay" "$CG/terminals" 2>/dev/null
			rmdir "$CG" 2>/dev/null && break
			sleep 0.1
			i=$((i + 1))
		done
	fi
	rm -rf "$B"
}
trap relay_bench_cleanup EXIT
trap 'exit 130' INT TERM HUP
# sshd reads authorized_keys below it as the login account
chmod 0755 "$B"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
unset SSH_AUTH_SOCK
# A copy: a rebuild of ./fleetctl during the run must not change what is measured.
cp -p "$FLEETCTL" "$B/fleetctl"
FLEETCTL_SRC=$FLEETCTL
FLEETCTL=$B/fleetctl
FLEETCTL_SHA=$(sha256sum "$FLEETCTL" | cut -c1-12)
# What the binary was built from, as far as the work tree tells: HEAD now, the last commit to the
# sources before the binary's mtime, source files changed after it, uncommitted changes
COMMIT=$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
BIN_MTIME=$(stat -c %Y "$FLEETCTL_SRC")
BIN_WHEN=$(date -u -d "@$BIN_MTIME" '+%Y-%m-%d %H:%M UTC')
SRC_COMMIT=$(git -C "$BENCH_ROOT" log -1 --format=%h --before="$(date -R -d "@$BIN_MTIME")" -- lib cmd fleetctl.c Makefile 2>/dev/null)
NEWER=$(cd "$BENCH_ROOT" && find lib cmd fleetctl.c Makefile -type f -newer "$FLEETCTL_SRC" 2>/dev/null | wc -l)
DIRTY=$(git -C "$BENCH_ROOT" status --porcelain --untracked-files=no -- lib cmd fleetctl.c Makefile 2>/dev/null | wc -l)
PROVENANCE="binary sha256 $FLEETCTL_SHA built $BIN_WHEN from the sources of ${SRC_COMMIT:-?} (the last commit to lib, cmd, fleetctl.c, Makefile before it)"
[ "$NEWER" -gt 0 ] && PROVENANCE="$PROVENANCE; **$NEWER source file(s) changed after the build**"
[ "$DIRTY" -gt 0 ] && PROVENANCE="$PROVENANCE; uncommitted changes in the sources"
PROVENANCE="$PROVENANCE; HEAD at the run $COMMIT"

: >"$B/times"
: >"$B/notes"

echo "bench: bringing up a relay and $N terminals behind a $RATE uplink" >&2
site_up "$SITE" "$N" "$RATE" || { bench_err "the site did not come up"; exit 1; }
INV=$SITE/fleet.ini
ACCOUNT=$(fleet_login_user) || exit 1
RELAY=$(head -n 1 "$SITE/names")
TERMS=$(sed 1d "$SITE/names")

# The relay's own key for its terminals (a key on the relay, never the controller's), its cache.
RKEY=$B/relaykey
RCACHE=$B/rcache
mkdir -p "$RKEY" "$RCACHE"
ssh-keygen -t ed25519 -N '' -q -C relay-key -f "$RKEY/id_ed25519" </dev/null || exit 1
cat "$RKEY/id_ed25519.pub" >>"$SITE/client/authorized_keys"
chown -R "$ACCOUNT:" "$RKEY" "$RCACHE"
chmod 755 "$RKEY"
{
	echo "relay_identity = $RKEY/id_ed25519"
	echo "relay_cache = $RCACHE"
	[ -n "$RELAY_PARALLEL" ] && echo "relay_parallel = $RELAY_PARALLEL"
} >>"$INV"
# relay_parallel and where it comes from, as fleetctl sees it
RELAY_PARALLEL_SHOWN=$(ip netns exec "$SITE_CTL" "$FLEETCTL" -i "$INV" hosts -l "$(echo "$TERMS" | head -n 1)" --explain 2>/dev/null |
    awk '$1 == "relay_parallel" { print $2 ($3 == "default" ? " (the default)" : "") }')

cpu_busy() {
	awk -v hz="$CLK_TCK" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# The site's CPU: the relay's sshd listener and the terminals' go into two CPU accounting cgroups
# (cgroup v1 cpuacct, else cgroup v2; accounting only, no limit), so everything they start is
# counted: on the relay its sshd sessions for the controller and its ssh client (handshakes,
# encryption of the fan-out, reading the cache); on the terminals sshd, the shells, sha256sum, gzip,
# tar.  (The listeners' cutime does not do: not every process of a session is waited for.)
CG=
site_cpu_init() {
	local root n p
	for root in /sys/fs/cgroup/cpuacct /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/unified /sys/fs/cgroup; do
		[ -d "$root" ] || continue
		[ -f "$root/cpuacct.usage" ] || [ -f "$root/cgroup.controllers" ] || continue
		mkdir "$root/fleet-bench-relay.$$" 2>/dev/null || continue
		CG=$root/fleet-bench-relay.$$
		mkdir "$CG/relay" "$CG/terminals" || { site_cpu_undo "$root"; continue; }
		for n in $(cat "$SITE/names"); do
			p=$(fleet_pid "$SITE" "$n") || { site_cpu_undo "$root"; break; }
			if [ "$n" = "$RELAY" ]; then
				echo "$p" >"$CG/relay/cgroup.procs" 2>/dev/null
			else
				echo "$p" >"$CG/terminals/cgroup.procs" 2>/dev/null
			fi || { site_cpu_undo "$root"; break; }
		done
		[ -n "$CG" ] && [ "$(site_cpu relay)" != - ] && [ "$(site_cpu terminals)" != - ] && return 0
		[ -n "$CG" ] && site_cpu_undo "$root"
	done
	bench_err "no CPU accounting cgroup: the site's CPU is not measured"
	return 1
}

# the listeners back into ROOT, the cgroups removed
site_cpu_undo() {
	local p g
	for g in relay terminals; do
		for p in $(cat "$CG/$g/cgroup.procs" 2>/dev/null); do
			echo "$p" >"$1/cgroup.procs" 2>/dev/null
		done
		rmdir "$CG/$g" 2>/dev/null
	done
	rmdir "$CG" 2>/dev/null
	CG=
}

# site_cpu relay|terminals: CPU seconds so far
site_cpu() {
	local v
	if [ -z "$CG" ]; then
		v=
	elif [ -f "$CG/$1/cpuacct.usage" ]; then
		v=$(awk '{ printf "%.3f\n", $1 / 1e9 }' "$CG/$1/cpuacct.usage")
	else
		v=$(awk '$1 == "usage_usec" { printf "%.3f\n", $2 / 1e6 }' "$CG/$1/cpu.stat" 2>/dev/null)
	fi
	echo "${v:--}"
}

# Wait (up to 10 s) until the run's sessions have ended on the relay and the terminals: only the
# listeners left in the cgroups, so all of the run's CPU is counted.
site_settle() {
	local i=0
	[ -n "$CG" ] || return 0
	while [ "$i" -lt 100 ]; do
		[ "$(wc -l <"$CG/relay/cgroup.procs")" -le 1 ] && [ "$(wc -l <"$CG/terminals/cgroup.procs")" -le "$N" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
}

# SSH logins so far: into the terminals (the relay's client, or the controller through the jump
# host) and into the relay (the controller's connections)
logins() {
	case "$1" in
	relay) grep -c 'Accepted publickey' "$SITE/$RELAY/sshd.log" ;;
	*) for n in $TERMS; do cat "$SITE/$n/sshd.log"; done | grep -c 'Accepted publickey' ;;
	esac
}

site_cpu_init

# calc FMT EXPR A B C: awk arithmetic on a, b, c; "-" if any operand is "-"
calc() {
	local fmt="$1" e="$2"
	shift 2
	case "$*" in *-*) echo "-"; return 0 ;; esac
	awk -v a="${1:-0}" -v b="${2:-0}" -v c="${3:-0}" "BEGIN { x = $e; printf \"$fmt\", x }"
}

json_summary() {
	grep '^{' "$1" | jq -c 'select(.summary == true)' 2>/dev/null | tail -n 1
}

# make_release TAG BYTES: $B/rel = BYTES fresh random bytes and a VERSION file; bundled into
# $B/rel.tar.gz; sets REL_ID, REL_BYTES, REL_SHA
make_release() {
	rm -rf "$B/rel" "$B/rel.tar.gz"
	mkdir -p "$B/rel"
	head -c "$2" /dev/urandom >"$B/rel/blob"
	printf 'version %s\n' "$1" >"$B/rel/VERSION"
	"$FLEETCTL" bundle "$B/rel" --version "$1" -o "$B/rel.tar.gz" --json >"$B/rel.json" 2>"$B/rel.err" ||
	    { bench_err "fleetctl bundle $1 failed: $(tail -n 2 "$B/rel.err")"; return 1; }
	REL_ID=$(jq -r .id "$B/rel.json")
	REL_BYTES=$(wc -c <"$B/rel.tar.gz")
	REL_SHA=$(sha256sum "$B/rel.tar.gz" | cut -d' ' -f1)
}

# verify CASE: every terminal's current is releases/$REL_ID with the blob byte for byte; the JSON
# says ok, the relay (or none), no delta, for every terminal; what the summary says was sent
verify() {
	local c="$1" n cur s want_relay bad=0 lines
	s=$(json_summary "$B/out")
	[ "$(echo "$s" | jq -r .ok)" = "$N" ] && [ "$(echo "$s" | jq -r .total)" = "$N" ] ||
	    { echo "verify: summary $s"; return 1; }
	case "$c" in direct) want_relay=null ;; *) want_relay="\"$RELAY\"" ;; esac
	lines=$(grep '^{' "$B/out" | jq -c "select(.summary != true and .state == \"ok\" and .relay == $want_relay and .delta == false and .release == \"$REL_ID\" and .uploaded == true)" | wc -l)
	[ "$lines" -eq "$N" ] || { echo "verify: $lines of $N terminals ok with relay=$want_relay, delta=false, uploaded"; bad=1; }
	for n in $TERMS; do
		cur=$(readlink "$SITE/$n/root/app/current")
		if [ "$cur" != "releases/$REL_ID" ]; then
			echo "verify: $n: current -> $cur, not releases/$REL_ID"
			bad=1
		elif ! cmp -s "$SITE/$n/root/app/current/blob" "$B/rel/blob" ||
		    ! cmp -s "$SITE/$n/root/app/current/VERSION" "$B/rel/VERSION"; then
			echo "verify: $n: the release's files differ"
			bad=1
		fi
	done
	# what the controller says it sent: the bundle N times, once, or nothing (already staged)
	sent=$(echo "$s" | jq -r .bytes_sent)
	relayed=$(echo "$s" | jq -r .bytes_relayed)
	case "$c" in
	direct) [ "$sent" = $((N * REL_BYTES)) ] && [ "$relayed" = 0 ] ;;
	relay) [ "$sent" = "$REL_BYTES" ] && [ "$relayed" = $((N * REL_BYTES)) ] ;;
	fanout) [ "$sent" = 0 ] && [ "$relayed" = $((N * REL_BYTES)) ] ;;
	esac || { echo "verify: summary bytes_sent $sent, bytes_relayed $relayed (bundle $REL_BYTES)"; bad=1; }
	if [ "$c" != direct ] && [ ! -f "$RCACHE/cache/b.$REL_SHA" ]; then
		echo "verify: the relay's cache has no b.$REL_SHA: $(ls "$RCACHE/cache" | tr '\n' ' ')"
		bad=1
	fi
	[ "$bad" -eq 0 ]
}

# measure CASE RECORD(0|1) MB: a fresh release, one timed push to the N terminals, the checks.
# Appends to $B/times: case round seconds ok uplink_bytes bundle_bytes sent_bytes site_cpu machine_cpu
# controller_cpu stage_s after_stage_s
measure() {
	local c="$1" rec="$2" bytes="$3" ver t0 t1 u0 u1 m0 m1 s0 s1 rc ok cc staged_at stage after
	ver=$4
	make_release "$ver" "$bytes" || return 1
	if [ "$c" = fanout ]; then
		# as the relay leaves it after staging (relay_stage: "$relay_cache/cache/b.<archive SHA-256>")
		install -d -o "$ACCOUNT" -m 700 "$RCACHE/cache" &&
		    install -o "$ACCOUNT" -m 600 "$B/rel.tar.gz" "$RCACHE/cache/b.$REL_SHA" ||
		    { bench_err "cannot pre-stage the bundle in the relay's cache"; return 1; }
	fi
	set --
	[ "$c" = direct ] && set -- --no-relay
	sync
	rm -f "$B/ctime"
	r0=$(site_cpu relay)
	p0=$(site_cpu terminals)
	l0=$(logins terminals)
	k0=$(logins relay)
	u0=$(site_uplink_bytes "$SITE")
	m0=$(cpu_busy)
	t0=$(bench_now)
	# the controller in its own namespace (the relay is all it can reach); `ip netns exec` execs
	# fleetctl, so /usr/bin/time gives fleetctl's own CPU
	/usr/bin/time -f '%U %S' -o "$B/ctime" ip netns exec "$SITE_CTL" "$FLEETCTL" -i "$INV" \
	    push "$B/rel.tar.gz" -l site -p "$N" "$@" --json >"$B/out" 2>&1 </dev/null
	rc=$?
	t1=$(bench_now)
	m1=$(cpu_busy)
	u1=$(site_uplink_bytes "$SITE")
	site_settle
	r1=$(site_cpu relay)
	p1=$(site_cpu terminals)
	l1=$(logins terminals)
	k1=$(logins relay)
	ok=1
	if [ "$rc" -ne 0 ]; then
		echo "verify: exit $rc" >>"$B/out"
		ok=0
	fi
	verify "$c" >>"$B/out" || ok=0
	# when the staged copy was checked and renamed into the cache (its ctime): staging before it,
	# the fan-out on the LAN after it
	stage=-
	after=-
	if [ "$c" = relay ] && [ -f "$RCACHE/cache/b.$REL_SHA" ]; then
		staged_at=$(stat -c %.9Z "$RCACHE/cache/b.$REL_SHA")
		stage=$(awk -v a="$t0" -v b="$staged_at" 'BEGIN { printf "%.3f", b - a }')
		after=$(awk -v a="$staged_at" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	fi
	cc=$(tail -n 1 "$B/ctime" 2>/dev/null | awk 'NF == 2 { printf "%.2f", $1 + $2 }')
	if [ "$ok" = 0 ]; then
		cp "$B/out" "$B/failed-$c-$ROUND"
		bench_err "$c (round $ROUND): run failed (exit $rc): $(grep -v '^{' "$B/out" | tail -n 3 | tr '\n' ' ' | cut -c1-300)"
		echo "$c round $ROUND failed (exit $rc): $(grep -v '^{' "$B/out" | tail -n 3 | tr '\n' ' ' | cut -c1-300)" >>"$B/notes"
	fi
	if [ "$rec" = 1 ]; then
		awk -v c="$c" -v r="$ROUND" -v a="$t0" -v b="$t1" -v ok="$ok" -v u="$((u1 - u0))" -v bb="$REL_BYTES" \
		    -v sent="$(json_summary "$B/out" | jq -r '.bytes_sent // 0')" -v s="$(calc %.2f "b - a + c" "$r0" "$r1" "$(calc %.3f "b - a" "$p0" "$p1")")" \
		    -v m="$(awk -v a="$m0" -v b="$m1" 'BEGIN { printf "%.2f", b - a }')" -v cc="${cc:-0}" -v st="$stage" -v af="$after" \
		    -v rc="$(calc %.2f "b - a" "$r0" "$r1")" -v pc="$(calc %.2f "b - a" "$p0" "$p1")" \
		    -v lt="$(calc %.2f "(b - a) / c" "$l0" "$l1" "$N")" -v lr="$(calc %.2f "(b - a) / c" "$k0" "$k1" "$N")" \
		    'BEGIN { printf "%s %s %.3f %s %s %s %s %s %s %s %s %s %s %s %s %s\n", c, r, b - a, ok, u, bb, sent, s, m, cc, st, af, rc, pc, lt, lr }' >>"$B/times"
		echo "bench: $c round $ROUND: $(tail -n 1 "$B/times" | cut -d' ' -f3-5) (s ok uplink bytes)" >&2
	fi
	[ "$ok" = 1 ]
}

BYTES=$((BUNDLE_MB * 1000000))
if [ "$WARMUP" = 1 ]; then
	ROUND=0
	measure relay 0 1000000 0.1 || { bench_err "warm-up relay push failed: $(grep -v '^{' "$B/out" | tail -n 5)"; exit 1; }
	measure direct 0 1000000 0.2 || { bench_err "warm-up direct push failed: $(grep -v '^{' "$B/out" | tail -n 5)"; exit 1; }
	: >"$B/notes"
fi
start=$(date +%s)
ROUND=1
while [ "$ROUND" -le "$ROUNDS" ]; do
	order=$(bench_rotate "$ROUND" $CASES)
	for c in $order; do
		measure "$c" 1 "$BYTES" "$ROUND.$c" || true
	done
	echo "bench: round $ROUND of $ROUNDS done ($(($(date +%s) - start)) s)" >&2
	ROUND=$((ROUND + 1))
done
elapsed=$(($(date +%s) - start))

# --- the fan-out's parts, each alone (the last release's bundle, relay_parallel terminals at a time) --
#
# login:  2 x N logins from the relay with its own ssh client and the options fleetctl gives it
#         (`ssh -T host true`): a relay push logs into each terminal twice (probe, deploy)
# login25519: the same with -o KexAlgorithms=curve25519-sha256 (what the logins would cost with
#         libssh2's key exchange instead of OpenSSH 9.2's default sntrup761x25519)
# stream: N x the bundle from the relay into `cat > /dev/null` on a terminal: login + cipher
# unpack: no ssh, on the terminals' side: N x (write the bundle, sha256sum it, gzip -dc | tar x),
#         what the deploy script does with the stream
# Each runs inside the cgroup of the side it belongs to (the relay's client in the relay's, the
# unpack in the terminals'); the sshd sessions on the terminals count in the terminals' as always.
PAR=${RELAY_PARALLEL:-$(echo "$RELAY_PARALLEL_SHOWN" | cut -d' ' -f1)}
case "$PAR" in '' | *[!0-9]*) PAR=10 ;; esac
RELAY_NS=$(site_ns "$SITE" "$RELAY")
for n in $TERMS; do cat "$SITE/$n/address"; done >"$B/addrs"
cat "$B/addrs" "$B/addrs" >"$B/addrs2"
# the options relay_command (lib/relay.c) gives the relay's ssh
SSH_RELAY="ssh -F none -T -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$SITE/client/known_hosts"
SSH_RELAY="$SSH_RELAY -o GlobalKnownHostsFile=/dev/null -o CheckHostIP=no -o UpdateHostKeys=no -o LogLevel=ERROR"
SSH_RELAY="$SSH_RELAY -o ConnectTimeout=10 -o IdentitiesOnly=yes -i $RKEY/id_ed25519 -p 22 -l $ACCOUNT"
cat >"$B/part_one.sh" <<PART
# part_one.sh PART ADDR
w=$B/work/\$2
case "\$1" in
login) exec $SSH_RELAY "\$2" true ;;
login25519) exec $SSH_RELAY -o KexAlgorithms=curve25519-sha256 "\$2" true ;;
stream) exec $SSH_RELAY "\$2" 'cat > /dev/null' <$B/rel.tar.gz ;;
unpack) mkdir -p "\$w/r" && cat $B/rel.tar.gz >"\$w/p" && sha256sum "\$w/p" >/dev/null && gzip -dc <"\$w/p" | tar -xf - -C "\$w/r" ;;
esac
PART
# in_cgroup GROUP CMD...: CMD inside the cgroup GROUP (relay or terminals), when there is one
in_cgroup() {
	local g="$1"
	shift
	if [ -n "$CG" ]; then
		# shellcheck disable=SC2016
		sh -c 'echo $$ >"$0" && exec "$@"' "$CG/$g/cgroup.procs" "$@"
	else
		"$@"
	fi
}
run_part() {
	rm -rf "$B/work"
	mkdir -p "$B/work"
	case "$1" in
	login | login25519) in_cgroup relay ip netns exec "$RELAY_NS" xargs -P "$PAR" -n 1 sh "$B/part_one.sh" "$1" <"$B/addrs2" ;;
	stream) in_cgroup relay ip netns exec "$RELAY_NS" xargs -P "$PAR" -n 1 sh "$B/part_one.sh" stream <"$B/addrs" ;;
	unpack) in_cgroup terminals xargs -P "$PAR" -n 1 sh "$B/part_one.sh" unpack <"$B/addrs" ;;
	esac
}
PART_CASES="login login25519 stream unpack"
if [ "${PARTS:-1}" = 1 ] && [ -f "$B/rel.tar.gz" ]; then
	for r in 1 2 3; do
		for p in $PART_CASES; do
			r0=$(site_cpu relay)
			p0=$(site_cpu terminals)
			t0=$(bench_now)
			run_part "$p" >"$B/out" 2>&1 </dev/null
			rc=$?
			t1=$(bench_now)
			site_settle
			r1=$(site_cpu relay)
			p1=$(site_cpu terminals)
			ok=1
			[ "$rc" -eq 0 ] || { ok=0; bench_err "part $p failed (exit $rc): $(tail -n 2 "$B/out" | tr '\n' ' ' | cut -c1-200)"; }
			awk -v c="part-$p" -v r="$r" -v a="$t0" -v b="$t1" -v ok="$ok" -v rc="$(calc %.2f "b - a" "$r0" "$r1")" \
			    -v pc="$(calc %.2f "b - a" "$p0" "$p1")" -v bb="$(wc -c <"$B/rel.tar.gz")" \
			    'BEGIN { printf "%s %s %.3f %s 0 %s 0 - - - - - %s %s - -\n", c, r, b - a, ok, bb, rc, pc }' >>"$B/times"
		done
	done
	rm -rf "$B/work"
	echo "bench: parts done" >&2
fi
load_end=$(cat /proc/loadavg)
leftover=$(ls -a "$RCACHE" "$RCACHE/cache" 2>/dev/null | grep -E '^kh\.|\.part$' | tr '\n' ' ')
[ -n "$leftover" ] && echo "left in the relay's cache directory after the runs: $leftover" >>"$B/notes"

# --- report ------------------------------------------------------------------------------------------

# median of field F of CASE's successful runs (3 s, 5 uplink, 6 bundle, 7 sent, 8 site CPU,
# 9 machine CPU, 10 controller CPU, 11 staging s, 12 after staging s, 13 relay CPU, 14 terminals' CPU,
# 15 logins into the terminals per terminal, 16 logins into the relay per terminal)
median_field() {
	bench_median_of "$1" "$2" 4
}
ok_count() {
	echo "$(awk -v c="$1" '$1 == c && $4 == 1' "$B/times" | wc -l)/$(awk -v c="$1" '$1 == c' "$B/times" | wc -l)"
}
verdict() {
	case "$1" in -) echo "n/a"; return 0 ;; esac
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? v >= l : v <= l; print ok ? "met" : "**MISSED**" }'
}
label() {
	case "$1" in
	direct) echo "direct: \`push --no-relay\` (each session through the relay as a jump host)" ;;
	relay) echo "**relay**: \`push\` (staged once in the relay's cache, fanned out by the relay's ssh)" ;;
	fanout) echo "relay, bundle already in the relay's cache (the fan-out alone)" ;;
	esac
}
part_label() {
	case "$1" in
	login) echo "$((2 * N)) logins from the relay with its ssh client, as fleetctl runs it (\`ssh -T TERMINAL true\`; a push logs in twice per terminal: probe, deploy)" ;;
	login25519) echo "the same $((2 * N)) logins with \`-o KexAlgorithms=curve25519-sha256\` (libssh2's key exchange) instead of OpenSSH 9.2's default sntrup761x25519" ;;
	stream) echo "the bundle from the relay into \`cat > /dev/null\` on each terminal (login + cipher)" ;;
	unpack) echo "no ssh, x $N: write the bundle, sha256sum, gzip -dc \\| tar x (the terminals' work on the stream)" ;;
	esac
}
mb() {
	case "$1" in -) echo "-" ;; *) awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }' ;; esac
}
# what had to cross the uplink in CASE: the bundle N times, once, or nothing
need() {
	case "$1" in
	direct) calc %.0f "a * b" "$N" "$bundle" ;;
	relay) echo "$bundle" ;;
	*) echo 0 ;;
	esac
}
# overhead per terminal over the uplink: (uplink - what had to cross) / N, in kB
over() {
	calc %.1f "(a - b) / c / 1000" "$1" "$2" "$N"
}

bundle=$(median_field relay 6)
[ "$bundle" = - ] && bundle=$(awk '$1 != "" { print $6; exit }' "$B/times")
t_direct=$(median_field direct 3)
t_relay=$(median_field relay 3)
t_fan=$(median_field fanout 3)
u_direct=$(median_field direct 5)
u_relay=$(median_field relay 5)
u_fan=$(median_field fanout 5)
st_relay=$(median_field relay 11)
af_relay=$(median_field relay 12)
floor_direct=$(calc %.1f "a * b / c" "$N" "$bundle" "$RATE_BPS")
floor_stage=$(calc %.1f "a / b" "$bundle" "$RATE_BPS")
r_time=$(calc %.2f "a / b" "$t_direct" "$t_relay")
r_bytes=$(calc %.4f "a / b" "$u_relay" "$bundle")
best_ratio=$(calc %.1f "a / (b + c)" "$floor_direct" "$floor_stage" "$t_fan")
fan_site=$(median_field fanout 8)
fan_relay=$(median_field fanout 13)
fan_terms=$(median_field fanout 14)

{
	echo "# relay benchmark, N=$N"
	echo
	echo "$date_start, $(nproc) cores, fleetctl copied from $FLEETCTL_SRC ($PROVENANCE)," \
	    "$(ssh -V 2>&1 | cut -d, -f1) on the relay and terminals, libssh2 $(pkg-config --modversion libssh2 2>/dev/null) on the controller." \
	    "tests/site.sh: the controller in its own network namespace, the relay ($RELAY) behind an uplink shaped with" \
	    "\`tc tbf rate $RATE burst 64kb latency 400ms\` ($RATE_BPS bytes/s), $N terminals on the relay's LAN (a bridge, not shaped)," \
	    "every sshd real OpenSSH, roots on a tmpfs; relay_parallel ${RELAY_PARALLEL_SHOWN:-?}; push -p $N." \
	    "Every run pushes a fresh release: $BUNDLE_MB MB of random bytes and a VERSION file, bundled with \`fleetctl bundle\` before the run" \
	    "(not timed; bundle $(mb "$bundle") MB), so no delta and nothing cached helps (\"delta\": false checked for every terminal)." \
	    "$ROUNDS rounds, cases alternating within each round (one unrecorded 1 MB warm-up push each way: $WARMUP);" \
	    "after every run each terminal's \`current\` must point at the new release and hold its files byte for byte (\`cmp\`)," \
	    "every terminal must be ok in the JSON with the expected relay, and the summary's bytes_sent/bytes_relayed must be the bundle N times / once / 0." \
	    "Uplink = bytes received on the relay's uplink interface (\`site_uplink_bytes\`: the controller-to-relay direction, SSH, TCP/IP and Ethernet headers included)." \
	    "CPU of the relay and of the terminals = everything their sshd listeners started (sessions, shells, the relay's ssh client," \
	    "sha256sum, gzip, tar), from CPU accounting cgroups holding the listeners (${CG:-none: not measured});" \
	    "controller CPU = fleetctl's user + system; machine CPU = the whole machine's busy CPU seconds during the run, other people's jobs included." \
	    "Logins = \"Accepted publickey\" lines in the sshd logs during the run, per terminal."
	echo
	echo "Load average (/proc/loadavg) at the start: \`$load_start\`; at the end: \`$load_end\`. Rounds took $elapsed s."
	echo
	echo "| case | median s | uplink MB | uplink / bundle | overhead per terminal, kB | relay CPU s | terminals' CPU s | controller CPU s | machine CPU s | logins per terminal (terminal, relay) | runs ok |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for c in $CASES; do
		u=$(median_field "$c" 5)
		echo "| $(label "$c") | $(median_field "$c" 3) | $(mb "$u") | $(calc %.3f "a / b" "$u" "$bundle") | $(over "$u" "$(need "$c")") |" \
		    "$(median_field "$c" 13) | $(median_field "$c" 14) | $(median_field "$c" 10) | $(median_field "$c" 9) |" \
		    "$(median_field "$c" 15), $(median_field "$c" 16) | $(ok_count "$c") |"
	done
	echo
	echo "Relay runs split at the moment the staged copy was checked and renamed into the relay's cache (its ctime):" \
	    "staging (connect, the first terminal's probe, upload over the uplink, SHA-256 on the relay) median $st_relay s," \
	    "then the fan-out on the LAN median $af_relay s."
	echo
	echo "| target (from the issue) | value | |"
	echo "|---|---|---|"
	echo "| relay uplink bytes <= 1.05 x one bundle | $r_bytes x ($(mb "$u_relay") MB for a $(mb "$bundle") MB bundle) | $(verdict "$r_bytes" '<=' 1.05) |"
	echo "| relay time at least 10x better than direct | $r_time x ($t_direct s / $t_relay s) | $(verdict "$r_time" '>=' 10) |"
	echo
	echo "What limits each:"
	echo
	echo "- **direct**: the uplink. $N x $(mb "$bundle") MB at $RATE_BPS bytes/s is a floor of $floor_direct s;" \
	    "measured $t_direct s ($(calc %.2f "a / b" "$t_direct" "$floor_direct") x the floor), $(mb "$u_direct") MB over the uplink" \
	    "($(calc %.3f "a / b / c" "$u_direct" "$N" "$bundle") x N bundles)."
	echo "- **relay**: one bundle over the uplink (floor $floor_stage s; staging measured $st_relay s) plus the fan-out on the LAN," \
	    "which on this machine is the simulated site's CPU on its $(nproc) cores: the fan-out alone (bundle already cached) took $t_fan s" \
	    "and $fan_site CPU s on the site ($(calc %.2f "a / b" "$fan_site" "$t_fan") cores), $fan_relay s of it on the relay and $fan_terms s on the terminals." \
	    "Floor + fan-out = $(calc %.1f "a + b" "$floor_stage" "$t_fan") s, measured $t_relay s; the best ratio this machine allows is then" \
	    "$floor_direct / ($floor_stage + $t_fan) = $best_ratio x."
	echo "- Overhead per terminal over the uplink (uplink bytes minus the bundle, / $N): $(over "$u_relay" "$bundle") kB in a relay push;" \
	    "$(over "$u_fan" 0) kB when the bundle is already cached (the controller's connection to the relay per terminal, the probe and deploy" \
	    "scripts, TCP/IP headers and ACKs); direct: $(over "$u_direct" "$(need direct)") kB per terminal above the $N bundles."
	echo
	echo "Every run (s, uplink bytes, bytes_sent of the summary, CPU s, staging s, after staging s, logins per terminal):"
	echo
	echo "| round | case | s | ok | uplink bytes | bytes_sent | relay CPU | terminals' CPU | controller CPU | machine CPU | staging s | after staging s | logins (terminal, relay) |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	awk '$1 !~ /^part-/ { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s, %s |\n", $2, $1, $3, $4, $5, $7, $13, $14, $10, $9, $11, $12, $15, $16 }' "$B/times"
	if grep -q '^part-' "$B/times"; then
		echo
		echo "## The fan-out's parts, each alone (N=$N, $PAR at a time as relay_parallel, the last bundle, 3 runs)"
		echo
		echo "| part | median s | relay CPU s | terminals' CPU s | runs ok |"
		echo "|---|---|---|---|---|"
		for p in $PART_CASES; do
			echo "| $(part_label "$p") | $(median_field "part-$p" 3) | $(median_field "part-$p" 13) | $(median_field "part-$p" 14) | $(ok_count "part-$p") |"
		done
	fi
	bench_notes
} >"$B/report.md"

mkdir -p "$(dirname "$OUT")"
cp "$B/report.md" "$OUT"
{
	echo "# case round seconds ok uplink_bytes bundle_bytes bytes_sent site_cpu_s machine_cpu_s controller_cpu_s staging_s after_staging_s relay_cpu_s terminals_cpu_s terminal_logins_per_terminal relay_logins_per_terminal"
	cat "$B/times"
} >"${OUT%.md}.times"
for f in "$B"/failed-*; do
	[ -e "$f" ] && cp "$f" "${OUT%.md}.$(basename "$f").log"
done
cat "$B/report.md"
echo >&2
echo "bench: written $OUT (raw runs in ${OUT%.md}.times)" >&2
