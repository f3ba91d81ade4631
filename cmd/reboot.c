/*
 * reboot: send the inventory's `reboot` command to every selected terminal, detached, after asking;
 * with --wait, wait until each terminal is back with a new boot id and passes its health command.
 * The body is cmd/action.c.
 */
#include "action.h"

static int
cmd_reboot(struct cmd_ctx *ctx, int argc, char **argv)
{
	return cmd_action(ctx, ACTION_REBOOT, argc, argv);
}

const struct cmd_entry cmd_reboot_entry = {
	.name = "reboot",
	.usage = "[-l SEL] [-p N] [--yes] [--wait [--wait-timeout T]] [--component NAME] [--fold] [--json] [-q]",
	.summary = "reboot the selected terminals with the configured command",
	.help =
	    CMD_ACTION_HELP_COMMON
	    "      --yes           do not ask (required when stdin is not a terminal)\n"
	    "      --wait          wait until each terminal is back with a new boot id, then run 'health'\n"
	    "      --wait-timeout T  how long to wait (90s, 10m; default 10m)\n"
	    "\nThe command is the inventory's 'reboot' key, run with FLEET_ROOT=ROOT/COMPONENT.  It starts\n"
	    "detached a second after the terminal answered: without --wait, ok means sent, not done.\n"
	    "The boot id is read from the file named by the 'boot_id' key before and after.\n",
	.flags = CMD_CHANGES_TERMINALS,
	.exec = cmd_reboot,
};
