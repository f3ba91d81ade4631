#!/bin/sh
# exec.sh: time one command on N local terminals with fleetctl, a bare libssh2 loop (the floor) and the
# tools an operator would otherwise use, all at parallelism N.  See bench/README.md.
#
#   sh bench/exec.sh N            (N = 50, 200, ...)
#
# Environment: FLEETCTL (default ./fleetctl), ROUNDS (default 5), CMDS (default "true|uname -a",
# separated by |), PEERS (default "pssh pdsh clush ansible xargs"), KEX (default 1: also the peers in
# KEX_PEERS, default PEERS, told KexAlgorithms=curve25519-sha256), P1000 (default 1: check -p 1000 with 1000 inventory hosts),
# OUT (default bench/results/exec-N<N>.md).
# Needs: parallel-ssh, pdsh, clustershell, ansible, openssh-client, gcc, libssh2-1-dev, time.
set -u
. "$(dirname "$0")/lib.sh"

n_arg=${1:-}
CMDS=${CMDS:-true|uname -a}
PEERS=${PEERS:-pssh pdsh clush ansible xargs}
KEX=${KEX:-1}
KEX_PEERS=${KEX_PEERS:-$PEERS}
P1000=${P1000:-1}

bench_need parallel-ssh pdsh clush ansible ssh gcc pkg-config awk /usr/bin/time || exit 1
bench_init "$n_arg" "exec-N$n_arg" || exit 1
OUT=${OUT:-$BENCH_ROOT/bench/results/exec-N$N.md}
bench_peer_files
bench_floor_build || exit 1
# No agent for anyone: every tool reads the same unencrypted key file.
unset SSH_AUTH_SOCK
mkdir -p "$B/ansible/tmp"

# --- runners: $1 = ssh config (peers) or "record"/"norecord" (fleetctl); the command is $CMD ----------

run_floor() {
	"$FLOOR" -k "$FLEET/client/known_hosts" "$USER_LOGIN" "$FLEET/client/id_ed25519" "$CMD" $(cat "$B/hostports")
}

run_fleetctl() {
	if [ "$1" = record ]; then
		bench_rss "$FLEETCTL" -i "$FLEET/fleet.ini" exec -p "$N" -- "$CMD"
	else
		bench_rss "$FLEETCTL" -i "$FLEET/fleet.ini" exec -p "$N" --no-record -- "$CMD"
	fi
}

run_pssh() {
	parallel-ssh -p "$N" -t 0 -h "$B/hosts" -x "-F $1" -i "$CMD"
}

run_pdsh() {
	# pdsh's ssh module passes -l <local user> itself: name the login account, as a user would
	PDSH_SSH_ARGS_APPEND="-F $1" pdsh -R ssh -S -f "$N" -l "$USER_LOGIN" -w "^$B/hosts" "$CMD"
}

run_clush() {
	clush -S -f "$N" -l "$USER_LOGIN" -o "-F $1" -w "$(paste -sd, "$B/hosts")" "$CMD"
}

run_ansible() {
	# ANSIBLE_SSH_ARGS replaces the default "-C -o ControlMaster=auto -o ControlPersist=60s": a master
	# kept from the previous round would skip the handshake, which no first run of a user gets.
	ANSIBLE_HOME=$B/ansible ANSIBLE_LOCAL_TEMP=$B/ansible/tmp ANSIBLE_SSH_ARGS="-o ControlMaster=no" \
	    ANSIBLE_SSH_COMMON_ARGS="-F $1" ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_NOCOLOR=1 \
	    ansible all -i "$B/inventory.ini" -f "$N" -m raw -a "$CMD"
}

run_xargs() {
	xargs -P "$N" -I{} ssh -F "$1" {} "$CMD" <"$B/hosts"
}

# --- checks: $1 output file, $2 exit status, $3 N -------------------------------------------------

# For `uname -a` every terminal's line must be there.
check_lines() {
	case "$CMD" in
	uname*) [ "$(bench_count_lines "$1" Linux)" -eq "$3" ] ;;
	*) return 0 ;;
	esac
}

# The floor prints no output, only "ok N failed M lines L".
check_floor() {
	[ "$2" -eq 0 ] || return 1
	case "$CMD" in
	uname*) grep -q "^ok $3 failed 0 lines $3\$" "$1" ;;
	*) grep -q "^ok $3 failed 0 lines" "$1" ;;
	esac
}

