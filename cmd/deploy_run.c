/*
 * deploy_run: what push, rollback, resume and retry share — loading a journalled run, its stored bundle
 * and signature, each terminal's target — and how a deploy run (lib/run) looks: the plan line, waves,
 * retries and pauses, each terminal, the summary, as text or JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/bundle.h"
#include "../lib/deploy.h"
#include "../lib/sign.h"
#include "../lib/inventory.h"
#include "../lib/journal.h"
#include "../lib/report.h"
#include "../lib/run.h"
#include "../lib/targets.h"
#include "cmd.h"

/* What the printing callbacks need. */
struct deploy_run_out {
	struct cmd_ctx *ctx;
	const struct run_spec *spec;
	bool json, interactive;
	int todo_status;
	struct buf b;
};

static void
deploy_run_progress(const struct executor_progress *p, void *arg)
{
	(void)arg;
	if (p != NULL)
		report_progress(p, STDERR_FILENO);
	else
		report_progress_clear(STDERR_FILENO);
}

static void
deploy_run_plan(void *arg, const char *text)
{
	const struct deploy_run_out *o = arg;

	if (!o->json)
		cmd_error("%s", text);
}

static void
deploy_run_error(void *arg, const char *msg)
{
	(void)arg;
	cmd_error("%s", msg);
}

