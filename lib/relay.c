/* relay: stage an archive once on a site node and run a terminal's commands through that node's client. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "knownhosts.h"
#include "shquote.h"
#include "util.h"

/* Printed to stderr by the terminal's shell before the command: the relay's client got through. */
#define RELAY_SENTINEL "\037fleetctl-relay-in\n"
#define RELAY_DEFAULT_CACHE ".fleetctl-relay"   /* relative: below the relay account's home */
#define RELAY_PRUNE_DAYS 14                     /* cached archives unused this long go */
#define RELAY_NOTE_MAX 2048                     /* bytes of the client's own messages kept */
#define RELAY_KEX "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256"

enum relay_item_state { RI_ABSENT, RI_STAGING, RI_READY };

struct relay_item {
	char *key;              /* cache directory "/" name */
	enum relay_item_state state;
};

struct relay_site {
	const struct inv_host *host;
	struct relay_table *table;
	long active;            /* terminals being served now */
	struct relay_item *items;
	size_t nitems;
};

struct relay_table {
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* a slot or an item changed */
	struct relay_site **sites;
	size_t nsites;
};

struct relay_table *
relay_table_new(void)
{
	struct relay_table *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	return t;
}

void
relay_table_free(struct relay_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nsites; i++) {
		for (size_t j = 0; j < t->sites[i]->nitems; j++)
			free(t->sites[i]->items[j].key);
		free(t->sites[i]->items);
		free(t->sites[i]);
	}
	free(t->sites);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct relay_site *
relay_site_get(struct relay_table *t, const struct inv_host *h)
{
	struct relay_site *s = NULL;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nsites && s == NULL; i++)
		if (t->sites[i]->host == h)
			s = t->sites[i];
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->host = h;
		s->table = t;
		t->sites = xrealloc(t->sites, (t->nsites + 1) * sizeof(*t->sites));
		t->sites[t->nsites++] = s;
	}
	pthread_mutex_unlock(&t->lock);
	return s;
}

/* Wait on the table's condition for at most 200 ms (the caller re-checks its predicate and cancel). */
static void
relay_wait(struct relay_table *t)
{
	cond_wait_ms(&t->cond, &t->lock, 200);
}

