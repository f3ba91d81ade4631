/*
 * transport: one SSH connection with libssh2 — connect, host key, auth, jump hosts, exec.
 *
 * Connection set-up runs libssh2 in blocking mode with a session timeout (every blocking wait is
 * bounded by connect_timeout); command I/O runs non-blocking, driven by poll() with the step's own
 * deadline, because stdout and stderr share one window and must both be drained on every pass.
 */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "knownhosts.h"
#include "sshkey.h"

/* One upload's buffer: libssh2 takes at most 32700 bytes per channel write anyway, and with hundreds
 * of uploads in flight a bigger one per terminal is only resident memory. */
#define TP_UPLOAD_CHUNK (32 * 1024)

struct transport {
	LIBSSH2_SESSION *session;
	int fd;                       /* TCP socket, or our end of the socketpair behind a jump */
	const struct tp_opts *opts;
	char fingerprint[96];
	bool broken;                  /* a timed-out or cancelled step left the session unusable */
};

void
tp_limiter_init(struct tp_limiter *l, int max)
{
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->active = 0;
	l->max = max > 0 ? max : 1;
}

void
tp_limiter_destroy(struct tp_limiter *l)
{
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
}

static void
tp_limiter_enter(struct tp_limiter *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	while (l->active >= l->max)
		pthread_cond_wait(&l->cond, &l->lock);
	l->active++;
	pthread_mutex_unlock(&l->lock);
}

static void
tp_limiter_leave(struct tp_limiter *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	l->active--;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static bool
tp_cancelled(const struct tp_opts *o)
{
	return o != NULL && o->cancel != NULL && *o->cancel != 0;
}

static char *
tp_session_error(LIBSSH2_SESSION *s)
{
	char *msg = NULL;

	libssh2_session_last_error(s, &msg, NULL, 0);
	return xstrdup(msg != NULL && *msg != '\0' ? msg : "unknown libssh2 error");
}

/* Non-blocking TCP connect bounded by timeout_ms; tries every address getaddrinfo returns. */
static int
tp_tcp_connect(const struct tp_target *t, const struct tp_opts *o, int *fdp, bool *retryable, char **cause)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[16];
	int fd = -1, rc = TP_UNREACHABLE, gai, one = 1, last_errno = 0;
	int64_t deadline = now_ms() + (t->connect_timeout_ms > 0 ? t->connect_timeout_ms : 10000);

	*retryable = false;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", t->port);
	gai = getaddrinfo(t->address, port, &hints, &res);
	if (gai != 0)
		return set_cause(cause, TP_UNREACHABLE, "no address: cannot resolve '%s': %s",
		    t->address, gai_strerror(gai));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t len = sizeof(last_errno);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			last_errno = errno;
			goto next;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		for (;;) {
			int64_t left = deadline - now_ms();
			int n;

			if (left <= 0 || tp_cancelled(o)) {
				last_errno = ETIMEDOUT;
				goto next;
			}
			n = poll(&pfd, 1, (int)(left < 200 ? left : 200));
			if (n > 0)
				break;
			if (n < 0 && errno != EINTR) {
				last_errno = errno;
				goto next;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &last_errno, &len) < 0 || last_errno != 0)
			goto next;
		/* Blocking from here on: libssh2's blocking mode uses its own timeout. */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		*fdp = fd;
		rc = TP_OK;
		goto out;
next:
		close(fd);
		fd = -1;
	}
	if (last_errno == ETIMEDOUT)
		rc = set_cause(cause, tp_cancelled(o) ? TP_CANCELLED : TP_TIMEOUT,
		    "cannot connect to %s port %d: timed out after %ld ms", t->address, t->port,
		    t->connect_timeout_ms);
	else {
		*retryable = last_errno == ECONNREFUSED || last_errno == ECONNRESET;
		rc = set_cause(cause, TP_UNREACHABLE, "cannot connect to %s port %d: %s", t->address,
		    t->port, strerror(last_errno));
	}
out:
	freeaddrinfo(res);
	return rc;
}

/* Wait until the session's socket can make progress, at most until deadline (0 = none). */
static int
tp_wait(struct transport *tp, int64_t deadline, int extra_fd, short extra_events)
{
	struct pollfd pfd[2];
	int dir = libssh2_session_block_directions(tp->session), n, timeout = 1000;
	nfds_t nfds = 1;

	if (tp_cancelled(tp->opts))
		return TP_CANCELLED;
	if (deadline != 0) {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return TP_TIMEOUT;
		if (left < timeout)
			timeout = (int)left;
	}
	pfd[0].fd = tp->fd;
	pfd[0].events = 0;
	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		pfd[0].events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd[0].events |= POLLOUT;
	if (pfd[0].events == 0) {
		/* libssh2 can return EAGAIN without a direction: poll briefly instead of forever. */
		pfd[0].events = POLLIN;
		if (timeout > 50)
			timeout = 50;
	}
	if (extra_fd >= 0) {
		pfd[1].fd = extra_fd;
		pfd[1].events = extra_events;
		nfds = 2;
	}
	n = poll(pfd, nfds, timeout);
	if (n < 0 && errno != EINTR)
		return TP_ERROR;
	return TP_OK;
}

/* An identity file as the run found it: parsed once, signed with by every connection. */
struct tp_idkey {
	char *path;
	struct sshkey_info info;
	struct sshkey *key;           /* NULL: not one sshkey parses (libssh2 reads the file itself) */
};

struct tp_jsess;

struct tp_shared {
	struct kh_db *known;
	struct tp_idkey *ids;
	size_t nids;
	pthread_mutex_t jlock;        /* the jump sessions' list, states, queues and counts */
	pthread_cond_t jcond;         /* a session came up or failed; a channel request was answered */
	struct tp_jsess *jsess;
};

static void tp_jsess_free_all(struct tp_shared *sh);

static char *tp_home_path(const char *rel);

static const char *const tp_default_ids[] = { ".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa", NULL };

struct tp_shared *
tp_shared_new(void)
{
	struct tp_shared *s = xcalloc(1, sizeof(*s));

	s->known = knownhosts_db_new();
	pthread_mutex_init(&s->jlock, NULL);
	pthread_cond_init(&s->jcond, NULL);
	return s;
}

static const struct tp_idkey *
tp_shared_id(const struct tp_shared *s, const char *path)
{
	for (size_t i = 0; s != NULL && i < s->nids; i++)
		if (strcmp(s->ids[i].path, path) == 0)
			return &s->ids[i];
	return NULL;
}

static void
tp_shared_add_id(struct tp_shared *s, const char *path)
{
	struct tp_idkey *k;

	if (tp_shared_id(s, path) != NULL)
		return;
	s->ids = xrealloc(s->ids, (s->nids + 1) * sizeof(*s->ids));
	k = &s->ids[s->nids++];
	k->path = xstrdup(path);
	sshkey_load(path, &k->info, &k->key);
}

void
tp_shared_prepare(struct tp_shared *s, const struct tp_target *t)
{
	for (; s != NULL && t != NULL; t = t->jump) {
		if (t->known_hosts != NULL)
			knownhosts_db_load(s->known, t->known_hosts);
		if (t->global_known_hosts != NULL)
			knownhosts_db_load(s->known, t->global_known_hosts);
		if (t->identities != NULL && t->identities[0] != NULL)
			for (size_t i = 0; t->identities[i] != NULL; i++)
				tp_shared_add_id(s, t->identities[i]);
		else
			for (size_t i = 0; tp_default_ids[i] != NULL; i++) {
				char *path = tp_home_path(tp_default_ids[i]);

				tp_shared_add_id(s, path);
				free(path);
			}
	}
}

