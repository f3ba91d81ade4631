/*
 * sshconfig: read OpenSSH client configuration (ssh_config(5)) and resolve it for one host,
 * with OpenSSH's semantics for the keywords fleetctl uses.  Pure: never connects.
 *
 * Parse each file once (sshconfig_load), then resolve many hosts (sshconfig_resolve) cheaply.
 */
#ifndef FLEET_SSHCONFIG_H
#define FLEET_SSHCONFIG_H

#include <stddef.h>

struct sshconfig;  /* opaque: parsed files */

/* Which values sshconfig_resolve reports.  Multi-valued IdentityFile is in identity_files. */
enum sshcfg_key {
	SSHCFG_HOSTNAME,
	SSHCFG_USER,
	SSHCFG_PORT,
	SSHCFG_IDENTITIES_ONLY,
	SSHCFG_IDENTITY_AGENT,
	SSHCFG_PROXYJUMP,
	SSHCFG_USER_KNOWN_HOSTS_FILE,    /* first file only */
	SSHCFG_GLOBAL_KNOWN_HOSTS_FILE,  /* first file only */
	SSHCFG_STRICT_HOST_KEY_CHECKING, /* normalised: "yes", "accept-new", "no" ("ask" -> "yes") */
	SSHCFG_CONNECT_TIMEOUT,
	SSHCFG_SERVER_ALIVE_INTERVAL,
	SSHCFG_SERVER_ALIVE_COUNT_MAX,
	SSHCFG__COUNT
};

/*
 * Value formats: Port, ServerAliveCountMax digits; ConnectTimeout, ServerAliveInterval whole seconds
 * ("1m30s" -> "90"); IdentitiesOnly "yes"/"no"; HostName lowercased unless an address, as ssh does.
 * IdentityAgent, UserKnownHostsFile, GlobalKnownHostsFile and ProxyJump may be "none"; IdentityAgent
 * may be "SSH_AUTH_SOCK"; ProxyJump and GlobalKnownHostsFile keep their %-tokens (ssh does too).
 */
struct sshcfg_value {
	char *value;     /* NULL = not set by any file; tokens (%h %p %r %n %%) and ~ already expanded */
	char *origin;    /* "/root/.ssh/config:40" */
};

struct sshcfg_result {
	struct sshcfg_value v[SSHCFG__COUNT];
	struct sshcfg_value *identity_files;  /* in order, expanded */
	size_t nidentity_files;
	char *warning;   /* unsupported Match criterion or ProxyCommand that applies to this host, or NULL */
};

/*
 * Load configuration.  path == NULL: ~/.ssh/config then /etc/ssh/ssh_config (missing files are fine).
 * path == "none": an empty configuration.  Otherwise that one file (must exist), like ssh -F.
 * Include directives (globs; relative paths under ~/.ssh for user files, /etc/ssh for system files)
 * are followed.  0 on success, -1 with *cause = "FILE:LINE: message".
 */
int sshconfig_load(const char *path, struct sshconfig **out, char **cause);
void sshconfig_free(struct sshconfig *cfg);

/*
 * Resolve for host `name` (the name as typed, %n).  `user` is the remote user known so far (from
 * fleet.ini), used by `Match user` and %r; NULL = local user.  `port` likewise (0 = unknown -> 22).
 * Fills *res (caller frees with sshcfg_result_free).  0 / -1 with *cause.
 */
int sshconfig_resolve(const struct sshconfig *cfg, const char *name, const char *user, int port,
    struct sshcfg_result *res, char **cause);
void sshcfg_result_free(struct sshcfg_result *res);

#endif
