#!/bin/sh
# e2e: jump hosts through real sshds.  t01 is the first hop, t02 (jump = t01) the second, t03
# (jump = t02) the target.  The sshds of t01 and t02 log at DEBUG1, which records every
# direct-tcpip request with its target port: that proves the traffic really goes through them.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 3
p1=$(fleet_port "$FLEET" t01)
p2=$(fleet_port "$FLEET" t02)
p3=$(fleet_port "$FLEET" t03)
mkdir -p "$T/home"
HOME=$T/home
export HOME

# set_sshd NAME SED-EXPR: edit a terminal's sshd_config and restart it.
set_sshd() {
	sed -i "$2" "$FLEET/$1/sshd_config"
	fleet_stop_one "$FLEET" "$1"
	fleet_start_one "$FLEET" "$1" || fail "restart_$1" "sshd did not come back"
}
set_sshd t01 's/^LogLevel .*/LogLevel DEBUG1/'
set_sshd t02 's/^LogLevel .*/LogLevel DEBUG1/'

# jump_ini OUT "NAME=JUMP ...": the fleet's inventory with `jump = JUMP` added to [host:NAME].
jump_ini() {
	awk -v spec="$2" '
		BEGIN { n = split(spec, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); j[kv[1]] = kv[2] } }
		{ print }
		/^\[host:/ { h = substr($0, 7, length($0) - 7); if (h in j) print "jump = " j[h] }' "$INV" >"$1"
}
jump_ini "$T/chain.ini" "t02=t01 t03=t02"
FC="$FLEETCTL -i $T/chain.ini"

count() { grep -cE "$2" "$FLEET/$1/sshd.log"; }
fwd_re() { echo "server_request_direct_tcpip: .*target 127\.0\.0\.1 port $1[^0-9]"; }  # lines end in CR LF

t_check chain_hosts_json expect_exit 0 $FC hosts --json
got=$(printf '%s\n' "$T_STDOUT" | jq -r '[.[] | "\(.name)>\(.jump)"] | join(" ")')
[ "$got" = "t01>null t02>t01 t03>t02" ] && pass chain_hosts_jump_field || fail chain_hosts_jump_field "got '$got'"

f1=$(count t01 "$(fwd_re "$p2")")
f2=$(count t02 "$(fwd_re "$p3")")
s1=$(count t01 'Starting session: command')
s2=$(count t02 'Starting session: command')
s3=$(count t03 'Starting session: command')
t_check chain_two_hops_exit_0 expect_exit 0 $FC exec -l t03 -- 'echo via-jump'
printf '%s\n' "$T_STDOUT" | grep -qx 't03: via-jump' && pass chain_two_hops_output || fail chain_two_hops_output "got '$T_STDOUT'"
[ "$(count t01 "$(fwd_re "$p2")")" = $((f1 + 1)) ] && pass chain_hop1_forwarded_to_t02 ||
	fail chain_hop1_forwarded_to_t02 "t01 log: $(grep direct-tcpip "$FLEET/t01/sshd.log" | tail -n 2)"
[ "$(count t02 "$(fwd_re "$p3")")" = $((f2 + 1)) ] && pass chain_hop2_forwarded_to_t03 ||
	fail chain_hop2_forwarded_to_t03 "t02 log: $(grep direct-tcpip "$FLEET/t02/sshd.log" | tail -n 2)"
[ "$(count t01 'Starting session: command')" = "$s1" ] && [ "$(count t02 'Starting session: command')" = "$s2" ] &&
	[ "$(count t03 'Starting session: command')" = $((s3 + 1)) ] && pass chain_command_ran_on_target_only ||
	fail chain_command_ran_on_target_only "session counts changed wrongly"

# Every terminal of the chain at once: each reached the right way, all ok.
t_check chain_all_json_exit_0 expect_exit 0 $FC exec --json -- 'echo $SSH_CONNECTION'
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host?) | "\(.host):\(.state):\(.stdout | split(" ") | .[3] | rtrimstr("\n"))"' | tr '\n' ' ')
[ "$got" = "t01:ok:$p1 t02:ok:$p2 t03:ok:$p3 " ] && pass chain_all_reach_right_port || fail chain_all_reach_right_port "got '$got'"

