#!/bin/sh
# on_failure-mail.sh: an alarm hook for fleetctl that mails the run's failure report.
#
#   [fleet]
#   on_failure = /usr/local/bin/on_failure-mail.sh ops@example.org
#
# fleetctl runs it (as an argv, no shell) after a run that left terminals failed, delayed or rolled
# back, with the run as JSON on stdin: run, kind, component, summary, operator, halted, and
# terminals[] (host, state, step, error, running = the release it still runs, wanted).
# With `mail` or `sendmail` on the PATH it mails that JSON to the address given as $1 (or
# $FLEET_ALARM_TO); otherwise, or with no address, it appends it to $FLEET_ALARM_LOG
# (default $HOME/fleetctl-alarms.log).  A non-zero exit is reported by fleetctl as a warning.
set -u
to=${1:-${FLEET_ALARM_TO:-}}
log=${FLEET_ALARM_LOG:-${HOME:-/tmp}/fleetctl-alarms.log}
tmp=$(mktemp "${TMPDIR:-/tmp}/fleet-alarm.XXXXXX") || exit 1
trap 'rm -f "$tmp"' EXIT
# Keep what came in whole: it is needed twice (subject, body).
cat >"$tmp" || exit 1
# The subject is the run's one-line summary, from the JSON when jq is there.
subject="fleetctl alarm"
if command -v jq >/dev/null 2>&1; then
	s=$(jq -r '.summary // empty' <"$tmp" 2>/dev/null | head -n 1)
	[ -n "$s" ] && subject="fleetctl alarm: $s"
fi
if [ -n "$to" ] && command -v mail >/dev/null 2>&1; then
	mail -s "$subject" "$to" <"$tmp"
	exit $?
fi
if [ -n "$to" ] && command -v sendmail >/dev/null 2>&1; then
	{
		printf 'To: %s\nSubject: %s\nContent-Type: application/json\n\n' "$to" "$subject"
		cat "$tmp"
	} | sendmail -t
	exit $?
fi
{
	printf '%s %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$subject"
	cat "$tmp"
	printf '\n'
} >>"$log"
