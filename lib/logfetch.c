/* logfetch: remote commands for `fleetctl logs`, the --since parser and the streaming file writer. */
#include "logfetch.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "shquote.h"
#include "util.h"

/* ---- --since ---- */

static int
lf_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static const struct {
	const char *name;
	long secs;
} lf_units[] = {
	{ "", 1 }, { "s", 1 }, { "sec", 1 }, { "secs", 1 }, { "second", 1 }, { "seconds", 1 },
	{ "m", 60 }, { "min", 60 }, { "mins", 60 }, { "minute", 60 }, { "minutes", 60 },
	{ "h", 3600 }, { "hr", 3600 }, { "hrs", 3600 }, { "hour", 3600 }, { "hours", 3600 },
	{ "d", 86400 }, { "day", 86400 }, { "days", 86400 },
	{ "w", 604800 }, { "week", 604800 }, { "weeks", 604800 },
};

static int
lf_days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* "N UNIT [ago]" or "NUNIT": seconds back from now.  0 / -1. */
static int
lf_since_relative(const char *s, long *secs)
{
	char unit[16];
	size_t ul = 0;
	long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	s = end;
	while (*s == ' ')
		s++;
	while (isalpha((unsigned char)*s)) {
		if (ul + 1 >= sizeof(unit))
			return -1;
		unit[ul++] = (char)tolower((unsigned char)*s++);
	}
	unit[ul] = '\0';
	while (*s == ' ')
		s++;
	if (strncmp(s, "ago", 3) == 0) {
		s += 3;
		while (*s == ' ')
			s++;
	}
	if (*s != '\0')
		return -1;
	for (size_t i = 0; i < sizeof(lf_units) / sizeof(lf_units[0]); i++) {
		if (strcmp(unit, lf_units[i].name) == 0) {
			if (v > 10L * 366 * 86400 / lf_units[i].secs * 10)
				return -1;
			*secs = v * lf_units[i].secs;
			return 0;
		}
	}
	return -1;
}

int
logfetch_parse_since(const char *s, time_t now, char *out, size_t outlen, char **cause)
{
	struct tm tm;
	const char *p;
	int y, mo, d, h = 0, mi = 0, sec = 0, n;
	long back;

	if (s == NULL)
		return set_cause(cause, -1, "no time given");
	while (*s == ' ')
		s++;
	if (lf_since_relative(s, &back) == 0) {
		time_t t = now - (time_t)back;

		if (localtime_r(&t, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm) == 0)
			return set_cause(cause, -1, "cannot format the time '%s'", s);
		return 0;
	}
	p = s;
	if (lf_digits(&p, 4, &y) != 0 || *p++ != '-' || lf_digits(&p, 2, &mo) != 0 || *p++ != '-' ||
	    lf_digits(&p, 2, &d) != 0)
		goto bad;
	if (mo < 1 || mo > 12 || d < 1 || d > lf_days_in_month(y, mo))
		goto bad;
	if (*p == ' ' || *p == 'T') {
		p++;
		if (lf_digits(&p, 2, &h) != 0 || *p++ != ':' || lf_digits(&p, 2, &mi) != 0)
			goto bad;
		if (*p == ':') {
			p++;
			if (lf_digits(&p, 2, &sec) != 0)
				goto bad;
			if (*p == '.' || *p == ',') {   /* fractions: ignored */
				p++;
				if (!isdigit((unsigned char)*p))
					goto bad;
				while (isdigit((unsigned char)*p))
					p++;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			goto bad;
	}
	if (*p == 'Z' || *p == '+' || *p == '-') {
		long off = 0;
		time_t t;

		if (*p == 'Z')
			p++;
		else {
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;

			if (lf_digits(&p, 2, &oh) != 0)
				goto bad;
			if (*p == ':')
				p++;
			if (*p != '\0' && lf_digits(&p, 2, &om) != 0)
				goto bad;
			if (oh > 23 || om > 59)
				goto bad;
			off = sign * (oh * 3600L + om * 60L);
		}
		if (*p != '\0')
			goto bad;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		t = timegm(&tm) - off;
		if (localtime_r(&t, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm) == 0)
			goto bad;
		return 0;
	}
	if (*p != '\0')
		goto bad;
	n = snprintf(out, outlen, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, sec);
	if (n < 0 || (size_t)n >= outlen)
		goto bad;
	return 0;
bad:
	return set_cause(cause, -1, "cannot understand the time '%s' (try \"2 hours ago\", 30m, "
	    "\"2026-11-26 10:00\" or 2026-11-26T10:00:00Z)", s);
}

/* ---- remote commands ---- */

/* `exec sh -c SCRIPT fleetctl`: the login shell only has to parse that line; the script runs in sh
 * with its values as positional parameters.  Callers append each value with lf_arg. */
static void
lf_script(struct buf *b, const char *script)
{
	buf_adds(b, "exec sh -c ");
	shquote_add(b, script);
	buf_adds(b, " fleetctl");
}

static void
lf_arg(struct buf *b, const char *v)
{
	buf_adds(b, " ");
	shquote_add(b, v);
}

static void
lf_arg_num(struct buf *b, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	lf_arg(b, num);
}

/* IFS empty: `$g` unquoted is one field that only goes through pathname expansion. */
static const char lf_list_script[] =
	"IFS=\n"
	"nl='\n'\n"
	"for t in awk gzip sha256sum; do command -v \"$t\" >/dev/null 2>&1 && printf 'T %s\\n' \"$t\"; done\n"
	"for g do\n"
	"  for f in $g; do\n"
	"    case $f in *\"$nl\"*) continue ;; esac\n"
	"    [ -f \"$f\" ] || continue\n"
	"    if [ -r \"$f\" ] && s=$(wc -c < \"$f\" 2>/dev/null) && [ -n \"$s\" ]; then\n"
	"      printf 'F %s %s\\n' \"$(($s))\" \"$f\"\n"
	"    else\n"
	"      printf 'U %s\\n' \"$f\"\n"
	"    fi\n"
	"  done\n"
	"done\n"
	"exit 0\n";

char *
logfetch_list_cmd(char *const *globs, size_t n)
{
	struct buf b;

	buf_init(&b, 0);
	lf_script(&b, lf_list_script);
	for (size_t i = 0; i < n; i++)
		lf_arg(&b, globs[i]);
	return buf_detach(&b);
}

static bool
lf_matches_glob(const char *path, char *const *globs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], path, FNM_PATHNAME | FNM_PERIOD) == 0)
			return true;
	return false;
}

