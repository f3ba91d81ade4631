/*
 * logs: read the log files of the selected terminals — the last lines of each (filtered on the
 * terminal by --since and --grep, so only what was asked for crosses the network), whole files saved
 * under a local directory (compressed on the wire, resumed when cut), or followed live on every
 * terminal at once with reconnection.
 *
 * Which files: the `logs` globs of each terminal (fleet.ini), or --path.  Records nothing in the
 * history: reading logs changes no terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/executor.h"
#include "../lib/logfetch.h"
#include "../lib/report.h"
#include "../lib/util.h"
#include "cmd.h"

#define LOGS_TEXT_CAP (8 * 1024 * 1024)     /* per file, without -o */
#define LOGS_LINE_CAP (1024 * 1024)         /* one followed line */
#define LOGS_ERR_CAP (64 * 1024)
#define LOGS_BACKOFF_MAX 30

struct logs_opts {
	char **paths;             /* --path globs, or NULL: each host's `logs` */
	size_t npaths;
	long lines;
	const char *regex;        /* NULL = none */
	const char *cutoff;       /* "YYYY-MM-DD HH:MM:SS" or NULL */
	const char *dir;          /* -o DIR, or NULL */
	bool follow;
	volatile sig_atomic_t *interrupted;
};

struct logs_file {
	char *path;
	uint64_t size;
	struct buf text;          /* without -o: the lines */
	char *error;
	/* -o */
	char *local;
	uint64_t resumed_from, fetched, wire_bytes;
	bool complete, gz;
	/* -f */
	int64_t start;            /* byte offset the current tail started at, -1 = not started */
	uint64_t consumed;        /* bytes of the file accounted for since start */
};

struct logs_host {
	struct logs_file *files;
	size_t nfiles;
	/* -f: partial lines of the current connection */
	struct buf pend[2];
	struct host_result *r;
	const struct logs_opts *o;
};

/* Followed lines from every worker go out whole, one write() under this lock. */
static pthread_mutex_t logs_out_lock = PTHREAD_MUTEX_INITIALIZER;

static void
logs_write(struct logs_host *lh, int fd, struct buf *b)
{
	size_t off = 0;

	pthread_mutex_lock(&logs_out_lock);
	while (off < b->len) {
		ssize_t n = write(fd, b->data + off, b->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* Reader gone (`| head`): stop following rather than run forever. */
			if (errno == EPIPE && lh->o->interrupted != NULL)
				*lh->o->interrupted = SIGPIPE;
			break;
		}
		off += (size_t)n;
	}
	pthread_mutex_unlock(&logs_out_lock);
	buf_reset(b);
}

