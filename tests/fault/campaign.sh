# campaign.sh: a fault campaign proving "old or new, never in between" against real local sshd
# terminals.  Sourced, after tests/lib.sh, by tests/e2e/fault.sh (the short form, run by tests/run.sh)
# and by tests/fault/long.sh (the long form).  It is not run on its own.
#
#   FAULT_KILLS=N    controller kills (SIGKILL at a random moment of a push, a --waves push or a
#                    rollback) that must land; default 10.  Each is followed by resume (or a new run
#                    where resume does not apply) and the checks below.
#   FAULT_TSIDE=N    random terminal-side cuts (one terminal's sshd sessions killed at a random
#                    moment of a 10-terminal push); default 2.
#   FAULT_SEED=N     seed of every random choice (printed; rerun with it to replay the timings).
#   FAULT_BUDGET=S   wall-clock bound of the controller-kill loop in seconds (default 12 s a kill + 30).
#   FAULT_LONG=1     also the targeted kills that repeat a finding of another (set by long.sh).
#
# Phases:
#   1. controller killed: SIGKILL after a random delay within the typical run time of that kind of
#      run (uniform; every fourth kill in the last 15%, where the run ends and records itself).
#      After each kill, once the terminals have settled, every terminal's current is the release it
#      ran before or the run's target, and its tree is exactly that release's manifest (files with
#      mode and SHA-256, directories, symlinks, nothing else); the run is finished by `resume RUN`
#      (a rollback, which resume refuses, by running it again; a run killed before its journal by a
#      new run); then every terminal is on the target and matches the manifest the history
#      recorded, no lock is left, the next run reports nothing "locked", no staging tree is left in
#      .fleet/tmp, `git fsck --strict` is clean, `status` is in sync and the history holds exactly
#      one commit per ended run (plus one per lock break the campaign needed).
#   1b. the same checks after kills at chosen moments, found by polling the disk: when the run's
#      journal records its end, at the first terminal lock of a rollback and of a push, right after
#      t01 switched.
#   2. terminal side killed: one terminal's sshd session processes (never the listener) killed
#      mid-upload, mid-unpack, mid-install, just before the switch (second busy check) and just
#      after it (restart); then FAULT_TSIDE cuts at random moments of a fleet-wide push.
#   3. disk full: a 3 MiB tmpfs as one terminal's root; a release bigger than it, incompressible
#      (full during upload) and compressible (full during unpack); clear error, old current
#      untouched; a small release then goes; room made, the big one goes (resumed).
#   4. a terminal that accepts TCP and never speaks, one that sends an SSH banner and then nothing:
#      reported timeout/unreachable within connect_timeout, the others succeed.
# A fault survived when none of its checks failed; data lost counts terminals found with a current
# that is not a complete release and runs that ended without their history commit.
# Last lines: "faults tried N, survived N, data lost N", then t_done's "N passed, N failed".

# The whole file is one compound command, so the shell parses all of it before it runs any of it:
# editing this file while a campaign runs cannot change the running campaign.
{
FAULT_KILLS=${FAULT_KILLS:-10}
FAULT_TSIDE=${FAULT_TSIDE:-2}
FAULT_SEED=${FAULT_SEED:-$(od -An -N3 -tu4 /dev/urandom | tr -d ' ')}
FAULT_BUDGET=${FAULT_BUDGET:-$((FAULT_KILLS * 12 + 30))}
FAULT_LONG=${FAULT_LONG:-0}
case "$FAULT_KILLS$FAULT_TSIDE$FAULT_SEED$FAULT_BUDGET" in
*[!0-9]*) echo "FAIL: fault_args (FAULT_KILLS, FAULT_TSIDE, FAULT_SEED, FAULT_BUDGET must be numbers)"; exit 1 ;;
esac

F_TRIED=0
F_SURVIVED=0
F_LOST=0
F_MARK=0
F_LOCKBREAKS=0
F_KNOWN_LOST=""
F_KNOWN_TMP=""
F_START=$(date +%s)
BGPID=""
SILENTPIDS=""
TMPFS=""
OPTS_INSTALL='install=sleep 0.2; test -f VERSION'

echo "# fault campaign: FAULT_KILLS=$FAULT_KILLS FAULT_TSIDE=$FAULT_TSIDE FAULT_SEED=$FAULT_SEED FAULT_BUDGET=$FAULT_BUDGET"

now_ms() {
	date +%s%3N
}

# rnd I: a number in [0, 1) from the seed and I, the same every time for the same seed (the first
# 32 bits of sha256("SEED:I")).
rnd() {
	local h
	h=$(printf '%s:%s' "$FAULT_SEED" "$1" | sha256sum | cut -c1-8)
	awk -v h="$((0x$h))" 'BEGIN { printf "%.4f", h / 4294967296 }'
}

# ---------------------------------------------------------------------------------------------
# Bookkeeping of the faults: each fault is begun, its checks counted, and it survived when none of
# its checks failed.
fault_begin() {
	F_TRIED=$((F_TRIED + 1))
	F_MARK=$T_FAILED
	echo "# fault $F_TRIED: $*"
}
fault_end() {
	if [ "$T_FAILED" -eq "$F_MARK" ]; then
		F_SURVIVED=$((F_SURVIVED + 1))
	fi
}
# lost NAME WHY: a terminal with a current that is not a complete release, or a lost commit.
lost() {
	F_LOST=$((F_LOST + 1))
	fail "$1" "DATA LOST: $2"
}

# ---------------------------------------------------------------------------------------------
# Terminals.
root_of() {
	if [ -n "$TMPFS" ] && [ "$1" = t03 ] && [ "${TMPFS_ACTIVE:-0}" = 1 ]; then
		echo "$TMPFS"
	else
		echo "$FLEET/$1/root"
	fi
}
link() {
	readlink "$(root_of "$1")/app/current"
}
all_names() {
	cat "$FLEET/names"
}

