/* manifest: parse, check and format the list of entries of a release bundle (format in manifest.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "util.h"

#define MANIFEST_MAX_LINES 4000000   /* far above any real release; bounds a hostile manifest */

struct manifest *
manifest_new(const char *component, const char *version)
{
	struct manifest *m = xcalloc(1, sizeof(*m));

	m->component = xstrdup(component);
	m->version = xstrdup(version);
	return m;
}

void
manifest_free(struct manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->entries[i].path);
		free(m->entries[i].target);
	}
	free(m->entries);
	free(m->component);
	free(m->version);
	free(m);
}

void
manifest_add(struct manifest *m, char type, unsigned mode, uint64_t size, const char *sha256,
    const char *path, const char *target)
{
	struct manifest_entry *e;

	if (m->n == m->alloc) {
		m->alloc = m->alloc == 0 ? 64 : m->alloc * 2;
		m->entries = xrealloc(m->entries, m->alloc * sizeof(*m->entries));
	}
	e = &m->entries[m->n++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->mode = mode;
	e->size = size;
	if (sha256 != NULL)
		snprintf(e->sha256, sizeof(e->sha256), "%s", sha256);
	e->path = xstrdup(path);
	e->target = xstrdup(target);
}

static int
manifest_cmp(const void *a, const void *b)
{
	const struct manifest_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

void
manifest_sort(struct manifest *m)
{
	if (m->n > 1)
		qsort(m->entries, m->n, sizeof(*m->entries), manifest_cmp);
}

long
manifest_find(const struct manifest *m, const char *path)
{
	size_t lo = 0, hi = m->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(path, m->entries[mid].path);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Length of the valid UTF-8 sequence at p (code point in *cp), or 0 if invalid. */
static size_t
manifest_utf8_seq(const unsigned char *p, size_t left, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static int
manifest_is_control(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f);
}

int
manifest_clean_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t c;

	while (i < len) {
		n = manifest_utf8_seq(p + i, len - i, &c);
		if (n == 0 || manifest_is_control(c))
			return 0;
		i += n;
	}
	return 1;
}

char *
manifest_printable(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b;
	size_t i = 0, len, n;
	uint32_t c;

	if (s == NULL)
		return xstrdup("(null)");
	len = strlen(s);
	buf_init(&b, 0);
	while (i < len && i < 256) {
		n = manifest_utf8_seq(p + i, len - i, &c);
		if (n == 0 || manifest_is_control(c) || c == '\\') {
			buf_addf(&b, "\\x%02x", p[i]);
			i++;
			continue;
		}
		buf_add(&b, p + i, n);
		i += n;
	}
	if (i < len)
		buf_adds(&b, "...");
	return buf_detach(&b);
}

int
manifest_valid_version(const char *v)
{
	size_t i;

	if (v == NULL || v[0] == '\0' || strlen(v) > 64)
		return 0;
	if (!((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= '0' && v[0] <= '9')))
		return 0;
	for (i = 0; v[i] != '\0'; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '+' || c == '-'))
			return 0;
	}
	return 1;
}

int
manifest_valid_component(const char *c)
{
	size_t i;

	if (c == NULL || c[0] == '\0' || strlen(c) > 32 || !(c[0] >= 'a' && c[0] <= 'z'))
		return 0;
	for (i = 0; c[i] != '\0'; i++) {
		if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '_' || c[i] == '-'))
			return 0;
	}
	return 1;
}

int
manifest_valid_path(const char *path, char **cause)
{
	const char *p, *end;
	char *show;
	const char *why = NULL;
	size_t len, clen;

	if (path == NULL || path[0] == '\0')
		return set_cause(cause, -1, "empty path");
	len = strlen(path);
	if (len > MANIFEST_PATH_MAX)
		why = "path too long";
	else if (!manifest_clean_utf8(path, len))
		why = "control character or invalid UTF-8 in name";
	else if (path[0] == '/')
		why = "absolute path";
	else {
		for (p = path; why == NULL; p = end + 1) {
			end = strchr(p, '/');
			if (end == NULL)
				end = path + len;
			clen = (size_t)(end - p);
			if (clen == 0)
				why = "empty path component";
			else if (clen == 1 && p[0] == '.')
				why = "'.' path component";
			else if (clen == 2 && p[0] == '.' && p[1] == '.')
				why = "'..' path component";
			if (*end == '\0')
				break;
		}
	}
	if (why == NULL)
		return 0;
	show = manifest_printable(path);
	set_cause(cause, -1, "'%s': %s", show, why);
	free(show);
	return -1;
}

