/* rollout: waves, thresholds, windows, busy and unreachable retries over the deploy job. */
#include "rollout.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "journal.h"
#include "relay.h"

int
rollout_parse_amount(const char *s, struct rollout_amount *a)
{
	size_t len = s != NULL ? strlen(s) : 0;
	char *num;
	long v;
	int rc = -1;

	memset(a, 0, sizeof(*a));
	if (len == 0)
		return -1;
	a->pct = s[len - 1] == '%';
	num = xstrndup(s, a->pct ? len - 1 : len);
	if (parse_long(num, 0, a->pct ? 100 : 10000000, &v) == 0) {
		a->value = v;
		a->set = true;
		rc = 0;
	}
	free(num);
	return rc;
}

/* "exp:START,xFACTOR": waves of START, START*FACTOR, ... terminals.  0 / -1 with *cause. */
static int
rollout_parse_exp(const char *s, struct rollout_waves *w, char **cause)
{
	const char *comma = strchr(s, ',');
	char *start = comma != NULL ? xstrndup(s, (size_t)(comma - s)) : NULL;
	int rc = -1;

	if (start != NULL && comma[1] == 'x' && parse_long(start, 1, 10000000, &w->exp_start) == 0 &&
	    parse_long(comma + 2, 1, 1000, &w->exp_factor) == 0)
		rc = 0;
	else
		set_cause(cause, -1, "--waves: 'exp:%s' is not exp:START,xFACTOR (waves of START terminals, then "
		    "each FACTOR times the one before, e.g. exp:1,x2)", s);
	free(start);
	return rc;
}

int
rollout_parse_waves(const char *s, struct rollout_waves *out, char **cause)
{
	struct rollout_waves w;
	size_t count = 0;
	char **parts;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	if (s != NULL && strncmp(s, "exp:", 4) == 0) {
		if (rollout_parse_exp(s + 4, &w, cause) != 0)
			return -1;
		*out = w;
		return 0;
	}
	parts = str_split_commas(s, &count);
	w.amounts = xcalloc(count ? count : 1, sizeof(*w.amounts));
	w.n = count;
	if (count == 0)
		set_cause(cause, -1, "--waves wants a list like 1,10%%,50%%,100%% or exp:1,x2");
	for (size_t i = 0; i < count; i++) {
		if (rollout_parse_amount(parts[i], &w.amounts[i]) != 0 || w.amounts[i].value == 0) {
			set_cause(cause, -1, "--waves: '%s' is not a positive count or percentage", parts[i]);
			count = 0;
			break;
		}
	}
	strv_free(parts);
	if (count == 0) {
		rollout_waves_free(&w);
		return -1;
	}
	*out = w;
	return 0;
}

void
rollout_waves_free(struct rollout_waves *w)
{
	if (w == NULL)
		return;
	free(w->amounts);
	memset(w, 0, sizeof(*w));
}

size_t *
rollout_wave_ends(const struct rollout_waves *w, size_t n, size_t *nwaves)
{
	/* every wave holds at least one terminal: at most n of them */
	size_t cap = w->exp_start > 0 ? n + 1 : w->n + 1, *ends = xcalloc(cap + 1, sizeof(*ends)), k = 0, prev = 0;
	size_t size = (size_t)w->exp_start;

	for (size_t i = 0; prev < n && (w->exp_start > 0 || i < w->n); i++) {
		size_t end;

		if (w->exp_start > 0) {
			/* each wave FACTOR times the one before (no overflow: capped at what is left) */
			end = size >= n - prev ? n : prev + size;
			size = size > n / (size_t)w->exp_factor ? n : size * (size_t)w->exp_factor;
		} else {
			end = w->amounts[i].pct ? (n * (size_t)w->amounts[i].value + 99) / 100 : (size_t)w->amounts[i].value;
			if (end > n)
				end = n;
			if (end <= prev)
				end = prev + 1;   /* every wave holds at least one terminal */
		}
		ends[k++] = end;
		prev = end;
	}
	if (prev < n)
		ends[k++] = n;    /* the last wave always takes the rest */
	*nwaves = k;
	return ends;
}

size_t
rollout_limit(const struct rollout_amount *a, size_t started)
{
	if (!a->set)
		return SIZE_MAX;
	if (a->pct)
		return started * (size_t)a->value / 100;
	return (size_t)a->value;
}

