/*
 * inventory_sshconfig: ssh_config (lib/sshconfig) under fleet.ini.
 *
 * ssh_config fills a host's keys that fleet.ini and -o left at their defaults, with the origin
 * "FILE:LINE" of the ssh_config line.  A ProxyJump chain is resolved here: its first hop may be an
 * inventory host; every other hop becomes an implicit host (inv->implicit), shared between hosts
 * whose chains name it the same way, with [fleet]'s settings but not its address, user, port or jump.
 */
#include "inventory_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sshconfig.h"
#include "util.h"

/* Limits that keep a typo ("kiosk[1:99999999]") from eating the machine. */
#define INV_MAX_HOPS     16
#define INV_MAX_IMPLICIT 10000

/* ---- filling from ssh_config ---- */

/* Keys filled from ssh_config when nothing above the defaults set them. */
static const struct { enum sshcfg_key s; enum inv_key k; } inv_sshmap[] = {
	{ SSHCFG_HOSTNAME, INV_ADDRESS },
	{ SSHCFG_USER, INV_USER },
	{ SSHCFG_PORT, INV_PORT },
	{ SSHCFG_IDENTITIES_ONLY, INV_IDENTITIES_ONLY },
	{ SSHCFG_IDENTITY_AGENT, INV_IDENTITY_AGENT },
	{ SSHCFG_USER_KNOWN_HOSTS_FILE, INV_KNOWN_HOSTS },
	{ SSHCFG_GLOBAL_KNOWN_HOSTS_FILE, INV_GLOBAL_KNOWN_HOSTS },
	{ SSHCFG_STRICT_HOST_KEY_CHECKING, INV_STRICT_HOST_KEYS },
	{ SSHCFG_CONNECT_TIMEOUT, INV_CONNECT_TIMEOUT },
	{ SSHCFG_SERVER_ALIVE_INTERVAL, INV_KEEPALIVE_INTERVAL },
	{ SSHCFG_SERVER_ALIVE_COUNT_MAX, INV_KEEPALIVE_COUNT },
	{ SSHCFG_PROXYJUMP, INV_JUMP },
};

static bool
inventory_unset(const struct inv_host *h, int k)
{
	return h->set[k].value == NULL || h->kind[k] == INV_FROM_DEFAULT;
}

/* Fill h's keys that fleet.ini and -o left alone from ssh_config.  port/user: known so far. */
static int
inventory_apply_ssh(struct inv_load *ctx, struct inv_host *h, const char *user, int port)
{
	struct sshcfg_result res;
	char *cause = NULL, *norm = NULL, *v;
	size_t i;
	int rc = -1;

	memset(&res, 0, sizeof(res));
	if (sshconfig_resolve(ctx->sshcfg, h->name, user, port, &res, &cause) != 0) {
		free(ctx->err);
		ctx->err = cause != NULL ? cause : xasprintf("%s: cannot resolve ssh_config", h->name);
		return -1;
	}
	for (i = 0; i < sizeof(inv_sshmap) / sizeof(inv_sshmap[0]); i++) {
		const struct sshcfg_value *sv = &res.v[inv_sshmap[i].s];
		int k = inv_sshmap[i].k;

		if (sv->value == NULL || !inventory_unset(h, k))
			continue;
		v = xstrdup(sv->value);
		/* ssh_config keywords are case-insensitive: "Yes" means yes. */
		if (inv_keys[k].flags & (KF_YESNO | KF_SHK))
			for (char *c = v; *c != '\0'; c++)
				*c = (char)tolower((unsigned char)*c);
		if (k == INV_JUMP) {
			/* a ProxyJump chain is resolved later; keep it verbatim */
			norm = v;
			v = NULL;
		} else if (inventory_value(k, v, sv->origin != NULL ? sv->origin : "ssh_config", &norm, &cause) != 0) {
			free(v);
			free(ctx->err);
			ctx->err = xasprintf("%s (for host '%s')", cause, h->name);
			free(cause);
			goto out;
		}
		free(v);
		inventory_setting_set(ctx->inv->index, h, k, norm, xstrdup(sv->origin != NULL ? sv->origin : "ssh_config"),
		    INV_FROM_SSH_CONFIG);
		free(norm);
		norm = NULL;
	}
	if (res.nidentity_files > 0 && inventory_unset(h, INV_IDENTITY)) {
		struct buf b;

		buf_init(&b, 0);
		for (i = 0; i < res.nidentity_files; i++)
			buf_addf(&b, "%s%s", i > 0 ? ", " : "", res.identity_files[i].value);
		inventory_setting_set(ctx->inv->index, h, INV_IDENTITY, b.data,
		    xstrdup(res.identity_files[0].origin != NULL ? res.identity_files[0].origin : "ssh_config"),
		    INV_FROM_SSH_CONFIG);
		buf_free(&b);
	}
	if (res.warning != NULL) {
		free(h->warning);
		h->warning = xstrdup(res.warning);
	}
	rc = 0;
out:
	sshcfg_result_free(&res);
	return rc;
}

