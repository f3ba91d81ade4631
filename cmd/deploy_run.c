/*
 * deploy_run: what push, rollback, resume and retry share once each terminal's target is known —
 * journal the plan, run the rollout (waves, thresholds, retries) with the deploy job, report each
 * terminal, record the run with every terminal's new state as one history commit, raise the alarm.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/alarm.h"
#include "../lib/bundle.h"
#include "../lib/deploy.h"
#include "../lib/sign.h"
#include "../lib/history.h"
#include "../lib/inventory.h"
#include "../lib/journal.h"
#include "../lib/report.h"
#include "../lib/rollout.h"
#include "../lib/targets.h"
#include "../lib/termlock.h"
#include "cmd.h"

static void
deploy_run_progress(const struct executor_progress *p, void *arg)
{
	(void)arg;
	report_progress(p, STDERR_FILENO);
}

static void
deploy_run_wave_start(void *arg, int wave, int nwaves, size_t count)
{
	const struct cmd_deploy *dr = arg;

	if (!dr->json && nwaves > 1)
		cmd_error("wave %d/%d: %zu terminal%s", wave, nwaves, count, count == 1 ? "" : "s");
}

static void
deploy_run_wave_end(void *arg, int wave, size_t ok, size_t failed, size_t unreachable, bool halted, const char *why)
{
	const struct cmd_deploy *dr = arg;

	if (dr->json)
		return;
	if (halted)
		cmd_error("wave %d: HALTED: %s (so far %zu ok, %zu failed, %zu unreachable)", wave, why, ok, failed,
		    unreachable);
	else if (dr->waves != NULL)
		cmd_error("wave %d done: so far %zu ok, %zu failed, %zu unreachable", wave, ok, failed, unreachable);
}

static void
deploy_run_retry(void *arg, size_t count, long wait_ms)
{
	const struct cmd_deploy *dr = arg;

	if (!dr->json)
		cmd_error("retrying %zu terminal%s in %.0f s", count, count == 1 ? "" : "s", (double)wait_ms / 1000.0);
}

/* Pause after a wave: wait for Enter on a terminal; elsewhere stop and leave the run resumable. */
static bool
deploy_run_pause(void *arg, int wave)
{
	const struct cmd_deploy *dr = arg;
	char line[64];

	if (!dr->interactive) {
		cmd_error("paused after wave %d: run `fleetctl resume %s` to go on", wave, dr->run_id);
		return false;
	}
	cmd_error("paused after wave %d: press Enter to go on, or type q and Enter to stop (resume later with "
	    "`fleetctl resume %s`)", wave, dr->run_id);
	if (fgets(line, sizeof(line), stdin) == NULL || line[0] == 'q')
		return false;
	return true;
}

static void
deploy_run_human(const struct host_result *r, const struct deploy_target *t, const struct deploy_outcome *o,
    struct buf *b)
{
	const char *prev = o->previous != NULL && *o->previous ? o->previous : "(none)";

	if (r->state == HS_OK) {
		if (o->plan != NULL)
			buf_addf(b, "%s: %s\n", r->host->name, o->plan);
		else if (o->unchanged)
			buf_addf(b, "%s: ok: already on %s\n", r->host->name, t->id);
		else {
			char *sent = report_bytes(o->bytes_sent), *reused = report_bytes(o->bytes_reused);

			buf_addf(b, "%s: ok: %s -> %s", r->host->name, prev, t->id);
			if (o->uploaded && o->delta)
				buf_addf(b, " (sent %s as a delta, reused %zu files, %s%s)", sent, o->files_reused, reused,
				    o->resumed_from > 0 ? ", resumed" : "");
			else if (o->uploaded)
				buf_addf(b, " (sent %s%s)", sent, o->resumed_from > 0 ? ", resumed" : "");
			else
				buf_adds(b, " (no upload)");
			if (o->relay != NULL && o->uploaded) {
				char *staged = report_bytes(o->bytes_staged);

				buf_addf(b, " via relay %s%s%s", o->relay, o->bytes_staged > 0 ? ", staged " : "",
				    o->bytes_staged > 0 ? staged : "");
				free(staged);
			}
			free(sent);
			free(reused);
			buf_adds(b, "\n");
			if (o->delta_fallback != NULL)
				buf_addf(b, "%s: note: full bundle sent: %s\n", r->host->name, o->delta_fallback);
		}
		if (r->note != NULL)
			buf_addf(b, "%s: note: %s\n", r->host->name, r->note);
		return;
	}
	buf_addf(b, "%s: %s", r->host->name, host_state_name(r->state));
	if (r->step != NULL)
		buf_addf(b, " (%s)", r->step);
	if (r->error != NULL)
		buf_addf(b, ": %s", r->error);
	buf_adds(b, "\n");
}