int
logfetch_parse_listing(const char *text, size_t len, char *const *globs, size_t nglobs,
    struct logfetch_listing *out, char **cause)
{
	size_t i = 0, alloc = 0;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		const char *line = text + i, *nl = memchr(line, '\n', len - i);
		size_t l = nl != NULL ? (size_t)(nl - line) : len - i;
		char *copy = xstrndup(line, l), *path = NULL;
		uint64_t size = 0;
		bool unreadable = false, dup = false;

		i += l + (nl != NULL ? 1 : 0);
		if (strcmp(copy, "T awk") == 0)
			out->has_awk = true;
		else if (strcmp(copy, "T gzip") == 0)
			out->has_gzip = true;
		else if (strcmp(copy, "T sha256sum") == 0)
			out->has_sha256sum = true;
		else if (strncmp(copy, "F ", 2) == 0) {
			char *end;

			errno = 0;
			if (!isdigit((unsigned char)copy[2])) {
				free(copy);
				logfetch_listing_free(out);
				return set_cause(cause, -1, "unexpected listing line from the terminal");
			}
			size = strtoull(copy + 2, &end, 10);
			if (errno != 0 || *end != ' ' || end[1] == '\0') {
				free(copy);
				logfetch_listing_free(out);
				return set_cause(cause, -1, "unexpected listing line from the terminal");
			}
			path = end + 1;
		} else if (strncmp(copy, "U ", 2) == 0 && copy[2] != '\0') {
			path = copy + 2;
			unreadable = true;
		}
		if (path != NULL) {
			for (size_t k = 0; k < out->n; k++)
				if (strcmp(out->v[k].path, path) == 0)
					dup = true;
			if (!lf_matches_glob(path, globs, nglobs))
				out->rejected++;
			else if (!dup) {
				if (out->n == alloc) {
					alloc = alloc ? alloc * 2 : 8;
					out->v = xrealloc(out->v, alloc * sizeof(*out->v));
				}
				out->v[out->n].path = xstrdup(path);
				out->v[out->n].size = size;
				out->v[out->n].unreadable = unreadable;
				out->n++;
			}
		}
		free(copy);
	}
	return 0;
}

