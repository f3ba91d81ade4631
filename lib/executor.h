/*
 * executor: run one job on many hosts, at most `parallel` at once, each host's result in its own struct.
 *
 * Workers share nothing mutable but an atomic work index and counters; each writes only into its own
 * host's struct host_result.  The calling (main) thread waits, calls the progress callback a few
 * times a second, and gets every result back in inventory order.
 */
#ifndef FLEET_EXECUTOR_H
#define FLEET_EXECUTOR_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "inventory.h"
#include "transport.h"
#include "util.h"

enum host_state {
	HS_PENDING = 0,
	HS_OK,
	HS_FAILED,        /* the command or a step failed on the terminal */
	HS_UNREACHABLE,
	HS_HOSTKEY,
	HS_AUTH,
	HS_TIMEOUT,
	HS_INTERRUPTED,   /* cut by Ctrl-C */
	HS_SKIPPED,       /* never started (Ctrl-C, halt, dry run) */
	HS_ROLLED_BACK,   /* updated, unhealthy, put back on its previous release */
	HS_LOCKED,        /* another run holds the terminal's lock */
	HS_BUSY,          /* the terminal said it is busy (busy command exit 75): come back later */
	HS_DELAYED,       /* not reached in time (unreachable, busy, outside its window): still to do */
	HS_EXPIRED,       /* still not reached when the run's deadline passed: given up */
	HS__COUNT
};
const char *host_state_name(enum host_state s);
/* Unreachable-like: the terminal may be fine, we could not talk to it properly. */
bool host_state_unreachable(enum host_state s);

#define HOST_OUTPUT_CAP (1024 * 1024)   /* per stream, per host */

struct host_result {
	struct inv_host *host;      /* borrowed */
	enum host_state state;
	int exit_code;              /* -1 = none */
	char exit_signal[32];       /* "KILL" when the remote command was killed */
	struct buf out, err;        /* captured, capped at HOST_OUTPUT_CAP (dropped counts the rest) */
	const char *step;           /* failed step, static string, or NULL */
	char *error;                /* message for humans, or NULL */
	char *note;                 /* e.g. "added host key ...", or NULL */
	long duration_ms;
	void *data;                 /* job-specific, owned by the job */
};

struct executor_progress {
	size_t total, done, ok, failed, unreachable;
	long elapsed_ms;
};

struct executor_opts {
	int parallel;
	volatile sig_atomic_t *cancel;
	bool accept_new_host_keys;
	int max_handshakes;         /* handshakes in flight at once; 0 = default 32 */
	void (*progress)(const struct executor_progress *p, void *arg);   /* main thread; may be NULL */
	void *progress_arg;
};

struct executor_worker;   /* per-thread context handed to the job */

struct executor_job {
	/* Do the work for one host; fill r (state, exit_code, out/err, step, error).  Runs on a worker. */
	void (*run)(struct executor_worker *w, struct host_result *r, void *arg);
	void *arg;
};

/* Initialise results[0..n) for hosts and run job on them.  Returns 0, or -1 if interrupted. */
int executor_run(const struct executor_opts *o, struct inv_host **hosts, size_t n, struct host_result *results,
    const struct executor_job *job);
void host_results_free(struct host_result *results, size_t n);

/* For jobs: connect to r->host (jump chain, host key policy, auth).  On failure fills r->state/error
 * and returns NULL. */
struct transport *executor_connect(struct executor_worker *w, struct host_result *r);
/* The same to another host h (a terminal's relay), the result still r's. */
struct transport *executor_connect_host(struct executor_worker *w, struct host_result *r, const struct inv_host *h);
/* The run's cancel flag (may be NULL), for jobs that wait on each other. */
volatile sig_atomic_t *executor_cancel_flag(const struct executor_worker *w);
/* For jobs: is the run being cancelled? */
bool executor_cancelled(const struct executor_worker *w);
/* Map a transport status to a host state. */
enum host_state host_state_from_tp(int tp_status);

/* Exit status for a set of results: 0 all ok, 1 any failed, 3 any unreachable-like, 130 interrupted. */
int executor_exit_status(const struct host_result *results, size_t n, bool interrupted);

#endif
