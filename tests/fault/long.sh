#!/bin/sh
# The long form of the fault campaign (see tests/fault/campaign.sh):
#
#   FLEETCTL_BIN=/path/to/fleetctl sh tests/fault/long.sh [KILLS]
#
# KILLS controller kills (default FAULT_KILLS, else 50) and KILLS/2 random terminal-side cuts
# (FAULT_TSIDE), on top of the targeted terminal-side, disk-full and silent-terminal faults.
# FAULT_SEED=N replays the random timings of an earlier run (it prints its seed first).
# Ends with "faults tried N, survived N, data lost N" and "# N passed, N failed"; exits 1 on a failure.
. "$(dirname "$0")/../lib.sh"
FAULT_KILLS=${1:-${FAULT_KILLS:-50}}
FAULT_TSIDE=${FAULT_TSIDE:-$((FAULT_KILLS / 2))}
FAULT_LONG=1
. "$T_TOP/tests/fault/campaign.sh"