all_sessions() {
	local n lp
	for n in $(all_names); do
		lp=$(fleet_pid "$FLEET" "$n") || continue
		fleet_tree "$lp" | grep -vx "$lp"
	done | tr '\n' ' '
}
# Processes of the login account working below this fleet's directories: the scripts a cut
# session left behind on a terminal (reparented to init, so not below any listener).
orphans() {
	local p cwd
	for p in $(ps -u "$ACCOUNT" -o pid= 2>/dev/null); do
		cwd=$(readlink "/proc/$p/cwd" 2>/dev/null) || continue
		case "$cwd" in
		"$FLEET"/* | "${TMPFS:-/nonexistent}"*) echo "$p" ;;
		esac
	done | tr '\n' ' '
}
# settle [SECONDS]: wait until no session and no left-behind script runs on any terminal; after
# SECONDS (default 15) kill what is left, by PID, and say so (false).
settle() {
	local lim=$((${1:-15} * 10)) i=0 left
	while [ "$i" -lt "$lim" ]; do
		left="$(all_sessions)$(orphans)"
		[ -z "$(echo "$left" | tr -d ' ')" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "# settle: still running after ${1:-15}s, killed: $(ps -o pid=,args= -p "$(echo "$left" | tr -s ' ' ',' | sed 's/^,//; s/,$//')" 2>/dev/null | tr '\n' '|')"
	kill -KILL $left 2>/dev/null
	return 1
}

# ---------------------------------------------------------------------------------------------
# Releases.  mkrel TAG [BLOB_BYTES]: a tree with a script, a version file, a doc, a symlink, a fresh
# random blob (2 MB unless said), and a 4 MiB file that changes in two 64 KiB blocks each time (so delta pushes also
# rebuild a big file from blocks).  bundle_rel TAG [COMPRESS]: bundle it into $T/b/, set REL_ID and
# REL_B, keep the archive's own manifest in $T/man/ID.
BIG_SEQ=0
mkrel() {
	local d=$T/rel
	rm -rf "$d"
	mkdir -p "$d/bin" "$d/share/doc" "$d/data"
	printf '#!/bin/sh\necho %s\n' "$1" >"$d/bin/run"
	chmod 755 "$d/bin/run"
	printf 'version %s\n' "$1" >"$d/VERSION"
	printf 'documentation of %s\n' "$1" >"$d/share/doc/README"
	ln -s bin/run "$d/run"
	ln -s ../VERSION "$d/share/VERSION"
	head -c "${2:-2000000}" /dev/urandom >"$d/data/blob"
	[ -f "$T/big4m" ] || head -c 4194304 /dev/urandom >"$T/big4m"
	BIG_SEQ=$((BIG_SEQ + 1))
	head -c 65536 /dev/urandom | dd of="$T/big4m" bs=65536 seek=$((BIG_SEQ % 64)) conv=notrunc status=none
	head -c 65536 /dev/urandom | dd of="$T/big4m" bs=65536 seek=$(((BIG_SEQ * 7 + 3) % 64)) conv=notrunc status=none
	cp "$T/big4m" "$d/data/big"
}
bundle_rel() {
	local src=${3:-$T/rel} ext=tar.gz
	[ "${2:-gzip}" = none ] && ext=tar
	mkdir -p "$T/b" "$T/man"
	REL_B=$T/b/$1.$ext
	REL_ID=$("$FLEETCTL" bundle "$src" --version "$1" --compress "${2:-gzip}" -o "$REL_B" --json 2>"$T/bundle.err" | jq -r .id)
	case "$REL_ID" in
	"$1"-*) ;;
	*) fail "bundle_$1" "bundle failed: $(cat "$T/bundle.err")"; return 1 ;;
	esac
	tar -xOf "$REL_B" .fleetctl-manifest >"$T/man/$REL_ID" 2>/dev/null
	cp "$REL_B" "$T/b/$REL_ID.bundle"
	[ -s "$T/man/$REL_ID" ]
}

# tree_matches DIR MANIFEST: DIR holds exactly what MANIFEST lists: every file with its mode and
# SHA-256, every directory, every symlink with its target, the manifest itself, nothing else.
tree_matches() {
	local dir="$1" man="$2" want got
	if [ ! -d "$dir" ]; then
		T_WHY="no directory $dir"
		return 1
	fi
	want=$(awk -F '\t' '
		$1 == "f" { m = $2; sub(/^0+/, "", m); print "f " m " " $4 " " $5 }
		$1 == "l" { print "l " $5 " -> " $6 }
		$1 == "d" { print "d " $5 }' "$man" | sort)
	got=$(cd "$dir" && {
		find . -mindepth 1 -type d -printf 'd %P\n'
		find . -type l -printf 'l %P -> %l\n'
		find . -mindepth 1 ! -type d ! -type l ! -type f -printf 'other %P\n'
		find . -type f ! -path ./.fleetctl-manifest -printf '%m %P\n' | LC_ALL=C sort -k2 >"$T/modes.txt"
		find . -type f ! -path ./.fleetctl-manifest -printf '%P\0' | xargs -0 -r sha256sum | sed 's/^\([0-9a-f]*\)  /\1 /' |
		    LC_ALL=C sort -k2 | LC_ALL=C join -1 2 -2 2 -o '1.1,2.1,0' "$T/modes.txt" - | sed 's/^/f /'
	} | sort)
	if [ -z "$want" ] || [ "$want" != "$got" ]; then
		T_WHY="$dir differs from its manifest"
		printf '%s\n' "$want" >"$T/want.txt"
		printf '%s\n' "$got" >"$T/got.txt"
		diff "$T/want.txt" "$T/got.txt" | head -n 12 | sed 's/^/# /'
		return 1
	fi
	if ! cmp -s "$dir/.fleetctl-manifest" "$man"; then
		T_WHY="$dir/.fleetctl-manifest is not the release's manifest"
		return 1
	fi
	return 0
}

# no_staging_left NAME: once nothing runs on the terminals, no terminal holds a staging tree or
# link of a deploy that is over (ROOT/app/.fleet/tmp must be empty).  Each leftover is reported
# once, with its size, and not again by later checks.
no_staging_left() {
	local n d new=""
	for n in $(all_names); do
		for d in "$(root_of "$n")"/app/.fleet/tmp/* "$(root_of "$n")"/app/.fleet/tmp/.[!.]*; do
			[ -e "$d" ] || [ -L "$d" ] || continue
			case " $F_KNOWN_TMP " in *" $d "*) continue ;; esac
			F_KNOWN_TMP="$F_KNOWN_TMP $d"
			new="$new $n:.fleet/tmp/${d##*/}($(du -sk "$d" | cut -f1) kB, $(find "$d" -type f | wc -l) files)"
		done
	done
	if [ -n "$new" ]; then
		fail "$1" "staging left behind by a deploy that is over, never removed:$new"
	else
		pass "$1"
	fi
}

# hist_manifest ID: the manifest the history recorded for ID, into $T/hman; false when it has none.
hist_manifest() {
	git -C "$HIST" show "main:releases/app/$1.manifest" >"$T/hman" 2>/dev/null && [ -s "$T/hman" ]
}

# on_release N ID: N's current -> releases/ID, and that tree is exactly the manifest the history
# recorded for ID (which is also the bundle's own manifest).
on_release() {
	local cur
	cur=$(link "$1")
	if [ "$cur" != "releases/$2" ]; then
		T_WHY="$1: current -> '$cur', want releases/$2"
		return 1
	fi
	if ! hist_manifest "$2"; then
		T_WHY="the history has no manifest for $2"
		return 1
	fi
	if [ -s "$T/man/$2" ] && ! cmp -s "$T/hman" "$T/man/$2"; then
		T_WHY="the history's manifest of $2 is not the bundle's"
		return 1
	fi
	tree_matches "$(root_of "$1")/app/releases/$2" "$T/hman" || { T_WHY="$1: $T_WHY"; return 1; }
}

# all_on WANTVAR_PREFIX: every terminal N is on the release in ${PREFIX}_N.
all_on() {
	local n w bad=""
	for n in $(all_names); do
		eval "w=\${$1_$n}"
		on_release "$n" "$w" || bad="$bad [$T_WHY]"
	done
	[ -z "$bad" ] || { T_WHY=$bad; return 1; }
}