void
tp_shared_free(struct tp_shared *s)
{
	if (s == NULL)
		return;
	tp_jsess_free_all(s);
	pthread_cond_destroy(&s->jcond);
	pthread_mutex_destroy(&s->jlock);
	knownhosts_db_free(s->known);
	for (size_t i = 0; i < s->nids; i++) {
		free(s->ids[i].path);
		sshkey_free(s->ids[i].key);
	}
	free(s->ids);
	free(s);
}

/*
 * What known_hosts (the user's and the global file) records for one host, from the run's parsed
 * files (lib/knownhosts, which also knows each entry's line); libssh2 is then fed only these entries.
 */
struct tp_known {
	const char *file[2];
	struct kh_match *m[2];
	size_t n[2];
};

/* file's entries for host:port: the run's parsed copy when it has one, else the file itself. */
static int
tp_known_lookup(struct tp_shared *sh, const char *file, const char *host, int port, struct kh_match **out,
    size_t *n)
{
	if (sh != NULL && knownhosts_db_has(sh->known, file))
		return knownhosts_db_lookup(sh->known, file, host, port, out, n);
	return knownhosts_lookup(file, host, port, out, n);
}

int
transport_known_lookup(const struct transport *tp, const char *file, const char *host, int port,
    struct kh_match **out, size_t *n)
{
	return tp_known_lookup(tp != NULL && tp->opts != NULL ? tp->opts->shared : NULL, file, host, port, out, n);
}

static void
tp_known_load(struct tp_known *k, const struct tp_target *t, struct tp_shared *sh)
{
	memset(k, 0, sizeof(*k));
	k->file[0] = t->known_hosts;
	k->file[1] = t->global_known_hosts;
	for (int f = 0; f < 2; f++)
		if (k->file[f] != NULL && tp_known_lookup(sh, k->file[f], t->address, t->port, &k->m[f], &k->n[f]) < 0)
			k->n[f] = 0;
}

static void
tp_known_free(struct tp_known *k)
{
	for (int f = 0; f < 2; f++)
		kh_matches_free(k->m[f], k->n[f]);
	memset(k, 0, sizeof(*k));
}

/*
 * Ask only for host key types that known_hosts holds for this host (libssh2 prefers ECDSA, while
 * known_hosts often has only ed25519), ed25519 first.  With none on record, the default order.
 */
static void
tp_hostkey_pref(LIBSSH2_SESSION *s, const struct tp_known *k)
{
	static const char *const order[] = {
		"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa", NULL
	};
	bool have[5] = { false };
	struct buf pref;

	for (int f = 0; f < 2; f++)
		for (size_t i = 0; i < k->n[f]; i++)
			for (int o = 0; order[o] != NULL; o++)
				if (strcmp(order[o], k->m[f][i].keytype) == 0)
					have[o] = true;
	buf_init(&pref, 0);
	for (int o = 0; order[o] != NULL; o++) {
		if (!have[o])
			continue;
		if (pref.len > 0)
			buf_adds(&pref, ",");
		buf_adds(&pref, order[o]);
	}
	libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY,
	    pref.len > 0 ? pref.data : "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,ssh-rsa");
	buf_free(&pref);
}

/* Give libssh2 this host's recorded entries, under the plain name it will look up. */
static void
tp_knownhost_load(LIBSSH2_KNOWNHOSTS *kh, const struct tp_target *t, const struct tp_known *k)
{
	for (int f = 0; f < 2; f++)
		for (size_t i = 0; i < k->n[f]; i++) {
			char *line = t->port == 22 ? xasprintf("%s %s %s\n", t->address, k->m[f][i].keytype,
			    k->m[f][i].key_b64) : xasprintf("[%s]:%d %s %s\n", t->address, t->port,
			    k->m[f][i].keytype, k->m[f][i].key_b64);

			libssh2_knownhost_readline(kh, line, strlen(line), LIBSSH2_KNOWNHOST_FILE_OPENSSH);
			free(line);
		}
}

static int
tp_check_hostkey(struct transport *tp, const struct tp_target *t, const struct tp_known *known, char **note,
    char **cause)
{
	LIBSSH2_KNOWNHOSTS *kh = NULL;
	struct libssh2_knownhost *found = NULL;
	const char *key, *keyname;
	const unsigned char *hash;
	unsigned char b64[64];
	char *keyb64 = NULL;
	size_t keylen;
	int type, keybit, check, rc = TP_HOSTKEY;

	key = libssh2_session_hostkey(tp->session, &keylen, &type);
	if (key == NULL)
		return set_cause(cause, TP_HOSTKEY, "no host key received");
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_ED25519: keybit = LIBSSH2_KNOWNHOST_KEY_ED25519; keyname = "ssh-ed25519"; break;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: keybit = LIBSSH2_KNOWNHOST_KEY_ECDSA_256; keyname = "ecdsa-sha2-nistp256"; break;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: keybit = LIBSSH2_KNOWNHOST_KEY_ECDSA_384; keyname = "ecdsa-sha2-nistp384"; break;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: keybit = LIBSSH2_KNOWNHOST_KEY_ECDSA_521; keyname = "ecdsa-sha2-nistp521"; break;
	case LIBSSH2_HOSTKEY_TYPE_RSA: keybit = LIBSSH2_KNOWNHOST_KEY_SSHRSA; keyname = "ssh-rsa"; break;
	default:
		return set_cause(cause, TP_HOSTKEY, "unsupported host key type %d", type);
	}
	hash = (const unsigned char *)libssh2_hostkey_hash(tp->session, LIBSSH2_HOSTKEY_HASH_SHA256);
	if (hash != NULL) {
		int n = EVP_EncodeBlock(b64, hash, 32);

		while (n > 0 && b64[n - 1] == '=')
			b64[--n] = '\0';
		snprintf(tp->fingerprint, sizeof(tp->fingerprint), "SHA256:%s", b64);
	}
	kh = libssh2_knownhost_init(tp->session);
	if (kh == NULL)
		return set_cause(cause, TP_ERROR, "cannot initialise known hosts");
	tp_knownhost_load(kh, t, known);
	check = libssh2_knownhost_checkp(kh, t->address, t->port, key, keylen,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | keybit, &found);
	switch (check) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		rc = TP_OK;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH: {
		/* Always refused, whatever strictness: say where the old key is so the operator can decide. */
		char *where = NULL;

		for (int f = 0; f < 2 && where == NULL; f++)
			for (size_t i = 0; i < known->n[f] && where == NULL; i++)
				if (strcmp(known->m[f][i].keytype, keyname) == 0)
					where = xasprintf("%s:%zu", known->file[f], known->m[f][i].line);
		rc = set_cause(cause, TP_HOSTKEY, "host key for %s port %d has CHANGED (%s %s); the old key is at %s; "
		    "if the change is expected, remove that line", t->address, t->port, keyname, tp->fingerprint,
		    where != NULL ? where : "(unknown line)");
		free(where);
		break;
	}
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND: {
		size_t enclen = 4 * ((keylen + 2) / 3) + 1;

		if (t->strict == TP_STRICT_YES) {
			rc = set_cause(cause, TP_HOSTKEY, "host key for %s port %d is not known (%s %s); add it to %s "
			    "or use --accept-new-host-keys", t->address, t->port, keyname, tp->fingerprint,
			    t->known_hosts != NULL ? t->known_hosts : "known_hosts");
			break;
		}
		if (t->strict == TP_STRICT_NO) {
			rc = TP_OK;
			break;
		}
		keyb64 = xmalloc(enclen);
		EVP_EncodeBlock((unsigned char *)keyb64, (const unsigned char *)key, (int)keylen);
		if (t->known_hosts == NULL) {
			rc = set_cause(cause, TP_HOSTKEY, "cannot record new host key");
			break;
		}
		{
			/* Another connection of this run may have accepted a key for this host meanwhile. */
			size_t line = 0;
			int acc = knownhosts_db_accept(tp->opts != NULL && tp->opts->shared != NULL ?
			    tp->opts->shared->known : NULL, t->known_hosts, t->address, t->port, keyname, keyb64, &line, cause);

			if (acc < 0) {
				rc = set_cause(cause, TP_HOSTKEY, "cannot record new host key");
				break;
			}
			if (acc == 2) {
				rc = set_cause(cause, TP_HOSTKEY, "host key for %s port %d has CHANGED (%s %s); the old key is at "
				    "%s:%zu; if the change is expected, remove that line", t->address, t->port, keyname,
				    tp->fingerprint, t->known_hosts, line);
				break;
			}
			if (acc == 1) {
				rc = TP_OK;
				break;
			}
		}
		if (note != NULL && *note == NULL)
			*note = xasprintf("added %s key %s for %s port %d to %s", keyname, tp->fingerprint,
			    t->address, t->port, t->known_hosts);
		rc = TP_OK;
		break;
	}
	default: {
		char *err = tp_session_error(tp->session);

		rc = set_cause(cause, TP_HOSTKEY, "cannot check host key: %s", err);
		free(err);
		break;
	}
	}
	free(keyb64);
	libssh2_knownhost_free(kh);
	return rc;
}

