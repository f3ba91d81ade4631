/* cmd: the command table's types and what commands share (option parsing, inventory set-up, exit codes). */
#ifndef FLEET_CMD_H
#define FLEET_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "../lib/executor.h"
#include "../lib/inventory.h"
#include "../lib/run.h"

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
	CMD_READS_HISTORY = 0x2,      /* with history_remote: pull the shared history first */
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
/* The `default:` of every command's getopt loop: 0 when opt was a common option (go on), else EXIT_USAGE
 * (an unknown option: usage printed; a bad value: message printed). */
int cmd_other_option(struct cmd_ctx *ctx, int opt, const char *arg);
/* With history_remote: bring the local history up to the shared one / send what this controller
 * recorded.  A remote that cannot be reached is a warning (the commits stay local and go next time). */
void cmd_history_pull(struct cmd_ctx *ctx);
struct history;
void cmd_history_push(struct cmd_ctx *ctx, struct history *h);
struct executor_job;
/* Run job on hosts (n > 0) at parallel terminals at once (<= 0: the inventory's), with Ctrl-C and the
 * host-key option of the command line, and the progress line on stderr when progress and it is a TTY.
 * Returns the results (caller frees with host_results_free). */
struct host_result *cmd_run_job(struct cmd_ctx *ctx, struct inv_host **hosts, size_t n, long parallel, bool progress,
    struct executor_job *job);
/* --component and --version values: 0, or EXIT_USAGE with the rule printed ("CMD: bad WHAT 'V' (...)"). */
int cmd_check_component(const char *cmdname, const char *component);
int cmd_check_version(const char *cmdname, const char *what, const char *version);
/* Print usage for the current command to stderr (or stdout for --help) and return EXIT_USAGE / EXIT_OK. */
int cmd_usage(const struct cmd_ctx *ctx, bool to_stdout);
/* Load the inventory (and ssh_config) into ctx->inv; prints the error and returns EXIT_USAGE on failure. */
int cmd_load_inventory(struct cmd_ctx *ctx);
/* Load inventory and select hosts by pattern; returns 0 or an exit status (message printed). */
int cmd_select(struct cmd_ctx *ctx, const char *pattern, struct inv_host ***hosts, size_t *n);
/* Print "fleetctl: " + message to stderr as one write. */
void cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A new run id: UTC time to the millisecond + random suffix, e.g. 20261126T104512.345Z-1a2b3c; ids sort
 * in start order (caller frees). */
char *cmd_run_id(void);
/*
 * Record one operation in the history (one commit): kind ("exec", "restart"...), the command, the -l
 * selection, each host's result.  Hosts' state files are left as they are.  A failure to record is
 * printed as a warning; returns 0 or -1.
 */
int cmd_record(struct cmd_ctx *ctx, const char *kind, const char *command, const char *selection,
    const char *component, const struct host_result *results, size_t n, const char *summary);

/* push, rollback, resume and retry (cmd/deploy_run.c). */
struct bundle;
/* Each terminal's deploy target for bundle b (stored at `stored`), with its keep list from the history
 * and, when delta, the delta against the releases the history says it holds (one per set of bases).
 * 0 or an exit status (message printed).  Free with targets_free (lib/targets.h). */
int cmd_deploy_targets(struct cmd_ctx *ctx, const char *cmdname, struct inv_host **hosts, size_t n,
    const struct bundle *b, const char *stored, bool delta, bool hardlink, struct deploy_target **out);
/*
 * The release's signature: made now with sign_key, else found beside the archive (ARCHIVE.sig), else in
 * the store (STATE_DIR/bundles/<sha256>.sig), and kept in the store.  With require_signature in the
 * inventory it must be there and verify with a trusted key, else the message is printed and EXIT_USAGE
 * returned, before any terminal is touched.  *signer (caller frees) names the key when it was checked.
 */
int cmd_release_signature(struct cmd_ctx *ctx, const char *cmdname, const struct bundle *b, const char *archive,
    const char *sign_key, char **signer);
/* A yes/no option of a journalled plan ("no_delta", "hardlink"). */
struct json_t;
bool cmd_plan_option(const struct json_t *plan, const char *name);
struct journal_run;
/* A journalled run, its terminals (in plan order, from the current inventory) and its stored bundle.
 * 0 or an exit status (message printed); the caller frees what was set.  cmd_run_parts: the same for a
 * run already read. */
int cmd_run_load(struct cmd_ctx *ctx, const char *cmdname, const char *run_id, struct journal_run **jr,
    struct inv_host ***hosts, struct bundle **b, char **stored);
int cmd_run_parts(struct cmd_ctx *ctx, const char *cmdname, const struct journal_run *jr, struct inv_host ***hosts,
    struct bundle **b, char **stored);
/*
 * Go on with the journalled run jr under its own id, its bundle checked again (signature too) and its
 * options from its plan.  Resume (pickup false): every terminal that did not end failed or rolled back,
 * in the plan's remaining waves, with its thresholds.  Pick up (retry --all, pickup true): the
 * terminals it still has to do (delayed, unreachable, busy, locked), in one wave with the run's rate
 * and deadline, no thresholds, retried in-process for retry_for at most.  Returns the run's exit
 * status; *todo_status that over the terminals this session did.
 */