# old_or_new NAME: after a fault, every terminal's current is its release before (BEFORE_N) or the
# target (WANT_N), and complete.  A missing current, or one that is not a complete release, is data
# lost; a complete third release is "in between" (a failure, not data lost).
old_or_new() {
	local n cur id b w bad="" dead=""
	for n in $(all_names); do
		cur=$(link "$n")
		eval "b=\${BEFORE_$n}; w=\${WANT_$n}"
		if [ -z "$cur" ]; then
			[ -z "$b" ] || dead="$dead $n:no-current"
			continue
		fi
		id=${cur#releases/}
		if [ "$id" != "$b" ] && [ "$id" != "$w" ]; then
			bad="$bad $n:$id(neither $b nor $w)"
		fi
		if [ ! -s "$T/man/$id" ]; then
			dead="$dead $n:$id(unknown release)"
		elif ! tree_matches "$(root_of "$n")/app/releases/$id" "$T/man/$id"; then
			dead="$dead $n:$id($T_WHY)"
		fi
	done
	if [ -n "$dead" ]; then
		lost "$1" "$dead"
	elif [ -n "$bad" ]; then
		fail "$1" "in between:$bad"
	else
		pass "$1"
	fi
}

snap_before() {
	local n
	for n in $(all_names); do
		eval "BEFORE_$n=\$(link $n | sed 's|^releases/||')"
	done
}
want_all() {
	local n
	for n in $(all_names); do
		eval "WANT_$n=\$1"
	done
}
# For a rollback: each terminal's previous release according to the history.
want_previous() {
	local n p
	for n in $(all_names); do
		p=$(git -C "$HIST" show "main:hosts/$n/app" 2>/dev/null | sed -n 's/^previous: //p')
		[ -n "$p" ] || return 1
		eval "WANT_$n=\$p"
	done
}

# ---------------------------------------------------------------------------------------------
# History and locks (commits, fl and sshd_sessions come from tests/lib.sh).
run_field() {
	fl runs --json -n 0 2>/dev/null | jq -r "select(.id == \"$1\") | $2"
}
runs_now() {
	ls "$STATE/runs" 2>/dev/null | sed -n 's/\.jsonl$//p' | sort
}

# history_accounts: one commit per ended run (done or halted journal) and per lock break, no run
# recorded twice, every ended run recorded, no commit for a run that did not end.
history_accounts() {
	local ended recorded dups c want missing r
	ended=$(fl runs --json -n 0 2>/dev/null | jq -r 'select(.status == "done" or .status == "halted") | .id' | sort)
	# A run already reported as lost (ended, never recorded) is not reported again at every check.
	for r in $F_KNOWN_LOST; do
		ended=$(printf '%s\n' "$ended" | grep -vxF "$r")
	done
	recorded=$(git -C "$HIST" log main --format=%B 2>/dev/null | sed -n 's/^Run: //p' | sort)
	dups=$(printf '%s\n' "$recorded" | uniq -d | tr '\n' ' ')
	c=$(commits)
	want=$(($(printf '%s\n' "$ended" | grep -c .) + F_LOCKBREAKS))
	missing=$(printf '%s\n' "$ended" | grep . | while read -r r; do
		printf '%s\n' "$recorded" | grep -qxF "$r" || printf '%s ' "$r"
	done)
	if [ -n "$dups" ] || [ -n "$missing" ] || [ "$c" != "$want" ]; then
		T_WHY="commits $c, want $want (ended runs + $F_LOCKBREAKS lock breaks); recorded twice: '$dups'; ended but not recorded: '$missing'"
		return 1
	fi
	return 0
}
fsck_clean() {
	if ! git -C "$HIST" fsck --strict >"$T/fsck.out" 2>&1; then
		T_WHY="git fsck --strict: $(head -n 5 "$T/fsck.out" | tr '\n' '|')"
		return 1
	fi
	return 0
}
status_in_sync() {
	run fl status
	t_sane || return 1
	if [ "$T_RC" -ne 0 ]; then
		T_WHY="status exit $T_RC: $(printf '%s\n' "$T_OUT" | grep -v 'in sync' | head -n 5 | tr '\n' '|')"
		return 1
	fi
	return 0
}
# no_locks: lock status says every terminal is free.  Otherwise it names the holders, and breaks
# those locks (recorded, counted) so the campaign can go on.
no_locks() {
	local held
	run fl lock status --json
	held=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null and .lock != "free") | "\(.host):\(.run_id):\(.kind):stale=\(.stale)"' | tr '\n' ' ')
	if [ -n "$held" ] || [ "$T_RC" -ne 0 ]; then
		T_WHY="lock left behind: $held (lock status exit $T_RC)"
		break_locks
		return 1
	fi
	return 0
}
break_locks() {
	local hosts
	hosts=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null and .lock == "held") | .host' | tr '\n' ',' | sed 's/,$//')
	[ -n "$hosts" ] || return 0
	echo "# breaking the locks on $hosts"
	"$FLEETCTL" -i "$INV" lock break -l "$hosts" --yes >/dev/null 2>&1 && F_LOCKBREAKS=$((F_LOCKBREAKS + 1))
}
# locked_in_output: the hosts the last `run` reported locked.
locked_in_output() {
	printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null and .state == "locked") | .host' 2>/dev/null | tr '\n' ',' | sed 's/,$//'
}

