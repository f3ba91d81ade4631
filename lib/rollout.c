/* rollout: waves, thresholds, windows, busy and unreachable retries over the deploy job. */
#include "rollout.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int
rollout_parse_waves(const char *s, struct rollout_amount **out, size_t *n, char **cause)
{
	size_t count = 0;
	char **parts = str_split_commas(s, &count);
	struct rollout_amount *w = xcalloc(count ? count : 1, sizeof(*w));
	int rc = -1;

	if (count == 0) {
		set_cause(cause, -1, "--waves wants a list like 1,10%%,50%%,100%%");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		if (rollout_parse_amount(parts[i], &w[i]) != 0 || w[i].value == 0) {
			set_cause(cause, -1, "--waves: '%s' is not a positive count or percentage", parts[i]);
			goto out;
		}
	}
	*out = w;
	w = NULL;
	*n = count;
	rc = 0;
out:
	free(w);
	strv_free(parts);
	return rc;
}

size_t *
rollout_wave_ends(const struct rollout_amount *w, size_t nw, size_t n, size_t *nwaves)
{
	size_t *ends = xcalloc(nw + 1, sizeof(*ends)), k = 0, prev = 0;

	for (size_t i = 0; i < nw && prev < n; i++) {
		size_t end = w[i].pct ? (n * (size_t)w[i].value + 99) / 100 : (size_t)w[i].value;

		if (end > n)
			end = n;
		if (end <= prev)
			end = prev + 1;   /* every wave holds at least one terminal */
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
rollout_plan(struct rollout *ro, const struct rollout_amount *waves, size_t nw, char **cause)
{
	size_t nwaves = 1, *ends = NULL, w = 0;

	ro->wave_of = xcalloc(ro->n ? ro->n : 1, sizeof(*ro->wave_of));
	if (ro->todo == NULL) {
		ro->todo = xcalloc(ro->n ? ro->n : 1, sizeof(*ro->todo));
		for (size_t i = 0; i < ro->n; i++)
			ro->todo[i] = true;
	}
	if (waves == NULL || nw == 0) {
		ro->nwaves = 1;
		return 0;
	}
	ends = rollout_wave_ends(waves, nw, ro->n, &nwaves);
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

/* Run the deploy job on the hosts idx[0..k) and move their results into ro->results. */
static void
rollout_run_subset(struct rollout *ro, const size_t *idx, size_t k, int wave, struct deploy_target *targets,
    bool rollback)
{
	struct inv_host **hosts = xcalloc(k, sizeof(*hosts));
	struct deploy_target *tw = xcalloc(k, sizeof(*tw));
	struct host_result *rw = xcalloc(k, sizeof(*rw));
	struct deploy_plan plan;
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

static bool
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
				rollout_run_subset(ro, idx, m, -1, ro->targets, false);
		}
	}
	free(idx);
}

/* --rollback-on-halt: put the terminals this run updated back on what they ran before. */
static void
rollout_undo(struct rollout *ro)
{
	struct deploy_target *back = xcalloc(ro->n ? ro->n : 1, sizeof(*back));
	size_t *idx = xcalloc(ro->n ? ro->n : 1, sizeof(*idx)), k = 0;

	for (size_t i = 0; i < ro->n; i++) {
		const struct deploy_outcome *o = &ro->outcomes[i];

		if (ro->results[i].state != HS_OK || !o->changed || o->previous == NULL || *o->previous == '\0')
			continue;
		back[i] = ro->targets[i];
		back[i].id = o->previous;
		back[i].version = o->previous;
		back[i].archive = NULL;       /* still installed there: a switch, no upload */
		back[i].keep_count = 0;
		idx[k++] = i;
	}
	if (k > 0) {
		/* rollout_run_subset overwrites results: remember which came back */
		rollout_run_subset(ro, idx, k, -1, back, true);
		for (size_t j = 0; j < k; j++) {
			struct host_result *r = &ro->results[idx[j]];

			if (r->state == HS_OK) {
				r->state = HS_ROLLED_BACK;
				free(r->error);
				r->error = xasprintf("rolled back to %s because the run halted", back[idx[j]].id);
				ro->outcomes[idx[j]].changed = false;
				ro->outcomes[idx[j]].install_failed = false;
				if (ro->journal != NULL)
					journal_state(ro->journal, ro->hosts[idx[j]]->name, "rolled-back", "halt", r->error, -1);
			}
		}
	}
	free(idx);
	free(back);
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
rollout_run(struct rollout *ro)
{
	size_t *idx = xcalloc(ro->n ? ro->n : 1, sizeof(*idx)), started = 0;
	int status;

	ro->results = xcalloc(ro->n ? ro->n : 1, sizeof(*ro->results));
	ro->outcomes = xcalloc(ro->n ? ro->n : 1, sizeof(*ro->outcomes));
	for (size_t i = 0; i < ro->n; i++) {
		ro->results[i].host = ro->hosts[i];
		ro->results[i].state = HS_SKIPPED;
		ro->results[i].exit_code = -1;
		buf_init(&ro->results[i].out, 0);
		buf_init(&ro->results[i].err, 0);
	}
	for (int w = 0; w < ro->nwaves && !rollout_cancelled(ro); w++) {
		size_t k = 0, ok = 0, failed = 0, unreachable = 0, m = 0, prior;
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
			rollout_run_subset(ro, idx, m, w + 1, ro->targets, false);
		started += m;
		/*
		 * Thresholds over every terminal started so far.  On a resume, a terminal not to do again
		 * ended failed or rolled back before: it still counts, as failed and as started.
		 */
		prior = 0;
		for (size_t i = 0; i < ro->n; i++) {
			if (ro->wave_of[i] > w)
				continue;
			if (!ro->todo[i]) {
				prior++;
				continue;
			}
			if (ro->results[i].state == HS_OK)
				ok++;
			else if (ro->results[i].state == HS_FAILED || ro->results[i].state == HS_ROLLED_BACK)
				failed++;
			else if (host_state_unreachable(ro->results[i].state))
				unreachable++;
		}
		failed += prior;
		if (!ro->dry_run && failed > rollout_limit(&ro->max_fail, started + prior)) {
			ro->halted = true;
			ro->halt_reason = xasprintf("%zu failed > --max-fail limit %zu after wave %d", failed,
			    rollout_limit(&ro->max_fail, started + prior), w + 1);
		} else if (!ro->dry_run && unreachable > rollout_limit(&ro->max_unreachable, started + prior)) {
			ro->halted = true;
			ro->halt_reason = xasprintf("%zu unreachable > --max-unreachable limit %zu after wave %d",
			    unreachable, rollout_limit(&ro->max_unreachable, started + prior), w + 1);
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
	/* What could not be reached, or waited its turn in vain, is still to do: delayed. */
	for (size_t i = 0; i < ro->n && !ro->paused; i++) {
		enum host_state s = ro->results[i].state;

		if (!ro->todo[i] || !(s == HS_UNREACHABLE || s == HS_TIMEOUT || s == HS_BUSY) || ro->retry_until == 0)
			continue;
		ro->results[i].state = HS_DELAYED;
		if (ro->journal != NULL)
			journal_state(ro->journal, ro->hosts[i]->name, "delayed", ro->results[i].step,
			    ro->results[i].error, -1);
	}
	status = rollout_status(ro, rollout_cancelled(ro));
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

int
rollout_merge_prior(struct rollout *ro, const struct journal_host *prior, bool interrupted)
{
	for (size_t i = 0; i < ro->n; i++) {
		if (ro->todo == NULL || ro->todo[i])
			continue;
		ro->results[i].state = strcmp(prior[i].state, "rolled-back") == 0 ? HS_ROLLED_BACK : HS_FAILED;
		ro->results[i].step = prior[i].step;
		free(ro->results[i].error);
		ro->results[i].error = xstrdup(prior[i].error);
	}
	return rollout_status(ro, interrupted);
}
