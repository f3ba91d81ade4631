#!/bin/sh
# e2e: `fleetctl rollback` against real local sshd terminals: back to the previous release without
# an upload and forth again, --to by version and by id, an unknown --to, a pruned release pushed
# again from the bundle store, never to a release whose install failed, --list, and components.
. "$(dirname "$0")/../lib.sh"

t_setup

HIST=""

fresh_fleet() {
	fleet_down
	rm -rf "$T/fleet"
	fleet_up "$@"
	HIST=$FLEET/state/history
}

mkrel() {
	rm -rf "$1"
	mkdir -p "$1/bin"
	printf '#!/bin/sh\necho %s\n' "$2" >"$1/bin/run"
	chmod 755 "$1/bin/run"
	printf 'version %s\n' "$2" >"$1/VERSION"
}

# all_on ID [COMP]: every terminal's current -> releases/ID, and its VERSION file is that release's.
all_on() {
	local n
	for n in $(cat "$FLEET/names"); do
		if [ "$(link "$n" "${2:-app}")" != "releases/$1" ]; then
			T_WHY="$n: current -> '$(link "$n" "${2:-app}")', want releases/$1"
			return 1
		fi
		if ! grep -qx "version ${1%-*}" "$FLEET/$n/root/${2:-app}/current/VERSION"; then
			T_WHY="$n: VERSION is '$(cat "$FLEET/$n/root/${2:-app}/current/VERSION")'"
			return 1
		fi
	done
	return 0
}

inv_with() {
	awk -v h="[host:$2]" -v kv="$3 = $4" '{ print } $0 == h { print kv }' "$INV" >"$1"
}

# ---------------------------------------------------------------------------------------------
# 1.0 then 1.1 on 10 terminals; rollback goes to 1.0 without an upload, and again to 1.1.
fresh_fleet 10
mkrel "$T/r10" 1.0
mkrel "$T/r11" 1.1
expect_exit 0 fl push "$T/r10" --version 1.0 --json || fail rb_setup_push_10 "$T_WHY"
ID10=$(hj t01 .release)
expect_exit 0 fl push "$T/r11" --version 1.1 --json || fail rb_setup_push_11 "$T_WHY"
ID11=$(hj t01 .release)
before=$(commits)
t_check rb_previous_exit_0 expect_exit 0 fl rollback --json
got="$(sj .bytes_sent) $(sj .ok)"
[ "$got" = "0 10" ] && pass rb_previous_no_upload || fail rb_previous_no_upload "bytes_sent, ok: '$got'"
t_check rb_previous_all_on_10 all_on "$ID10"
got="$(($(commits) - before)) $(git -C "$HIST" log -1 --format=%s)"
case "$got" in
"1 rollback app "*) pass rb_previous_recorded ;;
*) fail rb_previous_recorded "new commits and subject: '$got'" ;;
esac
got=$(git -C "$HIST" show main:hosts/t07/app | sed -n 's/^current: //p;s/^previous: //p;s/^last_op: //p' | tr '\n' ' ')
[ "$got" = "$ID10 $ID11 rollback " ] && pass rb_previous_state_file || fail rb_previous_state_file "t07 state: '$got'"
t_check rb_again_exit_0 expect_exit 0 fl rollback --json
t_check rb_again_all_on_11 all_on "$ID11"
[ "$(sj .bytes_sent)" = 0 ] && pass rb_again_no_upload || fail rb_again_no_upload "bytes_sent $(sj .bytes_sent)"

# ---------------------------------------------------------------------------------------------
# --to by version, by release id; an unknown --to exits 2 before anything runs.
t_check rb_to_version_exit_0 expect_exit 0 fl rollback --to 1.0 -l 't01,t02' --json
[ "$(link t01) $(link t02) $(link t03)" = "releases/$ID10 releases/$ID10 releases/$ID11" ] &&
    pass rb_to_version_only_selected || fail rb_to_version_only_selected "$(link t01) $(link t02) $(link t03)"
t_check rb_to_id_exit_0 expect_exit 0 fl rollback --to "$ID11" -l t01 --json
[ "$(link t01)" = "releases/$ID11" ] && pass rb_to_id_switches || fail rb_to_id_switches "t01 -> $(link t01)"
before="$(commits) $(for n in $(cat "$FLEET/names"); do link "$n"; done | tr '\n' ' ')"
t_check rb_to_unknown_exit_2 expect_exit 2 fl rollback --to 9.9
printf '%s\n' "$T_STDERR" | grep -q "9\.9" && pass rb_to_unknown_names_it || fail rb_to_unknown_names_it "$T_STDERR"
after="$(commits) $(for n in $(cat "$FLEET/names"); do link "$n"; done | tr '\n' ' ')"
[ "$before" = "$after" ] && pass rb_to_unknown_touches_nothing || fail rb_to_unknown_touches_nothing "before '$before' after '$after'"

