/* deploy: put one release on one terminal, never leaving it half-installed. */
#include "deploy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "relay.h"
#include "release.h"
#include "termlock.h"

#define DEPLOY_SINGLE_PASS_MIN (1024 * 1024)   /* bytes */

/* The last line(s) of stderr, at most max bytes, for the result message (caller frees). */
static char *
deploy_tail(const struct buf *b, size_t max)
{
	size_t len = b->len, start;

	while (len > 0 && (b->data[len - 1] == '\n' || b->data[len - 1] == ' '))
		len--;
	if (len == 0)
		return NULL;
	start = len > max ? len - max : 0;
	{
		/* One line for the result, the history body and the journal: line breaks become "; ". */
		struct buf t;

		buf_init(&t, 0);
		for (size_t i = start; i < len; i++) {
			char c = b->data[i];

			if (c == '\n')
				buf_adds(&t, "; ");
			else if ((unsigned char)c < 0x20 || c == 0x7f)
				buf_adds(&t, " ");
			else
				buf_add(&t, &c, 1);
		}
		return buf_detach(&t);
	}
}

struct deploy_sink {
	struct host_result *r;
	struct deploy_plan *plan;
	size_t scanned;        /* bytes of stdout already looked at for step markers */
};

/* The lifecycle state a step marker means: the step before it is behind us. */
static const char *
deploy_marker_state(const char *step)
{
	if (strcmp(step, "install") == 0)
		return "sent";          /* uploaded, verified, unpacked */
	if (strcmp(step, "switch") == 0 || strcmp(step, "busy") == 0)
		return "installed";
	return NULL;
}

static void
deploy_capture(void *arg, int stream, const char *data, size_t len)
{
	struct deploy_sink *s = arg;
	struct host_result *r = s->r;

	buf_add(stream == 0 ? &r->out : &r->err, data, len);
	if (stream != 0 || s->plan->journal == NULL)
		return;
	/* Journal each state as its marker arrives, whole lines only. */
	for (;;) {
		char *nl = memchr(r->out.data + s->scanned, '\n', r->out.len - s->scanned);
		char *line = r->out.data + s->scanned;

		if (nl == NULL)
			break;
		*nl = '\0';
		if (strncmp(line, "step=", 5) == 0) {
			const char *st = deploy_marker_state(line + 5);

			if (st != NULL)
				journal_state(s->plan->journal, r->host->name, st, NULL, NULL, s->plan->wave);
		}
		*nl = '\n';
		s->scanned = (size_t)(nl - r->out.data) + 1;
	}
}

/* Run a command on the terminal: on tp itself, or (via set: the terminal) through its relay tp is
 * connected to. */
static int
deploy_cmd(struct transport *tp, const struct inv_host *via, const char *cmd, long timeout_ms, struct buf *out,
    struct buf *err, int *exit_code, bool *reached, char **cause)
{
	if (reached != NULL)
		*reached = true;
	if (via != NULL)
		return relay_run(tp, via, cmd, timeout_ms, out, err, exit_code, reached, cause);
	return transport_run(tp, cmd, timeout_ms, out, err, exit_code, NULL, cause);
}

/* The connection a terminal's deploy uses: to it, or to its relay.  NULL with r filled on failure;
 * a relay that cannot be reached makes its terminals unreachable, the relay named. */
static struct transport *
deploy_connect(struct executor_worker *w, struct host_result *r, const struct inv_host *via)
{
	struct transport *tp;
	char *why;

	if (via == NULL)
		return executor_connect(w, r);
	if ((tp = executor_connect_host(w, r, via->relay)) == NULL) {
		why = r->error;
		r->state = HS_UNREACHABLE;
		r->error = xasprintf("relay %s: %s", via->relay->name, why != NULL ? why : "cannot connect");
		free(why);
	}
	return tp;
}

