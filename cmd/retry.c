/*
 * retry: run a push again on exactly the terminals of an earlier run that did not end ok — a new run
 * of the same release, recorded as such.  retry --all (for cron) goes on with every open run instead:
 * the terminals each still has to do, under the run's own id, until its deadline; after the deadline
 * they are expired.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/bundle.h"
#include "../lib/targets.h"
#include "../lib/deploy.h"
#include "../lib/journal.h"
#include "../lib/report.h"
#include "cmd.h"

#define RETRY_OPT_ALL 1200

/* The worse of two exit statuses: interrupted, then failed, then usage, then unreachable/delayed. */
static int
retry_worse(int a, int b)
{
	static const int order[] = { EXIT_INTERRUPTED, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE };

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (a == order[i] || b == order[i])
			return order[i];
	return a != EXIT_OK ? a : b;
}

static void
retry_recorded(void *arg, struct history *h)
{
	cmd_history_push(arg, h);
}

/* An expired run's terminals still to do: written down as expired (journal, history, alarm). */
static int
retry_expire(struct cmd_ctx *ctx, const struct journal_run *jr, bool dry_run, bool json, size_t *n)
{
	struct run_events ev;
	char *cause = NULL;
	int rc = EXIT_OK;

	*n = 0;
	for (size_t i = 0; i < jr->nhosts; i++)
		*n += strcmp(jr->hosts[i].state, "expired") == 0;
	if (!json)
		cmd_error("retry --all: run %s: its deadline has passed: %zu terminal%s %sexpired", jr->id, *n,
		    *n == 1 ? "" : "s", dry_run ? "would be " : "");
	if (dry_run)
		return *n > 0 ? EXIT_UNREACHABLE : EXIT_OK;
	memset(&ev, 0, sizeof(ev));
	ev.recorded = retry_recorded;
	ev.rollout.arg = ctx;
	if (run_expire(ctx->inv->state_dir, ctx->inv->on_failure, jr, &ev, n, &cause) != 0) {
		cmd_error("retry --all: run %s: %s", jr->id, cause != NULL ? cause : "cannot write its expiry");
		rc = EXIT_FAILED;
	}
	free(cause);
	return rc != EXIT_OK ? rc : *n > 0 ? EXIT_UNREACHABLE : EXIT_OK;
}

/*
 * --all: every open run of this controller goes on with the terminals it still has to do; every one
 * whose deadline has passed gets its missing terminals expired.  Runs of other controllers (a shared
 * history) are theirs.
 */
static int
retry_all(struct cmd_ctx *ctx, long retry_for, bool dry_run, bool json)
{
	char **ids = NULL, *cause = NULL, host[256];
	size_t runs = 0, picked = 0, expired_runs = 0, expired = 0;
	int status = EXIT_OK, rc;

	if ((rc = cmd_load_inventory(ctx)) != 0)
		return rc;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (journal_list(ctx->inv->state_dir, &ids, &cause) != 0) {
		cmd_error("retry: %s", cause);
		free(cause);
		return EXIT_FAILED;
	}
	for (size_t i = 0; ids[i] != NULL && !*ctx->interrupted; i++) {
		struct journal_run *jr = NULL;
		const char *ctl;
		bool open, lapsed;
		int todo_status;

		if (journal_read(ctx->inv->state_dir, ids[i], &jr, &cause) != 0) {
			free(cause);
			cause = NULL;
			continue;   /* `fleetctl runs` shows what cannot be read */
		}
		ctl = json_string_value(json_object_get(jr->plan, "controller"));
		open = strcmp(jr->status, "open") == 0;
		lapsed = strcmp(jr->status, "expired") == 0 && jr->expiry_unwritten;
		if ((open || lapsed) && ctl != NULL && strcmp(ctl, host) != 0) {
			if (!json)
				cmd_error("retry --all: run %s is open on controller %s: left to it", jr->id, ctl);
		} else if (open) {
			size_t k = 0;

			for (size_t h = 0; h < jr->nhosts; h++)
				k += journal_state_to_do(jr->hosts[h].state);
			rc = cmd_run_continue(ctx, "retry --all", jr, true, retry_for, dry_run, json, &todo_status);
			status = retry_worse(status, rc == EXIT_USAGE || rc == EXIT_INTERRUPTED ? rc : todo_status);
			runs++;
			picked += k;
		} else if (lapsed) {
			size_t n = 0;

			status = retry_worse(status, retry_expire(ctx, jr, dry_run, json, &n));
			expired_runs++;
			expired += n;
		}
		journal_run_free(jr);
	}
	if (json) {
		json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:I, s:i}", "retry_all", 1, "runs", (json_int_t)runs,
		    "terminals", (json_int_t)picked, "expired_runs", (json_int_t)expired_runs, "expired",
		    (json_int_t)expired, "exit_status", status);

		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	} else if (runs == 0 && expired_runs == 0)
		cmd_error("retry --all: no open run to pick up");
	else
		cmd_error("retry --all: %zu open run%s, %zu terminal%s picked up; %zu run%s past its deadline, %zu "
		    "terminal%s expired", runs, runs == 1 ? "" : "s", picked, picked == 1 ? "" : "s", expired_runs,
		    expired_runs == 1 ? "" : "s", expired, expired == 1 ? "" : "s");
	strv_free(ids);
	return *ctx->interrupted ? EXIT_INTERRUPTED : status;
}

