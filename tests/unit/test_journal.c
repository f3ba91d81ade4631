/* Unit tests for lib/journal: real files in a mkdtemp state directory, a real forked controller that dies,
 * real threads appending at once.  Also prints the measured cost of fsync'd state changes ("INFO:" lines). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/journal.h"
#include "../../lib/util.h"
#include "check.h"

static char *state_dir;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static char *
tmpdir_new(void)
{
	char *d = xstrdup("/tmp/fleet-journal-XXXXXX");

	if (mkdtemp(d) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	return d;
}

/* A plan naming hosts (NULL-terminated). */
static json_t *
plan_new(const char *kind, const char *const *hosts)
{
	json_t *p = json_object(), *h = json_array();

	json_object_set_new(p, "kind", json_string(kind));
	json_object_set_new(p, "operator", json_string("alice"));
	json_object_set_new(p, "selection", json_string("kiosks"));
	for (size_t i = 0; hosts != NULL && hosts[i] != NULL; i++)
		json_array_append_new(h, json_string(hosts[i]));
	json_object_set_new(p, "hosts", h);
	return p;
}

static struct journal *
create_run(const char *id, const char *const *hosts)
{
	json_t *plan = plan_new("push", hosts);
	struct journal *j = NULL;
	char *cause = NULL;

	if (journal_create(state_dir, id, plan, &j, &cause) != 0) {
		printf("# journal_create %s: %s\n", id, cause);
		j = NULL;
	}
	json_decref(plan);
	free(cause);
	return j;
}

static struct journal_run *
read_run(const char *id)
{
	struct journal_run *r = NULL;
	char *cause = NULL;

	if (journal_read(state_dir, id, &r, &cause) != 0)
		printf("# journal_read %s: %s\n", id, cause);
	free(cause);
	return r;
}

static const struct journal_host *
find_host(const struct journal_run *r, const char *name)
{
	for (size_t i = 0; r != NULL && i < r->nhosts; i++)
		if (strcmp(r->hosts[i].host, name) == 0)
			return &r->hosts[i];
	return NULL;
}

/* The states of a lifecycle joined by spaces (caller frees). */
static char *
lifecycle_states(const struct journal_host *h)
{
	struct buf b;
	size_t i;
	json_t *e;

	buf_init(&b, 0);
	json_array_foreach(h->lifecycle, i, e) {
		if (i > 0)
			buf_adds(&b, " ");
		buf_adds(&b, json_string_value(json_object_get(e, "state")));
	}
	return buf_detach(&b);
}

static char *
run_path(const char *id)
{
	return xasprintf("%s/runs/%s.jsonl", state_dir, id);
}

static void
append_raw(const char *id, const char *data)
{
	char *path = run_path(id);
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		printf("# append_raw %s failed\n", path);
	if (fd >= 0)
		close(fd);
	free(path);
}

static void
test_round_trip(void)
{
	static const char *const hosts[] = { "t01", "t02", "t03", NULL };
	struct journal *j = create_run("20261126T104512Z-000001", hosts);
	struct journal_run *r;
	json_t *ev;

	CHECK(j != NULL);
	if (j == NULL)
		return;
	CHECK(journal_state(j, "t01", "sent", NULL, NULL, 1) == 0);
	CHECK(journal_state(j, "t02", "sent", NULL, NULL, 1) == 0);
	CHECK(journal_state(j, "t01", "installed", NULL, NULL, 1) == 0);
	CHECK(journal_state(j, "t02", "failed", "install", "exit 3: no space", 1) == 0);
	CHECK(journal_state(j, "t01", "done", NULL, NULL, 1) == 0);
	ev = json_pack("{s:i, s:s, s:i, s:i, s:i}", "n", 1, "state", "done", "ok", 1, "failed", 1, "unreachable", 0);
	CHECK(journal_event(j, "wave", ev) == 0);
	json_decref(ev);

	r = read_run("20261126T104512Z-000001");
	CHECK(r != NULL);
	if (r != NULL) {
		const struct journal_host *t01 = find_host(r, "t01"), *t02 = find_host(r, "t02");

		CHECK_STR(r->id, "20261126T104512Z-000001");
		CHECK_STR(json_string_value(json_object_get(r->plan, "kind")), "push");
		CHECK_STR(json_string_value(json_object_get(r->plan, "operator")), "alice");
		CHECK_STR(json_string_value(json_object_get(r->plan, "t")), "plan");
		CHECK(json_integer_value(json_object_get(r->plan, "pid")) == (json_int_t)getpid());
		CHECK(json_string_value(json_object_get(r->plan, "time")) != NULL);
		CHECK(r->nhosts == 3);
		CHECK(t01 != NULL && t02 != NULL);
		if (t01 != NULL && t02 != NULL) {
			CHECK_STR(t01->state, "done");
			CHECK(t01->wave == 1);
			CHECK(t01->step == NULL && t01->error == NULL);
			CHECK_STR(t02->state, "failed");
			CHECK_STR(t02->step, "install");
			CHECK_STR(t02->error, "exit 3: no space");
		}
		CHECK(json_array_size(r->events) == 1);
		CHECK_STR(json_string_value(json_object_get(json_array_get(r->events, 0), "t")), "wave");
		CHECK(json_integer_value(json_object_get(json_array_get(r->events, 0), "failed")) == 1);
		CHECK(!r->torn && r->bad_lines == 0);
		/* Still open, no end: this process is the controller. */
		CHECK_STR(r->status, "running");
		CHECK(r->exit_status == -1);
	}
	journal_run_free(r);
	journal_close(j);
}

