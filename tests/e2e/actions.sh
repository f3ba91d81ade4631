#!/bin/sh
# e2e: `fleetctl install|restart|shutdown|reboot` against real sshd terminals: the configured command
# runs in the right place with FLEET_ROOT, a host without it fails clearly, shutdown/reboot want --yes
# without a terminal, are sent detached, and `reboot --wait` waits for a new boot id (the "reboot" is
# simulated: the test restarts that terminal's sshd and writes a new boot id) and runs health.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 3
R1=$FLEET/t01/root
R2=$FLEET/t02/root
R3=$FLEET/t03/root
HIST=$FLEET/state/history

# The component directory FLEET_ROOT points at (the markers go one level up, into the terminal's root).
for n in t01 t02 t03; do
	t_ssh "$n" "mkdir -p '$FLEET/$n/root/app'" || { fail setup "mkdir on $n"; t_done; }
done

# wait_file PATH SECONDS: true once PATH exists (bounded).
wait_file() {
	local i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		[ "$i" -gt $(($2 * 10)) ] && return 1
		sleep 0.1
	done
	return 0
}

# -- restart -------------------------------------------------------------------------------------
RESTART='echo restarted > "$FLEET_ROOT/../restart.marker"'
before=$(commits)
t_check restart_lobby_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" -o "restart=$RESTART" restart -l lobby
if [ -f "$R1/restart.marker" ] && [ -f "$R2/restart.marker" ] && [ ! -e "$R3/restart.marker" ]; then
	pass restart_runs_on_selected_terminals_only
else
	fail restart_runs_on_selected_terminals_only "markers: $(ls "$R1" "$R2" "$R3" | tr '\n' ' ')"
fi
after=$(commits)
[ "$after" -eq $((before + 1)) ] && pass restart_one_history_commit ||
	fail restart_one_history_commit "commits $before -> $after"
msg=$(git --git-dir="$HIST" log -1 --format=%B main 2>/dev/null)
if printf '%s\n' "$msg" | grep -q '^restart ' && printf '%s\n' "$msg" | grep -q '^t01 ok' &&
    printf '%s\n' "$msg" | grep -q '^t02 ok' && printf '%s\n' "$msg" | grep -qF 'restart.marker'; then
	pass restart_history_names_command_and_terminals
else
	fail restart_history_names_command_and_terminals "message: $(printf '%s' "$msg" | head -n 12 | tr '\n' '|')"
fi

# The environment: FLEET_ROOT is ROOT/COMPONENT, quoted; --component changes it.
t_check restart_env_fleet_root expect_output "^t01: root=$R1/app comp=app\$" \
    "$FLEETCTL" -i "$INV" -o 'restart=echo "root=$FLEET_ROOT comp=$FLEET_COMPONENT"' restart -l t01
t_check restart_component_option expect_output "^t01: root=$R1/web comp=web\$" \
    "$FLEETCTL" -i "$INV" -o 'restart=echo "root=$FLEET_ROOT comp=$FLEET_COMPONENT"' restart -l t01 --component web
t_check restart_bad_component_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" -o 'restart=true' restart --component '../x'

# A host without the command fails with the clear message; the others still run.
awk -v cmd="restart = echo only-t01 > \"\$FLEET_ROOT/../only.marker\"" \
    '{ print } /^\[host:t01\]$/ { print cmd }' "$INV" >"$T/one-restart.ini"
t_check restart_unconfigured_host_exit_1 expect_exit 1 "$FLEETCTL" -i "$T/one-restart.ini" restart -l t01,t02
if printf '%s\n' "$T_OUT" | grep -qF "t02: failed (restart): no 'restart' command configured for this host (set restart = ... in fleet.ini)"; then
	pass restart_unconfigured_host_message
else
	fail restart_unconfigured_host_message "got: $(printf '%s' "$T_OUT" | tr '\n' '|')"
fi
[ -f "$R1/only.marker" ] && [ ! -e "$R2/only.marker" ] && pass restart_configured_host_still_ran ||
	fail restart_configured_host_still_ran "t01 marker missing or t02 ran"

t_check restart_failing_command_exit_1 expect_exit 1 "$FLEETCTL" -i "$INV" -o 'restart=echo broken >&2; exit 3' restart -l t01
t_check restart_failing_command_reported expect_output '^t01: failed \(restart\): exit 3$' \
    "$FLEETCTL" -i "$INV" -o 'restart=echo broken >&2; exit 3' restart -l t01

