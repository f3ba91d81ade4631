/* run: one deploy run from its plan to its record (see run.h). */
#include "run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alarm.h"
#include "bundle.h"
#include "deploy.h"
#include "history.h"
#include "journal.h"
#include "report.h"
#include "termlock.h"

static void __attribute__((format(printf, 2, 3)))
run_error(const struct run_events *ev, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (ev->error == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	ev->error(ev->rollout.arg, msg);
	free(msg);
}

static json_t *
run_amount_json(const struct rollout_amount *a)
{
	if (!a->set)
		return json_null();
	if (a->pct) {
		char *s = xasprintf("%ld%%", a->value);
		json_t *j = json_string(s);

		free(s);
		return j;
	}
	return json_integer(a->value);
}

void
run_spec_release(struct run_spec *s, const struct bundle *b)
{
	s->component = b->component;
	s->label = b->id;
	s->release_id = b->id;
	s->release_manifest = b->manifest_text;
	s->release_sha256 = b->sha256;
}

void
run_hist_result(const struct host_result *r, struct hist_result *hr)
{
	hr->host = r->host->name;
	hr->state = host_state_name(r->state);
	hr->step = r->state == HS_OK ? NULL : r->step;
	hr->error = r->error;
	hr->exit_code = r->exit_code;
	hr->duration_ms = r->duration_ms;
}

/* A journalled threshold back into an amount: a number, "N%", or null (no limit). */
static void
run_plan_amount(const json_t *j, struct rollout_amount *a)
{
	memset(a, 0, sizeof(*a));
	if (json_is_integer(j)) {
		a->set = true;
		a->value = (long)json_integer_value(j);
	} else if (json_is_string(j))
		rollout_parse_amount(json_string_value(j), a);
}

void
run_spec_from_plan(struct run_spec *s, const json_t *plan)
{
	const json_t *opt = json_object_get(plan, "options");

	s->waves = json_string_value(json_object_get(plan, "waves_spec"));
	run_plan_amount(json_object_get(opt, "max_fail"), &s->max_fail);
	run_plan_amount(json_object_get(opt, "max_unreachable"), &s->max_unreachable);
	s->min_sample = (size_t)json_integer_value(json_object_get(opt, "min_sample"));
	s->rate = json_string_value(json_object_get(opt, "rate"));
	s->rate_ms = (long)json_integer_value(json_object_get(opt, "rate_ms"));
	s->soak_s = (long)json_integer_value(json_object_get(opt, "soak"));
	s->retry_until = (time_t)json_integer_value(json_object_get(opt, "retry_until"));
	s->until = (time_t)json_integer_value(json_object_get(opt, "until"));
	s->rollback_on_halt = json_is_true(json_object_get(opt, "rollback_on_halt"));
	s->ignore_window = json_is_true(json_object_get(opt, "ignore_window"));
	s->pause_after_wave = json_is_true(json_object_get(opt, "pause_after_wave"));
	s->parallel = (int)json_integer_value(json_object_get(opt, "parallel"));
	s->no_delta = json_is_true(json_object_get(opt, "no_delta"));
	s->hardlink = json_is_true(json_object_get(opt, "hardlink"));
	s->no_relay = json_is_true(json_object_get(opt, "no_relay"));
	s->at = (time_t)json_integer_value(json_object_get(plan, "at"));
}

/* The plan as the journal keeps it: enough for `show`, `resume` and `retry` to need nothing else. */
static json_t *
run_plan_json(const struct run_spec *s, const struct rollout *ro)
{
	json_t *plan = json_object(), *hosts = json_array(), *waves = json_array(), *rel = json_object(), *opt;

	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(hosts, json_string(s->hosts[i]->name));
	for (int w = 0; w < ro->nwaves; w++) {
		json_t *list = json_array();

		for (size_t i = 0; i < s->n; i++)
			if (ro->wave_of[i] == w)
				json_array_append_new(list, json_string(s->hosts[i]->name));
		json_array_append_new(waves, list);
	}
	json_object_set_new(plan, "kind", json_string(s->kind));
	json_object_set_new(plan, "operator", json_string(s->operator));
	json_object_set_new(plan, "component", json_string(s->component));
	json_object_set_new(plan, "label", json_string(s->label));
	json_object_set_new(plan, "selection", s->selection ? json_string(s->selection) : json_null());
	json_object_set_new(plan, "shard", s->shard ? json_string(s->shard) : json_null());
	json_object_set_new(plan, "command", s->command ? json_string(s->command) : json_null());
	if (s->release_id != NULL) {
		json_object_set_new(rel, "id", json_string(s->release_id));
		json_object_set_new(rel, "sha256", json_string(s->release_sha256));
		json_object_set_new(plan, "release", rel);
	} else
		json_decref(rel);
	json_object_set_new(plan, "hosts", hosts);
	json_object_set_new(plan, "waves", waves);
	json_object_set_new(plan, "waves_spec", s->waves ? json_string(s->waves) : json_null());
	opt = json_object();
	json_object_set_new(opt, "max_fail", run_amount_json(&ro->max_fail));
	json_object_set_new(opt, "max_unreachable", run_amount_json(&ro->max_unreachable));
	json_object_set_new(opt, "min_sample", ro->min_sample ? json_integer((json_int_t)ro->min_sample) : json_null());
	json_object_set_new(opt, "rate", s->rate ? json_string(s->rate) : json_null());
	json_object_set_new(opt, "rate_ms", ro->rate_ms ? json_integer(ro->rate_ms) : json_null());
	json_object_set_new(opt, "soak", ro->soak_s ? json_integer(ro->soak_s) : json_null());
	json_object_set_new(opt, "retry_until", ro->retry_until ? json_integer((json_int_t)ro->retry_until) : json_null());
	json_object_set_new(opt, "until", ro->until ? json_integer((json_int_t)ro->until) : json_null());
	json_object_set_new(opt, "rollback_on_halt", json_boolean(ro->rollback_on_halt));
	json_object_set_new(opt, "ignore_window", json_boolean(ro->ignore_window));
	json_object_set_new(opt, "pause_after_wave", json_boolean(ro->pause_after_wave));
	json_object_set_new(opt, "parallel", json_integer(s->parallel));
	json_object_set_new(opt, "no_delta", json_boolean(s->no_delta));
	json_object_set_new(opt, "hardlink", json_boolean(s->hardlink));
	json_object_set_new(opt, "no_relay", json_boolean(s->no_relay));
	json_object_set_new(plan, "options", opt);
	json_object_set_new(plan, "at", s->at ? json_integer((json_int_t)s->at) : json_null());
	json_object_set_new(plan, "resumes", s->resumes ? json_string(s->resumes) : json_null());
	json_object_set_new(plan, "inventory", json_string(s->inventory_path));
	return plan;
}

/* The rollout as the spec asks for it; the waves planned (or, resuming, taken from the plan).  0, or
 * -1 with *cause. */
static int
run_setup(const struct run_spec *s, const struct run_events *ev, struct rollout *ro, char **cause)
{
	memset(ro, 0, sizeof(*ro));
	ro->hosts = s->hosts;
	ro->n = s->n;
	ro->targets = s->targets;
	ro->todo = s->todo;    /* borrowed when set: see run_deploy's out */
	ro->max_fail = s->max_fail;
	ro->max_unreachable = s->max_unreachable;
	ro->min_sample = s->min_sample;
	ro->rate_ms = s->rate_ms;
	ro->soak_s = s->soak_s;
	ro->retry_until = s->retry_until;
	ro->until = s->until;
	ro->prior = s->todo != NULL ? s->prior : NULL;
	ro->pause_after_wave = s->pause_after_wave;
	ro->rollback_on_halt = s->rollback_on_halt;
	ro->ignore_window = s->ignore_window;
	ro->dry_run = s->dry_run;
	ro->no_relay = s->no_relay;
	ro->eo.parallel = s->parallel;
	ro->eo.cancel = s->cancel;
	ro->eo.accept_new_host_keys = s->accept_new_host_keys;
	ro->eo.progress = ev->progress;
	ro->eo.progress_arg = ev->rollout.arg;
	ro->ev = ev->rollout;
	if (s->wave_of != NULL) {
		/* resuming: the waves the plan made */
		ro->wave_of = xcalloc(s->n ? s->n : 1, sizeof(*ro->wave_of));
		memcpy(ro->wave_of, s->wave_of, s->n * sizeof(*ro->wave_of));
		ro->nwaves = s->nwaves;
		return 0;
	}
	return rollout_plan(ro, s->wave_plan, cause);
}

/* Journal first, so a controller killed from here on leaves a resumable run.  0, or -1 with *cause. */
static int
run_journal_open(const struct run_spec *s, const struct rollout *ro, struct journal **jn, char **cause)
{
	json_t *plan;
	int rc;

	if (s->resumes != NULL) {
		if (journal_reopen(s->state_dir, s->run_id, jn, cause) != 0)
			return -1;
		if (s->pickup > 0) {
			plan = json_pack("{s:I}", "terminals", (json_int_t)s->pickup);
			journal_event(*jn, "pickup", plan);
			json_decref(plan);
		}
		return 0;
	}
	plan = run_plan_json(s, ro);
	rc = journal_create(s->state_dir, s->run_id, plan, jn, cause);
	json_decref(plan);
	return rc;
}

/* The lock each terminal is taken with: this run, who, where, until when. */
static void
run_lock_info(const struct run_spec *s, char *host, size_t hostlen, struct termlock_info *me)
{
	if (gethostname(host, hostlen) != 0)
		snprintf(host, hostlen, "localhost");
	host[hostlen - 1] = '\0';
	memset(me, 0, sizeof(*me));
	me->run_id = (char *)s->run_id;
	me->operator = (char *)s->operator;
	me->controller = host;
	me->kind = (char *)s->kind;
	me->pid = (long)getpid();
	me->time = (long long)time(NULL);
	/* Stale after the run's own deadline: its retries, plus a generous bound on one deploy. */
	me->deadline = me->time + 4 * 3600 + (s->retry_until > me->time ? s->retry_until - me->time : 0);
}

/* Scheduled: the plan is journalled (planned by whom, for when); wait for the time.  false: interrupted. */
static bool
run_wait(const struct run_spec *s, const struct run_events *ev)
{
	if (ev->wait != NULL)
		ev->wait(ev->rollout.arg, s->at, -1);
	while (!*s->cancel && time(NULL) < s->at) {
		if (ev->wait != NULL)
			ev->wait(ev->rollout.arg, s->at, (long)(s->at - time(NULL)));
		sleep(1);
	}
	if (ev->wait != NULL)
		ev->wait(ev->rollout.arg, s->at, 0);
	return !*s->cancel;
}

/* "push app 1.4.2-... to all[, shard K/N]: SUMMARY[; HALTED: why | ; paused]" (caller frees). */
static char *
run_summary_line(const struct run_spec *s, const struct rollout *ro)
{
	char *summary = report_summary(ro->results, s->n);
	char *line = xasprintf("%s%s %s %s %s %s%s%s: %s%s%s", s->dry_run ? "dry run: " : "", s->kind, s->component,
	    s->label, strcmp(s->kind, "rollback") == 0 ? "on" : "to", s->selection != NULL ? s->selection : "all",
	    s->shard != NULL ? ", shard " : "", s->shard != NULL ? s->shard : "", summary,
	    ro->halted ? "; HALTED: " : ro->paused ? "; paused" : "", ro->halted ? ro->halt_reason : "");

	free(summary);
	return line;
}

/* The journal's text as the history keeps it: ending the way the journal will (end_ev), which gets
 * that line only after the commit.  NULL when it cannot be read (caller frees). */
static char *
run_journal_ended(const char *state_dir, const char *run_id, json_t *end_ev)
{
	char *text = NULL, *end, *whole;

	if (journal_text(state_dir, run_id, &text, NULL) != 0)
		return NULL;
	end = journal_event_text("end", end_ev);
	whole = xasprintf("%s%s", text, end);
	free(text);
	free(end);
	return whole;
}

/*
 * The history commit: every terminal's result and, for those this run did, its new state (into
 * states, parallel to the hosts); the journal's text with the end it will get.  0, or -1 with *cause.
 */
static int
run_record(const struct run_spec *s, const struct run_events *ev, const struct rollout *ro, const char *line,
    json_t *end_ev, struct hist_state *states, char **cause)
{
	struct hist_result *hr = xcalloc(s->n ? s->n : 1, sizeof(*hr));
	struct history *h = NULL;
	struct hist_op op;
	char *run_json = NULL, *extra = NULL, commit[41];
	int rc = -1;

	if (history_open(s->state_dir, &h, cause) != 0)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		struct hist_state old;

		run_hist_result(&ro->results[i], &hr[i]);
		hr[i].bytes = ro->results[i].state != HS_SKIPPED && ro->results[i].state != HS_PENDING;
		hr[i].bytes_sent = ro->outcomes[i].bytes_sent;
		hr[i].bytes_reused = ro->outcomes[i].bytes_reused;
		hr[i].relay = ro->outcomes[i].relay;
		hr[i].bytes_staged = ro->outcomes[i].bytes_staged;
		if (history_host_state(h, s->hosts[i]->name, s->targets[i].component, &old, cause) < 0)
			goto out;
		if ((s->todo == NULL || s->todo[i]) &&
		    deploy_next_state(&old, &s->targets[i], &ro->outcomes[i], &ro->results[i], false, &states[i]) == 0)
			hr[i].new_state = &states[i];
		hist_state_free(&old);
	}
	run_json = run_journal_ended(s->state_dir, s->run_id, end_ev);
	memset(&op, 0, sizeof(op));
	op.kind = s->kind;
	op.run_id = s->run_id;
	op.summary = line;
	op.component = s->component;
	op.command = s->command;
	op.selection = s->selection;
	op.release_id = s->release_id;
	op.release_manifest = s->release_manifest;
	op.release_sha256 = s->release_sha256;
	op.run_json = run_json;
	extra = xasprintf("%s%s%s%s", s->signer != NULL ? "Signed-by: " : "", s->signer != NULL ? s->signer : "",
	    s->signer != NULL && s->ignore_window ? "\n" : "",
	    s->ignore_window ? "Ignore-window: yes (maintenance windows were overridden)" : "");
	op.extra = *extra != '\0' ? extra : NULL;
	op.results = hr;
	op.nresults = s->n;
	if (history_record(h, &op, commit, cause) != 0)
		goto out;
	if (ev->recorded != NULL)
		ev->recorded(ev->rollout.arg, h);
	rc = 0;
out:
	history_close(h);
	free(run_json);
	free(extra);
	free(hr);
	return rc;
}

