/*
 * fleetctl: keep a fleet of remote terminals on the right software over SSH.
 *
 * This file holds main, the global options, the command table and dispatch — nothing else.
 * Each command lives in cmd/<name>.c; the work is done by the modules in lib/.
 */
#include <getopt.h>
#include <git2.h>
#include <libssh2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "lib/util.h"

#define FLEETCTL_VERSION "0.1.0"

extern const struct cmd_entry cmd_hosts_entry;
extern const struct cmd_entry cmd_exec_entry;
extern const struct cmd_entry cmd_push_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_rollback_entry;
extern const struct cmd_entry cmd_resume_entry;
extern const struct cmd_entry cmd_retry_entry;
extern const struct cmd_entry cmd_install_entry;
extern const struct cmd_entry cmd_restart_entry;
extern const struct cmd_entry cmd_shutdown_entry;
extern const struct cmd_entry cmd_reboot_entry;
extern const struct cmd_entry cmd_bundle_entry;
extern const struct cmd_entry cmd_history_entry;
extern const struct cmd_entry cmd_runs_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_logs_entry;
extern const struct cmd_entry cmd_lock_entry;

/* Destructive commands carry CMD_CHANGES_TERMINALS and are only ever matched by their full name. */
const struct cmd_entry *const cmd_table[] = {
	&cmd_hosts_entry,
	&cmd_exec_entry,
	&cmd_push_entry,
	&cmd_status_entry,
	&cmd_rollback_entry,
	&cmd_resume_entry,
	&cmd_retry_entry,
	&cmd_install_entry,
	&cmd_restart_entry,
	&cmd_shutdown_entry,
	&cmd_reboot_entry,
	&cmd_bundle_entry,
	&cmd_history_entry,
	&cmd_runs_entry,
	&cmd_show_entry,
	&cmd_logs_entry,
	&cmd_lock_entry,
	NULL
};

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	interrupted = sig;
}

static void
usage_all(FILE *f)
{
	const struct cmd_entry *const *e;

	fprintf(f, "usage: fleetctl [-i FILE] [-F FILE] [-o KEY=VALUE]... COMMAND [ARGS]\n\n"
	    "Keep a fleet of remote terminals on the right software over SSH.\n\ncommands:\n");
	for (e = cmd_table; *e != NULL; e++)
		fprintf(f, "  %-10s %s\n", (*e)->name, (*e)->summary);
	fprintf(f, "\nglobal options (also accepted after the command):\n"
	    "  -i, --inventory FILE     inventory (default $FLEETCTL_INVENTORY, else ./fleet.ini)\n"
	    "  -F, --ssh-config FILE    ssh_config to read instead of ~/.ssh/config (\"none\": none)\n"
	    "  -o, --option KEY=VALUE   override a host key for every selected host\n"
	    "      --accept-new-host-keys  add unknown host keys to known_hosts (never changed ones)\n"
	    "  -h, --help               this help; `fleetctl help COMMAND` for one command\n"
	    "  -V, --version            print the version\n\n"
	    "exit status: 0 ok, 1 failed or halted, 2 usage or inventory error (nothing run), 3 none failed but\n"
	    "some unreachable, hostkey, auth, timeout, locked, busy, delayed or not yet done, 130 interrupted\n"
	    "see fleetctl(1) and fleet.ini(5)\n");
}

static const struct cmd_entry *
find_command(const char *name)
{
	const struct cmd_entry *const *e;

	for (e = cmd_table; *e != NULL; e++)
		if (strcmp((*e)->name, name) == 0)
			return *e;
	return NULL;
}

/* Big fleets need one descriptor per terminal (more through jump hosts): raise the soft limit. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_ctx ctx;
	struct sigaction sa;
	const struct cmd_entry *entry;
	int opt, rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.interrupted = &interrupted;
	ctx.stdin_tty = isatty(STDIN_FILENO);
	ctx.stdout_tty = isatty(STDOUT_FILENO);
	ctx.stderr_tty = isatty(STDERR_FILENO);

	/* Stop at the first non-option: that is the command. */
	while ((opt = getopt_long(argc, argv, "+" CMD_COMMON_SHORT "hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage_all(stdout);
			return EXIT_OK;
		case 'V':
			printf("fleetctl %s (libssh2 %s, libgit2 %d.%d.%d)\n", FLEETCTL_VERSION,
			    LIBSSH2_VERSION, LIBGIT2_VER_MAJOR, LIBGIT2_VER_MINOR, LIBGIT2_VER_REVISION);
			return EXIT_OK;
		default:
			rc = cmd_common_option(&ctx, opt, optarg);
			if (rc == 1)
				break;
			if (rc == 0)
				usage_all(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage_all(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 >= argc) {
			usage_all(stdout);
			return EXIT_OK;
		}
		entry = find_command(argv[optind + 1]);
		if (entry == NULL) {
			cmd_error("unknown command '%s'", argv[optind + 1]);
			return EXIT_USAGE;
		}
		ctx.entry = entry;
		return cmd_usage(&ctx, true);
	}
	entry = find_command(argv[optind]);
	if (entry == NULL) {
		cmd_error("unknown command '%s' (see fleetctl --help)", argv[optind]);
		return EXIT_USAGE;
	}
	ctx.entry = entry;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	/* Both initialisers are not thread-safe: run them before any worker starts. */
	libssh2_init(0);
	git_libgit2_init();

	argc -= optind;
	argv += optind;
	optind = 0;   /* glibc: reset getopt fully for the command's own parse */
	rc = entry->exec(&ctx, argc, argv);

	inventory_free(ctx.inv);
	for (size_t i = 0; i < ctx.noverrides; i++) {
		free(ctx.overrides[i].key);
		free(ctx.overrides[i].value);
	}
	free(ctx.overrides);
	git_libgit2_shutdown();
	libssh2_exit();
	if (interrupted && rc != EXIT_USAGE)
		rc = EXIT_INTERRUPTED;
	return rc;
}
