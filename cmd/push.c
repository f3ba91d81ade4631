/*
 * push: put a release on the selected terminals — bundle a directory (or check a given archive), keep
 * it in the local bundle store, then on every terminal at once: upload (resumed, skipped when already
 * there), verify its SHA-256, unpack into its own release directory, install, switch `current`
 * atomically, restart, prune.  One history commit records every terminal's result.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/bundle.h"
#include "../lib/targets.h"
#include "../lib/deploy.h"
#include "../lib/history.h"
#include "cmd.h"

/* The bundle to push: a checked archive, or a directory bundled now; either way put in the store. */
static int
push_prepare_bundle(struct cmd_ctx *ctx, const char *src, const char *version, const char *component,
    const char *compress, struct bundle **out, char **stored)
{
	struct bundle *b = NULL;
	struct stat st;
	char *store = xasprintf("%s/bundles", ctx->inv->state_dir), *tmp = NULL, *cause = NULL;
	int rc = EXIT_USAGE;

	if (stat(src, &st) != 0) {
		cmd_error("push: cannot open '%s': %s", src, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		if (version == NULL) {
			cmd_error("push: pushing a directory needs --version");
			goto out;
		}
		if (mkdir_p(store, 0755) != 0) {
			cmd_error("push: cannot create '%s': %s", store, strerror(errno));
			goto out;
		}
		tmp = xasprintf("%s/.new-%ld.tar", store, (long)getpid());
		if (bundle_create(src, version, component != NULL ? component : "app", compress, tmp, &b, &cause) != 0) {
			cmd_error("push: %s", cause);
			rc = EXIT_FAILED;
			goto out;
		}
	} else {
		if (version != NULL || compress != NULL) {
			cmd_error("push: --version and --compress go with a directory; an archive carries its own");
			goto out;
		}
		/* The same checks as when bundling: a hostile archive never reaches a terminal. */
		if (bundle_open(src, &b, &cause) != 0) {
			cmd_error("push: refusing '%s': %s", src, cause);
			rc = EXIT_FAILED;
			goto out;
		}
		if (component != NULL && strcmp(component, b->component) != 0) {
			cmd_error("push: '%s' is a bundle of component '%s', not '%s'", src, b->component, component);
			goto out;
		}
	}
	if (bundle_store_put(store, b, stored, &cause) != 0) {
		cmd_error("push: cannot keep the bundle in '%s': %s", store, cause);
		rc = EXIT_FAILED;
		goto out;
	}
	/* Shared with the other controllers, so that they can send it again (rollback, retry). */
	if (ctx->inv->bundle_remote != NULL && bundle_store_put(ctx->inv->bundle_remote, b, NULL, &cause) != 0) {
		cmd_error("push: warning: cannot put the bundle in bundle_remote '%s': %s", ctx->inv->bundle_remote, cause);
		free(cause);
		cause = NULL;
	}
	*out = b;
	b = NULL;
	rc = 0;
out:
	if (tmp != NULL)
		unlink(tmp);
	bundle_free(b);
	free(tmp);
	free(store);
	free(cause);
	return rc;
}

/* "K/N": 1 <= K <= N <= 1000.  0, or -1. */
static int
push_parse_shard(const char *s, long *k, long *n)
{
	const char *slash = strchr(s, '/');
	char *ks;
	int rc;

	if (slash == NULL)
		return -1;
	ks = xstrndup(s, (size_t)(slash - s));
	rc = parse_long(ks, 1, 1000, k) == 0 && parse_long(slash + 1, 1, 1000, n) == 0 && *k <= *n ? 0 : -1;
	free(ks);
	return rc;
}

/* The shard (0..n-1) of a terminal: FNV-1a of its name. */
static long
push_shard_of(const char *name, long n)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return (long)(h % (uint32_t)n);
}

