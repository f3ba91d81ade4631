/*
 * sshcfg_dump: print what lib/sshconfig resolves for each host, one "keyword value" line per value
 * that some file set, keywords lowercase like `ssh -G`.  Test tool for tests/e2e/sshconfig_oracle.sh.
 *
 * usage: sshcfg_dump [-F file] [-l user] [-p port] [-o] host...
 *   -F file  like ssh -F (default: ~/.ssh/config then /etc/ssh/ssh_config; "none" = nothing)
 *   -o       add the origin (FILE:LINE) after each value
 * A host that fails prints "error MESSAGE"; a warning prints "warning MESSAGE".  Each host's block
 * starts with "host NAME".
 */
#include "../../lib/sshconfig.h"
#include "../../lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const sshcfg_dump_names[SSHCFG__COUNT] = {
	[SSHCFG_HOSTNAME] = "hostname",
	[SSHCFG_USER] = "user",
	[SSHCFG_PORT] = "port",
	[SSHCFG_IDENTITIES_ONLY] = "identitiesonly",
	[SSHCFG_IDENTITY_AGENT] = "identityagent",
	[SSHCFG_PROXYJUMP] = "proxyjump",
	[SSHCFG_USER_KNOWN_HOSTS_FILE] = "userknownhostsfile",
	[SSHCFG_GLOBAL_KNOWN_HOSTS_FILE] = "globalknownhostsfile",
	[SSHCFG_STRICT_HOST_KEY_CHECKING] = "stricthostkeychecking",
	[SSHCFG_CONNECT_TIMEOUT] = "connecttimeout",
	[SSHCFG_SERVER_ALIVE_INTERVAL] = "serveraliveinterval",
	[SSHCFG_SERVER_ALIVE_COUNT_MAX] = "serveralivecountmax",
};

static void
sshcfg_dump_value(const char *kw, const struct sshcfg_value *v, int origins)
{
	if (origins)
		printf("%s %s %s\n", kw, v->value, v->origin);
	else
		printf("%s %s\n", kw, v->value);
}

int
main(int argc, char **argv)
{
	struct sshconfig *cfg = NULL;
	const char *file = NULL, *user = NULL;
	char *cause = NULL;
	int c, port = 0, origins = 0, rc = 0;
	long l;

	while ((c = getopt(argc, argv, "F:l:p:o")) != -1) {
		switch (c) {
		case 'F': file = optarg; break;
		case 'l': user = optarg; break;
		case 'p':
			if (parse_long(optarg, 1, 65535, &l) < 0) {
				fprintf(stderr, "sshcfg_dump: bad port '%s'\n", optarg);
				return 2;
			}
			port = (int)l;
			break;
		case 'o': origins = 1; break;
		default:
			fprintf(stderr, "usage: sshcfg_dump [-F file] [-l user] [-p port] [-o] host...\n");
			return 2;
		}
	}
	if (sshconfig_load(file, &cfg, &cause) < 0) {
		printf("error %s\n", cause);
		free(cause);
		return 1;
	}
	for (; optind < argc; optind++) {
		struct sshcfg_result res;
		size_t i;
		int k;

		printf("host %s\n", argv[optind]);
		if (sshconfig_resolve(cfg, argv[optind], user, port, &res, &cause) < 0) {
			printf("error %s\n", cause);
			free(cause);
			cause = NULL;
			rc = 1;
			continue;
		}
		for (k = 0; k < SSHCFG__COUNT; k++)
			if (res.v[k].value != NULL)
				sshcfg_dump_value(sshcfg_dump_names[k], &res.v[k], origins);
		for (i = 0; i < res.nidentity_files; i++)
			sshcfg_dump_value("identityfile", &res.identity_files[i], origins);
		if (res.warning != NULL)
			printf("warning %s\n", res.warning);
		sshcfg_result_free(&res);
	}
	sshconfig_free(cfg);
	return rc;
}
