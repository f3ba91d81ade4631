/*
 * deploy: the per-terminal job behind push and rollback — probe, preflight, upload (resumed),
 * verify, unpack, install, switch, restart, prune — as an executor job.
 *
 * One connection per terminal and two commands on it: the probe, then one deploy script that reads
 * the archive from stdin (see lib/release).  A terminal that already has the release installed gets
 * no upload: only the switch (and restart).
 */
#ifndef FLEET_DEPLOY_H
#define FLEET_DEPLOY_H

#include <stdbool.h>
#include <stdint.h>

#include "delta.h"
#include "executor.h"
#include "history.h"

/* What to put on one terminal; prepared on the main thread. */
struct deploy_target {
	const char *archive;          /* local archive path (the bundle store), or NULL: switch only */
	const char *id, *version, *sha256, *compression, *component;
	uint64_t size;
	char **keep;                  /* NULL-terminated release ids to keep besides new and previous */
	int keep_count;               /* 0 = no pruning */
	char *refusal;                /* set: fail this terminal with this message without touching it (owner: caller) */
	struct delta_built *delta;    /* send this delta instead when the terminal has its bases, or NULL */
	bool owns_delta;              /* this target frees delta (targets of one group share it) */
};

/* What happened on one terminal (host_result.data points at one of these). */
struct deploy_outcome {
	char *previous;               /* release id current pointed at before ("" none) */
	bool changed;                 /* current now points at the target */
	bool unchanged;               /* it already did: nothing done */
	bool installed;               /* the target finished installing (now or before) */
	bool install_failed;          /* its install command failed */
	bool uploaded;
	uint64_t bytes_sent;
	uint64_t resumed_from;        /* upload resumed at this offset */
	bool delta;                   /* what went (or would go) was a delta */
	char *delta_fallback;         /* a delta was planned but the full bundle went: why */
	size_t files_reused;          /* copied on the terminal from releases it had */
	uint64_t bytes_reused;
	char *plan;                   /* --dry-run: what would happen */
	const char *relay;            /* the relay it went through (inventory name), or NULL */
	uint64_t bytes_staged;        /* sent by this terminal's job into its relay's cache */
};

struct journal;
struct relay_table;
struct termlock_info;

struct deploy_plan {
	struct deploy_target *targets;     /* parallel to the hosts given to executor_run */
	struct deploy_outcome *outcomes;   /* likewise; filled by the workers */
	struct host_result *results;       /* the array given to executor_run (to find the index) */
	bool dry_run;
	struct journal *journal;           /* each terminal's states are journalled as they happen, or NULL */
	int wave;                          /* for the journal; -1 none */
	const struct termlock_info *lock;  /* take the terminal's lock as this run, or NULL: no locking */
	bool rollback;                     /* a rollback: switch and restart, no health check */
	struct relay_table *relays;        /* terminals with a relay go through it (lib/relay), or NULL: all direct */
};

/* The executor job: arg is a struct deploy_plan. */
void deploy_run_host(struct executor_worker *w, struct host_result *r, void *arg);
void deploy_outcomes_free(struct deploy_outcome *o, size_t n);
void deploy_outcome_clear(struct deploy_outcome *o);   /* frees the members, zeroes o */

#endif


/*
 * The history state of a terminal after this outcome (*out filled, caller frees with hist_state_free),
 * from its state before.  kind is "push" or "rollback".  Returns 0, or 1 when nothing is to be written
 * (a dry run or a terminal that was never started).
 */
int deploy_next_state(const struct hist_state *old, const struct deploy_target *t, const struct deploy_outcome *o,
    const struct host_result *r, bool dry_run, struct hist_state *out);
