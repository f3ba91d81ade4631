/*
 * journal: append-only, fsync'd JSON-lines record of a run, and its reader.
 *
 * Durability: each line is formatted whole, written with one write() to an O_APPEND descriptor, and the call
 * returns only after fdatasync.  Threads append under one mutex (file order = time order) and then share
 * fsyncs: whoever syncs covers every line written before it started, so eight workers finishing together
 * cost one or two fsyncs, not eight.  A crash can leave at most one torn final line; the reader ignores it
 * and journal_reopen cuts it off before appending.
 *
 * Liveness: the writer holds an OFD write lock on the file (released by the kernel when the process dies,
 * SIGKILL included).  The reader tests that lock without taking it, and also checks the recorded controller
 * pid (same host, same boot, same process start time, so a recycled pid is not mistaken for the controller).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "util.h"

#define JOURNAL_MAX_BYTES (256u << 20)   /* a journal larger than this is refused by the reader */

struct journal {
	int fd;
	char *path;
	pthread_mutex_t lock;       /* order of lines; written, size, error */
	pthread_mutex_t sync_lock;  /* one fdatasync at a time; synced, sync_failed */
	uint64_t written;           /* lines fully written */
	uint64_t synced;            /* lines known to be on disk */
	off_t size;                 /* file size after the last complete line */
	bool sync_failed;           /* after a failed fsync nothing later can be trusted to be on disk */
	char *error;                /* first failure, for journal_error */
};

