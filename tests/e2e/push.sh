#!/bin/sh
# e2e: `fleetctl push` and `status` against real local sshd terminals: content, history, no-op
# re-push, bundles, failed install / restart, unreachable terminals, the install environment, a cut
# upload resumed, preflight of missing tools, drift, concurrent pushes, dry runs, pruning, and a
# hostile archive.
. "$(dirname "$0")/../lib.sh"

t_setup

HIST=""

# A new, empty fleet of K terminals (and an empty history).
fresh_fleet() {
	fleet_down
	rm -rf "$T/fleet"
	fleet_up "$@"
	HIST=$FLEET/state/history
}

# mkrel DIR TAG: a small release tree (files, a subdirectory, a symlink) whose content depends on TAG.
mkrel() {
	rm -rf "$1"
	mkdir -p "$1/bin" "$1/share/doc"
	printf '#!/bin/sh\necho %s\n' "$2" >"$1/bin/run"
	chmod 755 "$1/bin/run"
	printf 'version %s\n' "$2" >"$1/VERSION"
	printf 'documentation of %s\n' "$2" >"$1/share/doc/README"
	ln -s bin/run "$1/run"
}

# matches_manifest TNN ID [COMP]: current -> releases/ID, and its files (with their SHA-256) and
# symlinks are exactly those of the manifest the history recorded for ID.
matches_manifest() {
	local c=${3:-app} dir want got
	dir=$FLEET/$1/root/$c/current
	if [ "$(link "$1" "$c")" != "releases/$2" ]; then
		T_WHY="$1: current -> '$(link "$1" "$c")', want releases/$2"
		return 1
	fi
	want=$(git -C "$HIST" show "main:releases/$c/$2.manifest" |
	    awk -F '\t' '$1 == "f" { print $4 "  " $5 } $1 == "l" { print "link  " $5 " -> " $6 }' | sort)
	got=$(cd "$dir" && {
		find . -type f ! -path ./.fleetctl-manifest | sed 's|^\./||' | while read -r f; do sha256sum "$f"; done
		find . -type l -printf 'link  %P -> %l\n'
	} | sort)
	if [ -z "$want" ] || [ "$want" != "$got" ]; then
		T_WHY="$1: content differs from the manifest of $2"
		printf '# want:\n%s\n# got:\n%s\n' "$want" "$got" | sed 's/^/# /'
		return 1
	fi
	return 0
}

# inv_with OUT HOST KEY VALUE: a copy of $INV with KEY = VALUE in HOST's section.
inv_with() {
	awk -v h="[host:$2]" -v kv="$3 = $4" '{ print } $0 == h { print kv }' "$INV" >"$1"
}

# ---------------------------------------------------------------------------------------------
# 20 terminals: exact content, one history commit, and a second push that changes nothing.
fresh_fleet 20
mkrel "$T/r10" 1.0
t_check push20_exit_0 expect_exit 0 fl push "$T/r10" --version 1.0 --json
ID10=$(hj t01 .release)
ok=1
for n in $(cat "$FLEET/names"); do
	matches_manifest "$n" "$ID10" || { ok=0; break; }
done
[ "$ok" = 1 ] && pass push20_current_matches_manifest || fail push20_current_matches_manifest "$T_WHY"

got="$(commits) $(git -C "$HIST" log -1 --format=%B | grep -cE '^t[0-9]{2} ok') $(git -C "$HIST" log -1 --format=%B | grep -c '^Terminals: 20$')"
[ "$got" = "1 20 1" ] && pass push20_history_one_commit_20_results ||
    fail push20_history_one_commit_20_results "commits, ok lines, Terminals line: '$got', want '1 20 1'"

