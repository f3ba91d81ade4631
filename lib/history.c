/* history: the audit trail as a bare git repository, written with libgit2 without a work tree. */
#include "history.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define HISTORY_BRANCH "refs/heads/main"
#define HISTORY_NAME_MAX 200        /* a host, component, release or run name */
#define HISTORY_ERROR_MAX 200       /* bytes of a terminal's error kept in the commit message */
#define HISTORY_SWAP_TRIES 50       /* compare-and-swap attempts on the branch */
#define HISTORY_LOCK_WAIT_MS 30000  /* how long to wait for another fleetctl's write */
#define HISTORY_BLOB_MAX (64u << 20)
#define HISTORY_STALE_LOCK_S 600     /* a branch lock file this old was left by a crash */
#define HISTORY_PACK_MIN 32         /* host files from which an operation's objects go in one pack */
#define HISTORY_CACHE_OBJECT_MAX (16u << 20) /* commits and trees up to this size stay in libgit2's cache */

struct history {
	git_repository *repo;
	char *dir;         /* STATE_DIR/history */
	char *lock_path;   /* STATE_DIR/history.lock */
};

/* One host file to write: sorted by host so a host named twice is written once (the last result wins). */
struct history_hostfile {
	const char *host;
	size_t idx;
};

/* libgit2's message for the error that just happened on this thread. */
const char *
history_git_error(void)
{
	const git_error *e = git_error_last();

	return e != NULL && e->message != NULL ? e->message : "unknown libgit2 error";
}

static void
history_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Names that become tree paths: one plain path component, printable, no blanks. */
static int
history_check_name(const char *what, const char *s, char **cause)
{
	size_t i, len;

	if (s == NULL || *s == '\0')
		return set_cause(cause, -1, "history: empty %s name", what);
	len = strlen(s);
	if (len > HISTORY_NAME_MAX)
		return set_cause(cause, -1, "history: %s name too long (%zu bytes)", what, len);
	if (s[0] == '.')
		return set_cause(cause, -1, "history: %s name '%s' starts with '.'", what, s);
	if (strstr(s, "..") != NULL)
		return set_cause(cause, -1, "history: %s name '%s' contains '..'", what, s);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '/' || c == '\\')
			return set_cause(cause, -1, "history: %s name '%s' contains '%c'", what, s, c);
		if (c <= 0x20 || c == 0x7f)
			return set_cause(cause, -1, "history: %s name contains a blank or control character", what);
	}
	return 0;
}

/* Append s on one line: newlines and tabs become spaces, other control characters '?'.
 * max > 0 keeps at most max bytes, cut on a UTF-8 character boundary, and marks the cut. */
static void
history_add_oneline(struct buf *b, const char *s, size_t max)
{
	size_t n = strlen(s), i;
	bool cut = false;

	if (max > 0 && n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		cut = true;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char o = (char)c;

		if (c == '\n' || c == '\r' || c == '\t')
			o = ' ';
		else if (c < 0x20 || c == 0x7f)
			o = '?';
		buf_add(b, &o, 1);
	}
	if (cut)
		buf_adds(b, "...");
}

static void
history_add_kv(struct buf *b, const char *key, const char *value)
{
	if (value == NULL)
		return;
	buf_adds(b, key);
	buf_adds(b, ": ");
	history_add_oneline(b, value, 0);
	buf_adds(b, "\n");
}

static void
history_add_list(struct buf *b, const char *key, char *const *v)
{
	size_t i, j;

	for (i = 0; v != NULL && v[i] != NULL; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(v[j], v[i]) == 0)
				break;
		if (j == i)
			history_add_kv(b, key, v[i]);
	}
}

/* The state file; last_op, last_run and updated fall back to the given defaults when unset. */
static char *
history_state_text(const struct hist_state *s, const char *kind, const char *run_id, const char *now)
{
	struct buf b;

	buf_init(&b, 0);
	history_add_kv(&b, "current", s->current);
	history_add_kv(&b, "previous", s->previous);
	history_add_list(&b, "good", s->good);
	history_add_list(&b, "failed", s->failed);
	history_add_kv(&b, "last_op", s->last_op != NULL ? s->last_op : kind);
	history_add_kv(&b, "last_result", s->last_result);
	history_add_kv(&b, "last_run", s->last_run != NULL ? s->last_run : run_id);
	history_add_kv(&b, "updated", s->updated != NULL ? s->updated : now);
	return buf_detach(&b);
}

char *
hist_state_format(const struct hist_state *s)
{
	return history_state_text(s, NULL, NULL, NULL);
}

