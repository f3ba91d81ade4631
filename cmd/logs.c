/*
 * logs: read the log files of the selected terminals — the last lines of each, whole files saved
 * under a local directory, or followed live on every terminal at once (the jobs are lib/logjob's);
 * this file parses the options and prints the results.
 *
 * Which files: the `logs` globs of each terminal (fleet.ini), or --path.  Records nothing in the
 * history: reading logs changes no terminal.
 */
#include <getopt.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/executor.h"
#include "../lib/logfetch.h"
#include "../lib/logjob.h"
#include "../lib/report.h"
#include "../lib/util.h"
#include "cmd.h"

/* ---- output ---- */

static void
logs_print_text(struct buf *b, const char *prefix, const struct logjob_file *f)
{
	report_prefix_lines(b, prefix, f->text.data, f->text.len);
}

static void
logs_print_human(const struct host_result *results, size_t n, const struct logjob_opts *o)
{
	struct buf b, e;

	buf_init(&b, 0);
	buf_init(&e, 0);
	for (size_t i = 0; i < n; i++) {
		const struct host_result *r = &results[i];
		const struct logjob_host *lh = r->data;
		const char *name = r->host->name;
		bool file_errors = false;

		for (size_t k = 0; lh != NULL && k < lh->nfiles; k++) {
			const struct logjob_file *f = &lh->files[k];

			if (o->dir != NULL) {
				if (f->complete) {
					buf_addf(&b, "%s: %s -> %s (%llu bytes", name, f->path, f->local,
					    (unsigned long long)f->size);
					if (f->resumed_from > 0)
						buf_addf(&b, ", resumed at byte %llu", (unsigned long long)f->resumed_from);
					buf_addf(&b, ", %llu on the wire%s)\n", (unsigned long long)f->wire_bytes,
					    f->gz ? " with gzip" : "");
				}
			} else if (f->text.len > 0) {
				if (lh->nfiles > 1) {
					char *p = xasprintf("%s: %s", name, f->path);

					logs_print_text(&b, p, f);
					free(p);
				} else
					logs_print_text(&b, name, f);
			}
			if (f->text.dropped > 0)
				buf_addf(&e, "%s: %s: output cut at %d MiB; use -o DIR to fetch whole files\n", name,
				    f->path, LOGJOB_TEXT_CAP / (1024 * 1024));
			if (f->error != NULL) {
				buf_addf(&e, "%s: %s: %s\n", name, f->path, f->error);
				file_errors = true;
			}
		}
		report_flush(&b, STDOUT_FILENO);
		if (r->state != HS_OK && !file_errors) {
			if (r->error != NULL)
				buf_addf(&e, "%s: %s: %s\n", name, host_state_name(r->state), r->error);
			else
				buf_addf(&e, "%s: %s\n", name, host_state_name(r->state));
		}
		report_flush(&e, STDERR_FILENO);
	}
	buf_free(&b);
	buf_free(&e);
}

static json_t *
logs_json_str(const char *s, size_t len)
{
	size_t ol = 0;
	char *u = report_utf8(s, len, &ol);
	json_t *j = json_stringn(u, ol);

	free(u);
	return j;
}