int
manifest_valid_target(const char *path, const char *target, char **cause)
{
	char *show, *tshow;
	const char *why = NULL;
	size_t len;

	len = target != NULL ? strlen(target) : 0;
	if (len == 0)
		why = "empty symlink target";
	else if (len > MANIFEST_PATH_MAX)
		why = "symlink target too long";
	else if (!manifest_clean_utf8(target, len))
		why = "control character or invalid UTF-8 in symlink target";
	else if (target[0] == '/')
		why = "absolute symlink target";
	if (why == NULL)
		return 0;
	show = manifest_printable(path);
	tshow = manifest_printable(target);
	set_cause(cause, -1, "'%s' -> '%s': %s", show, tshow, why);
	free(tshow);
	free(show);
	return -1;
}

/* Push the components of target onto the stack so that the first component is popped first. */
static void
manifest_push_target(char ***todo, size_t *ntodo, size_t *alloc, const char *target)
{
	char **parts = NULL;
	size_t nparts = 0, i, len;
	const char *p = target, *slash;

	for (;;) {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		parts = xrealloc(parts, (nparts + 1) * sizeof(*parts));
		parts[nparts++] = xstrndup(p, len);
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	for (i = nparts; i > 0; i--) {
		if (*ntodo == *alloc) {
			*alloc = *alloc == 0 ? 16 : *alloc * 2;
			*todo = xrealloc(*todo, *alloc * sizeof(**todo));
		}
		(*todo)[(*ntodo)++] = parts[i - 1];
	}
	free(parts);
}

static void
manifest_dirname(char *p)
{
	char *slash = strrchr(p, '/');

	if (slash != NULL)
		*slash = '\0';
	else
		p[0] = '\0';
}

/*
 * Resolve a symlink the way the kernel would inside the release: from the link's directory, one
 * component at a time, following the manifest's other symlinks.  A purely lexical check is not enough:
 * with "up -> ." the target "up/../x" looks inside but leaves the root.  Names that are not in the
 * manifest are taken as plain names (on the terminal they would not exist, so nothing can escape there).
 */
static int
manifest_resolve(const struct manifest *m, const struct manifest_entry *link, char **cause)
{
	char **todo = NULL, *cur, *c, *next, *show, *tshow;
	size_t ntodo = 0, alloc = 0;
	int hops = 0, rc = -1;
	long idx;
	const char *why = NULL;

	cur = xstrdup(link->path);
	manifest_dirname(cur);
	manifest_push_target(&todo, &ntodo, &alloc, link->target);
	while (ntodo > 0 && why == NULL) {
		c = todo[--ntodo];
		if (c[0] == '\0' || strcmp(c, ".") == 0) {
			free(c);
			continue;
		}
		if (strcmp(c, "..") == 0) {
			free(c);
			if (cur[0] == '\0')
				why = "points outside the release";
			else
				manifest_dirname(cur);
			continue;
		}
		next = cur[0] != '\0' ? xasprintf("%s/%s", cur, c) : xstrdup(c);
		free(c);
		idx = manifest_find(m, next);
		if (idx >= 0 && m->entries[idx].type == MANIFEST_LINK) {
			free(next);
			if (++hops > MANIFEST_MAX_HOPS)
				why = "too many levels of symlinks";
			else if (m->entries[idx].target == NULL || m->entries[idx].target[0] == '/')
				why = "points outside the release (through an absolute symlink)";
			else
				manifest_push_target(&todo, &ntodo, &alloc, m->entries[idx].target);
			continue;
		}
		free(cur);
		cur = next;
	}
	if (why == NULL)
		rc = 0;
	else {
		show = manifest_printable(link->path);
		tshow = manifest_printable(link->target);
		set_cause(cause, -1, "symlink '%s' -> '%s' %s", show, tshow, why);
		free(tshow);
		free(show);
	}
	while (ntodo > 0)
		free(todo[--ntodo]);
	free(todo);
	free(cur);
	return rc;
}

static int
manifest_is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

int
manifest_check(const struct manifest *m, char **cause)
{
	const struct manifest_entry *e;
	char *show = NULL, *parent;
	const char *why;
	size_t i;
	long idx;
	int rc = -1;

	if (!manifest_valid_component(m->component)) {
		show = manifest_printable(m->component);
		set_cause(cause, -1, "invalid component '%s' (1-32 of a-z 0-9 _ -, starting with a letter)", show);
		goto out;
	}
	if (!manifest_valid_version(m->version)) {
		show = manifest_printable(m->version);
		set_cause(cause, -1, "invalid version '%s' (1-64 of A-Z a-z 0-9 . _ + -, starting with a letter or digit)",
		    show);
		goto out;
	}
	for (i = 0; i < m->n; i++) {
		e = &m->entries[i];
		if (manifest_valid_path(e->path, cause) != 0)
			goto out;
		why = NULL;
		if (strcmp(e->path, ".fleetctl-manifest") == 0)
			why = "reserved name";
		else if (i > 0 && strcmp(m->entries[i - 1].path, e->path) == 0)
			why = "listed twice";
		else if (i > 0 && strcmp(m->entries[i - 1].path, e->path) > 0)
			why = "entries not in sorted order";
		else if (e->type == MANIFEST_FILE) {
			if ((e->mode & ~MANIFEST_MODE_MASK) != 0)
				why = "mode has bits outside 0755";
			else if (!manifest_is_hex64(e->sha256))
				why = "bad sha256";
			else if (e->target != NULL)
				why = "file with a symlink target";
		} else if (e->type == MANIFEST_DIR) {
			if ((e->mode & ~MANIFEST_MODE_MASK) != 0)
				why = "mode has bits outside 0755";
			else if (e->size != 0 || e->sha256[0] != '\0' || e->target != NULL)
				why = "directory with a size, hash or target";
		} else if (e->type == MANIFEST_LINK) {
			if (e->mode != 0777)
				why = "symlink mode is not 0777";
			else if (e->size != 0 || e->sha256[0] != '\0')
				why = "symlink with a size or hash";
			else if (manifest_valid_target(e->path, e->target, cause) != 0)
				goto out;
		} else
			why = "unknown entry type";
		if (why == NULL && strchr(e->path, '/') != NULL) {
			parent = xstrndup(e->path, (size_t)(strrchr(e->path, '/') - e->path));
			idx = manifest_find(m, parent);
			free(parent);
			if (idx < 0)
				why = "parent directory not listed";
			else if (m->entries[idx].type != MANIFEST_DIR)
				why = "parent is not a directory";
		}
		if (why != NULL) {
			show = manifest_printable(e->path);
			set_cause(cause, -1, "'%s': %s", show, why);
			goto out;
		}
	}
	for (i = 0; i < m->n; i++)
		if (m->entries[i].type == MANIFEST_LINK && manifest_resolve(m, &m->entries[i], cause) != 0)
			goto out;
	rc = 0;
out:
	free(show);
	return rc;
}

char *
manifest_format(const struct manifest *m)
{
	const struct manifest_entry *e;
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	buf_addf(&b, "%s\ncomponent %s\nversion %s\n", MANIFEST_MAGIC, m->component, m->version);
	for (i = 0; i < m->n; i++) {
		e = &m->entries[i];
		if (e->type == MANIFEST_FILE)
			buf_addf(&b, "f\t%04o\t%" PRIu64 "\t%s\t%s\n", e->mode, e->size, e->sha256, e->path);
		else if (e->type == MANIFEST_DIR)
			buf_addf(&b, "d\t%04o\t0\t-\t%s\n", e->mode, e->path);
		else
			buf_addf(&b, "l\t%04o\t0\t-\t%s\t%s\n", e->mode, e->path, e->target);
	}
	return buf_detach(&b);
}

/* Split line at tabs into at most max fields (pointers into line, which is modified).  Returns count. */
static size_t
manifest_split(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *p = line, *tab;

	while (n < max) {
		fields[n++] = p;
		tab = strchr(p, '\t');
		if (tab == NULL)
			return n;
		*tab = '\0';
		p = tab + 1;
	}
	return max + 1;   /* more fields than allowed */
}

static int
manifest_parse_mode(const char *s, unsigned *mode)
{
	size_t i;

	if (strlen(s) != 4)
		return -1;
	*mode = 0;
	for (i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -1;
		*mode = *mode * 8 + (unsigned)(s[i] - '0');
	}
	return 0;
}

static int
manifest_parse_size(const char *s, uint64_t *size)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	*size = 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (*size > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		*size = *size * 10 + (uint64_t)(s[i] - '0');
	}
	return 0;
}