static void
history_replace(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

void
hist_state_parse(const char *text, struct hist_state *out)
{
	size_t ngood = 0, nfailed = 0, len;
	const char *p = text;
	char *line, *colon, *key, *val;

	memset(out, 0, sizeof(*out));
	while (p != NULL && *p != '\0') {
		len = strcspn(p, "\n");
		line = xstrndup(p, len);
		colon = strchr(line, ':');
		if (colon != NULL) {
			*colon = '\0';
			key = str_trim(line);
			val = str_trim(colon + 1);
			if (strcmp(key, "current") == 0)
				history_replace(&out->current, val);
			else if (strcmp(key, "previous") == 0)
				history_replace(&out->previous, val);
			else if (strcmp(key, "good") == 0)
				strv_push(&out->good, &ngood, xstrdup(val));
			else if (strcmp(key, "failed") == 0)
				strv_push(&out->failed, &nfailed, xstrdup(val));
			else if (strcmp(key, "last_op") == 0)
				history_replace(&out->last_op, val);
			else if (strcmp(key, "last_result") == 0)
				history_replace(&out->last_result, val);
			else if (strcmp(key, "last_run") == 0)
				history_replace(&out->last_run, val);
			else if (strcmp(key, "updated") == 0)
				history_replace(&out->updated, val);
		}
		free(line);
		p += len;
		if (*p == '\n')
			p++;
	}
}

void
hist_state_free(struct hist_state *s)
{
	if (s == NULL)
		return;
	free(s->current);
	free(s->previous);
	strv_free(s->good);
	strv_free(s->failed);
	free(s->last_op);
	free(s->last_result);
	free(s->last_run);
	free(s->updated);
	memset(s, 0, sizeof(*s));
}

/* Exclusive flock on the lock file, waiting a bounded time for another writer. */
static int
history_lock(const char *path, int *fdp, char **cause)
{
	int64_t start = now_ms();
	int fd;

	*fdp = -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return set_cause(cause, -1, "cannot open '%s': %s", path, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			set_cause(cause, -1, "cannot lock '%s': %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (now_ms() - start > HISTORY_LOCK_WAIT_MS) {
			set_cause(cause, -1, "'%s' held by another fleetctl for over %d s", path,
			    HISTORY_LOCK_WAIT_MS / 1000);
			close(fd);
			return -1;
		}
		history_sleep_ms(10);
	}
	*fdp = fd;
	return 0;
}

static void
history_unlock(int fd)
{
	if (fd < 0)
		return;
	flock(fd, LOCK_UN);
	close(fd);
}

int
history_open(const char *state_dir, struct history **out, char **cause)
{
	static bool fsync_on;
	git_repository_init_options io;
	struct history *h;
	int fd = -1, rc = -1, err;

	*out = NULL;
	/* An audit trail a power cut can eat is not one: libgit2 does not fsync unless asked. */
	if (!fsync_on) {
		if (git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1) < 0)
			return set_cause(cause, -1, "history: cannot enable fsync: %s", history_git_error());
		/*
		 * libgit2 caches no commit or tree over 4 KiB, and at 10,000 terminals the tip commit (one result
		 * line each) is 500 KB and hosts/ (one entry each) 340 KB: every history_host_state would read,
		 * inflate and hash both again, quadratic over a push (33 s for 10,000 lookups).  Cached, a lookup
		 * is a binary search.
		 */
		git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_COMMIT, (size_t)HISTORY_CACHE_OBJECT_MAX);
		git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)HISTORY_CACHE_OBJECT_MAX);
		fsync_on = true;
	}
	if (mkdir_p(state_dir, 0755) < 0)
		return set_cause(cause, -1, "cannot create '%s': %s", state_dir, strerror(errno));
	h = xcalloc(1, sizeof(*h));
	h->dir = xasprintf("%s/history", state_dir);
	h->lock_path = xasprintf("%s/history.lock", state_dir);
	/* Under the lock so two first runs do not initialise the repository at once. */
	if (history_lock(h->lock_path, &fd, cause) < 0)
		goto out;
	err = git_repository_open_ext(&h->repo, h->dir,
	    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL);
	if (err == GIT_ENOTFOUND) {
		git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		io.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
		io.initial_head = "main";
		io.description = "fleetctl audit trail: one commit per operation\n";
		err = git_repository_init_ext(&h->repo, h->dir, &io);
	}
	if (err < 0) {
		set_cause(cause, -1, "history: '%s': %s", h->dir, history_git_error());
		goto out;
	}
	rc = 0;
out:
	history_unlock(fd);
	if (rc < 0)
		history_close(h);
	else
		*out = h;
	return rc;
}

git_repository *
history_repo(struct history *h)
{
	return h->repo;
}

int
history_write_lock(struct history *h, int *fd, char **cause)
{
	return history_lock(h->lock_path, fd, cause);
}

void
history_write_unlock(int fd)
{
	history_unlock(fd);
}

