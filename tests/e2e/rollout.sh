#!/bin/sh
# e2e: safe rollouts against real local sshd terminals: cumulative waves and --max-fail at the boundary,
# health checks that roll a terminal back, a wave that is all unreachable, --retry-for with terminals
# coming back (and staying down: delayed, in the alarm), busy terminals, maintenance windows, --at,
# and locks between two pushes at once (and a stale lock broken by hand).
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 40
HIST=$FLEET/state/history

in_state() {
	printf '%s\n' "$T_STDOUT" | jq -r "select(.host != null and .state == \"$1\") | .host" | tr '\n' ' '
}

# csv FROM TO: "tFROM,...,tTO" for -l.
csv() {
	names "$1" "$2" | sed 's/ $//' | tr ' ' ','
}

# inv_add SRC OUT SECTION KEY VALUE: a copy of SRC with "KEY = VALUE" first in [SECTION].
inv_add() {
	awk -v s="[$3]" -v kv="$4 = $5" '{ print } $0 == s { print kv }' "$1" >"$2"
}

# term_freeze / term_thaw TNN: the terminal stops answering (its sshd listener stopped with SIGSTOP:
# connections hang until connect_timeout) and comes back; its port stays its own meanwhile.
term_freeze() {
	kill -STOP "$(fleet_pid "$FLEET" "$1")"
}
term_thaw() {
	kill -CONT "$(fleet_pid "$FLEET" "$1")"
}

# For expect_output on what the last `run` printed.
true_output_of_last() {
	printf '%s\n' "$T_OUT"
}

# links: every terminal's current, "tNN=releases/ID " in order.
links() {
	local n
	for n in $(names 1 40); do printf '%s=%s ' "$n" "$(link "$n")"; done
}

FAILCMD='[ -e "$FLEET_ROOT/../fail-install" ] && exit 3 || true'

# Every terminal on a first release: the baseline the later runs move from.
t_rel v1
t_check baseline_push expect_exit 0 fl push "$T/rel" --version 1.0 -p 20 --json
V1=$(hj t01 .release)

# ---------------------------------------------------------------------------------------------
# Waves 1,25%,100% of 40: wave 1 = t01, wave 2 = t02..t10 (25% of 40, rounded up, cumulative),
# wave 3 = t11..t40.  Two install failures in wave 2 with --max-fail 1: 2 > 1 halts after wave 2.
touch "$FLEET/t03/root/fail-install" "$FLEET/t07/root/fail-install"
t_rel v2
t_check waves_halt_exit_1 expect_exit 1 fl push "$T/rel" --version 2.0 -p 20 --waves 1,25%,100% --max-fail 1 \
    -o "install=$FAILCMD" --json
V2=$(hj t01 .release)
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null) | "\(.host):\(.wave)"' | sort |
    awk -F: '{ w[$2] = w[$2] " " $1 } END { for (k in w) print k ":" w[k] }' | sort | tr '\n' '|')
want="1: t01|2:$(names 2 10 | sed 's/ $//' | sed 's/^/ /')|3:$(names 11 40 | sed 's/ $//' | sed 's/^/ /')|"
[ "$got" = "$want" ] && pass waves_cumulative_assignment || fail waves_cumulative_assignment "got '$got'"
[ "$(in_state failed)" = "t03 t07 " ] && pass waves_halt_failed_are_the_two || fail waves_halt_failed_are_the_two "failed: $(in_state failed)"
[ "$(in_state ok)" = "t01 t02 t04 t05 t06 t08 t09 t10 " ] && pass waves_halt_ok_first_two_waves ||
    fail waves_halt_ok_first_two_waves "ok: $(in_state ok)"
[ "$(in_state skipped)" = "$(names 11 40)" ] && pass waves_halt_wave3_skipped || fail waves_halt_wave3_skipped "skipped: $(in_state skipped)"
got=$(sj '"\(.ok) \(.failed) \(.skipped) \(.halted)"')
[ "$got" = "8 2 30 true" ] && pass waves_halt_counts || fail waves_halt_counts "summary '$got'"
[ "$(hj t03 .step)" = install ] && pass waves_halt_failed_step_install || fail waves_halt_failed_step_install "step $(hj t03 .step)"
[ "$(link t11)" = "releases/$V1" ] && [ "$(link t40)" = "releases/$V1" ] && [ "$(link t03)" = "releases/$V1" ] &&
    [ "$(link t02)" = "releases/$V2" ] && pass waves_halt_terminals_where_expected ||
    fail waves_halt_terminals_where_expected "t11 $(link t11), t03 $(link t03), t02 $(link t02)"
