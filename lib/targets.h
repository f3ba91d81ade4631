/*
 * targets: each terminal's deploy target for a bundle (lib/deploy), from the history: the keep list of
 * its pruning and, when asked, the delta against the releases it holds (lib/delta).
 */
#ifndef FLEET_TARGETS_H
#define FLEET_TARGETS_H

#include <stdbool.h>
#include <stddef.h>

#include "deploy.h"
#include "inventory.h"

struct bundle;

/*
 * One target per host for bundle b (stored at `stored`, its path in the store).  A delta that could not
 * be made is not an error (hardlink: the delta reuses files by hard link where their mode is the same): the terminal gets the full bundle and *warnings (NULL-terminated, caller frees
 * with strv_free; NULL when none) says why.  0 with *out (free with targets_free), or -1 with *cause.
 */
int targets_make(const char *state_dir, struct inv_host **hosts, size_t n, const struct bundle *b, const char *stored,
    bool delta, bool hardlink, struct deploy_target **out, char ***warnings, char **cause);
void targets_free(struct deploy_target *targets, size_t n);

#endif
