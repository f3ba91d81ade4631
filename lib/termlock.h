/*
 * termlock: the lock that lives on a terminal, so two controllers, operators or CI jobs never change
 * one terminal at once.
 *
 * The lock is the directory ROOT/.fleet-lock, taken with a plain mkdir (atomic on every POSIX
 * filesystem); ROOT/.fleet-lock/info holds the holder as "key=value" lines (run_id, kind, operator,
 * controller, pid, time, deadline).  This module is pure: it builds the remote shell text (every value
 * quoted by lib/shquote, control characters removed from values first so each stays on one line) and
 * parses what that text prints.  The snippets need only a POSIX shell with mkdir, mv, rm, grep and sed.
 */
#ifndef FLEET_TERMLOCK_H
#define FLEET_TERMLOCK_H

#define TERMLOCK_DIR ".fleet-lock"          /* ROOT/.fleet-lock: one lock per terminal, all components */

struct termlock_info {
	char *run_id, *operator, *controller, *kind;   /* kind: push, rollback, ...; any may be NULL */
	long pid;              /* 0 = unknown */
	long long time;        /* epoch seconds it was taken; 0 = unknown */
	long long deadline;    /* epoch seconds after which it is stale; 0 = unknown (never stale by time) */
};
/* Free the members (not i itself) and zero them; NULL is a no-op. */
void termlock_info_free(struct termlock_info *i);

/*
 * A shell snippet (to embed in a larger script, ends with "; ") that tries to take the lock at
 * ROOT/.fleet-lock: mkdir is the atomic test; on success it writes ROOT/.fleet-lock/info and prints
 * "lock=ok"; if the lock is held by the SAME run id (a resume/retry of that run) it prints "lock=ok"
 * too (re-entrant); otherwise it prints "lock=held" followed by the holder's info lines prefixed
 * "lockinfo." and does NOT exit — the caller's script decides.  When the lock directory cannot be
 * made for another reason (ROOT not writable) it prints "lock=error".  Caller frees.
 */
char *termlock_acquire_snippet(const char *root, const struct termlock_info *me);
/* Snippet that removes the lock only if it is held by run_id: prints "unlock=ok", else "unlock=notmine"
 * (also when there is no lock at all).  Ends with "; ".  Caller frees. */
char *termlock_release_snippet(const char *root, const char *run_id);
/* Whole script: print "lock=none" or "lock=held" + "lockinfo." lines.  Caller frees. */
char *termlock_status_script(const char *root);
/* Whole script: print the status as termlock_status_script does (who held it), then remove the lock
 * (only if held by run_id when run_id != NULL) and print "broken=1", else "broken=0".  Caller frees. */
char *termlock_break_script(const char *root, const char *run_id);

/*
 * Parse output containing a "lock=..." line and "lockinfo.KEY=VALUE" lines (other lines are ignored;
 * the first "lock=" line counts).  Returns 1 held (fills *holder when holder != NULL; it is zeroed
 * first, free it with termlock_info_free), 0 ok/none, -1 malformed (no lock= line, "lock=error" or an
 * unknown value).  Unknown keys and bad numbers are ignored.
 */
int termlock_parse(const char *out, struct termlock_info *holder);

/* Stale: now > deadline (an unknown deadline never is), the run is known to have ended (run_ended != 0),
 * or its holder is gone (termlock_holder_gone). */
int termlock_stale(const struct termlock_info *i, long long now, int run_ended);

/* The holder was a controller on this machine (same host name) whose process is gone (a killed
 * controller): its lock protects nothing.  1 yes, 0 no or cannot tell. */
int termlock_holder_gone(const struct termlock_info *i);

#endif
