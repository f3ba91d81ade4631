/*
 * inventory: fleet.ini -> hosts, groups and each host's effective settings.
 *
 * inventory_load reads, then resolves, one step per file; their shared state (struct inv_load,
 * the sections, the index) is in inventory_int.h, internal to these files:
 *   inventory_parse.c      1. fleet.ini -> sections, hosts and groups (inih behind our own reader)
 *   inventory_apply.c      2. [fleet]-only keys; group members; defaults < [fleet] < [group:] < [host:] < -o
 *   inventory_sshconfig.c  3. ssh_config under all of those; ProxyJump hops as implicit hosts
 *   inventory_route.c      4. jump and relay names -> hosts, jump loops, one-level relays
 *   inventory_keys.c       the key table and the check of one value (inventory_value), for every step
 * This file: inventory_load and inventory_free, lookups, the name index and the intern pool.
 */
#include "inventory_int.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sshconfig.h"
#include "util.h"

/* ---- errors and the name index ---- */

/* Record the first error as "FILE:LINE: message" (line 0: "FILE: message"). */
int
inventory_error(struct inv_load *ctx, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (ctx->err != NULL)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		ctx->err = xasprintf("%s:%d: %s", ctx->path, line, msg);
	else
		ctx->err = xasprintf("%s: %s", ctx->path, msg);
	ctx->errline = line;
	free(msg);
	return -1;
}

static uint64_t
inventory_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

void *
inventory_index_get(const struct inv_slot *slots, size_t cap, const char *name)
{
	size_t i;

	if (cap == 0 || name == NULL)
		return NULL;
	for (i = inventory_hash(name) & (cap - 1); slots[i].name != NULL; i = (i + 1) & (cap - 1))
		if (strcmp(slots[i].name, name) == 0)
			return slots[i].ptr;
	return NULL;
}

void
inventory_index_put(struct inv_slot **slots, size_t *cap, size_t *count, const char *name, void *ptr)
{
	size_t i;

	if ((*count + 1) * 2 > *cap) {
		struct inv_slot *old = *slots;
		size_t oldcap = *cap, j;

		*cap = oldcap == 0 ? 64 : oldcap * 2;
		*slots = xcalloc(*cap, sizeof(**slots));
		*count = 0;
		for (j = 0; j < oldcap; j++)
			if (old[j].name != NULL)
				inventory_index_put(slots, cap, count, old[j].name, old[j].ptr);
		free(old);
	}
	for (i = inventory_hash(name) & (*cap - 1); (*slots)[i].name != NULL; i = (i + 1) & (*cap - 1))
		;
	(*slots)[i].name = name;
	(*slots)[i].ptr = ptr;
	(*count)++;
}

/*
 * Settings' values and origins are interned: 100,000 hosts of one group share one "600" and one
 * "fleet.ini:12" instead of holding 58 small allocations each.  The pool owns them (inventory_free).
 */
char *
inventory_intern(struct inv_index *pool, const char *str)
{
	char *p;

	if (str == NULL)
		return NULL;
	if ((p = inventory_index_get(pool->sslots, pool->scap, str)) != NULL)
		return p;
	p = xstrdup(str);
	inventory_index_put(&pool->sslots, &pool->scap, &pool->scount, p, p);
	return p;
}

/* origin is taken (freed here). */
void
inventory_setting_set(struct inv_index *pool, struct inv_host *h, int k, const char *value, char *origin,
    enum inv_origin_kind kind)
{
	h->set[k].value = inventory_intern(pool, value);
	h->set[k].origin = inventory_intern(pool, origin);
	h->kind[k] = (unsigned char)kind;
	free(origin);
}

/* ---- lookups ---- */

const char *
inv_get(const struct inv_host *h, enum inv_key key)
{
	if (h == NULL || (int)key < 0 || key >= INV__COUNT)
		return NULL;
	return h->set[key].value;
}

long
inv_get_long(const struct inv_host *h, enum inv_key key)
{
	long v;

	if (parse_long(inv_get(h, key), LONG_MIN, LONG_MAX, &v) != 0)
		return -1;
	return v;
}

struct inv_host *
inventory_find(const struct inventory *inv, const char *name)
{
	if (inv == NULL || inv->index == NULL)
		return NULL;
	return inventory_index_get(inv->index->hslots, inv->index->hcap, name);
}