size_t
rollout_limit_sampled(const struct rollout_amount *a, size_t started, size_t min_sample)
{
	if (a->set && a->pct && started < min_sample)
		return SIZE_MAX;   /* too few yet for a share to mean anything */
	return rollout_limit(a, started);
}

int
rollout_parse_rate(const char *s, long *interval_ms)
{
	const char *slash = s != NULL ? strchr(s, '/') : NULL;
	long count, per;
	char *num;
	int rc;

	if (slash == NULL)
		return -1;
	if (strcmp(slash + 1, "s") == 0 || strcmp(slash + 1, "sec") == 0)
		per = 1000;
	else if (strcmp(slash + 1, "min") == 0 || strcmp(slash + 1, "m") == 0)
		per = 60 * 1000;
	else if (strcmp(slash + 1, "h") == 0 || strcmp(slash + 1, "hour") == 0)
		per = 3600 * 1000;
	else
		return -1;
	num = xstrndup(s, (size_t)(slash - s));
	rc = parse_long(num, 1, 1000000, &count);
	free(num);
	if (rc != 0)
		return -1;
	*interval_ms = per / count > 0 ? per / count : 1;
	return 0;
}

int64_t
rollout_rate_next(bool first, int64_t prev_ms, int64_t now, long interval_ms)
{
	if (first || prev_ms + interval_ms <= now)
		return now;
	return prev_ms + interval_ms;
}

static int
rollout_parse_hhmm(const char *s, int *minute)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');

	if (h > 24 || m > 59 || (h == 24 && m != 0))
		return -1;
	*minute = h * 60 + m;
	return 0;
}

int
rollout_in_window(const char *window, int minute_of_day)
{
	int start, end;

	if (strlen(window) != 11 || window[5] != '-' || rollout_parse_hhmm(window, &start) != 0 ||
	    rollout_parse_hhmm(window + 6, &end) != 0)
		return -1;
	if (start <= end)
		return minute_of_day >= start && minute_of_day < end;
	return minute_of_day >= start || minute_of_day < end;   /* wraps midnight: 22:00-04:00 */
}

int
rollout_minute_now(const char *tz, time_t now)
{
	char *saved = getenv("TZ") != NULL ? xstrdup(getenv("TZ")) : NULL;
	struct tm tm;

	if (tz != NULL && *tz != '\0') {
		setenv("TZ", tz, 1);
		tzset();
	}
	localtime_r(&now, &tm);
	if (tz != NULL && *tz != '\0') {
		if (saved != NULL)
			setenv("TZ", saved, 1);
		else
			unsetenv("TZ");
		tzset();
	}
	free(saved);
	return tm.tm_hour * 60 + tm.tm_min;
}

long
rollout_backoff_ms(int attempt, unsigned rnd)
{
	long base = 2000;

	for (int i = 0; i < attempt && base < 60000; i++)
		base *= 2;
	if (base > 60000)
		base = 60000;
	/* +-25% jitter so a thousand terminals coming back do not all reconnect in the same second */
	return base * 3 / 4 + (long)(rnd % (unsigned)(base / 2 + 1));
}

int
rollout_plan(struct rollout *ro, const struct rollout_waves *waves, char **cause)
{
	size_t nwaves = 1, *ends = NULL, w = 0;

	ro->wave_of = xcalloc(ro->n ? ro->n : 1, sizeof(*ro->wave_of));
	if (ro->todo == NULL) {
		ro->todo = xcalloc(ro->n ? ro->n : 1, sizeof(*ro->todo));
		for (size_t i = 0; i < ro->n; i++)
			ro->todo[i] = true;
	}
	if (waves == NULL || (waves->n == 0 && waves->exp_start == 0)) {
		ro->nwaves = 1;
		return 0;
	}
	ends = rollout_wave_ends(waves, ro->n, &nwaves);
	if (nwaves == 0) {
		free(ends);
		return set_cause(cause, -1, "no terminals to put in waves");
	}
	for (size_t i = 0; i < ro->n; i++) {
		while (w + 1 < nwaves && i >= ends[w])
			w++;
		ro->wave_of[i] = (int)w;
	}
	ro->nwaves = (int)nwaves;
	free(ends);
	return 0;
}

