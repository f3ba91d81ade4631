/* termlock: the remote shell text that takes, shows, releases and breaks a terminal's lock, and its parser. */
#include "termlock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shquote.h"
#include "util.h"

void
termlock_info_free(struct termlock_info *i)
{
	if (i == NULL)
		return;
	free(i->run_id);
	free(i->operator);
	free(i->controller);
	free(i->kind);
	memset(i, 0, sizeof(*i));
}

/* ROOT/LEAF without doubled slashes; a relative root starting with '-' gets "./" so no tool reads it
 * as an option.  Caller frees. */
static char *
termlock_path(const char *root, const char *leaf)
{
	size_t len;

	if (root == NULL || *root == '\0')
		root = ".";
	len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (len == 1 && root[0] == '/')
		return xasprintf("/%s", leaf);
	return xasprintf("%s%.*s/%s", root[0] == '-' ? "./" : "", (int)len, root, leaf);
}

/* The value as it may be written into the info file: control characters (newlines above all) removed,
 * so one value is always one line.  NULL becomes "".  Caller frees. */
static char *
termlock_clean(const char *s)
{
	char *out, *o;

	if (s == NULL)
		return xstrdup("");
	out = o = xmalloc(strlen(s) + 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != 0x7f)
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* Append the quoted word "KEY=VALUE" (VALUE cleaned). */
static void
termlock_add_kv(struct buf *b, const char *key, const char *value)
{
	char *clean = termlock_clean(value), *kv = xasprintf("%s=%s", key, clean);

	buf_add(b, " ", 1);
	shquote_add(b, kv);
	free(kv);
	free(clean);
}

/*
 * Append a test that ROOT/.fleet-lock/info names run_id: one of its lines is exactly "run_id=ID".
 * Shell builtins only (it runs in every deploy's exit trap): no grep process per terminal.
 */
static void
termlock_add_mine_test(struct buf *b, const char *info, const char *run_id)
{
	char *clean = termlock_clean(run_id), *line = xasprintf("run_id=%s", clean);

	buf_adds(b, "{ _tl_m=; { while IFS= read -r _tl_l || [ -n \"$_tl_l\" ]; do [ \"$_tl_l\" = ");
	shquote_add(b, line);
	buf_adds(b, " ] && _tl_m=1; done < ");
	shquote_add(b, info);
	buf_adds(b, "; } 2>/dev/null; [ -n \"$_tl_m\" ]; }");
	free(line);
	free(clean);
}

/* Append: "lock=held" and the info lines prefixed "lockinfo." when the lock exists, else "lock=none". */
static void
termlock_add_status(struct buf *b, const char *lock, const char *info)
{
	buf_adds(b, "if [ -d ");
	shquote_add(b, lock);
	buf_adds(b, " ]; then echo lock=held; sed 's/^/lockinfo./' ");
	shquote_add(b, info);
	buf_adds(b, " 2>/dev/null; else echo lock=none; fi; ");
}

char *
termlock_acquire_snippet(const char *root, const struct termlock_info *me)
{
	char *rootdir = termlock_path(root, ""), *lock = termlock_path(root, TERMLOCK_DIR);
	char *info = termlock_path(root, TERMLOCK_DIR "/info"), *tmp = termlock_path(root, TERMLOCK_DIR "/info.tmp");
	char num[32];
	struct buf b;

	buf_init(&b, 0);
	/*
	 * A lock directory without its info is one whose taker was killed between the mkdir and the rename
	 * of info (a controller killed mid-probe): info appears within milliseconds, so one still missing
	 * two seconds later is abandoned and goes.
	 */
	buf_adds(&b, "[ -d ");
	shquote_add(&b, lock);
	buf_adds(&b, " ] && [ ! -f ");
	shquote_add(&b, info);
	buf_adds(&b, " ] && sleep 2 && [ -d ");
	shquote_add(&b, lock);
	buf_adds(&b, " ] && [ ! -f ");
	shquote_add(&b, info);
	buf_adds(&b, " ] && rm -rf ");
	shquote_add(&b, lock);
	buf_adds(&b, "; ");
	/* mkdir without -p on the lock itself: it fails when the lock exists, and only one caller wins. */
	buf_adds(&b, "if { [ -d ");
	shquote_add(&b, rootdir);
	buf_adds(&b, " ] || mkdir -p ");
	shquote_add(&b, rootdir);
	buf_adds(&b, "; } && mkdir ");
	shquote_add(&b, lock);
	buf_adds(&b, " 2>/dev/null; then if printf '%s\\n'");
	termlock_add_kv(&b, "run_id", me->run_id);
	termlock_add_kv(&b, "kind", me->kind);
	termlock_add_kv(&b, "operator", me->operator);
	termlock_add_kv(&b, "controller", me->controller);
	snprintf(num, sizeof(num), "%ld", me->pid);
	termlock_add_kv(&b, "pid", num);
	snprintf(num, sizeof(num), "%lld", me->time);
	termlock_add_kv(&b, "time", num);
	snprintf(num, sizeof(num), "%lld", me->deadline);
	termlock_add_kv(&b, "deadline", num);
	/* info appears whole (rename), so a reader never sees half of it. */
	buf_adds(&b, " >");
	shquote_add(&b, tmp);
	buf_adds(&b, " && mv -f ");
	shquote_add(&b, tmp);
	buf_add(&b, " ", 1);
	shquote_add(&b, info);
	buf_adds(&b, "; then echo lock=ok; else rm -rf ");
	shquote_add(&b, lock);
	buf_adds(&b, "; echo lock=error; fi; elif ");
	termlock_add_mine_test(&b, info, me->run_id);
	buf_adds(&b, "; then echo lock=ok; elif [ -d ");
	shquote_add(&b, lock);
	buf_adds(&b, " ]; then echo lock=held; sed 's/^/lockinfo./' ");
	shquote_add(&b, info);
	buf_adds(&b, " 2>/dev/null; else echo lock=error; fi; ");
	free(rootdir);
	free(lock);
	free(info);
	free(tmp);
	return buf_detach(&b);
}

char *
termlock_release_snippet(const char *root, const char *run_id)
{
	char *lock = termlock_path(root, TERMLOCK_DIR), *info = termlock_path(root, TERMLOCK_DIR "/info");
	struct buf b;

	buf_init(&b, 0);
	buf_adds(&b, "if ");
	termlock_add_mine_test(&b, info, run_id);
	buf_adds(&b, "; then if rm -rf ");
	shquote_add(&b, lock);
	buf_adds(&b, "; then echo unlock=ok; else echo unlock=error; fi; else echo unlock=notmine; fi; ");
	free(lock);
	free(info);
	return buf_detach(&b);
}

char *
termlock_status_script(const char *root)
{
	char *lock = termlock_path(root, TERMLOCK_DIR), *info = termlock_path(root, TERMLOCK_DIR "/info");
	struct buf b;

	buf_init(&b, 0);
	termlock_add_status(&b, lock, info);
	buf_adds(&b, "exit 0\n");
	free(lock);
	free(info);
	return buf_detach(&b);
}

char *
termlock_break_script(const char *root, const char *run_id)
{
	char *lock = termlock_path(root, TERMLOCK_DIR), *info = termlock_path(root, TERMLOCK_DIR "/info");
	struct buf b;

	buf_init(&b, 0);
	termlock_add_status(&b, lock, info);
	buf_adds(&b, "if ");
	if (run_id != NULL)
		termlock_add_mine_test(&b, info, run_id);
	else {
		buf_adds(&b, "[ -d ");
		shquote_add(&b, lock);
		buf_adds(&b, " ]");
	}
	buf_adds(&b, " && rm -rf ");
	shquote_add(&b, lock);
	buf_adds(&b, "; then echo broken=1; else echo broken=0; fi; exit 0\n");
	free(lock);
	free(info);
	return buf_detach(&b);
}

/* Strict decimal: the whole string, else leave *out alone. */
static void
termlock_parse_num(const char *s, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s != '\0' && *end == '\0' && errno == 0)
		*out = v;
}

