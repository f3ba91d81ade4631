/*
 * targets: what each terminal of a push gets — the release, the releases its pruning keeps, and the delta
 * against the releases the history says it holds (one delta per set of bases, shared by the terminals
 * that have them).  Reads the history and the bundle store; touches no terminal.
 */
#include "targets.h"

#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "history.h"
#include "manifest.h"
#include "util.h"

#define TARGETS_DELTA_MAX_AGE (14L * 24 * 3600)   /* cached deltas unused this long are removed */

/* A release a delta may copy from: its manifest from the history, its bundle from the store. */
struct dt_base {
	char *id;
	struct manifest *m;    /* NULL: the history has no manifest for it (no delta from it) */
	char *bundle;          /* NULL: not in the store (whole files only, no blocks) */
};

/* The terminals with the same bases share one delta. */
struct dt_group {
	char *key;
	struct delta_built *d; /* NULL: no delta (would save nothing, or could not be made) */
	bool owned;            /* a target has taken d */
};

static struct dt_base *
dt_base_get(struct history *h, const char *store, const char *component, const char *id, struct dt_base **v,
    size_t *n)
{
	struct dt_base *bs;
	char *text = NULL, *sha = NULL, *cause = NULL;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].id, id) == 0)
			return &(*v)[i];
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	bs = &(*v)[(*n)++];
	memset(bs, 0, sizeof(*bs));
	bs->id = xstrdup(id);
	if (history_release_manifest(h, component, id, &text, &cause) == 0 && text != NULL &&
	    manifest_parse(text, strlen(text), &bs->m, &cause) != 0)
		bs->m = NULL;
	if (history_release_sha256(h, component, id, &sha, &cause) == 0 && sha != NULL &&
	    bundle_store_path(store, sha, &bs->bundle) != 0)
		bs->bundle = NULL;
	free(text);
	free(sha);
	free(cause);
	return bs;
}

/*
 * The delta for one terminal: its bases are the releases the history says it holds (current first,
 * then previous, then the others that installed there, newest first; at most 4).  The probe confirms
 * them on the terminal before the delta is used.
 */
static struct delta_built *
dt_delta_for(const char *state_dir, struct history *h, const struct hist_state *st, const struct bundle *b,
    const char *stored, const struct manifest *newm, struct dt_base **bases, size_t *nbases, struct dt_group **groups,
    size_t *ngroups, bool hardlink, bool *take, char ***warnings, size_t *nwarnings)
{
	const char *ids[4];
	struct delta_base db[4];
	size_t nids = 0, nb = 0;
	char *store = xasprintf("%s/bundles", state_dir), *cache = xasprintf("%s/deltas", state_dir);
	char *cause = NULL;
	struct buf key;
	struct dt_group *g = NULL;

	buf_init(&key, 0);
	{
		const char *cand[64];
		size_t nc = 0;

		if (st->current != NULL)
			cand[nc++] = st->current;
		if (st->previous != NULL)
			cand[nc++] = st->previous;
		for (size_t i = 0; st->good != NULL && st->good[i] != NULL && nc < 64; i++)
			cand[nc++] = st->good[i];
		for (size_t i = 0; i < nc && nids < 4; i++) {
			bool dup = strcmp(cand[i], b->id) == 0;

			for (size_t j = 0; j < nids && !dup; j++)
				dup = strcmp(ids[j], cand[i]) == 0;
			if (!dup)
				ids[nids++] = cand[i];
		}
	}
	for (size_t i = 0; i < nids; i++) {
		struct dt_base *bs = dt_base_get(h, store, b->component, ids[i], bases, nbases);

		if (bs->m == NULL)
			continue;
		db[nb].id = bs->id;
		db[nb].m = bs->m;
		db[nb].bundle = bs->bundle;
		nb++;
		buf_addf(&key, "%s ", bs->id);
	}
	*take = false;
	if (nb == 0)
		goto out;
	for (size_t i = 0; i < *ngroups; i++)
		if (strcmp((*groups)[i].key, key.data) == 0)
			g = &(*groups)[i];
	if (g == NULL) {
		int rc;

		*groups = xrealloc(*groups, (*ngroups + 1) * sizeof(**groups));
		g = &(*groups)[(*ngroups)++];
		memset(g, 0, sizeof(*g));
		g->key = xstrdup(key.data);
		rc = delta_build(cache, stored, b->sha256, b->compression, newm, db, nb, hardlink, &g->d, &cause);
		if (rc < 0)
			strv_push(warnings, nwarnings, xasprintf("no delta against %s(the full bundle goes instead): %s",
			    key.data, cause));
	}
	if (g->d != NULL && !g->owned) {
		g->owned = true;
		*take = true;
	}
out:
	buf_free(&key);
	free(store);
	free(cache);
	free(cause);
	return g != NULL ? g->d : NULL;
}