int cmd_retry(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_retry(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "parallel", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "max-fail", required_argument, NULL, 'F' + 256 },
		{ "max-unreachable", required_argument, NULL, 'U' },
		{ "retry-for", required_argument, NULL, 'T' },
		{ "until", required_argument, NULL, 'Z' },
		{ "ignore-window", no_argument, NULL, 'I' },
		{ "all", no_argument, NULL, RETRY_OPT_ALL },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_rollout_opts ropt;
	struct journal_run *jr = NULL;
	struct inv_host **all = NULL, **hosts = NULL;
	struct deploy_target *targets = NULL;
	struct bundle *b = NULL;
	struct run_spec dr;
	char *stored = NULL, *signer = NULL, *run_id = NULL, *command = NULL, *label = NULL;
	bool json = false, dry_run = false, every = false;
	long parallel = 0;
	size_t n = 0;
	int opt, rc;

	memset(&ropt, 0, sizeof(ropt));
	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORT "hp:jn", longopts, NULL)) != -1) {
		if ((rc = cmd_rollout_option(&ropt, "retry", opt, optarg)) != 0) {
			if (rc < 0)
				goto usage;
			continue;
		}
		switch (opt) {
		case 'h':
			cmd_rollout_opts_free(&ropt);
			return cmd_usage(ctx, true);
		case 'p':
			if (cmd_parse_parallel("retry", optarg, &parallel) != 0)
				goto usage;
			break;
		case 'j': json = true; break;
		case 'n': dry_run = true; break;
		case RETRY_OPT_ALL: every = true; break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				goto usage;
			break;
		}
	}
	if (every) {
		/* each run keeps its own options: only how long to try in this pass is ours */
		if (optind != argc || ropt.until > 0 || ropt.until_for > 0 || ropt.max_fail.set || ropt.max_unreachable.set ||
		    ropt.ignore_window || parallel > 0) {
			cmd_error("retry: --all names no run and takes only --retry-for, --dry-run and --json (each open run "
			    "keeps its own options)");
			goto usage;
		}
		rc = retry_all(ctx, ropt.retry_for, dry_run, json);
		goto out;
	}
	if (optind != argc - 1) {
		cmd_error("retry: name one run (see fleetctl runs), or --all for every open run");
		goto usage;
	}
	if (cmd_rollout_finish(&ropt, "retry") != 0)
		goto usage;
	if ((rc = cmd_run_load(ctx, "retry", argv[optind], &jr, &all, &b, &stored)) != 0)
		goto out;
	if ((rc = cmd_release_signature(ctx, "retry", b, NULL, NULL, &signer)) != 0)
		goto out;
	if (strcmp(jr->status, "running") == 0) {
		cmd_error("retry: run %s is still running", jr->id);
		rc = EXIT_USAGE;
		goto out;
	}
	hosts = xcalloc(jr->nhosts + 1, sizeof(*hosts));
	for (size_t i = 0; i < jr->nhosts; i++)
		if (strcmp(jr->hosts[i].state, "done") != 0)
			hosts[n++] = all[i];
	if (n == 0) {
		cmd_error("retry: every terminal of run %s ended ok: nothing to retry", jr->id);
		rc = EXIT_OK;
		goto out;
	}
	if ((rc = cmd_deploy_targets(ctx, "retry", hosts, n, b, stored, !cmd_plan_option(jr->plan, "no_delta"),
	    cmd_plan_option(jr->plan, "hardlink"), &targets)) != 0)
		goto out;
	run_id = cmd_run_id();
	label = xasprintf("%s (retry of %s)", b->id, jr->id);
	command = xasprintf("retry %s", jr->id);
	memset(&dr, 0, sizeof(dr));
	dr.kind = "push";
	dr.run_id = run_id;
	dr.selection = json_string_value(json_object_get(jr->plan, "selection"));
	dr.command = command;
	run_spec_release(&dr, b);
	dr.label = label;
	dr.hosts = hosts;
	dr.n = n;
	dr.targets = targets;
	dr.parallel = parallel > 0 ? (int)parallel : (int)inv_get_long(hosts[0], INV_PARALLEL);
	dr.dry_run = dry_run;
	dr.no_delta = cmd_plan_option(jr->plan, "no_delta");
	dr.no_relay = cmd_plan_option(jr->plan, "no_relay");
	dr.hardlink = cmd_plan_option(jr->plan, "hardlink");
	dr.signer = signer;
	cmd_rollout_apply(&ropt, &dr);
	if (!json)
		cmd_error("retrying %zu terminal%s of run %s with %s", n, n == 1 ? "" : "s", jr->id, b->id);
	rc = cmd_deploy_run(ctx, &dr, json);
	goto out;
