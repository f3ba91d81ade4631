/*
 * Unit tests for lib/sign: a signature round trip, a changed manifest, an untrusted key, a trusted key
 * among several, every malformed signature line, and keys that are not ed25519.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/sign.h"
#include "../../lib/util.h"
#include "check.h"

static char tmpdir[64];

/* A new key pair of type id: NAME.key and NAME.pub in tmpdir. */
static void
keypair(const char *name, int id)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(id, NULL);
	EVP_PKEY *k = NULL;
	char *path;
	FILE *f;

	CHECK(c != NULL && EVP_PKEY_keygen_init(c) == 1);
	if (id == EVP_PKEY_RSA)
		EVP_PKEY_CTX_set_rsa_keygen_bits(c, 1024);
	CHECK(EVP_PKEY_keygen(c, &k) == 1);
	path = xasprintf("%s/%s.key", tmpdir, name);
	f = fopen(path, "w");
	CHECK(f != NULL && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
	if (f != NULL)
		fclose(f);
	free(path);
	path = xasprintf("%s/%s.pub", tmpdir, name);
	f = fopen(path, "w");
	CHECK(f != NULL && PEM_write_PUBKEY(f, k) == 1);
	if (f != NULL)
		fclose(f);
	free(path);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
}

static char *
p(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static const char manifest[] = "fleetctl-manifest 1\ncomponent app\nversion 1\n";

static void
test_round_trip_and_trust(void)
{
	char *key = p("a.key"), *apub = p("a.pub"), *bpub = p("b.pub"), *sig = NULL, *signer = NULL, *cause = NULL;
	char *both[] = { bpub, apub, NULL }, *onlyb[] = { bpub, NULL };

	CHECK(sign_manifest(key, manifest, strlen(manifest), &sig, &cause) == 0);
	CHECK(sig != NULL && strncmp(sig, SIGN_MAGIC "\nkey ed25519 ", strlen(SIGN_MAGIC) + 13) == 0);
	CHECK(sign_verify(sig, manifest, strlen(manifest), both, &signer, &cause) == 0);
	CHECK(signer != NULL && strstr(signer, "a.pub") != NULL && strncmp(signer, "ed25519:", 8) == 0);
	free(signer);
	signer = NULL;
	/* one byte of the manifest changed */
	CHECK(sign_verify(sig, "fleetctl-manifest 1\ncomponent app\nversion 2\n", strlen(manifest), both, &signer,
	    &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "does not match") != NULL);
	free(cause);
	cause = NULL;
	/* not among the trusted keys */
	CHECK(sign_verify(sig, manifest, strlen(manifest), onlyb, &signer, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "not a trusted key") != NULL);
	CHECK(signer == NULL);
	free(cause);
	free(sig);
	free(key);
	free(apub);
	free(bpub);
}

static void
test_malformed_signatures(void)
{
	char *apub = p("a.pub"), *signer = NULL, *cause = NULL;
	char *trusted[] = { apub, NULL };
	static const char *const bad[] = {
		"",
		"fleetctl-signature 2\nkey ed25519 AAAA\nsig AAAA\n",
		"fleetctl-signature 1\nkey rsa AAAA\nsig AAAA\n",
		"fleetctl-signature 1\nkey ed25519 !!!!\nsig AAAA\n",
		"fleetctl-signature 1\nkey ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nsig short\n",
		"fleetctl-signature 1\nkey ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"fleetctl-signature 1\nkey ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nsig "
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\nmore\n",
		NULL
	};

	for (size_t i = 0; bad[i] != NULL; i++) {
		CHECK(sign_verify(bad[i], manifest, strlen(manifest), trusted, &signer, &cause) != 0);
		CHECK(signer == NULL && cause != NULL);
		free(cause);
		cause = NULL;
	}
	free(apub);
}

static void
test_wrong_key_types(void)
{
	char *rkey = p("r.key"), *rpub = p("r.pub"), *missing = p("missing.key"), *sig = NULL, *cause = NULL;

	CHECK(sign_manifest(rkey, manifest, strlen(manifest), &sig, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "not an ed25519 key") != NULL);
	free(cause);
	cause = NULL;
	CHECK(sign_manifest(missing, manifest, strlen(manifest), &sig, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "cannot open key") != NULL);
	free(cause);
	cause = NULL;
	/* a public key file where the private key belongs */
	CHECK(sign_manifest(rpub, manifest, strlen(manifest), &sig, &cause) != 0);
	CHECK(sig == NULL);
	free(cause);
	free(rkey);
	free(rpub);
	free(missing);
}

int
main(void)
{
	char *cmd;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fleetctl-test-sign.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	keypair("a", EVP_PKEY_ED25519);
	keypair("b", EVP_PKEY_ED25519);
	keypair("r", EVP_PKEY_RSA);
	RUN(test_round_trip_and_trust);
	RUN(test_malformed_signatures);
	RUN(test_wrong_key_types);
	cmd = xasprintf("rm -rf '%s'", tmpdir);
	rc = system(cmd);
	(void)rc;
	free(cmd);
	return check_failed_total ? 1 : 0;
}