before=$(for n in $(cat "$FLEET/names"); do stat -c '%n %i %y' "$FLEET/$n/root/app/current"; done)
t_check push20_again_exit_0 expect_exit 0 fl push "$T/r10" --version 1.0 --json
got="$(sj .bytes_sent) $(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null and .unchanged == true) | .host' | wc -l)"
[ "$got" = "0 20" ] && pass push20_again_sends_nothing_all_unchanged ||
    fail push20_again_sends_nothing_all_unchanged "bytes_sent, unchanged hosts: '$got', want '0 20'"
after=$(for n in $(cat "$FLEET/names"); do stat -c '%n %i %y' "$FLEET/$n/root/app/current"; done)
[ "$before" = "$after" ] && pass push20_again_current_untouched || fail push20_again_current_untouched "inode or mtime of a current changed"

# ---------------------------------------------------------------------------------------------
# A directory pushed with --version and the archive `bundle` makes of it: same release id.
fresh_fleet 6
mkrel "$T/r11" 1.1
run "$FLEETCTL" bundle "$T/r11" --version 1.1 -o "$T/r11.tar.gz"
BID=$(printf '%s\n' "$T_STDOUT" | grep -oE '1\.1-[0-9a-f]{12}' | head -n 1)
t_check push_bundle_exit_0 expect_exit 0 fl push "$T/r11.tar.gz" -l t01 --json
got_b=$(hj t01 .release)
t_check push_dir_exit_0 expect_exit 0 fl push "$T/r11" --version 1.1 -l t02 --json
got_d=$(hj t02 .release)
if [ -n "$BID" ] && [ "$got_b" = "$BID" ] && [ "$got_d" = "$BID" ] && matches_manifest t01 "$BID" &&
    matches_manifest t02 "$BID"; then
	pass push_dir_and_bundle_same_release
else
	fail push_dir_and_bundle_same_release "bundle '$BID', push bundle '$got_b', push dir '$got_d' ${T_WHY:-}"
fi

# ---------------------------------------------------------------------------------------------
# A failed install keeps the old current, is reported with its stderr, and is recorded as failed;
# an unreachable terminal is recorded as such.
mkrel "$T/r10b" 1.0
t_check push_base_exit_0 expect_exit 0 fl push "$T/r10b" --version 1.0 --json
IDB=$(hj t03 .release)
mkrel "$T/r12" 1.2
inv_with "$T/inv-install" t03 install 'echo boom-on-t03 >&2; exit 7'
fleet_stop_one "$FLEET" t04
expect_exit 1 "$FLEETCTL" -i "$T/inv-install" push "$T/r12" --version 1.2 -l 't01,t03,t04' --json
ID12=$(hj t01 .release)
got="$(hj t03 .state) $(hj t03 .step)"
[ "$got" = "failed install" ] && pass push_install_fail_reported || fail push_install_fail_reported "t03: '$got'"
hj t03 .error | grep -q 'boom-on-t03' && pass push_install_fail_has_stderr ||
    fail push_install_fail_has_stderr "error: $(hj t03 .error)"
[ "$(link t03)" = "releases/$IDB" ] && pass push_install_fail_keeps_current ||
    fail push_install_fail_keeps_current "t03 current -> $(link t03)"
[ "$(link t01)" = "releases/$ID12" ] && pass push_install_fail_others_go_on ||
    fail push_install_fail_others_go_on "t01 current -> $(link t01)"
git -C "$HIST" show main:hosts/t03/app | grep -qE "^failed:.*\b$ID12\b" && pass push_install_fail_state_failed ||
    fail push_install_fail_state_failed "$(git -C "$HIST" show main:hosts/t03/app | tr '\n' '|')"
git -C "$HIST" log -1 --format=%B | grep -qE '^t04 unreachable' && pass push_unreachable_recorded ||
    fail push_unreachable_recorded "$(git -C "$HIST" log -1 --format=%B | grep '^t0' | tr '\n' '|')"
fleet_start_one "$FLEET" t04

