/*
 * floor: the least a libssh2 client can do to run one command on many terminals — the benchmark's floor.
 *
 *   floor [-k KNOWN_HOSTS] USER KEYFILE COMMAND HOST:PORT...
 *
 * One thread per terminal: TCP connect, TCP_NODELAY, handshake, (with -k: host key checked against
 * KNOWN_HOSTS, ed25519 asked for first), public key auth from KEYFILE, exec COMMAND as given (no
 * wrapper), read stdout and stderr to the end, exit status, close.  Blocking libssh2 with a 30 s
 * session timeout.  Prints "ok N failed M lines L" (L = stdout lines over all terminals) on stderr;
 * exits 0 only if every terminal ran COMMAND with exit status 0.
 */
#include <arpa/inet.h>
#include <libssh2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct floor_job {
	const char *user, *key, *command, *known_hosts, *host;
	int port;
	int ok;
	long lines;
	char error[160];
};

static int
floor_hostkey(LIBSSH2_SESSION *s, struct floor_job *j)
{
	LIBSSH2_KNOWNHOSTS *kh;
	const char *key;
	size_t len;
	int type, rc;

	key = libssh2_session_hostkey(s, &len, &type);
	if (key == NULL || type != LIBSSH2_HOSTKEY_TYPE_ED25519)
		return -1;
	kh = libssh2_knownhost_init(s);
	if (kh == NULL)
		return -1;
	if (libssh2_knownhost_readfile(kh, j->known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		libssh2_knownhost_free(kh);
		return -1;
	}
	rc = libssh2_knownhost_checkp(kh, j->host, j->port, key, len,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | LIBSSH2_KNOWNHOST_KEY_ED25519, NULL);
	libssh2_knownhost_free(kh);
	return rc == LIBSSH2_KNOWNHOST_CHECK_MATCH ? 0 : -1;
}

static void *
floor_run(void *arg)
{
	struct floor_job *j = arg;
	struct sockaddr_in sa;
	LIBSSH2_SESSION *s = NULL;
	LIBSSH2_CHANNEL *ch = NULL;
	char buf[16384];
	int fd, one = 1;
	ssize_t n;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)j->port);
	if (fd < 0 || inet_pton(AF_INET, j->host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(j->error, sizeof(j->error), "connect failed");
		goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s = libssh2_session_init();
	if (s == NULL)
		goto out;
	libssh2_session_set_timeout(s, 30000);
	if (j->known_hosts != NULL)
		libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, "ssh-ed25519");
	if (libssh2_session_handshake(s, fd) != 0) {
		snprintf(j->error, sizeof(j->error), "handshake failed");
		goto out;
	}
	if (j->known_hosts != NULL && floor_hostkey(s, j) != 0) {
		snprintf(j->error, sizeof(j->error), "host key not matched");
		goto out;
	}
	if (libssh2_userauth_publickey_fromfile(s, j->user, NULL, j->key, NULL) != 0) {
		snprintf(j->error, sizeof(j->error), "auth failed");
		goto out;
	}
	ch = libssh2_channel_open_session(s);
	if (ch == NULL || libssh2_channel_exec(ch, j->command) != 0) {
		snprintf(j->error, sizeof(j->error), "exec failed");
		goto out;
	}
	/* stdout and stderr share the window: drain both until the end of the stream. */
	for (;;) {
		n = libssh2_channel_read(ch, buf, sizeof(buf));
		if (n > 0)
			for (ssize_t i = 0; i < n; i++)
				j->lines += buf[i] == '\n';
		while (libssh2_channel_read_stderr(ch, buf, sizeof(buf)) > 0)
			;
		if (n < 0) {
			snprintf(j->error, sizeof(j->error), "read failed");
			goto out;
		}
		if (n == 0 && libssh2_channel_eof(ch))
			break;
	}
	libssh2_channel_close(ch);
	libssh2_channel_wait_closed(ch);
	if (libssh2_channel_get_exit_status(ch) == 0)
		j->ok = 1;
	else
		snprintf(j->error, sizeof(j->error), "exit status %d", libssh2_channel_get_exit_status(ch));
out:
	if (ch != NULL)
		libssh2_channel_free(ch);
	if (s != NULL) {
		libssh2_session_disconnect(s, "done");
		libssh2_session_free(s);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *known_hosts = NULL;
	struct floor_job *jobs;
	pthread_t *threads;
	pthread_attr_t attr;
	int first = 1, n, ok = 0;
	long lines = 0;

	if (argc > 2 && strcmp(argv[1], "-k") == 0) {
		known_hosts = argv[2];
		first = 3;
	}
	if (argc - first < 4) {
		fprintf(stderr, "usage: floor [-k KNOWN_HOSTS] USER KEYFILE COMMAND HOST:PORT...\n");
		return 2;
	}
	n = argc - first - 3;
	jobs = calloc((size_t)n, sizeof(*jobs));
	threads = calloc((size_t)n, sizeof(*threads));
	if (jobs == NULL || threads == NULL || libssh2_init(0) != 0)
		return 1;
	for (int i = 0; i < n; i++) {
		char *colon;

		jobs[i].user = argv[first];
		jobs[i].key = argv[first + 1];
		jobs[i].command = argv[first + 2];
		jobs[i].known_hosts = known_hosts;
		jobs[i].host = argv[first + 3 + i];
		colon = strrchr(argv[first + 3 + i], ':');
		if (colon == NULL) {
			fprintf(stderr, "floor: want HOST:PORT, not '%s'\n", argv[first + 3 + i]);
			return 2;
		}
		*colon = '\0';
		jobs[i].port = (int)strtol(colon + 1, NULL, 10);
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (int i = 0; i < n; i++)
		if (pthread_create(&threads[i], &attr, floor_run, &jobs[i]) != 0) {
			fprintf(stderr, "floor: cannot start thread %d\n", i);
			return 1;
		}
	for (int i = 0; i < n; i++) {
		pthread_join(threads[i], NULL);
		ok += jobs[i].ok;
		lines += jobs[i].lines;
		if (!jobs[i].ok)
			fprintf(stderr, "floor: %s:%d: %s\n", jobs[i].host, jobs[i].port, jobs[i].error);
	}
	fprintf(stderr, "ok %d failed %d lines %ld\n", ok, n - ok, lines);
	libssh2_exit();
	free(jobs);
	free(threads);
	return ok == n ? 0 : 1;
}
