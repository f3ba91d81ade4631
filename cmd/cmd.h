/* cmd: the command table's types and what commands share (option parsing, inventory set-up, exit codes). */
#ifndef FLEET_CMD_H
#define FLEET_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "../lib/executor.h"
#include "../lib/inventory.h"

/* Exit status, stable for CI (documented in fleetctl(1)). */
enum {
	EXIT_OK = 0,            /* every terminal ok */
	EXIT_FAILED = 1,        /* at least one terminal failed (or a run halted) */
	EXIT_USAGE = 2,         /* usage or inventory error: nothing was run */
	EXIT_UNREACHABLE = 3,   /* none failed, at least one unreachable / hostkey / auth / timeout */
	EXIT_INTERRUPTED = 130  /* Ctrl-C */
};

/* What dispatch and the command share.  Set up by main before the command runs. */
struct cmd_ctx {
	const struct cmd_entry *entry;
	const char *inventory_path;      /* -i, else $FLEETCTL_INVENTORY, else ./fleet.ini */
	const char *ssh_config;          /* -F FILE, or NULL */
	struct inv_override *overrides;  /* -o key=value, in order given */
	size_t noverrides;
	bool accept_new_host_keys;       /* --accept-new-host-keys */
	bool stdin_tty, stderr_tty, stdout_tty;
	volatile sig_atomic_t *interrupted;  /* set by SIGINT/SIGTERM; workers poll it */
	struct inventory *inv;           /* loaded by cmd_load_inventory */
};

enum {
	CMD_CHANGES_TERMINALS = 0x1,  /* destructive: never an alias, never a prefix match */
};

struct cmd_entry {
	const char *name;
	const char *usage;      /* "[-l SEL] [--json]" */
	const char *summary;    /* one line for `fleetctl --help` */
	const char *help;       /* option list and notes for `fleetctl help CMD` */
	int flags;
	int (*exec)(struct cmd_ctx *ctx, int argc, char **argv);
};

/* Options every command accepts (also before the command): -i FILE, -F FILE, -o KEY=VALUE,
 * --accept-new-host-keys.  These are the getopt fragments commands splice into their own tables. */
#define CMD_COMMON_SHORT "i:F:o:"
#define CMD_OPT_ACCEPT_NEW 1000
#define CMD_COMMON_LONG \
	{ "inventory", required_argument, NULL, 'i' }, \
	{ "ssh-config", required_argument, NULL, 'F' }, \
	{ "option", required_argument, NULL, 'o' }, \
	{ "accept-new-host-keys", no_argument, NULL, CMD_OPT_ACCEPT_NEW }, \
	{ "help", no_argument, NULL, 'h' }

/* Handle a common option; returns 1 if handled, 0 if not common, -1 on a bad value (message printed). */
int cmd_common_option(struct cmd_ctx *ctx, int opt, const char *arg);
/* Print usage for the current command to stderr (or stdout for --help) and return EXIT_USAGE / EXIT_OK. */
int cmd_usage(const struct cmd_ctx *ctx, bool to_stdout);
/* Load the inventory (and ssh_config) into ctx->inv; prints the error and returns EXIT_USAGE on failure. */
int cmd_load_inventory(struct cmd_ctx *ctx);
/* Load inventory and select hosts by pattern; returns 0 or an exit status (message printed). */
int cmd_select(struct cmd_ctx *ctx, const char *pattern, struct inv_host ***hosts, size_t *n);
/* Print "fleetctl: " + message to stderr as one write. */
void cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A new run id: UTC time + random suffix, e.g. 20261126T104512Z-1a2b3c (caller frees). */
char *cmd_run_id(void);
/*
 * Record one operation in the history (one commit): kind ("exec", "restart"...), the command, the -l
 * selection, each host's result.  Hosts' state files are left as they are.  A failure to record is
 * printed as a warning; returns 0 or -1.
 */
int cmd_record(struct cmd_ctx *ctx, const char *kind, const char *command, const char *selection,
    const char *component, const struct host_result *results, size_t n, const char *summary);

/* push and rollback, once each terminal's target is known (cmd/deploy_run.c). */
struct deploy_target;
struct cmd_deploy {
	const char *kind;               /* "push" or "rollback" */
	const char *run_id;
	const char *component;
	const char *label;              /* what, for the summary: "1.4.2-3fa9c2d1e0ab", "to previous" */
	const char *selection;
	const char *command;            /* for the history body */
	const char *release_id, *release_manifest, *release_sha256;   /* push: stored in the history */
	struct inv_host **hosts;
	size_t n;
	struct deploy_target *targets;  /* parallel to hosts */
	int parallel;
	bool dry_run, json;
};
/* Run, report, record.  Returns the exit status. */
int cmd_deploy_run(struct cmd_ctx *ctx, const struct cmd_deploy *dr);
/* Parse "-p N" for commands; -1 (message printed) when bad. */
int cmd_parse_parallel(const char *cmdname, const char *arg, long *out);

/* The table, defined in fleetctl.c. */
extern const struct cmd_entry *const cmd_table[];

#endif