# ---------------------------------------------------------------------------------------------
# The install command's environment and working directory.
mkrel "$T/r13" 1.3
rm -f "$FLEET/t01/root/env.out"
t_check push_env_exit_0 expect_exit 0 fl -o 'install=echo "$FLEET_RELEASE $FLEET_VERSION $FLEET_PREVIOUS $FLEET_COMPONENT" >"$FLEET_ROOT/../env.out"; pwd >>"$FLEET_ROOT/../env.out"' \
    push "$T/r13" --version 1.3 -l t01 --json
ID13=$(hj t01 .release)
want="$ID13 1.3 $ID12 app|$FLEET/t01/root/app/releases/$ID13|"
got=$(tr '\n' '|' <"$FLEET/t01/root/env.out" 2>/dev/null)
[ "$got" = "$want" ] && pass push_install_env || fail push_install_env "got '$got', want '$want'"

# ---------------------------------------------------------------------------------------------
# A failed restart switches back to the old release.
mkrel "$T/r14" 1.4
expect_exit 1 fl -o 'restart=echo restart-broken >&2; exit 5' push "$T/r14" --version 1.4 -l t02 --json
got="$(hj t02 .state) $(hj t02 .step)"
[ "$got" = "failed restart" ] && pass push_restart_fail_reported || fail push_restart_fail_reported "t02: '$got' ($T_STDOUT)"
[ "$(link t02)" = "releases/$IDB" ] && pass push_restart_fail_switches_back ||
    fail push_restart_fail_switches_back "t02 current -> $(link t02), want releases/$IDB"
got=$(git -C "$HIST" show main:hosts/t02/app | sed -n 's/^current: //p')
[ "$got" = "$IDB" ] && pass push_restart_fail_history_keeps_current ||
    fail push_restart_fail_history_keeps_current "recorded current '$got', want $IDB"

# ---------------------------------------------------------------------------------------------
# Step deadlines: a hung install or restart is killed on the terminal, the install is recorded as
# failed, the restart is undone, and nothing of it keeps running.
leftovers() {
	local lpid
	lpid=$(fleet_pid "$FLEET" t06)
	fleet_tree "$lpid" | grep -vx "$lpid" | tr '\n' ' '
}
mkrel "$T/r15" 1.5
start=$(date +%s)
expect_exit 1 fl -o command_timeout=2 -o 'install=sleep 30' push "$T/r15" --version 1.5 -l t06 --json
ID15=$(hj t06 .release)
secs=$(($(date +%s) - start))
got="$(hj t06 .state) $(hj t06 .step) $(link t06)"
[ "$got" = "failed install releases/$IDB" ] && [ "$secs" -lt 20 ] && pass push_install_deadline_fails_in_time ||
    fail push_install_deadline_fails_in_time "'$got' after ${secs}s"
git -C "$HIST" show main:hosts/t06/app | grep -qE "^failed:.*\b$ID15\b" && pass push_install_deadline_recorded_failed ||
    fail push_install_deadline_recorded_failed "$(git -C "$HIST" show main:hosts/t06/app | tr '\n' '|')"
sleep 1
[ -z "$(leftovers)" ] && pass push_install_deadline_killed_on_terminal || fail push_install_deadline_killed_on_terminal "left: $(ps -o pid=,args= -p "$(leftovers | tr ' ' ,)0")"
mkrel "$T/r16" 1.6
expect_exit 1 fl -o command_timeout=2 -o 'restart=sleep 30' push "$T/r16" --version 1.6 -l t06 --json
got="$(hj t06 .state) $(hj t06 .step) $(link t06)"
[ "$got" = "failed restart releases/$IDB" ] && pass push_restart_deadline_switches_back ||
    fail push_restart_deadline_switches_back "got '$got', want 'failed restart releases/$IDB'"

