/* Unit tests for lib/termlock: the generated scripts run with the real /bin/sh against a temp dir. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/termlock.h"
#include "../../lib/util.h"
#include "check.h"

static char tmpdir[128];
static char bbdir[128];   /* when set: a PATH of busybox applets, and its sh runs the scripts */

/* Hostile values: quotes, command substitutions, backquotes, newlines that try to forge lines. */
static const char hostile_run[] = "r1'; touch PWNED1; echo '$(touch PWNED2)`touch PWNED3`\nlock=ok\n";
static const char hostile_op[] = "op\"$(touch PWNED4)\nlockinfo.run_id=evil\\";
static const char hostile_root_leaf[] = "r o'ot $(touch PWNED5)";

/* Start /bin/sh -c script in tmpdir with stdout on a pipe; returns the read end, *pid the child. */
static int
sh_start(const char *script, pid_t *pid)
{
	int fds[2];

	if (pipe(fds) != 0)
		return -1;
	*pid = fork();
	if (*pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (*pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		if (chdir(tmpdir) != 0)
			_exit(126);
		alarm(10);   /* bounded: a stuck script dies */
		if (bbdir[0] != '\0') {
			char *sh = xasprintf("%s/sh", bbdir);

			setenv("PATH", bbdir, 1);
			execl(sh, "sh", "-c", script, (char *)NULL);
			_exit(127);
		}
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	return fds[0];
}

/* Read fd to EOF (capped) and reap pid; returns the output (caller frees) or NULL. */
static char *
sh_finish(int fd, pid_t pid)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int status;

	buf_init(&b, 1 << 20);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

static char *
sh_run(const char *script)
{
	pid_t pid;
	int fd = sh_start(script, &pid);

	return fd < 0 ? NULL : sh_finish(fd, pid);
}

/* Run a snippet (an acquire or release, which end with "; ") as a whole script. */
static char *
sh_snippet(char *snippet)
{
	char *script = xasprintf("%sexit 0\n", snippet), *out = sh_run(script);

	free(script);
	free(snippet);
	return out;
}

static char *
root_path(const char *leaf)
{
	return xasprintf("%s/%s", tmpdir, leaf);
}

static int
exists(const char *root, const char *leaf)
{
	char *p = xasprintf("%s/%s", root, leaf);
	struct stat st;
	int rc = stat(p, &st) == 0;

	free(p);
	return rc;
}

static int
pwned(void)
{
	for (int i = 1; i <= 5; i++) {
		char *p = xasprintf("%s/PWNED%d", tmpdir, i);
		int rc = access(p, F_OK) == 0;

		free(p);
		if (rc)
			return 1;
	}
	return 0;
}

static void
me_init(struct termlock_info *me, const char *run, const char *op)
{
	memset(me, 0, sizeof(*me));
	me->run_id = (char *)run;
	me->operator = (char *)op;
	me->controller = (char *)"ctl1";
	me->kind = (char *)"push";
	me->pid = 4242;
	me->time = 1700000000;
	me->deadline = 1700003600;
}

static void
test_acquire_takes_then_second_sees_held(void)
{
	char *root = root_path("a"), *out;
	struct termlock_info me, other, h;

	me_init(&me, "run-A", "alice");
	me_init(&other, "run-B", "bob");
	out = sh_snippet(termlock_acquire_snippet(root, &me));
	CHECK(out != NULL && strstr(out, "lock=ok\n") != NULL);
	CHECK(termlock_parse(out, NULL) == 0);
	CHECK(exists(root, TERMLOCK_DIR "/info"));
	free(out);
	out = sh_snippet(termlock_acquire_snippet(root, &other));
	CHECK(termlock_parse(out, &h) == 1);
	CHECK_STR(h.run_id, "run-A");
	CHECK_STR(h.operator, "alice");
	CHECK_STR(h.controller, "ctl1");
	CHECK_STR(h.kind, "push");
	CHECK(h.pid == 4242);
	CHECK(h.time == 1700000000);
	CHECK(h.deadline == 1700003600);
	termlock_info_free(&h);
	free(out);
	free(root);
}

/* A lock directory left without its info (its taker killed between mkdir and rename) is taken over. */
static void
test_acquire_takes_over_a_lock_without_info(void)
{
	char *root = root_path("noinfo"), *dir = xasprintf("%s/%s", root, TERMLOCK_DIR), *out;
	struct termlock_info me;

	me_init(&me, "run-C", "carol");
	CHECK(mkdir_p(dir, 0755) == 0);
	out = sh_snippet(termlock_acquire_snippet(root, &me));
	CHECK(out != NULL && strstr(out, "lock=ok\n") != NULL);
	CHECK(exists(root, TERMLOCK_DIR "/info"));
	free(out);
	free(dir);
	free(root);
}


static void
test_acquire_is_reentrant_for_same_run(void)
{
	char *root = root_path("b"), *out;
	struct termlock_info me;

	me_init(&me, "run-A", "alice");
	out = sh_snippet(termlock_acquire_snippet(root, &me));
	CHECK(termlock_parse(out, NULL) == 0);
	free(out);
	me.operator = (char *)"alice-again";
	out = sh_snippet(termlock_acquire_snippet(root, &me));
	CHECK(out != NULL && strstr(out, "lock=ok\n") != NULL);
	CHECK(termlock_parse(out, NULL) == 0);
	free(out);
	free(root);
}

/* The snippet leaves the decision to the caller's script: what follows it still runs. */
static void
test_acquire_snippet_does_not_exit(void)
{
	char *root = root_path("c"), *snip, *script, *out;
	struct termlock_info a, b;

	me_init(&a, "run-A", "alice");
	me_init(&b, "run-B", "bob");
	free(sh_snippet(termlock_acquire_snippet(root, &a)));
	snip = termlock_acquire_snippet(root, &b);
	CHECK(strlen(snip) > 2 && strcmp(snip + strlen(snip) - 2, "; ") == 0);
	script = xasprintf("%secho after", snip);
	out = sh_run(script);
	CHECK(out != NULL && strstr(out, "lock=held\n") != NULL && strstr(out, "\nafter\n") != NULL);
	free(out);
	free(script);
	free(snip);
	free(root);
}

static void
test_hostile_values_stay_literal(void)
{
	char *root = root_path(hostile_root_leaf), *out, *info = NULL, *infopath;
	struct termlock_info me, other, h;
	size_t len = 0, lines = 0;

	me_init(&me, hostile_run, hostile_op);
	me.controller = (char *)"ctl\r\n$(touch PWNED1)";
	me_init(&other, "run-B", "bob");
	out = sh_snippet(termlock_acquire_snippet(root, &me));
	CHECK(termlock_parse(out, NULL) == 0);
	free(out);
	CHECK(!pwned());
	infopath = xasprintf("%s/%s/info", root, TERMLOCK_DIR);
	CHECK(read_file(infopath, 65536, &info, &len) == 0);
	for (size_t i = 0; i < len; i++)
		lines += info[i] == '\n';
	CHECK(lines == 7);   /* one line per key: newlines in values were stripped */
	free(info);
	free(infopath);

	out = sh_snippet(termlock_acquire_snippet(root, &other));
	CHECK(termlock_parse(out, &h) == 1);
	CHECK_STR(h.run_id, "r1'; touch PWNED1; echo '$(touch PWNED2)`touch PWNED3`lock=ok");
	CHECK_STR(h.operator, "op\"$(touch PWNED4)lockinfo.run_id=evil\\");
	CHECK_STR(h.controller, "ctl$(touch PWNED1)");
	termlock_info_free(&h);
	free(out);

	/* The same hostile run id is recognised as the owner (re-entrant, release). */
	out = sh_snippet(termlock_acquire_snippet(root, &me));
	CHECK(termlock_parse(out, NULL) == 0);
	free(out);
	out = sh_snippet(termlock_release_snippet(root, hostile_run));
	CHECK(out != NULL && strstr(out, "unlock=ok\n") != NULL);
	CHECK(!exists(root, TERMLOCK_DIR));
	CHECK(!pwned());
	free(out);
	free(root);
}

static void
test_release_by_other_run_refused(void)
{
	char *root = root_path("d"), *out;
	struct termlock_info me;

	me_init(&me, "run-A", "alice");
	free(sh_snippet(termlock_acquire_snippet(root, &me)));
	out = sh_snippet(termlock_release_snippet(root, "run-B"));
	CHECK(out != NULL && strstr(out, "unlock=notmine\n") != NULL);
	CHECK(exists(root, TERMLOCK_DIR "/info"));
	free(out);
	/* A prefix of the owner's id is not the owner. */
	out = sh_snippet(termlock_release_snippet(root, "run-"));
	CHECK(out != NULL && strstr(out, "unlock=notmine\n") != NULL);
	CHECK(exists(root, TERMLOCK_DIR));
	free(out);
	out = sh_snippet(termlock_release_snippet(root, "run-A"));
	CHECK(out != NULL && strstr(out, "unlock=ok\n") != NULL);
	CHECK(!exists(root, TERMLOCK_DIR));
	free(out);
	out = sh_snippet(termlock_release_snippet(root, "run-A"));
	CHECK(out != NULL && strstr(out, "unlock=notmine\n") != NULL);
	free(out);
	free(root);
}

static void
test_status_none_then_held(void)
{
	char *root = root_path("e"), *script = termlock_status_script(root), *out;
	struct termlock_info me, h;

	out = sh_run(script);
	CHECK(out != NULL && strstr(out, "lock=none\n") != NULL);
	CHECK(termlock_parse(out, &h) == 0);
	CHECK(h.run_id == NULL);
	free(out);
	me_init(&me, "run-A", "alice");
	free(sh_snippet(termlock_acquire_snippet(root, &me)));
	out = sh_run(script);
	CHECK(termlock_parse(out, &h) == 1);
	CHECK_STR(h.run_id, "run-A");
	CHECK(h.deadline == 1700003600);
	termlock_info_free(&h);
	free(out);
	free(script);
	free(root);
}

static void
test_break_of_other_run_keeps_lock(void)
{
	char *root = root_path("f"), *script = termlock_break_script(root, "run-B"), *out;
	struct termlock_info me, h;

	me_init(&me, "run-A", "alice");
	free(sh_snippet(termlock_acquire_snippet(root, &me)));
	out = sh_run(script);
	CHECK(out != NULL && strstr(out, "broken=0\n") != NULL);
	CHECK(termlock_parse(out, &h) == 1);
	CHECK_STR(h.run_id, "run-A");
	CHECK(exists(root, TERMLOCK_DIR "/info"));
	termlock_info_free(&h);
	free(out);
	free(script);
	script = termlock_break_script(root, "run-A");
	out = sh_run(script);
	CHECK(out != NULL && strstr(out, "broken=1\n") != NULL);
	CHECK(!exists(root, TERMLOCK_DIR));
	free(out);
	free(script);
	free(root);
}

static void
test_break_any_removes_and_names_holder(void)
{
	char *root = root_path("g"), *script = termlock_break_script(root, NULL), *out;
	struct termlock_info me, h;

	me_init(&me, "run-A", "alice");
	free(sh_snippet(termlock_acquire_snippet(root, &me)));
	out = sh_run(script);
	CHECK(out != NULL && strstr(out, "broken=1\n") != NULL);
	CHECK(termlock_parse(out, &h) == 1);
	CHECK_STR(h.operator, "alice");
	CHECK(!exists(root, TERMLOCK_DIR));
	termlock_info_free(&h);
	free(out);
	out = sh_run(script);
	CHECK(out != NULL && strstr(out, "broken=0\n") != NULL);
	CHECK(termlock_parse(out, NULL) == 0);
	free(out);
	/* Free again: a new run takes it. */
	me.run_id = (char *)"run-C";
	out = sh_snippet(termlock_acquire_snippet(root, &me));
	CHECK(termlock_parse(out, NULL) == 0);
	free(out);
	free(script);
	free(root);
}

/* A root that cannot be made is an error, not "held". */
static void
test_acquire_unusable_root_is_error(void)
{
	char *file = root_path("plainfile"), *root = root_path("plainfile/sub"), *out;
	struct termlock_info me;

	CHECK(write_file_atomic(file, "x", 1, 0644) == 0);
	me_init(&me, "run-A", "alice");
	out = sh_snippet(termlock_acquire_snippet(root, &me));
	CHECK(out != NULL && strstr(out, "lock=error\n") != NULL);
	CHECK(termlock_parse(out, NULL) == -1);
	free(out);
	free(root);
	free(file);
}

/* Trailing slashes and a leading '-' still name ROOT/.fleet-lock. */
static void
test_root_spellings(void)
{
	char *root = root_path("h///"), *out, *snip;
	struct termlock_info me;

	me_init(&me, "run-A", "alice");
	out = sh_snippet(termlock_acquire_snippet(root, &me));
	CHECK(termlock_parse(out, NULL) == 0);
	free(out);
	free(root);
	root = root_path("h");
	CHECK(exists(root, TERMLOCK_DIR "/info"));
	free(root);
	snip = termlock_acquire_snippet("-x", &me);   /* relative, run in tmpdir */
	out = sh_snippet(snip);
	CHECK(termlock_parse(out, NULL) == 0);
	free(out);
	root = root_path("-x");
	CHECK(exists(root, TERMLOCK_DIR "/info"));
	free(root);
	snip = termlock_status_script("/");
	CHECK(strstr(snip, "'/.fleet-lock'") != NULL && strstr(snip, "//") == NULL);
	free(snip);
}

/* Eight runs race for one lock: mkdir lets exactly one win. */
static void
test_concurrent_acquire_one_winner(void)
{
	char *root = root_path("race"), *snips[8];
	pid_t pids[8];
	int fds[8], winners = 0, held = 0;

	for (int i = 0; i < 8; i++) {
		struct termlock_info me;
		char run[16], *s;

		snprintf(run, sizeof(run), "run-%d", i);
		me_init(&me, run, "racer");
		s = termlock_acquire_snippet(root, &me);
		snips[i] = xasprintf("%sexit 0\n", s);
		free(s);
	}
	for (int i = 0; i < 8; i++)
		fds[i] = sh_start(snips[i], &pids[i]);
	for (int i = 0; i < 8; i++) {
		char *out = fds[i] < 0 ? NULL : sh_finish(fds[i], pids[i]);
		int rc = termlock_parse(out, NULL);

		winners += rc == 0;
		held += rc == 1;
		free(out);
		free(snips[i]);
	}
	CHECK(winners == 1);
	CHECK(held == 7);
	free(root);
}

static void
test_parse_defensive(void)
{
	struct termlock_info h;

	CHECK(termlock_parse("", &h) == -1);
	CHECK(termlock_parse(NULL, &h) == -1);
	CHECK(termlock_parse("garbage\n", &h) == -1);
	CHECK(termlock_parse("lock=error\n", &h) == -1);
	CHECK(termlock_parse("lock=maybe\n", &h) == -1);
	CHECK(termlock_parse("xlock=held\n", &h) == -1);
	CHECK(termlock_parse("noise\nlock=none\n", &h) == 0);
	CHECK(termlock_parse("lock=ok", &h) == 0);
	/* lockinfo before the lock= line, unknown keys, bad numbers are ignored; the first value wins. */
	CHECK(termlock_parse("lockinfo.run_id=early\r\nlock=held\r\nlockinfo.run_id=first\r\n"
	    "lockinfo.run_id=second\nlockinfo.bogus=1\nlockinfo.pid=12x\nlockinfo.time=-5\n"
	    "lockinfo.deadline=99999999999999999999999\nlockinfo.noequals\nlockinfo.kind=a=b\n", &h) == 1);
	CHECK_STR(h.run_id, "first");
	CHECK_STR(h.kind, "a=b");
	CHECK(h.operator == NULL && h.controller == NULL);
	CHECK(h.pid == 0 && h.time == 0 && h.deadline == 0);
	termlock_info_free(&h);
	CHECK(h.run_id == NULL);
	termlock_info_free(&h);
	termlock_info_free(NULL);
	/* A held lock with no info (taken a moment ago, or info lost): held, fields unknown. */
	CHECK(termlock_parse("lock=held\n", &h) == 1);
	CHECK(h.run_id == NULL && h.deadline == 0);
	termlock_info_free(&h);
}

static void
test_stale_boundary(void)
{
	struct termlock_info i;

	memset(&i, 0, sizeof(i));
	i.deadline = 1000;
	CHECK(termlock_stale(&i, 999, 0) == 0);
	CHECK(termlock_stale(&i, 1000, 0) == 0);
	CHECK(termlock_stale(&i, 1001, 0) == 1);
	CHECK(termlock_stale(&i, 999, 1) == 1);
	i.deadline = 0;   /* unknown deadline: never stale by time */
	CHECK(termlock_stale(&i, 1000000, 0) == 0);
	CHECK(termlock_stale(&i, 1000000, 1) == 1);
}

/* Terminals often have only busybox: the same scenarios with busybox's sh, mkdir, grep, sed, mv, rm. */
static void
test_busybox_tools(void)
{
	static const char *const applets[] = { "sh", "mkdir", "grep", "sed", "mv", "rm", "printf", "echo", NULL };
	char saved[sizeof(tmpdir)];

	if (access("/usr/bin/busybox", X_OK) != 0 && access("/bin/busybox", X_OK) != 0) {
		printf("# busybox not installed: busybox scenarios not run\n");
		return;
	}
	if ((size_t)snprintf(bbdir, sizeof(bbdir), "%.100s/bbbin", tmpdir) >= sizeof(bbdir)) {
		CHECK(!"path too long");
		return;
	}
	CHECK(mkdir(bbdir, 0755) == 0);
	for (int i = 0; applets[i] != NULL; i++) {
		char *link = xasprintf("%s/%s", bbdir, applets[i]);

		CHECK(symlink(access("/usr/bin/busybox", X_OK) == 0 ? "/usr/bin/busybox" : "/bin/busybox", link) == 0);
		free(link);
	}
	memcpy(saved, tmpdir, sizeof(saved));
	snprintf(tmpdir, sizeof(tmpdir), "%.100s/bbrun", saved);
	CHECK(mkdir(tmpdir, 0755) == 0);
	test_acquire_takes_then_second_sees_held();
	test_acquire_is_reentrant_for_same_run();
	test_acquire_snippet_does_not_exit();
	test_hostile_values_stay_literal();
	test_release_by_other_run_refused();
	test_status_none_then_held();
	test_break_of_other_run_keeps_lock();
	test_break_any_removes_and_names_holder();
	test_concurrent_acquire_one_winner();
	memcpy(tmpdir, saved, sizeof(saved));
	bbdir[0] = '\0';
}

int
main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_termlock.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		printf("FAIL: mkdtemp (%s)\n", strerror(errno));
		return 1;
	}
	RUN(test_acquire_takes_then_second_sees_held);
	RUN(test_acquire_takes_over_a_lock_without_info);
	RUN(test_acquire_is_reentrant_for_same_run);
	RUN(test_acquire_snippet_does_not_exit);
	RUN(test_hostile_values_stay_literal);
	RUN(test_release_by_other_run_refused);
	RUN(test_status_none_then_held);
	RUN(test_break_of_other_run_keeps_lock);
	RUN(test_break_any_removes_and_names_holder);
	RUN(test_acquire_unusable_root_is_error);
	RUN(test_root_spellings);
	RUN(test_concurrent_acquire_one_winner);
	RUN(test_parse_defensive);
	RUN(test_stale_boundary);
	RUN(test_busybox_tools);
	/* Remove the temp dir with rm given an argv, never a shell string. */
	{
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			execl("/bin/rm", "rm", "-rf", "--", tmpdir, (char *)NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, &st, 0);
	}
	return CHECK_DONE();
}
