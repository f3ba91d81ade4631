/*
 * Unit tests for lib/delta: the plan (same path, renamed, changed, empty, big files), block matching
 * (in place, shifted, short last blocks), the recipe's quoting, the sums, the archive's determinism,
 * and the whole thing run for real: a base release unpacked with tar(1), the delta's recipe run by
 * sh(1), the result checked with sha256sum -c and compared with the new release byte for byte.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "../../lib/bundle.h"
#include "../../lib/delta.h"
#include "../../lib/manifest.h"
#include "../../lib/util.h"
#include "check.h"

static char tmpdir[64];

static const char *
sha_of(const char *s)
{
	static char hex[4][65];
	static int k;
	unsigned char md[32];
	unsigned int len = 0;

	k = (k + 1) % 4;
	EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex[k] + 2 * i, 3, "%02x", md[i]);
	return hex[k];
}

static struct manifest *
mk(const char *version, const char *const *files)   /* "path=content" ..., NULL; dirs added for "d/" */
{
	struct manifest *m = manifest_new("app", version);

	manifest_add(m, 'd', 0755, 0, NULL, "d", NULL);
	for (size_t i = 0; files[i] != NULL; i++) {
		char *path = xstrdup(files[i]), *eq = strchr(path, '=');
		uint64_t size = 0;

		*eq = '\0';
		if (strncmp(eq + 1, "BIG", 3) == 0)
			size = DELTA_BIG + 10;
		else
			size = strlen(eq + 1);
		manifest_add(m, 'f', 0644, size, sha_of(eq + 1), path, NULL);
		free(path);
	}
	manifest_sort(m);
	return m;
}

static const struct delta_file *
file_of(const struct delta_plan *p, const char *path)
{
	for (size_t i = 0; i < p->m->n; i++)
		if (strcmp(p->m->entries[i].path, path) == 0)
			return &p->files[i];
	return NULL;
}

static void
test_plan_classifies_files(void)
{
	static const char *const oldf[] = { "d/same=one", "d/old-name=moved", "d/changed=v1", "d/big=BIG1", NULL };
	static const char *const newf[] = { "d/same=one", "d/new-name=moved", "d/changed=v2", "d/empty=", "d/big=BIG2",
		"d/fresh=new", NULL };
	struct manifest *o = mk("1", oldf), *n = mk("2", newf);
	struct delta_base b[2] = { { "1-aaaaaaaaaaaa", o, NULL }, { "0-bbbbbbbbbbbb", o, "/nonexistent" } };
	struct delta_plan *p = delta_plan_new(n, b, 2);
	const struct delta_file *f;

	f = file_of(p, "d/same");
	CHECK(f != NULL && f->how == DELTA_REUSE && f->base == 0 && strcmp(f->src, "d/same") == 0);
	f = file_of(p, "d/new-name");
	CHECK(f != NULL && f->how == DELTA_REUSE && f->base == 0 && strcmp(f->src, "d/old-name") == 0);
	CHECK(file_of(p, "d/changed")->how == DELTA_SEND);
	CHECK(file_of(p, "d/empty")->how == DELTA_SEND);
	CHECK(file_of(p, "d/fresh")->how == DELTA_SEND);
	/* big: only the base with a bundle can give blocks */
	f = file_of(p, "d/big");
	CHECK(f != NULL && f->how == DELTA_BLOCKS && f->base == 1);
	CHECK(p->files_reused == 2);
	CHECK(delta_plan_useful(p));
	delta_plan_free(p);
	/* no base with a bundle: the big file is sent */
	b[1].bundle = NULL;
	p = delta_plan_new(n, b, 2);
	CHECK(file_of(p, "d/big")->how == DELTA_SEND);
	delta_plan_free(p);
	/* nothing in common: useless */
	p = delta_plan_new(o, b, 0);
	CHECK(!delta_plan_useful(p) && p->files_sent == 4);
	delta_plan_free(p);
	manifest_free(o);
	manifest_free(n);
}

static void
hashes(unsigned char (*h)[32], const char *letters)
{
	for (size_t i = 0; letters[i] != '\0'; i++) {
		memset(h[i], 0, 32);
		h[i][0] = (unsigned char)letters[i];
	}
}

