/*
 * show: one run in full, from its journal: the plan as it was stored (kind, operator, selection, release,
 * waves with their terminals, options, deadline), what happened (waves started and finished, soaks,
 * pauses, resumes, pick-ups, the end), and where each terminal stands (pending, sent, installed, done,
 * failed, delayed, expired) with its lifecycle and times:
 *   t01  done       planned 10:45:01 -> sent 10:45:03 -> installed 10:45:04 -> done 10:45:05
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

/* Plan keys shown in the header or elsewhere, not in the generic list. */
static const char *const show_plan_skip[] = {
	"t", "run", "time", "pid", "pid_start", "boot", "controller", "kind", "operator", "hosts", "waves", NULL
};

static const char *
show_str(json_t *obj, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : dflt;
}

/* "2026-12-01 06:00:00 UTC" (caller frees). */
static char *
show_epoch(time_t t)
{
	char when[48];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	return xstrdup(when);
}

/* "10:45:03" from an ISO time, with "MM-DD " in front when the day is not the run's (caller frees). */
static char *
show_time(const char *iso, const char *day)
{
	if (iso == NULL || strlen(iso) < 19 || iso[10] != 'T')
		return xstrdup(iso != NULL && *iso != '\0' ? iso : "?");
	if (day != NULL && strncmp(iso, day, 10) != 0)
		return xasprintf("%.5s %.8s", iso + 5, iso + 11);
	return xstrndup(iso + 11, 8);
}

/* A JSON value for a human: strings as they are, the rest compact (caller frees). */
static char *
show_value(json_t *v)
{
	char *s;

	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	return s != NULL ? s : xstrdup("?");
}

/* "t[01-03] (3)" from a JSON array of names (caller frees). */
static char *
show_hostlist(json_t *arr)
{
	char **names = xcalloc(json_array_size(arr) + 1, sizeof(*names));
	size_t i, n = 0;
	json_t *v;
	char *list, *res;

	json_array_foreach(arr, i, v) {
		if (json_is_string(v))
			names[n++] = (char *)json_string_value(v);
	}
	list = report_hostlist(names, n);
	res = xasprintf("%s (%zu)", n > 0 ? list : "none", n);
	free(list);
	free(names);
	return res;
}

static void
show_plan(struct buf *b, const struct journal_run *r)
{
	json_t *plan = r->plan, *waves = json_object_get(plan, "waves"), *v;
	const char *key, *s;
	char *t, *counts = journal_counts_text(r);

	buf_addf(b, "%-11s %s\n", "run", r->id);
	buf_addf(b, "%-11s %s", "status", r->status);
	if (r->exit_status >= 0)
		buf_addf(b, " (exit %d)", r->exit_status);
	if (strcmp(r->status, "interrupted") == 0)
		buf_addf(b, " (finish it with `fleetctl resume %s`)", r->id);
	else if (strcmp(r->status, "open") == 0)
		buf_adds(b, " (until its deadline `fleetctl retry --all` picks up its delayed terminals)");
	else if (r->expiry_unwritten)
		buf_adds(b, " (its deadline has passed; `fleetctl retry --all` writes it down)");
	buf_adds(b, "\n");
	if (json_is_integer(json_object_get(json_object_get(plan, "options"), "until"))) {
		t = show_epoch((time_t)json_integer_value(json_object_get(json_object_get(plan, "options"), "until")));
		buf_addf(b, "%-11s %s\n", "deadline", t);
		free(t);
	}
	if ((s = json_string_value(json_object_get(plan, "kind"))) != NULL)
		buf_addf(b, "%-11s %s\n", "kind", s);
	if ((s = json_string_value(json_object_get(plan, "operator"))) != NULL)
		buf_addf(b, "%-11s %s\n", "operator", s);
	s = json_string_value(json_object_get(plan, "time"));
	t = show_time(s, NULL);
	buf_addf(b, "%-11s %.10s %s UTC by pid %" JSON_INTEGER_FORMAT " on %s\n", "created", s != NULL ? s : "?", t,
	    json_integer_value(json_object_get(plan, "pid")), show_str(plan, "controller", "?"));
	free(t);
	json_object_foreach(plan, key, v) {
		bool skip = false;
		char *val;

		for (size_t i = 0; show_plan_skip[i] != NULL; i++)
			if (strcmp(key, show_plan_skip[i]) == 0)
				skip = true;
		if (skip)
			continue;
		if (strcmp(key, "at") == 0 && json_is_integer(v))
			val = show_epoch((time_t)json_integer_value(v));   /* the planned start, as people read it */
		else
			val = show_value(v);
		buf_addf(b, "%-11s %s\n", key, val);
		free(val);
	}
	if (json_is_array(waves)) {
		size_t i;
		json_t *w;

		buf_addf(b, "%-11s %zu\n", "waves", json_array_size(waves));
		json_array_foreach(waves, i, w) {
			json_t *n = json_object_get(w, "n"), *hosts = json_is_array(w) ? w : json_object_get(w, "hosts");
			json_int_t num = json_is_integer(n) ? json_integer_value(n) : (json_int_t)i + 1;
			char *list = json_is_array(hosts) ? show_hostlist(hosts) : NULL;
			bool has_list = list != NULL;

			buf_addf(b, "  wave %-4" JSON_INTEGER_FORMAT " %s", num, has_list ? list : "");
			free(list);
			if (json_is_object(w)) {
				/* Anything else the wave carries (thresholds, pauses), compact. */
				json_t *rest = json_deep_copy(w);
				char *val;

				json_object_del(rest, "n");
				json_object_del(rest, "hosts");
				if (json_object_size(rest) > 0) {
					val = show_value(rest);
					buf_addf(b, "%s%s", has_list ? "  " : "", val);
					free(val);
				}
				json_decref(rest);
			} else if (!json_is_array(w)) {
				char *val = show_value(w);

				buf_adds(b, val);
				free(val);
			}
			buf_adds(b, "\n");
		}
	} else if (waves != NULL) {
		char *val = show_value(waves);

		buf_addf(b, "%-11s %s\n", "waves", val);
		free(val);
	}
	if (json_is_array(json_object_get(plan, "hosts"))) {
		char *list = show_hostlist(json_object_get(plan, "hosts"));

		buf_addf(b, "%-11s %s\n", "hosts", list);
		free(list);
	}
	buf_addf(b, "%-11s %s\n", "terminals", counts);
	if (r->torn)
		buf_addf(b, "%-11s the last line was cut short by a crash and is ignored\n", "journal");
	if (r->bad_lines > 0)
		buf_addf(b, "%-11s %zu unreadable line%s skipped\n", "journal", r->bad_lines, r->bad_lines == 1 ? "" : "s");
	free(counts);
}

