/*
 * lock: show and break the locks runs take on terminals, so that two controllers, operators or CI jobs
 * never change one terminal at once.
 *
 *   fleetctl lock status [-l SEL] [--json]       free, or held by which run (kind, operator@controller,
 *                                                pid, age) and whether the lock is stale
 *   fleetctl lock break -l SEL [--run ID] [--yes]
 *                                                remove the locks (only RUN's with --run) and record one
 *                                                history commit naming whose lock was broken where
 *
 * A lock is stale when its deadline has passed, or when its run's journal (STATE_DIR/runs/ID.jsonl)
 * is on this controller and says the run ended.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../lib/executor.h"
#include "../lib/rcmd.h"
#include "../lib/report.h"
#include "../lib/termlock.h"
#include "cmd.h"

#define LOCK_TIMEOUT_MAX_S 60L   /* the scripts are tiny: never wait long for one */
#define LOCK_OPT_RUN 2000
#define LOCK_OPT_YES 2001

struct lock_arg {
	bool do_break;
	const char *run_id;          /* break: only this run's lock, or NULL */
};

struct lock_host {               /* one terminal's answer, r->data */
	int held;                    /* 1 held, 0 free */
	int broken;                  /* break: 1 when removed */
	int stale;
	struct termlock_info info;
	char *what;                  /* break: what was done, for the output and the history */
};

/* Is line (whole) in out? */
static bool
lock_has_line(const char *out, const char *line)
{
	size_t len = strlen(line);
	const char *p = out;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
			return true;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return false;
}

static void
lock_run_one(struct executor_worker *w, struct host_result *r, void *arg)
{
	const struct lock_arg *a = arg;
	struct lock_host *lh;
	struct transport *tp;
	long timeout = inv_get_long(r->host, INV_COMMAND_TIMEOUT);
	char *script, *cmd, *cause = NULL;
	int rc;

	tp = executor_connect(w, r);
	if (tp == NULL)
		return;
	if (timeout <= 0 || timeout > LOCK_TIMEOUT_MAX_S)
		timeout = LOCK_TIMEOUT_MAX_S;
	if (a->do_break)
		script = termlock_break_script(inv_get(r->host, INV_ROOT), a->run_id);
	else
		script = termlock_status_script(inv_get(r->host, INV_ROOT));
	cmd = rcmd_deadline(script, timeout);
	rc = transport_run(tp, cmd, (timeout + 3) * 1000, &r->out, &r->err, &r->exit_code, r->exit_signal, &cause);
	r->step = a->do_break ? "lock-break" : "lock-status";
	if (rc != TP_OK) {
		r->state = host_state_from_tp(rc);
		r->error = cause;
		cause = NULL;
		goto out;
	}
	lh = xcalloc(1, sizeof(*lh));
	r->data = lh;
	lh->held = termlock_parse(r->out.data, &lh->info);
	if (r->exit_code != 0 || r->exit_signal[0] != '\0' || lh->held < 0) {
		r->state = HS_FAILED;
		r->error = r->err.len > 0 ? xstrndup(r->err.data, 200) :
		    xasprintf("unexpected answer from the lock script (exit %d)", r->exit_code);
		lh->held = -1;
		goto out;
	}
	lh->broken = a->do_break && lock_has_line(r->out.data, "broken=1");
	/* A lock that exists and is ours to break, but stayed: rm failed on the terminal. */
	if (a->do_break && lh->held == 1 && !lh->broken &&
	    (a->run_id == NULL || (lh->info.run_id != NULL && strcmp(lh->info.run_id, a->run_id) == 0))) {
		r->state = HS_FAILED;
		r->error = r->err.len > 0 ? xstrndup(r->err.data, 200) : xstrdup("cannot remove the lock");
		goto out;
	}
	r->state = HS_OK;
	r->step = NULL;
out:
	free(cmd);
	free(script);
	free(cause);
	transport_close(tp);
}

/* Terminal-supplied text for a human's screen: control characters become '?'.  Caller frees. */
static char *
lock_safe(const char *s)
{
	char *out = xstrdup(s != NULL && *s != '\0' ? s : "?");

	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return out;
}