json_states() {
	expect_exit 0 "$FLEETCTL" -i "$INV" -o 'restart=echo hi' restart -l lobby --json || return 1
	got=$(printf '%s\n' "$T_STDOUT" | jq -rs '[.[] | select(.host) | "\(.host)=\(.state)=\(.stdout | rtrimstr("\n"))"] | join(",")') || {
		T_WHY="not JSON: $T_STDOUT"; return 1; }
	[ "$got" = "t01=ok=hi,t02=ok=hi" ] || { T_WHY="got '$got'"; return 1; }
	printf '%s\n' "$T_STDOUT" | tail -n 1 | jq -e '.summary == true and .ok == 2 and .exit_status == 0' >/dev/null ||
		{ T_WHY="bad summary: $(printf '%s\n' "$T_STDOUT" | tail -n 1)"; return 1; }
}
t_check restart_json json_states

# -- install: runs in ROOT/app/current when it exists ---------------------------------------------
t_ssh t01 "mkdir -p '$R1/app/releases/x' && ln -sfn releases/x '$R1/app/current'" ||
	fail install_setup "cannot make the release layout on t01"
t_check install_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" -o 'install=echo "pwd=$(pwd -P)"' install -l t01,t02
if printf '%s\n' "$T_STDOUT" | grep -qx "t01: pwd=$R1/app/releases/x"; then
	pass install_runs_in_current_release
else
	fail install_runs_in_current_release "got: $(printf '%s' "$T_STDOUT" | tr '\n' '|')"
fi
# t02 has no current: the command runs where the login put it, not in a made-up directory.
if printf '%s\n' "$T_STDOUT" | grep -q '^t02: pwd=' && ! printf '%s\n' "$T_STDOUT" | grep -q "^t02: pwd=$R2/app"; then
	pass install_without_current_runs_in_login_dir
else
	fail install_without_current_runs_in_login_dir "got: $(printf '%s' "$T_STDOUT" | tr '\n' '|')"
fi
t_check install_rejects_wait expect_exit 2 "$FLEETCTL" -i "$INV" -o 'install=true' install --wait

# -- shutdown: --yes needed without a terminal; sent detached -------------------------------------
SHUT='sleep 3; touch "$FLEET_ROOT/../shutdown.marker"'
t_check shutdown_without_yes_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" -o "shutdown=$SHUT" shutdown -l t01
t_check shutdown_without_yes_says_pass_yes expect_output 'pass --yes' "$FLEETCTL" -i "$INV" -o "shutdown=$SHUT" shutdown -l t01
before=$(commits)
start=$(date +%s)
t_check shutdown_yes_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" -o "shutdown=$SHUT" shutdown -l t01 --yes
took=$(($(date +%s) - start))
printf '%s\n' "$T_OUT" | grep -q '^t01: note: sent$' && pass shutdown_reports_sent ||
	fail shutdown_reports_sent "got: $(printf '%s' "$T_OUT" | tr '\n' '|')"
# Detached: fleetctl came back before the command (which sleeps 3 s first) finished.
if [ "$took" -lt 3 ] && [ ! -e "$R1/shutdown.marker" ]; then
	pass shutdown_returns_before_command_ends
else
	fail shutdown_returns_before_command_ends "took ${took}s, marker present: $([ -e "$R1/shutdown.marker" ] && echo yes || echo no)"
fi
wait_file "$R1/shutdown.marker" 15 && pass shutdown_command_ran_detached ||
	fail shutdown_command_ran_detached "no marker after 15 s"
[ "$(commits)" -eq $((before + 1)) ] && pass shutdown_one_history_commit ||
	fail shutdown_one_history_commit "commits $before -> $(commits)"
# The refused runs above ran nothing, not even later.
rm -f "$R1/shutdown.marker"
t_check shutdown_no_yes_nothing_recorded_exit_2 expect_exit 2 "$FLEETCTL" -i "$INV" -o "shutdown=$SHUT" shutdown -l t01
sleep 4
[ ! -e "$R1/shutdown.marker" ] && pass shutdown_without_yes_runs_nothing ||
	fail shutdown_without_yes_runs_nothing "marker appeared"

# -- reboot --wait --------------------------------------------------------------------------------
# t02's "reboot" touches a trigger; the test then stops t02's sshd, waits 2 s, writes a new boot id
# and starts sshd again, as a real reboot would look from outside.
echo "boot-one-$$" >"$R2/boot_id"
REBOOT='touch "$FLEET_ROOT/../reboot.trigger"'
HEALTH='echo healthy > "$FLEET_ROOT/../health.marker"'
awk -v b2="boot_id = $R2/boot_id" -v b3="boot_id = $R3/boot_id" \
    '{ print } /^\[host:t02\]$/ { print b2 } /^\[host:t03\]$/ { print b3 }' "$INV" >"$T/boot.ini"
simulate_reboot() {   # NAME COME_BACK
	local i=0
	while [ ! -e "$FLEET/$1/root/reboot.trigger" ]; do
		i=$((i + 1))
		[ "$i" -gt 300 ] && return 1
		sleep 0.1
	done
	fleet_stop_one "$FLEET" "$1"
	sleep 2
	echo "boot-two-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')" >"$FLEET/$1/root/boot_id"
	[ "$2" = yes ] && fleet_start_one "$FLEET" "$1"
	return 0
}
pid_before=$(fleet_pid "$FLEET" t02)
simulate_reboot t02 yes &
sim=$!
before=$(commits)
start=$(date +%s)
t_check reboot_wait_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/boot.ini" -o "reboot=$REBOOT" -o "health=$HEALTH" \
    reboot -l t02 --yes --wait --wait-timeout 60s --json