# ---------------------------------------------------------------------------------------------
# Background runs, stopped by PID.
bg_start() {
	BG_T0=$(now_ms)
	"$@" >"$T/bg.out" 2>"$T/bg.err" </dev/null &
	BGPID=$!
}
# bg_wait SECONDS: wait for the background run (TERM, then KILL, after SECONDS); BGRC its status.
bg_wait() {
	local i=0
	while kill -0 "$BGPID" 2>/dev/null && [ "$i" -lt $(($1 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$BGPID" 2>/dev/null; then
		echo "# background run $BGPID still running after $1 s: stopped"
		kill -TERM "$BGPID" 2>/dev/null
		sleep 2
		kill -KILL "$BGPID" 2>/dev/null
	fi
	wait "$BGPID" 2>/dev/null
	BGRC=$?
	BGPID=""
}
# kill_at MS: SIGKILL the background run MS after it started (hit=1), unless it ended before
# (hit=0, ENDED_MS about when).
kill_at() {
	local el rem
	hit=0
	while :; do
		el=$(($(now_ms) - BG_T0))
		if ! kill -0 "$BGPID" 2>/dev/null; then
			ENDED_MS=$el
			[ "$ENDED_MS" -ge 300 ] || ENDED_MS=300
			return 0
		fi
		[ "$el" -ge "$1" ] && break
		rem=$(($1 - el))
		[ "$rem" -le 40 ] || rem=40
		sleep "0.$(printf '%03d' "$rem")"
	done
	kill -KILL "$BGPID" 2>/dev/null && hit=1
	return 0
}
bg_sanitizer() {
	grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|AddressSanitizer|UndefinedBehaviorSanitizer' "$T/bg.err"
}

fault_cleanup() {
	local p
	[ -n "$BGPID" ] && kill -KILL "$BGPID" 2>/dev/null
	for p in $SILENTPIDS; do
		kill -KILL "$p" 2>/dev/null
	done
	[ -n "$FLEET" ] && [ -n "$ACCOUNT" ] && kill -KILL $(orphans) 2>/dev/null
	if [ -n "$TMPFS" ] && mountpoint -q "$TMPFS" 2>/dev/null; then
		umount "$TMPFS" 2>/dev/null || umount -l "$TMPFS" 2>/dev/null
	fi
	return 0
}

# recover NAME CMD...: CMD (a run with --json) must exit 0 without a sanitizer report; otherwise one
# line naming each terminal that did not end ok (the full output stays in $T_STDOUT).
recover() {
	local name=$1 odd
	shift
	run "$@"
	if [ "$T_SAN" = 0 ] && [ "$T_RC" = 0 ]; then
		pass "$name"
		return 0
	fi
	odd=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null and .state != "ok") | "\(.host) \(.state) \(.step // "-"): \((.error // "") | .[0:90])"' 2>/dev/null | tr '\n' ';')
	[ "$T_SAN" = 1 ] && odd="sanitizer report: $(grep -m 3 -E 'Sanitizer|runtime error' "$T/.stderr" | tr '\n' ' ') $odd"
	fail "$name" "exit $T_RC: ${odd:-$(printf '%s\n' "$T_STDERR" | tail -n 2 | tr '\n' ' ')}"
	return 1
}

# after_kill K: the checks and the recovery after the controller of a run (kind $kind, options
# $extra, the bundle $REL_B, targets WANT_*, state before BEFORE_*) was killed; its run is $run_id
# (empty when it was killed before its journal existed), with status $status.
after_kill() {
	local k=$1 redo locked
	settle 15 || fail "${k}_terminals_settle" "scripts still running on the terminals 15 s after the kill"
	old_or_new "${k}_after_kill_old_or_new"
	if [ "$status" = running ]; then
		fail "${k}_status_not_running" "run $run_id says running though its controller is dead"
	fi
	# Finish the job.
	redo=""
	case "$kind:$status" in
	push:interrupted | push:running)
		recover "${k}_resume_exit_0" fl resume "$run_id" $OPTS -o "$OPTS_INSTALL" --json
		redo=1
		[ "$(run_field "$run_id" .status)" = done ] && pass "${k}_resumed_run_done" ||
		    fail "${k}_resumed_run_done" "run $run_id is '$(run_field "$run_id" .status)' after resume"
		;;
	rollback:interrupted | rollback:running)
		# resume is for pushes; it must refuse cleanly, then the rollback is run again.
		t_check "${k}_resume_rollback_refused" expect_output 'run it again' fl resume "$run_id"
		recover "${k}_rollback_again_exit_0" fl rollback $OPTS -p 5 --json
		redo=1
		;;
	*:done | *:halted)
		if git -C "$HIST" log main --format=%B | grep -qxF "Run: $run_id"; then
			pass "${k}_ended_run_recorded"
		else
			lost "${k}_ended_run_recorded" "run $run_id ended ($status) in its journal, but the history has no commit for it (SIGKILL at ${delay_ms} ms, between the journal's end and the commit): resume refuses it, its terminals drift from the history"
			F_KNOWN_LOST="$F_KNOWN_LOST $run_id"
			# Put the history back in step with the terminals for what follows.
			"$FLEETCTL" -i "$INV" push "$T/b/$(eval "echo \$WANT_t01").bundle" $OPTS --json >/dev/null 2>&1
		fi
		;;
	push:)
		recover "${k}_new_push_exit_0" fl push "$REL_B" $OPTS -o "$OPTS_INSTALL" -p 5 $extra --json
		redo=1
		;;
	rollback:)
		recover "${k}_new_rollback_exit_0" fl rollback $OPTS -p 5 --json
		redo=1
		;;
	*)
		fail "${k}_run_status" "run $run_id has status '$status'"
		;;
	esac
	locked=""
	[ -n "$redo" ] && locked=$(locked_in_output)
	if [ -n "$locked" ]; then
		fail "${k}_next_run_not_locked" "after SIGKILL of '$kind $extra' at ${delay_ms} ms (run $run_id), the next run found $locked locked: $(printf '%s\n' "$T_STDOUT" | jq -r 'select(.state == "locked") | .error' | head -n 2 | tr '\n' '|')"
		# Break what the dead run left, then finish those terminals only.
		run fl lock status --json -l "$locked"
		echo "# lock status of those: $(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null) | "\(.host) held by \(.run_id) (\(.kind), pid \(.pid), age \(.age_s) s, deadline in \((.deadline // 0) - now | floor) s, stale \(.stale))"' | tr '\n' ';')"
		break_locks
		if [ "$kind" = rollback ]; then
			run fl rollback $OPTS -l "$locked" --json
		else
			run fl push "$REL_B" $OPTS -o "$OPTS_INSTALL" -l "$locked" --json
		fi
		[ "$T_RC" = 0 ] || fail "${k}_after_lock_break" "exit $T_RC: $(printf '%s\n' "$T_OUT" | tail -n 3 | tr '\n' '|')"
	elif [ -n "$redo" ]; then
		pass "${k}_next_run_not_locked"
	fi
	settle 15 || fail "${k}_terminals_settle_after_recovery" "scripts still running 15 s after the recovery"
	t_check "${k}_all_on_target_match_history" all_on WANT
	t_check "${k}_no_lock_left" no_locks
	no_staging_left "${k}_no_staging_left"
	t_check "${k}_history_fsck" fsck_clean
	t_check "${k}_history_one_commit_per_ended_run" history_accounts
	t_check "${k}_status_in_sync" status_in_sync
	fault_end
}

# =============================================================================================
t_setup
trap 'fault_cleanup; t_cleanup' EXIT
fleet_up 10
HIST=$FLEET/state/history
STATE=$FLEET/state
ACCOUNT=$(sed -n 's/^user = //p' "$INV")
OPTS="-o keep=4"

# Warm-up: a first release everywhere, then one of each kind timed (they are the "typical" runs).
mkrel w0
bundle_rel w0 || exit 1
t_check warmup_first_push expect_exit 0 fl push "$REL_B" $OPTS -o "$OPTS_INSTALL" -p 5 --json
want_all "$REL_ID"
t_check warmup_first_push_matches all_on WANT
# The checker itself: a copy of a release passes; a changed byte, an extra file, a retargeted
# symlink, a changed mode, a missing file each fail it.
checker_catches() {
	local id=$1 c=$T/checkcopy what bad=""
	for what in none byte extra link mode missing; do
		rm -rf "$c"
		cp -a "$FLEET/t01/root/app/releases/$id" "$c"
		case $what in
		byte) printf 'X' | dd of="$c/data/blob" bs=1 seek=1000 conv=notrunc status=none ;;
		extra) echo stray >"$c/share/stray" ;;
		link) ln -sfn ../share/doc/README "$c/share/VERSION" ;;
		mode) chmod 644 "$c/bin/run" ;;
		missing) rm -f "$c/share/doc/README" ;;
		esac
		if tree_matches "$c" "$T/man/$id" >/dev/null; then
			[ "$what" = none ] || bad="$bad $what(not caught)"
		else
			[ "$what" != none ] || bad="$bad intact-copy-refused($T_WHY)"
		fi
	done
	rm -rf "$c"
	[ -z "$bad" ] || { T_WHY=$bad; return 1; }
}
t_check warmup_checker_catches_damage checker_catches "$REL_ID"
time_run() {
	local t0
	t0=$(now_ms)
	expect_exit 0 "$@"
	TYP=$(($(now_ms) - t0))
	[ "$T_RC" = 0 ]
}
mkrel w1
bundle_rel w1
t_check warmup_push_timed time_run fl push "$REL_B" $OPTS -o "$OPTS_INSTALL" -p 5 --json
TYP_PUSH=$TYP
mkrel w2
bundle_rel w2
t_check warmup_waves_timed time_run fl push "$REL_B" $OPTS -o "$OPTS_INSTALL" --waves 2,50% --json
TYP_WAVES=$TYP
want_previous
t_check warmup_rollback_timed time_run fl rollback $OPTS -p 5 --json
TYP_RB=$TYP
t_check warmup_rollback_lands all_on WANT
t_check warmup_history_accounts history_accounts
echo "# typical run times: push ${TYP_PUSH} ms, --waves 2,50% ${TYP_WAVES} ms, rollback ${TYP_RB} ms"

