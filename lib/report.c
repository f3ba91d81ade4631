/* report: human and machine output for per-host results. */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPORT_SUMMARY_NAMES_MAX 160   /* characters of terminal names per state in the summary line */
#define REPORT_PROGRESS_MS 200         /* the progress line is redrawn at most this often */

static void
report_write_all(int fd, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
}

void
report_escape(struct buf *out, const char *data, size_t len)
{
	int cont = 0;    /* UTF-8 continuation bytes still expected */

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];

		if (c == 0xc2 && i + 1 < len && (unsigned char)data[i + 1] >= 0x80 && (unsigned char)data[i + 1] <= 0x9f) {
			/* a C1 control written as UTF-8 (U+0080..U+009F): shown as cat -v shows its two bytes */
			buf_addf(out, "M-BM-^%c", (unsigned char)data[i + 1] - 0x80 + '@');
			i++;
			cont = 0;
			continue;
		}
		if (c >= 0x80 && c <= 0xbf && cont > 0) {
			cont--;
			buf_add(out, &data[i], 1);
			continue;
		}
		cont = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
		if (c == '\t' || c == '\n' || (c >= 0x20 && c != 0x7f && !(c >= 0x80 && c <= 0x9f)))
			buf_add(out, &data[i], 1);
		else if (c < 0x20)
			buf_addf(out, "^%c", c + '@');
		else if (c == 0x7f)
			buf_adds(out, "^?");
		else
			buf_addf(out, "M-^%c", c - 0x80 + '@');   /* a raw 8-bit C1 byte */
	}
}

/*
 * Text for people.  On a terminal, bytes that came from terminals (command output, logs, error texts)
 * could carry escape sequences that retitle, recolour or rewrite the operator's screen: every control
 * character but tab and newline is shown visibly instead (^[ for ESC, as cat -v does).
 */
void
report_flush(struct buf *b, int fd)
{
	if (isatty(fd)) {
		struct buf e;

		buf_init(&e, b->len + 64);
		report_escape(&e, b->data, b->len);
		report_write_all(fd, e.data, e.len);
		buf_free(&e);
	} else
		report_write_all(fd, b->data, b->len);
	buf_reset(b);
}

char *
report_bytes(uint64_t n)
{
	if (n < 1024)
		return xasprintf("%llu B", (unsigned long long)n);
	if (n < 1024 * 1024)
		return xasprintf("%.1f KiB", (double)n / 1024.0);
	if (n < 1024ull * 1024 * 1024)
		return xasprintf("%.1f MiB", (double)n / 1048576.0);
	return xasprintf("%.2f GiB", (double)n / 1073741824.0);
}

/* Our own control sequences (the progress line) and JSON (escaped already): as they are. */
void
report_flush_raw(struct buf *b, int fd)
{
	report_write_all(fd, b->data, b->len);
	buf_reset(b);
}

/* Split a name into prefix, last digit run and suffix. */
struct rh_name {
	const char *name;
	size_t plen, dlen;      /* prefix length, digit run length (0 = no digits) */
	unsigned long num;
	bool used;
};

static void
rh_parse(struct rh_name *r, const char *name)
{
	size_t len = strlen(name), end, start;

	memset(r, 0, sizeof(*r));
	r->name = name;
	for (end = len; end > 0 && !isdigit((unsigned char)name[end - 1]); end--)
		;
	for (start = end; start > 0 && isdigit((unsigned char)name[start - 1]); start--)
		;
	if (end == 0 || end - start > 9)
		return;
	r->plen = start;
	r->dlen = end - start;
	r->num = strtoul(name + start, NULL, 10);
}

static bool
rh_same_family(const struct rh_name *a, const struct rh_name *b)
{
	return a->dlen > 0 && a->dlen == b->dlen && a->plen == b->plen &&
	    strncmp(a->name, b->name, a->plen) == 0 &&
	    strcmp(a->name + a->plen + a->dlen, b->name + b->plen + b->dlen) == 0;
}

