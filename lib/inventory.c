/*
 * inventory: fleet.ini -> hosts, groups and each host's effective settings.
 *
 * inih does the tokenising; our own reader (inventory_reader) sits in front of it so that every
 * line is counted (errors say FILE:LINE), over-long lines are refused instead of being split
 * silently, section headers are seen even when the section has no keys, and a ';' inside a value
 * is not taken for an inline comment.  The handler only records raw values per section; the
 * layers are merged afterwards in the documented order.
 */
#include "inventory.h"
#include "hostrange.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sshconfig.h"
#include "util.h"

/* Keys that are not host keys: group-only and [fleet]-only. */
enum {
	K_HOSTS = INV__COUNT,
	K_GROUPS,
	K_STATE_DIR,
	K_SSH_CONFIG,
	K_ON_FAILURE,
	K_REQUIRE_SIGNATURE,
	K_HISTORY_REMOTE,
	K_BUNDLE_REMOTE,
	K__COUNT
};

#define KF_INT        0x001   /* integer in [min, max] */
#define KF_WORD       0x002   /* one word: no blanks */
#define KF_PATH       0x004   /* ~/ expanded at load */
#define KF_ABSPATH    0x008   /* must be absolute */
#define KF_LIST       0x010   /* comma list; continuation lines join with ", " */
#define KF_CMD        0x020   /* shell command; continuation lines join with "\n" */
#define KF_SHK        0x040   /* yes | accept-new | no */
#define KF_YESNO      0x080
#define KF_WINDOW     0x100   /* HH:MM-HH:MM */
#define KF_TZ         0x200
#define KF_FLEET_ONLY 0x400
#define KF_GROUP_ONLY 0x800

/* The private marker that stands for ';' between our reader and the handler. */
#define INV_SEMICOLON '\x1f'

/* Limits that keep a typo ("kiosk[1:99999999]") from eating the machine. */
#define INV_MAX_HOPS     16
#define INV_MAX_IMPLICIT 10000

static const struct inv_keyinfo {
	const char *name;
	int flags;
	long min, max;
} inv_keys[K__COUNT] = {
	[INV_ADDRESS] = { "address", KF_WORD, 0, 0 },
	[INV_PORT] = { "port", KF_INT, 1, 65535 },
	[INV_USER] = { "user", KF_WORD, 0, 0 },
	[INV_IDENTITY] = { "identity", KF_LIST | KF_PATH, 0, 0 },
	[INV_KNOWN_HOSTS] = { "known_hosts", KF_PATH, 0, 0 },
	[INV_JUMP] = { "jump", KF_WORD, 0, 0 },
	[INV_ROOT] = { "root", KF_ABSPATH, 0, 0 },
	[INV_KEEP] = { "keep", KF_INT, 1, 1000 },
	[INV_CONNECT_TIMEOUT] = { "connect_timeout", KF_INT, 1, 3600 },
	[INV_COMMAND_TIMEOUT] = { "command_timeout", KF_INT, 1, 7 * 86400 },
	[INV_PARALLEL] = { "parallel", KF_INT, 1, 10000 },
	[INV_STRICT_HOST_KEYS] = { "strict_host_keys", KF_SHK, 0, 0 },
	[INV_IDENTITIES_ONLY] = { "identities_only", KF_YESNO, 0, 0 },
	[INV_IDENTITY_AGENT] = { "identity_agent", KF_PATH, 0, 0 },
	[INV_GLOBAL_KNOWN_HOSTS] = { "global_known_hosts", KF_PATH, 0, 0 },
	[INV_KEEPALIVE_INTERVAL] = { "keepalive_interval", KF_INT, 0, 3600 },
	[INV_KEEPALIVE_COUNT] = { "keepalive_count", KF_INT, 1, 100 },
	[INV_INSTALL] = { "install", KF_CMD, 0, 0 },
	[INV_RESTART] = { "restart", KF_CMD, 0, 0 },
	[INV_SHUTDOWN] = { "shutdown", KF_CMD, 0, 0 },
	[INV_REBOOT] = { "reboot", KF_CMD, 0, 0 },
	[INV_HEALTH] = { "health", KF_CMD, 0, 0 },
	[INV_HEALTH_RETRIES] = { "health_retries", KF_INT, 1, 100 },
	[INV_HEALTH_INTERVAL] = { "health_interval", KF_INT, 1, 3600 },
	[INV_BUSY] = { "busy", KF_CMD, 0, 0 },
	[INV_LOGS] = { "logs", KF_LIST, 0, 0 },
	[INV_BOOT_ID] = { "boot_id", KF_ABSPATH, 0, 0 },
	[INV_WINDOW] = { "window", KF_WINDOW, 0, 0 },
	[INV_WINDOW_TZ] = { "window_tz", KF_TZ, 0, 0 },
	[INV_RELAY] = { "relay", KF_WORD, 0, 0 },
	[INV_RELAY_CLIENT] = { "relay_client", KF_WORD, 0, 0 },
	/* paths on the relay: not ~-expanded here */
	[INV_RELAY_IDENTITY] = { "relay_identity", KF_ABSPATH, 0, 0 },
	[INV_RELAY_PARALLEL] = { "relay_parallel", KF_INT, 1, 1000 },
	[INV_RELAY_CACHE] = { "relay_cache", KF_ABSPATH, 0, 0 },
	[K_HOSTS] = { "hosts", KF_LIST | KF_GROUP_ONLY, 0, 0 },
	[K_GROUPS] = { "groups", KF_LIST | KF_GROUP_ONLY, 0, 0 },
	[K_STATE_DIR] = { "state_dir", KF_PATH | KF_FLEET_ONLY, 0, 0 },
	[K_SSH_CONFIG] = { "ssh_config", KF_PATH | KF_FLEET_ONLY, 0, 0 },
	[K_ON_FAILURE] = { "on_failure", KF_CMD | KF_FLEET_ONLY, 0, 0 },
	[K_REQUIRE_SIGNATURE] = { "require_signature", KF_LIST | KF_PATH | KF_FLEET_ONLY, 0, 0 },
	[K_HISTORY_REMOTE] = { "history_remote", KF_WORD | KF_PATH | KF_FLEET_ONLY, 0, 0 },
	[K_BUNDLE_REMOTE] = { "bundle_remote", KF_PATH | KF_FLEET_ONLY, 0, 0 },
};