check_fleetctl() {
	[ "$2" -eq 0 ] && grep -q "^fleetctl: $3 ok\$" "$1" && check_lines "$@"
}

check_pssh() {
	[ "$2" -eq 0 ] && [ "$(bench_count_lines "$1" '[SUCCESS]')" -eq "$3" ] && check_lines "$@"
}

check_ansible() {
	[ "$2" -eq 0 ] && [ "$(bench_count_lines "$1" ' | CHANGED | rc=0 >>')" -eq "$3" ] && check_lines "$@"
}

# pdsh -S, clush -S and xargs all exit non-zero when one terminal failed.
check_rc() {
	[ "$2" -eq 0 ] && check_lines "$@"
}

check_for() {
	case "$1" in
	floor) echo check_floor ;;
	fleetctl*) echo check_fleetctl ;;
	pssh*) echo check_pssh ;;
	ansible*) echo check_ansible ;;
	*) echo check_rc ;;
	esac
}

# Case NAME -> runner and its argument.
run_case() {
	local name="$1"
	case "$name" in
	floor) bench_case "$2:$name" check_floor run_floor ;;
	fleetctl) bench_case "$2:$name" check_fleetctl run_fleetctl norecord ;;
	fleetctl+record) bench_case "$2:$name" check_fleetctl run_fleetctl record ;;
	*-kex) bench_case "$2:$name" "$(check_for "$name")" "run_${name%-kex}" "$B/ssh_config.kex" ;;
	*) bench_case "$2:$name" "$(check_for "$name")" "run_$name" "$B/ssh_config" ;;
	esac
}

CASES="floor fleetctl fleetctl+record $PEERS"
if [ "$KEX" = 1 ]; then
	for p in $KEX_PEERS; do
		CASES="$CASES $p-kex"
	done
fi

# Warm-up: one unrecorded pass so every tool has its files in the page cache and sshd its libraries.
CMD=true
for c in floor fleetctl $PEERS; do
	run_case "$c" warmup >/dev/null 2>&1 || true
done
sed -i '/^warmup:/d' "$B/times"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
round=1
while [ "$round" -le "$ROUNDS" ]; do
	echo "$CMDS" | tr '|' '\n' | while IFS= read -r CMD; do
		[ -n "$CMD" ] || continue
		key=$(echo "$CMD" | tr ' ' '_')
		# Alternate: each round starts one case later, so no tool always runs right after the same one.
		order=$(bench_rotate "$round" $CASES)
		for c in $order; do
			run_case "$c" "$key" || true
		done
	done
	echo "bench: round $round of $ROUNDS done ($(( $(date +%s) - start )) s)" >&2
	round=$((round + 1))
done

elapsed=$(( $(date +%s) - start ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# -p 1000: an inventory of 1000 hosts spread over the N terminals, all at once.
p1000_line="not run"
if [ "$P1000" = 1 ]; then
	awk -v k=1000 '
		/^\[host:/ { in_host = 1; next }
		in_host && /^port = / { ports[++np] = $3; next }
		in_host && /^root = / { roots[np] = $3; next }
		!in_host { head = head $0 "\n" }
		END {
			printf "%s\n", head
			for (i = 1; i <= k; i++) {
				j = (i - 1) % np + 1
				printf "[host:h%04d]\naddress = 127.0.0.1\nport = %s\n\n", i, ports[j]
			}
		}' "$FLEET/fleet.ini" >"$B/fleet1000.ini"
	t0=$(bench_now)
	/usr/bin/time -f '%M' -o "$B/rss1000" "$FLEETCTL" -i "$B/fleet1000.ini" exec -p 1000 --no-record -- true \
	    >"$B/out1000" 2>&1 </dev/null
	rc=$?
	t1=$(bench_now)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	rss=$(tail -n 1 "$B/rss1000" | awk '{ printf "%.1f", $1 / 1024 }')
	if [ "$rc" -eq 0 ] && grep -q '^fleetctl: 1000 ok$' "$B/out1000"; then
		p1000_line="ok: \`fleetctl exec -p 1000 -- true\` on 1000 inventory hosts (spread over the $N terminals): all 1000 ok in $secs s, peak RSS $rss MiB"
	else
		p1000_line="FAILED: \`fleetctl exec -p 1000 -- true\` on 1000 inventory hosts: exit $rc, $(tail -n 1 "$B/out1000")"
	fi
fi

# --- report ---------------------------------------------------------------------------------------

label() {
	case "$1" in
	floor) echo "floor (bare libssh2 loop, bench/floor.c)" ;;
	fleetctl) echo "**fleetctl** --no-record" ;;
	fleetctl+record) echo "fleetctl (recorded in history)" ;;
	pssh) echo "parallel-ssh" ;;
	pdsh) echo "pdsh -R ssh" ;;
	clush) echo "clush" ;;
	ansible) echo "ansible -m raw" ;;
	xargs) echo "xargs -P N ssh" ;;
	*-kex) echo "$(label "${1%-kex}") + curve25519" ;;
	esac
}

