/* action: the configured install / restart / shutdown / reboot / health commands, run on one terminal. */
#include "action.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcmd.h"
#include "shquote.h"
#include "util.h"

/* Sending a detached command or reading the boot id is quick: a terminal that takes longer is stuck. */
#define ACTION_QUICK_MS 30000
#define ACTION_BOOT_ID_MAX 256

const char *
action_name(enum action_kind k)
{
	switch (k) {
	case ACTION_INSTALL: return "install";
	case ACTION_RESTART: return "restart";
	case ACTION_SHUTDOWN: return "shutdown";
	case ACTION_REBOOT: return "reboot";
	case ACTION_HEALTH: return "health";
	}
	return "?";
}

enum inv_key
action_key(enum action_kind k)
{
	switch (k) {
	case ACTION_INSTALL: return INV_INSTALL;
	case ACTION_RESTART: return INV_RESTART;
	case ACTION_SHUTDOWN: return INV_SHUTDOWN;
	case ACTION_REBOOT: return INV_REBOOT;
	case ACTION_HEALTH: return INV_HEALTH;
	}
	return INV_RESTART;
}

bool
action_detached(enum action_kind k)
{
	return k == ACTION_SHUTDOWN || k == ACTION_REBOOT;
}

bool
action_component_valid(const char *name)
{
	const char *p;

	if (name == NULL || *name == '\0' || *name == '.' || strlen(name) > 64)
		return false;
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '_' || *p == '-'))
			return false;
	}
	return true;
}

/* FLEET_ROOT='ROOT/COMPONENT' FLEET_COMPONENT='COMPONENT'; export ...; */
static void
action_env(struct buf *b, const char *root, const char *component)
{
	char *dir = xasprintf("%s/%s", root, component);

	buf_adds(b, "FLEET_ROOT=");
	shquote_add(b, dir);
	buf_adds(b, " FLEET_COMPONENT=");
	shquote_add(b, component);
	buf_adds(b, "; export FLEET_ROOT FLEET_COMPONENT; ");
	free(dir);
}

char *
action_script(const char *root, const char *component, const char *cmd, bool in_current, long timeout_s)
{
	struct buf b;
	char *wrapped;

	buf_init(&b, 0);
	action_env(&b, root, component);
	if (in_current)
		buf_adds(&b, "if [ -d \"$FLEET_ROOT/current\" ]; then cd \"$FLEET_ROOT/current\" || exit 1; fi; ");
	if (timeout_s > 0) {
		wrapped = rcmd_deadline(cmd, timeout_s);
		buf_adds(&b, wrapped);
		free(wrapped);
	} else {
		buf_adds(&b, "exec sh -c ");
		shquote_add(&b, cmd);
	}
	return buf_detach(&b);
}

char *
action_detached_script(const char *root, const char *component, const char *cmd)
{
	struct buf b;

	buf_init(&b, 0);
	action_env(&b, root, component);
	/* No descriptor of the session stays open in the job, so sshd ends the session at once. */
	buf_adds(&b, "command -v nohup >/dev/null 2>&1 || { echo 'nohup: not found' >&2; exit 127; }; "
	    "nohup sh -c 'sleep 1; exec sh -c \"$1\"' fleetctl ");
	shquote_add(&b, cmd);
	buf_adds(&b, " </dev/null >/dev/null 2>&1 & echo sent");
	return buf_detach(&b);
}

char *
action_boot_id_script(const char *path)
{
	struct buf b;

	buf_init(&b, 0);
	buf_adds(&b, "cat ");
	shquote_add(&b, path);
	return buf_detach(&b);
}

