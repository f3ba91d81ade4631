/*
 * logfetch: what `fleetctl logs` runs on a terminal and how it writes what comes back.
 *
 * Remote commands: every value (glob, path, regex, cutoff, count) reaches the terminal as one
 * single-quoted word made by lib/shquote; the scripts around them are fixed text.  Globs are expanded
 * by the terminal's shell from an unquoted variable with IFS empty, so they expand to file names but
 * are never parsed as commands.
 *
 * Local side: a writer streams (optionally gzip-compressed) bytes to FILE.part with bounded memory,
 * and local paths for saved files are built so that a terminal cannot write outside DIR/<terminal>/.
 * Nothing here prints.
 */
#ifndef FLEET_LOGFETCH_H
#define FLEET_LOGFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Exit status the remote scripts use for "a tool is missing on the terminal" (message on stderr). */
#define LOGFETCH_EXIT_NOTOOL 97

/*
 * --since TIME -> cutoff "YYYY-MM-DD HH:MM:SS" in local time (TZ) into out (at least 20 bytes).
 * Accepts durations back from now ("30m", "2h", "90s", "1d", "2 hours ago", "30 minutes ago",
 * "1 day ago") and absolute times ("2026-11-26", "2026-11-26 10:00", "2026-11-26T10:00:00",
 * with an optional "Z" or "+01:00"/"-0500" zone, converted to local time).  0 / -1 with *cause.
 */
int logfetch_parse_since(const char *s, time_t now, char *out, size_t outlen, char **cause);

/* The listing command: expands globs, prints "T tool" for each of awk, gzip, sha256sum present,
 * "F SIZE PATH" for each readable regular file, "U PATH" for an unreadable one.  Caller frees. */
char *logfetch_list_cmd(char *const *globs, size_t n);

struct logfetch_entry {
	char *path;
	uint64_t size;
	bool unreadable;
};

struct logfetch_listing {
	struct logfetch_entry *v;   /* in glob order, duplicates removed */
	size_t n;
	bool has_awk, has_gzip, has_sha256sum;
	size_t rejected;            /* lines naming a path that matches none of the globs (ignored) */
};

/* Parse the listing's output.  Each path must match one of globs (fnmatch, as the shell would), so a
 * terminal cannot hand back a path it was not asked for.  0 / -1 with *cause. */
int logfetch_parse_listing(const char *text, size_t len, char *const *globs, size_t nglobs,
    struct logfetch_listing *out, char **cause);
void logfetch_listing_free(struct logfetch_listing *l);

/*
 * The last `lines` lines of path, after the --since filter (cutoff, or NULL) and --grep (regex, or
 * NULL; `grep -E`), all on the terminal.  The since filter is awk: a line starting with
 * YYYY-MM-DD[T ]HH:MM:SS is kept when that time >= cutoff; a line without one follows the previous
 * line's decision; lines before the first timestamped line are dropped.  Caller frees.
 */
char *logfetch_tail_cmd(const char *path, long lines, const char *cutoff, const char *regex);

/* Bytes [from, from+len) of path (len is the size seen when listed), through `gzip -c` when gz. */
char *logfetch_fetch_cmd(const char *path, uint64_t from, uint64_t len, bool gz);

/* SHA-256 (hex, then sha256sum's "  -") of the first len bytes of path: checks a partial download. */
char *logfetch_prefix_hash_cmd(const char *path, uint64_t len);

/*
 * Follow paths[0..n) on the terminal: `tail -F` (else `tail -f`) from byte offsets[i] (or, when
 * offsets[i] < 0, from the start of the last `lines` lines), the --since / --grep filters in awk.
 * Output lines: "I@OFF" once per file when it starts (OFF = byte offset it starts at), then
 * "I:SKIPPED:TEXT" for each line shown, SKIPPED = bytes of lines filtered out just before it, so the
 * next start offset is OFF + the sum of SKIPPED + len(TEXT) + 1.  A watchdog on the terminal kills
 * the whole command when the SSH session ends.  Needs awk.  Caller frees.
 */
char *logfetch_follow_cmd(long lines, const char *cutoff, const char *regex, char *const *paths,
    const int64_t *offsets, size_t n);

/* Parse one follow output line (without its newline).  Returns 1 for a start marker (*off set),
 * 2 for a text line (*skipped, *text, *textlen set), 0 for anything else. */
int logfetch_follow_parse(const char *line, size_t len, size_t *index, int64_t *off, uint64_t *skipped,
    const char **text, size_t *textlen);

/* DIR/HOST/REMOTE-without-leading-slashes; refuses "..", empty and NUL-free-but-odd names so nothing
 * lands outside DIR/HOST.  0 and *out (caller frees) / -1 with *cause. */
int logfetch_local_path(const char *dir, const char *host, const char *remote, char **out, char **cause);

/* Hex SHA-256 of the first len bytes of a local file into hex (65 bytes).  0 / -1 with *cause. */
int logfetch_file_sha256(const char *path, uint64_t len, char hex[65], char **cause);

/*
 * A streaming writer to a local file: bytes (or a gzip stream, inflated on the fly) are written as
 * they arrive; memory stays bounded whatever the file size.  The first write error is kept and later
 * data is dropped.
 */
struct logfetch_writer;
/* Open path for writing at offset `from` (the file is truncated to it; 0 = start afresh). */
int logfetch_writer_open(const char *path, uint64_t from, bool gz, struct logfetch_writer **out, char **cause);
void logfetch_writer_data(struct logfetch_writer *w, const char *data, size_t len);
/* Bytes written to the file so far, counting from its start (from + new bytes). */
uint64_t logfetch_writer_size(const struct logfetch_writer *w);
/* Close; 0, or -1 with *cause for the first error (write, corrupt compressed data, close). */
int logfetch_writer_close(struct logfetch_writer *w, char **cause);

#endif
