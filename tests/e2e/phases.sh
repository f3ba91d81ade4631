#!/bin/sh
# e2e: rollout controls for big fleets against real local sshd terminals: exponential waves
# (exp:1,x2), --rate across waves (seen in the journal's times), --soak with a health command that
# turns bad during the soak, --min-sample holding a percentage threshold back, --max-fail not counting
# unreachable terminals, a run that stays open with --until and `retry --all` picking up a terminal
# that was stopped and started again, terminals expired after the deadline, resume keeping the
# options, and the states `show` gives each terminal.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 10
HIST=$FLEET/state/history

in_state() {
	printf '%s\n' "$T_STDOUT" | jq -r "select(.host != null and .state == \"$1\") | .host" | tr '\n' ' '
}

# show_json RUN JQ: a field of `show RUN --json`.
show_json() {
	fl show "$1" --json 2>/dev/null | jq -r "$2"
}

# phase_of RUN TNN: where the terminal stands in `show RUN` (the column after its name).
phase_of() {
	fl show "$1" 2>/dev/null | awk -v h="$2" '$1 == h && NF > 2 { print $2; exit }'
}

run_status() {
	fl runs --json -n 0 2>/dev/null | jq -r "select(.id == \"$1\") | .status"
}

# For expect_output on what the last `run` printed.
true_output() {
	printf '%s\n' "$T_OUT"
}

# sessions TNN: how many logins the terminal's sshd has accepted so far.
sessions() {
	grep -c 'Accepted publickey' "$FLEET/$1/sshd.log"
}

# A terminal with a marker file installs badly: the rollout's failures.
FAILCMD='[ -e "$FLEET_ROOT/../fail-install" ] && exit 3 || true'

t_rel v1
t_check baseline_push expect_exit 0 fl push "$T/rel" --version 1.0 -p 10 --json
V1=$(hj t01 .release)

# ---------------------------------------------------------------------------------------------
# exp:1,x2 on 10 terminals: waves of 1, 2, 4 and the 3 left; said before the run, kept in the plan.
t_rel v2
t_check exp_dry_run_says_plan expect_output '4 waves \(exp:1,x2\); after each wave the run halts when failed > 0' \
    fl push "$T/rel" --version 2.0 -p 10 --waves exp:1,x2 --dry-run
t_check exp_push_exit_0 expect_exit 0 fl push "$T/rel" --version 2.0 -p 10 --waves exp:1,x2 --json
V2=$(hj t01 .release)
run=$(sj .run)
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null) | .wave' | sort -n | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
[ "$got" = "1:1 2:2 3:4 4:3 " ] && pass exp_wave_sizes_1_2_4_3 || fail exp_wave_sizes_1_2_4_3 "wave:count $got"
got=$(show_json "$run" '[.plan.waves[] | length] | map(tostring) | join(",")')
[ "$got" = "1,2,4,3" ] && [ "$(show_json "$run" .plan.waves_spec)" = "exp:1,x2" ] && pass exp_waves_journalled ||
    fail exp_waves_journalled "plan waves $got"
t_check exp_bad_factor_exit_2 expect_exit 2 fl push "$T/rel" --version 2.0 --waves exp:1,2
t_check exp_bad_start_exit_2 expect_exit 2 fl push "$T/rel" --version 2.0 --waves exp:0,x2

# ---------------------------------------------------------------------------------------------
# --rate 30/min (one new terminal every 2 s) over waves 1,2,2 of t01..t05: the first journal line of
# each terminal comes about 2 s after the one before, across waves (8 s from the first to the last;
# only a generous lower bound is checked).
t_rel v3
start=$(date +%s)
t_check rate_push_exit_0 expect_exit 0 fl push "$T/rel" --version 3.0 -l t01,t02,t03,t04,t05 --waves exp:1,x2 \
    --rate 30/min --json