static int
rh_cmp_num(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

char *
report_hostlist(char *const *names, size_t n)
{
	struct rh_name *p = xcalloc(n ? n : 1, sizeof(*p));
	unsigned long *nums = xcalloc(n ? n : 1, sizeof(*nums));
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++)
		rh_parse(&p[i], names[i]);
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		if (p[i].used)
			continue;
		if (b.len > 0)
			buf_adds(&b, ",");
		if (p[i].dlen == 0) {
			buf_adds(&b, p[i].name);
			p[i].used = true;
			continue;
		}
		for (size_t j = i; j < n; j++)
			if (!p[j].used && (j == i || rh_same_family(&p[i], &p[j]))) {
				nums[k++] = p[j].num;
				p[j].used = true;
			}
		if (k == 1) {
			buf_adds(&b, p[i].name);
			continue;
		}
		qsort(nums, k, sizeof(*nums), rh_cmp_num);
		buf_add(&b, p[i].name, p[i].plen);
		buf_adds(&b, "[");
		for (size_t s = 0; s < k;) {
			size_t e = s;

			while (e + 1 < k && nums[e + 1] <= nums[e] + 1)
				e++;
			if (s > 0)
				buf_adds(&b, ",");
			buf_addf(&b, "%0*lu", (int)p[i].dlen, nums[s]);
			if (nums[e] != nums[s])
				buf_addf(&b, "-%0*lu", (int)p[i].dlen, nums[e]);
			s = e + 1;
		}
		buf_adds(&b, "]");
		buf_adds(&b, p[i].name + p[i].plen + p[i].dlen);
	}
	free(nums);
	free(p);
	return buf_detach(&b);
}

void
report_prefix_lines(struct buf *b, const char *name, const char *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t l = nl != NULL ? (size_t)(nl - (data + i)) : len - i;

		buf_addf(b, "%s: ", name);
		buf_add(b, data + i, l);
		buf_adds(b, "\n");
		i += l + (nl != NULL ? 1 : 0);
	}
}

static void
report_host_error(struct buf *b, const struct host_result *r)
{
	if (r->state == HS_OK) {
		if (r->note != NULL)
			buf_addf(b, "%s: note: %s\n", r->host->name, r->note);
		return;
	}
	buf_addf(b, "%s: %s", r->host->name, host_state_name(r->state));
	if (r->step != NULL && r->state == HS_FAILED)
		buf_addf(b, " (%s)", r->step);
	if (r->exit_signal[0] != '\0')
		buf_addf(b, ": killed by signal %s", r->exit_signal);
	else if (r->state == HS_FAILED && r->exit_code >= 0 && r->error == NULL)
		buf_addf(b, ": exit %d", r->exit_code);
	if (r->error != NULL)
		buf_addf(b, ": %s", r->error);
	buf_adds(b, "\n");
}

static void
report_truncation(struct buf *b, const struct host_result *r)
{
	if (r->out.dropped > 0 || r->err.dropped > 0)
		buf_addf(b, "%s: note: output cut at %d KiB per stream (%zu bytes dropped)\n", r->host->name,
		    HOST_OUTPUT_CAP / 1024, r->out.dropped + r->err.dropped);
}

void
report_hosts(const struct host_result *r, size_t n, int out_fd, int err_fd)
{
	struct buf o, e;

	buf_init(&o, 0);
	buf_init(&e, 0);
	for (size_t i = 0; i < n; i++) {
		report_prefix_lines(&o, r[i].host->name, r[i].out.data, r[i].out.len);
		report_prefix_lines(&e, r[i].host->name, r[i].err.data, r[i].err.len);
		report_truncation(&e, &r[i]);
		/* Keep each host's lines together in the right stream order: flush per host. */
		report_flush(&o, out_fd);
		report_host_error(&e, &r[i]);
		report_flush(&e, err_fd);
	}
	buf_free(&o);
	buf_free(&e);
}

static bool
report_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' || c == ':';
}

/*
 * A terminal's error with its own address and port written as <address> and <port>, so that 300 terminals
 * refusing connections fold into one group instead of 300 ("cannot connect to 10.1.2.3 port 22: ...").
 * NULL when the error names neither (then the error itself is compared).  Caller frees.
 */
