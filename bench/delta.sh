#!/bin/sh
# delta.sh: put release 2 (release 1 with 1% of its files replaced) on N local terminals that hold
# release 1, with fleetctl's delta push, fleetctl's full push (--no-delta), rsync --link-dest and a
# tar | gzip | ssh stream, alternating within each round; time it, count the bytes, check every
# terminal's `current` afterwards.  See bench/README.md ("Delta push").
#
#   sh bench/delta.sh [N]         (default 50)
#
# Environment: FLEETCTL (default ./fleetctl; copied before the first run), ROUNDS (default 3),
# METHODS (default "delta link full rsync stream"; link = delta with --hardlink), FILES (1000), FILE_BYTES (20000), DIRS (20),
# CHANGED (default FILES / 100), WARMUP (default 1: one unrecorded run of every method first),
# SAMPLE (3: terminals whose whole tree is hashed after each run; all are counted), PARTS (default 1:
# time the parts a push is made of, 3 runs each, after the rounds),
# OUT (default bench/results/delta-N<N>.md; the raw runs go next to it as .times).
# Needs: rsync, openssh-client, tar, gzip, jq, sha256sum, shuf, time.
set -u
ROUNDS=${ROUNDS:-3}
. "$(dirname "$0")/lib.sh"

n_arg=${1:-50}
METHODS=${METHODS:-delta link full rsync stream}
FILES=${FILES:-1000}
FILE_BYTES=${FILE_BYTES:-20000}
DIRS=${DIRS:-20}
CHANGED=${CHANGED:-$((FILES / 100))}
WARMUP=${WARMUP:-1}
SAMPLE=${SAMPLE:-3}
PARTS=${PARTS:-1}
LO=/sys/class/net/lo/statistics/tx_bytes

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
bench_need rsync ssh tar gzip jq sha256sum shuf awk cmp /usr/bin/time || exit 1
[ -r "$LO" ] || { bench_err "no $LO: cannot count the bytes on the loopback interface"; exit 1; }
bench_init "$n_arg" "delta-N$n_arg" || exit 1
OUT=${OUT:-$BENCH_ROOT/bench/results/delta-N$N.md}
unset SSH_AUTH_SOCK
# A copy: a rebuild of ./fleetctl during the run must not change what is measured.
cp "$FLEETCTL" "$B/fleetctl"
FLEETCTL=$B/fleetctl
FLEET_INI=$FLEET/fleet.ini
CLK_TCK=$(getconf CLK_TCK)
: >"$B/cpu"
: >"$B/notes"

# name port root, one terminal a line (what the rsync and stream workers get from xargs)
while read -r n; do
	echo "$n $(cat "$FLEET/$n/port") $FLEET/$n/root"
done <"$FLEET/names" >"$B/targets"

# --- the releases ------------------------------------------------------------------------------------

# Release 1: FILES files of FILE_BYTES random bytes in DIRS directories, plus a script.
R1=$B/r1
i=0
while [ "$i" -lt "$FILES" ]; do
	d=$(printf 'd%02d' $((i % DIRS)))
	mkdir -p "$R1/$d"
	head -c "$FILE_BYTES" /dev/urandom >"$R1/$d/f$(printf %04d "$i").bin"
	i=$((i + 1))