/* A transport status for a terminal: a relay's own trouble makes it unreachable, not failed. */
static enum host_state
deploy_tp_state(const struct inv_host *via, int rc)
{
	if (via != NULL && rc == TP_ERROR)
		return HS_UNREACHABLE;
	return host_state_from_tp(rc);
}

/* Take the terminal's lock off again when we stop before the deploy script (which drops it itself).
 * TP_OK, or the transport's error. */
static int
deploy_unlock(struct transport *tp, const struct inv_host *via, const struct deploy_plan *plan, const char *root)
{
	char *snip, *cause = NULL;
	int rc;

	if (tp == NULL || plan->lock == NULL)
		return TP_OK;
	snip = termlock_release_snippet(root, plan->lock->run_id);
	rc = deploy_cmd(tp, via, snip, 30000, NULL, NULL, NULL, NULL, &cause);
	free(snip);
	free(cause);
	return rc;
}

/*
 * The link went after the probe took the lock: one new connection takes it off, so the terminal is not
 * left locked until its deadline.  The terminal's result stays what it was.
 */
static void
deploy_unlock_again(struct executor_worker *w, struct host_result *r, struct transport **tp,
    const struct inv_host *via, const struct deploy_plan *plan, const char *root)
{
	enum host_state state = r->state;
	const char *step = r->step;
	char *error = r->error;

	r->error = NULL;
	transport_close(*tp);
	*tp = deploy_connect(w, r, via);
	free(r->error);
	r->state = state;
	r->step = step;
	r->error = error;
	if (*tp != NULL)
		deploy_unlock(*tp, via, plan, root);
}

/* Back to the probe (goto again): what the last attempt's probe left goes. */
static void
deploy_reset_probe(struct buf *pout, struct buf *perr, struct release_probe *probe, char **script)
{
	buf_reset(pout);
	buf_reset(perr);
	release_probe_free(probe);
	free(*script);
	*script = NULL;
}

static void
deploy_fail(struct host_result *r, const char *step, char *msg)
{
	r->state = HS_FAILED;
	r->step = step;
	free(r->error);
	r->error = msg;
}