static char *
tp_home_path(const char *rel)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home == NULL || *home == '\0') {
		pw = getpwuid(getuid());
		home = pw != NULL ? pw->pw_dir : "/";
	}
	return xasprintf("%s/%s", home, rel);
}

/* Is this agent identity one of the configured identity files (compared by public key blob)? */
static bool
tp_agent_key_listed(const struct libssh2_agent_publickey *id, char *const *files)
{
	for (size_t i = 0; files != NULL && files[i] != NULL; i++) {
		char *pub = xasprintf("%s.pub", files[i]), *text = NULL, *sp, *end;
		unsigned char blob[8192];
		int n;
		bool same = false;

		if (read_file(pub, 16384, &text, NULL) == 0 && (sp = strchr(text, ' ')) != NULL) {
			sp++;
			end = strpbrk(sp, " \n");
			if (end != NULL)
				*end = '\0';
			if (strlen(sp) < sizeof(blob) / 4 * 3) {
				n = EVP_DecodeBlock(blob, (unsigned char *)sp, (int)strlen(sp));
				/* EVP_DecodeBlock counts padding bytes: compare the prefix. */
				same = n >= (int)id->blob_len && memcmp(blob, id->blob, id->blob_len) == 0;
			}
		}
		free(text);
		free(pub);
		if (same)
			return true;
	}
	return false;
}

static int
tp_auth_agent(struct transport *tp, const struct tp_target *t, struct buf *tried)
{
	LIBSSH2_AGENT *agent;
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	const char *sock = t->agent;
	int rc = -1, count = 0;

	if (sock == NULL)
		sock = getenv("SSH_AUTH_SOCK");
	if (sock == NULL || *sock == '\0' || strcmp(sock, "none") == 0)
		return -1;
	agent = libssh2_agent_init(tp->session);
	if (agent == NULL)
		return -1;
	libssh2_agent_set_identity_path(agent, sock);
	if (libssh2_agent_connect(agent) != 0 || libssh2_agent_list_identities(agent) != 0) {
		buf_addf(tried, "%sagent (cannot connect to '%s')", tried->len ? ", " : "", sock);
		goto out;
	}
	while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
		prev = id;
		if (t->identities_only && !tp_agent_key_listed(id, t->identities))
			continue;
		count++;
		if (libssh2_agent_userauth(agent, t->user, id) == 0) {
			rc = 0;
			break;
		}
	}
	if (rc != 0)
		buf_addf(tried, "%sagent (%d key%s)", tried->len ? ", " : "", count, count == 1 ? "" : "s");
	libssh2_agent_disconnect(agent);
out:
	/* The agent object must go before its session. */
	libssh2_agent_free(agent);
	return rc;
}

