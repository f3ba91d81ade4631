/*
 * manifest: the text that lists every entry of a release bundle (pure: no I/O).
 *
 * The manifest is stored as the FIRST entry of a bundle, named ".fleetctl-manifest".  Format, UTF-8,
 * one record per line, every line ends with "\n" (no CR, no empty lines, no trailing text):
 *
 *	fleetctl-manifest 1
 *	component NAME
 *	version V
 *	f<TAB>MODE<TAB>SIZE<TAB>SHA256<TAB>PATH          regular file
 *	d<TAB>MODE<TAB>0<TAB>-<TAB>PATH                  directory
 *	l<TAB>0777<TAB>0<TAB>-<TAB>PATH<TAB>TARGET       symbolic link
 *
 * - Entry lines are sorted by PATH in byte order (strcmp), each PATH once.
 * - MODE is 4 octal digits.  Files and directories keep only the bits in 0755 of what was on disk: the
 *   owner's rwx and the group/other read and exec bits; setuid, setgid, sticky and group/other write are
 *   dropped.  Symlinks are always 0777.
 * - SIZE is decimal bytes without leading zeros; SHA256 is 64 lowercase hex digits of the file's bytes.
 * - PATH is relative, '/'-separated, no empty, "." or ".." component, no leading or trailing '/', valid
 *   UTF-8 without control characters (C0, DEL, C1), at most 4095 bytes.  Every parent of a PATH is itself
 *   listed, as a directory (so nothing is ever reached through a symlink).
 * - TARGET (symlinks) is relative (no leading '/'), valid UTF-8 without control characters, and resolves
 *   inside the release: it is resolved component by component from the link's directory, following the
 *   other symlinks of the manifest (at most 40 hops); a ".." that would leave the release root is refused.
 * - NAME: 1-32 of [a-z0-9_-], starting with a letter.  V: 1-64 of [A-Za-z0-9._+-], starting with a letter
 *   or digit.  Both end up in paths and remote commands.
 */
#ifndef FLEET_MANIFEST_H
#define FLEET_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define MANIFEST_MAGIC "fleetctl-manifest 1"
#define MANIFEST_MODE_MASK 0755u   /* bits kept from a file's or directory's st_mode */
#define MANIFEST_PATH_MAX 4095
#define MANIFEST_MAX_HOPS 40

enum manifest_type {
	MANIFEST_FILE = 'f',
	MANIFEST_DIR = 'd',
	MANIFEST_LINK = 'l'
};

struct manifest_entry {
	char type;          /* enum manifest_type */
	unsigned mode;      /* permission bits (see above) */
	uint64_t size;      /* files; 0 otherwise */
	char sha256[65];    /* files: lowercase hex; "" otherwise */
	char *path;         /* owned */
	char *target;       /* symlinks: owned; NULL otherwise */
};

struct manifest {           /* owner: manifest_free */
	char *component;
	char *version;
	struct manifest_entry *entries;
	size_t n;
	size_t alloc;
};

/* A new, empty manifest (strings are copied; not validated until manifest_check). */
struct manifest *manifest_new(const char *component, const char *version);
void manifest_free(struct manifest *m);

/* Append an entry (strings copied; sha256 and target may be NULL).  Call manifest_sort when done. */
void manifest_add(struct manifest *m, char type, unsigned mode, uint64_t size, const char *sha256,
    const char *path, const char *target);
void manifest_sort(struct manifest *m);

/* Validate a whole (sorted) manifest as described above.  0, or -1 with *cause naming the path. */
int manifest_check(const struct manifest *m, char **cause);

/* The manifest as text (caller frees).  Formats what it is given: run manifest_check first. */
char *manifest_format(const struct manifest *m);

/* Parse text (len bytes, need not be NUL-terminated) strictly and run manifest_check.
 * 0 with *out (caller frees with manifest_free), or -1 with *cause ("manifest line N: ..."). */
int manifest_parse(const char *text, size_t len, struct manifest **out, char **cause);

/* Index of the entry with this path (binary search on a sorted manifest), or -1. */
long manifest_find(const struct manifest *m, const char *path);

/* Single checks, also used on names found on disk or in archives.  0, or -1 with *cause. */
int manifest_valid_path(const char *path, char **cause);
int manifest_valid_target(const char *path, const char *target, char **cause);
int manifest_valid_version(const char *v);     /* 1 ok, 0 not */
int manifest_valid_component(const char *c);   /* 1 ok, 0 not */
/* 1 if s is valid UTF-8 without C0/DEL/C1 control characters, else 0. */
int manifest_clean_utf8(const char *s, size_t len);

/* s made safe to print in a message: control characters and bad UTF-8 as \xNN, cut at 256 bytes
 * with "..." appended.  Caller frees.  NULL in: "(null)". */
char *manifest_printable(const char *s);

#endif
