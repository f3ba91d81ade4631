/*
 * history: list the recorded operations, newest first, from the audit repository in STATE_DIR/history:
 * when, who, and the one-line summary.  -l keeps the operations that named one of the selected
 * terminals; -n stops after N; --json prints one object per line (commit, time, author, email,
 * actor, summary, body).  `git -C STATE_DIR/history log -p` shows the same and more.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/histsync.h"
#include "../lib/history.h"
#include "../lib/util.h"
#include "cmd.h"

#define HISTORY_OPT_JSON 2000

struct history_view {
	const char *const *hosts;   /* sorted selection, or NULL for every operation */
	size_t nhosts;
	size_t limit;               /* 0 = all */
	size_t shown;
	bool json;
	bool write_failed;
	char **only;                /* --unpushed: these commits only (sorted), or NULL */
};

static int
history_cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The "Actor:" trailer of a body (caller frees), or NULL. */
static char *
history_actor_of(const char *body)
{
	const char *p = body;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, "Actor: ", 7) == 0)
			return xstrndup(p + 7, strcspn(p + 7, "\n"));
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

static int
history_show(const struct hist_entry *e, void *arg)
{
	struct history_view *v = arg;
	char when[32], *actor, *line;
	time_t t = (time_t)e->time;
	struct tm tm;
	json_t *o;

	if (v->hosts != NULL && !hist_body_names_any(e->body, v->hosts, v->nhosts))
		return 0;
	if (v->only != NULL && bsearch(&e->commit, v->only, strv_len(v->only), sizeof(*v->only), history_cmp_name) == NULL)
		return 0;
	actor = history_actor_of(e->body);
	if (v->json) {
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s}", "commit", e->commit, "time", when,
		    "author", e->author != NULL ? e->author : "", "email", e->email != NULL ? e->email : "",
		    "actor", actor, "summary", e->summary, "body", e->body);
		line = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(o);
		if (line == NULL || printf("%s\n", line) < 0)
			v->write_failed = true;
		free(line);
	} else {
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		line = xasprintf("%s  %s  %s%s%s%s\n", when,
		    e->email != NULL && *e->email != '\0' ? e->email : e->author, e->summary,
		    actor != NULL ? "  (" : "", actor != NULL ? actor : "", actor != NULL ? ")" : "");
		if (fputs(line, stdout) < 0)
			v->write_failed = true;
		free(line);
	}
	free(actor);
	if (v->write_failed)
		return -1;
	v->shown++;
	return v->limit > 0 && v->shown >= v->limit ? 1 : 0;
}

static int
history_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, HISTORY_OPT_JSON },
		{ "unpushed", no_argument, NULL, HISTORY_OPT_JSON + 1 },
		{ NULL, 0, NULL, 0 }
	};
	struct history_view view;
	struct inv_host **hosts = NULL;
	struct history *h = NULL;
	const char *pattern = NULL, **names = NULL;
	char *cause = NULL;
	size_t nhosts = 0, i;
	long count = 0;
	bool unpushed = false;
	int opt, rc;

	memset(&view, 0, sizeof(view));
	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORT "hl:n:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'l':
			pattern = optarg;
			break;
		case 'n':
			if (parse_long(optarg, 1, 1000000000L, &count) < 0) {
				cmd_error("history: -n wants a positive number, not '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case HISTORY_OPT_JSON:
			view.json = true;
			break;
		case HISTORY_OPT_JSON + 1:
			unpushed = true;
			break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind < argc) {
		cmd_error("history: unexpected argument '%s'", argv[optind]);
		return cmd_usage(ctx, false);
	}
	if (pattern != NULL) {
		if ((rc = cmd_select(ctx, pattern, &hosts, &nhosts)) != 0)
			return rc;
		names = xcalloc(nhosts + 1, sizeof(*names));
		for (i = 0; i < nhosts; i++)
			names[i] = hosts[i]->name;
		qsort(names, nhosts, sizeof(*names), history_cmp_name);
		view.hosts = names;
		view.nhosts = nhosts;
	} else if ((rc = cmd_load_inventory(ctx)) != 0)
		return rc;
	view.limit = (size_t)count;

	rc = EXIT_OK;
	if (unpushed && ctx->inv->history_remote == NULL) {
		cmd_error("history: --unpushed needs history_remote in %s", ctx->inv->path);
		rc = EXIT_USAGE;
		goto out;
	}
	if (history_open(ctx->inv->state_dir, &h, &cause) == 0 && unpushed &&
	    histsync_unpushed(h, &view.only, &cause) == 0)
		qsort(view.only, strv_len(view.only), sizeof(*view.only), history_cmp_name);
	if (cause != NULL || history_log(h, NULL, 0, history_show, &view, &cause) < 0) {
		if (view.write_failed)
			cmd_error("history: cannot write the output");
		else
			cmd_error("%s", cause != NULL ? cause : "history: unknown error");
		rc = EXIT_FAILED;
	}
	if (fflush(stdout) != 0)
		rc = EXIT_FAILED;
out:
	strv_free(view.only);
	history_close(h);
	free(cause);
	free(names);
	free(hosts);
	return rc;
}

const struct cmd_entry cmd_history_entry = {
	.name = "history",
	.usage = "[-l SEL] [-n N] [--unpushed] [--json]",
	.summary = "list recorded operations, newest first",
	.help = "  -l, --limit SEL   only operations that named one of the selected terminals\n"
	    "  -n, --count N     stop after N operations\n"
	    "      --unpushed    only this controller's operations the shared history (history_remote) lacks\n"
	    "      --json        one JSON object per line: commit, time, author, email, actor, summary, body\n"
	    "the history is a git repository: git -C STATE_DIR/history log -p shows every change\n",
	.flags = CMD_READS_HISTORY,
	.exec = history_exec,
};
