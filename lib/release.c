/* release: scripts that change a terminal's release layout, built from quoted values only. */
#include "release.h"

#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "rcmd.h"
#include "shquote.h"
#include "util.h"

/* name='value'; with the value quoted for the remote shell. */
static void
rel_assign(struct buf *b, const char *name, const char *value)
{
	buf_addf(b, "%s=", name);
	shquote_add(b, value != NULL ? value : "");
	buf_adds(b, "; ");
}

static const char *
rel_decompress(const char *compression)
{
	if (compression != NULL && strcmp(compression, "zstd") == 0)
		return "zstd -dc";
	if (compression != NULL && strcmp(compression, "none") == 0)
		return "cat";
	return "gzip -dc";
}

static void rel_hook(struct buf *b, const char *dir_expr, const char *cmd, long timeout);

char *
release_probe_script(const char *root, const char *component, const char *id, const char *sha256,
    const char *compression, const char *lock_snippet, const char *busy, long timeout, const char *delta_sha256,
    const char *const *bases)
{
	struct buf b;
	char *dir = xasprintf("%s/%s", root, component);

	buf_init(&b, 0);
	rel_assign(&b, "R", dir);
	rel_assign(&b, "ID", id);
	rel_assign(&b, "SHA", sha256);
	rel_assign(&b, "VER", "");
	rel_assign(&b, "OLD", "");
	rel_assign(&b, "COMP", component);
	/* Tools first (grep and sed for the lock): a terminal that lacks one is not locked, so a
	 * preflight failure there leaves no lock behind that it could not take off again. */
	buf_addf(&b, "m=; for t in sh tar sha256sum readlink mkdir mv ln rm cat wc grep sed %s; do "
	    "command -v $t >/dev/null 2>&1 || m=\"$m $t\"; done; echo \"missing=$m\"; ",
	    compression != NULL && strcmp(compression, "zstd") == 0 ? "zstd" :
	    compression != NULL && strcmp(compression, "none") == 0 ? "" : "gzip");
	/* Already on this release, installed: nothing will change, so no lock and no busy check (a re-push
	 * costs one command per terminal). */
	buf_adds(&b, "u=; c=$(readlink \"$R/current\" 2>/dev/null); [ \"$c\" = \"releases/$ID\" ] && [ -d \"$R/releases/$ID\" ] "
	    "&& [ -f \"$R/.fleet/installed/$ID\" ] && u=1; ");
	if (lock_snippet != NULL) {
		buf_adds(&b, "if [ -z \"$m\" ] && [ -z \"$u\" ]; then ");
		buf_adds(&b, lock_snippet);
		buf_adds(&b, "fi; ");
	}
	/* The layout is made once; current is read again only when a lock was taken meanwhile (another
	 * run may have switched it before letting go). */
	buf_adds(&b,
	    "{ [ -d \"$R/releases\" ] && [ -d \"$R/.fleet/incoming\" ] && [ -d \"$R/.fleet/installed\" ] && [ -d \"$R/.fleet/failed\" ] "
	    "&& [ -d \"$R/.fleet/tmp\" ]; } || mkdir -p \"$R/releases\" \"$R/.fleet/incoming\" \"$R/.fleet/installed\" \"$R/.fleet/failed\" "
	    "\"$R/.fleet/tmp\" 2>/dev/null || echo nowrite=1; ");
	if (lock_snippet != NULL)
		buf_adds(&b, "[ -n \"$u\" ] || c=$(readlink \"$R/current\" 2>/dev/null); ");
	buf_adds(&b, "echo \"current=$c\"; "
	    "[ -d \"$R/releases/$ID\" ] && [ -f \"$R/.fleet/installed/$ID\" ] && echo installed=1; "
	    "if [ -f \"$R/.fleet/incoming/$SHA.partial\" ]; then "
	    "echo \"partial=$(wc -c < \"$R/.fleet/incoming/$SHA.partial\")\"; else echo partial=0; fi; ");
	/* Single pass needs a fifo and tee; a delta needs cp and dd and every base it copies from. */
	buf_adds(&b, "command -v mkfifo >/dev/null 2>&1 && command -v tee >/dev/null 2>&1 && echo fifo=1; ");
	if (delta_sha256 != NULL) {
		rel_assign(&b, "DSHA", delta_sha256);
		buf_adds(&b, "for t in cp dd chmod; do command -v $t >/dev/null 2>&1 || echo nodelta=1; done; "
		    "if [ -f \"$R/.fleet/incoming/$DSHA.partial\" ]; then "
		    "echo \"dpartial=$(wc -c < \"$R/.fleet/incoming/$DSHA.partial\")\"; fi; for B in");
		for (size_t i = 0; bases != NULL && bases[i] != NULL; i++) {
			buf_adds(&b, " ");
			shquote_add(&b, bases[i]);
		}
		buf_adds(&b, "; do [ -d \"$R/releases/$B\" ] && [ -f \"$R/.fleet/installed/$B\" ] || echo \"nobase=$B\"; "
		    "done; ");
	}
	if (busy != NULL && *busy != '\0') {
		buf_adds(&b, "if [ -z \"$u\" ]; then { [ -d \"$R\" ] || mkdir -p \"$R\"; } && ");
		rel_hook(&b, "\"$R\"", busy, timeout);
		buf_adds(&b, " >/dev/null 2>&1; [ $? -eq 75 ] && echo busy=1; fi; ");
	}
	buf_adds(&b, "echo probe=done");
	free(dir);
	return buf_detach(&b);
}