# ---------------------------------------------------------------------------------------------
# --list: the candidates of each terminal, from the history.
t_check rb_list_exit_0 expect_exit 0 fl rollback --list -l 't01,t03'
l1=$(printf '%s\n' "$T_STDOUT" | grep '^t01:')
l3=$(printf '%s\n' "$T_STDOUT" | grep '^t03:')
if printf '%s' "$l1" | grep -q "current $ID11" && printf '%s' "$l1" | grep -q "$ID10" &&
    printf '%s' "$l3" | grep -q "current $ID11" && [ "$(printf '%s\n' "$T_STDOUT" | grep -c '^t0')" = 2 ]; then
	pass rb_list_candidates
else
	fail rb_list_candidates "$T_STDOUT"
fi

# ---------------------------------------------------------------------------------------------
# A release pruned from the terminal is pushed again from the local bundle store.
rm -rf "$FLEET/t04/root/app/releases/$ID10" "$FLEET/t04/root/app/.fleet/installed/$ID10"
t_check rb_pruned_exit_0 expect_exit 0 fl rollback --to 1.0 -l t04 --json
sent=$(hj t04 .bytes_sent)
[ "${sent:-0}" -gt 0 ] && pass rb_pruned_reuploads || fail rb_pruned_reuploads "bytes_sent '$sent'"
[ "$(link t04)" = "releases/$ID10" ] && grep -qx 'version 1.0' "$FLEET/t04/root/app/current/VERSION" &&
    pass rb_pruned_ends_right || fail rb_pruned_ends_right "t04 -> $(link t04)"

# ---------------------------------------------------------------------------------------------
# Never back to a release whose install failed on that terminal.
fresh_fleet 3
mkrel "$T/f10" 1.0
mkrel "$T/f11" 1.1
mkrel "$T/f12" 1.2
expect_exit 0 fl push "$T/f10" --version 1.0 --json || fail rb_fail_setup_10 "$T_WHY"
F10=$(hj t01 .release)
inv_with "$T/inv-fail" t02 install 'exit 4'
expect_exit 1 "$FLEETCTL" -i "$T/inv-fail" push "$T/f11" --version 1.1 --json || fail rb_fail_setup_11 "$T_WHY"
F11=$(hj t01 .release)
expect_exit 0 fl push "$T/f12" --version 1.2 --json || fail rb_fail_setup_12 "$T_WHY"
F12=$(hj t01 .release)
before=$(link t02)
t_check rb_to_failed_exit_1 expect_exit 1 fl rollback --to 1.1 -l t02 --json
hj t02 .error | grep -q 'never finished installing' && pass rb_to_failed_refused || fail rb_to_failed_refused "t02: $(hj t02 .error)"
[ "$(link t02)" = "$before" ] && [ "$before" = "releases/$F12" ] && pass rb_to_failed_keeps_current ||
    fail rb_to_failed_keeps_current "t02 -> $(link t02), was $before"
# The default target skips it too: t02's previous is 1.0 (1.1 never ran there).
t_check rb_default_skips_failed_exit_0 expect_exit 0 fl rollback -l 't01,t02' --json
got="$(link t01) $(link t02)"
[ "$got" = "releases/$F11 releases/$F10" ] &&
    pass rb_default_skips_failed || fail rb_default_skips_failed "got '$got'"

# ---------------------------------------------------------------------------------------------
# Components: rolling back fw leaves app's current alone.
fresh_fleet 2
mkrel "$T/a1" 1.0
mkrel "$T/w1" 3.0
mkrel "$T/w2" 3.1
expect_exit 0 fl push "$T/a1" --version 1.0 --json || fail rb_comp_setup_app "$T_WHY"
A1=$(hj t01 .release)
expect_exit 0 fl push "$T/w1" --version 3.0 --component fw --json || fail rb_comp_setup_fw1 "$T_WHY"
W1=$(hj t01 .release)
expect_exit 0 fl push "$T/w2" --version 3.1 --component fw --json || fail rb_comp_setup_fw2 "$T_WHY"
appstat=$(stat -c '%i %y' "$FLEET/t01/root/app/current")
t_check rb_component_exit_0 expect_exit 0 fl rollback --component fw --json
t_check rb_component_fw_back all_on "$W1" fw
t_check rb_component_app_alone all_on "$A1" app
[ "$appstat" = "$(stat -c '%i %y' "$FLEET/t01/root/app/current")" ] && pass rb_component_app_link_untouched ||
    fail rb_component_app_link_untouched "app current was replaced"

t_done
