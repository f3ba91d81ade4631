#!/bin/sh
# e2e: `fleetctl lock status` and `fleetctl lock break` against real sshd terminals whose locks
# (ROOT/.fleet-lock) are written on the terminal by its own login account.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 3
HIST=$FLEET/state/history

# take_lock NAME RUN TIME DEADLINE: write the lock as the terminal's account, as a run would.
take_lock() {
	t_ssh "$1" "mkdir '$FLEET/$1/root/.fleet-lock' && printf '%s\n' run_id=$2 kind=push operator=alice \
	    controller=ctl1 pid=4242 time=$3 deadline=$4 >'$FLEET/$1/root/.fleet-lock/info'"
}
has_lock() {
	[ -f "$FLEET/$1/root/.fleet-lock/info" ] || { T_WHY="no lock on $1"; return 1; }
}
no_lock() {
	[ ! -e "$FLEET/$1/root/.fleet-lock" ] || { T_WHY="the lock on $1 is still there"; return 1; }
}
# json_field NAME JQ: a field of NAME's object in the last --json output.
json_field() {
	printf '%s\n' "$T_STDOUT" | jq -r --arg h "$1" "select(.host == \$h) | $2"
}
json_is() {
	got=$(json_field "$1" "$2")
	[ "$got" = "$3" ] || { T_WHY="$1 $2 = '$got', want '$3'"; t_diag; return 1; }
}

# Usage errors touch nothing.
t_check lock_no_subcommand_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" lock
t_check lock_unknown_subcommand_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" lock grab -l t02
t_check lock_break_without_selection_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" lock break --yes

# All free.
t_check lock_status_free_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" lock status
t_check lock_status_free_lists_each expect_output '^t02: free$' "$FLEETCTL" -i "$INV" lock status -l t02

# A live lock on t02: named, not stale, the others free.
now=$(date +%s)
if take_lock t02 20261126T104512Z-aaaaaa $((now - 125)) $((now + 3600)); then pass lock_taken_on_t02; else fail lock_taken_on_t02 "ssh"; fi
t_check lock_status_held_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" lock status
t_check lock_status_names_holder expect_output \
    '^t02: held by run 20261126T104512Z-aaaaaa \(push, alice@ctl1, pid 4242, age 2m[0-5][0-9]s, stale: no\)$' \
    "$FLEETCTL" -i "$INV" lock status
t_check lock_status_others_free expect_output '^t01: free$' "$FLEETCTL" -i "$INV" lock status
t_check lock_status_json_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" lock status --json
t_check lock_status_json_held json_is t02 '"\(.lock) \(.run_id) \(.kind) \(.operator) \(.controller) \(.pid) \(.stale)"' \
    "held 20261126T104512Z-aaaaaa push alice ctl1 4242 false"
t_check lock_status_json_free json_is t01 .lock free
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.summary == true) | "\(.locked) \(.stale)"')
[ "$got" = "1 0" ] && pass lock_status_json_summary || fail lock_status_json_summary "got '$got'"

# Past its deadline: stale.
t_ssh t02 "rm -rf '$FLEET/t02/root/.fleet-lock'"
take_lock t02 20261126T104512Z-aaaaaa $((now - 7200)) $((now - 60))
t_check lock_status_past_deadline_is_stale expect_output '^t02: held by run 20261126T104512Z-aaaaaa .*stale: yes\)$' \
    "$FLEETCTL" -i "$INV" lock status -l t02
t_check lock_status_json_stale expect_exit 0 "$FLEETCTL" -i "$INV" lock status -l t02 --json
t_check lock_status_json_stale_true json_is t02 .stale true