# =============================================================================================
# Phase 1: the controller killed with SIGKILL at a random moment.
p1_start=$(date +%s)
landed=0
attempt=0
early=0
while [ "$landed" -lt "$FAULT_KILLS" ] && [ "$attempt" -lt $((FAULT_KILLS * 2 + 4)) ]; do
	if [ $(($(date +%s) - p1_start)) -gt "$FAULT_BUDGET" ]; then
		fail p1_budget "the controller-kill loop passed its ${FAULT_BUDGET}s budget after $landed kills"
		break
	fi
	attempt=$((attempt + 1))
	k=$(printf 'k%02d' "$attempt")
	snap_before
	kind=push
	extra=""
	typ=$TYP_PUSH
	if [ $((attempt % 5)) -eq 0 ] && want_previous; then
		kind=rollback
		typ=$TYP_RB
	else
		mkrel "$k"
		bundle_rel "$k" || continue
		want_all "$REL_ID"
		if [ $((attempt % 3)) -eq 0 ]; then
			extra="--waves 2,50%"
			typ=$TYP_WAVES
		elif [ $((attempt % 4)) -eq 2 ]; then
			extra="--no-delta"
		fi
	fi
	# Uniform over the typical run time; every fourth kill in its last 15%, where the run ends and
	# records itself (a uniform draw rarely lands in those few milliseconds).
	lo=0
	[ $((attempt % 4)) -eq 1 ] && lo=85
	delay_ms=$(awk -v r="$(rnd "$attempt")" -v t="$typ" -v lo="$lo" 'BEGIN { printf "%d", t * (lo + r * (100 - lo)) / 100 }')
	runs0=$(runs_now)
	if [ "$kind" = rollback ]; then
		bg_start "$FLEETCTL" -i "$INV" rollback $OPTS -p 5 --json
	else
		bg_start "$FLEETCTL" -i "$INV" push "$REL_B" $OPTS -o "$OPTS_INSTALL" -p 5 $extra --json
	fi
	kill_at "$delay_ms"
	bg_wait 60
	run_id=$(runs_now | grep -vxF "$runs0" | tail -n 1)
	status=""
	[ -n "$run_id" ] && status=$(run_field "$run_id" .status)
	if [ "$hit" = 0 ]; then
		# The run ended before the kill: not a fault, but it must have ended well.
		early=$((early + 1))
		echo "# $k: $kind $extra ended by itself after ${ENDED_MS} ms, before the kill at ${delay_ms} ms (exit $BGRC): now the typical time"
		case "$kind:$extra" in
		rollback:*) TYP_RB=$ENDED_MS ;;
		push:--waves*) TYP_WAVES=$ENDED_MS ;;
		*) TYP_PUSH=$ENDED_MS ;;
		esac
		if [ "$BGRC" -ne 0 ] || bg_sanitizer; then
			fail "${k}_unkilled_run_ok" "exit $BGRC: $(head -c 600 "$T/bg.err")"
		fi
		t_check "${k}_unkilled_on_target" all_on WANT
		continue
	fi
	landed=$((landed + 1))
	fault_begin "$k: SIGKILL to '$kind $extra' at ${delay_ms} ms of ~${typ} ms; run ${run_id:-none (killed before its journal)} is ${status:-absent}"
	after_kill "$k"
done
echo "# phase 1: $landed kills landed in $attempt attempts ($early runs ended before their kill), $(($(date +%s) - p1_start)) s"
[ "$landed" -ge "$FAULT_KILLS" ] && pass p1_enough_kills_landed || fail p1_enough_kills_landed "$landed of $FAULT_KILLS kills landed"

# =============================================================================================
# Phase 1b: the controller killed at chosen moments, each found by polling (without sleeping) for
# what the run does on disk: the moment its journal records its end (the history commit comes
# after), the first terminal lock of a rollback and of a push (between a terminal's probe, which
# takes the lock, and its deploy script, whose trap drops it), and the moment t01 has switched.
# tkill KIND COND: start KIND (push of $REL_B, or rollback) and SIGKILL it once the shell test COND
# holds (at most 20000 polls); TK_HIT=1 if it was still running then.  Sets run_id and status.
tk_newest_journal() {
	[ -n "$TK_FILE" ] && return 0
	TK_FILE=$(ls -t "$STATE/runs" 2>/dev/null | head -n 1)
	case "$TK_FILE" in
	*.jsonl) printf '%s\n' "$runs0" | grep -qxF "${TK_FILE%.jsonl}" && TK_FILE="" ;;
	*) TK_FILE="" ;;
	esac
	[ -n "$TK_FILE" ]
}
tkill() {
	local i=0
	runs0=$(runs_now)
	TK_FILE=""
	TK_HIT=0
	if [ "$1" = rollback ]; then
		bg_start "$FLEETCTL" -i "$INV" rollback $OPTS -p 5 --json
	else
		bg_start "$FLEETCTL" -i "$INV" push "$REL_B" $OPTS -o "$OPTS_INSTALL" -p 5 --json
	fi
	while [ "$i" -lt 20000 ] && kill -0 "$BGPID" 2>/dev/null; do
		if eval "$2"; then
			kill -KILL "$BGPID" 2>/dev/null && TK_HIT=1
			break
		fi
		i=$((i + 1))
	done
	delay_ms=$(($(now_ms) - BG_T0))
	bg_wait 60
	run_id=$(runs_now | grep -vxF "$runs0" | tail -n 1)
	status=""
	[ -n "$run_id" ] && status=$(run_field "$run_id" .status)
}
# tk NAME KIND WHAT COND
tk() {
	local name=$1
	kind=$2
	extra=""
	snap_before
	if [ "$kind" = rollback ]; then
		want_previous || { fail "${name}_setup" "no previous release recorded to roll back to"; return 0; }
	else
		mkrel "$name"
		bundle_rel "$name" || return 0
		want_all "$REL_ID"
	fi
	tkill "$kind" "$4"
	if [ "$TK_HIT" != 1 ]; then
		fail "${name}_moment_caught" "the $kind ended (exit $BGRC) before $3"
		settle 10
		return 0
	fi
	fault_begin "$name: SIGKILL to '$kind' $3 (${delay_ms} ms); run ${run_id:-none} is ${status:-absent}"
	after_kill "$name"
}
p1b_start=$(date +%s)
tk tk_end_push push "the moment its journal records the end" 'tk_newest_journal && grep -q "\"t\":\"end\"" "$STATE/runs/$TK_FILE"'
tk tk_lock_rollback rollback "the moment a first terminal is locked" 'ls -d "$FLEET"/t*/root/.fleet-lock >/dev/null 2>&1'
tk tk_lock_push push "the moment a first terminal is locked" 'ls -d "$FLEET"/t*/root/.fleet-lock >/dev/null 2>&1'
tk tk_switch_push push "right after t01 switched" '[ "$(readlink "$FLEET/t01/root/app/current")" = "releases/$REL_ID" ]'
[ "${FAULT_LONG:-0}" = 1 ] && tk tk_end_rollback rollback "the moment its journal records the end" 'tk_newest_journal && grep -q "\"t\":\"end\"" "$STATE/runs/$TK_FILE"'
echo "# phase 1b: $(($(date +%s) - p1b_start)) s"