/* "42s", "5m12s", "3h04m", "2d03h"; "?" when unknown.  Caller frees. */
static char *
lock_age(long long secs)
{
	if (secs < 0)
		return xstrdup("?");
	if (secs < 60)
		return xasprintf("%llds", secs);
	if (secs < 3600)
		return xasprintf("%lldm%02llds", secs / 60, secs % 60);
	if (secs < 86400)
		return xasprintf("%lldh%02lldm", secs / 3600, (secs % 3600) / 60);
	return xasprintf("%lldd%02lldh", secs / 86400, (secs % 86400) / 3600);
}

/* Has the run ended, by its journal on this controller (STATE_DIR/runs/ID.jsonl with an "end" line
 * after its last "resume": an open run that `retry --all` goes on with has not)?  Unknown (no journal,
 * odd id) counts as not ended. */
static int
lock_run_ended(const char *state_dir, const char *run_id)
{
	char *path, *line = NULL;
	size_t cap = 0;
	FILE *f;
	int ended = 0;

	if (state_dir == NULL || run_id == NULL || *run_id == '\0' || *run_id == '.' || strchr(run_id, '/') != NULL ||
	    strlen(run_id) > 200)
		return 0;
	path = xasprintf("%s/runs/%s.jsonl", state_dir, run_id);
	f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		static const char end[] = "{\"t\":\"end\"", resume[] = "{\"t\":\"resume\"";

		if (strncmp(line, end, sizeof(end) - 1) == 0)
			ended = 1;
		else if (strncmp(line, resume, sizeof(resume) - 1) == 0)
			ended = 0;
	}
	free(line);
	fclose(f);
	return ended;
}

/* "run R (push, alice@ctl1, pid 42, age 5m12s, stale: yes)".  Caller frees. */
static char *
lock_describe(const struct lock_host *lh, long long now)
{
	char *run = lock_safe(lh->info.run_id), *kind = lock_safe(lh->info.kind);
	char *op = lock_safe(lh->info.operator), *ctl = lock_safe(lh->info.controller);
	char *age = lock_age(lh->info.time > 0 ? now - lh->info.time : -1), *s;

	/* the operator is usually user@host already: the controller only when it adds something */
	s = xasprintf("run %s (%s, %s%s%s, pid %ld, age %s, stale: %s)", run, kind, op, strchr(op, '@') ? "" : "@",
	    strchr(op, '@') ? "" : ctl, lh->info.pid, age, lh->stale ? "yes" : "no");
	free(run);
	free(kind);
	free(op);
	free(ctl);
	free(age);
	return s;
}

static void
lock_json_str(json_t *o, const char *key, const char *s)
{
	char *u;
	size_t len;

	if (s == NULL) {
		json_object_set_new(o, key, json_null());
		return;
	}
	u = report_utf8(s, strlen(s), &len);
	json_object_set_new(o, key, json_stringn(u, len));
	free(u);
}

static json_t *
lock_json_host(const struct host_result *r, bool do_break, long long now)
{
	const struct lock_host *lh = r->data;
	json_t *o = json_object();

	json_object_set_new(o, "host", json_string(r->host->name));
	json_object_set_new(o, "state", json_string(host_state_name(r->state)));
	if (lh == NULL || lh->held < 0)
		json_object_set_new(o, "lock", json_string("unknown"));
	else if (!lh->held)
		json_object_set_new(o, "lock", json_string("free"));
	else {
		json_object_set_new(o, "lock", json_string("held"));
		lock_json_str(o, "run_id", lh->info.run_id);
		lock_json_str(o, "kind", lh->info.kind);
		lock_json_str(o, "operator", lh->info.operator);
		lock_json_str(o, "controller", lh->info.controller);
		json_object_set_new(o, "pid", lh->info.pid > 0 ? json_integer(lh->info.pid) : json_null());
		json_object_set_new(o, "time", lh->info.time > 0 ? json_integer(lh->info.time) : json_null());
		json_object_set_new(o, "deadline", lh->info.deadline > 0 ? json_integer(lh->info.deadline) : json_null());
		json_object_set_new(o, "age_s", lh->info.time > 0 ? json_integer(now - lh->info.time) : json_null());
		json_object_set_new(o, "stale", json_boolean(lh->stale));
	}
	if (do_break)
		json_object_set_new(o, "broken", json_boolean(lh != NULL && lh->broken));
	lock_json_str(o, "error", r->error);
	return o;
}