/* Name -> host or group, so that tens of thousands of terminals load in linear time. */
struct inv_index {
	struct inv_slot {
		const char *name;    /* borrowed from the host or group */
		void *ptr;
	} *hslots, *gslots, *sslots;     /* hosts, groups, interned setting strings (owned) */
	size_t hcap, gcap, scap, hcount, gcount, scount;
};

enum inv_sec_type { SEC_FLEET, SEC_GROUP, SEC_HOST };

/* One [section] header and what followed it until the next header. */
struct inv_section {
	enum inv_sec_type type;
	char *name;
	int line;
	size_t group;                    /* SEC_GROUP: index into ctx->grp */
	struct inv_host *host;           /* SEC_HOST */
	struct inv_kv {                  /* the keys it set, in order (few: a list, not an array per key) */
		int key, line;
		char *val;
	} *kv;
	size_t nkv;
};

/* The value section s gave key k, or NULL. */
static struct inv_kv *
sec_kv(const struct inv_section *s, int k)
{
	for (size_t i = 0; i < s->nkv; i++)
		if (s->kv[i].key == k)
			return &s->kv[i];
	return NULL;
}

static const char *
sec_val(const struct inv_section *s, int k)
{
	const struct inv_kv *kv = sec_kv(s, k);

	return kv != NULL ? kv->val : NULL;
}

/* Group data only the loader needs. */
struct inv_grp {
	char *name;
	int line;
	size_t *hosts;                   /* direct members, host indices */
	size_t nhosts, hosts_alloc;
	size_t *incl;                    /* included groups, indices into ctx->grp */
	int *incl_line;
	size_t nincl;
	size_t *mem;                     /* transitive members, host indices in inventory order */
	size_t nmem;
	size_t pub;                      /* index in inv->groups once defined */
	int state;                       /* 0 new, 1 on the DFS path, 2 done */
};

/* One implicit ProxyJump hop and the spec that made it, to share hops between hosts. */
struct inv_hop {
	struct inv_host *host;
	char *user;
	int port;
	struct inv_host *forced;
};

struct inv_load {
	const char *path;
	const struct inventory_opts *opts;
	FILE *f;
	char *line;
	size_t linecap;
	int lineno;
	char *err;
	int errline;
	struct inventory *inv;

