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

#include "../lib/history.h"
#include "../lib/journal.h"
#include "cmd.h"

/*
 * Is the run's last session already in the history (it finished; only its journal's end is missing)?
 * The history keeps the journal as it was at the commit, with the end it was about to get: the journal
 * as it is now must be the start of that copy.  A run recorded before (an open run, then a pick-up
 * killed mid-way) has more in its journal than the history's copy: not recorded.
 */
static bool
resume_recorded(struct cmd_ctx *ctx, const char *run_id)
{
	struct history *h = NULL;
	char *cause = NULL, *recorded = NULL, *now = NULL;
	bool rc = false;

	if (history_open(ctx->inv->state_dir, &h, &cause) == 0 && history_run_text(h, run_id, &recorded, &cause) == 0 &&
	    journal_text(ctx->inv->state_dir, run_id, &now, &cause) == 0)
		rc = strncmp(recorded, now, strlen(now)) == 0;
	history_close(h);
	free(recorded);
	free(now);
	free(cause);
	return rc;
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
	char *cause = NULL;
	bool json = false;
	int opt_c, rc, todo_status;

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
	if ((rc = cmd_load_inventory(ctx)) != 0)
		return rc;
	if (journal_read(ctx->inv->state_dir, argv[optind], &jr, &cause) != 0) {
		cmd_error("resume: %s (see fleetctl runs)", cause);
		rc = EXIT_USAGE;
		goto out;
	}
	if (strcmp(jr->status, "interrupted") == 0 && resume_recorded(ctx, jr->id)) {
		/* killed after its history commit, before its journal's end: it finished; close the journal */
		struct journal *jn = NULL;
		json_t *ev = json_pack("{s:s, s:s}", "result", "done", "note", "recorded in the history before the controller stopped");

		if (journal_reopen(ctx->inv->state_dir, jr->id, &jn, &cause) == 0)
			journal_event(jn, "end", ev);
		journal_close(jn);
		json_decref(ev);
		cmd_error("resume: run %s had finished and is in the history; nothing to resume (its journal now ends)", jr->id);
		rc = EXIT_OK;
		goto out;
	}
	if (strcmp(jr->status, "interrupted") != 0 && strcmp(jr->status, "paused") != 0) {
		cmd_error("resume: run %s is %s; only an interrupted or paused run can be resumed%s", jr->id, jr->status,
		    strcmp(jr->status, "running") == 0 ? "" : strcmp(jr->status, "open") == 0 ?
		    " (fleetctl retry --all picks up an open run's delayed terminals)" :
		    " (fleetctl retry RUN re-runs its terminals that did not end ok)");
		rc = EXIT_USAGE;
		goto out;
	}
	rc = cmd_run_continue(ctx, "resume", jr, false, 0, false, json, &todo_status);
out:
	journal_run_free(jr);
	free(cause);
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
