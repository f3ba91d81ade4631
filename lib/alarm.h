/*
 * alarm: the on_failure hook of [fleet], run on the controller as an argv (the inventory's words,
 * expanded without command substitution, never through a shell), the run's summary as JSON on its
 * standard input.  Terminal data never reaches its arguments.
 */
#ifndef FLEET_ALARM_H
#define FLEET_ALARM_H

/* Run on_failure with text on its stdin and wait for it.  0, or -1 with *warning (caller frees): the
 * hook could not be parsed or started, or it failed; a failing hook does not change a run's result. */
int alarm_run(const char *on_failure, const char *text, char **warning);

#endif
