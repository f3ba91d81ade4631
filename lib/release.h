/*
 * release: the layout of one component on a terminal, and the shell scripts that change it.
 *
 *   ROOT/COMPONENT/releases/<id>/      unpacked releases
 *   ROOT/COMPONENT/current -> releases/<id>
 *   ROOT/COMPONENT/.fleet/incoming/    <sha256>.partial uploads (resumed by offset)
 *   ROOT/COMPONENT/.fleet/installed/   <id> markers: install finished
 *   ROOT/COMPONENT/.fleet/failed/      <id> markers: install failed (kept for debugging until pruned)
 *   ROOT/COMPONENT/.fleet/tmp/         unpack and symlink staging
 *   ROOT/COMPONENT/.fleet/openssl-ok   openssl dgst works here (checked once, not per deploy)
 *
 * An upload is a full bundle or a delta archive (lib/delta): the delta is uploaded and checked the
 * same way, unpacked, its recipe assembles the rest of the release from the releases already there,
 * and the assembled tree is checked against every file's SHA-256 before it becomes releases/<id>.
 * Where the terminal has mkfifo and tee, the archive is written, hashed and unpacked in one pass
 * (read once); it still becomes a release only when its hash is right.
 *
 * `current` is switched by creating the new link in a staging directory and renaming it over the old
 * one (works with busybox mv, which may lack -T), so there is never a moment without a valid current.
 * Pure: builds strings and parses output; every value is quoted with lib/shquote.
 */
#ifndef FLEET_RELEASE_H
#define FLEET_RELEASE_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes of the deploy script: the step that failed. */
enum {
	RELEASE_EXIT_DELTA = 89,        /* the delta could not be assembled or checked: send the full bundle */
	RELEASE_EXIT_UPLOAD = 90,
	RELEASE_EXIT_VERIFY = 91,
	RELEASE_EXIT_UNPACK = 92,
	RELEASE_EXIT_INSTALL = 93,
	RELEASE_EXIT_SWITCH = 94,
	RELEASE_EXIT_RESTART = 95,
	RELEASE_EXIT_PREFLIGHT = 96,
	RELEASE_EXIT_BUSY = 97,         /* the busy command said 75 before the switch: nothing switched */
	RELEASE_EXIT_ROLLED_BACK = 98,  /* unhealthy after restart: switched back to the previous release */
	RELEASE_EXIT_UNHEALTHY = 99     /* unhealthy, and no previous release to go back to */
};

struct release_probe {
	char *missing;        /* tools the terminal lacks (space-separated), or NULL */
	bool cannot_write;    /* mkdir under ROOT failed */
	char *current;        /* release id current points at ("" = none, or not a release) */
	bool installed;       /* releases/<id> exists with its installed marker */
	uint64_t partial;     /* bytes of <sha256>.partial already there */
	int lock;             /* 0 no lock asked, 1 taken, -1 held by another run */
	bool busy;            /* the busy command exited 75 */
	uint64_t dpartial;    /* bytes of the delta's <sha256>.partial already there */
	char *nobase;         /* first base release the delta needs that is not installed there, or NULL */
	bool nodelta;         /* lacks cp or dd: no delta */
	bool fifo;            /* has mkfifo and tee: single-pass upload */
};
void release_probe_free(struct release_probe *p);

/* Script that checks tools, makes the layout, and reports current / installed / partial.  lock_snippet
 * (lib/termlock) takes the terminal's lock first, when not NULL; busy (the group's busy command) is run
 * last when not NULL, and "busy=1" printed when it exits 75.  It also reports whether the terminal can
 * upload in one pass ("fifo=1"); with delta_sha256, the delta's partial upload and every base in the
 * NULL-terminated bases that is not installed ("nobase="), or "nodelta=1" without cp, dd or chmod. */
char *release_probe_script(const char *root, const char *component, const char *id, const char *sha256,
    const char *compression, const char *lock_snippet, const char *busy, long timeout, const char *delta_sha256,
    const char *const *bases);
/* Parse its stdout.  0, or -1 when the output is not what the script prints. */
int release_probe_parse(const char *out, struct release_probe *p);

struct release_deploy {
	const char *root, *component;
	const char *id, *version, *sha256, *compression;
	uint64_t size;            /* archive bytes */
	const char *delta_sha256; /* set: what travels is this delta archive instead of the bundle */
	uint64_t delta_size;
	bool single_pass;         /* the terminal has mkfifo and tee */
	bool upload;              /* stdin carries the archive (bundle or delta) from offset `partial` */
	bool fresh;               /* empty the partial file first (upload from offset 0) */
	bool unpack;              /* false when releases/<id> is installed already: switch only */
	const char *previous;     /* release id current pointed at ("" = none) */
	const char *install;      /* group's install command, or NULL */
	const char *restart;      /* restart command, or NULL */
	long step_timeout;        /* seconds for install and restart each */
	const char *const *keep;  /* NULL-terminated ids to keep when pruning (besides new and previous) */
	int keep_count;           /* > 0: prune releases not kept */
	const char *busy;         /* checked again right before the switch, or NULL */
	const char *health;       /* run after restart, or NULL */
	long health_retries;      /* attempts (>= 1) */
	long health_interval;     /* seconds between attempts */
	const char *unlock_snippet;  /* run when the script exits, whatever happens (lib/termlock), or NULL */
};
/* The script that uploads (stdin), verifies, unpacks, installs, switches, restarts and prunes.
 * It prints "step=NAME" before each step and exits with RELEASE_EXIT_* on failure. */
char *release_deploy_script(const struct release_deploy *d);
/* The last "step=" value in a deploy script's stdout (static string), or NULL. */
const char *release_failed_step(const char *out, int exit_code);

/* Script that prints the release id current points at for each component given (one "COMP=ID" line each). */
char *release_status_script(const char *root, const char *const *components);

#endif