static void
test_match_blocks_in_place_and_shifted(void)
{
	unsigned char o[8][32], n[8][32];
	struct delta_file f;
	uint64_t B = DELTA_BLOCK;

	memset(&f, 0, sizeof(f));
	hashes(o, "ABCD");
	hashes(n, "ABXD");
	CHECK(delta_match_blocks(&f, 4 * B, (const unsigned char (*)[32])n, 4, 4 * B, (const unsigned char (*)[32])o, 4) == 3);
	CHECK(f.nruns == 3);
	CHECK(f.runs[0].old_block == 0 && f.runs[0].off == 0 && f.runs[0].len == 2 * B);
	CHECK(f.runs[1].old_block < 0 && f.runs[1].off == 2 * B && f.runs[1].len == B);
	CHECK(f.runs[2].old_block == 3 && f.runs[2].len == B);
	/* inserted block in front: the old run is found shifted, one copy of three blocks */
	hashes(n, "XABC");
	CHECK(delta_match_blocks(&f, 4 * B, (const unsigned char (*)[32])n, 4, 4 * B, (const unsigned char (*)[32])o, 4) == 3);
	CHECK(f.nruns == 2 && f.runs[0].old_block < 0 && f.runs[1].old_block == 0 && f.runs[1].len == 3 * B);
	/* a short last block matches only a block of the same length */
	hashes(o, "AB");
	hashes(n, "AB");
	CHECK(delta_match_blocks(&f, B + 10, (const unsigned char (*)[32])n, 2, B + 20, (const unsigned char (*)[32])o, 2) == 1);
	CHECK(f.nruns == 2 && f.runs[1].old_block < 0 && f.runs[1].len == 10);
	CHECK(delta_match_blocks(&f, B + 10, (const unsigned char (*)[32])n, 2, B + 10, (const unsigned char (*)[32])o, 2) == 2);
	CHECK(f.nruns == 1 && f.runs[0].len == B + 10);
	free(f.runs);
}

static void
test_recipe_quotes_paths(void)
{
	static const char *const oldf[] = { "d/it's a $(file)=x", "d/-rf=y", NULL };
	static const char *const newf[] = { "d/it's a $(file)=x", "d/-rf=y", "d/renamed `x`=x", NULL };
	struct manifest *o = mk("1", oldf), *n = mk("2", newf);
	struct delta_base b = { "1-aaaaaaaaaaaa", o, NULL };
	struct delta_plan *p = delta_plan_new(n, &b, 1);
	char *r = delta_recipe(p), *text = manifest_format(n), *path = xasprintf("%s/m.txt", tmpdir), *cmd, *s = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "w");

	/* the terminal's check list, made from the manifest by delta_sums_sed */
	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	cmd = xasprintf("%s < '%s' > '%s.sums'", delta_sums_sed, path, path);
	CHECK(system(cmd) == 0);
	free(cmd);
	cmd = xasprintf("%s.sums", path);
	CHECK(read_file(cmd, 65536, &s, &len) == 0);
	free(cmd);
	free(path);
	free(text);
	if (s == NULL)
		s = xstrdup("");

	CHECK(strstr(r, "'releases/1-aaaaaaaaaaaa/d/it'\\''s a $(file)'") != NULL);
	CHECK(strstr(r, "'releases/1-aaaaaaaaaaaa/d/-rf'") != NULL);
	CHECK(strstr(r, "\"$D\"'/r/d/renamed `x`'") != NULL);
	CHECK(strstr(r, "cp -p -- ") != NULL);
	CHECK(strstr(s, "  r/d/renamed `x`\n") != NULL);
	CHECK(strstr(s, sha_of("y")) != NULL);
	CHECK(strstr(s, "\t") == NULL);
	{
		/* one line per file, nothing for the directory */
		size_t lines = 0;

		for (const char *c = s; *c != '\0'; c++)
			lines += *c == '\n';
		CHECK(lines == 3);
	}
	free(r);
	free(s);
	delta_plan_free(p);
	manifest_free(o);
	manifest_free(n);
}

static void
write_bytes(const char *path, size_t n, unsigned seed)
{
	FILE *f = fopen(path, "w");

	for (size_t i = 0; f != NULL && i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		fputc((int)(seed >> 16) & 0xff, f);
	}
	if (f != NULL)
		fclose(f);
}

