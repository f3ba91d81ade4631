/* util: allocation that cannot fail silently, strings, bounded buffers, time. */
#ifndef FLEET_UTIL_H
#define FLEET_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Allocation: abort with a message on out-of-memory (like git's xmalloc). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);                 /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* Set *cause (if cause != NULL and *cause == NULL) to a formatted message; returns rc. */
int set_cause(char **cause, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * A growing byte buffer with an optional cap.  Bytes past the cap are counted in
 * `dropped` but not stored, so captured output can never exhaust memory.
 * The buffer is always NUL-terminated.  Owner frees with buf_free().
 */
struct buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap;      /* 0 = no cap */
	size_t dropped;  /* bytes refused because of cap */
};
void buf_init(struct buf *b, size_t cap);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
char *buf_detach(struct buf *b);   /* caller owns the string; buffer is reset */
void buf_free(struct buf *b);

/* Strict integer parsing: whole string, range checked.  0 on success, -1 otherwise. */
int parse_long(const char *s, long min, long max, long *out);
/* Durations like "90", "90s", "5m", "4h", "1d" -> seconds.  0 / -1. */
int parse_duration(const char *s, long *seconds);

/* Monotonic milliseconds and wall-clock seconds. */
int64_t now_ms(void);
/* pthread_cond_timedwait for at most ms milliseconds (mutex held); the caller re-checks what it waits for. */
void cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *mutex, long ms);

/* Trim leading and trailing blanks in place; returns s. */
char *str_trim(char *s);
/* Split "a, b ,c" on commas into a NULL-terminated array of trimmed, non-empty strings (caller frees with strv_free). */
char **str_split_commas(const char *s, size_t *count);
void strv_free(char **v);
size_t strv_len(char *const *v);
void strv_push(char ***v, size_t *n, char *s);  /* takes ownership of s */

/* Read a whole file (capped at max bytes).  0 / -1 with errno. Caller frees *out. */
int read_file(const char *path, size_t max, char **out, size_t *len);

/* mkdir -p with mode; 0 / -1 with errno. */
int mkdir_p(const char *path, unsigned mode);

/* Write a whole file atomically (tmp + fsync + rename).  0 / -1 with errno. */
int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

#endif