static void
rollout_result_clear(struct host_result *r)
{
	buf_free(&r->out);
	buf_free(&r->err);
	free(r->error);
	free(r->note);
	r->error = r->note = NULL;
}

static bool
rollout_cancelled(const struct rollout *ro)
{
	return ro->eo.cancel != NULL && *ro->eo.cancel != 0;
}

/* --rate: the start times handed out so far, shared by the workers of one run. */
struct rollout_gate {
	pthread_mutex_t lock;
	long interval_ms;
	bool started;
	int64_t last_ms;
};

struct rollout_gated {
	struct deploy_plan *plan;
	struct rollout_gate *gate;
};

/* The deploy job behind the gate: wait for this terminal's start time, then deploy. */
static void
rollout_gated_host(struct executor_worker *w, struct host_result *r, void *arg)
{
	struct rollout_gated *g = arg;
	int64_t at;

	pthread_mutex_lock(&g->gate->lock);
	at = rollout_rate_next(!g->gate->started, g->gate->last_ms, now_ms(), g->gate->interval_ms);
	g->gate->started = true;
	g->gate->last_ms = at;
	pthread_mutex_unlock(&g->gate->lock);
	for (int64_t left; (left = at - now_ms()) > 0;) {
		struct timespec ts = { 0, (left < 100 ? left : 100) * 1000000L };

		if (executor_cancelled(w))
			return;   /* never started: skipped */
		nanosleep(&ts, NULL);
	}
	deploy_run_host(w, r, g->plan);
}

/* Run the deploy job on the hosts idx[0..k) and move their results into ro->results; behind the gate
 * (--rate) when one is given. */
static void
rollout_run_subset(struct rollout *ro, const size_t *idx, size_t k, int wave, struct deploy_target *targets,
    bool rollback, struct rollout_gate *gate)
{
	struct inv_host **hosts = xcalloc(k, sizeof(*hosts));
	struct deploy_target *tw = xcalloc(k, sizeof(*tw));
	struct host_result *rw = xcalloc(k, sizeof(*rw));
	struct deploy_plan plan;
	struct rollout_gated gated;
	struct executor_job job;

	for (size_t j = 0; j < k; j++) {
		hosts[j] = ro->hosts[idx[j]];
		tw[j] = targets[idx[j]];
	}
	memset(&plan, 0, sizeof(plan));
	plan.targets = tw;
	plan.outcomes = xcalloc(k, sizeof(*plan.outcomes));
	plan.results = rw;
	plan.dry_run = ro->dry_run;
	plan.journal = ro->journal;
	plan.wave = wave;
	plan.lock = ro->lock;
	plan.rollback = rollback;
	plan.relays = ro->no_relay ? NULL : relay_table_new();
	job.run = deploy_run_host;
	job.arg = &plan;
	if (gate != NULL) {
		gated.plan = &plan;
		gated.gate = gate;
		job.run = rollout_gated_host;
		job.arg = &gated;
	}
	executor_run(&ro->eo, hosts, k, rw, &job);
	relay_table_free(plan.relays);
	for (size_t j = 0; j < k; j++) {
		struct host_result *dst = &ro->results[idx[j]];

		rollout_result_clear(dst);
		*dst = rw[j];
		if (!rollback) {
			deploy_outcome_clear(&ro->outcomes[idx[j]]);
			ro->outcomes[idx[j]] = plan.outcomes[j];
		} else
			deploy_outcome_clear(&plan.outcomes[j]);
	}
	free(plan.outcomes);
	free(rw);
	free(tw);
	free(hosts);
}

/* Terminals outside their maintenance window are deferred before anything touches them. */
static bool
rollout_window_ok(struct rollout *ro, size_t i, time_t now)
{
	const char *win = inv_get(ro->hosts[i], INV_WINDOW);
	int in;

	if (ro->ignore_window || win == NULL || *win == '\0')
		return true;
	in = rollout_in_window(win, rollout_minute_now(inv_get(ro->hosts[i], INV_WINDOW_TZ), now));
	if (in == 1)
		return true;
	ro->results[i].state = HS_DELAYED;
	ro->results[i].step = "window";
	free(ro->results[i].error);
	ro->results[i].error = xasprintf("outside its maintenance window %s%s%s: not touched", win,
	    inv_get(ro->hosts[i], INV_WINDOW_TZ) ? " " : "",
	    inv_get(ro->hosts[i], INV_WINDOW_TZ) ? inv_get(ro->hosts[i], INV_WINDOW_TZ) : "");
	if (ro->journal != NULL)
		journal_state(ro->journal, ro->hosts[i]->name, "delayed", "window", ro->results[i].error,
		    ro->wave_of[i] + 1);
	return false;
}

