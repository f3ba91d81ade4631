/* executor: a bounded pool of worker threads running one job over many hosts. */
#include "executor.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const state_names[HS__COUNT] = {
	"pending", "ok", "failed", "unreachable", "hostkey", "auth", "timeout", "interrupted", "skipped",
	"rolled-back", "locked", "busy", "delayed", "expired"
};

const char *
host_state_name(enum host_state s)
{
	return s < HS__COUNT ? state_names[s] : "unknown";
}

bool
host_state_unreachable(enum host_state s)
{
	return s == HS_UNREACHABLE || s == HS_HOSTKEY || s == HS_AUTH || s == HS_TIMEOUT;
}

enum host_state
host_state_from_tp(int tp_status)
{
	switch (tp_status) {
	case TP_OK: return HS_OK;
	case TP_UNREACHABLE: return HS_UNREACHABLE;
	case TP_HOSTKEY: return HS_HOSTKEY;
	case TP_AUTH: return HS_AUTH;
	case TP_TIMEOUT: return HS_TIMEOUT;
	case TP_CANCELLED: return HS_INTERRUPTED;
	default: return HS_FAILED;
	}
}

struct executor {
	const struct executor_opts *opts;
	const struct executor_job *job;
	struct host_result *results;
	size_t n;
	atomic_size_t next;
	atomic_size_t done, ok, failed, unreachable;
	struct tp_limiter limiter;
	struct tp_opts tpo;
	pthread_mutex_t lock;       /* only for the finish condition */
	pthread_cond_t cond;
	size_t workers_left;
};

struct executor_worker {
	struct executor *ex;
};

bool
executor_cancelled(const struct executor_worker *w)
{
	return w->ex->opts->cancel != NULL && *w->ex->opts->cancel != 0;
}

static enum tp_strict
exec_strict(const struct inv_host *h, bool accept_new)
{
	const char *v = inv_get(h, INV_STRICT_HOST_KEYS);

	if (v != NULL && strcmp(v, "no") == 0)
		return TP_STRICT_NO;
	if (accept_new || (v != NULL && strcmp(v, "accept-new") == 0))
		return TP_STRICT_ACCEPT_NEW;
	return TP_STRICT_YES;
}

/* Fill a tp_target from a host; identities is owned by the caller (strv_free). */
static void
exec_target(const struct inv_host *h, bool accept_new, struct tp_target *t, char ***identities)
{
	const char *ids = inv_get(h, INV_IDENTITY), *io = inv_get(h, INV_IDENTITIES_ONLY);

	memset(t, 0, sizeof(*t));
	t->name = h->name;
	t->address = inv_get(h, INV_ADDRESS);
	if (t->address == NULL)
		t->address = h->name;
	t->port = (int)inv_get_long(h, INV_PORT);
	t->user = inv_get(h, INV_USER);
	*identities = ids != NULL ? str_split_commas(ids, NULL) : NULL;
	t->identities = *identities;
	t->identities_only = io != NULL && strcmp(io, "yes") == 0;
	t->agent = inv_get(h, INV_IDENTITY_AGENT);
	t->known_hosts = inv_get(h, INV_KNOWN_HOSTS);
	t->global_known_hosts = inv_get(h, INV_GLOBAL_KNOWN_HOSTS);
	t->strict = exec_strict(h, accept_new);
	t->connect_timeout_ms = inv_get_long(h, INV_CONNECT_TIMEOUT) * 1000;
	t->keepalive_s = inv_get_long(h, INV_KEEPALIVE_INTERVAL);
}

#define EXEC_MAX_HOPS 16

/* targets[0] is the terminal h, targets[k] its k-th jump back towards us (loops were refused at load).
 * Returns the number of hops; free ids[0..hops) with strv_free. */
