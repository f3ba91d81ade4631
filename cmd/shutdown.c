/*
 * shutdown: send the inventory's `shutdown` command to every selected terminal, detached so the
 * terminal going down cannot lose the answer; asks first.  The body is cmd/action.c.
 */
#include "action.h"

static int
cmd_shutdown(struct cmd_ctx *ctx, int argc, char **argv)
{
	return cmd_action(ctx, ACTION_SHUTDOWN, argc, argv);
}

const struct cmd_entry cmd_shutdown_entry = {
	.name = "shutdown",
	.usage = "[-l SEL] [-p N] [--yes] [--component NAME] [--fold] [--json] [-q]",
	.summary = "shut the selected terminals down with the configured command",
	.help =
	    CMD_ACTION_HELP_COMMON
	    "      --yes           do not ask (required when stdin is not a terminal)\n"
	    "\nThe command is the inventory's 'shutdown' key, run with FLEET_ROOT=ROOT/COMPONENT.  It starts\n"
	    "detached a second after the terminal answered: ok means sent, not done.\n",
	.flags = CMD_CHANGES_TERMINALS,
	.exec = cmd_shutdown,
};
