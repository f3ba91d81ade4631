/*
 * runs: the recent runs (push, rollback, remote actions), newest first, read from their journals: who
 * started what and when, whether the run finished, halted, paused, is still running, was interrupted
 * (its controller died), stays open until its deadline or expired, and where its terminals stand.  `fleetctl show RUN` gives one run in full.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/journal.h"
#include "../lib/report.h"
#include "cmd.h"

/* "2026-11-26 10:45:12" from an ISO time string or epoch seconds; "-" when absent (caller frees). */
static char *
runs_time(json_t *v)
{
	const char *s = json_string_value(v);

	if (json_is_integer(v)) {
		time_t t = (time_t)json_integer_value(v);
		struct tm tm;
		char out[32];

		gmtime_r(&t, &tm);
		strftime(out, sizeof(out), "%Y-%m-%d %H:%M:%S", &tm);
		return xstrdup(out);
	}
	if (s == NULL || *s == '\0')
		return xstrdup("-");
	if (strlen(s) >= 19 && s[10] == 'T') {
		char *out = xstrndup(s, 19);

		out[10] = ' ';
		return out;
	}
	return xstrdup(s);
}

/* "push 1.4.2-3fa9c2d1e0ab": the plan's kind, then its summary or its release (caller frees). */
static char *
runs_what(json_t *plan)
{
	const char *kind = json_string_value(json_object_get(plan, "kind"));
	const char *what = json_string_value(json_object_get(plan, "summary"));
	json_t *rel = json_object_get(plan, "release");

	if (what == NULL)
		what = json_string_value(rel);
	if (what == NULL && json_is_object(rel)) {
		what = json_string_value(json_object_get(rel, "id"));
		if (what == NULL)
			what = json_string_value(json_object_get(rel, "label"));
	}
	if (kind == NULL)
		kind = "?";
	if (what != NULL && json_is_string(json_object_get(plan, "shard")))
		return xasprintf("%s %s [shard %s]", kind, what, json_string_value(json_object_get(plan, "shard")));
	return what != NULL ? xasprintf("%s %s", kind, what) : xstrdup(kind);
}

/*
 * The N jobs of one sharded push (push --shard K/N) are one rollout: the same release, selection and N.
 * rollouts maps "release selection N" to {shards: [K...], counts: {state: n}}.
 */
static void
runs_add_shard(json_t *rollouts, const struct journal_run *r)
{
	const char *shard = json_string_value(json_object_get(r->plan, "shard")), *slash;
	const char *rel = json_string_value(json_object_get(json_object_get(r->plan, "release"), "id"));
	const char *sel = json_string_value(json_object_get(r->plan, "selection"));
	json_t *g, *counts, *c;
	const char *state;
	char *key;

	if (shard == NULL || rel == NULL || (slash = strchr(shard, '/')) == NULL)
		return;
	key = xasprintf("%s to %s in %s shards", rel, sel != NULL ? sel : "all", slash + 1);
	if ((g = json_object_get(rollouts, key)) == NULL) {
		g = json_pack("{s:[], s:{}}", "shards", "counts");
		json_object_set_new(rollouts, key, g);
	}
	json_array_append_new(json_object_get(g, "shards"), json_stringn(shard, (size_t)(slash - shard)));
	counts = journal_run_counts(r);
	json_object_foreach(counts, state, c) {
		json_int_t have = json_integer_value(json_object_get(json_object_get(g, "counts"), state));

		json_object_set_new(json_object_get(g, "counts"), state, json_integer(have + json_integer_value(c)));
	}
	json_decref(counts);
	free(key);
}

static void
runs_print_rollouts(json_t *rollouts)
{
	const char *key, *state;
	json_t *g, *v, *c;
	size_t i;

	json_object_foreach(rollouts, key, g) {
		printf("rollout %s: shards", key);
		json_array_foreach(json_object_get(g, "shards"), i, v)
			printf("%s%s", i ? "," : " ", json_string_value(v));
		printf(" ran;");
		json_object_foreach(json_object_get(g, "counts"), state, c)
			printf(" %lld %s", (long long)json_integer_value(c), state);
		printf("\n");
	}
}

static const char *
runs_str(json_t *plan, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(plan, key));

	return s != NULL && *s != '\0' ? s : dflt;
}