done
printf '#!/bin/sh\n# start the kiosk application\nexec "$(dirname "$0")/d00/f0000.bin" "$@"\n' >"$R1/run.sh"
chmod 0755 "$R1/run.sh"
(cd "$R1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$B/r1.files"
NFILES=$(wc -l <"$B/r1.files")
"$FLEETCTL" bundle "$R1" --version 1.0 -o "$B/r1.tar.gz" --json >"$B/r1.json" || { bench_err "fleetctl bundle r1 failed"; exit 1; }
R1_ID=$(jq -r .id "$B/r1.json")
R1_BYTES=$(wc -c <"$B/r1.tar.gz")

json_summary() {
	grep '^{' "$1" | jq -c 'select(.summary == true)' 2>/dev/null | tail -n 1
}

# Every terminal gets release 1 (untimed): the base every measured run starts from.
"$FLEETCTL" -i "$FLEET_INI" push "$B/r1.tar.gz" -p "$N" --json >"$B/out" 2>&1 </dev/null
if [ "$(json_summary "$B/out" | jq -r .ok)" != "$N" ]; then
	bench_err "push of release 1 failed: $(tail -n 3 "$B/out" | cut -c1-300)"
	exit 1
fi
# rsync's quick check compares size and mtime: give the client's release 1 the mtimes the terminals'
# copy has (an admin who deploys with rsync -a has them the same, rsync put them there).
T01R1=$FLEET/$(head -n 1 "$FLEET/names")/root/app/releases/$R1_ID
while read -r f; do
	touch -r "$T01R1/$f" "$R1/$f"
done <"$B/r1.files"

# make_r2 TAG: $B/r2 = release 1 with CHANGED files (chosen afresh) given new random bytes
make_r2() {
	rm -rf "$B/r2"
	cp -a "$R1" "$B/r2"
	shuf -n "$CHANGED" "$B/r1.files" >"$B/changed"
	while read -r f; do
		head -c "$FILE_BYTES" /dev/urandom >"$B/r2/$f"
	done <"$B/changed"
	(cd "$B/r2" && LC_ALL=C sort "$B/r1.files" | xargs sha256sum) >"$B/r2.sums"
}

# --- verifying ---------------------------------------------------------------------------------------

# changed_ok DIR: the changed files of release 2 in DIR, byte for byte
changed_ok() {
	local f
	while read -r f; do
		cmp -s "$1/$f" "$B/r2/$f" || return 1
	done <"$B/changed"
}

# verify DIR: every terminal's current is releases/DIR, holds NFILES files (the manifest aside), the
# changed files byte for byte, an executable run.sh; SAMPLE terminals: every file's SHA-256.
verify() {
	local n c bad=0 cnt
	while read -r n; do
		c=$FLEET/$n/root/app/current
		if [ "$(readlink "$c")" != "releases/$1" ]; then
			echo "verify: $n: current -> $(readlink "$c"), not releases/$1"
		else
			cnt=$(find "$c/" -type f ! -name .fleetctl-manifest | wc -l)
			if [ "$cnt" -ne "$NFILES" ]; then
				echo "verify: $n: $cnt files, not $NFILES"
			elif ! changed_ok "$c"; then
				echo "verify: $n: a changed file differs"
			elif [ ! -x "$c/run.sh" ]; then
				echo "verify: $n: run.sh not executable"
			else
				continue
			fi
		fi
		bad=$((bad + 1))
	done <"$FLEET/names" >>"$B/out"
	[ "$bad" -eq 0 ] || return 1
	for n in $(shuf -n "$SAMPLE" "$FLEET/names"); do
		if ! (cd "$FLEET/$n/root/app/current/" && xargs sha256sum <"$B/r1.files") | cmp -s - "$B/r2.sums"; then
			echo "verify: $n: SHA-256 of the tree differs from release 2" >>"$B/out"
			return 1
		fi
	done
}

# --- runners -----------------------------------------------------------------------------------------

# The workers get: name port root.  Plain OpenSSH, the same key file and known_hosts as fleetctl.
cat >"$B/ssh_env" <<EOF
KEY=$FLEET/client/id_ed25519
KH=$FLEET/client/known_hosts
LOGIN=$USER_LOGIN
SRC=$B/r2
R1=$R1_ID
STATS=$B/rsync-stats
EOF

cat >"$B/rsync_one.sh" <<'EOF'
. "$(dirname "$0")/ssh_env"
e="ssh -i $KEY -p $2 -o UserKnownHostsFile=$KH -o StrictHostKeyChecking=yes -o BatchMode=yes"
rsync -a --stats --link-dest="../$R1" -e "$e" "$SRC/" "$LOGIN@127.0.0.1:$3/app/releases/$R2/" >"$STATS/$1" &&
    $e "$LOGIN@127.0.0.1" "cd '$3/app' && ln -sfn 'releases/$R2' current.tmp && mv -T current.tmp current"
EOF

cat >"$B/stream_one.sh" <<'EOF'
. "$(dirname "$0")/ssh_env"
tar -cf - -C "$SRC" . | gzip -1 |
    ssh -i "$KEY" -p "$2" -o UserKnownHostsFile="$KH" -o StrictHostKeyChecking=yes -o BatchMode=yes "$LOGIN@127.0.0.1" \
    "cd '$3/app' && mkdir -p 'releases/$R2' && gzip -dc | tar -xf - -C 'releases/$R2' && ln -sfn 'releases/$R2' current.tmp && mv -T current.tmp current"
EOF

# back on release 1, the run's directory removed (rsync and stream runs; untimed)
cat >"$B/reset_one.sh" <<'EOF'
. "$(dirname "$0")/ssh_env"
ssh -i "$KEY" -p "$2" -o UserKnownHostsFile="$KH" -o StrictHostKeyChecking=yes -o BatchMode=yes "$LOGIN@127.0.0.1" \
    "cd '$3/app' && ln -sfn 'releases/$R1' current.tmp && mv -T current.tmp current && rm -rf 'releases/$R2'"
EOF

# Each under /usr/bin/time: the client's CPU seconds (fleetctl's own; for the peers xargs and everything
# it started: rsync, ssh, tar, gzip) go to $B/ctime.
ctime() {
	/usr/bin/time -f '%U %S' -o "$B/ctime" "$@"
}

run_delta() {
	ctime "$FLEETCTL" -i "$FLEET_INI" push "$B/r2.tar.gz" -p "$N" --json
}

run_link() {
	ctime "$FLEETCTL" -i "$FLEET_INI" push "$B/r2.tar.gz" -p "$N" --hardlink --json
}

run_full() {
	ctime "$FLEETCTL" -i "$FLEET_INI" push "$B/r2.tar.gz" -p "$N" --no-delta --json
}

run_rsync() {
	R2=$R2_DIR ctime xargs -P "$N" -L 1 sh "$B/rsync_one.sh" <"$B/targets"
}

run_stream() {
	R2=$R2_DIR ctime xargs -P "$N" -L 1 sh "$B/stream_one.sh" <"$B/targets"
}

# --- checks: the run's output in $B/out, its exit status $1 ------------------------------------------

# every terminal ok; DELTA (true/false): what every terminal's "delta" must say
check_fleetctl() {
	local want="$2" s
	[ "$1" -eq 0 ] || { echo "check: exit $1" >>"$B/out"; return 1; }
	s=$(json_summary "$B/out")
	[ "$(echo "$s" | jq -r .ok)" = "$N" ] || { echo "check: summary $s" >>"$B/out"; return 1; }
	grep '^{' "$B/out" | jq -c 'select(.summary != true and .delta_fallback != null) | {host, delta_fallback}' >"$B/fallbacks"
	if [ -s "$B/fallbacks" ]; then
		echo "$CASE round $ROUND: $(wc -l <"$B/fallbacks") fallback(s): $(head -n 3 "$B/fallbacks" | tr '\n' ' ')" >>"$B/notes"
	fi
	[ "$(grep '^{' "$B/out" | jq -c "select(.summary != true and .state == \"ok\" and .delta == $want)" | wc -l)" -eq "$N" ] ||
	    { echo "check: not every terminal has delta=$want" >>"$B/out"; return 1; }
	verify "$R2_DIR"
}

check_peer() {
	[ "$1" -eq 0 ] || { echo "check: exit $1" >>"$B/out"; return 1; }
	verify "$R2_DIR"
}

cpu_busy() {
	awk -v hz="$CLK_TCK" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# measure METHOD RECORD(0|1): a fresh release 2, one timed run, the checks, back on release 1.
# Appends to $B/times: METHOD seconds ok(0|1) loopback_bytes payload_bytes cpu_seconds client_cpu_seconds
measure() {
	local m="$1" rec="$2" ver t0 t1 l0 l1 c0 c1 rc ok payload cc
	CASE=$m
	ver=2.$ROUND.$m
	make_r2
	case "$m" in
	delta | link | full)
		t0=$(bench_now)
		"$FLEETCTL" bundle "$B/r2" --version "$ver" -o "$B/r2.tar.gz" --json >"$B/r2.json" ||
		    { bench_err "fleetctl bundle $ver failed"; return 1; }
		t1=$(bench_now)
		[ "$rec" = 1 ] && awk -v a="$t0" -v b="$t1" 'BEGIN { printf "bundle %.3f 1 0 0 0 0\n", b - a }' >>"$B/times"
		R2_DIR=$(jq -r .id "$B/r2.json")
		;;
	*)
		R2_DIR=$ver
		rm -rf "$B/rsync-stats"
		mkdir -p "$B/rsync-stats"
		;;
	esac
	sync
	rm -f "$B/ctime"
	l0=$(cat "$LO")
	c0=$(cpu_busy)
	t0=$(bench_now)
	"run_$m" >"$B/out" 2>&1 </dev/null
	rc=$?
	t1=$(bench_now)
	c1=$(cpu_busy)
	l1=$(cat "$LO")
	case "$m" in
	delta | link) check_fleetctl "$rc" true ;;
	full) check_fleetctl "$rc" false ;;
	*) check_peer "$rc" ;;
	esac
	if [ $? -eq 0 ]; then ok=1; else ok=0; fi
	case "$m" in
	delta | link | full) payload=$(json_summary "$B/out" | jq -r '.bytes_sent // 0') ;;
	rsync) payload=$(cat "$B/rsync-stats"/* 2>/dev/null | sed -n 's/^Total bytes sent: //p' | tr -d ', ' |
	    awk '{ s += $1 } END { print s + 0 }') ;;
	stream) payload=$(($(tar -cf - -C "$B/r2" . | gzip -1 | wc -c) * N)) ;;
	esac
	if [ "$ok" = 0 ]; then
		cp "$B/out" "$B/failed-$m-$ROUND"
		bench_err "$m (round $ROUND): run failed (exit $rc): $(grep -v '^{' "$B/out" | tail -n 3 | tr '\n' ' ' | cut -c1-300)"
		echo "$m round $ROUND failed (exit $rc): $(grep -v '^{' "$B/out" | tail -n 3 | tr '\n' ' ' | cut -c1-300)" >>"$B/notes"
	fi
	cc=$(tail -n 1 "$B/ctime" 2>/dev/null | awk 'NF == 2 { printf "%.2f", $1 + $2 }')
	if [ "$rec" = 1 ]; then
		awk -v n="$m" -v a="$t0" -v b="$t1" -v ok="$ok" -v l="$((l1 - l0))" -v p="$payload" -v c0="$c0" -v c1="$c1" -v cc="${cc:-0}" \
		    'BEGIN { printf "%s %.3f %s %s %s %.2f %s\n", n, b - a, ok, l, p, c1 - c0, cc }' >>"$B/times"
		case "$m" in
		delta) grep '^{' "$B/out" | jq -r 'select(.summary != true) | .files_reused' | sort -n | uniq -c |
		    awk -v r="$ROUND" '{ printf "round %s: %s terminal(s) reused %s files\n", r, $1, $2 }' >>"$B/reuse" ;;
		rsync) cat "$B/rsync-stats"/* | sed -n 's/^Number of regular files transferred: //p' | sort | uniq -c |
		    awk -v r="$ROUND" '{ printf "round %s: %s terminal(s) got %s files\n", r, $1, $2 }' >>"$B/rsync-files" ;;
		esac
	fi
	# back on release 1 (untimed)
	case "$m" in
	delta | link | full)
		"$FLEETCTL" -i "$FLEET_INI" push "$B/r1.tar.gz" -p "$N" --json >"$B/out.reset" 2>&1 </dev/null
		s=$(json_summary "$B/out.reset")
		if [ "$(echo "$s" | jq -r .ok)" != "$N" ] || [ "$(echo "$s" | jq -r .bytes_sent)" != 0 ]; then
			echo "reset after $m round $ROUND (fleetctl push r1 again): $s" >>"$B/notes"
			bench_err "reset after $m: $s"
		fi
		;;
	*)
		R2=$R2_DIR xargs -P "$N" -L 1 sh "$B/reset_one.sh" <"$B/targets" >"$B/out.reset" 2>&1 ||
		    { bench_err "reset after $m failed: $(tail -n 2 "$B/out.reset")"; echo "reset after $m round $ROUND failed" >>"$B/notes"; }
		;;
	esac
	[ "$ok" = 1 ]
}

# --- the rounds --------------------------------------------------------------------------------------

: >"$B/times"
: >"$B/reuse"
: >"$B/rsync-files"
if [ "$WARMUP" = 1 ]; then
	ROUND=0
	for m in $METHODS; do
		measure "$m" 0 || bench_err "warm-up $m failed"
	done
	: >"$B/notes"
fi
start=$(date +%s)
ROUND=1
while [ "$ROUND" -le "$ROUNDS" ]; do
	order=$(bench_rotate "$ROUND" $METHODS)
	for m in $order; do
		measure "$m" 1 || true
	done
	echo "bench: round $ROUND of $ROUNDS done ($(($(date +%s) - start)) s)" >&2
	ROUND=$((ROUND + 1))
done
elapsed=$(($(date +%s) - start))

# --- the parts of a push, each alone (same N, same release) ------------------------------------------
#
# conn:     fleetctl exec -- true: connect, handshake, auth, one exec (a push does two execs)
# cipher:   release 1's bundle over OpenSSH into `cat > /dev/null` on every terminal, with the algorithms
#           libssh2 1.10 picks (curve25519-sha256, aes128-ctr, hmac-sha2-256): handshakes + transport crypto
# assemble: no ssh, N at once: what a delta does on a terminal besides unpacking its small archive:
#           copy release 1 into a new directory (cp -p) and check every file (sha256sum -c)
# sums:     no ssh, N at once: sha256sum -c of release 1's files only
# fullwork: no ssh, N at once: what a full push does on a terminal (write the bundle, sha256sum it,
#           gzip -dc | tar x; fleetctl does the three in one pass, this does them one after another)
# gzip:     no ssh, N at once: the stream's client side (tar -c | gzip -1 > /dev/null of release 2)
(cd "$R1" && xargs sha256sum <"$B/r1.files") >"$B/r1.sums"
cat >"$B/part_one.sh" <<'EOF'
. "$(dirname "$0")/ssh_env"
w=$WORK/$1
case "$PART" in
cipher) exec ssh -i "$KEY" -p "$2" -o UserKnownHostsFile="$KH" -o StrictHostKeyChecking=yes -o BatchMode=yes \
    -o KexAlgorithms=curve25519-sha256 -o Ciphers=aes128-ctr -o MACs=hmac-sha2-256 "$LOGIN@127.0.0.1" 'cat > /dev/null' <"$BUNDLE1" ;;
assemble) mkdir -p "$w" && cp -pR "$REL1" "$w/r" && cd "$w/r" && sha256sum -c --quiet "$SUMS1" ;;
sums) cd "$REL1" && sha256sum -c --quiet "$SUMS1" ;;
fullwork) mkdir -p "$w/r" && cat "$BUNDLE1" >"$w/p" && sha256sum "$w/p" >/dev/null && gzip -dc <"$w/p" | tar -xf - -C "$w/r" ;;
gzip) tar -cf - -C "$SRC" . | gzip -1 >/dev/null ;;
esac
EOF

run_part() {
	rm -rf "$B/work"
	mkdir -p "$B/work"
	if [ "$1" = conn ]; then
		"$FLEETCTL" -i "$FLEET_INI" exec -p "$N" --no-record -- true
	else
		PART=$1 WORK=$B/work BUNDLE1=$B/r1.tar.gz REL1=$R1 SUMS1=$B/r1.sums xargs -P "$N" -L 1 sh "$B/part_one.sh" <"$B/targets"
	fi
}

PART_CASES="conn cipher assemble sums fullwork gzip"
if [ "$PARTS" = 1 ]; then
	for r in 1 2 3; do
		for p in $PART_CASES; do
			c0=$(cpu_busy)
			t0=$(bench_now)
			run_part "$p" >"$B/out" 2>&1 </dev/null
			rc=$?
			t1=$(bench_now)
			c1=$(cpu_busy)
			ok=1
			[ "$rc" -eq 0 ] || { ok=0; bench_err "part $p failed (exit $rc): $(tail -n 2 "$B/out" | tr '\n' ' ' | cut -c1-200)"; }
			awk -v n="part-$p" -v a="$t0" -v b="$t1" -v ok="$ok" -v c0="$c0" -v c1="$c1" \
			    'BEGIN { printf "%s %.3f %s 0 0 %.2f 0\n", n, b - a, ok, c1 - c0 }' >>"$B/times"
		done
	done
	rm -rf "$B/work"
fi

# --- report ------------------------------------------------------------------------------------------

# median of field F (2 s, 4 loopback bytes, 5 payload bytes, 6 CPU s, 7 client CPU s) of METHOD's successful runs
median_field() {
	bench_median_of "$1" "$2" 3
}

mb() {
	case "$1" in -) echo "-" ;; *) awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }' ;; esac
}

ratio3() {
	case "$1$2" in *-*) echo "-"; return 0 ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print "-" }'
}

verdict() {
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		if (v == "-") { print "n/a"; exit }
		ok = (op == ">=") ? v >= l : (op == "<") ? v < l : v <= l
		print ok ? "met" : "MISSED" }'
}

label() {
	case "$1" in
	delta) echo "**fleetctl push** (delta: unchanged files cp'd on the terminal)" ;;
	link) echo "fleetctl push --hardlink (delta: unchanged files hard-linked, as rsync --link-dest)" ;;
	full) echo "fleetctl push --no-delta (the whole bundle)" ;;
	rsync) echo "rsync -a --link-dest (unchanged files hard-linked), then ssh switch" ;;
	stream) echo "stream: tar \| gzip -1 \| ssh 'gzip -dc \| tar x && switch'" ;;
	esac
}

part_label() {
	case "$1" in
	conn) echo "connect + one exec (fleetctl exec -- true)" ;;
	cipher) echo "release 1's bundle over OpenSSH into cat > /dev/null (libssh2's algorithms)" ;;
	assemble) echo "no ssh, x N: cp -pR release 1 + sha256sum -c of every file (a delta's terminal work)" ;;
	sums) echo "no ssh, x N: sha256sum -c of every file only" ;;
	fullwork) echo "no ssh, x N: write bundle, sha256sum, gzip -dc \\| tar x (a full push's terminal work)" ;;
	gzip) echo "no ssh, x N: tar -c \\| gzip -1 > /dev/null (the stream's client work)" ;;
	esac
}

for m in delta link full rsync stream; do
	eval "t_$m=\$(median_field $m 2) lo_$m=\$(median_field $m 4) p_$m=\$(median_field $m 5)"
done
# shellcheck disable=SC2154
{
	r_bytes_p=$(ratio3 "$p_delta" "$p_full")
	r_bytes_lo=$(ratio3 "$lo_delta" "$lo_full")
	r_time=$(ratio3 "$t_delta" "$t_full")
	r_rsync=$(ratio3 "$t_rsync" "$t_delta")
	r_link=$(ratio3 "$t_link" "$t_full")
	r_rsync_link=$(ratio3 "$t_rsync" "$t_link")
	r_stream=$(ratio3 "$t_stream" "$t_full")
}
pct() {
	case "$1" in -) echo "-" ;; *) awk -v r="$1" 'BEGIN { printf "%.2f%%", r * 100 }' ;; esac
}
two() {
	case "$1" in -) echo "-" ;; *) awk -v r="$1" 'BEGIN { printf "%.2f", r }' ;; esac
}
{
	echo "# delta push benchmark, N=$N"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(ssh -V 2>&1 | cut -d, -f1), $(rsync --version | head -n 1 | cut -d' ' -f1-4)," \
	    "libssh2 $(pkg-config --modversion libssh2 2>/dev/null), terminals' roots on a tmpfs." \
	    "Release 1: $NFILES files, $(du -sm "$R1" | cut -f1) MiB ($FILES x $FILE_BYTES random bytes in $DIRS directories, a script);" \
	    "bundle $(mb "$R1_BYTES") MB. Release 2 of every run: release 1 with $CHANGED files given new random bytes (chosen and written afresh for every run," \
	    "a new version each time), pushed to N terminals on release 1, parallelism $N." \
	    "$ROUNDS rounds, methods alternating within each round (one unrecorded warm-up run of each: $WARMUP);" \
	    "after every run each terminal's \`current\` is checked (link, file count, the changed files byte for byte; $SAMPLE terminals: SHA-256 of every file)," \
	    "then every terminal is put back on release 1, untimed." \
	    "Median of the successful runs. Loopback = bytes counted on \`lo\` (tx_bytes) during the run: both directions, SSH and TCP/IP included," \
	    "and whatever else used lo meanwhile. Payload = fleetctl's \`bytes_sent\` (summary), rsync's \"Total bytes sent\" (sum), the gzip -1 stream's size x N." \
	    "CPU s = the whole machine's busy CPU seconds during the run (client and terminals); client CPU s = user + system of the client command" \
	    "(fleetctl; for rsync and the stream xargs and all it started), the rest is the terminals' sshd and shells and the kernel." \
	    "Load average before the fleet came up: $load_start; rounds took $elapsed s."
	echo
	echo "| method | median s | loopback MB | payload MB | CPU s | client CPU s | runs ok |"
	echo "|---|---|---|---|---|---|---|"
	for m in $METHODS; do
		echo "| $(label "$m") | $(median_field "$m" 2) | $(mb "$(median_field "$m" 4)") | $(mb "$(median_field "$m" 5)") | $(median_field "$m" 6) | $(median_field "$m" 7) | $(bench_ok_count "$m") |"
	done
	echo
	echo "Not in the fleetctl times: \`fleetctl bundle\` of release 2, median $(two "$(median_field bundle 2)") s (once per release, not per terminal)."
	echo
	echo "| ratio | value | target | |"
	echo "|---|---|---|---|"
	echo "| delta bytes / full bytes (payload) | $(pct "$r_bytes_p") | < 2% | $(verdict "$r_bytes_p" '<' 0.02) |"
	echo "| delta bytes / full bytes (loopback) | $(pct "$r_bytes_lo") | < 2% | $(verdict "$r_bytes_lo" '<' 0.02) |"
	echo "| delta time / full time | $(two "$r_time") | <= 0.25 | $(verdict "$r_time" '<=' 0.25) |"
	echo "| rsync time / delta time | $(two "$r_rsync") | >= 1.5 | $(verdict "$r_rsync" '>=' 1.5) |"
	echo "| stream time / full time | $(two "$r_stream") | >= 1.2 | $(verdict "$r_stream" '>=' 1.2) |"
	echo "| --hardlink delta time / full time | $(two "$r_link") | (<= 0.25) | $(verdict "$r_link" '<=' 0.25) |"
	echo "| rsync time / --hardlink delta time | $(two "$r_rsync_link") | (>= 1.5) | $(verdict "$r_rsync_link" '>=' 1.5) |"
	echo
	if [ -s "$B/reuse" ]; then
		echo "fleetctl delta, files reused per terminal: $(paste -sd';' "$B/reuse" | sed 's/;/; /g')."
	fi
	if [ -s "$B/rsync-files" ]; then
		echo "rsync, regular files transferred per terminal: $(paste -sd';' "$B/rsync-files" | sed 's/;/; /g')."
	fi
	if [ "$PARTS" = 1 ]; then
		echo
		echo "## The parts, measured alone (same N, release 1, 3 runs)"
		echo
		echo "| part | median s | CPU s | runs ok |"
		echo "|---|---|---|---|"
		for p in $PART_CASES; do
			echo "| $(part_label "$p") | $(median_field "part-$p" 2) | $(median_field "part-$p" 6) | $(bench_ok_count "part-$p") |"
		done
	fi
	bench_notes
} >"$B/report.md"

mkdir -p "$(dirname "$OUT")"
cp "$B/report.md" "$OUT"
{
	echo "# method seconds ok loopback_bytes payload_bytes cpu_seconds client_cpu_seconds (bundle: fleetctl bundle of release 2; part-*: the parts)"
	cat "$B/times"
} >"${OUT%.md}.times"
for f in "$B"/failed-*; do
	[ -e "$f" ] && cp "$f" "$(dirname "$OUT")/delta-N$N.$(basename "$f").log"
done
cat "$B/report.md"
echo >&2
echo "bench: written $OUT (raw runs in ${OUT%.md}.times)" >&2
