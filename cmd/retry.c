/*
 * retry: run a push again on exactly the terminals of an earlier run that did not end ok — a new run
 * of the same release, recorded as such.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/bundle.h"
#include "../lib/targets.h"
#include "../lib/deploy.h"
#include "../lib/journal.h"
#include "cmd.h"

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
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_rollout_opts ropt;
	struct journal_run *jr = NULL;
	struct inv_host **all = NULL, **hosts = NULL;
	struct deploy_target *targets = NULL;
	struct bundle *b = NULL;
	struct run_spec dr;
	char *stored = NULL, *signer = NULL, *run_id = NULL, *command = NULL, *label = NULL;
	bool json = false, dry_run = false;
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
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				goto usage;
			break;
		}
	}
	if (optind != argc - 1) {
		cmd_error("retry: name one run (see fleetctl runs)");
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
	.usage = "RUN [-p N] [--retry-for D | --until TIME] [--max-fail N|P%] [--max-unreachable N|P%] [--ignore-window]\n"
	    "       [--dry-run] [--json]",
	.summary = "push a run's release again to exactly its terminals that did not end ok",
	.help =
	    "  RUN                 a run id (fleetctl runs)\n"
	    "  -p, --parallel N    terminals at once\n"
	    "      --retry-for D, --until TIME, --max-fail, --max-unreachable, --ignore-window: as for push\n"
	    "  -n, --dry-run       say what would happen, change nothing\n"
	    "      --json          one JSON object per terminal, then a summary object\n",
	.flags = CMD_CHANGES_TERMINALS | CMD_READS_HISTORY,
	.exec = cmd_retry,
};
