/*
 * knownhosts: read an OpenSSH known_hosts file far enough to answer two questions libssh2 cannot:
 * which key types are on record for a host (so the handshake asks for a type we can check), and on
 * which line the recorded key lives (so a changed key can be reported as FILE:LINE).
 * Understands plain, wildcard-free host lists, [host]:port and hashed |1|salt|hash entries.
 * Marker lines (@cert-authority, @revoked) are skipped: fleetctl does not rely on them.
 *
 * A run parses each file once (struct kh_db, before its workers start); every connection then looks
 * its host up in memory: plain names through a hash table, hashed entries by one HMAC each, from
 * salts prepared at load.  The parsed files never change; keys accepted during the run
 * (accept-new) are appended to the file and kept in a small list under the db's own lock.
 */
#ifndef FLEET_KNOWNHOSTS_H
#define FLEET_KNOWNHOSTS_H

#include <stddef.h>

struct kh_match {
	char keytype[32];    /* "ssh-ed25519", "ecdsa-sha2-nistp256", ... */
	size_t line;         /* 1-based line in the file */
	char *key_b64;       /* the recorded key, base64 (caller frees via kh_matches_free) */
};

struct kh_db;

/* An empty set of parsed files. */
struct kh_db *knownhosts_db_new(void);
/* Parse file into db (once: a file already there is left alone).  A missing file holds no entries.
 * 0, or -1 when it cannot be read (the file is then known to the db with no entries).  Not while
 * other threads use db. */
int knownhosts_db_load(struct kh_db *db, const char *file);
/* Was file loaded into db? */
int knownhosts_db_has(const struct kh_db *db, const char *file);
/* Entries of a loaded file for host:port (port 22 matches the bare name), in line order, keys
 * accepted during the run last.  Returns the number of matches (>= 0) with *out (caller frees with
 * kh_matches_free), -1 when file was not loaded.  Safe from many threads at once. */
int knownhosts_db_lookup(struct kh_db *db, const char *file, const char *host, int port,
    struct kh_match **out, size_t *n);
/*
 * Record a key accepted for host:port (accept-new): appended to file (knownhosts_append) and to the
 * db's view of it, so later lookups in this run see it.  One at a time: when another connection of
 * the run accepted a key of this type for the same name first, nothing is written and the answer is
 * 1 when it is the same key, 2 when it is another one (*line is then its line: the key changed).
 * 0 written, -1 with *cause.  Safe from many threads at once.
 */
int knownhosts_db_accept(struct kh_db *db, const char *file, const char *host, int port, const char *keytype,
    const char *key_b64, size_t *line, char **cause);
void knownhosts_db_free(struct kh_db *db);

/* All entries of file for host:port, read from the file now (one lookup: parses the whole file).
 * Missing file = no entries.  Returns the number of matches (>= 0) in *out (caller frees with
 * kh_matches_free), -1 on read error. */
int knownhosts_lookup(const char *file, const char *host, int port, struct kh_match **out, size_t *n);
void kh_matches_free(struct kh_match *m, size_t n);

/* Append one entry "[host]:port type base64" (or "host type base64" for port 22) under an flock,
 * creating the file (0600) and its directory if needed, on a line of its own.  0 / -1 with *cause. */
int knownhosts_append(const char *file, const char *host, int port, const char *keytype, const char *key_b64, char **cause);

#endif
