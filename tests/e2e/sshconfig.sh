#!/bin/sh
# e2e: ssh_config support against real sshd terminals.  The inventory names bare hosts; a generated
# ssh_config says how to reach them (HostName, Port, User, IdentityFile, UserKnownHostsFile,
# ProxyJump).  HOME is a private directory, so the real ~/.ssh/config is never read.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 3 --groups none
user=$(sed -n 's/^user = //p' "$INV")
p1=$(fleet_port "$FLEET" t01)
p2=$(fleet_port "$FLEET" t02)
p3=$(fleet_port "$FLEET" t03)
mkdir -p "$T/home"
HOME=$T/home
export HOME

# ssh_config_for OUT [EXTRA-PER-HOST...]: per-host HostName/Port blocks, then shared settings under a
# pattern.  Extra arguments "tNN:Keyword value" add lines to that host's block.
ssh_config_for() {
	local out="$1" n x
	shift
	{
		for n in t01 t02 t03; do
			echo "Host $n"
			echo "    HostName 127.0.0.1"
			echo "    Port $(fleet_port "$FLEET" "$n")"
			for x in "$@"; do
				case "$x" in "$n:"*) echo "    ${x#*:}" ;; esac
			done
			echo
		done
		echo "Host t0?"
		echo "    User $user"
		echo "    IdentityFile $FLEET/client/id_ed25519"
		echo "    UserKnownHostsFile $FLEET/client/known_hosts"
	} >"$out"
}

# fleet_ini OUT [SSH_CONFIG-LINE] [EXTRA...]: bare host names in a group, nothing on how to reach them.
fleet_ini() {
	local out="$1" sc="${2:-}"
	shift
	[ $# -gt 0 ] && shift
	{
		echo "[fleet]"
		[ -n "$sc" ] && echo "$sc"
		echo "state_dir = $T/state"
		echo
		echo "[group:k]"
		echo "hosts = t[01:03]"
		for x in "$@"; do echo "$x"; done
	} >"$out"
}

# ports_ok: the last run reached t01..t03, each on its own port (the JSON of `exec -- 'echo $SSH_CONNECTION'`).
ports_ok() {
	local got
	got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host?) | "\(.host):\(.state):\(.stdout | split(" ") | .[3] // "" | rtrimstr("\n"))"' | tr '\n' ' ')
	[ "$got" = "t01:ok:$p1 t02:ok:$p2 t03:ok:$p3 " ] || { T_WHY="got '$got'"; return 1; }
}
SHOWPORT='echo $SSH_CONNECTION'

ssh_config_for "$T/ssh_config"
fleet_ini "$T/named.ini" "ssh_config = $T/ssh_config"
fleet_ini "$T/plain.ini" ""
fleet_ini "$T/none.ini" "ssh_config = none"

# ---- ssh_config named in fleet.ini: every terminal reached.
t_check ini_ssh_config_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/named.ini" exec --json -- "$SHOWPORT"
t_check ini_ssh_config_reaches_all ports_ok

# ---- -F FILE with an inventory that names none.
t_check dash_F_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/plain.ini" -F "$T/ssh_config" exec --json -- "$SHOWPORT"
t_check dash_F_reaches_all ports_ok
t_check dash_F_after_command_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/plain.ini" exec -F "$T/ssh_config" -- true
# Without it (and no ~/.ssh/config in this HOME) the names do not resolve.
t_check no_config_exit_3 expect_exit 3 "$FLEETCTL" -i "$T/plain.ini" exec -- true
t_check no_config_says_why expect_output '(no address|cannot resolve)' "$FLEETCTL" -i "$T/plain.ini" exec -- true

# ---- ssh_config = none, and -F none over an inventory that names a file.
t_check ini_none_with_F_file_wins expect_exit 0 "$FLEETCTL" -i "$T/none.ini" -F "$T/ssh_config" exec -- true
t_check ini_none_exit_3_alone expect_exit 3 "$FLEETCTL" -i "$T/none.ini" exec -- true
t_check ini_none_says_why expect_output "t01: unreachable: .*(no address|cannot resolve)" "$FLEETCTL" -i "$T/none.ini" exec -- true
t_check F_none_exit_3 expect_exit 3 "$FLEETCTL" -i "$T/named.ini" -F none exec -- true
t_check F_none_says_why expect_output '(no address|cannot resolve)' "$FLEETCTL" -i "$T/named.ini" -F none exec -- true
t_check F_missing_file_exit_2 expect_exit 2 "$FLEETCTL" -i "$T/plain.ini" -F "$T/nonexistent" exec -- true

# ---- The default files: $HOME/.ssh/config is read when nothing else is named.
mkdir -p "$T/home/.ssh"
cp "$T/ssh_config" "$T/home/.ssh/config"
t_check home_config_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/plain.ini" exec --json -- "$SHOWPORT"
t_check home_config_reaches_all ports_ok
# ... and not when the inventory names a file: poison it with settings that would show.
printf 'Host *\n    Port 1\n    ServerAliveInterval 77\n    IdentitiesOnly yes\n' >"$T/home/.ssh/config"
t_check home_config_ignored_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/named.ini" exec -- true
t_check home_config_ignored_explain expect_exit 0 "$FLEETCTL" -i "$T/named.ini" hosts --json --explain
if printf '%s\n' "$T_STDOUT" | jq -e '[.[] | .origin[]?] | map(select(contains("home/.ssh"))) | length == 0' >/dev/null &&
    printf '%s\n' "$T_STDOUT" | jq -e 'all(.[]; .keepalive_interval == 0)' >/dev/null; then
	pass home_config_not_read
