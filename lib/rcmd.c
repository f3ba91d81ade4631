/* rcmd: remote command strings, built from quoted parts. */
#include "rcmd.h"

#include "shquote.h"
#include "util.h"

/*
 * $1 = seconds, $2 = command.  The watchdog's trap kills its sleep when the command finished first.
 * The command runs as a background job so the shell prints no "Killed" line of its own; stdin is
 * handed to it explicitly (a background job would otherwise read /dev/null).
 */
static const char rcmd_watchdog[] =
	"( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep \"$1\" & s=$!; "
	"wait $s && { kill -TERM 0; sleep 2; kill -KILL 0; } ) </dev/null >/dev/null 2>&1 & "
	"w=$!; exec 3<&0; sh -c \"$2\" <&3 3<&- & c=$!; exec 3<&-; wait $c 2>/dev/null; rc=$?; kill $w 2>/dev/null; "
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
