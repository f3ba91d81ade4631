/* histsync: the history shared through a git remote (see histsync.h). */
#include "histsync.h"

#include <git2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define SYNC_MAIN "refs/heads/main"
#define SYNC_SHARED "refs/remotes/shared/main"
#define SYNC_PUSH_TRIES 10

int
histsync_check_url(const char *url, char **cause)
{
	if (url == NULL || *url == '\0')
		return set_cause(cause, -1, "history_remote is empty");
	if (strncmp(url, "ssh://", 6) == 0 || (strchr(url, ':') != NULL && strchr(url, '/') != NULL &&
	    strchr(url, ':') < strchr(url, '/') && strncmp(url, "file://", 7) != 0))
		return set_cause(cause, -1, "history_remote '%s': ssh is not used (libgit2 1.5 does not check the "
		    "server's host key against known_hosts); use a path or file:// to a bare repository, e.g. on a "
		    "shared mount", url);
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0 || strncmp(url, "git://", 6) == 0)
		return set_cause(cause, -1, "history_remote '%s': only a path or file:// is supported", url);
	return 0;
}

static int
sync_remote(git_repository *repo, const char *url, git_remote **r, char **cause)
{
	struct stat st;

	if (histsync_check_url(url, cause) != 0)
		return -1;
	/* Never made here: a share that is not mounted must not become a second, empty trail. */
	if (strncmp(url, "file://", 7) != 0 && stat(url, &st) != 0)
		return set_cause(cause, -1, "the shared history '%s' is not there (make it once with `git init --bare "
		    "%s`)", url, url);
	if (git_remote_create_anonymous(r, repo, url) < 0)
		return set_cause(cause, -1, "history_remote '%s': %s", url, history_git_error());
	return 0;
}

static int
sync_fetch(git_repository *repo, const char *url, char **cause)
{
	git_fetch_options fo;
	char spec[] = "+" SYNC_MAIN ":" SYNC_SHARED, *specs[] = { spec };
	git_strarray refs = { specs, 1 };
	git_remote *r = NULL;
	int rc = -1;

	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	if (sync_remote(repo, url, &r, cause) != 0)
		return -1;
	if (git_remote_fetch(r, &refs, &fo, "fleetctl: fetch the shared history") < 0) {
		set_cause(cause, -1, "cannot fetch the shared history '%s': %s", url, history_git_error());
		goto out;
	}
	rc = 0;
out:
	git_remote_free(r);
	return rc;
}

/* Blob text at path in tree (NULL when absent or unreadable). */
static char *
sync_blob_text(git_repository *repo, git_tree *tree, const char *path)
{
	char *text = NULL, *cause = NULL;

	if (tree != NULL && history_tree_blob(repo, tree, path, &text, &cause) != 0)
		text = NULL;
	free(cause);
	return text;
}

static bool
sync_same_entry(git_tree *a, git_tree *b, const char *path)
{
	git_tree_entry *x = NULL, *y = NULL;
	bool same;

	if (a == NULL || git_tree_entry_bypath(&x, a, path) < 0)
		x = NULL;
	if (b == NULL || git_tree_entry_bypath(&y, b, path) < 0)
		y = NULL;
	same = (x == NULL && y == NULL) || (x != NULL && y != NULL && git_oid_equal(git_tree_entry_id(x),
	    git_tree_entry_id(y)));
	git_tree_entry_free(x);
	git_tree_entry_free(y);
	return same;
}