int cmd_push(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_push(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "version", required_argument, NULL, 'v' },
		{ "component", required_argument, NULL, 'c' },
		{ "compress", required_argument, NULL, 'z' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "waves", required_argument, NULL, 'W' },
		{ "max-fail", required_argument, NULL, 'F' + 256 },
		{ "max-unreachable", required_argument, NULL, 'U' },
		{ "min-sample", required_argument, NULL, CMD_OPT_MIN_SAMPLE },
		{ "rate", required_argument, NULL, CMD_OPT_RATE },
		{ "soak", required_argument, NULL, CMD_OPT_SOAK },
		{ "pause-after-wave", no_argument, NULL, 'P' },
		{ "rollback-on-halt", no_argument, NULL, 'R' },
		{ "ignore-window", no_argument, NULL, 'I' },
		{ "at", required_argument, NULL, 'A' },
		{ "retry-for", required_argument, NULL, 'T' },
		{ "until", required_argument, NULL, 'Z' },
		{ "no-delta", no_argument, NULL, 'N' + 512 },
		{ "hardlink", no_argument, NULL, 'H' + 512 },
		{ "no-relay", no_argument, NULL, 'Y' + 512 },
		{ "sign", required_argument, NULL, 'S' + 512 },
		{ "shard", required_argument, NULL, 'K' + 512 },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_rollout_opts ropt;
	struct run_spec dr;
	struct deploy_target *targets = NULL;
	struct inv_host **hosts = NULL;
	struct bundle *b = NULL;
	const char *limit = NULL, *version = NULL, *component = NULL, *compress = NULL;
	char *stored = NULL, *run_id = NULL, *command = NULL, *signer = NULL;
	const char *sign_key = NULL, *shard = NULL;
	long shard_k = 0, shard_n = 0;
	struct stat st;
	bool dry_run = false, json = false, no_delta = false, hardlink = false, no_relay = false;
	long parallel = 0;
	size_t n = 0;
	int opt, rc;

	memset(&ropt, 0, sizeof(ropt));
	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORT "hl:p:v:c:z:nj", longopts, NULL)) != -1) {
		if ((rc = cmd_rollout_option(&ropt, "push", opt, optarg)) != 0) {
			if (rc < 0)
				goto usage;
			continue;
		}
		switch (opt) {
		case 'h':
			rc = cmd_usage(ctx, true);
			goto out;
		case 'l': limit = optarg; break;
		case 'p':
			if (cmd_parse_parallel("push", optarg, &parallel) != 0)
				goto usage;
			break;
		case 'v':
			if (cmd_check_version("push", "version", optarg) != 0)
				goto usage;
			version = optarg;
			break;
		case 'c':
			if (cmd_check_component("push", optarg) != 0)
				goto usage;
			component = optarg;
			break;
		case 'z':
			if (strcmp(optarg, "gzip") != 0 && strcmp(optarg, "zstd") != 0 && strcmp(optarg, "none") != 0) {
				cmd_error("push: --compress wants gzip, zstd or none, not '%s'", optarg);
				goto usage;
			}
			compress = optarg;
			break;
		case 'n': dry_run = true; break;
		case 'N' + 512: no_delta = true; break;
		case 'H' + 512: hardlink = true; break;
		case 'Y' + 512: no_relay = true; break;
		case 'S' + 512: sign_key = optarg; break;
		case 'K' + 512:
			if (push_parse_shard(optarg, &shard_k, &shard_n) != 0) {
				cmd_error("push: --shard wants K/N with 1 <= K <= N <= 1000 (this job's part of N), not '%s'", optarg);
				goto usage;
			}
			shard = optarg;
			break;
		case 'j': json = true; break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				goto usage;
			break;
		}
	}
	if (optind != argc - 1) {
		cmd_error("push: name one bundle or release directory (fleetctl push BUNDLE|DIR [-l SEL])");
		goto usage;
	}
	if (cmd_rollout_finish(&ropt, "push") != 0)
		goto usage;
	/* Every argument is checked before any terminal is touched. */
	if ((rc = cmd_select(ctx, limit, &hosts, &n)) != 0)
		goto out;
	if (shard != NULL) {
		size_t kept = 0;

		/* Each terminal's part comes from its name alone: the N jobs of one rollout never overlap and
		 * together cover the selection, whatever order or machine they run on. */
		for (size_t i = 0; i < n; i++)
			if (push_shard_of(hosts[i]->name, shard_n) == shard_k - 1)
				hosts[kept++] = hosts[i];
		n = kept;
		if (n == 0) {
			cmd_error("push: shard %s of '%s' holds no terminal: nothing to do", shard, limit != NULL ? limit : "all");
			rc = EXIT_OK;
			goto out;
		}
	}
	if ((rc = push_prepare_bundle(ctx, argv[optind], version, component, compress, &b, &stored)) != 0)
		goto out;
	if ((rc = cmd_release_signature(ctx, "push", b, stat(argv[optind], &st) == 0 && S_ISDIR(st.st_mode) ? NULL :
	    argv[optind], sign_key, &signer)) != 0)
		goto out;
	if ((rc = cmd_deploy_targets(ctx, "push", hosts, n, b, stored, !no_delta, hardlink, &targets)) != 0)
		goto out;

	run_id = cmd_run_id();
	command = xasprintf("push %s (%s, sha256 %s)", b->id, argv[optind], b->sha256);
	memset(&dr, 0, sizeof(dr));
	dr.kind = "push";
	dr.run_id = run_id;
	dr.selection = limit;
	dr.command = command;
	run_spec_release(&dr, b);
	dr.hosts = hosts;
	dr.n = n;
	dr.targets = targets;
	dr.parallel = parallel > 0 ? (int)parallel : (int)inv_get_long(hosts[0], INV_PARALLEL);
	dr.dry_run = dry_run;
	dr.no_delta = no_delta;
	dr.hardlink = hardlink;
	dr.no_relay = no_relay;
	dr.signer = signer;
	dr.shard = shard;
	cmd_rollout_apply(&ropt, &dr);
	if (!json)
		cmd_error("%s %s %s (%.1f MiB, %zu files) to %zu terminal%s", dry_run ? "dry run: push" : "pushing",
		    b->component, b->id, (double)b->size / 1048576.0, b->nfiles, n, n == 1 ? "" : "s");
	rc = cmd_deploy_run(ctx, &dr, json);
	goto out;
