/* common: what every command shares — the common options, inventory loading, selection, usage. */
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/bundle.h"
#include "../lib/histsync.h"
#include "../lib/history.h"
#include "../lib/report.h"
#include "../lib/rollout.h"
#include "../lib/run.h"
#include "../lib/select.h"
#include "../lib/util.h"
#include "cmd.h"

void
cmd_error(const char *fmt, ...)
{
	va_list ap;
	char *msg, *line;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	line = xasprintf("fleetctl: %s\n", msg);
	{
		/* messages carry what terminals said (lock holders, errors): escaped on a tty */
		struct buf b;

		buf_init(&b, 0);
		buf_adds(&b, line);
		report_flush(&b, STDERR_FILENO);
		buf_free(&b);
	}
	free(line);
	free(msg);
}

int
cmd_common_option(struct cmd_ctx *ctx, int opt, const char *arg)
{
	const char *eq;

	switch (opt) {
	case 'i':
		ctx->inventory_path = arg;
		return 1;
	case 'F':
		ctx->ssh_config = arg;
		return 1;
	case CMD_OPT_ACCEPT_NEW:
		ctx->accept_new_host_keys = true;
		return 1;
	case 'o':
		eq = strchr(arg, '=');
		if (eq == NULL || eq == arg) {
			cmd_error("-o wants KEY=VALUE, not '%s'", arg);
			return -1;
		}
		ctx->overrides = xrealloc(ctx->overrides, (ctx->noverrides + 1) * sizeof(*ctx->overrides));
		ctx->overrides[ctx->noverrides].key = xstrndup(arg, (size_t)(eq - arg));
		ctx->overrides[ctx->noverrides].value = xstrdup(eq + 1);
		if (inv_key_lookup(ctx->overrides[ctx->noverrides].key) < 0) {
			cmd_error("-o: unknown key '%s'", ctx->overrides[ctx->noverrides].key);
			free(ctx->overrides[ctx->noverrides].key);
			free(ctx->overrides[ctx->noverrides].value);
			return -1;
		}
		ctx->noverrides++;
		return 1;
	default:
		return 0;
	}
}

int
cmd_check_component(const char *cmdname, const char *c)
{
	if (bundle_valid_component(c))
		return 0;
	cmd_error("%s: bad component '%s' (1-32 of a-z 0-9 _ -, starting with a letter)", cmdname, c);
	return EXIT_USAGE;
}

int
cmd_check_version(const char *cmdname, const char *what, const char *v)
{
	if (bundle_valid_version(v))
		return 0;
	cmd_error("%s: bad %s '%s' (1-64 of A-Z a-z 0-9 . _ + -, starting with a letter or digit)", cmdname, what, v);
	return EXIT_USAGE;
}

static void
cmd_progress(const struct executor_progress *p, void *arg)
{
	(void)arg;
	report_progress(p, STDERR_FILENO);
}

struct host_result *
cmd_run_job(struct cmd_ctx *ctx, struct inv_host **hosts, size_t n, long parallel, bool progress,
    struct executor_job *job)
{
	struct executor_opts eo;
	struct host_result *results = xcalloc(n ? n : 1, sizeof(*results));

	memset(&eo, 0, sizeof(eo));
	eo.parallel = parallel > 0 ? (parallel > INT_MAX ? INT_MAX : (int)parallel) :
	    (int)inv_get_long(hosts[0], INV_PARALLEL);
	eo.cancel = ctx->interrupted;
	eo.accept_new_host_keys = ctx->accept_new_host_keys;
	if (progress && ctx->stderr_tty)
		eo.progress = cmd_progress;
	executor_run(&eo, hosts, n, results, job);
	if (eo.progress != NULL)
		report_progress_clear(STDERR_FILENO);
	return results;
}

int
cmd_other_option(struct cmd_ctx *ctx, int opt, const char *arg)
{
	int rc = cmd_common_option(ctx, opt, arg);

	if (rc == 1)
		return 0;
	if (rc == 0)
		cmd_usage(ctx, false);
	return EXIT_USAGE;
}

int
cmd_usage(const struct cmd_ctx *ctx, bool to_stdout)
{
	FILE *f = to_stdout ? stdout : stderr;
	const struct cmd_entry *e = ctx->entry;

	fprintf(f, "usage: fleetctl %s %s\n\n%s\n", e->name, e->usage, e->summary);
	if (e->help != NULL && *e->help != '\0')
		fprintf(f, "\n%s", e->help);
	fprintf(f, "\ncommon options: -i FILE (inventory), -F FILE (ssh_config), -o KEY=VALUE, "
	    "--accept-new-host-keys\nsee fleetctl(1)\n");
	return to_stdout ? EXIT_OK : EXIT_USAGE;
}

