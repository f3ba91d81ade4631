/* sign: ed25519 signatures over manifests with libcrypto (see sign.h). */
#include "sign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "util.h"

#define SIGN_KEY_LEN 32
#define SIGN_SIG_LEN 64

static char *
sign_b64(const unsigned char *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* Decode base64 text into exactly want bytes; 0 or -1. */
static int
sign_unb64(const char *text, unsigned char *out, size_t want)
{
	size_t len = strlen(text);
	unsigned char *tmp;
	int n, pad = 0;

	if (len == 0 || len % 4 != 0 || len > 4 * ((want + 2) / 3))
		return -1;
	tmp = xmalloc(len);
	n = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)len);
	if (len >= 1 && text[len - 1] == '=')
		pad++;
	if (len >= 2 && text[len - 2] == '=')
		pad++;
	if (n < 0 || (size_t)(n - pad) != want) {
		free(tmp);
		return -1;
	}
	memcpy(out, tmp, want);
	free(tmp);
	return 0;
}

static char *
sign_ssl_error(void)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e == 0)
		return xstrdup("unknown libcrypto error");
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return xstrdup(buf);
}

/* A PEM key file (private or public) as an ed25519 EVP_PKEY, or NULL with *cause. */
static EVP_PKEY *
sign_load(const char *path, int private, char **cause)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL) {
		set_cause(cause, -1, "cannot open key '%s': %s", path, strerror(errno));
		return NULL;
	}
	k = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL) {
		char *why = sign_ssl_error();

		set_cause(cause, -1, "'%s' is not a PEM %s key (%s)", path, private ? "private" : "public", why);
		free(why);
		return NULL;
	}
	if (EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
		set_cause(cause, -1, "'%s' is not an ed25519 key (make one with `openssl genpkey -algorithm ed25519`)",
		    path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

int
sign_manifest(const char *key_path, const char *manifest, size_t len, char **sig_text, char **cause)
{
	EVP_PKEY *k = sign_load(key_path, 1, cause);
	EVP_MD_CTX *c = NULL;
	unsigned char pub[SIGN_KEY_LEN], sig[SIGN_SIG_LEN];
	size_t publen = sizeof(pub), siglen = sizeof(sig);
	char *p64 = NULL, *s64 = NULL;
	int rc = -1;

	if (k == NULL)
		return -1;
	if ((c = EVP_MD_CTX_new()) == NULL || EVP_DigestSignInit(c, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(c, sig, &siglen, (const unsigned char *)manifest, len) != 1 || siglen != sizeof(sig) ||
	    EVP_PKEY_get_raw_public_key(k, pub, &publen) != 1 || publen != sizeof(pub)) {
		char *why = sign_ssl_error();

		set_cause(cause, -1, "cannot sign with '%s': %s", key_path, why);
		free(why);
		goto out;
	}
	p64 = sign_b64(pub, sizeof(pub));
	s64 = sign_b64(sig, sizeof(sig));
	*sig_text = xasprintf("%s\nkey ed25519 %s\nsig %s\n", SIGN_MAGIC, p64, s64);
	rc = 0;
out:
	free(p64);
	free(s64);
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return rc;
}

/* Parse the three lines strictly. */
static int
sign_parse(const char *text, unsigned char pub[SIGN_KEY_LEN], unsigned char sig[SIGN_SIG_LEN], char **cause)
{
	char *copy = xstrdup(text), *save = NULL, *l1, *l2, *l3, *rest;
	int rc = -1;

	l1 = strtok_r(copy, "\n", &save);
	l2 = strtok_r(NULL, "\n", &save);
	l3 = strtok_r(NULL, "\n", &save);
	rest = strtok_r(NULL, "\n", &save);
	if (l1 == NULL || strcmp(l1, SIGN_MAGIC) != 0) {
		set_cause(cause, -1, "not a fleetctl signature (first line is not '%s')", SIGN_MAGIC);
		goto out;
	}
	if (l2 == NULL || strncmp(l2, "key ed25519 ", 12) != 0 || sign_unb64(l2 + 12, pub, SIGN_KEY_LEN) != 0) {
		set_cause(cause, -1, "signature: bad 'key ed25519' line");
		goto out;
	}
	if (l3 == NULL || strncmp(l3, "sig ", 4) != 0 || sign_unb64(l3 + 4, sig, SIGN_SIG_LEN) != 0) {
		set_cause(cause, -1, "signature: bad 'sig' line");
		goto out;
	}
	if (rest != NULL) {
		set_cause(cause, -1, "signature: unexpected text after the 'sig' line");
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

int
sign_verify(const char *sig_text, const char *manifest, size_t len, char *const *trusted, char **signer,
    char **cause)
{
	unsigned char pub[SIGN_KEY_LEN], sig[SIGN_SIG_LEN];
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *c = NULL;
	const char *which = NULL;
	char *p64 = NULL;
	int rc = -1;

	if (sign_parse(sig_text, pub, sig, cause) != 0)
		return -1;
	/* The key must be one of the trusted ones, byte for byte. */
	for (size_t i = 0; trusted != NULL && trusted[i] != NULL && which == NULL; i++) {
		unsigned char tp[SIGN_KEY_LEN];
		size_t tlen = sizeof(tp);
		EVP_PKEY *t = sign_load(trusted[i], 0, cause);

		if (t == NULL)
			goto out;
		if (EVP_PKEY_get_raw_public_key(t, tp, &tlen) == 1 && tlen == sizeof(tp) && memcmp(tp, pub, sizeof(tp)) == 0) {
			which = trusted[i];
			k = t;
		} else
			EVP_PKEY_free(t);
	}
	p64 = sign_b64(pub, sizeof(pub));
	if (which == NULL) {
		set_cause(cause, -1, "signed by ed25519:%s, which is not a trusted key (require_signature)", p64);
		goto out;
	}
	if ((c = EVP_MD_CTX_new()) == NULL || EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestVerify(c, sig, sizeof(sig), (const unsigned char *)manifest, len) != 1) {
		ERR_clear_error();
		set_cause(cause, -1, "the signature by ed25519:%s (%s) does not match this release's manifest", p64, which);
		goto out;
	}
	*signer = xasprintf("ed25519:%s (%s)", p64, which);
	rc = 0;
out:
	free(p64);
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return rc;
}
