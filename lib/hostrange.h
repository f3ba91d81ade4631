/*
 * hostrange: the names of hosts and groups, and the Ansible-style numeric ranges of host patterns
 * ("kiosk[01:40].site" -> kiosk01.site ... kiosk40.site).  Pure: no I/O.
 */
#ifndef FLEET_HOSTRANGE_H
#define FLEET_HOSTRANGE_H

#include <stdbool.h>
#include <stddef.h>

/* A host or group name: 1 or more of letters, digits, '.', '-', '_'. */
bool hostrange_name_ok(const char *s);

/*
 * Expand one host pattern: a start with a leading zero fixes the width (and then both ends must have
 * it); several ranges multiply, the leftmost varies slowest; at most 1,000,000 names.  0 and a
 * NULL-terminated array in *names (caller frees with strv_free; n may be NULL), or -1 with *cause
 * ("bad range '[40:01]' in 'x[40:01]': start is greater than end").
 */
int hostrange_expand(const char *pattern, char ***names, size_t *n, char **cause);

#endif