int
cmd_load_inventory(struct cmd_ctx *ctx)
{
	struct inventory_opts opts;
	const char *path = ctx->inventory_path;
	char *cause = NULL;

	if (ctx->inv != NULL)
		return 0;
	if (path == NULL)
		path = getenv("FLEETCTL_INVENTORY");
	if (path == NULL || *path == '\0')
		path = "fleet.ini";
	memset(&opts, 0, sizeof(opts));
	opts.overrides = ctx->overrides;
	opts.noverrides = ctx->noverrides;
	opts.ssh_config = ctx->ssh_config;
	if (inventory_load(path, &opts, &ctx->inv, &cause) != 0) {
		cmd_error("%s", cause != NULL ? cause : "cannot load inventory");
		free(cause);
		return EXIT_USAGE;
	}
	if (ctx->inv->history_remote != NULL && histsync_check_url(ctx->inv->history_remote, &cause) != 0) {
		cmd_error("%s: %s", ctx->inv->path, cause);
		free(cause);
		return EXIT_USAGE;
	}
	if (ctx->entry != NULL && (ctx->entry->flags & CMD_READS_HISTORY))
		cmd_history_pull(ctx);
	return 0;
}

/* The unpushed commits, in a warning. */
static void
cmd_history_unpushed_warning(struct history *h, const char *what, const char *why)
{
	char **ids = NULL, *cause = NULL;

	if (histsync_unpushed(h, &ids, &cause) == 0)
		cmd_error("warning: %s (%s): working on the local history; %zu commit%s not in the shared history yet "
		    "(they go with the next operation; fleetctl history --unpushed)", what, why, strv_len(ids),
		    strv_len(ids) == 1 ? " is" : "s are");
	else
		cmd_error("warning: %s (%s)", what, why);
	strv_free(ids);
	free(cause);
}

void
cmd_history_pull(struct cmd_ctx *ctx)
{
	struct history *h = NULL;
	char *cause = NULL;

	if (ctx->inv == NULL || ctx->inv->history_remote == NULL)
		return;
	if (history_open(ctx->inv->state_dir, &h, &cause) != 0) {
		cmd_error("warning: %s", cause);
	} else if (histsync_pull(h, ctx->inv->history_remote, &cause) != 0) {
		cmd_history_unpushed_warning(h, "cannot read the shared history", cause);
	} else {
		char *runs = xasprintf("%s/runs", ctx->inv->state_dir);
		size_t got = 0;

		/* the other controllers' runs, for runs and show */
		if (histsync_export_runs(h, runs, &got, &cause) != 0) {
			cmd_error("warning: %s", cause);
			free(cause);
			cause = NULL;
		}
		free(runs);
		/* commits left from a time the remote was away go now */
		char **ids = NULL;

		if (histsync_unpushed(h, &ids, &cause) == 0 && strv_len(ids) > 0)
			cmd_history_push(ctx, h);
		strv_free(ids);
	}
	history_close(h);
	free(cause);
}

void
cmd_history_push(struct cmd_ctx *ctx, struct history *h)
{
	char *cause = NULL;

	if (ctx->inv == NULL || ctx->inv->history_remote == NULL || h == NULL)
		return;
	if (histsync_push(h, ctx->inv->history_remote, &cause) != 0)
		cmd_history_unpushed_warning(h, "cannot push to the shared history", cause);
	free(cause);
}

int
cmd_select(struct cmd_ctx *ctx, const char *pattern, struct inv_host ***hosts, size_t *n)
{
	char *cause = NULL;
	int rc;

	if ((rc = cmd_load_inventory(ctx)) != 0)
		return rc;
	if (select_hosts(ctx->inv, pattern, hosts, n, &cause) != 0) {
		cmd_error("%s", cause != NULL ? cause : "bad selection");
		free(cause);
		return EXIT_USAGE;
	}
	return 0;
}

char *
cmd_run_id(void)
{
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	unsigned rnd;

	/* Milliseconds in the id: run ids sort in the order runs started, even within one second. */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	rnd = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec;
	return xasprintf("%s.%03ldZ-%06x", stamp, ts.tv_nsec / 1000000, rnd & 0xffffff);
}

