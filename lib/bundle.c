/* bundle: release directory <-> reproducible tar archive with a manifest; the local archive store. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "manifest.h"
#include "util.h"

#define BUNDLE_CHUNK (256 * 1024)                 /* bytes read or written at a time */
#define BUNDLE_MAX_DEPTH 128                      /* directory nesting */
#define BUNDLE_MAX_ENTRIES 2000000
#define BUNDLE_MANIFEST_MAX (64u * 1024 * 1024)

int
bundle_valid_version(const char *v)
{
	return manifest_valid_version(v);
}

int
bundle_valid_component(const char *c)
{
	return manifest_valid_component(c);
}

static EVP_MD_CTX *
bundle_hash_new(void)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		c = NULL;
	}
	return c;
}

/* Finish the hash into lowercase hex.  0 / -1. */
static int
bundle_hash_hex(EVP_MD_CTX *c, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (EVP_DigestFinal_ex(c, md, &len) != 1 || len != 32)
		return -1;
	for (i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[64] = '\0';
	return 0;
}

static int
bundle_is_hex64(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

static ssize_t
bundle_read(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static int
bundle_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Hash what is left of fd (and copy it to out_fd if >= 0), count the bytes.  0, or -1 with errno. */
static int
bundle_hash_fd(int fd, int out_fd, char hex[65], uint64_t *count)
{
	EVP_MD_CTX *c = bundle_hash_new();
	unsigned char *buf = xmalloc(BUNDLE_CHUNK);
	ssize_t n;
	int rc = -1;

	*count = 0;
	if (c == NULL) {
		errno = ENOMEM;
		goto out;
	}
	for (;;) {
		n = bundle_read(fd, buf, BUNDLE_CHUNK);
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (EVP_DigestUpdate(c, buf, (size_t)n) != 1) {
			errno = EIO;
			goto out;
		}
		if (out_fd >= 0 && bundle_write_all(out_fd, buf, (size_t)n) != 0)
			goto out;
		*count += (uint64_t)n;
	}
	if (bundle_hash_hex(c, hex) != 0) {
		errno = EIO;
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	free(buf);
	return rc;
}

int
sha256_file(const char *path, char hex[65], char **cause)
{
	uint64_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return set_cause(cause, -1, "cannot open '%s': %s", path, strerror(errno));
	rc = bundle_hash_fd(fd, -1, hex, &n);
	if (rc != 0)
		set_cause(cause, -1, "cannot read '%s': %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* fsync the directory holding path, so a rename survives a power cut (best effort). */
static void
bundle_sync_parent(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int fd;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else {
		free(dir);
		dir = xstrdup(".");
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

static const char *
bundle_ext(const char *compression)
{
	if (compression == NULL)
		return NULL;
	if (strcmp(compression, "gzip") == 0)
		return ".tar.gz";
	if (strcmp(compression, "zstd") == 0)
		return ".tar.zst";
	if (strcmp(compression, "none") == 0)
		return ".tar";
	return NULL;
}

void
bundle_free(struct bundle *b)
{
	if (b == NULL)
		return;
	free(b->path);
	free(b->id);
	free(b->version);
	free(b->component);
	free(b->compression);
	free(b->manifest_text);
	free(b);
}

/* Fill a struct bundle from what both create and open know. */
static struct bundle *
bundle_make(const char *path, const char *sha256, uint64_t size, const char *compression,
    const struct manifest *m, char *manifest_text)
{
	struct bundle *b = xcalloc(1, sizeof(*b));
	size_t i;

	b->path = xstrdup(path);
	snprintf(b->sha256, sizeof(b->sha256), "%s", sha256);
	b->id = xasprintf("%s-%.12s", m->version, sha256);
	b->version = xstrdup(m->version);
	b->component = xstrdup(m->component);
	b->compression = xstrdup(compression);
	b->size = size;
	for (i = 0; i < m->n; i++) {
		if (m->entries[i].type == MANIFEST_FILE) {
			b->nfiles++;
			b->payload_bytes += m->entries[i].size;
		}
	}
	b->manifest_text = manifest_text;
	return b;
}

/*
 * libarchive converts names between the pax headers' UTF-8 and the calling thread's locale; in the C
 * locale every non-ASCII name fails.  Names are checked to be UTF-8, so switch THIS thread (uselocale,
 * not setlocale: nothing global changes) to C.UTF-8 while an archive is written or read.
 */
struct bundle_locale {
	locale_t utf8;
	locale_t saved;
};

static void
bundle_locale_enter(struct bundle_locale *l)
{
	l->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (l->utf8 == (locale_t)0)
		l->utf8 = newlocale(LC_CTYPE_MASK, "C.utf8", (locale_t)0);
	l->saved = l->utf8 != (locale_t)0 ? uselocale(l->utf8) : (locale_t)0;
}

static void
bundle_locale_leave(struct bundle_locale *l)
{
	if (l->utf8 == (locale_t)0)
		return;
	uselocale(l->saved);
	freelocale(l->utf8);
}

/* ---- building ---- */

static const char *
bundle_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "an unknown file type";
}

/* Add one name of directory dfd (relative path `path`) to m, recursing into directories. */
static int bundle_walk(int dfd, const char *rel, int depth, struct manifest *m, char **cause);

static int
bundle_walk_one(int dfd, const char *name, const char *path, int depth, struct manifest *m, char **cause)
{
	char target[MANIFEST_PATH_MAX + 2], hex[65], *show = manifest_printable(path);
	struct stat st;
	uint64_t n;
	ssize_t tl;
	int fd = -1, rc = -1;

	if (depth == 0 && strcmp(name, BUNDLE_MANIFEST_NAME) == 0) {
		set_cause(cause, -1, "'%s' is reserved for the bundle's manifest: remove it from the release "
		    "directory", BUNDLE_MANIFEST_NAME);
		goto out;
	}
	if (manifest_valid_path(path, cause) != 0)
		goto out;
	if (m->n >= BUNDLE_MAX_ENTRIES) {
		set_cause(cause, -1, "'%s': more than %d entries in the release", show, BUNDLE_MAX_ENTRIES);
		goto out;
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		set_cause(cause, -1, "'%s': %s", show, strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 || bundle_hash_fd(fd, -1, hex, &n) != 0) {
			set_cause(cause, -1, "'%s': %s", show, strerror(errno));
			goto out;
		}
		if ((off_t)n != st.st_size) {
			set_cause(cause, -1, "'%s': changed size while being read", show);
			goto out;
		}
		manifest_add(m, MANIFEST_FILE, (unsigned)st.st_mode & MANIFEST_MODE_MASK, n, hex, path, NULL);
	} else if (S_ISDIR(st.st_mode)) {
		if (depth + 1 > BUNDLE_MAX_DEPTH) {
			set_cause(cause, -1, "'%s': directories nested more than %d deep", show, BUNDLE_MAX_DEPTH);
			goto out;
		}
		manifest_add(m, MANIFEST_DIR, (unsigned)st.st_mode & MANIFEST_MODE_MASK, 0, NULL, path, NULL);
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			set_cause(cause, -1, "'%s': %s", show, strerror(errno));
			goto out;
		}
		if (bundle_walk(fd, path, depth + 1, m, cause) != 0)
			goto out;
	} else if (S_ISLNK(st.st_mode)) {
		tl = readlinkat(dfd, name, target, sizeof(target));
		if (tl < 0) {
			set_cause(cause, -1, "'%s': %s", show, strerror(errno));
			goto out;
		}
		if ((size_t)tl >= sizeof(target)) {
			set_cause(cause, -1, "'%s': symlink target too long", show);
			goto out;
		}
		target[tl] = '\0';
		if (manifest_valid_target(path, target, cause) != 0)
			goto out;
		manifest_add(m, MANIFEST_LINK, 0777, 0, NULL, path, target);
	} else {
		set_cause(cause, -1, "'%s': is %s: only files, directories and symlinks can be bundled", show,
		    bundle_kind(st.st_mode));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(show);
	return rc;
}

static int
bundle_walk(int dfd, const char *rel, int depth, struct manifest *m, char **cause)
{
	struct dirent *de;
	DIR *d;
	char *path;
	int fd, rc = 0;

	fd = dup(dfd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return set_cause(cause, -1, "'%s': %s", rel[0] != '\0' ? rel : ".", strerror(errno));
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				rc = set_cause(cause, -1, "'%s': %s", rel[0] != '\0' ? rel : ".", strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		path = rel[0] != '\0' ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		rc = bundle_walk_one(dfd, de->d_name, path, depth, m, cause);
		free(path);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

struct bundle_out {
	int fd;
	EVP_MD_CTX *hash;
	uint64_t bytes;
};

/* libarchive's output: written to the temp file and hashed on the way, so the file is never reread. */
static la_ssize_t
bundle_write_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct bundle_out *o = data;

	if (bundle_write_all(o->fd, buf, len) != 0) {
		archive_set_error(a, errno, "write: %s", strerror(errno));
		return -1;
	}
	if (EVP_DigestUpdate(o->hash, buf, len) != 1) {
		archive_set_error(a, EIO, "sha256 failed");
		return -1;
	}
	o->bytes += len;
	return (la_ssize_t)len;
}

static int
bundle_header(struct archive *a, struct archive_entry *ae, const char *path, unsigned type, unsigned mode,
    uint64_t size, const char *target, char **cause)
{
	char *show;

	archive_entry_clear(ae);
	archive_entry_set_pathname(ae, path);
	archive_entry_set_filetype(ae, type);
	archive_entry_set_perm(ae, mode);
	archive_entry_set_size(ae, (la_int64_t)size);
	archive_entry_set_mtime(ae, 0, 0);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_uname(ae, "root");
	archive_entry_set_gname(ae, "root");
	if (target != NULL)
		archive_entry_set_symlink(ae, target);
	if (archive_write_header(a, ae) != ARCHIVE_OK) {
		show = manifest_printable(path);
		set_cause(cause, -1, "'%s': cannot write archive header: %s", show, archive_error_string(a));
		free(show);
		return -1;
	}
	return 0;
}

/* Stream one file into the archive; it must still be what the manifest says (size and hash). */
static int
bundle_write_file(struct bundle_wr *w, int rootfd, const struct manifest_entry *e, unsigned char *buf,
    char **cause)
{
	EVP_MD_CTX *c = bundle_hash_new();
	char *show = manifest_printable(e->path), hex[65];
	struct stat st;
	uint64_t total = 0;
	ssize_t n;
	int fd, rc = -1;

	fd = openat(rootfd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		set_cause(cause, -1, "'%s': %s", show, strerror(errno));
		goto out;
	}
	if (c == NULL || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
		set_cause(cause, -1, "'%s': changed while the bundle was being made", show);
		goto out;
	}
	for (;;) {
		n = bundle_read(fd, buf, BUNDLE_CHUNK);
		if (n < 0) {
			set_cause(cause, -1, "'%s': %s", show, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (total + (uint64_t)n > e->size) {
			set_cause(cause, -1, "'%s': grew while the bundle was being made", show);
			goto out;
		}
		EVP_DigestUpdate(c, buf, (size_t)n);
		if (bundle_wr_data(w, buf, (size_t)n, cause) != 0)
			goto out;
		total += (uint64_t)n;
	}
	if (total != e->size || bundle_hash_hex(c, hex) != 0 || strcmp(hex, e->sha256) != 0) {
		set_cause(cause, -1, "'%s': changed while the bundle was being made", show);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(c);
	free(show);
	return rc;
}

static struct archive *
bundle_writer(const char *compression, int utf8, char **cause)
{
	struct archive *a = archive_write_new();
	int r;

	if (a == NULL) {
		set_cause(cause, -1, "cannot create archive writer");
		return NULL;
	}
	r = archive_write_set_format_pax_restricted(a);
	/* No UTF-8 locale at all: write the (checked UTF-8) name bytes as they are, marked BINARY. */
	if (r == ARCHIVE_OK && !utf8)
		r = archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY");
	if (r == ARCHIVE_OK) {
		if (strcmp(compression, "gzip") == 0) {
			r = archive_write_add_filter_gzip(a);
			/* gzip embeds the time unless told not to: the same tree must give the same bytes */
			if (r == ARCHIVE_OK)
				r = archive_write_set_options(a, "gzip:!timestamp");
		} else if (strcmp(compression, "zstd") == 0)
			r = archive_write_add_filter_zstd(a);
		else
			r = archive_write_add_filter_none(a);
	}
	/* the last block is not padded to 10240 bytes: zeros after a zstd frame make zstd(1) fail */
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_in_last_block(a, 1);
	if (r != ARCHIVE_OK) {
		set_cause(cause, -1, "cannot set up %s archive: %s", compression, archive_error_string(a));
		archive_write_free(a);
		return NULL;
	}
	return a;
}

/* ---- streaming writer (bundle_create and lib/delta) ---- */

struct bundle_wr {
	struct bundle_locale loc;
	struct archive *a;
	struct archive_entry *ae;
	struct bundle_out o;
	char *tmp, *out_path;
};

int
bundle_wr_open(const char *out_path, const char *compression, struct bundle_wr **out, char **cause)
{
	struct bundle_wr *w = xcalloc(1, sizeof(*w));

	*out = NULL;
	w->o.fd = -1;
	bundle_locale_enter(&w->loc);
	if (compression == NULL)
		compression = "gzip";
	if (bundle_ext(compression) == NULL) {
		set_cause(cause, -1, "unknown compression '%s' (want gzip, zstd or none)", compression);
		goto fail;
	}
	if (out_path == NULL || *out_path == '\0') {
		set_cause(cause, -1, "no output file");
		goto fail;
	}
	w->out_path = xstrdup(out_path);
	w->tmp = xasprintf("%s.tmp.XXXXXX", out_path);
	w->o.fd = mkstemp(w->tmp);
	if (w->o.fd < 0) {
		set_cause(cause, -1, "cannot create '%s': %s", w->tmp, strerror(errno));
		free(w->tmp);
		w->tmp = NULL;
		goto fail;
	}
	if (fchmod(w->o.fd, 0644) < 0 || (w->o.hash = bundle_hash_new()) == NULL) {
		set_cause(cause, -1, "cannot set up '%s': %s", w->tmp, strerror(errno));
		goto fail;
	}
	if ((w->a = bundle_writer(compression, w->loc.utf8 != (locale_t)0, cause)) == NULL)
		goto fail;
	if (archive_write_open(w->a, &w->o, NULL, bundle_write_cb, NULL) != ARCHIVE_OK) {
		set_cause(cause, -1, "cannot open archive '%s': %s", w->tmp, archive_error_string(w->a));
		goto fail;
	}
	w->ae = archive_entry_new();
	*out = w;
	return 0;
fail:
	bundle_wr_abort(w);
	return -1;
}

int
bundle_wr_entry(struct bundle_wr *w, const char *path, char type, unsigned mode, uint64_t size,
    const char *target, char **cause)
{
	unsigned t = type == MANIFEST_FILE ? AE_IFREG : type == MANIFEST_DIR ? AE_IFDIR : AE_IFLNK;

	return bundle_header(w->a, w->ae, path, t, mode, type == MANIFEST_FILE ? size : 0, target, cause);
}

int
bundle_wr_data(struct bundle_wr *w, const void *data, size_t len, char **cause)
{
	/* archive_write_data silently truncates to the declared size: check every count. */
	la_ssize_t n = archive_write_data(w->a, data, len);

	if (n < 0 || (size_t)n != len)
		return set_cause(cause, -1, "cannot write archive data: %s",
		    n < 0 ? archive_error_string(w->a) : "short write (more data than the entry's size)");
	return 0;
}

int
bundle_wr_commit(struct bundle_wr *w, char sha256[65], uint64_t *size, char **cause)
{
	int rc = -1;

	if (archive_write_close(w->a) != ARCHIVE_OK) {
		set_cause(cause, -1, "cannot finish archive '%s': %s", w->tmp, archive_error_string(w->a));
		goto out;
	}
	if (fsync(w->o.fd) < 0 || close(w->o.fd) < 0) {
		w->o.fd = -1;
		set_cause(cause, -1, "cannot write '%s': %s", w->tmp, strerror(errno));
		goto out;
	}
	w->o.fd = -1;
	if (bundle_hash_hex(w->o.hash, sha256) != 0) {
		set_cause(cause, -1, "sha256 failed");
		goto out;
	}
	if (rename(w->tmp, w->out_path) < 0) {
		set_cause(cause, -1, "cannot rename '%s' to '%s': %s", w->tmp, w->out_path, strerror(errno));
		goto out;
	}
	free(w->tmp);
	w->tmp = NULL;
	bundle_sync_parent(w->out_path);
	if (size != NULL)
		*size = w->o.bytes;
	rc = 0;
out:
	bundle_wr_abort(w);
	return rc;
}

void
bundle_wr_abort(struct bundle_wr *w)
{
	if (w == NULL)
		return;
	if (w->a != NULL)
		archive_write_free(w->a);   /* also closes, if still open */
	archive_entry_free(w->ae);
	if (w->o.fd >= 0)
		close(w->o.fd);
	if (w->tmp != NULL) {
		unlink(w->tmp);
		free(w->tmp);
	}
	EVP_MD_CTX_free(w->o.hash);
	free(w->out_path);
	bundle_locale_leave(&w->loc);
	free(w);
}

int
bundle_create(const char *dir, const char *version, const char *component, const char *compression,
    const char *out_path, struct bundle **out, char **cause)
{
	struct manifest *m = NULL;
	struct bundle_wr *w = NULL;
	unsigned char *buf = NULL;
	char *text = NULL, hex[65];
	uint64_t bytes = 0;
	size_t i;
	int rootfd = -1, rc = -1;

	if (out != NULL)
		*out = NULL;
	if (compression == NULL)
		compression = "gzip";
	if (!bundle_valid_version(version))
		return set_cause(cause, -1, "invalid version '%s' (1-64 of A-Z a-z 0-9 . _ + -, starting with a "
		    "letter or digit)", version != NULL ? version : "");
	if (!bundle_valid_component(component))
		return set_cause(cause, -1, "invalid component '%s' (1-32 of a-z 0-9 _ -, starting with a letter)",
		    component != NULL ? component : "");
	if (bundle_ext(compression) == NULL)
		return set_cause(cause, -1, "unknown compression '%s' (want gzip, zstd or none)", compression);

	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		set_cause(cause, -1, "cannot open directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	/* First pass: list and hash everything, since the manifest goes first in the archive. */
	m = manifest_new(component, version);
	if (bundle_walk(rootfd, "", 0, m, cause) != 0)
		goto out;
	manifest_sort(m);
	if (manifest_check(m, cause) != 0)
		goto out;
	text = manifest_format(m);
	if (bundle_wr_open(out_path, compression, &w, cause) != 0)
		goto out;
	buf = xmalloc(BUNDLE_CHUNK);
	if (bundle_wr_entry(w, BUNDLE_MANIFEST_NAME, MANIFEST_FILE, 0644, strlen(text), NULL, cause) != 0 ||
	    bundle_wr_data(w, text, strlen(text), cause) != 0)
		goto out;
	/* Second pass: the entries in manifest order; every file is checked again against the manifest. */
	for (i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];

		if (bundle_wr_entry(w, e->path, e->type, e->mode, e->size, e->target, cause) != 0)
			goto out;
		if (e->type == MANIFEST_FILE && bundle_write_file(w, rootfd, e, buf, cause) != 0)
			goto out;
	}
	rc = bundle_wr_commit(w, hex, &bytes, cause);
	w = NULL;
	if (rc != 0)
		goto out;
	if (out != NULL) {
		*out = bundle_make(out_path, hex, bytes, compression, m, text);
		text = NULL;
	}
out:
	bundle_wr_abort(w);
	if (rootfd >= 0)
		close(rootfd);
	free(buf);
	free(text);
	manifest_free(m);
	return rc;
}

/* ---- opening and checking ---- */

struct bundle_in {
	int fd;
	EVP_MD_CTX *hash;
	uint64_t bytes;
	unsigned char *buf;
};

/* libarchive's input: every byte it reads is hashed, so the hash is of exactly what was checked. */
static la_ssize_t
bundle_read_cb(struct archive *a, void *data, const void **out)
{
	struct bundle_in *in = data;
	ssize_t n = bundle_read(in->fd, in->buf, BUNDLE_CHUNK);

	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	EVP_DigestUpdate(in->hash, in->buf, (size_t)n);
	in->bytes += (uint64_t)n;
	*out = in->buf;
	return n;
}

/* Read the current entry's data whole (it is small: the manifest).  0 / -1. */
static int
bundle_read_small(struct archive *a, struct archive_entry *ae, char **out, size_t *len, char **cause)
{
	la_int64_t size = archive_entry_size(ae);
	la_ssize_t n;
	size_t got = 0;
	char *p;

	if (!archive_entry_size_is_set(ae) || size < 0 || (uint64_t)size > BUNDLE_MANIFEST_MAX)
		return set_cause(cause, -1, "'%s': missing or too big (more than %u bytes)", BUNDLE_MANIFEST_NAME,
		    BUNDLE_MANIFEST_MAX);
	p = xmalloc((size_t)size + 1);
	while (got < (size_t)size) {
		n = archive_read_data(a, p + got, (size_t)size - got);
		if (n <= 0) {
			set_cause(cause, -1, "'%s': %s", BUNDLE_MANIFEST_NAME,
			    n < 0 ? archive_error_string(a) : "truncated");
			free(p);
			return -1;
		}
		got += (size_t)n;
	}
	p[got] = '\0';
	*out = p;
	*len = got;
	return 0;
}

/* Stream a regular entry's data and compare with its manifest entry.  0 / -1. */
static int
bundle_check_data(struct archive *a, const struct manifest_entry *e, unsigned char *buf, const char *show,
    char **cause)
{
	EVP_MD_CTX *c = bundle_hash_new();
	uint64_t total = 0;
	la_ssize_t n;
	char hex[65];
	int rc = -1;

	if (c == NULL)
		return set_cause(cause, -1, "sha256 failed");
	for (;;) {
		n = archive_read_data(a, buf, BUNDLE_CHUNK);
		if (n < 0) {
			set_cause(cause, -1, "'%s': corrupt or truncated archive: %s", show, archive_error_string(a));
			goto out;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > e->size) {
			set_cause(cause, -1, "'%s': more data than the manifest's %" PRIu64 " bytes", show, e->size);
			goto out;
		}
		EVP_DigestUpdate(c, buf, (size_t)n);
	}
	if (total != e->size) {
		set_cause(cause, -1, "'%s': %" PRIu64 " bytes, the manifest says %" PRIu64, show, total, e->size);
		goto out;
	}
	if (bundle_hash_hex(c, hex) != 0 || strcmp(hex, e->sha256) != 0) {
		set_cause(cause, -1, "'%s': sha256 differs from the manifest", show);
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	return rc;
}

static int
bundle_root_name(const char *s)
{
	return s == NULL || s[0] == '\0' || strcmp(s, "root") == 0;
}

/* Check one entry (not the manifest) against m; marks it in seen.  0 / -1 with *cause naming it. */
static int
bundle_check_entry(struct archive *a, struct archive_entry *ae, const struct manifest *m, unsigned char *seen,
    unsigned char *buf, char **cause)
{
	const char *raw = archive_entry_pathname(ae), *target, *why = NULL;
	const struct manifest_entry *e;
	char *name = NULL, *show = NULL, *tshow = NULL;
	unsigned type = archive_entry_filetype(ae), perm;
	size_t len;
	long idx;
	int rc = -1;

	if (raw == NULL) {
		set_cause(cause, -1, "entry with an unreadable name");
		goto out;
	}
	name = xstrdup(raw);
	show = manifest_printable(name);
	if (archive_entry_hardlink(ae) != NULL) {
		tshow = manifest_printable(archive_entry_hardlink(ae));
		set_cause(cause, -1, "'%s': hard link to '%s' refused (bundles never contain hard links)", show,
		    tshow);
		goto out;
	}
	/* tar writers mark directories with a trailing slash */
	len = strlen(name);
	if (type == AE_IFDIR && len > 1 && name[len - 1] == '/')
		name[len - 1] = '\0';
	if (manifest_valid_path(name, cause) != 0)
		goto out;
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
		set_cause(cause, -1, "'%s': is %s: refused", show, bundle_kind((mode_t)type));
		goto out;
	}
	if (strcmp(name, BUNDLE_MANIFEST_NAME) == 0) {
		set_cause(cause, -1, "'%s': duplicate entry", show);
		goto out;
	}
	idx = manifest_find(m, name);
	if (idx < 0) {
		set_cause(cause, -1, "'%s': not listed in the manifest", show);
		goto out;
	}
	if (seen[idx]) {
		set_cause(cause, -1, "'%s': duplicate entry", show);
		goto out;
	}
	seen[idx] = 1;
	e = &m->entries[idx];
	perm = (unsigned)archive_entry_perm(ae) | ((unsigned)archive_entry_mode(ae) & 07000u);
	if ((e->type == MANIFEST_FILE && type != AE_IFREG) || (e->type == MANIFEST_DIR && type != AE_IFDIR) ||
	    (e->type == MANIFEST_LINK && type != AE_IFLNK))
		why = "type differs from the manifest";
	else if (perm != e->mode)
		why = "mode differs from the manifest";
	else if (archive_entry_uid(ae) != 0 || archive_entry_gid(ae) != 0 ||
	    !bundle_root_name(archive_entry_uname(ae)) || !bundle_root_name(archive_entry_gname(ae)))
		why = "owner is not root";
	else if (type != AE_IFREG && archive_entry_size(ae) != 0)
		why = "directory or symlink with data";
	else if (type == AE_IFREG && (!archive_entry_size_is_set(ae) || archive_entry_size(ae) < 0 ||
	    (uint64_t)archive_entry_size(ae) != e->size))
		why = "size differs from the manifest";
	else if (type == AE_IFLNK) {
		target = archive_entry_symlink(ae);
		if (target == NULL || e->target == NULL || strcmp(target, e->target) != 0)
			why = "symlink target differs from the manifest";
	}
	if (why != NULL) {
		set_cause(cause, -1, "'%s': %s", show, why);
		goto out;
	}
	if (type == AE_IFREG && bundle_check_data(a, e, buf, show, cause) != 0)
		goto out;
	rc = 0;
out:
	free(tshow);
	free(show);
	free(name);
	return rc;
}

/* After the first header: tar only, and gzip, zstd or no filter.  Returns the name or NULL. */
static const char *
bundle_filter(struct archive *a)
{
	int count = archive_filter_count(a), code = archive_filter_code(a, 0);

	if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_TAR)
		return NULL;
	if (count == 1 && code == ARCHIVE_FILTER_NONE)
		return "none";
	if (count == 2 && code == ARCHIVE_FILTER_GZIP)
		return "gzip";
	if (count == 2 && code == ARCHIVE_FILTER_ZSTD)
		return "zstd";
	return NULL;
}

static int
bundle_open_in(const char *archive_path, struct bundle **out, char **cause)
{
	struct bundle_in in = { -1, NULL, 0, NULL };
	struct archive *a = NULL;
	struct archive_entry *ae;
	struct manifest *m = NULL;
	unsigned char *seen = NULL, *buf = NULL;
	const char *filter = NULL, *name;
	char *text = NULL, *canon = NULL, *sub = NULL, *last = NULL, *show = NULL, hex[65];
	size_t len = 0, i;
	ssize_t n;
	int r, rc = -1;

	if (out != NULL)
		*out = NULL;
	in.fd = open(archive_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (in.fd < 0) {
		set_cause(cause, -1, "cannot open: %s", strerror(errno));
		goto out;
	}
	in.hash = bundle_hash_new();
	in.buf = xmalloc(BUNDLE_CHUNK);
	buf = xmalloc(BUNDLE_CHUNK);
	a = archive_read_new();
	if (in.hash == NULL || a == NULL) {
		set_cause(cause, -1, "cannot set up the archive reader");
		goto out;
	}
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open(a, &in, NULL, bundle_read_cb, NULL) != ARCHIVE_OK) {
		set_cause(cause, -1, "not a tar archive (tar, tar.gz or tar.zst): %s", archive_error_string(a));
		goto out;
	}
	r = archive_read_next_header(a, &ae);
	if (r == ARCHIVE_EOF) {
		set_cause(cause, -1, "empty archive, no '%s'", BUNDLE_MANIFEST_NAME);
		goto out;
	}
	if (r != ARCHIVE_OK) {
		set_cause(cause, -1, "not a valid tar archive: %s", archive_error_string(a));
		goto out;
	}
	if ((filter = bundle_filter(a)) == NULL) {
		set_cause(cause, -1, "%s archive with %s compression refused (want tar with gzip, zstd or none)",
		    archive_format_name(a), archive_filter_name(a, 0));
		goto out;
	}
	name = archive_entry_pathname(ae);
	if (name == NULL || strcmp(name, BUNDLE_MANIFEST_NAME) != 0 || archive_entry_filetype(ae) != AE_IFREG ||
	    archive_entry_hardlink(ae) != NULL) {
		show = manifest_printable(name);
		set_cause(cause, -1, "first entry is '%s', not the manifest '%s' (not a fleetctl bundle)",
		    show, BUNDLE_MANIFEST_NAME);
		goto out;
	}
	if (bundle_read_small(a, ae, &text, &len, cause) != 0)
		goto out;
	if (manifest_parse(text, len, &m, cause) != 0)
		goto out;
	canon = manifest_format(m);
	if (strlen(canon) != len || memcmp(canon, text, len) != 0) {
		set_cause(cause, -1, "manifest is not in canonical form");
		goto out;
	}
	seen = xcalloc(m->n + 1, 1);
	last = xstrdup(BUNDLE_MANIFEST_NAME);
	for (;;) {
		r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			free(show);
			show = manifest_printable(last);
			set_cause(cause, -1, "corrupt or truncated archive after entry '%s': %s", show,
			    archive_error_string(a));
			goto out;
		}
		if (bundle_check_entry(a, ae, m, seen, buf, cause) != 0)
			goto out;
		free(last);
		name = archive_entry_pathname(ae);
		last = xstrdup(name != NULL ? name : "?");
	}
	for (i = 0; i < m->n; i++) {
		if (!seen[i]) {
			show = manifest_printable(m->entries[i].path);
			set_cause(cause, -1, "'%s': listed in the manifest but missing from the archive", show);
			goto out;
		}
	}
	/* hash what libarchive did not need to read (padding after the end marker) */
	for (;;) {
		n = bundle_read(in.fd, in.buf, BUNDLE_CHUNK);
		if (n < 0) {
			set_cause(cause, -1, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(in.hash, in.buf, (size_t)n);
		in.bytes += (uint64_t)n;
	}
	if (bundle_hash_hex(in.hash, hex) != 0) {
		set_cause(cause, -1, "sha256 failed");
		goto out;
	}
	if (out != NULL) {
		*out = bundle_make(archive_path, hex, in.bytes, filter, m, text);
		text = NULL;
	}
	rc = 0;
out:
	if (rc != 0 && cause != NULL && *cause != NULL) {
		sub = *cause;
		*cause = xasprintf("%s: %s", archive_path, sub);
		free(sub);
	}
	if (a != NULL)
		archive_read_free(a);
	if (in.fd >= 0)
		close(in.fd);
	EVP_MD_CTX_free(in.hash);
	free(in.buf);
	free(buf);
	free(seen);
	free(text);
	free(canon);
	free(last);
	free(show);
	manifest_free(m);
	return rc;
}

int
bundle_open(const char *archive_path, struct bundle **out, char **cause)
{
	struct bundle_locale l;
	int rc;

	bundle_locale_enter(&l);
	rc = bundle_open_in(archive_path, out, cause);
	bundle_locale_leave(&l);
	return rc;
}

/* ---- streaming reader (lib/delta: archives from the local store, checked when they were stored) ---- */

struct bundle_rd {
	struct bundle_locale loc;
	struct archive *a;
	char *path;
	char *name;    /* the current entry's name without a directory's trailing '/' */
};

int
bundle_rd_open(const char *path, struct bundle_rd **out, char **cause)
{
	struct bundle_rd *r = xcalloc(1, sizeof(*r));

	*out = NULL;
	bundle_locale_enter(&r->loc);
	r->path = xstrdup(path);
	r->a = archive_read_new();
	if (r->a == NULL) {
		set_cause(cause, -1, "cannot set up the archive reader");
		goto fail;
	}
	archive_read_support_format_tar(r->a);
	archive_read_support_filter_gzip(r->a);
	archive_read_support_filter_zstd(r->a);
	if (archive_read_open_filename(r->a, path, BUNDLE_CHUNK) != ARCHIVE_OK) {
		set_cause(cause, -1, "%s: cannot read: %s", path, archive_error_string(r->a));
		goto fail;
	}
	*out = r;
	return 0;
fail:
	bundle_rd_close(r);
	return -1;
}

int
bundle_rd_next(struct bundle_rd *r, const char **path, char *type, uint64_t *size, char **cause)
{
	struct archive_entry *ae;
	int rc = archive_read_next_header(r->a, &ae);
	unsigned ft;

	if (rc == ARCHIVE_EOF)
		return 0;
	if (rc != ARCHIVE_OK)
		return set_cause(cause, -1, "%s: corrupt archive: %s", r->path, archive_error_string(r->a));
	*path = archive_entry_pathname(ae);
	ft = archive_entry_filetype(ae);
	*type = ft == AE_IFREG ? MANIFEST_FILE : ft == AE_IFDIR ? MANIFEST_DIR : ft == AE_IFLNK ? MANIFEST_LINK : '?';
	*size = archive_entry_size_is_set(ae) ? (uint64_t)archive_entry_size(ae) : 0;
	if (*path == NULL)
		return set_cause(cause, -1, "%s: entry without a name", r->path);
	free(r->name);
	r->name = xstrdup(*path);
	for (size_t len = strlen(r->name); len > 1 && r->name[len - 1] == '/'; len--)
		r->name[len - 1] = '\0';
	*path = r->name;
	return 1;
}

ssize_t
bundle_rd_data(struct bundle_rd *r, void *buf, size_t len, char **cause)
{
	size_t got = 0;

	/* libarchive may return less than asked before the end: fill the buffer. */
	while (got < len) {
		la_ssize_t n = archive_read_data(r->a, (char *)buf + got, len - got);

		if (n < 0)
			return set_cause(cause, -1, "%s: corrupt archive: %s", r->path, archive_error_string(r->a));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

void
bundle_rd_close(struct bundle_rd *r)
{
	if (r == NULL)
		return;
	if (r->a != NULL)
		archive_read_free(r->a);
	free(r->path);
	free(r->name);
	bundle_locale_leave(&r->loc);
	free(r);
}

/* ---- the local store ---- */

int
bundle_store_path(const char *store_dir, const char *sha256, char **path)
{
	static const char *const exts[] = { ".tar.gz", ".tar.zst", ".tar" };
	struct stat st;
	size_t i;
	char *p;

	*path = NULL;
	if (!bundle_is_hex64(sha256))
		return -1;
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		p = xasprintf("%s/%s%s", store_dir, sha256, exts[i]);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			*path = p;
			return 0;
		}
		free(p);
	}
	return -1;
}

/* Copy src to the new file dst_fd, hashing; fsync.  0 / -1 with *cause. */
static int
bundle_copy(const char *src, int dst_fd, const char *dst, char hex[65], char **cause)
{
	uint64_t n;
	int fd, rc;

	fd = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return set_cause(cause, -1, "cannot open '%s': %s", src, strerror(errno));
	rc = bundle_hash_fd(fd, dst_fd, hex, &n);
	if (rc != 0)
		set_cause(cause, -1, "cannot copy '%s' to '%s': %s", src, dst, strerror(errno));
	close(fd);
	if (rc == 0 && fsync(dst_fd) < 0)
		rc = set_cause(cause, -1, "cannot write '%s': %s", dst, strerror(errno));
	return rc;
}

int
bundle_store_put(const char *store_dir, const struct bundle *b, char **stored_path, char **cause)
{
	const char *ext = bundle_ext(b->compression);
	char *dest = NULL, *tmp = NULL, hex[65];
	struct stat st;
	int fd = -1, rc = -1;

	if (stored_path != NULL)
		*stored_path = NULL;
	if (ext == NULL || !bundle_is_hex64(b->sha256))
		return set_cause(cause, -1, "'%s': not an opened bundle", b->path);
	if (mkdir_p(store_dir, 0755) < 0)
		return set_cause(cause, -1, "cannot create store '%s': %s", store_dir, strerror(errno));
	dest = xasprintf("%s/%s%s", store_dir, b->sha256, ext);
	/* content-addressed: a good copy already there is kept; a damaged one is replaced below */
	if (stat(dest, &st) == 0 && S_ISREG(st.st_mode) && sha256_file(dest, hex, NULL) == 0 &&
	    strcmp(hex, b->sha256) == 0)
		goto done;

	tmp = xasprintf("%s/.tmp-%.12s-XXXXXX", store_dir, b->sha256);
	fd = mkstemp(tmp);
	if (fd < 0) {
		set_cause(cause, -1, "cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	/* Same filesystem: a hard link (mkstemp reserved the name; replace the empty file by the link). */
	if (unlink(tmp) == 0 && link(b->path, tmp) == 0) {
		close(fd);
		fd = -1;
		if (sha256_file(tmp, hex, cause) != 0)
			goto out;
	} else {
		close(fd);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			set_cause(cause, -1, "cannot create '%s': %s", tmp, strerror(errno));
			goto out;
		}
		if (fchmod(fd, 0644) < 0 || bundle_copy(b->path, fd, tmp, hex, cause) != 0) {
			set_cause(cause, -1, "cannot write '%s': %s", tmp, strerror(errno));
			goto out;
		}
		if (close(fd) < 0) {
			fd = -1;
			set_cause(cause, -1, "cannot write '%s': %s", tmp, strerror(errno));
			goto out;
		}
		fd = -1;
	}
	if (strcmp(hex, b->sha256) != 0) {
		set_cause(cause, -1, "'%s' changed since it was checked (sha256 %s, expected %s)", b->path, hex,
		    b->sha256);
		goto out;
	}
	if (rename(tmp, dest) < 0) {
		set_cause(cause, -1, "cannot rename '%s' to '%s': %s", tmp, dest, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	bundle_sync_parent(dest);
done:
	if (stored_path != NULL) {
		*stored_path = dest;
		dest = NULL;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dest);
	return rc;
}