static void
test_lifecycle_order(void)
{
	static const char *const hosts[] = { "t01", NULL };
	static const char *const states[] = { "sent", "installed", "delayed", "sent", "installed", "done" };
	struct journal *j = create_run("20261126T104512Z-000002", hosts);
	struct journal_run *r;
	char *got;

	CHECK(j != NULL);
	if (j == NULL)
		return;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		CHECK(journal_state(j, "t01", states[i], NULL, NULL, -1) == 0);
	journal_close(j);
	r = read_run("20261126T104512Z-000002");
	CHECK(r != NULL && r->nhosts == 1);
	if (r == NULL || r->nhosts != 1)
		goto out;
	got = lifecycle_states(&r->hosts[0]);
	CHECK_STR(got, "planned sent installed delayed sent installed done");
	free(got);
	/* Times never go backwards down the lifecycle, and the last one is the host's time. */
	for (size_t i = 1; i < json_array_size(r->hosts[0].lifecycle); i++) {
		const char *a = json_string_value(json_object_get(json_array_get(r->hosts[0].lifecycle, i - 1), "time"));
		const char *b = json_string_value(json_object_get(json_array_get(r->hosts[0].lifecycle, i), "time"));

		CHECK(a != NULL && b != NULL && strcmp(a, b) <= 0);
	}
	CHECK_STR(json_string_value(json_object_get(json_array_get(r->hosts[0].lifecycle, 6), "time")),
	    r->hosts[0].time);
	CHECK(r->hosts[0].wave == -1);
out:
	journal_run_free(r);
}

static void
test_unmentioned_hosts_stay_planned(void)
{
	static const char *const hosts[] = { "a1", "a2", "a3", "a4", NULL };
	struct journal *j = create_run("20261126T104512Z-000003", hosts);
	struct journal_run *r;
	json_t *counts;

	CHECK(j != NULL);
	if (j == NULL)
		return;
	CHECK(journal_state(j, "a3", "unreachable", "connect", "connection refused", 0) == 0);
	CHECK(journal_state(j, "extra", "busy", NULL, NULL, -1) == 0);   /* not in the plan: listed after */
	journal_close(j);
	r = read_run("20261126T104512Z-000003");
	CHECK(r != NULL && r->nhosts == 5);
	if (r == NULL || r->nhosts != 5)
		goto out;
	CHECK_STR(r->hosts[0].host, "a1");
	CHECK_STR(r->hosts[0].state, "planned");
	CHECK_STR(r->hosts[0].time, json_string_value(json_object_get(r->plan, "time")));
	CHECK(json_array_size(r->hosts[0].lifecycle) == 1);
	CHECK_STR(r->hosts[1].state, "planned");
	CHECK_STR(r->hosts[2].state, "unreachable");
	CHECK(r->hosts[2].wave == 0);
	CHECK_STR(r->hosts[3].state, "planned");
	CHECK_STR(r->hosts[4].host, "extra");
	CHECK_STR(r->hosts[4].state, "busy");
	counts = journal_run_counts(r);
	CHECK(json_integer_value(json_object_get(counts, "planned")) == 3);
	CHECK(json_integer_value(json_object_get(counts, "unreachable")) == 1);
	CHECK(json_integer_value(json_object_get(counts, "busy")) == 1);
	CHECK(json_object_size(counts) == 3);
	json_decref(counts);
out:
	journal_run_free(r);
}