void
deploy_run_host(struct executor_worker *w, struct host_result *r, void *arg)
{
	struct deploy_plan *plan = arg;
	size_t idx = (size_t)(r - plan->results);
	struct deploy_target *t = &plan->targets[idx];
	struct deploy_outcome *o = &plan->outcomes[idx];
	struct release_probe probe;
	struct release_deploy d;
	struct tp_exec x;
	struct buf pout, perr;
	const char *root = inv_get(r->host, INV_ROOT);
	long step_timeout = inv_get_long(r->host, INV_COMMAND_TIMEOUT);
	char *script = NULL, *cause = NULL, *lock_snippet = NULL, *unlock_snippet = NULL;
	struct deploy_sink sink;
	struct transport *tp;
	/* the terminal, when its commands go through its relay's client */
	const struct inv_host *via = plan->relays != NULL && r->host->relay != NULL ? r->host : NULL;
	struct relay_site *site = NULL;
	char *cache_name = NULL;
	bool locked = false, maybe_locked = false, use_delta, broke_stale = false, reached;
	bool try_delta = t->delta != NULL && !plan->rollback;   /* false again after a delta fell back */
	uint64_t up_size, partial;
	int rc, exit_code = -1, fd = -1;

	memset(&probe, 0, sizeof(probe));
	buf_init(&pout, 64 * 1024);
	buf_init(&perr, 64 * 1024);
	tp = NULL;
	if (t->refusal != NULL) {
		deploy_fail(r, "plan", xstrdup(t->refusal));
		goto out;
	}
	if (via != NULL) {
		/* a bounded number of a relay's terminals at once: its LAN and its CPU are the site's */
		site = relay_site_get(plan->relays, via->relay);
		if (relay_slot_acquire(site, inv_get_long(via, INV_RELAY_PARALLEL), executor_cancel_flag(w)) != 0) {
			site = NULL;
			r->state = HS_SKIPPED;
			goto out;
		}
		o->relay = via->relay->name;
	}
	tp = deploy_connect(w, r, via);
	if (tp == NULL)
		goto out;

	if (plan->lock != NULL && !plan->dry_run)
		lock_snippet = termlock_acquire_snippet(root, plan->lock);
again:
	script = release_probe_script(root, t->component, t->id, t->sha256, t->compression, lock_snippet,
	    plan->rollback || plan->dry_run ? NULL : inv_get(r->host, INV_BUSY), step_timeout,
	    try_delta ? t->delta->sha256 : NULL, try_delta ? (const char *const *)t->delta->bases : NULL);
	rc = deploy_cmd(tp, via, script, 60000, &pout, &perr, &exit_code, &reached, &cause);
	if (rc != TP_OK) {
		/* the probe may have taken the lock before the link went: taken off again at out (not when a
		 * relay's client never reached the terminal) */
		maybe_locked = lock_snippet != NULL && reached;
		r->state = deploy_tp_state(via, rc);
		r->step = "preflight";
		r->error = cause;
		cause = NULL;
		goto out;
	}
	if (release_probe_parse(pout.data, &probe) != 0) {
		deploy_fail(r, "preflight", xasprintf("the terminal's shell did not run the probe (exit %d): %s",
		    exit_code, perr.len ? perr.data : "no output"));
		goto out;
	}
	if (o->previous == NULL)
		o->previous = xstrdup(probe.current);
	if (probe.lock < 0) {
		struct termlock_info holder;

		memset(&holder, 0, sizeof(holder));
		termlock_parse(pout.data, &holder);
		if (!broke_stale && holder.run_id != NULL && termlock_holder_gone(&holder)) {
			/* Left by a controller on this machine that was killed: take it off and look again, once. */
			char *brk = termlock_break_script(root, holder.run_id);

			deploy_cmd(tp, via, brk, 30000, NULL, NULL, NULL, NULL, &cause);
			free(brk);
			free(cause);
			cause = NULL;
			termlock_info_free(&holder);
			broke_stale = true;
			deploy_reset_probe(&pout, &perr, &probe, &script);
			goto again;
		}
		r->state = HS_LOCKED;
		r->step = "lock";
		/* the operator is usually user@host already: do not add the controller twice */
		r->error = xasprintf("locked by run %s (%s, %s%s%s)", holder.run_id ? holder.run_id : "?",
		    holder.kind ? holder.kind : "?", holder.operator ? holder.operator : "?",
		    holder.operator != NULL && strchr(holder.operator, '@') != NULL ? "" : "@",
		    holder.operator != NULL && strchr(holder.operator, '@') != NULL ? "" :
		    holder.controller ? holder.controller : "?");
		termlock_info_free(&holder);
		goto out;
	}
	locked = probe.lock > 0;
	if (probe.busy) {
		r->state = HS_BUSY;
		r->step = "busy";
		r->error = xstrdup("the terminal is busy (busy command exit 75): deferred");
		goto out;
	}
	if (probe.missing != NULL) {
		deploy_fail(r, "preflight", xasprintf("the terminal lacks:%s%s (fleetctl needs a POSIX shell with "
		    "tar, gzip and sha256sum)", *probe.missing == ' ' ? "" : " ", probe.missing));
		goto out;
	}
	if (probe.cannot_write) {
		deploy_fail(r, "preflight", xasprintf("cannot create '%s/%s' on the terminal", root, t->component));
		goto out;
	}
	if (probe.installed && strcmp(probe.current, t->id) == 0) {
		o->unchanged = true;
		o->installed = true;
		r->state = HS_OK;
		r->exit_code = 0;
		goto out;
	}
	if (!probe.installed && t->archive == NULL) {
		deploy_fail(r, "upload", xasprintf("release %s is no longer on the terminal and its bundle is not "
		    "in the local store", t->id));
		goto out;
	}
	/* A delta needs every base it copies from, installed, and cp/dd/chmod. */
	use_delta = try_delta && !probe.installed && !probe.nodelta && probe.nobase == NULL;
	if (try_delta && !probe.installed && !use_delta && o->delta_fallback == NULL)
		o->delta_fallback = probe.nodelta ? xstrdup("the terminal lacks cp, dd or chmod") :
		    xasprintf("release %s is not installed on the terminal", probe.nobase);
	up_size = use_delta ? t->delta->size : t->size;
	partial = use_delta ? probe.dpartial : probe.partial;
	o->delta = use_delta;
	if (use_delta) {
		o->files_reused = t->delta->files_reused;
		o->bytes_reused = t->delta->bytes_reused;
	}
	if (plan->dry_run) {
		if (probe.installed)
			o->plan = xasprintf("would switch %s -> %s (already installed, no upload)",
			    *probe.current ? probe.current : "(none)", t->id);
		else {
			char *how = use_delta ? xasprintf(" as a delta: %s", t->delta->describe) :
			    o->delta_fallback != NULL ? xasprintf(" (the full bundle: %s)", o->delta_fallback) : xstrdup("");

			o->plan = xasprintf("would upload %llu bytes%s%s%s%s, install, and switch %s -> %s",
			    (unsigned long long)(partial < up_size ? up_size - partial : up_size),
			    partial > 0 && partial < up_size ? " (resuming)" : "", how,
			    via != NULL ? " through relay " : "", via != NULL ? via->relay->name : "",
			    *probe.current ? probe.current : "(none)", t->id);
			o->bytes_sent = partial < up_size ? up_size - partial : up_size;
			free(how);
		}
		r->state = HS_OK;
		r->exit_code = 0;
		goto out;
	}

	memset(&d, 0, sizeof(d));
	d.root = root;
	d.component = t->component;
	d.id = t->id;
	d.version = t->version;
	d.sha256 = t->sha256;
	d.compression = t->compression;
	d.size = t->size;
	if (use_delta) {
		d.delta_sha256 = t->delta->sha256;
		d.delta_size = t->delta->size;
	}
	/* One pass saves reading a big archive twice; a small one (a delta) is cheaper in fewer processes. */
	d.single_pass = probe.fifo && up_size >= DEPLOY_SINGLE_PASS_MIN;
	d.unpack = !probe.installed;
	d.upload = d.unpack;
	d.previous = probe.current;
	d.install = inv_get(r->host, INV_INSTALL);
	d.restart = inv_get(r->host, INV_RESTART);
	d.step_timeout = step_timeout;
	d.keep = (const char *const *)t->keep;
	d.keep_count = t->keep_count;
	if (!plan->rollback) {
		d.busy = inv_get(r->host, INV_BUSY);
		d.health = inv_get(r->host, INV_HEALTH);
		d.health_retries = inv_get_long(r->host, INV_HEALTH_RETRIES);
		d.health_interval = inv_get_long(r->host, INV_HEALTH_INTERVAL);
	}
	if (locked) {
		unlock_snippet = termlock_release_snippet(root, plan->lock->run_id);
		d.unlock_snippet = unlock_snippet;
	}

	memset(&x, 0, sizeof(x));
	x.stdin_fd = -1;
	if (d.upload) {
		const char *path = use_delta ? t->delta->path : t->archive;

		if (via != NULL) {
			/* Once into the relay's cache (the first of its terminals sends it, the others wait). */
			uint64_t staged = 0;

			cache_name = relay_cache_name(use_delta, use_delta ? t->delta->sha256 : t->sha256);
			rc = relay_stage(site, tp, via, path, cache_name, use_delta ? t->delta->sha256 : t->sha256, up_size,
			    executor_cancel_flag(w), &staged, &cause);
			o->bytes_staged += staged;
			if (rc != TP_OK) {
				r->state = deploy_tp_state(via, rc);
				r->step = "upload";
				r->error = cause;
				cause = NULL;
				goto out;
			}
		} else {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				deploy_fail(r, "upload", xasprintf("cannot open '%s': %s", path, strerror(errno)));
				goto out;
			}
		}
		/* A partial upload from an earlier run resumes where it stopped; a longer one is started over. */
		o->resumed_from = 0;
		if (partial > 0 && partial <= up_size)
			o->resumed_from = partial;
		x.stdin_fd = fd;
		x.stdin_offset = (off_t)o->resumed_from;
		d.fresh = o->resumed_from == 0;
	}
	free(script);
	script = release_deploy_script(&d);
	x.command = script;
	x.timeout_ms = (3 * step_timeout + 60) * 1000;
	sink.r = r;
	sink.plan = plan;
	sink.scanned = 0;
	x.sink.on_data = deploy_capture;
	x.sink.arg = &sink;
	if (via != NULL) {
		rc = relay_exec(tp, via, &x, cache_name, o->resumed_from, &cause);
		/* what the terminal read from the relay: all of it once the script went past the upload */
		if (cache_name != NULL && (rc == TP_OK || strstr(r->out.data != NULL ? r->out.data : "", "step=install")))
			x.bytes_sent = up_size - o->resumed_from;
	} else
		rc = transport_exec(tp, &x, &cause);
	locked = false;   /* from here the script's trap owns the lock */
	o->bytes_sent += x.bytes_sent;
	o->uploaded = d.upload && o->bytes_sent > 0;
	r->exit_code = x.exit_code;
	if (x.exit_signal[0] != '\0')
		snprintf(r->exit_signal, sizeof(r->exit_signal), "%s", x.exit_signal);
	if (rc != TP_OK) {
		r->state = deploy_tp_state(via, rc);
		r->step = release_failed_step(r->out.data, -1);
		if (r->step == NULL)
			r->step = "upload";
		r->error = cause;
		cause = NULL;
		goto out;
	}
	if (x.exit_code == 0) {
		r->state = HS_OK;
		o->changed = true;
		o->installed = true;
		goto out;
	}
	if (x.exit_code == RELEASE_EXIT_DELTA && use_delta) {
		/* The delta did not give the release (a base changed on the terminal): the full bundle, now,
		 * on the same connection.  The script's trap dropped the lock; the probe takes it again. */
		char *tail = deploy_tail(&r->err, 300);

		free(o->delta_fallback);
		o->delta_fallback = xasprintf("delta failed on the terminal (%s)", tail ? tail : "exit 89");
		free(tail);
		o->delta = false;
		o->files_reused = 0;
		o->bytes_reused = 0;
		try_delta = false;
		buf_reset(&r->err);
		deploy_reset_probe(&pout, &perr, &probe, &script);
		free(unlock_snippet);
		unlock_snippet = NULL;
		free(cache_name);
		cache_name = NULL;
		if (fd >= 0)
			close(fd);
		fd = -1;
		goto again;
	}
	r->step = release_failed_step(r->out.data, x.exit_code);
	if (r->step == NULL)
		r->step = "deploy";
	if (x.exit_code == RELEASE_EXIT_BUSY) {
		r->state = HS_BUSY;
		r->error = xstrdup("the terminal became busy before the switch (busy command exit 75): deferred");
		o->installed = true;
		goto out;
	}
	if (x.exit_code == RELEASE_EXIT_ROLLED_BACK) {
		r->state = HS_ROLLED_BACK;
		r->error = xasprintf("unhealthy after %ld health checks: switched back to %s",
		    inv_get_long(r->host, INV_HEALTH_RETRIES), *probe.current ? probe.current : "(none)");
		o->install_failed = true;   /* never a rollback target on this terminal */
		goto out;
	}
	if (strcmp(r->step, "install") == 0 && x.exit_code == RELEASE_EXIT_INSTALL)
		o->install_failed = true;
	{
		char *tail = deploy_tail(&r->err, 400);

		if (x.exit_signal[0] != '\0')
			deploy_fail(r, r->step, xasprintf("%s step killed by signal %s (deadline %ld s?)%s%s", r->step,
			    x.exit_signal, step_timeout, tail ? ": " : "", tail ? tail : ""));
		else
			deploy_fail(r, r->step, xasprintf("%s failed (exit %d)%s%s", r->step, x.exit_code,
			    tail ? ": " : "", tail ? tail : ""));
		free(tail);
	}