/* After fleet.ini and -o: each inventory host from ssh_config, with the user and port known so far. */
int
inventory_apply_ssh_config(struct inv_load *ctx)
{
	struct inventory *inv = ctx->inv;
	const char *sshpath;
	char *cause = NULL;
	size_t j;

	sshpath = ctx->opts != NULL && ctx->opts->ssh_config != NULL ? ctx->opts->ssh_config : inv->ssh_config;
	if (sshpath != NULL && strcmp(sshpath, "none") == 0)
		return 0;
	if (sshconfig_load(sshpath, &ctx->sshcfg, &cause) != 0) {
		free(ctx->err);
		ctx->err = cause != NULL ? cause : xstrdup("cannot load ssh_config");
		return -1;
	}
	for (j = 0; j < inv->nhosts; j++) {
		struct inv_host *h = inv->hosts[j];
		const char *u = h->kind[INV_USER] != INV_FROM_DEFAULT ? h->set[INV_USER].value : NULL;
		int port = h->kind[INV_PORT] != INV_FROM_DEFAULT ? (int)inv_get_long(h, INV_PORT) : 0;

		if (inventory_apply_ssh(ctx, h, u, port) != 0)
			return -1;
	}
	return 0;
}

/* ---- ProxyJump ---- */

/* Split one ProxyJump hop "[ssh://][user@]host[:port]". */
static int
inventory_hop_parse(const char *hop, char **user, char **host, int *port)
{
	const char *at, *h, *colon;
	char *portstr = NULL;
	long l;

	*user = NULL;
	*host = NULL;
	*port = 0;
	if (strncmp(hop, "ssh://", 6) == 0)
		hop += 6;
	if ((at = strrchr(hop, '@')) != NULL) {
		if (at == hop)
			return -1;
		*user = xstrndup(hop, (size_t)(at - hop));
		h = at + 1;
	} else
		h = hop;
	if (*h == '[') {
		const char *close = strchr(h, ']');

		if (close == NULL || close == h + 1)
			goto fail;
		*host = xstrndup(h + 1, (size_t)(close - h - 1));
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] != '\0' && colon == NULL)
			goto fail;
	} else {
		colon = strchr(h, ':');
		*host = colon != NULL ? xstrndup(h, (size_t)(colon - h)) : xstrdup(h);
	}
	if (**host == '\0')
		goto fail;
	if (colon != NULL) {
		portstr = xstrdup(colon + 1);
		if (strchr(portstr, '/') != NULL)
			portstr[strcspn(portstr, "/")] = '\0';   /* ssh:// URIs may end in '/' */
		if (parse_long(portstr, 1, 65535, &l) != 0)
			goto fail;
		*port = (int)l;
	}
	free(portstr);
	return 0;
fail:
	free(portstr);
	free(*user);
	free(*host);
	*user = *host = NULL;
	return -1;
}

/* An implicit hop: the host named in a ProxyJump that is not in the inventory. */
static int
inventory_implicit(struct inv_load *ctx, const char *name, const char *user, int port,
    struct inv_host *forced, const char *origin, int depth, struct inv_host **out)
{
	struct inventory *inv = ctx->inv;
	struct inv_host *h;
	char *luser = NULL, *portstr;
	size_t i;