void
history_close(struct history *h)
{
	if (h == NULL)
		return;
	git_repository_free(h->repo);
	free(h->dir);
	free(h->lock_path);
	free(h);
}

/* The tip's tree: 0, 1 when the branch has no commit yet, -1 with *cause. */
static int
history_tip_tree(struct history *h, git_oid *tip, git_tree **tree, char **cause)
{
	git_commit *c = NULL;
	git_oid id;
	int err;

	*tree = NULL;
	err = git_reference_name_to_id(&id, h->repo, HISTORY_BRANCH);
	if (err == GIT_ENOTFOUND)
		return 1;
	if (err < 0)
		return set_cause(cause, -1, "history: cannot read %s: %s", HISTORY_BRANCH, history_git_error());
	if (git_commit_lookup(&c, h->repo, &id) < 0 || git_commit_tree(tree, c) < 0) {
		set_cause(cause, -1, "history: cannot read commit: %s", history_git_error());
		git_commit_free(c);
		return -1;
	}
	git_commit_free(c);
	if (tip != NULL)
		git_oid_cpy(tip, &id);
	return 0;
}

/* Blob at path in tree, NUL-terminated: 0, 1 not found, -1 with *cause. */
int
history_tree_blob(git_repository *repo, git_tree *tree, const char *path, char **text, char **cause)
{
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	git_object_size_t size;
	char *s;
	int err;

	*text = NULL;
	err = git_tree_entry_bypath(&e, tree, path);
	if (err == GIT_ENOTFOUND)
		return 1;
	if (err < 0)
		return set_cause(cause, -1, "history: '%s': %s", path, history_git_error());
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		git_tree_entry_free(e);
		return 1;
	}
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) < 0) {
		set_cause(cause, -1, "history: '%s': %s", path, history_git_error());
		git_tree_entry_free(e);
		return -1;
	}
	git_tree_entry_free(e);
	size = git_blob_rawsize(blob);
	if (size > HISTORY_BLOB_MAX) {
		git_blob_free(blob);
		return set_cause(cause, -1, "history: '%s' too large", path);
	}
	s = xmalloc((size_t)size + 1);
	memcpy(s, git_blob_rawcontent(blob), (size_t)size);
	s[size] = '\0';
	git_blob_free(blob);
	*text = s;
	return 0;
}

/* Blob at path at the tip: 0, 1 not found (or empty history), -1. */
static int
history_read(struct history *h, const char *path, char **text, char **cause)
{
	git_tree *tree = NULL;
	int rc;

	*text = NULL;
	rc = history_tip_tree(h, NULL, &tree, cause);
	if (rc != 0)
		return rc;
	rc = history_tree_blob(h->repo, tree, path, text, cause);
	git_tree_free(tree);
	return rc;
}

/* Author and committer: git config user.name/user.email, else "$USER@hostname" for both. */
static int
history_signature(git_signature **sig, char **cause)
{
	git_config *cfg = NULL;
	git_buf name = GIT_BUF_INIT, email = GIT_BUF_INIT;
	struct passwd *pw;
	const char *user;
	char host[256], *ident;
	int err;

	*sig = NULL;
	if (git_config_open_default(&cfg) == 0 &&
	    git_config_get_string_buf(&name, cfg, "user.name") == 0 &&
	    git_config_get_string_buf(&email, cfg, "user.email") == 0 &&
	    name.size > 0 && email.size > 0)
		err = git_signature_now(sig, name.ptr, email.ptr);
	else
		err = -1;
	git_buf_dispose(&name);
	git_buf_dispose(&email);
	git_config_free(cfg);
	if (err == 0)
		return 0;

	user = getenv("USER");
	if (user == NULL || *user == '\0') {
		pw = getpwuid(geteuid());
		user = pw != NULL ? pw->pw_name : "fleetctl";
	}
	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	ident = xasprintf("%s@%s", user, host);
	err = git_signature_now(sig, ident, ident);
	if (err < 0)
		err = git_signature_now(sig, "fleetctl", "fleetctl@localhost");
	if (err < 0)
		set_cause(cause, -1, "history: cannot make a signature for '%s': %s", ident, history_git_error());
	free(ident);
	return err < 0 ? -1 : 0;
}

/* Who ran it beyond the local user: a CI pipeline, or what $FLEETCTL_ACTOR says. */
static char *
history_actor(void)
{
	const char *v;

	if ((v = getenv("FLEETCTL_ACTOR")) != NULL && *v != '\0')
		return xstrdup(v);
	if ((v = getenv("CI_PIPELINE_ID")) != NULL && *v != '\0')
		return xasprintf("ci-pipeline %s", v);
	if ((v = getenv("GITHUB_RUN_ID")) != NULL && *v != '\0')
		return xasprintf("github-run %s", v);
	return NULL;
}

