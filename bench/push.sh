#!/bin/sh
# push.sh: put one release (18 MiB of incompressible data, 200 small text files, a script) on N local
# terminals with fleetctl push and with the tools an operator would otherwise script it with, all at
# parallelism N, alternating, and check every terminal's `current` afterwards.  See bench/README.md.
#
#   sh bench/push.sh N            (N = 50, 200, ...)
#
# Environment: FLEETCTL (default ./fleetctl; copied before the first run), ROUNDS (default 3),
# PEERS (default "pscp clush ansible xargs"), ANSIBLE_ROUNDS (default ROUNDS, 1 when N > 100: Ansible
# takes minutes per run there), PARTS (default 1: time the parts a push is made of), BIG (default 1 when
# N <= 50: fleetctl's peak RSS with a 200 MB bundle, terminals' roots on disk), BIG_MB (200),
# OUT (default bench/results/push-N<N>.md).
# Needs: parallel-ssh, clustershell, ansible, openssh-client, openssh-sftp-server, jq, time.
set -u
ROUNDS=${ROUNDS:-3}
. "$(dirname "$0")/lib.sh"

n_arg=${1:-}
PEERS=${PEERS:-pscp clush ansible xargs}
PARTS=${PARTS:-1}
BIG_MB=${BIG_MB:-200}
SFTP_SERVER=${SFTP_SERVER:-/usr/lib/openssh/sftp-server}

bench_need parallel-ssh parallel-scp clush ansible-playbook ssh scp jq cmp sha256sum awk /usr/bin/time || exit 1
[ -x "$SFTP_SERVER" ] || { bench_err "no $SFTP_SERVER (openssh-sftp-server): scp needs it"; exit 1; }
bench_init "$n_arg" "push-N$n_arg" || exit 1
OUT=${OUT:-$BENCH_ROOT/bench/results/push-N$N.md}
if [ -z "${ANSIBLE_ROUNDS:-}" ]; then
	ANSIBLE_ROUNDS=$ROUNDS
	[ "$N" -gt 100 ] && ANSIBLE_ROUNDS=1
fi
if [ -z "${BIG:-}" ]; then
	BIG=0
	[ "$N" -le 50 ] && BIG=1
fi
bench_peer_files
unset SSH_AUTH_SOCK
mkdir -p "$B/ansible/tmp"
# A copy: a rebuild of ./fleetctl during the run must not change what is measured.
cp "$FLEETCTL" "$B/fleetctl"
FLEETCTL=$B/fleetctl
CLK_TCK=$(getconf CLK_TCK)
BIG_DIR=""

push_cleanup() {
	[ -n "$BIG_DIR" ] && [ -d "$BIG_DIR" ] && rm -rf "$BIG_DIR"
	bench_cleanup
}
trap 'push_cleanup' EXIT

# --- the release -----------------------------------------------------------------------------------

# make_release DIR MIB: MIB MiB of random bytes in two files, 200 small text files, a script.
make_release() {
	local d="$1" mib="$2" i
	mkdir -p "$d/bin" "$d/share" "$d/text"
	head -c $((mib * 1048576 / 3)) /dev/urandom >"$d/bin/kiosk-app"
	head -c $((mib * 1048576 - mib * 1048576 / 3)) /dev/urandom >"$d/share/assets.pak"
	i=1
	while [ "$i" -le 200 ]; do
		# a few hundred bytes of text each, all different
		printf 'catalogue page %03d\nprice list of %s\n%s\n' "$i" "$(date -u +%F)" \
		    "$(head -c 300 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$d/text/page$(printf %03d "$i").txt"
		i=$((i + 1))
	done
	printf '#!/bin/sh\n# start the kiosk application\nexec "$(dirname "$0")/bin/kiosk-app" "$@"\n' >"$d/run.sh"
	chmod 0755 "$d/run.sh" "$d/bin/kiosk-app"
}

make_release "$B/release" 18
"$FLEETCTL" bundle "$B/release" --version 1.0 -o "$B/bundle.tar.gz" --json >"$B/bundle.json" ||
    { bench_err "fleetctl bundle failed"; exit 1; }