static void
test_torn_last_line_ignored(void)
{
	static const char *const hosts[] = { "t01", "t02", NULL };
	const char *id = "20261126T104512Z-000004";
	struct journal *j = create_run(id, hosts);
	struct journal_run *r;
	char *cause = NULL, *text = NULL;

	CHECK(j != NULL);
	if (j == NULL)
		return;
	CHECK(journal_state(j, "t01", "sent", NULL, NULL, -1) == 0);
	journal_close(j);
	/* A crash in the middle of the next write: no newline. */
	append_raw(id, "{\"t\":\"state\",\"host\":\"t01\",\"state\":\"insta");
	r = read_run(id);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK(r->torn);
		CHECK_STR(find_host(r, "t01")->state, "sent");
		CHECK(json_array_size(find_host(r, "t01")->lifecycle) == 2);
	}
	journal_run_free(r);

	/* Resuming cuts the torn piece off, so the resume line and what follows read back whole. */
	CHECK(journal_reopen(state_dir, id, &j, &cause) == 0);
	CHECK(j != NULL);
	if (j != NULL) {
		CHECK(journal_state(j, "t02", "done", NULL, NULL, -1) == 0);
		journal_close(j);
	}
	r = read_run(id);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK(!r->torn && r->bad_lines == 0);
		CHECK_STR(find_host(r, "t01")->state, "sent");
		CHECK_STR(find_host(r, "t02")->state, "done");
		CHECK(json_array_size(r->events) == 1);
		CHECK_STR(json_string_value(json_object_get(json_array_get(r->events, 0), "t")), "resume");
	}
	journal_run_free(r);
	CHECK(journal_text(state_dir, id, &text, &cause) == 0);
	CHECK(text != NULL && strstr(text, "insta") == NULL);
	CHECK(text != NULL && text[strlen(text) - 1] == '\n');
	free(text);

	/* A complete line that is not JSON is skipped and counted; lines after it still count. */
	append_raw(id, "{\"t\":\"state\",\"host\":\"t0\n{\"t\":\"state\",\"host\":\"t01\",\"state\":\"done\",\"time\":\"x\"}\n");
	r = read_run(id);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK(!r->torn && r->bad_lines == 1);
		CHECK_STR(find_host(r, "t01")->state, "done");
	}
	journal_run_free(r);
	free(cause);
}

static void
test_dead_controller_is_interrupted(void)
{
	const char *id = "20261126T104512Z-000005";
	struct journal_run *r;
	int st = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		static const char *const hosts[] = { "t01", "t02", NULL };
		struct journal *j = create_run(id, hosts);

		if (j == NULL || journal_state(j, "t01", "sent", NULL, NULL, 0) != 0)
			_exit(1);
		_exit(0);   /* no end event, journal left open: like a SIGKILL */
	}
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	r = read_run(id);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK(json_integer_value(json_object_get(r->plan, "pid")) == (json_int_t)pid);
		CHECK_STR(r->status, "interrupted");
		CHECK(r->exit_status == -1);
		CHECK_STR(find_host(r, "t01")->state, "sent");
		CHECK_STR(find_host(r, "t02")->state, "planned");
	}
	journal_run_free(r);
}

static void
test_own_live_pid_is_running(void)
{
	static const char *const hosts[] = { "t01", NULL };
	const char *id = "20261126T104512Z-000006";
	struct journal *j = create_run(id, hosts);
	struct journal_run *r;

	CHECK(j != NULL);
	if (j == NULL)
		return;
	CHECK(journal_state(j, "t01", "sent", NULL, NULL, -1) == 0);
	/* Closed without an end, but the recorded controller (this process) is alive. */
	journal_close(j);
	r = read_run(id);
	CHECK(r != NULL && strcmp(r->status, "running") == 0);
	journal_run_free(r);
}