msg=$(git -C "$HIST" log -1 --format=%B)
n=$(printf '%s\n' "$msg" | grep -cE '^t(1[1-9]|[23][0-9]|40) skipped')
if [ "$n" = 30 ] && printf '%s\n' "$msg" | grep -q 'HALTED: 2 failed > --max-fail limit 1 after wave 2'; then
	pass waves_halt_history_commit
else
	fail waves_halt_history_commit "$n skipped lines; $(printf '%s\n' "$msg" | head -n 1)"
fi
# The human output says the thresholds before the run and names the halt.
t_check waves_halt_human_message expect_output 'wave 2: HALTED: 2 failed > --max-fail limit 1' \
    fl push "$T/rel" --version 2.0 -p 20 --waves 1,25%,100% --max-fail 1 -o "install=$FAILCMD"
t_check waves_thresholds_said_before expect_output 'halts when failed > 1 or unreachable > \(no limit\)' \
    true_output_of_last
# The boundary: --max-fail 2 with the same two failures: 2 > 2 is false, the run goes on to wave 3.
t_rel v3
t_check waves_boundary_exit_1 expect_exit 1 fl push "$T/rel" --version 3.0 -p 20 --waves 1,25%,100% --max-fail 2 \
    -o "install=$FAILCMD" --json
V3=$(hj t01 .release)
got=$(sj '"\(.ok) \(.failed) \(.skipped) \(.halted)"')
[ "$got" = "38 2 0 false" ] && pass waves_boundary_not_halted || fail waves_boundary_not_halted "summary '$got'"
[ "$(link t40)" = "releases/$V3" ] && pass waves_boundary_wave3_updated || fail waves_boundary_wave3_updated "t40 $(link t40)"
# A percentage limit: 5% of the 10 started after wave 2 is 0 (rounded down): 2 > 0 halts.
t_check waves_pct_limit_halts expect_output 'HALTED: 2 failed > --max-fail limit 0 after wave 2' \
    fl push "$T/rel" --version 3.1 -p 20 --waves 1,25%,100% --max-fail 5% -o "install=$FAILCMD"
# ... and 10% of 10 is 1: 2 > 1 still halts; 20% of 10 is 2: it does not.
t_check waves_pct_boundary_not_halted expect_output 'push app .*: 38 ok, 2 failed' \
    fl push "$T/rel" --version 3.2 -p 20 --waves 1,25%,100% --max-fail 20% -o "install=$FAILCMD"
rm -f "$FLEET/t03/root/fail-install" "$FLEET/t07/root/fail-install"

# ---------------------------------------------------------------------------------------------
# Health: unhealthy on three terminals after the restart -> back on the previous release.
for n in t05 t12 t33; do touch "$FLEET/$n/root/fail-health"; done
t_rel v4
before=$(links)
t_check health_exit_1 expect_exit 1 fl push "$T/rel" --version 4.0 -p 20 -l "$(csv 1 40)" --json \
    -o 'health=[ ! -e "$FLEET_ROOT/../fail-health" ]' -o health_retries=2 -o health_interval=1 \
    -o 'restart=echo "restart $FLEET_RELEASE" >> "$FLEET_ROOT/../restart.log"'
V4=$(hj t01 .release)
[ "$(in_state rolled-back)" = "t05 t12 t33 " ] && pass health_rolled_back_three || fail health_rolled_back_three "rolled-back: $(in_state rolled-back)"
[ "$(in_state ok | wc -w)" = 37 ] && pass health_rest_ok || fail health_rest_ok "$(in_state ok | wc -w) ok"
bad=""
for n in $(names 1 40); do
	case "$n" in
	t05 | t12 | t33) want=$(printf '%s\n' $before | sed -n "s/^$n=//p") ;;
	*) want=releases/$V4 ;;
	esac
	[ "$(link "$n")" = "$want" ] || bad="$bad $n:$(link "$n")"
