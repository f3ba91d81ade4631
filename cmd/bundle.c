/*
 * bundle: turn a release directory into a reproducible archive (tar + manifest with every file's
 * SHA-256) and print its release id (VERSION-<12 hex of the archive's SHA-256>); or, with --check,
 * run the full safety check on an archive from anywhere and say whether push would accept it.
 * Needs no inventory and touches no terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/bundle.h"
#include "../lib/sign.h"
#include "../lib/util.h"
#include "cmd.h"

#define BUNDLE_OPT_JSON      2100
#define BUNDLE_OPT_VERSION   2101
#define BUNDLE_OPT_COMPONENT 2102
#define BUNDLE_OPT_COMPRESS  2103
#define BUNDLE_OPT_CHECK     2104
#define BUNDLE_OPT_SIGN      2105

static int
bundle_print_json(const struct bundle *b, bool ok, const char *error)
{
	json_t *o = json_object();
	char *s;
	int rc = EXIT_OK;

	json_object_set_new(o, "ok", json_boolean(ok));
	if (b != NULL) {
		json_object_set_new(o, "id", json_string(b->id));
		json_object_set_new(o, "component", json_string(b->component));
		json_object_set_new(o, "version", json_string(b->version));
		json_object_set_new(o, "sha256", json_string(b->sha256));
		json_object_set_new(o, "size", json_integer((json_int_t)b->size));
		json_object_set_new(o, "files", json_integer((json_int_t)b->nfiles));
		json_object_set_new(o, "payload_bytes", json_integer((json_int_t)b->payload_bytes));
		json_object_set_new(o, "compression", json_string(b->compression));
		json_object_set_new(o, "path", json_string(b->path));
	}
	if (error != NULL)
		json_object_set_new(o, "error", json_string(error));
	/* json_string refuses invalid UTF-8 (NULL, dropped silently): messages are made printable first */
	s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
	if (s == NULL || printf("%s\n", s) < 0)
		rc = EXIT_FAILED;
	free(s);
	json_decref(o);
	return rc;
}

static int
bundle_check(const char *file, bool json)
{
	struct bundle *b = NULL;
	char *cause = NULL;
	int rc;

	if (bundle_open(file, &b, &cause) != 0) {
		if (json)
			bundle_print_json(NULL, false, cause != NULL ? cause : "refused");
		cmd_error("%s", cause != NULL ? cause : "refused");
		free(cause);
		return EXIT_FAILED;
	}
	if (json)
		rc = bundle_print_json(b, true, NULL);
	else
		rc = printf("ok %s %s files=%zu size=%llu\n", b->id, b->sha256, b->nfiles,
		    (unsigned long long)b->size) < 0 ? EXIT_FAILED : EXIT_OK;
	bundle_free(b);
	return rc;
}