bool
journal_valid_id(const char *run_id)
{
	size_t n;

	if (run_id == NULL || run_id[0] == '\0' || run_id[0] == '.')
		return false;
	n = strlen(run_id);
	if (n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = run_id[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static char *
journal_path(const char *state_dir, const char *run_id)
{
	return xasprintf("%s/runs/%s.jsonl", state_dir, run_id);
}

/* "2026-11-26T10:45:01.123Z" into out (at least 32 bytes). */
static void
journal_now(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

static char *
journal_hostname(void)
{
	char name[256];

	if (gethostname(name, sizeof(name)) != 0)
		return xstrdup("unknown");
	name[sizeof(name) - 1] = '\0';
	return xstrdup(name);
}

/* The start time of process pid (field 22 of /proc/PID/stat, clock ticks since boot); NULL if unknown. */
static char *
journal_pid_start(long pid)
{
	char path[64], *text = NULL, *p, *res = NULL;
	size_t len;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (read_file(path, 4096, &text, &len) != 0)
		return NULL;
	/* The command name (field 2) may hold spaces and parentheses: count from the last ')'. */
	p = strrchr(text, ')');
	for (field = 2; p != NULL && field < 22; field++) {
		p = strchr(p + 1, ' ');
	}
	if (p != NULL) {
		p++;
		res = xstrndup(p, strcspn(p, " \n"));
		if (*res == '\0') {
			free(res);
			res = NULL;
		}
	}
	free(text);
	return res;
}

static char *
journal_boot_id(void)
{
	char *text = NULL;
	size_t len;

	if (read_file("/proc/sys/kernel/random/boot_id", 256, &text, &len) != 0)
		return NULL;
	str_trim(text);
	return text;
}

/* Who is writing: pid, its start time, boot id, host name, added to obj. */
static void
journal_add_controller(json_t *obj, const char *host)
{
	char *start = journal_pid_start((long)getpid()), *boot = journal_boot_id();

	json_object_set_new(obj, "pid", json_integer((json_int_t)getpid()));
	if (start != NULL)
		json_object_set_new(obj, "pid_start", json_string(start));
	if (boot != NULL)
		json_object_set_new(obj, "boot", json_string(boot));
	json_object_set_new(obj, "controller", json_string(host));
	free(start);
	free(boot);
}

static int
journal_fsync_dir(const char *dir)
{
	int fd, rc;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
journal_fail(struct journal *j, const char *what, int err)
{
	pthread_mutex_lock(&j->lock);
	if (j->error == NULL)
		j->error = xasprintf("%s: %s: %s", j->path, what, strerror(err));
	pthread_mutex_unlock(&j->lock);
	return -1;
}

/*
 * Stamp obj with "time" (if set_time), write it as one line, and wait until it is on disk.
 * The time is taken under the lock so that times never go backwards down the file.
 */
static int
journal_append(struct journal *j, json_t *obj, bool set_time)
{
	char now[32], *text, *line;
	size_t len, off = 0;
	uint64_t seq, target;
	int err = 0;

	pthread_mutex_lock(&j->lock);
	if (set_time) {
		journal_now(now, sizeof(now));
		json_object_set_new(obj, "time", json_string(now));
	}
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	if (text == NULL) {
		pthread_mutex_unlock(&j->lock);
		return journal_fail(j, "cannot format a line", EINVAL);
	}
	line = xasprintf("%s\n", text);
	free(text);
	len = strlen(line);
	while (off < len) {
		ssize_t w = write(j->fd, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : ENOSPC;
			break;
		}
		off += (size_t)w;
	}
	if (err != 0) {
		/* Leave no half line behind for the next writer to glue onto. */
		if (off > 0 && ftruncate(j->fd, j->size) != 0) {
			/* the reader ignores a torn last line; reopen cuts it off */
		}
		free(line);
		pthread_mutex_unlock(&j->lock);
		return journal_fail(j, "write", err);
	}
	free(line);
	j->size += (off_t)len;
	seq = ++j->written;
	pthread_mutex_unlock(&j->lock);

	/* Group commit: one fdatasync covers every line completely written before it began. */
	pthread_mutex_lock(&j->sync_lock);
	if (j->sync_failed)
		err = EIO;
	else if (j->synced < seq) {
		pthread_mutex_lock(&j->lock);
		target = j->written;
		pthread_mutex_unlock(&j->lock);
		if (fdatasync(j->fd) != 0) {
			err = errno;
			j->sync_failed = true;
		} else
			j->synced = target;
	}
	pthread_mutex_unlock(&j->sync_lock);
	if (err != 0)
		return journal_fail(j, "fsync", err);
	return 0;
}

/* Take the OFD write lock on the whole file; 0, or -1 with errno (EAGAIN/EACCES: someone holds it). */
static int
journal_lock(int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	return fcntl(fd, F_OFD_SETLK, &fl);
}

static struct journal *
journal_new(int fd, const char *path, off_t size)
{
	struct journal *j = xcalloc(1, sizeof(*j));

	j->fd = fd;
	j->path = xstrdup(path);
	j->size = size;
	pthread_mutex_init(&j->lock, NULL);
	pthread_mutex_init(&j->sync_lock, NULL);
	return j;
}

int
journal_create(const char *state_dir, const char *run_id, json_t *plan, struct journal **out, char **cause)
{
	static unsigned counter;
	struct journal *j = NULL;
	json_t *line = NULL;
	char *dir = NULL, *path = NULL, *tmp = NULL, *host = NULL, now[32];
	bool linked = false;
	int fd = -1, rc = -1;

	*out = NULL;
	if (!journal_valid_id(run_id))
		return set_cause(cause, -1, "invalid run id '%s'", run_id != NULL ? run_id : "");
	if (plan != NULL && !json_is_object(plan))
		return set_cause(cause, -1, "run %s: the plan is not a JSON object", run_id);
	dir = xasprintf("%s/runs", state_dir);
	path = journal_path(state_dir, run_id);
	if (mkdir_p(dir, 0755) != 0) {
		set_cause(cause, -1, "cannot create '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (access(path, F_OK) == 0) {
		set_cause(cause, -1, "run %s already exists ('%s')", run_id, path);
		goto out;
	}
	/*
	 * The plan is written and synced under a temporary name that journal_list ignores, then linked to the
	 * real name (link fails if it exists: the O_EXCL of it).  So a run file never exists without its plan,
	 * and it is already locked when it appears.
	 */
	tmp = xasprintf("%s/.%s.%ld.%u.tmp", dir, run_id, (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	unlink(tmp);   /* left by a crashed process that had this pid */
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		set_cause(cause, -1, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (journal_lock(fd) != 0) {
		set_cause(cause, -1, "cannot lock '%s': %s", tmp, strerror(errno));
		goto out;
	}
	j = journal_new(fd, path, 0);
	fd = -1;

	line = json_object();
	json_object_set_new(line, "t", json_string("plan"));
	json_object_set_new(line, "run", json_string(run_id));
	journal_now(now, sizeof(now));
	json_object_set_new(line, "time", json_string(now));
	host = journal_hostname();
	journal_add_controller(line, host);
	if (plan != NULL)
		json_object_update_missing(line, plan);
	if (journal_append(j, line, false) != 0) {
		set_cause(cause, -1, "%s", journal_error(j));
		goto out;
	}
	if (link(tmp, path) != 0) {
		if (errno == EEXIST)
			set_cause(cause, -1, "run %s already exists ('%s')", run_id, path);
		else
			set_cause(cause, -1, "cannot create '%s': %s", path, strerror(errno));
		goto out;
	}
	linked = true;
	unlink(tmp);
	/* The new name must survive a crash too: the runs directory and, if it was just made, its parent. */
	if (journal_fsync_dir(dir) != 0 || journal_fsync_dir(state_dir) != 0) {
		set_cause(cause, -1, "cannot sync '%s': %s", dir, strerror(errno));
		goto out;
	}
	*out = j;
	j = NULL;
	rc = 0;
out:
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	if (rc != 0 && linked)
		unlink(path);
	journal_close(j);
	if (fd >= 0)
		close(fd);
	json_decref(line);
	free(host);
	free(tmp);
	free(dir);
	free(path);
	return rc;
}

/* Offset just past the last newline in fd (0 if none); -1 on a read error. */
static off_t
journal_last_newline(int fd, off_t size)
{
	char chunk[8192];
	off_t end = size;

	while (end > 0) {
		off_t start = end > (off_t)sizeof(chunk) ? end - (off_t)sizeof(chunk) : 0;
		ssize_t r = pread(fd, chunk, (size_t)(end - start), start);

		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)(end - start))
			return -1;
		for (ssize_t i = r - 1; i >= 0; i--)
			if (chunk[i] == '\n')
				return start + i + 1;
		end = start;
	}
	return 0;
}

int
journal_reopen(const char *state_dir, const char *run_id, struct journal **out, char **cause)
{
	struct journal *j = NULL;
	struct stat st;
	json_t *line = NULL;
	char *path = NULL, *host = NULL;
	off_t keep;
	int fd = -1, rc = -1;

	*out = NULL;
	if (!journal_valid_id(run_id))
		return set_cause(cause, -1, "invalid run id '%s'", run_id != NULL ? run_id : "");
	path = journal_path(state_dir, run_id);
	fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			rc = set_cause(cause, JOURNAL_ENOENT, "no run '%s'", run_id);
		else
			set_cause(cause, -1, "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	if (journal_lock(fd) != 0) {
		if (errno == EAGAIN || errno == EACCES)
			set_cause(cause, -1, "run %s is in use by another controller", run_id);
		else
			set_cause(cause, -1, "cannot lock '%s': %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || (keep = journal_last_newline(fd, st.st_size)) < 0) {
		set_cause(cause, -1, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (keep == 0) {
		set_cause(cause, -1, "run %s has no plan ('%s' holds no complete line)", run_id, path);
		goto out;
	}
	if (keep != st.st_size) {
		/* A crash mid-write left a torn line: cut it off so the next line starts clean. */
		if (ftruncate(fd, keep) != 0 || fdatasync(fd) != 0) {
			set_cause(cause, -1, "cannot cut the torn last line of '%s': %s", path, strerror(errno));
			goto out;
		}
	}
	j = journal_new(fd, path, keep);
	fd = -1;
	line = json_object();
	json_object_set_new(line, "t", json_string("resume"));
	host = journal_hostname();
	journal_add_controller(line, host);
	if (journal_append(j, line, true) != 0) {
		set_cause(cause, -1, "%s", journal_error(j));
		goto out;
	}
	*out = j;
	j = NULL;
	rc = 0;
out:
	journal_close(j);
	if (fd >= 0)
		close(fd);
	json_decref(line);
	free(host);
	free(path);
	return rc;
}

int
journal_state(struct journal *j, const char *host, const char *state, const char *step, const char *error, int wave)
{
	json_t *line;
	int rc;

	if (j == NULL || host == NULL || state == NULL)
		return -1;
	line = json_object();
	json_object_set_new(line, "t", json_string("state"));
	json_object_set_new(line, "host", json_string(host));
	json_object_set_new(line, "state", json_string(state));
	/* "time" goes here, set under the lock; jansson keeps insertion order. */
	json_object_set_new(line, "time", json_null());
	if (step != NULL)
		json_object_set_new(line, "step", json_string(step));
	if (error != NULL)
		json_object_set_new(line, "error", json_string(error));
	if (wave >= 0)
		json_object_set_new(line, "wave", json_integer(wave));
	rc = journal_append(j, line, true);
	json_decref(line);
	return rc;
}

/* {"t":TYPE,"time":null, ...fields}: an event line before its time is set (new reference). */
static json_t *
journal_event_obj(const char *type, json_t *fields)
{
	json_t *line = json_object();

	json_object_set_new(line, "t", json_string(type));
	json_object_set_new(line, "time", json_null());
	if (fields != NULL)
		json_object_update_missing(line, fields);
	return line;
}

int
journal_event(struct journal *j, const char *type, json_t *fields)
{
	json_t *line;
	int rc;

	if (j == NULL || type == NULL || strcmp(type, "state") == 0 || strcmp(type, "plan") == 0)
		return -1;
	if (fields != NULL && !json_is_object(fields))
		return -1;
	line = journal_event_obj(type, fields);
	rc = journal_append(j, line, true);
	json_decref(line);
	return rc;
}

char *
journal_event_text(const char *type, json_t *fields)
{
	json_t *line = journal_event_obj(type, fields);
	char now[32], *text, *out;

	journal_now(now, sizeof(now));
	json_object_set_new(line, "time", json_string(now));
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(line);
	out = xasprintf("%s\n", text != NULL ? text : "{}");
	free(text);
	return out;
}

const char *
journal_error(const struct journal *j)
{
	return j != NULL ? j->error : NULL;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	close(j->fd);   /* releases the OFD lock */
	pthread_mutex_destroy(&j->lock);
	pthread_mutex_destroy(&j->sync_lock);
	free(j->path);
	free(j->error);
	free(j);
}

/* ---- reading ---- */

static const char *
journal_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Does the controller described by obj (plan or resume line) still run, here? */
static bool
journal_controller_alive(json_t *obj)
{
	const char *ctl = journal_str(obj, "controller"), *start = journal_str(obj, "pid_start");
	const char *boot = journal_str(obj, "boot");
	json_int_t pid = json_integer_value(json_object_get(obj, "pid"));
	char *host = NULL, *mine = NULL;
	bool alive = false;

	if (ctl == NULL || pid <= 0 || pid > INT32_MAX)
		return false;
	host = journal_hostname();
	if (strcmp(host, ctl) != 0)
		goto out;
	if (boot != NULL) {
		mine = journal_boot_id();
		if (mine != NULL && strcmp(mine, boot) != 0)
			goto out;
		free(mine);
		mine = NULL;
	}
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		goto out;
	if (start != NULL) {
		/* A recycled pid has another start time. */
		mine = journal_pid_start((long)pid);
		if (mine == NULL || strcmp(mine, start) != 0)
			goto out;
	}
	alive = true;
out:
	free(host);
	free(mine);
	return alive;
}

/* Does some process hold the writer's lock on path? */
static bool
journal_locked(const char *path)
{
	struct flock fl;
	int fd;
	bool held = false;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_RDLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		held = true;
	close(fd);
	return held;
}

static struct journal_host *
journal_host_add(struct journal_run *r, size_t *alloc, json_t *index, const char *name, const char *plan_time)
{
	struct journal_host *h;
	json_t *entry;

	if (r->nhosts == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		r->hosts = xrealloc(r->hosts, *alloc * sizeof(*r->hosts));
	}
	h = &r->hosts[r->nhosts];
	memset(h, 0, sizeof(*h));
	h->host = xstrdup(name);
	h->wave = -1;
	h->lifecycle = json_array();
	if (plan_time != NULL) {
		h->state = xstrdup("planned");
		h->time = xstrdup(plan_time);
		entry = json_object();
		json_object_set_new(entry, "state", json_string("planned"));
		json_object_set_new(entry, "time", json_string(plan_time));
		json_array_append_new(h->lifecycle, entry);
	}
	json_object_set_new(index, name, json_integer((json_int_t)r->nhosts));
	r->nhosts++;
	return h;
}

static void
journal_host_state(struct journal_host *h, json_t *line)
{
	const char *key;
	json_t *v, *entry = json_object();
	json_t *wave = json_object_get(line, "wave");

	free(h->state);
	free(h->step);
	free(h->error);
	free(h->time);
	h->state = xstrdup(journal_str(line, "state"));
	h->step = xstrdup(journal_str(line, "step"));
	h->error = xstrdup(journal_str(line, "error"));
	h->time = xstrdup(journal_str(line, "time"));
	if (json_is_integer(wave) && json_integer_value(wave) >= 0 && json_integer_value(wave) <= INT32_MAX)
		h->wave = (int)json_integer_value(wave);
	json_object_foreach(line, key, v) {
		if (strcmp(key, "t") != 0 && strcmp(key, "host") != 0)
			json_object_set(entry, key, v);
	}
	json_array_append_new(h->lifecycle, entry);
}

bool
journal_state_to_do(const char *state)
{
	static const char *const to_do[] = { "unreachable", "timeout", "busy", "locked", "delayed", NULL };

	for (size_t i = 0; state != NULL && to_do[i] != NULL; i++)
		if (strcmp(state, to_do[i]) == 0)
			return true;
	return false;
}

const char *
journal_phase(const char *state)
{
	static const char *const phases[][2] = {
		{ "planned", "pending" }, { "pending", "pending" }, { "skipped", "pending" }, { "sent", "sent" },
		{ "installed", "installed" }, { "done", "done" }, { "failed", "failed" }, { "rolled-back", "failed" },
		{ "hostkey", "failed" }, { "auth", "failed" }, { "interrupted", "failed" }, { "expired", "expired" },
	};

	if (journal_state_to_do(state))
		return "delayed";
	for (size_t i = 0; state != NULL && i < sizeof(phases) / sizeof(phases[0]); i++)
		if (strcmp(state, phases[i][0]) == 0)
			return phases[i][1];
	return state != NULL ? state : "pending";
}

/* An open run whose deadline has passed: expired, and so is every terminal it still had to do. */
static void
journal_expire(struct journal_run *r, time_t now)
{
	json_t *until = json_object_get(json_object_get(r->plan, "options"), "until");

	if (strcmp(r->status, "open") != 0 || !json_is_integer(until) || json_integer_value(until) > (json_int_t)now)
		return;
	free(r->status);
	r->status = xstrdup("expired");
	r->expiry_unwritten = true;
	for (size_t i = 0; i < r->nhosts; i++) {
		if (!journal_state_to_do(r->hosts[i].state))
			continue;
		free(r->hosts[i].state);
		r->hosts[i].state = xstrdup("expired");
	}
}

int
journal_read(const char *state_dir, const char *run_id, struct journal_run **out, char **cause)
{
	struct journal_run *r = NULL;
	json_t *index = NULL, *last_ctl = NULL, *end = NULL, *hosts;
	char *path = NULL, *text = NULL, *p, *nl;
	const char *plan_time;
	size_t len, alloc = 0, lineno = 0;
	int rc = -1;

	*out = NULL;
	if (!journal_valid_id(run_id))
		return set_cause(cause, -1, "invalid run id '%s'", run_id != NULL ? run_id : "");
	path = journal_path(state_dir, run_id);
	if (read_file(path, JOURNAL_MAX_BYTES, &text, &len) != 0) {
		if (errno == ENOENT)
			rc = set_cause(cause, JOURNAL_ENOENT, "no run '%s'", run_id);
		else
			set_cause(cause, -1, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	r = xcalloc(1, sizeof(*r));
	r->id = xstrdup(run_id);
	r->exit_status = -1;
	r->events = json_array();
	index = json_object();

	for (p = text; p < text + len; p = nl + 1) {
		json_t *line;
		const char *t;

		nl = memchr(p, '\n', (size_t)(text + len - p));
		if (nl == NULL) {
			/* No newline: the write that made it never finished. */
			r->torn = true;
			break;
		}
		lineno++;
		line = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, NULL);
		t = journal_str(line, "t");
		if (lineno == 1) {
			if (t == NULL || strcmp(t, "plan") != 0) {
				json_decref(line);
				set_cause(cause, -1, "'%s': the first line is not a run plan", path);
				goto out;
			}
			r->plan = line;
			last_ctl = line;
			plan_time = journal_str(line, "time");
			hosts = json_object_get(line, "hosts");
			if (json_is_array(hosts)) {
				size_t i;
				json_t *v;

				json_array_foreach(hosts, i, v) {
					const char *name = json_string_value(v);

					if (name != NULL && json_object_get(index, name) == NULL)
						journal_host_add(r, &alloc, index, name, plan_time != NULL ? plan_time : "");
				}
			}
			continue;
		}
		if (t == NULL || strcmp(t, "plan") == 0) {
			r->bad_lines++;
			json_decref(line);
			continue;
		}
		if (strcmp(t, "state") == 0) {
			const char *name = journal_str(line, "host"), *state = journal_str(line, "state");
			json_t *ix;

			if (name == NULL || state == NULL) {
				r->bad_lines++;
				json_decref(line);
				continue;
			}
			ix = json_object_get(index, name);
			journal_host_state(ix != NULL ? &r->hosts[json_integer_value(ix)] :
			    journal_host_add(r, &alloc, index, name, NULL), line);
			json_decref(line);
			continue;
		}
		json_array_append_new(r->events, line);
		if (strcmp(t, "resume") == 0) {
			last_ctl = line;
			end = NULL;   /* a resumed run is not over until its next end */
		} else if (strcmp(t, "end") == 0)
			end = line;
	}
	if (r->plan == NULL) {
		set_cause(cause, -1, "run %s has no plan ('%s' holds no complete line)", run_id, path);
		goto out;
	}

	if (end != NULL) {
		json_t *ex = json_object_get(end, "exit");
		const char *result = journal_str(end, "result");

		r->status = xstrdup(result != NULL ? result : "done");
		if (json_is_integer(ex))
			r->exit_status = (int)json_integer_value(ex);
	} else {
		size_t ne = json_array_size(r->events);
		const char *lt = ne > 0 ? journal_str(json_array_get(r->events, ne - 1), "t") : NULL;

		if (lt != NULL && strcmp(lt, "pause") == 0)
			r->status = xstrdup("paused");
		else if (journal_locked(path) || journal_controller_alive(last_ctl))
			r->status = xstrdup("running");
		else
			r->status = xstrdup("interrupted");
	}
	journal_expire(r, time(NULL));
	*out = r;
	r = NULL;
	rc = 0;
out:
	journal_run_free(r);
	json_decref(index);
	free(text);
	free(path);
	return rc;
}

void
journal_run_free(struct journal_run *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nhosts; i++) {
		free(r->hosts[i].host);
		free(r->hosts[i].state);
		free(r->hosts[i].step);
		free(r->hosts[i].error);
		free(r->hosts[i].time);
		json_decref(r->hosts[i].lifecycle);
	}
	free(r->hosts);
	free(r->id);
	free(r->status);
	json_decref(r->plan);
	json_decref(r->events);
	free(r);
}

static json_t *
journal_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
journal_run_json(const struct journal_run *r)
{
	json_t *o = json_object(), *hosts = json_array();

	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "status", json_string(r->status));
	json_object_set_new(o, "exit_status", r->exit_status >= 0 ? json_integer(r->exit_status) : json_null());
	json_object_set_new(o, "torn", json_boolean(r->torn));
	json_object_set_new(o, "bad_lines", json_integer((json_int_t)r->bad_lines));
	json_object_set_new(o, "counts", journal_run_counts(r));
	json_object_set(o, "plan", r->plan);
	json_object_set(o, "events", r->events);
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct journal_host *h = &r->hosts[i];
		json_t *hj = json_object();

		json_object_set_new(hj, "host", json_string(h->host));
		json_object_set_new(hj, "state", journal_str_or_null(h->state));
		json_object_set_new(hj, "phase", json_string(journal_phase(h->state)));
		json_object_set_new(hj, "step", journal_str_or_null(h->step));
		json_object_set_new(hj, "error", journal_str_or_null(h->error));
		json_object_set_new(hj, "time", journal_str_or_null(h->time));
		json_object_set_new(hj, "wave", h->wave >= 0 ? json_integer(h->wave) : json_null());
		json_object_set(hj, "lifecycle", h->lifecycle);
		json_array_append_new(hosts, hj);
	}
	json_object_set_new(o, "hosts", hosts);
	return o;
}

json_t *
journal_run_counts(const struct journal_run *r)
{
	static const char *const order[] = {
		"planned", "sent", "installed", "done", "failed", "unreachable", "delayed", "expired", "skipped",
		"rolled-back", "locked", "busy", NULL
	};
	json_t *c = json_object(), *tally = json_object();
	const char *key;
	json_t *v;

	for (size_t i = 0; i < r->nhosts; i++) {
		const char *s = r->hosts[i].state != NULL ? r->hosts[i].state : "planned";
		json_int_t n = json_integer_value(json_object_get(tally, s));

		json_object_set_new(tally, s, json_integer(n + 1));
	}
	for (size_t i = 0; order[i] != NULL; i++) {
		if ((v = json_object_get(tally, order[i])) != NULL)
			json_object_set(c, order[i], v);
	}
	json_object_foreach(tally, key, v) {
		if (json_object_get(c, key) == NULL)
			json_object_set(c, key, v);
	}
	json_decref(tally);
	return c;
}

char *
journal_counts_text(const struct journal_run *r)
{
	json_t *c = journal_run_counts(r), *v;
	const char *key;
	struct buf b;

	buf_init(&b, 0);
	json_object_foreach(c, key, v) {
		buf_addf(&b, "%s%" JSON_INTEGER_FORMAT " %s", b.len > 0 ? ", " : "", json_integer_value(v), key);
	}
	if (b.len == 0)
		buf_adds(&b, "no terminals");
	json_decref(c);
	return buf_detach(&b);
}

static int
journal_cmp_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

int
journal_list(const char *state_dir, char ***ids, char **cause)
{
	char *dir = xasprintf("%s/runs", state_dir), **v = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	*ids = NULL;
	d = opendir(dir);
	if (d == NULL) {
		if (errno != ENOENT) {
			set_cause(cause, -1, "cannot read '%s': %s", dir, strerror(errno));
			free(dir);
			return -1;
		}
	} else {
		while ((de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			char *id;

			if (len <= 6 || strcmp(de->d_name + len - 6, ".jsonl") != 0)
				continue;
			id = xstrndup(de->d_name, len - 6);
			if (!journal_valid_id(id)) {
				free(id);
				continue;
			}
			strv_push(&v, &n, id);
		}
		closedir(d);
	}
	if (v == NULL)
		v = xcalloc(1, sizeof(*v));
	qsort(v, n, sizeof(*v), journal_cmp_desc);
	*ids = v;
	free(dir);
	return 0;
}

int
journal_text(const char *state_dir, const char *run_id, char **text, char **cause)
{
	char *path;
	size_t len;
	int rc = 0;

	*text = NULL;
	if (!journal_valid_id(run_id))
		return set_cause(cause, -1, "invalid run id '%s'", run_id != NULL ? run_id : "");
	path = journal_path(state_dir, run_id);
	if (read_file(path, JOURNAL_MAX_BYTES, text, &len) != 0) {
		rc = errno == ENOENT ? JOURNAL_ENOENT : -1;
		set_cause(cause, rc, "cannot read '%s': %s", path, strerror(errno));
	}
	free(path);
	return rc;
}