const struct inv_group *
inventory_find_group(const struct inventory *inv, const char *name)
{
	if (inv == NULL || inv->index == NULL)
		return NULL;
	return inventory_index_get(inv->index->gslots, inv->index->gcap, name);
}

/* ---- loading ---- */

/* After reading: groups, the layers of settings, ssh_config under them, then who reaches whom. */
static int
inventory_resolve(struct inv_load *ctx)
{
	if (inventory_build_groups(ctx) != 0 || inventory_apply_layers(ctx) != 0 ||
	    inventory_apply_ssh_config(ctx) != 0)
		return -1;
	if (inventory_resolve_jumps(ctx) != 0 || inventory_resolve_relays(ctx) != 0 || inventory_check_loops(ctx) != 0)
		return -1;
	return 0;
}

static void
inventory_load_free(struct inv_load *ctx)
{
	size_t i;

	for (i = 0; i < ctx->nsec; i++) {
		for (size_t k = 0; k < ctx->sec[i]->nkv; k++)
			free(ctx->sec[i]->kv[k].val);
		free(ctx->sec[i]->kv);
		free(ctx->sec[i]->name);
		free(ctx->sec[i]);
	}
	free(ctx->sec);
	for (i = 0; i < ctx->ngrp; i++) {
		free(ctx->grp[i].name);
		free(ctx->grp[i].hosts);
		free(ctx->grp[i].incl);
		free(ctx->grp[i].incl_line);
		free(ctx->grp[i].mem);
	}
	free(ctx->grp);
	free(ctx->grpslots);
	free(ctx->pub_grp);
	free(ctx->host_addr);
	free(ctx->host_addr_line);
	for (i = 0; i < ctx->nhops; i++)
		free(ctx->hops[i].user);
	free(ctx->hops);
	sshconfig_free(ctx->sshcfg);
	free(ctx->line);
}

int
inventory_load(const char *path, const struct inventory_opts *opts, struct inventory **out, char **cause)
{
	struct inv_load ctx;
	int rc = -1;

	memset(&ctx, 0, sizeof(ctx));
	ctx.path = path;
	ctx.opts = opts;
	ctx.last_key = -1;
	ctx.inv = xcalloc(1, sizeof(*ctx.inv));
	ctx.inv->path = xstrdup(path);
	ctx.inv->index = xcalloc(1, sizeof(*ctx.inv->index));
	if (inventory_parse(&ctx) != 0 || inventory_fleet_keys(&ctx) != 0 || inventory_resolve(&ctx) != 0)
		goto out;
	*out = ctx.inv;
	ctx.inv = NULL;
	rc = 0;
out:
	inventory_load_free(&ctx);
	if (rc != 0) {
		inventory_free(ctx.inv);
		if (ctx.err == NULL)
			ctx.err = xasprintf("%s: cannot load inventory", path);
		if (cause != NULL && *cause == NULL) {
			*cause = ctx.err;
			ctx.err = NULL;
		}
	}
	free(ctx.err);
	return rc;
}

static void
inventory_host_free(struct inv_host *h)
{
	if (h == NULL)
		return;
	/* set[].value and .origin belong to the intern pool */
	free(h->name);
	strv_free(h->groups);
	free(h->warning);
	free(h);
}

void
inventory_free(struct inventory *inv)
{
	size_t i;

	if (inv == NULL)
		return;
	for (i = 0; i < inv->nhosts; i++)
		inventory_host_free(inv->hosts[i]);
	free(inv->hosts);
	for (i = 0; i < inv->nimplicit; i++)
		inventory_host_free(inv->implicit[i]);
	free(inv->implicit);
	for (i = 0; i < inv->ngroups; i++) {
		free(inv->groups[i]->name);
		strv_free(inv->groups[i]->members);
		free(inv->groups[i]);
	}
	free(inv->groups);
	if (inv->index != NULL) {
		for (i = 0; i < inv->index->scap; i++)
			free((char *)inv->index->sslots[i].ptr);
		free(inv->index->sslots);
		free(inv->index->hslots);
		free(inv->index->gslots);
		free(inv->index);
	}
	free(inv->path);
	free(inv->state_dir);
	free(inv->ssh_config);
	free(inv->on_failure);
	strv_free(inv->require_signature);
	free(inv->history_remote);
	free(inv->bundle_remote);
	free(inv);
}