bool
rollout_retryable(enum host_state s)
{
	return s == HS_UNREACHABLE || s == HS_TIMEOUT || s == HS_BUSY || s == HS_DELAYED || s == HS_LOCKED;
}

/* Sleep up to ms, waking early on Ctrl-C. */
static void
rollout_sleep(const struct rollout *ro, long ms)
{
	int64_t end = now_ms() + ms;

	while (!rollout_cancelled(ro) && now_ms() < end) {
		struct timespec ts = { 0, 100 * 1000000L };

		nanosleep(&ts, NULL);
	}
}

static void
rollout_retry(struct rollout *ro)
{
	size_t *idx = xcalloc(ro->n ? ro->n : 1, sizeof(*idx));

	for (int attempt = 0; !rollout_cancelled(ro); attempt++) {
		size_t k = 0;
		long wait;
		time_t now = time(NULL);

		for (size_t i = 0; i < ro->n; i++)
			if (ro->todo[i] && rollout_retryable(ro->results[i].state))
				idx[k++] = i;
		if (k == 0 || now >= ro->retry_until)
			break;
		wait = rollout_backoff_ms(attempt, (unsigned)rand());
		if (now + wait / 1000 >= ro->retry_until)
			wait = (long)(ro->retry_until - now) * 1000;
		if (ro->ev.retry != NULL)
			ro->ev.retry(ro->ev.arg, k, wait);
		rollout_sleep(ro, wait);
		if (rollout_cancelled(ro))
			break;
		now = time(NULL);
		{
			size_t m = 0;

			for (size_t j = 0; j < k; j++)
				if (rollout_window_ok(ro, idx[j], now))
					idx[m++] = idx[j];
			if (m > 0)
				rollout_run_subset(ro, idx, m, -1, ro->targets, false, NULL);
		}
	}
	free(idx);
}

/*
 * Put the terminals idx[0..k) back on the release each ran before this run (their outcome's previous,
 * still installed there: a switch and a restart, no upload, no health check).  Their results become
 * those of the switch; their outcomes stay this run's.
 */
static void
rollout_switch_back(struct rollout *ro, const size_t *idx, size_t k)
{
	struct deploy_target *back = xcalloc(ro->n ? ro->n : 1, sizeof(*back));

	for (size_t j = 0; j < k; j++) {
		size_t i = idx[j];

		back[i] = ro->targets[i];
		back[i].id = ro->outcomes[i].previous;
		back[i].version = ro->outcomes[i].previous;
		back[i].archive = NULL;
		back[i].keep_count = 0;
	}
	if (k > 0)
		rollout_run_subset(ro, idx, k, -1, back, true, NULL);
	free(back);
}

/* Set a terminal's state with its step and message (msg: owned now), and journal it. */
static void
rollout_set(struct rollout *ro, size_t i, enum host_state state, const char *step, char *msg)
{
	struct host_result *r = &ro->results[i];

	r->state = state;
	r->step = step;
	free(r->error);
	r->error = msg;
	if (ro->journal != NULL)
		journal_state(ro->journal, ro->hosts[i]->name, host_state_name(state), step, msg, -1);
}

/* --rollback-on-halt: put the terminals this run updated back on what they ran before. */
static void
rollout_undo(struct rollout *ro)
{
	size_t *idx = xcalloc(ro->n ? ro->n : 1, sizeof(*idx)), k = 0;

	for (size_t i = 0; i < ro->n; i++) {
		const struct deploy_outcome *o = &ro->outcomes[i];

		if (ro->results[i].state == HS_OK && o->changed && o->previous != NULL && *o->previous != '\0')
			idx[k++] = i;
	}
	rollout_switch_back(ro, idx, k);
	for (size_t j = 0; j < k; j++) {
		size_t i = idx[j];

		/* what did not come back keeps the switch's result */
		if (ro->results[i].state != HS_OK)
			continue;
		ro->outcomes[i].changed = false;
		ro->outcomes[i].install_failed = false;
		rollout_set(ro, i, HS_ROLLED_BACK, "halt", xasprintf("rolled back to %s because the run halted",
		    ro->outcomes[i].previous));
	}
	free(idx);
}