static void
logs_mark(struct logs_host *lh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "t03: -- connection lost, reconnecting in 2 s --" on stdout, in line with the logs it interrupts. */
static void
logs_mark(struct logs_host *lh, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	buf_init(&b, 0);
	buf_addf(&b, "%s: -- %s --\n", lh->r->host->name, msg);
	logs_write(lh, STDOUT_FILENO, &b);
	buf_free(&b);
	free(msg);
}

static void
logs_files_free(struct logs_host *lh)
{
	for (size_t i = 0; i < lh->nfiles; i++) {
		free(lh->files[i].path);
		buf_free(&lh->files[i].text);
		free(lh->files[i].error);
		free(lh->files[i].local);
	}
	free(lh->files);
	buf_free(&lh->pend[0]);
	buf_free(&lh->pend[1]);
	free(lh);
}

/* The host's globs: --path, else its `logs` setting.  NULL with *n 0 when there are none. */
static char **
logs_globs(const struct logs_opts *o, const struct inv_host *h, size_t *n)
{
	const char *v;

	if (o->paths != NULL) {
		char **copy = xcalloc(o->npaths + 1, sizeof(*copy));

		for (size_t i = 0; i < o->npaths; i++)
			copy[i] = xstrdup(o->paths[i]);
		*n = o->npaths;
		return copy;
	}
	v = inv_get(h, INV_LOGS);
	*n = 0;
	if (v == NULL || *v == '\0')
		return NULL;
	return str_split_commas(v, n);
}

static void
logs_fail(struct host_result *r, enum host_state st, const char *step, char *msg)
{
	r->state = st;
	r->step = step;
	free(r->error);
	r->error = msg;
}

/* List the host's log files into lh.  0, or -1 with r's state and error set. */
static int
logs_list(struct transport *tp, struct host_result *r, struct logs_host *lh, bool *has_awk, bool *has_gzip,
    bool *has_sha)
{
	struct logfetch_listing l;
	struct buf out, err;
	char **globs, *cmd, *cause = NULL, *joined;
	size_t nglobs = 0;
	int rc, code = -1;

	globs = logs_globs(lh->o, r->host, &nglobs);
	if (nglobs == 0) {
		strv_free(globs);
		logs_fail(r, HS_FAILED, "list", xstrdup("no log files configured: set 'logs' in fleet.ini or give --path"));
		return -1;
	}
	cmd = logfetch_list_cmd(globs, nglobs);
	buf_init(&out, HOST_OUTPUT_CAP);
	buf_init(&err, LOGS_ERR_CAP);
	rc = transport_run(tp, cmd, inv_get_long(r->host, INV_COMMAND_TIMEOUT) * 1000, &out, &err, &code, NULL, &cause);
	free(cmd);
	if (rc != TP_OK) {
		logs_fail(r, host_state_from_tp(rc), "list", cause);
		cause = NULL;
		rc = -1;
		goto out;
	}
	if (code != 0 || out.dropped > 0 ||
	    logfetch_parse_listing(out.data, out.len, globs, nglobs, &l, &cause) != 0) {
		logs_fail(r, HS_FAILED, "list", xasprintf("cannot list log files: %s",
		    cause != NULL ? cause : err.len > 0 ? str_trim(err.data) :
		    out.dropped > 0 ? "listing too long" : "the listing command failed"));
		rc = -1;
		goto out;
	}
	lh->files = xcalloc(l.n ? l.n : 1, sizeof(*lh->files));
	for (size_t i = 0; i < l.n; i++) {
		struct logs_file *f = &lh->files[i];

		f->path = l.v[i].path;
		l.v[i].path = NULL;
		f->size = l.v[i].size;
		f->start = -1;
		buf_init(&f->text, LOGS_TEXT_CAP);
		if (l.v[i].unreadable)
			f->error = xstrdup("cannot read it: permission denied");
	}
	lh->nfiles = l.n;
	*has_awk = l.has_awk;
	*has_gzip = l.has_gzip;
	*has_sha = l.has_sha256sum;
	logfetch_listing_free(&l);
	if (lh->nfiles == 0) {
		joined = xstrdup(globs[0]);
		for (size_t i = 1; i < nglobs; i++) {
			char *t = xasprintf("%s, %s", joined, globs[i]);

			free(joined);
			joined = t;
		}
		logs_fail(r, HS_FAILED, "list", xasprintf("no log file matches '%s'", joined));
		free(joined);
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	free(cause);
	strv_free(globs);
	buf_free(&out);
	buf_free(&err);
	return rc;
}

/* ---- last lines ---- */

static void
logs_tail_file(struct transport *tp, struct host_result *r, struct logs_file *f, const struct logs_opts *o)
{
	struct buf err;
	char *cmd, *cause = NULL;
	int rc, code = -1;

	cmd = logfetch_tail_cmd(f->path, o->lines, o->cutoff, o->regex);
	buf_init(&err, LOGS_ERR_CAP);
	rc = transport_run(tp, cmd, inv_get_long(r->host, INV_COMMAND_TIMEOUT) * 1000, &f->text, &err, &code, NULL,
	    &cause);
	free(cmd);
	if (rc != TP_OK) {
		f->error = cause;
		cause = NULL;
		logs_fail(r, host_state_from_tp(rc), "tail", xstrdup(f->error));
	} else if (code != 0 || err.len > 0) {
		/* grep finding nothing is fine; anything said on stderr is a problem worth showing */
		f->error = xstrdup(err.len > 0 ? str_trim(err.data) : "reading the file failed");
		if (r->state == HS_PENDING || r->state == HS_OK)
			r->state = HS_FAILED;
		r->step = "tail";
	}
	buf_free(&err);
	free(cause);
}

/* ---- whole files (-o) ---- */

struct logs_sink {
	struct logfetch_writer *w;
	struct buf *err;
	uint64_t wire;
};

static void
logs_fetch_data(void *arg, int stream, const char *data, size_t len)
{
	struct logs_sink *s = arg;

	if (stream == 0) {
		s->wire += len;
		logfetch_writer_data(s->w, data, len);
	} else
		buf_add(s->err, data, len);
}

/* Is the local FILE.part of size s the start of the remote file?  Compared by SHA-256 on both sides. */
static bool
logs_prefix_matches(struct transport *tp, struct host_result *r, struct logs_file *f, const char *part, uint64_t s)
{
	struct buf out;
	char *cmd = logfetch_prefix_hash_cmd(f->path, s), hex[65], *cause = NULL;
	int code = -1;
	bool ok = false;

	buf_init(&out, 4096);
	if (transport_run(tp, cmd, inv_get_long(r->host, INV_COMMAND_TIMEOUT) * 1000, &out, NULL, &code, NULL,
	    &cause) == TP_OK && code == 0 && out.len >= 64 &&
	    logfetch_file_sha256(part, s, hex, &cause) == 0)
		ok = memcmp(out.data, hex, 64) == 0;
	free(cmd);
	free(cause);
	buf_free(&out);
	return ok;
}

static void
logs_fetch_file(struct transport *tp, struct host_result *r, struct logs_file *f, const struct logs_opts *o,
    bool gz, bool has_sha)
{
	struct logs_sink sink;
	struct tp_exec x;
	struct stat st;
	struct buf err;
	char *part = NULL, *slash, *dir, *cmd, *cause = NULL;
	uint64_t from = 0;
	long timeout_s = inv_get_long(r->host, INV_COMMAND_TIMEOUT);
	int rc;

	if (logfetch_local_path(o->dir, r->host->name, f->path, &f->local, &f->error) != 0)
		goto failed;
	part = xasprintf("%s.part", f->local);
	dir = xstrdup(f->local);
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	if (slash != NULL && mkdir_p(dir, 0755) != 0) {
		f->error = xasprintf("cannot create '%s': %s", dir, strerror(errno));
		free(dir);
		goto failed;
	}
	free(dir);
	/* Resume a cut download when what we have is still the start of the remote file. */
	if (lstat(part, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= f->size &&
	    (!has_sha || logs_prefix_matches(tp, r, f, part, (uint64_t)st.st_size)))
		from = (uint64_t)st.st_size;
	f->resumed_from = from;
	f->gz = gz;
	memset(&sink, 0, sizeof(sink));
	if (logfetch_writer_open(part, from, gz, &sink.w, &f->error) != 0)
		goto failed;
	buf_init(&err, LOGS_ERR_CAP);
	sink.err = &err;
	memset(&x, 0, sizeof(x));
	x.command = cmd = logfetch_fetch_cmd(f->path, from, f->size - from, gz);
	/* A deadline that still lets a big file through a slow link: the step timeout plus 16 KB/s. */
	x.timeout_ms = timeout_s * 1000 + (long)((f->size - from) / 16);
	x.stdin_fd = -1;
	x.sink.on_data = logs_fetch_data;
	x.sink.arg = &sink;
	rc = transport_exec(tp, &x, &f->error);
	free(cmd);
	f->wire_bytes = sink.wire;
	f->fetched = logfetch_writer_size(sink.w) - from;
	if (logfetch_writer_close(sink.w, f->error == NULL ? &f->error : &cause) != 0 && rc == TP_OK)
		rc = TP_ERROR;
	if (rc == TP_OK && f->error == NULL && x.exit_code != 0)
		f->error = xstrdup(err.len > 0 ? str_trim(err.data) : "the download command failed");
	if (f->error == NULL && from + f->fetched != f->size)
		f->error = xasprintf("got %llu of %llu bytes (did the file shrink?)",
		    (unsigned long long)(from + f->fetched), (unsigned long long)f->size);
	buf_free(&err);
	if (f->error == NULL && rename(part, f->local) != 0)
		f->error = xasprintf("cannot rename '%s': %s", part, strerror(errno));
	if (f->error != NULL) {
		if (rc != TP_OK) {
			char *e = xasprintf("%s; %s kept (%llu of %llu bytes), run again to resume", f->error, part,
			    (unsigned long long)(from + f->fetched), (unsigned long long)f->size);

			free(f->error);
			f->error = e;
			logs_fail(r, host_state_from_tp(rc), "fetch", xstrdup(e));
		}
		goto failed;
	}
	f->complete = true;
	free(part);
	free(cause);
	return;
failed:
	if (r->state == HS_PENDING || r->state == HS_OK) {
		r->state = HS_FAILED;
		r->step = "fetch";
	}
	free(part);
	free(cause);
}

static void
logs_run_one(struct executor_worker *w, struct host_result *r, void *arg)
{
	const struct logs_opts *o = arg;
	struct logs_host *lh = xcalloc(1, sizeof(*lh));
	struct transport *tp;
	bool has_awk = false, has_gzip = false, has_sha = false;

	lh->r = r;
	lh->o = o;
	r->data = lh;
	tp = executor_connect(w, r);
	if (tp == NULL)
		return;
	if (logs_list(tp, r, lh, &has_awk, &has_gzip, &has_sha) != 0)
		goto out;
	if (o->cutoff != NULL && !has_awk) {
		logs_fail(r, HS_FAILED, "list", xstrdup("no awk on the terminal: --since needs awk"));
		goto out;
	}
	for (size_t i = 0; i < lh->nfiles && !executor_cancelled(w); i++) {
		struct logs_file *f = &lh->files[i];

		if (f->error != NULL) {
			if (r->state == HS_PENDING)
				r->state = HS_FAILED;
			continue;
		}
		if (o->dir != NULL)
			logs_fetch_file(tp, r, f, o, has_gzip, has_sha);
		else
			logs_tail_file(tp, r, f, o);
		if (host_state_unreachable(r->state) || r->state == HS_INTERRUPTED)
			break;
	}
	if (executor_cancelled(w) && r->state == HS_PENDING)
		r->state = HS_INTERRUPTED;
	if (r->state == HS_PENDING)
		r->state = HS_OK;
out:
	transport_close(tp);
}

/* ---- follow (-f) ---- */

static void
logs_follow_line(struct logs_host *lh, int stream, const char *line, size_t len, size_t cut)
{
	struct buf b;
	const char *text;
	size_t idx, tl;
	int64_t off;
	uint64_t skipped;
	int kind;

	buf_init(&b, 0);
	if (stream == 1) {
		buf_addf(&b, "%s: ", lh->r->host->name);
		buf_add(&b, line, len);
		buf_adds(&b, "\n");
		logs_write(lh, STDERR_FILENO, &b);
		buf_free(&b);
		return;
	}
	kind = logfetch_follow_parse(line, len, &idx, &off, &skipped, &text, &tl);
	if (kind == 0 || idx >= lh->nfiles) {
		buf_free(&b);
		return;
	}
	if (kind == 1) {
		lh->files[idx].start = off;
		lh->files[idx].consumed = 0;
	} else {
		lh->files[idx].consumed += skipped + tl + cut + 1;
		if (lh->nfiles > 1)
			buf_addf(&b, "%s: %s: ", lh->r->host->name, lh->files[idx].path);
		else
			buf_addf(&b, "%s: ", lh->r->host->name);
		buf_add(&b, text, tl);
		if (cut > 0)
			buf_adds(&b, " [line cut]");
		buf_adds(&b, "\n");
		logs_write(lh, STDOUT_FILENO, &b);
	}
	buf_free(&b);
}

static void
logs_follow_data(void *arg, int stream, const char *data, size_t len)
{
	struct logs_host *lh = arg;
	struct buf *p = &lh->pend[stream ? 1 : 0];

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t l = nl != NULL ? (size_t)(nl - data) : len;

		buf_add(p, data, l);
		if (nl == NULL)
			break;
		logs_follow_line(lh, stream ? 1 : 0, p->data, p->len, p->dropped);
		buf_reset(p);
		p->dropped = 0;
		data += l + 1;
		len -= l + 1;
	}
}

/* Sleep up to seconds, waking early on Ctrl-C; false when cancelled. */
static bool
logs_sleep(struct executor_worker *w, long seconds)
{
	for (long i = 0; i < seconds * 10; i++) {
		if (executor_cancelled(w))
			return false;
		usleep(100 * 1000);
	}
	return !executor_cancelled(w);
}

static void
logs_follow_one(struct executor_worker *w, struct host_result *r, void *arg)
{
	const struct logs_opts *o = arg;
	struct logs_host *lh = xcalloc(1, sizeof(*lh));
	bool listed = false, ever_connected = false, has_awk = false, has_gzip = false, has_sha = false;
	long delay = 1;

	lh->r = r;
	lh->o = o;
	r->data = lh;
	buf_init(&lh->pend[0], LOGS_LINE_CAP);
	buf_init(&lh->pend[1], LOGS_LINE_CAP);
	while (!executor_cancelled(w)) {
		struct transport *tp;
		struct tp_exec x;
		char **paths = NULL, *cause = NULL;
		int64_t *offs = NULL, started;
		int rc;

		r->state = HS_PENDING;
		tp = executor_connect(w, r);
		if (tp == NULL) {
			if (executor_cancelled(w))
				break;
			if (r->state == HS_HOSTKEY || r->state == HS_AUTH) {
				logs_mark(lh, "%s: %s, giving up", host_state_name(r->state), r->error ? r->error : "");
				return;
			}
			logs_mark(lh, "%s (%s), reconnecting in %ld s", ever_connected ? "still unreachable" :
			    "unreachable", r->error != NULL ? r->error : host_state_name(r->state), delay);
			if (!logs_sleep(w, delay))
				break;
			delay = delay * 2 > LOGS_BACKOFF_MAX ? LOGS_BACKOFF_MAX : delay * 2;
			continue;
		}
		if (ever_connected)
			logs_mark(lh, "reconnected");
		ever_connected = true;
		if (!listed) {
			if (logs_list(tp, r, lh, &has_awk, &has_gzip, &has_sha) != 0) {
				transport_close(tp);
				if (host_state_unreachable(r->state) && !executor_cancelled(w)) {
					logs_mark(lh, "connection lost (%s), reconnecting in %ld s", r->error, delay);
					if (!logs_sleep(w, delay))
						break;
					delay = delay * 2 > LOGS_BACKOFF_MAX ? LOGS_BACKOFF_MAX : delay * 2;
					continue;
				}
				logs_mark(lh, "%s", r->error != NULL ? r->error : "cannot list log files");
				return;
			}
			listed = true;
			for (size_t i = 0; i < lh->nfiles; i++)
				if (lh->files[i].error != NULL)
					logs_mark(lh, "%s: %s", lh->files[i].path, lh->files[i].error);
		}
		paths = xcalloc(lh->nfiles + 1, sizeof(*paths));
		offs = xcalloc(lh->nfiles + 1, sizeof(*offs));
		for (size_t i = 0; i < lh->nfiles; i++) {
			paths[i] = lh->files[i].path;
			offs[i] = lh->files[i].start < 0 ? -1 : lh->files[i].start + (int64_t)lh->files[i].consumed;
		}
		memset(&x, 0, sizeof(x));
		x.command = logfetch_follow_cmd(o->lines, o->cutoff, o->regex, paths, offs, lh->nfiles);
		x.stdin_fd = -1;
		x.sink.on_data = logs_follow_data;
		x.sink.arg = lh;
		started = now_ms();
		rc = transport_exec(tp, &x, &cause);
		free((char *)x.command);
		free(paths);
		free(offs);
		transport_close(tp);
		/* A line cut by the drop is fetched again: its bytes were not counted. */
		buf_reset(&lh->pend[0]);
		buf_reset(&lh->pend[1]);
		lh->pend[0].dropped = lh->pend[1].dropped = 0;
		if (executor_cancelled(w)) {
			free(cause);
			break;
		}
		if (rc == TP_OK && x.exit_code == LOGFETCH_EXIT_NOTOOL) {
			logs_fail(r, HS_FAILED, "follow", xstrdup("no awk on the terminal: fleetctl logs -f needs awk"));
			free(cause);
			return;
		}
		if (now_ms() - started > LOGS_BACKOFF_MAX * 1000)
			delay = 1;   /* it was up for a while: start the backoff over */
		if (rc == TP_OK)
			logs_mark(lh, "tail ended (exit %d), restarting in %ld s", x.exit_code, delay);
		else
			logs_mark(lh, "connection lost, reconnecting in %ld s", delay);
		free(cause);
		if (!logs_sleep(w, delay))
			break;
		delay = delay * 2 > LOGS_BACKOFF_MAX ? LOGS_BACKOFF_MAX : delay * 2;
	}
	r->state = HS_INTERRUPTED;
}

/* ---- output ---- */

static void
logs_print_text(struct buf *b, const char *prefix, const struct logs_file *f)
{
	report_prefix_lines(b, prefix, f->text.data, f->text.len);
}

static void
logs_print_human(const struct host_result *results, size_t n, const struct logs_opts *o)
{
	struct buf b, e;

	buf_init(&b, 0);
	buf_init(&e, 0);
	for (size_t i = 0; i < n; i++) {
		const struct host_result *r = &results[i];
		const struct logs_host *lh = r->data;
		const char *name = r->host->name;
		bool file_errors = false;

		for (size_t k = 0; lh != NULL && k < lh->nfiles; k++) {
			const struct logs_file *f = &lh->files[k];

			if (o->dir != NULL) {
				if (f->complete) {
					buf_addf(&b, "%s: %s -> %s (%llu bytes", name, f->path, f->local,
					    (unsigned long long)f->size);
					if (f->resumed_from > 0)
						buf_addf(&b, ", resumed at byte %llu", (unsigned long long)f->resumed_from);
					buf_addf(&b, ", %llu on the wire%s)\n", (unsigned long long)f->wire_bytes,
					    f->gz ? " with gzip" : "");
				}
			} else if (f->text.len > 0) {
				if (lh->nfiles > 1) {
					char *p = xasprintf("%s: %s", name, f->path);

					logs_print_text(&b, p, f);
					free(p);
				} else
					logs_print_text(&b, name, f);
			}
			if (f->text.dropped > 0)
				buf_addf(&e, "%s: %s: output cut at %d MiB; use -o DIR to fetch whole files\n", name,
				    f->path, LOGS_TEXT_CAP / (1024 * 1024));
			if (f->error != NULL) {
				buf_addf(&e, "%s: %s: %s\n", name, f->path, f->error);
				file_errors = true;
			}
		}
		report_flush(&b, STDOUT_FILENO);
		if (r->state != HS_OK && !file_errors) {
			if (r->error != NULL)
				buf_addf(&e, "%s: %s: %s\n", name, host_state_name(r->state), r->error);
			else
				buf_addf(&e, "%s: %s\n", name, host_state_name(r->state));
		}
		report_flush(&e, STDERR_FILENO);
	}
	buf_free(&b);
	buf_free(&e);
}

static json_t *
logs_json_str(const char *s, size_t len)
{
	size_t ol = 0;
	char *u = report_utf8(s, len, &ol);
	json_t *j = json_stringn(u, ol);

	free(u);
	return j;
}

static void
logs_print_json(const struct host_result *results, size_t n, const struct logs_opts *o, int status)
{
	for (size_t i = 0; i < n; i++) {
		const struct host_result *r = &results[i];
		const struct logs_host *lh = r->data;
		json_t *j = json_object(), *files = json_array();

		json_object_set_new(j, "host", json_string(r->host->name));
		json_object_set_new(j, "state", json_string(host_state_name(r->state)));
		json_object_set_new(j, "error", r->error != NULL ? logs_json_str(r->error, strlen(r->error)) : json_null());
		for (size_t k = 0; lh != NULL && k < lh->nfiles; k++) {
			const struct logs_file *f = &lh->files[k];
			json_t *jf = json_object();

			json_object_set_new(jf, "path", logs_json_str(f->path, strlen(f->path)));
			json_object_set_new(jf, "size", json_integer((json_int_t)f->size));
			json_object_set_new(jf, "error", f->error != NULL ? logs_json_str(f->error, strlen(f->error)) :
			    json_null());
			if (o->dir != NULL) {
				json_object_set_new(jf, "local", f->local != NULL ? json_string(f->local) : json_null());
				json_object_set_new(jf, "complete", json_boolean(f->complete));
				json_object_set_new(jf, "resumed_from", json_integer((json_int_t)f->resumed_from));
				json_object_set_new(jf, "wire_bytes", json_integer((json_int_t)f->wire_bytes));
			} else {
				json_t *lines = json_array();
				size_t p = 0;

				while (p < f->text.len) {
					const char *nl = memchr(f->text.data + p, '\n', f->text.len - p);
					size_t l = nl != NULL ? (size_t)(nl - (f->text.data + p)) : f->text.len - p;

					json_array_append_new(lines, logs_json_str(f->text.data + p, l));
					p += l + 1;
				}
				json_object_set_new(jf, "lines", lines);
				json_object_set_new(jf, "truncated", json_boolean(f->text.dropped > 0));
			}
			json_array_append_new(files, jf);
		}
		json_object_set_new(j, "files", files);
		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	}
	{
		json_t *j = report_json_summary(results, n, status);

		report_json_line(j, STDOUT_FILENO);
		json_decref(j);
	}
}

/* -o is both the common `-o KEY=VALUE` and logs' `-o DIR`: an inventory key before '=' decides. */
static bool
logs_is_override(const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *key;
	bool yes;

	if (eq == NULL || eq == arg)
		return false;
	key = xstrndup(arg, (size_t)(eq - arg));
	yes = inv_key_lookup(key) >= 0;
	free(key);
	return yes;
}

int cmd_logs(struct cmd_ctx *ctx, int argc, char **argv);

int
cmd_logs(struct cmd_ctx *ctx, int argc, char **argv)
{
	enum { OPT_SINCE = 2000, OPT_GREP, OPT_PATH, OPT_JSON };
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "lines", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "grep", required_argument, NULL, OPT_GREP },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "output", required_argument, NULL, 'O' },
		{ "follow", no_argument, NULL, 'f' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	struct logs_opts lo;
	struct executor_job job;
	struct host_result *results = NULL;
	struct inv_host **hosts = NULL;
	const char *limit = NULL, *since = NULL;
	char cutoff[32], *cause = NULL, *summary = NULL;
	bool json = false, lines_given = false;
	long parallel = 0;
	size_t n = 0;
	int opt, rc, status;

	memset(&lo, 0, sizeof(lo));
	lo.lines = 100;
	lo.interrupted = ctx->interrupted;
	while ((opt = getopt_long(argc, argv, "+" CMD_COMMON_SHORT "hl:n:fp:O:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			strv_free(lo.paths);
			return cmd_usage(ctx, true);
		case 'l':
			limit = optarg;
			break;
		case 'n':
			if (parse_long(optarg, 0, 1000000, &lo.lines) != 0) {
				cmd_error("logs: -n wants a number of lines from 0 to 1000000, not '%s'", optarg);
				goto usage;
			}
			lines_given = true;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_GREP:
			lo.regex = *optarg != '\0' ? optarg : NULL;
			break;
		case OPT_PATH: {
			size_t k = 0;
			char **v = str_split_commas(optarg, &k);

			for (size_t i = 0; i < k; i++) {
				strv_push(&lo.paths, &lo.npaths, v[i]);
				v[i] = NULL;
			}
			free(v);
			if (k == 0) {
				cmd_error("logs: --path wants a file or glob");
				goto usage;
			}
			break;
		}
		case 'O':
			lo.dir = optarg;
			break;
		case 'f':
			lo.follow = true;
			break;
		case 'p':
			if (parse_long(optarg, 1, 10000, &parallel) != 0) {
				cmd_error("logs: -p wants a number from 1 to 10000, not '%s'", optarg);
				goto usage;
			}
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'o':
			if (!logs_is_override(optarg)) {
				lo.dir = optarg;
				break;
			}
			/* FALLTHROUGH */
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0) {
				strv_free(lo.paths);
				return rc;
			}
			break;
		}
	}
	if (optind < argc) {
		cmd_error("logs: unexpected argument '%s'", argv[optind]);
		goto usage;
	}
	if (lo.dir != NULL && (lo.follow || lo.regex != NULL || since != NULL || lines_given)) {
		cmd_error("logs: -o saves whole files; it cannot be combined with -f, -n, --since or --grep");
		goto usage;
	}
	if (lo.dir != NULL && *lo.dir == '\0') {
		cmd_error("logs: -o wants a directory");
		goto usage;
	}
	if (lo.follow && json) {
		cmd_error("logs: --json cannot be combined with -f");
		goto usage;
	}
	if (lo.regex != NULL) {
		regex_t re;
		int e = regcomp(&re, lo.regex, REG_EXTENDED | REG_NOSUB);

		if (e != 0) {
			char msg[128];

			regerror(e, &re, msg, sizeof(msg));
			cmd_error("logs: --grep: bad regular expression '%s': %s", lo.regex, msg);
			goto usage;
		}
		regfree(&re);
	}
	if (since != NULL) {
		if (logfetch_parse_since(since, time(NULL), cutoff, sizeof(cutoff), &cause) != 0) {
			cmd_error("logs: --since: %s", cause);
			free(cause);
			goto usage;
		}
		lo.cutoff = cutoff;
	}
	if (lo.follow && !lines_given)
		lo.lines = 10;
	if ((rc = cmd_select(ctx, limit, &hosts, &n)) != 0) {
		strv_free(lo.paths);
		return rc;
	}

	job.run = lo.follow ? logs_follow_one : logs_run_one;
	job.arg = &lo;
	/* following: every terminal at once */
	results = cmd_run_job(ctx, hosts, n, lo.follow ? (long)n : parallel, false, &job);

	status = executor_exit_status(results, n, *ctx->interrupted != 0);
	if (!lo.follow) {
		summary = report_summary(results, n);
		if (json)
			logs_print_json(results, n, &lo, status);
		else {
			logs_print_human(results, n, &lo);
			cmd_error("%s", summary);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (results[i].data != NULL)
			logs_files_free(results[i].data);
		results[i].data = NULL;
	}
	host_results_free(results, n);
	free(hosts);
	free(summary);
	strv_free(lo.paths);
	return status;
usage:
	strv_free(lo.paths);
	return EXIT_USAGE;
}

const struct cmd_entry cmd_logs_entry = {
	.name = "logs",
	.usage = "[-l SEL] [-n LINES] [--since TIME] [--grep REGEX] [--path GLOB] [-o DIR] [-f] [--json]",
	.summary = "show, save or follow the terminals' log files",
	.help =
	    "  -l, --limit SEL     hosts, groups, globs; !term excludes (default: all)\n"
	    "  -n, --lines N       last N lines of each file (default 100; 10 with -f)\n"
	    "      --since TIME    only lines from TIME on: \"2 hours ago\", 30m, \"2026-11-26 10:00\",\n"
	    "                      2026-11-26T10:00:00Z; lines start with YYYY-MM-DD[T ]HH:MM:SS, a line\n"
	    "                      without a time goes with the line before it (needs awk on the terminal)\n"
	    "      --grep REGEX    only lines matching REGEX (grep -E, run on the terminal)\n"
	    "      --path GLOB     these files instead of the inventory's 'logs' (repeat or comma list)\n"
	    "  -o, --output DIR    save whole files as DIR/TERMINAL/PATH (gzip on the wire when the\n"
	    "                      terminal has it; a cut download resumes from its DIR/.../FILE.part)\n"
	    "  -f, --follow        follow every selected terminal at once until Ctrl-C; reconnects\n"
	    "  -p, --parallel N    terminals at once without -f (default: inventory 'parallel', 50)\n"
	    "      --json          one JSON object per terminal, then a summary object\n"
	    "\nLines are printed as 'TERMINAL: line', or 'TERMINAL: FILE: line' when several files match\n"
	    "on that terminal.  -o KEY=VALUE with an inventory key still overrides the inventory.\n",
	.flags = 0,
	.exec = cmd_logs,
};
