#!/bin/sh
# e2e: the on_failure alarm against real local sshd terminals: it gets the run as valid JSON on
# stdin naming every failed / unreachable terminal with its state, step, error and the release it
# still runs; it is not called when all went well; a failing, missing or unparsable hook is a
# warning that does not change the run's exit status; the example hooks in examples/ work.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 4
HIST=$FLEET/state/history

# ini_with OUT ON_FAILURE: the fleet's inventory with that alarm hook.
ini_with() {
	awk -v kv="on_failure = $2" '{ print } $0 == "[fleet]" { print kv }' "$INV" >"$1"
}

# al FIELD: a jq expression on the alarm the hook received.
al() {
	jq -r "$1" "$T/alarm.json" 2>/dev/null
}

cat >"$T/hook.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$T/alarm.args"
cat >"$T/alarm.json"
EOF
cat >"$T/hook-fail.sh" <<EOF
#!/bin/sh
cat >"$T/alarm-fail.json"
exit 1
EOF
chmod 755 "$T/hook.sh" "$T/hook-fail.sh"
ini_with "$T/hook.ini" "$T/hook.sh first-arg"
FAILCMD='[ -e "$FLEET_ROOT/../fail-install" ] && exit 3 || true'

# All well: no alarm.
t_rel v1
t_check ok_run_exit_0 expect_exit 0 "$FLEETCTL" -i "$T/hook.ini" push "$T/rel" --version 1.0 --json
V1=$(hj t01 .release)
[ ! -e "$T/alarm.json" ] && pass ok_run_no_alarm || fail ok_run_no_alarm "the hook was called"

# Two install failures and one terminal down.
touch "$FLEET/t02/root/fail-install" "$FLEET/t03/root/fail-install"
fleet_stop_one "$FLEET" t04
t_rel v2
t_check failed_run_exit_1 expect_exit 1 "$FLEETCTL" -i "$T/hook.ini" push "$T/rel" --version 2.0 --json \
    -o "install=$FAILCMD" -o connect_timeout=3
V2=$(hj t01 .release)
run=$(sj .run)
if jq -e 'type == "object"' "$T/alarm.json" >/dev/null 2>&1; then pass alarm_is_valid_json; else fail alarm_is_valid_json "$(head -c 300 "$T/alarm.json" 2>&1)"; fi
got=$(al '"\(.run) \(.kind) \(.component) \(.halted)"')
[ "$got" = "$run push app false" ] && pass alarm_names_the_run || fail alarm_names_the_run "got '$got', run $run"
al .summary | grep -q "push app $V2 to all: 1 ok, 2 failed" && pass alarm_has_summary || fail alarm_has_summary "$(al .summary)"
al .operator | grep -q '@' && pass alarm_has_operator || fail alarm_has_operator "$(al .operator)"
got=$(al '[.terminals[].host] | join(",")')
[ "$got" = "t02,t03,t04" ] && pass alarm_names_failed_terminals || fail alarm_names_failed_terminals "got '$got'"
got=$(al '.terminals[] | select(.host == "t02") | "\(.state) \(.step) \(.running) \(.wanted)"')
[ "$got" = "failed install $V1 $V2" ] && pass alarm_failed_state_step_running || fail alarm_failed_state_step_running "got '$got'"
al '.terminals[] | select(.host == "t03") | .error' | grep -q 'install command exited 3' && pass alarm_failed_error ||
    fail alarm_failed_error "$(al '.terminals[] | select(.host == "t03") | .error')"
got=$(al '.terminals[] | select(.host == "t04") | "\(.state) \(.running) \(.error != null)"')
[ "$got" = "unreachable $V1 true" ] && pass alarm_unreachable_running_from_history || fail alarm_unreachable_running_from_history "got '$got'"
[ "$(cat "$T/alarm.args" 2>/dev/null)" = first-arg ] && pass alarm_argv_from_inventory || fail alarm_argv_from_inventory "$(cat "$T/alarm.args" 2>&1)"

# A failing hook: a warning, the same exit status.
ini_with "$T/fail.ini" "$T/hook-fail.sh"
t_check failing_hook_exit_unchanged expect_exit 1 "$FLEETCTL" -i "$T/fail.ini" push "$T/rel" --version 2.0 \
    -o "install=$FAILCMD" -o connect_timeout=3
printf '%s\n' "$T_STDERR" | grep -q "warning: on_failure '$T/hook-fail.sh' failed (exit 1)" && pass failing_hook_warned ||
    fail failing_hook_warned "$(printf '%s\n' "$T_STDERR" | tail -n 3)"
jq -e '.terminals | length == 3' "$T/alarm-fail.json" >/dev/null 2>&1 && pass failing_hook_got_json || fail failing_hook_got_json "no JSON"

