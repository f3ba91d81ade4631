/*
 * histscale: what a push's bookkeeping costs the controller at N terminals, phase by phase, with lib/history
 * and lib/journal as fleetctl links them (bench/scale.sh builds it against build/rel/lib/ *.o).
 *
 *   histscale DIR N...        e.g. histscale /var/tmp/x 1000 2000 5000 10000
 *
 * For each N, in a fresh state directory DIR/nN: a first push is recorded (every terminal gets a state
 * file), then one push is replayed the way cmd/deploy_run.c and lib/deploy.c do it:
 *
 *   journal   journal_create with the plan (N host names), then "sent", "installed", "done" for each terminal
 *             from 8 threads (fleetctl's workers share the fsyncs), fdatasync'd as fleetctl does
 *   text      journal_text: the run record that goes into the commit (runs/<id>.json)
 *   read      journal_read: what show, runs and resume parse
 *   states    history_host_state for every terminal (deploy_run before the commit; targets at the start)
 *   commit    history_record: N result lines in the message, N state files, the run record
 *
 * Prints one line per N: "N journal_s text_s read_s states_s commit_s first_commit_s journal_bytes".
 */
#include <jansson.h>
#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/history.h"
#include "../lib/journal.h"
#include "../lib/util.h"

#define HS_THREADS 8

struct hs_job {
	struct journal *j;
	char **names;
	size_t n, first, step;
	int failed;
};

static double
hs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
hs_journal_worker(void *arg)
{
	struct hs_job *jb = arg;
	static const char *const states[] = { "sent", "installed", "done" };

	for (size_t i = jb->first; i < jb->n; i += jb->step)
		for (int s = 0; s < 3; s++)
			if (journal_state(jb->j, jb->names[i], states[s], s == 2 ? "health" : NULL, NULL, 0) != 0)
				jb->failed = 1;
	return NULL;
}

static int
hs_record(struct history *h, const char *run_id, char **names, size_t n, const char *release, const char *prev,
    const char *run_json, char **cause)
{
	struct hist_result *hr = xcalloc(n, sizeof(*hr));
	struct hist_state *st = xcalloc(n, sizeof(*st));
	char *good[3] = { (char *)release, (char *)prev, NULL }, commit[41], *summary;
	struct hist_op op;
	int rc;

	for (size_t i = 0; i < n; i++) {
		st[i].current = (char *)release;
		st[i].previous = (char *)prev;
		st[i].good = good;
		st[i].last_result = (char *)"ok";
		hr[i].host = names[i];
		hr[i].state = "ok";
		hr[i].exit_code = 0;
		hr[i].duration_ms = 1234;
		hr[i].bytes = true;
		hr[i].bytes_sent = 1048576;
		hr[i].new_state = &st[i];
	}
	summary = xasprintf("push app %s to all: %zu ok", release, n);
	memset(&op, 0, sizeof(op));
	op.kind = "push";
	op.run_id = run_id;
	op.summary = summary;
	op.component = "app";
	op.command = "push app.tar.gz";
	op.release_id = release;
	op.release_manifest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  bin/app\n";
	op.release_sha256 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
	op.run_json = run_json;
	op.results = hr;
	op.nresults = n;
	rc = history_record(h, &op, commit, cause);
	free(summary);
	free(st);
	free(hr);
	return rc;
}

static int
hs_one(const char *base, size_t n)
{
	char *dir = xasprintf("%s/n%zu", base, n), **names = xcalloc(n, sizeof(*names)), *cause = NULL;
	char *text = NULL, run_id[64];
	struct history *h = NULL;
	struct journal *j = NULL;
	struct journal_run *jr = NULL;
	struct hs_job jobs[HS_THREADS];
	pthread_t th[HS_THREADS];
	json_t *plan, *hosts;
	double t0, t_first, t_journal, t_text, t_read, t_states, t_commit;
	size_t good_states = 0;
	int rc = 1;

	for (size_t i = 0; i < n; i++)
		names[i] = xasprintf("t%05zu", i + 1);
	if (history_open(dir, &h, &cause) != 0)
		goto fail;

	t0 = hs_now();
	if (hs_record(h, "20261201T220000.000Z-000001", names, n, "1.0-aaaaaaaaaaaa", NULL, NULL, &cause) != 0)
		goto fail;
	t_first = hs_now() - t0;

	snprintf(run_id, sizeof(run_id), "20261202T220000.000Z-%06zu", n);
	plan = json_object();
	hosts = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(hosts, json_string(names[i]));
	json_object_set_new(plan, "kind", json_string("push"));
	json_object_set_new(plan, "hosts", hosts);
	t0 = hs_now();
	if (journal_create(dir, run_id, plan, &j, &cause) != 0) {
		json_decref(plan);
		goto fail;
	}
	json_decref(plan);
	for (int t = 0; t < HS_THREADS; t++) {
		jobs[t] = (struct hs_job){ .j = j, .names = names, .n = n, .first = (size_t)t, .step = HS_THREADS };
		pthread_create(&th[t], NULL, hs_journal_worker, &jobs[t]);
	}
	for (int t = 0; t < HS_THREADS; t++) {
		pthread_join(th[t], NULL);
		if (jobs[t].failed) {
			cause = xasprintf("journal: %s", journal_error(j));
			goto fail;
		}
	}
	t_journal = hs_now() - t0;

	t0 = hs_now();
	if (journal_text(dir, run_id, &text, &cause) != 0)
		goto fail;
	t_text = hs_now() - t0;

	t0 = hs_now();
	if (journal_read(dir, run_id, &jr, &cause) != 0)
		goto fail;
	t_read = hs_now() - t0;

	t0 = hs_now();
	for (size_t i = 0; i < n; i++) {
		struct hist_state st;

		if (history_host_state(h, names[i], "app", &st, &cause) < 0)
			goto fail;
		good_states += st.current != NULL && strcmp(st.current, "1.0-aaaaaaaaaaaa") == 0;
		hist_state_free(&st);
	}
	t_states = hs_now() - t0;
	if (good_states != n) {
		cause = xasprintf("%zu of %zu state files read back", good_states, n);
		goto fail;
	}

	t0 = hs_now();
	if (hs_record(h, run_id, names, n, "1.1-bbbbbbbbbbbb", "1.0-aaaaaaaaaaaa", text, &cause) != 0)
		goto fail;
	t_commit = hs_now() - t0;

	printf("%zu %.3f %.3f %.3f %.3f %.3f %.3f %zu\n", n, t_journal, t_text, t_read, t_states, t_commit, t_first,
	    strlen(text));
	fflush(stdout);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "histscale: N=%zu: %s\n", n, cause != NULL ? cause : "failed");
out:
	journal_run_free(jr);
	journal_close(j);
	history_close(h);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(text);
	free(cause);
	free(dir);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: histscale DIR N...\n");
		return 2;
	}
	git_libgit2_init();
	for (int i = 2; i < argc; i++) {
		long n;

		if (parse_long(argv[i], 1, 1000000, &n) != 0) {
			fprintf(stderr, "histscale: bad N '%s'\n", argv[i]);
			return 2;
		}
		rc |= hs_one(argv[1], (size_t)n);
	}
	git_libgit2_shutdown();
	return rc;
}
