/* Unit tests for lib/rcmd: the deadline wrapper, run by a real local /bin/sh in its own session. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/rcmd.h"
#include "../../lib/util.h"
#include "check.h"

/* PATH for the run: NULL = as is (timeout(1) is there); else a directory without timeout(1). */
static const char *rcmd_path;

/* Run the wrapped command as sshd would: a new session, the login shell given the whole string. */
static int
rcmd_run(const char *cmd, long seconds, int64_t *ms)
{
	char *w = rcmd_deadline(cmd, seconds);
	int64_t start = now_ms();
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		setsid();
		if (rcmd_path != NULL)
			setenv("PATH", rcmd_path, 1);
		execl("/bin/sh", "sh", "-c", w, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	*ms = now_ms() - start;
	free(w);
	return status;
}

static void
test_exit_status_is_kept(void)
{
	int64_t ms;
	int st = rcmd_run("exit 42", 10, &ms);

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42);
}

static void
test_quotes_in_command_survive(void)
{
	int64_t ms;
	int st = rcmd_run("[ \"it's\" = 'it'\\''s' ] && exit 7", 10, &ms);

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
}

static void
test_deadline_kills_command_and_children(void)
{
	int64_t ms;
	int st = rcmd_run("sleep 41.5 & sleep 42.5; exit 0", 1, &ms);

	/* timeout(1) exits 124; the shell watchdog leaves the wrapper dead of TERM */
	CHECK(rcmd_timed_out(WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM ?
	    "TERM" : "", ms, 1));
	CHECK(ms < 5000);
	usleep(300 * 1000);
	CHECK(system("pgrep -f '^sleep 4[12].5' >/dev/null") != 0);
}

static void
test_command_ignoring_term_is_killed(void)
{
	int64_t ms;

	rcmd_run("trap '' TERM; sleep 44.5; exit 0", 1, &ms);
	/* the wrapper dies of TERM at once; the watchdog sends KILL two seconds later */
	usleep(3500 * 1000);
	CHECK(system("pgrep -f '^sleep 4[4].5' >/dev/null") != 0);
}

static void
test_signal_death_is_reported_as_signal(void)
{
	int64_t ms;
	int st = rcmd_run("kill -9 $$", 10, &ms);

	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void
test_no_watchdog_left_after_quick_command(void)
{
	int64_t ms;

	for (int i = 0; i < 5; i++)
		rcmd_run("true", 593, &ms);
	/* the watchdog notices within a second that the command is gone */
	usleep(1500 * 1000);
	CHECK(system("pgrep -f 'fleetctl [5]93' >/dev/null") != 0);
}

/* A directory holding the tools a small terminal has, but no timeout(1): the shell watchdog's path. */
static char *
rcmd_no_timeout_dir(void)
{
	char tmpl[] = "/tmp/fleetctl-rcmd.XXXXXX", *dir = mkdtemp(tmpl), *cmd;
	int rc;

	if (dir == NULL)
		return NULL;
	cmd = xasprintf("for t in sh sleep kill setsid pgrep; do ln -s \"$(command -v $t)\" %s/$t || exit 1; done", dir);
	rc = system(cmd);
	free(cmd);
	return rc == 0 ? xstrdup(dir) : NULL;
}

static void
rcmd_all(void)
{
	RUN(test_exit_status_is_kept);
	RUN(test_quotes_in_command_survive);
	RUN(test_deadline_kills_command_and_children);
	RUN(test_command_ignoring_term_is_killed);
	RUN(test_signal_death_is_reported_as_signal);
	RUN(test_no_watchdog_left_after_quick_command);
}

int
main(void)
{
	char *dir, *rm;

	rcmd_all();              /* with timeout(1) */
	dir = rcmd_no_timeout_dir();
	CHECK(dir != NULL);
	if (dir == NULL)
		return 1;
	rcmd_path = dir;         /* and with the shell watchdog */
	rcmd_all();
	rm = xasprintf("rm -rf %s", dir);
	if (system(rm) != 0)
		return 1;
	free(rm);
	free(dir);
	return CHECK_DONE();
}