static size_t
exec_chain(const struct inv_host *h, bool accept_new, struct tp_target *targets, char ***ids)
{
	size_t hops = 0;

	memset(targets, 0, EXEC_MAX_HOPS * sizeof(*targets));
	for (; h != NULL && hops < EXEC_MAX_HOPS; h = h->jump, hops++) {
		exec_target(h, accept_new, &targets[hops], &ids[hops]);
		if (hops > 0)
			targets[hops - 1].jump = &targets[hops];
	}
	return hops;
}

/* What connections to h and its jump chain need, parsed into the run's shared state. */
static void
exec_prepare(struct tp_shared *shared, const struct inv_host *h, bool accept_new)
{
	struct tp_target targets[EXEC_MAX_HOPS];
	char **ids[EXEC_MAX_HOPS] = { NULL };
	size_t hops = exec_chain(h, accept_new, targets, ids);

	tp_shared_prepare(shared, &targets[0]);
	for (size_t k = 0; k < hops; k++)
		strv_free(ids[k]);
}

struct transport *
executor_connect(struct executor_worker *w, struct host_result *r)
{
	return executor_connect_host(w, r, r->host);
}

volatile sig_atomic_t *
executor_cancel_flag(const struct executor_worker *w)
{
	return w->ex->opts->cancel;
}

struct transport *
executor_connect_host(struct executor_worker *w, struct host_result *r, const struct inv_host *h)
{
	struct tp_target targets[EXEC_MAX_HOPS];
	char **ids[EXEC_MAX_HOPS] = { NULL };
	struct transport *tp = NULL;
	char *cause = NULL;
	size_t hops;
	int rc;

	hops = exec_chain(h, w->ex->opts->accept_new_host_keys, targets, ids);
	rc = transport_connect(&targets[0], &w->ex->tpo, &tp, &r->note, &cause);
	if (rc != TP_OK) {
		r->state = host_state_from_tp(rc);
		r->step = "connect";
		free(r->error);
		r->error = cause;
		cause = NULL;
		tp = NULL;
	}
	for (size_t i = 0; i < hops; i++)
		strv_free(ids[i]);
	free(cause);
	return tp;
}

static void *
exec_worker_main(void *arg)
{
	struct executor_worker w = { .ex = arg };
	struct executor *ex = w.ex;

	for (;;) {
		size_t i;
		struct host_result *r;
		int64_t start;

		if (executor_cancelled(&w))
			break;
		i = atomic_fetch_add(&ex->next, 1);
		if (i >= ex->n)
			break;
		r = &ex->results[i];
		start = now_ms();
		ex->job->run(&w, r, ex->job->arg);
		r->duration_ms = (long)(now_ms() - start);
		if (r->state == HS_PENDING)
			r->state = HS_FAILED;
		if (r->state == HS_OK)
			atomic_fetch_add(&ex->ok, 1);
		else if (host_state_unreachable(r->state) || r->state == HS_LOCKED || r->state == HS_BUSY)
			atomic_fetch_add(&ex->unreachable, 1);
		else
			atomic_fetch_add(&ex->failed, 1);
		atomic_fetch_add(&ex->done, 1);
	}
	pthread_mutex_lock(&ex->lock);
	ex->workers_left--;
	pthread_cond_signal(&ex->cond);
	pthread_mutex_unlock(&ex->lock);
	return NULL;
}

