/* util: allocation, strings, bounded buffers, small parsers shared by every module. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void
oom(size_t n)
{
	fprintf(stderr, "fleetctl: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom(n * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *
xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = strdup(s);
	if (p == NULL)
		oom(strlen(s) + 1);
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		oom(n + 1);
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		oom(strlen(fmt));
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

int
set_cause(char **cause, int rc, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL || *cause != NULL)
		return rc;
	va_start(ap, fmt);
	*cause = xvasprintf(fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_init(struct buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
	b->alloc = 64;
	b->data = xmalloc(b->alloc);
	b->data[0] = '\0';
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->data == NULL)
		buf_init(b, b->cap);
	if (b->cap != 0 && b->len + n > b->cap) {
		size_t room = b->cap > b->len ? b->cap - b->len : 0;

		b->dropped += n - room;
		n = room;
	}
	if (n == 0)
		return;
	if (b->len + n + 1 > b->alloc) {
		while (b->len + n + 1 > b->alloc)
			b->alloc *= 2;
		b->data = xrealloc(b->data, b->alloc);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_adds(b, s);
	free(s);
}

void
buf_reset(struct buf *b)
{
	if (b->data != NULL)
		b->data[0] = '\0';
	b->len = 0;
	b->dropped = 0;
}

char *
buf_detach(struct buf *b)
{
	char *s;

	if (b->data == NULL)
		buf_init(b, b->cap);
	s = b->data;
	b->data = NULL;
	b->len = b->alloc = b->dropped = 0;
	return s;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = b->dropped = 0;
}

int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
parse_duration(const char *s, long *seconds)
{
	char *end;
	long v, mult = 1;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (v > LONG_MAX / mult)
		return -1;
	*seconds = v * mult;
	return 0;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *mutex, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cond, mutex, &ts);
}

char *
str_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

size_t
strv_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

void
strv_push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

void
strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

char **
str_split_commas(const char *s, size_t *count)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = s, *c;

	/* Commas inside [..] belong to a range and do not split. */
	while (p != NULL && *p != '\0') {
		int depth = 0;
		char *item, *t;

		for (c = p; *c != '\0'; c++) {
			if (*c == '[')
				depth++;
			else if (*c == ']' && depth > 0)
				depth--;
			else if (*c == ',' && depth == 0)
				break;
		}
		item = xstrndup(p, (size_t)(c - p));
		t = str_trim(item);
		if (*t != '\0')
			strv_push(&v, &n, xstrdup(t));
		free(item);
		p = *c == ',' ? c + 1 : c;
	}
	if (v == NULL)
		v = xcalloc(1, sizeof(*v));
	if (count != NULL)
		*count = n;
	return v;
}

int
read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct buf b;
	char chunk[65536];
	ssize_t r;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	buf_init(&b, 0);
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (r == 0)
			break;
		if (b.len + (size_t)r > max) {
			errno = EFBIG;
			goto out;
		}
		buf_add(&b, chunk, (size_t)r);
	}
	if (len != NULL)
		*len = b.len;
	*out = buf_detach(&b);
	rc = 0;
out:
	buf_free(&b);
	close(fd);
	return rc;
}

int
mkdir_p(const char *path, unsigned mode)
{
	char *p = xstrdup(path), *s;
	int rc = -1;

	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			goto out;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		goto out;
	rc = 0;
out:
	free(p);
	return rc;
}

int
write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	const char *p = data;
	int fd, rc = -1, saved;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto out;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out_close;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto out_close;
	if (close(fd) < 0) {
		fd = -1;
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto out_unlink;
	rc = 0;
	goto out;
out_close:
	saved = errno;
	close(fd);
	errno = saved;
out_unlink:
	saved = errno;
	unlink(tmp);
	errno = saved;
out:
	free(tmp);
	return rc;
}
