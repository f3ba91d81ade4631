#!/bin/sh
# e2e: runs that do not end in one go, against real local sshd terminals: the controller killed with
# SIGKILL mid-run and `resume`, a run paused after its first wave (stdin not a terminal) and resumed,
# and `retry` touching exactly the terminals of a run that did not end ok.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 20
HIST=$FLEET/state/history

hosts_of_output() {
	printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null) | .host' | tr '\n' ' '
}

# The run's line in `runs --json`, one field of it.
run_field() {
	fl runs --json -n 0 2>/dev/null | jq -r "select(.id == \"$1\") | $2"
}

# every_current_valid ID: every terminal's current resolves to a directory, and is releases/ID.
every_current_valid() {
	local n bad=""
	for n in $(names 1 20); do
		if [ ! -d "$FLEET/$n/root/app/current/." ] || [ "$(link "$n")" != "releases/$1" ]; then
			bad="$bad $n:$(link "$n")"
		fi
	done
	[ -z "$bad" ] || { T_WHY="$bad"; return 1; }
}

# sessions TNN: how many logins the terminal's sshd has accepted so far.
sessions() {
	grep -c 'Accepted publickey' "$FLEET/$1/sshd.log"
}

t_rel v1
t_check baseline_push expect_exit 0 fl push "$T/rel" --version 1.0 -p 20 --json
V1=$(hj t01 .release)

# ---------------------------------------------------------------------------------------------
# SIGKILL to the controller about 3 s into a 20-terminal run (install takes 2 s, 5 at a time).
t_rel v2
"$FLEETCTL" -i "$INV" push "$T/rel" --version 2.0 -p 5 -o 'install=sleep 2' >"$T/kill.out" 2>"$T/kill.err" </dev/null &
pid=$!
sleep 3
kill -KILL "$pid"
wait "$pid" 2>/dev/null
run=$(fl runs --json -n 1 2>/dev/null | jq -r .id)
V2=$(ls "$FLEET_STATE_BUNDLES" 2>/dev/null; fl show "$run" --json 2>/dev/null | jq -r '.plan.release.id')
[ "$(run_field "$run" .status)" = interrupted ] && pass kill_runs_says_interrupted ||
    fail kill_runs_says_interrupted "status '$(run_field "$run" .status)' of '$run'"
# Per-terminal states: some done before the kill, some never started.
counts=$(run_field "$run" '.counts | to_entries | map("\(.key)=\(.value)") | join(",")')
done_n=$(run_field "$run" '.counts.done // 0')
total=$(run_field "$run" '[.counts[]] | add')
if [ "$total" = 20 ] && [ "$done_n" -ge 1 ] && [ "$done_n" -lt 20 ]; then
	pass kill_runs_per_terminal_states
else
	fail kill_runs_per_terminal_states "counts $counts"
fi
t_check kill_runs_human_lists_it expect_output "$run .*interrupted" fl runs
# Old or new, never in between: every current resolves right after the kill.
bad=""
for n in $(names 1 20); do
	[ -d "$FLEET/$n/root/app/current/." ] || bad="$bad $n"
	case "$(link "$n")" in "releases/$V1" | "releases/$V2") ;; *) bad="$bad $n:$(link "$n")" ;; esac
done
[ -z "$bad" ] && pass kill_current_old_or_new || fail kill_current_old_or_new "$bad"
t_check kill_resume_exit_0 expect_exit 0 fl resume "$run" -o 'install=sleep 2'
t_check kill_every_current_valid every_current_valid "$V2"
[ "$(run_field "$run" .status)" = done ] && pass kill_runs_done_after_resume || fail kill_runs_done_after_resume "status $(run_field "$run" .status)"
t_check kill_status_in_sync expect_exit 0 fl status
n=$(printf '%s\n' "$T_STDOUT" | grep -c 'in sync')
[ "$n" = 20 ] && pass kill_status_all_in_sync || fail kill_status_all_in_sync "$n in sync"
git -C "$HIST" log --format=%B | grep -q "^Run: $run" && pass kill_history_has_run || fail kill_history_has_run "no commit for $run"
git -C "$HIST" fsck --strict >/dev/null 2>&1 && pass kill_history_fsck || fail kill_history_fsck "git fsck failed"
t_check kill_no_lock_left expect_output '20 ok; 0 locked' fl lock status
t_check kill_resume_again_refused expect_exit 2 fl resume "$run"

# ---------------------------------------------------------------------------------------------
# --pause-after-wave with stdin not a terminal: stops after wave 1, names the resume command.
t_rel v3
t_check pause_exit expect_output "paused after wave 1: run \`fleetctl resume [^\`]*\` to go on" \
    fl push "$T/rel" --version 3.0 --waves 1,100% --pause-after-wave