/* One terminal of an alarm: where it stands, what it still runs and what it should (new reference). */
static json_t *
run_alarm_terminal(const char *host, const char *state, const char *step, const char *error, const char *running,
    const char *wanted)
{
	json_t *t = json_object();

	json_object_set_new(t, "host", json_string(host));
	json_object_set_new(t, "state", json_string(state));
	json_object_set_new(t, "step", step ? json_string(step) : json_null());
	json_object_set_new(t, "error", error ? json_string(error) : json_null());
	json_object_set_new(t, "running", running && *running ? json_string(running) : json_null());
	json_object_set_new(t, "wanted", wanted ? json_string(wanted) : json_null());
	return t;
}

/* The run and its terminals (terms: stolen) to the on_failure hook, when there are any. */
static void
run_alarm_send(const char *on_failure, json_t *run, json_t *terms, const struct run_events *ev)
{
	char *text, *warning = NULL;

	if (json_array_size(terms) == 0 || on_failure == NULL) {
		json_decref(terms);
		return;
	}
	json_object_set_new(run, "terminals", terms);
	text = json_dumps(run, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (text != NULL && alarm_run(on_failure, text, &warning) != 0)
		run_error(ev, "warning: %s", warning);
	free(warning);
	free(text);
}

/*
 * Every terminal the run left failed, delayed or rolled back, with the release it still runs, to the
 * on_failure hook.  A run that stays open is still working on its delayed terminals: only the failed
 * ones; a pick-up (retry --all) tells only about the terminals it picked up.
 */
static void
run_alarm(const struct run_spec *s, const struct run_events *ev, const struct rollout *ro, const char *line,
    const struct hist_state *states, bool open)
{
	json_t *terms = json_array(), *run;

	for (size_t i = 0; i < s->n; i++) {
		enum host_state st = ro->results[i].state;
		const struct deploy_outcome *o = &ro->outcomes[i];

		if (st == HS_OK || st == HS_SKIPPED || (open && rollout_retryable(st)) ||
		    (s->pickup > 0 && s->todo != NULL && !s->todo[i]))
			continue;
		json_array_append_new(terms, run_alarm_terminal(s->hosts[i]->name, host_state_name(st), ro->results[i].step,
		    ro->results[i].error, o->previous && *o->previous ? o->previous : states[i].current, s->targets[i].id));
	}
	run = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "run", s->run_id, "kind", s->kind, "component", s->component,
	    "summary", line, "operator", s->operator, "halted", ro->halted);
	run_alarm_send(s->on_failure, run, terms, ev);
	json_decref(run);
}