int cmd_runs(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_runs(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "max-count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	char **ids = NULL, *cause = NULL;
	bool json = false;
	long max = 20;
	size_t shown = 0;
	json_t *rollouts = NULL;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORT "hn:j", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'n':
			if (parse_long(optarg, 0, 1000000, &max) != 0) {
				cmd_error("runs: bad count '%s' (a number, 0 for all)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': json = true; break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind != argc) {
		cmd_error("runs: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if ((rc = cmd_load_inventory(ctx)) != 0)
		return rc;
	if (journal_list(ctx->inv->state_dir, &ids, &cause) != 0) {
		cmd_error("runs: %s", cause);
		rc = EXIT_FAILED;
		goto out;
	}
	if (!json && ids[0] != NULL)
		printf("%-28s %-19s %-11s %-10s %-26s %-19s %s\n", "RUN", "CREATED (UTC)", "STATUS", "OPERATOR", "WHAT",
		    "AT (UTC)", "TERMINALS");
	rollouts = json_object();
	for (size_t i = 0; ids[i] != NULL && (max == 0 || shown < (size_t)max); i++, shown++) {
		struct journal_run *r = NULL;
		char *created, *at, *what, *counts;

		if (journal_read(ctx->inv->state_dir, ids[i], &r, &cause) != 0) {
			/* A journal that cannot be read is shown, not fatal: the others still matter. */
			if (json) {
				json_t *j = json_pack("{s:s, s:s}", "id", ids[i], "error",
				    cause != NULL ? cause : "unreadable");

				report_json_line(j, STDOUT_FILENO);
				json_decref(j);
			} else
				printf("%-24s unreadable: %s\n", ids[i], cause != NULL ? cause : "?");
			free(cause);
			cause = NULL;
			continue;
		}
		runs_add_shard(rollouts, r);
		created = runs_time(json_object_get(r->plan, "time"));
		at = runs_time(json_object_get(r->plan, "at"));
		what = runs_what(r->plan);
		counts = journal_counts_text(r);
		if (json) {
			json_t *j = json_object();

			json_object_set_new(j, "id", json_string(r->id));
			json_object_set_new(j, "status", json_string(r->status));
			json_object_set_new(j, "exit_status", r->exit_status >= 0 ? json_integer(r->exit_status) : json_null());
			json_object_set_new(j, "operator", json_string(runs_str(r->plan, "operator", "")));
			json_object_set_new(j, "kind", json_string(runs_str(r->plan, "kind", "")));
			json_object_set_new(j, "what", json_string(what));
			json_object_set(j, "shard", json_object_get(r->plan, "shard") != NULL ? json_object_get(r->plan, "shard") :
			    json_null());
			json_object_set(j, "created", json_object_get(r->plan, "time"));
			json_object_set(j, "at", json_object_get(r->plan, "at") != NULL ?
			    json_object_get(r->plan, "at") : json_null());
			json_object_set_new(j, "terminals", json_integer((json_int_t)r->nhosts));
			json_object_set_new(j, "counts", journal_run_counts(r));
			json_object_set_new(j, "torn", json_boolean(r->torn));
			report_json_line(j, STDOUT_FILENO);
			json_decref(j);
		} else {
			printf("%-28s %-19s %-11s %-10s %-26s %-19s %s\n", r->id, created, r->status,
			    runs_str(r->plan, "operator", "-"), what, at, counts);
		}
		free(created);
		free(at);
		free(what);
		free(counts);
		journal_run_free(r);
	}
	if (!json)
		runs_print_rollouts(rollouts);
	fflush(stdout);
	if (!json && ids[0] == NULL)
		cmd_error("no runs recorded in '%s/runs'", ctx->inv->state_dir);
	rc = EXIT_OK;
out:
	json_decref(rollouts);
	strv_free(ids);
	free(cause);
	return rc;
}

const struct cmd_entry cmd_runs_entry = {
	.name = "runs",
	.usage = "[-n N] [--json]",
	.summary = "list recent runs from their journals, newest first",
	.help =
	    "  -n, --max-count N   show at most N runs (default 20, 0 for all)\n"
	    "      --json          one JSON object per run\n"
	    "\nStatus: running, interrupted (no end and its controller is gone: `fleetctl resume RUN`),\n"
	    "paused, halted, done, open (push --until: its deadline is ahead and terminals are still to do;\n"
	    "`fleetctl retry --all` picks them up), expired (its deadline passed with terminals missing).\n"
	    "`fleetctl show RUN` shows one run in full.\n",
	.flags = CMD_READS_HISTORY,
	.exec = cmd_runs,
};