# A hook that does not exist: a warning, the same exit status.
ini_with "$T/missing.ini" "$T/no-such-hook"
t_check missing_hook_exit_unchanged expect_exit 1 "$FLEETCTL" -i "$T/missing.ini" push "$T/rel" --version 2.0 \
    -o "install=$FAILCMD" -o connect_timeout=3
printf '%s\n' "$T_STDERR" | grep -q 'warning: on_failure .*no-such-hook.* failed (exit 127)' && pass missing_hook_warned ||
    fail missing_hook_warned "$(printf '%s\n' "$T_STDERR" | tail -n 3)"

# No command substitution in the hook's words: refused with a warning, nothing run.
ini_with "$T/subst.ini" "$T/hook.sh \$(touch $T/pwned)"
rm -f "$T/alarm.json"
t_check subst_hook_exit_unchanged expect_exit 1 "$FLEETCTL" -i "$T/subst.ini" push "$T/rel" --version 2.0 \
    -o "install=$FAILCMD" -o connect_timeout=3
[ ! -e "$T/pwned" ] && [ ! -e "$T/alarm.json" ] && printf '%s\n' "$T_STDERR" | grep -q 'warning: on_failure: cannot parse' &&
    pass subst_hook_refused || fail subst_hook_refused "$(printf '%s\n' "$T_STDERR" | tail -n 2)"

# examples/on_failure-mail.sh: with no address it appends the JSON to its log.
ini_with "$T/mail.ini" "$T_TOP/examples/on_failure-mail.sh"
FLEET_ALARM_LOG=$T/alarms.log
export FLEET_ALARM_LOG
t_check mail_example_exit_unchanged expect_exit 1 "$FLEETCTL" -i "$T/mail.ini" push "$T/rel" --version 2.0 \
    -o "install=$FAILCMD" -o connect_timeout=3
if head -n 1 "$T/alarms.log" 2>/dev/null | grep -q "fleetctl alarm: push app $V2" &&
    tail -n +2 "$T/alarms.log" | jq -e '[.terminals[].host] == ["t02","t03","t04"]' >/dev/null 2>&1; then
	pass mail_example_logs_json
else
	fail mail_example_logs_json "$(head -c 300 "$T/alarms.log" 2>&1)"
fi
printf '%s\n' "$T_STDERR" | grep -q 'warning: on_failure' && fail mail_example_no_warning "$T_STDERR" || pass mail_example_no_warning
unset FLEET_ALARM_LOG

# examples/on_failure-webhook.sh: no URL is a warning; with a loopback receiver the JSON arrives.
ini_with "$T/hook2.ini" "$T_TOP/examples/on_failure-webhook.sh"
unset FLEET_ALARM_URL
t_check webhook_no_url_exit_unchanged expect_exit 1 "$FLEETCTL" -i "$T/hook2.ini" push "$T/rel" --version 2.0 \
    -o "install=$FAILCMD" -o connect_timeout=3
printf '%s\n' "$T_STDERR" | grep -q 'FLEET_ALARM_URL is not set' && printf '%s\n' "$T_STDERR" | grep -q 'failed (exit 2)' &&
    pass webhook_no_url_warned || fail webhook_no_url_warned "$(printf '%s\n' "$T_STDERR" | tail -n 3)"
if command -v python3 >/dev/null 2>&1 && command -v curl >/dev/null 2>&1; then
	cat >"$T/recv.py" <<'EOF'
import http.server, sys
out, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        with open(out, "wb") as f:
            f.write(self.rfile.read(n))
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
s.timeout = 30
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
s.handle_request()
EOF
	python3 "$T/recv.py" "$T/posted.json" "$T/recv.port" >/dev/null 2>&1 &
	rpid=$!
	i=0
	while [ ! -s "$T/recv.port" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	FLEET_ALARM_URL="http://127.0.0.1:$(cat "$T/recv.port" 2>/dev/null)/alarm"
	export FLEET_ALARM_URL
	t_check webhook_exit_unchanged expect_exit 1 "$FLEETCTL" -i "$T/hook2.ini" push "$T/rel" --version 2.0 \
	    -o "install=$FAILCMD" -o connect_timeout=3
	unset FLEET_ALARM_URL
	jq -e "(.kind == \"push\") and ([.terminals[].host] == [\"t02\",\"t03\",\"t04\"])" "$T/posted.json" >/dev/null 2>&1 &&
	    pass webhook_posts_json || fail webhook_posts_json "$(head -c 300 "$T/posted.json" 2>&1)"
	kill "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
fi
fleet_start_one "$FLEET" t04

t_done
