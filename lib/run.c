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

void
run_plan_amount(const json_t *j, struct rollout_amount *a)
{
	memset(a, 0, sizeof(*a));
	if (json_is_integer(j)) {
		a->set = true;
		a->value = (long)json_integer_value(j);
	} else if (json_is_string(j))
		rollout_parse_amount(json_string_value(j), a);
}

static char *
run_limit_text(const struct rollout_amount *a)
{
	if (!a->set)
		return xstrdup("(no limit)");
	if (a->pct)
		return xasprintf("%ld%% of them (rounded down)", a->value);
	return xasprintf("%ld", a->value);
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
	json_object_set_new(opt, "retry_until", ro->retry_until ? json_integer((json_int_t)ro->retry_until) : json_null());
	json_object_set_new(opt, "rollback_on_halt", json_boolean(ro->rollback_on_halt));
	json_object_set_new(opt, "ignore_window", json_boolean(ro->ignore_window));
	json_object_set_new(opt, "pause_after_wave", json_boolean(ro->pause_after_wave));
	json_object_set_new(opt, "parallel", json_integer(s->parallel));
	json_object_set_new(opt, "no_delta", json_boolean(s->no_delta));
	json_object_set_new(opt, "hardlink", json_boolean(s->hardlink));
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
	ro->retry_until = s->retry_until;
	ro->pause_after_wave = s->pause_after_wave;
	ro->rollback_on_halt = s->rollback_on_halt;
	ro->ignore_window = s->ignore_window;
	ro->dry_run = s->dry_run;
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
	return rollout_plan(ro, s->wave_amounts, s->nwave_amounts, cause);
}

/* Journal first, so a controller killed from here on leaves a resumable run.  0, or -1 with *cause. */
static int
run_journal_open(const struct run_spec *s, const struct rollout *ro, struct journal **jn, char **cause)
{
	json_t *plan;
	int rc;

	if (s->resumes != NULL)
		return journal_reopen(s->state_dir, s->run_id, jn, cause);
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
		if (history_host_state(h, s->hosts[i]->name, s->targets[i].component, &old, cause) < 0)
			goto out;
		if ((s->todo == NULL || s->todo[i]) &&
		    deploy_next_state(&old, &s->targets[i], &ro->outcomes[i], &ro->results[i], false, &states[i]) == 0)
			hr[i].new_state = &states[i];
		hist_state_free(&old);
	}
	if (journal_text(s->state_dir, s->run_id, &run_json, NULL) == 0) {
		/* the history's copy of the journal ends the way the journal will */
		char *end = journal_event_text("end", end_ev), *whole = xasprintf("%s%s", run_json, end);

		free(run_json);
		run_json = whole;
		free(end);
	}
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

/* Every terminal the run left failed, delayed or rolled back, with the release it still runs, to the
 * on_failure hook. */
static void
run_alarm(const struct run_spec *s, const struct run_events *ev, const struct rollout *ro, const char *line,
    const struct hist_state *states)
{
	json_t *terms = json_array(), *alarm;
	char *text, *warning = NULL;

	for (size_t i = 0; i < s->n; i++) {
		enum host_state st = ro->results[i].state;
		const struct deploy_outcome *o = &ro->outcomes[i];
		json_t *t;

		if (st == HS_OK || st == HS_SKIPPED)
			continue;
		t = json_object();
		json_object_set_new(t, "host", json_string(s->hosts[i]->name));
		json_object_set_new(t, "state", json_string(host_state_name(st)));
		json_object_set_new(t, "step", ro->results[i].step ? json_string(ro->results[i].step) : json_null());
		json_object_set_new(t, "error", ro->results[i].error ? json_string(ro->results[i].error) : json_null());
		json_object_set_new(t, "running", o->previous && *o->previous ? json_string(o->previous) :
		    states[i].current ? json_string(states[i].current) : json_null());
		json_object_set_new(t, "wanted", json_string(s->targets[i].id));
		json_array_append_new(terms, t);
	}
	if (json_array_size(terms) == 0 || s->on_failure == NULL) {
		json_decref(terms);
		return;
	}
	alarm = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "run", s->run_id, "kind", s->kind,
	    "component", s->component, "summary", line, "operator", s->operator, "halted", ro->halted,
	    "terminals", terms);
	text = json_dumps(alarm, JSON_INDENT(1));
	if (text != NULL && alarm_run(s->on_failure, text, &warning) != 0)
		run_error(ev, "warning: %s", warning);
	free(warning);
	free(text);
	json_decref(alarm);
}

int
run_deploy(const struct run_spec *s, const struct run_events *ev)
{
	struct rollout ro;
	struct termlock_info me;
	struct hist_state *states = xcalloc(s->n ? s->n : 1, sizeof(*states));
	struct journal *jn = NULL;
	struct run_end end;
	char *line = NULL, *cause = NULL, host[256];
	uint64_t sent = 0;
	json_t *end_ev = NULL;
	int status;

	if (run_setup(s, ev, &ro, &cause) != 0) {
		run_error(ev, "%s: %s", s->kind, cause);
		status = 2;
		goto out;
	}
	if (s->waves != NULL && ev->plan != NULL) {
		char *mf = run_limit_text(&s->max_fail), *mu = run_limit_text(&s->max_unreachable);
		char *text = xasprintf("%d wave%s (%s); after each wave the run halts when failed > %s or unreachable > %s, "
		    "counted over all terminals started so far", ro.nwaves, ro.nwaves == 1 ? "" : "s", s->waves, mf, mu);

		/* Thresholds are said before the run, exactly as they are applied. */
		ev->plan(ev->rollout.arg, text);
		free(text);
		free(mf);
		free(mu);
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
	if (s->prior != NULL && s->todo != NULL)
		status = rollout_merge_prior(&ro, s->prior, *s->cancel != 0);

	for (size_t i = 0; i < s->n; i++) {
		sent += ro.outcomes[i].bytes_sent;
		if (ev->host != NULL)
			ev->host(ev->rollout.arg, s, &ro, i);
	}
	line = run_summary_line(s, &ro);
	end.line = line;
	end.bytes_sent = sent;
	end.status = status;
	if (ev->done != NULL)
		ev->done(ev->rollout.arg, s, &ro, &end);

	/* A dry run changes nothing, so it records nothing; a paused run is recorded when it ends. */
	if (s->dry_run || ro.paused)
		goto out;
	/*
	 * The history commit first, the journal's end after it: a controller killed between the two leaves a
	 * run that resume sees recorded already (and just closes), never an ended run without its commit.
	 */
	end_ev = json_pack("{s:s, s:i}", "result", *s->cancel ? "interrupted" : ro.halted ? "halted" : "done",
	    "exit", status);
	if (run_record(s, ev, &ro, line, end_ev, states, &cause) != 0) {
		run_error(ev, "warning: cannot record %s in the history: %s", s->kind, cause ? cause : "unknown error");
		if (status == 0)
			status = 1;
	}
	journal_event(jn, "end", end_ev);
	run_alarm(s, ev, &ro, line, states);
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