# ---------------------------------------------------------------------------------------------
# An upload cut in the middle resumes on the next push.  The cut: once the partial file on t05 passes
# 1 MB, kill that terminal's session processes (never its listener, never another terminal).
resume_try() {
	mkdir -p "$T/big"
	head -c 30000000 /dev/urandom >"$T/big/blob"
	rm -f "$T/big.tar.gz"
	run "$FLEETCTL" bundle "$T/big" --version "9.$1" --compress none -o "$T/big.tar"
	BIGSIZE=$(stat -c %s "$T/big.tar")
	t_push_cut t05 "$T/big.tar"
}
tries=0
while [ "$tries" -lt 3 ]; do
	tries=$((tries + 1))
	resume_try "$tries"
	# The upload may have finished before the kill landed: then try again with new content.
	[ "$CUTAT" -gt 0 ] && [ "$CUTRC" -ne 0 ] && break
done
echo "# cut at $CUTAT of $BIGSIZE bytes after $tries tries, push exit $CUTRC"
got=$(jq -r 'select(.host == "t05") | .state' "$T/cut.json")
case "$got" in
failed | unreachable) pass push_cut_upload_reported ;;
*) fail push_cut_upload_reported "t05 state '$got': $(cat "$T/cut.json" "$T/cut.err" | head -c 600)" ;;
esac
t_check push_resume_exit_0 expect_exit 0 fl push "$T/big.tar" -l t05 --json
from=$(hj t05 .resumed_from)
sent=$(hj t05 .bytes_sent)
if [ "${from:-0}" -gt 0 ] && [ "${sent:-0}" -lt "$BIGSIZE" ] && [ $((from + sent)) -eq "$BIGSIZE" ]; then
	pass push_resume_sends_the_rest
else
	fail push_resume_sends_the_rest "resumed_from '$from', bytes_sent '$sent', size $BIGSIZE"
fi
matches_manifest t05 "$(hj t05 .release)" && pass push_resume_content_right || fail push_resume_content_right "$T_WHY"

# ---------------------------------------------------------------------------------------------
# Preflight: a terminal whose PATH lacks sha256sum (then tar) is refused with a clear error.
# Also one without grep, which the terminal lock needs: refused the same way, and no lock left behind.
mkdir -p "$T/path-nosha" "$T/path-notar" "$T/path-nogrep"
for tool in sh tar gzip sha256sum readlink mkdir mv ln rm rmdir cat wc sleep kill env head grep sed printf date; do
	p=$(command -v "$tool") || continue
	[ "$tool" = sha256sum ] || ln -sf "$p" "$T/path-nosha/$tool"
	[ "$tool" = tar ] || ln -sf "$p" "$T/path-notar/$tool"
	[ "$tool" = grep ] || ln -sf "$p" "$T/path-nogrep/$tool"
done
cp "$FLEET/t06/sshd_config" "$T/t06.sshd_config"
preflight_missing() {
	cp "$T/t06.sshd_config" "$FLEET/t06/sshd_config"
	echo "SetEnv PATH=$1" >>"$FLEET/t06/sshd_config"
	fleet_stop_one "$FLEET" t06
	fleet_start_one "$FLEET" t06 || { T_WHY="t06 did not restart"; return 1; }
	before=$(commits)
	expect_exit 1 fl push "$T/r14" --version 1.4 -l t06 --json || return 1
	if [ "$(hj t06 .step)" != preflight ] || ! hj t06 .error | grep -qE "lacks:.*\b$2\b"; then
		T_WHY="t06: step '$(hj t06 .step)', error '$(hj t06 .error)'"
		return 1
	fi
	# Nothing was unpacked there, and the terminal is not left locked.
	if [ -n "$(ls "$FLEET/t06/root/app/releases" 2>/dev/null | grep '^1\.4-')" ]; then
		T_WHY="1.4 unpacked on t06 anyway"
		return 1
	fi
	if [ -e "$FLEET/t06/root/.fleet-lock" ]; then
		T_WHY="t06 left locked: $(cat "$FLEET/t06/root/.fleet-lock/info" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	return 0
}
t_check push_preflight_missing_sha256sum preflight_missing "$T/path-nosha" sha256sum
t_check push_preflight_missing_tar preflight_missing "$T/path-notar" tar
t_check push_preflight_missing_grep preflight_missing "$T/path-nogrep" grep
cp "$T/t06.sshd_config" "$FLEET/t06/sshd_config"
fleet_stop_one "$FLEET" t06
fleet_start_one "$FLEET" t06
t_check push_after_preflight_fix_works expect_exit 0 fl push "$T/r14" --version 1.4 -l t06 --json