int cmd_run_continue(struct cmd_ctx *ctx, const char *cmdname, const struct journal_run *jr, bool pickup,
    long retry_for, bool dry_run, bool json, int *todo_status);
/* The stored bundle with this sha256, checked again.  0 or an exit status (message printed). */
int cmd_stored_bundle(struct cmd_ctx *ctx, const char *cmdname, const char *sha256, struct bundle **b, char **stored);
/* Run dr (lib/run: its controller's side filled from ctx here) and show it as text, or as JSON lines.
 * Returns the exit status. */
int cmd_deploy_run(struct cmd_ctx *ctx, struct run_spec *dr, bool json);
/* The same, and the exit status over the terminals this session did (those of dr->todo). */
int cmd_deploy_run_todo(struct cmd_ctx *ctx, struct run_spec *dr, bool json, int *todo_status);
/* The rollout options push (and retry) take, parsed in cmd/common.c. */
struct cmd_rollout_opts {
	char *waves;
	struct rollout_waves plan;
	struct rollout_amount max_fail, max_unreachable;
	long min_sample;
	char *rate;
	long rate_ms, soak;
	bool pause_after_wave, rollback_on_halt, ignore_window;
	time_t at, until;
	long retry_for, until_for;   /* seconds after the start */
};
/* The option codes of the rollout options without a letter of their own (push, retry). */
enum {
	CMD_OPT_RATE = 1100,
	CMD_OPT_SOAK,
	CMD_OPT_MIN_SAMPLE,
};
#define CMD_ROLLOUT_HELP \
	"      --waves LIST    cumulative waves, e.g. 1,10%,50%,100% (the last wave takes the rest), or\n" \
	"                      exp:START,xFACTOR: START terminals, then each wave FACTOR times the one\n" \
	"                      before (exp:1,x2 on 10 terminals: 1, 2, 4, 3)\n" \
	"      --max-fail N|P% halt when failed (failed installs and health checks, incl. rolled back) > N,\n" \
	"                      or > P% of the terminals started so far (rounded down); checked after each\n" \
	"                      wave (default with --waves: 0).  Unreachable terminals never count here\n" \
	"      --max-unreachable N|P%  the same for unreachable terminals, counted apart (default: no limit)\n" \
	"      --min-sample N  a percentage limit applies only once N terminals have been started\n" \
	"      --rate N/min    start at most N new terminals a minute, across waves (also N/s, N/h)\n" \
	"      --soak D        after each wave but the last, wait D (90s, 10m, 2h), then run `health` again on\n" \
	"                      the wave's terminals; one that fails is switched back and counts as failed\n" \
	"      --pause-after-wave  wait for Enter after each wave (without a TTY: stop; `fleetctl resume RUN`)\n" \
	"      --rollback-on-halt  when the run halts, put its updated terminals back on their previous release\n" \
	"      --at TIME       start at HH:MM (today or tomorrow) or an ISO 8601 time; the plan is recorded now\n" \
	"      --retry-for D   retry unreachable and busy terminals (backoff 2s..60s) for D after the start\n" \
	"      --until TIME|D  the run's deadline: a time (HH:MM, 2026-12-01, 2026-12-01T06:00) or a duration\n" \
	"                      after the start (3d); retried until then (or only for --retry-for, and the run\n" \
	"                      stays open: `fleetctl retry --all` picks up its delayed terminals until the\n" \
	"                      deadline); what is still missing then ends `expired`\n" \
	"      --ignore-window touch terminals outside their maintenance window (recorded in the history)\n"
/* Handle a rollout option: 1 handled, 0 not one, -1 bad (message printed). */
int cmd_rollout_option(struct cmd_rollout_opts *o, const char *cmdname, int opt, const char *arg);
/* Check the combination (defaults: --max-fail 0 with --waves; --soak needs --waves; --retry-for ends
 * before --until).  0 / -1 (message printed). */
int cmd_rollout_finish(struct cmd_rollout_opts *o, const char *cmdname);
void cmd_rollout_apply(const struct cmd_rollout_opts *o, struct run_spec *dr);
void cmd_rollout_opts_free(struct cmd_rollout_opts *o);
/* "HH:MM" (next such time), "YYYY-MM-DDTHH:MM[:SS][Z]", "YYYY-MM-DD HH:MM" or "YYYY-MM-DD" (its start),
 * local unless Z.  0 / -1. */
int cmd_parse_time(const char *s, time_t now, time_t *out);

/* "user@host" of whoever runs fleetctl (caller frees). */
char *cmd_operator(void);
/* Parse "-p N" for commands; -1 (message printed) when bad. */
int cmd_parse_parallel(const char *cmdname, const char *arg, long *out);

/* The table, defined in fleetctl.c. */
extern const struct cmd_entry *const cmd_table[];

#endif
