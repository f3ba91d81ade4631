#!/bin/sh
# e2e: the short form of the fault campaign (tests/fault/campaign.sh): "old or new, never in
# between".  10 SIGKILLs of the controller at random moments of pushes, --waves pushes and
# rollbacks, each resumed (or re-run) and checked; one terminal's sshd sessions killed mid-upload,
# mid-unpack, mid-install, around the switch and at 2 random moments; a full disk on one terminal;
# terminals that accept TCP and never speak.  About 1.5 minutes on 2 cores.
# The long form: sh tests/fault/long.sh [KILLS] (default 50).  FAULT_SEED=N replays the timings.
. "$(dirname "$0")/../lib.sh"
FAULT_KILLS=${FAULT_KILLS:-10}
FAULT_TSIDE=${FAULT_TSIDE:-2}
. "$T_TOP/tests/fault/campaign.sh"