static void
test_reopen_refused_while_open(void)
{
	static const char *const hosts[] = { "t01", NULL };
	const char *id = "20261126T104512Z-000007";
	struct journal *j = create_run(id, hosts), *j2 = NULL;
	char *cause = NULL;

	CHECK(j != NULL);
	CHECK(journal_reopen(state_dir, id, &j2, &cause) != 0);
	CHECK(j2 == NULL);
	CHECK(cause != NULL && strstr(cause, "in use") != NULL);
	free(cause);
	cause = NULL;
	journal_close(j);
	CHECK(journal_reopen(state_dir, id, &j2, &cause) == 0);
	journal_close(j2);
	CHECK(journal_reopen(state_dir, "20261126T104512Z-nosuch", &j2, &cause) == JOURNAL_ENOENT);
	free(cause);
}

static void
test_end_sets_status(void)
{
	static const char *const hosts[] = { "t01", NULL };
	const char *id = "20261126T104512Z-000008";
	struct journal *j = create_run(id, hosts);
	struct journal_run *r;
	json_t *f;
	char *cause = NULL;

	CHECK(j != NULL);
	if (j == NULL)
		return;
	f = json_pack("{s:i}", "after_wave", 1);
	CHECK(journal_event(j, "pause", f) == 0);
	json_decref(f);
	r = read_run(id);
	CHECK(r != NULL && strcmp(r->status, "paused") == 0);
	journal_run_free(r);

	f = json_pack("{s:s, s:i}", "result", "halted", "exit", 1);
	CHECK(journal_event(j, "end", f) == 0);
	json_decref(f);
	journal_close(j);
	r = read_run(id);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK_STR(r->status, "halted");
		CHECK(r->exit_status == 1);
	}
	journal_run_free(r);

	/* Resumed after its end: no longer over. */
	CHECK(journal_reopen(state_dir, id, &j, &cause) == 0);
	r = read_run(id);
	CHECK(r != NULL && strcmp(r->status, "running") == 0 && r->exit_status == -1);
	journal_run_free(r);
	f = json_pack("{s:s, s:i}", "result", "done", "exit", 0);
	CHECK(journal_event(j, "end", f) == 0);
	json_decref(f);
	journal_close(j);
	r = read_run(id);
	CHECK(r != NULL && strcmp(r->status, "done") == 0 && r->exit_status == 0);
	journal_run_free(r);
	free(cause);
}

/* An open run (push --until): open while its deadline is ahead; past it, it reads as expired and so do
 * its terminals still to do, until something writes that down. */
static void
test_open_run_expires_at_its_deadline(void)
{
	static const char *const ids[] = { "20261126T104512Z-00000e", "20261126T104512Z-00000f" };
	static const char *const hosts[] = { "t01", "t02", "t03", NULL };
	const time_t until[] = { time(NULL) + 3600, time(NULL) - 1 };

	for (int k = 0; k < 2; k++) {
		json_t *plan = plan_new("push", hosts), *f;
		struct journal *j = NULL;
		struct journal_run *r;
		char *cause = NULL;

		json_object_set_new(plan, "options", json_pack("{s:I}", "until", (json_int_t)until[k]));
		CHECK(journal_create(state_dir, ids[k], plan, &j, &cause) == 0);
		json_decref(plan);
		free(cause);
		if (j == NULL)
			return;
		journal_state(j, "t01", "done", NULL, NULL, 1);
		journal_state(j, "t02", "delayed", "connect", "connection refused", -1);
		journal_state(j, "t03", "failed", "install", "exit 3", 1);
		f = json_pack("{s:s, s:i}", "result", "open", "exit", 3);
		journal_event(j, "end", f);
		json_decref(f);
		journal_close(j);
		r = read_run(ids[k]);
		CHECK(r != NULL);
		if (r == NULL)
			return;
		CHECK_STR(r->status, k == 0 ? "open" : "expired");
		CHECK(r->expiry_unwritten == (k == 1));
		CHECK_STR(find_host(r, "t01")->state, "done");
		CHECK_STR(find_host(r, "t02")->state, k == 0 ? "delayed" : "expired");
		CHECK_STR(find_host(r, "t03")->state, "failed");
		journal_run_free(r);
	}
}

