/*
 * inventory_parse: fleet.ini -> sections, hosts and groups, nothing merged yet.
 *
 * inih does the tokenising; our own reader (inventory_reader) sits in front of it so that every
 * line is counted (errors say FILE:LINE), over-long lines are refused instead of being split
 * silently, section headers are seen even when the section has no keys, and a ';' inside a value
 * is not taken for an inline comment.  The handler only records raw values per section (checking
 * each with inventory_value as it grows); the layers are merged afterwards (inventory_apply.c).
 */
#include "inventory_int.h"
#include "hostrange.h"

#include <errno.h>
#include <ini.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The private marker that stands for ';' between our reader and the handler. */
#define INV_SEMICOLON '\x1f'

/* The value section s gave key k, or NULL. */
struct inv_kv *
inventory_section_kv(const struct inv_section *s, int k)
{
	for (size_t i = 0; i < s->nkv; i++)
		if (s->kv[i].key == k)
			return &s->kv[i];
	return NULL;
}

const char *
inventory_section_value(const struct inv_section *s, int k)
{
	const struct inv_kv *kv = inventory_section_kv(s, k);

	return kv != NULL ? kv->val : NULL;
}

/* ---- building hosts and groups while reading ---- */

static struct inv_host *
inventory_host_get(struct inv_load *ctx, const char *name)
{
	struct inventory *inv = ctx->inv;
	struct inv_host *h;

	if ((h = inventory_find(inv, name)) != NULL)
		return h;
	h = xcalloc(1, sizeof(*h));
	h->name = xstrdup(name);
	h->order = inv->nhosts;
	/* inv->hosts, host_addr and host_addr_line all have host_alloc slots; grow them together */
	if (inv->nhosts + 1 > ctx->host_alloc) {
		size_t old = ctx->host_alloc;

		ctx->host_alloc = old == 0 ? 64 : old * 2;
		inv->hosts = xrealloc(inv->hosts, ctx->host_alloc * sizeof(*inv->hosts));
		ctx->host_addr = xrealloc(ctx->host_addr, ctx->host_alloc * sizeof(*ctx->host_addr));
		ctx->host_addr_line = xrealloc(ctx->host_addr_line, ctx->host_alloc * sizeof(int));
		memset(ctx->host_addr + old, 0, (ctx->host_alloc - old) * sizeof(*ctx->host_addr));
		memset(ctx->host_addr_line + old, 0, (ctx->host_alloc - old) * sizeof(int));
	}
	inv->hosts[inv->nhosts++] = h;
	inventory_index_put(&inv->index->hslots, &inv->index->hcap, &inv->index->hcount, h->name, h);
	return h;
}

/* Group index by name; line != 0 defines it (a `groups =` reference alone does not). */
static size_t
inventory_grp_get(struct inv_load *ctx, const char *name, int line)
{
	struct inv_group *g;
	uintptr_t found = (uintptr_t)inventory_index_get(ctx->grpslots, ctx->grpcap, name);
	size_t i;

	if (found != 0)
		i = (size_t)found - 1;
	else {
		if (ctx->ngrp == ctx->grp_alloc) {
			ctx->grp_alloc = ctx->grp_alloc ? 2 * ctx->grp_alloc : 16;
			ctx->grp = xrealloc(ctx->grp, ctx->grp_alloc * sizeof(*ctx->grp));
		}
		i = ctx->ngrp++;
		memset(&ctx->grp[i], 0, sizeof(*ctx->grp));
		ctx->grp[i].name = xstrdup(name);
		inventory_index_put(&ctx->grpslots, &ctx->grpcap, &ctx->grpcount, ctx->grp[i].name, (void *)(uintptr_t)(i + 1));
	}
	if (line != 0 && ctx->grp[i].line == 0) {
		ctx->grp[i].line = line;
		g = xcalloc(1, sizeof(*g));
		g->name = xstrdup(name);
		ctx->inv->groups = xrealloc(ctx->inv->groups, (ctx->inv->ngroups + 1) * sizeof(*ctx->inv->groups));
		ctx->pub_grp = xrealloc(ctx->pub_grp, (ctx->inv->ngroups + 1) * sizeof(*ctx->pub_grp));
		ctx->pub_grp[ctx->inv->ngroups] = i;
		ctx->grp[i].pub = ctx->inv->ngroups;
		ctx->inv->groups[ctx->inv->ngroups++] = g;
		inventory_index_put(&ctx->inv->index->gslots, &ctx->inv->index->gcap, &ctx->inv->index->gcount,
		    g->name, g);
	}
	return i;
}

