/*
 * rollback: put terminals back on an earlier release — by default the one each ran before its current
 * one, according to the history (not the terminal's folders); or --to a version or release id.
 * Switches without uploading when the release is still installed on the terminal, re-pushes it from
 * the local bundle store when it was pruned.  Never to a release that did not finish installing there.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/bundle.h"
#include "../lib/deploy.h"
#include "../lib/history.h"
#include "cmd.h"

static bool
rollback_listed(char *const *v, const char *id)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		if (strcmp(v[i], id) == 0)
			return true;
	return false;
}

/* --list: what each terminal could be rolled back to, newest first, from the history alone. */
static int
rollback_list(struct history *h, struct inv_host **hosts, size_t n, const char *component)
{
	char *cause = NULL;

	for (size_t i = 0; i < n; i++) {
		struct hist_state st;

		if (history_host_state(h, hosts[i]->name, component, &st, &cause) < 0) {
			cmd_error("rollback: %s", cause);
			free(cause);
			return EXIT_FAILED;
		}
		printf("%s: current %s; previous %s; installed:", hosts[i]->name, st.current ? st.current : "(none)",
		    st.previous ? st.previous : "(none)");
		for (size_t g = 0; st.good != NULL && st.good[g] != NULL; g++)
			printf(" %s", st.good[g]);
		printf("\n");
		hist_state_free(&st);
	}
	return EXIT_OK;
}

