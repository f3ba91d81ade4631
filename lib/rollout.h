/*
 * rollout: put a release on many terminals safely — in waves, halting when a threshold is crossed,
 * deferring busy terminals and those outside their maintenance window, retrying the unreachable ones
 * until a deadline, journalling every terminal's state as it changes.
 *
 * Definitions (printed before a run and documented in fleetctl(1)):
 *   waves      cumulative: "1,10%,50%,100%" means 1 terminal, then up to 10% of all, then 50%, then
 *              the rest.  A percentage rounds up and every wave holds at least one terminal; the last
 *              wave always takes the rest.
 *   thresholds checked after each wave over every terminal started so far (all waves): the run halts
 *              when failed > limit, or unreachable > limit.  A percentage limit is that share of the
 *              terminals started so far, rounded down.  failed counts failed and rolled-back;
 *              unreachable counts unreachable, hostkey, auth and timeout.  Busy, locked and delayed
 *              terminals count for neither.
 * The pure functions here are unit-tested; rollout_run drives the executor with the deploy job.
 */
#ifndef FLEET_ROLLOUT_H
#define FLEET_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "deploy.h"
#include "executor.h"

struct rollout_amount {
	long value;       /* count, or percent when pct */
	bool pct;
	bool set;         /* false = no limit */
};

/* "1,10%,50%,100%" -> amounts (caller frees *out).  0 / -1 with *cause. */
int rollout_parse_waves(const char *s, struct rollout_amount **out, size_t *n, char **cause);
/* "2" or "2%" -> amount.  0 / -1. */
int rollout_parse_amount(const char *s, struct rollout_amount *a);
/* Cumulative end index of each wave for n terminals (caller frees); *nwaves set. */
size_t *rollout_wave_ends(const struct rollout_amount *w, size_t nw, size_t n, size_t *nwaves);
/* The limit an amount means when `started` terminals have been started (no limit: SIZE_MAX). */
size_t rollout_limit(const struct rollout_amount *a, size_t started);
/* "HH:MM-HH:MM" contains minute-of-day m (windows may wrap midnight).  -1 on a malformed window. */
int rollout_in_window(const char *window, int minute_of_day);
/* Minute of the day now in zone tz (NULL/"" = local).  Main thread only (it sets TZ briefly). */
int rollout_minute_now(const char *tz, time_t now);
/* Backoff before retry attempt k (0-based): 2 s doubling to 60 s, with +-25% jitter, in ms. */
long rollout_backoff_ms(int attempt, unsigned rnd);

struct rollout_events {
	/* Called on the main thread; may be NULL. */
	void (*wave_start)(void *arg, int wave, int nwaves, size_t count);
	void (*wave_end)(void *arg, int wave, size_t ok, size_t failed, size_t unreachable, bool halted, const char *why);
	void (*retry)(void *arg, size_t count, long wait_ms);
	/* Pause after a wave: return true to go on, false to stop here (the run stays resumable). */
	bool (*pause)(void *arg, int wave);
	void *arg;
};

struct rollout {
	/* in */
	struct inv_host **hosts;
	size_t n;
	struct deploy_target *targets;     /* parallel to hosts */
	int *wave_of;                      /* parallel: wave index of each host (filled by rollout_plan) */
	int nwaves;
	bool *todo;                        /* parallel: still to be done (resume skips finished ones) */
	struct rollout_amount max_fail, max_unreachable;
	time_t retry_until;                /* 0 = no retries */
	bool pause_after_wave;
	bool rollback_on_halt;
	bool ignore_window;
	bool dry_run;
	bool no_relay;                /* --no-relay: every terminal direct (through its jump), none via its relay */
	struct executor_opts eo;
	struct journal *journal;
	const struct termlock_info *lock;
	struct rollout_events ev;
	/* out */
	struct host_result *results;       /* parallel to hosts; state HS_SKIPPED if never started */
	struct deploy_outcome *outcomes;
	bool halted;
	bool paused;
	char *halt_reason;
};

/* Assign waves to hosts (in inventory order).  0 / -1 with *cause. */
int rollout_plan(struct rollout *ro, const struct rollout_amount *waves, size_t nw, char **cause);
/* Run it.  Returns the exit status (0, 1 failed/halted, 3 unreachable/delayed, 130 interrupted). */
int rollout_run(struct rollout *ro);
void rollout_free(struct rollout *ro);   /* frees results, outcomes, wave_of, todo, halt_reason */

/*
 * A resumed run: the terminals it did not do again (todo false) had ended failed or rolled back, and
 * stay so, with the step and error the journal recorded (prior, parallel to hosts).  Returns the run's
 * exit status over all of them.
 */
struct journal_host;
int rollout_merge_prior(struct rollout *ro, const struct journal_host *prior, bool interrupted);

#endif
