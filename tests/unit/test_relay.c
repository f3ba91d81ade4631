/* Unit tests for lib/relay: the command a relay runs, executed for real with stand-in clients. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/inventory.h"
#include "../../lib/relay.h"
#include "../../lib/transport.h"
#include "../../lib/util.h"
#include "check.h"

static char tmpdir[] = "/tmp/fleet-test-relay-XXXXXX";

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static char *
slurp(const char *path)
{
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	buf_init(&b, 0);
	if (f == NULL)
		return buf_detach(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b);
}

/* An inventory with a relay gw and terminal t (port 2222), the given extra [group] lines. */
static struct inventory *
load_site(const char *extra)
{
	struct inventory *inv = NULL;
	struct inventory_opts opts = { NULL, 0, "none" };
	char *ini = xasprintf("%s/fleet.ini", tmpdir), *kh = xasprintf("%s/known_hosts", tmpdir);
	char *text = xasprintf("[fleet]\nknown_hosts = %s\nuser = kiosk\n[host:gw]\n[host:t]\naddress = 10.1.2.3\n"
	    "port = 2222\n[group:site]\nhosts = t\nrelay = gw\nrelay_cache = %s/cache\n%s", kh, tmpdir, extra);
	char *cause = NULL;

	write_file(kh, "[10.1.2.3]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfT\n"
	    "[10.9.9.9]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherHost\n", 0644);
	write_file(ini, text, 0644);
	CHECK(inventory_load(ini, &opts, &inv, &cause) == 0);
	free(cause);
	free(ini);
	free(kh);
	free(text);
	return inv;
}

