/*
 * run: one deploy run — push, rollback, resume or retry — once each terminal's target is known.  The plan
 * is journalled first (or the journal of the run being resumed reopened), a scheduled start awaited,
 * the rollout driven (waves, thresholds, retries: lib/rollout) with the deploy job, a resumed run's
 * other terminals merged back, and the run recorded as one history commit with every terminal's new
 * state, then the journal's end and the on_failure alarm (lib/alarm).
 *
 * It never prints: what people see (the plan line, waves, each terminal, the summary, warnings) goes
 * through struct run_events, on the main thread.
 */
#ifndef FLEET_RUN_H
#define FLEET_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rollout.h"

struct bundle;
struct history;
struct journal_host;

/* What to run, filled by the command; every pointer is borrowed. */
struct run_spec {
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
	bool *todo;                     /* parallel, or NULL = all: resume skips terminals already finished */
	int parallel;
	bool dry_run;
	/* rollout (lib/rollout.h) */
	const char *waves;              /* as given, or NULL: one wave */
	const struct rollout_waves *wave_plan;   /* parsed waves, or NULL */
	struct rollout_amount max_fail, max_unreachable;
	size_t min_sample;              /* --min-sample: percentages apply from this many started */
	const char *rate;               /* --rate as given ("30/min"), or NULL */
	long rate_ms;                   /* ... as the time between two new terminals (0: no limit) */
	long soak_s;                    /* --soak after each wave but the last (0: none) */
	time_t retry_until;             /* 0 = no retries */
	time_t until;                   /* --until: the run stays open until then (0: it ends with its process) */
	bool pause_after_wave, rollback_on_halt, ignore_window;
	bool no_delta;                  /* push --no-delta: the full bundle to every terminal */
	bool hardlink;                  /* push --hardlink: a delta reuses files by hard link */
	bool no_relay;                  /* --no-relay: straight to every terminal, none through its relay */
	const char *signer;             /* the key that signed the release (verified), or NULL */
	const char *shard;              /* push --shard K/N, or NULL */
	time_t at;                      /* --at, for the record; 0 = now */
	const char *resumes;            /* set when resuming this run id (its journal exists) */
	const int *wave_of;             /* resume: each host's wave from the plan (else from wave_amounts) */
	const struct journal_host *prior;  /* resume: each host's journalled state (for those not to do again) */
	int nwaves;
	size_t pickup;                  /* retry --all: an open run goes on for this many terminals (journalled) */
	/* the controller's side */
	const char *state_dir;          /* runs/ and history/ are there */
	const char *inventory_path;     /* for the plan */
	const char *on_failure;         /* [fleet] on_failure, or NULL */
	const char *operator;           /* "user@host" of whoever runs it */
	volatile sig_atomic_t *cancel;  /* set by Ctrl-C */
	bool accept_new_host_keys;
};

/* The run's outcome, for the summary. */
struct run_end {
	const char *line;               /* "push app 1.4.2-... to all: 38 ok, 2 failed; HALTED: ..." */
	uint64_t bytes_sent;            /* what left this controller */
	uint64_t bytes_relayed;         /* what relays sent on from their caches */
	int status;                     /* the exit status */
	int todo_status;                /* the same over the terminals this session did (todo) */
	bool open;                      /* it ended open: --until is ahead and terminals are still to do */
};

/* What the run says as it goes; called on the main thread, each may be NULL; arg is rollout.arg. */
struct run_events {
	struct rollout_events rollout;  /* waves, retries, pauses */
	/* The live counts while terminals are being worked on; p NULL: that is over, clear the line. */
	void (*progress)(const struct executor_progress *p, void *arg);
	/* The plan as it will be applied (waves and thresholds), before any terminal is touched. */
	void (*plan)(void *arg, const char *text);
	/* A start planned for later (--at): once with left < 0 and the time, then each second with the
	 * seconds left, then once with left 0 when the wait is over. */
	void (*wait)(void *arg, time_t at, long left);
	/* Each terminal's result, in plan order, once the rollout is over. */
	void (*host)(void *arg, const struct run_spec *s, const struct rollout *ro, size_t i);
	/* The summary, after every terminal. */
	void (*done)(void *arg, const struct run_spec *s, const struct rollout *ro, const struct run_end *end);
	/* The history commit is made (to share it: lib/histsync). */
	void (*recorded)(void *arg, struct history *h);
	/* A problem, one line without the program's name: the run stopped, or goes on after a warning. */
	void (*error)(void *arg, const char *msg);
};

/*
 * Run it.  Returns the exit status: what rollout_run returns (0, 1 failed or halted, 3 unreachable or
 * delayed, 130 interrupted), 2 when the waves cannot be planned (nothing touched), 1 when the journal
 * cannot be written or the run cannot be recorded in the history.
 */
int run_deploy(const struct run_spec *s, const struct run_events *ev);

/*
 * retry --all, once an open run's deadline has passed: its terminals still to do (journal_state_to_do)
 * are expired.  Journalled (each terminal, then the run's end: "expired", exit 3), recorded as one
 * history commit with every terminal's result (no terminal's state changes), and told to on_failure
 * (NULL: no alarm) with what each still runs.  *n: how many expired.
 * 0, or -1 with *cause (the journal could not be reopened: another controller has it, or the run is
 * gone; or the history commit failed, a warning: the journal is written by then).
 */
struct journal_run;
int run_expire(const char *state_dir, const char *on_failure, const struct journal_run *jr,
    const struct run_events *ev, size_t *n, char **cause);
/* A push of bundle b: component, label, release id, manifest and SHA-256 from it (borrowed). */
void run_spec_release(struct run_spec *s, const struct bundle *b);
/* One terminal's result as the history records it (strings borrowed from r). */
struct hist_result;
void run_hist_result(const struct host_result *r, struct hist_result *hr);
/*
 * A journalled run's rollout options back into s (waves text, thresholds, min-sample, rate, soak,
 * retries, deadline, windows, pauses, parallel, delta) from its plan (the first line of the journal);
 * strings borrowed from plan.  s->parallel stays 0 when the plan has none.
 */
struct json_t;
void run_spec_from_plan(struct run_spec *s, const struct json_t *plan);

#endif