done
[ -z "$bad" ] && pass health_current_old_or_new || fail health_current_old_or_new "$bad"
# Rolled back means restarted on the old release again, and the restart is told which one.
old12=$(printf '%s\n' $before | sed -n 's|^t12=releases/||p')
[ "$(tr '\n' '|' <"$FLEET/t12/root/restart.log")" = "restart $V4|restart $old12|" ] && pass health_old_release_restarted ||
    fail health_old_release_restarted "$(tail -n 2 "$FLEET/t12/root/restart.log" | tr '\n' '|')"
[ "$(hj t05 .step)" = health ] && pass health_step_named || fail health_step_named "step $(hj t05 .step)"
for n in t05 t12 t33; do rm -f "$FLEET/$n/root/fail-health"; done

# ---------------------------------------------------------------------------------------------
# A wave that is all unreachable: t21 alone in wave 1 of t21..t24, its sshd stopped.
fleet_stop_one "$FLEET" t21
t_rel v5
t_check unreachable_wave_exit_1 expect_exit 1 fl push "$T/rel" --version 5.0 -l "$(csv 21 24)" --waves 1,100% \
    --max-unreachable 0 -o connect_timeout=3
t_check unreachable_halt_names_max_unreachable expect_output \
    'HALTED: 1 unreachable > --max-unreachable limit 0 after wave 1' true_output_of_last
if printf '%s\n' "$T_OUT" | grep -q -- 'HALTED:.*--max-fail'; then
	fail unreachable_not_max_fail "the halt names --max-fail"
else
	pass unreachable_not_max_fail
fi
[ "$(link t22)" = "releases/$V4" ] && pass unreachable_wave2_untouched || fail unreachable_wave2_untouched "t22 $(link t22)"
term_start t21 || fail unreachable_restart "t21 did not come back"

# ---------------------------------------------------------------------------------------------
# --retry-for: 5 of 20 terminals not answering when the run starts, back about 5 s later.  (Frozen,
# not stopped: a stopped sshd's port can be taken by another process before it starts again.)
down="t22 t25 t30 t35 t40"
for n in $down; do term_freeze "$n"; done
(
	sleep 5
	for n in $down; do term_thaw "$n"; done
) >/dev/null 2>&1 &
bg=$!
t_rel v6
start=$(date +%s)
t_check retry_for_all_ok expect_exit 0 fl push "$T/rel" --version 6.0 -p 20 -l "$(csv 21 40)" --retry-for 60s \
    -o connect_timeout=3 --json
wait_pid "$bg" 20 || fail retry_for_restart_helper "the background start did not finish"
V6=$(hj t21 .release)
secs=$(($(date +%s) - start))
[ "$(in_state ok | wc -w)" = 20 ] && pass retry_for_twenty_ok || fail retry_for_twenty_ok "ok: $(in_state ok)"
bad=""
for n in $down; do [ "$(link "$n")" = "releases/$V6" ] || bad="$bad $n"; done
[ -z "$bad" ] && [ "$secs" -lt 60 ] && pass retry_for_late_ones_updated || fail retry_for_late_ones_updated "$bad (${secs}s)"

# --retry-for 8s with two terminals down for good: delayed, and in the alarm with what they run.
cat >"$T/hook.sh" <<EOF
#!/bin/sh
cat >"$T/alarm.json"
EOF
chmod 755 "$T/hook.sh"
fleet_stop_one "$FLEET" t23
fleet_stop_one "$FLEET" t24
inv_add "$INV" "$T/alarm.ini" fleet on_failure "$T/hook.sh"
rm -f "$T/alarm.json"
t_rel v7
start=$(date +%s)
FL_INV=$T/alarm.ini
t_check retry_for_deadline_exit_3 expect_exit 3 fl push "$T/rel" --version 7.0 -l "$(csv 21 26)" \
    --retry-for 8s -o connect_timeout=2 --json
