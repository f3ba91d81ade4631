/*
 * status: which release each terminal runs (read live from its `current`), which one the history
 * says it should run, and whether they agree: in sync, drift, unknown (no history), unreachable.
 * --offline answers from the history alone.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/bundle.h"
#include "../lib/history.h"
#include "../lib/release.h"
#include "../lib/report.h"
#include "cmd.h"

struct status_arg {
	const char *component;
};

static void
status_run_one(struct executor_worker *w, struct host_result *r, void *arg)
{
	const struct status_arg *a = arg;
	const char *comps[2] = { a->component, NULL };
	struct transport *tp;
	char *script, *cause = NULL;
	int rc;

	tp = executor_connect(w, r);
	if (tp == NULL)
		return;
	script = release_status_script(inv_get(r->host, INV_ROOT), comps);
	rc = transport_run(tp, script, 30000, &r->out, &r->err, &r->exit_code, r->exit_signal, &cause);
	if (rc != TP_OK) {
		r->state = host_state_from_tp(rc);
		r->step = "status";
		r->error = cause;
		cause = NULL;
	} else
		r->state = strstr(r->out.data, "status=done") != NULL ? HS_OK : HS_FAILED;
	free(script);
	free(cause);
	transport_close(tp);
}

/* The release id in a status line "COMP=releases/ID" (caller frees; "" when none). */
static char *
status_live(const struct host_result *r, const char *component)
{
	char *key = xasprintf("%s=", component);
	const char *p = r->out.data, *line = NULL;
	char *id;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, strlen(key)) == 0) {
			line = p + strlen(key);
			break;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	free(key);
	if (line == NULL)
		return xstrdup("");
	id = xstrndup(line, strcspn(line, "\n"));
	if (strncmp(id, "releases/", 9) == 0) {
		char *s = xstrdup(id + 9);

		free(id);
		id = s;
	}
	return id;
}

int cmd_status(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_status(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "component", required_argument, NULL, 'c' },
		{ "offline", no_argument, NULL, 'O' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct executor_job job;
	struct status_arg sa;
	struct host_result *results = NULL;
	struct inv_host **hosts = NULL;
	struct history *h = NULL;
	const char *limit = NULL, *component = "app";
	bool offline = false, json = false;
	long parallel = 0;
	size_t n = 0, drift = 0, unreachable = 0;
	struct buf text;
	char *cause = NULL;
	int opt, rc;

	memset(&text, 0, sizeof(text));   /* set up once the options are read (returns before need no free) */

	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORT "hl:p:c:j", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'l': limit = optarg; break;
		case 'p':
			if (cmd_parse_parallel("status", optarg, &parallel) != 0)
				return EXIT_USAGE;
			break;
		case 'c':
			if ((rc = cmd_check_component("status", optarg)) != 0)
				return rc;
			component = optarg;
			break;
		case 'O': offline = true; break;
		case 'j': json = true; break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind != argc) {
		cmd_error("status: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if ((rc = cmd_select(ctx, limit, &hosts, &n)) != 0)
		return rc;
	if (history_open(ctx->inv->state_dir, &h, &cause) != 0) {
		cmd_error("status: %s", cause);
		rc = EXIT_FAILED;
		goto out;
	}
	if (!offline) {
		sa.component = component;
		job.run = status_run_one;
		job.arg = &sa;
		results = cmd_run_job(ctx, hosts, n, parallel, false, &job);
	} else {
		results = xcalloc(n, sizeof(*results));
		for (size_t i = 0; i < n; i++) {
			results[i].host = hosts[i];
			results[i].state = HS_SKIPPED;
		}
	}
	buf_init(&text, 0);
	if (!json)
		buf_addf(&text, "%-16s %-10s %-26s %-26s %s\n", "HOST", "COMPONENT", "RUNNING", "EXPECTED", "STATE");
	for (size_t i = 0; i < n; i++) {
		struct hist_state st;
		const char *verdict;
		char *live = NULL;

		if (history_host_state(h, hosts[i]->name, component, &st, &cause) < 0) {
			cmd_error("status: %s", cause);
			rc = EXIT_FAILED;
			goto out;
		}
		if (offline)
			verdict = st.current != NULL ? "recorded" : "unknown";
		else if (results[i].state != HS_OK) {
			verdict = "unreachable";
			unreachable++;
		} else {
			live = status_live(&results[i], component);
			if (st.current == NULL)
				verdict = *live ? "unknown" : "empty";
			else if (strcmp(st.current, live) == 0)
				verdict = "in sync";
			else {
				verdict = "drift";
				drift++;
			}
		}
		if (json) {
			json_t *j = json_object();

			json_object_set_new(j, "host", json_string(hosts[i]->name));
			json_object_set_new(j, "component", json_string(component));
			json_object_set_new(j, "running", live != NULL ? json_string(live) : json_null());
			json_object_set_new(j, "expected", st.current != NULL ? json_string(st.current) : json_null());
			json_object_set_new(j, "previous", st.previous != NULL ? json_string(st.previous) : json_null());
			json_object_set_new(j, "state", json_string(verdict));
			json_object_set_new(j, "last_op", st.last_op != NULL ? json_string(st.last_op) : json_null());
			json_object_set_new(j, "last_result", st.last_result != NULL ? json_string(st.last_result) : json_null());
			json_object_set_new(j, "error", results[i].error != NULL ? json_string(results[i].error) : json_null());
			report_json_line(j, STDOUT_FILENO);
			json_decref(j);
		} else {
			/* what the terminal said goes through report_flush: escaped on a tty */
			buf_addf(&text, "%-16s %-10s %-26s %-26s %s", hosts[i]->name, component,
			    offline ? "-" : live != NULL && *live ? live : results[i].state == HS_OK ? "(none)" : "?",
			    st.current != NULL ? st.current : "(none)", verdict);
			if (results[i].error != NULL)
				buf_addf(&text, ": %s", results[i].error);
			buf_adds(&text, "\n");
			report_flush(&text, STDOUT_FILENO);
		}
		free(live);
		hist_state_free(&st);
	}
	report_flush(&text, STDOUT_FILENO);
	if (!json && !offline)
		cmd_error("%zu terminal%s: %zu drift, %zu unreachable", n, n == 1 ? "" : "s", drift, unreachable);
	rc = drift > 0 ? EXIT_FAILED : unreachable > 0 ? EXIT_UNREACHABLE : EXIT_OK;
out:
	buf_free(&text);
	history_close(h);
	host_results_free(results, n);
	free(hosts);
	free(cause);
	return rc;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.usage = "[-l SEL] [--component NAME] [--offline] [--json] [-p N]",
	.summary = "show which release each terminal runs and whether it matches the history",
	.help =
	    "  -l, --limit SEL     hosts, groups, globs; !term excludes (default: all)\n"
	    "  -c, --component C   component (default app)\n"
	    "      --offline       answer from the history alone, without connecting\n"
	    "      --json          one JSON object per terminal\n"
	    "  -p, --parallel N    terminals at once\n"
	    "\nStates: in sync, drift (current differs from the history), unknown (no history for it),\n"
	    "empty (nothing installed, nothing recorded), unreachable.\n"
	    "Exit status: 0 all in sync, 1 some drift, 3 some unreachable, 2 usage.\n",
	.flags = CMD_READS_HISTORY,
	.exec = cmd_status,
};
