/* Unit tests for lib/history: a real git repository in a temporary directory, read back with libgit2
 * and with the plain git program (popen, tests only). */
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/history.h"
#include "../../lib/util.h"
#include "check.h"

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static char *
tmpdir_new(void)
{
	char *d = xstrdup("/tmp/fleet-hist-XXXXXX");

	if (mkdtemp(d) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	return d;
}

static void
tmpdir_free(char *d)
{
	if (d != NULL)
		nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

/* Run a shell command (tests only), capture stdout, return its exit status (or -1). */
static int
run_cmd(const char *cmd, char **out)
{
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f;
	int st;

	buf_init(&b, 8u << 20);
	f = popen(cmd, "r");
	if (f == NULL) {
		buf_free(&b);
		*out = xstrdup("");
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	st = pclose(f);
	*out = buf_detach(&b);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int
count_cb(const struct hist_entry *e, void *arg)
{
	(void)e;
	(*(size_t *)arg)++;
	return 0;
}

static size_t
count_commits(struct history *h, const char *host)
{
	size_t n = 0;
	char *cause = NULL;

	if (history_log(h, host, 0, count_cb, &n, &cause) < 0) {
		free(cause);
		return (size_t)-1;
	}
	return n;
}

struct collect {
	char *summaries[16];
	size_t n;
};

static int
collect_cb(const struct hist_entry *e, void *arg)
{
	struct collect *c = arg;

	if (c->n < 16)
		c->summaries[c->n++] = xstrdup(e->summary);
	return 0;
}

static void
collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->summaries[i]);
	c->n = 0;
}

/* A push of release id to hosts, each getting state current=id. */
static int
record_push(struct history *h, const char *run, const char *summary, const char *component,
    const char *id, const char *const *hosts, size_t nhosts, char hex[41])
{
	struct hist_result r[8];
	struct hist_state st;
	char *good[] = { (char *)id, NULL };
	struct hist_op op;
	char *cause = NULL;
	int rc;

	memset(&st, 0, sizeof(st));
	st.current = (char *)id;
	st.good = good;
	st.last_result = (char *)"ok";
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < nhosts && i < 8; i++) {
		r[i].host = hosts[i];
		r[i].state = "ok";
		r[i].exit_code = 0;
		r[i].duration_ms = 100;
		r[i].new_state = &st;
	}
	memset(&op, 0, sizeof(op));
	op.kind = "push";
	op.run_id = run;
	op.summary = summary;
	op.component = component;
	op.release_id = id;
	op.results = r;
	op.nresults = nhosts;
	rc = history_record(h, &op, hex, &cause);
	if (rc < 0)
		printf("# record: %s\n", cause);
	free(cause);
	return rc;
}

static void
test_record_and_read_state(void)
{
	char *d = tmpdir_new(), *cause = NULL, hex[41] = "";
	struct history *h = NULL;
	struct hist_state st, got;
	struct hist_result r[2];
	struct hist_op op;
	char *good[] = { (char *)"1.4.2-aaaaaaaaaaaa", (char *)"1.4.1-bbbbbbbbbbbb", NULL };
	char *failed[] = { (char *)"1.4.0-cccccccccccc", NULL };

	CHECK(history_open(d, &h, &cause) == 0);
	CHECK(h != NULL);
	if (h == NULL)
		goto out;
	memset(&st, 0, sizeof(st));
	st.current = good[0];
	st.previous = good[1];
	st.good = good;
	st.failed = failed;
	st.last_result = (char *)"ok";
	memset(r, 0, sizeof(r));
	r[0].host = "kiosk01";
	r[0].state = "ok";
	r[0].exit_code = 0;
	r[0].duration_ms = 1200;
	r[0].new_state = &st;
	r[1].host = "kiosk02";
	r[1].state = "unreachable";
	r[1].exit_code = -1;
	r[1].duration_ms = 10000;
	r[1].error = "connect timed out";
	memset(&op, 0, sizeof(op));
	op.kind = "push";
	op.run_id = "20261126T104512Z-1a2b";
	op.summary = "push app 1.4.2 to lobby: 1 ok, 1 unreachable";
	op.component = "app";
	op.release_id = good[0];
	op.results = r;
	op.nresults = 2;
	CHECK(history_record(h, &op, hex, &cause) == 0);
	CHECK(strlen(hex) == 40);

	CHECK(history_host_state(h, "kiosk01", "app", &got, &cause) == 0);
	CHECK_STR(got.current, "1.4.2-aaaaaaaaaaaa");
	CHECK_STR(got.previous, "1.4.1-bbbbbbbbbbbb");
	CHECK(strv_len(got.good) == 2);
	CHECK(got.good != NULL && strcmp(got.good[1], "1.4.1-bbbbbbbbbbbb") == 0);
	CHECK(strv_len(got.failed) == 1);
	CHECK_STR(got.last_op, "push");                    /* defaulted from op->kind */
	CHECK_STR(got.last_run, "20261126T104512Z-1a2b");   /* defaulted from op->run_id */
	CHECK_STR(got.last_result, "ok");
	CHECK(got.updated != NULL && strlen(got.updated) == 20 && got.updated[19] == 'Z');
	hist_state_free(&got);

	/* No new_state: nothing written for that host. */
	CHECK(history_host_state(h, "kiosk02", "app", &got, &cause) == 1);
	CHECK(got.current == NULL && got.good == NULL);
	CHECK(history_host_state(h, "kiosk01", "firmware", &got, &cause) == 1);
	CHECK(cause == NULL);
out:
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

static void
test_empty_history_reads_nothing(void)
{
	char *d = tmpdir_new(), *cause = NULL, *sha = NULL, **ids = NULL;
	struct history *h = NULL;
	struct hist_state got;

	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	CHECK(count_commits(h, NULL) == 0);
	CHECK(history_host_state(h, "kiosk01", "app", &got, &cause) == 1);
	CHECK(history_release_sha256(h, "app", "1.0", &sha, &cause) == 1);
	CHECK(sha == NULL);
	CHECK(history_find_releases(h, "app", "1.0", &ids, &cause) == 0);
	CHECK(ids != NULL && ids[0] == NULL);
	CHECK(cause == NULL);
	strv_free(ids);
	/* Opening again finds the same repository. */
	history_close(h);
	h = NULL;
	CHECK(history_open(d, &h, &cause) == 0);
out:
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

static void
test_parent_tree_carried_over(void)
{
	char *d = tmpdir_new(), *cause = NULL, hex[41];
	struct history *h = NULL;
	struct hist_state got;
	const char *a[] = { "kiosk01" }, *b[] = { "kiosk02" };
	struct hist_result r;
	struct hist_op op;

	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	CHECK(record_push(h, "run-1", "push app 1.0 to kiosk01", "app", "1.0-aaaaaaaaaaaa", a, 1, hex) == 0);
	CHECK(record_push(h, "run-2", "push app 2.0 to kiosk02", "app", "2.0-bbbbbbbbbbbb", b, 1, hex) == 0);
	CHECK(record_push(h, "run-3", "push fw 7 to kiosk01", "fw", "7-cccccccccccc", a, 1, hex) == 0);
	/* An operation with a result that changes nothing (restart). */
	memset(&r, 0, sizeof(r));
	r.host = "kiosk01";
	r.state = "ok";
	r.exit_code = 0;
	memset(&op, 0, sizeof(op));
	op.kind = "restart";
	op.run_id = "run-4";
	op.summary = "restart kiosk01: 1 ok";
	op.results = &r;
	op.nresults = 1;
	CHECK(history_record(h, &op, hex, &cause) == 0);

	CHECK(history_host_state(h, "kiosk01", "app", &got, &cause) == 0);
	CHECK_STR(got.current, "1.0-aaaaaaaaaaaa");
	CHECK_STR(got.last_run, "run-1");
	hist_state_free(&got);
	CHECK(history_host_state(h, "kiosk02", "app", &got, &cause) == 0);
	CHECK_STR(got.current, "2.0-bbbbbbbbbbbb");
	hist_state_free(&got);
	CHECK(history_host_state(h, "kiosk01", "fw", &got, &cause) == 0);
	CHECK_STR(got.current, "7-cccccccccccc");
	hist_state_free(&got);
	CHECK(count_commits(h, NULL) == 4);
out:
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

static void
test_release_manifest_and_sha256_stored(void)
{
	char *d = tmpdir_new(), *cause = NULL, *sha = NULL, *man = NULL, hex[41];
	struct history *h = NULL;
	struct hist_op op;
	const char *manifest = "component: app\nversion: 1.4.2\nfile bin/app 0755 abc\n";

	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	memset(&op, 0, sizeof(op));
	op.kind = "bundle";
	op.run_id = "run-1";
	op.summary = "bundle app 1.4.2";
	op.component = "app";
	op.release_id = "1.4.2-0123456789ab";
	op.release_manifest = manifest;
	op.release_sha256 = " 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n";
	op.run_json = "{\"run\":\"run-1\"}\n";
	CHECK(history_record(h, &op, hex, &cause) == 0);

	CHECK(history_release_sha256(h, "app", "1.4.2-0123456789ab", &sha, &cause) == 0);
	CHECK_STR(sha, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	CHECK(history_release_manifest(h, "app", "1.4.2-0123456789ab", &man, &cause) == 0);
	CHECK_STR(man, manifest);
	free(sha);
	free(man);
	sha = man = NULL;
	CHECK(history_release_sha256(h, "app", "1.4.3-0123456789ab", &sha, &cause) == 1);
	CHECK(history_release_manifest(h, "fw", "1.4.2-0123456789ab", &man, &cause) == 1);
	CHECK(sha == NULL && man == NULL);
	CHECK(cause == NULL);
	/* the run's journal as recorded, and none for a run never recorded */
	CHECK(history_run_text(h, "run-1", &man, &cause) == 0);
	CHECK_STR(man, "{\"run\":\"run-1\"}\n");
	free(man);
	man = NULL;
	CHECK(history_run_text(h, "run-2", &man, &cause) == 1 && man == NULL);
	CHECK(history_has_run(h, "run-1", &cause) == 1 && history_has_run(h, "run-2", &cause) == 0);
	CHECK(cause == NULL);
out:
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

static int
record_release(struct history *h, const char *run, const char *component, const char *id)
{
	struct hist_op op;
	char *cause = NULL;
	int rc;

	memset(&op, 0, sizeof(op));
	op.kind = "bundle";
	op.run_id = run;
	op.summary = "bundle";
	op.component = component;
	op.release_id = id;
	op.release_sha256 = "00";
	rc = history_record(h, &op, NULL, &cause);
	free(cause);
	return rc;
}

static void
test_find_releases_by_version_and_id(void)
{
	char *d = tmpdir_new(), *cause = NULL, **ids = NULL;
	struct history *h = NULL;

	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	CHECK(record_release(h, "r1", "app", "1.4.1-aaaaaaaaaaaa") == 0);
	CHECK(record_release(h, "r2", "app", "1.4.2-bbbbbbbbbbbb") == 0);
	CHECK(record_release(h, "r3", "fw", "1.4.2-dddddddddddd") == 0);
	CHECK(record_release(h, "r4", "app", "1.4.2-cccccccccccc") == 0);
	CHECK(record_release(h, "r5", "app", "nightly") == 0);
	CHECK(record_release(h, "r6", "app", "1.4.2-bbbbbbbbbbbb") == 0);   /* again: keeps its place */

	CHECK(history_find_releases(h, "app", "1.4.2", &ids, &cause) == 0);
	CHECK(strv_len(ids) == 2);
	if (strv_len(ids) == 2) {
		CHECK_STR(ids[0], "1.4.2-cccccccccccc");   /* newest recorded first */
		CHECK_STR(ids[1], "1.4.2-bbbbbbbbbbbb");
	}
	strv_free(ids);
	CHECK(history_find_releases(h, "app", "1.4.1-aaaaaaaaaaaa", &ids, &cause) == 0);
	CHECK(strv_len(ids) == 1 && strcmp(ids[0], "1.4.1-aaaaaaaaaaaa") == 0);
	strv_free(ids);
	CHECK(history_find_releases(h, "app", "nightly", &ids, &cause) == 0);
	CHECK(strv_len(ids) == 1);
	strv_free(ids);
	CHECK(history_find_releases(h, "app", "1.4", &ids, &cause) == 0);
	CHECK(strv_len(ids) == 0);
	strv_free(ids);
	CHECK(history_find_releases(h, "fw", "1.4.2", &ids, &cause) == 0);
	CHECK(strv_len(ids) == 1 && strcmp(ids[0], "1.4.2-dddddddddddd") == 0);
	strv_free(ids);
	CHECK(cause == NULL);
out:
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

static void
test_state_text_is_stable(void)
{
	char *good[] = { (char *)"2-bbbbbbbbbbbb", (char *)"1-aaaaaaaaaaaa", (char *)"2-bbbbbbbbbbbb", NULL };
	struct hist_state st, back;
	char *text, *text2;

	memset(&st, 0, sizeof(st));
	st.current = good[0];
	st.previous = good[1];
	st.good = good;
	st.last_op = (char *)"push";
	st.last_result = (char *)"failed:install\nsecond line";
	st.last_run = (char *)"run-9";
	st.updated = (char *)"2026-11-26T10:45:12Z";
	text = hist_state_format(&st);
	CHECK_STR(text,
	    "current: 2-bbbbbbbbbbbb\n"
	    "previous: 1-aaaaaaaaaaaa\n"
	    "good: 2-bbbbbbbbbbbb\n"
	    "good: 1-aaaaaaaaaaaa\n"
	    "last_op: push\n"
	    "last_result: failed:install second line\n"
	    "last_run: run-9\n"
	    "updated: 2026-11-26T10:45:12Z\n");
	hist_state_parse(text, &back);
	text2 = hist_state_format(&back);
	CHECK_STR(text2, text);
	CHECK(back.failed == NULL);
	hist_state_free(&back);
	hist_state_free(NULL);
	free(text);
	free(text2);
}

/* Child of the concurrency test: record 20 operations, each writing its own host file. */
static void
writer_child(const char *dir, int id)
{
	struct history *h = NULL;
	char *cause = NULL, host[32], run[32], sum[64], hex[41];
	const char *hosts[1];
	int i, bad = 0;

	if (history_open(dir, &h, &cause) < 0) {
		printf("# child %d: %s\n", id, cause);
		_exit(1);
	}
	for (i = 0; i < 20; i++) {
		snprintf(host, sizeof(host), "w%d-host%02d", id, i);
		snprintf(run, sizeof(run), "run-w%d-%02d", id, i);
		snprintf(sum, sizeof(sum), "push app 1 to %s", host);
		hosts[0] = host;
		if (record_push(h, run, sum, "app", "1-aaaaaaaaaaaa", hosts, 1, hex) < 0)
			bad = 1;
	}
	history_close(h);
	fflush(stdout);
	_exit(bad);
}

static void
test_concurrent_writers_both_land(void)
{
	char *d = tmpdir_new(), *cause = NULL, host[32], *cmd, *out = NULL;
	struct history *h = NULL;
	struct hist_state got;
	pid_t pid[2];
	int st[2] = { 0, 0 }, k, i, done = 0, found = 0;
	bool reaped[2] = { false, false };
	int64_t start;

	fflush(stdout);
	for (k = 0; k < 2; k++) {
		pid[k] = fork();
		if (pid[k] == 0)
			writer_child(d, k);
		CHECK(pid[k] > 0);
	}
	/* Wait at most 120 s for both. */
	start = now_ms();
	while (done < 2 && now_ms() - start < 120000) {
		for (k = 0; k < 2; k++)
			if (pid[k] > 0 && !reaped[k] && waitpid(pid[k], &st[k], WNOHANG) == pid[k]) {
				reaped[k] = true;
				done++;
			}
		if (done < 2)
			usleep(20000);
	}
	for (k = 0; k < 2; k++) {
		if (pid[k] > 0 && !reaped[k]) {
			kill(pid[k], SIGKILL);
			waitpid(pid[k], NULL, 0);
		}
		CHECK(reaped[k] && WIFEXITED(st[k]) && WEXITSTATUS(st[k]) == 0);
	}

	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	CHECK(count_commits(h, NULL) == 40);
	for (k = 0; k < 2; k++)
		for (i = 0; i < 20; i++) {
			snprintf(host, sizeof(host), "w%d-host%02d", k, i);
			if (history_host_state(h, host, "app", &got, &cause) == 0)
				found++;
			hist_state_free(&got);
		}
	CHECK(found == 40);
	cmd = xasprintf("git -C %s/history fsck --strict 2>&1", d);
	CHECK(run_cmd(cmd, &out) == 0);
	free(cmd);
	free(out);
	cmd = xasprintf("git -C %s/history rev-list --count main", d);
	CHECK(run_cmd(cmd, &out) == 0);
	CHECK_STR(out, "40\n");
	free(cmd);
	free(out);
out:
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

static void
test_log_newest_first_and_host_filter(void)
{
	char *d = tmpdir_new(), *cause = NULL, hex[41];
	struct history *h = NULL;
	const char *ab[] = { "kiosk1", "kiosk2" }, *c[] = { "kiosk10" };
	struct collect col = { { NULL }, 0 };
	struct hist_result r;
	struct hist_op op;

	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	CHECK(record_push(h, "run-1", "first", "app", "1-aaaaaaaaaaaa", ab, 2, hex) == 0);
	CHECK(record_push(h, "run-2", "second", "app", "1-aaaaaaaaaaaa", c, 1, hex) == 0);
	/* A host that was unreachable is named even though its state file does not change. */
	memset(&r, 0, sizeof(r));
	r.host = "kiosk2";
	r.state = "unreachable";
	r.exit_code = -1;
	r.duration_ms = -1;
	memset(&op, 0, sizeof(op));
	op.kind = "exec";
	op.run_id = "run-3";
	op.summary = "third";
	op.command = "uptime";
	op.extra = "kiosk1 ok\n\nignore-window: yes";   /* must not fool the host filter */
	op.results = &r;
	op.nresults = 1;
	CHECK(history_record(h, &op, hex, &cause) == 0);

	CHECK(history_log(h, NULL, 0, collect_cb, &col, &cause) == 0);
	CHECK(col.n == 3);
	if (col.n == 3) {
		CHECK_STR(col.summaries[0], "third");
		CHECK_STR(col.summaries[2], "first");
	}
	collect_free(&col);
	CHECK(history_log(h, NULL, 2, collect_cb, &col, &cause) == 0);
	CHECK(col.n == 2);
	collect_free(&col);
	CHECK(history_log(h, "kiosk1", 0, collect_cb, &col, &cause) == 0);
	CHECK(col.n == 1 && strcmp(col.summaries[0], "first") == 0);
	collect_free(&col);
	CHECK(history_log(h, "kiosk2", 0, collect_cb, &col, &cause) == 0);
	CHECK(col.n == 2 && strcmp(col.summaries[0], "third") == 0 && strcmp(col.summaries[1], "first") == 0);
	collect_free(&col);
	CHECK(history_log(h, "kiosk10", 0, collect_cb, &col, &cause) == 0);
	CHECK(col.n == 1 && strcmp(col.summaries[0], "second") == 0);
	collect_free(&col);
	CHECK(count_commits(h, "kiosk3") == 0);
	CHECK(cause == NULL);
out:
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

static void
test_invalid_names_rejected(void)
{
	static const char *bad[] = { "../x", "a/b", ".hidden", "a..b", "a b", "tab\there", "nl\n", "", NULL };
	char *d = tmpdir_new(), *cause = NULL, *sha = NULL;
	struct history *h = NULL;
	struct hist_state st, got;
	struct hist_result r;
	struct hist_op op;
	size_t i;

	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	memset(&st, 0, sizeof(st));
	st.current = (char *)"1";
	for (i = 0; bad[i] != NULL; i++) {
		memset(&r, 0, sizeof(r));
		r.host = bad[i];
		r.state = "ok";
		r.new_state = &st;
		memset(&op, 0, sizeof(op));
		op.kind = "push";
		op.run_id = "run-1";
		op.summary = "s";
		op.component = "app";
		op.results = &r;
		op.nresults = 1;
		CHECK(history_record(h, &op, NULL, &cause) == -1);
		CHECK(cause != NULL && strstr(cause, "host") != NULL);
		free(cause);
		cause = NULL;

		r.host = "ok-host";
		op.component = bad[i];
		CHECK(history_record(h, &op, NULL, &cause) == -1);
		CHECK(cause != NULL && strstr(cause, "component") != NULL);
		free(cause);
		cause = NULL;

		op.component = "app";
		op.release_id = bad[i];
		CHECK(history_record(h, &op, NULL, &cause) == -1);
		free(cause);
		cause = NULL;

		op.release_id = NULL;
		op.run_id = bad[i];
		CHECK(history_record(h, &op, NULL, &cause) == -1);
		free(cause);
		cause = NULL;

		CHECK(history_host_state(h, bad[i], "app", &got, &cause) == -1);
		free(cause);
		cause = NULL;
		CHECK(history_release_sha256(h, "app", bad[i], &sha, &cause) == -1);
		free(cause);
		cause = NULL;
	}
	/* A state without a component has nowhere to go. */
	memset(&r, 0, sizeof(r));
	r.host = "ok-host";
	r.new_state = &st;
	memset(&op, 0, sizeof(op));
	op.kind = "push";
	op.run_id = "run-1";
	op.results = &r;
	op.nresults = 1;
	CHECK(history_record(h, &op, NULL, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(count_commits(h, NULL) == 0);
out:
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

static void
test_plain_git_reads_it(void)
{
	char *d = tmpdir_new(), *cause = NULL, hex[41], *cmd, *out = NULL, longerr[600];
	struct history *h = NULL;
	const char *hosts[] = { "kiosk01" };
	struct hist_result r;
	struct hist_op op;

	setenv("FLEETCTL_ACTOR", "ci-pipeline 4242", 1);
	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	CHECK(record_push(h, "run-1", "push app 1.4.2 to lobby: 1 ok", "app", "1.4.2-aaaaaaaaaaaa", hosts, 1, hex) == 0);
	memset(longerr, 'x', sizeof(longerr) - 1);
	longerr[sizeof(longerr) - 1] = '\0';
	memcpy(longerr, "line1\nline2\033[0m ", 16);
	memset(&r, 0, sizeof(r));
	r.host = "kiosk01";
	r.state = "failed";
	r.step = "install";
	r.exit_code = 2;
	r.duration_ms = 350;
	r.error = longerr;
	memset(&op, 0, sizeof(op));
	op.kind = "install";
	op.run_id = "run-2";
	op.summary = "install app on kiosk01: 1 failed";
	op.component = "app";
	op.selection = "kiosk01";
	op.results = &r;
	op.nresults = 1;
	CHECK(history_record(h, &op, hex, &cause) == 0);
	unsetenv("FLEETCTL_ACTOR");

	cmd = xasprintf("git -C %s/history log --stat", d);
	CHECK(run_cmd(cmd, &out) == 0);
	CHECK(strstr(out, "push app 1.4.2 to lobby: 1 ok") != NULL);
	CHECK(strstr(out, "hosts/kiosk01/app") != NULL);
	CHECK(strstr(out, "Run: run-1") != NULL);
	free(cmd);
	free(out);

	cmd = xasprintf("git -C %s/history cat-file -p main:hosts/kiosk01/app", d);
	CHECK(run_cmd(cmd, &out) == 0);
	CHECK(starts_with(out, "current: 1.4.2-aaaaaaaaaaaa\ngood: 1.4.2-aaaaaaaaaaaa\nlast_op: push\n"));
	free(cmd);
	free(out);

	cmd = xasprintf("git -C %s/history log -1 '--format=%%(trailers:key=Actor,valueonly)'", d);
	CHECK(run_cmd(cmd, &out) == 0);
	CHECK(starts_with(out, "ci-pipeline 4242\n"));
	free(cmd);
	free(out);

	/* The failed terminal's line: one line, control characters replaced, error cut. */
	cmd = xasprintf("git -C %s/history log -1 --format=%%b | grep '^kiosk01 '", d);
	CHECK(run_cmd(cmd, &out) == 0);
	CHECK(starts_with(out, "kiosk01 failed install exit 2 350ms line1 line2?[0m xxx"));
	CHECK(strlen(out) < 280 && strstr(out, "...\n") != NULL);
	free(cmd);
	free(out);

	cmd = xasprintf("git -C %s/history symbolic-ref HEAD", d);
	CHECK(run_cmd(cmd, &out) == 0);
	CHECK_STR(out, "refs/heads/main\n");
	free(cmd);
	free(out);
out:
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

/* 2,000 terminals in one operation: one commit, every host file written.  Timing is printed, not asserted. */
static void
test_big_operation_is_one_commit(void)
{
	enum { N = 2000 };
	char *d = tmpdir_new(), *cause = NULL, hex[41], (*names)[16], *cmd, *out = NULL;
	struct history *h = NULL;
	struct hist_result *r;
	struct hist_state st, st2, got;
	struct hist_op op;
	int64_t t0, t1, t2;
	size_t i;

	names = xcalloc(N, sizeof(*names));
	r = xcalloc(N, sizeof(*r));
	memset(&st, 0, sizeof(st));
	st.current = (char *)"2-bbbbbbbbbbbb";
	st2 = st;
	st2.last_result = (char *)"failed:install";
	for (i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "t%04zu", i);
		r[i].host = names[i];
		r[i].state = i % 7 == 0 ? "failed" : "ok";
		r[i].exit_code = 0;
		r[i].duration_ms = (long)i;
		r[i].new_state = i % 7 == 0 ? &st2 : &st;
	}
	memset(&op, 0, sizeof(op));
	op.kind = "push";
	op.run_id = "run-big";
	op.summary = "push app 2 to all";
	op.component = "app";
	op.results = r;
	op.nresults = N;
	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	t0 = now_ms();
	CHECK(history_record(h, &op, hex, &cause) == 0);
	t1 = now_ms();
	op.run_id = "run-big2";   /* second one on top of a full tree */
	CHECK(history_record(h, &op, hex, &cause) == 0);
	t2 = now_ms();
	printf("# 2000-terminal record: %lld ms first, %lld ms second\n", (long long)(t1 - t0), (long long)(t2 - t1));
	CHECK(count_commits(h, NULL) == 2);
	CHECK(history_host_state(h, "t1999", "app", &got, &cause) == 0);
	CHECK_STR(got.current, "2-bbbbbbbbbbbb");
	CHECK_STR(got.last_run, "run-big2");
	hist_state_free(&got);
	CHECK(history_host_state(h, "t0007", "app", &got, &cause) == 0);
	CHECK_STR(got.last_result, "failed:install");
	hist_state_free(&got);
	CHECK(count_commits(h, "t1234") == 2);
	/* Big operations are written as one pack each: plain git must find everything. */
	cmd = xasprintf("git -C %s/history fsck --strict 2>&1 && git -C %s/history count-objects -v | grep '^packs:'", d, d);
	CHECK(run_cmd(cmd, &out) == 0);
	CHECK(strstr(out, "packs: 2") != NULL);
	free(cmd);
	free(out);
	cmd = xasprintf("git -C %s/history show main:hosts/t0007/app", d);
	CHECK(run_cmd(cmd, &out) == 0);
	CHECK(strstr(out, "last_result: failed:install\n") != NULL);
	free(cmd);
	free(out);
out:
	free(cause);
	free(names);
	free(r);
	history_close(h);
	tmpdir_free(d);
}

/* A branch lock left by a crash long ago does not block the history forever; a fresh one is respected. */
static void
test_stale_branch_lock_is_broken(void)
{
	char *d = tmpdir_new(), *cause = NULL, *lock = NULL, hex[41];
	const char *a[] = { "kiosk01" };
	struct history *h = NULL;
	struct timespec old[2];
	FILE *f;

	CHECK(history_open(d, &h, &cause) == 0);
	if (h == NULL)
		goto out;
	CHECK(record_push(h, "run-1", "first", "app", "1-aaaaaaaaaaaa", a, 1, hex) == 0);
	lock = xasprintf("%s/history/refs/heads/main.lock", d);
	f = fopen(lock, "w");
	CHECK(f != NULL);
	if (f != NULL)
		fclose(f);
	CHECK(history_record(h, &(struct hist_op){ .kind = "exec", .run_id = "run-2", .summary = "blocked" },
	    hex, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "refs/heads/main") != NULL);
	free(cause);
	cause = NULL;
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	CHECK(utimensat(AT_FDCWD, lock, old, 0) == 0);
	CHECK(record_push(h, "run-3", "after", "app", "2-bbbbbbbbbbbb", a, 1, hex) == 0);
	CHECK(count_commits(h, NULL) == 2);
	CHECK(access(lock, F_OK) != 0);
out:
	free(lock);
	free(cause);
	history_close(h);
	tmpdir_free(d);
}

int
main(void)
{
	git_libgit2_init();
	/* The plain-git checks must not read the tester's own identity or hooks. */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("FLEETCTL_ACTOR");
	unsetenv("CI_PIPELINE_ID");
	unsetenv("GITHUB_RUN_ID");
	RUN(test_state_text_is_stable);
	RUN(test_record_and_read_state);
	RUN(test_empty_history_reads_nothing);
	RUN(test_parent_tree_carried_over);
	RUN(test_release_manifest_and_sha256_stored);
	RUN(test_find_releases_by_version_and_id);
	RUN(test_log_newest_first_and_host_filter);
	RUN(test_invalid_names_rejected);
	RUN(test_plain_git_reads_it);
	RUN(test_concurrent_writers_both_land);
	RUN(test_big_operation_is_one_commit);
	RUN(test_stale_branch_lock_is_broken);
	git_libgit2_shutdown();
	return CHECK_DONE();
}
