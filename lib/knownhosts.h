/*
 * knownhosts: read an OpenSSH known_hosts file far enough to answer two questions libssh2 cannot:
 * which key types are on record for a host (so the handshake asks for a type we can check), and on
 * which line the recorded key lives (so a changed key can be reported as FILE:LINE).
 * Understands plain, wildcard-free host lists, [host]:port and hashed |1|salt|hash entries.
 * Marker lines (@cert-authority, @revoked) are skipped: fleetctl does not rely on them.
 */
#ifndef FLEET_KNOWNHOSTS_H
#define FLEET_KNOWNHOSTS_H

#include <stddef.h>

struct kh_match {
	char keytype[32];    /* "ssh-ed25519", "ecdsa-sha2-nistp256", ... */
	size_t line;         /* 1-based line in the file */
	char *key_b64;       /* the recorded key, base64 (caller frees via kh_matches_free) */
};

/* All entries of file for host:port (port 22 matches the bare name).  Missing file = no entries.
 * Returns number of matches (>= 0) in *out (caller frees with kh_matches_free), -1 on read error. */
int knownhosts_lookup(const char *file, const char *host, int port, struct kh_match **out, size_t *n);
void kh_matches_free(struct kh_match *m, size_t n);

/* Append one entry "[host]:port type base64" (or "host type base64" for port 22) under an flock,
 * creating the file (0600) and its directory if needed.  0 / -1 with *cause. */
int knownhosts_append(const char *file, const char *host, int port, const char *keytype, const char *key_b64, char **cause);

#endif