void
release_probe_free(struct release_probe *p)
{
	if (p == NULL)
		return;
	free(p->missing);
	free(p->current);
	free(p->nobase);
	memset(p, 0, sizeof(*p));
}

int
release_probe_parse(const char *out, struct release_probe *p)
{
	char *copy = xstrdup(out), *line, *save = NULL;
	bool done = false;

	memset(p, 0, sizeof(*p));
	for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, '=');

		if (v == NULL)
			continue;
		*v++ = '\0';
		v = str_trim(v);
		if (strcmp(line, "missing") == 0) {
			if (*v != '\0')
				p->missing = xstrdup(v);
		} else if (strcmp(line, "nowrite") == 0)
			p->cannot_write = true;
		else if (strcmp(line, "current") == 0) {
			/* current -> releases/<id>: keep the id only */
			const char *slash = strrchr(v, '/');

			free(p->current);
			p->current = xstrdup(strncmp(v, "releases/", 9) == 0 && slash != NULL ? slash + 1 : v);
		} else if (strcmp(line, "installed") == 0)
			p->installed = true;
		else if (strcmp(line, "partial") == 0) {
			long n;

			if (parse_long(v, 0, (long)(~0UL >> 1), &n) == 0)
				p->partial = (uint64_t)n;
		} else if (strcmp(line, "probe") == 0)
			done = true;
		else if (strcmp(line, "busy") == 0)
			p->busy = true;
		else if (strcmp(line, "fifo") == 0)
			p->fifo = true;
		else if (strcmp(line, "nodelta") == 0)
			p->nodelta = true;
		else if (strcmp(line, "nobase") == 0) {
			if (p->nobase == NULL)
				p->nobase = xstrdup(v);
		} else if (strcmp(line, "dpartial") == 0) {
			long n;

			if (parse_long(v, 0, (long)(~0UL >> 1), &n) == 0)
				p->dpartial = (uint64_t)n;
		}
		else if (strcmp(line, "lock") == 0)
			p->lock = strcmp(v, "ok") == 0 ? 1 : -1;
	}
	free(copy);
	if (p->current == NULL)
		p->current = xstrdup("");
	return done ? 0 : -1;
}

/* Run cmd in dir with the release's environment, killed on the terminal at the deadline. */
static void
rel_hook(struct buf *b, const char *dir_expr, const char *cmd, long timeout)
{
	char *wrapped = rcmd_deadline(cmd, timeout);

	buf_addf(b, "( cd %s && export FLEET_RELEASE=\"$ID\" FLEET_VERSION=\"$VER\" FLEET_PREVIOUS=\"$OLD\" "
	    "FLEET_ROOT=\"$R\" FLEET_COMPONENT=\"$COMP\" && %s )", dir_expr, wrapped);
	free(wrapped);
}