static void
logs_print_json(const struct host_result *results, size_t n, const struct logjob_opts *o, int status)
{
	for (size_t i = 0; i < n; i++) {
		const struct host_result *r = &results[i];
		const struct logjob_host *lh = r->data;
		json_t *j = json_object(), *files = json_array();

		json_object_set_new(j, "host", json_string(r->host->name));
		json_object_set_new(j, "state", json_string(host_state_name(r->state)));
		json_object_set_new(j, "error", r->error != NULL ? logs_json_str(r->error, strlen(r->error)) : json_null());
		for (size_t k = 0; lh != NULL && k < lh->nfiles; k++) {
			const struct logjob_file *f = &lh->files[k];
			json_t *jf = json_object();

			json_object_set_new(jf, "path", logs_json_str(f->path, strlen(f->path)));
			json_object_set_new(jf, "size", json_integer((json_int_t)f->size));
			json_object_set_new(jf, "error", f->error != NULL ? logs_json_str(f->error, strlen(f->error)) :
			    json_null());
			if (o->dir != NULL) {
				json_object_set_new(jf, "local", f->local != NULL ? json_string(f->local) : json_null());
				json_object_set_new(jf, "complete", json_boolean(f->complete));
				json_object_set_new(jf, "resumed_from", json_integer((json_int_t)f->resumed_from));
				json_object_set_new(jf, "wire_bytes", json_integer((json_int_t)f->wire_bytes));
			} else {
				json_t *lines = json_array();
				size_t p = 0;

				while (p < f->text.len) {
					const char *nl = memchr(f->text.data + p, '\n', f->text.len - p);
					size_t l = nl != NULL ? (size_t)(nl - (f->text.data + p)) : f->text.len - p;

					json_array_append_new(lines, logs_json_str(f->text.data + p, l));
					p += l + 1;
				}
				json_object_set_new(jf, "lines", lines);
				json_object_set_new(jf, "truncated", json_boolean(f->text.dropped > 0));
			}
			json_array_append_new(files, jf);
		}
		json_object_set_new(j, "files", files);
		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	}
	{
		json_t *j = report_json_summary(results, n, status);

		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	}
}

/* -o is both the common `-o KEY=VALUE` and logs' `-o DIR`: an inventory key before '=' decides. */
static bool
logs_is_override(const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *key;
	bool yes;

	if (eq == NULL || eq == arg)
		return false;
	key = xstrndup(arg, (size_t)(eq - arg));
	yes = inv_key_lookup(key) >= 0;
	free(key);
	return yes;
}

