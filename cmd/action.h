/* action: what install, restart, shutdown and reboot share (cmd/action.c); each has its own thin file. */
#ifndef FLEET_CMD_ACTION_H
#define FLEET_CMD_ACTION_H

#include "../lib/action.h"
#include "cmd.h"

/* Parse the action's options, select, confirm (shutdown, reboot), run, report, record; an exit status. */
int cmd_action(struct cmd_ctx *ctx, enum action_kind kind, int argc, char **argv);

/* Option lines shared by the four commands' help texts. */
#define CMD_ACTION_HELP_COMMON \
	"  -l, --limit SEL     hosts, groups, globs; !term excludes (default: all)\n" \
	"  -p, --parallel N    terminals at once (default: inventory 'parallel', 50)\n" \
	"      --component NAME  FLEET_ROOT is ROOT/NAME (default: app)\n" \
	"      --fold          print identical results once, hosts folded into ranges\n" \
	"      --json          one JSON object per terminal, then a summary object\n" \
	"  -q, --quiet         only the summary line\n"

#endif