static char *
report_error_shape(const struct host_result *r)
{
	const char *addr, *e = r->error, *p;
	char port[32];
	size_t alen, plen;
	bool changed = false;
	struct buf b;

	if (e == NULL)
		return NULL;
	addr = inv_get(r->host, INV_ADDRESS);
	if (addr == NULL)
		addr = r->host->name;
	alen = strlen(addr);
	snprintf(port, sizeof(port), " port %ld", inv_get_long(r->host, INV_PORT));
	plen = strlen(port);
	buf_init(&b, 0);
	for (p = e; *p != '\0';) {
		if (alen > 0 && strncmp(p, addr, alen) == 0 && (p == e || !report_name_char(p[-1])) &&
		    !report_name_char(p[alen])) {
			buf_adds(&b, "<address>");
			p += alen;
			changed = true;
		} else if (strncmp(p, port, plen) == 0 && !isdigit((unsigned char)p[plen])) {
			buf_adds(&b, " port <port>");
			p += plen;
			changed = true;
		} else
			buf_add(&b, p++, 1);
	}
	if (!changed) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* shape: report_error_shape of each result (or NULL) */
static bool
report_same(const struct host_result *a, const struct host_result *b, const char *sa, const char *sb)
{
	const char *ea = sa != NULL ? sa : a->error, *eb = sb != NULL ? sb : b->error;

	return a->state == b->state && a->exit_code == b->exit_code &&
	    strcmp(a->exit_signal, b->exit_signal) == 0 &&
	    a->out.len == b->out.len && memcmp(a->out.data, b->out.data, a->out.len) == 0 &&
	    a->err.len == b->err.len && memcmp(a->err.data, b->err.data, a->err.len) == 0 &&
	    ((ea == NULL && eb == NULL) || (ea != NULL && eb != NULL && strcmp(ea, eb) == 0));
}

void
report_fold(const struct host_result *r, size_t n, int out_fd)
{
	bool *done = xcalloc(n ? n : 1, sizeof(*done));
	char **names = xcalloc(n ? n : 1, sizeof(*names));
	char **shape = xcalloc(n ? n : 1, sizeof(*shape));
	struct buf b;

	for (size_t i = 0; i < n; i++)
		shape[i] = report_error_shape(&r[i]);
	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		char *list;

		if (done[i])
			continue;
		for (size_t j = i; j < n; j++)
			if (!done[j] && report_same(&r[i], &r[j], shape[i], shape[j])) {
				done[j] = true;
				names[k++] = r[j].host->name;
			}
		list = report_hostlist(names, k);
		buf_addf(&b, "---- %s (%zu): %s", list, k, host_state_name(r[i].state));
		if (r[i].exit_signal[0] != '\0')
			buf_addf(&b, ", signal %s", r[i].exit_signal);
		else if (r[i].exit_code >= 0)
			buf_addf(&b, ", exit %d", r[i].exit_code);
		/* A group of one says its own address; a group says what its terminals have in common. */
		if (r[i].error != NULL)
			buf_addf(&b, ": %s", k > 1 && shape[i] != NULL ? shape[i] : r[i].error);
		buf_adds(&b, "\n");
		buf_add(&b, r[i].out.data, r[i].out.len);
		if (r[i].out.len > 0 && r[i].out.data[r[i].out.len - 1] != '\n')
			buf_adds(&b, "\n");
		if (r[i].err.len > 0) {
			buf_add(&b, r[i].err.data, r[i].err.len);
			if (r[i].err.data[r[i].err.len - 1] != '\n')
				buf_adds(&b, "\n");
		}
		free(list);
		report_flush(&b, out_fd);
	}
	buf_free(&b);
	for (size_t i = 0; i < n; i++)
		free(shape[i]);
	free(shape);
	free(names);
	free(done);
}

char *
report_summary(const struct host_result *r, size_t n)
{
	static const enum host_state order[] = {
		HS_OK, HS_FAILED, HS_ROLLED_BACK, HS_UNREACHABLE, HS_HOSTKEY, HS_AUTH, HS_TIMEOUT, HS_LOCKED, HS_BUSY,
		HS_DELAYED, HS_EXPIRED, HS_INTERRUPTED, HS_SKIPPED
	};
	char **names = xcalloc(n ? n : 1, sizeof(*names));
	struct buf b;

	buf_init(&b, 0);
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			if (r[i].state == order[o])
				names[k++] = r[i].host->name;
		if (k == 0)
			continue;
		if (b.len > 0)
			buf_adds(&b, ", ");
		buf_addf(&b, "%zu %s", k, host_state_name(order[o]));
		if (order[o] != HS_OK) {
			char *list = report_hostlist(names, k);
			size_t m = k;

			/* 300 scattered names would make the line 2,000 characters: the first ones, and a count. */
			while (strlen(list) > REPORT_SUMMARY_NAMES_MAX && m > 1) {
				m /= 2;
				free(list);
				list = report_hostlist(names, m);
			}
			buf_addf(&b, ": %s", list);
			if (m < k)
				buf_addf(&b, " and %zu more", k - m);
			free(list);
		}
	}
	if (b.len == 0)
		buf_adds(&b, "no hosts");
	free(names);
	return buf_detach(&b);
}

