#!/bin/sh
# on_failure-webhook.sh: an alarm hook for fleetctl that POSTs the run's failure report to a webhook.
#
#   [fleet]
#   on_failure = /usr/local/bin/on_failure-webhook.sh
#
# with FLEET_ALARM_URL in the environment fleetctl runs in (a CI secret, a cron line), e.g.
# https://chat.example.org/hooks/ops.  The run arrives as JSON on stdin (run, kind, component,
# summary, operator, halted, terminals[] with host, state, step, error, running, wanted) and is
# sent as it is, Content-Type application/json.  The URL ends up in curl's argv, which `ps` shows:
# keep secrets out of it and put them in a curl --config file named by FLEET_ALARM_CURL_CONFIG
# (e.g. a line: header = "Authorization: Bearer ...").  FLEET_ALARM_TIMEOUT caps the request (20 s).
# A non-zero exit (no URL, curl failed, HTTP error) is reported by fleetctl as a warning.
set -u
url=${FLEET_ALARM_URL:-}
if [ -z "$url" ]; then
	echo "on_failure-webhook: FLEET_ALARM_URL is not set" >&2
	exit 2
fi
if ! command -v curl >/dev/null 2>&1; then
	echo "on_failure-webhook: curl not found" >&2
	exit 2
fi
set -- --silent --show-error --fail --max-time "${FLEET_ALARM_TIMEOUT:-20}" \
    -H 'Content-Type: application/json' --data-binary @-
if [ -n "${FLEET_ALARM_CURL_CONFIG:-}" ]; then
	set -- --config "$FLEET_ALARM_CURL_CONFIG" "$@"
fi
exec curl "$@" "$url"