	struct inv_section **sec;
	size_t nsec, sec_alloc;
	struct inv_section *cur;
	bool cur_has_key;                /* mirrors inih's prev_name: an indented line continues */
	bool continuation;               /* the line just read continues the previous key */
	int last_key;                    /* key of the last key line in cur, or -1 */
	size_t last_len, last_cap;       /* its value's length and allocation: continuations append in place */

	struct inv_grp *grp;
	size_t ngrp, grp_alloc;
	struct inv_slot *grpslots;       /* group name -> index + 1 into grp */
	size_t grpcap, grpcount;
	size_t *pub_grp;                 /* inv->groups[i] is grp[pub_grp[i]] */
	char **host_addr;                /* per host: address from a [host:] section, for conflicts (interned) */
	int *host_addr_line;
	size_t host_alloc;

	struct inv_hop *hops;
	size_t nhops;
	struct sshconfig *sshcfg;
};

/* ---- small helpers ---- */

static int
inventory_error(struct inv_load *ctx, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record the first error as "FILE:LINE: message" (line 0: "FILE: message"). */
static int
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

static void *
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

static void
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

static const char *
inventory_home(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home != NULL && *home != '\0')
		return home;
	pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_dir : NULL;
}

/* "~/x" -> "$HOME/x", "~" -> "$HOME"; anything else is copied.  NULL when there is no home. */
static char *
inventory_expand_tilde(const char *s)
{
	const char *home;

	if (s[0] != '~' || (s[1] != '/' && s[1] != '\0'))
		return xstrdup(s);
	if ((home = inventory_home()) == NULL)
		return NULL;
	return xasprintf("%s%s", home, s + 1);
}

/* Internal lookup over every key, host keys and the others. */
static int
inventory_key_any(const char *name)
{
	int k;

	for (k = 0; k < K__COUNT; k++)
		if (strcmp(inv_keys[k].name, name) == 0)
			return k;
	return -1;
}

/* ---- public small API ---- */

const char *
inv_key_name(enum inv_key key)
{
	if ((int)key < 0 || key >= INV__COUNT)
		return NULL;
	return inv_keys[key].name;
}

int
inv_key_lookup(const char *name)
{
	int k = inventory_key_any(name);

	return k >= 0 && k < INV__COUNT ? k : -1;
}

bool
inv_key_is_number(enum inv_key key)
{
	return (int)key >= 0 && key < INV__COUNT && (inv_keys[key].flags & KF_INT) != 0;
}

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

/* ---- values ---- */

static bool
inventory_window_ok(const char *s)
{
	int i;

	/* HH:MM-HH:MM */
	if (strlen(s) != 11 || s[2] != ':' || s[5] != '-' || s[8] != ':')
		return false;
	for (i = 0; i < 11; i++)
		if (i != 2 && i != 5 && i != 8 && !isdigit((unsigned char)s[i]))
			return false;
	return (s[0] - '0') * 10 + (s[1] - '0') < 24 && (s[3] - '0') * 10 + (s[4] - '0') < 60 &&
	    (s[6] - '0') * 10 + (s[7] - '0') < 24 && (s[9] - '0') * 10 + (s[10] - '0') < 60;
}

/*
 * Check value for key and return the stored form (paths expanded, lists normalised) in *out.
 * loc is "fleet.ini:12", "-o" or an ssh_config origin, for the message.
 */
