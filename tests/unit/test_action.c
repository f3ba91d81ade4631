/* Unit tests for lib/action's remote scripts: run them with the local /bin/sh, as a terminal would. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/action.h"
#include "../../lib/util.h"
#include "check.h"

static char tmpdir[] = "/tmp/test_action.XXXXXX";

/* Run script with `sh -c` in dir (argv, no shell string locally); stdout into *out; exit status. */
static int
run_sh(const char *script, const char *dir, char **out)
{
	struct buf b;
	char chunk[512];
	int fds[2], status = -1;
	ssize_t got;
	pid_t pid;

	buf_init(&b, 65536);
	*out = NULL;
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (chdir(dir) != 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while ((got = read(fds[0], chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)got);
	close(fds[0]);
	waitpid(pid, &status, 0);
	*out = buf_detach(&b);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A root with a space and a quote: FLEET_ROOT and FLEET_COMPONENT arrive exactly. */
static void
test_env_is_quoted(void)
{
	char *root = xasprintf("%s/it's a root", tmpdir), *script, *out, *want;

	script = action_script(root, "app", "printf '%s|%s' \"$FLEET_ROOT\" \"$FLEET_COMPONENT\"", true, 0);
	CHECK(run_sh(script, tmpdir, &out) == 0);
	want = xasprintf("%s/app|app", root);
	CHECK_STR(out, want);
	free(want);
	free(out);
	free(script);
	free(root);
}

static void
test_runs_in_current_when_present(void)
{
	char *root = xasprintf("%s/r1", tmpdir), *rel = xasprintf("%s/r1/app/releases/x", tmpdir);
	char *cur = xasprintf("%s/r1/app/current", tmpdir), *script, *out;

	CHECK(mkdir_p(rel, 0755) == 0);
	CHECK(symlink("releases/x", cur) == 0);
	script = action_script(root, "app", "pwd -P", true, 0);
	CHECK(run_sh(script, tmpdir, &out) == 0);
	str_trim(out);
	CHECK_STR(out, rel);
	free(out);
	free(script);
	/* Not in place (in_current false): stays where the login put it. */
	script = action_script(root, "app", "pwd -P", false, 0);
	CHECK(run_sh(script, tmpdir, &out) == 0);
	str_trim(out);
	CHECK_STR(out, tmpdir);
	free(out);
	free(script);
	free(cur);
	free(rel);
	free(root);
}

static void
test_without_current_stays_in_login_dir(void)
{
	char *root = xasprintf("%s/r2", tmpdir), *script, *out;

	script = action_script(root, "app", "pwd -P", true, 0);
	CHECK(run_sh(script, tmpdir, &out) == 0);
	str_trim(out);
	CHECK_STR(out, tmpdir);
	free(out);
	free(script);
	free(root);
}

/* The command is one shell program: ;, && and exit codes work; the deadline wrapper keeps the status. */
static void
test_exit_status_kept(void)
{
	char *script = action_script(tmpdir, "app", "echo a; false && echo b; exit 7", true, 0), *out;

	CHECK(run_sh(script, tmpdir, &out) == 7);
	CHECK_STR(out, "a\n");
	free(out);
	free(script);
	script = action_script(tmpdir, "app", "echo a; exit 5", true, 30);
	CHECK(run_sh(script, tmpdir, &out) == 5);
	CHECK_STR(out, "a\n");
	free(out);
	free(script);
}

/* Detached: "sent" at once, the command (with FLEET_ROOT) a second later, its output thrown away. */
static void
test_detached_returns_before_command(void)
{
	char *marker = xasprintf("%s/d/detached.marker", tmpdir), *d = xasprintf("%s/d", tmpdir);
	char *app = xasprintf("%s/d/app", tmpdir), *script, *out;
	int64_t start;
	struct stat st;
	int i;

	CHECK(mkdir_p(app, 0755) == 0);
	script = action_detached_script(d, "app", "echo noise; echo \"$FLEET_ROOT\" > \"$FLEET_ROOT/../detached.marker\"");
	start = now_ms();
	CHECK(run_sh(script, tmpdir, &out) == 0);
	CHECK(now_ms() - start < 900);
	CHECK_STR(out, "sent\n");
	CHECK(stat(marker, &st) != 0);
	for (i = 0; i < 50 && stat(marker, &st) != 0; i++) {
		struct timespec ts = { 0, 100 * 1000000L };

		nanosleep(&ts, NULL);
	}
	CHECK(stat(marker, &st) == 0);
	free(out);
	out = NULL;
	if (read_file(marker, 4096, &out, NULL) == 0) {
		char *want = xasprintf("%s/app\n", d);

		CHECK_STR(out, want);
		free(want);
	} else
		CHECK(!"marker unreadable");
	free(out);
	free(script);
	free(app);
	free(d);
	free(marker);
}

static void
test_boot_id_script_quotes_path(void)
{
	char *s = action_boot_id_script("/x/it's; rm -rf /");

	CHECK_STR(s, "cat '/x/it'\\''s; rm -rf /'");
	free(s);
}

static void
test_component_names(void)
{
	CHECK(action_component_valid("app"));
	CHECK(action_component_valid("fw-2.1_x"));
	CHECK(!action_component_valid(""));
	CHECK(!action_component_valid(NULL));
	CHECK(!action_component_valid(".."));
	CHECK(!action_component_valid(".hidden"));
	CHECK(!action_component_valid("a/b"));
	CHECK(!action_component_valid("a b"));
	CHECK(!action_component_valid("a'b"));
}

static void
test_names_and_keys(void)
{
	CHECK_STR(action_name(ACTION_INSTALL), "install");
	CHECK_STR(action_name(ACTION_REBOOT), "reboot");
	CHECK(action_key(ACTION_RESTART) == INV_RESTART);
	CHECK(action_key(ACTION_SHUTDOWN) == INV_SHUTDOWN);
	CHECK(action_detached(ACTION_SHUTDOWN) && action_detached(ACTION_REBOOT));
	CHECK(!action_detached(ACTION_INSTALL) && !action_detached(ACTION_RESTART));
}

int
main(void)
{
	pid_t pid;

	if (mkdtemp(tmpdir) == NULL) {
		printf("FAIL: mkdtemp\n");
		return 1;
	}
	RUN(test_env_is_quoted);
	RUN(test_runs_in_current_when_present);
	RUN(test_without_current_stays_in_login_dir);
	RUN(test_exit_status_kept);
	RUN(test_detached_returns_before_command);
	RUN(test_boot_id_script_quotes_path);
	RUN(test_component_names);
	RUN(test_names_and_keys);
	pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", tmpdir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return CHECK_DONE();
}