/*
 * --soak after wave w: wait, then the health command again on the terminals the wave updated.  One that
 * fails it is an unhealthy terminal, as after its restart: switched back to the release it ran before
 * (rolled-back, never a rollback target there), or failed when there is none or the switch fails.  A
 * terminal that cannot be asked keeps its state, with a note.
 */
static void
rollout_soak(struct rollout *ro, int w)
{
	size_t *idx = xcalloc(ro->n ? ro->n : 1, sizeof(*idx)), *back = xcalloc(ro->n ? ro->n : 1, sizeof(*back));
	char **why = xcalloc(ro->n ? ro->n : 1, sizeof(*why));
	struct inv_host **hosts = xcalloc(ro->n ? ro->n : 1, sizeof(*hosts));
	struct host_result *hr = xcalloc(ro->n ? ro->n : 1, sizeof(*hr));
	size_t k = 0, nback = 0, unhealthy = 0;
	json_t *ev;

	for (size_t i = 0; i < ro->n; i++) {
		const char *health = inv_get(ro->hosts[i], INV_HEALTH);

		if (ro->todo[i] && ro->wave_of[i] == w && ro->results[i].state == HS_OK && ro->outcomes[i].changed &&
		    health != NULL && *health != '\0') {
			hosts[k] = ro->hosts[i];
			idx[k++] = i;
		}
	}
	if (ro->ev.soak_start != NULL)
		ro->ev.soak_start(ro->ev.arg, w + 1, k, ro->soak_s);
	ev = json_pack("{s:i, s:s, s:I, s:i}", "after_wave", w + 1, "state", "started", "seconds",
	    (json_int_t)ro->soak_s, "terminals", (int)k);
	journal_event(ro->journal, "soak", ev);
	json_decref(ev);
	rollout_sleep(ro, ro->soak_s * 1000);
	if (k > 0 && !rollout_cancelled(ro)) {
		struct action_job job = { .kind = ACTION_HEALTH, .component = ro->targets[idx[0]].component };
		struct executor_job ej = { .run = action_run_host, .arg = &job };

		executor_run(&ro->eo, hosts, k, hr, &ej);
	} else
		k = 0;   /* interrupted: nothing checked */
	for (size_t j = 0; j < k; j++) {
		size_t i = idx[j];
		const char *prev = ro->outcomes[i].previous;
		const char *msg = hr[j].error != NULL ? hr[j].error : "the health check failed";

		if (hr[j].state == HS_FAILED && prev != NULL && *prev != '\0') {
			why[nback] = xstrdup(msg);
			back[nback++] = i;
		} else if (hr[j].state == HS_FAILED)
			rollout_set(ro, i, HS_FAILED, "soak", xasprintf("unhealthy at the end of the soak (%s); no release "
			    "to switch back to", msg));
		else if (hr[j].state != HS_OK) {
			free(ro->results[i].note);
			ro->results[i].note = xasprintf("not checked at the end of the soak: %s%s%s",
			    host_state_name(hr[j].state), hr[j].error ? ": " : "", hr[j].error ? hr[j].error : "");
		}
		unhealthy += hr[j].state == HS_FAILED;
	}
	rollout_switch_back(ro, back, nback);
	for (size_t j = 0; j < nback; j++) {
		size_t i = back[j];
		const char *prev = ro->outcomes[i].previous;

		if (ro->results[i].state != HS_OK) {
			rollout_set(ro, i, HS_FAILED, "soak", xasprintf("unhealthy at the end of the soak (%s); switching "
			    "back to %s failed: %s", why[j], prev, ro->results[i].error ? ro->results[i].error :
			    host_state_name(ro->results[i].state)));
			continue;
		}
		ro->outcomes[i].changed = false;
		ro->outcomes[i].install_failed = true;   /* never a rollback target on this terminal */
		rollout_set(ro, i, HS_ROLLED_BACK, "soak", xasprintf("unhealthy at the end of the soak (%s): switched "
		    "back to %s", why[j], prev));
	}
	if (ro->ev.soak_end != NULL)
		ro->ev.soak_end(ro->ev.arg, w + 1, k, unhealthy);
	ev = json_pack("{s:i, s:s, s:i, s:i}", "after_wave", w + 1, "state", "done", "checked", (int)k, "unhealthy",
	    (int)unhealthy);
	journal_event(ro->journal, "soak", ev);
	json_decref(ev);
	for (size_t j = 0; j < nback; j++)
		free(why[j]);
	host_results_free(hr, ro->n);
	free(why);
	free(hosts);
	free(back);
	free(idx);
}