/* A "[...]" line: start a section.  s points at '['. */
static int
inventory_section_start(struct inv_load *ctx, const char *s)
{
	const char *close = strchr(s, ']'), *after, *colon;
	char *inner = NULL, *type, *name = NULL;
	struct inv_section *sec;
	int rc = -1;

	if (close == NULL)
		return inventory_error(ctx, ctx->lineno, "section header without ']'");
	for (after = close + 1; *after == ' ' || *after == '\t' || *after == '\r' || *after == '\n'; after++)
		;
	if (*after != '\0' && *after != ';' && *after != '#')
		return inventory_error(ctx, ctx->lineno, "unexpected text after ']'");
	inner = xstrndup(s + 1, (size_t)(close - s - 1));
	type = str_trim(inner);
	if ((colon = strchr(type, ':')) != NULL) {
		name = str_trim(type + (colon - type) + 1);
		type[colon - type] = '\0';
		str_trim(type);
	}
	sec = xcalloc(1, sizeof(*sec));
	sec->line = ctx->lineno;
	if (strcmp(type, "fleet") == 0 && name == NULL)
		sec->type = SEC_FLEET;
	else if (strcmp(type, "group") == 0 && name != NULL)
		sec->type = SEC_GROUP;
	else if (strcmp(type, "host") == 0 && name != NULL)
		sec->type = SEC_HOST;
	else {
		free(sec);
		inventory_error(ctx, ctx->lineno, "unknown section '%.*s' (expected [fleet], [group:NAME] "
		    "or [host:NAME])", (int)(close - s - 1), s + 1);
		goto out;
	}
	if (name != NULL) {
		if (!hostrange_name_ok(name)) {
			free(sec);
			inventory_error(ctx, ctx->lineno, "bad %s name '%s' (letters, digits, '.', '-', '_')",
			    type, name);
			goto out;
		}
		if (sec->type == SEC_GROUP && strcmp(name, "all") == 0) {
			free(sec);
			inventory_error(ctx, ctx->lineno, "'all' is reserved and cannot name a group");
			goto out;
		}
		if (sec->type != SEC_HOST)   /* a host section names its host: h->name (100,000 copies less) */
			sec->name = xstrdup(name);
	}
	if (sec->type == SEC_GROUP)
		sec->group = inventory_grp_get(ctx, name, ctx->lineno);
	else if (sec->type == SEC_HOST)
		sec->host = inventory_host_get(ctx, name);
	if (ctx->nsec == ctx->sec_alloc) {
		ctx->sec_alloc = ctx->sec_alloc == 0 ? 16 : ctx->sec_alloc * 2;
		ctx->sec = xrealloc(ctx->sec, ctx->sec_alloc * sizeof(*ctx->sec));
	}
	ctx->sec[ctx->nsec++] = sec;
	ctx->cur = sec;
	ctx->last_key = -1;
	rc = 0;
out:
	free(inner);
	return rc;
}

/* At the next key, section or end of file: a key left with an empty value is an error. */
static int
inventory_finish_key(struct inv_load *ctx)
{
	int k = ctx->last_key;

	if (ctx->cur == NULL || k < 0)
		return 0;
	const struct inv_kv *kv = ctx->cur != NULL && k >= 0 ? inventory_section_kv(ctx->cur, k) : NULL;

	if (kv != NULL && kv->val[0] == '\0')
		return inventory_error(ctx, kv->line, "empty value for '%s'", inv_keys[k].name);
	return 0;
}

