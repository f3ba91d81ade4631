/*
 * install: run the inventory's `install` command on every selected terminal, in the component's
 * current release directory (ROOT/COMPONENT/current) when there is one.  The body is cmd/action.c.
 */
#include "action.h"

static int
cmd_install(struct cmd_ctx *ctx, int argc, char **argv)
{
	return cmd_action(ctx, ACTION_INSTALL, argc, argv);
}

const struct cmd_entry cmd_install_entry = {
	.name = "install",
	.usage = "[-l SEL] [-p N] [--component NAME] [--fold] [--json] [-q]",
	.summary = "run the configured install command on the selected terminals",
	.help =
	    CMD_ACTION_HELP_COMMON
	    "\nThe command is the inventory's 'install' key; it runs with FLEET_ROOT=ROOT/COMPONENT, in\n"
	    "ROOT/COMPONENT/current when that exists, and is killed on the terminal after command_timeout.\n",
	.flags = CMD_CHANGES_TERMINALS,
	.exec = cmd_install,
};
