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

#define TP_CHUNK (256 * 1024)
/* One upload's buffer: libssh2 takes at most 32700 bytes per channel write anyway, and with hundreds
 * of uploads in flight a bigger one per terminal is only resident memory. */
#define TP_UPLOAD_CHUNK (32 * 1024)

struct tp_pump;

struct transport {
	LIBSSH2_SESSION *session;
	int fd;                       /* TCP socket, or our end of the socketpair behind a jump */
	struct tp_pump *pump;         /* set when reached through a jump host */
	const struct tp_opts *opts;
	char fingerprint[96];
	bool broken;                  /* a timed-out or cancelled step left the session unusable */
};

/* Shuttles bytes between a direct-tcpip channel on the jump host's session and a socketpair. */
struct tp_pump {
	pthread_t thread;
	struct transport *outer;      /* owned by the pump thread once it runs */
	LIBSSH2_CHANNEL *channel;
	int fd;                       /* pump's end of the socketpair */
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

struct tp_shared {
	struct kh_db *known;
	struct tp_idkey *ids;
	size_t nids;
};

static char *tp_home_path(const char *rel);

static const char *const tp_default_ids[] = { ".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa", NULL };

struct tp_shared *
tp_shared_new(void)
{
	struct tp_shared *s = xcalloc(1, sizeof(*s));

	s->known = knownhosts_db_new();
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

static void
tp_known_load(struct tp_known *k, const struct tp_target *t, struct tp_shared *sh)
{
	memset(k, 0, sizeof(*k));
	k->file[0] = t->known_hosts;
	k->file[1] = t->global_known_hosts;
	for (int f = 0; f < 2; f++) {
		int rc;

		if (k->file[f] == NULL)
			continue;
		if (sh != NULL && knownhosts_db_has(sh->known, k->file[f]))
			rc = knownhosts_db_lookup(sh->known, k->file[f], t->address, t->port, &k->m[f], &k->n[f]);
		else
			rc = knownhosts_lookup(k->file[f], t->address, t->port, &k->m[f], &k->n[f]);
		if (rc < 0)
			k->n[f] = 0;
	}
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

static void *
tp_pump_main(void *arg)
{
	struct tp_pump *p = arg;
	struct transport *o = p->outer;
	char in[TP_CHUNK], out[TP_CHUNK];
	size_t in_len = 0, in_off = 0, out_len = 0, out_off = 0;
	bool done = false;

	libssh2_session_set_blocking(o->session, 0);
	while (!done) {
		bool progress = false;
		ssize_t n;

		if (in_len == 0) {
			n = libssh2_channel_read(p->channel, in, sizeof(in));
			if (n > 0) {
				in_len = (size_t)n;
				in_off = 0;
				progress = true;
			} else if (n == 0 && libssh2_channel_eof(p->channel))
				done = true;
			else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
				done = true;
		}
		if (in_len > 0) {
			n = write(p->fd, in + in_off, in_len - in_off);
			if (n > 0) {
				in_off += (size_t)n;
				if (in_off == in_len)
					in_len = 0;
				progress = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR)
				done = true;
		}
		if (out_len == 0) {
			n = read(p->fd, out, sizeof(out));
			if (n > 0) {
				out_len = (size_t)n;
				out_off = 0;
				progress = true;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				done = true;
		}
		if (out_len > 0) {
			n = libssh2_channel_write(p->channel, out + out_off, out_len - out_off);
			if (n > 0) {
				out_off += (size_t)n;
				if (out_off == out_len)
					out_len = 0;
				progress = true;
			} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
				done = true;
		}
		if (!progress && !done) {
			struct pollfd pfd[2];
			int dir = libssh2_session_block_directions(o->session);

			pfd[0].fd = o->fd;
			pfd[0].events = POLLIN | ((dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) ? POLLOUT : 0);
			pfd[1].fd = p->fd;
			pfd[1].events = (out_len == 0 ? POLLIN : 0) | (in_len > 0 ? POLLOUT : 0);
			poll(pfd, 2, 100);
		}
	}
	close(p->fd);
	p->fd = -1;
	while (libssh2_channel_close(p->channel) == LIBSSH2_ERROR_EAGAIN)
		if (tp_wait(o, now_ms() + 1000, -1, 0) != TP_OK)
			break;
	libssh2_channel_free(p->channel);
	p->channel = NULL;
	transport_close(o);
	p->outer = NULL;
	return NULL;
}

static int tp_connect_one(const struct tp_target *t, const struct tp_opts *o, struct transport **out,
    char **note, char **cause);

/* Reach t through its jump host: a direct-tcpip channel from the jump's session, pumped to a socketpair. */
static int
tp_connect_via_jump(const struct tp_target *t, const struct tp_opts *o, int *fdp, struct tp_pump **pumpp,
    char **note, char **cause)
{
	struct transport *outer = NULL;
	struct tp_pump *p = NULL;
	LIBSSH2_CHANNEL *ch;
	int sv[2] = { -1, -1 }, rc;
	int64_t deadline = now_ms() + (t->connect_timeout_ms > 0 ? t->connect_timeout_ms : 10000);
	char *sub = NULL;

	rc = tp_connect_one(t->jump, o, &outer, note, &sub);
	if (rc != TP_OK) {
		set_cause(cause, rc, "jump host %s: %s", t->jump->name, sub != NULL ? sub : "failed");
		goto out;
	}
	/* The jump's session is non-blocking once connected: wait for the channel, bounded like a connect. */
	while ((ch = libssh2_channel_direct_tcpip_ex(outer->session, t->address, t->port, "127.0.0.1", 0)) == NULL &&
	    libssh2_session_last_errno(outer->session) == LIBSSH2_ERROR_EAGAIN) {
		if ((rc = tp_wait(outer, deadline, -1, 0)) != TP_OK) {
			outer->broken = true;
			rc = set_cause(cause, rc, "jump host %s cannot reach %s port %d: %s", t->jump->name,
			    t->address, t->port, rc == TP_CANCELLED ? "interrupted" : "timed out");
			goto out;
		}
	}
	if (ch == NULL) {
		char *err = tp_session_error(outer->session);

		rc = set_cause(cause, TP_UNREACHABLE, "jump host %s cannot reach %s port %d: %s", t->jump->name,
		    t->address, t->port, err);
		free(err);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		libssh2_channel_free(ch);
		rc = set_cause(cause, TP_ERROR, "socketpair: %s", strerror(errno));
		goto out;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	p = xcalloc(1, sizeof(*p));
	p->outer = outer;
	p->channel = ch;
	p->fd = sv[0];
	if (pthread_create(&p->thread, NULL, tp_pump_main, p) != 0) {
		libssh2_channel_free(ch);
		close(sv[0]);
		close(sv[1]);
		free(p);
		p = NULL;
		rc = set_cause(cause, TP_ERROR, "cannot start jump pump thread");
		goto out;
	}
	outer = NULL;   /* the pump owns it now */
	*fdp = sv[1];
	*pumpp = p;
	rc = TP_OK;
out:
	if (outer != NULL)
		transport_close(outer);
	free(sub);
	return rc;
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
			rc = tp_connect_via_jump(t, o, &tp->fd, &tp->pump, note, cause);
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
		if (tp->pump != NULL) {
			close(tp->fd);
			pthread_join(tp->pump->thread, NULL);
			free(tp->pump);
			tp->pump = NULL;
		} else if (tp->fd >= 0)
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
	if (tp->pump != NULL) {
		/* Closing our end makes the pump see EOF, close its channel and the jump session. */
		pthread_join(tp->pump->thread, NULL);
		free(tp->pump);
	}
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
		if (stdin_open) {
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
				if (n == LIBSSH2_ERROR_EAGAIN)
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
