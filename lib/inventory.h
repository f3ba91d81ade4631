/*
 * inventory: fleet.ini -> hosts, groups and each host's effective settings.
 *
 * Pure: reads files, never connects.  Parsed with inih through ini_parse_stream and a
 * line-counting reader, so every error names FILE:LINE and no value is cut silently.
 *
 * Precedence for a host key, lowest first:
 *   built-in default < ssh_config (lib/sshconfig) < [fleet] < [group:*] (later section wins)
 *   < [host:NAME] < command line -o key=value
 * Each effective value remembers where it came from ("fleet.ini:12", "-o", "~/.ssh/config:40",
 * "default") so `fleetctl hosts --json --explain` can say so.
 */
#ifndef FLEET_INVENTORY_H
#define FLEET_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>

/* Per-host keys.  Keep the key table (lib/inventory_keys.c) in the same order. */
enum inv_key {
	INV_ADDRESS,         /* host name or IP to connect to (default: the host's name) */
	INV_PORT,            /* default 22 */
	INV_USER,            /* default: local user name */
	INV_IDENTITY,        /* private key file(s); comma-separated list allowed, tried in order */
	INV_KNOWN_HOSTS,     /* default ~/.ssh/known_hosts */
	INV_JUMP,            /* another host's name (inventory host, or ProxyJump spec from ssh_config) */
	INV_ROOT,            /* directory on the terminal holding releases (default /opt/fleet) */
	INV_KEEP,            /* releases kept per component (default 5) */
	INV_CONNECT_TIMEOUT, /* seconds (default 10) */
	INV_COMMAND_TIMEOUT, /* seconds for one remote step (default 600) */
	INV_PARALLEL,        /* max terminals at once (default 50) */
	INV_STRICT_HOST_KEYS,/* yes | accept-new | no (default yes) */
	INV_IDENTITIES_ONLY, /* yes | no: skip the agent's other keys (default no) */
	INV_IDENTITY_AGENT,  /* agent socket path, or "none" (default $SSH_AUTH_SOCK) */
	INV_GLOBAL_KNOWN_HOSTS, /* default /etc/ssh/ssh_known_hosts */
	INV_KEEPALIVE_INTERVAL, /* seconds, 0 = off (ServerAliveInterval) */
	INV_KEEPALIVE_COUNT,    /* ServerAliveCountMax (default 3) */
	INV_INSTALL,         /* shell commands run on the terminal */
	INV_RESTART,
	INV_SHUTDOWN,
	INV_REBOOT,
	INV_HEALTH,
	INV_HEALTH_RETRIES,
	INV_HEALTH_INTERVAL,
	INV_BUSY,            /* exit 75 = busy, come back later */
	INV_LOGS,            /* glob(s) of log files, comma-separated */
	INV_BOOT_ID,         /* file holding the boot id (default /proc/sys/kernel/random/boot_id) */
	INV_WINDOW,          /* maintenance window HH:MM-HH:MM */
	INV_WINDOW_TZ,
	INV_RELAY,           /* an inventory host that stages bundles and fans them out to this terminal (lib/relay) */
	INV_RELAY_CLIENT,    /* the relay's SSH client: auto | ssh | dbclient (default auto) */
	INV_RELAY_IDENTITY,  /* private key file on the relay for its terminals, or unset: the client's own default */
	INV_RELAY_PARALLEL,  /* terminals a relay serves at once (default 10) */
	INV_RELAY_CACHE,     /* directory on the relay for staged bundles (default ~/.fleetctl-relay) */
	INV__COUNT
};

/* Where an effective value came from. */
enum inv_origin_kind { INV_FROM_DEFAULT, INV_FROM_SSH_CONFIG, INV_FROM_FLEET, INV_FROM_GROUP, INV_FROM_HOST, INV_FROM_CLI };

struct inv_setting {  /* both interned: owned by the inventory, shared between hosts */
	char *value;      /* NULL = unset */
	char *origin;     /* "fleet.ini:12", "-o", "/root/.ssh/config:40", "default" */
};

struct inv_host {
	char *name;
	size_t order;                    /* position in inventory order */
	bool implicit;                   /* created for a ProxyJump hop, not selectable */
	char **groups;                   /* NULL-terminated, names of groups the host belongs to (direct or included) */
	struct inv_setting set[INV__COUNT];
	unsigned char kind[INV__COUNT];  /* enum inv_origin_kind of each setting (apart: 100,000 hosts are 23 MB smaller) */
	struct inv_host *jump;           /* resolved INV_JUMP (borrowed), NULL for none; use this, not the
	                                    INV_JUMP string, which may be "none" or a ProxyJump chain */
	struct inv_host *relay;          /* resolved INV_RELAY (borrowed), NULL for none */
	char *warning;                   /* e.g. unsupported ssh_config Match/ProxyCommand affecting this host, or NULL */
};

struct inv_group {
	char *name;
	char **members;                  /* NULL-terminated host names, inventory order */
};

struct inventory {
	char *path;
	struct inv_host **hosts;         /* selectable hosts in inventory order */
	size_t nhosts;
	struct inv_host **implicit;      /* jump hops from ssh_config that are not inventory hosts */
	size_t nimplicit;
	struct inv_group **groups;
	size_t ngroups;
	/* [fleet]-only settings */
	char *state_dir;                 /* default: dirname(path)/.fleet */
	char *ssh_config;                /* NULL = default files, "none", or a path */
	char *on_failure;                /* local alarm command, or NULL */
	char **require_signature;        /* NULL-terminated trusted public key files (lib/sign), or NULL: none needed */
	char *history_remote;            /* the shared history (lib/histsync), or NULL: this controller's only */
	char *bundle_remote;             /* a directory shared by the controllers' bundle stores, or NULL */
	struct inv_index *index;         /* private to the inventory*.c files: name lookup */
};

/* Command-line -o key=value, applied above [host:]. */
struct inv_override {
	char *key;
	char *value;
};

struct inventory_opts {
	const struct inv_override *overrides;
	size_t noverrides;
	const char *ssh_config;          /* -F FILE; NULL = what [fleet] ssh_config says, else the defaults */
};

/* Load and resolve path.  0 on success; -1 with *cause = "FILE:LINE: message" (caller frees). */
int inventory_load(const char *path, const struct inventory_opts *opts, struct inventory **out, char **cause);
void inventory_free(struct inventory *inv);

/* Effective value of key for h (borrowed; NULL when unset and without default). */
const char *inv_get(const struct inv_host *h, enum inv_key key);
/* Effective integer (port, keep, timeouts, parallel); the value was validated at load. */
long inv_get_long(const struct inv_host *h, enum inv_key key);
/* Name of a key as written in fleet.ini ("connect_timeout"), and the reverse (-1 if unknown). */
const char *inv_key_name(enum inv_key key);
int inv_key_lookup(const char *name);

struct inv_host *inventory_find(const struct inventory *inv, const char *name);
const struct inv_group *inventory_find_group(const struct inventory *inv, const char *name);

/* True for keys whose value is an integer (port, keep, timeouts, parallel, retries, intervals). */
bool inv_key_is_number(enum inv_key key);
/* Host patterns and their ranges: lib/hostrange.h. */

#endif