char *
report_utf8(const char *data, size_t len, size_t *outlen)
{
	struct buf b;
	const unsigned char *s = (const unsigned char *)data;
	size_t i = 0;

	buf_init(&b, 0);
	while (i < len) {
		unsigned char c = s[i];
		size_t need = 0;
		unsigned long cp;

		if (c < 0x80) {
			buf_add(&b, &s[i], 1);
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) { need = 1; cp = c & 0x1f; }
		else if ((c & 0xf0) == 0xe0) { need = 2; cp = c & 0x0f; }
		else if ((c & 0xf8) == 0xf0) { need = 3; cp = c & 0x07; }
		else goto bad;
		if (i + need >= len)
			goto bad;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8. */
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			goto bad;
		buf_add(&b, &s[i], need + 1);
		i += need + 1;
		continue;
bad:
		buf_adds(&b, "\xef\xbf\xbd");
		i++;
	}
	*outlen = b.len;
	return buf_detach(&b);
}

static json_t *
report_json_text(const char *data, size_t len)
{
	size_t l;
	char *u = report_utf8(data, len, &l);
	json_t *j = json_stringn(u, l);

	free(u);
	return j;
}

json_t *
report_json_host(const struct host_result *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "host", json_string(r->host->name));
	json_object_set_new(o, "state", json_string(host_state_name(r->state)));
	json_object_set_new(o, "exit", r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
	json_object_set_new(o, "signal", r->exit_signal[0] ? json_string(r->exit_signal) : json_null());
	json_object_set_new(o, "stdout", report_json_text(r->out.data ? r->out.data : "", r->out.len));
	json_object_set_new(o, "stderr", report_json_text(r->err.data ? r->err.data : "", r->err.len));
	json_object_set_new(o, "duration_ms", json_integer(r->duration_ms));
	json_object_set_new(o, "step", r->step != NULL && r->state != HS_OK ? json_string(r->step) : json_null());
	json_object_set_new(o, "error", r->error != NULL ? report_json_text(r->error, strlen(r->error)) : json_null());
	json_object_set_new(o, "truncated", json_boolean(r->out.dropped > 0 || r->err.dropped > 0));
	if (r->note != NULL)
		json_object_set_new(o, "note", report_json_text(r->note, strlen(r->note)));
	return o;
}

json_t *
report_json_summary(const struct host_result *r, size_t n, int exit_status)
{
	size_t counts[HS__COUNT] = { 0 };
	json_t *o = json_object();

	for (size_t i = 0; i < n; i++)
		counts[r[i].state < HS__COUNT ? r[i].state : HS_FAILED]++;
	json_object_set_new(o, "summary", json_true());
	json_object_set_new(o, "total", json_integer((json_int_t)n));
	for (int s = HS_OK; s < HS__COUNT; s++)
		json_object_set_new(o, host_state_name(s), json_integer((json_int_t)counts[s]));
	json_object_set_new(o, "exit_status", json_integer(exit_status));
	return o;
}

void
report_json_line(json_t *j, int fd)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	struct buf b;

	if (s == NULL)
		return;
	buf_init(&b, 0);
	buf_adds(&b, s);
	buf_adds(&b, "\n");
	report_flush_raw(&b, fd);
	buf_free(&b);
	free(s);
}

void
report_progress(const struct executor_progress *p, int fd)
{
	static long last_ms = -1;
	struct buf b;

	/*
	 * The executor calls at every worker's end as well as every 250 ms: with -p 10000 that is one call
	 * per terminal (6,000 redraws in a 3-minute run).  At most one redraw per REPORT_PROGRESS_MS, and the
	 * last one always.
	 */
	if (last_ms >= 0 && p->elapsed_ms >= last_ms && p->elapsed_ms - last_ms < REPORT_PROGRESS_MS &&
	    p->done < p->total)
		return;
	last_ms = p->elapsed_ms;
	buf_init(&b, 0);
	buf_addf(&b, "\r[%zu/%zu] %zu ok, %zu failed, %zu unreachable  %.1fs\033[K", p->done, p->total, p->ok,
	    p->failed, p->unreachable, (double)p->elapsed_ms / 1000.0);
	report_flush_raw(&b, fd);
	buf_free(&b);
}

void
report_progress_clear(int fd)
{
	struct buf b;

	buf_init(&b, 0);
	buf_adds(&b, "\r\033[K");
	report_flush_raw(&b, fd);
	buf_free(&b);
}
