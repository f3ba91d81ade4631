#!/bin/sh
# demo.sh: fleetctl's main job against a local fleet of 8 real sshd terminals (`make demo`).
#
# Brings the fleet up under /tmp/fleetctl-demo, runs one block per command that ./fleetctl has,
# and stops and removes the fleet at the end (it prints how to bring it up again).  Safe to run again at once.
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

# True when ./fleetctl knows the command.
has() {
	"$FLEETCTL" help "$1" >/dev/null 2>&1
}

# step TITLE CMD...: show the command line, run it, stop the demo if it fails.
step() {
	title=$1
	shift
	printf '\n== %s\n$' "$title"
	for a in "$@"; do
		case "$a" in
		*[!A-Za-z0-9_./=:,-]*) printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
	"$@"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "demo: '$title' failed (exit $rc)" >&2
		exit 1
	fi
}

printf '== bringing up %d local sshd terminals under %s\n' "$K" "$DIR"
if ! sh tests/fleet.sh up "$DIR" "$K"; then
	echo "demo: the fleet did not come up" >&2
	exit 1
fi
echo "inventory: $INV"

# --- hosts: what the inventory says -------------------------------------------------------------
step "the fleet as the inventory sees it" "$FLEETCTL" -i "$INV" hosts
step "one group, minus one terminal" "$FLEETCTL" -i "$INV" hosts -l 'lobby,!t01'

# --- exec: one command on every terminal, identical results folded ------------------------------
if has exec; then
	step "run a command everywhere" "$FLEETCTL" -i "$INV" exec -- uname -n
fi

# --- push / status / history / rollback / logs: add one guarded block per command as it lands ----
# if has push; then
# 	step "push a release" "$FLEETCTL" -i "$INV" push ...
# fi

printf '\n== done; the fleet is stopped and removed now.  To bring it up again and play:\n'
printf '  sh tests/fleet.sh up %s %d\n  ./fleetctl -i %s hosts\n  sh tests/fleet.sh down %s\n' \
    "$DIR" "$K" "$INV" "$DIR"