secs=$(($(date +%s) - start))
V3=$(hj t01 .release)
run=$(sj .run)
firsts=$(fl show "$run" --json 2>/dev/null | jq -r '.hosts[] | .lifecycle[1].time' | sort)
span=$(printf '%s\n' "$firsts" | awk '
	function t(s) { split(substr(s, 12, 12), a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
	NR == 1 { first = t($0) } { last = t($0) } END { printf "%d", (last - first) * 1000 }')
[ "$span" -ge 6000 ] && [ "$secs" -lt 90 ] && pass rate_spreads_starts || fail rate_spreads_starts "span ${span} ms, ${secs} s"
[ "$(show_json "$run" .plan.options.rate)/$(show_json "$run" .plan.options.rate_ms)" = "30/min/2000" ] &&
    pass rate_journalled || fail rate_journalled "$(show_json "$run" .plan.options)"
t_check rate_said_before expect_output 'new terminals at most 30/min \(one every 2.0 s\)' \
    fl push "$T/rel" --version 3.0 -l t01 --rate 30/min --dry-run
t_check rate_bad_exit_2 expect_exit 2 fl push "$T/rel" --version 3.0 --rate 30

# ---------------------------------------------------------------------------------------------
# --soak: t01 and t02 in wave 1, t03 and t04 in wave 2.  t01 is healthy for 4 s after its switch,
# then not (its health command looks at the age of `current`): its deploy's own health check
# passes, the one at the end of the 8 s soak fails.  t01 goes back to what it ran (rolled-back, a
# failure), the run halts before wave 2, and t01 never counts the release as good.
HEALTH='[ ! -e "$FLEET_ROOT/../sicken" ] || [ $(($(date +%s) - $(stat -c %Y "$FLEET_ROOT/current"))) -lt 4 ]'
touch "$FLEET/t01/root/sicken"
t_rel v4
t_check soak_exit_1 expect_exit 1 fl push "$T/rel" --version 4.0 -l t01,t02,t03,t04 --waves 2,100% --soak 8s \
    -o "health=$HEALTH" -o health_retries=1 --json
V4=$(hj t02 .release)
run=$(sj .run)
got="$(hj t01 .state)/$(hj t01 .step) $(hj t02 .state) $(hj t03 .state) $(hj t04 .state) $(sj .halted)"
[ "$got" = "rolled-back/soak ok skipped skipped true" ] && pass soak_unhealthy_rolled_back_run_halted ||
    fail soak_unhealthy_rolled_back_run_halted "$got"
[ "$(link t01)" = "releases/$V3" ] && [ "$(link t02)" = "releases/$V4" ] && [ "$(link t03)" = "releases/$V3" ] &&
    pass soak_terminals_where_expected || fail soak_terminals_where_expected "t01 $(link t01) t02 $(link t02) t03 $(link t03)"
hj t01 .error | grep -q 'unhealthy at the end of the soak' && pass soak_error_names_it || fail soak_error_names_it "$(hj t01 .error)"
got=$(show_json "$run" '[.events[] | select(.t == "soak") | "\(.state):\(.unhealthy // .terminals)"] | join(",")')
[ "$got" = "started:2,done:1" ] && pass soak_journalled || fail soak_journalled "soak events '$got'"
[ "$(show_json "$run" .plan.options.soak)" = 8 ] && pass soak_in_plan || fail soak_in_plan "$(show_json "$run" .plan.options)"
t_check soak_reported_human expect_output "t01 +failed .*rolled-back [0-9:]+ \(soak: unhealthy" fl show "$run"
if fl rollback --list -l t01 2>/dev/null | grep -q "installed:.*$V4"; then
	fail soak_never_a_rollback_target "$(fl rollback --list -l t01 2>&1)"
else
	pass soak_never_a_rollback_target
fi
t_check soak_status_in_sync expect_output '^t01 .* in sync' fl status -l t01
t_check soak_needs_waves_exit_2 expect_exit 2 fl push "$T/rel" --version 4.0 --soak 5s
rm -f "$FLEET/t01/root/sicken"

# ---------------------------------------------------------------------------------------------
# --min-sample: t01 fails in a wave of its own.  With --max-fail 50% its limit is 0 (50% of 1): the run
# halts at once; with --min-sample 3 the percentage waits for 3 terminals started (1 > 1 is false then)
# and the run goes on to the end.
touch "$FLEET/t01/root/fail-install"
t_rel v5
t_check min_sample_control_halts expect_output 'HALTED: 1 failed > --max-fail limit 0 after wave 1' \
    fl push "$T/rel" --version 5.0 -l t01,t02,t03,t04,t05,t06 --waves 1,3,100% --max-fail 50% -o "install=$FAILCMD"
t_check min_sample_exit_1 expect_exit 1 fl push "$T/rel" --version 5.0 -l t01,t02,t03,t04,t05,t06 --waves 1,3,100% \
    --max-fail 50% --min-sample 3 -o "install=$FAILCMD"
if printf '%s\n' "$T_OUT" | grep -q HALTED; then
	fail min_sample_not_halted "$(printf '%s\n' "$T_OUT" | grep HALTED)"
else
	pass min_sample_not_halted
fi
t_check min_sample_ran_to_the_end expect_output 'push app 5.0-[0-9a-f]* to .*: 5 ok, 1 failed: t01' true_output
t_check min_sample_said_before expect_output 'a percentage only once 3 terminals have been started' true_output
rm -f "$FLEET/t01/root/fail-install"

# ---------------------------------------------------------------------------------------------
# --max-fail counts failures, not unreachable terminals: t06 (stopped) in wave 1 with --max-fail 0.
fleet_stop_one "$FLEET" t06
t_rel v6
t_check max_fail_unreachable_exit_3 expect_exit 3 fl push "$T/rel" --version 6.0 -l t05,t06,t07,t08 --waves 2,100% \
    --max-fail 0 -o connect_timeout=2 --json
V6=$(hj t05 .release)
got="$(hj t06 .state) $(hj t07 .state) $(hj t08 .state) $(sj .halted)"
[ "$got" = "unreachable ok ok false" ] && pass max_fail_ignores_unreachable || fail max_fail_ignores_unreachable "$got"

# ---------------------------------------------------------------------------------------------
# --until: the run stays open after its 3 s of retries, t06 delayed; retry --all while t06 is still
# down leaves it delayed (and touches no other terminal); once t06 is started again, retry --all puts
# the release there, under the same run id, and the run is done.
t_rel v7
t_check until_exit_3 expect_exit 3 fl push "$T/rel" --version 7.0 -l t05,t06,t07 --until 10m --retry-for 3s \
    -o connect_timeout=2 --json
V7=$(hj t05 .release)
orun=$(sj .run)
[ "$(hj t06 .state)" = delayed ] && [ "$(sj .open)" = true ] && pass until_open_t06_delayed ||
    fail until_open_t06_delayed "t06 $(hj t06 .state), open $(sj .open)"
[ "$(run_status "$orun")" = open ] && pass until_runs_says_open || fail until_runs_says_open "status $(run_status "$orun")"
[ "$(phase_of "$orun" t06)/$(phase_of "$orun" t05)" = delayed/done ] && pass until_show_delayed ||
    fail until_show_delayed "t06 $(phase_of "$orun" t06), t05 $(phase_of "$orun" t05)"
before5=$(sessions t05)
t_check retry_all_still_down_exit_3 expect_exit 3 fl retry --all -o connect_timeout=2
[ "$(run_status "$orun")" = open ] && [ "$(sessions t05)" = "$before5" ] && pass retry_all_still_down_stays_open ||
    fail retry_all_still_down_stays_open "status $(run_status "$orun"), t05 sessions $before5 -> $(sessions t05)"
term_start t06 || fail until_restart "t06 did not come back"
t_check retry_all_picks_up_exit_0 expect_exit 0 fl retry --all --json
[ "$(hj t06 .state)" = ok ] && [ "$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null) | .host' | tr '\n' ' ')" = "t06 " ] &&
    pass retry_all_only_the_delayed || fail retry_all_only_the_delayed "$(printf '%s\n' "$T_STDOUT" | head -n 3)"
[ "$(sj .run)" = "$orun" ] && [ "$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.retry_all) | "\(.runs) \(.terminals)"')" = "1 1" ] &&
    pass retry_all_same_run || fail retry_all_same_run "run $(sj .run), not $orun"
[ "$(link t06)" = "releases/$V7" ] && pass retry_all_t06_updated || fail retry_all_t06_updated "t06 $(link t06)"
[ "$(run_status "$orun")" = done ] && [ "$(phase_of "$orun" t06)" = done ] && pass retry_all_run_done ||
    fail retry_all_run_done "status $(run_status "$orun"), t06 $(phase_of "$orun" t06)"
t_check retry_all_status_in_sync expect_output '^t06 .* in sync' fl status -l t06
n=$(git -C "$HIST" log --format=%B | grep -c "^Run: $orun")
[ "$n" -ge 3 ] && pass retry_all_recorded || fail retry_all_recorded "$n commits for $orun"
t_check retry_all_nothing_left expect_output 'no open run to pick up' fl retry --all
[ "$T_RC" = 0 ] && pass retry_all_nothing_exit_0 || fail retry_all_nothing_exit_0 "exit $T_RC"
t_check retry_all_takes_no_run_exit_2 expect_exit 2 fl retry --all "$orun"

# ---------------------------------------------------------------------------------------------
# After the deadline: t08 stays down past a 6 s deadline.  The run reads as expired at once (show,
# runs); retry --all writes it down (journal, history, alarm) and exits 3; then there is nothing left.
cat >"$T/hook.sh" <<EOF
#!/bin/sh
cat >"$T/alarm.json"
EOF
chmod 755 "$T/hook.sh"
awk -v kv="on_failure = $T/hook.sh" '{ print } $0 == "[fleet]" { print kv }' "$INV" >"$T/alarm.ini"
fleet_stop_one "$FLEET" t08
t_rel v8
t_check expire_push_open expect_exit 3 fl push "$T/rel" --version 8.0 -l t08,t09 --until 6s --retry-for 2s \
    -o connect_timeout=1 --json
erun=$(sj .run)
i=0
while [ "$(run_status "$erun")" != expired ] && [ "$i" -lt 30 ]; do
	sleep 1
	i=$((i + 1))
done
[ "$(run_status "$erun")" = expired ] && [ "$(phase_of "$erun" t08)/$(phase_of "$erun" t09)" = expired/done ] &&
    pass expire_reads_expired || fail expire_reads_expired "status $(run_status "$erun"), t08 $(phase_of "$erun" t08)"
rm -f "$T/alarm.json"
FL_INV=$T/alarm.ini
t_check expire_retry_all_exit_3 expect_exit 3 fl retry --all
FL_INV=""
printf '%s\n' "$T_OUT" | grep -q "run $erun: its deadline has passed: 1 terminal expired" && pass expire_said ||
    fail expire_said "$(printf '%s\n' "$T_OUT" | head -n 3)"
got=$(show_json "$erun" '.hosts[] | select(.host == "t08") | "\(.lifecycle[-1].state)/\(.lifecycle[-1].step)"')
[ "$got" = expired/deadline ] && [ "$(show_json "$erun" '.events[-1] | "\(.t) \(.result)"')" = "end expired" ] &&
    pass expire_journalled || fail expire_journalled "t08 $got; $(show_json "$erun" '.events[-1]')"
git -C "$HIST" log -1 --format=%B | grep -q '^t08 expired deadline' && pass expire_recorded ||
    fail expire_recorded "$(git -C "$HIST" log -1 --format=%B | head -n 3 | tr '\n' '|')"
got=$(jq -r '[.terminals[] | "\(.host)=\(.state)=\(.running)"] | join(" ")' "$T/alarm.json" 2>/dev/null)
[ "$got" = "t08=expired=$V6" ] && pass expire_alarm || fail expire_alarm "alarm '$got'"
t_check expire_nothing_left expect_exit 0 fl retry --all
# --until without --retry-for: the controller retries until the deadline, then the terminal expires.
t_check until_alone_expires_exit_3 expect_exit 3 fl push "$T/rel" --version 8.0 -l t08 --until 4s -o connect_timeout=1 --json
[ "$(hj t08 .state)" = expired ] && [ "$(run_status "$(sj .run)")" = expired ] && pass until_alone_expired ||
    fail until_alone_expired "t08 $(hj t08 .state), run $(run_status "$(sj .run)")"
term_start t08 || fail expire_restart "t08 did not come back"

# ---------------------------------------------------------------------------------------------
# A pick-up killed mid-way (SIGKILL while t09 installs) leaves the run interrupted, although the run
# was recorded once before: resume finishes it, it is not taken for a run already recorded.
fleet_stop_one "$FLEET" t09
t_rel v11
t_check killed_pickup_setup expect_exit 3 fl push "$T/rel" --version 11.0 -l t09,t10 --until 10m --retry-for 2s \
    -o connect_timeout=1 --json
krun=$(sj .run)
V11=$(hj t10 .release)
term_start t09 || fail killed_pickup_restart "t09 did not come back"
"$FLEETCTL" -i "$INV" retry --all -o 'install=sleep 5' >"$T/pickup.out" 2>&1 </dev/null &
kpid=$!
i=0
until [ "$(show_json "$krun" '.hosts[] | select(.host == "t09") | .state')" = sent ] || [ "$i" -ge 150 ]; do
	sleep 0.2
	i=$((i + 1))
done
kill -KILL "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
[ "$(run_status "$krun")" = interrupted ] && pass killed_pickup_interrupted || fail killed_pickup_interrupted "status $(run_status "$krun")"
t_check killed_pickup_resume_exit_0 expect_exit 0 fl resume "$krun"
if printf '%s\n' "$T_OUT" | grep -q 'nothing to resume'; then
	fail killed_pickup_resumed "taken for a recorded run: $(printf '%s\n' "$T_OUT" | tail -n 1)"
else
	pass killed_pickup_resumed
fi
[ "$(link t09)" = "releases/$V11" ] && [ "$(run_status "$krun")" = done ] && pass killed_pickup_finished ||
    fail killed_pickup_finished "t09 $(link t09), status $(run_status "$krun")"

# ---------------------------------------------------------------------------------------------
# resume keeps the options: paused after wave 1 (no TTY), then resumed with the same waves, rate,
# soak and min-sample, said again before it goes on.
t_rel v9
t_check resume_options_paused expect_output 'paused after wave 1' fl push "$T/rel" --version 9.0 -l t01,t02,t03 \
    --waves exp:1,x2 --rate 120/min --soak 1s --max-fail 50% --min-sample 2 --pause-after-wave
prun=$(printf '%s\n' "$T_OUT" | sed -n 's/.*fleetctl resume \([^`]*\)`.*/\1/p' | head -n 1)
t_check resume_options_exit_0 expect_exit 0 fl resume "$prun"
t_check resume_options_said_again expect_output \
    '2 waves \(exp:1,x2\).*once 2 terminals have been started.*a soak of 1 s.*at most 120/min' true_output
[ "$(run_status "$prun")" = done ] && pass resume_options_done || fail resume_options_done "status $(run_status "$prun")"

# ---------------------------------------------------------------------------------------------
# show's states while a terminal moves: sent (unpacked, installing), installed (switched, restarting),
# then done.
t_rel v10
fl push "$T/rel" --version 10.0 -l t10 -o 'install=sleep 3' -o 'restart=sleep 3' >"$T/slow.out" 2>&1 </dev/null &
slow=$!
seen=""
i=0
while kill -0 "$slow" 2>/dev/null && [ "$i" -lt 300 ]; do
	srun=$(fl runs --json -n 1 2>/dev/null | jq -r .id)
	p=$(phase_of "$srun" t10)
	case " $seen " in *" $p "*) ;; *) [ -n "$p" ] && seen="$seen $p" ;; esac
	sleep 0.2
	i=$((i + 1))
done
wait_pid "$slow" 30
p=$(phase_of "$srun" t10)
case " $seen " in *" $p "*) ;; *) seen="$seen $p" ;; esac
case "$seen" in
*sent*installed*done) pass show_phases_sent_installed_done ;;
*) fail show_phases_sent_installed_done "seen:$seen" ;;
esac

t_done