/* Has the peer closed the connection (EOF or a reset waiting on the socket)?  Looks, never blocks. */
static bool
tp_link_gone(const struct transport *tp)
{
	struct pollfd pfd = { tp->fd, POLLIN, 0 };
	char c;
	ssize_t n;

	if (tp->fd < 0 || poll(&pfd, 1, 0) <= 0)
		return false;
	if (pfd.revents & (POLLHUP | POLLERR))
		return true;
	n = recv(tp->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* libssh2's signing callback: the run's parsed key signs the login. */
static int
tp_sign(LIBSSH2_SESSION *session, unsigned char **sig, size_t *sig_len, const unsigned char *data, size_t data_len,
    void **abstract)
{
	/* libssh2 frees *sig with its allocator: the default one, free(), as sshkey_sign's malloc needs */
	return sshkey_sign(*abstract, data, data_len, sig, sig_len) == 0 ? 0 : -1;
}

static int
tp_authenticate(struct transport *tp, const struct tp_target *t, char **cause)
{
	char *defaults[4] = { NULL };
	char *const *files = t->identities;
	const char *rsa_key = NULL;
	struct buf tried;
	char *list;
	int rc = TP_AUTH;

	list = libssh2_userauth_list(tp->session, t->user, (unsigned)strlen(t->user));
	if (list == NULL) {
		char *err;

		if (libssh2_userauth_authenticated(tp->session))
			return TP_OK;
		err = tp_session_error(tp->session);
		set_cause(cause, TP_UNREACHABLE, "connection lost during authentication: %s", err);
		free(err);
		return TP_UNREACHABLE;
	}
	if (strstr(list, "publickey") == NULL)
		return set_cause(cause, TP_AUTH, "server for user '%s' offers no publickey authentication (offers: %s)",
		    t->user, list);
	buf_init(&tried, 0);
	if (tp_auth_agent(tp, t, &tried) == 0) {
		rc = TP_OK;
		goto out;
	}
	if (files == NULL || files[0] == NULL) {
		for (size_t n = 0; tp_default_ids[n] != NULL; n++)
			defaults[n] = tp_home_path(tp_default_ids[n]);
		files = defaults;
	}
	for (size_t i = 0; files[i] != NULL; i++) {
		const struct tp_idkey *id = tp_shared_id(tp->opts != NULL ? tp->opts->shared : NULL, files[i]);
		struct sshkey_info ki;
		struct sshkey *own = NULL;
		const struct sshkey *key;
		int arc;

		/* Parsed once for the run; else (no shared state, or a file it did not see) now. */
		if (id != NULL) {
			ki = id->info;
			key = id->key;
		} else {
			sshkey_load(files[i], &ki, &own);
			key = own;
		}
		if (!ki.readable) {
			if (files != defaults)
				buf_addf(&tried, "%s%s (cannot read)", tried.len ? ", " : "", files[i]);
			continue;
		}
		if (ki.encrypted) {
			/* Decrypting costs ~0.2 s of CPU per login: never once per terminal. */
			buf_addf(&tried, "%s%s (passphrase-protected: load it into ssh-agent with ssh-add)",
			    tried.len ? ", " : "", files[i]);
			continue;
		}
		if (strcmp(ki.type, "ssh-rsa") == 0)
			rsa_key = files[i];
		if (key != NULL) {
			size_t bloblen;
			const unsigned char *blob = sshkey_public_blob(key, &bloblen);
			void *abstract = (void *)key;

			arc = libssh2_userauth_publickey(tp->session, t->user, blob, bloblen, tp_sign, &abstract);
		} else
			arc = libssh2_userauth_publickey_fromfile_ex(tp->session, t->user, (unsigned)strlen(t->user), NULL,
			    files[i], NULL);
		sshkey_free(own);
		if (arc == 0) {
			rc = TP_OK;
			goto out;
		}
		buf_addf(&tried, "%s%s", tried.len ? ", " : "", files[i]);
	}
	{
		/* The link went while the keys were being tried: unreachable, not a refused key. */
		int e = libssh2_session_last_errno(tp->session);

		if (e == LIBSSH2_ERROR_SOCKET_RECV || e == LIBSSH2_ERROR_SOCKET_SEND || e == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
		    e == LIBSSH2_ERROR_SOCKET_TIMEOUT || e == LIBSSH2_ERROR_TIMEOUT || tp_link_gone(tp)) {
			char *err = tp_session_error(tp->session);

			set_cause(cause, TP_UNREACHABLE, "connection lost during authentication: %s", err);
			free(err);
			rc = TP_UNREACHABLE;
			goto out;
		}
	}
	if (rsa_key != NULL)
		set_cause(cause, TP_AUTH, "authentication failed for user '%s' (tried: %s); %s is an RSA key: "
		    "libssh2 1.10 signs only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse; "
		    "use an ed25519 or ECDSA key", t->user, tried.len ? tried.data : "nothing", rsa_key);
	else
		set_cause(cause, TP_AUTH, "authentication failed for user '%s' (tried: %s)", t->user,
		    tried.len ? tried.data : "no agent, no key file");
out:
	for (size_t i = 0; defaults[i] != NULL; i++)
		free(defaults[i]);
	buf_free(&tried);
	return rc;
}

/*
 * Jump hosts: the terminals behind one jump host share its sessions.  Each session carries up to
 * TP_JUMP_CHANNELS direct-tcpip channels, one per terminal connection, each pumped to a socketpair
 * whose other end is that terminal's "socket"; a new session opens when every one is full.
 *
 * Locking: a session and its channels are used by its pump thread only, after the thread that
 * connected it handed it over.  Workers talk to the pump through tp_jreq records in the session's
 * queue (under the pool's lock) and a wake-up pipe; the answer comes back in the record, with the
 * pool's condition variable.  A channel ends when its terminal's connection closes its end.
 *
 * libssh2 1.10 keeps one outgoing packet per session: after a call returned EAGAIN with the socket
 * full (block direction OUTBOUND), the next sending call must be that same call again, or
 * libssh2 answers LIBSSH2_ERROR_BAD_USE.  The pump keeps that one "pending" call and retries it
 * before touching any other channel.  Opening a channel is one session-wide state too: one at a time.
 */
#define TP_JUMP_CHANNELS 16
#define TP_JBUF (32 * 1024)

enum tp_jstate { TP_J_CONNECTING, TP_J_UP, TP_J_DEAD };

/* One terminal's request for a channel; heap, freed by the worker unless it gave up (then by the pump). */
struct tp_jreq {
	char *host_copy;
	int port;
	int fd;                       /* answer: the worker's end of the socketpair, or -1 */
	int rc;
	char *cause;
	bool done, abandoned;
	struct tp_jreq *next;
};

struct tp_jchan {
	LIBSSH2_CHANNEL *ch;
	int fd;                       /* the pump's end of the socketpair, -1 once closed */
	char in[TP_JBUF], out[TP_JBUF];   /* channel -> fd, fd -> channel */
	size_t in_len, in_off, out_len, out_off;
	bool ch_eof, fd_eof;
	int phase;                    /* 0 pumping, 1 closing the channel, 2 freeing it */
};

struct tp_jsess {
	struct tp_shared *sh;
	char *key;
	char *name;                   /* the jump host's name, for messages */
	struct transport *outer;
	pthread_t thread;
	bool thread_started;
	int wake[2];
	/* under sh->jlock: */
	enum tp_jstate state;
	int nchan;                    /* channels open or promised (<= TP_JUMP_CHANNELS) */
	struct tp_jreq *reqs, **reqs_tail;
	char *error;                  /* why connecting failed */
	int error_rc;
	int64_t open_started;         /* when the channel open in progress began, 0 = none */
	bool stop;
	struct tp_jsess *next;
};

/* Which hop this is: the same host reached the same way (its own jumps included). */
static char *
tp_jump_key(const struct tp_target *j)
{
	char *sub = j->jump != NULL ? tp_jump_key(j->jump) : xstrdup(""), *k;

	k = xasprintf("%s\n%s\n%s\n%d\n%s", j->name, j->user != NULL ? j->user : "", j->address, j->port, sub);
	free(sub);
	return k;
}

static void
tp_jwake(struct tp_jsess *js)
{
	char c = 1;
	ssize_t n = write(js->wake[1], &c, 1);

	(void)n;   /* a full pipe already wakes the pump */
}

/* Answer a request (pump thread, under sh->jlock). */
static void
tp_janswer(struct tp_jsess *js, struct tp_jreq *r, int fd, int rc, char *cause)
{
	/* no channel: its place is free again (a channel frees its own when it ends) */
	if (fd < 0)
		js->nchan--;
	if (r->abandoned) {
		/* the worker gave up: closing its end ends the channel */
		if (fd >= 0)
			close(fd);
		free(cause);
		free(r->host_copy);
		free(r);
		return;
	}
	r->fd = fd;
	r->rc = rc;
	r->cause = cause;
	r->done = true;
	pthread_cond_broadcast(&js->sh->jcond);
}

/* A call that must be made again before any other sending call on this session. */
enum tp_jop { TP_JOP_NONE, TP_JOP_OPEN, TP_JOP_READ, TP_JOP_WRITE, TP_JOP_CLOSE, TP_JOP_FREE };

static bool
tp_jblocked_out(LIBSSH2_SESSION *s)
{
	return (libssh2_session_block_directions(s) & LIBSSH2_SESSION_BLOCK_OUTBOUND) != 0;
}

/* An error that ends the session, not only one channel. */
static bool
tp_jsession_error(struct transport *o, ssize_t rc)
{
	return rc == LIBSSH2_ERROR_SOCKET_SEND || rc == LIBSSH2_ERROR_SOCKET_RECV || rc == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
	    rc == LIBSSH2_ERROR_SOCKET_TIMEOUT || rc == LIBSSH2_ERROR_TIMEOUT || rc == LIBSSH2_ERROR_DECRYPT ||
	    rc == LIBSSH2_ERROR_BAD_USE || rc == LIBSSH2_ERROR_ALLOC || tp_link_gone(o);
}

/*
 * One step of one channel.  *op on entry: the pending call of this channel to make first (or NONE);
 * on return: the call left pending (EAGAIN, socket full), else NONE.  Returns true on progress;
 * *dead when the session itself failed.
 */
static bool
tp_jchan_step(struct tp_jsess *js, struct tp_jchan *c, enum tp_jop *op, bool *dead)
{
	LIBSSH2_SESSION *s = js->outer->session;
	bool progress = false;
	ssize_t n;

	if (c->phase == 0) {
		if (c->in_len == 0 && !c->ch_eof && (*op == TP_JOP_NONE || *op == TP_JOP_READ)) {
			*op = TP_JOP_NONE;
			n = libssh2_channel_read(c->ch, c->in, sizeof(c->in));
			if (n > 0) {
				c->in_len = (size_t)n;
				c->in_off = 0;
				progress = true;
			} else if (n == LIBSSH2_ERROR_EAGAIN) {
				if (tp_jblocked_out(s)) {
					*op = TP_JOP_READ;
					return progress;
				}
			} else if (n == 0) {
				if (libssh2_channel_eof(c->ch))
					c->ch_eof = true;
			} else if (tp_jsession_error(js->outer, n)) {
				*dead = true;
				return progress;
			} else
				c->ch_eof = c->fd_eof = true;
		}
		if (c->in_len > 0 && c->fd >= 0) {
			n = write(c->fd, c->in + c->in_off, c->in_len - c->in_off);
			if (n > 0) {
				c->in_off += (size_t)n;
				if (c->in_off == c->in_len)
					c->in_len = 0;
				progress = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* the terminal's connection is gone */
				c->in_len = 0;
				c->ch_eof = c->fd_eof = true;
			}
		}
		if (c->out_len == 0 && !c->fd_eof && c->fd >= 0) {
			n = read(c->fd, c->out, sizeof(c->out));
			if (n > 0) {
				c->out_len = (size_t)n;
				c->out_off = 0;
				progress = true;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				c->fd_eof = true;
		}
		if (c->out_len > 0 && (*op == TP_JOP_NONE || *op == TP_JOP_WRITE)) {
			*op = TP_JOP_NONE;
			n = libssh2_channel_write(c->ch, c->out + c->out_off, c->out_len - c->out_off);
			if (n > 0) {
				c->out_off += (size_t)n;
				if (c->out_off == c->out_len)
					c->out_len = 0;
				progress = true;
			} else if (n == LIBSSH2_ERROR_EAGAIN) {
				if (tp_jblocked_out(s)) {
					*op = TP_JOP_WRITE;
					return progress;
				}
			} else if (n < 0) {
				if (tp_jsession_error(js->outer, n)) {
					*dead = true;
					return progress;
				}
				c->out_len = 0;
				c->ch_eof = c->fd_eof = true;
			}
		}
		/* Either side done (as the one-channel pump did): the terminal's connection ends here. */
		if ((c->fd_eof && c->out_len == 0) || (c->ch_eof && c->in_len == 0)) {
			if (c->fd >= 0)
				close(c->fd);
			c->fd = -1;
			c->phase = 1;
			progress = true;
		}
	}
	if (c->phase == 1 && (*op == TP_JOP_NONE || *op == TP_JOP_CLOSE)) {
		*op = TP_JOP_NONE;
		n = libssh2_channel_close(c->ch);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if (tp_jblocked_out(s))
				*op = TP_JOP_CLOSE;
			return progress;
		}
		if (n < 0 && tp_jsession_error(js->outer, n)) {
			*dead = true;
			return progress;
		}
		c->phase = 2;
		progress = true;
	}
	if (c->phase == 2 && (*op == TP_JOP_NONE || *op == TP_JOP_FREE)) {
		*op = TP_JOP_NONE;
		n = libssh2_channel_free(c->ch);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if (tp_jblocked_out(s))
				*op = TP_JOP_FREE;
			return progress;
		}
		c->ch = NULL;
		c->phase = 3;
		progress = true;
	}
	return progress;
}

static void *
tp_jpump_main(void *arg)
{
	struct tp_jsess *js = arg;
	struct tp_shared *sh = js->sh;
	LIBSSH2_SESSION *s = js->outer->session;
	struct tp_jchan *ch[TP_JUMP_CHANNELS];
	struct tp_jreq *opening = NULL;
	enum tp_jop op = TP_JOP_NONE;
	int nch = 0, pending_chan = -1, rr = 0;
	int64_t stop_by = 0;
	bool dead = false;

	libssh2_session_set_blocking(s, 0);
	for (;;) {
		struct pollfd pfd[TP_JUMP_CHANNELS + 2];
		bool progress = false, stop;
		nfds_t np = 0;
		char drain[64];

		while (read(js->wake[0], drain, sizeof(drain)) > 0)
			;
		pthread_mutex_lock(&sh->jlock);
		if (opening == NULL && js->reqs != NULL) {
			opening = js->reqs;
			js->reqs = opening->next;
			if (js->reqs == NULL)
				js->reqs_tail = &js->reqs;
			opening->next = NULL;
			js->open_started = now_ms();
		}
		stop = js->stop;
		pthread_mutex_unlock(&sh->jlock);
		if (stop && stop_by == 0)
			stop_by = now_ms() + 2000;
		if (dead || (stop && nch == 0 && opening == NULL) || (stop_by != 0 && now_ms() > stop_by))
			break;

		/* The pending call first, alone. */
		if (op == TP_JOP_OPEN || (op == TP_JOP_NONE && opening != NULL)) {
			LIBSSH2_CHANNEL *c;

			op = TP_JOP_NONE;
			c = libssh2_channel_direct_tcpip_ex(s, opening->host_copy, opening->port, "127.0.0.1", 0);
			if (c != NULL) {
				int sv[2];

				progress = true;
				if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
					while (libssh2_channel_free(c) == LIBSSH2_ERROR_EAGAIN)
						tp_wait(js->outer, now_ms() + 1000, -1, 0);
					pthread_mutex_lock(&sh->jlock);
					tp_janswer(js, opening, -1, TP_ERROR, xasprintf("socketpair: %s", strerror(errno)));
					pthread_mutex_unlock(&sh->jlock);
				} else {
					struct tp_jchan *jc = xcalloc(1, sizeof(*jc));

					fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
					jc->ch = c;
					jc->fd = sv[0];
					ch[nch++] = jc;
					pthread_mutex_lock(&sh->jlock);
					tp_janswer(js, opening, sv[1], TP_OK, NULL);
					pthread_mutex_unlock(&sh->jlock);
				}
				opening = NULL;
			} else {
				int e = libssh2_session_last_errno(s);

				/*
				 * Waiting for the jump host's answer (its connect to the terminal): libssh2's open state is
				 * the session's, so this request stays until libssh2 says yes or no (its own 60 s
				 * limit), even when its worker gave up; new requests go to other sessions meanwhile.
				 */
				if (e == LIBSSH2_ERROR_EAGAIN) {
					if (tp_jblocked_out(s))
						op = TP_JOP_OPEN;
				} else {
					char *err = tp_session_error(s);

					dead = tp_jsession_error(js->outer, e);
					pthread_mutex_lock(&sh->jlock);
					tp_janswer(js, opening, -1, TP_UNREACHABLE, xasprintf("jump host %s cannot reach %s port %d: %s",
					    js->name, opening->host_copy, opening->port, err));
					pthread_mutex_unlock(&sh->jlock);
					free(err);
					opening = NULL;
					progress = true;
				}
			}
			if (opening == NULL) {
				pthread_mutex_lock(&sh->jlock);
				js->open_started = 0;
				pthread_mutex_unlock(&sh->jlock);
			}
		}
		/* Then every channel, from a turning start so that none waits behind a busy one. */
		for (int k = 0; k < nch && !dead; k++) {
			int i = pending_chan >= 0 ? pending_chan : (rr + k) % nch;
			enum tp_jop cop = pending_chan == i ? op : TP_JOP_NONE;

			if (op != TP_JOP_NONE && pending_chan != i)
				break;   /* another call is pending: nothing else may send */
			if (tp_jchan_step(js, ch[i], &cop, &dead))
				progress = true;
			op = cop;
			pending_chan = cop != TP_JOP_NONE ? i : -1;
			if (pending_chan >= 0)
				break;
			if (ch[i]->phase == 3) {
				free(ch[i]);
				ch[i] = ch[--nch];
				pthread_mutex_lock(&sh->jlock);
				js->nchan--;
				pthread_mutex_unlock(&sh->jlock);
				k--;
			}
		}
		if (nch > 0)
			rr = (rr + 1) % nch;
		if (progress || dead)
			continue;
		{
			int dir = libssh2_session_block_directions(s);

			pfd[np].fd = js->outer->fd;
			pfd[np++].events = POLLIN | ((dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) ? POLLOUT : 0);
			pfd[np].fd = js->wake[0];
			pfd[np++].events = POLLIN;
			for (int i = 0; i < nch; i++) {
				if (ch[i]->fd < 0)
					continue;
				pfd[np].fd = ch[i]->fd;
				pfd[np++].events = (ch[i]->out_len == 0 && !ch[i]->fd_eof ? POLLIN : 0) |
				    (ch[i]->in_len > 0 ? POLLOUT : 0);
			}
			poll(pfd, np, 100);
		}
	}
	/* Done (stopped, or the session failed): every channel and request ends. */
	for (int i = 0; i < nch; i++) {
		if (ch[i]->fd >= 0)
			close(ch[i]->fd);
		free(ch[i]);
	}
	pthread_mutex_lock(&sh->jlock);
	js->state = TP_J_DEAD;
	js->nchan -= nch;
	if (opening != NULL)
		tp_janswer(js, opening, -1, TP_UNREACHABLE, xasprintf("jump host %s: connection lost", js->name));
	while (js->reqs != NULL) {
		struct tp_jreq *r = js->reqs;

		js->reqs = r->next;
		tp_janswer(js, r, -1, TP_UNREACHABLE, xasprintf("jump host %s: connection lost", js->name));
	}
	js->reqs_tail = &js->reqs;
	pthread_cond_broadcast(&sh->jcond);
	pthread_mutex_unlock(&sh->jlock);
	/* The channels were never freed when the link went: do not wait for goodbyes on it. */
	if (dead || nch > 0)
		js->outer->broken = true;
	transport_close(js->outer);
	js->outer = NULL;
	return NULL;
}