# Deadline ahead, but the run's journal on this controller says it ended: stale too.
t_ssh t02 "rm -rf '$FLEET/t02/root/.fleet-lock'"
take_lock t02 20261126T104512Z-bbbbbb "$now" $((now + 3600))
mkdir -p "$FLEET/state/runs"
printf '%s\n' '{"t":"start","run":"20261126T104512Z-bbbbbb"}' >"$FLEET/state/runs/20261126T104512Z-bbbbbb.jsonl"
t_check lock_status_running_journal_not_stale expect_output 'stale: no\)$' "$FLEETCTL" -i "$INV" lock status -l t02
printf '%s\n' '{"t":"end","status":1}' >>"$FLEET/state/runs/20261126T104512Z-bbbbbb.jsonl"
t_check lock_status_ended_run_is_stale expect_output 'bbbbbb .*stale: yes\)$' "$FLEETCTL" -i "$INV" lock status -l t02
# Resumed after an end (retry --all going on with an open run): running again, its locks are not stale.
printf '%s\n' '{"t":"resume","pid":1}' >>"$FLEET/state/runs/20261126T104512Z-bbbbbb.jsonl"
t_check lock_status_resumed_run_not_stale expect_output 'bbbbbb .*stale: no\)$' "$FLEETCTL" -i "$INV" lock status -l t02
printf '%s\n' '{"t":"end","result":"open"}' >>"$FLEET/state/runs/20261126T104512Z-bbbbbb.jsonl"
t_check lock_status_ended_again_is_stale expect_output 'bbbbbb .*stale: yes\)$' "$FLEETCTL" -i "$INV" lock status -l t02

# break without --yes and stdin not a terminal: exit 2, nothing removed, nothing recorded.
before=$(commits)
t_check lock_break_needs_yes_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" lock break -l t02
t_check lock_break_needs_yes_message expect_output 'stdin is not a terminal: pass --yes' "$FLEETCTL" -i "$INV" lock break -l t02
t_check lock_break_needs_yes_keeps_lock has_lock t02
[ "$(commits)" = "$before" ] && pass lock_break_needs_yes_records_nothing || fail lock_break_needs_yes_records_nothing "history grew"

# break --run of another run: the lock stays.
t_check lock_break_other_run_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" lock break -l t02 --run 20261126T104512Z-cccccc --yes
t_check lock_break_other_run_says_kept expect_output '^t02: kept the lock of run 20261126T104512Z-bbbbbb' \
    "$FLEETCTL" -i "$INV" lock break -l t02 --run 20261126T104512Z-cccccc --yes
t_check lock_break_other_run_keeps_lock has_lock t02

# break -l t02 --yes: gone, one lock-break commit naming the terminal and whose lock it was.
before=$(commits)
t_check lock_break_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" lock break -l t02 --yes
t_check lock_break_says_broken expect_output '^t02: broke the lock of run 20261126T104512Z-bbbbbb \(push, alice@ctl1' \
    printf '%s\n' "$T_OUT"
t_check lock_break_removed_lock no_lock t02
[ "$(commits)" = "$((before + 1))" ] && pass lock_break_one_commit || fail lock_break_one_commit "$before -> $(commits)"
msg=$(git --git-dir="$HIST" log -1 --format=%B main 2>&1)
if printf '%s\n' "$msg" | grep -q '^Kind: lock-break' &&
    printf '%s\n' "$msg" | grep -qE '^t02 ok.*20261126T104512Z-bbbbbb.*alice@ctl1'; then
	pass lock_break_history_names_holder
else
	fail lock_break_history_names_holder "$(printf '%s' "$msg" | head -n 12 | tr '\n' '|')"
fi
t_check lock_status_after_break_free expect_output '^t02: free$' "$FLEETCTL" -i "$INV" lock status -l t02

# --run of the holder breaks it; a terminal without a lock says so.
take_lock t02 20261126T104512Z-dddddd "$now" $((now + 3600))
t_check lock_break_own_run_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" lock break -l 't01,t02' --run 20261126T104512Z-dddddd --yes
t_check lock_break_own_run_removed no_lock t02
t_check lock_break_no_lock_said expect_output '^t01: no lock$' printf '%s\n' "$T_OUT"

# An unreachable terminal: status and break exit 3 like exec, and say which.
fleet_stop_one "$FLEET" t03
t_check lock_status_unreachable_exit_3 expect_exit 3 "$FLEETCTL" -i "$INV" lock status
t_check lock_status_unreachable_named expect_output '^t03: unreachable' printf '%s\n' "$T_OUT"
t_check lock_break_unreachable_exit_3 expect_exit 3 "$FLEETCTL" -i "$INV" lock break -l t03 --yes

t_done
