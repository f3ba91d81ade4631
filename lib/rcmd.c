/* rcmd: remote command strings, built from quoted parts. */
#include "rcmd.h"

#include <stdbool.h>
#include <string.h>

#include "shquote.h"
#include "util.h"

/*
 * $1 = seconds, $2 = command.  The watchdog looks once a second whether the command is still there and
 * leaves by itself when it is not: stopping it needs no signal (a signal can race its start and leave
 * an orphaned sleep behind).  With setsid(1) (busybox and util-linux have it) the command gets a
 * process group of its own; at the deadline the watchdog sends it TERM, then KILL two seconds later,
 * so children die too and nothing around the wrapper is touched.  Without setsid it falls back to TERM
 * for the whole session's group (a script around the wrapper that must live on traps TERM, see
 * lib/release.c) and KILL for the command alone.
 * The command runs as a background job so the shell prints no "Killed" line of its own; stdin is
 * handed to it explicitly (a background job would otherwise read /dev/null).
 */
static const char rcmd_watchdog[] =
	"exec 3<&0; if command -v setsid >/dev/null 2>&1; then setsid sh -c \"$2\" <&3 3<&- & c=$!; g=-$c; "
	"else sh -c \"$2\" <&3 3<&- & c=$!; g=0; fi; exec 3<&-; "
	"( trap '' TERM; n=0; while [ $n -lt \"$1\" ]; do sleep 1; kill -0 $c 2>/dev/null || exit 0; n=$((n+1)); "
	"done; kill -TERM $g; sleep 2; if [ \"$g\" = 0 ]; then kill -KILL $c; else kill -KILL $g; fi; exit 0 ) "
	"</dev/null >/dev/null 2>&1 & "
	"wait $c 2>/dev/null; rc=$?; "
	"[ $rc -gt 128 ] && [ $rc -lt 160 ] && kill -$((rc-128)) $$; exit $rc";

char *
rcmd_deadline(const char *cmd, long seconds)
{
	struct buf b;

	buf_init(&b, 0);
	/*
	 * timeout(1) (coreutils or busybox) costs one process where the shell watchdog costs four: use it
	 * where the terminal has it.  exec: it replaces the login shell, so a signal that ends it reaches
	 * sshd as exit-signal.  The braces keep the whole thing one command for an `&&` before it.
	 */
	buf_addf(&b, "{ if command -v timeout >/dev/null 2>&1; then exec timeout -k 2 %ld sh -c ", seconds);
	shquote_add(&b, cmd);
	buf_adds(&b, "; fi; exec sh -c ");
	shquote_add(&b, rcmd_watchdog);
	buf_addf(&b, " fleetctl %ld ", seconds);
	shquote_add(&b, cmd);
	buf_adds(&b, "; }");
	return buf_detach(&b);
}

int
rcmd_timed_out(int exit_code, const char *exit_signal, int64_t elapsed_ms, long seconds)
{
	bool by_watchdog = exit_code == 124 ||
	    (exit_signal != NULL && (strcmp(exit_signal, "TERM") == 0 || strcmp(exit_signal, "KILL") == 0));

	return by_watchdog && elapsed_ms >= seconds * 1000 - 500;
}
