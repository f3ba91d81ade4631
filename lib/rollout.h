/*
 * rollout: put a release on many terminals safely — in waves, halting when a threshold is crossed,
 * starting new terminals no faster than a rate, soaking each wave before the next, deferring busy
 * terminals and those outside their maintenance window, retrying the unreachable ones until a
 * deadline, journalling every terminal's state as it changes.
 *
 * Definitions (printed before a run and documented in fleetctl(1)):
 *   waves      cumulative: "1,10%,50%,100%" means 1 terminal, then up to 10% of all, then 50%, then
 *              the rest.  A percentage rounds up and every wave holds at least one terminal; the last
 *              wave always takes the rest.  Exponential: "exp:1,x2" means waves of 1, 2, 4, 8...
 *              terminals (START, then each wave FACTOR times the one before), the last taking what is left.
 *   thresholds checked after each wave over every terminal started so far (all waves): the run halts
 *              when failed > limit, or unreachable > limit.  A percentage limit is that share of the
 *              terminals started so far, rounded down, and applies only once min_sample terminals
 *              have been started (a count limit always applies).  failed counts failed and
 *              rolled-back (install, restart and health failures, the soak's health check
 *              included); unreachable counts unreachable, hostkey, auth and timeout.  Busy, locked,
 *              delayed and expired terminals count for neither.
 *   rate       at most one new terminal every rate_ms, across waves: each start waits until rate_ms
 *              after the one before (retries and rollbacks are not new terminals).
 *   soak       after each wave but the last, wait soak_s, then run the health command again on the
 *              terminals the wave updated; one that fails it is switched back to the release it ran
 *              before (rolled-back, as an unhealthy terminal after its restart is), then the
 *              thresholds are checked.
 *   deadline   until: what is still to do at the end (unreachable, timed out, busy, outside its
 *              window) ends delayed while the deadline is ahead, expired once it has passed.
 * The pure functions here are unit-tested; rollout_run drives the executor with the deploy job.
 */
#ifndef FLEET_ROLLOUT_H
#define FLEET_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "deploy.h"
#include "executor.h"

struct journal_host;

struct rollout_amount {
	long value;       /* count, or percent when pct */
	bool pct;
	bool set;         /* false = no limit */
};

/* How a run is cut into waves: a cumulative list, or an exponential series. */
struct rollout_waves {
	struct rollout_amount *amounts;   /* "1,10%,100%", or NULL */
	size_t n;
	long exp_start, exp_factor;       /* "exp:START,xFACTOR" when exp_start > 0 */
};

/* "1,10%,50%,100%" or "exp:1,x2" -> *w (free with rollout_waves_free).  0 / -1 with *cause. */
int rollout_parse_waves(const char *s, struct rollout_waves *w, char **cause);
void rollout_waves_free(struct rollout_waves *w);   /* frees the members; w itself is the caller's */
/* "2" or "2%" -> amount.  0 / -1. */
int rollout_parse_amount(const char *s, struct rollout_amount *a);
/* Cumulative end index of each wave for n terminals (caller frees); *nwaves set. */
size_t *rollout_wave_ends(const struct rollout_waves *w, size_t n, size_t *nwaves);
/* The limit an amount means when `started` terminals have been started (no limit: SIZE_MAX). */
size_t rollout_limit(const struct rollout_amount *a, size_t started);
/* The same with --min-sample: a percentage limit does not apply (SIZE_MAX) before min_sample started. */
size_t rollout_limit_sampled(const struct rollout_amount *a, size_t started, size_t min_sample);
/* "30/min", "2/s", "100/h" -> the milliseconds between two starts (at least 1).  0 / -1. */
int rollout_parse_rate(const char *s, long *interval_ms);
/* When the next new terminal may start: now for the first, else no sooner than interval_ms after the
 * start before it (prev_ms); times in ms on one clock.  A start that comes late earns no burst. */
int64_t rollout_rate_next(bool first, int64_t prev_ms, int64_t now_ms, long interval_ms);
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
	/* A soak after wave `wave`: before it (count terminals to check again, seconds), and after it
	 * (unhealthy of them failed the health check and were rolled back, or failed). */
	void (*soak_start)(void *arg, int wave, size_t count, long seconds);
	void (*soak_end)(void *arg, int wave, size_t checked, size_t unhealthy);
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
	/* Resumed or continued: each host's journalled state (parallel), which those not to do again
	 * (todo false) keep: done stays ok, failed and rolled-back stay so, and count for the thresholds. */
	const struct journal_host *prior;
	struct rollout_amount max_fail, max_unreachable;
	size_t min_sample;                 /* percentage limits apply from this many started (0: always) */
	long rate_ms;                      /* at most one new terminal every rate_ms (0: no limit) */
	long soak_s;                       /* soak after each wave but the last (0: none) */
	time_t retry_until;                /* 0 = no retries */
	time_t until;                      /* the run's deadline: after it, what is missing is expired (0: none) */
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

/* Assign waves to hosts (in inventory order; waves NULL: one wave).  0 / -1 with *cause. */
int rollout_plan(struct rollout *ro, const struct rollout_waves *waves, char **cause);
/* Run it.  Returns the exit status (0, 1 failed/halted, 3 unreachable/delayed, 130 interrupted). */
int rollout_run(struct rollout *ro);
void rollout_free(struct rollout *ro);   /* frees results, outcomes, wave_of, todo, halt_reason */
/* The plan line: waves and thresholds exactly as they are applied, and the rate, soak, min-sample and
 * deadline when set (caller frees).  waves_spec and rate_spec are as given (--waves, --rate), or NULL. */
char *rollout_plan_text(const struct rollout *ro, const char *waves_spec, const char *rate_spec);

/* Is a terminal in this state still to do (retried while the run's deadline is ahead)? */
bool rollout_retryable(enum host_state s);
/* The exit status over the terminals this session did (todo), as rollout_run's. */
int rollout_todo_status(const struct rollout *ro, bool interrupted);

#endif
