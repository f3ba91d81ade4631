/*
 * history: the fleet's audit trail, a bare git repository at STATE_DIR/history (libgit2).
 *
 * One commit per operation on refs/heads/main, written without a work tree and readable with plain
 * `git log --stat`.  The tree holds:
 *   hosts/<host>/<component>            the terminal's state for that component ("key: value" lines)
 *   releases/<component>/<id>.manifest  the release's manifest text
 *   releases/<component>/<id>.sha256    the archive's sha256 (rollback finds the bundle by it)
 *   releases/<component>/.order         release ids in the order they were first recorded
 *   runs/<run-id>.json                  the full run record
 * Commit message: the summary line, then "Key: value" headers (Run, Kind, Component, Selection, Command,
 * Release, Terminals), then one line per terminal "HOST STATE [step] [exit N] [Nms] [error]", then the
 * extra text, then trailers (Actor).
 *
 * Writers serialise on flock(STATE_DIR/history.lock) and swap the branch with a compare-and-swap, so
 * two fleetctl processes recording at once both land.  Every libgit2 call happens on the calling thread;
 * git_libgit2_init() must have been called.  Host, component, release and run names become tree paths
 * and are validated (no '/', no "..", no leading '.', no blanks or control characters).
 */
#ifndef FLEET_HISTORY_H
#define FLEET_HISTORY_H

#include <stdbool.h>
#include <stddef.h>

/* A terminal's state for one component, as the history knows it.  Stored as the text file
 * hosts/<host>/<component> ("key: value" lines, stable order, readable in `git log -p`). */
struct hist_state {
	char *current;        /* release id the terminal should run, or NULL */
	char *previous;       /* the release it ran before current (rollback default target), or NULL */
	char **good;          /* NULL-terminated: release ids that finished installing, newest first (no duplicates) */
	char **failed;        /* NULL-terminated: release ids whose install failed on this terminal */
	char *last_op;        /* "push", "rollback", "restart", ... */
	char *last_result;    /* "ok", "failed:install", "unreachable", ... */
	char *last_run;       /* run id */
	char *updated;        /* ISO 8601 UTC time */
};
void hist_state_free(struct hist_state *s);   /* frees members, not s; NULL is a no-op */

/* Text of a state file as history_record writes it (caller frees).  Unset members are left out;
 * duplicate ids in good/failed are written once; control characters become '?'. */
char *hist_state_format(const struct hist_state *s);
/* Parse a state file's text into *out (zeroed first); unknown keys are ignored. */
void hist_state_parse(const char *text, struct hist_state *out);

struct hist_result {            /* one terminal's result in an operation; all borrowed */
	const char *host;
	const char *state;          /* ok failed unreachable hostkey auth timeout skipped rolled-back locked busy delayed */
	const char *step;           /* failed step (upload verify install switch restart ...) or NULL */
	const char *error;          /* short error / stderr tail, or NULL */
	int exit_code;              /* remote exit code, -1 if none */
	long duration_ms;           /* < 0: not shown */
	bool bytes;                 /* show what travelled: "sent=N reused=N" (bytes) */
	unsigned long long bytes_sent, bytes_reused;
	const char *relay;          /* went through this relay: "via=NAME staged=N" (bytes into its cache), or NULL */
	unsigned long long bytes_staged;
	const struct hist_state *new_state;  /* the host/component file to write, or NULL = leave unchanged.
					      * last_op, last_run, updated default to op->kind, op->run_id, now. */
};

