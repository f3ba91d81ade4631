#!/bin/sh
# e2e: `fleetctl exec` (the SSH engine) against 50 real sshd terminals: output, exit codes, signals,
# --fold, --json, unreachable / host key / auth failures, ssh-agent, timeouts, exit statuses,
# stdin, Ctrl-C, parallelism and the history record.
. "$(dirname "$0")/../lib.sh"

t_setup
AGENT_PID=""
e2e_exec_cleanup() {
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID" 2>/dev/null
	fi
	t_cleanup
}
trap e2e_exec_cleanup EXIT
fleet_up 50
user=$(sed -n 's/^user = //p' "$INV")
FC="$FLEETCTL -i $INV"
mkdir -p "$T/home"
HOME=$T/home
export HOME

port_of() { fleet_port "$FLEET" "$1"; }

# A terminal cannot tell its name, but it can tell its port: $SSH_CONNECTION ends with it.
# $T/byport/PORT is the terminal's root directory.
PORTCMD='${SSH_CONNECTION##* }'
mkdir -p "$T/byport"
while read -r n; do ln -s "$FLEET/$n/root" "$T/byport/$(port_of "$n")"; done <"$FLEET/names"

# json_host NAME JQ: evaluate JQ on NAME's object in $T_STDOUT.
json_host() {
	printf '%s\n' "$T_STDOUT" | jq -r --arg h "$1" "select(.host? == \$h) | $2"
}
# sessions: how many commands the terminals have started so far (all sshd logs).
sessions() {
	cat "$FLEET"/t*/sshd.log | grep -c 'Starting session: command'
}

# ---- 50 terminals, one command: all ok, every line prefixed, inventory order.
t_check exec50_exit_0 expect_exit 0 $FC exec -- 'echo $((6*7)) ; hostname'
hn=$(hostname)
missing=""
while read -r n; do
	printf '%s\n' "$T_STDOUT" | grep -qxF "$n: 42" || missing="$missing $n:42"
	printf '%s\n' "$T_STDOUT" | grep -qxF "$n: $hn" || missing="$missing $n:hostname"
done <"$FLEET/names"
[ -z "$missing" ] && pass exec50_every_line_prefixed || fail exec50_every_line_prefixed "missing$missing"
lines=$(printf '%s\n' "$T_STDOUT" | wc -l | tr -d ' ')
[ "$lines" = 100 ] && pass exec50_line_count || fail exec50_line_count "got $lines lines"
order=$(printf '%s\n' "$T_STDOUT" | cut -d: -f1 | uniq | tr '\n' ' ')
want=$(tr '\n' ' ' <"$FLEET/names")
[ "$order" = "$want" ] && pass exec50_inventory_order || fail exec50_inventory_order "got '$order'"
printf '%s\n' "$T_STDERR" | grep -q '50 ok' && pass exec50_summary || fail exec50_summary "stderr: $T_STDERR"

# ---- Remote exit codes, per terminal.
mkdir -p "$T/codes"
echo 0 >"$T/codes/$(port_of t01)"
echo 1 >"$T/codes/$(port_of t02)"
echo 42 >"$T/codes/$(port_of t03)"
t_check exit_codes_exit_1 expect_exit 1 $FC exec -l t01,t02,t03 --json -- "exit \$(cat $T/codes/$PORTCMD)"
got=$(for n in t01 t02 t03; do json_host $n '"\(.state):\(.exit)"'; done | tr '\n' ' ')
[ "$got" = "ok:0 failed:1 failed:42 " ] && pass exit_codes_per_terminal || fail exit_codes_per_terminal "got '$got'"
t_check exit_42_one_terminal expect_exit 1 $FC exec -l t04 --json -- 'exit 42'
got=$(json_host t04 '"\(.state):\(.exit)"')
[ "$got" = "failed:42" ] && pass exit_42_reported || fail exit_42_reported "got '$got'"
t_check exit_human_names_code expect_output '^t04: failed: exit 42$' $FC exec -l t04 -- 'exit 42'

# ---- Killed by a signal.
t_check kill9_exit_1 expect_exit 1 $FC exec -l t05 --json -- 'kill -9 $$'
got=$(json_host t05 '"\(.state):\(.signal):\(.exit)"')
[ "$got" = "failed:KILL:null" ] && pass kill9_signal_kill || fail kill9_signal_kill "got '$got'"