REL_ID=$(jq -r .id "$B/bundle.json")
BUNDLE=$B/bundle.tar.gz
BUNDLE_BYTES=$(wc -c <"$BUNDLE")
# Every user of the bundle reads it: make it world-readable (the terminals' login account reads it too).
chmod 0644 "$BUNDLE"

# --- the terminals: where peers put things ----------------------------------------------------------
#
# On a real fleet every terminal has the same path (/opt/kiosk, say), so one command and one copy
# destination serve all.  Here the terminals share one file system and one login account, so each
# terminal's sshd is told its own root: `SetEnv PUSHBENCH_ROOT=<root>` for the peers' commands, and
# sftp-server's start directory `-d <root>` so a relative copy destination lands in that terminal's root
# (OpenSSH 9.2's scp speaks SFTP).  fleetctl uses neither: it has `root =` per host in fleet.ini.
(
	FLEET_SH_LIB=1
	. "$BENCH_ROOT/tests/fleet.sh"
	pids=""
	while read -r n; do
		printf 'Subsystem sftp %s -d %s\nSetEnv PUSHBENCH_ROOT=%s\n' "$SFTP_SERVER" "$FLEET/$n/root" \
		    "$FLEET/$n/root" >>"$FLEET/$n/sshd_config"
		p=$(fleet_pid "$FLEET" "$n") && pids="$pids $p"
	done <"$FLEET/names"
	fleet_kill "$pids"
	while read -r n; do
		fleet_spawn "$FLEET" "$n" || exit 1
	done <"$FLEET/names"
	fleet_wait_ready "$FLEET" 20 0 $(cat "$FLEET/names")
) || { bench_err "terminals did not restart with the peers' settings"; exit 1; }

COPY=push-bundle.tar.gz
# Copy (already there), unpack, switch; run in each terminal's root.  Verifies nothing, records nothing.
PEER_CMD='cd "$PUSHBENCH_ROOT" && mkdir -p app/releases/1.0 && tar xzf '$COPY' -C app/releases/1.0 && ln -sfn releases/1.0 app/current.new && mv -T app/current.new app/current && rm -f '$COPY
# The hand-written reference: the bundle on stdin, one connection.
REF_CMD='cd "$PUSHBENCH_ROOT" && mkdir -p app/releases/1.0 && tar xzf - -C app/releases/1.0 && ln -sfn releases/1.0 app/current.new && mv -T app/current.new app/current'

# Ansible: per-host root; Ansible's own ssh arguments (-C, ControlMaster, ControlPersist 60s) with a
# fresh control directory per run, whose masters are closed after it.
{
	echo "[fleet]"
	while read -r n; do
		echo "$n root=$FLEET/$n/root ansible_python_interpreter=/usr/bin/python3"
	done <"$FLEET/names"
} >"$B/inventory.ini"
cat >"$B/push.yml" <<EOF
- hosts: fleet
  gather_facts: false
  tasks:
    - file:
        path: "{{ root }}/app/releases/1.0"
        state: directory
    - unarchive:
        src: "$BUNDLE"
        dest: "{{ root }}/app/releases/1.0"
    - file:
        src: releases/1.0
        dest: "{{ root }}/app/current"
        state: link
EOF

# fleetctl: the test fleet's inventory as it is (its state_dir keeps the bundle store and the history
# from run to run, as an operator's does); every run starts from emptied terminals, so it is a full push.
FLEET_INI=$FLEET/fleet.ini

# --- emptying, verifying -----------------------------------------------------------------------------

empty_terminals() {
	local n
	while read -r n; do
		rm -rf "$FLEET/$n/root/app" "$FLEET/$n/root/$COPY"
	done <"$FLEET/names"
}

# verify_all ID: every terminal's current is releases/ID and holds the release, byte for byte.
verify_all() {
	local n c bad=0
	while read -r n; do
		c=$FLEET/$n/root/app/current
		if [ "$(readlink "$c")" = "releases/$1" ] &&
		    cmp -s "$c/share/assets.pak" "$B/release/share/assets.pak" &&
		    cmp -s "$c/bin/kiosk-app" "$B/release/bin/kiosk-app" &&
		    cmp -s "$c/text/page137.txt" "$B/release/text/page137.txt" && [ -x "$c/run.sh" ]; then
			continue
		fi
		bad=$((bad + 1))
		[ "$bad" -le 3 ] && echo "verify: $n: current does not hold release $1" >>"$B/out"
	done <"$FLEET/names"
	[ "$bad" -eq 0 ]
}