# ---------------------------------------------------------------------------------------------
# status: in sync, then drift after a hand-made change; --offline with every terminal down.
t_check status_in_sync_exit_0 expect_exit 0 fl status -l 't01,t03' --json
ln -sfn releases/x "$FLEET/t03/root/app/current"
t_check status_drift_exit_1 expect_exit 1 fl status -l 't01,t03' --json
got="$(hj t01 .state) / $(hj t03 .state) $(hj t03 .running)"
[ "$got" = "in sync / drift x" ] && pass status_drift_named || fail status_drift_named "got '$got'"
ln -sfn "releases/$IDB" "$FLEET/t03/root/app/current"
fleet_down
t_check status_offline_exit_0 expect_exit 0 fl status --offline -l 't01,t03'
printf '%s\n' "$T_STDOUT" | grep -E "^t01 .*$ID13.*recorded" >/dev/null && pass status_offline_answers ||
    fail status_offline_answers "$T_STDOUT"

# ---------------------------------------------------------------------------------------------
# Two pushes at once to disjoint groups: both land in the history.
fresh_fleet 6
mkrel "$T/ra" 2.0
mkrel "$T/rb" 2.1
fl push "$T/ra" --version 2.0 -l lobby --json >"$T/a.json" 2>"$T/a.err" </dev/null &
pa=$!
fl push "$T/rb" --version 2.1 -l 'kiosks,!lobby' --json >"$T/b.json" 2>"$T/b.err" </dev/null &
pb=$!
wait "$pa"
ra=$?
wait "$pb"
rb=$?
IDA=$(jq -r 'select(.host == "t01") | .release' "$T/a.json")
IDBB=$(jq -r 'select(.host == "t04") | .release' "$T/b.json")
[ "$ra $rb" = "0 0" ] && pass push_concurrent_both_exit_0 || fail push_concurrent_both_exit_0 "exits $ra $rb: $(cat "$T/a.err" "$T/b.err")"
[ "$(commits)" = 2 ] && pass push_concurrent_two_commits || fail push_concurrent_two_commits "$(commits) commits"
ok=1
for n in t01 t02 t03 t04 t05 t06; do
	case $n in t01 | t02 | t03) want=$IDA ;; *) want=$IDBB ;; esac
	got=$(git -C "$HIST" show "main:hosts/$n/app" | sed -n 's/^current: //p')
	[ "$got" = "$want" ] && [ "$(link $n)" = "releases/$want" ] || { ok=0; why="$n: recorded '$got', link '$(link $n)', want $want"; }
done
[ "$ok" = 1 ] && pass push_concurrent_states_right || fail push_concurrent_states_right "$why"

# ---------------------------------------------------------------------------------------------
# --dry-run: says what it would do, changes nothing, records nothing.
mkrel "$T/rc" 2.2
before="$(commits) $(for n in t01 t04; do link $n; ls "$FLEET/$n/root/app/releases" "$FLEET/$n/root/app/.fleet/incoming"; done | tr '\n' ' ')"
t_check push_dry_run_exit_0 expect_exit 0 fl push "$T/rc" --version 2.2 -l 't01,t04' --dry-run --json
hj t01 .plan | grep -q 'would upload' && pass push_dry_run_plans || fail push_dry_run_plans "plan: $(hj t01 .plan)"
after="$(commits) $(for n in t01 t04; do link $n; ls "$FLEET/$n/root/app/releases" "$FLEET/$n/root/app/.fleet/incoming"; done | tr '\n' ' ')"
[ "$before" = "$after" ] && pass push_dry_run_changes_nothing || fail push_dry_run_changes_nothing "before '$before' after '$after'"

