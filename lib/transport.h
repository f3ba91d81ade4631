/*
 * transport: one SSH connection to one terminal with libssh2.
 *
 * Connect (with a connect timeout and one retry), verify the host key against known_hosts (strict by
 * default), authenticate (ssh-agent, then identity files), optionally through a chain of jump hosts
 * (direct-tcpip channels, up to 16 terminals' on one session to the jump host, pumped by that
 * session's thread; jump hosts need a struct tp_shared).  Then run commands over exec channels (no
 * PTY), stdout and stderr kept apart, with a deadline; or stream a file into a remote command.
 *
 * A struct transport belongs to one thread at a time.  Nothing here prints.
 */
#ifndef FLEET_TRANSPORT_H
#define FLEET_TRANSPORT_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* Error classes: what the executor reports as a terminal's state. */
enum tp_status {
	TP_OK = 0,
	TP_UNREACHABLE = -1,   /* no TCP connection, or it broke */
	TP_HOSTKEY = -2,       /* unknown or changed host key */
	TP_AUTH = -3,          /* no method worked */
	TP_TIMEOUT = -4,       /* a deadline passed */
	TP_ERROR = -5,         /* protocol or local error */
	TP_CANCELLED = -6      /* Ctrl-C */
};

enum tp_strict { TP_STRICT_YES, TP_STRICT_ACCEPT_NEW, TP_STRICT_NO };

/* Shared by every connection of one run: limits how many handshakes are in flight at once
 * (sshd's MaxStartups drops bursts), independent of the parallelism. */
struct tp_limiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int active;
	int max;
};
void tp_limiter_init(struct tp_limiter *l, int max);
void tp_limiter_destroy(struct tp_limiter *l);

struct tp_target {
	const char *name;             /* for messages */
	const char *address;
	int port;
	const char *user;
	char *const *identities;      /* NULL-terminated, may be NULL: then ~/.ssh/id_ed25519, id_ecdsa */
	bool identities_only;
	const char *agent;            /* socket path, "none", or NULL = $SSH_AUTH_SOCK */
	const char *known_hosts;
	const char *global_known_hosts;
	enum tp_strict strict;
	long connect_timeout_ms;
	long keepalive_s;             /* 0 = off */
	const struct tp_target *jump; /* the hop before this one, or NULL */
};

/*
 * What the connections of one run share, made on the main thread before the workers start:
 * known_hosts files and identity keys parsed once (then only read; keys accepted with accept-new
 * are added under the known_hosts db's own lock), and the sessions to jump hosts, each carrying
 * the direct-tcpip channels of several terminals (locked inside).
 */
struct tp_shared;
struct tp_shared *tp_shared_new(void);
/* Parse what connections to t (and its jump chain) will need.  Main thread, before the workers. */
void tp_shared_prepare(struct tp_shared *s, const struct tp_target *t);
/* After the workers: closes the jump sessions. */
void tp_shared_free(struct tp_shared *s);

struct tp_opts {
	volatile sig_atomic_t *cancel;  /* checked while waiting; may be NULL */
	struct tp_limiter *limiter;     /* may be NULL */
	struct tp_shared *shared;       /* may be NULL: each connection reads its files itself */
};

struct transport;

/* Connect to t (through its jump chain).  On failure returns a tp_status < 0 and *cause. 
 * *note receives a remark worth showing even on success (e.g. "added host key to FILE"), or NULL. */
int transport_connect(const struct tp_target *t, const struct tp_opts *o, struct transport **out,
    char **note, char **cause);
void transport_close(struct transport *tp);

/* Output sinks for exec: called with each chunk as it arrives (may be NULL to discard). */
struct tp_sink {
	void (*on_data)(void *arg, int stream /* 0 stdout, 1 stderr */, const char *data, size_t len);
	void *arg;
};

struct tp_exec {
	const char *command;        /* whole remote shell command */
	long timeout_ms;            /* 0 = none */
	int stdin_fd;               /* -1 = none; else streamed from stdin_offset to EOF or stdin_len */
	off_t stdin_offset;
	uint64_t stdin_len;         /* 0 = until EOF */
	struct tp_sink sink;
	/* results */
	int exit_code;              /* -1 if none received */
	char exit_signal[32];       /* "KILL" when killed by a signal, else "" */
	uint64_t bytes_sent;        /* stdin bytes written to the channel */
};

/* Run one command.  TP_OK when the channel completed (look at exit_code / exit_signal), else an error. */
int transport_exec(struct transport *tp, struct tp_exec *x, char **cause);

/* Convenience: run command, capture stdout/stderr (out/err may be NULL); the exit signal's name goes
 * into signal (32 bytes, may be NULL), "" when none. */
int transport_run(struct transport *tp, const char *command, long timeout_ms, struct buf *out, struct buf *err,
    int *exit_code, char *signal, char **cause);

/*
 * The known_hosts entries of file for host:port as this connection's run sees them: from the run's
 * parsed files (keys accepted during the run included), or read from the file now when the run did
 * not load it.  Returns the number of matches (caller frees with kh_matches_free), -1 on a read error.
 */
struct kh_match;
int transport_known_lookup(const struct transport *tp, const char *file, const char *host, int port,
    struct kh_match **out, size_t *n);

/* The host key's SHA256 fingerprint "SHA256:..." of this connection (borrowed). */
const char *transport_fingerprint(const struct transport *tp);

#endif