usage:
	rc = EXIT_USAGE;
out:
	targets_free(targets, n);
	journal_run_free(jr);
	bundle_free(b);
	free(stored);
	free(signer);
	free(all);
	free(hosts);
	free(run_id);
	free(label);
	free(command);
	cmd_rollout_opts_free(&ropt);
	return rc;
}

const struct cmd_entry cmd_retry_entry = {
	.name = "retry",
	.usage = "RUN [-p N] [--retry-for D] [--until TIME|D] [--max-fail N|P%] [--max-unreachable N|P%]\n"
	    "       [--ignore-window] [--dry-run] [--json]\n"
	    "       --all [--retry-for D] [--dry-run] [--json]",
	.summary = "push a run's release again to its terminals that did not end ok; --all: go on with open runs",
	.help =
	    "  RUN                 a run id (fleetctl runs): a new run over its terminals that did not end ok\n"
	    "  -p, --parallel N    terminals at once\n"
	    "      --retry-for D, --until TIME|D, --max-fail, --max-unreachable, --ignore-window: as for push\n"
	    "      --all           every open run of this controller (push --until, its deadline ahead) goes on,\n"
	    "                      under its own id, with the terminals it still has to do (delayed,\n"
	    "                      unreachable, busy, locked), at its own rate; one whose deadline has passed\n"
	    "                      gets them written down as expired.  Non-interactive, for cron; with\n"
	    "                      --retry-for D each run retries for D at most (never past its deadline)\n"
	    "  -n, --dry-run       say what would happen, change nothing\n"
	    "      --json          one JSON object per terminal, then a summary object (per run with --all, and\n"
	    "                      a last {\"retry_all\":true,...} object)\n"
	    "\nExit status of --all: 0 nothing to do or every terminal picked up is done, 1 one failed (or an\n"
	    "open run's bundle is gone), 3 some are still delayed or have expired now, 2 usage or inventory\n"
	    "error (an open run names terminals the inventory no longer has), 130 interrupted.\n",
	.flags = CMD_CHANGES_TERMINALS | CMD_READS_HISTORY,
	.exec = cmd_retry,
};
