/* fuzz_sshconfig: lib/sshconfig's ssh_config(5) parser (sshconfig_load on the input written as
 * ~/.ssh/fuzz.conf), then sshconfig_resolve for a few host names, users and ports. */
#include "fuzz.h"

#include <ctype.h>
#include <strings.h>

#include "../../lib/sshconfig.h"

/*
 * Include follows globs: relative ones stay under the scratch ~/.ssh, but an absolute path, "~user" or
 * ".." would read the machine's files (/dev/tty blocks, /proc is large and changes).  Skip such inputs.
 */
static int
unsafe_include(const uint8_t *data, size_t size)
{
	size_t i = 0;

	while (i < size) {
		size_t end = i, j = i;

		while (end < size && data[end] != '\n')
			end++;
		while (j < end && strchr(" \t\r", data[j]) != NULL && data[j] != '\0')
			j++;
		if (end - j >= 7 && strncasecmp((const char *)data + j, "include", 7) == 0) {
			for (size_t k = j + 7; k < end; k++) {
				if (data[k] == '~' || (data[k] == '.' && k + 1 < end && data[k + 1] == '.'))
					return 1;
				if (data[k] == '/' && strchr(" \t=\"", data[k - 1]) != NULL)
					return 1;
			}
		}
		i = end + 1;
	}
	return 0;
}

static const struct {
	const char *name, *user;
	int port;
} targets[] = {
	{ "kiosk07", NULL, 0 },
	{ "web-01", "alice", 22 },
	{ "a.example.com", NULL, 2222 },
	{ "10.0.0.7", "root", 0 },
	{ "GW-North.Example", NULL, 0 },
};

static void
check_value(const struct sshcfg_value *v)
{
	if (v->value != NULL) {
		(void)strlen(v->value);
		FUZZ_ASSERT(v->origin != NULL);
		(void)strlen(v->origin);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *path;
	struct sshconfig *cfg = NULL;
	char *cause = NULL;

	if (unsafe_include(data, size))
		return 0;
	if (path == NULL) {
		char *inc;

		path = fuzz_path("home/.ssh/fuzz.conf");
		/* something for relative Includes to find */
		inc = fuzz_path("home/.ssh/inc/10-a.conf");
		fuzz_write(inc, "Host *\n  Port 2001\n", 19);
		free(inc);
		inc = fuzz_path("home/.ssh/inc/20-b.conf");
		fuzz_write(inc, "Match user alice\n  User b\nHost k*\n  ProxyJump gw\n", 50);
		free(inc);
	}
	fuzz_write(path, data, size);
	if (sshconfig_load(path, &cfg, &cause) != 0) {
		FUZZ_ASSERT(cause != NULL);
		free(cause);
		sshconfig_free(cfg);
		return 0;
	}
	FUZZ_ASSERT(cfg != NULL);
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		struct sshcfg_result res;

		memset(&res, 0, sizeof(res));
		if (sshconfig_resolve(cfg, targets[t].name, targets[t].user, targets[t].port, &res, &cause) != 0) {
			FUZZ_ASSERT(cause != NULL);
			free(cause);
			cause = NULL;
			sshcfg_result_free(&res);
			continue;
		}
		for (int k = 0; k < SSHCFG__COUNT; k++)
			check_value(&res.v[k]);
		for (size_t i = 0; i < res.nidentity_files; i++)
			check_value(&res.identity_files[i]);
		if (res.warning != NULL)
			(void)strlen(res.warning);
		sshcfg_result_free(&res);
	}
	free(cause);
	sshconfig_free(cfg);
	return 0;
}
