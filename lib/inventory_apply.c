/*
 * inventory_apply: the sections read from fleet.ini -> each host's effective settings.
 *
 * Groups first (transitive members, in inventory order), then the layers, lowest first:
 * built-in defaults < [fleet] < [group:] in section order < [host:] < -o.  Each setting keeps its
 * origin ("fleet.ini:12", "-o", "default") and kind.  ssh_config comes after (inventory_sshconfig.c)
 * and fills only what is still at its default.  The [fleet]-only keys go to the inventory itself.
 */
#include "inventory_int.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* ---- groups ---- */

static int
inventory_cmp_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Add host index h to g's members unless seen (one mark byte per host, cleared by the caller). */
static void
inventory_member_add(struct inv_grp *g, size_t *alloc, char *seen, size_t h)
{
	if (seen[h])
		return;
	seen[h] = 1;
	if (g->nmem == *alloc) {
		*alloc = *alloc ? 2 * *alloc : 16;
		g->mem = xrealloc(g->mem, *alloc * sizeof(*g->mem));
	}
	g->mem[g->nmem++] = h;
}

/*
 * Transitive members of group gi as a sorted list of host indices; cycles are errors.  seen is a
 * zeroed byte per host, zeroed again on return: the work is linear in the members, not in the hosts
 * times the groups.
 */
static int
inventory_group_members(struct inv_load *ctx, size_t gi, char *seen)
{
	struct inv_grp *g = &ctx->grp[gi];
	size_t i, j, alloc = 0;

	if (g->state == 2)
		return 0;
	g->state = 1;
	for (i = 0; i < g->nincl; i++) {
		struct inv_grp *in = &ctx->grp[g->incl[i]];

		if (in->line == 0)
			return inventory_error(ctx, g->incl_line[i], "group '%s' includes undefined group '%s'",
			    g->name, in->name);
		if (in == g)
			return inventory_error(ctx, g->incl_line[i], "group '%s' includes itself", g->name);
		if (in->state == 1)
			return inventory_error(ctx, g->incl_line[i], "group '%s' includes '%s', which includes "
			    "'%s' (a cycle)", g->name, in->name, g->name);
		if (inventory_group_members(ctx, g->incl[i], seen) != 0)
			return -1;
	}
	for (i = 0; i < g->nhosts; i++)
		inventory_member_add(g, &alloc, seen, g->hosts[i]);
	for (i = 0; i < g->nincl; i++) {
		const struct inv_grp *in = &ctx->grp[g->incl[i]];

		for (j = 0; j < in->nmem; j++)
			inventory_member_add(g, &alloc, seen, in->mem[j]);
	}
	for (i = 0; i < g->nmem; i++)
		seen[g->mem[i]] = 0;
	if (g->nmem > 1)
		qsort(g->mem, g->nmem, sizeof(*g->mem), inventory_cmp_index);
	g->state = 2;
	return 0;
}

int
inventory_build_groups(struct inv_load *ctx)
{
	struct inventory *inv = ctx->inv;
	size_t gi, i, *ngroups, *alloc;
	char *seen = xcalloc(inv->nhosts ? inv->nhosts : 1, 1);
	int rc = -1;

	ngroups = xcalloc(inv->nhosts ? inv->nhosts : 1, sizeof(*ngroups));
	alloc = xcalloc(inv->nhosts ? inv->nhosts : 1, sizeof(*alloc));
	for (gi = 0; gi < ctx->ngrp; gi++)
		if (ctx->grp[gi].line != 0 && inventory_group_members(ctx, gi, seen) != 0)
			goto out;
	for (i = 0; i < inv->nhosts; i++)
		inv->hosts[i]->groups = xcalloc(1, sizeof(char *));
	/* inv->groups holds defined groups in definition order. */
	for (gi = 0; gi < inv->ngroups; gi++) {
		struct inv_group *g = inv->groups[gi];
		const struct inv_grp *cg = &ctx->grp[ctx->pub_grp[gi]];

		g->members = xcalloc(cg->nmem + 1, sizeof(char *));
		for (i = 0; i < cg->nmem; i++) {
			size_t h = cg->mem[i];

			g->members[i] = xstrdup(inv->hosts[h]->name);
			/* strv_push would walk the list each time: append with doubling */
			if (ngroups[h] + 2 > alloc[h]) {
				alloc[h] = alloc[h] ? 2 * alloc[h] : 4;
				inv->hosts[h]->groups = xrealloc(inv->hosts[h]->groups, alloc[h] * sizeof(char *));
			}
			inv->hosts[h]->groups[ngroups[h]++] = xstrdup(g->name);
			inv->hosts[h]->groups[ngroups[h]] = NULL;
		}
		if (inventory_find(inv, g->name) != NULL) {
			inventory_error(ctx, cg->line, "'%s' names both a group and a host", g->name);
			goto out;
		}
	}
	rc = 0;
out:
	free(ngroups);
	free(alloc);
	free(seen);
	return rc;
}

/* ---- the layers of host settings ---- */