void
logfetch_listing_free(struct logfetch_listing *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Lines starting with an ISO-8601-like time decide; others follow the previous decision (k). */
#define LF_TS_RE "/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]/"
#define LF_TS_CUT "t = substr($0, 1, 19); sub(/T/, \" \", t); k = (t >= c)"

/* $1 lines, $2 cutoff or '', $3 regex or '', $4 file. */
static const char lf_tail_script[] =
	"f=$4\n"
	"if [ -n \"$2\" ]; then\n"
	"  command -v awk >/dev/null 2>&1 || { echo 'no awk on the terminal: --since needs awk' >&2; exit 97; }\n"
	"  if [ -n \"$3\" ]; then\n"
	"    LC_ALL=C awk -v c=\"$2\" '" LF_TS_RE " { " LF_TS_CUT " } k' < \"$f\" | grep -E -e \"$3\" | tail -n \"$1\"\n"
	"  else\n"
	"    LC_ALL=C awk -v c=\"$2\" '" LF_TS_RE " { " LF_TS_CUT " } k' < \"$f\" | tail -n \"$1\"\n"
	"  fi\n"
	"elif [ -n \"$3\" ]; then\n"
	"  grep -E -e \"$3\" < \"$f\" | tail -n \"$1\"\n"
	"else\n"
	"  tail -n \"$1\" < \"$f\"\n"
	"fi\n";

char *
logfetch_tail_cmd(const char *path, long lines, const char *cutoff, const char *regex)
{
	struct buf b;

	buf_init(&b, 0);
	lf_script(&b, lf_tail_script);
	lf_arg_num(&b, lines);
	lf_arg(&b, cutoff != NULL ? cutoff : "");
	lf_arg(&b, regex != NULL ? regex : "");
	lf_arg(&b, path);
	return buf_detach(&b);
}

/* $1 start byte, $2 byte count, $3 1 = gzip, $4 file.  head -c stops at the size listed, so a
 * growing log still gives a known, complete length. */
static const char lf_fetch_script[] =
	"{ if [ \"$1\" -gt 0 ]; then tail -c +\"$(($1 + 1))\"; else cat; fi; } < \"$4\" | head -c \"$2\" |\n"
	"  if [ \"$3\" = 1 ]; then gzip -c; else cat; fi\n";

char *
logfetch_fetch_cmd(const char *path, uint64_t from, uint64_t len, bool gz)
{
	struct buf b;

	buf_init(&b, 0);
	lf_script(&b, lf_fetch_script);
	lf_arg_num(&b, (long long)from);
	lf_arg_num(&b, (long long)len);
	lf_arg(&b, gz ? "1" : "0");
	lf_arg(&b, path);
	return buf_detach(&b);
}

char *
logfetch_prefix_hash_cmd(const char *path, uint64_t len)
{
	struct buf b;

	buf_init(&b, 0);
	lf_script(&b, "head -c \"$1\" < \"$2\" | sha256sum");
	lf_arg_num(&b, (long long)len);
	lf_arg(&b, path);
	return buf_detach(&b);
}

/*
 * $1 lines, $2 cutoff or '', $3 regex or '', then pairs (offset, file).  The watchdog polls the sshd
 * session process (our parent): when the connection is gone it kills the command's process group,
 * which sshd made for this session, so no tail is left behind on the terminal.
 */
static const char lf_follow_script[] =
	"n=$1 c=$2 FLEETCTL_RE=$3\n"
	"export FLEETCTL_RE\n"
	"shift 3\n"
	"command -v awk >/dev/null 2>&1 || { echo 'no awk on the terminal: fleetctl logs -f needs awk' >&2; exit 97; }\n"
	"F=-f A=awk\n"
	/* mawk reads a pipe in big blocks unless told otherwise: lines would wait for 4 KiB to pile up */
	"awk -W version 2>/dev/null </dev/null | grep -q mawk && A='awk -W interactive'\n"
	"tail --help 2>&1 | grep -q -e '-F' && F=-F\n"
	"( while kill -0 \"$PPID\" 2>/dev/null; do sleep 2; done; kill -TERM 0 ) </dev/null >/dev/null 2>&1 &\n"
	"i=0\n"
	"while [ $# -ge 2 ]; do\n"
	"  off=$1 f=$2\n"
	"  shift 2\n"
	"  s=$(wc -c < \"$f\" 2>/dev/null) || s=0\n"
	"  s=$(($s + 0))\n"
	"  if [ \"$off\" -lt 0 ]; then\n"
	"    l=$(tail -n \"$n\" < \"$f\" 2>/dev/null | wc -c); off=$((s - l)); [ \"$off\" -ge 0 ] || off=0\n"
	"  elif [ \"$off\" -gt \"$s\" ]; then\n"
	"    off=0\n"   /* shorter than where we were: truncated or rotated, start over */
	"  fi\n"
	"  printf '%s@%s\\n' \"$i\" \"$off\"\n"
	"  tail -c +\"$((off + 1))\" $F -- \"$f\" | LC_ALL=C $A -v i=\"$i\" -v c=\"$c\" '\n"
	"    BEGIN { re = ENVIRON[\"FLEETCTL_RE\"]; k = (c == \"\"); s = 0 }\n"
	"    c != \"\" && " LF_TS_RE " { " LF_TS_CUT " }\n"
	"    { if (k && (re == \"\" || $0 ~ re)) { print i \":\" s \":\" $0; s = 0; fflush() } else s += length($0) + 1 }' &\n"
	"  i=$((i + 1))\n"
	"done\n"
	"wait\n";

char *
logfetch_follow_cmd(long lines, const char *cutoff, const char *regex, char *const *paths,
    const int64_t *offsets, size_t n)
{
	struct buf b;

	buf_init(&b, 0);
	lf_script(&b, lf_follow_script);
	lf_arg_num(&b, lines);
	lf_arg(&b, cutoff != NULL ? cutoff : "");
	lf_arg(&b, regex != NULL ? regex : "");
	for (size_t i = 0; i < n; i++) {
		lf_arg_num(&b, offsets[i] < 0 ? -1 : (long long)offsets[i]);
		lf_arg(&b, paths[i]);
	}
	return buf_detach(&b);
}

static int
lf_parse_u64(const char **p, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	const char *s = *p;

	if (s >= end || !isdigit((unsigned char)*s))
		return -1;
	while (s < end && isdigit((unsigned char)*s)) {
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s++ - '0');
	}
	*p = s;
	*v = x;
	return 0;
}

