/*
 * restart: run the inventory's `restart` command on every selected terminal, in the component's
 * current release directory (ROOT/COMPONENT/current) when there is one.  The body is cmd/action.c.
 */
#include "action.h"

static int
cmd_restart(struct cmd_ctx *ctx, int argc, char **argv)
{
	return cmd_action(ctx, ACTION_RESTART, argc, argv);
}

const struct cmd_entry cmd_restart_entry = {
	.name = "restart",
	.usage = "[-l SEL] [-p N] [--component NAME] [--fold] [--json] [-q]",
	.summary = "run the configured restart command on the selected terminals",
	.help =
	    CMD_ACTION_HELP_COMMON
	    "\nThe command is the inventory's 'restart' key; it runs with FLEET_ROOT=ROOT/COMPONENT, in\n"
	    "ROOT/COMPONENT/current when that exists, and is killed on the terminal after command_timeout.\n",
	.flags = CMD_CHANGES_TERMINALS,
	.exec = cmd_restart,
};