static void
show_events(struct buf *b, const struct journal_run *r, const char *day)
{
	size_t i;
	json_t *e;

	if (json_array_size(r->events) == 0)
		return;
	buf_adds(b, "\nevents\n");
	json_array_foreach(r->events, i, e) {
		const char *t = json_string_value(json_object_get(e, "t"));
		char *when = show_time(json_string_value(json_object_get(e, "time")), day);
		json_t *rest = json_deep_copy(e);
		char *val;

		buf_addf(b, "  %s  ", when);
		free(when);
		json_object_del(rest, "t");
		json_object_del(rest, "time");
		if (strcmp(t, "wave") == 0 && json_object_get(e, "n") != NULL) {
			buf_addf(b, "wave %" JSON_INTEGER_FORMAT " %s", json_integer_value(json_object_get(e, "n")),
			    show_str(e, "state", ""));
			json_object_del(rest, "n");
			json_object_del(rest, "state");
		} else if (strcmp(t, "pause") == 0 && json_object_get(e, "after_wave") != NULL) {
			buf_addf(b, "paused after wave %" JSON_INTEGER_FORMAT,
			    json_integer_value(json_object_get(e, "after_wave")));
			json_object_del(rest, "after_wave");
		} else if (strcmp(t, "pickup") == 0 && json_is_integer(json_object_get(e, "terminals"))) {
			json_int_t k = json_integer_value(json_object_get(e, "terminals"));

			buf_addf(b, "picked up by retry --all: %" JSON_INTEGER_FORMAT " terminal%s still to do", k, k == 1 ? "" : "s");
			json_object_del(rest, "terminals");
		} else if (strcmp(t, "soak") == 0 && json_object_get(e, "after_wave") != NULL) {
			buf_addf(b, "soak after wave %" JSON_INTEGER_FORMAT " %s", json_integer_value(json_object_get(e, "after_wave")),
			    show_str(e, "state", ""));
			json_object_del(rest, "after_wave");
			json_object_del(rest, "state");
		} else if (strcmp(t, "resume") == 0) {
			buf_addf(b, "resumed by pid %" JSON_INTEGER_FORMAT " on %s",
			    json_integer_value(json_object_get(e, "pid")), show_str(e, "controller", "?"));
			json_object_clear(rest);
		} else if (strcmp(t, "end") == 0) {
			buf_addf(b, "end: %s", show_str(e, "result", "?"));
			if (json_is_integer(json_object_get(e, "exit")))
				buf_addf(b, " (exit %" JSON_INTEGER_FORMAT ")", json_integer_value(json_object_get(e, "exit")));
			json_object_del(rest, "result");
			json_object_del(rest, "exit");
		} else
			buf_adds(b, t);
		if (json_object_size(rest) > 0) {
			const char *key;
			json_t *v;

			/* Counts and the like, as key value pairs. */
			bool first = true;

			json_object_foreach(rest, key, v) {
				val = show_value(v);
				buf_addf(b, "%s%s %s", first ? ": " : ", ", key, val);
				free(val);
				first = false;
			}
		}
		buf_adds(b, "\n");
		json_decref(rest);
	}
}