/* Sleep ms, waking every 100 ms to notice Ctrl-C.  Returns -1 when cancelled. */
static int
action_sleep(struct executor_worker *w, int64_t ms)
{
	int64_t end = now_ms() + ms;

	while (!executor_cancelled(w)) {
		int64_t left = end - now_ms();
		struct timespec ts;

		if (left <= 0)
			return 0;
		if (left > 100)
			left = 100;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* Connect once; a failure leaves r untouched and its reason in *why (replaced; caller frees). */
static struct transport *
action_try_connect(struct executor_worker *w, struct host_result *r, char **why)
{
	struct transport *tp = executor_connect(w, r);

	if (tp == NULL) {
		free(*why);
		*why = r->error != NULL ? r->error : xstrdup(host_state_name(r->state));
		r->error = NULL;
		r->state = HS_PENDING;
		r->step = NULL;
	}
	return tp;
}

/* Read the boot id into *id (trimmed, caller frees).  0, or TP_* / -1 with *why. */
static int
action_boot_id(struct transport *tp, const char *path, char **id, char **why)
{
	struct buf out, err;
	char *cmd = action_boot_id_script(path), *cause = NULL, *o, *e;
	int rc, code = -1;

	buf_init(&out, ACTION_BOOT_ID_MAX);
	buf_init(&err, 4096);
	*id = NULL;
	rc = transport_run(tp, cmd, ACTION_QUICK_MS, &out, &err, &code, NULL, &cause);
	if (rc != TP_OK) {
		free(*why);
		*why = cause;
		cause = NULL;
		goto out;
	}
	o = str_trim(out.data);
	e = str_trim(err.data);
	if (code != 0 || *o == '\0' || out.dropped > 0) {
		free(*why);
		if (code != 0)
			*why = xasprintf("cannot read boot id from '%s': %s", path, *e != '\0' ? e : "cat failed");
		else
			*why = xasprintf("cannot read boot id from '%s': %s", path,
			    out.dropped > 0 ? "the file is too long" : "the file is empty");
		rc = -1;
		goto out;
	}
	*id = xstrdup(o);
out:
	free(cause);
	free(cmd);
	buf_free(&out);
	buf_free(&err);
	return rc;
}

/* Set r's outcome after a command ran to completion (rc TP_OK) or broke. */
static void
action_outcome(struct host_result *r, const char *step, int rc, char *cause, long timeout_s, int64_t start)
{
	if (rc != TP_OK) {
		r->state = host_state_from_tp(rc);
		r->step = step;
		free(r->error);
		r->error = cause;
		return;
	}
	free(cause);
	r->step = step;
	if (r->exit_signal[0] != '\0') {
		if (timeout_s > 0 && (strcmp(r->exit_signal, "TERM") == 0 || strcmp(r->exit_signal, "KILL") == 0) &&
		    now_ms() - start >= timeout_s * 1000 - 500) {
			r->state = HS_TIMEOUT;
			r->error = xasprintf("timed out after %ld s; the terminal killed the command", timeout_s);
		} else
			r->state = HS_FAILED;
	} else
		r->state = r->exit_code == 0 ? HS_OK : HS_FAILED;
}

/* install / restart / health: run in place with the deadline on the terminal. */
static int
action_run_in_place(struct transport *tp, struct host_result *r, const struct action_job *j, const char *cmd,
    const char *step)
{
	long timeout = inv_get_long(r->host, INV_COMMAND_TIMEOUT);
	char *script = action_script(inv_get(r->host, INV_ROOT), j->component, cmd, true, timeout);
	char *cause = NULL;
	int64_t start = now_ms();
	int rc;

	buf_reset(&r->out);
	buf_reset(&r->err);
	r->exit_code = -1;
	r->exit_signal[0] = '\0';
	/* The terminal kills the command at the deadline; we give it three more seconds to say so. */
	rc = transport_run(tp, script, (timeout + 3) * 1000, &r->out, &r->err, &r->exit_code, r->exit_signal, &cause);
	free(script);
	action_outcome(r, step, rc, cause, timeout, start);
	return rc;
}

/*
 * After the reboot was sent: poll (1 s, 2 s, 4 s, then every 5 s) until the terminal answers with a
 * boot id other than old, or the deadline.  Returns the connection, or NULL with r failed (step wait).
 */
static struct transport *
action_wait_back(struct executor_worker *w, struct host_result *r, const struct action_job *j, const char *old,
    int64_t sent_ms)
{
	const char *path = inv_get(r->host, INV_BOOT_ID);
	int64_t deadline = sent_ms + (int64_t)j->wait_timeout_s * 1000, delay = 1000;
	struct transport *tp = NULL;
	char *why = NULL, *id = NULL;

	for (;;) {
		int64_t now = now_ms(), next = now + delay < deadline ? now + delay : deadline;

		if (action_sleep(w, next - now) != 0) {
			r->state = HS_INTERRUPTED;
			r->step = "wait";
			break;
		}
		tp = action_try_connect(w, r, &why);
		if (tp != NULL) {
			if (action_boot_id(tp, path, &id, &why) == 0) {
				if (strcmp(id, old) != 0)
					break;
				free(why);
				why = xstrdup("the boot id did not change");
			}
			free(id);
			id = NULL;
			transport_close(tp);
			tp = NULL;
		}
		if (now_ms() >= deadline) {
			r->state = HS_FAILED;
			r->step = "wait";
			free(r->error);
			r->error = xasprintf("not back within %ld s (%s)", j->wait_timeout_s,
			    why != NULL ? why : "no answer");
			break;
		}
		delay = delay * 2 > 5000 ? 5000 : delay * 2;
	}
	free(id);
	free(why);
	return tp;
}

/* Run health up to health_retries times, health_interval s apart.  Reconnects when the link broke. */
static void
action_health(struct executor_worker *w, struct host_result *r, const struct action_job *j, struct transport **tpp,
    const char *cmd)
{
	long tries = inv_get_long(r->host, INV_HEALTH_RETRIES), interval = inv_get_long(r->host, INV_HEALTH_INTERVAL);
	char *why = NULL;
	long i;

	for (i = 1; i <= tries; i++) {
		if (*tpp == NULL)
			*tpp = action_try_connect(w, r, &why);
		if (*tpp != NULL) {
			int rc = action_run_in_place(*tpp, r, j, cmd, "health");

			if (r->state == HS_OK)
				break;
			free(why);
			if (r->error != NULL)
				why = xstrdup(r->error);
			else if (r->exit_signal[0] != '\0')
				why = xasprintf("killed by signal %s", r->exit_signal);
			else
				why = xasprintf("exit %d", r->exit_code);
			if (rc != TP_OK) {
				transport_close(*tpp);
				*tpp = NULL;
			}
		}
		if (i < tries && action_sleep(w, interval * 1000) != 0) {
			r->state = HS_INTERRUPTED;
			break;
		}
	}
	if (r->state != HS_OK && r->state != HS_INTERRUPTED) {
		r->state = HS_FAILED;
		free(r->error);
		r->error = xasprintf("health check failed %ld time%s (last: %s)", tries, tries == 1 ? "" : "s",
		    why != NULL ? why : "no answer");
	}
	r->step = "health";
	free(why);
}

/* shutdown / reboot: read the boot id first if we will wait, send detached, then wait and check health. */
static struct transport *
action_run_detached(struct executor_worker *w, struct host_result *r, const struct action_job *j,
    struct transport *tp, const char *cmd)
{
	const char *name = action_name(j->kind), *health;
	char *old = NULL, *why = NULL, *script, *cause = NULL;
	int64_t sent;
	int rc;

	if (j->wait && action_boot_id(tp, inv_get(r->host, INV_BOOT_ID), &old, &why) != 0) {
		r->state = HS_FAILED;
		r->step = "boot_id";
		r->error = xasprintf("%s; not rebooted", why);
		goto out;
	}
	script = action_detached_script(inv_get(r->host, INV_ROOT), j->component, cmd);
	rc = transport_run(tp, script, ACTION_QUICK_MS, &r->out, &r->err, &r->exit_code, r->exit_signal, &cause);
	free(script);
	sent = now_ms();
	action_outcome(r, name, rc, cause, 0, sent);
	if (r->state != HS_OK)
		goto out;
	/* The command's own output is thrown away on the terminal: what is left is our "sent". */
	buf_reset(&r->out);
	if (!j->wait) {
		r->note = xstrdup("sent");
		goto out;
	}
	transport_close(tp);
	r->state = HS_PENDING;
	tp = action_wait_back(w, r, j, old, sent);
	if (tp == NULL)
		goto out;
	r->exit_code = -1;
	health = inv_get(r->host, INV_HEALTH);
	if (health != NULL && *health != '\0') {
		action_health(w, r, j, &tp, health);
		if (r->state != HS_OK)
			goto out;
	}
	r->state = HS_OK;
	r->step = NULL;
	r->note = xasprintf("back after %lld s with a new boot id%s", (long long)((now_ms() - sent + 500) / 1000),
	    health != NULL && *health != '\0' ? ", healthy" : "");
out:
	free(old);
	free(why);
	return tp;
}

void
action_run_host(struct executor_worker *w, struct host_result *r, void *arg)
{
	const struct action_job *j = arg;
	const char *name = action_name(j->kind), *cmd = inv_get(r->host, action_key(j->kind));
	struct transport *tp;

	if (cmd == NULL || *cmd == '\0') {
		r->state = HS_FAILED;
		r->step = name;
		r->error = xasprintf("no '%s' command configured for this host (set %s = ... in fleet.ini)", name, name);
		return;
	}
	tp = executor_connect(w, r);
	if (tp == NULL)
		return;
	if (action_detached(j->kind))
		tp = action_run_detached(w, r, j, tp, cmd);
	else if (j->kind == ACTION_HEALTH)
		action_health(w, r, j, &tp, cmd);
	else
		action_run_in_place(tp, r, j, cmd, name);
	if (r->state == HS_OK)
		r->step = NULL;
	transport_close(tp);
}