/* Does the run stay open: its deadline ahead, and some terminal still to do? */
static bool
run_still_open(const struct run_spec *s, const struct rollout *ro)
{
	if (s->until <= time(NULL))
		return false;
	for (size_t i = 0; i < s->n; i++)
		if (rollout_retryable(ro->results[i].state))
			return true;
	return false;
}

/* How the run ended, for its journal: interrupted, halted, open, expired (its deadline passed with
 * terminals missing) or done. */
static const char *
run_result(const struct run_spec *s, const struct rollout *ro, const struct run_end *end)
{
	if (*s->cancel)
		return "interrupted";
	if (ro->halted)
		return "halted";
	if (end->open)
		return "open";
	for (size_t i = 0; i < s->n; i++)
		if (ro->results[i].state == HS_EXPIRED)
			return "expired";
	return "done";
}

int
run_deploy(const struct run_spec *s, const struct run_events *ev)
{
	struct rollout ro;
	struct termlock_info me;
	struct hist_state *states = xcalloc(s->n ? s->n : 1, sizeof(*states));
	struct journal *jn = NULL;
	struct run_end end = { 0 };
	char *line = NULL, *cause = NULL, *text, host[256];
	uint64_t sent = 0;
	json_t *end_ev = NULL;
	int status;

	if (run_setup(s, ev, &ro, &cause) != 0) {
		run_error(ev, "%s: %s", s->kind, cause);
		status = 2;
		goto out;
	}
	if (ev->plan != NULL && (text = rollout_plan_text(&ro, s->waves, s->rate)) != NULL) {
		/* Thresholds are said before the run, exactly as they are applied. */
		ev->plan(ev->rollout.arg, text);
		free(text);
	}
	if (!s->dry_run) {
		if (run_journal_open(s, &ro, &jn, &cause) != 0) {
			run_error(ev, "%s: %s", s->kind, cause);
			status = 1;
			goto out;
		}
		ro.journal = jn;
		run_lock_info(s, host, sizeof(host), &me);
		ro.lock = &me;
	}
	if (s->at > time(NULL) && !s->dry_run && !run_wait(s, ev)) {
		status = 130;
		goto out;
	}
	status = rollout_run(&ro);
	if (ev->progress != NULL)
		ev->progress(NULL, ev->rollout.arg);

	for (size_t i = 0; i < s->n; i++) {
		/* what left this controller: a relay's terminals got theirs from the relay's cache */
		if (ro.outcomes[i].relay != NULL) {
			sent += ro.outcomes[i].bytes_staged;
			end.bytes_relayed += ro.outcomes[i].bytes_sent;
		} else
			sent += ro.outcomes[i].bytes_sent;
		if (ev->host != NULL)
			ev->host(ev->rollout.arg, s, &ro, i);
	}
	line = run_summary_line(s, &ro);
	end.line = line;
	end.bytes_sent = sent;
	end.status = status;
	end.todo_status = rollout_todo_status(&ro, *s->cancel != 0);
	end.open = !s->dry_run && !ro.paused && !ro.halted && !*s->cancel && run_still_open(s, &ro);
	if (ev->done != NULL)
		ev->done(ev->rollout.arg, s, &ro, &end);

	/* A dry run changes nothing, so it records nothing; a paused run is recorded when it ends. */
	if (s->dry_run || ro.paused)
		goto out;
	/*
	 * The history commit first, the journal's end after it: a controller killed between the two leaves a
	 * run that resume sees recorded already (and just closes), never an ended run without its commit.
	 */
	end_ev = json_pack("{s:s, s:i}", "result", run_result(s, &ro, &end), "exit", status);
	if (run_record(s, ev, &ro, line, end_ev, states, &cause) != 0) {
		run_error(ev, "warning: cannot record %s in the history: %s", s->kind, cause ? cause : "unknown error");
		if (status == 0)
			status = 1;
	}
	journal_event(jn, "end", end_ev);
	run_alarm(s, ev, &ro, line, states, end.open);
out:
	journal_close(jn);
	for (size_t i = 0; i < s->n; i++)
		hist_state_free(&states[i]);
	if (s->todo != NULL)
		ro.todo = NULL;   /* the caller's */
	rollout_free(&ro);
	json_decref(end_ev);
	free(states);
	free(cause);
	free(line);
	return status;
}