took=$(($(date +%s) - start))
wait "$sim" && pass reboot_simulation_ran || fail reboot_simulation_ran "the trigger never appeared"
state=$(printf '%s\n' "$T_STDOUT" | jq -rs '.[] | select(.host == "t02") | "\(.state) \(.note)"' 2>/dev/null)
case "$state" in
"ok back after "*"new boot id, healthy") pass reboot_wait_ok_after_back ;;
*) fail reboot_wait_ok_after_back "got '$state'" ;;
esac
[ "$took" -ge 2 ] && pass reboot_wait_waited || fail reboot_wait_waited "returned after ${took}s"
pid_after=$(fleet_pid "$FLEET" t02)
[ -n "$pid_before" ] && [ -n "$pid_after" ] && [ "$pid_before" != "$pid_after" ] && pass reboot_terminal_was_restarted ||
	fail reboot_terminal_was_restarted "sshd pid of t02: '$pid_before' -> '$pid_after'"
[ -f "$R2/health.marker" ] && pass reboot_wait_ran_health || fail reboot_wait_ran_health "no health marker"
[ "$(commits)" -eq $((before + 1)) ] && pass reboot_one_history_commit ||
	fail reboot_one_history_commit "commits $before -> $(commits)"

# t03 never comes back within the timeout: failed, step wait, exit 1.
echo "boot-one-$$" >"$R3/boot_id"
simulate_reboot t03 no &
sim=$!
t_check reboot_not_back_exit_1 expect_exit 1 "$FLEETCTL" -i "$T/boot.ini" -o "reboot=$REBOOT" -o "health=$HEALTH" \
    reboot -l t03 --yes --wait --wait-timeout 5s
wait "$sim"
t_check_output() { printf '%s\n' "$T_OUT" | grep -qE "$1" || { T_WHY="got: $(printf '%s' "$T_OUT" | tr '\n' '|')"; return 1; }; }
t_check reboot_not_back_step_wait t_check_output '^t03: failed \(wait\): not back within 5 s'
[ ! -e "$R3/health.marker" ] && pass reboot_not_back_no_health || fail reboot_not_back_no_health "health ran"
fleet_start_one "$FLEET" t03

# A boot id that cannot be read: fail before rebooting.
t_check reboot_unreadable_boot_id_exit_1 expect_exit 1 "$FLEETCTL" -i "$INV" -o "reboot=$REBOOT" \
    -o "boot_id=$R1/no-such-boot-id" reboot -l t01 --yes --wait --wait-timeout 5s
t_check reboot_unreadable_boot_id_message t_check_output "^t01: failed \\(boot_id\\): cannot read boot id from '$R1/no-such-boot-id'"
sleep 2
[ ! -e "$R1/reboot.trigger" ] && pass reboot_unreadable_boot_id_not_rebooted ||
	fail reboot_unreadable_boot_id_not_rebooted "the reboot command ran"

# Back with a new boot id but unhealthy: failed, step health, after health_retries tries.  Here the
# "reboot" itself writes the new boot id (sshd stays up), so only health decides.
t_ssh t01 "echo boot-a > '$R1/boot_id2'; : > '$R1/health.count'"
t_check reboot_unhealthy_exit_1 expect_exit 1 "$FLEETCTL" -i "$INV" -o "boot_id=$R1/boot_id2" \
    -o 'reboot=echo boot-b > "$FLEET_ROOT/../boot_id2"' \
    -o 'health=echo x >> "$FLEET_ROOT/../health.count"; exit 1' -o health_retries=2 -o health_interval=1 \
    reboot -l t01 --yes --wait --wait-timeout 30s
t_check reboot_unhealthy_step_health t_check_output '^t01: failed \(health\): health check failed 2 times \(last: exit 1\)'
[ "$(wc -l <"$R1/health.count")" -eq 2 ] && pass reboot_health_tried_retries_times ||
	fail reboot_health_tried_retries_times "tried $(wc -l <"$R1/health.count") times"

# Usage errors: nothing run.
t_check reboot_wait_timeout_needs_wait expect_exit 2 "$FLEETCTL" -i "$INV" -o 'reboot=true' reboot --yes --wait-timeout 5s
t_check reboot_bad_wait_timeout expect_exit 2 "$FLEETCTL" -i "$INV" -o 'reboot=true' reboot --yes --wait --wait-timeout soon
t_check reboot_extra_argument expect_exit 2 "$FLEETCTL" -i "$INV" -o 'reboot=true' reboot --yes now

t_done