out:
	if ((locked || maybe_locked) && plan->lock != NULL &&
	    (tp == NULL || maybe_locked || deploy_unlock(tp, via, plan, root) != TP_OK))
		deploy_unlock_again(w, r, &tp, via, plan, root);
	if (plan->journal != NULL && r->state != HS_PENDING)
		journal_state(plan->journal, r->host->name,
		    r->state == HS_OK ? (plan->dry_run ? "planned" : "done") : host_state_name(r->state), r->step,
		    r->error, plan->wave);
	free(lock_snippet);
	free(unlock_snippet);
	free(cache_name);
	if (fd >= 0)
		close(fd);
	release_probe_free(&probe);
	buf_free(&pout);
	buf_free(&perr);
	free(script);
	free(cause);
	transport_close(tp);
	if (site != NULL)
		relay_slot_release(site);
}

void
deploy_outcome_clear(struct deploy_outcome *o)
{
	free(o->previous);
	free(o->plan);
	free(o->delta_fallback);
	memset(o, 0, sizeof(*o));
}

void
deploy_outcomes_free(struct deploy_outcome *o, size_t n)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		deploy_outcome_clear(&o[i]);
	free(o);
}

/* A NULL-terminated copy of v with id first (when add) and every other occurrence of id removed. */
static char **
deploy_list_with(char *const *v, const char *id, bool add)
{
	char **out = NULL;
	size_t n = 0;

	if (add)
		strv_push(&out, &n, xstrdup(id));
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		if (strcmp(v[i], id) != 0)
			strv_push(&out, &n, xstrdup(v[i]));
	if (out == NULL)
		out = xcalloc(1, sizeof(*out));
	return out;
}

