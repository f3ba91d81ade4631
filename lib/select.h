/*
 * select: -l/--limit patterns -> hosts, in inventory order.
 * A term is a host name, a group name, `all`, or a glob over host names (`kiosk0*`);
 * terms are comma-separated; `!term` excludes.  Pure.
 */
#ifndef FLEET_SELECT_H
#define FLEET_SELECT_H

#include "inventory.h"

/* pattern NULL or "" means all.  Returns 0 and a NULL-terminated borrowed array in *out (caller frees
 * the array only) with *n hosts; -1 with *cause when a term is malformed or the selection is empty. */
int select_hosts(const struct inventory *inv, const char *pattern, struct inv_host ***out, size_t *n, char **cause);

#endif