int
logfetch_follow_parse(const char *line, size_t len, size_t *index, int64_t *off, uint64_t *skipped,
    const char **text, size_t *textlen)
{
	const char *p = line, *end = line + len;
	uint64_t i, v;

	if (lf_parse_u64(&p, end, &i) != 0 || p >= end)
		return 0;
	if (*p == '@') {
		p++;
		if (lf_parse_u64(&p, end, &v) != 0 || p != end || v > INT64_MAX)
			return 0;
		*index = (size_t)i;
		*off = (int64_t)v;
		return 1;
	}
	if (*p++ != ':' || lf_parse_u64(&p, end, &v) != 0 || p >= end || *p++ != ':')
		return 0;
	*index = (size_t)i;
	*skipped = v;
	*text = p;
	*textlen = (size_t)(end - p);
	return 2;
}

/* ---- local files ---- */

int
logfetch_local_path(const char *dir, const char *host, const char *remote, char **out, char **cause)
{
	struct buf b;
	const char *p = remote;
	size_t parts = 0;

	if (host == NULL || *host == '\0' || strchr(host, '/') != NULL || strcmp(host, ".") == 0 ||
	    strcmp(host, "..") == 0)
		return set_cause(cause, -1, "terminal name '%s' cannot be a directory name", host ? host : "");
	buf_init(&b, 0);
	buf_adds(&b, dir);
	if (b.len == 0 || b.data[b.len - 1] != '/')
		buf_adds(&b, "/");
	buf_adds(&b, host);
	while (*p != '\0') {
		const char *slash = strchr(p, '/');
		size_t l = slash != NULL ? (size_t)(slash - p) : strlen(p);

		if (l == 2 && p[0] == '.' && p[1] == '.') {
			buf_free(&b);
			return set_cause(cause, -1, "refusing to save '%s': it has a '..' component", remote);
		}
		if (l > 0 && !(l == 1 && p[0] == '.')) {
			buf_adds(&b, "/");
			buf_add(&b, p, l);
			parts++;
		}
		p += l + (slash != NULL ? 1 : 0);
	}
	if (parts == 0) {
		buf_free(&b);
		return set_cause(cause, -1, "refusing to save '%s': not a file name", remote);
	}
	*out = buf_detach(&b);
	return 0;
}