int
relay_slot_acquire(struct relay_site *s, long max, volatile sig_atomic_t *cancel)
{
	struct relay_table *t = s->table;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	while (s->active >= max) {
		if (cancel != NULL && *cancel) {
			rc = -1;
			break;
		}
		relay_wait(t);
	}
	if (rc == 0)
		s->active++;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void
relay_slot_release(struct relay_site *s)
{
	pthread_mutex_lock(&s->table->lock);
	s->active--;
	pthread_cond_broadcast(&s->table->cond);
	pthread_mutex_unlock(&s->table->lock);
}

char *
relay_cache_name(bool delta, const char *sha256)
{
	return xasprintf("%s.%s", delta ? "d" : "b", sha256);
}

/* The cache directory as a shell word (relative to the relay account's home unless absolute). */
static char *
relay_cache_dir(const struct inv_host *terminal)
{
	const char *d = inv_get(terminal, INV_RELAY_CACHE);

	return shquote(d != NULL ? d : RELAY_DEFAULT_CACHE);
}

static const char *
relay_name(const struct inv_host *terminal)
{
	return terminal->relay != NULL ? terminal->relay->name : "?";
}

/* The last non-empty line of b (at most max bytes), control characters dropped; caller frees. */
static char *
relay_last_line(const char *data, size_t len, size_t max)
{
	size_t end = len, start;
	struct buf t;

	while (end > 0 && (data[end - 1] == '\n' || data[end - 1] == '\r' || data[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && data[start - 1] != '\n' && end - start < max)
		start--;
	buf_init(&t, 0);
	for (size_t i = start; i < end; i++)
		if ((unsigned char)data[i] >= 0x20 && data[i] != 0x7f)
			buf_add(&t, &data[i], 1);
	return buf_detach(&t);
}

/* Send the script's output to out/err like transport_run. */
struct relay_capture {
	struct buf *out, *err;
};

static void
relay_capture_data(void *arg, int stream, const char *data, size_t len)
{
	struct relay_capture *c = arg;
	struct buf *b = stream == 0 ? c->out : c->err;

	if (b != NULL && b->len + len <= 4 * 1024 * 1024)
		buf_add(b, data, len);
}

/* Run a small script on the relay itself. */
static int
relay_script(struct transport *tp, const char *script, int stdin_fd, uint64_t offset, long timeout_ms,
    struct buf *out, struct buf *err, int *exit_code, uint64_t *sent, char **cause)
{
	struct relay_capture cap = { out, err };
	struct tp_exec x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.command = script;
	x.timeout_ms = timeout_ms;
	x.stdin_fd = stdin_fd;
	x.stdin_offset = (off_t)offset;
	x.sink.on_data = relay_capture_data;
	x.sink.arg = &cap;
	rc = transport_exec(tp, &x, cause);
	*exit_code = x.exit_code;
	if (sent != NULL)
		*sent = x.bytes_sent;
	return rc;
}

/* The item for key, added when missing.  Table locked. */
static struct relay_item *
relay_item_get(struct relay_site *s, const char *key)
{
	for (size_t i = 0; i < s->nitems; i++)
		if (strcmp(s->items[i].key, key) == 0)
			return &s->items[i];
	s->items = xrealloc(s->items, (s->nitems + 1) * sizeof(*s->items));
	s->items[s->nitems].key = xstrdup(key);
	s->items[s->nitems].state = RI_ABSENT;
	return &s->items[s->nitems++];
}

/* Upload (or resume) and check one archive in the cache.  The caller is the only one staging it. */
static int
relay_stage_one(struct transport *tp, const struct inv_host *terminal, const char *path, const char *name,
    const char *sha256, uint64_t size, uint64_t *staged, char **cause)
{
	char *dir = relay_cache_dir(terminal), *script = NULL, *line = NULL, *p;
	long timeout = inv_get_long(terminal, INV_COMMAND_TIMEOUT) * 1000;
	struct buf out, err;
	uint64_t part = 0, sent = 0;
	int rc, code = -1, fd = -1;

	buf_init(&out, 0);
	buf_init(&err, 0);
	/* What the cache has: the archive (used again: its age restarts), or how much of it. */
	script = xasprintf("umask 077; d=%s; f=\"$d/cache/%s\"\n"
	    "mkdir -p \"$d/cache\" || exit 3\n"
	    "if [ -f \"$f\" ]; then touch \"$f\"; echo have; exit 0; fi\n"
	    "command -v sha256sum >/dev/null 2>&1 || command -v openssl >/dev/null 2>&1 || echo nohash\n"
	    "if [ -f \"$f.part\" ]; then echo \"part=$(wc -c <\"$f.part\")\"; else echo part=0; fi\n", dir, name);
	rc = relay_script(tp, script, -1, 0, 60000, &out, &err, &code, NULL, cause);
	if (rc != TP_OK)
		goto out;
	if (code != 0) {
		line = relay_last_line(err.data, err.len, 300);
		rc = set_cause(cause, TP_ERROR, "cannot use the cache on the relay (exit %d)%s%s", code,
		    *line ? ": " : "", line);
		goto out;
	}
	if (out.len >= 4 && strncmp(out.data, "have", 4) == 0)
		goto out;
	if (strstr(out.data, "nohash") != NULL) {
		rc = set_cause(cause, TP_ERROR, "the relay has neither sha256sum nor openssl to check what it caches");
		goto out;
	}
	if ((p = strstr(out.data, "part=")) != NULL)
		part = strtoull(p + 5, NULL, 10);
	if (part > size)
		part = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = set_cause(cause, TP_ERROR, "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	free(script);
	/* Appended from where an earlier run stopped, then checked whole before it may be used. */
	script = xasprintf("umask 077; d=%s; f=\"$d/cache/%s\"\n"
	    "if [ %llu -eq 0 ]; then : >\"$f.part\" || exit 3; fi\n"
	    "cat >>\"$f.part\" || exit 4\n"
	    "n=$(wc -c <\"$f.part\"); n=$((n + 0))\n"
	    "if [ \"$n\" -ne %llu ]; then echo \"staged $n of %llu bytes\" >&2; "
	    "if [ \"$n\" -gt %llu ]; then rm -f \"$f.part\"; fi; exit 4; fi\n"
	    "if command -v sha256sum >/dev/null 2>&1; then s=$(sha256sum <\"$f.part\"); "
	    "else s=$(openssl dgst -sha256 -r <\"$f.part\"); fi\n"
	    "s=${s%%%% *}\n"
	    "if [ \"$s\" != %s ]; then rm -f \"$f.part\"; echo 'SHA-256 mismatch: the staged copy is removed' >&2; exit 5; fi\n"
	    "mv -f \"$f.part\" \"$f\" || exit 3\n"
	    "find \"$d/cache\" -type f -mtime +%d -exec rm -f {} \\; 2>/dev/null\n"
	    "find \"$d\" -maxdepth 1 -name 'kh.*' -mtime +0 -exec rm -rf {} \\; 2>/dev/null\n"
	    "exit 0\n", dir, name, (unsigned long long)part, (unsigned long long)size, (unsigned long long)size,
	    (unsigned long long)size, sha256, RELAY_PRUNE_DAYS);
	buf_reset(&out);
	buf_reset(&err);
	rc = relay_script(tp, script, fd, part, timeout, &out, &err, &code, &sent, cause);
	*staged += sent;
	if (rc != TP_OK)
		goto out;
	if (code != 0) {
		line = relay_last_line(err.data, err.len, 300);
		rc = set_cause(cause, TP_ERROR, "cannot stage %s on the relay (exit %d)%s%s", name, code,
		    *line ? ": " : "", line);
	}
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(script);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	return rc;
}

int
relay_stage(struct relay_site *s, struct transport *tp, const struct inv_host *terminal, const char *path,
    const char *name, const char *sha256, uint64_t size, volatile sig_atomic_t *cancel, uint64_t *staged,
    char **cause)
{
	struct relay_table *t = s->table;
	struct relay_item *it;
	const char *d = inv_get(terminal, INV_RELAY_CACHE);
	char *key = xasprintf("%s/%s", d != NULL ? d : RELAY_DEFAULT_CACHE, name), *why = NULL;
	int rc = TP_OK;

	*staged = 0;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		it = relay_item_get(s, key);   /* again after each wait: the array may have moved */
		if (it->state != RI_STAGING)
			break;
		if (cancel != NULL && *cancel) {
			rc = TP_CANCELLED;
			break;
		}
		relay_wait(t);
	}
	if (rc == TP_OK && it->state == RI_READY) {
		pthread_mutex_unlock(&t->lock);
		goto out;
	}
	if (rc != TP_OK) {
		pthread_mutex_unlock(&t->lock);
		set_cause(cause, rc, "interrupted");
		goto out;
	}
	it->state = RI_STAGING;
	pthread_mutex_unlock(&t->lock);

	rc = relay_stage_one(tp, terminal, path, name, sha256, size, staged, &why);

	pthread_mutex_lock(&t->lock);
	/* On failure the next terminal waiting tries for itself (and reports its own result). */
	relay_item_get(s, key)->state = rc == TP_OK ? RI_READY : RI_ABSENT;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (rc != TP_OK)
		set_cause(cause, rc, "relay %s: %s", relay_name(terminal), why != NULL ? why : "cannot stage");
out:
	free(why);
	free(key);
	return rc;
}

/* A word the relay's client may take as a host or user name: no option, no shell syntax. */
static bool
relay_word_ok(const char *s)
{
	return s != NULL && *s != '\0' && *s != '-' &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:%-") == strlen(s);
}

/* printf arguments: the controller's known_hosts entries for the terminal, in the two forms the
 * clients look up ("[addr]:port" for ssh, the bare address for dbclient).  0, or TP_HOSTKEY. */
static int
relay_known_lines(const struct transport *tp, const struct inv_host *terminal, const char *addr, int port,
    struct buf *b, char **cause)
{
	const char *files[2] = { inv_get(terminal, INV_KNOWN_HOSTS), inv_get(terminal, INV_GLOBAL_KNOWN_HOSTS) };
	size_t count = 0;

	for (int f = 0; f < 2; f++) {
		struct kh_match *m = NULL;
		size_t n = 0;

		if (files[f] == NULL || transport_known_lookup(tp, files[f], addr, port, &m, &n) < 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			char *line;

			if (strspn(m[i].keytype, "abcdefghijklmnopqrstuvwxyz0123456789@.-") != strlen(m[i].keytype))
				continue;
			if (port != 22) {
				line = xasprintf("[%s]:%d %s %s", addr, port, m[i].keytype, m[i].key_b64);
				buf_adds(b, " ");
				shquote_add(b, line);
				free(line);
			}
			line = xasprintf("%s %s %s", addr, m[i].keytype, m[i].key_b64);
			buf_adds(b, " ");
			shquote_add(b, line);
			free(line);
			count++;
		}
		kh_matches_free(m, n);
	}
	if (count == 0)
		return set_cause(cause, TP_HOSTKEY, "no host key for %s port %d in %s: the relay checks its terminals' "
		    "keys strictly against the controller's known_hosts (learn it through the jump host first, e.g. "
		    "fleetctl exec --accept-new-host-keys -l %s true)", addr, port,
		    files[0] != NULL ? files[0] : "known_hosts", terminal->name);
	return TP_OK;
}

int
relay_command(const struct transport *tp, const struct inv_host *terminal, const char *command,
    const char *cache_name, uint64_t offset,
    char **out, char **cause)
{
	const char *addr = inv_get(terminal, INV_ADDRESS), *user = inv_get(terminal, INV_USER);
	const char *client = inv_get(terminal, INV_RELAY_CLIENT), *id = inv_get(terminal, INV_RELAY_IDENTITY);
	int port = (int)inv_get_long(terminal, INV_PORT);
	long keepalive = inv_get_long(terminal, INV_KEEPALIVE_INTERVAL);
	char *dir = relay_cache_dir(terminal);
	struct buf b, inner;
	int rc;

	*out = NULL;
	if (addr == NULL)
		addr = terminal->name;
	if (!relay_word_ok(addr) || (user != NULL && !relay_word_ok(user))) {
		free(dir);
		return set_cause(cause, TP_ERROR, "address or user of %s cannot be passed to the relay's client",
		    terminal->name);
	}
	buf_init(&b, 0);
	buf_init(&inner, 0);
	buf_addf(&b, "umask 077; d=%s; k=\"$d/kh.$$\"\n"
	    "rm -rf \"$k\"; mkdir -p \"$k/.ssh\" || { echo \"fleetctl-relay: cannot create $k\" >&2; exit 255; }\n"
	    "printf '%%s\\n'", dir);
	if ((rc = relay_known_lines(tp, terminal, addr, port, &b, cause)) != TP_OK)
		goto out;
	buf_addf(&b, " >\"$k/.ssh/known_hosts\" || { rm -rf \"$k\"; exit 255; }\n"
	    "c=%s\n"
	    "if [ \"$c\" = auto ]; then if command -v ssh >/dev/null 2>&1; then c=ssh; "
	    "elif command -v dbclient >/dev/null 2>&1; then c=dbclient; fi; fi\n"
	    "if [ \"$c\" = auto ] || ! command -v \"$c\" >/dev/null 2>&1; then "
	    "echo \"fleetctl-relay: no SSH client ($c) on the relay\" >&2; rm -rf \"$k\"; exit 255; fi\n",
	    client != NULL ? client : "auto");
	if (cache_name != NULL)
		buf_addf(&b, "[ -f \"$d/cache/%s\" ] || { echo 'fleetctl-relay: %s is not in the relay cache' >&2; "
		    "rm -rf \"$k\"; exit 255; }\n", cache_name, cache_name);
	/*
	 * Without a terminal, dbclient asks about an unknown host key and reads the answer from its
	 * input: an archive fed to it goes behind a line "n", which the terminal's shell reads first.
	 */
	buf_adds(&inner, "printf '\\037fleetctl-relay-in\\n' >&2\n");
	if (cache_name != NULL)
		buf_adds(&inner, "IFS= read -r fl_relay_guard || exit 97\n");
	buf_adds(&inner, command);
	buf_adds(&b, "fl_client() {\n\tif [ \"$c\" = ssh ]; then ssh -F none -T -o BatchMode=yes "
	    "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=\"$k/.ssh/known_hosts\" "
	    "-o GlobalKnownHostsFile=/dev/null -o CheckHostIP=no -o UpdateHostKeys=no -o LogLevel=ERROR");
	/* The key exchanges fleetctl's own connections use: OpenSSH 9's default (sntrup761x25519) costs a
	 * small relay several times the CPU per login (bench/results/relay-N20.md). */
	buf_adds(&b, " -o KexAlgorithms=" RELAY_KEX);
	buf_addf(&b, " -o ConnectTimeout=%ld", inv_get_long(terminal, INV_CONNECT_TIMEOUT));
	if (keepalive > 0)
		buf_addf(&b, " -o ServerAliveInterval=%ld -o ServerAliveCountMax=%ld", keepalive,
		    inv_get_long(terminal, INV_KEEPALIVE_COUNT));
	if (id != NULL) {
		buf_adds(&b, " -o IdentitiesOnly=yes -i ");
		shquote_add(&b, id);
	}
	buf_addf(&b, " -p %d", port);
	if (user != NULL)
		buf_addf(&b, " -l %s", user);
	buf_addf(&b, " %s \"$1\"\n\telse HOME=\"$k\" dbclient -T", addr);
	if (id != NULL) {
		buf_adds(&b, " -i ");
		shquote_add(&b, id);
	}
	buf_addf(&b, " -p %d", port);
	if (user != NULL)
		buf_addf(&b, " -l %s", user);
	buf_addf(&b, " %s \"$1\"; fi\n}\n", addr);
	if (cache_name != NULL)
		buf_addf(&b, "{ echo n; tail -c +%llu \"$d/cache/%s\"; } | fl_client ",
		    (unsigned long long)offset + 1, cache_name);
	else
		buf_adds(&b, "fl_client ");
	shquote_add(&b, inner.data);
	buf_adds(&b, "\nrc=$?; rm -rf \"$k\"; exit $rc\n");
	*out = buf_detach(&b);
out:
	buf_free(&b);
	buf_free(&inner);
	free(dir);
	return rc;
}

/* Between the relay's channel and the caller's sink: the client's own messages are kept apart
 * until the terminal's sentinel arrives, then everything goes through. */
struct relay_sink {
	struct tp_sink next;
	bool reached;
	struct buf pre;          /* stderr before the sentinel (the client's messages) */
	char tail[256];          /* the last stderr bytes after it (a dbclient lost-link message) */
	size_t tail_len;
};

static void
relay_sink_tail(struct relay_sink *s, const char *data, size_t len)
{
	if (len >= sizeof(s->tail)) {
		memcpy(s->tail, data + len - sizeof(s->tail), sizeof(s->tail));
		s->tail_len = sizeof(s->tail);
		return;
	}
	if (s->tail_len + len > sizeof(s->tail)) {
		size_t drop = s->tail_len + len - sizeof(s->tail);

		memmove(s->tail, s->tail + drop, s->tail_len - drop);
		s->tail_len -= drop;
	}
	memcpy(s->tail + s->tail_len, data, len);
	s->tail_len += len;
}

static void
relay_sink_data(void *arg, int stream, const char *data, size_t len)
{
	struct relay_sink *s = arg;
	const char *hit;

	if (stream == 0 || s->reached) {
		if (stream == 1)
			relay_sink_tail(s, data, len);
		if (s->next.on_data != NULL)
			s->next.on_data(s->next.arg, stream, data, len);
		return;
	}
	buf_add(&s->pre, data, len);
	hit = memmem(s->pre.data, s->pre.len, RELAY_SENTINEL, sizeof(RELAY_SENTINEL) - 1);
	if (hit == NULL) {
		if (s->pre.len > RELAY_NOTE_MAX) {   /* keep the newest messages */
			memmove(s->pre.data, s->pre.data + s->pre.len - RELAY_NOTE_MAX / 2, RELAY_NOTE_MAX / 2);
			s->pre.len = RELAY_NOTE_MAX / 2;
			s->pre.data[s->pre.len] = '\0';
		}
		return;
	}
	s->reached = true;
	{
		size_t after = (size_t)(hit - s->pre.data) + sizeof(RELAY_SENTINEL) - 1;

		if (after < s->pre.len) {
			relay_sink_tail(s, s->pre.data + after, s->pre.len - after);
			if (s->next.on_data != NULL)
				s->next.on_data(s->next.arg, 1, s->pre.data + after, s->pre.len - after);
		}
		s->pre.len = (size_t)(hit - s->pre.data);
		s->pre.data[s->pre.len] = '\0';
	}
}

/* What the client's failure means for the terminal. */
static int
relay_classify(const struct inv_host *terminal, const char *msg, char **cause)
{
	int rc = TP_UNREACHABLE;

	if (strstr(msg, "fleetctl-relay:") != NULL)
		rc = TP_ERROR;
	else if (strstr(msg, "ost key") != NULL || strstr(msg, "IDENTIFICATION HAS CHANGED") != NULL ||
	    strstr(msg, "trusted hosts") != NULL)
		rc = TP_HOSTKEY;
	else if (strstr(msg, "Permission denied") != NULL || strstr(msg, "No auth methods") != NULL ||
	    strstr(msg, "uthentication") != NULL)
		rc = TP_AUTH;
	return set_cause(cause, rc, "via relay %s: %s", relay_name(terminal), *msg ? msg : "its SSH client failed");
}

static int
relay_exec_reached(struct transport *tp, const struct inv_host *terminal, struct tp_exec *x, const char *cache_name,
    uint64_t offset, bool *reached, char **cause)
{
	struct relay_sink s;
	struct tp_exec rx;
	char *cmd = NULL, *msg = NULL, *why = NULL;
	int rc;

	memset(&s, 0, sizeof(s));
	buf_init(&s.pre, 0);
	x->exit_code = -1;
	x->exit_signal[0] = '\0';
	x->bytes_sent = 0;
	if ((rc = relay_command(tp, terminal, x->command, cache_name, offset, &cmd, cause)) != TP_OK)
		goto out;
	rx = *x;
	rx.command = cmd;
	if (cache_name != NULL)
		rx.stdin_fd = -1;
	s.next = x->sink;
	rx.sink.on_data = relay_sink_data;
	rx.sink.arg = &s;
	rc = transport_exec(tp, &rx, &why);
	x->exit_code = rx.exit_code;
	memcpy(x->exit_signal, rx.exit_signal, sizeof(x->exit_signal));
	x->bytes_sent = rx.bytes_sent;
	if (rc != TP_OK) {
		rc = set_cause(cause, rc, "relay %s: %s", relay_name(terminal), why != NULL ? why : "link lost");
		goto out;
	}
	if (!s.reached) {
		msg = relay_last_line(s.pre.data, s.pre.len, 400);
		rc = relay_classify(terminal, msg, cause);
		goto out;
	}
	/* It reached the terminal; a client's own exit after that is a lost link, not the command's. */
	msg = relay_last_line(s.tail, s.tail_len, 200);
	if (x->exit_code == 255 || (strncmp(msg, "dbclient: Connection to ", 24) == 0 && strstr(msg, "exited") != NULL)) {
		rc = set_cause(cause, TP_UNREACHABLE, "via relay %s: link to the terminal lost%s%s", relay_name(terminal),
		    *msg ? ": " : "", msg);
		goto out;
	}
out:
	if (reached != NULL)
		*reached = s.reached;
	free(msg);
	free(why);
	free(cmd);
	buf_free(&s.pre);
	return rc;
}

int
relay_exec(struct transport *tp, const struct inv_host *terminal, struct tp_exec *x, const char *cache_name,
    uint64_t offset, char **cause)
{
	return relay_exec_reached(tp, terminal, x, cache_name, offset, NULL, cause);
}

int
relay_run(struct transport *tp, const struct inv_host *terminal, const char *command, long timeout_ms,
    struct buf *out, struct buf *err, int *exit_code, bool *reached, char **cause)
{
	struct relay_capture cap = { out, err };
	struct tp_exec x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.command = command;
	x.timeout_ms = timeout_ms;
	x.stdin_fd = -1;
	x.sink.on_data = relay_capture_data;
	x.sink.arg = &cap;
	rc = relay_exec_reached(tp, terminal, &x, NULL, 0, reached, cause);
	if (exit_code != NULL)
		*exit_code = x.exit_code;
	return rc;
}