int cmd_logs(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_logs(struct cmd_ctx *ctx, int argc, char **argv)
{
	enum { OPT_SINCE = 2000, OPT_GREP, OPT_PATH, OPT_JSON };
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "lines", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "grep", required_argument, NULL, OPT_GREP },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "output", required_argument, NULL, 'O' },
		{ "follow", no_argument, NULL, 'f' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	struct logjob_opts lo;
	pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
	struct executor_job job;
	struct host_result *results = NULL;
	struct inv_host **hosts = NULL;
	const char *limit = NULL, *since = NULL;
	char cutoff[32], *cause = NULL, *summary = NULL;
	bool json = false, lines_given = false;
	long parallel = 0;
	size_t n = 0;
	int opt, rc, status;

	memset(&lo, 0, sizeof(lo));
	lo.out_lock = &out_lock;
	lo.lines = 100;
	lo.interrupted = ctx->interrupted;
	while ((opt = getopt_long(argc, argv, "+" CMD_COMMON_SHORT "hl:n:fp:O:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			strv_free(lo.paths);
			return cmd_usage(ctx, true);
		case 'l':
			limit = optarg;
			break;
		case 'n':
			if (parse_long(optarg, 0, 1000000, &lo.lines) != 0) {
				cmd_error("logs: -n wants a number of lines from 0 to 1000000, not '%s'", optarg);
				goto usage;
			}
			lines_given = true;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_GREP:
			lo.regex = *optarg != '\0' ? optarg : NULL;
			break;
		case OPT_PATH: {
			size_t k = 0;
			char **v = str_split_commas(optarg, &k);

			for (size_t i = 0; i < k; i++) {
				strv_push(&lo.paths, &lo.npaths, v[i]);
				v[i] = NULL;
			}
			free(v);
			if (k == 0) {
				cmd_error("logs: --path wants a file or glob");
				goto usage;
			}
			break;
		}
		case 'O':
			lo.dir = optarg;
			break;
		case 'f':
			lo.follow = true;
			break;
		case 'p':
			if (parse_long(optarg, 1, 10000, &parallel) != 0) {
				cmd_error("logs: -p wants a number from 1 to 10000, not '%s'", optarg);
				goto usage;
			}
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'o':
			if (!logs_is_override(optarg)) {
				lo.dir = optarg;
				break;
			}
			/* FALLTHROUGH */
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0) {
				strv_free(lo.paths);
				return rc;
			}
			break;
		}
	}
	if (optind < argc) {
		cmd_error("logs: unexpected argument '%s'", argv[optind]);
		goto usage;
	}
	if (lo.dir != NULL && (lo.follow || lo.regex != NULL || since != NULL || lines_given)) {
		cmd_error("logs: -o saves whole files; it cannot be combined with -f, -n, --since or --grep");
		goto usage;
	}
	if (lo.dir != NULL && *lo.dir == '\0') {
		cmd_error("logs: -o wants a directory");
		goto usage;
	}
	if (lo.follow && json) {
		cmd_error("logs: --json cannot be combined with -f");
		goto usage;
	}
	if (lo.regex != NULL) {
		regex_t re;
		int e = regcomp(&re, lo.regex, REG_EXTENDED | REG_NOSUB);

		if (e != 0) {
			char msg[128];

			regerror(e, &re, msg, sizeof(msg));
			cmd_error("logs: --grep: bad regular expression '%s': %s", lo.regex, msg);
			goto usage;
		}
		regfree(&re);
	}
	if (since != NULL) {
		if (logfetch_parse_since(since, time(NULL), cutoff, sizeof(cutoff), &cause) != 0) {
			cmd_error("logs: --since: %s", cause);
			free(cause);
			goto usage;
		}
		lo.cutoff = cutoff;
	}
	if (lo.follow && !lines_given)
		lo.lines = 10;
	if ((rc = cmd_select(ctx, limit, &hosts, &n)) != 0) {
		strv_free(lo.paths);
		return rc;
	}

	job.run = lo.follow ? logjob_follow : logjob_run;
	job.arg = &lo;
	/* following: every terminal at once */
	results = cmd_run_job(ctx, hosts, n, lo.follow ? (long)n : parallel, false, &job);

	status = executor_exit_status(results, n, *ctx->interrupted != 0);
	if (!lo.follow) {
		summary = report_summary(results, n);
		if (json)
			logs_print_json(results, n, &lo, status);
		else {
			logs_print_human(results, n, &lo);
			cmd_error("%s", summary);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (results[i].data != NULL)
			logjob_host_free(results[i].data);
		results[i].data = NULL;
	}
	host_results_free(results, n);
	free(hosts);
	free(summary);
	strv_free(lo.paths);
	return status;
usage:
	strv_free(lo.paths);
	return EXIT_USAGE;
}

const struct cmd_entry cmd_logs_entry = {
	.name = "logs",
	.usage = "[-l SEL] [-n LINES] [--since TIME] [--grep REGEX] [--path GLOB] [-o DIR] [-f] [--json]",
	.summary = "show, save or follow the terminals' log files",
	.help =
	    "  -l, --limit SEL     hosts, groups, globs; !term excludes (default: all)\n"
	    "  -n, --lines N       last N lines of each file (default 100; 10 with -f)\n"
	    "      --since TIME    only lines from TIME on: \"2 hours ago\", 30m, \"2026-11-26 10:00\",\n"
	    "                      2026-11-26T10:00:00Z; lines start with YYYY-MM-DD[T ]HH:MM:SS, a line\n"
	    "                      without a time goes with the line before it (needs awk on the terminal)\n"
	    "      --grep REGEX    only lines matching REGEX (grep -E, run on the terminal)\n"
	    "      --path GLOB     these files instead of the inventory's 'logs' (repeat or comma list)\n"
	    "  -o, --output DIR    save whole files as DIR/TERMINAL/PATH (gzip on the wire when the\n"
	    "                      terminal has it; a cut download resumes from its DIR/.../FILE.part)\n"
	    "  -f, --follow        follow every selected terminal at once until Ctrl-C; reconnects\n"
	    "  -p, --parallel N    terminals at once without -f (default: inventory 'parallel', 50)\n"
	    "      --json          one JSON object per terminal, then a summary object\n"
	    "\nLines are printed as 'TERMINAL: line', or 'TERMINAL: FILE: line' when several files match\n"
	    "on that terminal.  -o KEY=VALUE with an inventory key still overrides the inventory.\n",
	.flags = 0,
	.exec = cmd_logs,
};