# ---- --fold.
t_check fold_exit_0 expect_exit 0 $FC exec --fold -- 'echo same'
headers=$(printf '%s\n' "$T_STDOUT" | grep -c '^----')
[ "$headers" = 1 ] && printf '%s\n' "$T_STDOUT" | grep -qF -- '---- t[01-50] (50): ok' &&
	pass fold_one_group || fail fold_one_group "got: $(printf '%s' "$T_STDOUT" | head -c 300)"
echo odd >"$FLEET/t07/root/x"
echo odd >"$FLEET/t31/root/x"
t_check fold2_exit_0 expect_exit 0 $FC exec --fold -- "cat $T/byport/$PORTCMD/x 2>/dev/null || echo same"
headers=$(printf '%s\n' "$T_STDOUT" | grep '^----' | tr '\n' '|')
want='---- t[01-06,08-30,32-50] (48): ok, exit 0|---- t[07,31] (2): ok, exit 0|'
[ "$headers" = "$want" ] && pass fold_two_groups || fail fold_two_groups "got '$headers'"
odd_body=$(printf '%s\n' "$T_STDOUT" | sed -n '/^---- t\[07,31\]/{n;p;}')
[ "$odd_body" = odd ] && pass fold_odd_group_output || fail fold_odd_group_output "got '$odd_body'"

# ---- --json on 50 terminals.
t_check json50_exit_0 expect_exit 0 $FC exec --json -- 'echo hi'
nl=$(printf '%s\n' "$T_STDOUT" | wc -l | tr -d ' ')
[ "$nl" = 51 ] && pass json50_51_lines || fail json50_51_lines "got $nl lines"
bad=0
printf '%s\n' "$T_STDOUT" >"$T/json.out"
while IFS= read -r l; do
	printf '%s\n' "$l" | jq -e . >/dev/null 2>&1 || bad=$((bad + 1))
done <"$T/json.out"
[ "$bad" = 0 ] && pass json50_each_line_valid || fail json50_each_line_valid "$bad invalid lines"
nhost=$(head -n 50 "$T/json.out" | jq -c 'select(has("host") and has("state") and has("exit") and has("stdout")
    and has("stderr") and has("duration_ms") and .state == "ok" and .exit == 0 and .stdout == "hi\n")' | wc -l)
[ "$nhost" -eq 50 ] && pass json50_host_objects || fail json50_host_objects "$nhost good host objects"
got=$(head -n 50 "$T/json.out" | jq -r .host | tr '\n' ' ')
[ "$got" = "$(tr '\n' ' ' <"$FLEET/names")" ] && pass json50_inventory_order || fail json50_inventory_order "got '$got'"
got=$(tail -n 1 "$T/json.out" | jq -r '"\(.summary) \(.total) \(.ok) \(.exit_status)"')
[ "$got" = "true 50 50 0" ] && pass json50_summary || fail json50_summary "got '$got'"
t_check json_binary_exit_0 expect_exit 0 $FC exec -l t01 --json -- "printf '\\377\\376abc'"
if printf '%s\n' "$T_STDOUT" | head -n 1 | jq -e . >/dev/null 2>&1; then pass json_binary_valid; else fail json_binary_valid "jq rejects: $T_STDOUT"; fi
got=$(printf '%s\n' "$T_STDOUT" | head -n 1 | jq -r .stdout | od -An -c | tr -s ' \n' ' ')
want=$(printf '\357\277\275\357\277\275abc\n' | od -An -c | tr -s ' \n' ' ')
[ "$got" = "$want" ] && pass json_binary_replacement_char || fail json_binary_replacement_char "got '$got'"

# ---- A terminal that is down: unreachable, the others ok, exit 3.
fleet_stop_one "$FLEET" t05
t_check down_exit_3 expect_exit 3 $FC exec --json -- true
got=$(json_host t05 .state)
[ "$got" = unreachable ] && pass down_state_unreachable || fail down_state_unreachable "got '$got'"
got=$(tail -n 1 "$T/.stdout" | jq -r '"\(.ok) \(.unreachable)"')
[ "$got" = "49 1" ] && pass down_others_ok || fail down_others_ok "got '$got'"
fleet_start_one "$FLEET" t05

