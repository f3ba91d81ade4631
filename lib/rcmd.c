/* rcmd: remote command strings, built from quoted parts. */
#include "rcmd.h"

#include "shquote.h"
#include "util.h"

/*
 * $1 = seconds, $2 = command.  The watchdog looks once a second whether the wrapper is still there and
 * leaves by itself when it is not: stopping it needs no signal (a signal can race its start and leave
 * an orphaned sleep behind).
 * The command runs as a background job so the shell prints no "Killed" line of its own; stdin is
 * handed to it explicitly (a background job would otherwise read /dev/null).
 */
static const char rcmd_watchdog[] =
	"P=$$; ( n=0; while [ $n -lt \"$1\" ]; do sleep 1; kill -0 $P 2>/dev/null || exit 0; n=$((n+1)); done; "
	"kill -TERM 0; sleep 2; kill -KILL 0 ) </dev/null >/dev/null 2>&1 & "
	"exec 3<&0; sh -c \"$2\" <&3 3<&- & c=$!; exec 3<&-; wait $c 2>/dev/null; rc=$?; "
	"[ $rc -gt 128 ] && [ $rc -lt 160 ] && kill -$((rc-128)) $$; exit $rc";

char *
rcmd_deadline(const char *cmd, long seconds)
{
	struct buf b;

	buf_init(&b, 0);
	/* exec: the wrapper replaces the login shell, so a signal that kills it reaches sshd as exit-signal */
	buf_adds(&b, "exec sh -c ");
	shquote_add(&b, rcmd_watchdog);
	buf_addf(&b, " fleetctl %ld ", seconds);
	shquote_add(&b, cmd);
	return buf_detach(&b);
}