/*
 * The reader inih calls instead of fgets.  One line per call, counted; refuses lines that do not
 * fit inih's buffer; classifies the line the way inih will, so sections are seen even when empty.
 */
static char *
inventory_reader(char *str, int num, void *stream)
{
	struct inv_load *ctx = stream;
	ssize_t n;
	size_t len, i;
	char *p, *q;

	if (ctx->err != NULL)
		return NULL;
	errno = 0;
	n = getline(&ctx->line, &ctx->linecap, ctx->f);
	if (n < 0) {
		if (ferror(ctx->f))
			inventory_error(ctx, ctx->lineno + 1, "cannot read: %s", strerror(errno));
		else
			inventory_finish_key(ctx);
		return NULL;
	}
	ctx->lineno++;
	len = (size_t)n;
	if (memchr(ctx->line, '\0', len) != NULL) {
		inventory_error(ctx, ctx->lineno, "NUL byte in line");
		return NULL;
	}
	if (memchr(ctx->line, INV_SEMICOLON, len) != NULL) {
		inventory_error(ctx, ctx->lineno, "control character 0x1f in line");
		return NULL;
	}
	if (len > 0 && ctx->line[len - 1] == '\n')
		len--;
	if (len > 0 && ctx->line[len - 1] == '\r')
		len--;
	/* inih needs room for "\r\n" and the NUL: the longest line it takes whole is num - 3. */
	if (num < 4 || len > (size_t)num - 3) {
		inventory_error(ctx, ctx->lineno, "line too long (%zu characters, at most %d): continue a long "
		    "value on indented lines", len, num - 3);
		return NULL;
	}

	p = ctx->line;
	if (ctx->lineno == 1 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
	    (unsigned char)p[2] == 0xbf)
		p += 3;
	for (q = p; *q == ' ' || *q == '\t' || *q == '\r' || *q == '\n' || *q == '\v' || *q == '\f'; q++)
		;
	ctx->continuation = false;
	if (*q == '\0' || *q == ';' || *q == '#') {
		/* blank or comment: inih keeps its state */
	} else if (q > p && ctx->cur_has_key) {
		ctx->continuation = true;
	} else {
		if (inventory_finish_key(ctx) != 0)
			return NULL;
		if (*q == '[') {
			if (inventory_section_start(ctx, q) != 0)
				return NULL;
			ctx->cur_has_key = false;
		} else {
			if (strpbrk(q, "=:") == NULL) {
				char *w = xstrndup(q, strcspn(q, " \t\r\n"));

				inventory_error(ctx, ctx->lineno, "expected 'key = value', not '%s'", w);
				free(w);
				return NULL;
			}
			ctx->cur_has_key = true;
		}
	}
	/* inih cuts values at " ;": hide every ';' that is not the line's first character. */
	for (i = (size_t)(q - ctx->line) + 1; i < (size_t)n; i++)
		if (ctx->line[i] == ';')
			ctx->line[i] = INV_SEMICOLON;
	memcpy(str, ctx->line, (size_t)n + 1);
	return str;
}

