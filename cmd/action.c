/*
 * action: the body of `fleetctl install`, `restart`, `shutdown` and `reboot` — run the command the
 * inventory configures for each selected terminal, report each one's result as exec does, and record
 * the run as one history commit.  shutdown and reboot ask first (or want --yes when stdin is not a
 * terminal); `reboot --wait` waits for each terminal to come back with a new boot id and be healthy.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../lib/report.h"
#include "action.h"

enum {
	ACTION_OPT_YES = 2000,
	ACTION_OPT_COMPONENT,
	ACTION_OPT_WAIT,
	ACTION_OPT_WAIT_TIMEOUT,
	ACTION_OPT_JSON,
	ACTION_OPT_FOLD
};

#define ACTION_WAIT_TIMEOUT_DEFAULT 600

/* "t[01-12]" for the selected hosts (caller frees). */
static char *
action_hostlist(struct inv_host **hosts, size_t n)
{
	char **names = xcalloc(n ? n : 1, sizeof(*names));
	char *list;

	for (size_t i = 0; i < n; i++)
		names[i] = hosts[i]->name;
	list = report_hostlist(names, n);
	free(names);
	return list;
}

/* Ask on the terminal; returns 0 when confirmed, else an exit status (message printed). */
static int
action_confirm(struct cmd_ctx *ctx, const char *name, struct inv_host **hosts, size_t n)
{
	char *list = action_hostlist(hosts, n), line[64], *answer;
	int rc = EXIT_USAGE;

	if (!ctx->stdin_tty) {
		cmd_error("%s: stdin is not a terminal: pass --yes to %s %zu terminal%s (%s)", name, name, n,
		    n == 1 ? "" : "s", list);
		goto out;
	}
	fprintf(stderr, "%s %zu terminal%s (%s)? [y/N] ", name, n, n == 1 ? "" : "s", list);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL) {
		fputc('\n', stderr);
		cmd_error("%s: not confirmed, nothing done", name);
		goto out;
	}
	answer = str_trim(line);
	if (strcasecmp(answer, "y") != 0 && strcasecmp(answer, "yes") != 0) {
		cmd_error("%s: not confirmed, nothing done", name);
		goto out;
	}
	rc = 0;
out:
	free(list);
	return rc;
}

/* The command to record: the one every configured host shares, else a pointer to the inventory. */
static char *
action_record_command(enum action_kind kind, struct inv_host **hosts, size_t n)
{
	const char *common = NULL, *v;

	for (size_t i = 0; i < n; i++) {
		v = inv_get(hosts[i], action_key(kind));
		if (v == NULL || *v == '\0')
			continue;
		if (common == NULL)
			common = v;
		else if (strcmp(common, v) != 0)
			return xasprintf("(per-host '%s' commands from the inventory)", action_name(kind));
	}
	if (common == NULL)
		return xasprintf("(no '%s' command configured)", action_name(kind));
	return xstrdup(common);
}

static void
action_output(const struct host_result *results, size_t n, int status, bool json, bool fold, bool quiet,
    const char *summary)
{
	if (json) {
		for (size_t i = 0; i < n; i++) {
			json_t *j = report_json_host(&results[i]);

			report_json_line(j, STDOUT_FILENO);
			json_decref(j);
		}
		json_t *j = report_json_summary(results, n, status);

		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
		return;
	}
	if (fold)
		report_fold(results, n, STDOUT_FILENO);
	else if (!quiet)
		report_hosts(results, n, STDOUT_FILENO, STDERR_FILENO);
	cmd_error("%s", summary);
}

int
cmd_action(struct cmd_ctx *ctx, enum action_kind kind, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "yes", no_argument, NULL, ACTION_OPT_YES },
		{ "component", required_argument, NULL, ACTION_OPT_COMPONENT },
		{ "wait", no_argument, NULL, ACTION_OPT_WAIT },
		{ "wait-timeout", required_argument, NULL, ACTION_OPT_WAIT_TIMEOUT },
		{ "fold", no_argument, NULL, ACTION_OPT_FOLD },
		{ "json", no_argument, NULL, ACTION_OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	const char *name = action_name(kind), *limit = NULL;
	struct action_job job;
	struct executor_job ej;
	struct host_result *results = NULL;
	struct inv_host **hosts = NULL;
	bool yes = false, json = false, fold = false, quiet = false, wait_timeout_given = false;
	long parallel = 0;
	char *command = NULL, *summary = NULL, *line = NULL;
	size_t n = 0, nok = 0;
	int opt, rc, status;

	memset(&job, 0, sizeof(job));
	job.kind = kind;
	job.component = ACTION_DEFAULT_COMPONENT;
	job.wait_timeout_s = ACTION_WAIT_TIMEOUT_DEFAULT;
	while ((opt = getopt_long(argc, argv, "+" CMD_COMMON_SHORT "hl:p:q", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'l':
			limit = optarg;
			break;
		case 'p':
			if (cmd_parse_parallel(name, optarg, &parallel) != 0)
				return EXIT_USAGE;
			break;
		case ACTION_OPT_YES:
			yes = true;
			break;
		case ACTION_OPT_COMPONENT:
			if (!action_component_valid(optarg)) {
				cmd_error("%s: bad component name '%s' (letters, digits, '.', '_', '-'; not starting "
				    "with '.')", name, optarg);
				return EXIT_USAGE;
			}
			job.component = optarg;
			break;
		case ACTION_OPT_WAIT:
			job.wait = true;
			break;
		case ACTION_OPT_WAIT_TIMEOUT:
			if (parse_duration(optarg, &job.wait_timeout_s) != 0 || job.wait_timeout_s <= 0) {
				cmd_error("%s: --wait-timeout wants a duration like 90s, 10m or 1h, not '%s'", name, optarg);
				return EXIT_USAGE;
			}
			wait_timeout_given = true;
			break;
		case ACTION_OPT_FOLD:
			fold = true;
			break;
		case ACTION_OPT_JSON:
			json = true;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind < argc) {
		cmd_error("%s: unexpected argument '%s' (the command comes from the inventory's '%s' key)", name,
		    argv[optind], name);
		return EXIT_USAGE;
	}
	if ((job.wait || wait_timeout_given) && kind != ACTION_REBOOT) {
		cmd_error("%s: --wait and --wait-timeout are for reboot only", name);
		return EXIT_USAGE;
	}
	if (wait_timeout_given && !job.wait) {
		cmd_error("%s: --wait-timeout needs --wait", name);
		return EXIT_USAGE;
	}
	if ((rc = cmd_select(ctx, limit, &hosts, &n)) != 0)
		return rc;
	if (action_detached(kind) && !yes && (rc = action_confirm(ctx, name, hosts, n)) != 0) {
		free(hosts);
		return rc;
	}

	ej.run = action_run_host;
	ej.arg = &job;
	results = cmd_run_job(ctx, hosts, n, parallel, !json && !quiet, &ej);

	status = executor_exit_status(results, n, *ctx->interrupted != 0);
	summary = report_summary(results, n);
	for (size_t i = 0; i < n; i++)
		if (results[i].state == HS_OK)
			nok++;
	if (action_detached(kind) && !job.wait && nok > 0) {
		line = xasprintf("%s (ok = sent, not confirmed)", summary);
		free(summary);
		summary = line;
	}
	action_output(results, n, status, json, fold, quiet, summary);
	command = action_record_command(kind, hosts, n);
	cmd_record(ctx, name, command, limit, job.component, results, n, summary);
	host_results_free(results, n);
	free(hosts);
	free(command);
	free(summary);
	return status;
}
