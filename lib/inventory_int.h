/*
 * inventory_int: INTERNAL to lib/inventory*.c.  Not an API: commands and other modules include
 * inventory.h only, and nothing here is promised to stay.
 *
 * The loader's state (struct inv_load), the sections read from fleet.ini, the name index and the
 * functions the inventory files call in each other.  Which file does what: the top of inventory.c.
 */
#ifndef FLEET_INVENTORY_INT_H
#define FLEET_INVENTORY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "inventory.h"

struct sshconfig;

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

/* One key: its name in fleet.ini, what its value must be (KF_*), the range of an integer. */
struct inv_keyinfo {
	const char *name;
	int flags;
	long min, max;
};

/* Indexed by enum inv_key and the K_* above (inventory_keys.c). */
extern const struct inv_keyinfo inv_keys[K__COUNT];

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

/* ---- inventory.c: errors, the name index, interned settings ---- */

/* Record the first error as "FILE:LINE: message" in ctx->err; returns -1. */
int inventory_error(struct inv_load *ctx, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void *inventory_index_get(const struct inv_slot *slots, size_t cap, const char *name);
void inventory_index_put(struct inv_slot **slots, size_t *cap, size_t *count, const char *name, void *ptr);
/* The pool's one copy of str (owned by the pool), or NULL for NULL. */
char *inventory_intern(struct inv_index *pool, const char *str);
/* Set h's key k to value (copied into the pool) from origin (taken: freed here). */
void inventory_setting_set(struct inv_index *pool, struct inv_host *h, int k, const char *value, char *origin,
    enum inv_origin_kind kind);

/* ---- inventory_keys.c ---- */

/* Any key, host keys and the others: K_* or enum inv_key, -1 if unknown. */
int inventory_key_any(const char *name);
/* Check value for key; its stored form (paths expanded, lists normalised) in *out (caller frees). */
int inventory_value(int key, const char *value, const char *loc, char **out, char **cause);
/* $HOME, else the passwd entry's directory; NULL when there is none (borrowed). */
const char *inventory_home(void);

/* ---- inventory_parse.c ---- */

/* Read ctx->path into ctx->sec, hosts and groups.  0, or -1 with ctx->err set. */
int inventory_parse(struct inv_load *ctx);
/* The value section s gave key k, or NULL. */
struct inv_kv *inventory_section_kv(const struct inv_section *s, int k);
const char *inventory_section_value(const struct inv_section *s, int k);

/* ---- inventory_apply.c ---- */

/* Each group's transitive members and each host's groups; cycles and undefined groups are errors. */
int inventory_build_groups(struct inv_load *ctx);
/* The effective settings from defaults, [fleet], [group:] in section order, [host:] and -o. */
int inventory_apply_layers(struct inv_load *ctx);
/* The [fleet]-only keys (state_dir, ssh_config, ...) into ctx->inv. */
int inventory_fleet_keys(struct inv_load *ctx);
/* The local user name (caller frees), or NULL. */
char *inventory_local_user(void);
/* The built-in defaults into h; user and known_hosts may be NULL (left unset). */
void inventory_defaults(struct inv_index *pool, struct inv_host *h, const char *user, const char *known_hosts);
/* One section's host keys into h as kind; skip_conn leaves address, user, port, jump and relay alone. */
int inventory_apply_section(struct inv_load *ctx, const struct inv_section *sec, struct inv_host *h,
    enum inv_origin_kind kind, bool skip_conn);

/* ---- inventory_sshconfig.c ---- */

/* Load ssh_config (-F, else [fleet] ssh_config, else the default files) and fill each host from it. */
int inventory_apply_ssh_config(struct inv_load *ctx);
/* Resolve a ProxyJump chain "a,b" to its last hop, creating implicit hosts. */
int inventory_proxyjump(struct inv_load *ctx, const char *spec, const char *origin, int depth,
    struct inv_host **out);

/* ---- inventory_route.c ---- */

/* Each host's jump setting -> h->jump (an inventory host, or a ProxyJump chain's last hop). */
int inventory_resolve_jumps(struct inv_load *ctx);
/* Each host's relay setting -> h->relay, also its jump host when it has none; one level only. */
int inventory_resolve_relays(struct inv_load *ctx);
/* A jump chain that comes back to one of its hosts is an error. */
int inventory_check_loops(struct inv_load *ctx);

#endif