static json_t *
deploy_run_json(const struct host_result *r, const struct deploy_target *t, const struct deploy_outcome *o)
{
	json_t *j = report_json_host(r);

	json_object_set_new(j, "release", json_string(t->id));
	json_object_set_new(j, "component", json_string(t->component));
	json_object_set_new(j, "previous", o->previous != NULL && *o->previous ? json_string(o->previous) : json_null());
	json_object_set_new(j, "changed", json_boolean(o->changed));
	json_object_set_new(j, "unchanged", json_boolean(o->unchanged));
	json_object_set_new(j, "uploaded", json_boolean(o->uploaded));
	json_object_set_new(j, "bytes_sent", json_integer((json_int_t)o->bytes_sent));
	json_object_set_new(j, "bytes_reused", json_integer((json_int_t)o->bytes_reused));
	json_object_set_new(j, "files_reused", json_integer((json_int_t)o->files_reused));
	json_object_set_new(j, "delta", json_boolean(o->delta));
	json_object_set_new(j, "delta_fallback", o->delta_fallback ? json_string(o->delta_fallback) : json_null());
	json_object_set_new(j, "resumed_from", json_integer((json_int_t)o->resumed_from));
	json_object_set_new(j, "relay", o->relay != NULL ? json_string(o->relay) : json_null());
	json_object_set_new(j, "bytes_staged", json_integer((json_int_t)o->bytes_staged));
	if (o->plan != NULL)
		json_object_set_new(j, "plan", json_string(o->plan));
	/* the deploy script's step markers are not for people */
	json_object_del(j, "stdout");
	return j;
}