int
run_expire(const char *state_dir, const char *on_failure, const struct journal_run *jr, const struct run_events *ev,
    size_t *n, char **cause)
{
	struct hist_result *hr = xcalloc(jr->nhosts ? jr->nhosts : 1, sizeof(*hr));
	const json_t *plan = jr->plan, *until = json_object_get(json_object_get(plan, "options"), "until");
	struct journal *jn = NULL;
	struct history *h = NULL;
	struct hist_op op;
	char *why = NULL, *line = NULL, *run_json = NULL, *list = NULL, when[64], commit[41];
	char **names = xcalloc(jr->nhosts + 1, sizeof(*names));
	time_t t = (time_t)json_integer_value(until);
	struct tm tm;
	json_t *end = NULL, *terms = json_array(), *run;
	const char *component = json_string_value(json_object_get(plan, "component")) ?: "app";
	const char *kind = json_string_value(json_object_get(plan, "kind")) ?: "push";
	const char *wanted = json_string_value(json_object_get(json_object_get(plan, "release"), "id"));
	int rc = -1;

	*n = 0;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	why = xasprintf("not reached before the run's deadline %s", when);
	if (journal_reopen(state_dir, jr->id, &jn, cause) != 0 || history_open(state_dir, &h, cause) != 0)
		goto out;
	for (size_t i = 0; i < jr->nhosts; i++) {
		const struct journal_host *jh = &jr->hosts[i];

		hr[i].host = jh->host;
		hr[i].state = strcmp(jh->state, "done") == 0 ? "ok" : jh->state;
		hr[i].step = jh->step;
		hr[i].error = jh->error;
		hr[i].exit_code = -1;
		hr[i].duration_ms = -1;
		if (strcmp(jh->state, "expired") != 0)
			continue;
		/* as journal_read sees it: expired by the deadline, not yet written down */
		hr[i].step = "deadline";
		hr[i].error = why;
		journal_state(jn, jh->host, "expired", "deadline", why, -1);
		names[(*n)++] = jh->host;
		{
			struct hist_state st;
			int found = history_host_state(h, jh->host, component, &st, NULL);

			json_array_append_new(terms, run_alarm_terminal(jh->host, "expired", "deadline", why,
			    found == 0 ? st.current : NULL, wanted));
			if (found == 0)
				hist_state_free(&st);
		}
	}
	list = report_hostlist(names, *n);
	line = xasprintf("%s %s %s: %zu expired: %s (deadline %s)", kind, component,
	    json_string_value(json_object_get(plan, "label")) ?: "", *n, *n > 0 ? list : "none", when);
	end = json_pack("{s:s, s:i}", "result", "expired", "exit", 3);
	run_json = run_journal_ended(state_dir, jr->id, end);
	memset(&op, 0, sizeof(op));
	op.kind = kind;
	op.run_id = jr->id;
	op.summary = line;
	op.component = component;
	op.command = "retry --all (the run's deadline passed)";
	op.selection = json_string_value(json_object_get(plan, "selection"));
	op.run_json = run_json;
	op.results = hr;
	op.nresults = jr->nhosts;
	rc = 0;
	if (history_record(h, &op, commit, cause) != 0)
		rc = -1;
	else if (ev->recorded != NULL)
		ev->recorded(ev->rollout.arg, h);
	journal_event(jn, "end", end);
	run = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "run", jr->id, "kind", kind, "component", component,
	    "summary", line, "operator", json_string_value(json_object_get(plan, "operator")) ?: "", "halted", 0);
	run_alarm_send(on_failure, run, terms, ev);
	terms = NULL;
	json_decref(run);
out:
	json_decref(terms);
	history_close(h);
	journal_close(jn);
	json_decref(end);
	free(names);
	free(list);
	free(line);
	free(run_json);
	free(why);
	free(hr);
	return rc;
}
