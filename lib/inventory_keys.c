/*
 * inventory_keys: the keys fleet.ini knows, and what a value of each must look like.
 *
 * inventory_value checks one value wherever it comes from (fleet.ini, -o, ssh_config) and returns the
 * form that is stored: "~/" expanded in paths, lists as "a, b".  Messages start with the caller's loc.
 */
#include "inventory_int.h"
#include "hostrange.h"

#include <ctype.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* The key table inventory.h refers to: host keys in enum inv_key order, then the K_* keys. */
const struct inv_keyinfo inv_keys[K__COUNT] = {
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

/* ---- paths ---- */

const char *
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
int
inventory_key_any(const char *name)
{
	int k;

	for (k = 0; k < K__COUNT; k++)
		if (strcmp(inv_keys[k].name, name) == 0)
			return k;
	return -1;
}

/* ---- key names (public) ---- */

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
int
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