char *
cmd_operator(void)
{
	const char *user = getenv("USER");
	struct passwd *pw;
	char host[256];

	if (user == NULL || *user == '\0') {
		pw = getpwuid(getuid());
		user = pw != NULL ? pw->pw_name : "unknown";
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	return xasprintf("%s@%s", user, host);
}

int
cmd_record(struct cmd_ctx *ctx, const char *kind, const char *command, const char *selection,
    const char *component, const struct host_result *results, size_t n, const char *summary)
{
	struct history *h = NULL;
	struct hist_result *hr = xcalloc(n ? n : 1, sizeof(*hr));
	struct hist_op op;
	char commit[41], *cause = NULL, *run_id = cmd_run_id(), *line;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		run_hist_result(&results[i], &hr[i]);
	line = xasprintf("%s '%s' on %s: %s", kind, command != NULL ? command : "",
	    selection != NULL ? selection : "all", summary);
	memset(&op, 0, sizeof(op));
	op.kind = kind;
	op.run_id = run_id;
	op.summary = line;
	op.component = component;
	op.command = command;
	op.selection = selection;
	op.results = hr;
	op.nresults = n;
	if (history_open(ctx->inv->state_dir, &h, &cause) != 0 || history_record(h, &op, commit, &cause) != 0) {
		cmd_error("warning: cannot record %s in the history: %s", kind, cause != NULL ? cause : "unknown error");
		goto out;
	}
	cmd_history_push(ctx, h);
	rc = 0;
out:
	history_close(h);
	free(cause);
	free(line);
	free(run_id);
	free(hr);
	return rc;
}

int
cmd_parse_parallel(const char *cmdname, const char *arg, long *out)
{
	if (parse_long(arg, 1, 10000, out) != 0) {
		cmd_error("%s: -p wants a number from 1 to 10000, not '%s'", cmdname, arg);
		return -1;
	}
	return 0;
}

int
cmd_parse_time(const char *s, time_t now, time_t *out)
{
	struct tm tm, today;
	const char *end;
	size_t len = strlen(s);

	memset(&tm, 0, sizeof(tm));
	if (len == 5 && s[2] == ':') {
		end = strptime(s, "%H:%M", &tm);
		if (end == NULL || *end != '\0')
			return -1;
		localtime_r(&now, &today);
		today.tm_hour = tm.tm_hour;
		today.tm_min = tm.tm_min;
		today.tm_sec = 0;
		today.tm_isdst = -1;
		*out = mktime(&today);
		if (*out <= now) {
			today.tm_mday++;   /* already past today: tomorrow */
			today.tm_isdst = -1;
			*out = mktime(&today);
		}
		return *out == (time_t)-1 ? -1 : 0;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
	if (end == NULL)
		end = strptime(s, "%Y-%m-%d %H:%M", &tm);
	if (end == NULL && len == 10) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);   /* a day: from its start */
	}
	if (end == NULL)
		return -1;
	if (*end == ':') {
		end = strptime(end, ":%S", &tm);
		if (end == NULL)
			return -1;
	}
	tm.tm_isdst = -1;
	if (strcmp(end, "Z") == 0)
		*out = timegm(&tm);
	else if (*end == '\0')
		*out = mktime(&tm);
	else
		return -1;
	return *out == (time_t)-1 ? -1 : 0;
}