char *
cmd_operator(void)
{
	const char *user = getenv("USER");
	struct passwd *pw;
	char host[256];

	if (user == NULL || *user == '\0') {
		pw = getpwuid(getuid());
		user = pw != NULL ? pw->pw_name : "unknown";
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	return xasprintf("%s@%s", user, host);
}

static json_t *
deploy_run_amount(const struct rollout_amount *a)
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

static char *
deploy_run_limit_text(const struct rollout_amount *a)
{
	if (!a->set)
		return xstrdup("(no limit)");
	if (a->pct)
		return xasprintf("%ld%% of them (rounded down)", a->value);
	return xasprintf("%ld", a->value);
}

/* The plan as the journal keeps it: enough for `show`, `resume` and `retry` to need nothing else. */
static json_t *
deploy_run_plan(const struct cmd_ctx *ctx, const struct cmd_deploy *dr, const struct rollout *ro,
    const char *operator)
{
	json_t *plan = json_object(), *hosts = json_array(), *waves = json_array(), *rel = json_object(), *opt;

	for (size_t i = 0; i < dr->n; i++)
		json_array_append_new(hosts, json_string(dr->hosts[i]->name));
	for (int w = 0; w < ro->nwaves; w++) {
		json_t *list = json_array();

		for (size_t i = 0; i < dr->n; i++)
			if (ro->wave_of[i] == w)
				json_array_append_new(list, json_string(dr->hosts[i]->name));
		json_array_append_new(waves, list);
	}
	json_object_set_new(plan, "kind", json_string(dr->kind));
	json_object_set_new(plan, "operator", json_string(operator));
	json_object_set_new(plan, "component", json_string(dr->component));
	json_object_set_new(plan, "label", json_string(dr->label));
	json_object_set_new(plan, "selection", dr->selection ? json_string(dr->selection) : json_null());
	json_object_set_new(plan, "shard", dr->shard ? json_string(dr->shard) : json_null());
	json_object_set_new(plan, "command", dr->command ? json_string(dr->command) : json_null());
	if (dr->release_id != NULL) {
		json_object_set_new(rel, "id", json_string(dr->release_id));
		json_object_set_new(rel, "sha256", json_string(dr->release_sha256));
		json_object_set_new(plan, "release", rel);
	} else
		json_decref(rel);
	json_object_set_new(plan, "hosts", hosts);
	json_object_set_new(plan, "waves", waves);
	json_object_set_new(plan, "waves_spec", dr->waves ? json_string(dr->waves) : json_null());
	opt = json_object();
	json_object_set_new(opt, "max_fail", deploy_run_amount(&ro->max_fail));
	json_object_set_new(opt, "max_unreachable", deploy_run_amount(&ro->max_unreachable));
	json_object_set_new(opt, "retry_until", ro->retry_until ? json_integer((json_int_t)ro->retry_until) : json_null());
	json_object_set_new(opt, "rollback_on_halt", json_boolean(ro->rollback_on_halt));
	json_object_set_new(opt, "ignore_window", json_boolean(ro->ignore_window));
	json_object_set_new(opt, "pause_after_wave", json_boolean(ro->pause_after_wave));
	json_object_set_new(opt, "parallel", json_integer(dr->parallel));
	json_object_set_new(opt, "no_delta", json_boolean(dr->no_delta));
	json_object_set_new(opt, "hardlink", json_boolean(dr->hardlink));
	json_object_set_new(opt, "no_relay", json_boolean(dr->no_relay));
	json_object_set_new(plan, "options", opt);
	json_object_set_new(plan, "at", dr->at ? json_integer((json_int_t)dr->at) : json_null());
	json_object_set_new(plan, "resumes", dr->resumes ? json_string(dr->resumes) : json_null());
	json_object_set_new(plan, "inventory", json_string(ctx->inv->path));
	return plan;
}

int
cmd_deploy_run(struct cmd_ctx *ctx, const struct cmd_deploy *dr)
{
	struct rollout ro;
	struct termlock_info me;
	struct hist_result *hr = xcalloc(dr->n ? dr->n : 1, sizeof(*hr));
	struct hist_state *states = xcalloc(dr->n ? dr->n : 1, sizeof(*states));
	struct history *h = NULL;
	struct journal *jn = NULL;
	struct hist_op op;
	struct buf b;
	char *summary = NULL, *line = NULL, *cause = NULL, *operator = cmd_operator(), *run_json = NULL, *extra = NULL;
	char host[256], commit[41];
	uint64_t sent = 0, relayed = 0;
	size_t alarms = 0;
	json_t *alarm = NULL, *terms = NULL, *end_ev = NULL;
	int status;

	memset(&ro, 0, sizeof(ro));
	memset(&me, 0, sizeof(me));
	buf_init(&b, 0);
	ro.hosts = dr->hosts;
	ro.n = dr->n;
	ro.targets = dr->targets;
	ro.todo = dr->todo;    /* borrowed when set: see out */
	ro.max_fail = dr->max_fail;
	ro.max_unreachable = dr->max_unreachable;
	ro.retry_until = dr->retry_until;
	ro.pause_after_wave = dr->pause_after_wave;
	ro.rollback_on_halt = dr->rollback_on_halt;
	ro.ignore_window = dr->ignore_window;
	ro.dry_run = dr->dry_run;
	ro.no_relay = dr->no_relay;
	ro.eo.parallel = dr->parallel;
	ro.eo.cancel = ctx->interrupted;
	ro.eo.accept_new_host_keys = ctx->accept_new_host_keys;
	if (ctx->stderr_tty && !dr->json)
		ro.eo.progress = deploy_run_progress;
	ro.ev.wave_start = deploy_run_wave_start;
	ro.ev.wave_end = deploy_run_wave_end;
	ro.ev.retry = deploy_run_retry;
	ro.ev.pause = deploy_run_pause;
	ro.ev.arg = (void *)dr;
	if (dr->wave_of != NULL) {
		/* resuming: the waves the plan made */
		ro.wave_of = xcalloc(dr->n ? dr->n : 1, sizeof(*ro.wave_of));
		memcpy(ro.wave_of, dr->wave_of, dr->n * sizeof(*ro.wave_of));
		ro.nwaves = dr->nwaves;
	} else if (rollout_plan(&ro, dr->wave_amounts, dr->nwave_amounts, &cause) != 0) {
		cmd_error("%s: %s", dr->kind, cause);
		status = EXIT_USAGE;
		goto out;
	}
	if (dr->waves != NULL && !dr->json) {
		char *mf = deploy_run_limit_text(&dr->max_fail), *mu = deploy_run_limit_text(&dr->max_unreachable);

		/* Thresholds are said before the run, exactly as they are applied. */
		cmd_error("%d wave%s (%s); after each wave the run halts when failed > %s or unreachable > %s, "
		    "counted over all terminals started so far", ro.nwaves, ro.nwaves == 1 ? "" : "s", dr->waves, mf, mu);
		free(mf);
		free(mu);
	}

	if (!dr->dry_run) {
		json_t *plan;

		/* Journal first, so a controller killed from here on leaves a resumable run. */
		if (dr->resumes != NULL) {
			if (journal_reopen(ctx->inv->state_dir, dr->run_id, &jn, &cause) != 0) {
				cmd_error("%s: %s", dr->kind, cause);
				status = EXIT_FAILED;
				goto out;
			}
		} else {
			plan = deploy_run_plan(ctx, dr, &ro, operator);
			if (journal_create(ctx->inv->state_dir, dr->run_id, plan, &jn, &cause) != 0) {
				json_decref(plan);
				cmd_error("%s: %s", dr->kind, cause);
				status = EXIT_FAILED;
				goto out;
			}
			json_decref(plan);
		}
		ro.journal = jn;
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		me.run_id = (char *)dr->run_id;
		me.operator = operator;
		me.controller = host;
		me.kind = (char *)dr->kind;
		me.pid = (long)getpid();
		me.time = (long long)time(NULL);
		/* Stale after the run's own deadline: its retries, plus a generous bound on one deploy. */
		me.deadline = me.time + 4 * 3600 + (dr->retry_until > me.time ? dr->retry_until - me.time : 0);
		ro.lock = &me;
	}
	if (dr->at > time(NULL) && !dr->dry_run) {
		/* Scheduled: the plan is journalled (planned by whom, for when); wait for the time. */
		char when[64];
		struct tm tm;

		localtime_r(&dr->at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
		if (!dr->json)
			cmd_error("run %s planned for %s; waiting (Ctrl-C to stop; `fleetctl resume %s` starts it later)",
			    dr->run_id, when, dr->run_id);
		while (!*ctx->interrupted && time(NULL) < dr->at) {
			long left = (long)(dr->at - time(NULL));

			if (ctx->stderr_tty && !dr->json) {
				char cd[96];
				int len = snprintf(cd, sizeof(cd), "\rstarting in %ldh%02ldm%02lds\033[K", left / 3600,
				    left / 60 % 60, left % 60);

				if (write(STDERR_FILENO, cd, (size_t)len) < 0) {
					/* nowhere to show it */
				}
			}
			sleep(1);
		}
		if (ctx->stderr_tty && !dr->json)
			report_progress_clear(STDERR_FILENO);
		if (*ctx->interrupted) {
			status = EXIT_INTERRUPTED;
			goto out;
		}
	}
	status = rollout_run(&ro);
	if (ro.eo.progress != NULL)
		report_progress_clear(STDERR_FILENO);
	if (dr->prior != NULL && dr->todo != NULL)
		status = rollout_merge_prior(&ro, dr->prior, *ctx->interrupted != 0);

	summary = report_summary(ro.results, dr->n);
	for (size_t i = 0; i < dr->n; i++) {
		/* what left this controller: a relay's terminals got theirs from the relay's cache */
		if (ro.outcomes[i].relay != NULL) {
			sent += ro.outcomes[i].bytes_staged;
			relayed += ro.outcomes[i].bytes_sent;
		} else
			sent += ro.outcomes[i].bytes_sent;
		if (dr->json) {
			json_t *j = deploy_run_json(&ro.results[i], &dr->targets[i], &ro.outcomes[i]);

			json_object_set_new(j, "wave", json_integer(ro.wave_of[i] + 1));
			report_json_line(j, STDOUT_FILENO);
			json_decref(j);
		} else {
			deploy_run_human(&ro.results[i], &dr->targets[i], &ro.outcomes[i], &b);
			report_flush(&b, ro.results[i].state == HS_OK ? STDOUT_FILENO : STDERR_FILENO);
		}
	}
	line = xasprintf("%s%s %s %s %s %s%s%s: %s%s%s", dr->dry_run ? "dry run: " : "", dr->kind, dr->component,
	    dr->label, strcmp(dr->kind, "rollback") == 0 ? "on" : "to", dr->selection != NULL ? dr->selection : "all",
	    dr->shard != NULL ? ", shard " : "", dr->shard != NULL ? dr->shard : "", summary, ro.halted ? "; HALTED: " : ro.paused ? "; paused" : "", ro.halted ? ro.halt_reason : "");
	if (dr->json) {
		json_t *j = report_json_summary(ro.results, dr->n, status);

		json_object_set_new(j, "run", json_string(dr->run_id));
		json_object_set_new(j, "bytes_sent", json_integer((json_int_t)sent));
		json_object_set_new(j, "bytes_relayed", json_integer((json_int_t)relayed));
		json_object_set_new(j, "dry_run", json_boolean(dr->dry_run));
		json_object_set_new(j, "halted", json_boolean(ro.halted));
		json_object_set_new(j, "paused", json_boolean(ro.paused));
		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	} else {
		char *bytes = report_bytes(sent), *fanned = report_bytes(relayed);

		cmd_error("%s (%s %s%s%s%s, run %s)", line, bytes, dr->dry_run ? "would be sent" : "sent",
		    relayed > 0 ? ", " : "", relayed > 0 ? fanned : "", relayed > 0 ? " from relays" : "", dr->run_id);
		free(bytes);
		free(fanned);
	}

	/* A dry run changes nothing, so it records nothing; a paused run is recorded when it ends. */
	if (dr->dry_run)
		goto out;
	if (ro.paused)
		goto out;
	/*
	 * The history commit first, the journal's end after it: a controller killed between the two leaves a
	 * run that resume sees recorded already (and just closes), never an ended run without its commit.
	 */
	end_ev = json_pack("{s:s, s:i}", "result", *ctx->interrupted ? "interrupted" : ro.halted ? "halted" : "done",
	    "exit", status);
	memset(&op, 0, sizeof(op));
	if (history_open(ctx->inv->state_dir, &h, &cause) != 0)
		goto record_failed;
	for (size_t i = 0; i < dr->n; i++) {
		struct hist_state old;

		cmd_hist_result(&ro.results[i], &hr[i]);
		hr[i].bytes = ro.results[i].state != HS_SKIPPED && ro.results[i].state != HS_PENDING;
		hr[i].bytes_sent = ro.outcomes[i].bytes_sent;
		hr[i].bytes_reused = ro.outcomes[i].bytes_reused;
		hr[i].relay = ro.outcomes[i].relay;
		hr[i].bytes_staged = ro.outcomes[i].bytes_staged;
		if (history_host_state(h, dr->hosts[i]->name, dr->targets[i].component, &old, &cause) < 0)
			goto record_failed;
		if ((dr->todo == NULL || dr->todo[i]) &&
		    deploy_next_state(&old, &dr->targets[i], &ro.outcomes[i], &ro.results[i], false, &states[i]) == 0)
			hr[i].new_state = &states[i];
		hist_state_free(&old);
	}
	if (journal_text(ctx->inv->state_dir, dr->run_id, &run_json, &cause) != 0) {
		free(cause);
		cause = NULL;
	} else {
		/* the history's copy of the journal ends the way the journal will */
		char *end = journal_event_text("end", end_ev), *whole = xasprintf("%s%s", run_json, end);

		free(run_json);
		run_json = whole;
		free(end);
	}
	op.kind = dr->kind;
	op.run_id = dr->run_id;
	op.summary = line;
	op.component = dr->component;
	op.command = dr->command;
	op.selection = dr->selection;
	op.release_id = dr->release_id;
	op.release_manifest = dr->release_manifest;
	op.release_sha256 = dr->release_sha256;
	op.run_json = run_json;
	extra = xasprintf("%s%s%s%s", dr->signer != NULL ? "Signed-by: " : "", dr->signer != NULL ? dr->signer : "",
	    dr->signer != NULL && dr->ignore_window ? "\n" : "",
	    dr->ignore_window ? "Ignore-window: yes (maintenance windows were overridden)" : "");
	op.extra = *extra != '\0' ? extra : NULL;
	op.results = hr;
	op.nresults = dr->n;
	if (history_record(h, &op, commit, &cause) != 0)
		goto record_failed;
	cmd_history_push(ctx, h);
	goto alarm;
record_failed:
	cmd_error("warning: cannot record %s in the history: %s", dr->kind, cause ? cause : "unknown error");
	if (status == EXIT_OK)
		status = EXIT_FAILED;
alarm:
	if (jn != NULL)
		journal_event(jn, "end", end_ev);
	/* Every terminal the run left failed, delayed or rolled back, with the release it still runs. */
	terms = json_array();
	for (size_t i = 0; i < dr->n; i++) {
		enum host_state s = ro.results[i].state;
		json_t *t;

		if (s == HS_OK || s == HS_SKIPPED)
			continue;
		t = json_object();
		json_object_set_new(t, "host", json_string(dr->hosts[i]->name));
		json_object_set_new(t, "state", json_string(host_state_name(s)));
		json_object_set_new(t, "step", ro.results[i].step ? json_string(ro.results[i].step) : json_null());
		json_object_set_new(t, "error", ro.results[i].error ? json_string(ro.results[i].error) : json_null());
		json_object_set_new(t, "running", ro.outcomes[i].previous && *ro.outcomes[i].previous ?
		    json_string(ro.outcomes[i].previous) :
		    states[i].current ? json_string(states[i].current) : json_null());
		json_object_set_new(t, "wanted", json_string(dr->targets[i].id));
		json_array_append_new(terms, t);
		alarms++;
	}
	if (alarms > 0 && ctx->inv->on_failure != NULL) {
		char *text, *warning = NULL;

		alarm = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:O}", "run", dr->run_id, "kind", dr->kind,
		    "component", dr->component, "summary", line, "operator", operator, "halted", ro.halted,
		    "terminals", terms);
		text = json_dumps(alarm, JSON_INDENT(1));
		if (text != NULL && alarm_run(ctx->inv->on_failure, text, &warning) != 0)
			cmd_error("warning: %s", warning);
		free(warning);
		free(text);
	}
out:
	journal_close(jn);
	history_close(h);
	for (size_t i = 0; i < dr->n; i++)
		hist_state_free(&states[i]);
	if (dr->todo != NULL)
		ro.todo = NULL;   /* the caller's */
	rollout_free(&ro);
	json_decref(alarm);
	json_decref(terms);
	json_decref(end_ev);
	free(states);
	free(hr);
	free(cause);
	free(line);
	free(summary);
	free(run_json);
	free(extra);
	free(operator);
	buf_free(&b);
	return status;
}

