/*
 * resume: finish a push whose controller died (SIGKILL, power cut) or that was paused after a wave.
 * The journal says where it stopped; terminals that did not end failed or rolled back are deployed
 * again — the deploy job is idempotent, so a terminal that had finished just confirms it — the
 * remaining waves follow with the run's own thresholds, and the run is recorded in the history.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/bundle.h"
#include "../lib/history.h"
#include "../lib/targets.h"
#include "../lib/deploy.h"
#include "../lib/journal.h"
#include "cmd.h"

/* Is the run already in the history (it finished; only its journal's end is missing)? */
static bool
resume_recorded(struct cmd_ctx *ctx, const char *run_id)
{
	struct history *h = NULL;
	char *cause = NULL;
	int rc = 0;

	if (history_open(ctx->inv->state_dir, &h, &cause) == 0)
		rc = history_has_run(h, run_id, &cause);
	history_close(h);
	free(cause);
	return rc == 1;
}

int cmd_resume(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_resume(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct journal_run *jr = NULL;
	struct inv_host **hosts = NULL;
	struct deploy_target *targets = NULL;
	struct bundle *b = NULL;
	struct run_spec dr;
	json_t *plan, *opt, *waves;
	char *stored = NULL, *signer = NULL;
	bool *todo = NULL, json = false;
	int *wave_of = NULL, opt_c, rc;
	size_t n = 0;

	while ((opt_c = getopt_long(argc, argv, CMD_COMMON_SHORT "hj", longopts, NULL)) != -1) {
		switch (opt_c) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'j':
			json = true;
			break;
		default:
			if ((rc = cmd_other_option(ctx, opt_c, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind != argc - 1) {
		cmd_error("resume: name one run (see fleetctl runs)");
		return EXIT_USAGE;
	}
	if ((rc = cmd_run_load(ctx, "resume", argv[optind], &jr, &hosts, &b, &stored)) != 0)
		goto out;
	if ((rc = cmd_release_signature(ctx, "resume", b, NULL, NULL, &signer)) != 0)
		goto out;
	if (strcmp(jr->status, "interrupted") == 0 && resume_recorded(ctx, jr->id)) {
		/* killed after its history commit, before its journal's end: it finished; close the journal */
		struct journal *jn = NULL;
		char *cause = NULL;
		json_t *ev = json_pack("{s:s, s:s}", "result", "done", "note", "recorded in the history before the controller stopped");

		if (journal_reopen(ctx->inv->state_dir, jr->id, &jn, &cause) == 0)
			journal_event(jn, "end", ev);
		journal_close(jn);
		json_decref(ev);
		free(cause);
		cmd_error("resume: run %s had finished and is in the history; nothing to resume (its journal now ends)", jr->id);
		rc = EXIT_OK;
		goto out;
	}
	if (strcmp(jr->status, "interrupted") != 0 && strcmp(jr->status, "paused") != 0) {
		cmd_error("resume: run %s is %s; only an interrupted or paused run can be resumed%s", jr->id, jr->status,
		    strcmp(jr->status, "running") == 0 ? "" : " (fleetctl retry RUN re-runs its terminals that did not end ok)");
		rc = EXIT_USAGE;
		goto out;
	}
	n = jr->nhosts;
	plan = jr->plan;
	opt = json_object_get(plan, "options");
	waves = json_object_get(plan, "waves");
	todo = xcalloc(n ? n : 1, sizeof(*todo));
	wave_of = xcalloc(n ? n : 1, sizeof(*wave_of));
	for (size_t i = 0; i < n; i++) {
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
	{
		/*
		 * Waves whose terminals had all ended before are done: their terminals are confirmed with
		 * the first wave that still has work (or the last), so a run paused after wave N (or killed
		 * later) does not pause again after a wave it had already finished.
		 */
		int nw = json_array_size(waves) > 0 ? (int)json_array_size(waves) : 1, first = nw - 1;

		for (int w = 0; w < nw && first == nw - 1; w++) {
			for (size_t i = 0; i < n; i++) {
				if (wave_of[i] == w && todo[i] && strcmp(jr->hosts[i].state, "done") != 0) {
					first = w;
					break;
				}
			}
		}
		for (size_t i = 0; i < n; i++)
			if (wave_of[i] < first)
				wave_of[i] = first;
	}
	if ((rc = cmd_deploy_targets(ctx, "resume", hosts, n, b, stored, !cmd_plan_option(jr->plan, "no_delta"),
	    cmd_plan_option(jr->plan, "hardlink"), &targets)) != 0)
		goto out;
	memset(&dr, 0, sizeof(dr));
	dr.kind = json_string_value(json_object_get(plan, "kind")) ?: "push";
	dr.run_id = jr->id;
	dr.resumes = jr->id;
	dr.selection = json_string_value(json_object_get(plan, "selection"));
	dr.command = json_string_value(json_object_get(plan, "command"));
	run_spec_release(&dr, b);
	dr.hosts = hosts;
	dr.n = n;
	dr.targets = targets;
	dr.todo = todo;
	dr.wave_of = wave_of;
	dr.prior = jr->hosts;
	dr.nwaves = json_array_size(waves) > 0 ? (int)json_array_size(waves) : 1;
	dr.parallel = (int)json_integer_value(json_object_get(opt, "parallel"));
	dr.no_delta = cmd_plan_option(plan, "no_delta");
	dr.hardlink = cmd_plan_option(plan, "hardlink");
	dr.signer = signer;
	if (dr.parallel <= 0)
		dr.parallel = (int)inv_get_long(hosts[0], INV_PARALLEL);
	dr.waves = json_string_value(json_object_get(plan, "waves_spec"));
	run_plan_amount(json_object_get(opt, "max_fail"), &dr.max_fail);
	run_plan_amount(json_object_get(opt, "max_unreachable"), &dr.max_unreachable);
	dr.retry_until = (time_t)json_integer_value(json_object_get(opt, "retry_until"));
	dr.rollback_on_halt = json_is_true(json_object_get(opt, "rollback_on_halt"));
	dr.ignore_window = json_is_true(json_object_get(opt, "ignore_window"));
	dr.pause_after_wave = json_is_true(json_object_get(opt, "pause_after_wave"));
	dr.at = (time_t)json_integer_value(json_object_get(plan, "at"));
	if (!json)
		cmd_error("resuming run %s (%s): %s", jr->id, jr->status, b->id);
	rc = cmd_deploy_run(ctx, &dr, json);
out:
	targets_free(targets, n);
	journal_run_free(jr);
	bundle_free(b);
	free(stored);
	free(signer);
	free(hosts);
	free(todo);
	free(wave_of);
	return rc;
}

const struct cmd_entry cmd_resume_entry = {
	.name = "resume",
	.usage = "RUN [--json]",
	.summary = "finish a push that was interrupted or paused",
	.help =
	    "  RUN                 a run id (fleetctl runs)\n"
	    "      --json          one JSON object per terminal, then a summary object\n"
	    "\nTerminals that did not end failed or rolled back are deployed again (one that had finished\n"
	    "only confirms it); the remaining waves follow with the run's own thresholds and options.\n",
	.flags = CMD_CHANGES_TERMINALS | CMD_READS_HISTORY,
	.exec = cmd_resume,
};