static void
test_delta_runs_for_real(void)
{
	char *d1 = xasprintf("%s/v1", tmpdir), *d2 = xasprintf("%s/v2", tmpdir), *path, *cause = NULL;
	char *b1 = xasprintf("%s/v1.tar.gz", tmpdir), *b2 = xasprintf("%s/v2.tar.gz", tmpdir);
	char *o1 = xasprintf("%s/d1.delta", tmpdir), *o2 = xasprintf("%s/d2.delta", tmpdir);
	char sha1[65], sha2[65], *term = xasprintf("%s/term", tmpdir);
	struct bundle *x1 = NULL, *x2 = NULL;
	struct manifest *m1 = NULL, *m2 = NULL;
	struct delta_plan *p = NULL;
	struct delta_base base;
	uint64_t s1 = 0, s2 = 0;
	FILE *f;

	mkdir(d1, 0755);
	path = xasprintf("%s/sub", d1);
	mkdir(path, 0755);
	free(path);
	path = xasprintf("%s/sub/big", d1);
	write_bytes(path, 5 * 1024 * 1024 + 123, 7);
	free(path);
	path = xasprintf("%s/keep me", d1);
	write_bytes(path, 1000, 1);
	free(path);
	path = xasprintf("%s/old", d1);
	write_bytes(path, 500, 2);
	free(path);
	path = xasprintf("cp -a '%s' '%s'", d1, d2);
	CHECK(system(path) == 0);
	free(path);
	/* v2: one file renamed and made executable, one removed, 100 bytes changed in the big one */
	path = xasprintf("mv '%s/old' '%s/new'", d2, d2);
	CHECK(system(path) == 0);
	free(path);
	path = xasprintf("%s/new", d2);
	chmod(path, 0755);
	free(path);
	path = xasprintf("%s/keep me", d2);
	unlink(path);
	free(path);
	path = xasprintf("%s/sub/big", d2);
	f = fopen(path, "r+");
	CHECK(f != NULL);
	if (f != NULL) {
		fseek(f, 3 * 1024 * 1024, SEEK_SET);
		fputs("a hundred bytes of change.........................................................................", f);
		fclose(f);
	}
	free(path);
	CHECK(bundle_create(d1, "1", "app", "gzip", b1, &x1, &cause) == 0);
	CHECK(bundle_create(d2, "2", "app", "gzip", b2, &x2, &cause) == 0);
	if (x1 == NULL || x2 == NULL)
		goto out;
	CHECK(manifest_parse(x1->manifest_text, strlen(x1->manifest_text), &m1, &cause) == 0);
	CHECK(manifest_parse(x2->manifest_text, strlen(x2->manifest_text), &m2, &cause) == 0);
	if (m1 == NULL || m2 == NULL)
		goto out;
	base.id = x1->id;
	base.m = m1;
	base.bundle = b1;
	p = delta_plan_new(m2, &base, 1);
	CHECK(delta_plan_blocks(p, b2, &cause) == 0);
	CHECK(p->files_reused == 1 && p->files_blocks == 1 && p->blocks_sent == 1);
	CHECK(delta_write(p, b2, "gzip", o1, sha1, &s1, &cause) == 0);
	CHECK(delta_write(p, b2, "gzip", o2, sha2, &s2, &cause) == 0);
	CHECK(strcmp(sha1, sha2) == 0 && s1 == s2);
	CHECK(s1 < 200 * 1024);
	/* A terminal: the base unpacked as a release, the delta unpacked, the recipe run, the check. */
	path = xasprintf("mkdir -p '%s/releases/%s' '%s/D' && tar -xzf '%s' -C '%s/releases/%s' && tar -xzf '%s' -C '%s/D'",
	    term, x1->id, term, b1, term, x1->id, o1, term);
	CHECK(system(path) == 0);
	free(path);
	path = xasprintf("cd '%s' && D=D && df() { echo \"df: $*\"; exit 89; } && . ./D/x/recipe.sh && "
	    "cd D && %s < r/.fleetctl-manifest > x/sums && sha256sum -c --quiet x/sums && cd r && rm .fleetctl-manifest && "
	    "diff -r . '%s' && [ -x new ] && [ ! -e 'keep me' ]", term, delta_sums_sed, d2);
	CHECK(system(path) == 0);
	free(path);
	/* A damaged base makes the recipe or the check fail. */
	path = xasprintf("cd '%s' && rm -rf D && mkdir D && tar -xzf '%s' -C D && echo x >> 'releases/%s/old' && D=D && "
	    "df() { exit 89; } && . ./D/x/recipe.sh && cd D && %s < r/.fleetctl-manifest > x/sums && "
	    "sha256sum -c --quiet x/sums >/dev/null 2>&1", term, o1, x1->id, delta_sums_sed);
	CHECK(system(path) != 0);
	free(path);
out:
	if (cause != NULL)
		printf("# cause: %s\n", cause);
	delta_plan_free(p);
	manifest_free(m1);
	manifest_free(m2);
	bundle_free(x1);
	bundle_free(x2);
	free(cause);
	free(d1);
	free(d2);
	free(b1);
	free(b2);
	free(o1);
	free(o2);
	free(term);
}

static void
test_prune_keeps_recent_deltas(void)
{
	char *dir = xasprintf("%s/cache", tmpdir), *old = xasprintf("%s/old.delta", dir), *recent = xasprintf("%s/new.delta", dir);
	char *other = xasprintf("%s/old.txt", dir);
	struct utimbuf ut;
	struct stat st;

	mkdir(dir, 0755);
	write_bytes(old, 10, 1);
	write_bytes(recent, 10, 2);
	write_bytes(other, 10, 3);
	ut.actime = ut.modtime = time(NULL) - 20 * 24 * 3600;
	utime(old, &ut);
	utime(other, &ut);
	delta_prune(dir, 14L * 24 * 3600);
	CHECK(stat(old, &st) != 0);
	CHECK(stat(recent, &st) == 0);
	CHECK(stat(other, &st) == 0);
	free(dir);
	free(old);
	free(recent);
	free(other);
}

int
main(void)
{
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fleetctl-test-delta.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_plan_classifies_files);
	RUN(test_match_blocks_in_place_and_shifted);
	RUN(test_recipe_quotes_paths);
	RUN(test_delta_runs_for_real);
	RUN(test_prune_keeps_recent_deltas);
	{
		char *cmd = xasprintf("rm -rf '%s'", tmpdir);

		rc = system(cmd);
		(void)rc;
		free(cmd);
	}
	return check_failed_total ? 1 : 0;
}