FL_INV=""
secs=$(($(date +%s) - start))
V7=$(hj t21 .release)
[ "$(in_state delayed)" = "t23 t24 " ] && pass retry_for_still_down_delayed || fail retry_for_still_down_delayed "delayed: $(in_state delayed)"
[ "$secs" -ge 7 ] && [ "$secs" -lt 40 ] && pass retry_for_deadline_kept || fail retry_for_deadline_kept "${secs}s"
got=$(jq -r '[.terminals[] | "\(.host)=\(.state)=\(.running)=\(.wanted)"] | join(" ")' "$T/alarm.json" 2>/dev/null)
[ "$got" = "t23=delayed=$V6=$V7 t24=delayed=$V6=$V7" ] && pass retry_for_delayed_in_alarm ||
    fail retry_for_delayed_in_alarm "alarm: '$got'"
term_start t23 || fail retry_for_restart "t23 did not come back"
term_start t24 || fail retry_for_restart "t24 did not come back"

# ---------------------------------------------------------------------------------------------
# A busy terminal: its busy command exits 75 for its first two checks.  Deferred, never restarted
# while busy, updated within --retry-for.
BUSYCMD='c=$(cat ../busy.n 2>/dev/null || echo 0); c=$((c+1)); echo $c > ../busy.n; r=0; [ -e ../busy-marker ] && [ $c -le 2 ] && r=75; echo "busy $c $r" >> ../events.log; exit $r'
RESTARTCMD='echo "restart $FLEET_RELEASE" >> "$FLEET_ROOT/../events.log"'
touch "$FLEET/t26/root/busy-marker"
t_rel v8
t_check busy_exit_0 expect_exit 0 fl push "$T/rel" --version 8.0 -l "$(csv 25 28)" --retry-for 60s \
    -o "busy=$BUSYCMD" -o "restart=$RESTARTCMD" --json
V8=$(hj t25 .release)
run8=$(sj .run)
[ "$(hj t26 .state)" = ok ] && [ "$(link t26)" = "releases/$V8" ] && pass busy_updated_later || fail busy_updated_later "t26 $(hj t26 .state) $(link t26)"
ev=$FLEET/t26/root/events.log
last75=$(grep -n ' 75$' "$ev" | tail -n 1 | cut -d: -f1)
firstrs=$(grep -n '^restart' "$ev" | head -n 1 | cut -d: -f1)
if [ "$(grep -c ' 75$' "$ev")" = 2 ] && [ -n "$firstrs" ] && [ "$firstrs" -gt "$last75" ]; then
	pass busy_never_restarted_while_busy
else
	fail busy_never_restarted_while_busy "$(tr '\n' '|' <"$ev")"
fi
fl show "$run8" --json >"$T/show8.json" 2>/dev/null
got=$(jq -r '.hosts[] | select(.host == "t26") | [.lifecycle[].state] | join(",")' "$T/show8.json")
case "$got" in
*busy*busy*done) pass busy_state_journalled ;;
*) fail busy_state_journalled "t26 lifecycle '$got'" ;;
esac
[ "$(grep -c '^restart' "$FLEET/t25/root/events.log")" = 1 ] && pass busy_others_restarted_once ||
    fail busy_others_restarted_once "$(tr '\n' '|' <"$FLEET/t25/root/events.log")"
rm -f "$FLEET/t26/root/busy-marker"

# ---------------------------------------------------------------------------------------------
# Maintenance windows: t27's window is a range that does not contain now (2 to 3 hours ahead).
win="$(date -d '+2 hour' +%H:%M)-$(date -d '+3 hour' +%H:%M)"
inv_add "$INV" "$T/window.ini" host:t27 window "$win"
t_rel v9
FL_INV=$T/window.ini
t_check window_exit_3 expect_exit 3 fl push "$T/rel" --version 9.0 -l "$(csv 27 28)" --json
V9=$(hj t28 .release)
[ "$(link t27)" = "releases/$V8" ] && [ "$(link t28)" = "releases/$V9" ] && pass window_not_touched ||
    fail window_not_touched "t27 $(link t27), t28 $(link t28)"
[ "$(hj t27 .state)" = delayed ] && [ "$(hj t27 .step)" = window ] && hj t27 .error | grep -q "window $win" &&
    pass window_delayed_named || fail window_delayed_named "$(hj t27 '"\(.state) \(.step) \(.error)"')"
t_check window_ignore_exit_0 expect_exit 0 fl push "$T/rel" --version 9.0 -l "$(csv 27 28)" \
    --ignore-window --json