# ---- Changed host key: refused, names the known_hosts line of the old key.
kh=$FLEET/client/known_hosts
khline=$(grep -n "^\[127.0.0.1\]:$(port_of t02) " "$kh" | cut -d: -f1)
fleet_rekey_one "$FLEET" t02
t_check hostkey_changed_exit_3 expect_exit 3 $FC exec -l t01,t02,t03 --json -- true
got=$(json_host t02 .state)
[ "$got" = hostkey ] && pass hostkey_changed_state || fail hostkey_changed_state "got '$got'"
json_host t02 .error | grep -qF "$kh:$khline" && pass hostkey_changed_names_file_line ||
	fail hostkey_changed_names_file_line "error: $(json_host t02 .error)"
got=$(json_host t01 .state)$(json_host t03 .state)
[ "$got" = okok ] && pass hostkey_changed_others_ok || fail hostkey_changed_others_ok "got '$got'"

# ---- --accept-new-host-keys: a missing key is added (and said so); a changed one is still refused.
grep -v "^\[127.0.0.1\]:$(port_of t03) " "$kh" >"$T/kh_missing"
t_check hostkey_unknown_refused expect_exit 3 $FLEETCTL -i "$INV" -o known_hosts="$T/kh_missing" exec -l t03 --json -- true
json_host t03 '"\(.state) \(.error)"' | grep -q '^hostkey .*not known' && pass hostkey_unknown_state ||
	fail hostkey_unknown_state "got '$(json_host t03 '"\(.state) \(.error)"')'"
t_check accept_new_exit_3 expect_exit 3 $FLEETCTL -i "$INV" -o known_hosts="$T/kh_missing" --accept-new-host-keys \
    exec -l t01,t02,t03 --json -- true
got=$(json_host t03 '"\(.state) \(.note)"')
case "$got" in "ok added "*"$T/kh_missing"*) pass accept_new_adds_and_says_so ;; *) fail accept_new_adds_and_says_so "got '$got'" ;; esac
[ "$(json_host t02 .state)" = hostkey ] && pass accept_new_changed_still_refused ||
	fail accept_new_changed_still_refused "t02: $(json_host t02 '"\(.state) \(.error)"')"
[ "$(grep -c "^\[127.0.0.1\]:$(port_of t03) ssh-ed25519 " "$T/kh_missing")" = 1 ] && pass accept_new_line_written ||
	fail accept_new_line_written "$(cat "$T/kh_missing" | wc -l) lines"
t_check accept_new_key_then_known expect_exit 0 $FLEETCTL -i "$INV" -o known_hosts="$T/kh_missing" exec -l t03 -- true
grep -v "^\[127.0.0.1\]:$(port_of t04) " "$kh" >"$T/kh_missing4"
t_check accept_new_human_note expect_output "^t04: note: added .*$T/kh_missing4" \
    $FLEETCTL -i "$INV" -o known_hosts="$T/kh_missing4" --accept-new-host-keys exec -l t04 -- true
# Back to a known_hosts that matches the fleet.
while read -r n; do fleet_known_hosts_line "$FLEET" "$n"; done <"$FLEET/names" >"$kh"

# ---- known_hosts read once per run: hashed entries, the global file, accept-new seen by later connections.
cp "$kh" "$T/kh_hashed"
ssh-keygen -q -H -f "$T/kh_hashed" >/dev/null 2>&1
if grep -q '^|1|' "$T/kh_hashed" && ! grep -q '127\.0\.0\.1' "$T/kh_hashed"; then
	t_check hashed_known_hosts_all_ok expect_output '50 ok' $FLEETCTL -i "$INV" -o known_hosts="$T/kh_hashed" exec -- true
	# the changed key is found and named in a hashed file too
	khline=$(grep -n "^\[127.0.0.1\]:$(port_of t02) " "$kh" | cut -d: -f1)
	other=$(cut -d' ' -f2 "$FLEET/t03/ssh_host_ed25519_key.pub")
	sed "${khline}s| AAAA[^ ]*| $other|" "$kh" >"$T/kh_changed"
	ssh-keygen -q -H -f "$T/kh_changed" >/dev/null 2>&1
	t_check hashed_changed_exit_3 expect_exit 3 $FLEETCTL -i "$INV" -o known_hosts="$T/kh_changed" exec -l t01,t02 --json -- true
	json_host t02 '"\(.state) \(.error)"' | grep -qF "hostkey host key for 127.0.0.1 port $(port_of t02) has CHANGED" &&
	    json_host t02 .error | grep -qF "$T/kh_changed:$khline" && pass hashed_changed_names_file_line ||
		fail hashed_changed_names_file_line "got '$(json_host t02 '"\(.state) \(.error)"')'"
