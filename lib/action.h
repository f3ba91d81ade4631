/*
 * action: run a group's configured install, restart, shutdown, reboot or health command on terminals, as an
 * executor job; for reboot optionally wait until the terminal is back with a new boot id and healthy.
 *
 * Every command runs with FLEET_ROOT=ROOT/COMPONENT and FLEET_COMPONENT=COMPONENT; install and restart
 * run in ROOT/COMPONENT/current when it exists and are killed on the terminal at command_timeout.
 * shutdown and reboot drop the link before their exit status could come back, so they are detached on
 * the terminal (nohup, one second later) and count as ok once sent.
 * The script builders are pure; every value is quoted with lib/shquote.
 */
#ifndef FLEET_ACTION_H
#define FLEET_ACTION_H

#include <stdbool.h>

#include "executor.h"
#include "inventory.h"

/* ACTION_HEALTH runs the health command in place, health_retries times health_interval apart until it
 * exits 0 (the soak of a rollout). */
enum action_kind { ACTION_INSTALL, ACTION_RESTART, ACTION_SHUTDOWN, ACTION_REBOOT, ACTION_HEALTH };

#define ACTION_DEFAULT_COMPONENT "app"

/* "install", "restart", "shutdown", "reboot": the command's name and its fleet.ini key. */
const char *action_name(enum action_kind k);
enum inv_key action_key(enum action_kind k);
/* shutdown and reboot: sent detached, never waited for. */
bool action_detached(enum action_kind k);

/* Is name usable as a component (a path element: [A-Za-z0-9._-], not starting with '.')? */
bool action_component_valid(const char *name);

/*
 * The remote command that runs cmd for component under root (caller frees).  In-place actions
 * (in_current: cd into ROOT/COMPONENT/current when it is a directory) are wrapped by rcmd_deadline
 * when timeout_s > 0.  Detached actions print "sent" and return at once; the command starts a second
 * later with its output thrown away.
 */
char *action_script(const char *root, const char *component, const char *cmd, bool in_current, long timeout_s);
char *action_detached_script(const char *root, const char *component, const char *cmd);
/* `cat FILE` for the boot id (caller frees). */
char *action_boot_id_script(const char *path);

struct action_job {
	enum action_kind kind;
	const char *component;   /* never NULL */
	bool wait;               /* reboot: wait for the new boot id, then health */
	long wait_timeout_s;     /* --wait-timeout */
};

/* What one terminal did (host_result.data is not used: this is all in the host_result).
 * Failed steps: the action's name, "boot_id", "wait", "health". */
void action_run_host(struct executor_worker *w, struct host_result *r, void *arg);

#endif