int cmd_rollback(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_rollback(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "to", required_argument, NULL, 't' },
		{ "component", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "list", no_argument, NULL, 'L' },
		{ "no-relay", no_argument, NULL, 'Y' + 512 },
		{ NULL, 0, NULL, 0 }
	};
	struct run_spec dr;
	struct deploy_target *targets = NULL;
	struct inv_host **hosts = NULL;
	struct history *h = NULL;
	const char *limit = NULL, *to = NULL, *component = "app";
	char **to_ids = NULL, **ids = NULL, **archives = NULL, *store = NULL, *cause = NULL, *run_id = NULL;
	struct bundle **bundles = NULL;
	char *command = NULL, *label = NULL;
	bool dry_run = false, json = false, list = false, no_relay = false;
	long parallel = 0;
	size_t n = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORT "hl:p:t:c:nj", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'l': limit = optarg; break;
		case 'p':
			if (cmd_parse_parallel("rollback", optarg, &parallel) != 0)
				return EXIT_USAGE;
			break;
		case 't':
			/* Checked as a name here, and against the history below, before any terminal is touched. */
			if ((rc = cmd_check_version("rollback", "--to (a version or release id)", optarg)) != 0)
				return rc;
			to = optarg;
			break;
		case 'c':
			if ((rc = cmd_check_component("rollback", optarg)) != 0)
				return rc;
			component = optarg;
			break;
		case 'n': dry_run = true; break;
		case 'j': json = true; break;
		case 'L': list = true; break;
		case 'Y' + 512: no_relay = true; break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind != argc) {
		cmd_error("rollback: unexpected argument '%s' (use --to VERSION)", argv[optind]);
		return EXIT_USAGE;
	}
	if ((rc = cmd_select(ctx, limit, &hosts, &n)) != 0)
		return rc;
	if (history_open(ctx->inv->state_dir, &h, &cause) != 0) {
		cmd_error("rollback: %s", cause);
		rc = EXIT_FAILED;
		goto out;
	}
	if (list) {
		rc = rollback_list(h, hosts, n, component);
		goto out;
	}
	if (to != NULL) {
		if (history_find_releases(h, component, to, &to_ids, &cause) != 0) {
			cmd_error("rollback: %s", cause);
			rc = EXIT_FAILED;
			goto out;
		}
		if (to_ids[0] == NULL) {
			cmd_error("rollback: no release '%s' of component '%s' in the history (see fleetctl rollback --list)",
			    to, component);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	store = xasprintf("%s/bundles", ctx->inv->state_dir);
	targets = xcalloc(n, sizeof(*targets));
	ids = xcalloc(n + 1, sizeof(*ids));
	archives = xcalloc(n + 1, sizeof(*archives));
	bundles = xcalloc(n + 1, sizeof(*bundles));
	for (size_t i = 0; i < n; i++) {
		struct hist_state st;
		const char *target = NULL;
		char *sha = NULL;

		if (history_host_state(h, hosts[i]->name, component, &st, &cause) < 0) {
			cmd_error("rollback: %s", cause);
			rc = EXIT_FAILED;
			goto out;
		}
		/* With --to VERSION, the newest release of that version this terminal installed. */
		if (to_ids != NULL) {
			for (size_t k = 0; to_ids[k] != NULL && target == NULL; k++)
				if (rollback_listed(st.good, to_ids[k]))
					target = to_ids[k];
			if (target == NULL)
				target = to_ids[0];
		} else
			target = st.previous;
		targets[i].component = component;
		if (target == NULL) {
			/* deploy reports it: no archive and not installed */
			ids[i] = xstrdup("none");
		} else
			ids[i] = xstrdup(target);
		targets[i].id = ids[i];
		targets[i].version = ids[i];
		targets[i].sha256 = "";
		targets[i].compression = "gzip";
		if (target != NULL && rollback_listed(st.good, target) &&
		    history_release_sha256(h, component, target, &sha, &cause) == 0 &&
		    (bundle_store_path(store, sha, &archives[i]) == 0 || (ctx->inv->bundle_remote != NULL &&
		    bundle_store_path(ctx->inv->bundle_remote, sha, &archives[i]) == 0))) {
			/* Checked again like any archive before it may reach a terminal. */
			if (bundle_open(archives[i], &bundles[i], &cause) == 0) {
				targets[i].archive = archives[i];
				targets[i].sha256 = bundles[i]->sha256;
				targets[i].compression = bundles[i]->compression;
				targets[i].version = bundles[i]->version;
				targets[i].size = bundles[i]->size;
			}
			free(cause);
			cause = NULL;
		}
		free(cause);
		cause = NULL;
		free(sha);
		/* Never back to a release that did not finish installing on this terminal. */
		if (target == NULL)
			targets[i].refusal = xasprintf("no previous release recorded for component '%s'", component);
		else if (!rollback_listed(st.good, target))
			targets[i].refusal = xasprintf("release %s never finished installing on this terminal", target);
		hist_state_free(&st);
	}
	history_close(h);
	h = NULL;

	run_id = cmd_run_id();
	label = to != NULL ? xasprintf("to %s", to) : xstrdup("to previous");
	command = xasprintf("rollback %s", label);
	memset(&dr, 0, sizeof(dr));
	dr.kind = "rollback";
	dr.run_id = run_id;
	dr.component = component;
	dr.label = label;
	dr.selection = limit;
	dr.command = command;
	dr.hosts = hosts;
	dr.n = n;
	dr.targets = targets;
	dr.parallel = parallel > 0 ? (int)parallel : (int)inv_get_long(hosts[0], INV_PARALLEL);
	dr.dry_run = dry_run;
	dr.no_relay = no_relay;
	rc = cmd_deploy_run(ctx, &dr, json);
out:
	for (size_t i = 0; targets != NULL && i < n; i++) {
		free(targets[i].refusal);
		bundle_free(bundles[i]);
	}
	free(bundles);
	free(targets);
	strv_free(ids);
	for (size_t i = 0; archives != NULL && i < n; i++)
		free(archives[i]);
	free(archives);
	strv_free(to_ids);
	history_close(h);
	free(store);
	free(run_id);
	free(command);
	free(label);
	free(cause);
	free(hosts);
	return rc;
}

const struct cmd_entry cmd_rollback_entry = {
	.name = "rollback",
	.usage = "[-l SEL] [--to VERSION|ID] [--component NAME] [-p N] [--no-relay] [--dry-run] [--json] [--list]",
	.summary = "put terminals back on the release they ran before (or --to one)",
	.help =
	    "  -l, --limit SEL     hosts, groups, globs; !term excludes (default: all)\n"
	    "  -t, --to V          a version or release id from the history (default: each terminal's previous)\n"
	    "  -c, --component C   component (default app); other components are left alone\n"
	    "      --no-relay      straight to every terminal (through its jump host), none through its relay\n"
	    "  -n, --dry-run       say what would happen per terminal, change nothing\n"
	    "      --json          one JSON object per terminal, then a summary object\n"
	    "      --list          list what each terminal can be rolled back to, from the history; touch nothing\n"
	    "\nA release still installed on the terminal is switched to without uploading; a pruned one is\n"
	    "pushed again from the local bundle store.  A release whose install never finished on a\n"
	    "terminal is never a rollback target there.\n",
	.flags = CMD_CHANGES_TERMINALS | CMD_READS_HISTORY,
	.exec = cmd_rollback,
};