int
targets_make(const char *state_dir, struct inv_host **hosts, size_t n, const struct bundle *b, const char *stored,
    bool delta, bool hardlink, struct deploy_target **out, char ***warnings, char **cause)
{
	struct deploy_target *targets = xcalloc(n ? n : 1, sizeof(*targets));
	struct history *h = NULL;
	struct manifest *newm = NULL;
	struct dt_base *bases = NULL;
	struct dt_group *groups = NULL;
	size_t nbases = 0, ngroups = 0, nwarnings = 0;
	int rc = -1;

	*out = NULL;
	*warnings = NULL;
	if (history_open(state_dir, &h, cause) != 0)
		goto out;
	if (delta && manifest_parse(b->manifest_text, strlen(b->manifest_text), &newm, cause) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct hist_state st;
		long keep = inv_get_long(hosts[i], INV_KEEP);
		size_t k = 0;

		targets[i].archive = stored;
		targets[i].id = b->id;
		targets[i].version = b->version;
		targets[i].sha256 = b->sha256;
		targets[i].compression = b->compression;
		targets[i].component = b->component;
		targets[i].size = b->size;
		targets[i].keep_count = (int)keep;
		/* Pruning keeps the newest `keep` releases the history knows finished installing there. */
		if (history_host_state(h, hosts[i]->name, b->component, &st, cause) < 0)
			goto out;
		for (size_t g = 0; st.good != NULL && st.good[g] != NULL && (long)k < keep; g++)
			if (strcmp(st.good[g], b->id) != 0)
				strv_push(&targets[i].keep, &k, xstrdup(st.good[g]));
		if (newm != NULL && stored != NULL)
			targets[i].delta = dt_delta_for(state_dir, h, &st, b, stored, newm, &bases, &nbases, &groups,
			    &ngroups, hardlink, &targets[i].owns_delta, warnings, &nwarnings);
		hist_state_free(&st);
	}
	*out = targets;
	targets = NULL;
	rc = 0;
	if (ngroups > 0) {
		char *cache = xasprintf("%s/deltas", state_dir);

		delta_prune(cache, TARGETS_DELTA_MAX_AGE);
		free(cache);
	}
out:
	/* a delta no target took is freed here */
	for (size_t i = 0; i < ngroups; i++) {
		if (!groups[i].owned)
			delta_built_free(groups[i].d);
		free(groups[i].key);
	}
	for (size_t i = 0; i < nbases; i++) {
		free(bases[i].id);
		manifest_free(bases[i].m);
		free(bases[i].bundle);
	}
	free(groups);
	free(bases);
	manifest_free(newm);
	targets_free(targets, n);
	history_close(h);
	return rc;
}

void
targets_free(struct deploy_target *targets, size_t n)
{
	for (size_t i = 0; targets != NULL && i < n; i++) {
		strv_free(targets[i].keep);
		if (targets[i].owns_delta)
			delta_built_free(targets[i].delta);
	}
	free(targets);
}