else
	fail home_config_not_read "$(printf '%s' "$T_STDOUT" | head -c 400)"
fi
rm -f "$T/home/.ssh/config"

# ---- fleet.ini wins over ssh_config for the same key.
ssh_config_for "$T/ssh_config_badport"
sed -i "s/^    Port $p1\$/    Port 1/" "$T/ssh_config_badport"
fleet_ini "$T/override.ini" "ssh_config = $T/ssh_config_badport" "" "[host:t01]" "port = $p1"
t_check badport_alone_fails expect_exit 3 "$FLEETCTL" -i "$T/named.ini" -F "$T/ssh_config_badport" exec -l t01 -- true
t_check override_port_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/override.ini" exec --json -- "$SHOWPORT"
t_check override_port_reaches_all ports_ok
t_check override_explain_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/override.ini" hosts -l t01 --json --explain
portline=$(grep -n "^port = $p1\$" "$T/override.ini" | cut -d: -f1)
hnline=$(grep -n 'HostName' "$T/ssh_config_badport" | head -n 1 | cut -d: -f1)
got=$(printf '%s\n' "$T_STDOUT" | jq -r '.[0] | "\(.port) \(.origin.port) \(.origin.address)"')
case "$got" in
"$p1 "*"override.ini:$portline $T/ssh_config_badport:$hnline") pass override_explain_origins ;;
*) fail override_explain_origins "got '$got', want port from override.ini:$portline, address from ssh_config_badport:$hnline" ;;
esac

# ---- ProxyJump given only in ssh_config: a two-hop chain through t01 and t02.
for n in t01 t02; do
	sed -i 's/^LogLevel .*/LogLevel DEBUG1/' "$FLEET/$n/sshd_config"
	fleet_stop_one "$FLEET" "$n"
	fleet_start_one "$FLEET" "$n" || fail "restart_$n" "sshd did not come back"
done
# sshd's log lines end in CR LF.
fwd() { grep -cE "server_request_direct_tcpip: .*target 127\.0\.0\.1 port $2[^0-9]" "$FLEET/$1/sshd.log"; }
ssh_config_for "$T/ssh_config_jump" "t02:ProxyJump t01" "t03:ProxyJump t02"
t_check proxyjump_hosts_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/plain.ini" -F "$T/ssh_config_jump" hosts --json
got=$(printf '%s\n' "$T_STDOUT" | jq -r '[.[] | "\(.name)>\(.jump)"] | join(" ")')
[ "$got" = "t01>null t02>t01 t03>t02" ] && pass proxyjump_hosts_jump_field || fail proxyjump_hosts_jump_field "got '$got'"
f1=$(fwd t01 "$p2")
f2=$(fwd t02 "$p3")
t_check proxyjump_chain_exit_0 expect_output '^t03: via-proxyjump$' "$FLEETCTL" -i "$T/plain.ini" -F "$T/ssh_config_jump" \
    exec -l t03 -- 'echo via-proxyjump'
[ "$T_RC" = 0 ] && pass proxyjump_chain_ok || fail proxyjump_chain_ok "exit $T_RC"
[ "$(fwd t01 "$p2")" = $((f1 + 1)) ] && [ "$(fwd t02 "$p3")" = $((f2 + 1)) ] && pass proxyjump_chain_through_both ||
	fail proxyjump_chain_through_both "forwards t01->t02: $f1 -> $(fwd t01 "$p2"), t02->t03: $f2 -> $(fwd t02 "$p3")"
# The same chain written as one ProxyJump list on the target.
ssh_config_for "$T/ssh_config_list" "t03:ProxyJump t01,t02"
f1=$(fwd t01 "$p2")
f2=$(fwd t02 "$p3")
t_check proxyjump_list_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/plain.ini" -F "$T/ssh_config_list" exec -l t03 -- true
[ "$(fwd t01 "$p2")" = $((f1 + 1)) ] && [ "$(fwd t02 "$p3")" = $((f2 + 1)) ] && pass proxyjump_list_through_both ||
	fail proxyjump_list_through_both "forwards t01->t02: $f1 -> $(fwd t01 "$p2"), t02->t03: $f2 -> $(fwd t02 "$p3")"
# fleet.ini `jump = none` overrides the ssh_config ProxyJump: direct, no forward on t02.
fleet_ini "$T/nojump.ini" "" "" "[host:t03]" "jump = none"
f2=$(fwd t02 "$p3")
t_check jump_none_overrides_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/nojump.ini" -F "$T/ssh_config_jump" exec -l t03 -- true
[ "$(fwd t02 "$p3")" = "$f2" ] && pass jump_none_overrides_direct || fail jump_none_overrides_direct "t02 forwarded anyway"
# A hop that is down: the target is unreachable and the message names it.
fleet_stop_one "$FLEET" t01
t_check proxyjump_hop_down expect_output '^t03: unreachable: .*t01' "$FLEETCTL" -i "$T/plain.ini" -F "$T/ssh_config_jump" \
    exec -l t03 -- true
[ "$T_RC" = 3 ] && pass proxyjump_hop_down_exit_3 || fail proxyjump_hop_down_exit_3 "exit $T_RC"
fleet_start_one "$FLEET" t01

t_done