int
cmd_release_signature(struct cmd_ctx *ctx, const char *cmdname, const struct bundle *b, const char *archive,
    const char *sign_key, char **signer)
{
	char *store = xasprintf("%s/bundles", ctx->inv->state_dir), *kept = NULL, *beside = NULL, *sig = NULL;
	char *cause = NULL;
	size_t len;
	int rc = EXIT_USAGE;

	*signer = NULL;
	kept = xasprintf("%s/%s.sig", store, b->sha256);
	if (sign_key != NULL) {
		if (sign_manifest(sign_key, b->manifest_text, strlen(b->manifest_text), &sig, &cause) != 0) {
			cmd_error("%s: %s", cmdname, cause);
			goto out;
		}
	} else if (archive != NULL && (beside = xasprintf("%s.sig", archive)) != NULL &&
	    read_file(beside, 64 * 1024, &sig, &len) == 0) {
		/* found beside the archive */
	} else if (read_file(kept, 64 * 1024, &sig, &len) != 0) {
		char *shared = ctx->inv->bundle_remote != NULL ? xasprintf("%s/%s.sig", ctx->inv->bundle_remote, b->sha256) : NULL;

		if (shared == NULL || read_file(shared, 64 * 1024, &sig, &len) != 0)
			sig = NULL;
		free(shared);
	}
	if (ctx->inv->require_signature == NULL) {
		rc = 0;   /* nothing asked; a signature found is still kept with the bundle */
	} else if (sig == NULL) {
		cmd_error("%s: refusing %s: it is not signed, and %s requires a signature (require_signature): "
		    "sign it with `fleetctl bundle --sign KEY` (or push --sign KEY)", cmdname, b->id, ctx->inv->path);
		goto out;
	} else if (sign_verify(sig, b->manifest_text, strlen(b->manifest_text), ctx->inv->require_signature, signer,
	    &cause) != 0) {
		cmd_error("%s: refusing %s: %s", cmdname, b->id, cause);
		goto out;
	} else
		rc = 0;
	if (rc == 0 && sig != NULL && write_file_atomic(kept, sig, strlen(sig), 0644) != 0)
		cmd_error("%s: warning: cannot keep the signature as '%s'", cmdname, kept);
	if (rc == 0 && sig != NULL && ctx->inv->bundle_remote != NULL) {
		char *shared = xasprintf("%s/%s.sig", ctx->inv->bundle_remote, b->sha256);

		if (mkdir_p(ctx->inv->bundle_remote, 0755) != 0 || write_file_atomic(shared, sig, strlen(sig), 0644) != 0)
			cmd_error("%s: warning: cannot put the signature in '%s'", cmdname, shared);
		free(shared);
	}
out:
	free(store);
	free(kept);
	free(beside);
	free(sig);
	free(cause);
	return rc;
}