int
logfetch_file_sha256(const char *path, uint64_t len, char hex[65], char **cause)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char md[EVP_MAX_MD_SIZE], *chunk = NULL;
	unsigned mdlen = 0;
	uint64_t left = len;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return set_cause(cause, -1, "cannot open '%s': %s", path, strerror(errno));
	chunk = xmalloc(65536);
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		set_cause(cause, -1, "cannot start SHA-256");
		goto out;
	}
	while (left > 0) {
		ssize_t r = read(fd, chunk, left < 65536 ? (size_t)left : 65536);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			set_cause(cause, -1, "cannot read '%s': %s", path, r < 0 ? strerror(errno) : "file too short");
			goto out;
		}
		EVP_DigestUpdate(ctx, chunk, (size_t)r);
		left -= (uint64_t)r;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
		set_cause(cause, -1, "cannot finish SHA-256");
		goto out;
	}
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(chunk);
	close(fd);
	return rc;
}

#define LF_OUT_CHUNK 65536

struct logfetch_writer {
	int fd;
	bool gz, zend;
	z_stream z;
	uint64_t size;
	char *path;
	char *error;
	unsigned char out[LF_OUT_CHUNK];
};

int
logfetch_writer_open(const char *path, uint64_t from, bool gz, struct logfetch_writer **out, char **cause)
{
	struct logfetch_writer *w;
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0)
		return set_cause(cause, -1, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < from ||
	    ftruncate(fd, (off_t)from) != 0 || lseek(fd, (off_t)from, SEEK_SET) < 0) {
		int e = errno;

		close(fd);
		return set_cause(cause, -1, "cannot prepare '%s': %s", path,
		    (uint64_t)st.st_size < from ? "shorter than expected" : strerror(e));
	}
	w = xcalloc(1, sizeof(*w));
	w->fd = fd;
	w->gz = gz;
	w->size = from;
	w->path = xstrdup(path);
	/* 15 + 16: a gzip header and trailer around the deflate data, as `gzip -c` writes. */
	if (gz && inflateInit2(&w->z, 15 + 16) != Z_OK) {
		close(fd);
		free(w->path);
		free(w);
		return set_cause(cause, -1, "cannot start zlib");
	}
	*out = w;
	return 0;
}

static void
lf_write_all(struct logfetch_writer *w, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0 && w->error == NULL) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			w->error = xasprintf("cannot write '%s': %s", w->path, strerror(errno));
			return;
		}
		p += n;
		len -= (size_t)n;
		w->size += (uint64_t)n;
	}
}

void
logfetch_writer_data(struct logfetch_writer *w, const char *data, size_t len)
{
	if (w->error != NULL || len == 0)
		return;
	if (!w->gz) {
		lf_write_all(w, data, len);
		return;
	}
	if (w->zend)
		return;   /* `gzip -c` writes one member; nothing useful can follow it */
	w->z.next_in = (Bytef *)(uintptr_t)data;
	w->z.avail_in = (uInt)len;
	do {
		int rc;

		w->z.next_out = w->out;
		w->z.avail_out = sizeof(w->out);
		rc = inflate(&w->z, Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			w->zend = true;
		else if (rc != Z_OK && rc != Z_BUF_ERROR) {
			w->error = xasprintf("corrupt compressed data from the terminal (%s)",
			    w->z.msg != NULL ? w->z.msg : "zlib error");
			return;
		}
		lf_write_all(w, w->out, sizeof(w->out) - w->z.avail_out);
		if (rc == Z_BUF_ERROR)
			break;
	} while (!w->zend && w->error == NULL && (w->z.avail_in > 0 || w->z.avail_out == 0));
}

uint64_t
logfetch_writer_size(const struct logfetch_writer *w)
{
	return w->size;
}

int
logfetch_writer_close(struct logfetch_writer *w, char **cause)
{
	int rc = 0;

	if (w == NULL)
		return 0;
	if (w->gz)
		inflateEnd(&w->z);
	if (close(w->fd) != 0 && w->error == NULL)
		w->error = xasprintf("cannot close '%s': %s", w->path, strerror(errno));
	if (w->error != NULL) {
		rc = set_cause(cause, -1, "%s", w->error);
	}
	free(w->error);
	free(w->path);
	free(w);
	return rc;
}