# =============================================================================================
# Phase 2: one terminal's sshd sessions killed (the link cut on the terminal's side).
VICTIM=t05
kill_sessions() {
	local lp s
	lp=$(fleet_pid "$FLEET" "$1") || return 1
	s=$(sshd_sessions "$lp")
	[ -n "$s" ] || return 1
	kill -KILL $s 2>/dev/null
	return 0
}
# sessions_named LISTENER: its session PIDs as PID=NAME words.
sessions_named() {
	local p c
	for p in $(fleet_tree "$1" | grep -vx "$1"); do
		c=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null)
		case "$c" in
		"sshd: "*) printf '%s=%s ' "$p" "$(echo "$c" | sed 's/^sshd: //; s/ .*//; s/[^A-Za-z0-9@_.-]//g')" ;;
		esac
	done
}
# cut_wait COND: with the background push running, learn the victim's session PIDs as soon as they
# exist (the one connection serves the probe and the deploy), and the moment the shell test COND
# holds kill them at once (then whatever else serves the victim).  CUT=1 when it landed.  Bounded:
# 3000 polls of about 10 ms.
cut_wait() {
	local i=0 lp sess=""
	CUT=0
	lp=$(fleet_pid "$FLEET" "$VICTIM") || return 0
	while [ "$i" -lt 3000 ] && kill -0 "$BGPID" 2>/dev/null; do
		# Until the session's post-auth process (sshd: USER@notty, which carries the connection)
		# is known: killing only the [priv] monitor would orphan it, and the link would live on.
		case "$sess" in
		*@notty*) ;;
		*) sess=$(sessions_named "$lp") ;;
		esac
		if [ -n "$sess" ] && eval "$1"; then
			sess=$(echo "$sess" | tr ' ' '\n' | sed 's/=.*//' | tr '\n' ' ')
			kill -KILL $sess 2>/dev/null && CUT=1
			kill -KILL $(sshd_sessions "$lp") 2>/dev/null
			break
		fi
		i=$((i + 1))
		sleep 0.01
	done
}
# cut_at NAME HOSTCOND...: push REL_B to the victim with the extra options in CUT_OPTS; when the
# shell test HOSTCOND (evaluated on the controller, with $R the victim's app dir) holds, kill the
# victim's sessions.  CUT=1 when the cut landed while the push still ran.
cut_at() {
	local name=$1 cond=$2 t0 R
	R=$(root_of "$VICTIM")/app
	CUT=0
	# shellcheck disable=SC2086
	bg_start "$FLEETCTL" -i "$INV" push "$REL_B" $OPTS --no-delta -l "$VICTIM" $CUT_OPTS --json
	t0=$(now_ms)
	cut_wait "$cond"
	bg_wait 60
	# A cut that came after the terminal had finished (the push says ok) is no cut.
	[ "$BGRC" -ne 0 ] || CUT=0
	echo "# $name: cut=$CUT after $(($(now_ms) - t0)) ms, push exit $BGRC: $(jq -r 'select(.host != null) | "\(.state) \(.step) \(.error)"' "$T/bg.out" 2>/dev/null | head -c 300)"
}
# tside NAME EXPECT: after a cut, the victim settles on old (EXPECT old), new (new) or either, and
# is complete; no lock stays; the next push (plain hooks) finishes; nothing partial is left.
tside_check() {
	local name=$1 expect=$2 st cur R
	R=$(root_of "$VICTIM")/app
	st=$(jq -r "select(.host == \"$VICTIM\") | .state" "$T/bg.out" 2>/dev/null)
	case "$BGRC:$st" in
	3:unreachable | 3:timeout)
		bg_sanitizer && fail "${name}_cut_reported_unreachable" "sanitizer report: $(grep -m 3 -E 'Sanitizer|runtime error' "$T/bg.err" | tr '\n' ' ')" ||
		    pass "${name}_cut_reported_unreachable"
		;;
	*) fail "${name}_cut_reported_unreachable" "a lost link must be reported unreachable (exit 3, not a failure): push exit $BGRC, $VICTIM $(jq -r "select(.host == \"$VICTIM\") | \"\(.state) \(.step) \(.error)\"" "$T/bg.out" 2>/dev/null | head -c 200)" ;;
	esac
	# What the lock looks like right after the cut (the terminal's script may still run).
	if [ -d "$(root_of "$VICTIM")/.fleet-lock" ]; then
		echo "# $name: right after the cut $VICTIM is still locked by its own left-behind script: $(tr '\n' ' ' <"$(root_of "$VICTIM")/.fleet-lock/info" 2>/dev/null)"
	fi
	settle 20 || fail "${name}_terminal_settles" "the left-behind script ran for more than 20 s"
	old_or_new "${name}_old_or_new"
	cur=$(link "$VICTIM" | sed 's|^releases/||')
	eval "b=\$BEFORE_$VICTIM; w=\$WANT_$VICTIM"
	case "$expect" in
	old) [ "$cur" = "$b" ] && pass "${name}_still_old" || fail "${name}_still_old" "current $cur, want the old $b" ;;
	new) [ "$cur" = "$w" ] && pass "${name}_already_new" || fail "${name}_already_new" "current $cur, want the new $w" ;;
	esac
	if [ -d "$(root_of "$VICTIM")/.fleet-lock" ]; then
		fail "${name}_no_lock_left" "$VICTIM still locked once nothing runs there: $(tr '\n' ' ' <"$(root_of "$VICTIM")/.fleet-lock/info" 2>/dev/null)"
		run fl lock status --json -l "$VICTIM"
		break_locks
	else
		pass "${name}_no_lock_left"
	fi
	recover "${name}_next_push_exit_0" fl push "$REL_B" $OPTS --no-delta -l "$VICTIM" --json
	echo "# $name: next push resumed_from $(printf '%s\n' "$T_STDOUT" | jq -r "select(.host == \"$VICTIM\") | .resumed_from") sent $(printf '%s\n' "$T_STDOUT" | jq -r "select(.host == \"$VICTIM\") | .bytes_sent") of $(stat -c %s "$REL_B")"
	t_check "${name}_next_push_lands" on_release "$VICTIM" "$w"
	left=$(ls "$R/.fleet/incoming" 2>/dev/null | tr '\n' ' ')
	[ -z "$left" ] && pass "${name}_no_partial_upload_left" || fail "${name}_no_partial_upload_left" "left in $R/.fleet/incoming: $left"
	no_staging_left "${name}_no_staging_left"
	t_check "${name}_status_in_sync" status_in_sync
}

# 0) at the start of the session: the moment its post-auth process exists, the probe's exec request
# is on its way.
mkrel presession 300000
bundle_rel presession
snap_before
want_all "$REL_ID"
CUT_OPTS=""
cut_at session '[ "${sess#*@notty}" != "$sess" ]'
fault_begin "t-side: $VICTIM's sessions killed as soon as its session is authenticated (probe or upload starting)"
[ "$CUT" = 1 ] && pass tside_session_cut_landed || fail tside_session_cut_landed "no cut"
tside_check tside_session old
fault_end

# a) mid-upload: an 18 MB incompressible release, cut once 1 MB of it is on the terminal.
p2_start=$(date +%s)
tries=0
while [ "$tries" -lt 3 ]; do
	tries=$((tries + 1))
	mkrel "up$tries" 12000000
	bundle_rel "up$tries" none || break
	snap_before
	want_all "$REL_ID"
	SHA=$(sha256sum <"$REL_B" | cut -d' ' -f1)
	CUT_OPTS=""
	cut_at upload '[ "$(stat -c %s "$R/.fleet/incoming/$SHA.partial" 2>/dev/null || echo 0)" -gt 1000000 ]'
	[ "$CUT" = 1 ] && break
done
fault_begin "t-side: $VICTIM's sessions killed mid-upload"
[ "$CUT" = 1 ] && pass tside_upload_cut_landed || fail tside_upload_cut_landed "no cut in $tries tries"
tside_check tside_upload old
fault_end

# b) mid-unpack: many small files first, a big one last; cut while tar writes the staging tree.
mkrel unpack 200000
mkdir -p "$T/rel/files"
i=0
while [ "$i" -lt 400 ]; do
	head -c 1500 /dev/urandom >"$T/rel/files/f$i"
	i=$((i + 1))
done
head -c 6000000 /dev/urandom >"$T/rel/zz-last"
bundle_rel unpack none
snap_before
want_all "$REL_ID"
CUT_OPTS=""
cut_at unpack '[ "$(ls "$R"/.fleet/tmp/*/files 2>/dev/null | wc -l)" -ge 30 ]'
fault_begin "t-side: $VICTIM's sessions killed mid-unpack"
[ "$CUT" = 1 ] && pass tside_unpack_cut_landed || fail tside_unpack_cut_landed "the unpack was not caught"
tside_check tside_unpack old
fault_end

