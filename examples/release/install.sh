#!/bin/sh
# install.sh: run by fleetctl on the terminal, in releases/<id>, before `current` is switched.
# fleetctl sets FLEET_RELEASE, FLEET_VERSION, FLEET_PREVIOUS, FLEET_ROOT and FLEET_COMPONENT.
# A non-zero exit fails this terminal at step `install`: `current` is left as it was.
set -e
# The demo's way to make one terminal refuse an update: a marker file in the terminal's root.
if [ -e "$FLEET_ROOT/../refuse-update" ]; then
	echo "install: this terminal refuses updates (remove $FLEET_ROOT/../refuse-update)" >&2
	exit 1
fi
./bin/kiosk-app >/dev/null
mkdir -p "$FLEET_ROOT/../log"
echo "$(date '+%Y-%m-%d %H:%M:%S') installed $FLEET_RELEASE (was ${FLEET_PREVIOUS:-none})" >>"$FLEET_ROOT/../log/kiosk-app.log"
