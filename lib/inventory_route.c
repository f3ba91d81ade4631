/*
 * inventory_route: how each host is reached, once its settings are known.
 *
 * jump = NAME names an inventory host (a ProxyJump from ssh_config goes through
 * inventory_proxyjump); relay = NAME names an inventory host that has no relay itself, and is
 * the jump host of a terminal that has none.  A jump chain that comes back to one of its hosts
 * is an error.
 */
#include "inventory_int.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

int
inventory_resolve_jumps(struct inv_load *ctx)
{
	struct inventory *inv = ctx->inv;
	size_t i;

	for (i = 0; i < inv->nhosts; i++) {
		struct inv_host *h = inv->hosts[i];
		struct inv_setting *s = &h->set[INV_JUMP];

		if (s->value == NULL || strcmp(s->value, "none") == 0)
			continue;
		if (h->kind[INV_JUMP] == INV_FROM_SSH_CONFIG) {
			if (inventory_proxyjump(ctx, s->value, s->origin, 0, &h->jump) != 0)
				return -1;
			continue;
		}
		if ((h->jump = inventory_find(inv, s->value)) == NULL) {
			free(ctx->err);
			ctx->err = xasprintf("%s: jump host '%s' is not defined", s->origin, s->value);
			return -1;
		}
	}
	return 0;
}

/*
 * relay = HOST: an inventory host, one level only.  A terminal with a relay and no jump is reached
 * through its relay as a jump host for everything that is not a bulk transfer.
 */
int
inventory_resolve_relays(struct inv_load *ctx)
{
	struct inventory *inv = ctx->inv;
	size_t i;

	for (i = 0; i < inv->nhosts; i++) {
		struct inv_host *h = inv->hosts[i];
		struct inv_setting *s = &h->set[INV_RELAY];

		if (s->value == NULL || strcmp(s->value, "none") == 0)
			continue;
		if ((h->relay = inventory_find(inv, s->value)) == NULL || h->relay == h) {
			free(ctx->err);
			ctx->err = h->relay == NULL ? xasprintf("%s: relay '%s' is not defined", s->origin, s->value) :
			    xasprintf("%s: host '%s' cannot be its own relay", s->origin, h->name);
			return -1;
		}
		if (h->jump == NULL)
			h->jump = h->relay;
	}
	for (i = 0; i < inv->nhosts; i++) {
		struct inv_host *h = inv->hosts[i];

		if (h->relay != NULL && h->relay->relay != NULL) {
			free(ctx->err);
			ctx->err = xasprintf("%s: relay '%s' has a relay itself (%s): one level only",
			    h->set[INV_RELAY].origin, h->relay->name, h->relay->relay->name);
			return -1;
		}
	}
	return 0;
}

/* Follow every host's jump chain; a chain that comes back to one of its hosts is an error. */
int
inventory_check_loops(struct inv_load *ctx)
{
	struct inventory *inv = ctx->inv;
	size_t total = inv->nhosts + inv->nimplicit, i, steps, k;
	struct inv_host **path;
	int rc = 0;

	path = xcalloc(total + 2, sizeof(*path));
	for (i = 0; i < total && rc == 0; i++) {
		struct inv_host *h = i < inv->nhosts ? inv->hosts[i] : inv->implicit[i - inv->nhosts];

		steps = 0;
		path[steps++] = h;
		while (h->jump != NULL && steps <= total) {
			for (k = 0; k < steps; k++)
				if (path[k] == h->jump)
					break;
			if (k < steps) {
				struct buf b;
				const char *org = h->set[INV_JUMP].origin;

				buf_init(&b, 0);
				for (k = 0; k < steps; k++)
					buf_addf(&b, "%s -> ", path[k]->name);
				buf_adds(&b, h->jump->name);
				free(ctx->err);
				ctx->err = xasprintf("%s: jump loop: %s", org != NULL ? org : ctx->path, b.data);
				buf_free(&b);
				rc = -1;
				break;
			}
			h = h->jump;
			path[steps++] = h;
		}
	}
	free(path);
	return rc;
}