int
executor_run(const struct executor_opts *o, struct inv_host **hosts, size_t n, struct host_result *results,
    const struct executor_job *job)
{
	struct executor ex;
	pthread_t *threads;
	pthread_attr_t attr;
	size_t nthreads, started = 0;
	int64_t start = now_ms();

	memset(&ex, 0, sizeof(ex));
	for (size_t i = 0; i < n; i++) {
		memset(&results[i], 0, sizeof(results[i]));
		results[i].host = hosts[i];
		results[i].exit_code = -1;
		buf_init(&results[i].out, HOST_OUTPUT_CAP);
		buf_init(&results[i].err, HOST_OUTPUT_CAP);
	}
	ex.opts = o;
	ex.job = job;
	ex.results = results;
	ex.n = n;
	tp_limiter_init(&ex.limiter, o->max_handshakes > 0 ? o->max_handshakes : 32);
	ex.tpo.cancel = o->cancel;
	ex.tpo.limiter = &ex.limiter;
	/* known_hosts and identity keys parsed once here, before any worker starts */
	ex.tpo.shared = tp_shared_new();
	for (size_t i = 0; i < n; i++) {
		exec_prepare(ex.tpo.shared, hosts[i], o->accept_new_host_keys);
		/* a deploy may connect to the terminal's relay instead (executor_connect_host) */
		if (hosts[i]->relay != NULL)
			exec_prepare(ex.tpo.shared, hosts[i]->relay, o->accept_new_host_keys);
	}
	pthread_mutex_init(&ex.lock, NULL);
	pthread_cond_init(&ex.cond, NULL);

	nthreads = o->parallel > 0 ? (size_t)o->parallel : 1;
	if (nthreads > n)
		nthreads = n;
	threads = xcalloc(nthreads ? nthreads : 1, sizeof(*threads));
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (size_t i = 0; i < nthreads; i++) {
		pthread_mutex_lock(&ex.lock);
		ex.workers_left++;
		pthread_mutex_unlock(&ex.lock);
		if (pthread_create(&threads[i], &attr, exec_worker_main, &ex) != 0) {
			pthread_mutex_lock(&ex.lock);
			ex.workers_left--;
			pthread_mutex_unlock(&ex.lock);
			break;
		}
		started++;
	}
	pthread_attr_destroy(&attr);
	if (started == 0 && n > 0)
		exec_worker_main(&ex);   /* no thread could start: do the work here, one by one */

	pthread_mutex_lock(&ex.lock);
	while (ex.workers_left > 0) {
		cond_wait_ms(&ex.cond, &ex.lock, 250);
		if (o->progress != NULL && ex.workers_left > 0) {
			struct executor_progress p = {
				.total = n, .done = atomic_load(&ex.done), .ok = atomic_load(&ex.ok),
				.failed = atomic_load(&ex.failed), .unreachable = atomic_load(&ex.unreachable),
				.elapsed_ms = (long)(now_ms() - start)
			};

			pthread_mutex_unlock(&ex.lock);
			o->progress(&p, o->progress_arg);
			pthread_mutex_lock(&ex.lock);
		}
	}
	pthread_mutex_unlock(&ex.lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	for (size_t i = 0; i < n; i++)
		if (results[i].state == HS_PENDING)
			results[i].state = HS_SKIPPED;
	pthread_cond_destroy(&ex.cond);
	pthread_mutex_destroy(&ex.lock);
	tp_limiter_destroy(&ex.limiter);
	tp_shared_free(ex.tpo.shared);
	return o->cancel != NULL && *o->cancel ? -1 : 0;
}

void
host_results_free(struct host_result *results, size_t n)
{
	if (results == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		buf_free(&results[i].out);
		buf_free(&results[i].err);
		free(results[i].error);
		free(results[i].note);
	}
	free(results);
}

int
executor_exit_status(const struct host_result *results, size_t n, bool interrupted)
{
	bool failed = false, unreachable = false;

	if (interrupted)
		return 130;
	for (size_t i = 0; i < n; i++) {
		if (results[i].state == HS_FAILED || results[i].state == HS_INTERRUPTED ||
		    results[i].state == HS_ROLLED_BACK)
			failed = true;
		else if (host_state_unreachable(results[i].state) || results[i].state == HS_LOCKED ||
		    results[i].state == HS_BUSY || results[i].state == HS_DELAYED || results[i].state == HS_EXPIRED ||
		    results[i].state == HS_PENDING)
			unreachable = true;
	}
	if (failed)
		return 1;
	return unreachable ? 3 : 0;
}