# ---------------------------------------------------------------------------------------------
# A hostile archive (an entry ../evil) is refused before any terminal is touched.
"$FLEETCTL" bundle "$T/rc" --version 2.3 -o "$T/good.tar.gz" >/dev/null 2>&1
python3 - "$T/good.tar.gz" "$T/evil.tar.gz" <<'EOF'
import io, sys, tarfile
src = tarfile.open(sys.argv[1], "r:gz")
with tarfile.open(sys.argv[2], "w:gz", format=tarfile.PAX_FORMAT) as out:
    for m in src.getmembers():
        out.addfile(m, src.extractfile(m) if m.isfile() else None)
    data = b"owned\n"
    ti = tarfile.TarInfo("../evil")
    ti.size = len(data)
    ti.mode = 0o644
    out.addfile(ti, io.BytesIO(data))
EOF
before="$(commits) $(find "$FLEET"/t0?/root | sort | md5sum)"
t_check push_hostile_exit_1 expect_exit 1 fl push "$T/evil.tar.gz"
printf '%s\n' "$T_STDERR" | grep -qF '../evil' && pass push_hostile_names_entry || fail push_hostile_names_entry "stderr: $T_STDERR"
after="$(commits) $(find "$FLEET"/t0?/root | sort | md5sum)"
[ "$before" = "$after" ] && [ ! -e "$FLEET/t01/root/evil" ] && [ ! -e "$FLEET/t01/root/app/evil" ] &&
    pass push_hostile_touches_nothing || fail push_hostile_touches_nothing "terminals or history changed"

# ---------------------------------------------------------------------------------------------
# Pruning with keep=2 after 1.0, 1.1, 1.2, 1.3 on one terminal.  What stays: the new current (1.3),
# the previous (1.2), and the `keep` newest releases that finished installing besides the new one
# (1.2, 1.1): releases/ holds exactly 1.1, 1.2, 1.3; 1.0 and its installed marker are gone.
fresh_fleet 1
# First, a first install whose restart fails: afterwards there is no current, as before.
mkrel "$T/p0.9" p0.9
expect_exit 1 fl -o 'restart=exit 3' push "$T/p0.9" --version 0.9 --json
got="$(hj t01 .step) $(link t01 || echo none)"
[ "$got" = "restart none" ] && pass push_first_restart_fail_leaves_no_current ||
    fail push_first_restart_fail_leaves_no_current "step and current: '$got'"
for v in 1.0 1.1 1.2 1.3; do
	mkrel "$T/p$v" "p$v"
	expect_exit 0 fl -o keep=2 push "$T/p$v" --version "$v" --json || fail "push_prune_push_$v" "$T_WHY"
	eval "P_$(echo "$v" | tr . _)=\$(hj t01 .release)"
done
want=$(printf '%s\n' "$P_1_1" "$P_1_2" "$P_1_3" | sort | tr '\n' ' ')
got=$(ls "$FLEET/t01/root/app/releases" | sort | tr '\n' ' ')
[ "$got" = "$want" ] && pass push_prune_keeps_current_previous_and_kept || fail push_prune_keeps_current_previous_and_kept "got '$got', want '$want'"
got=$(ls "$FLEET/t01/root/app/.fleet/installed" | sort | tr '\n' ' ')
[ "$got" = "$want" ] && pass push_prune_drops_markers || fail push_prune_drops_markers "installed markers '$got', want '$want'"
matches_manifest t01 "$P_1_3" && pass push_prune_current_intact || fail push_prune_current_intact "$T_WHY"

t_done