int
cmd_deploy_targets(struct cmd_ctx *ctx, const char *cmdname, struct inv_host **hosts, size_t n,
    const struct bundle *b, const char *stored, bool delta, bool hardlink, struct deploy_target **out)
{
	char **warnings = NULL, *cause = NULL;
	int rc = 0;

	if (targets_make(ctx->inv->state_dir, hosts, n, b, stored, delta, hardlink, out, &warnings, &cause) != 0) {
		cmd_error("%s: %s", cmdname, cause != NULL ? cause : "cannot plan the targets");
		rc = EXIT_FAILED;
	}
	for (size_t i = 0; warnings != NULL && warnings[i] != NULL; i++)
		cmd_error("%s: warning: %s", cmdname, warnings[i]);
	strv_free(warnings);
	free(cause);
	return rc;
}

bool
cmd_plan_option(const json_t *plan, const char *name)
{
	return json_is_true(json_object_get(json_object_get(plan, "options"), name));
}

int
cmd_stored_bundle(struct cmd_ctx *ctx, const char *cmdname, const char *sha256, struct bundle **b, char **stored)
{
	char *store = xasprintf("%s/bundles", ctx->inv->state_dir), *cause = NULL;
	int rc = EXIT_FAILED;

	if (bundle_store_path(store, sha256, stored) != 0) {
		/* Another controller's push: its bundle may be in the shared store. */
		char *shared = NULL;
		struct bundle *sb = NULL;

		if (ctx->inv->bundle_remote == NULL || bundle_store_path(ctx->inv->bundle_remote, sha256, &shared) != 0 ||
		    bundle_open(shared, &sb, &cause) != 0 || strcmp(sb->sha256, sha256) != 0 ||
		    bundle_store_put(store, sb, stored, &cause) != 0) {
			if (cause != NULL)
				cmd_error("%s: the bundle %s from bundle_remote: %s", cmdname, sha256, cause);
			else
				cmd_error("%s: the bundle %s is no longer in the store '%s'%s%s", cmdname, sha256, store,
				    ctx->inv->bundle_remote != NULL ? " nor in bundle_remote " : "",
				    ctx->inv->bundle_remote != NULL ? ctx->inv->bundle_remote : "");
			free(shared);
			bundle_free(sb);
			goto out;
		}
		free(shared);
		bundle_free(sb);
	}
	if (bundle_open(*stored, b, &cause) != 0) {
		cmd_error("%s: stored bundle '%s' refused: %s", cmdname, *stored, cause);
		free(*stored);
		*stored = NULL;
		goto out;
	}
	rc = 0;
out:
	free(store);
	free(cause);
	return rc;
}

