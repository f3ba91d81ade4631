/*
 * histsync: one history shared by many controllers through a git remote (history_remote in fleet.ini).
 *
 * The remote is a bare repository reached as a path or file:// URL (libgit2's local transport); its
 * refs/heads/main is the shared trail, fetched into refs/remotes/shared/main.  A pull brings the
 * local main up to it: fast-forward when the local copy has nothing of its own; otherwise every local
 * commit the remote lacks is rebuilt, oldest first, on the remote's tip with the same author, time and
 * message, merging by rule: in a terminal's state file each side keeps what its operation changed
 * (a run that was locked out does not undo the other's switch) and the last_* fields come from the
 * newer operation; a release order keeps both lists; anything else is this commit's.  A push sends main;
 * when another controller pushed first it pulls (rebuilding this commit on theirs) and tries again,
 * a bounded number of times.  Nothing is ever dropped: a commit that cannot reach the remote stays in
 * the local history and goes with the next pull/push.
 *
 * ssh:// is refused: the Debian libgit2 1.5 has an SSH transport, but it does not check the server's
 * host key against known_hosts, and a history that anybody in the middle can rewrite is no audit trail.
 */
#ifndef FLEET_HISTSYNC_H
#define FLEET_HISTSYNC_H

#include <stddef.h>

#include "history.h"

/* 0 when url is a kind the sync accepts (a path or file://), else -1 with *cause naming why. */
int histsync_check_url(const char *url, char **cause);

/* Fetch and integrate the remote (see above).  0, or -1 with *cause (the local history is untouched
 * when the remote cannot be read). */
int histsync_pull(struct history *h, const char *url, char **cause);

/* Push main, pulling and retrying when it lost a race.  0, or -1 with *cause (the commits stay local). */
int histsync_push(struct history *h, const char *url, char **cause);

/* Runs recorded by other controllers (runs/<id>.json in the history) written to runs_dir/<id>.jsonl where
 * this controller has no journal of that run, so that `runs` and `show` see every controller's runs.
 * 0 with *written, or -1 with *cause. */
int histsync_export_runs(struct history *h, const char *runs_dir, size_t *written, char **cause);

/* Local commits the remote lacks (as last fetched), newest first: hex ids (NULL-terminated, caller frees
 * with strv_free; empty when none).  0 / -1 with *cause. */
int histsync_unpushed(struct history *h, char ***ids, char **cause);

#endif
