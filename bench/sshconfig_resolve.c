/*
 * sshconfig_resolve: time lib/sshconfig on a generated configuration.
 * usage: sshconfig_resolve CONFIG NHOSTS
 * Loads CONFIG once, resolves NHOSTS names (site-N-kioskM, cycling over the generated sites),
 * prints the load time, the total resolve time and the time per host.
 */
#include "../lib/sshconfig.h"
#include "../lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct sshconfig *cfg = NULL;
	char *cause = NULL, name[64];
	double t0, t1, t2;
	long n, i, set = 0;

	if (argc != 3 || parse_long(argv[2], 1, 100000000, &n) < 0) {
		fprintf(stderr, "usage: sshconfig_resolve CONFIG NHOSTS\n");
		return 2;
	}
	t0 = bench_now();
	if (sshconfig_load(argv[1], &cfg, &cause) < 0) {
		fprintf(stderr, "sshconfig_resolve: %s\n", cause);
		return 1;
	}
	t1 = bench_now();
	for (i = 0; i < n; i++) {
		struct sshcfg_result res;

		snprintf(name, sizeof(name), "site%ld-kiosk%ld", i % 120, i);
		if (sshconfig_resolve(cfg, name, NULL, 0, &res, &cause) < 0) {
			fprintf(stderr, "sshconfig_resolve: %s: %s\n", name, cause);
			return 1;
		}
		set += res.v[SSHCFG_HOSTNAME].value != NULL;
		sshcfg_result_free(&res);
	}
	t2 = bench_now();
	printf("load %.2f ms; %ld resolutions in %.1f ms (%.1f us/host, %ld with a HostName)\n",
	    (t1 - t0) * 1e3, n, (t2 - t1) * 1e3, (t2 - t1) * 1e6 / (double)n, set);
	sshconfig_free(cfg);
	return 0;
}