static int
inventory_value(int key, const char *value, const char *loc, char **out, char **cause)
{
	const struct inv_keyinfo *ki = &inv_keys[key];
	const char *p;
	long l;

	*out = NULL;
	if (*value == '\0')
		return set_cause(cause, -1, "%s: empty value for '%s'", loc, ki->name);
	if (!(ki->flags & (KF_CMD | KF_LIST)) && strchr(value, '\n') != NULL)
		return set_cause(cause, -1, "%s: '%s' takes a single line (an indented line continues "
		    "the value above it)", loc, ki->name);
	for (p = value; *p != '\0'; p++)
		if (iscntrl((unsigned char)*p) && *p != '\n' && *p != '\t')
			return set_cause(cause, -1, "%s: control character in '%s'", loc, ki->name);
	if (ki->flags & KF_INT) {
		if (parse_long(value, ki->min, ki->max, &l) != 0)
			return set_cause(cause, -1, "%s: bad %s '%s': must be an integer from %ld to %ld",
			    loc, ki->name, value, ki->min, ki->max);
	}
	if ((ki->flags & (KF_WORD | KF_TZ)) && strpbrk(value, " \t\n") != NULL)
		return set_cause(cause, -1, "%s: bad %s '%s': blanks are not allowed", loc, ki->name, value);
	if ((ki->flags & KF_SHK) && strcmp(value, "yes") != 0 && strcmp(value, "accept-new") != 0 &&
	    strcmp(value, "no") != 0)
		return set_cause(cause, -1, "%s: bad %s '%s': must be yes, accept-new or no", loc, ki->name, value);
	if ((ki->flags & KF_YESNO) && strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
		return set_cause(cause, -1, "%s: bad %s '%s': must be yes or no", loc, ki->name, value);
	if ((ki->flags & KF_WINDOW) && !inventory_window_ok(value))
		return set_cause(cause, -1, "%s: bad window '%s': must be HH:MM-HH:MM", loc, value);
	if ((ki->flags & KF_TZ) && (strstr(value, "..") != NULL || value[0] == '/' ||
	    strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") != strlen(value)))
		return set_cause(cause, -1, "%s: bad window_tz '%s': must be a zone name like Europe/Paris", loc, value);
	if ((ki->flags & KF_ABSPATH) && (value[0] != '/' || strcmp(value, "/") == 0))
		return set_cause(cause, -1, "%s: bad %s '%s': must be an absolute path below /", loc, ki->name, value);
	if (key == INV_JUMP && strcmp(value, "none") != 0 && !hostrange_name_ok(value))
		return set_cause(cause, -1, "%s: bad jump '%s': must name a host of the inventory", loc, value);
	if (key == INV_RELAY && strcmp(value, "none") != 0 && !hostrange_name_ok(value))
		return set_cause(cause, -1, "%s: bad relay '%s': must name a host of the inventory", loc, value);
	if (key == INV_RELAY_CLIENT && strcmp(value, "auto") != 0 && strcmp(value, "ssh") != 0 &&
	    strcmp(value, "dbclient") != 0)
		return set_cause(cause, -1, "%s: bad relay_client '%s': must be auto, ssh or dbclient", loc, value);
	if ((key == INV_RELAY_IDENTITY || key == INV_RELAY_CACHE) && strpbrk(value, "\\'\"$`") != NULL)
		return set_cause(cause, -1, "%s: bad %s '%s': quotes, '$', '`' and '\\' are not allowed", loc,
		    ki->name, value);

	if ((ki->flags & KF_LIST) && (ki->flags & KF_PATH)) {
		struct buf b;
		char *tmp = xstrdup(value), *c, **items, *x;
		size_t i, n;

		for (c = tmp; *c != '\0'; c++)
			if (*c == '\n')
				*c = ',';
		items = str_split_commas(tmp, &n);
		free(tmp);
		buf_init(&b, 0);
		for (i = 0; i < n; i++) {
			if ((x = inventory_expand_tilde(items[i])) == NULL) {
				strv_free(items);
				buf_free(&b);
				return set_cause(cause, -1, "%s: cannot expand '~' in '%s': no home directory", loc, value);
			}
			buf_addf(&b, "%s%s", i > 0 ? ", " : "", x);
			free(x);
		}
		strv_free(items);
		*out = buf_detach(&b);
		buf_free(&b);
		return 0;
	}
	if (ki->flags & KF_PATH) {
		if ((*out = inventory_expand_tilde(value)) == NULL)
			return set_cause(cause, -1, "%s: cannot expand '~' in '%s': no home directory", loc, value);
		return 0;
	}
	*out = xstrdup(value);
	return 0;
}

/*
 * Settings' values and origins are interned: 100,000 hosts of one group share one "600" and one
 * "fleet.ini:12" instead of holding 58 small allocations each.  The pool owns them (inventory_free).
 */
static char *
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
static void
inventory_setting_set(struct inv_index *pool, struct inv_host *h, int k, const char *value, char *origin,
    enum inv_origin_kind kind)
{
	h->set[k].value = inventory_intern(pool, value);
	h->set[k].origin = inventory_intern(pool, origin);
	h->kind[k] = (unsigned char)kind;
	free(origin);
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
	const struct inv_kv *kv = ctx->cur != NULL && k >= 0 ? sec_kv(ctx->cur, k) : NULL;

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
		if ((kv = sec_kv(sec, k)) == NULL) {
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
		if ((kv = sec_kv(sec, k)) != NULL) {
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

/* ---- resolution ---- */

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

static int
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

static char *
inventory_local_user(void)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *u;

	if (pw != NULL && pw->pw_name != NULL)
		return xstrdup(pw->pw_name);
	u = getenv("USER");
	return u != NULL && *u != '\0' ? xstrdup(u) : NULL;
}

static void
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
static int
inventory_apply_section(struct inv_load *ctx, const struct inv_section *sec, struct inv_host *h,
    enum inv_origin_kind kind, bool skip_conn)
{
	char *loc, *norm = NULL, *cause = NULL;
	int k;

	for (k = 0; k < INV__COUNT; k++) {
		const struct inv_kv *kv = sec_kv(sec, k);

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

static int inventory_proxyjump(struct inv_load *ctx, const char *spec, const char *origin, int depth,
    struct inv_host **out);

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
static int
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

/* Follow every host's jump chain; a chain that comes back to one of its hosts is an error. */
static int
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

static int
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
static int
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

static int
inventory_resolve(struct inv_load *ctx)
{
	struct inventory *inv = ctx->inv;
	const char *sshpath;
	char *luser, *kh = NULL, *cause = NULL;
	const char *home;
	size_t i, j, gi;
	int rc = -1;

	if (inventory_build_groups(ctx) != 0)
		return -1;

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

	/* ssh_config fills what is still at its default. */
	sshpath = ctx->opts != NULL && ctx->opts->ssh_config != NULL ? ctx->opts->ssh_config : inv->ssh_config;
	if (sshpath == NULL || strcmp(sshpath, "none") != 0) {
		if (sshconfig_load(sshpath, &ctx->sshcfg, &cause) != 0) {
			free(ctx->err);
			ctx->err = cause != NULL ? cause : xstrdup("cannot load ssh_config");
			cause = NULL;
			goto out;
		}
		for (j = 0; j < inv->nhosts; j++) {
			struct inv_host *h = inv->hosts[j];
			const char *u = h->kind[INV_USER] != INV_FROM_DEFAULT ? h->set[INV_USER].value : NULL;
			int port = h->kind[INV_PORT] != INV_FROM_DEFAULT ? (int)inv_get_long(h, INV_PORT) : 0;

			if (inventory_apply_ssh(ctx, h, u, port) != 0)
				goto out;
		}
	}
	if (inventory_resolve_jumps(ctx) != 0 || inventory_resolve_relays(ctx) != 0 || inventory_check_loops(ctx) != 0)
		goto out;
	rc = 0;
out:
	free(cause);
	free(luser);
	free(kh);
	return rc;
}

/* [fleet]-only keys, last [fleet] section wins for each. */
static int
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
			if (sec_val(ctx->sec[i], k) != NULL)
				v[k] = sec_val(ctx->sec[i], k);
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
	int rc = -1, r;

	memset(&ctx, 0, sizeof(ctx));
	ctx.path = path;
	ctx.opts = opts;
	ctx.last_key = -1;
	ctx.inv = xcalloc(1, sizeof(*ctx.inv));
	ctx.inv->path = xstrdup(path);
	ctx.inv->index = xcalloc(1, sizeof(*ctx.inv->index));
	if ((ctx.f = fopen(path, "r")) == NULL) {
		ctx.err = xasprintf("cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	r = ini_parse_stream(inventory_reader, &ctx, inventory_handler, &ctx);
	fclose(ctx.f);
	if (r == -2 && ctx.err == NULL)
		ctx.err = xasprintf("%s: out of memory", path);
	/* inih's own syntax errors (none expected: the reader checks first) win if they come earlier. */
	if (r > 0 && (ctx.err == NULL || r < ctx.errline)) {
		free(ctx.err);
		ctx.err = xasprintf("%s:%d: syntax error (expected '[section]' or 'key = value')", path, r);
	}
	if (ctx.err != NULL)
		goto out;
	if (inventory_fleet_keys(&ctx) != 0 || inventory_resolve(&ctx) != 0)
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