char *
inventory_local_user(void)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *u;

	if (pw != NULL && pw->pw_name != NULL)
		return xstrdup(pw->pw_name);
	u = getenv("USER");
	return u != NULL && *u != '\0' ? xstrdup(u) : NULL;
}

void
inventory_defaults(struct inv_index *pool, struct inv_host *h, const char *user, const char *known_hosts)
{
	static const struct { int key; const char *value; } defs[] = {
		{ INV_PORT, "22" }, { INV_ROOT, "/opt/fleet" }, { INV_KEEP, "5" },
		{ INV_CONNECT_TIMEOUT, "10" }, { INV_COMMAND_TIMEOUT, "600" }, { INV_PARALLEL, "50" },
		{ INV_STRICT_HOST_KEYS, "yes" }, { INV_IDENTITIES_ONLY, "no" },
		{ INV_GLOBAL_KNOWN_HOSTS, "/etc/ssh/ssh_known_hosts" },
		{ INV_KEEPALIVE_INTERVAL, "0" }, { INV_KEEPALIVE_COUNT, "3" },
		{ INV_HEALTH_RETRIES, "3" }, { INV_HEALTH_INTERVAL, "5" },
		{ INV_BOOT_ID, "/proc/sys/kernel/random/boot_id" },
		{ INV_RELAY_CLIENT, "auto" }, { INV_RELAY_PARALLEL, "10" },
	};
	size_t i;

	/* the address defaults to the name: borrowed from the host, not a pool copy of every name */
	h->set[INV_ADDRESS].value = h->name;
	h->set[INV_ADDRESS].origin = inventory_intern(pool, "default");
	h->kind[INV_ADDRESS] = INV_FROM_DEFAULT;
	if (user != NULL)
		inventory_setting_set(pool, h, INV_USER, user, xstrdup("default"), INV_FROM_DEFAULT);
	if (known_hosts != NULL)
		inventory_setting_set(pool, h, INV_KNOWN_HOSTS, known_hosts, xstrdup("default"), INV_FROM_DEFAULT);
	for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		inventory_setting_set(pool, h, defs[i].key, defs[i].value, xstrdup("default"), INV_FROM_DEFAULT);
}

/* Apply a section's host keys to h.  skip_conn: leave address/user/port/jump alone (implicit hops). */
int
inventory_apply_section(struct inv_load *ctx, const struct inv_section *sec, struct inv_host *h,
    enum inv_origin_kind kind, bool skip_conn)
{
	char *loc, *norm = NULL, *cause = NULL;
	int k;

	for (k = 0; k < INV__COUNT; k++) {
		const struct inv_kv *kv = inventory_section_kv(sec, k);

		if (kv == NULL)
			continue;
		if (skip_conn && (k == INV_ADDRESS || k == INV_USER || k == INV_PORT || k == INV_JUMP || k == INV_RELAY))
			continue;
		loc = xasprintf("%s:%d", ctx->path, kv->line);
		/* Validated when read; normalised again here (tilde expansion, list form). */
		if (inventory_value(k, kv->val, loc, &norm, &cause) != 0) {
			free(loc);
			if (ctx->err == NULL)
				ctx->err = cause;
			else
				free(cause);
			ctx->errline = kv->line;
			return -1;
		}
		inventory_setting_set(ctx->inv->index, h, k, norm, loc, kind);
		free(norm);
		norm = NULL;
	}
	return 0;
}

static int
inventory_apply_overrides(struct inv_load *ctx, struct inv_host *h)
{
	const struct inventory_opts *o = ctx->opts;
	char *norm = NULL, *cause = NULL;
	size_t i;
	int k;

	for (i = 0; o != NULL && i < o->noverrides; i++) {
		if ((k = inv_key_lookup(o->overrides[i].key)) < 0) {
			free(ctx->err);
			ctx->err = xasprintf("-o: unknown key '%s'", o->overrides[i].key);
			return -1;
		}
		if (inventory_value(k, o->overrides[i].value, "-o", &norm, &cause) != 0) {
			free(ctx->err);
			ctx->err = cause;
			return -1;
		}
		inventory_setting_set(ctx->inv->index, h, k, norm, xstrdup("-o"), INV_FROM_CLI);
		free(norm);
		norm = NULL;
	}
	return 0;
}

