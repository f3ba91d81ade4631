/* logjob: the per-terminal log jobs (see logjob.h). */
#include "logjob.h"

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logfetch.h"
#include "report.h"

static void
logjob_write(struct logjob_host *lh, int fd, struct buf *b)
{
	size_t off = 0;
	struct buf e;
	const struct buf *out = b;

	/* lines from terminals: escaped on a TTY, as report_flush does */
	buf_init(&e, 0);
	if (isatty(fd)) {
		report_escape(&e, b->data, b->len);
		out = &e;
	}
	pthread_mutex_lock(lh->o->out_lock);
	while (off < out->len) {
		ssize_t n = write(fd, out->data + off, out->len - off);

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
	pthread_mutex_unlock(lh->o->out_lock);
	buf_free(&e);
	buf_reset(b);
}

static void
logjob_mark(struct logjob_host *lh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "t03: -- connection lost, reconnecting in 2 s --" on stdout, in line with the logs it interrupts. */
static void
logjob_mark(struct logjob_host *lh, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	buf_init(&b, 0);
	buf_addf(&b, "%s: -- %s --\n", lh->r->host->name, msg);
	logjob_write(lh, STDOUT_FILENO, &b);
	buf_free(&b);
	free(msg);
}

void
logjob_host_free(struct logjob_host *lh)
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
logjob_globs(const struct logjob_opts *o, const struct inv_host *h, size_t *n)
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
logjob_fail(struct host_result *r, enum host_state st, const char *step, char *msg)
{
	r->state = st;
	r->step = step;
	free(r->error);
	r->error = msg;
}

/* List the host's log files into lh.  0, or -1 with r's state and error set. */
static int
logjob_list(struct transport *tp, struct host_result *r, struct logjob_host *lh, bool *has_awk, bool *has_gzip,
    bool *has_sha)
{
	struct logfetch_listing l;
	struct buf out, err;
	char **globs, *cmd, *cause = NULL, *joined;
	size_t nglobs = 0;
	int rc, code = -1;

	globs = logjob_globs(lh->o, r->host, &nglobs);
	if (nglobs == 0) {
		strv_free(globs);
		logjob_fail(r, HS_FAILED, "list", xstrdup("no log files configured: set 'logs' in fleet.ini or give --path"));
		return -1;
	}
	cmd = logfetch_list_cmd(globs, nglobs);
	buf_init(&out, HOST_OUTPUT_CAP);
	buf_init(&err, LOGJOB_ERR_CAP);
	rc = transport_run(tp, cmd, inv_get_long(r->host, INV_COMMAND_TIMEOUT) * 1000, &out, &err, &code, NULL, &cause);
	free(cmd);
	if (rc != TP_OK) {
		logjob_fail(r, host_state_from_tp(rc), "list", cause);
		cause = NULL;
		rc = -1;
		goto out;
	}
	if (code != 0 || out.dropped > 0 ||
	    logfetch_parse_listing(out.data, out.len, globs, nglobs, &l, &cause) != 0) {
		logjob_fail(r, HS_FAILED, "list", xasprintf("cannot list log files: %s",
		    cause != NULL ? cause : err.len > 0 ? str_trim(err.data) :
		    out.dropped > 0 ? "listing too long" : "the listing command failed"));
		rc = -1;
		goto out;
	}
	lh->files = xcalloc(l.n ? l.n : 1, sizeof(*lh->files));
	for (size_t i = 0; i < l.n; i++) {
		struct logjob_file *f = &lh->files[i];

		f->path = l.v[i].path;
		l.v[i].path = NULL;
		f->size = l.v[i].size;
		f->start = -1;
		buf_init(&f->text, LOGJOB_TEXT_CAP);
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
		logjob_fail(r, HS_FAILED, "list", xasprintf("no log file matches '%s'", joined));
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
logjob_tail_file(struct transport *tp, struct host_result *r, struct logjob_file *f, const struct logjob_opts *o)
{
	struct buf err;
	char *cmd, *cause = NULL;
	int rc, code = -1;

	cmd = logfetch_tail_cmd(f->path, o->lines, o->cutoff, o->regex);
	buf_init(&err, LOGJOB_ERR_CAP);
	rc = transport_run(tp, cmd, inv_get_long(r->host, INV_COMMAND_TIMEOUT) * 1000, &f->text, &err, &code, NULL,
	    &cause);
	free(cmd);
	if (rc != TP_OK) {
		f->error = cause;
		cause = NULL;
		logjob_fail(r, host_state_from_tp(rc), "tail", xstrdup(f->error));
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

struct logjob_sink {
	struct logfetch_writer *w;
	struct buf *err;
	uint64_t wire;
};

static void
logjob_fetch_data(void *arg, int stream, const char *data, size_t len)
{
	struct logjob_sink *s = arg;

	if (stream == 0) {
		s->wire += len;
		logfetch_writer_data(s->w, data, len);
	} else
		buf_add(s->err, data, len);
}

/* Is the local FILE.part of size s the start of the remote file?  Compared by SHA-256 on both sides. */
static bool
logjob_prefix_matches(struct transport *tp, struct host_result *r, struct logjob_file *f, const char *part, uint64_t s)
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
logjob_fetch_file(struct transport *tp, struct host_result *r, struct logjob_file *f, const struct logjob_opts *o,
    bool gz, bool has_sha)
{
	struct logjob_sink sink;
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
	    (!has_sha || logjob_prefix_matches(tp, r, f, part, (uint64_t)st.st_size)))
		from = (uint64_t)st.st_size;
	f->resumed_from = from;
	f->gz = gz;
	memset(&sink, 0, sizeof(sink));
	if (logfetch_writer_open(part, from, gz, &sink.w, &f->error) != 0)
		goto failed;
	buf_init(&err, LOGJOB_ERR_CAP);
	sink.err = &err;
	memset(&x, 0, sizeof(x));
	x.command = cmd = logfetch_fetch_cmd(f->path, from, f->size - from, gz);
	/* A deadline that still lets a big file through a slow link: the step timeout plus 16 KB/s. */
	x.timeout_ms = timeout_s * 1000 + (long)((f->size - from) / 16);
	x.stdin_fd = -1;
	x.sink.on_data = logjob_fetch_data;
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
			logjob_fail(r, host_state_from_tp(rc), "fetch", xstrdup(e));
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

void
logjob_run(struct executor_worker *w, struct host_result *r, void *arg)
{
	const struct logjob_opts *o = arg;
	struct logjob_host *lh = xcalloc(1, sizeof(*lh));
	struct transport *tp;
	bool has_awk = false, has_gzip = false, has_sha = false;

	lh->r = r;
	lh->o = o;
	r->data = lh;
	tp = executor_connect(w, r);
	if (tp == NULL)
		return;
	if (logjob_list(tp, r, lh, &has_awk, &has_gzip, &has_sha) != 0)
		goto out;
	if (o->cutoff != NULL && !has_awk) {
		logjob_fail(r, HS_FAILED, "list", xstrdup("no awk on the terminal: --since needs awk"));
		goto out;
	}
	for (size_t i = 0; i < lh->nfiles && !executor_cancelled(w); i++) {
		struct logjob_file *f = &lh->files[i];

		if (f->error != NULL) {
			if (r->state == HS_PENDING)
				r->state = HS_FAILED;
			continue;
		}
		if (o->dir != NULL)
			logjob_fetch_file(tp, r, f, o, has_gzip, has_sha);
		else
			logjob_tail_file(tp, r, f, o);
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
logjob_follow_line(struct logjob_host *lh, int stream, const char *line, size_t len, size_t cut)
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
		logjob_write(lh, STDERR_FILENO, &b);
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
		logjob_write(lh, STDOUT_FILENO, &b);
	}
	buf_free(&b);
}

static void
logjob_follow_data(void *arg, int stream, const char *data, size_t len)
{
	struct logjob_host *lh = arg;
	struct buf *p = &lh->pend[stream ? 1 : 0];

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t l = nl != NULL ? (size_t)(nl - data) : len;

		buf_add(p, data, l);
		if (nl == NULL)
			break;
		logjob_follow_line(lh, stream ? 1 : 0, p->data, p->len, p->dropped);
		buf_reset(p);
		p->dropped = 0;
		data += l + 1;
		len -= l + 1;
	}
}

/* Sleep up to seconds, waking early on Ctrl-C; false when cancelled. */
static bool
logjob_sleep(struct executor_worker *w, long seconds)
{
	for (long i = 0; i < seconds * 10; i++) {
		if (executor_cancelled(w))
			return false;
		usleep(100 * 1000);
	}
	return !executor_cancelled(w);
}

void
logjob_follow(struct executor_worker *w, struct host_result *r, void *arg)
{
	const struct logjob_opts *o = arg;
	struct logjob_host *lh = xcalloc(1, sizeof(*lh));
	bool listed = false, ever_connected = false, has_awk = false, has_gzip = false, has_sha = false;
	long delay = 1;

	lh->r = r;
	lh->o = o;
	r->data = lh;
	buf_init(&lh->pend[0], LOGJOB_LINE_CAP);
	buf_init(&lh->pend[1], LOGJOB_LINE_CAP);
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
				logjob_mark(lh, "%s: %s, giving up", host_state_name(r->state), r->error ? r->error : "");
				return;
			}
			logjob_mark(lh, "%s (%s), reconnecting in %ld s", ever_connected ? "still unreachable" :
			    "unreachable", r->error != NULL ? r->error : host_state_name(r->state), delay);
			if (!logjob_sleep(w, delay))
				break;
			delay = delay * 2 > LOGJOB_BACKOFF_MAX ? LOGJOB_BACKOFF_MAX : delay * 2;
			continue;
		}
		if (ever_connected)
			logjob_mark(lh, "reconnected");
		ever_connected = true;
		if (!listed) {
			if (logjob_list(tp, r, lh, &has_awk, &has_gzip, &has_sha) != 0) {
				transport_close(tp);
				if (host_state_unreachable(r->state) && !executor_cancelled(w)) {
					logjob_mark(lh, "connection lost (%s), reconnecting in %ld s", r->error, delay);
					if (!logjob_sleep(w, delay))
						break;
					delay = delay * 2 > LOGJOB_BACKOFF_MAX ? LOGJOB_BACKOFF_MAX : delay * 2;
					continue;
				}
				logjob_mark(lh, "%s", r->error != NULL ? r->error : "cannot list log files");
				return;
			}
			listed = true;
			for (size_t i = 0; i < lh->nfiles; i++)
				if (lh->files[i].error != NULL)
					logjob_mark(lh, "%s: %s", lh->files[i].path, lh->files[i].error);
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
		x.sink.on_data = logjob_follow_data;
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
			logjob_fail(r, HS_FAILED, "follow", xstrdup("no awk on the terminal: fleetctl logs -f needs awk"));
			free(cause);
			return;
		}
		if (now_ms() - started > LOGJOB_BACKOFF_MAX * 1000)
			delay = 1;   /* it was up for a while: start the backoff over */
		if (rc == TP_OK)
			logjob_mark(lh, "tail ended (exit %d), restarting in %ld s", x.exit_code, delay);
		else
			logjob_mark(lh, "connection lost, reconnecting in %ld s", delay);
		free(cause);
		if (!logjob_sleep(w, delay))
			break;
		delay = delay * 2 > LOGJOB_BACKOFF_MAX ? LOGJOB_BACKOFF_MAX : delay * 2;
	}
	r->state = HS_INTERRUPTED;
}