# c) mid-install: the install hook marks its start, then sleeps.
mkrel install 500000
bundle_rel install
snap_before
want_all "$REL_ID"
rm -f "$(root_of "$VICTIM")/hit-install"
bg_cut_install() {
	local R t0
	R=$(root_of "$VICTIM")
	CUT=0
	bg_start "$FLEETCTL" -i "$INV" push "$REL_B" $OPTS --no-delta -l "$VICTIM" -o "$1" --json
	t0=$(now_ms)
	cut_wait "[ -e \"\$R/$2\" ]"
	bg_wait 60
	[ "$BGRC" -ne 0 ] || CUT=0
	rm -f "$R/$2"
	echo "# $3: cut=$CUT after $(($(now_ms) - t0)) ms, push exit $BGRC: $(jq -r 'select(.host != null) | "\(.state) \(.step) \(.error)"' "$T/bg.out" 2>/dev/null | head -c 300)"
}
bg_cut_install 'install=touch "$FLEET_ROOT/../hit-install"; sleep 2' hit-install install
fault_begin "t-side: $VICTIM's sessions killed mid-install"
[ "$CUT" = 1 ] && pass tside_install_cut_landed || fail tside_install_cut_landed "the install was not caught"
tside_check tside_install old
fault_end

# d) just before the switch: the second busy check (the release is installed by then) sleeps.
mkrel preswitch 500000
bundle_rel preswitch
snap_before
want_all "$REL_ID"
bg_cut_install 'busy=if [ -f "$FLEET_ROOT/.fleet/installed/$FLEET_RELEASE" ]; then touch "$FLEET_ROOT/../hit-busy"; sleep 1.5; fi; exit 0' hit-busy pre-switch
fault_begin "t-side: $VICTIM's sessions killed right before the switch"
[ "$CUT" = 1 ] && pass tside_preswitch_cut_landed || fail tside_preswitch_cut_landed "the busy check was not caught"
tside_check tside_preswitch old
fault_end

# e) just after the switch: the restart hook sleeps.
mkrel postswitch 500000
bundle_rel postswitch
snap_before
want_all "$REL_ID"
bg_cut_install 'restart=touch "$FLEET_ROOT/../hit-restart"; sleep 1.5' hit-restart post-switch
fault_begin "t-side: $VICTIM's sessions killed right after the switch (in restart)"
[ "$CUT" = 1 ] && pass tside_postswitch_cut_landed || fail tside_postswitch_cut_landed "the restart was not caught"
tside_check tside_postswitch new
fault_end
t_check tside_targeted_history_accounts history_accounts

# f) random cuts: a fleet-wide push, one random terminal's sessions killed at a random moment.
j=0
while [ "$j" -lt "$FAULT_TSIDE" ]; do
	j=$((j + 1))
	r=$(printf 'r%02d' "$j")
	mkrel "$r"
	bundle_rel "$r" || continue
	snap_before
	want_all "$REL_ID"
	vi=$(awk -v r="$(rnd $((1000 + j)))" 'BEGIN { printf "%02d", int(r * 10) + 1 }')
	victim=t$vi
	delay_ms=$(awk -v r="$(rnd $((2000 + j)))" -v t="$TYP_PUSH" 'BEGIN { printf "%d", r * t }')
	bg_start "$FLEETCTL" -i "$INV" push "$REL_B" $OPTS -o "$OPTS_INSTALL" -p 10 --json
	cut=0
	while [ $(($(now_ms) - BG_T0)) -lt "$delay_ms" ] && kill -0 "$BGPID" 2>/dev/null; do
		sleep 0.02
	done
	kill -0 "$BGPID" 2>/dev/null && kill_sessions "$victim" && cut=1
	bg_wait 60
	vstate=$(jq -r "select(.host == \"$victim\") | .state" "$T/bg.out" 2>/dev/null)
	if [ "$cut" = 0 ]; then
		echo "# $r: $victim had no session at ${delay_ms} ms (push exit $BGRC, $victim $vstate): not a fault"
		settle 15
		[ "$BGRC" = 0 ] && ! bg_sanitizer || fail "${r}_uncut_push_ok" "exit $BGRC: $(head -c 400 "$T/bg.err")"
		t_check "${r}_uncut_on_target" all_on WANT
		continue
	fi
	fault_begin "t-side random: $victim's sessions killed at ${delay_ms} ms of a 10-terminal push"
	others_bad=$(jq -r "select(.host != null and .host != \"$victim\" and .state != \"ok\") | \"\(.host):\(.state)\"" "$T/bg.out" | tr '\n' ' ')
	if [ -z "$others_bad" ] && ! bg_sanitizer; then
		pass "${r}_others_ok"
	else
		fail "${r}_others_ok" "others: $others_bad"
	fi
	case "$vstate" in
	unreachable | timeout | ok) pass "${r}_victim_reported_unreachable" ;;
	*) fail "${r}_victim_reported_unreachable" "a lost link must be reported unreachable, not '$vstate': $(jq -r "select(.host == \"$victim\") | \"\(.step) \(.error)\"" "$T/bg.out" | head -c 200) (push exit $BGRC)" ;;
	esac
	echo "# $r: $victim ended $vstate ($(jq -r "select(.host == \"$victim\") | \"\(.step) \(.error)\"" "$T/bg.out" | head -c 200)), push exit $BGRC"
	settle 20 || fail "${r}_settle" "left-behind scripts ran for more than 20 s"
	old_or_new "${r}_old_or_new"
	recover "${r}_next_push_exit_0" fl push "$REL_B" $OPTS -o "$OPTS_INSTALL" --json
	lk=$(locked_in_output)
	[ -z "$lk" ] && pass "${r}_next_push_not_locked" || fail "${r}_next_push_not_locked" "$lk locked"
	t_check "${r}_all_on_target_match_history" all_on WANT
	t_check "${r}_no_lock_left" no_locks
	no_staging_left "${r}_no_staging_left"
	t_check "${r}_history_one_commit_per_ended_run" history_accounts
	t_check "${r}_status_in_sync" status_in_sync
	fault_end
done
t_check p2_history_fsck fsck_clean
echo "# phase 2: $(($(date +%s) - p2_start)) s"

# =============================================================================================
# Phase 4: terminals that accept TCP and never speak (t07), or send an SSH banner and then nothing
# (t08): timeout within connect_timeout, the others succeed.
p4_start=$(date +%s)
cat >"$T/silent.py" <<'EOF'
import os, socket, sys, time
# silent.py PORTFILE SECONDS BANNER: accept connections and never answer (BANNER 1: send an SSH
# version line first); exits by itself after SECONDS.
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
end = time.time() + float(sys.argv[2])
s.settimeout(0.2)
conns = []
while time.time() < end:
    try:
        c, _ = s.accept()
        if sys.argv[3] == "1":
            c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        conns.append(c)
    except socket.timeout:
        pass
EOF
python3 "$T/silent.py" "$T/silent7.port" 90 0 &
SILENTPIDS="$SILENTPIDS $!"
python3 "$T/silent.py" "$T/silent8.port" 90 1 &
SILENTPIDS="$SILENTPIDS $!"
i=0
while { [ ! -s "$T/silent7.port" ] || [ ! -s "$T/silent8.port" ]; } && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
awk -v p7="$(cat "$T/silent7.port")" -v p8="$(cat "$T/silent8.port")" '
	/^\[host:/ { h = $0 }
	/^port = / && h == "[host:t07]" { $0 = "port = " p7 }
	/^port = / && h == "[host:t08]" { $0 = "port = " p8 }
	{ print }' "$INV" >"$T/inv-silent"
fault_begin "t07 accepts TCP and never speaks, t08 sends a banner and then nothing (connect_timeout 3)"
mkrel silent
bundle_rel silent
t0=$(now_ms)
t_check silent_push_exit_3 expect_exit 3 "$FLEETCTL" -i "$T/inv-silent" -o connect_timeout=3 push "$REL_B" $OPTS -o "$OPTS_INSTALL" --json
secs=$(($(now_ms) - t0))
for n in t07 t08; do
	got=$(printf '%s\n' "$T_STDOUT" | jq -r "select(.host == \"$n\") | \"\(.state) \(.duration_ms) \(.error)\"")
	echo "# $n: $got"
	case "$got" in
	timeout\ * | unreachable\ *)
		ms=$(echo "$got" | cut -d' ' -f2)
		# One connect timeout, and a second try at most.
		[ "${ms:-99999}" -le 7500 ] && pass "silent_${n}_timeout_in_time" || fail "silent_${n}_timeout_in_time" "$got"
		;;
	*) fail "silent_${n}_timeout_in_time" "state and duration: '$got'" ;;
	esac