static bool
sync_same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
sync_same_list(char *const *a, char *const *b)
{
	size_t i;

	for (i = 0; a != NULL && b != NULL && a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return (a == NULL || a[i] == NULL) && (b == NULL || b[i] == NULL);
}

/*
 * A terminal's state file changed by both sides since base: field by field, what this commit's
 * operation changed is taken from it, the rest from theirs (a locked or failed run that left current
 * alone does not undo the other controller's switch); the last_* fields and `updated` come from the
 * newer operation (ISO 8601 UTC compares as text; a tie goes to this commit, the later to arrive).
 * Returns the merged text (caller frees).
 */
static char *
sync_merge_state(const char *base_text, const char *ours_text, const char *theirs_text)
{
	struct hist_state b, o, t, m;
	bool ours_newer;
	char *text;

	hist_state_parse(base_text != NULL ? base_text : "", &b);
	hist_state_parse(ours_text, &o);
	hist_state_parse(theirs_text, &t);
	ours_newer = t.updated == NULL || (o.updated != NULL && strcmp(o.updated, t.updated) >= 0);
	memset(&m, 0, sizeof(m));
	m.current = sync_same_str(o.current, b.current) ? t.current : o.current;
	m.previous = sync_same_str(o.previous, b.previous) ? t.previous : o.previous;
	m.good = sync_same_list(o.good, b.good) ? t.good : o.good;
	m.failed = sync_same_list(o.failed, b.failed) ? t.failed : o.failed;
	m.last_op = ours_newer ? o.last_op : t.last_op;
	m.last_result = ours_newer ? o.last_result : t.last_result;
	m.last_run = ours_newer ? o.last_run : t.last_run;
	m.updated = ours_newer ? o.updated : t.updated;
	text = hist_state_format(&m);   /* m borrows from o and t */
	hist_state_free(&b);
	hist_state_free(&o);
	hist_state_free(&t);
	return text;
}

/* theirs, then every line of ours that theirs lacks. */
static char *
sync_merge_lines(const char *theirs, const char *ours)
{
	struct buf b;
	const char *p;
	size_t len;

	buf_init(&b, 0);
	buf_adds(&b, theirs);
	if (b.len > 0 && b.data[b.len - 1] != '\n')
		buf_adds(&b, "\n");
	for (p = ours; *p != '\0'; p += len + (p[len] == '\n')) {
		char *line;

		len = strcspn(p, "\n");
		if (len == 0)
			continue;
		line = xasprintf("\n%.*s\n", (int)len, p);
		if (strncmp(theirs, line + 1, len + 1) != 0 && strstr(theirs, line) == NULL)
			buf_addf(&b, "%.*s\n", (int)len, p);
		free(line);
	}
	return buf_detach(&b);
}

/*
 * Commit c (parent ptree, tree ctree) again on top of base: c's changes applied to base's tree by the
 * rules of histsync.h.  *out is the new commit.
 */
static int
sync_replay_one(git_repository *repo, git_commit *c, git_commit *base, git_oid *out, char **cause)
{
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *ctree = NULL, *btree = NULL, *ntree = NULL;
	git_diff *diff = NULL;
	git_tree_update *ups = NULL;
	char **paths = NULL;
	size_t n, nups = 0;
	git_oid tree_id;
	const git_commit *parents[1];
	int rc = -1;

	/* a first commit (made before this controller ever saw the remote) is diffed against nothing */
	if ((git_commit_parentcount(c) > 0 && (git_commit_parent(&parent, c, 0) < 0 || git_commit_tree(&ptree, parent) < 0)) ||
	    git_commit_tree(&ctree, c) < 0 || git_commit_tree(&btree, base) < 0 ||
	    git_diff_tree_to_tree(&diff, repo, ptree, ctree, NULL) < 0) {
		set_cause(cause, -1, "history: cannot read a local commit: %s", history_git_error());
		goto out;
	}
	n = git_diff_num_deltas(diff);
	ups = xcalloc(n ? n : 1, sizeof(*ups));
	paths = xcalloc(n ? n : 1, sizeof(*paths));
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		const char *path = d->status == GIT_DELTA_DELETED ? d->old_file.path : d->new_file.path;
		git_tree_update *u = &ups[nups];

		paths[nups] = xstrdup(path);
		u->path = paths[nups];
		u->filemode = GIT_FILEMODE_BLOB;
		if (d->status == GIT_DELTA_DELETED) {
			u->action = GIT_TREE_UPDATE_REMOVE;
			nups++;
			continue;
		}
		u->action = GIT_TREE_UPDATE_UPSERT;
		git_oid_cpy(&u->id, &d->new_file.id);
		if (!sync_same_entry(ptree, btree, path)) {
			/* The other side changed it too. */
			char *ours = sync_blob_text(repo, ctree, path), *theirs = sync_blob_text(repo, btree, path);

			if (theirs != NULL && ours != NULL && strncmp(path, "hosts/", 6) == 0) {
				char *base_text = sync_blob_text(repo, ptree, path);
				char *merged = sync_merge_state(base_text, ours, theirs);
				int err = git_blob_create_from_buffer(&u->id, repo, merged, strlen(merged));

				free(base_text);
				free(merged);
				if (err < 0) {
					set_cause(cause, -1, "history: cannot write a blob: %s", history_git_error());
					free(ours);
					free(theirs);
					nups++;
					goto out;
				}
			} else if (theirs != NULL && ours != NULL && strlen(path) > 7 &&
			    strcmp(path + strlen(path) - 7, "/.order") == 0) {
				char *merged = sync_merge_lines(theirs, ours);

				if (git_blob_create_from_buffer(&u->id, repo, merged, strlen(merged)) < 0) {
					set_cause(cause, -1, "history: cannot write a blob: %s", history_git_error());
					free(merged);
					free(ours);
					free(theirs);
					nups++;
					goto out;
				}
				free(merged);
			}
			free(ours);
			free(theirs);
		}
		nups++;
	}
	if (git_tree_create_updated(&tree_id, repo, btree, nups, ups) < 0 || git_tree_lookup(&ntree, repo, &tree_id) < 0) {
		set_cause(cause, -1, "history: cannot build the tree: %s", history_git_error());
		goto out;
	}
	parents[0] = base;
	if (git_commit_create(out, repo, NULL, git_commit_author(c), git_commit_committer(c), NULL, git_commit_message(c),
	    ntree, 1, parents) < 0) {
		set_cause(cause, -1, "history: cannot write the commit: %s", history_git_error());
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; paths != NULL && i < n; i++)
		free(paths[i]);
	free(paths);
	free(ups);
	git_diff_free(diff);
	git_tree_free(ntree);
	git_tree_free(btree);
	git_tree_free(ctree);
	git_tree_free(ptree);
	git_commit_free(parent);
	return rc;
}

