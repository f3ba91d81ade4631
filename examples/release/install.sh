#!/bin/sh
# install.sh: run by fleetctl on the terminal, in releases/<id>, before `current` is switched
# (inventory: install = ./install.sh).  fleetctl sets FLEET_RELEASE, FLEET_VERSION, FLEET_PREVIOUS,
# FLEET_ROOT (ROOT/COMPONENT) and FLEET_COMPONENT.  A non-zero exit fails this terminal at step
# `install` and leaves `current` as it was.
set -e
# The demo makes one terminal refuse an update with a marker file.
if [ -e "$FLEET_ROOT/refuse-update" ]; then
	echo "install: $FLEET_ROOT/refuse-update exists: refusing $FLEET_VERSION" >&2
	exit 1
fi
# The release must at least run.
./bin/kiosk-app >/dev/null
mkdir -p "$FLEET_ROOT/log"
echo "$(date '+%Y-%m-%d %H:%M:%S') installed $FLEET_RELEASE (was ${FLEET_PREVIOUS:-nothing})" \
    >>"$FLEET_ROOT/log/kiosk-app.log"
