/*
 * logjob: the executor jobs behind `fleetctl logs` — list each terminal's log files (its `logs` globs
 * or --path), then per file: the last lines (filtered on the terminal by --since and --grep, so only
 * what was asked for crosses the network), or the whole file saved under a local directory
 * (compressed on the wire, resumed when cut), or followed live with reconnection.  The commands it
 * runs come from lib/logfetch; cmd/logs.c parses the options and prints the results.
 */
#ifndef FLEET_LOGJOB_H
#define FLEET_LOGJOB_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "executor.h"
#include "util.h"

#define LOGJOB_TEXT_CAP (8 * 1024 * 1024)     /* per file, without -o */
#define LOGJOB_LINE_CAP (1024 * 1024)         /* one followed line */
#define LOGJOB_ERR_CAP (64 * 1024)
#define LOGJOB_BACKOFF_MAX 30

struct logjob_opts {
	char **paths;             /* --path globs, or NULL: each host's `logs` */
	size_t npaths;
	long lines;
	const char *regex;        /* NULL = none */
	const char *cutoff;       /* "YYYY-MM-DD HH:MM:SS" or NULL */
	const char *dir;          /* -o DIR, or NULL */
	bool follow;
	volatile sig_atomic_t *interrupted;
	pthread_mutex_t *out_lock;   /* followed lines from every worker go out whole, one write() under it */
};

struct logjob_file {
	char *path;
	uint64_t size;
	struct buf text;          /* without -o: the lines */
	char *error;
	/* -o */
	char *local;
	uint64_t resumed_from, fetched, wire_bytes;
	bool complete, gz;
	/* -f */
	int64_t start;            /* byte offset the current tail started at, -1 = not started */
	uint64_t consumed;        /* bytes of the file accounted for since start */
};

struct logjob_host {
	struct logjob_file *files;
	size_t nfiles;
	/* -f: partial lines of the current connection */
	struct buf pend[2];
	struct host_result *r;
	const struct logjob_opts *o;
};

/* The executor jobs (arg: struct logjob_opts): fetch (tail or save), or follow.  Each host's result
 * data is a struct logjob_host (free it with logjob_host_free). */
void logjob_run(struct executor_worker *w, struct host_result *r, void *arg);
void logjob_follow(struct executor_worker *w, struct host_result *r, void *arg);
void logjob_host_free(struct logjob_host *lh);

#endif
