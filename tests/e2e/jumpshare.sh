#!/bin/sh
# e2e: terminals behind one jump host share its SSH sessions, at most 16 direct-tcpip channels on each.
# t01 is the jump host of t02..t21.  Its sshd log counts the logins; sshd_sessions counts what is open.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 21
awk '{ print } /^\[host:t(0[2-9]|1[0-9]|2[01])\]$/ { print "jump = t01" }' "$INV" >"$T/jump.ini"
# gone: behind the jump host too, where nothing listens (port 1), without stopping a terminal whose
# port another test could take meanwhile
printf '\n[host:gone]\naddress = 127.0.0.1\nport = 1\njump = t01\n' >>"$T/jump.ini"
FC="$FLEETCTL -i $T/jump.ini"
BEHIND=$(names 2 21 | tr ' ' ',' | sed 's/,$//')
mkdir -p "$T/home"
HOME=$T/home
export HOME

logins() { grep -c 'Accepted publickey' "$FLEET/t01/sshd.log"; }
lpid=$(fleet_pid "$FLEET" t01)

# Twenty at once, each holding its channel for two seconds: two sessions to the jump host (16 + 4).
before=$(logins)
$FC exec -p 20 -l "$BEHIND" --json -- 'sleep 2; echo ${SSH_CONNECTION##* }' >"$T/x.json" 2>"$T/x.err" &
xpid=$!
sleep 1.3
live=$(sshd_sessions "$lpid" | wc -w)
wait "$xpid"
rc=$?
[ "$rc" = 0 ] && pass share20_exit_0 || fail share20_exit_0 "exit $rc: $(head -c 300 "$T/x.err")"
got=$(jq -r 'select(.host) | "\(.host)=\(.stdout | rtrimstr("\n"))"' "$T/x.json" | sort | tr '\n' ' ')
want=$(for n in $(names 2 21); do printf '%s=%s ' "$n" "$(fleet_port "$FLEET" "$n")"; done)
[ "$got" = "$want" ] && pass share20_each_reached_its_terminal || fail share20_each_reached_its_terminal "got '$got'"
n=$(($(logins) - before))
[ "$n" = 2 ] && pass share20_two_jump_logins || fail share20_two_jump_logins "$n logins on the jump host for 20 terminals"
# each session is a privileged monitor and its child: 20 sessions would be 40 processes
[ "$live" -ge 1 ] && [ "$live" -le 4 ] && pass share20_few_jump_sessions_open ||
	fail share20_few_jump_sessions_open "$live sshd processes on the jump host while 20 terminals were connected"

# A push through the shared sessions: every upload arrives whole.
mkdir -p "$T/rel/bin"
head -c 3000000 /dev/urandom >"$T/rel/bin/blob"
printf '#!/bin/sh\necho ok\n' >"$T/rel/bin/run"
chmod 755 "$T/rel/bin/run"
run $FC bundle "$T/rel" --version 1.0 -o "$T/b.tar.gz"
before=$(logins)
t_check share_push_exit_0 expect_exit 0 $FC push "$T/b.tar.gz" -p 20 -l "$BEHIND"
bad=""
for n in $(names 2 21); do
	cmp -s "$T/rel/bin/blob" "$FLEET/$n/root/app/current/bin/blob" || bad="$bad $n"
done
[ -z "$bad" ] && pass share_push_every_copy_whole || fail share_push_every_copy_whole "differs on:$bad"
n=$(($(logins) - before))
[ "$n" -le 2 ] && pass share_push_few_jump_logins || fail share_push_few_jump_logins "$n logins for 20 terminals"

# One terminal behind the jump is down: it alone is unreachable, named through the jump host.
t_check share_down_exit_3 expect_exit 3 $FC exec -p 21 -l "$BEHIND,gone" --json -- true
got=$(hj gone '"\(.state) \(.error)"')
case "$got" in "unreachable "*"jump host t01 cannot reach"*) pass share_down_named ;; *) fail share_down_named "got '$got'" ;; esac
got=$(sj '"\(.ok) \(.unreachable)"')
[ "$got" = "20 1" ] && pass share_down_others_ok || fail share_down_others_ok "got '$got'"

# The jump host goes down during a run: its terminals are unreachable, the run ends.
$FC exec -p 20 -l "$BEHIND" --json -- 'sleep 5' >"$T/y.json" 2>/dev/null &
xpid=$!
sleep 1.5
fleet_stop_one "$FLEET" t01
wait "$xpid"
rc=$?
[ "$rc" = 3 ] && pass jump_lost_exit_3 || fail jump_lost_exit_3 "exit $rc"
got=$(jq -r 'select(.host) | .state' "$T/y.json" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
case "$got" in " 20 unreachable "|" 20 timeout ") pass jump_lost_all_unreachable ;; *) fail jump_lost_all_unreachable "got '$got'" ;; esac
fleet_start_one "$FLEET" t01 || fail jump_restart "t01 did not start again"
t_check jump_back_exit_0 expect_exit 0 $FC exec -p 20 -l "$BEHIND" -- true

t_done