/* The run's exit status: the terminals' (0 ok, 1 failed, 3 unreachable or delayed, 130 interrupted),
 * and a halted run is a failed one. */
static int
rollout_status(const struct rollout *ro, bool interrupted)
{
	int status = executor_exit_status(ro->results, ro->n, interrupted);

	if (ro->halted && (status == 0 || status == 3))
		status = 1;
	return status;
}

int
rollout_todo_status(const struct rollout *ro, bool interrupted)
{
	struct host_result *mine = xcalloc(ro->n ? ro->n : 1, sizeof(*mine));
	size_t k = 0;
	int status;

	for (size_t i = 0; i < ro->n; i++)
		if (ro->todo == NULL || ro->todo[i])
			mine[k++] = ro->results[i];
	status = executor_exit_status(mine, k, interrupted);
	if (ro->halted && (status == 0 || status == 3))
		status = 1;
	free(mine);
	return status;
}

/* A journalled state as a result: "done" is ok; an unknown name is failed. */
static enum host_state
rollout_state_named(const char *name)
{
	if (name == NULL || strcmp(name, "planned") == 0)
		return HS_SKIPPED;
	if (strcmp(name, "done") == 0)
		return HS_OK;
	for (int s = HS_OK; s < HS__COUNT; s++)
		if (strcmp(name, host_state_name(s)) == 0)
			return s;
	return HS_FAILED;
}

/*
 * Thresholds after wave w over every terminal started so far: this session's `started`, and the
 * terminals of waves up to w it does not do again (they ran before, in this run).  Sets halted.
 */
static void
rollout_thresholds(struct rollout *ro, int w, size_t started, size_t *ok, size_t *failed, size_t *unreachable)
{
	size_t all = started, lf, lu;

	*ok = *failed = *unreachable = 0;
	for (size_t i = 0; i < ro->n; i++) {
		enum host_state s = ro->results[i].state;

		if (ro->wave_of[i] > w)
			continue;
		if (!ro->todo[i])
			all++;
		if (s == HS_OK)
			(*ok)++;
		else if (s == HS_FAILED || s == HS_ROLLED_BACK)
			(*failed)++;
		else if (host_state_unreachable(s))
			(*unreachable)++;
	}
	if (ro->dry_run || ro->halted)
		return;
	lf = rollout_limit_sampled(&ro->max_fail, all, ro->min_sample);
	lu = rollout_limit_sampled(&ro->max_unreachable, all, ro->min_sample);
	if (*failed > lf) {
		ro->halted = true;
		ro->halt_reason = xasprintf("%zu failed > --max-fail limit %zu after wave %d", *failed, lf, w + 1);
	} else if (*unreachable > lu) {
		ro->halted = true;
		ro->halt_reason = xasprintf("%zu unreachable > --max-unreachable limit %zu after wave %d", *unreachable,
		    lu, w + 1);
	}
}

/* What could not be reached, or waited its turn in vain, is still to do: delayed while the run's
 * deadline is ahead, expired once it has passed. */
static void
rollout_settle(struct rollout *ro)
{
	bool expired = ro->until > 0 && time(NULL) >= ro->until;

	if (ro->retry_until == 0 && ro->until == 0)
		return;
	for (size_t i = 0; i < ro->n; i++) {
		enum host_state s = ro->results[i].state, to = expired ? HS_EXPIRED : HS_DELAYED;

		if (!ro->todo[i] || s == to || !(s == HS_UNREACHABLE || s == HS_TIMEOUT || s == HS_BUSY ||
		    (expired && (s == HS_DELAYED || s == HS_LOCKED))))
			continue;
		ro->results[i].state = to;
		if (ro->journal != NULL)
			journal_state(ro->journal, ro->hosts[i]->name, host_state_name(to), ro->results[i].step,
			    ro->results[i].error, -1);
	}
}