int
cmd_rollout_option(struct cmd_rollout_opts *o, const char *cmdname, int opt, const char *arg)
{
	char *cause = NULL;

	switch (opt) {
	case 'W':
		free(o->waves);
		rollout_waves_free(&o->plan);
		o->waves = xstrdup(arg);
		if (rollout_parse_waves(arg, &o->plan, &cause) != 0) {
			cmd_error("%s: %s", cmdname, cause);
			free(cause);
			return -1;
		}
		return 1;
	case 'F' + 256:
	case 'U':
		if (rollout_parse_amount(arg, opt == 'U' ? &o->max_unreachable : &o->max_fail) != 0) {
			cmd_error("%s: --%s wants a count or a percentage like 2 or 5%%, not '%s'", cmdname,
			    opt == 'U' ? "max-unreachable" : "max-fail", arg);
			return -1;
		}
		return 1;
	case CMD_OPT_MIN_SAMPLE:
		if (parse_long(arg, 1, 10000000, &o->min_sample) != 0) {
			cmd_error("%s: --min-sample wants a number of terminals, not '%s'", cmdname, arg);
			return -1;
		}
		return 1;
	case CMD_OPT_RATE:
		if (rollout_parse_rate(arg, &o->rate_ms) != 0) {
			cmd_error("%s: --rate wants new terminals per time like 30/min, 2/s or 100/h, not '%s'", cmdname, arg);
			return -1;
		}
		free(o->rate);
		o->rate = xstrdup(arg);
		return 1;
	case CMD_OPT_SOAK:
		if (parse_duration(arg, &o->soak) != 0 || o->soak <= 0) {
			cmd_error("%s: --soak wants a duration like 90s, 10m or 2h, not '%s'", cmdname, arg);
			return -1;
		}
		return 1;
	case 'P': o->pause_after_wave = true; return 1;
	case 'R': o->rollback_on_halt = true; return 1;
	case 'I': o->ignore_window = true; return 1;
	case 'A':
		if (cmd_parse_time(arg, time(NULL), &o->at) != 0) {
			cmd_error("%s: --at wants HH:MM or an ISO 8601 time like 2026-11-27T02:30, not '%s'", cmdname, arg);
			return -1;
		}
		return 1;
	case 'Z':
		o->until = 0;
		o->until_for = 0;
		if (cmd_parse_time(arg, time(NULL), &o->until) != 0 &&
		    (parse_duration(arg, &o->until_for) != 0 || o->until_for <= 0)) {
			cmd_error("%s: --until wants HH:MM, a date like 2026-12-01, an ISO 8601 time like 2026-11-27T02:30 "
			    "or a duration like 36h or 3d, not '%s'", cmdname, arg);
			return -1;
		}
		return 1;
	case 'T':
		if (parse_duration(arg, &o->retry_for) != 0 || o->retry_for <= 0) {
			cmd_error("%s: --retry-for wants a duration like 90s, 30m or 4h, not '%s'", cmdname, arg);
			return -1;
		}
		return 1;
	default:
		return 0;
	}
}

/* The start of the run: --at, or now. */
static time_t
cmd_rollout_start(const struct cmd_rollout_opts *o)
{
	return o->at > 0 ? o->at : time(NULL);
}

/* --until as a time: given, or the duration after the start; 0 when not given. */
static time_t
cmd_rollout_until(const struct cmd_rollout_opts *o)
{
	return o->until > 0 ? o->until : o->until_for > 0 ? cmd_rollout_start(o) + o->until_for : 0;
}

int
cmd_rollout_finish(struct cmd_rollout_opts *o, const char *cmdname)
{
	time_t start = cmd_rollout_start(o), until = cmd_rollout_until(o);

	if ((o->pause_after_wave || o->max_fail.set || o->max_unreachable.set) && o->waves == NULL) {
		/* thresholds are checked after each wave: without --waves the one wave is the whole run */
		o->waves = xstrdup("100%");
		rollout_parse_waves(o->waves, &o->plan, NULL);
	}
	if (o->waves != NULL && !o->max_fail.set) {
		o->max_fail.set = true;
		o->max_fail.value = 0;
	}
	if (o->soak > 0 && o->waves == NULL) {
		cmd_error("%s: --soak waits between waves: give --waves too", cmdname);
		return -1;
	}
	if (until > 0 && until <= start) {
		cmd_error("%s: --until is not after the start", cmdname);
		return -1;
	}
	if (o->retry_for > 0 && until > 0 && start + o->retry_for > until) {
		cmd_error("%s: --retry-for goes past --until (the run's deadline)", cmdname);
		return -1;
	}
	return 0;
}

void
cmd_rollout_apply(const struct cmd_rollout_opts *o, struct run_spec *dr)
{
	time_t until = cmd_rollout_until(o);

	dr->waves = o->waves;
	dr->wave_plan = &o->plan;
	dr->max_fail = o->max_fail;
	dr->max_unreachable = o->max_unreachable;
	dr->min_sample = (size_t)o->min_sample;
	dr->rate = o->rate;
	dr->rate_ms = o->rate_ms;
	dr->soak_s = o->soak;
	dr->pause_after_wave = o->pause_after_wave;
	dr->rollback_on_halt = o->rollback_on_halt;
	dr->ignore_window = o->ignore_window;
	dr->at = o->at;
	dr->until = until;
	dr->retry_until = o->retry_for > 0 ? cmd_rollout_start(o) + o->retry_for : until;
}

void
cmd_rollout_opts_free(struct cmd_rollout_opts *o)
{
	free(o->waves);
	free(o->rate);
	rollout_waves_free(&o->plan);
	memset(o, 0, sizeof(*o));
}