	for (i = 0; i < ctx->nhops; i++) {
		struct inv_hop *hp = &ctx->hops[i];

		if (strcmp(hp->host->name, name) == 0 && hp->port == port && hp->forced == forced &&
		    ((hp->user == NULL && user == NULL) || (hp->user != NULL && user != NULL &&
		    strcmp(hp->user, user) == 0))) {
			*out = hp->host;
			return 0;
		}
	}
	if (inv->nimplicit >= INV_MAX_IMPLICIT) {
		free(ctx->err);
		ctx->err = xasprintf("%s: too many ProxyJump hosts", origin);
		return -1;
	}
	h = xcalloc(1, sizeof(*h));
	h->name = xstrdup(name);
	h->implicit = true;
	h->order = inv->nimplicit;
	h->groups = xcalloc(1, sizeof(char *));
	inv->implicit = xrealloc(inv->implicit, (inv->nimplicit + 1) * sizeof(*inv->implicit));
	inv->implicit[inv->nimplicit++] = h;
	ctx->hops = xrealloc(ctx->hops, (ctx->nhops + 1) * sizeof(*ctx->hops));
	ctx->hops[ctx->nhops].host = h;
	ctx->hops[ctx->nhops].user = xstrdup(user);
	ctx->hops[ctx->nhops].port = port;
	ctx->hops[ctx->nhops].forced = forced;
	ctx->nhops++;

	luser = inventory_local_user();
	{
		const char *home = inventory_home();
		char *kh = home != NULL ? xasprintf("%s/.ssh/known_hosts", home) : NULL;

		inventory_defaults(ctx->inv->index, h, luser, kh);
		free(kh);
	}
	free(luser);
	/* [fleet] settings reach hops too (host keys, timeouts), but not who and where to connect to. */
	for (i = 0; i < ctx->nsec; i++)
		if (ctx->sec[i]->type == SEC_FLEET && inventory_apply_section(ctx, ctx->sec[i], h, INV_FROM_FLEET,
		    true) != 0)
			return -1;
	if (inventory_apply_ssh(ctx, h, user, port) != 0)
		return -1;
	if (user != NULL)
		inventory_setting_set(ctx->inv->index, h, INV_USER, user, xstrdup(origin), INV_FROM_SSH_CONFIG);
	if (port != 0) {
		portstr = xasprintf("%d", port);
		inventory_setting_set(ctx->inv->index, h, INV_PORT, portstr, xstrdup(origin), INV_FROM_SSH_CONFIG);
		free(portstr);
	}
	if (forced != NULL) {
		inventory_setting_set(ctx->inv->index, h, INV_JUMP, forced->name, xstrdup(origin), INV_FROM_SSH_CONFIG);
		h->jump = forced;
	} else if (h->set[INV_JUMP].value != NULL && strcmp(h->set[INV_JUMP].value, "none") != 0) {
		if (inventory_proxyjump(ctx, h->set[INV_JUMP].value, h->set[INV_JUMP].origin, depth + 1,
		    &h->jump) != 0)
			return -1;
	}
	*out = h;
	return 0;
}

/* Resolve a ProxyJump chain "a,b": returns the last hop (b, whose jump is a). */
int
inventory_proxyjump(struct inv_load *ctx, const char *spec, const char *origin, int depth,
    struct inv_host **out)
{
	char **hops, *user = NULL, *host = NULL;
	struct inv_host *prev = NULL, *h;
	size_t i, n;
	int port, rc = -1;

	if (depth > INV_MAX_HOPS) {
		free(ctx->err);
		ctx->err = xasprintf("%s: too many nested ProxyJump hops (a loop?)", origin);
		return -1;
	}
	hops = str_split_commas(spec, &n);
	if (n == 0) {
		free(ctx->err);
		ctx->err = xasprintf("%s: empty ProxyJump", origin);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (inventory_hop_parse(hops[i], &user, &host, &port) != 0) {
			free(ctx->err);
			ctx->err = xasprintf("%s: bad ProxyJump hop '%s'", origin, hops[i]);
			goto out;
		}
		/* The first hop may be an inventory host (its own settings apply); later hops are reached
		 * through the previous one, as ssh does, so they are always hops of their own. */
		if (i == 0 && (h = inventory_find(ctx->inv, host)) != NULL)
			;
		else if (inventory_implicit(ctx, host, user, port, prev, origin, depth, &h) != 0)
			goto out;
		prev = h;
		free(user);
		free(host);
		user = host = NULL;
	}
	*out = prev;
	rc = 0;
out:
	free(user);
	free(host);
	strv_free(hops);
	return rc;
}
