/* delta: plan, recipe and archive for sending a terminal only what it lacks (see delta.h). */
#include "delta.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <openssl/evp.h>

#include "bundle.h"
#include "shquote.h"
#include "util.h"

#define DELTA_BATCH 100          /* paths per cp or chmod line */
#define DELTA_FORMAT "fleetctl-delta 1"

/* The entry of m at path (m is sorted by path), or NULL. */
static const struct manifest_entry *
delta_find(const struct manifest *m, const char *path)
{
	long i = manifest_find(m, path);

	return i >= 0 ? &m->entries[i] : NULL;
}

/* Every file of every base, sorted by SHA-256 then base order: the first hit is the preferred one. */
struct delta_have {
	const char *sha;
	size_t base;
	const struct manifest_entry *e;
};

static int
delta_have_cmp(const void *a, const void *b)
{
	const struct delta_have *x = a, *y = b;
	int c = strcmp(x->sha, y->sha);

	if (c != 0)
		return c;
	if (x->base != y->base)
		return x->base < y->base ? -1 : 1;
	return strcmp(x->e->path, y->e->path);
}

static const struct delta_have *
delta_have_find(const struct delta_have *v, size_t n, const char *sha)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].sha, sha) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcmp(v[lo].sha, sha) == 0 ? &v[lo] : NULL;
}

static void
delta_count(struct delta_plan *p)
{
	p->files_reused = p->files_sent = p->files_blocks = 0;
	p->bytes_reused = p->bytes_sent = p->blocks_reused = p->blocks_sent = 0;
	for (size_t i = 0; i < p->m->n; i++) {
		const struct manifest_entry *e = &p->m->entries[i];
		const struct delta_file *f = &p->files[i];

		if (e->type != MANIFEST_FILE)
			continue;
		if (f->how == DELTA_REUSE) {
			p->files_reused++;
			p->bytes_reused += e->size;
		} else if (f->how == DELTA_BLOCKS && f->nruns > 0) {
			p->files_blocks++;
			for (size_t r = 0; r < f->nruns; r++) {
				uint64_t nb = (f->runs[r].len + DELTA_BLOCK - 1) / DELTA_BLOCK;

				if (f->runs[r].old_block >= 0) {
					p->bytes_reused += f->runs[r].len;
					p->blocks_reused += nb;
				} else {
					p->bytes_sent += f->runs[r].len;
					p->blocks_sent += nb;
				}
			}
		} else {
			p->files_sent++;
			p->bytes_sent += e->size;
		}
	}
}

struct delta_plan *
delta_plan_new(const struct manifest *m, const struct delta_base *bases, size_t nbases)
{
	struct delta_plan *p = xcalloc(1, sizeof(*p));
	struct delta_have *have = NULL;
	size_t nhave = 0, cap = 0;

	p->m = m;
	p->bases = bases;
	p->nbases = nbases;
	p->files = xcalloc(m->n ? m->n : 1, sizeof(*p->files));
	for (size_t k = 0; k < nbases; k++)
		for (size_t i = 0; i < bases[k].m->n; i++) {
			const struct manifest_entry *e = &bases[k].m->entries[i];

			if (e->type != MANIFEST_FILE || e->size == 0)
				continue;
			if (nhave == cap) {
				cap = cap ? 2 * cap : 256;
				have = xrealloc(have, cap * sizeof(*have));
			}
			have[nhave].sha = e->sha256;
			have[nhave].base = k;
			have[nhave].e = e;
			nhave++;
		}
	if (nhave > 0)
		qsort(have, nhave, sizeof(*have), delta_have_cmp);

	for (size_t i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];
		struct delta_file *f = &p->files[i];
		const struct delta_have *h;

		f->how = DELTA_SEND;
		if (e->type != MANIFEST_FILE || e->size == 0)
			continue;
		/* The same path with the same bytes first (keeps cp batches per directory), then any path. */
		for (size_t k = 0; k < nbases && f->how == DELTA_SEND; k++) {
			const struct manifest_entry *o = delta_find(bases[k].m, e->path);

			if (o != NULL && o->type == MANIFEST_FILE && strcmp(o->sha256, e->sha256) == 0) {
				f->how = DELTA_REUSE;
				f->base = k;
				f->src = o->path;
				f->src_mode = o->mode;
			}
		}
		if (f->how == DELTA_SEND && (h = delta_have_find(have, nhave, e->sha256)) != NULL) {
			f->how = DELTA_REUSE;
			f->base = h->base;
			f->src = h->e->path;
			f->src_mode = h->e->mode;
		}
		if (f->how != DELTA_SEND || e->size < DELTA_BIG)
			continue;
		for (size_t k = 0; k < nbases; k++) {
			const struct manifest_entry *o = delta_find(bases[k].m, e->path);

			if (bases[k].bundle != NULL && o != NULL && o->type == MANIFEST_FILE && o->size >= DELTA_BLOCK) {
				f->how = DELTA_BLOCKS;
				f->base = k;
				f->src = o->path;
				f->src_mode = o->mode;
				break;
			}
		}
	}
	free(have);
	delta_count(p);
	return p;
}