/* A group's `hosts =` piece (one line of it): expand and record members, creating hosts. */
static int
inventory_add_members(struct inv_load *ctx, struct inv_grp *g, const char *value)
{
	char *tmp = xstrdup(value), *c, **items, **names = NULL, *cause = NULL;
	size_t i, j, n, nn;
	int rc = -1;

	for (c = tmp; *c != '\0'; c++)
		if (*c == '\n')
			*c = ',';
	items = str_split_commas(tmp, &n);
	for (i = 0; i < n; i++) {
		if (hostrange_expand(items[i], &names, &nn, &cause) != 0) {
			inventory_error(ctx, ctx->lineno, "%s", cause);
			goto out;
		}
		for (j = 0; j < nn; j++) {
			struct inv_host *h = inventory_host_get(ctx, names[j]);

			if (g->nhosts == g->hosts_alloc) {
				g->hosts_alloc = g->hosts_alloc == 0 ? 16 : g->hosts_alloc * 2;
				g->hosts = xrealloc(g->hosts, g->hosts_alloc * sizeof(*g->hosts));
			}
			g->hosts[g->nhosts++] = h->order;
		}
		strv_free(names);
		names = NULL;
	}
	rc = 0;
out:
	free(cause);
	strv_free(names);
	strv_free(items);
	free(tmp);
	return rc;
}

static int
inventory_add_includes(struct inv_load *ctx, size_t gi, const char *value)
{
	char *tmp = xstrdup(value), *c, **items;
	size_t i, j, n;
	struct inv_grp *g;
	int rc = -1;

	for (c = tmp; *c != '\0'; c++)
		if (*c == '\n')
			*c = ',';
	items = str_split_commas(tmp, &n);
	for (i = 0; i < n; i++) {
		if (!hostrange_name_ok(items[i])) {
			inventory_error(ctx, ctx->lineno, "bad group name '%s'", items[i]);
			goto out;
		}
		/* The included group may be defined further down: checked after reading. */
		j = inventory_grp_get(ctx, items[i], 0);
		g = &ctx->grp[gi];
		g->incl = xrealloc(g->incl, (g->nincl + 1) * sizeof(*g->incl));
		g->incl_line = xrealloc(g->incl_line, (g->nincl + 1) * sizeof(*g->incl_line));
		g->incl[g->nincl] = j;
		g->incl_line[g->nincl] = ctx->lineno;
		g->nincl++;
	}
	rc = 0;
out:
	strv_free(items);
	free(tmp);
	return rc;
}

