/*
 * Unit tests for lib/bundle: reproducible archives of real directory trees, the manifest against
 * sha256sum(1), every refused entry when building, hostile archives written here with libarchive's own
 * writer (each refused by bundle_open naming the entry), the local store, and tar(1) reading the result.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/bundle.h"
#include "../../lib/manifest.h"
#include "../../lib/util.h"
#include "check.h"

static char tmpdir[64];

static char *
tpath(const char *rel)
{
	return xasprintf("%s/%s", tmpdir, rel);
}

static void
put(const char *rel, const char *data, unsigned mode)
{
	char *p = tpath(rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, data, strlen(data)) == (ssize_t)strlen(data));
		close(fd);
	}
	CHECK(chmod(p, mode) == 0);
	free(p);
}

static void
mkd(const char *rel, unsigned mode)
{
	char *p = tpath(rel);

	CHECK(mkdir(p, mode) == 0);
	CHECK(chmod(p, mode) == 0);
	free(p);
}

static void
lnk(const char *target, const char *rel)
{
	char *p = tpath(rel);

	CHECK(symlink(target, p) == 0);
	free(p);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void
rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run argv, return its exit status; its stdout (first 4 KiB) into out if out != NULL. */
static int
run(char *const argv[], char *out, size_t outlen)
{
	int p[2], status = -1;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while (out != NULL && got + 1 < outlen && (n = read(p[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	if (out != NULL)
		out[got] = '\0';
	close(p[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The SHA-256 of a file according to sha256sum(1), not our code. */
static void
sha256sum(const char *path, char hex[65])
{
	char out[4096];
	char *argv[] = { (char *)"sha256sum", (char *)"--", (char *)path, NULL };

	hex[0] = '\0';
	if (run(argv, out, sizeof(out)) == 0 && strlen(out) >= 64)
		snprintf(hex, 65, "%.64s", out);
}

/* SHA-256 of a string with EVP directly (independent of lib/bundle). */
static void
sha_str(const char *s, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0, i;

	EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* A small but varied release: nested dirs, exec bits, symlinks, an empty file, a hard link, UTF-8
 * names, a name longer than ustar's 100 bytes. */
static void
make_tree(const char *top)
{
	char *rel;
	char longname[200];

	mkd(top, 0755);
	rel = xasprintf("%s/bin", top);
	mkd(rel, 0755);
	free(rel);
	rel = xasprintf("%s/bin/run", top);
	put(rel, "#!/bin/sh\necho hello\n", 0755);
	free(rel);
	rel = xasprintf("%s/bin/start", top);
	lnk("run", rel);
	free(rel);
	rel = xasprintf("%s/share", top);
	mkd(rel, 0750);
	free(rel);
	rel = xasprintf("%s/share/prices.csv", top);
	put(rel, "tea,1.20\ncoffee,1.80\n", 0644);
	free(rel);
	rel = xasprintf("%s/share/empty", top);
	put(rel, "", 0600);
	free(rel);
	rel = xasprintf("%s/share/caf\xc3\xa9.txt", top);
	put(rel, "caf\xc3\xa9\n", 0664);   /* group write is dropped */
	free(rel);
	memset(longname, 'n', sizeof(longname));
	longname[150] = '\0';
	rel = xasprintf("%s/share/%s", top, longname);
	put(rel, "long\n", 0644);
	free(rel);
	rel = xasprintf("%s/current-prices", top);
	lnk("share/../share/prices.csv", rel);
	free(rel);
	{
		char *a = xasprintf("%s/%s/share/prices.csv", tmpdir, top);
		char *b = xasprintf("%s/%s/prices-hardlink.csv", tmpdir, top);

		CHECK(link(a, b) == 0);
		free(a);
		free(b);
	}
}

static void
test_create_same_bytes_twice_and_after_touch(void)
{
	static const char *const algs[] = { "gzip", "zstd", "none" };
	struct bundle *b1 = NULL, *b2 = NULL, *b3 = NULL;
	struct timespec ts[2] = { { 1000000000, 0 }, { 1200000000, 0 } };
	char *dir = tpath("repro"), *o1, *o2, *o3, *cause = NULL, *f, h1[65], h2[65], h3[65];
	size_t i;

	make_tree("repro");
	for (i = 0; i < 3; i++) {
		o1 = xasprintf("%s/r1-%s", tmpdir, algs[i]);
		o2 = xasprintf("%s/r2-%s", tmpdir, algs[i]);
		o3 = xasprintf("%s/r3-%s", tmpdir, algs[i]);
		CHECK(bundle_create(dir, "1.4.2", "app", algs[i], o1, &b1, &cause) == 0);
		sleep(i == 0 ? 1 : 0);   /* a second later: gzip would embed a different time */
		CHECK(bundle_create(dir, "1.4.2", "app", algs[i], o2, &b2, &cause) == 0);
		/* new mtimes everywhere, a new group-write bit (dropped), new atime */
		f = xasprintf("%s/share/prices.csv", dir);
		CHECK(utimensat(AT_FDCWD, f, ts, 0) == 0);
		free(f);
		f = xasprintf("%s/bin", dir);
		CHECK(utimensat(AT_FDCWD, f, ts, 0) == 0);
		free(f);
		f = xasprintf("%s/bin/start", dir);
		CHECK(utimensat(AT_FDCWD, f, ts, AT_SYMLINK_NOFOLLOW) == 0);
		free(f);
		f = xasprintf("%s/bin/run", dir);
		CHECK(chmod(f, 0775) == 0);
		free(f);
		CHECK(bundle_create(dir, "1.4.2", "app", algs[i], o3, &b3, &cause) == 0);
		f = xasprintf("%s/bin/run", dir);
		CHECK(chmod(f, 0755) == 0);
		free(f);
		if (cause != NULL)
			printf("  %s\n", cause);
		sha256sum(o1, h1);
		sha256sum(o2, h2);
		sha256sum(o3, h3);
		CHECK(strlen(h1) == 64);
		CHECK_STR(h1, h2);
		CHECK_STR(h1, h3);
		if (b1 != NULL && b2 != NULL && b3 != NULL) {
			CHECK_STR(b1->sha256, h1);
			CHECK_STR(b2->sha256, h2);
			CHECK_STR(b1->compression, algs[i]);
			CHECK_STR(b1->manifest_text, b3->manifest_text);
		}
		bundle_free(b1);
		bundle_free(b2);
		bundle_free(b3);
		b1 = b2 = b3 = NULL;
		free(o1);
		free(o2);
		free(o3);
	}
	free(cause);
	free(dir);
}

/* Find the manifest line for path; returns a copy (caller frees) or NULL. */
static char *
manifest_line(const char *text, const char *path)
{
	const char *p = text, *nl, *tab;

	for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		tab = memrchr(p, '\t', (size_t)(nl - p));
		if (p[0] == 'l' && tab != NULL)   /* symlink lines end with the target */
			tab = memrchr(p, '\t', (size_t)(tab - p));
		if (tab != NULL && (size_t)(nl - tab - 1) >= strlen(path) &&
		    strncmp(tab + 1, path, strlen(path)) == 0 &&
		    (tab[1 + strlen(path)] == '\n' || tab[1 + strlen(path)] == '\t'))
			return xstrndup(p, (size_t)(nl - p));
	}
	return NULL;
}

static void
test_manifest_matches_sha256sum(void)
{
	static const char *const files[] = { "bin/run", "share/prices.csv", "share/empty", "share/caf\xc3\xa9.txt",
	    "prices-hardlink.csv" };
	struct bundle *b = NULL;
	char *dir = tpath("mf"), *out = tpath("mf.tar.gz"), *cause = NULL, *line, *want, *f, hex[65];
	struct stat st;
	size_t i;

	make_tree("mf");
	CHECK(bundle_create(dir, "2.0", "kiosk-app", NULL, out, &b, &cause) == 0);
	if (b == NULL) {
		printf("  %s\n", cause);
		goto out;
	}
	CHECK(strncmp(b->manifest_text, "fleetctl-manifest 1\ncomponent kiosk-app\nversion 2.0\n", 52) == 0);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		f = xasprintf("%s/%s", dir, files[i]);
		sha256sum(f, hex);
		CHECK(stat(f, &st) == 0);
		want = xasprintf("f\t%04o\t%lld\t%s\t%s", (unsigned)st.st_mode & 0755, (long long)st.st_size, hex,
		    files[i]);
		line = manifest_line(b->manifest_text, files[i]);
		CHECK_STR(line, want);
		free(line);
		free(want);
		free(f);
	}
	line = manifest_line(b->manifest_text, "share/caf\xc3\xa9.txt");
	CHECK(line != NULL && strncmp(line, "f\t0644\t", 7) == 0);   /* 0664 on disk */
	free(line);
	line = manifest_line(b->manifest_text, "share");
	CHECK_STR(line, "d\t0750\t0\t-\tshare");
	free(line);
	line = manifest_line(b->manifest_text, "bin/start");
	CHECK_STR(line, "l\t0777\t0\t-\tbin/start\trun");
	free(line);
	CHECK(b->nfiles == 6);
	if (b->payload_bytes != 21 + 2 * 21 + 0 + 6 + 5)
		printf("  payload_bytes %llu\n", (unsigned long long)b->payload_bytes);
	CHECK(b->payload_bytes == 21 + 2 * 21 + 0 + 6 + 5);
	sha256sum(out, hex);
	CHECK_STR(b->sha256, hex);
	CHECK(stat(out, &st) == 0 && (uint64_t)st.st_size == b->size);
	want = xasprintf("2.0-%.12s", hex);
	CHECK_STR(b->id, want);
	free(want);
out:
	bundle_free(b);
	free(cause);
	free(out);
	free(dir);
}

static void
test_open_round_trip_all_compressions(void)
{
	static const char *const algs[] = { "gzip", "zstd", "none" };
	struct bundle *b = NULL, *o = NULL;
	char *dir = tpath("rt"), *out, *cause = NULL;
	size_t i;

	make_tree("rt");
	for (i = 0; i < 3; i++) {
		out = xasprintf("%s/rt.%s", tmpdir, algs[i]);
		CHECK(bundle_create(dir, "3.1-rc.1", "firmware", algs[i], out, &b, &cause) == 0);
		CHECK(bundle_open(out, &o, &cause) == 0);
		if (cause != NULL)
			printf("  %s: %s\n", algs[i], cause);
		if (b != NULL && o != NULL) {
			CHECK_STR(o->sha256, b->sha256);
			CHECK_STR(o->id, b->id);
			CHECK_STR(o->compression, algs[i]);
			CHECK_STR(o->version, "3.1-rc.1");
			CHECK_STR(o->component, "firmware");
			CHECK_STR(o->manifest_text, b->manifest_text);
			CHECK(o->size == b->size);
			CHECK(o->nfiles == b->nfiles && o->payload_bytes == b->payload_bytes);
		}
		bundle_free(b);
		bundle_free(o);
		b = o = NULL;
		free(cause);
		cause = NULL;
		free(out);
	}
	free(cause);
	free(dir);
}

/* tar(1), as on a terminal, unpacks the archive to the same files and links. */
static void
test_system_tar_extracts_it(void)
{
	char *dir = tpath("tx"), *out = tpath("tx.tar.gz"), *dest = tpath("tx-out"), *cause = NULL, *f, *data = NULL;
	char *argv[] = { (char *)"tar", (char *)"-xzf", out, (char *)"-C", dest, NULL };
	char target[64];
	size_t len = 0;
	ssize_t tl;
	struct stat st;

	make_tree("tx");
	CHECK(bundle_create(dir, "1", "app", "gzip", out, NULL, &cause) == 0);
	CHECK(mkdir(dest, 0755) == 0);
	CHECK(run(argv, NULL, 0) == 0);
	f = xasprintf("%s/share/prices.csv", dest);
	CHECK(read_file(f, 1024, &data, &len) == 0 && len == 21 && memcmp(data, "tea,1.20\ncoffee,1.80\n", 21) == 0);
	free(f);
	f = xasprintf("%s/bin/run", dest);
	CHECK(stat(f, &st) == 0 && (st.st_mode & 0777) == 0755);
	free(f);
	f = xasprintf("%s/bin/start", dest);
	tl = readlink(f, target, sizeof(target) - 1);
	CHECK(tl == 3 && memcmp(target, "run", 3) == 0);
	free(f);
	f = xasprintf("%s/.fleetctl-manifest", dest);
	CHECK(stat(f, &st) == 0 && S_ISREG(st.st_mode));
	free(f);
	free(data);
	free(cause);
	free(dest);
	free(out);
	free(dir);
}

/* Build "dir" after setup() and expect a refusal naming `name`; nothing may be left behind. */
static void
expect_refused_build(const char *dir, const char *name)
{
	char *d = tpath(dir), *out = xasprintf("%s-out.tar.gz", d), *cause = NULL, *argv_ls;
	struct stat st;
	DIR *dh;
	struct dirent *de;
	int leftovers = 0;

	CHECK(bundle_create(d, "1", "app", NULL, out, NULL, &cause) != 0);
	if (cause == NULL || strstr(cause, name) == NULL)
		printf("  %s: cause '%s' does not name '%s'\n", dir, cause ? cause : "(null)", name);
	CHECK(cause != NULL && strstr(cause, name) != NULL);
	CHECK(stat(out, &st) < 0 && errno == ENOENT);
	argv_ls = xasprintf("%s-out.tar.gz.tmp", dir);
	dh = opendir(tmpdir);
	while (dh != NULL && (de = readdir(dh)) != NULL)
		if (strncmp(de->d_name, argv_ls, strlen(argv_ls)) == 0)
			leftovers++;
	if (dh != NULL)
		closedir(dh);
	CHECK(leftovers == 0);
	free(argv_ls);
	free(cause);
	free(out);
	free(d);
}

static void
test_build_refuses_absolute_symlink(void)
{
	mkd("b-abs", 0755);
	mkd("b-abs/etc", 0755);
	lnk("/etc/passwd", "b-abs/etc/passwd");
	expect_refused_build("b-abs", "'etc/passwd' -> '/etc/passwd'");
}

static void
test_build_refuses_escaping_symlink(void)
{
	mkd("b-esc", 0755);
	mkd("b-esc/a", 0755);
	lnk("../../outside", "b-esc/a/l");
	expect_refused_build("b-esc", "symlink 'a/l' -> '../../outside'");
}

static void
test_build_refuses_escape_through_symlink_chain(void)
{
	mkd("b-chain", 0755);
	lnk(".", "b-chain/up");
	lnk("up/../secret", "b-chain/esc");   /* lexically inside, really the parent of the release */
	expect_refused_build("b-chain", "symlink 'esc' -> 'up/../secret'");
}

static void
test_build_refuses_fifo(void)
{
	char *p;

	mkd("b-fifo", 0755);
	p = tpath("b-fifo/pipe");
	CHECK(mkfifo(p, 0644) == 0);
	free(p);
	expect_refused_build("b-fifo", "'pipe': is a FIFO");
}

static void
test_build_refuses_socket(void)
{
	struct sockaddr_un sa;
	char *p;
	int s;

	mkd("b-sock", 0755);
	p = tpath("b-sock/sock");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	CHECK(strlen(p) < sizeof(sa.sun_path));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	expect_refused_build("b-sock", "'sock': is a socket");
	if (s >= 0)
		close(s);
	free(p);
}

static void
test_build_refuses_devices(void)
{
	char *p;

	mkd("b-dev", 0755);
	p = tpath("b-dev/null");
	/* needs root (CAP_MKNOD): the test fails, not skips, without it */
	CHECK(mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0);
	free(p);
	expect_refused_build("b-dev", "'null': is a character device");
	p = tpath("b-dev/null");
	unlink(p);
	free(p);
	p = tpath("b-dev/loop");
	CHECK(mknod(p, S_IFBLK | 0600, makedev(7, 0)) == 0);
	free(p);
	expect_refused_build("b-dev", "'loop': is a block device");
}

static void
test_build_refuses_toplevel_manifest(void)
{
	mkd("b-mf", 0755);
	put("b-mf/.fleetctl-manifest", "x\n", 0644);
	expect_refused_build("b-mf", "'.fleetctl-manifest' is reserved");
}

static void
test_build_allows_nested_manifest_name(void)
{
	char *d, *out, *cause = NULL;

	mkd("b-mf2", 0755);
	mkd("b-mf2/sub", 0755);
	put("b-mf2/sub/.fleetctl-manifest", "x\n", 0644);
	d = tpath("b-mf2");
	out = tpath("b-mf2.tar");
	CHECK(bundle_create(d, "1", "app", "none", out, NULL, &cause) == 0);
	CHECK(bundle_open(out, NULL, &cause) == 0);
	free(cause);
	free(out);
	free(d);
}

static void
test_build_refuses_control_characters_in_names(void)
{
	mkd("b-nl", 0755);
	put("b-nl/a\nb", "x", 0644);
	expect_refused_build("b-nl", "'a\\x0ab': control character");
	mkd("b-tab", 0755);
	mkd("b-tab/d", 0755);
	put("b-tab/d/a\tb", "x", 0644);
	expect_refused_build("b-tab", "'d/a\\x09b'");
	mkd("b-esc2", 0755);
	put("b-esc2/\x1b[2J", "x", 0644);
	expect_refused_build("b-esc2", "'\\x1b[2J'");
	mkd("b-utf", 0755);
	put("b-utf/bad\xff", "x", 0644);
	expect_refused_build("b-utf", "'bad\\xff'");
}

static void
test_build_rejects_bad_arguments(void)
{
	char *d = tpath("repro"), *out = tpath("args.tar.gz"), *cause = NULL;

	CHECK(bundle_create(d, "", "app", NULL, out, NULL, &cause) != 0);
	free(cause);
	cause = NULL;
	CHECK(bundle_create(d, "1;reboot", "app", NULL, out, NULL, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "invalid version") != NULL);
	free(cause);
	cause = NULL;
	CHECK(bundle_create(d, "1", "App", NULL, out, NULL, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "invalid component") != NULL);
	free(cause);
	cause = NULL;
	CHECK(bundle_create(d, "1", "app", "bzip2", out, NULL, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "bzip2") != NULL);
	free(cause);
	cause = NULL;
	free(out);
	free(d);
	d = tpath("does-not-exist");
	out = tpath("nothing.tar.gz");
	CHECK(bundle_create(d, "1", "app", NULL, out, NULL, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "does-not-exist") != NULL);
	free(cause);
	free(out);
	free(d);
}

/* A big file goes through in chunks: peak memory grows far less than the file. */
static void
test_big_file_streams_with_bounded_memory(void)
{
	struct rusage before, after;
	struct bundle *b = NULL, *o = NULL;
	char *d, *f, *out, *cause = NULL;
	const off_t big = 200LL * 1024 * 1024;
	int fd;

	mkd("big", 0755);
	f = tpath("big/blob");
	fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && ftruncate(fd, big) == 0);   /* sparse: 200 MB of zeros, no disk */
	CHECK(pwrite(fd, "end", 3, big - 3) == 3);
	close(fd);
	d = tpath("big");
	out = tpath("big.tar.zst");
	getrusage(RUSAGE_SELF, &before);
	CHECK(bundle_create(d, "1", "app", "zstd", out, &b, &cause) == 0);
	CHECK(bundle_open(out, &o, &cause) == 0);
	getrusage(RUSAGE_SELF, &after);
	CHECK(b != NULL && b->payload_bytes == (uint64_t)big);
	CHECK(o != NULL && b != NULL && strcmp(o->sha256, b->sha256) == 0);
	/* ru_maxrss is in KiB; reading the file whole would add 200 MiB */
	if (after.ru_maxrss - before.ru_maxrss >= 64 * 1024)
		printf("  peak rss grew by %ld KiB\n", after.ru_maxrss - before.ru_maxrss);
	CHECK(after.ru_maxrss - before.ru_maxrss < 64 * 1024);
	unlink(f);
	unlink(out);
	bundle_free(b);
	bundle_free(o);
	free(cause);
	free(out);
	free(d);
	free(f);
}

/* ---- hostile archives, written here with libarchive's writer ---- */

struct tentry {
	const char *name;
	unsigned type;        /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR; 0 ends a list */
	unsigned mode;
	const char *data;     /* regular files */
	const char *target;   /* symlinks */
	const char *hardlink; /* hard link entries */
	int uid;
};

/* Write an archive: the manifest text first (if not NULL), then the entries.  0 on success. */
static int
write_archive(const char *path, int gzip, const char *manifest, const struct tentry *e)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	int rc = -1;

	archive_write_set_format_pax_restricted(a);
	if (gzip)
		archive_write_add_filter_gzip(a);
	else
		archive_write_add_filter_none(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		goto out;
	if (manifest != NULL) {
		archive_entry_set_pathname(ae, ".fleetctl-manifest");
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_size(ae, (la_int64_t)strlen(manifest));
		if (archive_write_header(a, ae) != ARCHIVE_OK ||
		    archive_write_data(a, manifest, strlen(manifest)) != (la_ssize_t)strlen(manifest))
			goto out;
	}
	for (; e != NULL && e->type != 0; e++) {
		archive_entry_clear(ae);
		archive_entry_set_pathname(ae, e->name);
		archive_entry_set_filetype(ae, e->type);
		archive_entry_set_perm(ae, e->mode & 0777);
		archive_entry_set_mode(ae, e->type | e->mode);
		archive_entry_set_uid(ae, e->uid);
		if (e->type == AE_IFCHR)
			archive_entry_set_rdev(ae, makedev(1, 3));
		if (e->target != NULL)
			archive_entry_set_symlink(ae, e->target);
		if (e->hardlink != NULL) {
			archive_entry_set_hardlink(ae, e->hardlink);
			archive_entry_set_size(ae, 0);
		} else
			archive_entry_set_size(ae, e->data != NULL ? (la_int64_t)strlen(e->data) : 0);
		if (archive_write_header(a, ae) != ARCHIVE_OK)
			goto out;
		if (e->data != NULL && e->hardlink == NULL &&
		    archive_write_data(a, e->data, strlen(e->data)) != (la_ssize_t)strlen(e->data))
			goto out;
	}
	if (archive_write_close(a) == ARCHIVE_OK)
		rc = 0;
out:
	archive_entry_free(ae);
	archive_write_free(a);
	return rc;
}

/* A manifest listing the given entries, in the order given (the caller sorts). */
static char *
manifest_for(const struct tentry *e)
{
	struct buf b;
	char hex[65];

	buf_init(&b, 0);
	buf_adds(&b, "fleetctl-manifest 1\ncomponent app\nversion 1\n");
	for (; e != NULL && e->type != 0; e++) {
		if (e->type == AE_IFDIR)
			buf_addf(&b, "d\t%04o\t0\t-\t%s\n", e->mode, e->name);
		else if (e->type == AE_IFLNK)
			buf_addf(&b, "l\t0777\t0\t-\t%s\t%s\n", e->name, e->target);
		else {
			sha_str(e->data != NULL ? e->data : "", e->data != NULL ? strlen(e->data) : 0, hex);
			buf_addf(&b, "f\t%04o\t%zu\t%s\t%s\n", e->mode, e->data != NULL ? strlen(e->data) : 0, hex,
			    e->name);
		}
	}
	return buf_detach(&b);
}

static const struct tentry good_entries[] = {
	{ "bin", AE_IFDIR, 0755, NULL, NULL, NULL, 0 },
	{ "bin/run", AE_IFREG, 0755, "#!/bin/sh\n", NULL, NULL, 0 },
	{ "readme", AE_IFREG, 0644, "hello\n", NULL, NULL, 0 },
	{ NULL, 0, 0, NULL, NULL, NULL, 0 }
};

static int hostile_n;

/* Write manifest + entries, open, expect a refusal whose message contains `needle`. */
static void
expect_refused_archive(const char *manifest, const struct tentry *e, const char *needle)
{
	char *path = xasprintf("%s/hostile-%d.tar.gz", tmpdir, hostile_n++), *cause = NULL;
	struct bundle *b = NULL;
	size_t i;

	CHECK(write_archive(path, 1, manifest, e) == 0);
	CHECK(bundle_open(path, &b, &cause) != 0);
	CHECK(b == NULL);
	bundle_free(b);
	if (cause == NULL || strstr(cause, needle) == NULL)
		printf("  cause '%s' does not contain '%s'\n", cause ? cause : "(null)", needle);
	CHECK(cause != NULL && strstr(cause, needle) != NULL);
	for (i = 0; cause != NULL && cause[i] != '\0'; i++)
		CHECK((unsigned char)cause[i] >= 0x20 && cause[i] != 0x7f);
	free(cause);
	free(path);
}

static void
test_open_accepts_good_handmade_archive(void)
{
	char *m = manifest_for(good_entries), *path = tpath("handmade.tar.gz"), *cause = NULL;
	struct bundle *b = NULL;

	CHECK(write_archive(path, 1, m, good_entries) == 0);
	CHECK(bundle_open(path, &b, &cause) == 0);
	if (cause != NULL)
		printf("  %s\n", cause);
	CHECK(b != NULL && b->nfiles == 2 && strcmp(b->compression, "gzip") == 0);
	bundle_free(b);
	free(cause);
	free(path);
	free(m);
}

/* Good entries plus one extra, with a manifest that lists only the good ones. */
static void
refuse_extra(const struct tentry *extra, const char *needle)
{
	struct tentry all[8];
	char *m = manifest_for(good_entries);
	size_t n = 0, i;

	for (i = 0; good_entries[i].type != 0; i++)
		all[n++] = good_entries[i];
	for (i = 0; extra[i].type != 0; i++)
		all[n++] = extra[i];
	all[n].type = 0;
	expect_refused_archive(m, all, needle);
	free(m);
}

static void
test_open_refuses_dotdot_entry(void)
{
	const struct tentry e[] = { { "../evil", AE_IFREG, 0644, "x", NULL, NULL, 0 }, { 0 } };

	refuse_extra(e, "'../evil': '..' path component");
	/* and when the manifest lists it too */
	expect_refused_archive("fleetctl-manifest 1\ncomponent app\nversion 1\n"
	    "f\t0644\t1\t2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\t../evil\n", e,
	    "'../evil'");
}

static void
test_open_refuses_absolute_entry(void)
{
	const struct tentry e[] = { { "/etc/evil", AE_IFREG, 0644, "x", NULL, NULL, 0 }, { 0 } };

	refuse_extra(e, "'/etc/evil': absolute path");
}

static void
test_open_refuses_inner_dotdot_entry(void)
{
	const struct tentry e[] = { { "bin/../../evil", AE_IFREG, 0644, "x", NULL, NULL, 0 }, { 0 } };

	refuse_extra(e, "'bin/../../evil'");
}

static void
test_open_refuses_absolute_symlink(void)
{
	const struct tentry e[] = {
		{ "bin", AE_IFDIR, 0755, NULL, NULL, NULL, 0 },
		{ "x", AE_IFLNK, 0777, NULL, "/etc", NULL, 0 },
		{ 0 }
	};
	char *m = manifest_for(e);

	expect_refused_archive(m, e, "'x' -> '/etc': absolute symlink target");
	free(m);
	refuse_extra(e + 1, "'x': not listed in the manifest");
}

static void
test_open_refuses_escaping_symlink(void)
{
	const struct tentry e[] = {
		{ "bin", AE_IFDIR, 0755, NULL, NULL, NULL, 0 },
		{ "bin/x", AE_IFLNK, 0777, NULL, "../../etc", NULL, 0 },
		{ 0 }
	};
	char *m = manifest_for(e);

	expect_refused_archive(m, e, "symlink 'bin/x' -> '../../etc' points outside the release");
	free(m);
}

static void
test_open_refuses_file_through_symlink(void)
{
	const struct tentry e[] = {
		{ "bin", AE_IFDIR, 0755, NULL, NULL, NULL, 0 },
		{ "x", AE_IFLNK, 0777, NULL, "bin", NULL, 0 },
		{ "x/y", AE_IFREG, 0644, "y", NULL, NULL, 0 },
		{ 0 }
	};
	const struct tentry as_dir[] = {
		{ "bin", AE_IFDIR, 0755, NULL, NULL, NULL, 0 },
		{ "x", AE_IFDIR, 0755, NULL, NULL, NULL, 0 },
		{ "x/y", AE_IFREG, 0644, "y", NULL, NULL, 0 },
		{ 0 }
	};
	char *m = manifest_for(e);

	/* the manifest says so: refused by the manifest check */
	expect_refused_archive(m, e, "'x/y': parent is not a directory");
	free(m);
	/* the manifest says x is a directory, the archive makes it a symlink */
	m = manifest_for(as_dir);
	expect_refused_archive(m, e, "'x': type differs from the manifest");
	free(m);
}

static void
test_open_refuses_hard_link(void)
{
	const struct tentry e[] = { { "passwd", AE_IFREG, 0644, NULL, NULL, "/etc/passwd", 0 }, { 0 } };
	const struct tentry inside[] = { { "run2", AE_IFREG, 0755, NULL, NULL, "bin/run", 0 }, { 0 } };

	refuse_extra(e, "'passwd': hard link to '/etc/passwd' refused");
	refuse_extra(inside, "'run2': hard link to 'bin/run' refused");
}

static void
test_open_refuses_char_device(void)
{
	const struct tentry e[] = { { "null", AE_IFCHR, 0666, NULL, NULL, NULL, 0 }, { 0 } };

	refuse_extra(e, "'null': is a character device");
}

static void
test_open_refuses_entry_not_in_manifest(void)
{
	const struct tentry e[] = { { "extra.txt", AE_IFREG, 0644, "surprise", NULL, NULL, 0 }, { 0 } };

	refuse_extra(e, "'extra.txt': not listed in the manifest");
}

static void
test_open_refuses_hash_mismatch(void)
{
	struct tentry e[4];
	char *m = manifest_for(good_entries);

	memcpy(e, good_entries, sizeof(e));
	e[2].data = "HELLO\n";   /* same size, other bytes */
	expect_refused_archive(m, e, "'readme': sha256 differs from the manifest");
	e[2].data = "hello world\n";
	expect_refused_archive(m, e, "'readme': size differs from the manifest");
	free(m);
}

static void
test_open_refuses_mode_and_owner_changes(void)
{
	struct tentry e[4];
	char *m = manifest_for(good_entries);

	memcpy(e, good_entries, sizeof(e));
	e[1].mode = 04755;   /* setuid */
	expect_refused_archive(m, e, "'bin/run': mode differs");
	memcpy(e, good_entries, sizeof(e));
	e[2].uid = 1000;
	expect_refused_archive(m, e, "'readme': owner is not root");
	free(m);
}

static void
test_open_refuses_duplicate_entry(void)
{
	const struct tentry e[] = { { "readme", AE_IFREG, 0644, "hello\n", NULL, NULL, 0 }, { 0 } };

	refuse_extra(e, "'readme': duplicate entry");
}

static void
test_open_refuses_missing_entry(void)
{
	char *m = manifest_for(good_entries);
	struct tentry e[4];

	memcpy(e, good_entries, sizeof(e));
	e[2].type = 0;   /* drop readme */
	expect_refused_archive(m, e, "'readme': listed in the manifest but missing from the archive");
	free(m);
}

static void
test_open_refuses_missing_or_late_manifest(void)
{
	char *m = manifest_for(good_entries);
	struct tentry e[5];

	expect_refused_archive(NULL, good_entries, "first entry is 'bin");
	/* the manifest second: refused too (it must come first) */
	e[0] = good_entries[0];
	e[1] = (struct tentry){ ".fleetctl-manifest", AE_IFREG, 0644, m, NULL, NULL, 0 };
	e[2] = good_entries[1];
	e[3] = good_entries[2];
	e[4].type = 0;
	expect_refused_archive(NULL, e, "not the manifest");
	free(m);
}

static void
test_open_refuses_control_characters(void)
{
	const struct tentry e[] = { { "\x1b]0;owned\x07", AE_IFREG, 0644, "x", NULL, NULL, 0 }, { 0 } };

	refuse_extra(e, "'\\x1b]0;owned\\x07': control character");
}

static void
test_open_refuses_truncated_archive(void)
{
	struct tentry e[5];
	char *m, *path, *cause = NULL, *data = NULL, *noise = xmalloc(600001);
	uint32_t x = 12345;
	size_t len = 0, cut, i;
	int gz;

	/* incompressible data, so that half of the gzip file ends inside it */
	for (i = 0; i < 600000; i++) {
		x = x * 1103515245u + 12345u;
		noise[i] = (char)('a' + (x >> 16) % 26);
	}
	noise[600000] = '\0';
	e[0] = (struct tentry){ "big", AE_IFREG, 0644, noise, NULL, NULL, 0 };
	memcpy(e + 1, good_entries, sizeof(good_entries));   /* bin, bin/run, readme, end */
	m = manifest_for(e);
	for (gz = 0; gz < 2; gz++) {
		path = xasprintf("%s/trunc-%d", tmpdir, gz);
		CHECK(write_archive(path, gz, m, e) == 0);
		CHECK(bundle_open(path, NULL, &cause) == 0);   /* whole: fine */
		CHECK(read_file(path, 4 << 20, &data, &len) == 0);
		cut = len / 2;
		CHECK(write_file_atomic(path, data, cut, 0644) == 0);
		CHECK(bundle_open(path, NULL, &cause) != 0);
		if (cause == NULL || strstr(cause, "'big': corrupt or truncated archive") == NULL)
			printf("  truncated %s: %s\n", gz ? "gzip" : "tar", cause != NULL ? cause : "(null)");
		CHECK(cause != NULL && strstr(cause, "'big': corrupt or truncated archive") != NULL);
		free(cause);
		cause = NULL;
		free(data);
		data = NULL;
		free(path);
	}
	free(noise);
	free(m);
}

static void
test_open_refuses_other_formats(void)
{
	char *path = tpath("notatar.tar.gz"), *cause = NULL;
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	char *m = manifest_for(good_entries);

	/* a bzip2-compressed bundle with the right content: refused for the filter */
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_bzip2(a);
	CHECK(archive_write_open_filename(a, path) == ARCHIVE_OK);
	archive_entry_set_pathname(ae, ".fleetctl-manifest");
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_size(ae, (la_int64_t)strlen(m));
	CHECK(archive_write_header(a, ae) == ARCHIVE_OK);
	CHECK(archive_write_data(a, m, strlen(m)) == (la_ssize_t)strlen(m));
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(ae);
	CHECK(bundle_open(path, NULL, &cause) != 0);
	/* only the gzip and zstd decoders are registered: nothing else is even decompressed */
	CHECK(cause != NULL && strstr(cause, "not a tar archive") != NULL);
	free(cause);
	cause = NULL;
	CHECK(write_file_atomic(path, "hello, not an archive\n", 22, 0644) == 0);
	CHECK(bundle_open(path, NULL, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "notatar.tar.gz") != NULL);
	free(cause);
	free(m);
	free(path);
}

/* ---- the store ---- */

static void
test_store_put_and_find(void)
{
	static const char *const algs[] = { "gzip", "zstd", "none" };
	static const char *const exts[] = { ".tar.gz", ".tar.zst", ".tar" };
	struct bundle *b = NULL;
	char *dir = tpath("repro"), *store = tpath("store"), *out, *stored = NULL, *found = NULL, *cause = NULL;
	char *want, hex[65];
	struct stat st1, st2;
	size_t i;

	for (i = 0; i < 3; i++) {
		out = xasprintf("%s/store-src-%s", tmpdir, algs[i]);
		CHECK(bundle_create(dir, "9", "app", algs[i], out, &b, &cause) == 0);
		if (b == NULL)
			break;
		CHECK(bundle_store_put(store, b, &stored, &cause) == 0);
		want = xasprintf("%s/%s%s", store, b->sha256, exts[i]);
		CHECK_STR(stored, want);
		sha256sum(stored != NULL ? stored : "/nonexistent", hex);
		CHECK_STR(hex, b->sha256);
		CHECK(bundle_store_path(store, b->sha256, &found) == 0);
		CHECK_STR(found, want);
		/* same filesystem: a hard link */
		CHECK(stat(out, &st1) == 0 && stat(want, &st2) == 0 && st1.st_ino == st2.st_ino);
		/* again: kept, fine */
		free(stored);
		stored = NULL;
		CHECK(bundle_store_put(store, b, &stored, &cause) == 0);
		CHECK_STR(stored, want);
		free(want);
		free(found);
		found = NULL;
		free(stored);
		stored = NULL;
		bundle_free(b);
		b = NULL;
		free(out);
	}
	CHECK(bundle_store_path(store, "0000000000000000000000000000000000000000000000000000000000000000", &found) != 0);
	CHECK(found == NULL);
	CHECK(bundle_store_path(store, "../../etc/passwd", &found) != 0);
	if (cause != NULL)
		printf("  %s\n", cause);
	free(cause);
	free(store);
	free(dir);
}

static void
test_store_copies_across_filesystems_and_repairs(void)
{
	struct bundle *b = NULL;
	char store[] = "/dev/shm/fleetctl-store.XXXXXX";
	char *dir = tpath("repro"), *out = tpath("xfs.tar.gz"), *stored = NULL, *cause = NULL, hex[65];
	struct stat st1, st2;

	CHECK(mkdtemp(store) != NULL);
	CHECK(bundle_create(dir, "10", "app", NULL, out, &b, &cause) == 0);
	if (b == NULL)
		goto out;
	CHECK(bundle_store_put(store, b, &stored, &cause) == 0);
	CHECK(stored != NULL && stat(out, &st1) == 0 && stat(stored, &st2) == 0 && st1.st_dev != st2.st_dev);
	sha256sum(stored != NULL ? stored : "/nonexistent", hex);
	CHECK_STR(hex, b->sha256);
	/* a damaged stored copy is replaced */
	CHECK(stored != NULL && write_file_atomic(stored, "junk", 4, 0644) == 0);
	CHECK(bundle_store_put(store, b, NULL, &cause) == 0);
	sha256sum(stored != NULL ? stored : "/nonexistent", hex);
	CHECK_STR(hex, b->sha256);
	/* the source changed after it was checked: refused, nothing stored */
	CHECK(write_file_atomic(out, "changed", 7, 0644) == 0);
	CHECK(unlink(stored) == 0);
	CHECK(bundle_store_put(store, b, NULL, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "changed since it was checked") != NULL);
	CHECK(stat(stored, &st2) < 0);
out:
	rm_rf(store);
	bundle_free(b);
	free(stored);
	free(cause);
	free(out);
	free(dir);
}

static void
test_sha256_file_matches_sha256sum(void)
{
	char *p = tpath("hashme"), hex[65], want[65], *cause = NULL;

	put("hashme", "The quick brown fox jumps over the lazy dog", 0644);
	CHECK(sha256_file(p, hex, &cause) == 0);
	sha256sum(p, want);
	CHECK_STR(hex, want);
	CHECK_STR(hex, "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592");
	free(p);
	p = tpath("no-such-file");
	CHECK(sha256_file(p, hex, &cause) != 0);
	CHECK(cause != NULL && strstr(cause, "no-such-file") != NULL);
	free(cause);
	free(p);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);   /* PASS/FAIL lines survive a sanitizer abort */
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fleetctl-test-bundle.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_create_same_bytes_twice_and_after_touch);
	RUN(test_manifest_matches_sha256sum);
	RUN(test_open_round_trip_all_compressions);
	RUN(test_system_tar_extracts_it);
	RUN(test_build_refuses_absolute_symlink);
	RUN(test_build_refuses_escaping_symlink);
	RUN(test_build_refuses_escape_through_symlink_chain);
	RUN(test_build_refuses_fifo);
	RUN(test_build_refuses_socket);
	RUN(test_build_refuses_devices);
	RUN(test_build_refuses_toplevel_manifest);
	RUN(test_build_allows_nested_manifest_name);
	RUN(test_build_refuses_control_characters_in_names);
	RUN(test_build_rejects_bad_arguments);
	RUN(test_big_file_streams_with_bounded_memory);
	RUN(test_open_accepts_good_handmade_archive);
	RUN(test_open_refuses_dotdot_entry);
	RUN(test_open_refuses_absolute_entry);
	RUN(test_open_refuses_inner_dotdot_entry);
	RUN(test_open_refuses_absolute_symlink);
	RUN(test_open_refuses_escaping_symlink);
	RUN(test_open_refuses_file_through_symlink);
	RUN(test_open_refuses_hard_link);
	RUN(test_open_refuses_char_device);
	RUN(test_open_refuses_entry_not_in_manifest);
	RUN(test_open_refuses_hash_mismatch);
	RUN(test_open_refuses_mode_and_owner_changes);
	RUN(test_open_refuses_duplicate_entry);
	RUN(test_open_refuses_missing_entry);
	RUN(test_open_refuses_missing_or_late_manifest);
	RUN(test_open_refuses_control_characters);
	RUN(test_open_refuses_truncated_archive);
	RUN(test_open_refuses_other_formats);
	RUN(test_store_put_and_find);
	RUN(test_store_copies_across_filesystems_and_repairs);
	RUN(test_sha256_file_matches_sha256sum);
	rm_rf(tmpdir);
	return CHECK_DONE();
}