/* Ask on the terminal before breaking; 0 when confirmed, else an exit status (message printed). */
static int
lock_confirm(struct cmd_ctx *ctx, struct inv_host **hosts, size_t n, const char *run_id)
{
	char **names = xcalloc(n + 1, sizeof(*names)), *list, line[64], *answer;
	int rc = EXIT_USAGE;

	for (size_t i = 0; i < n; i++)
		names[i] = hosts[i]->name;
	list = report_hostlist(names, n);
	free(names);
	if (!ctx->stdin_tty) {
		cmd_error("lock break: stdin is not a terminal: pass --yes to break the lock%s on %zu terminal%s (%s)",
		    run_id != NULL ? " of that run" : n == 1 ? "" : "s", n, n == 1 ? "" : "s", list);
		goto out;
	}
	fprintf(stderr, "break the lock%s on %zu terminal%s (%s)? [y/N] ", run_id != NULL ? " of that run" : n == 1 ? "" : "s",
	    n, n == 1 ? "" : "s", list);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL) {
		fputc('\n', stderr);
		cmd_error("lock break: not confirmed, nothing done");
		goto out;
	}
	answer = str_trim(line);
	if (strcasecmp(answer, "y") != 0 && strcasecmp(answer, "yes") != 0) {
		cmd_error("lock break: not confirmed, nothing done");
		goto out;
	}
	rc = 0;
out:
	free(list);
	return rc;
}