/* Going back to $OLD: the hooks that run next (restart) are told the release they run on, and the
 * one that was left as the previous.  The script exits right after, so the swap is harmless. */
static const char rel_back[] = "N=\"$ID\" && ID=\"$OLD\" && OLD=\"$N\" && VER=\"${ID%-*}\" && ";

/* Make current point at releases/$1, atomically. */
static const char rel_switch_fn[] =
	"sw() { L=\".fleet/tmp/link.$$\"; { [ ! -e \"$L\" ] || rm -rf \"$L\"; } && mkdir \"$L\" && ln -s \"releases/$1\" \"$L/current\" "
	"&& mv -f \"$L/current\" . && rmdir \"$L\" && [ \"$(readlink current)\" = \"releases/$1\" ]; }; ";

char *
release_deploy_script(const struct release_deploy *d)
{
	struct buf b;
	char *dir = xasprintf("%s/%s", d->root, d->component);

	buf_init(&b, 0);
	rel_assign(&b, "R", dir);
	rel_assign(&b, "ID", d->id);
	rel_assign(&b, "VER", d->version);
	rel_assign(&b, "SHA", d->sha256);
	rel_assign(&b, "COMP", d->component);
	rel_assign(&b, "OLD", d->previous);
	buf_adds(&b, rel_switch_fn);
	{
		/*
		 * Whatever happens (exit paths, failures, a killed step, a lost link): no staging tree, fifo or
		 * error file is left in .fleet/tmp, and the lock goes.
		 */
		char *trap = xasprintf("[ -n \"${T:-}\" ] && [ -e \"$T\" ] && rm -rf \"$T\"; [ -n \"${F:-}\" ] && "
		    "{ [ -e \"$F\" ] || [ -e \"$F.s\" ]; } && rm -f \"$F\" \"$F.s\"; [ -n \"${E:-}\" ] && [ -e \"$E\" ] && rm -f \"$E\"; %s",
		    d->unlock_snippet != NULL ? d->unlock_snippet : ":");

		buf_adds(&b, "trap ");
		shquote_add(&b, trap);
		buf_adds(&b, " EXIT; ");
		free(trap);
	}
	/*
	 * A step's deadline watchdog (lib/rcmd) signals its whole process group, and this script is in
	 * it: survive the TERM (the hooks' subshells get the default action back), so a timed-out install
	 * is marked failed, a timed-out restart or health check still switches back, and the EXIT trap
	 * runs.  A lost link (the controller or the connection gone: SIGPIPE at the next output, or HUP)
	 * ends the script at that point as before, but through exit, so the EXIT trap drops the lock.
	 * hf says on stderr how a hook ended.
	 */
	buf_addf(&b, "trap : TERM; trap 'exit 141' PIPE; trap 'exit 129' HUP; hf() { if [ \"$1\" -gt 128 ]; then echo \"$2 command killed by signal "
	    "$(($1 - 128)) (deadline %ld s?)\" >&2; else echo \"$2 command exited $1\" >&2; fi; }; ",
	    d->step_timeout);
	buf_adds(&b, "cd \"$R\" || exit 96; ");
	/* Holding the terminal's lock, nothing else stages here: what a killed run left goes. */
	if (d->unlock_snippet != NULL)
		buf_adds(&b, "set -- .fleet/tmp/*; { [ -e \"$1\" ] || [ -L \"$1\" ]; } && rm -rf .fleet/tmp/* 2>/dev/null; ");
	if (d->unpack) {
		const char *up_sha = d->delta_sha256 != NULL ? d->delta_sha256 : d->sha256;
		uint64_t up_size = d->delta_sha256 != NULL ? d->delta_size : d->size;

		/*
		 * SHA-256 with openssl where the terminal has it (SHA-NI: about three times sha256sum's speed, and a
		 * delta hashes the whole release), else sha256sum; both print the hash first.  The tree check with
		 * openssl compares the whole list at once and falls back to sha256sum -c for a verdict and a
		 * message when anything differs.
		 */
		buf_adds(&b, "H=sha256sum; command -v openssl >/dev/null 2>&1 && { [ -f .fleet/openssl-ok ] || { openssl dgst -sha256 -r "
		    "/dev/null >/dev/null 2>&1 && : > .fleet/openssl-ok; }; } && H='openssl dgst -sha256 -r'; ");

		/* U: the upload (bundle or delta) with its hash and size; T: where it is unpacked. */
		rel_assign(&b, "USHA", up_sha);
		buf_addf(&b, "U=\".fleet/incoming/$USHA.partial\"; N=%llu; T=\".fleet/tmp/$ID.$$\"; ",
		    (unsigned long long)up_size);
		buf_adds(&b, "{ { [ ! -e \"$T\" ] && [ ! -e \"releases/$ID\" ] && [ ! -L \"releases/$ID\" ] && [ ! -e \".fleet/installed/$ID\" ] "
		    "&& [ ! -e \".fleet/failed/$ID\" ]; } || rm -rf \"$T\" \"releases/$ID\" \".fleet/installed/$ID\" \".fleet/failed/$ID\"; } && "
		    "mkdir -p \"$T\" || exit 92; ");
		if (d->upload) {
			buf_adds(&b, "echo step=upload; ");
			if (d->fresh)
				buf_adds(&b, ": > \"$U\" || exit 90; ");
		}
		if (d->single_pass && d->upload) {
			/*
			 * One pass: what is already there and what arrives is written (appended), hashed through a
			 * fifo and unpacked as it goes.  Nothing becomes a release unless the whole upload's hash is
			 * right; a short upload stays for the next run to resume.
			 */
			buf_addf(&b, "F=\".fleet/tmp/f.$$\"; E=\".fleet/tmp/e.$$\"; { [ -e \"$F\" ] || [ -e \"$F.s\" ] || [ -e \"$E\" ]; } && "
			    "rm -f \"$F\" \"$F.s\" \"$E\"; mkfifo \"$F\" || exit 92; $H < \"$F\" > \"$F.s\" & sp=$!; "
			    "{ { { [ ! -s \"$U\" ] || cat \"$U\"; } && tee -a \"$U\"; } || echo \"cannot write $R/$U\" >> \"$E\"; } | "
			    "{ tee \"$F\" || echo tee >> \"$E\"; } | { %s || echo 'decompression failed' >> \"$E\"; } | "
			    "{ tar -xf - -C \"$T\" || echo 'unpack failed' >> \"$E\"; }; : 3<>\"$F\"; wait $sp; ",
			    rel_decompress(d->compression));
			/*
			 * Few processes (each costs the terminal a fork and an exec): the hash is read with the shell,
			 * the error file looked into only when something wrote to it, and the size counted only when
			 * the hash is wrong (the right hash is of exactly N bytes).  A wrong hash from openssl makes
			 * the next run check openssl again.
			 */
			buf_adds(&b, "_h=; [ -f \"$F.s\" ] && read -r _h _r < \"$F.s\"; set -- \"$_h\"; if [ -s \"$E\" ]; then "
			    "if grep -q 'failed$' \"$E\" 2>/dev/null; then grep 'failed$' \"$E\" >&2; rm -rf \"$T\" \"$E\"; exit 92; fi; "
			    "if grep -q '^cannot write' \"$E\" 2>/dev/null; then cat \"$E\" >&2; rm -rf \"$T\" \"$E\"; exit 90; fi; fi; "
			    "if [ \"$1\" != \"$USHA\" ]; then s=$(wc -c < \"$U\"); if [ \"$s\" -ne \"$N\" ]; then [ \"$s\" -gt \"$N\" ] && rm -f \"$U\"; "
			    "rm -rf \"$T\" \"$E\"; echo \"received $s of $N bytes\" >&2; exit 90; fi; fi; echo step=verify; "
			    "if [ \"$1\" != \"$USHA\" ]; then [ \"$H\" = sha256sum ] || rm -f .fleet/openssl-ok; rm -f \"$U\"; rm -rf \"$T\" \"$E\"; "
			    "echo \"checksum mismatch: got $1\" >&2; exit 91; fi; echo step=unpack; "
			    "if [ -s \"$E\" ]; then cat \"$E\" >&2; rm -rf \"$T\" \"$E\"; exit 92; fi; ");
		} else {
			if (d->upload) {
				buf_adds(&b, "cat >> \"$U\" || { echo \"cannot write $R/$U\" >&2; exit 90; }; ");
				buf_adds(&b, "s=$(wc -c < \"$U\"); if [ \"$s\" -ne \"$N\" ]; then "
				    "[ \"$s\" -gt \"$N\" ] && rm -f \"$U\"; echo \"received $s of $N bytes\" >&2; exit 90; fi; ");
			}
			buf_adds(&b, "echo step=verify; set -- $($H \"$U\"); "
			    "if [ \"$1\" != \"$USHA\" ]; then rm -f \"$U\"; echo \"checksum mismatch: got $1\" >&2; exit 91; fi; ");
			buf_addf(&b, "echo step=unpack; %s < \"$U\" | tar -xf - -C \"$T\" || "
			    "{ rm -rf \"$T\"; echo 'unpack failed' >&2; exit 92; }; ", rel_decompress(d->compression));
		}
		if (d->delta_sha256 != NULL) {
			/* The recipe copies what the terminal has; the whole tree is then checked file by file. */
			buf_addf(&b, "echo step=assemble; D=\"$T\"; df() { echo \"delta: $*\" >&2; rm -rf \"$T\"; rm -f \"$U\"; "
			    "exit 89; }; [ -f \"$T/x/recipe.sh\" ] || df 'no recipe in the delta'; . \"./$T/x/recipe.sh\"; "
			    "%s < \"$T/r/.fleetctl-manifest\" > \"$T/x/sums\" && [ -s \"$T/x/sums\" ] || df 'no manifest in the delta'; "
			    "ok=; [ \"$H\" = sha256sum ] || { (cd \"$T\" && cut -c67- x/sums | tr '\\n' '\\000' | xargs -0 $H | "
			    "sed 's/ [*]/  /' | cmp -s - x/sums) && ok=1; }; "
			    "[ -n \"$ok\" ] || (cd \"$T\" && sha256sum -c x/sums) > \"$T/x/check\" 2>&1 || { grep -v ': OK$' \"$T/x/check\" | "
			    "head -n 3 >&2; df 'the assembled release does not match its manifest'; }; "
			    "mv \"$T/r\" \"releases/$ID\" || exit 92; rm -rf \"$T\" \"$U\"%s; ", delta_sums_sed,
			    d->single_pass && d->upload ? " \"$F\" \"$F.s\"" : "");
		} else
			buf_addf(&b, "mv \"$T\" \"releases/$ID\" || exit 92; rm -f \"$U\"%s; ",
			    d->single_pass && d->upload ? " \"$F\" \"$F.s\"" : "");
		buf_adds(&b, "echo step=install; ");
		if (d->install != NULL && *d->install != '\0') {
			rel_hook(&b, "\"releases/$ID\"", d->install, d->step_timeout);
			buf_adds(&b, " || { hf $? install; : > \".fleet/failed/$ID\"; exit 93; }; ");
		}
		buf_adds(&b, ": > \".fleet/installed/$ID\" || exit 93; ");
	}
	if (d->busy != NULL && *d->busy != '\0') {
		/* Last look before anything the customer could notice: a busy terminal is left as it was. */
		buf_adds(&b, "echo step=busy; ");
		rel_hook(&b, "\"$R\"", d->busy, d->step_timeout);
		buf_adds(&b, " >/dev/null 2>&1; [ $? -eq 75 ] && exit 97; ");
	}
	buf_adds(&b, "echo step=switch; sw \"$ID\" || exit 94; ");
	if (d->restart != NULL && *d->restart != '\0') {
		buf_adds(&b, "echo step=restart; ");
		rel_hook(&b, "current", d->restart, d->step_timeout);
		/* A failed restart puts the old release back (and restarts it) so current is as it was;
		 * after a first install that means no current at all. */
		buf_adds(&b, " || { hf $? restart; if [ -n \"$OLD\" ] && [ -d \"releases/$OLD\" ]; then sw \"$OLD\" && ");
		buf_adds(&b, rel_back);
		rel_hook(&b, "current", d->restart, d->step_timeout);
		buf_adds(&b, " >/dev/null 2>&1; elif [ -z \"$OLD\" ]; then rm -f current; fi; exit 95; }; ");
	}
	if (d->health != NULL && *d->health != '\0') {
		/* Unhealthy after all retries: back to the previous release, restarted; reported rolled-back. */
		buf_addf(&b, "echo step=health; h=0; until ");
		rel_hook(&b, "current", d->health, d->step_timeout);
		buf_addf(&b, "; do h=$((h+1)); if [ $h -ge %ld ]; then "
		    "if [ -n \"$OLD\" ] && [ -d \"releases/$OLD\" ] && sw \"$OLD\"; then ",
		    d->health_retries > 0 ? d->health_retries : 1);
		if (d->restart != NULL && *d->restart != '\0') {
			buf_adds(&b, rel_back);
			rel_hook(&b, "current", d->restart, d->step_timeout);
			buf_adds(&b, " >/dev/null 2>&1; ");
		}
		buf_addf(&b, "exit 98; fi; exit 99; fi; sleep %ld; done; ", d->health_interval > 0 ? d->health_interval : 1);
	}
	if (d->keep_count > 0) {
		buf_adds(&b, "echo step=prune; K=\" $ID $OLD\"; ");
		for (size_t i = 0; d->keep != NULL && d->keep[i] != NULL; i++) {
			buf_adds(&b, "K=\"$K \"");
			shquote_add(&b, d->keep[i]);
			buf_adds(&b, "; ");
		}
		buf_adds(&b, "K=\"$K \"; for d in releases/*; do [ -d \"$d\" ] || continue; n=${d#releases/}; "
		    "case \"$K\" in *\" $n \"*) ;; *) rm -rf \"$d\" \".fleet/installed/$n\" \".fleet/failed/$n\";; esac; done; ");
	}
	buf_adds(&b, "echo step=done; exit 0");
	free(dir);
	return buf_detach(&b);
}