/* One entry line (modified in place) into m.  0, or -1 with a reason in *why. */
static int
manifest_parse_entry(struct manifest *m, char *line, const char **why)
{
	char *f[7];
	size_t n = manifest_split(line, f, 6);
	unsigned mode;
	uint64_t size;

	if (strlen(f[0]) != 1 || (f[0][0] != 'f' && f[0][0] != 'd' && f[0][0] != 'l')) {
		*why = "unknown entry type";
		return -1;
	}
	if (n != (f[0][0] == 'l' ? 6u : 5u)) {
		*why = "wrong number of fields";
		return -1;
	}
	if (manifest_parse_mode(f[1], &mode) != 0) {
		*why = "bad mode (want 4 octal digits)";
		return -1;
	}
	if (manifest_parse_size(f[2], &size) != 0) {
		*why = "bad size";
		return -1;
	}
	if (f[0][0] == 'f') {
		if (!manifest_is_hex64(f[3])) {
			*why = "bad sha256 (want 64 lowercase hex digits)";
			return -1;
		}
	} else if (strcmp(f[3], "-") != 0 || size != 0) {
		*why = "directories and symlinks want size 0 and hash '-'";
		return -1;
	}
	manifest_add(m, f[0][0], mode, size, f[0][0] == 'f' ? f[3] : NULL, f[4], n == 6 ? f[5] : NULL);
	return 0;
}