done
bad=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null and .host != "t07" and .host != "t08" and .state != "ok") | .host' | tr '\n' ' ')
[ -z "$bad" ] && pass silent_others_ok || fail silent_others_ok "not ok: $bad"
[ "$secs" -le 20000 ] && pass silent_push_bounded || fail silent_push_bounded "the push took $secs ms"
for p in $SILENTPIDS; do
	kill -TERM "$p" 2>/dev/null
	wait "$p" 2>/dev/null
done
SILENTPIDS=""
t_check silent_then_all_ok expect_exit 0 fl push "$REL_B" $OPTS -o "$OPTS_INSTALL" --json
want_all "$REL_ID"
t_check silent_then_all_on_target all_on WANT
t_check silent_history_accounts history_accounts
fault_end
echo "# phase 4: $(($(date +%s) - p4_start)) s"

# =============================================================================================
# Phase 3: disk full on t03 (a 3 MiB tmpfs as its root).
p3_start=$(date +%s)
TMPFS=$T/tmpfs-t03
mkdir -p "$TMPFS"
if mount -t tmpfs -o size=3m,mode=0755 tmpfs "$TMPFS" && chown "$ACCOUNT:" "$TMPFS"; then
	TMPFS_ACTIVE=1
	awk -v r="$TMPFS" '/^\[host:/ { h = $0 } /^root = / && h == "[host:t03]" { $0 = "root = " r } { print }' "$INV" >"$T/inv-tmpfs"
	INV0=$INV
	INV=$T/inv-tmpfs
	rm -rf "$T/small"
	mkdir -p "$T/small"
	head -c 300000 /dev/urandom >"$T/small/data"
	echo small1 >"$T/small/VERSION"
	bundle_rel small1 gzip "$T/small"
	SMALL1=$REL_ID
	t_check disk_small_first expect_exit 0 fl push "$REL_B" -l 't03,t04' --json
	t_check disk_small_first_lands on_release t03 "$SMALL1"
	snap_before

	fault_begin "disk full on t03 during upload+unpack (incompressible 6 MB release on 3 MiB)"
	mkrel diskbig 6000000
	bundle_rel diskbig
	BIG=$REL_ID
	BIG_B=$REL_B
	want_all "$BIG"
	t_check disk_big_exit_1 expect_exit 1 fl push "$REL_B" --no-delta -l 't03,t04' --json
	err=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host == "t03") | "\(.state) \(.step) \(.error)"')
	echo "# t03: $(echo "$err" | head -c 300)"
	case "$err" in
	failed\ *No\ space\ left* | failed\ *Wrote\ only* | failed\ *cannot\ write*) pass disk_big_clear_error ;;
	*) fail disk_big_clear_error "t03: $err" ;;
	esac
	[ "$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host == "t04") | .state')" = ok ] && pass disk_big_other_ok || fail disk_big_other_ok "t04 not ok"
	old_or_new disk_big_old_or_new
	t_check disk_big_old_untouched on_release t03 "$SMALL1"
	[ -d "$TMPFS/.fleet-lock" ] && fail disk_big_no_lock "t03 left locked" || pass disk_big_no_lock
	fault_end

	fault_begin "disk full on t03 during unpack only (8 MB of zeros, a few kB on the wire)"
	rm -rf "$T/zero"
	mkdir -p "$T/zero"
	head -c 8000000 /dev/zero >"$T/zero/zeros"
	echo zero >"$T/zero/VERSION"
	bundle_rel diskzero gzip "$T/zero"
	t_check disk_zero_exit_1 expect_exit 1 fl push "$REL_B" --no-delta -l t03 --json
	err=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host == "t03") | "\(.state) \(.step) \(.error)"')
	echo "# t03: $(echo "$err" | head -c 300)"
	case "$err" in
	"failed unpack "*) pass disk_zero_fails_at_unpack ;;
	*) fail disk_zero_fails_at_unpack "t03: $err" ;;
	esac
	if printf '%s\n' "$err" | grep -qiE 'no space left|disk full|ENOSPC'; then
		echo "# the unpack error names the full disk"
	else
		echo "# note: the unpack error does not say the disk is full, only tar's 'Wrote only N of M bytes'"
	fi
	t_check disk_zero_old_untouched on_release t03 "$SMALL1"
	left=$(ls "$TMPFS/app/.fleet/tmp" 2>/dev/null | tr '\n' ' ')
	[ -z "$left" ] && pass disk_zero_staging_cleaned || fail disk_zero_staging_cleaned "left in .fleet/tmp: $left"
	[ -d "$TMPFS/.fleet-lock" ] && fail disk_zero_no_lock "t03 left locked" || pass disk_zero_no_lock
	fault_end

	# A small release still goes (what the failed uploads keep for a resume leaves room for it).
	echo "# t03 after the failures: $(df -k "$TMPFS" | awk 'NR == 2 { print $3 " kB used, " $4 " kB free" }'); $(ls -l "$TMPFS/app/.fleet/incoming" | awk 'NR > 1 { printf "%s %s; ", $5, $9 }')"
	rm -rf "$T/small"
	mkdir -p "$T/small"
	head -c 200000 /dev/urandom >"$T/small/data"
	echo small2 >"$T/small/VERSION"
	bundle_rel small2 gzip "$T/small"
	t_check disk_small_after_full_exit_0 expect_exit 0 fl push "$REL_B" -l t03 --json
	t_check disk_small_after_full_lands on_release t03 "$REL_ID"
	# Room made: the big release goes, resuming what it had uploaded.
	mount -o remount,size=64m "$TMPFS"
	t_check disk_big_after_room_exit_0 expect_exit 0 fl push "$BIG_B" --no-delta -l t03 --json
	echo "# t03: the big release resumed from $(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host == "t03") | .resumed_from') bytes"
	t_check disk_big_after_room_lands on_release t03 "$BIG"
	left=$(ls "$TMPFS/app/.fleet/tmp" 2>/dev/null | tr '\n' ' ')
	[ -z "$left" ] && pass disk_staging_clean_at_end || fail disk_staging_clean_at_end "left in .fleet/tmp: $left"
	t_check disk_history_accounts history_accounts
	TMPFS_ACTIVE=0
	INV=$INV0
	umount "$TMPFS" && pass disk_umount || fail disk_umount "umount $TMPFS failed"
else
	fail disk_tmpfs_mount "cannot mount a tmpfs on $TMPFS (root needed)"
fi
echo "# phase 3: $(($(date +%s) - p3_start)) s"

# =============================================================================================
# The end: every terminal on one release, in sync, history whole.
mkrel final
bundle_rel final
t_check final_push_exit_0 expect_exit 0 fl push "$REL_B" $OPTS --json
want_all "$REL_ID"
t_check final_all_on_target all_on WANT
t_check final_no_lock_left no_locks
no_staging_left final_no_staging_left
t_check final_status_in_sync status_in_sync
t_check final_history_fsck fsck_clean
t_check final_history_one_commit_per_ended_run history_accounts
settle 10 || fail final_settle "processes left on the terminals"
echo "# campaign: $(($(date +%s) - F_START)) s, $(commits) history commits, $(runs_now | wc -l) runs, $F_LOCKBREAKS lock breaks"
echo "faults tried $F_TRIED, survived $F_SURVIVED, data lost $F_LOST"
t_done
}