/* Run cmd with sh, PATH = the stand-in clients first; stdin from in (may be NULL). */
static int
run_sh(const char *cmd, const char *in)
{
	char *script = xasprintf("%s/cmd.sh", tmpdir), *line;
	int rc;

	write_file(script, cmd, 0644);
	line = xasprintf("cd %s && PATH=%s/bin:/usr/bin:/bin sh %s%s%s >%s/out 2>%s/err", tmpdir, tmpdir, script,
	    in ? " <" : "", in ? in : "", tmpdir, tmpdir);
	rc = system(line);
	free(line);
	free(script);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A stand-in `ssh`: records its arguments, the known_hosts file it was given and its input. */
static void
fake_clients(void)
{
	char *dir = xasprintf("%s/bin", tmpdir), *p;
	const char *body = "#!/bin/sh\n"
	    "d=$(dirname \"$0\")/..\n"
	    "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done >\"$d/args\"\n"
	    "for a in \"$@\"; do case \"$a\" in UserKnownHostsFile=*) cp \"${a#UserKnownHostsFile=}\" \"$d/kh\";; esac; done\n"
	    "[ -n \"$HOME\" ] && [ -f \"$HOME/.ssh/known_hosts\" ] && cp \"$HOME/.ssh/known_hosts\" \"$d/kh.home\"\n"
	    "cat >\"$d/stdin\"\n"
	    "for last in \"$@\"; do :; done\n"
	    "sh -c \"$last\" <\"$d/stdin\"\n";

	mkdir(dir, 0755);
	p = xasprintf("%s/ssh", dir);
	write_file(p, body, 0755);
	free(p);
	p = xasprintf("%s/dbclient", dir);
	write_file(p, body, 0755);
	free(p);
	free(dir);
}

static void
test_command_passes_hostile_text_verbatim(void)
{
	struct inventory *inv = load_site("relay_identity = /home/relay/.ssh/id site\n");
	struct inv_host *t = inv != NULL ? inventory_find(inv, "t") : NULL;
	/* quotes, $, backquotes: the stand-in runs it, so harmless words full of shell syntax */
	const char *hostile = "printf '%s|' \"it's\" '$HOME' '`id`' '$(reboot)'; echo";
	char *cmd = NULL, *cause = NULL, *args, *kh, *err;

	CHECK(t != NULL);
	if (t == NULL)
		goto out;
	CHECK(relay_command(NULL, t, hostile, NULL, 0, &cmd, &cause) == TP_OK);
	CHECK(cmd != NULL);
	if (cmd == NULL)
		goto out;
	CHECK(run_sh(cmd, "/dev/null") == 0);
	{
		char *a = xasprintf("%s/args", tmpdir), *o = xasprintf("%s/out", tmpdir), *k = xasprintf("%s/kh", tmpdir);
		char *e = xasprintf("%s/err", tmpdir);

		args = slurp(a);
		kh = slurp(k);
		err = slurp(e);
		/* the terminal's output: the hostile words arrive as words, nothing expanded */
		{
			char *outs = slurp(o);

			CHECK_STR(outs, "it's|$HOME|`id`|$(reboot)|\n");
			free(outs);
		}
		CHECK(strstr(args, "[-i]\n[/home/relay/.ssh/id site]\n") != NULL);   /* one word despite the blank */
		CHECK(strstr(args, "[StrictHostKeyChecking=yes]") != NULL);
		CHECK(strstr(args, "[BatchMode=yes]") != NULL);
		CHECK(strstr(args, "[-p]\n[2222]\n[-l]\n[kiosk]\n[10.1.2.3]\n") != NULL);
		/* only this terminal's key, in both spellings */
		CHECK_STR(kh, "[10.1.2.3]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfT\n"
		    "10.1.2.3 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfT\n");
		/* the terminal's shell printed the sentinel first */
		CHECK(strncmp(err, "\037fleetctl-relay-in\n", 19) == 0);
		free(a);
		free(o);
		free(k);
		free(e);
		free(args);
		free(kh);
		free(err);
	}
	/* the private known_hosts directory is gone afterwards */
	{
		char *ls = xasprintf("ls %s/cache | grep -q '^kh\\.'", tmpdir);

		CHECK(system(ls) != 0);
		free(ls);
	}
out:
	free(cmd);
	free(cause);
	inventory_free(inv);
}

static void
test_cached_input_goes_behind_a_guard_line(void)
{
	struct inventory *inv = load_site("relay_client = dbclient\n");
	struct inv_host *t = inv != NULL ? inventory_find(inv, "t") : NULL;
	char *cmd = NULL, *cause = NULL, *dir = xasprintf("%s/cache/cache", tmpdir), *f, *in, *out, *kh;

	CHECK(t != NULL);
	if (t == NULL)
		goto out;
	mkdir(dir, 0700);
	f = xasprintf("%s/d.abc", dir);
	write_file(f, "0123456789", 0600);
	free(f);
	/* from offset 4, after the line "n" that dbclient's host key question would eat */
	CHECK(relay_command(NULL, t, "cat", "d.abc", 4, &cmd, &cause) == TP_OK);
	if (cmd == NULL)
		goto out;
	CHECK(run_sh(cmd, "/dev/null") == 0);
	in = xasprintf("%s/stdin", tmpdir);
	out = slurp(in);
	CHECK_STR(out, "n\n456789");
	free(out);
	free(in);
	/* the terminal's shell read the guard line: the command saw the archive only */
	in = xasprintf("%s/out", tmpdir);
	out = slurp(in);
	CHECK_STR(out, "456789");
	free(out);
	free(in);
	/* dbclient finds its known_hosts under $HOME */
	in = xasprintf("%s/kh.home", tmpdir);
	kh = slurp(in);
	CHECK(strstr(kh, "\n10.1.2.3 ssh-ed25519 ") != NULL);
	free(kh);
	free(in);
	free(cmd);
	cmd = NULL;
	/* a file not in the cache: the relay says so, exit 255 */
	CHECK(relay_command(NULL, t, "cat", "d.missing", 0, &cmd, &cause) == TP_OK);
	CHECK(run_sh(cmd, "/dev/null") == 255);
	in = xasprintf("%s/err", tmpdir);
	out = slurp(in);
	CHECK(strstr(out, "fleetctl-relay: d.missing is not in the relay cache") != NULL);
	free(out);
	free(in);
out:
	free(dir);
	free(cmd);
	free(cause);
	inventory_free(inv);
}

static void
test_unknown_host_key_is_refused_before_the_client(void)
{
	struct inventory *inv = load_site("");
	struct inv_host *t = inv != NULL ? inventory_find(inv, "t") : NULL;
	char *cmd = NULL, *cause = NULL;

	CHECK(t != NULL);
	if (t == NULL)
		goto out;
	/* the recorded key is for port 2222; on port 22 nothing is known */
	CHECK(relay_command(NULL, t, "true", NULL, 0, &cmd, &cause) == TP_OK);
	free(cmd);
	cmd = NULL;
	t->set[INV_PORT].value = (char *)"22";
	CHECK(relay_command(NULL, t, "true", NULL, 0, &cmd, &cause) == TP_HOSTKEY);
	CHECK(cmd == NULL);
	CHECK(cause != NULL && strstr(cause, "no host key for 10.1.2.3 port 22") != NULL);
	t->set[INV_PORT].value = NULL;   /* not ours to free */
out:
	free(cmd);
	free(cause);
	inventory_free(inv);
}

static void
test_cache_names(void)
{
	char *b = relay_cache_name(false, "ab12"), *d = relay_cache_name(true, "ab12");

	CHECK_STR(b, "b.ab12");
	CHECK_STR(d, "d.ab12");
	free(b);
	free(d);
}

int
main(void)
{
	char *rm;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	fake_clients();
	RUN(test_command_passes_hostile_text_verbatim);
	RUN(test_cached_input_goes_behind_a_guard_line);
	RUN(test_unknown_host_key_is_refused_before_the_client);
	RUN(test_cache_names);
	rm = xasprintf("rm -rf %s", tmpdir);
	if (system(rm) != 0)
		check_failed_total++;
	free(rm);
	return check_failed_total != 0;
}