FL_INV=""
[ "$(link t27)" = "releases/$V9" ] && pass window_ignored_touches || fail window_ignored_touches "t27 $(link t27)"
git -C "$HIST" log -1 --format=%B | grep -q '^Ignore-window: yes' && pass window_ignore_recorded ||
    fail window_ignore_recorded "$(git -C "$HIST" log -1 --format=%B | head -n 3 | tr '\n' '|')"

# ---------------------------------------------------------------------------------------------
# --rollback-on-halt: wave 1 = t31, t32; t32's install fails: halt, and t31, already updated by this
# run, goes back to what it ran; the history agrees with the terminals.
touch "$FLEET/t32/root/fail-install"
was31=$(link t31)
was33=$(link t33)
t_rel v9b
t_check rollback_on_halt_exit_1 expect_exit 1 fl push "$T/rel" --version 9.5 -l "$(csv 31 34)" --waves 2,100% \
    --rollback-on-halt -o "install=$FAILCMD" --json
got="$(hj t31 .state) $(hj t32 .state) $(hj t33 .state) $(hj t34 .state)"
[ "$got" = "rolled-back failed skipped skipped" ] && pass rollback_on_halt_states || fail rollback_on_halt_states "$got"
[ "$(link t31)" = "$was31" ] && [ "$(link t33)" = "$was33" ] && pass rollback_on_halt_current_back ||
    fail rollback_on_halt_current_back "t31 $(link t31) (was $was31)"
t_check rollback_on_halt_status_in_sync expect_output '^t31 .* in sync' fl status -l t31
rm -f "$FLEET/t32/root/fail-install"

# ---------------------------------------------------------------------------------------------
# --at: planned 3 s ahead; shown as planned while it waits; nothing happens before.
at=$(date -d '+3 sec' +%Y-%m-%dT%H:%M:%S)
at_epoch=$(date -d "$at" +%s)
t_rel v10
"$FLEETCTL" -i "$INV" push "$T/rel" --version 10.0 -l t29 --at "$at" \
    -o 'restart=date +%s > "$FLEET_ROOT/../restarted.at"' >"$T/at.out" 2>"$T/at.err" </dev/null &
atpid=$!
sleep 1
fl runs --json >"$T/runs.json" 2>/dev/null
atrun=$(jq -r "select(.at == $at_epoch) | .id" "$T/runs.json" | head -n 1)
[ -n "$atrun" ] && pass at_runs_shows_planned_time || fail at_runs_shows_planned_time "$(head -n 2 "$T/runs.json")"
if [ -n "$atrun" ] && fl show "$atrun" 2>/dev/null | grep -qE "^at +($at_epoch|$(date -d "@$at_epoch" '+%Y-%m-%d %H:%M:%S'))"; then
	pass at_show_shows_planned_time
else
	fail at_show_shows_planned_time "$(fl show "$atrun" 2>&1 | head -n 8 | tr '\n' '|')"
fi
[ ! -e "$FLEET/t29/root/restarted.at" ] && pass at_nothing_before || fail at_nothing_before "restarted early"
wait_pid "$atpid" 30 && pass at_run_exit_0 || fail at_run_exit_0 "$(cat "$T/at.err")"
t=$(cat "$FLEET/t29/root/restarted.at" 2>/dev/null || echo 0)
[ "$t" -ge "$at_epoch" ] && pass at_not_before_planned_time || fail at_not_before_planned_time "restarted $t, planned $at_epoch"
t_check at_garbage_exit_2 expect_exit 2 fl push "$T/rel" --version 10.0 -l t29 --at 'tomorrow-ish'
t_check at_bad_hour_exit_2 expect_exit 2 fl push "$T/rel" --version 10.0 -l t29 --at '25:99'
t_check at_trailing_garbage_exit_2 expect_exit 2 fl push "$T/rel" --version 10.0 -l t29 --at '2030-01-01T02:30x'