static void
deploy_run_wait(void *arg, time_t at, long left)
{
	const struct deploy_run_out *o = arg;

	if (o->json)
		return;
	if (left < 0) {
		char when[64];
		struct tm tm;

		localtime_r(&at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
		cmd_error("run %s planned for %s; waiting (Ctrl-C to stop; `fleetctl resume %s` starts it later)",
		    o->spec->run_id, when, o->spec->run_id);
	} else if (o->ctx->stderr_tty && left > 0) {
		char cd[96];
		int len = snprintf(cd, sizeof(cd), "\rstarting in %ldh%02ldm%02lds\033[K", left / 3600, left / 60 % 60,
		    left % 60);

		if (write(STDERR_FILENO, cd, (size_t)len) < 0) {
			/* nowhere to show it */
		}
	} else if (o->ctx->stderr_tty)
		report_progress_clear(STDERR_FILENO);
}

static void
deploy_run_wave_start(void *arg, int wave, int nwaves, size_t count)
{
	const struct deploy_run_out *out = arg;

	if (!out->json && nwaves > 1)
		cmd_error("wave %d/%d: %zu terminal%s", wave, nwaves, count, count == 1 ? "" : "s");
}

static void
deploy_run_wave_end(void *arg, int wave, size_t ok, size_t failed, size_t unreachable, bool halted, const char *why)
{
	const struct deploy_run_out *out = arg;

	if (out->json)
		return;
	if (halted)
		cmd_error("wave %d: HALTED: %s (so far %zu ok, %zu failed, %zu unreachable)", wave, why, ok, failed,
		    unreachable);
	else if (out->spec->waves != NULL)
		cmd_error("wave %d done: so far %zu ok, %zu failed, %zu unreachable", wave, ok, failed, unreachable);
}

static void
deploy_run_retry(void *arg, size_t count, long wait_ms)
{
	const struct deploy_run_out *out = arg;

	if (!out->json)
		cmd_error("retrying %zu terminal%s in %.0f s", count, count == 1 ? "" : "s", (double)wait_ms / 1000.0);
}

/* Pause after a wave: wait for Enter on a terminal; elsewhere stop and leave the run resumable. */
static bool
deploy_run_pause(void *arg, int wave)
{
	const struct deploy_run_out *out = arg;
	char line[64];

	if (!out->interactive) {
		cmd_error("paused after wave %d: run `fleetctl resume %s` to go on", wave, out->spec->run_id);
		return false;
	}
	cmd_error("paused after wave %d: press Enter to go on, or type q and Enter to stop (resume later with "
	    "`fleetctl resume %s`)", wave, out->spec->run_id);
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

static void
deploy_run_one(void *arg, const struct run_spec *s, const struct rollout *ro, size_t i)
{
	struct deploy_run_out *o = arg;

	if (s->pickup > 0 && s->todo != NULL && !s->todo[i])
		return;   /* retry --all: the terminals it picked up; the summary counts the others */
	if (o->json) {
		json_t *j = deploy_run_json(&ro->results[i], &s->targets[i], &ro->outcomes[i]);

		json_object_set_new(j, "wave", json_integer(ro->wave_of[i] + 1));
		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	} else {
		deploy_run_human(&ro->results[i], &s->targets[i], &ro->outcomes[i], &o->b);
		report_flush(&o->b, ro->results[i].state == HS_OK ? STDOUT_FILENO : STDERR_FILENO);
	}
}

static void
deploy_run_done(void *arg, const struct run_spec *s, const struct rollout *ro, const struct run_end *end)
{
	struct deploy_run_out *o = arg;

	if (o->json) {
		json_t *j = report_json_summary(ro->results, s->n, end->status);

		json_object_set_new(j, "run", json_string(s->run_id));
		json_object_set_new(j, "bytes_sent", json_integer((json_int_t)end->bytes_sent));
		json_object_set_new(j, "bytes_relayed", json_integer((json_int_t)end->bytes_relayed));
		json_object_set_new(j, "dry_run", json_boolean(s->dry_run));
		json_object_set_new(j, "halted", json_boolean(ro->halted));
		json_object_set_new(j, "paused", json_boolean(ro->paused));
		json_object_set_new(j, "open", json_boolean(end->open));
		json_object_set_new(j, "until", s->until > 0 ? json_integer((json_int_t)s->until) : json_null());
		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	} else {
		char *bytes = report_bytes(end->bytes_sent), *fanned = report_bytes(end->bytes_relayed);
		bool relayed = end->bytes_relayed > 0;

		cmd_error("%s (%s %s%s%s%s, run %s)", end->line, bytes, s->dry_run ? "would be sent" : "sent",
		    relayed ? ", " : "", relayed ? fanned : "", relayed ? " from relays" : "", s->run_id);
		free(bytes);
		free(fanned);
		if (end->open) {
			char when[64];
			struct tm tm;

			localtime_r(&s->until, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
			cmd_error("run %s stays open until %s: `fleetctl retry --all` (from cron) picks up its delayed "
			    "terminals until then", s->run_id, when);
		}
	}
	o->todo_status = end->todo_status;
}

static void
deploy_run_recorded(void *arg, struct history *h)
{
	const struct deploy_run_out *o = arg;

	cmd_history_push(o->ctx, h);
}

int
cmd_deploy_run(struct cmd_ctx *ctx, struct run_spec *dr, bool json)
{
	int todo_status;

	return cmd_deploy_run_todo(ctx, dr, json, &todo_status);
}

/* The rollout's soak: what it waits for, and what it found. */
static void
deploy_run_soak_start(void *arg, int wave, size_t count, long seconds)
{
	const struct deploy_run_out *out = arg;

	if (!out->json)
		cmd_error("wave %d: soaking %ld s before wave %d, then health again on %zu terminal%s", wave, seconds,
		    wave + 1, count, count == 1 ? "" : "s");
}

static void
deploy_run_soak_end(void *arg, int wave, size_t checked, size_t unhealthy)
{
	const struct deploy_run_out *out = arg;

	if (!out->json)
		cmd_error("wave %d: soak over: %zu of %zu terminal%s unhealthy", wave, unhealthy, checked,
		    checked == 1 ? "" : "s");
}

int
cmd_deploy_run_todo(struct cmd_ctx *ctx, struct run_spec *dr, bool json, int *todo_status)
{
	struct deploy_run_out out;
	struct run_events ev;
	char *operator = cmd_operator();
	int status;

	dr->state_dir = ctx->inv->state_dir;
	dr->inventory_path = ctx->inv->path;
	dr->on_failure = ctx->inv->on_failure;
	dr->operator = operator;
	dr->cancel = ctx->interrupted;
	dr->accept_new_host_keys = ctx->accept_new_host_keys;
	memset(&out, 0, sizeof(out));
	out.ctx = ctx;
	out.spec = dr;
	out.json = json;
	out.interactive = ctx->stdin_tty;
	buf_init(&out.b, 0);
	memset(&ev, 0, sizeof(ev));
	ev.rollout.wave_start = deploy_run_wave_start;
	ev.rollout.wave_end = deploy_run_wave_end;
	ev.rollout.retry = deploy_run_retry;
	ev.rollout.pause = deploy_run_pause;
	ev.rollout.soak_start = deploy_run_soak_start;
	ev.rollout.soak_end = deploy_run_soak_end;
	ev.rollout.arg = &out;
	if (ctx->stderr_tty && !json)
		ev.progress = deploy_run_progress;
	ev.plan = deploy_run_plan;
	ev.wait = deploy_run_wait;
	ev.host = deploy_run_one;
	ev.done = deploy_run_done;
	ev.recorded = deploy_run_recorded;
	ev.error = deploy_run_error;
	out.todo_status = EXIT_OK;
	status = run_deploy(dr, &ev);
	*todo_status = out.todo_status;
	buf_free(&out.b);
	free(operator);
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
cmd_run_parts(struct cmd_ctx *ctx, const char *cmdname, const struct journal_run *jr, struct inv_host ***hosts,
    struct bundle **b, char **stored)
{
	json_t *sha = json_object_get(json_object_get(jr->plan, "release"), "sha256");

	if (!json_is_string(sha)) {
		cmd_error("%s: run %s is a %s without a release to push: run it again instead", cmdname, jr->id,
		    json_string_value(json_object_get(jr->plan, "kind")) ?: "run");
		return EXIT_USAGE;
	}
	*hosts = xcalloc(jr->nhosts + 1, sizeof(**hosts));
	for (size_t i = 0; i < jr->nhosts; i++) {
		(*hosts)[i] = inventory_find(ctx->inv, jr->hosts[i].host);
		if ((*hosts)[i] == NULL || (*hosts)[i]->implicit) {
			cmd_error("%s: run %s names terminal '%s', which the inventory '%s' no longer has", cmdname,
			    jr->id, jr->hosts[i].host, ctx->inv->path);
			return EXIT_USAGE;
		}
	}
	return cmd_stored_bundle(ctx, cmdname, json_string_value(sha), b, stored);
}

int
cmd_run_load(struct cmd_ctx *ctx, const char *cmdname, const char *run_id, struct journal_run **jr,
    struct inv_host ***hosts, struct bundle **b, char **stored)
{
	char *cause = NULL;
	int rc;

	if ((rc = cmd_load_inventory(ctx)) != 0)
		return rc;
	if (journal_read(ctx->inv->state_dir, run_id, jr, &cause) != 0) {
		cmd_error("%s: %s (see fleetctl runs)", cmdname, cause);
		free(cause);
		return EXIT_USAGE;
	}
	return cmd_run_parts(ctx, cmdname, *jr, hosts, b, stored);
}

/*
 * resume: each terminal's wave from the plan, and the terminals to deploy again: all but those that
 * ended failed or rolled back.  Returns the number of waves.
 */
static int
cmd_resume_waves(const struct journal_run *jr, struct inv_host **hosts, bool *todo, int *wave_of)
{
	json_t *waves = json_object_get(jr->plan, "waves");
	int nw = json_array_size(waves) > 0 ? (int)json_array_size(waves) : 1, first = nw - 1;

	for (size_t i = 0; i < jr->nhosts; i++) {
		const char *st = jr->hosts[i].state;

		/* Ended for good: failed or rolled back stay so (retry is for those). */
		todo[i] = strcmp(st, "failed") != 0 && strcmp(st, "rolled-back") != 0;
		for (size_t w = 0; w < json_array_size(waves); w++) {
			json_t *list = json_array_get(waves, w);

			for (size_t k = 0; k < json_array_size(list); k++)
				if (strcmp(json_string_value(json_array_get(list, k)) ?: "", hosts[i]->name) == 0)
					wave_of[i] = (int)w;
		}
	}
	/*
	 * Waves whose terminals had all ended before are done: their terminals are confirmed with the first
	 * wave that still has work (or the last), so a run paused after wave N (or killed later) does not
	 * pause again after a wave it had already finished.
	 */
	for (int w = 0; w < nw && first == nw - 1; w++) {
		for (size_t i = 0; i < jr->nhosts; i++) {
			if (wave_of[i] == w && todo[i] && strcmp(jr->hosts[i].state, "done") != 0) {
				first = w;
				break;
			}
		}
	}
	for (size_t i = 0; i < jr->nhosts; i++)
		if (wave_of[i] < first)
			wave_of[i] = first;
	return nw;
}

/* retry --all: the terminals still to do, in one wave, with the run's rate and deadline and no
 * thresholds (its waves are behind it); retried in-process for retry_for at most. */
static size_t
cmd_pickup_plan(const struct journal_run *jr, struct run_spec *dr, bool *todo, long retry_for)
{
	size_t k = 0;

	for (size_t i = 0; i < jr->nhosts; i++)
		k += todo[i] = journal_state_to_do(jr->hosts[i].state);
	dr->waves = NULL;
	memset(&dr->max_fail, 0, sizeof(dr->max_fail));
	memset(&dr->max_unreachable, 0, sizeof(dr->max_unreachable));
	dr->min_sample = 0;
	dr->soak_s = 0;
	dr->pause_after_wave = false;
	dr->at = 0;
	dr->nwaves = 1;
	dr->pickup = k;
	dr->retry_until = 0;
	if (retry_for > 0)
		dr->retry_until = time(NULL) + retry_for < dr->until ? time(NULL) + retry_for : dr->until;
	return k;
}

int
cmd_run_continue(struct cmd_ctx *ctx, const char *cmdname, const struct journal_run *jr, bool pickup,
    long retry_for, bool dry_run, bool json, int *todo_status)
{
	struct inv_host **hosts = NULL;
	struct deploy_target *targets = NULL;
	struct bundle *b = NULL;
	struct run_spec dr;
	char *stored = NULL, *signer = NULL;
	size_t n = jr->nhosts;
	bool *todo = xcalloc(n ? n : 1, sizeof(*todo));
	int *wave_of = xcalloc(n ? n : 1, sizeof(*wave_of));
	int rc;

	*todo_status = EXIT_OK;
	if ((rc = cmd_run_parts(ctx, cmdname, jr, &hosts, &b, &stored)) != 0 ||
	    (rc = cmd_release_signature(ctx, cmdname, b, NULL, NULL, &signer)) != 0 ||
	    (rc = cmd_deploy_targets(ctx, cmdname, hosts, n, b, stored, !cmd_plan_option(jr->plan, "no_delta"),
	    cmd_plan_option(jr->plan, "hardlink"), &targets)) != 0) {
		*todo_status = rc;
		goto out;
	}
	memset(&dr, 0, sizeof(dr));
	run_spec_from_plan(&dr, jr->plan);
	dr.kind = json_string_value(json_object_get(jr->plan, "kind")) ?: "push";
	dr.run_id = jr->id;
	dr.resumes = jr->id;
	dr.selection = json_string_value(json_object_get(jr->plan, "selection"));
	dr.command = json_string_value(json_object_get(jr->plan, "command"));
	run_spec_release(&dr, b);
	dr.hosts = hosts;
	dr.n = n;
	dr.targets = targets;
	dr.todo = todo;
	dr.wave_of = wave_of;
	dr.prior = jr->hosts;
	dr.signer = signer;
	dr.dry_run = dry_run;
	if (dr.parallel <= 0)
		dr.parallel = (int)inv_get_long(hosts[0], INV_PARALLEL);
	if (pickup) {
		char **names = xcalloc(n + 1, sizeof(*names)), *list;
		size_t k = cmd_pickup_plan(jr, &dr, todo, retry_for);

		for (size_t i = 0, j = 0; i < n; i++)
			if (todo[i])
				names[j++] = hosts[i]->name;
		list = report_hostlist(names, k);
		if (!json)
			cmd_error("%s: run %s: picking up %zu terminal%s still to do: %s", cmdname, jr->id, k,
			    k == 1 ? "" : "s", list);
		free(list);
		free(names);
	} else {
		dr.nwaves = cmd_resume_waves(jr, hosts, todo, wave_of);
		if (!json)
			cmd_error("resuming run %s (%s): %s", jr->id, jr->status, b->id);
	}
	rc = cmd_deploy_run_todo(ctx, &dr, json, todo_status);
out:
	targets_free(targets, n);
	bundle_free(b);
	free(stored);
	free(signer);
	free(hosts);
	free(todo);
	free(wave_of);
	return rc;
}