struct hist_op {                /* all borrowed */
	const char *kind;           /* push rollback exec install restart shutdown reboot lock-break ... */
	const char *run_id;         /* e.g. 20261126T104512.345Z-1a2b3c */
	const char *summary;        /* one line: "push app 1.4.2 to lobby: 38 ok, 1 failed, 1 unreachable" */
	const char *component;      /* or NULL (required when a result has new_state or a release is stored) */
	const char *command;        /* the command line or remote command, for the body; or NULL */
	const char *selection;      /* the -l pattern, or NULL */
	const char *release_id;     /* or NULL */
	const char *release_manifest; /* manifest text to store as releases/<component>/<release_id>.manifest, or NULL */
	const char *release_sha256; /* archive sha256 recorded in releases/<component>/<id>.sha256, or NULL */
	const char *run_json;       /* full run record to store as runs/<run_id>.json, or NULL */
	const char *extra;          /* extra body text (e.g. "ignore-window: yes"), or NULL */
	const struct hist_result *results;
	size_t nresults;
};

struct history;

/* Open STATE_DIR/history, creating STATE_DIR and the repository if missing.  0 / -1 with *cause. */
int history_open(const char *state_dir, struct history **out, char **cause);
void history_close(struct history *h);   /* NULL is a no-op */

/* For lib/histsync: the repository, and the lock every writer of main holds while it moves it. */
struct git_repository;
struct git_tree;
struct git_repository *history_repo(struct history *h);
/* libgit2's message for the error that just happened on this thread. */
const char *history_git_error(void);
/* The blob at path in tree, NUL-terminated (at most 64 MiB): 0, 1 not found, -1 with *cause. */
int history_tree_blob(struct git_repository *repo, struct git_tree *tree, const char *path, char **text,
    char **cause);
int history_write_lock(struct history *h, int *fd, char **cause);
void history_write_unlock(int fd);   /* fd < 0 is a no-op */

/* Record one operation as one commit on refs/heads/main.  Author and committer come from git config
 * user.name/user.email, else "$USER@hostname"; $FLEETCTL_ACTOR (else $CI_PIPELINE_ID, $GITHUB_RUN_ID)
 * becomes an "Actor:" trailer.  commit_hex (may be NULL) receives the new commit id.  0 / -1 with *cause. */
int history_record(struct history *h, const struct hist_op *op, char commit_hex[41], char **cause);

/* State of host/component at the tip (0 found, 1 not found -> *out zeroed, -1 error). */
int history_host_state(struct history *h, const char *host, const char *component, struct hist_state *out, char **cause);

/* Has the run been recorded (runs/<run_id>.json at the tip)?  1 yes, 0 no, -1 with *cause. */
int history_has_run(struct history *h, const char *run_id, char **cause);
/* The run's journal as last recorded (runs/<run_id>.json at the tip; caller frees): 0, 1 not recorded
 * (*text NULL), -1 with *cause. */
int history_run_text(struct history *h, const char *run_id, char **text, char **cause);

/* sha256 recorded for a release of a component (0 found, 1 not, -1 error); *sha caller frees. Also the manifest. */
int history_release_sha256(struct history *h, const char *component, const char *release_id, char **sha, char **cause);
int history_release_manifest(struct history *h, const char *component, const char *release_id, char **text, char **cause);

/* Find release ids of a component whose id equals `name` or whose version (id minus the last "-<12hex>") equals it;
 * newest recorded first.  NULL-terminated array (caller frees with strv_free from lib/util.h); an empty
 * array when none match.  0 / -1 with *cause. */
int history_find_releases(struct history *h, const char *component, const char *name, char ***ids, char **cause);

/* Walk operations newest first: calls cb for each commit (filtered: host != NULL keeps only commits whose
 * results name that host).  Stop after n (0 = all).  The entry's strings are borrowed for the call only.
 * cb returns 0 to go on, > 0 to stop (history_log returns 0), < 0 to stop and have history_log return it.
 * An empty history calls cb never and returns 0.  -1 with *cause on a libgit2 error. */
struct hist_entry { const char *commit; const char *author; const char *email; long long time; const char *summary; const char *body; };
int history_log(struct history *h, const char *host, size_t n, int (*cb)(const struct hist_entry *, void *), void *arg, char **cause);
/* Does a commit body (hist_entry.body) name one of hosts in its result lines?  hosts sorted by strcmp. */
bool hist_body_names_any(const char *body, const char *const *hosts, size_t nhosts);

#endif