prun=$(printf '%s\n' "$T_OUT" | sed -n 's/.*fleetctl resume \([^`]*\)`.*/\1/p' | head -n 1)
[ "$T_RC" = 3 ] && pass pause_exit_3 || fail pause_exit_3 "exit $T_RC"
[ "$(run_field "$prun" .status)" = paused ] && pass pause_runs_says_paused || fail pause_runs_says_paused "status '$(run_field "$prun" .status)'"
V3=$(fl show "$prun" --json 2>/dev/null | jq -r '.plan.release.id')
[ "$(link t01)" = "releases/$V3" ] && [ "$(link t02)" = "releases/$V2" ] && [ "$(link t20)" = "releases/$V2" ] &&
    pass pause_only_wave_1 || fail pause_only_wave_1 "t01 $(link t01) t02 $(link t02)"
t_check pause_resume_exit_0 expect_exit 0 fl resume "$prun" --json
t_check pause_resume_every_current_valid every_current_valid "$V3"
[ "$(run_field "$prun" .status)" = done ] && pass pause_runs_done_after_resume || fail pause_runs_done_after_resume "status $(run_field "$prun" .status)"
git -C "$HIST" log --format=%B | grep -q "^Run: $prun" && pass pause_history_has_run || fail pause_history_has_run "no commit for $prun"

# A resumed run keeps its thresholds over every terminal started so far, those of the first session
# included: 1 failure in wave 1 (t01; --max-fail 1 lets it through), paused, then 1 more in wave 2
# (t05) after the resume: 2 > 1 halts.
FAILCMD='[ -e "$FLEET_ROOT/../fail-install" ] && exit 3 || true'
touch "$FLEET/t01/root/fail-install"
t_rel v3b
t_check pause_threshold_first_session expect_output 'paused after wave 1' \
    fl push "$T/rel" --version 3.5 --waves 2,100% --max-fail 1 --pause-after-wave -o "install=$FAILCMD"
trun=$(printf '%s\n' "$T_OUT" | sed -n 's/.*fleetctl resume \([^`]*\)`.*/\1/p' | head -n 1)
touch "$FLEET/t05/root/fail-install"
t_check pause_threshold_resume_exit_1 expect_exit 1 fl resume "$trun" -o "install=$FAILCMD"
printf '%s\n' "$T_OUT" | grep -q 'HALTED: 2 failed > --max-fail limit 1 after wave 2' && pass pause_threshold_counts_first_session ||
    fail pause_threshold_counts_first_session "$(printf '%s\n' "$T_OUT" | grep -i 'wave\|halt' | tail -n 3 | tr '\n' '|')"
[ "$(run_field "$trun" .status)" = halted ] && pass pause_threshold_runs_halted || fail pause_threshold_runs_halted "status $(run_field "$trun" .status)"
rm -f "$FLEET/t01/root/fail-install" "$FLEET/t05/root/fail-install"
# Back to one release everywhere for what follows.
t_rel v3
t_check pause_threshold_cleanup expect_exit 0 fl push "$T/rel" --version 3.0 -p 20

# ---------------------------------------------------------------------------------------------
# retry RUN: only the terminals of RUN that did not end ok.
touch "$FLEET/t04/root/fail-install" "$FLEET/t09/root/fail-install"
t_rel v4
t_check retry_setup_exit_1 expect_exit 1 fl push "$T/rel" --version 4.0 -p 20 --json \
    -o 'install=[ -e "$FLEET_ROOT/../fail-install" ] && exit 3 || true'
rrun=$(sj .run)
V4=$(hj t01 .release)
rm -f "$FLEET/t04/root/fail-install" "$FLEET/t09/root/fail-install"
for n in $(names 1 20); do echo "$n $(sessions "$n")"; done >"$T/sessions.before"
t_check retry_exit_0 expect_exit 0 fl retry "$rrun" --json
[ "$(hosts_of_output)" = "t04 t09 " ] && pass retry_lists_only_failed || fail retry_lists_only_failed "hosts: $(hosts_of_output)"
[ "$(hj t04 .state)/$(hj t09 .state)" = ok/ok ] && pass retry_failed_now_ok || fail retry_failed_now_ok "$(hj t04 .state)/$(hj t09 .state)"
bad=""
while read -r n c; do
	now=$(sessions "$n")
	case "$n" in
	t04 | t09) [ "$now" -gt "$c" ] || bad="$bad $n(no session)" ;;
	*) [ "$now" = "$c" ] || bad="$bad $n($c->$now)" ;;
	esac
done <"$T/sessions.before"
[ -z "$bad" ] && pass retry_others_not_touched || fail retry_others_not_touched "$bad"
t_check retry_every_current_valid every_current_valid "$V4"
t_check retry_nothing_left expect_output 'nothing to retry' fl retry "$(sj .run)"

t_done