const char *
release_failed_step(const char *out, int exit_code)
{
	switch (exit_code) {
	case RELEASE_EXIT_DELTA: return "assemble";
	case RELEASE_EXIT_UPLOAD: return "upload";
	case RELEASE_EXIT_VERIFY: return "verify";
	case RELEASE_EXIT_UNPACK: return "unpack";
	case RELEASE_EXIT_INSTALL: return "install";
	case RELEASE_EXIT_SWITCH: return "switch";
	case RELEASE_EXIT_RESTART: return "restart";
	case RELEASE_EXIT_PREFLIGHT: return "preflight";
	case RELEASE_EXIT_BUSY: return "busy";
	case RELEASE_EXIT_ROLLED_BACK: return "health";
	case RELEASE_EXIT_UNHEALTHY: return "health";
	default: break;
	}
	/* Killed (e.g. a step's deadline): the last step it announced. */
	{
		static const char *const steps[] = { "upload", "verify", "unpack", "assemble", "install", "busy", "switch",
			"restart", "health", "prune", "done", NULL };
		const char *last = NULL, *p = out;

		while (p != NULL && (p = strstr(p, "step=")) != NULL) {
			p += 5;
			for (int i = 0; steps[i] != NULL; i++)
				if (strncmp(p, steps[i], strlen(steps[i])) == 0)
					last = steps[i];
		}
		return last;
	}
}

char *
release_status_script(const char *root, const char *const *components)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; components[i] != NULL; i++) {
		char *dir = xasprintf("%s/%s/current", root, components[i]);

		buf_adds(&b, "c=$(readlink ");
		shquote_add(&b, dir);
		buf_adds(&b, " 2>/dev/null); echo ");
		shquote_add(&b, components[i]);
		buf_adds(&b, "\"=$c\"; ");
		free(dir);
	}
	buf_adds(&b, "echo status=done");
	return buf_detach(&b);
}
