/*
 * delta: send a terminal only what it lacks.  Given the manifest of the release to push and the
 * manifests of releases the terminal already holds (its "bases"), plan per file:
 *
 *   reuse   a file with the same SHA-256 exists in a base: copied on the terminal (cp -p), no upload;
 *           hard-linked (ln) instead when the plan says hardlink and the mode is the same
 *   blocks  a big file (>= DELTA_BIG) whose old version (same path in a base whose bundle is in the
 *           local store) differs in places: the DELTA_BLOCK-sized blocks found in the old file are
 *           copied with dd, only the others travel
 *   send    everything else travels
 *
 * and write one delta archive (a normalised tar.gz, the same bytes for the same plan) that carries:
 *
 *   r/...            the manifest, every directory and symlink of the new release, the files to send
 *   x/b.N            the new blocks of big files, one entry per run of consecutive blocks
 *   x/recipe.sh      POSIX sh (cp, dd, cat, chmod only; every path quoted by lib/shquote) that, run with
 *                    cwd = the component directory, D = the unpacked delta directory relative to it and
 *                    a function `df MESSAGE` that gives up, assembles the rest of the tree in $D/r
 *
 * The terminal makes the check list "SHA256  r/PATH" of every file from r/.fleetctl-manifest with
 * delta_sums_sed (`cd $D && sha256sum -c`): the assembled tree is checked against the full manifest
 * before it may be switched to.
 *
 * The terminal side (lib/release) uploads, verifies and unpacks the archive, runs the recipe and the
 * check; any failure there means "fall back to the full bundle".  Nothing here talks to a terminal.
 */
#ifndef FLEET_DELTA_H
#define FLEET_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

#define DELTA_BLOCK (64u * 1024u)          /* block size for big files */
#define DELTA_BIG (4ull * 1024u * 1024u)   /* files at least this big may travel as blocks */

struct delta_base {                 /* all borrowed */
	const char *id;                 /* release id: its files are under releases/<id>/ on the terminal */
	const struct manifest *m;
	const char *bundle;             /* its archive in the local store, or NULL (then no blocks from it) */
};

enum delta_how { DELTA_SEND = 0, DELTA_REUSE, DELTA_BLOCKS };

/* One run of a big file: len bytes at offset off of the new file, copied from block old_block of the
 * old file (old_block >= 0) or sent (old_block < 0). */
struct delta_run {
	int64_t old_block;
	uint64_t off, len;
};

struct delta_file {
	enum delta_how how;
	size_t base;                    /* REUSE, BLOCKS: index into the bases */
	const char *src;                /* path in that base (borrowed from its manifest) */
	unsigned src_mode;
	struct delta_run *runs;         /* BLOCKS: covers the file in order (owned) */
	size_t nruns;
};

struct delta_plan {                 /* owner: delta_plan_free */
	const struct manifest *m;       /* the new release (borrowed) */
	const struct delta_base *bases; /* borrowed */
	size_t nbases;
	struct delta_file *files;       /* parallel to m->entries (only files use it) */
	bool hardlink;                  /* reuse by hard link (ln) where the mode is the same, not cp -p */
	/* figures */
	size_t files_reused, files_sent, files_blocks;
	uint64_t bytes_reused, bytes_sent;      /* file bytes, before compression */
	uint64_t blocks_reused, blocks_sent;
};

/* Classify every file of m against the bases (pure; blocks are only candidates until
 * delta_plan_blocks).  The first base is preferred (put current first).  Caller frees with
 * delta_plan_free. */
struct delta_plan *delta_plan_new(const struct manifest *m, const struct delta_base *bases, size_t nbases);
void delta_plan_free(struct delta_plan *p);

/*
 * Block level (pure): old and new are the SHA-256 of each DELTA_BLOCK block of the two files (the last
 * may be short; its hash covers only its bytes), 32 bytes each.  Fills f->runs: a new block equal to
 * any old block (same hash and length) is copied from there, consecutive ones merged.  Returns the
 * number of blocks reused.
 */
size_t delta_match_blocks(struct delta_file *f, uint64_t new_size, const unsigned char (*new_h)[32], size_t nnew,
    uint64_t old_size, const unsigned char (*old_h)[32], size_t nold);

/* Hash the blocks of the BLOCKS candidates (reading the new bundle and the bases' bundles) and match
 * them; a candidate that shares no block becomes SEND.  0, or -1 with *cause. */
int delta_plan_blocks(struct delta_plan *p, const char *new_bundle, char **cause);

/* True when the plan saves anything (some file reused or some block copied). */
bool delta_plan_useful(const struct delta_plan *p);

/* The recipe (caller frees): pure text from the plan. */
char *delta_recipe(const struct delta_plan *p);
/* A shell command (sed, POSIX and busybox) turning a manifest on stdin into sha256sum -c lines for r/. */
extern const char delta_sums_sed[];

/*
 * Write the delta archive for plan p to out_path (temp file + fsync + rename), taking file data from
 * the new bundle.  sha256 receives the archive's hash, *size its bytes.  0, or -1 with *cause.
 */
int delta_write(const struct delta_plan *p, const char *new_bundle, const char *compression, const char *out_path,
    char sha256[65], uint64_t *size, char **cause);

/* One line for people: "reuses 990 files (19.8 MiB), 1 file by blocks (254/256 blocks), sends 10 files". */
char *delta_describe(const struct delta_plan *p);

/*
 * A delta archive ready to send, kept in cache_dir (the state directory's deltas/) under a name made
 * from the new bundle's SHA-256 and the bases: the same push to the same bases (a resume, a retry,
 * the next terminal in the group) finds the same bytes, so an interrupted upload resumes.
 */
struct delta_built {                /* owner: delta_built_free */
	char *path;
	char sha256[65];
	uint64_t size;                  /* archive bytes */
	char **bases;                   /* NULL-terminated ids of the releases the recipe copies from */
	char *describe;                 /* delta_describe */
	size_t files_reused;
	uint64_t bytes_reused;          /* file bytes the terminal copies instead of receiving */
};

/*
 * Plan (with blocks) and write, or find in the cache, the delta of new_bundle (manifest m) against
 * bases.  0 with *out, 1 when a delta would save nothing (*out NULL: send the full bundle), or -1
 * with *cause.
 */
int delta_build(const char *cache_dir, const char *new_bundle, const char *new_sha256, const char *compression,
    const struct manifest *m, const struct delta_base *bases, size_t nbases, bool hardlink, struct delta_built **out,
    char **cause);
void delta_built_free(struct delta_built *d);

/* Remove cached deltas not used for max_age seconds.  Safe at any time: the same push to the same bases
 * makes the same bytes again, so a resumed upload still matches. */
void delta_prune(const char *cache_dir, long max_age);

#endif