static void
history_add_result(struct buf *b, const struct hist_result *r)
{
	char *err, *t;

	buf_adds(b, r->host);
	buf_adds(b, " ");
	history_add_oneline(b, r->state != NULL && *r->state != '\0' ? r->state : "unknown", 0);
	if (r->step != NULL && *r->step != '\0') {
		buf_adds(b, " ");
		history_add_oneline(b, r->step, 0);
	}
	if (r->exit_code >= 0)
		buf_addf(b, " exit %d", r->exit_code);
	if (r->duration_ms >= 0)
		buf_addf(b, " %ldms", r->duration_ms);
	if (r->bytes)
		buf_addf(b, " sent=%llu reused=%llu", r->bytes_sent, r->bytes_reused);
	if (r->relay != NULL)
		buf_addf(b, " via=%s staged=%llu", r->relay, r->bytes_staged);
	if (r->error != NULL) {
		err = xstrdup(r->error);
		t = err;
		while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
			t++;
		t = str_trim(t);
		if (*t != '\0') {
			buf_adds(b, " ");
			history_add_oneline(b, t, HISTORY_ERROR_MAX);
		}
		free(err);
	}
	buf_adds(b, "\n");
}

static char *
history_message(const struct hist_op *op)
{
	struct buf b;
	const char *p;
	size_t i, len;
	char *actor, *line;

	buf_init(&b, 0);
	if (op->summary != NULL && *op->summary != '\0')
		history_add_oneline(&b, op->summary, 0);
	else {
		history_add_oneline(&b, op->kind, 0);
		buf_adds(&b, " ");
		buf_adds(&b, op->run_id);
	}
	buf_adds(&b, "\n\n");
	history_add_kv(&b, "Run", op->run_id);
	history_add_kv(&b, "Kind", op->kind);
	history_add_kv(&b, "Component", op->component);
	history_add_kv(&b, "Selection", op->selection);
	history_add_kv(&b, "Command", op->command);
	history_add_kv(&b, "Release", op->release_id);
	/* history_log's host filter reads exactly this many result lines after the blank line. */
	buf_addf(&b, "Terminals: %zu\n", op->nresults);
	if (op->nresults > 0) {
		buf_adds(&b, "\n");
		for (i = 0; i < op->nresults; i++)
			history_add_result(&b, &op->results[i]);
	}
	if (op->extra != NULL && *op->extra != '\0') {
		buf_adds(&b, "\n");
		for (p = op->extra; *p != '\0'; p += len + (p[len] == '\n')) {
			len = strcspn(p, "\n");
			line = xstrndup(p, len);
			if (*str_trim(line) != '\0') {   /* a blank line would start a new paragraph */
				history_add_oneline(&b, line, 0);
				buf_adds(&b, "\n");
			}
			free(line);
		}
	}
	actor = history_actor();
	if (actor != NULL) {
		buf_adds(&b, "\n");
		history_add_kv(&b, "Actor", actor);
		free(actor);
	}
	return buf_detach(&b);
}