int cmd_lock(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_lock(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "run", required_argument, NULL, LOCK_OPT_RUN },
		{ "yes", no_argument, NULL, LOCK_OPT_YES },
		{ NULL, 0, NULL, 0 }
	};
	struct executor_job job;
	struct lock_arg la;
	struct host_result *results = NULL;
	struct inv_host **hosts = NULL;
	struct buf out;
	const char *limit = NULL, *run_id = NULL, *sub;
	bool json = false, yes = false, do_break;
	size_t n = 0, nheld = 0, nstale = 0, nbroken = 0;
	long long now;
	char *summary = NULL, *command = NULL;
	int opt, rc, status;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		return cmd_usage(ctx, argc >= 2);
	sub = argv[1];
	if (strcmp(sub, "status") == 0)
		do_break = false;
	else if (strcmp(sub, "break") == 0)
		do_break = true;
	else {
		cmd_error("lock: unknown subcommand '%s' (status or break)", sub);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+" CMD_COMMON_SHORT "hl:j", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'l':
			limit = optarg;
			break;
		case 'j':
			json = true;
			break;
		case LOCK_OPT_RUN:
			if (*optarg == '\0') {
				cmd_error("lock break: --run wants a run id");
				return EXIT_USAGE;
			}
			run_id = optarg;
			break;
		case LOCK_OPT_YES:
			yes = true;
			break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind < argc) {
		cmd_error("lock %s: unexpected argument '%s'", sub, argv[optind]);
		return EXIT_USAGE;
	}
	if (!do_break && (run_id != NULL || yes)) {
		cmd_error("lock status: --run and --yes belong to lock break");
		return EXIT_USAGE;
	}
	/* Breaking every lock of the fleet by forgetting -l is too easy: say which terminals. */
	if (do_break && limit == NULL) {
		cmd_error("lock break: -l SEL is required");
		return EXIT_USAGE;
	}
	if ((rc = cmd_select(ctx, limit, &hosts, &n)) != 0)
		return rc;
	if (do_break && !yes && (rc = lock_confirm(ctx, hosts, n, run_id)) != 0) {
		free(hosts);
		return rc;
	}

	la.do_break = do_break;
	la.run_id = run_id;
	job.run = lock_run_one;
	job.arg = &la;
	results = cmd_run_job(ctx, hosts, n, 0, !json, &job);
	status = executor_exit_status(results, n, *ctx->interrupted != 0);

	now = (long long)time(NULL);
	buf_init(&out, 0);
	for (size_t i = 0; i < n; i++) {
		struct host_result *r = &results[i];
		struct lock_host *lh = r->data;
		char *desc;

		if (lh != NULL && lh->held == 1) {
			lh->stale = termlock_stale(&lh->info, now, lock_run_ended(ctx->inv->state_dir, lh->info.run_id));
			nheld++;
			nstale += lh->stale != 0;
		}
		if (lh != NULL && lh->held >= 0 && r->state == HS_OK) {
			desc = lh->held ? lock_describe(lh, now) : NULL;
			if (!do_break)
				lh->what = desc != NULL ? xasprintf("held by %s", desc) : xstrdup("free");
			else if (lh->broken) {
				lh->what = xasprintf("broke the lock of %s", desc);
				nbroken++;
			} else
				lh->what = desc != NULL ? xasprintf("kept the lock of %s", desc) : xstrdup("no lock");
			free(desc);
		}
		if (json)
			continue;
		if (lh != NULL && lh->what != NULL)
			buf_addf(&out, "%s: %s\n", r->host->name, lh->what);
		else {
			char *err = lock_safe(r->error != NULL ? r->error : "no answer");

			buf_addf(&out, "%s: %s: %s\n", r->host->name, host_state_name(r->state), err);
			free(err);
		}
	}
	{
		char *base = report_summary(results, n);

		if (do_break)
			summary = xasprintf("%s; %zu lock%s broken", base, nbroken, nbroken == 1 ? "" : "s");
		else
			summary = xasprintf("%s; %zu locked (%zu stale)", base, nheld, nstale);
		free(base);
	}
	if (json) {
		for (size_t i = 0; i < n; i++) {
			json_t *j = lock_json_host(&results[i], do_break, now);

			report_json_line(j, STDOUT_FILENO);
			json_decref(j);
		}
		{
			json_t *j = report_json_summary(results, n, status);

			json_object_set_new(j, "locked", json_integer((json_int_t)nheld));
			json_object_set_new(j, "stale", json_integer((json_int_t)nstale));
			if (do_break)
				json_object_set_new(j, "broken", json_integer((json_int_t)nbroken));
			report_json_line(j, STDOUT_FILENO);
			json_decref(j);
		}
	} else {
		report_flush(&out, STDOUT_FILENO);
		cmd_error("%s", summary);
	}
	buf_free(&out);

	if (do_break) {
		/* The history names each terminal and whose lock went: hand the description over as its text. */
		for (size_t i = 0; i < n; i++) {
			struct lock_host *lh = results[i].data;

			if (lh != NULL && lh->what != NULL && results[i].error == NULL) {
				results[i].error = lh->what;
				lh->what = NULL;
			}
		}
		command = run_id != NULL ? xasprintf("lock break -l %s --run %s", limit, run_id) :
		    xasprintf("lock break -l %s", limit);
		cmd_record(ctx, "lock-break", command, limit, NULL, results, n, summary);
	}
	for (size_t i = 0; i < n; i++) {
		struct lock_host *lh = results[i].data;

		if (lh != NULL) {
			termlock_info_free(&lh->info);
			free(lh->what);
			free(lh);
			results[i].data = NULL;
		}
	}
	host_results_free(results, n);
	free(hosts);
	free(command);
	free(summary);
	return status;
}

const struct cmd_entry cmd_lock_entry = {
	.name = "lock",
	.usage = "status [-l SEL] [--json] | break -l SEL [--run ID] [--yes] [--json]",
	.summary = "show or break the locks runs hold on terminals",
	.help =
	    "  status              each terminal: free, or held by which run (kind, operator@controller, pid,\n"
	    "                      age) and whether the lock is stale\n"
	    "  break               remove the locks and record it in the history\n"
	    "  -l, --limit SEL     hosts, groups, globs; !term excludes (status: default all; break: required)\n"
	    "      --run ID        break: only the locks held by run ID\n"
	    "      --yes           break: do not ask (required when stdin is not a terminal)\n"
	    "      --json          one JSON object per terminal, then a summary object\n"
	    "\nA lock is stale when its deadline has passed, or when its run's journal on this controller\n"
	    "(STATE_DIR/runs/ID.jsonl) says the run ended.  Locks live on the terminals in ROOT/.fleet-lock.\n",
	.flags = CMD_CHANGES_TERMINALS | CMD_READS_HISTORY,
	.exec = cmd_lock,
};