static int
bundle_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	/* -o is the output file here; the global -o KEY=VALUE goes before the command name. */
	static const struct option longopts[] = {
		{ "inventory", required_argument, NULL, 'i' },
		{ "ssh-config", required_argument, NULL, 'F' },
		{ "accept-new-host-keys", no_argument, NULL, CMD_OPT_ACCEPT_NEW },
		{ "help", no_argument, NULL, 'h' },
		{ "output", required_argument, NULL, 'o' },
		{ "version", required_argument, NULL, BUNDLE_OPT_VERSION },
		{ "component", required_argument, NULL, BUNDLE_OPT_COMPONENT },
		{ "compress", required_argument, NULL, BUNDLE_OPT_COMPRESS },
		{ "check", required_argument, NULL, BUNDLE_OPT_CHECK },
		{ "json", no_argument, NULL, BUNDLE_OPT_JSON },
		{ "sign", required_argument, NULL, BUNDLE_OPT_SIGN },
		{ NULL, 0, NULL, 0 }
	};
	const char *version = NULL, *component = "app", *compress = "gzip", *output = NULL, *check = NULL;
	const char *sign_key = NULL;
	char *sig = NULL, *sig_path = NULL;
	const char *ext;
	struct bundle *b = NULL;
	char *cause = NULL, *def = NULL;
	bool json = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "hi:F:o:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'o':
			output = optarg;
			break;
		case BUNDLE_OPT_VERSION:
			version = optarg;
			break;
		case BUNDLE_OPT_COMPONENT:
			component = optarg;
			break;
		case BUNDLE_OPT_COMPRESS:
			compress = optarg;
			break;
		case BUNDLE_OPT_CHECK:
			check = optarg;
			break;
		case BUNDLE_OPT_JSON:
			json = true;
			break;
		case BUNDLE_OPT_SIGN:
			sign_key = optarg;
			break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (check != NULL) {
		if (optind < argc) {
			cmd_error("bundle: unexpected argument '%s' with --check", argv[optind]);
			return cmd_usage(ctx, false);
		}
		return bundle_check(check, json);
	}
	if (optind >= argc) {
		cmd_error("bundle: which directory? (fleetctl bundle DIR --version V)");
		return cmd_usage(ctx, false);
	}
	if (optind + 1 < argc) {
		cmd_error("bundle: unexpected argument '%s'", argv[optind + 1]);
		return cmd_usage(ctx, false);
	}
	if (version == NULL) {
		cmd_error("bundle: --version is required");
		return cmd_usage(ctx, false);
	}
	if ((rc = cmd_check_version("bundle", "version", version)) != 0 || (rc = cmd_check_component("bundle", component)) != 0)
		return rc;
	if (strcmp(compress, "gzip") == 0)
		ext = ".tar.gz";
	else if (strcmp(compress, "zstd") == 0)
		ext = ".tar.zst";
	else if (strcmp(compress, "none") == 0)
		ext = ".tar";
	else {
		cmd_error("bundle: unknown compression '%s' (want gzip, zstd or none)", compress);
		return EXIT_USAGE;
	}
	if (output == NULL) {
		def = xasprintf("%s-%s%s", component, version, ext);
		output = def;
	}
	if (bundle_create(argv[optind], version, component, compress, output, &b, &cause) != 0) {
		if (json)
			bundle_print_json(NULL, false, cause != NULL ? cause : "failed");
		cmd_error("bundle: %s", cause != NULL ? cause : "failed");
		rc = EXIT_FAILED;
		goto out;
	}
	if (sign_key != NULL) {
		/* The detached signature over the manifest goes beside the archive. */
		sig_path = xasprintf("%s.sig", output);
		if (sign_manifest(sign_key, b->manifest_text, strlen(b->manifest_text), &sig, &cause) != 0 ||
		    write_file_atomic(sig_path, sig, strlen(sig), 0644) != 0) {
			if (cause == NULL)
				cause = xasprintf("cannot write '%s': %s", sig_path, strerror(errno));
			if (json)
				bundle_print_json(NULL, false, cause);
			cmd_error("bundle: %s", cause);
			unlink(output);
			rc = EXIT_FAILED;
			goto out;
		}
	}
	if (json)
		rc = bundle_print_json(b, true, NULL);
	else
		rc = printf("%s\n", b->id) < 0 ? EXIT_FAILED : EXIT_OK;
out:
	free(sig);
	free(sig_path);
	if (fflush(stdout) != 0)
		rc = EXIT_FAILED;
	bundle_free(b);
	free(cause);
	free(def);
	return rc;
}

const struct cmd_entry cmd_bundle_entry = {
	.name = "bundle",
	.usage = "DIR --version V [--component NAME] [--compress gzip|zstd|none] [--sign KEY] [-o FILE] [--json]\n"
	    "       fleetctl bundle --check FILE [--json]",
	.summary = "make a reproducible release archive of a directory, or check one",
	.help = "  DIR                   the release directory (files, directories, relative symlinks inside it)\n"
	    "      --version V       release version: 1-64 of A-Z a-z 0-9 . _ + -, starting with a letter or digit\n"
	    "      --component NAME  what the release is (default app): 1-32 of a-z 0-9 _ -, starting with a letter\n"
	    "      --compress ALG    gzip (default; every terminal's tar reads it), zstd or none\n"
	    "  -o, --output FILE     archive to write (default COMPONENT-VERSION.tar.gz, .tar.zst, .tar);\n"
	    "                        here -o is the output, the global -o KEY=VALUE goes before 'bundle'\n"
	    "      --sign KEY        also write FILE.sig: an ed25519 signature over the manifest with the PEM\n"
	    "                        private key KEY (openssl genpkey -algorithm ed25519 -out KEY)\n"
	    "      --check FILE      check an archive as push would (manifest, hashes, no unsafe entries)\n"
	    "      --json            one JSON object: ok, id, component, version, sha256, size, files,\n"
	    "                        payload_bytes, compression, path (or ok=false and error)\n"
	    "\nPrints the release id, VERSION-<first 12 hex of the archive's sha256>.  The same tree gives the\n"
	    "same bytes: mtimes and owners are not recorded, modes keep only the bits in 0755.  Refused: absolute or\n"
	    "escaping symlinks, devices, FIFOs, sockets, names with control characters, a top-level\n"
	    ".fleetctl-manifest.\n"
	    "exit status: 0 ok, 1 the bundle could not be made or the archive was refused, 2 usage error\n",
	.flags = 0,
	.exec = bundle_exec,
};