verdict() {
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		if (v == "-") { print "n/a"; exit }
		ok = (op == ">=") ? v >= l : v <= l
		print ok ? "met" : "MISSED" }'
}

# --- runners -----------------------------------------------------------------------------------------

cpu_busy() {
	awk -v hz="$CLK_TCK" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# with_cpu CMD...: run CMD, add "CASE cpu_seconds" (the whole machine's, both sides) to $B/cpu
with_cpu() {
	local c0 c1 rc
	c0=$(cpu_busy)
	"$@"
	rc=$?
	c1=$(cpu_busy)
	echo "$CASE $c0 $c1" | awk '{ printf "%s %.2f\n", $1, $3 - $2 }' >>"$B/cpu"
	return "$rc"
}

run_fleetctl() {
	bench_rss "$FLEETCTL" -i "$FLEET_INI" push "$BUNDLE" -p "$N" --json
}

run_pscp() {
	parallel-scp -p "$N" -t 0 -h "$B/hosts" -x "-F $B/ssh_config" "$BUNDLE" "$COPY" &&
	    parallel-ssh -p "$N" -t 0 -h "$B/hosts" -x "-F $B/ssh_config" "$PEER_CMD"
}

run_clush() {
	local w
	w=$(paste -sd, "$B/hosts")
	clush -S -f "$N" -l "$USER_LOGIN" -o "-F $B/ssh_config" -w "$w" --copy "$BUNDLE" --dest "$COPY" &&
	    clush -S -f "$N" -l "$USER_LOGIN" -o "-F $B/ssh_config" -w "$w" "$PEER_CMD"
}

run_ansible() {
	local cp rc s
	cp=$(mktemp -d "$B/ansible/cp.XXXXXX")
	ANSIBLE_HOME=$B/ansible ANSIBLE_LOCAL_TEMP=$B/ansible/tmp ANSIBLE_SSH_CONTROL_PATH_DIR=$cp \
	    ANSIBLE_SSH_COMMON_ARGS="-F $B/ssh_config" ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_NOCOLOR=1 \
	    ANSIBLE_RETRY_FILES_ENABLED=False \
	    ansible-playbook -i "$B/inventory.ini" -f "$N" "$B/push.yml"
	rc=$?
	for s in "$cp"/*; do
		[ -S "$s" ] && ssh -o ControlPath="$s" -O exit x >/dev/null 2>&1
	done
	rm -rf "$cp"
	return "$rc"
}

run_xargs() {
	# shellcheck disable=SC2016
	xargs -P "$N" -I{} sh -c 'exec ssh -F "$1" "$2" "$3" <"$4"' sh "$B/ssh_config" {} "$REF_CMD" "$BUNDLE" <"$B/hosts"
}

# --- checks: $1 output file, $2 exit status, $3 N ---------------------------------------------------

# fleetctl --json: the last line is the summary.
json_summary() {
	grep '^{' "$1" | tail -n 1
}

check_fleetctl() {
	[ "$2" -eq 0 ] || return 1
	[ "$(json_summary "$1" | jq -r '[.ok, .total] | map(tostring) | join(" ")' 2>/dev/null)" = "$3 $3" ] ||
	    [ "$(grep -c '"state": *"ok"\|"state":"ok"' "$1")" -eq "$3" ] || return 1
	verify_all "$REL_ID"
}

# A re-push must find every terminal up to date and send nothing.
check_repush() {
	check_fleetctl "$@" && [ "$(json_summary "$1" | jq -r .bytes_sent)" = 0 ]
}

check_pscp() {
	[ "$2" -eq 0 ] && [ "$(bench_count_lines "$1" '[SUCCESS]')" -eq $(($3 * 2)) ] && verify_all 1.0
}

check_ansible() {
	[ "$2" -eq 0 ] && grep -q "ok=3 .*failed=0" "$1" && [ "$(grep -c ' : ok=3 ' "$1")" -eq "$3" ] && verify_all 1.0
}

check_peer() {
	[ "$2" -eq 0 ] && verify_all 1.0
}

run_case() {
	CASE=$1
	case "$1" in
	fleetctl)
		empty_terminals
		bench_case fleetctl check_fleetctl with_cpu run_fleetctl || return 1
		# the re-push: same release, terminals not emptied
		cp "$B/out" "$B/out.first"
		CASE=fleetctl-repush
		bench_case fleetctl-repush check_repush with_cpu run_fleetctl
		json_summary "$B/out" | jq -r .bytes_sent >>"$B/repush-bytes"
		json_summary "$B/out.first" | jq -r .bytes_sent >>"$B/push-bytes"
		;;
	pscp) empty_terminals; bench_case pscp check_pscp with_cpu run_pscp ;;
	ansible) empty_terminals; bench_case ansible check_ansible with_cpu run_ansible ;;
	*) empty_terminals; bench_case "$1" check_peer with_cpu "run_$1" ;;
	esac
}

CASES="fleetctl $PEERS"
: >"$B/cpu"
: >"$B/repush-bytes"
: >"$B/push-bytes"

# Warm-up: one unrecorded push each with fleetctl and the reference, so sshd, tar and gzip are in the
# page cache and fleetctl's bundle store and history exist, as they do for an operator.
for c in fleetctl xargs; do
	run_case "$c" >/dev/null 2>&1 || bench_err "warm-up $c failed"
done
: >"$B/times"
: >"$B/cpu"
: >"$B/repush-bytes"
: >"$B/push-bytes"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
round=1
while [ "$round" -le "$ROUNDS" ]; do
	order=$(bench_rotate "$round" $CASES)
	for c in $order; do
		[ "$c" = ansible ] && [ "$round" -gt "$ANSIBLE_ROUNDS" ] && continue
		run_case "$c" || true
	done
	echo "bench: round $round of $ROUNDS done ($(( $(date +%s) - start )) s)" >&2
	round=$((round + 1))
done
elapsed=$(( $(date +%s) - start ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the parts a push is made of (same N, same bytes) -----------------------------------------------
#
# conn:   fleetctl exec -- true: connect, handshake, auth, one exec (fleetctl's push opens two execs)
# stream: the bundle into `cat > /dev/null` on every terminal with OpenSSH told the algorithms libssh2
#         1.10 picks (curve25519-sha256, aes128-ctr, hmac-sha2-256): handshakes + transport crypto
# work:   no ssh: what fleetctl's deploy script does on each terminal, N at once on this machine
#         (write the partial file, sha256sum it, gzip -dc | tar x into a fresh directory)
# unpack: no ssh: the reference's terminal work only (gzip -dc | tar x)
{
	echo "KexAlgorithms curve25519-sha256"
	echo "Ciphers aes128-ctr"
	echo "MACs hmac-sha2-256"
	cat "$B/ssh_config"
} >"$B/ssh_config.libssh2"

run_part_conn() {
	"$FLEETCTL" -i "$FLEET_INI" exec -p "$N" --no-record -- true
}

run_part_stream() {
	xargs -P "$N" -I{} sh -c 'exec ssh -F "$1" "$2" "cat > /dev/null" <"$3"' sh "$B/ssh_config.libssh2" {} "$BUNDLE" <"$B/hosts"
}

run_part_work() {
	rm -rf "$B/work"
	mkdir -p "$B/work"
	# shellcheck disable=SC2016
	seq 1 "$N" | xargs -P "$N" -I{} sh -c 'd=$1/w$2; mkdir -p "$d/x" && cat >"$d/p" <"$3" &&
	    [ "$(sha256sum "$d/p" | cut -d" " -f1)" = "$4" ] && gzip -dc <"$d/p" | tar -xf - -C "$d/x" && rm -f "$d/p"' \
	    sh "$B/work" {} "$BUNDLE" "$(jq -r .sha256 "$B/bundle.json")"
}

run_part_unpack() {
	rm -rf "$B/work"
	mkdir -p "$B/work"
	# shellcheck disable=SC2016
	seq 1 "$N" | xargs -P "$N" -I{} sh -c 'd=$1/w$2; mkdir -p "$d/x" && gzip -dc <"$3" | tar -xf - -C "$d/x"' \
	    sh "$B/work" {} "$BUNDLE"
}

check_rc() {
	[ "$2" -eq 0 ]
}

PART_CASES="conn stream work unpack"
if [ "$PARTS" = 1 ]; then
	empty_terminals
	for r in 1 2 3; do
		for p in $PART_CASES; do
			CASE=part-$p
			bench_case "part-$p" check_rc with_cpu "run_part_$p" || true
		done
	done
	rm -rf "$B/work"
fi

# --- peak RSS with a big bundle ---------------------------------------------------------------------
#
# N terminals x BIG_MB MB would not fit a tmpfs: this one run puts the terminals' roots on disk
# (a second inventory, same terminals, other roots).  Only fleetctl's peak RSS is of interest.
big_line="not run (BIG=0)"
if [ "$BIG" = 1 ]; then
	empty_terminals
	BIG_DIR=$(mktemp -d "${BIG_TMP:-/var/tmp}/fleet-pushbench-big.XXXXXX")
	chmod 0755 "$BIG_DIR"
	make_release "$BIG_DIR/release" "$BIG_MB"
	"$FLEETCTL" bundle "$BIG_DIR/release" --version 2.0 -o "$BIG_DIR/bundle.tar.gz" --json >"$BIG_DIR/bundle.json"
	rm -rf "$BIG_DIR/release"
	big_bytes=$(wc -c <"$BIG_DIR/bundle.tar.gz")
	awk -v big="$BIG_DIR" '
		/^state_dir = / { print "state_dir = " big "/state"; next }
		/^\[host:/ { h = substr($0, 7, length($0) - 7) }
		/^root = / { print "root = " big "/" h; next }
		{ print }' "$FLEET_INI" >"$BIG_DIR/fleet.ini"
	while read -r n; do
		mkdir -p "$BIG_DIR/$n"
		chown "$USER_LOGIN:" "$BIG_DIR/$n"
	done <"$FLEET/names"
	t0=$(bench_now)
	/usr/bin/time -f '%M' -o "$BIG_DIR/rss" "$FLEETCTL" -i "$BIG_DIR/fleet.ini" push "$BIG_DIR/bundle.tar.gz" \
	    -p "$N" --json >"$BIG_DIR/out" 2>&1 </dev/null
	rc=$?
	t1=$(bench_now)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	big_rss=$(tail -n 1 "$BIG_DIR/rss" | awk '{ printf "%.1f", $1 / 1024 }')
	big_ok=$(json_summary "$BIG_DIR/out" | jq -r '"\(.ok)/\(.total), bytes_sent \(.bytes_sent)"' 2>/dev/null)
	if [ "$rc" -eq 0 ]; then
		big_line="$(awk -v b="$big_bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB bundle to $N terminals (roots on disk):"
		big_line="$big_line peak RSS **$big_rss MiB** (target < 64 MiB): $(verdict "$big_rss" '<=' 64); ok $big_ok, $secs s"
	else
		big_line="FAILED: exit $rc, $(tail -n 1 "$BIG_DIR/out" | cut -c1-200); peak RSS $big_rss MiB"
	fi
	rm -rf "$BIG_DIR"
	BIG_DIR=""
fi

# --- report -----------------------------------------------------------------------------------------

label() {
	case "$1" in
	fleetctl) echo "**fleetctl push** (verify, atomic switch, history)" ;;
	fleetctl-repush) echo "fleetctl push, again (re-push, nothing to send)" ;;
	pscp) echo "parallel-scp + parallel-ssh" ;;
	clush) echo "clush --copy + clush" ;;
	ansible) echo "Ansible (file, unarchive, file state=link)" ;;
	xargs) echo "reference: xargs -P N ssh ... tar xzf - < bundle" ;;
	part-conn) echo "part: connect + one exec (fleetctl exec -- true)" ;;
	part-stream) echo "part: bundle over ssh into cat > /dev/null (OpenSSH, libssh2's algorithms)" ;;
	part-work) echo "part: terminal work without ssh (write, sha256sum, gunzip + tar) x N" ;;
	part-unpack) echo "part: gunzip + tar only, without ssh, x N" ;;
	esac
}

cpu_median() {
	awk -v n="$1" '$1 == n { print $2 }' "$B/cpu" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "-"; exit }
			if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]
			else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

fastest_peer() {
	local best="" bm="" m p
	for p in $PEERS; do
		[ "$p" = xargs ] && continue
		m=$(bench_median "$p")
		[ "$m" = - ] && continue
		if [ -z "$bm" ] || awk -v a="$m" -v b="$bm" 'BEGIN { exit !(a < b) }'; then
			best=$p
			bm=$m
		fi
	done
	echo "$best $bm"
}

f=$(bench_median fleetctl)
fr=$(bench_median fleetctl-repush)
set -- $(fastest_peer)
fp_name=${1:-none}
fp_ratio=$(bench_ratio "${2:--}" "$f")
ref_ratio=$(bench_ratio "$(bench_median xargs)" "$f")
repush_ratio=$(bench_ratio "$fr" "$f")
rss_max=$( (bench_field fleetctl 4; bench_field fleetctl-repush 4) | sort -n | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }')
rb=$(sort -u "$B/repush-bytes" | paste -sd, -)
pb=$(sort -u "$B/push-bytes" | paste -sd, -)
{
	echo "# push benchmark, N=$N"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(ssh -V 2>&1 | cut -d, -f1), libssh2 $(pkg-config --modversion libssh2 2>/dev/null)," \
	    "terminals' roots on a tmpfs. Release: $(du -sm "$B/release" | cut -f1) MiB unpacked, 18 MiB of random bytes + 200 text files + a script;" \
	    "bundle $(awk -v b="$BUNDLE_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB ($REL_ID). $ROUNDS rounds (Ansible: $ANSIBLE_ROUNDS)," \
	    "cases alternating within each round, every case on emptied terminals, every terminal's \`current\` checked byte for byte afterwards;" \
	    "median wall time in seconds of the successful runs; ratio = case / fleetctl push (above 1: slower than fleetctl);" \
	    "CPU s = the whole machine's busy CPU seconds during the run (client and terminals), median. Parallelism $N everywhere, no ssh-agent." \
	    "Rounds took $elapsed s; load average before $load_before, after $load_after."
	echo
	echo "| tool | median s | ratio to fleetctl | runs ok | CPU s |"
	echo "|---|---|---|---|---|"
	for c in fleetctl fleetctl-repush $PEERS; do
		echo "$(bench_row "$(label "$c")" "$c" fleetctl) $(cpu_median "$c") |"
	done
	echo
	echo "- fastest peer tool: $fp_name, ${fp_ratio}x fleetctl's time (target >= 1.2): $(verdict "$fp_ratio" '>=' 1.2)"
	echo "- hand-written reference: ${ref_ratio}x fleetctl's time (target >= 1.0, fleetctl no slower): $(verdict "$ref_ratio" '>=' 1.0)"
	echo "- re-push: ${fr} s = ${repush_ratio} of the first push (target < 0.1): $(verdict "$repush_ratio" '<=' 0.1);" \
	    "bytes_sent ${rb:-?} (first push: ${pb:-?}; target 0): $(if [ "$rb" = 0 ]; then echo met; else echo MISSED; fi)"
	echo "- fleetctl peak RSS over its runs with this bundle: $rss_max MiB"
	echo "- big bundle: $big_line"
	if [ "$PARTS" = 1 ]; then
		echo
		echo "## The parts of a push, measured alone (same N, same bundle, 3 runs)"
		echo
		echo "| part | median s | ratio to fleetctl push | runs ok | CPU s |"
		echo "|---|---|---|---|---|"
		for p in $PART_CASES; do
			echo "$(bench_row "$(label "part-$p")" "part-$p" fleetctl) $(cpu_median "part-$p") |"
		done
	fi
} >"$B/report.md"

mkdir -p "$(dirname "$OUT")"
cp "$B/report.md" "$OUT"
cat "$B/times" >"${OUT%.md}.times"
sed 's/^/cpu /' "$B/cpu" >>"${OUT%.md}.times"
cat "$B/report.md"
echo >&2
echo "bench: written $OUT (raw runs in ${OUT%.md}.times)" >&2