/* Every host's settings, layer on layer: each layer overwrites what the ones below it set. */
int
inventory_apply_layers(struct inv_load *ctx)
{
	struct inventory *inv = ctx->inv;
	char *luser, *kh = NULL;
	const char *home;
	size_t i, j, gi;
	int rc = -1;

	luser = inventory_local_user();
	if ((home = inventory_home()) != NULL)
		kh = xasprintf("%s/.ssh/known_hosts", home);
	for (i = 0; i < inv->nhosts; i++)
		inventory_defaults(inv->index, inv->hosts[i], luser, kh);

	/* [fleet] < [group:] in section order < [host:] < -o */
	for (i = 0; i < ctx->nsec; i++)
		if (ctx->sec[i]->type == SEC_FLEET)
			for (j = 0; j < inv->nhosts; j++)
				if (inventory_apply_section(ctx, ctx->sec[i], inv->hosts[j], INV_FROM_FLEET, false) != 0)
					goto out;
	for (i = 0; i < ctx->nsec; i++) {
		if (ctx->sec[i]->type != SEC_GROUP)
			continue;
		gi = ctx->sec[i]->group;
		for (j = 0; j < ctx->grp[gi].nmem; j++)
			if (inventory_apply_section(ctx, ctx->sec[i], inv->hosts[ctx->grp[gi].mem[j]], INV_FROM_GROUP,
			    false) != 0)
				goto out;
	}
	for (i = 0; i < ctx->nsec; i++) {
		struct inv_section *sec = ctx->sec[i];

		if (sec->type != SEC_HOST)
			continue;
		if (inventory_apply_section(ctx, sec, sec->host, INV_FROM_HOST, false) != 0)
			goto out;
		/* applied once, to its one host: its text is not needed again (100,000 sections) */
		for (j = 0; j < sec->nkv; j++)
			free(sec->kv[j].val);
		free(sec->kv);
		sec->kv = NULL;
		sec->nkv = 0;
	}
	for (j = 0; j < inv->nhosts; j++)
		if (inventory_apply_overrides(ctx, inv->hosts[j]) != 0)
			goto out;
	rc = 0;
out:
	free(luser);
	free(kh);
	return rc;
}

/* ---- [fleet]-only keys ---- */

/* [fleet]-only keys, last [fleet] section wins for each. */
int
inventory_fleet_keys(struct inv_load *ctx)
{
	struct inventory *inv = ctx->inv;
	const char *v[K__COUNT] = { 0 };
	char *dir, *slash, *cause = NULL;
	size_t i;

	for (i = 0; i < ctx->nsec; i++) {
		if (ctx->sec[i]->type != SEC_FLEET)
			continue;
		for (int k = K_STATE_DIR; k <= K_BUNDLE_REMOTE; k++)
			if (inventory_section_value(ctx->sec[i], k) != NULL)
				v[k] = inventory_section_value(ctx->sec[i], k);
	}
	if (v[K_SSH_CONFIG] != NULL && inventory_value(K_SSH_CONFIG, v[K_SSH_CONFIG], ctx->path, &inv->ssh_config,
	    &cause) != 0)
		goto fail;
	if (v[K_ON_FAILURE] != NULL)
		inv->on_failure = xstrdup(v[K_ON_FAILURE]);
	if (v[K_REQUIRE_SIGNATURE] != NULL) {
		char *list;
		size_t nkeys;

		if (inventory_value(K_REQUIRE_SIGNATURE, v[K_REQUIRE_SIGNATURE], ctx->path, &list, &cause) != 0)
			goto fail;
		inv->require_signature = str_split_commas(list, &nkeys);
		free(list);
		/* relative to the directory holding fleet.ini, as state_dir */
		for (size_t s2 = 0; s2 < nkeys; s2++) {
			const char *slash2 = strrchr(ctx->path, '/');

			if (inv->require_signature[s2][0] != '/' && slash2 != NULL) {
				char *abs = xasprintf("%.*s/%s", (int)(slash2 - ctx->path), ctx->path, inv->require_signature[s2]);

				free(inv->require_signature[s2]);
				inv->require_signature[s2] = abs;
			}
		}
	}
	/* history_remote and bundle_remote: a relative path is relative to the directory holding fleet.ini. */
	for (int k = K_HISTORY_REMOTE; k <= K_BUNDLE_REMOTE; k++) {
		char *val, **dst = k == K_HISTORY_REMOTE ? &inv->history_remote : &inv->bundle_remote;
		const char *slash3 = strrchr(ctx->path, '/');

		if (v[k] == NULL)
			continue;
		if (inventory_value(k, v[k], ctx->path, &val, &cause) != 0)
			goto fail;
		if (val[0] != '/' && strstr(val, "://") == NULL && slash3 != NULL) {
			*dst = xasprintf("%.*s/%s", (int)(slash3 - ctx->path), ctx->path, val);
			free(val);
		} else
			*dst = val;
	}
	/* state_dir: relative paths are relative to the directory holding fleet.ini. */
	dir = xstrdup(ctx->path);
	if ((slash = strrchr(dir, '/')) != NULL)
		slash[slash == dir ? 1 : 0] = '\0';
	else {
		free(dir);
		dir = xstrdup(".");
	}
	if (v[K_STATE_DIR] != NULL) {
		char *sd;

		if (inventory_value(K_STATE_DIR, v[K_STATE_DIR], ctx->path, &sd, &cause) != 0) {
			free(dir);
			goto fail;
		}
		if (sd[0] == '/')
			inv->state_dir = sd;
		else {
			inv->state_dir = xasprintf("%s/%s", dir, sd);
			free(sd);
		}
	} else
		inv->state_dir = xasprintf("%s/.fleet", dir);
	free(dir);
	return 0;
fail:
	free(ctx->err);
	ctx->err = cause;
	return -1;
}
