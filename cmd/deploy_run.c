/*
 * deploy_run: what push and rollback share once each terminal's target is known — run the deploy job
 * on every terminal, report each one, and record the run (with every terminal's new state) as one
 * history commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/deploy.h"
#include "../lib/history.h"
#include "../lib/report.h"
#include "cmd.h"

static void
deploy_run_progress(const struct executor_progress *p, void *arg)
{
	(void)arg;
	report_progress(p, STDERR_FILENO);
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
			buf_addf(b, "%s: ok: %s -> %s", r->host->name, prev, t->id);
			if (o->uploaded)
				buf_addf(b, " (sent %.1f MiB%s)", (double)o->bytes_sent / 1048576.0,
				    o->resumed_from > 0 ? ", resumed" : "");
			else
				buf_adds(b, " (no upload)");
			buf_adds(b, "\n");
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
	json_object_set_new(j, "resumed_from", json_integer((json_int_t)o->resumed_from));
	if (o->plan != NULL)
		json_object_set_new(j, "plan", json_string(o->plan));
	/* the deploy script's step markers are not for people */
	json_object_del(j, "stdout");
	return j;
}

int
cmd_deploy_run(struct cmd_ctx *ctx, const struct cmd_deploy *dr)
{
	struct executor_opts eo;
	struct executor_job job;
	struct deploy_plan plan;
	struct host_result *results = xcalloc(dr->n, sizeof(*results));
	struct hist_result *hr = xcalloc(dr->n, sizeof(*hr));
	struct hist_state *states = xcalloc(dr->n, sizeof(*states));
	struct history *h = NULL;
	struct hist_op op;
	struct buf b;
	char *summary, *line, *cause = NULL, commit[41];
	uint64_t sent = 0;
	int status;

	memset(&plan, 0, sizeof(plan));
	plan.targets = dr->targets;
	plan.outcomes = xcalloc(dr->n, sizeof(*plan.outcomes));
	plan.results = results;
	plan.dry_run = dr->dry_run;
	memset(&eo, 0, sizeof(eo));
	eo.parallel = dr->parallel;
	eo.cancel = ctx->interrupted;
	eo.accept_new_host_keys = ctx->accept_new_host_keys;
	if (ctx->stderr_tty && !dr->json)
		eo.progress = deploy_run_progress;
	job.run = deploy_run_host;
	job.arg = &plan;
	executor_run(&eo, dr->hosts, dr->n, results, &job);
	if (eo.progress != NULL)
		report_progress_clear(STDERR_FILENO);

	status = executor_exit_status(results, dr->n, *ctx->interrupted != 0);
	summary = report_summary(results, dr->n);
	buf_init(&b, 0);
	for (size_t i = 0; i < dr->n; i++) {
		sent += plan.outcomes[i].bytes_sent;
		if (dr->json) {
			json_t *j = deploy_run_json(&results[i], &dr->targets[i], &plan.outcomes[i]);

			report_json_line(j, STDOUT_FILENO);
			json_decref(j);
		} else {
			deploy_run_human(&results[i], &dr->targets[i], &plan.outcomes[i], &b);
			report_flush(&b, results[i].state == HS_OK ? STDOUT_FILENO : STDERR_FILENO);
		}
	}
	if (dr->json) {
		json_t *j = report_json_summary(results, dr->n, status);

		json_object_set_new(j, "bytes_sent", json_integer((json_int_t)sent));
		json_object_set_new(j, "dry_run", json_boolean(dr->dry_run));
		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	}
	line = xasprintf("%s%s %s %s %s %s: %s", dr->dry_run ? "dry run: " : "", dr->kind, dr->component,
	    dr->label, strcmp(dr->kind, "push") == 0 ? "to" : "on", dr->selection != NULL ? dr->selection : "all",
	    summary);
	if (!dr->json)
		cmd_error("%s (%.1f MiB sent)", line, (double)sent / 1048576.0);

	/* A dry run changes nothing, so it records nothing. */
	if (!dr->dry_run) {
		memset(&op, 0, sizeof(op));
		if (history_open(ctx->inv->state_dir, &h, &cause) != 0)
			goto record_failed;
		for (size_t i = 0; i < dr->n; i++) {
			struct hist_state old;

			hr[i].host = results[i].host->name;
			hr[i].state = host_state_name(results[i].state);
			hr[i].step = results[i].state == HS_OK ? NULL : results[i].step;
			hr[i].error = results[i].error;
			hr[i].exit_code = results[i].exit_code;
			hr[i].duration_ms = results[i].duration_ms;
			if (history_host_state(h, results[i].host->name, dr->targets[i].component, &old, &cause) < 0)
				goto record_failed;
			if (deploy_next_state(&old, &dr->targets[i], &plan.outcomes[i], &results[i], false, &states[i]) == 0)
				hr[i].new_state = &states[i];
			hist_state_free(&old);
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
		op.results = hr;
		op.nresults = dr->n;
		if (history_record(h, &op, commit, &cause) != 0)
			goto record_failed;
		goto recorded;
record_failed:
		cmd_error("warning: cannot record %s in the history: %s", dr->kind, cause ? cause : "unknown error");
		if (status == EXIT_OK)
			status = EXIT_FAILED;
recorded:
		;
	}
	history_close(h);
	for (size_t i = 0; i < dr->n; i++)
		hist_state_free(&states[i]);
	free(states);
	free(hr);
	free(cause);
	free(line);
	free(summary);
	buf_free(&b);
	deploy_outcomes_free(plan.outcomes, dr->n);
	host_results_free(results, dr->n);
	return status;
}