/* Bring main up to the fetched shared tip (under the writers' lock). */
static int
sync_integrate(git_repository *repo, char **cause)
{
	git_oid local, remote, tip, next;
	git_revwalk *walk = NULL;
	git_reference *ref = NULL;
	git_commit *base = NULL, *c = NULL;
	bool have_local;
	int rc = -1, err;

	if (git_reference_name_to_id(&remote, repo, SYNC_SHARED) < 0)
		return 0;   /* the remote has no history yet */
	err = git_reference_name_to_id(&local, repo, SYNC_MAIN);
	have_local = err == 0;
	if (!have_local || git_graph_descendant_of(repo, &remote, &local) == 1) {
		/* nothing of our own: fast-forward */
		if (git_reference_create(&ref, repo, SYNC_MAIN, &remote, 1, "fleetctl: fast-forward to the shared history") < 0)
			goto fail;
		rc = 0;
		goto out;
	}
	if (git_oid_equal(&local, &remote) || git_graph_descendant_of(repo, &local, &remote) == 1) {
		rc = 0;   /* up to date, or only ahead */
		goto out;
	}
	/* Diverged: our commits the remote lacks, oldest first, again on its tip. */
	if (git_revwalk_new(&walk, repo) < 0 || git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
	    git_revwalk_push(walk, &local) < 0 || git_revwalk_hide(walk, &remote) < 0)
		goto fail;
	git_oid_cpy(&tip, &remote);
	while (git_revwalk_next(&next, walk) == 0) {
		git_oid made;

		git_commit_free(base);
		git_commit_free(c);
		base = c = NULL;
		if (git_commit_lookup(&base, repo, &tip) < 0 || git_commit_lookup(&c, repo, &next) < 0)
			goto fail;
		if (git_commit_parentcount(c) > 1) {
			set_cause(cause, -1, "history: local commit %.12s is not on a line of single parents", git_oid_tostr_s(&next));
			goto out;
		}
		if (sync_replay_one(repo, c, base, &made, cause) != 0)
			goto out;
		git_oid_cpy(&tip, &made);
	}
	if (git_reference_create_matching(&ref, repo, SYNC_MAIN, &tip, 1, &local,
	    "fleetctl: local commits rebuilt on the shared history") < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	set_cause(cause, -1, "history: cannot bring main up to the shared history: %s", history_git_error());
out:
	git_commit_free(base);
	git_commit_free(c);
	git_revwalk_free(walk);
	git_reference_free(ref);
	return rc;
}

int
histsync_pull(struct history *h, const char *url, char **cause)
{
	git_repository *repo = history_repo(h);
	int fd = -1, rc;

	if (sync_fetch(repo, url, cause) != 0)
		return -1;
	if (history_write_lock(h, &fd, cause) != 0)
		return -1;
	rc = sync_integrate(repo, cause);
	history_write_unlock(fd);
	return rc;
}

struct sync_push {
	bool rejected;
	char *why;
};

static int
sync_push_cb(const char *refname, const char *status, void *data)
{
	struct sync_push *p = data;

	(void)refname;
	if (status != NULL) {
		p->rejected = true;
		free(p->why);
		p->why = xstrdup(status);
	}
	return 0;
}

int
histsync_push(struct history *h, const char *url, char **cause)
{
	git_repository *repo = history_repo(h);
	char spec[] = SYNC_MAIN ":" SYNC_MAIN, *specs[] = { spec };
	git_strarray refs = { specs, 1 };
	struct sync_push st;
	git_remote *r = NULL;
	git_oid local;
	int rc = -1;

	memset(&st, 0, sizeof(st));
	if (git_reference_name_to_id(&local, repo, SYNC_MAIN) < 0)
		return 0;   /* nothing to push */
	if (sync_remote(repo, url, &r, cause) != 0)
		return -1;
	for (int try = 0; try < SYNC_PUSH_TRIES; try++) {
		git_push_options po;
		git_reference *ref = NULL;
		int err;

		git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
		po.callbacks.push_update_reference = sync_push_cb;
		po.callbacks.payload = &st;
		st.rejected = false;
		err = git_remote_push(r, &refs, &po);
		if (err == 0 && !st.rejected) {
			/* the remote has it: so does our view of it */
			if (git_reference_name_to_id(&local, repo, SYNC_MAIN) == 0)
				git_reference_create(&ref, repo, SYNC_SHARED, &local, 1, "fleetctl: pushed");
			git_reference_free(ref);
			rc = 0;
			goto out;
		}
		/* Another controller pushed first (or holds the remote's lock): take theirs, rebuild ours on it. */
		if (histsync_pull(h, url, cause) != 0)
			goto out;
		{
			struct timespec ts = { 0, (long)(20 + (try * 37 + (long)getpid()) % 200) * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	set_cause(cause, -1, "cannot push the history to '%s' after %d tries: %s", url, SYNC_PUSH_TRIES,
	    st.why != NULL ? st.why : history_git_error());
out:
	free(st.why);
	git_remote_free(r);
	return rc;
}

int
histsync_unpushed(struct history *h, char ***ids, char **cause)
{
	git_repository *repo = history_repo(h);
	git_revwalk *walk = NULL;
	git_oid local, remote, id;
	size_t n = 0;
	int rc = -1;

	*ids = xcalloc(1, sizeof(**ids));
	if (git_reference_name_to_id(&local, repo, SYNC_MAIN) < 0)
		return 0;
	if (git_revwalk_new(&walk, repo) < 0 || git_revwalk_push(walk, &local) < 0 ||
	    (git_reference_name_to_id(&remote, repo, SYNC_SHARED) == 0 && git_revwalk_hide(walk, &remote) < 0)) {
		set_cause(cause, -1, "history: %s", history_git_error());
		goto out;
	}
	while (git_revwalk_next(&id, walk) == 0) {
		char hex[41];

		git_oid_tostr(hex, sizeof(hex), &id);
		strv_push(ids, &n, xstrdup(hex));
	}
	rc = 0;
out:
	git_revwalk_free(walk);
	return rc;
}

int
histsync_export_runs(struct history *h, const char *runs_dir, size_t *written, char **cause)
{
	git_repository *repo = history_repo(h);
	git_commit *c = NULL;
	git_tree *tree = NULL, *runs = NULL;
	git_tree_entry *e = NULL;
	git_oid tip;
	int rc = -1;

	*written = 0;
	if (git_reference_name_to_id(&tip, repo, SYNC_MAIN) < 0)
		return 0;
	if (git_commit_lookup(&c, repo, &tip) < 0 || git_commit_tree(&tree, c) < 0) {
		set_cause(cause, -1, "history: %s", history_git_error());
		goto out;
	}
	if (git_tree_entry_bypath(&e, tree, "runs") < 0 || git_tree_lookup(&runs, repo, git_tree_entry_id(e)) < 0) {
		rc = 0;   /* no runs recorded yet */
		goto out;
	}
	if (mkdir_p(runs_dir, 0755) != 0) {
		set_cause(cause, -1, "cannot create '%s'", runs_dir);
		goto out;
	}
	for (size_t i = 0; i < git_tree_entrycount(runs); i++) {
		const git_tree_entry *re = git_tree_entry_byindex(runs, i);
		const char *name = git_tree_entry_name(re);
		size_t len = strlen(name);
		struct stat st;
		git_blob *b = NULL;
		char *path;

		if (len <= 5 || strcmp(name + len - 5, ".json") != 0 || strchr(name, '/') != NULL || name[0] == '.')
			continue;
		path = xasprintf("%s/%.*s.jsonl", runs_dir, (int)(len - 5), name);
		if (stat(path, &st) != 0 && git_blob_lookup(&b, repo, git_tree_entry_id(re)) == 0 &&
		    write_file_atomic(path, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), 0644) == 0)
			(*written)++;
		git_blob_free(b);
		free(path);
	}
	rc = 0;
out:
	git_tree_entry_free(e);
	git_tree_free(runs);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}