usage:
	rc = EXIT_USAGE;
out:
	targets_free(targets, n);
	bundle_free(b);
	free(stored);
	free(run_id);
	free(command);
	free(signer);
	free(hosts);
	cmd_rollout_opts_free(&ropt);
	return rc;
}

const struct cmd_entry cmd_push_entry = {
	.name = "push",
	.usage = "BUNDLE|DIR [--version V] [--component NAME] [--compress gzip|zstd|none] [-l SEL] [-p N]\n"
	    "       [--waves LIST] [--max-fail N|P%] [--max-unreachable N|P%] [--min-sample N] [--rate N/min]\n"
	    "       [--soak DURATION] [--pause-after-wave] [--rollback-on-halt] [--at TIME]\n"
	    "       [--retry-for DURATION] [--until TIME|DURATION] [--ignore-window]\n"
	    "       [--no-delta | --hardlink] [--no-relay] [--sign KEY] [--shard K/N] [--dry-run] [--json]",
	.summary = "put a release on the selected terminals and switch them to it",
	.help =
	    "  BUNDLE              an archive made by `fleetctl bundle` (checked again before use)\n"
	    "  DIR                 a release directory, bundled now (needs --version)\n"
	    "  -v, --version V     release version, when pushing a directory\n"
	    "  -c, --component C   component of a directory push (default app); must match an archive's\n"
	    "  -z, --compress Z    gzip (default), zstd, none: for a directory push\n"
	    "  -l, --limit SEL     hosts, groups, globs; !term excludes (default: all)\n"
	    "  -p, --parallel N    terminals at once (default: inventory 'parallel')\n"
	    "      --no-delta      send the whole bundle, even where the terminal holds most of it\n"
	    "      --no-relay      straight to every terminal (through its jump host), none through its relay\n"
	    "      --hardlink      a delta hard-links the files it reuses instead of copying them (faster, no\n"
	    "                      space; but the releases then share those files: a change to one in place\n"
	    "                      changes both)\n"
	    "      --sign KEY      sign the release now (ed25519 PEM private key; else BUNDLE.sig is used)\n"
	    "      --shard K/N     only this job's part of the selection (N CI jobs, K = 1..N; by a hash of\n"
	    "                      each terminal's name, so the parts never overlap and cover it all)\n"
	    "  -n, --dry-run       connect and check each terminal, say what would happen, change nothing\n"
	    "      --json          one JSON object per terminal, then a summary object\n"
	    CMD_ROLLOUT_HELP
	    "\nPer terminal: upload to a partial file (resumed; skipped when the release is already installed),\n"
	    "verify its SHA-256, unpack into releases/<id>, run `install` there, switch `current`, run\n"
	    "`restart`, prune to `keep` releases.  Any failure leaves `current` as it was.\n"
	    "\nDelta: where the history says a terminal holds earlier releases (current, previous, the others it\n"
	    "installed), only what they lack travels: files found there by SHA-256 are copied on the terminal,\n"
	    "a big file (4 MiB or more) that changed in places travels as the 64 KiB blocks that differ.  The\n"
	    "assembled tree is checked file by file against the manifest before the switch; a missing or changed\n"
	    "base falls back to the full bundle in the same run, and says so.\n",
	.flags = CMD_CHANGES_TERMINALS | CMD_READS_HISTORY,
	.exec = cmd_push,
};
