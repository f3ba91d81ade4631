/* alarm: run the inventory's on_failure hook (see alarm.h). */
#include "alarm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

#include "util.h"

int
alarm_run(const char *on_failure, const char *text, char **warning)
{
	wordexp_t we;
	int pipefd[2] = { -1, -1 }, status, rc = -1;
	pid_t pid;

	*warning = NULL;
	if (wordexp(on_failure, &we, WRDE_NOCMD) != 0 || we.we_wordc == 0) {
		*warning = xasprintf("on_failure: cannot parse '%s'", on_failure);
		return -1;
	}
	if (pipe(pipefd) != 0 || (pid = fork()) < 0) {
		*warning = xasprintf("on_failure: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		dup2(pipefd[0], STDIN_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execvp(we.we_wordv[0], we.we_wordv);
		_exit(127);
	}
	close(pipefd[0]);
	pipefd[0] = -1;
	{
		size_t off = 0, len = strlen(text);

		while (off < len) {
			ssize_t w = write(pipefd[1], text + off, len - off);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* A failing hook is reported; it does not change the run's result. */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		*warning = xasprintf("on_failure '%s' failed (%s %d)", we.we_wordv[0],
		    WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	else
		rc = 0;
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	wordfree(&we);
	return rc;
}
