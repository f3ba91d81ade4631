/* Unit tests for lib/logfetch: the remote commands are run by a real local /bin/sh, the way sshd's
 * login shell runs them, against real files in a temporary directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../../lib/logfetch.h"
#include "../../lib/util.h"
#include "check.h"

static char tmpdir[] = "/tmp/test_logfetch.XXXXXX";

/* Run cmd with sh -c (as sshd would), capture stdout (capped); returns the exit status. */
static int
sh_run(const char *cmd, struct buf *out)
{
	char *full = xasprintf("%s 2>/dev/null", cmd);
	FILE *p = popen(full, "r");
	char chunk[4096];
	size_t n;
	int st;

	free(full);
	if (p == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_add(out, chunk, n);
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *
tpath(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void
put(const char *name, const char *text)
{
	char *p = tpath(name);

	write_file_atomic(p, text, strlen(text), 0644);
	free(p);
}

static void
test_list_expands_globs_and_not_commands(void)
{
	char *dir = tpath("my logs"), *g1, *g2, *g3, *cmd, *pwned = tpath("pwned");
	char *globs[3];
	struct buf out;
	struct logfetch_listing l;
	char *cause = NULL;

	mkdir(dir, 0755);
	put("my logs/a.log", "aaa\n");
	put("my logs/b.log", "bb\n");
	put("my logs/c.txt", "c\n");
	g1 = xasprintf("%s/*.log", dir);
	g2 = xasprintf("%s/$(touch %s)*.log;touch %s", dir, pwned, pwned);
	g3 = xasprintf("%s/a.log", dir);   /* a duplicate of a match of g1 */
	globs[0] = g1;
	globs[1] = g2;
	globs[2] = g3;
	cmd = logfetch_list_cmd(globs, 3);
	buf_init(&out, 0);
	CHECK(sh_run(cmd, &out) == 0);
	CHECK(access(pwned, F_OK) != 0);
	CHECK(logfetch_parse_listing(out.data, out.len, globs, 3, &l, &cause) == 0);
	CHECK(l.n == 2);
	if (l.n == 2) {
		char *a = xasprintf("%s/a.log", dir), *b = xasprintf("%s/b.log", dir);

		CHECK_STR(l.v[0].path, a);
		CHECK(l.v[0].size == 4);
		CHECK_STR(l.v[1].path, b);
		CHECK(l.v[1].size == 3);
		free(a);
		free(b);
	}
	CHECK(l.has_awk);   /* this machine has awk, gzip and sha256sum */
	CHECK(l.has_gzip);
	CHECK(l.has_sha256sum);
	logfetch_listing_free(&l);
	buf_free(&out);
	free(cmd);
	free(g1);
	free(g2);
	free(g3);
	free(dir);
	free(pwned);
}

static void
test_listing_rejects_paths_outside_the_globs(void)
{
	const char text[] = "T gzip\nF 10 /var/log/app.log\nF 5 /etc/shadow\nU /var/log/secret.log\n"
	    "F 10 /var/log/app.log\ngarbage\n";
	char *globs[] = { (char *)"/var/log/*.log" };
	struct logfetch_listing l;
	char *cause = NULL;

	CHECK(logfetch_parse_listing(text, strlen(text), globs, 1, &l, &cause) == 0);
	CHECK(l.n == 2);
	CHECK(l.rejected == 1);
	CHECK(l.has_gzip && !l.has_awk && !l.has_sha256sum);
	if (l.n == 2) {
		CHECK_STR(l.v[0].path, "/var/log/app.log");
		CHECK(!l.v[0].unreadable);
		CHECK_STR(l.v[1].path, "/var/log/secret.log");
		CHECK(l.v[1].unreadable);
	}
	logfetch_listing_free(&l);
}

static void
test_tail_grep_quotes_regex(void)
{
	char *f = tpath("it's.log"), *cmd, *pwned = tpath("pwned2"), *re;
	struct buf out;

	put("it's.log", "one E1234 x\ntwo\nthree E99\nfour E5678 'q'\nfive\n");
	re = xasprintf("E[0-9]{4}|$(touch %s)'", pwned);
	cmd = logfetch_tail_cmd(f, 5, NULL, re);
	buf_init(&out, 0);
	sh_run(cmd, &out);
	CHECK(access(pwned, F_OK) != 0);
	CHECK_STR(out.data, "one E1234 x\nfour E5678 'q'\n");
	free(cmd);
	free(re);
	buf_reset(&out);
	cmd = logfetch_tail_cmd(f, 2, NULL, NULL);
	CHECK(sh_run(cmd, &out) == 0);
	CHECK_STR(out.data, "four E5678 'q'\nfive\n");
	buf_free(&out);
	free(cmd);
	free(f);
	free(pwned);
}

static void
test_tail_since_follows_previous_decision(void)
{
	char *f = tpath("since.log"), *cmd;
	struct buf out;

	put("since.log",
	    "orphan before any time\n"
	    "2026-11-26 07:59:59 old\n"
	    "  old continuation\n"
	    "2026-11-26T08:00:00.123 new\n"
	    "  new continuation\n"
	    "2026-11-26 07:00:00 old again\n"
	    "2026-11-26 09:00:00 E1234 newer\n");
	cmd = logfetch_tail_cmd(f, 100, "2026-11-26 08:00:00", NULL);
	buf_init(&out, 0);
	CHECK(sh_run(cmd, &out) == 0);
	CHECK_STR(out.data, "2026-11-26T08:00:00.123 new\n  new continuation\n2026-11-26 09:00:00 E1234 newer\n");
	free(cmd);
	buf_reset(&out);
	cmd = logfetch_tail_cmd(f, 100, "2026-11-26 08:00:00", "E[0-9]{4}");
	CHECK(sh_run(cmd, &out) == 0);
	CHECK_STR(out.data, "2026-11-26 09:00:00 E1234 newer\n");
	buf_free(&out);
	free(cmd);
	free(f);
}

static void
test_fetch_range_and_prefix_hash(void)
{
	char *f = tpath("fetch.log"), *cmd, hex[65], *cause = NULL;
	struct buf out;

	put("fetch.log", "0123456789abcdef");
	cmd = logfetch_fetch_cmd(f, 4, 6, false);
	buf_init(&out, 0);
	CHECK(sh_run(cmd, &out) == 0);
	CHECK_STR(out.data, "456789");
	free(cmd);
	buf_reset(&out);
	cmd = logfetch_prefix_hash_cmd(f, 10);
	CHECK(sh_run(cmd, &out) == 0);
	CHECK(logfetch_file_sha256(f, 10, hex, &cause) == 0);
	CHECK(out.len >= 64 && memcmp(out.data, hex, 64) == 0);
	free(cmd);
	buf_free(&out);
	free(f);
}

/* The compressed fetch decoded by the writer, fed one byte at a time, then resumed. */
static void
test_writer_inflates_and_resumes(void)
{
	char *f = tpath("big.log"), *dst = tpath("out.part"), *cmd, *cause = NULL, *data = NULL, *got = NULL;
	struct logfetch_writer *w = NULL;
	struct buf src, out;
	size_t len = 0;

	buf_init(&src, 0);
	for (int i = 0; i < 20000; i++)
		buf_addf(&src, "2026-11-26 10:00:%02d line %d of the log\n", i % 60, i);
	write_file_atomic(f, src.data, src.len, 0644);
	/* first half, plain */
	cmd = logfetch_fetch_cmd(f, 0, src.len / 2, false);
	buf_init(&out, 0);
	CHECK(sh_run(cmd, &out) == 0);
	free(cmd);
	CHECK(logfetch_writer_open(dst, 0, false, &w, &cause) == 0);
	if (w != NULL) {
		logfetch_writer_data(w, out.data, out.len);
		CHECK(logfetch_writer_size(w) == src.len / 2);
		CHECK(logfetch_writer_close(w, &cause) == 0);
	}
	/* the rest, gzip on the wire, decoded byte by byte */
	buf_reset(&out);
	cmd = logfetch_fetch_cmd(f, src.len / 2, src.len - src.len / 2, true);
	CHECK(sh_run(cmd, &out) == 0);
	CHECK(out.len < (src.len - src.len / 2) / 2);   /* it was compressed */
	free(cmd);
	w = NULL;
	CHECK(logfetch_writer_open(dst, src.len / 2, true, &w, &cause) == 0);
	if (w != NULL) {
		for (size_t i = 0; i < out.len; i++)
			logfetch_writer_data(w, out.data + i, 1);
		CHECK(logfetch_writer_size(w) == src.len);
		CHECK(logfetch_writer_close(w, &cause) == 0);
	}
	CHECK(read_file(dst, 10 * 1024 * 1024, &got, &len) == 0);
	CHECK(len == src.len && got != NULL && memcmp(got, src.data, len) == 0);
	/* corrupt compressed data is an error, not silent garbage */
	w = NULL;
	CHECK(logfetch_writer_open(dst, 0, true, &w, &cause) == 0);
	if (w != NULL) {
		logfetch_writer_data(w, "this is not gzip at all", 23);
		CHECK(logfetch_writer_close(w, &cause) == -1);
		CHECK(cause != NULL && strstr(cause, "corrupt") != NULL);
	}
	free(cause);
	free(got);
	free(data);
	buf_free(&src);
	buf_free(&out);
	free(f);
	free(dst);
}

static void
test_local_path_stays_inside(void)
{
	char *p = NULL, *cause = NULL;

	CHECK(logfetch_local_path("/d", "t01", "//var//log/./app.log", &p, &cause) == 0);
	CHECK_STR(p, "/d/t01/var/log/app.log");
	free(p);
	p = NULL;
	CHECK(logfetch_local_path("out/", "t01", "rel/x.log", &p, &cause) == 0);
	CHECK_STR(p, "out/t01/rel/x.log");
	free(p);
	p = NULL;
	CHECK(logfetch_local_path("/d", "t01", "/var/log/../../etc/passwd", &p, &cause) == -1);
	CHECK(p == NULL);
	free(cause);
	cause = NULL;
	CHECK(logfetch_local_path("/d", "..", "/x", &p, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(logfetch_local_path("/d", "t01", "/", &p, &cause) == -1);
	free(cause);
}

static void
test_since_parses(void)
{
	char out[32], *cause = NULL;
	time_t now = 1795687200;   /* 2026-11-26 10:00:00 UTC */

	setenv("TZ", "UTC", 1);
	tzset();
	CHECK(logfetch_parse_since("2 hours ago", now, out, sizeof(out), &cause) == 0);
	CHECK_STR(out, "2026-11-26 08:00:00");
	CHECK(logfetch_parse_since("30m", now, out, sizeof(out), &cause) == 0);
	CHECK_STR(out, "2026-11-26 09:30:00");
	CHECK(logfetch_parse_since("1 day ago", now, out, sizeof(out), &cause) == 0);
	CHECK_STR(out, "2026-11-25 10:00:00");
	CHECK(logfetch_parse_since("2026-11-26 10:00", now, out, sizeof(out), &cause) == 0);
	CHECK_STR(out, "2026-11-26 10:00:00");
	CHECK(logfetch_parse_since("2026-11-26T10:00:05.5+01:00", now, out, sizeof(out), &cause) == 0);
	CHECK_STR(out, "2026-11-26 09:00:05");
	CHECK(logfetch_parse_since("2026-11-26T23:30:00Z", now, out, sizeof(out), &cause) == 0);
	CHECK_STR(out, "2026-11-26 23:30:00");
	CHECK(logfetch_parse_since("2026-11-26", now, out, sizeof(out), &cause) == 0);
	CHECK_STR(out, "2026-11-26 00:00:00");
	CHECK(logfetch_parse_since("yesterday", now, out, sizeof(out), &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(logfetch_parse_since("2026-02-30", now, out, sizeof(out), &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(logfetch_parse_since("2 fortnights ago", now, out, sizeof(out), &cause) == -1);
	free(cause);
}

static void
test_follow_cmd_quotes_and_parses(void)
{
	char *paths[] = { (char *)"/var/log/it's $(reboot).log" };
	int64_t offs[] = { 42 };
	char *cmd = logfetch_follow_cmd(10, NULL, "a'b", paths, offs, 1);
	const char *text = NULL;
	size_t idx = 0, tl = 0;
	int64_t off = 0;
	uint64_t skipped = 0;

	/* Every value sits inside single quotes: the raw value never appears unquoted. */
	CHECK(strstr(cmd, "'/var/log/it'\\''s $(reboot).log'") != NULL);
	CHECK(strstr(cmd, "'a'\\''b'") != NULL);
	CHECK(strstr(cmd, " '42' ") != NULL);
	free(cmd);
	CHECK(logfetch_follow_parse("3@1200", 6, &idx, &off, &skipped, &text, &tl) == 1);
	CHECK(idx == 3 && off == 1200);
	CHECK(logfetch_follow_parse("1:17:a:b c", 10, &idx, &off, &skipped, &text, &tl) == 2);
	CHECK(idx == 1 && skipped == 17 && tl == 5 && memcmp(text, "a:b c", 5) == 0);
	CHECK(logfetch_follow_parse("1:17", 4, &idx, &off, &skipped, &text, &tl) == 0);
	CHECK(logfetch_follow_parse("x:1:y", 5, &idx, &off, &skipped, &text, &tl) == 0);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	RUN(test_list_expands_globs_and_not_commands);
	RUN(test_listing_rejects_paths_outside_the_globs);
	RUN(test_tail_grep_quotes_regex);
	RUN(test_tail_since_follows_previous_decision);
	RUN(test_fetch_range_and_prefix_hash);
	RUN(test_writer_inflates_and_resumes);
	RUN(test_local_path_stays_inside);
	RUN(test_since_parses);
	RUN(test_follow_cmd_quotes_and_parses);
	{
		char *rm = xasprintf("rm -rf '%s'", tmpdir);

		if (system(rm) != 0)
			check_failed_total++;
		free(rm);
	}
	return check_failed_total != 0;
}