# ---------------------------------------------------------------------------------------------
# Two pushes at once on overlapping selections: lobby = t01..t20, kiosks = t01..t40.  The install
# is slow so that they overlap; each terminal of the overlap is changed by one, locked for the other.
SLOW='echo "start $FLEET_RELEASE" >> "$FLEET_ROOT/../install.log"; sleep 2; echo "end $FLEET_RELEASE" >> "$FLEET_ROOT/../install.log"'
mkdir -p "$T/ra" "$T/rb"
t_rel lobby && cp -r "$T/rel/." "$T/ra/"
t_rel kiosks && cp -r "$T/rel/." "$T/rb/"
"$FLEETCTL" -i "$INV" push "$T/ra" --version 11.0 -l lobby -p 20 -o "install=$SLOW" --json >"$T/a.json" 2>"$T/a.err" </dev/null &
pa=$!
"$FLEETCTL" -i "$INV" push "$T/rb" --version 11.1 -l kiosks -p 20 -o "install=$SLOW" --json >"$T/b.json" 2>"$T/b.err" </dev/null &
pb=$!
wait_pid "$pa" 120
wait_pid "$pb" 120
bad=""
both=0
for n in $(names 1 20); do
	a=$(jq -r "select(.host == \"$n\") | .state" "$T/a.json")
	b=$(jq -r "select(.host == \"$n\") | .state" "$T/b.json")
	case "$a/$b" in
	ok/locked | locked/ok) ;;
	ok/ok) both=$((both + 1)) ;;
	*) bad="$bad $n:$a/$b" ;;
	esac
done
[ -z "$bad" ] && [ "$both" -le 2 ] && pass locks_each_overlap_terminal_one_run || fail locks_each_overlap_terminal_one_run "$bad; ok in both: $both"
# Never two installs at once on one terminal: start/end lines alternate.
bad=""
for n in $(names 1 20); do
	awk '$1 == "start" { if (open) bad = 1; open = 1 } $1 == "end" { open = 0 } END { exit bad }' \
	    "$FLEET/$n/root/install.log" || bad="$bad $n"
done
[ -z "$bad" ] && pass locks_no_overlapping_install || fail locks_no_overlapping_install "$bad"
bad=""
for n in $(names 21 40); do
	[ "$(jq -r "select(.host == \"$n\") | .state" "$T/b.json")" = ok ] || bad="$bad $n"
done
[ -z "$bad" ] && pass locks_rest_ok || fail locks_rest_ok "$bad"
nl=$(cat "$T/a.json" "$T/b.json" | jq -r 'select(.host != null and .state == "locked") | .error' | grep -c '^locked by run [0-9A-Za-z.-]* (push, [^@]*@[^@]*)$')
[ "$nl" -ge 18 ] && pass locks_locked_names_holder || fail locks_locked_names_holder "$(grep -h locked "$T/a.json" "$T/b.json" | head -n 1)"
t_check locks_all_released expect_output '40 ok; 0 locked' fl lock status

# A stale lock left by hand (a controller that died weeks ago): push reports it locked, lock break
# removes it and the history records that.
t_ssh t03 "mkdir '$FLEET/t03/root/.fleet-lock' && printf 'run_id=20200101T000000Z-dead00\nkind=push\noperator=ci@old\ncontroller=gone\npid=1\ntime=1577836800\ndeadline=1577840400\n' >'$FLEET/t03/root/.fleet-lock/info'"
t_rel v12
was=$(link t03)
t_check stale_lock_push_locked expect_output 't03: locked' fl push "$T/rel" --version 12.0 -l t03
[ "$(link t03)" = "$was" ] && [ -d "$FLEET/t03/root/.fleet-lock" ] && pass stale_lock_left_alone ||
    fail stale_lock_left_alone "t03 $(link t03), was $was"
t_check stale_lock_status_says_stale expect_output 'stale: yes' fl lock status -l t03
before=$(git -C "$HIST" rev-list --count HEAD)
t_check stale_lock_break_exit_0 expect_exit 0 fl lock break -l t03 --yes
[ ! -e "$FLEET/t03/root/.fleet-lock" ] && pass stale_lock_broken || fail stale_lock_broken "lock still there"
after=$(git -C "$HIST" rev-list --count HEAD)
[ "$after" = $((before + 1)) ] && git -C "$HIST" log -1 --format=%B | grep -q '20200101T000000Z-dead00' &&
    pass stale_lock_break_recorded || fail stale_lock_break_recorded "$(git -C "$HIST" log -1 --format=%B | head -n 4 | tr '\n' '|')"
t_check stale_lock_push_after_break expect_exit 0 fl push "$T/rel" --version 12.0 -l t03

t_done
