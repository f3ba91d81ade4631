/*
 * exec: run one shell command on every selected terminal at once and report each one's output,
 * exit status and state — folded, as JSON, or prefixed by the terminal's name.
 *
 * The words after `--` are joined with single spaces and handed to the remote shell, as ssh does.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/executor.h"
#include "../lib/history.h"
#include "../lib/rcmd.h"
#include "../lib/report.h"
#include "../lib/shquote.h"
#include "cmd.h"

struct exec_arg {
	const char *command;
	long timeout_s;    /* 0 = the host's command_timeout */
};

static void
exec_run_one(struct executor_worker *w, struct host_result *r, void *arg)
{
	const struct exec_arg *a = arg;
	struct transport *tp;
	long timeout = a->timeout_s > 0 ? a->timeout_s : inv_get_long(r->host, INV_COMMAND_TIMEOUT);
	char *cmd, *cause = NULL;
	int64_t start;
	int rc;

	tp = executor_connect(w, r);
	if (tp == NULL)
		return;
	/* The terminal kills the command at the deadline; we give it two more seconds to say so. */
	cmd = rcmd_deadline(a->command, timeout);
	start = now_ms();
	rc = transport_run(tp, cmd, (timeout + 3) * 1000, &r->out, &r->err, &r->exit_code, r->exit_signal, &cause);
	free(cmd);
	if (rc != TP_OK) {
		r->state = host_state_from_tp(rc);
		r->step = "exec";
		if (rc == TP_CANCELLED)
			/* libssh2 1.10 cannot send a signal: only the terminal's watchdog ends the command. */
			r->error = xasprintf("the command may go on running on the terminal until its %ld s deadline",
			    timeout);
		else {
			r->error = cause;
			cause = NULL;
		}
	} else if (rcmd_timed_out(r->exit_code, r->exit_signal, now_ms() - start, timeout)) {
		r->state = HS_TIMEOUT;
		r->error = xasprintf("timed out after %ld s; the terminal killed the command", timeout);
	} else if (r->exit_signal[0] != '\0')
		r->state = HS_FAILED;
	else
		r->state = r->exit_code == 0 ? HS_OK : HS_FAILED;
	transport_close(tp);
	free(cause);
}

int cmd_exec(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "fold", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-record", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	struct executor_job job;
	struct exec_arg ea;
	struct host_result *results = NULL;
	struct inv_host **hosts = NULL;
	const char *limit = NULL;
	bool fold = false, json = false, quiet = false, record = true;
	long parallel = 0, timeout = 0;
	char *command = NULL, *summary = NULL;
	size_t n = 0;
	int opt, rc, status;

	while ((opt = getopt_long(argc, argv, "+" CMD_COMMON_SHORT "hl:p:t:fjq", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'l':
			limit = optarg;
			break;
		case 'p':
			if (parse_long(optarg, 1, 10000, &parallel) != 0) {
				cmd_error("exec: -p wants a number from 1 to 10000, not '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (parse_duration(optarg, &timeout) != 0 || timeout <= 0) {
				cmd_error("exec: --timeout wants a duration like 20, 90s or 5m, not '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'f':
			fold = true;
			break;
		case 'j':
			json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'R':
			record = false;
			break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind >= argc) {
		cmd_error("exec: no command given (fleetctl exec [-l SEL] -- COMMAND...)");
		return EXIT_USAGE;
	}
	if ((rc = cmd_select(ctx, limit, &hosts, &n)) != 0)
		return rc;
	command = shquote_join_raw(argv + optind, argc - optind);

	ea.command = command;
	ea.timeout_s = timeout;
	job.run = exec_run_one;
	job.arg = &ea;
	results = cmd_run_job(ctx, hosts, n, parallel, !json && !quiet, &job);

	status = executor_exit_status(results, n, *ctx->interrupted != 0);
	summary = report_summary(results, n);
	if (json) {
		for (size_t i = 0; i < n; i++) {
			json_t *j = report_json_host(&results[i]);

			report_json_line(j, STDOUT_FILENO);
			json_decref(j);
		}
		{
			json_t *j = report_json_summary(results, n, status);

			report_json_line(j, STDOUT_FILENO);
			json_decref(j);
		}
	} else {
		if (fold)
			report_fold(results, n, STDOUT_FILENO);
		else if (!quiet)
			report_hosts(results, n, STDOUT_FILENO, STDERR_FILENO);
		cmd_error("%s", summary);
	}
	if (record)
		cmd_record(ctx, "exec", command, limit, NULL, results, n, summary);
	host_results_free(results, n);
	free(hosts);
	free(command);
	free(summary);
	return status;
}

const struct cmd_entry cmd_exec_entry = {
	.name = "exec",
	.usage = "[-l SEL] [-p N] [--timeout S] [--fold] [--json] [-q] -- COMMAND...",
	.summary = "run a shell command on every selected terminal",
	.help =
	    "  -l, --limit SEL     hosts, groups, globs; !term excludes (default: all)\n"
	    "  -p, --parallel N    terminals at once (default: inventory 'parallel', 50)\n"
	    "  -t, --timeout S     per-terminal deadline (20, 90s, 5m); the terminal kills the command then\n"
	    "      --fold          print identical results once, hosts folded into ranges\n"
	    "      --json          one JSON object per terminal, then a summary object\n"
	    "  -q, --quiet         only the summary line\n"
	    "      --no-record     do not record this run in the history\n"
	    "\nThe words after -- are joined with single spaces and run by the remote shell, as ssh does:\n"
	    "  fleetctl exec -l lobby -- 'systemctl restart app && echo ok'\n",
	.flags = CMD_CHANGES_TERMINALS,
	.exec = cmd_exec,
};