# Without forwarding on the second hop the target cannot be reached: the path really uses t02.
set_sshd t02 's/^AllowTcpForwarding .*/AllowTcpForwarding no/'
t_check noforward_exit_3 expect_exit 3 $FC exec -l t03 --json -- true
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host? == "t03") | "\(.state) \(.error)"')
case "$got" in "unreachable "*t02*) pass noforward_names_jump_host ;; *) fail noforward_names_jump_host "got '$got'" ;; esac
t_check noforward_jump_itself_ok expect_exit 0 $FC exec -l t02 -- true
set_sshd t02 's/^AllowTcpForwarding .*/AllowTcpForwarding yes/'
t_check forward_back_exit_0 expect_exit 0 $FC exec -l t03 -- true

# The target's host key is checked through the jump too.
cp "$FLEET/client/known_hosts" "$T/kh.orig"
fleet_rekey_one "$FLEET" t03
t_check jump_target_hostkey_exit_3 expect_exit 3 $FC exec -l t03 --json -- true
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host? == "t03") | .state')
[ "$got" = hostkey ] && pass jump_target_hostkey_checked || fail jump_target_hostkey_checked "got '$got'"
while read -r n; do fleet_known_hosts_line "$FLEET" "$n"; done <"$FLEET/names" >"$FLEET/client/known_hosts"
t_check jump_target_new_key_ok expect_exit 0 $FC exec -l t03 -- true

# A jump host that is down: the target is unreachable, and the message names the jump host.
fleet_stop_one "$FLEET" t02
t_check jump2_down_exit_3 expect_exit 3 $FC exec -l t01,t03 --json -- true
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host? == "t03") | "\(.state) \(.error)"')
case "$got" in "unreachable "*"jump host t02"*) pass jump2_down_names_t02 ;; *) fail jump2_down_names_t02 "got '$got'" ;; esac
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host? == "t01") | .state')
[ "$got" = ok ] && pass jump2_down_first_hop_ok || fail jump2_down_first_hop_ok "t01: $got"
t_check jump2_down_human expect_output '^t03: unreachable: .*jump host t02' $FC exec -l t03 -- true
fleet_start_one "$FLEET" t02
fleet_stop_one "$FLEET" t01
t_check jump1_down_exit_3 expect_exit 3 $FC exec -l t02,t03 --json -- true
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host? == "t03") | "\(.state) \(.error)"')
case "$got" in "unreachable "*"jump host t01"*) pass jump1_down_names_t01 ;; *) fail jump1_down_names_t01 "got '$got'" ;; esac
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host? == "t02") | "\(.state) \(.error)"')
case "$got" in "unreachable "*"jump host t01"*) pass jump1_down_names_t01_for_t02 ;; *) fail jump1_down_names_t01_for_t02 "got '$got'" ;; esac
fleet_start_one "$FLEET" t01
t_check jumps_back_exit_0 expect_exit 0 $FC exec -l t03 -- true

# Loops and bad jumps are refused when the inventory loads: exit 2, FILE:LINE, nothing run.
before=$(cat "$FLEET"/t*/sshd.log | grep -c 'Starting session: command')
jump_ini "$T/loop.ini" "t01=t02 t02=t01"
t_check loop_exit_2 expect_exit 2 "$FLEETCTL" -i "$T/loop.ini" exec -l t03 -- "touch $T/ran"
t_check loop_names_file_line expect_output 'loop\.ini:[0-9]+:.*(loop|t01|t02)' "$FLEETCTL" -i "$T/loop.ini" exec -- true
t_check loop_hosts_exit_2 expect_exit 2 "$FLEETCTL" -i "$T/loop.ini" hosts
jump_ini "$T/loop3.ini" "t01=t03 t02=t01 t03=t02"
t_check loop3_exit_2 expect_exit 2 "$FLEETCTL" -i "$T/loop3.ini" exec -- "touch $T/ran"
jump_ini "$T/self.ini" "t01=t01"
t_check self_jump_exit_2 expect_exit 2 "$FLEETCTL" -i "$T/self.ini" exec -- "touch $T/ran"
jump_ini "$T/unknown.ini" "t02=nosuchhost"
t_check unknown_jump_names_file_line expect_output 'unknown\.ini:[0-9]+:.*nosuchhost' "$FLEETCTL" -i "$T/unknown.ini" exec -- "touch $T/ran"
[ "$T_RC" = 2 ] && pass unknown_jump_exit_2 || fail unknown_jump_exit_2 "exit $T_RC"
after=$(cat "$FLEET"/t*/sshd.log | grep -c 'Starting session: command')
[ "$before" = "$after" ] && [ ! -e "$T/ran" ] && pass bad_jumps_nothing_run || fail bad_jumps_nothing_run "$before -> $after sessions"

t_done