static void
show_terminals(struct buf *b, const struct journal_run *r, const char *day)
{
	size_t width = 4;
	const char *phase;

	if (r->nhosts == 0)
		return;
	for (size_t i = 0; i < r->nhosts; i++)
		if (strlen(r->hosts[i].host) > width)
			width = strlen(r->hosts[i].host);
	buf_adds(b, "\nterminals\n");
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct journal_host *h = &r->hosts[i];
		size_t k;
		json_t *e;

		phase = journal_phase(h->state);
		buf_addf(b, "  %-*s %-9s ", (int)width, h->host, phase);
		json_array_foreach(h->lifecycle, k, e) {
			const char *step = json_string_value(json_object_get(e, "step"));
			const char *err = json_string_value(json_object_get(e, "error"));
			char *when = show_time(json_string_value(json_object_get(e, "time")), day);

			buf_addf(b, "%s%s %s", k > 0 ? " -> " : " ", json_string_value(json_object_get(e, "state")), when);
			free(when);
			if (step != NULL || err != NULL)
				buf_addf(b, " (%s%s%s)", step != NULL ? step : "", step != NULL && err != NULL ? ": " : "",
				    err != NULL ? err : "");
		}
		if (h->wave >= 0)
			buf_addf(b, "  [wave %d]", h->wave);
		buf_adds(b, "\n");
	}
}

int cmd_show(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_show(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct journal_run *r = NULL;
	const char *id;
	char *cause = NULL;
	bool json = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORT "hj", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'j': json = true; break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind >= argc) {
		cmd_error("show: which run? (fleetctl runs lists them)");
		return cmd_usage(ctx, false);
	}
	if (optind + 1 != argc) {
		cmd_error("show: unexpected argument '%s'", argv[optind + 1]);
		return EXIT_USAGE;
	}
	id = argv[optind];
	if (!journal_valid_id(id)) {
		cmd_error("show: invalid run id '%s' (fleetctl runs lists the runs)", id);
		return EXIT_USAGE;
	}
	if ((rc = cmd_load_inventory(ctx)) != 0)
		return rc;
	rc = journal_read(ctx->inv->state_dir, id, &r, &cause);
	if (rc == JOURNAL_ENOENT) {
		cmd_error("show: no run '%s' in '%s/runs' (fleetctl runs lists the runs)", id, ctx->inv->state_dir);
		rc = EXIT_USAGE;
		goto out;
	}
	if (rc != 0) {
		cmd_error("show: %s", cause);
		rc = EXIT_FAILED;
		goto out;
	}
	if (json) {
		json_t *j = journal_run_json(r);

		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	} else {
		struct buf b;
		const char *day = json_string_value(json_object_get(r->plan, "time"));

		buf_init(&b, 0);
		show_plan(&b, r);
		show_events(&b, r, day);
		show_terminals(&b, r, day);
		report_flush(&b, STDOUT_FILENO);
		buf_free(&b);
	}
	rc = EXIT_OK;
out:
	journal_run_free(r);
	free(cause);
	return rc;
}

const struct cmd_entry cmd_show_entry = {
	.name = "show",
	.usage = "RUN [--json]",
	.summary = "show one run: its plan, its events and every terminal's lifecycle",
	.help =
	    "      --json          the whole run as one JSON object\n"
	    "\nEach terminal: pending, sent, installed, done, failed, delayed (still to do) or expired (its\n"
	    "run's deadline passed first), then every state it went through, with its time.\n"
	    "\nRUN is a run id as `fleetctl runs` lists it, e.g. 20261126T104512.345Z-1a2b3c.\n"
	    "Exit status: 0 shown, 2 no such run or usage, 1 the journal cannot be read.\n",
	.flags = CMD_READS_HISTORY,
	.exec = cmd_show,
};