static int
history_hostfile_cmp(const void *a, const void *b)
{
	const struct history_hostfile *x = a, *y = b;
	int c = strcmp(x->host, y->host);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int
history_check_op(const struct hist_op *op, char **cause)
{
	size_t i;

	if (op->kind == NULL || *op->kind == '\0')
		return set_cause(cause, -1, "history: operation without a kind");
	if (history_check_name("run", op->run_id, cause) < 0)
		return -1;
	if (op->component != NULL && history_check_name("component", op->component, cause) < 0)
		return -1;
	if (op->release_id != NULL && history_check_name("release", op->release_id, cause) < 0)
		return -1;
	if ((op->release_manifest != NULL || op->release_sha256 != NULL) &&
	    (op->component == NULL || op->release_id == NULL))
		return set_cause(cause, -1, "history: a release needs a component and a release id");
	if (op->nresults > 0 && op->results == NULL)
		return set_cause(cause, -1, "history: results missing");
	for (i = 0; i < op->nresults; i++) {
		if (history_check_name("host", op->results[i].host, cause) < 0)
			return -1;
		if (op->results[i].new_state != NULL && op->component == NULL)
			return set_cause(cause, -1, "history: host state without a component");
	}
	return 0;
}

/* Add an upsert of a blob made from text at path (path is taken over by *paths). */
static int
history_add_blob(git_repository *repo, git_tree_update *ups, size_t *nups, char **paths, char *path,
    const char *text, size_t len, char **cause)
{
	git_tree_update *u = &ups[*nups];

	paths[*nups] = path;
	memset(u, 0, sizeof(*u));
	u->action = GIT_TREE_UPDATE_UPSERT;
	u->filemode = GIT_FILEMODE_BLOB;
	u->path = path;
	(*nups)++;
	if (git_blob_create_from_buffer(&u->id, repo, text, len) < 0)
		return set_cause(cause, -1, "history: cannot write '%s': %s", path, history_git_error());
	return 0;
}

/* releases/<component>/.order with release_id appended if it is not there yet: 0, 1 unchanged, -1. */
static int
history_order_text(git_repository *repo, git_tree *parent, const char *path, const char *id,
    char **text, char **cause)
{
	char *old = NULL;
	const char *p;
	size_t len, idlen = strlen(id);
	int rc = 1;

	*text = NULL;
	if (parent != NULL) {
		rc = history_tree_blob(repo, parent, path, &old, cause);
		if (rc < 0)
			return -1;
	}
	for (p = old; p != NULL && *p != '\0'; p += len + (p[len] == '\n')) {
		len = strcspn(p, "\n");
		if (len == idlen && memcmp(p, id, len) == 0) {
			free(old);
			return 1;
		}
	}
	*text = xasprintf("%s%s%s\n", old != NULL ? old : "",
	    old != NULL && *old != '\0' && old[strlen(old) - 1] != '\n' ? "\n" : "", id);
	free(old);
	return 0;
}

/*
 * Big operations write their objects into memory and then as one pack: thousands of loose objects
 * would cost one fsync each (2,000 distinct host files took ~4 s), one pack costs one.  Small ones
 * stay loose so the repository does not fill up with tiny packs.
 */
static int
history_pack_begin(const char *dir, git_repository **repo, git_odb_backend **mp, char **cause)
{
	git_odb *odb = NULL;
	git_odb_backend *be = NULL;

	*repo = NULL;
	*mp = NULL;
	/* A handle of its own: a mempack cannot be taken off an odb again. */
	if (git_repository_open_bare(repo, dir) < 0 || git_repository_odb(&odb, *repo) < 0 ||
	    git_mempack_new(&be) < 0)
		goto fail;
	if (git_odb_add_backend(odb, be, 999) < 0) {
		be->free(be);
		goto fail;
	}
	git_odb_free(odb);
	*mp = be;
	return 0;
fail:
	set_cause(cause, -1, "history: '%s': %s", dir, history_git_error());
	git_odb_free(odb);
	git_repository_free(*repo);
	*repo = NULL;
	return -1;
}

/* Write what the mempack holds as one pack (fsynced when the gitdir fsync option is on). */
static int
history_pack_write(git_repository *repo, git_odb_backend *mp, char **cause)
{
	git_buf pack = GIT_BUF_INIT;
	git_odb *odb = NULL;
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats;
	int rc = -1;

	memset(&stats, 0, sizeof(stats));
	if (git_mempack_dump(&pack, repo, mp) < 0 || git_repository_odb(&odb, repo) < 0 ||
	    git_odb_write_pack(&wp, odb, NULL, NULL) < 0 ||
	    wp->append(wp, pack.ptr, pack.size, &stats) < 0 || wp->commit(wp, &stats) < 0) {
		set_cause(cause, -1, "history: cannot write a pack: %s", history_git_error());
		goto out;
	}
	git_mempack_reset(mp);
	rc = 0;
out:
	if (wp != NULL)
		wp->free(wp);
	git_odb_free(odb);
	git_buf_dispose(&pack);
	return rc;
}

/*
 * A power cut during a swap leaves refs/heads/main.lock behind and every later write would fail.
 * We hold history.lock, so no fleetctl is swapping; plain git holds that file for milliseconds.
 */
static void
history_break_stale_lock(const char *dir)
{
	char *path = xasprintf("%s/%s.lock", dir, HISTORY_BRANCH);
	struct stat st;

	if (stat(path, &st) == 0 && time(NULL) - st.st_mtime > HISTORY_STALE_LOCK_S)
		unlink(path);
	free(path);
}

int
history_record(struct history *h, const struct hist_op *op, char commit_hex[41], char **cause)
{
	struct history_hostfile *hf = NULL;
	git_tree_update *ups = NULL;
	git_signature *sig = NULL;
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *tree = NULL;
	git_reference *ref = NULL;
	git_repository *repo = h->repo, *packrepo = NULL;
	git_odb_backend *mp = NULL;
	git_oid parent_id, tree_id, commit_id;
	size_t nups = 0, nfixed, nhf = 0, i, maxups, try;
	char **paths = NULL, *msg = NULL, *logmsg = NULL, *text = NULL, *prev_text = NULL;
	char *order_path = NULL, now[32];
	const git_commit *parents[1];
	struct tm tm;
	time_t t;
	int fd = -1, rc = -1, err, have_parent;

	if (history_check_op(op, cause) < 0)
		return -1;
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);

	/* One update list for the whole operation: hosts, release files, run record, release order. */
	maxups = op->nresults + 4;
	ups = xcalloc(maxups, sizeof(*ups));
	paths = xcalloc(maxups + 1, sizeof(*paths));
	hf = xcalloc(op->nresults + 1, sizeof(*hf));
	for (i = 0; i < op->nresults; i++) {
		if (op->results[i].new_state == NULL)
			continue;
		hf[nhf].host = op->results[i].host;
		hf[nhf].idx = i;
		nhf++;
	}
	qsort(hf, nhf, sizeof(*hf), history_hostfile_cmp);
	if (nhf >= HISTORY_PACK_MIN) {
		if (history_pack_begin(h->dir, &packrepo, &mp, cause) < 0)
			goto out;
		repo = packrepo;
	}
	for (i = 0; i < nhf; i++) {
		const struct hist_result *r = &op->results[hf[i].idx];

		if (i + 1 < nhf && strcmp(hf[i + 1].host, hf[i].host) == 0)
			continue;   /* a later result for the same host wins */
		text = history_state_text(r->new_state, op->kind, op->run_id, now);
		/* Most hosts of one operation share one state text: hash it once. */
		if (prev_text != NULL && strcmp(prev_text, text) == 0) {
			ups[nups] = ups[nups - 1];
			paths[nups] = xasprintf("hosts/%s/%s", r->host, op->component);
			ups[nups].path = paths[nups];
			nups++;
			free(text);
			text = NULL;
			continue;
		}
		if (history_add_blob(repo, ups, &nups, paths, xasprintf("hosts/%s/%s", r->host, op->component),
		    text, strlen(text), cause) < 0)
			goto out;
		free(prev_text);
		prev_text = text;
		text = NULL;
	}
	if (op->release_manifest != NULL && history_add_blob(repo, ups, &nups, paths,
	    xasprintf("releases/%s/%s.manifest", op->component, op->release_id),
	    op->release_manifest, strlen(op->release_manifest), cause) < 0)
		goto out;
	if (op->release_sha256 != NULL) {
		char *sha = xstrdup(op->release_sha256);

		text = xasprintf("%s\n", str_trim(sha));
		free(sha);
		if (history_add_blob(repo, ups, &nups, paths,
		    xasprintf("releases/%s/%s.sha256", op->component, op->release_id),
		    text, strlen(text), cause) < 0)
			goto out;
		free(text);
		text = NULL;
	}
	if (op->run_json != NULL && history_add_blob(repo, ups, &nups, paths,
	    xasprintf("runs/%s.json", op->run_id), op->run_json, strlen(op->run_json), cause) < 0)
		goto out;
	nfixed = nups;
	if (op->release_manifest != NULL || op->release_sha256 != NULL)
		order_path = xasprintf("releases/%s/.order", op->component);

	msg = history_message(op);
	logmsg = xasprintf("fleetctl %s %s", op->kind, op->run_id);
	if (history_signature(&sig, cause) < 0)
		goto out;

	if (history_lock(h->lock_path, &fd, cause) < 0)
		goto out;
	/* Read tip, build, swap.  The lock keeps other fleetctl processes out; the compare-and-swap
	 * catches anyone else (plain git), and then we build again on the new tip. */
	for (try = 0;; try++) {
		git_commit_free(parent);
		git_tree_free(ptree);
		git_tree_free(tree);
		git_reference_free(ref);
		parent = NULL;
		ptree = tree = NULL;
		ref = NULL;
		if (nups > nfixed) {
			free(paths[nfixed]);
			paths[nfixed] = NULL;
			nups = nfixed;
		}

		err = git_reference_name_to_id(&parent_id, repo, HISTORY_BRANCH);
		if (err < 0 && err != GIT_ENOTFOUND) {
			set_cause(cause, -1, "history: cannot read %s: %s", HISTORY_BRANCH, history_git_error());
			goto out;
		}
		have_parent = err == 0;
		if (have_parent && (git_commit_lookup(&parent, repo, &parent_id) < 0 ||
		    git_commit_tree(&ptree, parent) < 0)) {
			set_cause(cause, -1, "history: cannot read the tip: %s", history_git_error());
			goto out;
		}
		if (order_path != NULL) {
			err = history_order_text(repo, ptree, order_path, op->release_id, &text, cause);
			if (err < 0)
				goto out;
			if (err == 0) {
				err = history_add_blob(repo, ups, &nups, paths, xstrdup(order_path), text,
				    strlen(text), cause);
				free(text);
				text = NULL;
				if (err < 0)
					goto out;
			}
		}
		if (git_tree_create_updated(&tree_id, repo, ptree, nups, ups) < 0 ||
		    git_tree_lookup(&tree, repo, &tree_id) < 0) {
			set_cause(cause, -1, "history: cannot build the tree: %s", history_git_error());
			goto out;
		}
		parents[0] = parent;
		if (git_commit_create(&commit_id, repo, NULL, sig, sig, NULL, msg, tree,
		    have_parent ? 1 : 0, parents) < 0) {
			set_cause(cause, -1, "history: cannot write the commit: %s", history_git_error());
			goto out;
		}
		/* The objects must be on disk before the branch points at them. */
		if (mp != NULL && history_pack_write(repo, mp, cause) < 0)
			goto out;
		if (have_parent)
			err = git_reference_create_matching(&ref, repo, HISTORY_BRANCH, &commit_id, 1,
			    &parent_id, logmsg);
		else
			err = git_reference_create(&ref, repo, HISTORY_BRANCH, &commit_id, 0, logmsg);
		if (err == 0)
			break;
		if ((err != GIT_EMODIFIED && err != GIT_ELOCKED && err != GIT_EEXISTS) ||
		    try + 1 >= HISTORY_SWAP_TRIES) {
			set_cause(cause, -1, "history: cannot update %s: %s", HISTORY_BRANCH, history_git_error());
			goto out;
		}
		if (err == GIT_ELOCKED)
			history_break_stale_lock(h->dir);
		history_sleep_ms(5 + (long)(try % 10) * 5);
	}
	if (commit_hex != NULL)
		git_oid_tostr(commit_hex, 41, &commit_id);
	rc = 0;
out:
	history_unlock(fd);
	git_reference_free(ref);
	git_tree_free(tree);
	git_tree_free(ptree);
	git_commit_free(parent);
	git_signature_free(sig);
	git_repository_free(packrepo);   /* frees its odb and the mempack */
	for (i = 0; i < maxups; i++)
		free(paths[i]);
	free(paths);
	free(ups);
	free(hf);
	free(text);
	free(prev_text);
	free(order_path);
	free(msg);
	free(logmsg);
	return rc;
}

