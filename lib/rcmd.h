/* rcmd: remote command strings fleetctl builds — every value quoted by lib/shquote. */
#ifndef FLEET_RCMD_H
#define FLEET_RCMD_H

/*
 * Wrap cmd so the terminal itself kills it after `seconds`: a watchdog sends TERM (then KILL) to the
 * session's process group, which sshd made for this command, so children die too.  The exit status
 * is kept, and a command killed by a signal is reported as killed by that signal.  Needs only a
 * POSIX shell with sleep and kill (busybox is enough).  Caller frees.
 */
char *rcmd_deadline(const char *cmd, long seconds);

#endif