int
rollout_run(struct rollout *ro)
{
	size_t *idx = xcalloc(ro->n ? ro->n : 1, sizeof(*idx)), started = 0;
	struct rollout_gate gate;
	int status;

	memset(&gate, 0, sizeof(gate));
	pthread_mutex_init(&gate.lock, NULL);
	gate.interval_ms = ro->rate_ms;
	ro->results = xcalloc(ro->n ? ro->n : 1, sizeof(*ro->results));
	ro->outcomes = xcalloc(ro->n ? ro->n : 1, sizeof(*ro->outcomes));
	for (size_t i = 0; i < ro->n; i++) {
		ro->results[i].host = ro->hosts[i];
		ro->results[i].state = HS_SKIPPED;
		ro->results[i].exit_code = -1;
		buf_init(&ro->results[i].out, 0);
		buf_init(&ro->results[i].err, 0);
		if (!ro->todo[i] && ro->prior != NULL) {
			/* done before in this run: as the journal left it */
			ro->results[i].state = rollout_state_named(ro->prior[i].state);
			ro->results[i].step = ro->prior[i].step;
			ro->results[i].error = xstrdup(ro->prior[i].error);
		}
	}
	for (int w = 0; w < ro->nwaves && !rollout_cancelled(ro); w++) {
		size_t k = 0, ok, failed, unreachable, m = 0;
		time_t now = time(NULL);
		json_t *ev;

		for (size_t i = 0; i < ro->n; i++)
			if (ro->todo[i] && ro->wave_of[i] == w)
				idx[k++] = i;
		if (k == 0)
			continue;
		if (ro->ev.wave_start != NULL)
			ro->ev.wave_start(ro->ev.arg, w + 1, ro->nwaves, k);
		if (ro->journal != NULL) {
			ev = json_pack("{s:i, s:s, s:i}", "n", w + 1, "state", "started", "terminals", (int)k);
			journal_event(ro->journal, "wave", ev);
			json_decref(ev);
		}
		for (size_t j = 0; j < k; j++)
			if (rollout_window_ok(ro, idx[j], now))
				idx[m++] = idx[j];
		if (m > 0)
			rollout_run_subset(ro, idx, m, w + 1, ro->targets, false,
			    ro->rate_ms > 0 && !ro->dry_run ? &gate : NULL);
		started += m;
		rollout_thresholds(ro, w, started, &ok, &failed, &unreachable);
		if (!ro->halted && ro->soak_s > 0 && w + 1 < ro->nwaves && !ro->dry_run && !rollout_cancelled(ro)) {
			/* the wave's terminals have run a while: are they still healthy? */
			rollout_soak(ro, w);
			rollout_thresholds(ro, w, started, &ok, &failed, &unreachable);
		}
		if (ro->ev.wave_end != NULL)
			ro->ev.wave_end(ro->ev.arg, w + 1, ok, failed, unreachable, ro->halted, ro->halt_reason);
		if (ro->journal != NULL) {
			ev = json_pack("{s:i, s:s, s:i, s:i, s:i}", "n", w + 1, "state", ro->halted ? "halted" : "done",
			    "ok", (int)ok, "failed", (int)failed, "unreachable", (int)unreachable);
			if (ro->halt_reason != NULL)
				json_object_set_new(ev, "reason", json_string(ro->halt_reason));
			journal_event(ro->journal, "wave", ev);
			json_decref(ev);
		}
		if (ro->halted) {
			for (size_t i = 0; i < ro->n; i++)
				if (ro->todo[i] && ro->wave_of[i] > w) {
					ro->results[i].state = HS_SKIPPED;
					if (ro->journal != NULL)
						journal_state(ro->journal, ro->hosts[i]->name, "skipped", NULL,
						    ro->halt_reason, ro->wave_of[i] + 1);
				}
			break;
		}
		if (ro->pause_after_wave && w + 1 < ro->nwaves && !rollout_cancelled(ro)) {
			bool go_on = ro->ev.pause != NULL && ro->ev.pause(ro->ev.arg, w + 1);

			if (!go_on) {
				ro->paused = true;
				/* not started yet: still to do when the run is resumed */
				for (size_t i = 0; i < ro->n; i++)
					if (ro->todo[i] && ro->wave_of[i] > w)
						ro->results[i].state = HS_PENDING;
				if (ro->journal != NULL) {
					ev = json_pack("{s:i}", "after_wave", w + 1);
					journal_event(ro->journal, "pause", ev);
					json_decref(ev);
				}
				break;
			}
		}
	}
	if (!ro->halted && !ro->paused && ro->retry_until > 0 && !ro->dry_run)
		rollout_retry(ro);
	if (ro->halted && ro->rollback_on_halt && !ro->dry_run)
		rollout_undo(ro);
	if (!ro->paused)
		rollout_settle(ro);
	status = rollout_status(ro, rollout_cancelled(ro));
	pthread_mutex_destroy(&gate.lock);
	free(idx);
	return status;
}