int
history_host_state(struct history *h, const char *host, const char *component, struct hist_state *out, char **cause)
{
	char *path, *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (history_check_name("host", host, cause) < 0 || history_check_name("component", component, cause) < 0)
		return -1;
	path = xasprintf("hosts/%s/%s", host, component);
	rc = history_read(h, path, &text, cause);
	free(path);
	if (rc == 0)
		hist_state_parse(text, out);
	free(text);
	return rc;
}

static int
history_release_file(struct history *h, const char *component, const char *release_id, const char *ext,
    char **text, char **cause)
{
	char *path;
	int rc;

	*text = NULL;
	if (history_check_name("component", component, cause) < 0 ||
	    history_check_name("release", release_id, cause) < 0)
		return -1;
	path = xasprintf("releases/%s/%s.%s", component, release_id, ext);
	rc = history_read(h, path, text, cause);
	free(path);
	return rc;
}

int
history_run_text(struct history *h, const char *run_id, char **text, char **cause)
{
	char *path;
	int rc;

	*text = NULL;
	if (history_check_name("run", run_id, cause) < 0)
		return -1;
	path = xasprintf("runs/%s.json", run_id);
	rc = history_read(h, path, text, cause);
	free(path);
	if (rc != 0) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

int
history_has_run(struct history *h, const char *run_id, char **cause)
{
	char *text = NULL;
	int rc = history_run_text(h, run_id, &text, cause);

	free(text);
	return rc < 0 ? -1 : rc == 0 ? 1 : 0;
}

int
history_release_sha256(struct history *h, const char *component, const char *release_id, char **sha, char **cause)
{
	char *text = NULL;
	int rc;

	*sha = NULL;
	rc = history_release_file(h, component, release_id, "sha256", &text, cause);
	if (rc == 0)
		*sha = xstrdup(str_trim(text));
	free(text);
	return rc;
}

int
history_release_manifest(struct history *h, const char *component, const char *release_id, char **text, char **cause)
{
	return history_release_file(h, component, release_id, "manifest", text, cause);
}

/* Does id name the release `name`: the id itself, or its version (id minus a trailing "-<12hex>")? */
static bool
history_release_matches(const char *id, const char *name)
{
	const char *dash = strrchr(id, '-');
	size_t i;

	if (strcmp(id, name) == 0)
		return true;
	if (dash == NULL || strlen(dash + 1) != 12)
		return false;
	for (i = 1; i <= 12; i++)
		if (strchr("0123456789abcdef", dash[i]) == NULL)
			return false;
	return strlen(name) == (size_t)(dash - id) && memcmp(id, name, (size_t)(dash - id)) == 0;
}

int
history_find_releases(struct history *h, const char *component, const char *name, char ***ids, char **cause)
{
	char *path, *text = NULL, **lines = NULL, **found = NULL;
	const char *p;
	size_t nlines = 0, nfound = 0, len, i;
	int rc;

	*ids = NULL;
	if (history_check_name("component", component, cause) < 0)
		return -1;
	if (name == NULL)
		return set_cause(cause, -1, "history: no release name to find");
	path = xasprintf("releases/%s/.order", component);
	rc = history_read(h, path, &text, cause);
	free(path);
	if (rc < 0)
		return -1;
	for (p = text; p != NULL && *p != '\0'; p += len + (p[len] == '\n')) {
		len = strcspn(p, "\n");
		if (len > 0)
			strv_push(&lines, &nlines, xstrndup(p, len));
	}
	free(text);
	found = xcalloc(1, sizeof(*found));
	for (i = nlines; i-- > 0;)   /* the order file is oldest first */
		if (history_release_matches(lines[i], name))
			strv_push(&found, &nfound, xstrdup(lines[i]));
	strv_free(lines);
	*ids = found;
	return 0;
}

static int
history_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool
hist_body_names_any(const char *body, const char *const *hosts, size_t nhosts)
{
	const char *p = body, *eol = body;
	long nterm = -1, i;
	size_t wlen;
	char *num, *word;
	bool hit;

	if (body == NULL || nhosts == 0)
		return false;
	/* The header paragraph: only "Terminals: N" matters here. */
	for (; *p != '\0' && *p != '\n'; p = *eol == '\n' ? eol + 1 : eol) {
		eol = p + strcspn(p, "\n");
		if (strncmp(p, "Terminals: ", 11) == 0) {
			num = xstrndup(p + 11, (size_t)(eol - p - 11));
			if (parse_long(num, 0, 100000000, &nterm) < 0)
				nterm = -1;
			free(num);
		}
	}
	if (nterm <= 0 || *p != '\n')
		return false;
	/* Then exactly nterm result lines, each starting with the host name. */
	for (p++, i = 0; i < nterm && *p != '\0'; i++, p = *eol == '\n' ? eol + 1 : eol) {
		eol = p + strcspn(p, "\n");
		wlen = strcspn(p, " \n");
		word = xstrndup(p, wlen);
		hit = bsearch(&word, hosts, nhosts, sizeof(*hosts), history_strcmp_p) != NULL;
		free(word);
		if (hit)
			return true;
	}
	return false;
}

int
history_log(struct history *h, const char *host, size_t n, int (*cb)(const struct hist_entry *, void *),
    void *arg, char **cause)
{
	git_revwalk *walk = NULL;
	git_commit *c = NULL;
	const git_signature *author;
	struct hist_entry e;
	git_oid id;
	char hex[GIT_OID_HEXSZ + 1];
	const char *body;
	size_t count = 0;
	int err, rc = -1, r;

	if (git_revwalk_new(&walk, h->repo) < 0) {
		set_cause(cause, -1, "history: %s", history_git_error());
		goto out;
	}
	err = git_reference_name_to_id(&id, h->repo, HISTORY_BRANCH);
	if (err == GIT_ENOTFOUND) {
		rc = 0;
		goto out;
	}
	if (err == 0)
		err = git_revwalk_push(walk, &id);
	if (err < 0) {
		set_cause(cause, -1, "history: cannot read %s: %s", HISTORY_BRANCH, history_git_error());
		goto out;
	}
	/* The history is linear: the default walk is newest first without loading every commit. */
	while ((err = git_revwalk_next(&id, walk)) == 0) {
		if (git_commit_lookup(&c, h->repo, &id) < 0) {
			set_cause(cause, -1, "history: cannot read a commit: %s", history_git_error());
			goto out;
		}
		if (host != NULL && !hist_body_names_any(git_commit_body(c), &host, 1)) {
			git_commit_free(c);
			c = NULL;
			continue;
		}
		author = git_commit_author(c);
		body = git_commit_body(c);
		git_oid_tostr(hex, sizeof(hex), &id);
		e.commit = hex;
		e.author = author->name;
		e.email = author->email;
		e.time = (long long)git_commit_time(c);
		e.summary = git_commit_summary(c) != NULL ? git_commit_summary(c) : "";
		e.body = body != NULL ? body : "";
		r = cb(&e, arg);
		git_commit_free(c);
		c = NULL;
		if (r < 0) {
			rc = r;
			goto out;
		}
		if (r > 0 || (n > 0 && ++count >= n))
			break;
	}
	if (err < 0 && err != GIT_ITEROVER) {
		set_cause(cause, -1, "history: walking %s: %s", HISTORY_BRANCH, history_git_error());
		goto out;
	}
	rc = 0;
out:
	git_commit_free(c);
	git_revwalk_free(walk);
	return rc;
}