static int
inventory_handler(void *user, const char *section, const char *name, const char *rawvalue)
{
	struct inv_load *ctx = user;
	struct inv_section *sec = ctx->cur;
	char *value, *c, *norm = NULL, *cause = NULL, *loc = NULL;
	const struct inv_keyinfo *ki;
	struct inv_kv *kv = NULL;
	int k, rc = 0;

	(void)section;   /* the reader tracks sections itself (inih truncates long names) */
	if (ctx->err != NULL)
		return 0;
	value = xstrdup(rawvalue);
	for (c = value; *c != '\0'; c++)
		if (*c == INV_SEMICOLON)
			*c = ';';

	if (ctx->continuation) {
		k = ctx->last_key;
		if (sec == NULL || k < 0) {
			inventory_error(ctx, ctx->lineno, "indented line continues no key");
			goto out;
		}
		ki = &inv_keys[k];
		if ((kv = inventory_section_kv(sec, k)) == NULL) {
			inventory_error(ctx, ctx->lineno, "indented line continues no key");
			goto out;
		}
		if (!(ki->flags & (KF_CMD | KF_LIST))) {
			inventory_error(ctx, ctx->lineno, "'%s' takes a single line (an indented line continues "
			    "the value above it)", ki->name);
			goto out;
		}
		{
			/* Appended in place with room doubled when needed: a 100,000-line list stays linear. */
			size_t add = strlen(value), sep = ctx->last_len > 0 ? ((ki->flags & KF_CMD) ? 1 : 2) : 0;

			if (ctx->last_len + sep + add + 1 > ctx->last_cap) {
				ctx->last_cap = 2 * (ctx->last_len + sep + add + 1);
				kv->val = xrealloc(kv->val, ctx->last_cap);
			}
			memcpy(kv->val + ctx->last_len, (ki->flags & KF_CMD) ? "\n" : ", ", sep);
			memcpy(kv->val + ctx->last_len + sep, value, add + 1);
			ctx->last_len += sep + add;
		}
	} else {
		if (sec == NULL) {
			inventory_error(ctx, ctx->lineno, "'%s' is outside any section", name);
			goto out;
		}
		if ((k = inventory_key_any(name)) < 0) {
			inventory_error(ctx, ctx->lineno, "unknown key '%s'", name);
			goto out;
		}
		ki = &inv_keys[k];
		if ((ki->flags & KF_FLEET_ONLY) && sec->type != SEC_FLEET) {
			inventory_error(ctx, ctx->lineno, "'%s' belongs in [fleet]", name);
			goto out;
		}
		if ((ki->flags & KF_GROUP_ONLY) && sec->type != SEC_GROUP) {
			inventory_error(ctx, ctx->lineno, "'%s' belongs in a [group:NAME] section", name);
			goto out;
		}
		if ((kv = inventory_section_kv(sec, k)) != NULL) {
			inventory_error(ctx, ctx->lineno, "'%s' repeated in this section (first at line %d)",
			    name, kv->line);
			goto out;
		}
		sec->kv = xrealloc(sec->kv, (sec->nkv + 1) * sizeof(*sec->kv));
		sec->kv[sec->nkv].key = k;
		sec->kv[sec->nkv].line = ctx->lineno;
		sec->kv[sec->nkv].val = xstrdup(value);
		kv = &sec->kv[sec->nkv++];
		ctx->last_key = k;
		ctx->last_len = strlen(value);
		ctx->last_cap = ctx->last_len + 1;
	}

	/* Validate what has accumulated so far; an empty first line may be continued. */
	if (k == K_HOSTS) {
		if (inventory_add_members(ctx, &ctx->grp[sec->group], value) != 0)
			goto out;
	} else if (k == K_GROUPS) {
		if (inventory_add_includes(ctx, sec->group, value) != 0)
			goto out;
	} else if (kv->val[0] != '\0') {
		loc = xasprintf("%s:%d", ctx->path, ctx->lineno);
		if (inventory_value(k, kv->val, loc, &norm, &cause) != 0) {
			if (ctx->err == NULL) {
				ctx->err = cause;
				ctx->errline = ctx->lineno;
				cause = NULL;
			}
			goto out;
		}
		if (k == INV_ADDRESS && sec->type == SEC_HOST) {
			size_t o = sec->host->order;

			if (ctx->host_addr[o] != NULL && strcmp(ctx->host_addr[o], norm) != 0) {
				inventory_error(ctx, ctx->lineno, "host '%s' defined again with address '%s' "
				    "(line %d says '%s')", sec->host->name, norm, ctx->host_addr_line[o], ctx->host_addr[o]);
				goto out;
			}
			ctx->host_addr[o] = inventory_intern(ctx->inv->index, norm);   /* the pool owns it */
			ctx->host_addr_line[o] = ctx->lineno;
		}
	}
	rc = 1;
out:
	free(loc);
	free(norm);
	free(cause);
	free(value);
	return rc;
}

/* ---- the file ---- */

/* inih over the file through our reader; the first error (ours or inih's) ends up in ctx->err. */
int
inventory_parse(struct inv_load *ctx)
{
	int r;

	if ((ctx->f = fopen(ctx->path, "r")) == NULL) {
		ctx->err = xasprintf("cannot open '%s': %s", ctx->path, strerror(errno));
		return -1;
	}
	r = ini_parse_stream(inventory_reader, ctx, inventory_handler, ctx);
	fclose(ctx->f);
	if (r == -2 && ctx->err == NULL)
		ctx->err = xasprintf("%s: out of memory", ctx->path);
	/* inih's own syntax errors (none expected: the reader checks first) win if they come earlier. */
	if (r > 0 && (ctx->err == NULL || r < ctx->errline)) {
		free(ctx->err);
		ctx->err = xasprintf("%s:%d: syntax error (expected '[section]' or 'key = value')", ctx->path, r);
	}
	return ctx->err != NULL ? -1 : 0;
}