else
	fail hashed_setup "ssh-keygen -H did not hash $T/kh_hashed"
fi
: >"$T/kh_empty"
t_check global_known_hosts_all_ok expect_output '50 ok' $FLEETCTL -i "$INV" -o known_hosts="$T/kh_empty" \
    -o global_known_hosts="$kh" exec -- true
t_check global_known_hosts_not_written expect_exit 0 test ! -s "$T/kh_empty"
# Twenty connections to terminals with no key on record, in one run: each key added once, and a second
# run knows them all.
grep -v -E "^\[127.0.0.1\]:($(for n in $(names 1 20); do printf '%s|' "$(port_of "$n")"; done)x) " "$kh" >"$T/kh_20"
t_check accept_new_20_ok expect_output '20 ok' $FLEETCTL -i "$INV" -o known_hosts="$T/kh_20" --accept-new-host-keys \
    exec -l "$(names 1 20 | tr ' ' ',' | sed 's/,$//')" -- true
[ "$(wc -l <"$T/kh_20")" = 50 ] && pass accept_new_20_lines || fail accept_new_20_lines "$(wc -l <"$T/kh_20") lines"
t_check accept_new_20_then_strict expect_output '50 ok' $FLEETCTL -i "$INV" -o known_hosts="$T/kh_20" exec -- true

# ---- Authentication failures and their messages.
ssh-keygen -t ed25519 -N '' -q -f "$T/other" </dev/null
t_check auth_wrong_key_exit_3 expect_exit 3 $FC -o identity="$T/other" exec -l t01 --json -- true
got=$(json_host t01 '"\(.state) \(.error)"')
case "$got" in "auth "*"'$user'"*) pass auth_wrong_key_names_user ;; *) fail auth_wrong_key_names_user "got '$got'" ;; esac

ssh-keygen -t rsa -b 2048 -N '' -q -f "$T/rsa" </dev/null
cat "$T/rsa.pub" >>"$FLEET/client/authorized_keys"
# The real client logs in with it (rsa-sha2-256): the key is authorized, only SHA-1 is the problem.
t_check rsa_key_works_with_openssh expect_exit 0 ssh -F none -i "$T/rsa" -o IdentitiesOnly=yes -o IdentityAgent=none \
    -o UserKnownHostsFile="$kh" -o BatchMode=yes -o LogLevel=ERROR -p "$(port_of t01)" "$user@127.0.0.1" true
t_check rsa_auth_exit_3 expect_exit 3 $FC -o identity="$T/rsa" exec -l t01 --json -- true
got=$(json_host t01 '"\(.state) \(.error)"')
case "$got" in auth*RSA*SHA-1*"ed25519 or ECDSA"*) pass rsa_message_explains ;; *) fail rsa_message_explains "got '$got'" ;; esac

# ECDSA keys, OpenSSH format and PEM: parsed once, each login signed with them.
for kt in "ecdsa -b 256" "ecdsa -b 384" "ecdsa -b 521" "ecdsa -b 256 -m PEM"; do
	kf=$T/key-$(echo "$kt" | tr -d ' -')
	ssh-keygen -t $kt -N '' -q -f "$kf" </dev/null
	cat "$kf.pub" >>"$FLEET/client/authorized_keys"
	t_check "ecdsa_key_$(echo "$kt" | tr -d ' -')" expect_output '10 ok' $FC -o identity="$kf" exec -l "$(names 1 10 | tr ' ' ',' | sed 's/,$//')" -- true
done