int
manifest_parse(const char *text, size_t len, struct manifest **out, char **cause)
{
	struct manifest *m = NULL;
	char *copy = NULL, *line, *nl, *sub = NULL;
	const char *why = NULL;
	size_t lineno = 0;
	int rc = -1;

	*out = NULL;
	if (len == 0 || text[len - 1] != '\n')
		return set_cause(cause, -1, "manifest: empty or does not end with a newline");
	if (memchr(text, '\0', len) != NULL)
		return set_cause(cause, -1, "manifest: contains a NUL byte");
	copy = xstrndup(text, len);
	m = manifest_new(NULL, NULL);
	for (line = copy; *line != '\0' && why == NULL; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = '\0';
		lineno++;
		if (lineno > MANIFEST_MAX_LINES)
			why = "too many lines";
		else if (lineno == 1) {
			if (strcmp(line, MANIFEST_MAGIC) != 0)
				why = "not a fleetctl manifest (want '" MANIFEST_MAGIC "')";
		} else if (lineno == 2) {
			if (strncmp(line, "component ", 10) != 0 || !manifest_valid_component(line + 10))
				why = "want 'component NAME' (1-32 of a-z 0-9 _ -, starting with a letter)";
			else
				m->component = xstrdup(line + 10);
		} else if (lineno == 3) {
			if (strncmp(line, "version ", 8) != 0 || !manifest_valid_version(line + 8))
				why = "want 'version V' (1-64 of A-Z a-z 0-9 . _ + -, starting with a letter or digit)";
			else
				m->version = xstrdup(line + 8);
		} else
			manifest_parse_entry(m, line, &why);
	}
	if (why != NULL) {
		set_cause(cause, -1, "manifest line %zu: %s", lineno, why);
		goto out;
	}
	if (lineno < 3) {
		set_cause(cause, -1, "manifest: missing header lines");
		goto out;
	}
	if (manifest_check(m, &sub) != 0) {
		set_cause(cause, -1, "manifest: %s", sub);
		goto out;
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	free(sub);
	free(copy);
	manifest_free(m);
	return rc;
}
