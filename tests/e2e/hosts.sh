#!/bin/sh
# e2e: `fleetctl hosts` against the inventory of a real local fleet, and the fleet itself.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 3
user=$(sed -n 's/^user = //p' "$INV")

# The fleet: every terminal answers the real OpenSSH client as the login account, whose root
# directory is writable.
for n in t01 t02 t03; do
	t_check "fleet_ssh_$n" expect_output "^hello $n $user\$" t_ssh "$n" "echo hello $n \$(id -un)"
done
t_check fleet_root_writable expect_exit 0 t_ssh t02 "touch '$FLEET/t02/root/probe' && test -f '$FLEET/t02/root/probe'"
fleet_stop_one "$FLEET" t02
t_check fleet_stopped_terminal_refuses must_fail t_ssh t02 true
fleet_start_one "$FLEET" t02
t_check fleet_restarted_terminal_answers expect_exit 0 t_ssh t02 true
fleet_rekey_one "$FLEET" t03
t_check fleet_rekeyed_terminal_refused must_fail t_ssh t03 true
# Bring t03 back with the key known_hosts holds: regenerate known_hosts from the current keys.
while read -r n; do fleet_known_hosts_line "$FLEET" "$n"; done <"$FLEET/names" >"$FLEET/client/known_hosts"
t_check fleet_rekeyed_terminal_back expect_exit 0 t_ssh t03 true

# hosts, human output: every terminal, inventory order.
t_check hosts_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" hosts
names=$(printf '%s\n' "$T_STDOUT" | grep -oE '\bt0[1-3]\b' | tr '\n' ' ')
if [ "$names" = "t01 t02 t03 " ]; then pass hosts_lists_all_in_order; else fail hosts_lists_all_in_order "got '$names'"; fi

# hosts --json: one array, an object per terminal with every effective setting.
json_list() {
	printf '%s\n' "$T_STDOUT" | jq -e 'if type == "array" then . else error("not an array") end'
}
t_check hosts_json_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" hosts --json
if list=$(json_list); then pass hosts_json_is_array; else fail hosts_json_is_array "got: $T_STDOUT"; fi
if [ "$(printf '%s' "$list" | jq length)" = 3 ]; then pass hosts_json_count; else fail hosts_json_count "got: $T_STDOUT"; fi
got=$(printf '%s' "$list" | jq -r '[.[].name] | join(",")')
[ "$got" = "t01,t02,t03" ] && pass hosts_json_names || fail hosts_json_names "got '$got'"
got=$(printf '%s' "$list" | jq -r '.[] | select(.name == "t02") |
    "\(.address) \(.port) \(.port | type) \(.user) \(.root) \(.groups | join(","))"')
want="127.0.0.1 $(fleet_port "$FLEET" t02) number $user $FLEET/t02/root lobby,kiosks"
[ "$got" = "$want" ] && pass hosts_json_t02_settings || fail hosts_json_t02_settings "got '$got', want '$want'"

# Selection: groups, exclusion, globs, exact lists.
sel() {
	expect_exit 0 "$FLEETCTL" -i "$INV" hosts -l "$1" --json || return 1
	got=$(json_list | jq -r '[.[].name] | join(",")')
	[ "$got" = "$2" ] || { T_WHY="-l '$1' gave '$got', want '$2'"; return 1; }
}
t_check hosts_select_group_minus_host sel 'lobby,!t01' t02
t_check hosts_select_group_all sel kiosks t01,t02,t03
t_check hosts_select_glob_minus_host sel 't0*,!t03' t01,t02
t_check hosts_select_one_host sel t03 t03
t_check hosts_select_unknown_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" hosts -l nosuchhost
t_check hosts_select_empty_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" hosts -l 'lobby,!lobby'

# Inventory errors: exit 2, FILE:LINE: and the offending key.
mkdir -p "$T/bad"
cp "$INV" "$T/bad/fleet.ini"
printf '[host:t03]\nadress = 127.0.0.1\n' >>"$T/bad/fleet.ini"
line=$(wc -l <"$T/bad/fleet.ini" | tr -d ' ')
t_check hosts_inventory_error_exits_2 expect_exit 2 "$FLEETCTL" -i "$T/bad/fleet.ini" hosts
t_check hosts_inventory_error_names_line expect_output "fleet\.ini:$line:.*adress" "$FLEETCTL" -i "$T/bad/fleet.ini" hosts
t_check hosts_missing_inventory_exits_2 expect_exit 2 "$FLEETCTL" -i "$T/nonexistent.ini" hosts

t_done