ssh-keygen -t ed25519 -N 'e2e-secret' -q -f "$T/enc" </dev/null
cat "$T/enc.pub" >>"$FLEET/client/authorized_keys"
t_check passphrase_auth_exit_3 expect_exit 3 $FC -o identity="$T/enc" exec -l t01 --json -- true
got=$(json_host t01 '"\(.state) \(.error)"')
case "$got" in auth*passphrase*ssh-agent*) pass passphrase_says_ssh_agent ;; *) fail passphrase_says_ssh_agent "got '$got'" ;; esac

# ---- ssh-agent: an inventory without identity authenticates through the agent.
sed '/^identity = /d' "$INV" >"$T/noid.ini"
ssh-agent -D -a "$T/agent.sock" >/dev/null 2>&1 &
AGENT_PID=$!
i=0
while [ ! -S "$T/agent.sock" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if SSH_AUTH_SOCK=$T/agent.sock ssh-add -q "$FLEET/client/id_ed25519" </dev/null 2>/dev/null; then
	t_check agent_no_agent_fails expect_exit 3 $FLEETCTL -i "$T/noid.ini" exec -l t01 -- true
	t_check agent_auth_ok expect_output '^t01: via-agent$' env SSH_AUTH_SOCK="$T/agent.sock" \
	    $FLEETCTL -i "$T/noid.ini" exec -l t01,t02 -- 'echo via-agent'
	t_check agent_auth_exit_0 expect_exit 0 env SSH_AUTH_SOCK="$T/agent.sock" $FLEETCTL -i "$T/noid.ini" exec -- true
	t_check agent_identity_agent_key expect_exit 0 $FLEETCTL -i "$T/noid.ini" -o identity_agent="$T/agent.sock" \
	    exec -l t01 -- true
	# The advice for the passphrase-protected key works: load it into the agent, alone.
	printf '#!/bin/sh\necho e2e-secret\n' >"$T/askpass"
	chmod +x "$T/askpass"
	SSH_AUTH_SOCK=$T/agent.sock ssh-add -q -D </dev/null >/dev/null 2>&1
	if SSH_AUTH_SOCK=$T/agent.sock SSH_ASKPASS=$T/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=none \
	    ssh-add -q "$T/enc" </dev/null >/dev/null 2>&1; then
		t_check agent_passphrase_key_ok expect_exit 0 env SSH_AUTH_SOCK="$T/agent.sock" \
		    $FLEETCTL -i "$INV" -o identity="$T/enc" exec -l t01 -- true
	else
		fail agent_passphrase_key_ok "ssh-add of the passphrase-protected key failed"
	fi
else
	fail agent_setup "ssh-add failed"
fi
kill "$AGENT_PID" 2>/dev/null
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=""

# ---- Timeout: the state, the exit, the time, and the remote command is gone.
marker="sleep 37.$$"
start=$(date +%s%N)
t_check timeout_exit_3 expect_exit 3 $FC exec -l t01 --timeout 2 --json -- "$marker; echo never"
secs=$(( ($(date +%s%N) - start) / 1000000000 ))
[ "$secs" -lt 10 ] && pass timeout_returns_quickly || fail timeout_returns_quickly "took ${secs}s"
got=$(json_host t01 '"\(.state) \(.stdout)"')
[ "$got" = "timeout " ] && pass timeout_state || fail timeout_state "got '$got'"
i=0
while pgrep -f "$marker" >/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if pgrep -f "$marker" >/dev/null; then fail timeout_remote_killed "still running: $(pgrep -af "$marker" | head -3)"; else pass timeout_remote_killed; fi

# ---- The terminal's watchdog (sleep TIMEOUT) goes away with a command that ends at once.
wd=$((3000 + $$ % 1000))
for i in 1 2 3; do
	run $FC exec --no-record --timeout "$wd" -- true
done
i=0
while pgrep -fx "sleep $wd" >/dev/null && [ "$i" -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
left=$(pgrep -fxc "sleep $wd")
[ "$left" = 0 ] && pass watchdog_not_left_behind || fail watchdog_not_left_behind "$left 'sleep $wd' orphans after 150 quick commands"
for p in $(pgrep -fx "sleep $wd"); do kill "$p" 2>/dev/null; done

# ---- Exit statuses.
t_check status_0_all_ok expect_exit 0 $FC exec -l t01,t02 -- true
t_check status_1_one_failed expect_exit 1 $FC exec -l t01,t02,t03 -- "test $PORTCMD != $(port_of t02)"
fleet_stop_one "$FLEET" t09
t_check status_3_unreachable expect_exit 3 $FC exec -l t08,t09,t10 -- true
# failed wins over unreachable
t_check status_1_failed_and_unreachable expect_exit 1 $FC exec -l t08,t09 -- "test $PORTCMD != $(port_of t08)"
fleet_start_one "$FLEET" t09
before=$(sessions)
printf '[fleet]\nport = notanumber\n' >"$T/bad.ini"
t_check usage_no_command expect_exit 2 $FC exec -l t01
t_check usage_no_command_after_dashes expect_exit 2 $FC exec -l t01 --
t_check usage_bad_p_zero expect_exit 2 $FC exec -p 0 -- "touch $T/ran"
t_check usage_bad_p_word expect_exit 2 $FC exec -p many -- "touch $T/ran"
t_check usage_bad_timeout expect_exit 2 $FC exec --timeout soon -- "touch $T/ran"
t_check usage_unknown_selection expect_exit 2 $FC exec -l nosuchterminal -- "touch $T/ran"
t_check usage_bad_inventory expect_exit 2 $FLEETCTL -i "$T/bad.ini" exec -- "touch $T/ran"
t_check usage_missing_inventory expect_exit 2 $FLEETCTL -i "$T/none.ini" exec -- "touch $T/ran"
t_check usage_unknown_option expect_exit 2 $FC exec --bogus -- "touch $T/ran"
[ "$(sessions)" = "$before" ] && [ ! -e "$T/ran" ] && pass usage_nothing_run ||
	fail usage_nothing_run "sessions $before -> $(sessions)"

# ---- stdin is not forwarded: the remote command sees EOF at once and does not hang.
t_check stdin_not_forwarded_exit_0 expect_exit 0 sh -c 'echo data | timeout 20 "$@"' sh $FC exec -l t01 -- cat
printf '%s\n' "$T_STDOUT" | grep -q data && fail stdin_remote_sees_eof "stdin reached the terminal: $T_STDOUT" ||
	pass stdin_remote_sees_eof
t_check stdin_wc_counts_zero expect_output '^t01: 0$' sh -c 'echo data | timeout 20 "$@"' sh $FC exec -l t01 -- 'wc -c'

# ---- Ctrl-C: exit 130 within seconds, no fleetctl left.
ten=$(head -n 10 "$FLEET/names" | tr '\n' ',' | sed 's/,$//')
marker="sleep 30.$$"
$FLEETCTL -i "$INV" exec --timeout 20 -l "$ten" -- "$marker" >"$T/int.out" 2>&1 &
fpid=$!
sleep 1
kill -INT "$fpid"
start=$(date +%s)
i=0
while kill -0 "$fpid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$fpid" 2>/dev/null; then
	fail ctrlc_exits_quickly "still running after 10 s"
	kill -KILL "$fpid" 2>/dev/null
	wait "$fpid"
else
	wait "$fpid"
	rc=$?
	[ "$rc" = 130 ] && pass ctrlc_exit_130 || fail ctrlc_exit_130 "exit $rc: $(head -c 300 "$T/int.out")"
	pass ctrlc_exits_quickly
fi
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$T/int.out"; then
	fail ctrlc_sanitizer_clean "$(grep -m 3 -E 'Sanitizer|runtime error' "$T/int.out")"
else
	pass ctrlc_sanitizer_clean
fi
[ "$(grep -c '^t[0-9]*: interrupted: .*deadline' "$T/int.out")" = 10 ] && pass ctrlc_each_terminal_interrupted ||
	fail ctrlc_each_terminal_interrupted "$(head -c 300 "$T/int.out")"
if pgrep -f "^$FLEETCTL -i $INV exec" >/dev/null; then fail ctrlc_no_fleetctl_left "$(pgrep -af "^$FLEETCTL -i $INV")"; else pass ctrlc_no_fleetctl_left; fi

# libssh2 1.10 cannot signal a remote command: after Ctrl-C it runs on (as with ssh without -t)
# until the terminal's own watchdog ends it at the deadline.  With --timeout 3 that is soon.
marker="sleep 29.$$"
start=$(date +%s)
$FLEETCTL -i "$INV" exec --timeout 3 -l t01,t02 -- "$marker" >"$T/int2.out" 2>&1 &
fpid=$!
sleep 1
kill -INT "$fpid"
i=0
while kill -0 "$fpid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
wait "$fpid"
rc=$?
[ "$rc" = 130 ] && pass ctrlc_timeout_exit_130 || fail ctrlc_timeout_exit_130 "exit $rc: $(head -c 300 "$T/int2.out")"
i=0
while pgrep -f "$marker" >/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if pgrep -f "$marker" >/dev/null; then
	fail ctrlc_remote_ends_at_deadline "still running $(($(date +%s) - start)) s later"
else
	pass ctrlc_remote_ends_at_deadline
fi

# ---- -p 1000 on 50 terminals.
t_check parallel_1000_exit_0 expect_exit 0 $FC exec -p 1000 --json -- true
got=$(printf '%s\n' "$T_STDOUT" | tail -n 1 | jq -r '"\(.total) \(.ok)"')
[ "$got" = "50 50" ] && pass parallel_1000_all_ok || fail parallel_1000_all_ok "got '$got'"
t_check parallel_1_exit_0 expect_exit 0 $FC exec -p 1 -l t01,t02,t03 -- true

# ---- History: the run is recorded, unless --no-record.
hist=$FLEET/state/history
if git -C "$hist" log --oneline 2>/dev/null | grep -q 'exec'; then pass history_records_exec; else fail history_records_exec "$(git -C "$hist" log --oneline 2>&1 | head -3)"; fi
n1=$(git -C "$hist" rev-list --count HEAD 2>/dev/null)
t_check history_marker_run expect_exit 0 $FC exec -l t01 -- 'echo history-marker-e2e'
git -C "$hist" log -1 --format=%B | grep -q 'history-marker-e2e' && pass history_names_command ||
	fail history_names_command "$(git -C "$hist" log -1 --format=%B | head -3)"
n2=$(git -C "$hist" rev-list --count HEAD 2>/dev/null)
t_check history_no_record_run expect_exit 0 $FC exec --no-record -l t01 -- true
n3=$(git -C "$hist" rev-list --count HEAD 2>/dev/null)
[ "$n2" = $((n1 + 1)) ] && [ "$n3" = "$n2" ] && pass history_one_commit_per_run ||
	fail history_one_commit_per_run "counts $n1 $n2 $n3"

# ---- Terminal output on the operator's terminal: control sequences shown, not obeyed; JSON exact.
# script(1) gives fleetctl a pseudo-terminal as its stdout and stderr.
hostile='printf "title\\033]0;pwned\\007 \\033[31mred\\rover\\302\\233x tab\\tok\\n"; printf "err\\033[2J\\n" >&2'
script -qec "$FC exec -l t01 --no-record -- '$hostile'" /dev/null >"$T/tty.out" 2>&1 </dev/null
# (fleetctl's own progress line clears itself with ESC [ K: that one is meant)
if sed "s/$(printf '\033')\[K//g" "$T/tty.out" | grep -q "$(printf '\033')"; then
	fail tty_output_has_no_raw_escape "$(od -c "$T/tty.out" | head -n 5)"
elif grep -qF 'title^[]0;pwned^G ^[[31mred^Mover' "$T/tty.out" && grep -qF 'M-BM-^[x tab' "$T/tty.out" &&
    grep -qF 'err^[[2J' "$T/tty.out"; then
	pass tty_output_escaped_visibly
else
	fail tty_output_escaped_visibly "$(cat -v "$T/tty.out" | head -n 5)"
fi
run $FC exec -l t01 --no-record --json -- "$hostile"
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host == "t01") | .stdout' | od -An -c | tr -s ' ' | tr -d '\n')
case "$got" in
*'033 ] 0 ; p w n e d'*'033 [ 3 1 m r e d \r o v e r 302 233 x'*) pass json_output_keeps_exact_bytes ;;
*) fail json_output_keeps_exact_bytes "$got" ;;
esac

t_done