# fastest KIND (plain|kex) key: the smallest median among the peers of that kind, "name median"
fastest() {
	local best="" bm="" m p name
	local list=$PEERS
	[ "$1" = kex ] && list=$KEX_PEERS
	for p in $list; do
		name=$p
		[ "$1" = kex ] && name=$p-kex
		m=$(bench_median "$2:$name")
		[ "$m" = - ] && continue
		if [ -z "$bm" ] || awk -v a="$m" -v b="$bm" 'BEGIN { exit !(a < b) }'; then
			best=$name
			bm=$m
		fi
	done
	echo "$best $bm"
}

verdict() {
	# verdict VALUE OP LIMIT
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		if (v == "-") { print "n/a"; exit }
		ok = (op == ">=") ? v >= l : v <= l
		print ok ? "met" : "MISSED" }'
}

rss_max=$(for k in $(echo "$CMDS" | tr ' |' '_ '); do bench_field "$k:fleetctl" 4; bench_field "$k:fleetctl+record" 4; done |
    sort -n | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }')
{
	echo "# exec benchmark, N=$N"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(ssh -V 2>&1 | cut -d, -f1), libssh2 $(pkg-config --modversion libssh2)," \
	    "$ROUNDS rounds, cases alternating within each round; median wall time in seconds of the successful runs;" \
	    "ratio = case / fleetctl --no-record (above 1: slower than fleetctl). Every peer at parallelism $N, no ssh-agent." \
	    "Rounds took $elapsed s; load average before $load_before, after $load_after (other work on the machine shows here)."
	echo "$CMDS" | tr '|' '\n' | while IFS= read -r CMD; do
		[ -n "$CMD" ] || continue
		key=$(echo "$CMD" | tr ' ' '_')
		echo
		echo "## \`$CMD\` on $N terminals"
		echo
		echo "| tool | median s | ratio to fleetctl | runs ok |"
		echo "|---|---|---|---|"
		for c in $CASES; do
			bench_row "$(label "$c")" "$key:$c" "$key:fleetctl"
		done
		f=$(bench_median "$key:fleetctl")
		fr=$(bench_median "$key:fleetctl+record")
		set -- $(fastest plain "$key")
		plain_name=${1:-none}
		plain_ratio=$(bench_ratio "${2:--}" "$f")
		set -- $(fastest kex "$key")
		kex_name=${1:-none}
		kex_ratio=$(bench_ratio "${2:--}" "$f")
		floor_ratio=$(bench_ratio "$f" "$(bench_median "$key:floor")")
		floor_ratio_r=$(bench_ratio "$fr" "$(bench_median "$key:floor")")
		echo
		echo "- fastest peer as Debian ships it: $plain_name, ${plain_ratio}x fleetctl's time (target >= 4): $(verdict "$plain_ratio" '>=' 4)"
		if [ "$KEX" = 1 ]; then
			echo "- fastest peer with curve25519: $kex_name, ${kex_ratio}x fleetctl's time (target >= 1.4): $(verdict "$kex_ratio" '>=' 1.4)"
		fi
		echo "- fleetctl / floor: ${floor_ratio} (target <= 1.10): $(verdict "$floor_ratio" '<=' 1.10); with recording: ${floor_ratio_r}"
	done
	echo
	echo "fleetctl peak RSS over all its runs: $rss_max MiB (target < 64 MiB at N=200): $(verdict "$rss_max" '<=' 64)"
	echo
	echo "-p 1000: $p1000_line"
} >"$B/report.md"

mkdir -p "$(dirname "$OUT")"
cp "$B/report.md" "$OUT"
cp "$B/times" "${OUT%.md}.times"
cat "$B/report.md"
echo >&2
echo "bench: written $OUT (raw runs in ${OUT%.md}.times)" >&2
