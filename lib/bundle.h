/*
 * bundle: a release directory <-> a reproducible tar archive with a manifest (libarchive, SHA-256 via
 * OpenSSL EVP), and the local content-addressed store of archives.
 *
 * An archive is a pax_restricted tar, filtered by gzip (default), zstd or nothing.  Its first entry is
 * ".fleetctl-manifest" (format in manifest.h); then every directory, file and symlink of the release in
 * manifest (byte) order, with mtime 0, uid/gid 0, owner/group "root", the manifest's mode.  The same
 * tree gives the same bytes (gzip is written without its timestamp).
 *
 * bundle_create refuses: a top-level ".fleetctl-manifest", names that manifest_valid_path refuses,
 * absolute symlinks and symlinks that resolve outside the release, device files, FIFOs, sockets, a file
 * that changes while it is archived.  Hard links are stored as separate files.
 *
 * bundle_open checks an archive from anywhere before it may reach a terminal, and refuses (the message
 * names the entry): a format other than tar, a filter other than gzip/zstd/none, a missing or malformed
 * manifest, or one that is not the first entry; absolute names, "." or ".." components, control
 * characters or bad UTF-8 in names; ALL hard links (our writer never makes one); devices, FIFOs,
 * sockets; entries not in the manifest or different from it (type, mode, size, SHA-256, symlink target,
 * owner not 0/root); duplicate entries; manifest entries missing from the archive; a truncated or
 * corrupt archive.  Memory stays bounded: data is streamed in chunks, the manifest is capped at 64 MiB.
 */
#ifndef FLEET_BUNDLE_H
#define FLEET_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BUNDLE_MANIFEST_NAME ".fleetctl-manifest"

struct bundle {            /* owner: bundle_free */
	char *path;            /* archive file */
	char sha256[65];       /* of the archive file bytes, lowercase hex */
	char *id;              /* VERSION-<12 hex> */
	char *version;
	char *component;
	char *compression;     /* "gzip" | "zstd" | "none" */
	uint64_t size;         /* archive bytes */
	uint64_t payload_bytes;/* sum of regular file sizes */
	size_t nfiles;         /* regular files (directories and symlinks not counted) */
	char *manifest_text;   /* the manifest as stored in the archive */
};

/*
 * Archive directory dir into out_path (written to a temp file next to it, fsynced, then renamed: never
 * half-written).  compression: "gzip", "zstd", "none" (NULL: gzip).  0 with *out (caller frees with
 * bundle_free; out may be NULL), or -1 with *cause.
 */
int bundle_create(const char *dir, const char *version, const char *component, const char *compression,
    const char *out_path, struct bundle **out, char **cause);
/* Open an archive with the full safety check above.  0 with *out, or -1 with *cause. */
int bundle_open(const char *archive_path, struct bundle **out, char **cause);
void bundle_free(struct bundle *b);

/*
 * Put b's archive in the store as STORE/<sha256>.tar.gz (.tar.zst, .tar by compression); the store is
 * created if missing.  Hard-links when it can, else copies to a temp file, fsyncs, renames.  The stored
 * bytes are hashed again and must match b->sha256; an existing good copy is kept.  0 with *stored_path
 * (caller frees; may be NULL), or -1 with *cause.
 */
int bundle_store_put(const char *store_dir, const struct bundle *b, char **stored_path, char **cause);
/* Find STORE/<sha256>.tar.{gz,zst} or .tar: 0 with *path (caller frees), -1 if not there or bad sha256. */
int bundle_store_path(const char *store_dir, const char *sha256, char **path);

/*
 * Streaming access for lib/delta.  The writer makes an archive with bundle_create's normalisation
 * (pax_restricted, mtime 0, root:root, gzip without timestamp) from entries given in order; the file
 * appears at out_path only at bundle_wr_commit (temp file, fsync, rename).  type is a manifest type
 * ('f', 'd', 'l').  Every function returns 0, or -1 with *cause; commit and abort free w.
 */
struct bundle_wr;
int bundle_wr_open(const char *out_path, const char *compression, struct bundle_wr **w, char **cause);
int bundle_wr_entry(struct bundle_wr *w, const char *path, char type, unsigned mode, uint64_t size,
    const char *target, char **cause);
int bundle_wr_data(struct bundle_wr *w, const void *data, size_t len, char **cause);
int bundle_wr_commit(struct bundle_wr *w, char sha256[65], uint64_t *size, char **cause);
void bundle_wr_abort(struct bundle_wr *w);   /* NULL is fine */

/* Readers and writers set the thread's locale while open: close them in the reverse order of opening.
 * The reader walks an archive's entries in order (no checks: use it on archives from the store,
 * which bundle_open checked when they went in); a directory's name comes without its trailing '/'.  next: 1 with the entry (path borrowed until the next
 * call; type 'f' 'd' 'l' or '?'), 0 at the end, -1 with *cause.  data: fills buf up to len from the
 * current entry, returns the bytes (fewer only at its end), or -1 with *cause. */
struct bundle_rd;
int bundle_rd_open(const char *path, struct bundle_rd **r, char **cause);
int bundle_rd_next(struct bundle_rd *r, const char **path, char *type, uint64_t *size, char **cause);
ssize_t bundle_rd_data(struct bundle_rd *r, void *buf, size_t len, char **cause);
void bundle_rd_close(struct bundle_rd *r);   /* NULL is fine */

int bundle_valid_version(const char *v);    /* 1 ok, 0 not: 1-64 of [A-Za-z0-9._+-], alnum first */
int bundle_valid_component(const char *c);  /* 1 ok, 0 not: 1-32 of [a-z0-9_-], letter first */

/* SHA-256 of a file's bytes, streamed, as lowercase hex.  0, or -1 with *cause. */
int sha256_file(const char *path, char hex[65], char **cause);

#endif