static int tp_connect_one(const struct tp_target *t, const struct tp_opts *o, struct transport **out,
    char **note, char **cause);

/* Wait on the pool's condition for at most 200 ms (sh->jlock held). */
static void
tp_jwait(struct tp_shared *sh)
{
	cond_wait_ms(&sh->jcond, &sh->jlock, 200);
}

/* A session to t->jump with room for one more channel, promised to us (nchan counted); connects one
 * when none has room.  NULL with *cause on failure. */
static struct tp_jsess *
tp_jsess_get(const struct tp_target *t, const struct tp_opts *o, int64_t deadline, char **note, char **cause, int *rcp)
{
	struct tp_shared *sh = o->shared;
	char *key = tp_jump_key(t->jump), *sub = NULL;
	struct tp_jsess *js;
	struct transport *outer = NULL;
	int rc;

	pthread_mutex_lock(&sh->jlock);
	for (;;) {
		for (js = sh->jsess; js != NULL; js = js->next)
			/* not one whose channel open is stuck (a terminal the jump host cannot reach) */
			if (js->state != TP_J_DEAD && js->nchan < TP_JUMP_CHANNELS &&
			    (js->open_started == 0 || now_ms() - js->open_started < 500) && strcmp(js->key, key) == 0)
				break;
		if (js == NULL)
			break;
		js->nchan++;
		/* Someone else is connecting it: wait for the outcome. */
		while (js->state == TP_J_CONNECTING && !tp_cancelled(o) && now_ms() < deadline)
			tp_jwait(sh);
		if (js->state == TP_J_UP) {
			pthread_mutex_unlock(&sh->jlock);
			free(key);
			return js;
		}
		js->nchan--;
		if (js->state == TP_J_DEAD && js->error != NULL) {
			/* the connection every terminal behind it waited for failed: the same answer for all */
			*rcp = set_cause(cause, js->error_rc, "jump host %s: %s", t->jump->name, js->error);
			pthread_mutex_unlock(&sh->jlock);
			free(key);
			return NULL;
		}
		if (js->state == TP_J_CONNECTING) {
			*rcp = set_cause(cause, tp_cancelled(o) ? TP_CANCELLED : TP_TIMEOUT, "jump host %s: %s", t->jump->name,
			    tp_cancelled(o) ? "interrupted" : "timed out waiting for its connection");
			pthread_mutex_unlock(&sh->jlock);
			free(key);
			return NULL;
		}
	}
	/* None with room: connect a new one, the others wait for it. */
	js = xcalloc(1, sizeof(*js));
	js->sh = sh;
	js->key = key;
	key = NULL;
	js->name = xstrdup(t->jump->name);
	js->state = TP_J_CONNECTING;
	js->nchan = 1;
	js->reqs_tail = &js->reqs;
	js->wake[0] = js->wake[1] = -1;
	js->next = sh->jsess;
	sh->jsess = js;
	pthread_mutex_unlock(&sh->jlock);

	rc = tp_connect_one(t->jump, o, &outer, note, &sub);
	if (rc == TP_OK && pipe2(js->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = TP_ERROR;
		sub = xasprintf("pipe: %s", strerror(errno));
	}
	if (rc == TP_OK) {
		js->outer = outer;
		if (pthread_create(&js->thread, NULL, tp_jpump_main, js) != 0) {
			js->outer = NULL;
			rc = TP_ERROR;
			sub = xstrdup("cannot start the jump pump thread");
		} else
			js->thread_started = true;
	}
	pthread_mutex_lock(&sh->jlock);
	if (rc == TP_OK)
		js->state = TP_J_UP;
	else {
		js->state = TP_J_DEAD;
		js->nchan--;
		js->error = xstrdup(sub != NULL ? sub : "failed");
		js->error_rc = rc;
		*rcp = set_cause(cause, rc, "jump host %s: %s", t->jump->name, sub != NULL ? sub : "failed");
	}
	pthread_cond_broadcast(&sh->jcond);
	pthread_mutex_unlock(&sh->jlock);
	if (rc != TP_OK) {
		transport_close(outer);
		free(sub);
		return NULL;
	}
	free(sub);
	return js;
}

/* Reach t through its jump host: a direct-tcpip channel on a shared session, pumped to a socketpair. */
static int
tp_connect_via_jump(const struct tp_target *t, const struct tp_opts *o, int *fdp, char **note, char **cause)
{
	struct tp_shared *sh = o->shared;
	int64_t deadline = now_ms() + (t->connect_timeout_ms > 0 ? t->connect_timeout_ms : 10000);
	struct tp_jsess *js;
	struct tp_jreq *r;
	int rc = TP_ERROR, attempt = 0;
	bool session_lost;   /* ... and worth one more try */

	if (sh == NULL)
		return set_cause(cause, TP_ERROR, "jump host %s: no shared state for jump sessions", t->jump->name);
again:
	js = tp_jsess_get(t, o, deadline, note, cause, &rc);
	if (js == NULL)
		return rc;
	r = xcalloc(1, sizeof(*r));
	r->host_copy = xstrdup(t->address);
	r->port = t->port;
	r->fd = -1;
	pthread_mutex_lock(&sh->jlock);
	if (js->state != TP_J_UP) {
		js->nchan--;
		pthread_mutex_unlock(&sh->jlock);
		free(r->host_copy);
		free(r);
		return set_cause(cause, TP_UNREACHABLE, "jump host %s: connection lost", t->jump->name);
	}
	*js->reqs_tail = r;
	js->reqs_tail = &r->next;
	tp_jwake(js);
	while (!r->done && !tp_cancelled(o) && now_ms() < deadline + 1000)
		tp_jwait(sh);
	if (!r->done) {
		/* Given up: the pump drops the channel when it gets one, and frees the request. */
		r->abandoned = true;
		pthread_mutex_unlock(&sh->jlock);
		return set_cause(cause, tp_cancelled(o) ? TP_CANCELLED : TP_TIMEOUT, "jump host %s cannot reach %s port %d: %s",
		    t->jump->name, t->address, t->port, tp_cancelled(o) ? "interrupted" : "timed out");
	}
	/* A session that died under the request (the jump host dropped an idle one): once more, on a new one. */
	session_lost = r->rc != TP_OK && js->state == TP_J_DEAD && attempt == 0 && !tp_cancelled(o) &&
	    now_ms() < deadline;
	pthread_mutex_unlock(&sh->jlock);
	rc = r->rc;
	if (rc == TP_OK)
		*fdp = r->fd;
	else if (!session_lost)
		set_cause(cause, rc, "%s", r->cause != NULL ? r->cause : "jump channel failed");
	free(r->cause);
	free(r->host_copy);
	free(r);
	if (session_lost) {
		attempt++;
		goto again;
	}
	return rc;
}

/* After the workers: every jump session finishes its channels (at most 2 s) and closes. */
static void
tp_jsess_free_all(struct tp_shared *sh)
{
	struct tp_jsess *js, *next;

	pthread_mutex_lock(&sh->jlock);
	for (js = sh->jsess; js != NULL; js = js->next)
		js->stop = true;
	pthread_mutex_unlock(&sh->jlock);
	for (js = sh->jsess; js != NULL; js = js->next)
		if (js->thread_started)
			tp_jwake(js);
	for (js = sh->jsess; js != NULL; js = next) {
		next = js->next;
		if (js->thread_started)
			pthread_join(js->thread, NULL);
		for (struct tp_jreq *r = js->reqs; r != NULL;) {
			struct tp_jreq *rn = r->next;

			free(r->cause);
			free(r->host_copy);
			free(r);
			r = rn;
		}
		if (js->wake[0] >= 0)
			close(js->wake[0]);
		if (js->wake[1] >= 0)
			close(js->wake[1]);
		free(js->key);
		free(js->name);
		free(js->error);
		free(js);
	}
	sh->jsess = NULL;
}

static int
tp_connect_one(const struct tp_target *t, const struct tp_opts *o, struct transport **out, char **note, char **cause)
{
	struct transport *tp = xcalloc(1, sizeof(*tp));
	struct tp_known known;
	long timeout = t->connect_timeout_ms > 0 ? t->connect_timeout_ms : 10000;
	int rc, attempt;

	tp->fd = -1;
	tp->opts = o;
	tp_known_load(&known, t, o != NULL ? o->shared : NULL);
	for (attempt = 0; attempt < 2; attempt++) {
		bool retryable = false;

		if (t->jump != NULL)
			rc = tp_connect_via_jump(t, o, &tp->fd, note, cause);
		else
			rc = tp_tcp_connect(t, o, &tp->fd, &retryable, cause);
		if (rc != TP_OK)
			goto retry;
		tp->session = libssh2_session_init();
		if (tp->session == NULL) {
			rc = set_cause(cause, TP_ERROR, "cannot create ssh session");
			goto out;
		}
		libssh2_session_set_blocking(tp->session, 1);
		libssh2_session_set_timeout(tp->session, timeout);
		tp_hostkey_pref(tp->session, &known);
		rc = libssh2_session_handshake(tp->session, tp->fd);
		if (rc != 0) {
			char *err = tp_session_error(tp->session);

			if (rc == LIBSSH2_ERROR_TIMEOUT)
				rc = set_cause(cause, TP_TIMEOUT, "ssh handshake timed out after %ld ms", timeout);
			else if (rc == LIBSSH2_ERROR_KEX_FAILURE || rc == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED)
				rc = set_cause(cause, TP_HOSTKEY, "ssh handshake failed: %s (no host key of a type "
				    "on record in known_hosts?)", err);
			else {
				/* A reset during the banner is sshd's MaxStartups dropping a burst: worth one retry. */
				retryable = true;
				rc = set_cause(cause, TP_UNREACHABLE, "ssh handshake failed: %s", err);
			}
			free(err);
			goto retry;
		}
		break;
retry:
		if (tp->session != NULL) {
			libssh2_session_free(tp->session);
			tp->session = NULL;
		}
		if (tp->fd >= 0)
			close(tp->fd);
		tp->fd = -1;
		if (!retryable || attempt == 1 || tp_cancelled(o))
			goto out;
		free(*cause);
		*cause = NULL;
		{
			struct timespec ts = { 0, (200 + rand() % 300) * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	if ((rc = tp_check_hostkey(tp, t, &known, note, cause)) != TP_OK)
		goto out;
	if ((rc = tp_authenticate(tp, t, cause)) != TP_OK)
		goto out;
	if (t->keepalive_s > 0)
		libssh2_keepalive_config(tp->session, 1, (unsigned)t->keepalive_s);
	libssh2_session_set_blocking(tp->session, 0);
	*out = tp;
	tp = NULL;
	rc = TP_OK;
out:
	tp_known_free(&known);
	if (tp != NULL)
		transport_close(tp);
	return rc;
}

int
transport_connect(const struct tp_target *t, const struct tp_opts *o, struct transport **out, char **note, char **cause)
{
	int rc;

	*out = NULL;
	tp_limiter_enter(o->limiter);
	rc = tp_connect_one(t, o, out, note, cause);
	tp_limiter_leave(o->limiter);
	return rc;
}

void
transport_close(struct transport *tp)
{
	if (tp == NULL)
		return;
	if (tp->session != NULL) {
		if (!tp->broken) {
			libssh2_session_set_blocking(tp->session, 1);
			libssh2_session_set_timeout(tp->session, 2000);
			libssh2_session_disconnect(tp->session, "fleetctl done");
		} else if (tp->fd >= 0) {
			/*
			 * A non-blocking session with a channel still open is not freed at all (session_free
			 * returns EAGAIN and leaks it).  Shut the socket so the channel's goodbye fails at
			 * once, and free in blocking mode.
			 */
			shutdown(tp->fd, SHUT_RDWR);
			libssh2_session_set_blocking(tp->session, 1);
			libssh2_session_set_timeout(tp->session, 2000);
		}
		libssh2_session_free(tp->session);
	}
	if (tp->fd >= 0)
		close(tp->fd);
	free(tp);
}

const char *
transport_fingerprint(const struct transport *tp)
{
	return tp->fingerprint;
}

int
transport_exec(struct transport *tp, struct tp_exec *x, char **cause)
{
	LIBSSH2_CHANNEL *ch = NULL;
	char rbuf[32768], *wbuf = NULL;
	size_t wlen = 0, woff = 0;
	bool stdin_open = x->stdin_fd >= 0, stdin_eof_sent = false;
	off_t rpos = x->stdin_offset;
	uint64_t remaining = x->stdin_len;
	int64_t deadline = x->timeout_ms > 0 ? now_ms() + x->timeout_ms : 0, next_keepalive = now_ms() + 5000;
	int rc;

	x->exit_code = -1;
	x->exit_signal[0] = '\0';
	x->bytes_sent = 0;
	if (tp->broken)
		return set_cause(cause, TP_ERROR, "connection unusable after an earlier error");
	while ((ch = libssh2_channel_open_session(tp->session)) == NULL) {
		if (libssh2_session_last_errno(tp->session) != LIBSSH2_ERROR_EAGAIN) {
			char *err = tp_session_error(tp->session);

			rc = set_cause(cause, TP_UNREACHABLE, "cannot open a session channel: %s", err);
			free(err);
			goto out;
		}
		if ((rc = tp_wait(tp, deadline, -1, 0)) != TP_OK)
			goto fail_wait;
	}
	while ((rc = libssh2_channel_exec(ch, x->command)) == LIBSSH2_ERROR_EAGAIN)
		if ((rc = tp_wait(tp, deadline, -1, 0)) != TP_OK)
			goto fail_wait;
	if (rc != 0) {
		/* The request got no answer: the link went (a refused exec on a live link is not something
		 * our terminals do), so the terminal is unreachable, not failed, and retried as such. */
		char *err = tp_session_error(tp->session);

		rc = set_cause(cause, TP_UNREACHABLE, "cannot run command: %s", err);
		free(err);
		tp->broken = true;
		goto out;
	}
	if (stdin_open)
		wbuf = xmalloc(TP_UPLOAD_CHUNK);
	for (;;) {
		bool progress = false, eof;
		ssize_t n;

		for (int stream = 0; stream < 2; stream++) {
			while ((n = libssh2_channel_read_ex(ch, stream, rbuf, sizeof(rbuf))) > 0) {
				progress = true;
				if (x->sink.on_data != NULL)
					x->sink.on_data(x->sink.arg, stream, rbuf, (size_t)n);
			}
			if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
				char *err = tp_session_error(tp->session);

				rc = set_cause(cause, TP_UNREACHABLE, "connection lost: %s", err);
				free(err);
				tp->broken = true;
				goto out;
			}
		}
		/* Up to 8 buffers a pass (256 KiB) before looking at the output again: a small buffer, few passes. */
		for (int burst = 0; stdin_open && burst < 8; burst++) {
			if (wlen == woff) {
				size_t want = TP_UPLOAD_CHUNK;
				ssize_t r;

				if (x->stdin_len > 0 && remaining < want)
					want = (size_t)remaining;
				r = want > 0 ? pread(x->stdin_fd, wbuf, want, rpos) : 0;
				if (r < 0) {
					rc = set_cause(cause, TP_ERROR, "cannot read local file: %s", strerror(errno));
					goto out;
				}
				wlen = (size_t)r;
				woff = 0;
				rpos += r;
				if (x->stdin_len > 0)
					remaining -= (uint64_t)r;
				if (r == 0)
					stdin_open = false;
			}
			while (woff < wlen) {
				n = libssh2_channel_write(ch, wbuf + woff, wlen - woff);
				if (n == LIBSSH2_ERROR_EAGAIN || n == 0)
					break;
				if (n < 0) {
					char *err = tp_session_error(tp->session);

					rc = set_cause(cause, TP_UNREACHABLE, "upload failed: %s", err);
					free(err);
					tp->broken = true;
					goto out;
				}
				woff += (size_t)n;
				x->bytes_sent += (uint64_t)n;
				progress = true;
			}
			if (woff < wlen)
				break;   /* the window or the socket is full: read, then wait */
		}
		if (!stdin_open && !stdin_eof_sent) {
			n = libssh2_channel_send_eof(ch);
			if (n == 0)
				stdin_eof_sent = true;
			else if (n != LIBSSH2_ERROR_EAGAIN) {
				rc = set_cause(cause, TP_UNREACHABLE, "connection lost while closing input");
				tp->broken = true;
				goto out;
			}
		}
		eof = libssh2_channel_eof(ch);
		/* The command ended without reading all its input (it failed early): stop sending, or the
		 * writes would wait for a window that never opens again. */
		if (eof && stdin_open) {
			stdin_open = false;
			stdin_eof_sent = true;
			wlen = woff = 0;
		}
		if (eof && stdin_eof_sent)
			break;
		if (!progress) {
			if (now_ms() >= next_keepalive) {
				int secs;

				libssh2_keepalive_send(tp->session, &secs);
				next_keepalive = now_ms() + 5000;
			}
			rc = tp_wait(tp, deadline, -1, 0);
			if (rc != TP_OK)
				goto fail_wait;
		}
	}
	while ((rc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
		if ((rc = tp_wait(tp, deadline, -1, 0)) != TP_OK)
			goto fail_wait;
	while ((rc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
		if ((rc = tp_wait(tp, deadline, -1, 0)) != TP_OK)
			goto fail_wait;
	{
		char *sig = NULL;
		size_t siglen = 0;

		x->exit_code = libssh2_channel_get_exit_status(ch);
		if (libssh2_channel_get_exit_signal(ch, &sig, &siglen, NULL, NULL, NULL, NULL) == 0 && sig != NULL) {
			snprintf(x->exit_signal, sizeof(x->exit_signal), "%.*s", (int)siglen, sig);
			libssh2_free(tp->session, sig);
			x->exit_code = -1;
		}
	}
	rc = TP_OK;
	goto out;
fail_wait:
	if (rc == TP_TIMEOUT)
		set_cause(cause, TP_TIMEOUT, "timed out after %ld s", x->timeout_ms / 1000);
	else if (rc == TP_CANCELLED)
		set_cause(cause, TP_CANCELLED, "interrupted");
	else
		set_cause(cause, rc, "connection error while waiting");
	/* The session is mid-request: do not try to use it (or say goodbye on it) again. */
	tp->broken = true;
out:
	if (ch != NULL)
		libssh2_channel_free(ch);
	free(wbuf);
	return rc;
}

static void
tp_capture(void *arg, int stream, const char *data, size_t len)
{
	struct buf **bufs = arg;

	if (bufs[stream] != NULL)
		buf_add(bufs[stream], data, len);
}

int
transport_run(struct transport *tp, const char *command, long timeout_ms, struct buf *out, struct buf *err,
    int *exit_code, char *signal, char **cause)
{
	struct buf *bufs[2] = { out, err };
	struct tp_exec x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.command = command;
	x.timeout_ms = timeout_ms;
	x.stdin_fd = -1;
	x.sink.on_data = tp_capture;
	x.sink.arg = bufs;
	rc = transport_exec(tp, &x, cause);
	if (exit_code != NULL)
		*exit_code = x.exit_code;
	if (signal != NULL)
		memcpy(signal, x.exit_signal, sizeof(x.exit_signal));
	return rc;
}