/* show's seven words for the journal's states. */
static void
test_phases(void)
{
	static const char *const map[][2] = {
		{ "planned", "pending" }, { "skipped", "pending" }, { "sent", "sent" }, { "installed", "installed" },
		{ "done", "done" }, { "failed", "failed" }, { "rolled-back", "failed" }, { "auth", "failed" },
		{ "unreachable", "delayed" }, { "busy", "delayed" }, { "locked", "delayed" }, { "timeout", "delayed" },
		{ "delayed", "delayed" }, { "expired", "expired" }, { "something-new", "something-new" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		CHECK_STR(journal_phase(map[i][0]), map[i][1]);
	CHECK(journal_state_to_do("delayed") && journal_state_to_do("locked") && journal_state_to_do("unreachable"));
	CHECK(!journal_state_to_do("done") && !journal_state_to_do("failed") && !journal_state_to_do("expired") &&
	    !journal_state_to_do(NULL));
}

struct writer {
	struct journal *j;
	char host[16];
	int rc;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	char step[32];

	for (int i = 0; i < 100; i++) {
		snprintf(step, sizeof(step), "%d", i);
		if (journal_state(w->j, w->host, "sent", step, NULL, i) != 0)
			w->rc = -1;
	}
	return NULL;
}

static void
test_concurrent_states(void)
{
	const char *id = "20261126T104512Z-000009";
	struct journal *j = create_run(id, NULL);
	struct writer w[8];
	pthread_t th[8];
	struct journal_run *r;
	char *text = NULL, *cause = NULL, *p, *nl;
	size_t lines = 0, parsed = 0;

	CHECK(j != NULL);
	if (j == NULL)
		return;
	for (int i = 0; i < 8; i++) {
		w[i].j = j;
		w[i].rc = 0;
		snprintf(w[i].host, sizeof(w[i].host), "h%d", i);
		CHECK(pthread_create(&th[i], NULL, writer_main, &w[i]) == 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].rc == 0);
	}
	journal_close(j);
	CHECK(journal_text(state_dir, id, &text, &cause) == 0);
	for (p = text; p != NULL && *p != '\0'; p = nl + 1) {
		json_t *line;

		nl = strchr(p, '\n');
		CHECK(nl != NULL);
		if (nl == NULL)
			break;
		lines++;
		line = json_loadb(p, (size_t)(nl - p), 0, NULL);
		if (line != NULL)
			parsed++;
		json_decref(line);
	}
	CHECK(lines == 801);
	CHECK(parsed == 801);
	r = read_run(id);
	CHECK(r != NULL && r->nhosts == 8);
	for (size_t i = 0; r != NULL && i < r->nhosts; i++) {
		/* Each thread's own lines stay in its order. */
		CHECK(json_array_size(r->hosts[i].lifecycle) == 100);
		for (size_t k = 0; k < json_array_size(r->hosts[i].lifecycle); k++)
			CHECK(json_integer_value(json_object_get(json_array_get(r->hosts[i].lifecycle, k), "wave")) == (json_int_t)k);
	}
	journal_run_free(r);
	free(text);
	free(cause);
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_list_newest_first(void)
{
	static const char *const ids[] = { "20261127T000000Z-000001", "20251231T235959Z-ffffff", "20261126T104512Z-aaaaaa" };
	char *dir = state_dir, *cause = NULL, **list = NULL, *junk;
	struct journal *j;

	state_dir = tmpdir_new();
	CHECK(journal_list(state_dir, &list, &cause) == 0);   /* no runs directory yet */
	CHECK(list != NULL && list[0] == NULL);
	strv_free(list);
	for (size_t i = 0; i < 3; i++) {
		j = create_run(ids[i], NULL);
		CHECK(j != NULL);
		journal_close(j);
	}
	junk = xasprintf("%s/runs/notes.txt", state_dir);
	CHECK(write_file_atomic(junk, "x", 1, 0644) == 0);
	free(junk);
	CHECK(journal_list(state_dir, &list, &cause) == 0);
	CHECK(list != NULL && strv_len(list) == 3);
	if (list != NULL && strv_len(list) == 3) {
		CHECK_STR(list[0], "20261127T000000Z-000001");
		CHECK_STR(list[1], "20261126T104512Z-aaaaaa");
		CHECK_STR(list[2], "20251231T235959Z-ffffff");
	}
	strv_free(list);
	/* No temporary files left behind by journal_create: the three runs and the junk file only. */
	junk = xasprintf("%s/runs", state_dir);
	CHECK(count_entries(junk) == 4);
	free(junk);
	nftw(state_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(state_dir);
	state_dir = dir;
	free(cause);
}

static void
test_invalid_run_id_rejected(void)
{
	static const char *const bad[] = { "", "../x", "a/b", ".hidden", "a b", "x;y", "t\n", "é", NULL };
	struct journal *j = NULL;
	struct journal_run *r = NULL;
	char *cause = NULL, *text = NULL, *escaped;
	json_t *plan = plan_new("push", NULL);

	for (size_t i = 0; bad[i] != NULL; i++) {
		CHECK(!journal_valid_id(bad[i]));
		CHECK(journal_create(state_dir, bad[i], plan, &j, &cause) == -1 && j == NULL);
		CHECK(cause != NULL && strstr(cause, "invalid run id") != NULL);
		free(cause);
		cause = NULL;
		CHECK(journal_reopen(state_dir, bad[i], &j, &cause) == -1);
		free(cause);
		cause = NULL;
		CHECK(journal_read(state_dir, bad[i], &r, &cause) == -1 && r == NULL);
		free(cause);
		cause = NULL;
		CHECK(journal_text(state_dir, bad[i], &text, &cause) == -1);
		free(cause);
		cause = NULL;
	}
	/* Nothing escaped the state directory. */
	escaped = xasprintf("%s/x.jsonl", state_dir);
	CHECK(access(escaped, F_OK) != 0);
	free(escaped);
	CHECK(journal_valid_id("20261126T104512Z-1a2b3c"));
	CHECK(journal_valid_id("run_1.b"));
	/* An existing id is an error, not an overwrite. */
	CHECK(journal_create(state_dir, "20261126T104512Z-000001", plan, &j, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "already exists") != NULL);
	free(cause);
	cause = NULL;
	CHECK(journal_read(state_dir, "20261126T104512Z-nosuch", &r, &cause) == JOURNAL_ENOENT);
	free(cause);
	json_decref(plan);
}

static void
test_run_json(void)
{
	struct journal_run *r = read_run("20261126T104512Z-000001");
	json_t *o;

	CHECK(r != NULL);
	if (r == NULL)
		return;
	o = journal_run_json(r);
	CHECK_STR(json_string_value(json_object_get(o, "id")), "20261126T104512Z-000001");
	CHECK(json_array_size(json_object_get(o, "hosts")) == 3);
	CHECK(json_is_array(json_object_get(json_array_get(json_object_get(o, "hosts"), 0), "lifecycle")));
	CHECK(json_integer_value(json_object_get(json_object_get(o, "counts"), "done")) == 1);
	json_decref(o);
	journal_run_free(r);
}

/* Not a check: the cost of 200 terminals x 4 fsync'd states, one writer and 8 writers. */
struct bench_arg {
	struct journal *j;
	int first, count;
};

static void *
bench_main(void *arg)
{
	static const char *const states[] = { "planned", "sent", "installed", "done" };
	struct bench_arg *b = arg;
	char host[32];

	for (int s = 0; s < 4; s++)
		for (int h = b->first; h < b->first + b->count; h++) {
			snprintf(host, sizeof(host), "kiosk%03d", h);
			journal_state(b->j, host, states[s], NULL, NULL, 0);
		}
	return NULL;
}

static void
bench_one(const char *id, int threads)
{
	struct journal *j = create_run(id, NULL);
	struct bench_arg a[8];
	pthread_t th[8];
	int64_t t0;

	if (j == NULL)
		return;
	t0 = now_ms();
	for (int i = 0; i < threads; i++) {
		a[i].j = j;
		a[i].first = i * (200 / threads);
		a[i].count = 200 / threads;
		pthread_create(&th[i], NULL, bench_main, &a[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	printf("INFO: 200 terminals x 4 states, %d writer%s: %lld ms (%.2f ms per state change)\n", threads,
	    threads == 1 ? "" : "s", (long long)(now_ms() - t0), (double)(now_ms() - t0) / 800.0);
	journal_close(j);
}

int
main(void)
{
	state_dir = tmpdir_new();
	RUN(test_round_trip);
	RUN(test_lifecycle_order);
	RUN(test_unmentioned_hosts_stay_planned);
	RUN(test_torn_last_line_ignored);
	RUN(test_dead_controller_is_interrupted);
	RUN(test_own_live_pid_is_running);
	RUN(test_reopen_refused_while_open);
	RUN(test_end_sets_status);
	RUN(test_open_run_expires_at_its_deadline);
	RUN(test_phases);
	RUN(test_concurrent_states);
	RUN(test_list_newest_first);
	RUN(test_invalid_run_id_rejected);
	RUN(test_run_json);
	bench_one("bench-1", 1);
	bench_one("bench-8", 8);
	nftw(state_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(state_dir);
	return CHECK_DONE();
}
