/*
 * sshkey: an SSH user key file parsed once, and the signature public key authentication asks for.
 *
 * libssh2_userauth_publickey_fromfile reads and decodes the key file again for every login (through
 * OpenSSL 3's decoders, the larger part of a connection's client CPU); a run parses each identity
 * once with this module and signs each login with it (libssh2_userauth_publickey and a callback).
 *
 * Parsed: unencrypted OpenSSH-format ("openssh-key-v1") ed25519 and ECDSA (nistp256/384/521) keys,
 * and PEM / PKCS#8 ed25519 and EC keys.  Anything else (RSA, passphrase-protected keys, other
 * formats) is not parsed: the caller keeps libssh2's own path for those.
 * A struct sshkey is read-only once loaded and may be used by many threads at once.
 */
#ifndef FLEET_SSHKEY_H
#define FLEET_SSHKEY_H

#include <stdbool.h>
#include <stddef.h>

/* What a key file is, without decrypting it. */
struct sshkey_info {
	bool readable;
	bool encrypted;        /* a passphrase protects it */
	char type[32];         /* "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", "ecdsa" (PEM), or "" */
};

struct sshkey;

/* Look at the file at path: *info always filled; *key set (caller frees with sshkey_free) when
 * this module can sign with it, else NULL. */
void sshkey_load(const char *path, struct sshkey_info *info, struct sshkey **key);
/* The same from text in memory. */
void sshkey_parse(const char *text, size_t len, struct sshkey_info *info, struct sshkey **key);
/* The public key blob (string type, key data...) as authorized_keys holds it in base64; borrowed. */
const unsigned char *sshkey_public_blob(const struct sshkey *k, size_t *len);
/* Its type name, e.g. "ssh-ed25519"; borrowed. */
const char *sshkey_type(const struct sshkey *k);
/* Sign data for SSH: *sig (malloc'ed, caller frees) is the signature libssh2 puts after the method
 * name: 64 bytes for ed25519, string(mpint r) string(mpint s) for ECDSA.  0 / -1. */
int sshkey_sign(const struct sshkey *k, const unsigned char *data, size_t len, unsigned char **sig, size_t *siglen);
/* Check sig (as sshkey_sign makes it) over data with the public blob; 0 good, -1 not (for tests). */
int sshkey_verify_blob(const unsigned char *blob, size_t bloblen, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen);
void sshkey_free(struct sshkey *k);

#endif
