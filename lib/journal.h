/*
 * journal: the on-disk record of one run (push, rollback, remote action), written as it happens so that a
 * controller killed mid-run loses nothing.  One file per run, STATE_DIR/runs/<run_id>.jsonl: the plan as the
 * first line, then one JSON line per change of a terminal's state and per event, each written whole with one
 * write() to an O_APPEND descriptor and fsync'd before the call returns.
 *
 * The writer holds an OFD write lock on the file while it is open; a reader tests that lock (and the recorded
 * controller pid) to tell a running run from an interrupted one.
 */
#ifndef FLEET_JOURNAL_H
#define FLEET_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* journal_read's return when the run does not exist (other failures: -1). */
#define JOURNAL_ENOENT (-2)

struct journal;   /* an open run journal for appending; safe to call from several threads (internal mutex) */

/* Run ids become file names: [A-Za-z0-9._-] only, 1..128 characters, not starting with '.'. */
bool journal_valid_id(const char *run_id);

/* Create STATE_DIR/runs/<run_id>.jsonl (dirs created; O_EXCL: an existing run id is an error) and write the
 * plan as the first line: {"t":"plan","run":ID,"time":ISO,"pid":N,"pid_start":..,"controller":"hostname",
 * ...plan fields}.  `plan` is a JSON object the caller builds (kind, operator, selection, release, waves,
 * hosts, options...); it is copied, not stolen, and cannot override the keys above.  fsync the file and its
 * directory.  0 / -1 with *cause. */
int journal_create(const char *state_dir, const char *run_id, json_t *plan, struct journal **out, char **cause);
/* Reopen an existing run's journal for appending (resume); writes {"t":"resume","pid":N,"controller":..,
 * "time":..}.  A torn final line (crash mid-write) is cut off first.  Fails if another controller still has
 * the run open.  0 / -1 (JOURNAL_ENOENT when there is no such run). */
int journal_reopen(const char *state_dir, const char *run_id, struct journal **out, char **cause);
/* Append {"t":"state","host":H,"state":S,"time":ISO[,"step":..][,"error":..][,"wave":N]} and fsync.
 * step, error may be NULL; wave < 0 = not written.  Thread-safe; concurrent callers share fsyncs (group
 * commit) but each returns only once its own line is on disk.  0 / -1. */
int journal_state(struct journal *j, const char *host, const char *state, const char *step, const char *error, int wave);
/* Append an event {"t":TYPE,"time":ISO, ...fields} and fsync (fields copied; may be NULL).  Types the lead
 * uses: "wave" {n, state: started|done|halted, ok, failed, unreachable}, "pause" {after_wave},
 * "soak" {after_wave, state: started|done, seconds, terminals | checked, unhealthy},
 * "pickup" {terminals} (retry --all goes on with an open run), "end" {result: done|halted|interrupted|
 * open|expired, exit}.  0 / -1. */
int journal_event(struct journal *j, const char *type, json_t *fields);
/* The line journal_event would write now (with its newline; caller frees), for a copy of the journal
 * that must already hold it (the history's, written before the journal gets its end). */
char *journal_event_text(const char *type, json_t *fields);
/* The first write error seen by this journal (borrowed; NULL if none). */
const char *journal_error(const struct journal *j);
/* Close and release the lock.  NULL is a no-op. */
void journal_close(struct journal *j);

/* Reading back (any process). */
struct journal_host {
	char *host;
	char *state;          /* last state ("planned" if never mentioned) */
	char *step, *error;   /* of the last state, or NULL */
	char *time;           /* of the last state (the plan's time if never mentioned) */
	int wave;             /* last wave seen for it, -1 none */
	json_t *lifecycle;    /* array of {"state","time"[,"step"][,"error"][,"wave"]}, in order; planned first */
};
struct journal_run {
	char *id;
	json_t *plan;                 /* the plan line's object */
	char *status;                 /* "running" (no end, controller alive on this host), "interrupted" (no end,
	                               * controller gone), "paused" (last event pause), or the end's result:
	                               * "done", "halted", "open" (its deadline, plan options.until, is ahead
	                               * and terminals are still to do) or "expired" (its deadline passed) */
	bool expiry_unwritten;        /* an open run whose deadline has passed reads as expired, and its
	                               * terminals still to do as expired, before anything wrote it down */
	int exit_status;              /* from the end event, -1 if none */
	struct journal_host *hosts;   /* in plan order: plan["hosts"] is an array of names; hosts never mentioned
	                               * stay "planned"; hosts only seen in state lines follow, in order seen */
	size_t nhosts;
	json_t *events;               /* array of every non-state line after the plan (resume lines included) */
	bool torn;                    /* the final line was incomplete (crash mid-write) and was ignored */
	size_t bad_lines;             /* complete lines that were not valid journal lines (skipped) */
};
/* Read STATE_DIR/runs/<run_id>.jsonl.  0 / -1 with *cause, JOURNAL_ENOENT when there is no such run.
 * An open run whose deadline has passed comes back expired (expiry_unwritten set). */
int journal_read(const char *state_dir, const char *run_id, struct journal_run **out, char **cause);
void journal_run_free(struct journal_run *r);
/* The run as one JSON object: id, status, exit_status, torn, bad_lines, plan, events, hosts (each host's
 * fields, its phase and lifecycle).  New reference. */
json_t *journal_run_json(const struct journal_run *r);
/* Is a terminal in this state still to do (unreachable, timeout, busy, locked, delayed)?  An open run's
 * such terminals are what `retry --all` picks up. */
bool journal_state_to_do(const char *state);
/* Where a terminal stands, in seven words: pending (planned, or skipped by a halt), sent, installed,
 * done, failed (failed, rolled back, refused: hostkey, auth, interrupted), delayed (still to do) or
 * expired.  An unknown state is returned as it is (static strings or state). */
const char *journal_phase(const char *state);
/* {"done":18,"failed":1,...}: terminals by last state, known states in lifecycle order first.  New reference. */
json_t *journal_run_counts(const struct journal_run *r);
/* "18 done, 1 failed, 1 unreachable" from journal_run_counts ("no terminals" when none); caller frees. */
char *journal_counts_text(const struct journal_run *r);
/* Run ids under STATE_DIR/runs, newest first (ids sort by time).  NULL-terminated (strv_free).
 * No runs directory yet: an empty list.  0 / -1. */
int journal_list(const char *state_dir, char ***ids, char **cause);
/* The whole file's text (for storing in the history as runs/<id>.json at the end); caller frees.  0 / -1. */
int journal_text(const char *state_dir, const char *run_id, char **text, char **cause);

#endif