/* Set *field to value unless a first line already did. */
static void
termlock_set_once(char **field, const char *value)
{
	if (*field == NULL)
		*field = xstrdup(value);
}

static void
termlock_parse_info(struct termlock_info *h, const char *key, const char *value)
{
	long long v = 0;

	if (strcmp(key, "run_id") == 0)
		termlock_set_once(&h->run_id, value);
	else if (strcmp(key, "kind") == 0)
		termlock_set_once(&h->kind, value);
	else if (strcmp(key, "operator") == 0)
		termlock_set_once(&h->operator, value);
	else if (strcmp(key, "controller") == 0)
		termlock_set_once(&h->controller, value);
	else if (strcmp(key, "pid") == 0) {
		termlock_parse_num(value, &v);
		if (h->pid == 0 && v > 0 && v <= 0x7fffffffLL)
			h->pid = (long)v;
	} else if (strcmp(key, "time") == 0) {
		termlock_parse_num(value, &v);
		if (h->time == 0 && v > 0)
			h->time = v;
	} else if (strcmp(key, "deadline") == 0) {
		termlock_parse_num(value, &v);
		if (h->deadline == 0 && v > 0)
			h->deadline = v;
	}
}

int
termlock_parse(const char *out, struct termlock_info *holder)
{
	struct termlock_info tmp;
	const char *p, *nl;
	int state = -2;   /* no lock= line yet */

	memset(&tmp, 0, sizeof(tmp));
	if (holder != NULL)
		memset(holder, 0, sizeof(*holder));
	for (p = out != NULL ? out : ""; *p != '\0'; p = nl + (*nl != '\0')) {
		size_t len;
		char *line, *eq;

		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		line = xstrndup(p, len);
		if (state == -2 && strncmp(line, "lock=", 5) == 0) {
			if (strcmp(line + 5, "ok") == 0 || strcmp(line + 5, "none") == 0)
				state = 0;
			else if (strcmp(line + 5, "held") == 0)
				state = 1;
			else
				state = -1;
		} else if (state == 1 && strncmp(line, "lockinfo.", 9) == 0 && (eq = strchr(line + 9, '=')) != NULL) {
			*eq = '\0';
			termlock_parse_info(&tmp, line + 9, eq + 1);
		}
		free(line);
	}
	if (state == 1 && holder != NULL)
		*holder = tmp;
	else
		termlock_info_free(&tmp);
	return state == -2 ? -1 : state;
}

int
termlock_stale(const struct termlock_info *i, long long now, int run_ended)
{
	if (run_ended || termlock_holder_gone(i))
		return 1;
	return i != NULL && i->deadline > 0 && now > i->deadline;
}

int
termlock_holder_gone(const struct termlock_info *i)
{
	char host[256];

	if (i == NULL || i->pid <= 0 || i->controller == NULL || gethostname(host, sizeof(host)) != 0)
		return 0;
	host[sizeof(host) - 1] = '\0';
	if (strcmp(host, i->controller) != 0)
		return 0;
	return kill((pid_t)i->pid, 0) != 0 && errno == ESRCH;
}