void
delta_plan_free(struct delta_plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->m->n; i++)
		free(p->files[i].runs);
	free(p->files);
	free(p);
}

/* Old block index sorted by (hash, length, index), to find any old block with the same bytes. */
struct delta_blk {
	const unsigned char *h;
	uint64_t len;
	size_t idx;
};

static int
delta_blk_cmp(const void *a, const void *b)
{
	const struct delta_blk *x = a, *y = b;
	int c = memcmp(x->h, y->h, 32);

	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static uint64_t
delta_blk_len(uint64_t size, size_t i)
{
	uint64_t off = (uint64_t)i * DELTA_BLOCK;

	return size - off < DELTA_BLOCK ? size - off : DELTA_BLOCK;
}

static void
delta_add_run(struct delta_file *f, size_t *cap, int64_t old_block, uint64_t off, uint64_t len)
{
	struct delta_run *last = f->nruns > 0 ? &f->runs[f->nruns - 1] : NULL;

	if (last != NULL && last->off + last->len == off) {
		if (old_block < 0 && last->old_block < 0) {
			last->len += len;
			return;
		}
		/* a copy continues the last one when it reads the next old block (all full blocks but the last) */
		if (old_block >= 0 && last->old_block >= 0 && last->len % DELTA_BLOCK == 0 &&
		    old_block == last->old_block + (int64_t)(last->len / DELTA_BLOCK)) {
			last->len += len;
			return;
		}
	}
	if (f->nruns == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		f->runs = xrealloc(f->runs, *cap * sizeof(*f->runs));
	}
	f->runs[f->nruns].old_block = old_block;
	f->runs[f->nruns].off = off;
	f->runs[f->nruns].len = len;
	f->nruns++;
}

size_t
delta_match_blocks(struct delta_file *f, uint64_t new_size, const unsigned char (*new_h)[32], size_t nnew,
    uint64_t old_size, const unsigned char (*old_h)[32], size_t nold)
{
	struct delta_blk *idx = xcalloc(nold ? nold : 1, sizeof(*idx));
	size_t cap = 0, reused = 0;
	int64_t next = -1;     /* the old block that would continue the last copy */

	free(f->runs);
	f->runs = NULL;
	f->nruns = 0;
	for (size_t j = 0; j < nold; j++) {
		idx[j].h = old_h[j];
		idx[j].len = delta_blk_len(old_size, j);
		idx[j].idx = j;
	}
	if (nold > 0)
		qsort(idx, nold, sizeof(*idx), delta_blk_cmp);
	for (size_t i = 0; i < nnew; i++) {
		uint64_t len = delta_blk_len(new_size, i);
		int64_t use = -1;

		/* Prefer the block that continues the last copy, then the same place, then any. */
		int64_t pref[2] = { next, (int64_t)i };

		for (int k = 0; k < 2 && use < 0; k++)
			if (pref[k] >= 0 && (size_t)pref[k] < nold && delta_blk_len(old_size, (size_t)pref[k]) == len &&
			    memcmp(old_h[pref[k]], new_h[i], 32) == 0)
				use = pref[k];
		if (use < 0) {
			struct delta_blk key = { new_h[i], len, 0 };
			size_t lo = 0, hi = nold;

			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;

				if (delta_blk_cmp(&idx[mid], &key) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < nold && memcmp(idx[lo].h, new_h[i], 32) == 0 && idx[lo].len == len)
				use = (int64_t)idx[lo].idx;
		}
		delta_add_run(f, &cap, use, (uint64_t)i * DELTA_BLOCK, len);
		if (use >= 0) {
			reused++;
			next = use + 1;
		} else
			next = -1;
	}
	free(idx);
	return reused;
}

/* Read exactly len bytes of the current entry (len > 0); -1 with *cause on error or a short entry. */
static int
delta_read(struct bundle_rd *r, unsigned char *buf, size_t len, const char *path, char **cause)
{
	ssize_t n = bundle_rd_data(r, buf, len, cause);

	if (n < 0)
		return -1;
	if ((size_t)n != len)
		return set_cause(cause, -1, "'%s' is shorter in the bundle than its manifest says", path);
	return 0;
}

/* Hash the blocks of the current entry (size bytes) into *out (caller frees). */
static int
delta_hash_entry(struct bundle_rd *r, const char *path, uint64_t size, unsigned char (**out)[32], size_t *n,
    char **cause)
{
	size_t nb = (size_t)((size + DELTA_BLOCK - 1) / DELTA_BLOCK);
	unsigned char (*h)[32] = xcalloc(nb ? nb : 1, 32);
	unsigned char *buf = xmalloc(DELTA_BLOCK);
	int rc = -1;

	for (size_t i = 0; i < nb; i++) {
		uint64_t len = delta_blk_len(size, i);
		unsigned int hl = 0;

		if (delta_read(r, buf, (size_t)len, path, cause) != 0)
			goto out;
		if (EVP_Digest(buf, (size_t)len, h[i], &hl, EVP_sha256(), NULL) != 1 || hl != 32) {
			set_cause(cause, -1, "sha256 failed");
			goto out;
		}
	}
	*out = h;
	*n = nb;
	h = NULL;
	rc = 0;
out:
	free(h);
	free(buf);
	return rc;
}

/*
 * Hash the BLOCKS files of one archive: base < 0 the new bundle (its own paths), else the base's
 * bundle (the candidates' source paths).  hashes/counts are parallel to the plan's entries.
 */
static int
delta_hash_bundle(struct delta_plan *p, const char *bundle, long base, unsigned char (**hashes)[32], size_t *counts,
    char **cause)
{
	struct bundle_rd *r = NULL;
	const char *path;
	char type;
	uint64_t size;
	int rc = -1, got;

	if (bundle_rd_open(bundle, &r, cause) != 0)
		return -1;
	while ((got = bundle_rd_next(r, &path, &type, &size, cause)) == 1) {
		const struct manifest_entry *e;
		struct delta_file *f;
		size_t i;

		/* BLOCKS candidates read their old version from the same path (delta_plan_new) */
		if (type != MANIFEST_FILE || (e = delta_find(p->m, path)) == NULL)
			continue;
		i = (size_t)(e - p->m->entries);
		f = &p->files[i];
		if (f->how != DELTA_BLOCKS || hashes[i] != NULL ||
		    (base >= 0 && (f->base != (size_t)base || strcmp(f->src, path) != 0)))
			continue;
		if (delta_hash_entry(r, path, size, &hashes[i], &counts[i], cause) != 0)
			goto out;
	}
	if (got < 0)
		goto out;
	rc = 0;
out:
	bundle_rd_close(r);
	return rc;
}

int
delta_plan_blocks(struct delta_plan *p, const char *new_bundle, char **cause)
{
	size_t n = p->m->n ? p->m->n : 1;
	unsigned char (**nh)[32] = xcalloc(n, sizeof(*nh)), (**oh)[32] = xcalloc(n, sizeof(*oh));
	size_t *nn = xcalloc(n, sizeof(*nn)), *on = xcalloc(n, sizeof(*on));
	bool any = false;
	int rc = -1;

	for (size_t i = 0; i < p->m->n; i++)
		any |= p->files[i].how == DELTA_BLOCKS;
	if (!any)
		goto done;
	if (delta_hash_bundle(p, new_bundle, -1, nh, nn, cause) != 0)
		goto out;
	for (size_t k = 0; k < p->nbases; k++) {
		bool used = false;

		for (size_t i = 0; i < p->m->n; i++)
			used |= p->files[i].how == DELTA_BLOCKS && p->files[i].base == k;
		if (used && delta_hash_bundle(p, p->bases[k].bundle, (long)k, oh, on, cause) != 0)
			goto out;
	}
	for (size_t i = 0; i < p->m->n; i++) {
		struct delta_file *f = &p->files[i];
		const struct manifest_entry *src;

		if (f->how != DELTA_BLOCKS)
			continue;
		src = delta_find(p->bases[f->base].m, f->src);
		/* a bundle that does not hold what its manifest says, or nothing in common: send the file */
		if (nh[i] == NULL || oh[i] == NULL || src == NULL ||
		    delta_match_blocks(f, p->m->entries[i].size, (const unsigned char (*)[32])nh[i], nn[i], src->size,
		    (const unsigned char (*)[32])oh[i], on[i]) == 0) {
			free(f->runs);
			f->runs = NULL;
			f->nruns = 0;
			f->how = DELTA_SEND;
		}
	}
done:
	delta_count(p);
	rc = 0;
out:
	for (size_t i = 0; i < p->m->n; i++) {
		free(nh[i]);
		free(oh[i]);
	}
	free(nh);
	free(oh);
	free(nn);
	free(on);
	return rc;
}

bool
delta_plan_useful(const struct delta_plan *p)
{
	return p->files_reused > 0 || p->blocks_reused > 0;
}

/* "$D"'/r/PATH' */
static void
delta_dest(struct buf *b, const char *path)
{
	char *s = xasprintf("/r/%s", path);

	buf_adds(b, "\"$D\"");
	shquote_add(b, s);
	free(s);
}

/* 'releases/ID/PATH' */
static void
delta_src(struct buf *b, const char *id, const char *path)
{
	char *s = xasprintf("releases/%s/%s", id, path);

	shquote_add(b, s);
	free(s);
}

/* " || df 'MSG'" and the line's end; takes msg. */
static void
delta_give_up(struct buf *b, char *msg)
{
	buf_adds(b, " || df ");
	shquote_add(b, msg);
	buf_adds(b, "\n");
	free(msg);
}

static size_t
delta_dirlen(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? (size_t)(slash - path) : 0;
}

/* Reused by a hard link: asked for, and the mode is the same (a chmod would change the old release too). */
static bool
delta_links(const struct delta_plan *p, size_t i)
{
	return p->hardlink && p->files[i].how == DELTA_REUSE && p->files[i].src_mode == p->m->entries[i].mode;
}

/* Files reused under their own path, from one base, in one directory, the same way: one cp (ln) line. */
static bool
delta_batchable(const struct delta_plan *p, size_t first, size_t i)
{
	const struct manifest_entry *a = &p->m->entries[first], *e = &p->m->entries[i];
	const struct delta_file *fa = &p->files[first], *f = &p->files[i];
	size_t la = delta_dirlen(a->path);

	return e->type == MANIFEST_FILE && f->how == DELTA_REUSE && strcmp(f->src, e->path) == 0 &&
	    f->base == fa->base && delta_dirlen(e->path) == la && strncmp(e->path, a->path, la) == 0 &&
	    delta_links(p, first) == delta_links(p, i);
}

/* A file the recipe makes whose mode must be set: rebuilt by dd, or copied from a different mode. */
static bool
delta_needs_chmod(const struct delta_plan *p, size_t i)
{
	const struct manifest_entry *e = &p->m->entries[i];
	const struct delta_file *f = &p->files[i];

	return e->type == MANIFEST_FILE && (f->how == DELTA_BLOCKS || (f->how == DELTA_REUSE && f->src_mode != e->mode));
}

char *
delta_recipe(const struct delta_plan *p)
{
	struct buf b;

	bool *batched = xcalloc(p->m->n ? p->m->n : 1, sizeof(*batched));   /* copied by an earlier cp line */

	buf_init(&b, 0);
	buf_adds(&b, "# " DELTA_FORMAT ": run with cwd = the component directory, D = the unpacked delta\n");
	for (size_t i = 0; i < p->m->n;) {
		const struct manifest_entry *e = &p->m->entries[i];
		const struct delta_file *f = &p->files[i];
		const char *id = f->how != DELTA_SEND ? p->bases[f->base].id : NULL;

		if (e->type != MANIFEST_FILE || f->how == DELTA_SEND || batched[i]) {
			i++;
			continue;
		}
		if (f->how == DELTA_BLOCKS) {
			buf_adds(&b, "{ ");
			for (size_t r = 0; r < f->nruns; r++) {
				const struct delta_run *run = &f->runs[r];

				if (r > 0)
					buf_adds(&b, " && ");
				if (run->old_block >= 0) {
					buf_adds(&b, "dd if=");
					delta_src(&b, id, f->src);
					buf_addf(&b, " bs=%u skip=%lld count=%llu 2>/dev/null", DELTA_BLOCK, (long long)run->old_block,
					    (unsigned long long)((run->len + DELTA_BLOCK - 1) / DELTA_BLOCK));
				} else
					buf_addf(&b, "cat \"$D\"/x/b.%zu.%zu", i, r);
			}
			buf_adds(&b, "; } > ");
			delta_dest(&b, e->path);
			delta_give_up(&b, xasprintf("cannot rebuild %s from release %s", e->path, id));
			i++;
			continue;
		}
		if (strcmp(f->src, e->path) != 0) {
			buf_adds(&b, delta_links(p, i) ? "ln -- " : "cp -p -- ");
			delta_src(&b, id, f->src);
			buf_adds(&b, " ");
			delta_dest(&b, e->path);
			delta_give_up(&b, xasprintf("cannot copy %s from release %s", f->src, id));
			i++;
			continue;
		}
		{
			/*
			 * Every file of this directory reused under its own name from this base: one cp per
			 * hundred, wherever it sits among the others (the directory's entries are contiguous in
			 * the sorted manifest, its subdirectories' among them).
			 */
			size_t first = i, count = 0, dl = delta_dirlen(e->path);
			char *dir = xasprintf("/r/%.*s%s", (int)dl, e->path, dl ? "/" : "");

			for (size_t j = first; j < p->m->n; j++) {
				const char *pj = p->m->entries[j].path;

				if (dl > 0 && (strncmp(pj, e->path, dl) != 0 || pj[dl] != '/'))
					break;
				if (batched[j] || !delta_batchable(p, first, j))
					continue;
				if (count == 0)
					buf_adds(&b, delta_links(p, first) ? "ln --" : "cp -p --");
				buf_adds(&b, " ");
				delta_src(&b, id, pj);
				batched[j] = true;
				if (++count == DELTA_BATCH) {
					buf_adds(&b, " \"$D\"");
					shquote_add(&b, dir);
					delta_give_up(&b, xasprintf("cannot copy %s from release %s", e->path, id));
					count = 0;
				}
			}
			if (count > 0) {
				buf_adds(&b, " \"$D\"");
				shquote_add(&b, dir);
				delta_give_up(&b, xasprintf("cannot copy %s from release %s", e->path, id));
			}
			free(dir);
			i++;
		}
	}
	free(batched);
	/*
	 * Modes as the manifest says: cp -p kept the old file's, right when the mode did not change (a
	 * full push's tar gives manifest mode minus umask, as that release's did); dd made a new file.
	 * One chmod per mode and hundred files.
	 */
	{
		bool *done = xcalloc(p->m->n ? p->m->n : 1, sizeof(*done));

		for (size_t i = 0; i < p->m->n; i++) {
			size_t count = 0;
			unsigned mode = p->m->entries[i].mode;

			if (done[i] || !delta_needs_chmod(p, i))
				continue;
			for (size_t j = i; j < p->m->n; j++) {
				if (done[j] || p->m->entries[j].mode != mode || !delta_needs_chmod(p, j))
					continue;
				done[j] = true;
				if (count == 0)
					buf_addf(&b, "chmod %04o --", mode);
				buf_adds(&b, " ");
				delta_dest(&b, p->m->entries[j].path);
				if (++count == DELTA_BATCH) {
					delta_give_up(&b, xstrdup("cannot set modes"));
					count = 0;
				}
			}
			if (count > 0)
				delta_give_up(&b, xstrdup("cannot set modes"));
		}
		free(done);
	}
	/* Directories were unpacked writable; their own modes last, deepest first. */
	for (size_t i = p->m->n; i-- > 0;) {
		const struct manifest_entry *e = &p->m->entries[i];

		if (e->type == MANIFEST_DIR && (e->mode | 0700) != e->mode) {
			buf_addf(&b, "chmod %04o -- ", e->mode);
			delta_dest(&b, e->path);
			delta_give_up(&b, xasprintf("cannot set the mode of %s", e->path));
		}
	}
	return buf_detach(&b);
}

/*
 * The check list comes from the release's own manifest, which travels in r/ anyway: every file line
 * "f<TAB>MODE<TAB>SIZE<TAB>SHA256<TAB>PATH" becomes "SHA256  r/PATH" (a second copy of every hash would
 * cost the delta more than the files it usually carries).
 */
const char delta_sums_sed[] = "sed -n 's|^f\t[0-7]*\t[0-9]*\t\\([0-9a-f]*\\)\t|\\1  r/|p'";

/* Copy len bytes of the current entry to the writer (w NULL: skip them). */
static int
delta_copy(struct bundle_rd *r, struct bundle_wr *w, uint64_t len, unsigned char *buf, const char *path, char **cause)
{
	while (len > 0) {
		size_t chunk = len < DELTA_BLOCK ? (size_t)len : DELTA_BLOCK;

		if (delta_read(r, buf, chunk, path, cause) != 0)
			return -1;
		if (w != NULL && bundle_wr_data(w, buf, chunk, cause) != 0)
			return -1;
		len -= chunk;
	}
	return 0;
}

static int
delta_wr_text(struct bundle_wr *w, const char *path, const char *text, char **cause)
{
	size_t len = strlen(text);

	if (bundle_wr_entry(w, path, MANIFEST_FILE, 0644, len, NULL, cause) != 0)
		return -1;
	return len > 0 ? bundle_wr_data(w, text, len, cause) : 0;
}

int
delta_write(const struct delta_plan *p, const char *new_bundle, const char *compression, const char *out_path,
    char sha256[65], uint64_t *size, char **cause)
{
	struct bundle_wr *w = NULL;
	struct bundle_rd *r = NULL;
	unsigned char *buf = xmalloc(DELTA_BLOCK);
	char *recipe = delta_recipe(p), *name = NULL;
	const char *path;
	char type;
	uint64_t esize;
	int rc = -1, got;

	if (bundle_wr_open(out_path, compression, &w, cause) != 0)
		goto out;
	if (bundle_wr_entry(w, "x", MANIFEST_DIR, 0755, 0, NULL, cause) != 0 ||
	    delta_wr_text(w, "x/recipe.sh", recipe, cause) != 0 ||
	    bundle_wr_entry(w, "r", MANIFEST_DIR, 0755, 0, NULL, cause) != 0)
		goto out;
	if (bundle_rd_open(new_bundle, &r, cause) != 0)
		goto out;
	while ((got = bundle_rd_next(r, &path, &type, &esize, cause)) == 1) {
		const struct manifest_entry *e;
		const struct delta_file *f;
		size_t i;

		if (strcmp(path, BUNDLE_MANIFEST_NAME) == 0) {
			/* the release keeps its manifest, as a full bundle's unpacking leaves it */
			if (bundle_wr_entry(w, "r/" BUNDLE_MANIFEST_NAME, MANIFEST_FILE, 0644, esize, NULL, cause) != 0 ||
			    delta_copy(r, w, esize, buf, path, cause) != 0)
				goto out;
			continue;
		}
		e = delta_find(p->m, path);
		if (e == NULL || e->type != type || (type == MANIFEST_FILE && e->size != esize)) {
			set_cause(cause, -1, "bundle '%s': entry '%s' is not as its manifest says", new_bundle, path);
			goto out;
		}
		i = (size_t)(e - p->m->entries);
		f = &p->files[i];
		free(name);
		name = xasprintf("r/%s", e->path);
		if (e->type == MANIFEST_DIR) {
			if (bundle_wr_entry(w, name, MANIFEST_DIR, e->mode | 0700, 0, NULL, cause) != 0)
				goto out;
		} else if (e->type == MANIFEST_LINK) {
			if (bundle_wr_entry(w, name, MANIFEST_LINK, 0777, 0, e->target, cause) != 0)
				goto out;
		} else if (f->how == DELTA_SEND) {
			if (bundle_wr_entry(w, name, MANIFEST_FILE, e->mode, e->size, NULL, cause) != 0 ||
			    delta_copy(r, w, e->size, buf, e->path, cause) != 0)
				goto out;
		} else if (f->how == DELTA_BLOCKS) {
			for (size_t k = 0; k < f->nruns; k++) {
				const struct delta_run *run = &f->runs[k];

				if (run->old_block >= 0) {
					if (delta_copy(r, NULL, run->len, buf, e->path, cause) != 0)
						goto out;
					continue;
				}
				free(name);
				name = xasprintf("x/b.%zu.%zu", i, k);
				if (bundle_wr_entry(w, name, MANIFEST_FILE, 0644, run->len, NULL, cause) != 0 ||
				    delta_copy(r, w, run->len, buf, e->path, cause) != 0)
					goto out;
			}
		}
	}
	if (got < 0)
		goto out;
	bundle_rd_close(r);
	r = NULL;
	rc = bundle_wr_commit(w, sha256, size, cause);
	w = NULL;
out:
	/* the reader first: each restores the locale the one opened before it had set */
	bundle_rd_close(r);
	bundle_wr_abort(w);
	free(buf);
	free(recipe);
	free(name);
	return rc;
}

static void
delta_mib(struct buf *b, uint64_t bytes)
{
	buf_addf(b, "%.1f MiB", (double)bytes / 1048576.0);
}

char *
delta_describe(const struct delta_plan *p)
{
	struct buf b;

	buf_init(&b, 0);
	buf_addf(&b, "reuses %zu file%s (", p->files_reused, p->files_reused == 1 ? "" : "s");
	delta_mib(&b, p->bytes_reused);
	buf_adds(&b, ")");
	if (p->files_blocks > 0)
		buf_addf(&b, ", %zu file%s by blocks (%llu/%llu blocks reused)", p->files_blocks,
		    p->files_blocks == 1 ? "" : "s", (unsigned long long)p->blocks_reused,
		    (unsigned long long)(p->blocks_reused + p->blocks_sent));
	buf_addf(&b, ", sends %zu file%s (", p->files_sent, p->files_sent == 1 ? "" : "s");
	delta_mib(&b, p->bytes_sent);
	buf_adds(&b, ")");
	return buf_detach(&b);
}

/* The cache key: everything the archive's bytes depend on. */
static int
delta_key(const char *new_sha256, const char *compression, const struct delta_base *bases, size_t nbases,
    bool hardlink, char hex[65])
{
	struct buf b;
	unsigned char md[32];
	unsigned int len = 0;
	int rc;

	buf_init(&b, 0);
	buf_addf(&b, "%s\n%s\n%s\nblock %u big %llu%s\n", DELTA_FORMAT, new_sha256, compression ? compression : "gzip",
	    DELTA_BLOCK, (unsigned long long)DELTA_BIG, hardlink ? " hardlink" : "");
	for (size_t k = 0; k < nbases; k++)
		buf_addf(&b, "base %s %s\n", bases[k].id, bases[k].bundle != NULL ? "bundle" : "-");
	rc = EVP_Digest(b.data, b.len, md, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -1;
	for (unsigned i = 0; rc == 0 && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	buf_free(&b);
	return rc;
}

int
delta_build(const char *cache_dir, const char *new_bundle, const char *new_sha256, const char *compression,
    const struct manifest *m, const struct delta_base *bases, size_t nbases, bool hardlink, struct delta_built **out,
    char **cause)
{
	struct delta_plan *p = delta_plan_new(m, bases, nbases);
	struct delta_built *d = NULL;
	struct stat st;
	char key[65];
	size_t nb = 0;
	int rc = -1;

	*out = NULL;
	if (delta_plan_blocks(p, new_bundle, cause) != 0)
		goto out;
	if (!delta_plan_useful(p)) {
		rc = 1;
		goto out;
	}
	p->hardlink = hardlink;
	if (delta_key(new_sha256, compression, bases, nbases, hardlink, key) != 0) {
		set_cause(cause, -1, "sha256 failed");
		goto out;
	}
	if (mkdir_p(cache_dir, 0755) != 0) {
		set_cause(cause, -1, "cannot create '%s': %s", cache_dir, strerror(errno));
		goto out;
	}
	d = xcalloc(1, sizeof(*d));
	d->path = xasprintf("%s/%s.delta", cache_dir, key);
	/* Written once (temp file and rename), so a file there is whole: its hash is all we need. */
	if (stat(d->path, &st) == 0 && S_ISREG(st.st_mode)) {
		if (sha256_file(d->path, d->sha256, cause) != 0)
			goto out;
		d->size = (uint64_t)st.st_size;
		utime(d->path, NULL);   /* used now: delta_prune counts its age from here */
	} else if (delta_write(p, new_bundle, compression, d->path, d->sha256, &d->size, cause) != 0)
		goto out;
	for (size_t k = 0; k < nbases; k++) {
		bool used = false;

		for (size_t i = 0; i < m->n && !used; i++)
			used = m->entries[i].type == MANIFEST_FILE && p->files[i].how != DELTA_SEND && p->files[i].base == k;
		if (used)
			strv_push(&d->bases, &nb, xstrdup(bases[k].id));
	}
	if (d->bases == NULL)
		d->bases = xcalloc(1, sizeof(*d->bases));
	d->describe = delta_describe(p);
	d->files_reused = p->files_reused;
	d->bytes_reused = p->bytes_reused;
	*out = d;
	d = NULL;
	rc = 0;
out:
	delta_built_free(d);
	delta_plan_free(p);
	return rc;
}

void
delta_built_free(struct delta_built *d)
{
	if (d == NULL)
		return;
	free(d->path);
	strv_free(d->bases);
	free(d->describe);
	free(d);
}

void
delta_prune(const char *cache_dir, long max_age)
{
	DIR *d = opendir(cache_dir);
	struct dirent *de;
	time_t now = time(NULL);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct stat st;
		char *path;

		if (len < 7 || strcmp(de->d_name + len - 6, ".delta") != 0)
			continue;
		path = xasprintf("%s/%s", cache_dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime > max_age)
			unlink(path);
		free(path);
	}
	closedir(d);
}
