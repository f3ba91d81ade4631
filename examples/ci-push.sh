#!/bin/sh
# ci-push.sh: a CI pipeline step that rolls a release out to the stores with fleetctl.
#
#   sh examples/ci-push.sh RELEASE_DIR VERSION [SELECTION]
#
# Bundles RELEASE_DIR, pushes it in waves (canary first) with failure thresholds, keeps the
# per-terminal JSON as a job artifact, prints a short summary with jq, and turns fleetctl's exit
# status into the pipeline's result.  Needs: fleetctl, jq, an inventory (FLEETCTL_INVENTORY or
# ./fleet.ini) and an ed25519/ECDSA key the terminals accept (no prompts: fleetctl never asks
# without a TTY, and a passphrase key must be in ssh-agent).
set -u
dir=${1:?usage: ci-push.sh RELEASE_DIR VERSION [SELECTION]}
version=${2:?usage: ci-push.sh RELEASE_DIR VERSION [SELECTION]}
selection=${3:-stores}
out=${CI_PROJECT_DIR:-.}/fleetctl-push.ndjson

# Who pushed: recorded as the "Actor:" trailer of the history commit (CI_PIPELINE_ID and
# GITHUB_RUN_ID are picked up by themselves; this says more).
export FLEETCTL_ACTOR="${FLEETCTL_ACTOR:-ci pipeline ${CI_PIPELINE_ID:-${GITHUB_RUN_ID:-local}} (${GITLAB_USER_LOGIN:-${GITHUB_ACTOR:-$(id -un)}})}"

# 1. Bundle: reproducible, so the same tree always gives the same release id.
archive=kiosk-app-$version.tar.gz
if ! fleetctl bundle "$dir" --version "$version" -o "$archive"; then
	echo "ci-push: the release directory was refused" >&2
	exit 1
fi

# 2. Push: one canary terminal, then 10%, then half, then all.  Halt when more than 2% of the
#    terminals started so far failed (rounded down: 0 until 50 started), or when more than 5 are
#    unreachable; put the updated terminals back when it halts.  Terminals that are busy serving
#    a customer or unreachable are retried for 45 minutes, then reported delayed.  (--min-sample 50
#    would judge the 2% on 50 terminals at least, but then a failing canary would not halt the run;
#    for thousands of terminals see --waves exp:1,x2, --rate, --soak and --until in fleetctl(1).)
fleetctl push "$archive" -l "$selection" \
    --waves 1,10%,50%,100% --max-fail 2% --max-unreachable 5 --rollback-on-halt \
    --retry-for 45m --json >"$out"
rc=$?

# 3. Report: the last line is the summary object, the others one object per terminal.
jq -r 'select(.summary) | "run \(.run): \(.ok // 0) ok, \(.failed // 0) failed, \(.unreachable // 0) unreachable, \(.delayed // 0) delayed, \(.skipped // 0) skipped\(if .halted then " - HALTED" else "" end)"' "$out"
jq -r 'select(.summary | not) | select(.state != "ok") | "  \(.host): \(.state)\(if .step then " (" + .step + ")" else "" end)\(if .error then ": " + (.error | split("\n")[0]) else "" end)"' "$out"
run=$(jq -r 'select(.summary) | .run' "$out")

# 4. The exit status is stable: decide what the pipeline does with each.
case $rc in
0)
	echo "ci-push: every terminal runs $version"
	;;
3)
	# Nothing failed; some terminals were unreachable, busy, locked or outside their window.
	# They are still to do: a later job (or cron) runs `fleetctl retry $run`.
	echo "ci-push: done, some terminals delayed: run 'fleetctl retry $run' later" >&2
	exit 0
	;;
1)
	echo "ci-push: terminals failed or the rollout halted: see 'fleetctl show $run'" >&2
	;;
2)
	echo "ci-push: usage or inventory error: nothing was touched" >&2
	;;
*)
	echo "ci-push: fleetctl exited $rc (130: interrupted; 'fleetctl resume $run' finishes it)" >&2
	;;
esac
exit "$rc"
