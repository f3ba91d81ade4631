/*
 * sign: detached ed25519 signatures over a release's manifest (libcrypto).
 *
 * The manifest lists every file with its SHA-256 (lib/manifest), so signing its exact bytes signs the
 * release.  A signature is a small text file kept beside the bundle (BUNDLE.sig, and STORE/<sha256>.sig
 * in the bundle store):
 *
 *	fleetctl-signature 1
 *	key ed25519 <base64 of the 32-byte public key>
 *	sig <base64 of the 64-byte signature>
 *
 * Keys are PEM files as OpenSSL writes them: `openssl genpkey -algorithm ed25519 -out release.key` and
 * `openssl pkey -in release.key -pubout -out release.pub`.
 */
#ifndef FLEET_SIGN_H
#define FLEET_SIGN_H

#include <stddef.h>

#define SIGN_MAGIC "fleetctl-signature 1"

/* Sign manifest (len bytes) with the private key in key_path.  0 with *sig_text (caller frees), or -1
 * with *cause. */
int sign_manifest(const char *key_path, const char *manifest, size_t len, char **sig_text, char **cause);

/*
 * Check sig_text against manifest with the trusted public keys (NULL-terminated PEM file paths).
 * 0 with *signer ("ed25519:BASE64 (PATH)", caller frees), or -1 with *cause: malformed, signed by a key
 * not trusted, or not a signature of this manifest.
 */
int sign_verify(const char *sig_text, const char *manifest, size_t len, char *const *trusted, char **signer,
    char **cause);

#endif