int
deploy_next_state(const struct hist_state *old, const struct deploy_target *t, const struct deploy_outcome *o,
    const struct host_result *r, bool dry_run, struct hist_state *out)
{
	memset(out, 0, sizeof(*out));
	if (dry_run || r->state == HS_SKIPPED || r->state == HS_PENDING)
		return 1;
	if (r->state == HS_OK && (o->changed || o->unchanged)) {
		const char *prev;

		/* What it ran before is what current pointed at on the terminal, if that was another release. */
		if (o->previous != NULL && *o->previous != '\0' && strcmp(o->previous, t->id) != 0)
			prev = o->previous;
		else if (old->current != NULL && strcmp(old->current, t->id) != 0)
			prev = old->current;
		else
			prev = old->previous;
		out->current = xstrdup(t->id);
		out->previous = xstrdup(prev);
		out->good = deploy_list_with(old->good, t->id, true);
		out->failed = deploy_list_with(old->failed, t->id, false);
		out->last_result = xstrdup(o->unchanged ? "ok:unchanged" : "ok");
		return 0;
	}
	out->current = xstrdup(old->current);
	out->previous = xstrdup(old->previous);
	/* A failed install takes the release off the good list; any other failure leaves the list alone. */
	out->good = o->install_failed ? deploy_list_with(old->good, t->id, false) : deploy_list_with(old->good, "", false);
	out->failed = deploy_list_with(old->failed, t->id, o->install_failed);
	if (r->state == HS_FAILED)
		out->last_result = xasprintf("failed:%s", r->step != NULL ? r->step : "unknown");
	else
		out->last_result = xstrdup(host_state_name(r->state));
	return 0;
}
