/*
 * report: how results look — host lists folded into ranges, prefixed lines, folded identical outputs,
 * newline-delimited JSON, the summary line and the live progress line.
 * Everything is formatted whole into a buffer and written with one write() so lines never interleave.
 */
#ifndef FLEET_REPORT_H
#define FLEET_REPORT_H

#include <stdint.h>

#include <jansson.h>
#include <stdbool.h>

#include "executor.h"
#include "util.h"

/* "kiosk[01-38,40],atm003" from names (in the order given; numeric runs folded by prefix/suffix/width). */
char *report_hostlist(char *const *names, size_t n);

/* Append data's lines to b, each prefixed "NAME: "; a last line without newline gets one. */
void report_prefix_lines(struct buf *b, const char *name, const char *data, size_t len);

/* Write b to fd (loops on short writes) and reset b.  Text for people: when fd is a terminal, control
 * characters other than tab and newline are escaped visibly (report_escape). */
void report_flush(struct buf *b, int fd);
/* "812 B", "2.8 KiB", "13.4 MiB", "1.2 GiB" (caller frees). */
char *report_bytes(uint64_t n);
/* The same, the bytes as they are (our own progress line, JSON). */
void report_flush_raw(struct buf *b, int fd);
/* Append data to out with ESC, CR and every other C0/C1 control but tab and newline shown as cat -v
 * shows them (^[, ^M, ^?, M-^[ for a raw C1 byte, M-BM-^[ for one encoded in UTF-8). */
void report_escape(struct buf *out, const char *data, size_t len);

/* Per-host output in inventory order: stdout lines to out, stderr lines and errors to err. */
void report_hosts(const struct host_result *r, size_t n, int out_fd, int err_fd);
/* Identical (state, exit, stdout, stderr, error) folded: one header per group naming its hosts as ranges.
 * Errors that differ only in each terminal's own address and port fold too, shown as <address>, <port>. */
void report_fold(const struct host_result *r, size_t n, int out_fd);
/* "48 ok, 1 failed: kiosk07, 1 unreachable: atm003" (caller frees).  Past 160 characters of names for
 * one state, the first names and "and N more". */
char *report_summary(const struct host_result *r, size_t n);

/* JSON object for one host: host, state, exit, signal, stdout, stderr, duration_ms, error, step, truncated. */
json_t *report_json_host(const struct host_result *r);
/* Summary object: {"summary":true,"total":..,"ok":..,...,"exit_status":..}. */
json_t *report_json_summary(const struct host_result *r, size_t n, int exit_status);
/* One compact JSON value and a newline, in one write. */
void report_json_line(json_t *j, int fd);

/* A valid UTF-8 copy of data (invalid bytes become U+FFFD); caller frees. */
char *report_utf8(const char *data, size_t len, size_t *outlen);

/* "\r[12/50] 10 ok, 1 failed, 1 unreachable  3.2s" — for a TTY only. */
void report_progress(const struct executor_progress *p, int fd);
void report_progress_clear(int fd);

#endif