int
cmd_run_load(struct cmd_ctx *ctx, const char *cmdname, const char *run_id, struct journal_run **jr,
    struct inv_host ***hosts, struct bundle **b, char **stored)
{
	json_t *rel, *sha;
	char *cause = NULL;
	int rc;

	if ((rc = cmd_load_inventory(ctx)) != 0)
		return rc;
	if (journal_read(ctx->inv->state_dir, run_id, jr, &cause) != 0) {
		cmd_error("%s: %s (see fleetctl runs)", cmdname, cause);
		free(cause);
		return EXIT_USAGE;
	}
	rel = json_object_get((*jr)->plan, "release");
	sha = json_object_get(rel, "sha256");
	if (!json_is_string(sha)) {
		cmd_error("%s: run %s is a %s without a release to push: run it again instead", cmdname, run_id,
		    json_string_value(json_object_get((*jr)->plan, "kind")) ?: "run");
		return EXIT_USAGE;
	}
	*hosts = xcalloc((*jr)->nhosts + 1, sizeof(**hosts));
	for (size_t i = 0; i < (*jr)->nhosts; i++) {
		(*hosts)[i] = inventory_find(ctx->inv, (*jr)->hosts[i].host);
		if ((*hosts)[i] == NULL || (*hosts)[i]->implicit) {
			cmd_error("%s: run %s names terminal '%s', which the inventory '%s' no longer has", cmdname,
			    run_id, (*jr)->hosts[i].host, ctx->inv->path);
			return EXIT_USAGE;
		}
	}
	return cmd_stored_bundle(ctx, cmdname, json_string_value(sha), b, stored);
}
