#!/bin/sh
# demo.sh: fleetctl's main job against a local fleet of 8 real sshd terminals (`make demo`).
#
# Brings the fleet up under /tmp/fleetctl-demo, then: hosts, exec, bundle, push, status, history,
# a wave rollout that halts on a terminal that refuses the update, rollback, logs, runs, show, a
# push through a site relay, and the audit repository seen with plain git.  Stops and removes the
# fleet at the end (it prints how to bring it up again).  Safe to run again at once; exits 0 when
# every step did what it should.
set -u
cd "$(dirname "$0")/.." || exit 1
DIR=${FLEETCTL_DEMO_DIR:-/tmp/fleetctl-demo}
K=8
FLEETCTL=./fleetctl
INV=$DIR/fleet.ini

if [ ! -x "$FLEETCTL" ]; then
	echo "demo: build ./fleetctl first (make)" >&2
	exit 1
fi

# A previous run (or an interrupted one) leaves its directory: stop what it started, start afresh.
if [ -f "$DIR/names" ]; then
	sh tests/fleet.sh down "$DIR"
fi
case "$DIR" in
/tmp/?*) rm -rf "$DIR" ;;
esac

stop_fleet() {
	sh tests/fleet.sh down "$DIR"
	case "$DIR" in
	/tmp/?*) rm -rf "$DIR" ;;
	esac
}
trap stop_fleet EXIT
trap 'exit 130' INT TERM HUP

# show CMD...: print the command line as a user would type it.
show() {
	printf '$'
	for a in "$@"; do
		case "$a" in
		*[!A-Za-z0-9_./=:,%-]*) printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
}

# say TEXT: announce the next step.
say() {
	printf '\n== %s\n' "$*"
}

# step CMD...: show and run the command; stop the demo if it fails.
step() {
	show "$@"
	"$@"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "demo: '$*' failed (exit $rc)" >&2
		exit 1
	fi
}

# expect RC CMD...: show and run a command that must exit RC; stop the demo if it does not.
expect() {
	want=$1
	shift
	show "$@"
	"$@"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "demo: '$*' exited $rc, expected $want" >&2
		exit 1
	fi
	printf '(exit status %d, as expected)\n' "$rc"
}

printf '== bringing up %d local sshd terminals under %s\n' "$K" "$DIR"
if ! sh tests/fleet.sh up "$DIR" "$K"; then
	echo "demo: the fleet did not come up" >&2
	exit 1
fi

# The generated inventory knows how to reach t01..t08.  Add what a real one says about the
# application: how to install and restart it, how to tell it is healthy, where its logs are.
# FLEET_ROOT is ROOT/app on each terminal; every hook runs with it set.
sed -i '/^\[fleet\]$/r /dev/stdin' "$INV" <<'EOF'
install = ./install.sh
restart = mkdir -p "$FLEET_ROOT/log" && ./bin/kiosk-app start >> "$FLEET_ROOT/log/kiosk-app.log"
health = ./bin/kiosk-app > /dev/null
keep = 3
EOF
sed -i 's|^root = \(.*\)$|&\nlogs = \1/app/log/*.log|' "$INV"
echo "inventory: $INV (see man/fleet.ini.5; examples/fleet.ini is a real-world one)"
F="$FLEETCTL -i $INV"

say "1. hosts: the fleet as the inventory sees it, without connecting"
step $F hosts

say "2. exec: one command on every terminal at once; --fold prints identical results once"
step $F exec --fold -- uptime

say "3. bundle: the release directory examples/release becomes a reproducible archive, id VERSION-HASH"
step $F bundle examples/release --version 1.0 -o "$DIR/app-1.0.tar.gz"

say "4. push: upload, verify, unpack into releases/<id>, install, switch 'current', restart, health check"
step $F push "$DIR/app-1.0.tar.gz"

say "5. status: what each terminal runs (read live) against what the history says it should run"
step $F status

say "6. history: every operation is one commit in a git repository"
step $F history

say "7. release 1.1: same tree, new version; terminal t03 will refuse it (its install.sh sees a marker file)"
rm -rf "$DIR/release-1.1"
cp -R examples/release "$DIR/release-1.1"
sed -i 's/^VERSION=.*/VERSION=1.1/' "$DIR/release-1.1/etc/config"
show touch "$DIR/t03/root/app/refuse-update"
touch "$DIR/t03/root/app/refuse-update" || exit 1

say "8. push 1.1 in waves 1, 50%, 100% with --max-fail 0: wave 2 holds t03, so the run halts after it and wave 3 is never touched"
expect 1 $F push "$DIR/release-1.1" --version 1.1 --waves 1,50%,100% --max-fail 0

say "9. status: t01, t02, t04 run 1.1; t03 stayed on 1.0 (a failed install never switches); t05-t08 were not touched"
step $F status

say "10. rollback: what t01 can go back to, then put the updated terminals back on the release they ran before"
step $F rollback --list -l t01
step $F rollback -l t01,t02,t04

say "11. logs: the last 3 lines of each terminal's log files (the inventory's 'logs' globs)"
step $F logs -n 3

say "12. runs: every push and rollback has a journal; the halted one is there"
step $F runs

run=$($F runs --json | jq -r 'select(.status == "halted") | .id' | head -n 1)
if [ -z "$run" ]; then
	echo "demo: no halted run in 'fleetctl runs --json'" >&2
	exit 1
fi
say "13. show: the halted run in full: its plan, its waves, every terminal's lifecycle"
step $F show "$run"

say "14. a store behind a relay: t08 relays for t05-t07, so the release crosses the store's uplink once; t08 logs in with its own key"
show ssh-keygen -t ed25519 -N "" -f "$DIR/relay-key/id_ed25519"
mkdir -p "$DIR/relay-key" &&
    ssh-keygen -t ed25519 -N '' -q -C demo-relay -f "$DIR/relay-key/id_ed25519" </dev/null || exit 1
# the key lives on the relay (here the same machine) and is authorized on the store's terminals
cat "$DIR/relay-key/id_ed25519.pub" >>"$DIR/client/authorized_keys"
relay_user=$(sed -n 's/^user = //p' "$INV" | head -n 1)
[ "$(id -u)" -ne 0 ] || chown -R "$relay_user:" "$DIR/relay-key"
chmod 755 "$DIR/relay-key"
printf '\n[group:store]\nhosts = t05, t06, t07\nrelay = t08\nrelay_identity = %s\nrelay_cache = %s\n' \
    "$DIR/relay-key/id_ed25519" "$DIR/t08/root/relay-cache" >>"$INV"
step $F hosts -l store
step $F push "$DIR/release-1.1" --version 1.1 -l store

say "15. the audit trail is a plain git repository: who did what, when, to which terminal"
show git -C "$DIR/state/history" log --oneline
git -C "$DIR/state/history" log --oneline | head -n 10
show git -C "$DIR/state/history" log --stat -1 --grep=HALTED
git -C "$DIR/state/history" log --stat -1 --grep=HALTED | cat

printf '\n== done; the fleet is stopped and removed now.  To bring it up again and play:\n'
printf '  sh tests/fleet.sh up %s %d\n  ./fleetctl -i %s hosts\n  sh tests/fleet.sh down %s\n' \
    "$DIR" "$K" "$INV" "$DIR"
