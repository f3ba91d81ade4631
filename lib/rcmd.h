/* rcmd: remote command strings fleetctl builds — every value quoted by lib/shquote. */
#ifndef FLEET_RCMD_H
#define FLEET_RCMD_H

#include <stdint.h>

/*
 * Wrap cmd so the terminal itself kills it after `seconds`: timeout(1) where the terminal has it (GNU's
 * kills the command's whole process group), else a shell watchdog (see rcmd.c); TERM first, KILL two
 * seconds later.  The exit status
 * is kept, and a command killed by a signal is reported as killed by that signal.  Needs only a
 * POSIX shell with sleep and kill (busybox is enough).  Caller frees.
 */
char *rcmd_deadline(const char *cmd, long seconds);
/* Did the deadline end it?  timeout(1) exits 124, or the command died of TERM/KILL at the deadline. */
int rcmd_timed_out(int exit_code, const char *exit_signal, int64_t elapsed_ms, long seconds);

#endif