void
rollout_free(struct rollout *ro)
{
	if (ro == NULL)
		return;
	if (ro->results != NULL) {
		for (size_t i = 0; i < ro->n; i++)
			rollout_result_clear(&ro->results[i]);
		free(ro->results);
	}
	if (ro->outcomes != NULL) {
		for (size_t i = 0; i < ro->n; i++)
			deploy_outcome_clear(&ro->outcomes[i]);
		free(ro->outcomes);
	}
	free(ro->wave_of);
	free(ro->todo);
	free(ro->halt_reason);
	ro->results = NULL;
	ro->outcomes = NULL;
	ro->wave_of = NULL;
	ro->todo = NULL;
	ro->halt_reason = NULL;
}

/* "90 s", "10 min", "2 h", "3 d": a duration as people read it, whole units only (caller frees). */
static char *
rollout_duration_text(long s)
{
	if (s >= 86400 && s % 86400 == 0)
		return xasprintf("%ld d", s / 86400);
	if (s >= 3600 && s % 3600 == 0)
		return xasprintf("%ld h", s / 3600);
	if (s >= 60 && s % 60 == 0)
		return xasprintf("%ld min", s / 60);
	return xasprintf("%ld s", s);
}

static char *
rollout_limit_text(const struct rollout_amount *a)
{
	if (!a->set)
		return xstrdup("(no limit)");
	if (a->pct)
		return xasprintf("%ld%% of them (rounded down)", a->value);
	return xasprintf("%ld", a->value);
}

char *
rollout_plan_text(const struct rollout *ro, const char *waves_spec, const char *rate_spec)
{
	struct buf b;

	if (waves_spec == NULL && ro->rate_ms == 0 && ro->until == 0)
		return NULL;   /* one wave, as fast as it goes, nothing to say */
	buf_init(&b, 0);
	buf_addf(&b, "%d wave%s", ro->nwaves, ro->nwaves == 1 ? "" : "s");
	if (waves_spec != NULL) {
		char *mf = rollout_limit_text(&ro->max_fail), *mu = rollout_limit_text(&ro->max_unreachable);

		buf_addf(&b, " (%s); after each wave the run halts when failed > %s or unreachable > %s, counted over "
		    "all terminals started so far", waves_spec, mf, mu);
		if (ro->min_sample > 0 && (ro->max_fail.pct || ro->max_unreachable.pct))
			buf_addf(&b, "; a percentage only once %zu terminals have been started", ro->min_sample);
		free(mf);
		free(mu);
	}
	if (ro->soak_s > 0 && ro->nwaves > 1) {
		char *d = rollout_duration_text(ro->soak_s);

		buf_addf(&b, "; a soak of %s after each wave but the last, then its terminals' health again", d);
		free(d);
	}
	if (ro->rate_ms > 0)
		buf_addf(&b, "; new terminals at most %s (one every %.1f s)", rate_spec != NULL ? rate_spec : "",
		    (double)ro->rate_ms / 1000.0);
	if (ro->until > 0) {
		char when[64];
		struct tm tm;

		localtime_r(&ro->until, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
		if (ro->retry_until >= ro->until)
			buf_addf(&b, "; retried until %s, then what is still missing is expired", when);
		else
			buf_addf(&b, "; open until %s (`fleetctl retry --all` picks up what is delayed), then what is "
			    "still missing is expired", when);
	}
	return buf_detach(&b);
}
