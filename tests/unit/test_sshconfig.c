/* Unit tests for lib/sshconfig: real files in a mkdtemp directory, OpenSSH 9.2 semantics. */
#include "check.h"
#include "../../lib/sshconfig.h"
#include "../../lib/util.h"

#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tdir[PATH_MAX];
static int tcount;

/* Write `text` to a file under the test directory; returns its path (static buffer per call slot). */
static const char *
put(const char *name, const char *text)
{
	static char paths[8][PATH_MAX];
	static int slot;
	char *p = paths[slot++ % 8], *dir;
	int n;

	n = snprintf(p, PATH_MAX, "%s/%s", tdir, name);
	if (n < 0 || n >= PATH_MAX)
		abort();
	dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	if (mkdir_p(dir, 0700) < 0 || write_file_atomic(p, text, strlen(text), 0600) < 0)
		abort();
	free(dir);
	return p;
}

/* A fresh config file with `text`, a unique name each time. */
static const char *
conf(const char *text)
{
	char name[64];

	snprintf(name, sizeof(name), "c%d.conf", ++tcount);
	return put(name, text);
}

/* Load `text` and resolve `host`; returns 0 and fills *res, or -1 (cause printed). */
static int
resolve_text(const char *text, const char *host, const char *user, int port, struct sshcfg_result *res)
{
	struct sshconfig *cfg = NULL;
	char *cause = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	if (sshconfig_load(conf(text), &cfg, &cause) < 0) {
		printf("# load: %s\n", cause);
		free(cause);
		return -1;
	}
	rc = sshconfig_resolve(cfg, host, user, port, res, &cause);
	if (rc < 0) {
		printf("# resolve: %s\n", cause);
		free(cause);
	}
	sshconfig_free(cfg);
	return rc;
}

/* Value of key for host, as a static copy ("" when unset) so tests read like tables. */
static const char *
get(const char *text, const char *host, enum sshcfg_key key)
{
	static char out[4][1024];
	static int slot;
	struct sshcfg_result res;
	char *o = out[slot++ % 4];

	snprintf(o, 1024, "<error>");
	if (resolve_text(text, host, NULL, 0, &res) == 0) {
		snprintf(o, 1024, "%s", res.v[key].value ? res.v[key].value : "");
		sshcfg_result_free(&res);
	}
	return o;
}

/* Load must fail; returns the cause (caller frees) or NULL if it loaded. */
static char *
load_error(const char *path)
{
	struct sshconfig *cfg = NULL;
	char *cause = NULL;

	if (sshconfig_load(path, &cfg, &cause) == 0) {
		sshconfig_free(cfg);
		return NULL;
	}
	return cause;
}

static void
test_wildcards(void)
{
	const char *c = "Host web-?? db*\n  User alice\nHost *.example.com\n  Port 2200\n";

	CHECK_STR(get(c, "web-01", SSHCFG_USER), "alice");
	CHECK_STR(get(c, "web-1", SSHCFG_USER), "");
	CHECK_STR(get(c, "web-001", SSHCFG_USER), "");
	CHECK_STR(get(c, "db", SSHCFG_USER), "alice");
	CHECK_STR(get(c, "dbmain", SSHCFG_USER), "alice");
	CHECK_STR(get(c, "a.example.com", SSHCFG_PORT), "2200");
	CHECK_STR(get(c, "example.com", SSHCFG_PORT), "");
	/* Host patterns are case-sensitive against the name as typed */
	CHECK_STR(get(c, "WEB-01", SSHCFG_USER), "");
}

static void
test_negation(void)
{
	const char *c = "Host kiosk* !kiosk-test*\n  User kiosk\nHost !atm1 atm*\n  Port 2022\n"
	    "Host !x\n  ConnectTimeout 5\n";

	CHECK_STR(get(c, "kiosk07", SSHCFG_USER), "kiosk");
	CHECK_STR(get(c, "kiosk-test1", SSHCFG_USER), "");
	CHECK_STR(get(c, "atm2", SSHCFG_PORT), "2022");
	CHECK_STR(get(c, "atm1", SSHCFG_PORT), "");
	/* A block with only a negated pattern never applies */
	CHECK_STR(get(c, "y", SSHCFG_CONNECT_TIMEOUT), "");
}

static void
test_several_host_lines(void)
{
	const char *c = "Host a b\n  Port 1001\nHost c\n  Port 1002\nHost b c\n  User bc\n";

	CHECK_STR(get(c, "a", SSHCFG_PORT), "1001");
	CHECK_STR(get(c, "b", SSHCFG_PORT), "1001");
	CHECK_STR(get(c, "c", SSHCFG_PORT), "1002");
	CHECK_STR(get(c, "b", SSHCFG_USER), "bc");
	CHECK_STR(get(c, "a", SSHCFG_USER), "");
}

static void
test_first_value_wins(void)
{
	const char *c = "User top\nHost h\n  User inner\n  Port 1\n  Port 2\nHost *\n  Port 3\n"
	    "  ConnectTimeout none\n  ConnectTimeout 1m30s\n";
	struct sshcfg_result res;
	char origin[PATH_MAX + 16];

	CHECK(resolve_text(c, "h", NULL, 0, &res) == 0);
	CHECK_STR(res.v[SSHCFG_USER].value, "top");
	CHECK_STR(res.v[SSHCFG_PORT].value, "1");
	/* "none" leaves a time unset, so the next line still sets it, as OpenSSH does */
	CHECK_STR(res.v[SSHCFG_CONNECT_TIMEOUT].value, "90");
	snprintf(origin, sizeof(origin), "%s/c%d.conf:4", tdir, tcount);
	CHECK_STR(res.v[SSHCFG_PORT].origin, origin);
	CHECK(res.v[SSHCFG_HOSTNAME].value == NULL);
	CHECK(res.nidentity_files == 0);
	CHECK(res.warning == NULL);
	sshcfg_result_free(&res);
}

static void
test_identityfile_accumulates(void)
{
	const char *c = "Host h*\n  IdentityFile /k/one\n  IdentityFile /k/two\nHost *\n"
	    "  IdentityFile /k/one\n  IdentityFile /k/three\n";
	struct sshcfg_result res;

	CHECK(resolve_text(c, "h1", NULL, 0, &res) == 0);
	CHECK(res.nidentity_files == 3);
	if (res.nidentity_files == 3) {
		CHECK_STR(res.identity_files[0].value, "/k/one");
		CHECK_STR(res.identity_files[1].value, "/k/two");
		CHECK_STR(res.identity_files[2].value, "/k/three");
		CHECK(strstr(res.identity_files[2].origin, ".conf:6") != NULL);
	}
	sshcfg_result_free(&res);
}

static void
test_include_glob_sorted(void)
{
	char *text;
	struct sshcfg_result res;

	put("inc/20-b.conf", "Host *\n  Port 2002\n  User b\n");
	put("inc/10-a.conf", "Host *\n  Port 2001\n");
	put("inc/x.txt", "Host *\n  User wrong\n");
	text = xasprintf("Include %s/inc/*.conf %s/inc/none-*.conf\nHost *\n  ConnectTimeout 4\n", tdir, tdir);
	CHECK(resolve_text(text, "h", NULL, 0, &res) == 0);
	CHECK_STR(res.v[SSHCFG_PORT].value, "2001");
	CHECK_STR(res.v[SSHCFG_USER].value, "b");
	CHECK_STR(res.v[SSHCFG_CONNECT_TIMEOUT].value, "4");
	CHECK(res.v[SSHCFG_PORT].origin != NULL && strstr(res.v[SSHCFG_PORT].origin, "10-a.conf:2") != NULL);
	sshcfg_result_free(&res);
	free(text);
}

static void
test_include_relative_to_home_ssh(void)
{
	char *home = xasprintf("%s/home", tdir), *old = xstrdup(getenv("HOME"));
	struct sshconfig *cfg = NULL;
	struct sshcfg_result res;
	char *cause = NULL;

	put("home/.ssh/rel/a.conf", "Host r*\n  User reluser\n");
	put("home/.ssh/config", "Include rel/*.conf\nHost *\n  Port 2345\n");
	setenv("HOME", home, 1);
	/* path NULL: ~/.ssh/config (then the system file) */
	CHECK(sshconfig_load(NULL, &cfg, &cause) == 0);
	CHECK(cfg != NULL && sshconfig_resolve(cfg, "rx", NULL, 0, &res, &cause) == 0);
	CHECK_STR(res.v[SSHCFG_USER].value, "reluser");
	CHECK_STR(res.v[SSHCFG_PORT].value, "2345");
	sshcfg_result_free(&res);
	sshconfig_free(cfg);
	if (old != NULL)
		setenv("HOME", old, 1);
	free(old);
	free(home);
	free(cause);
}

static void
test_include_in_host_block_is_scoped(void)
{
	char *text;

	/* The included file starts in the including block's state; its own Host lines switch it,
	 * and after the Include the including block's state comes back. */
	put("scoped.conf", "User incuser\nHost zzz\n  Port 9\nMatch all\n  ServerAliveCountMax 9\n");
	text = xasprintf("Host inc*\n  Include %s/scoped.conf\n  Port 4000\nHost *\n  User fallback\n", tdir);
	CHECK_STR(get(text, "inc1", SSHCFG_USER), "incuser");
	CHECK_STR(get(text, "inc1", SSHCFG_PORT), "4000");
	CHECK_STR(get(text, "inc1", SSHCFG_SERVER_ALIVE_COUNT_MAX), "9");
	/* Outside the block, nothing in the included file applies, not even its Match all */
	CHECK_STR(get(text, "other", SSHCFG_USER), "fallback");
	CHECK_STR(get(text, "other", SSHCFG_SERVER_ALIVE_COUNT_MAX), "");
	CHECK_STR(get(text, "zzz", SSHCFG_PORT), "");
	free(text);
}

static void
test_include_loop_is_an_error(void)
{
	char *a = xasprintf("%s/loop-a.conf", tdir), *b = xasprintf("%s/loop-b.conf", tdir);
	char *ta = xasprintf("Include %s\n", b), *tb = xasprintf("Host x\n  Port 1\nInclude %s\n", a);
	char *cause;

	put("loop-a.conf", ta);
	put("loop-b.conf", tb);
	cause = load_error(a);
	CHECK(cause != NULL && strstr(cause, "include loop") != NULL);
	CHECK(cause != NULL && strstr(cause, "loop-b.conf:3") != NULL);
	free(cause);
	free(a);
	free(b);
	free(ta);
	free(tb);
}

static void
test_include_depth_limit(void)
{
	char name[32], *text, *cause;
	int i;

	/* d0 includes d1 ... includes d20: deeper than OpenSSH's 16 */
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "deep/d%d.conf", i);
		text = xasprintf("Include %s/deep/d%d.conf\n", tdir, i + 1);
		put(name, text);
		free(text);
	}
	put("deep/d20.conf", "Port 1\n");
	text = xasprintf("%s/deep/d0.conf", tdir);
	cause = load_error(text);
	CHECK(cause != NULL && strstr(cause, "too many nested includes") != NULL);
	free(cause);
	free(text);
}

static void
test_tokens(void)
{
	struct passwd *pw = getpwuid(getuid());
	const char *home = getenv("HOME");
	struct sshcfg_result res;
	char *want;

	CHECK(resolve_text("Host k*\n  HostName %h.Lan\n  Port 2200\n  User bob\n"
	    "  IdentityFile ~/.ssh/id_%h_%p_%r_%n_%%\n  IdentityFile %d/x_%u\n"
	    "  UserKnownHostsFile ~/kh_%h %d/two\n  IdentityAgent /run/%r.sock\n"
	    "  GlobalKnownHostsFile /etc/kh_%h\n  ProxyJump j%h\n", "K1", NULL, 0, &res) == 0);
	/* Host k* does not apply to K1: Host patterns are case-sensitive */
	CHECK(res.v[SSHCFG_HOSTNAME].value == NULL && res.nidentity_files == 0);
	sshcfg_result_free(&res);
	CHECK(resolve_text("Host K*\n  HostName %h.Lan\n  Port 2200\n  User bob\n"
	    "  IdentityFile ~/.ssh/id_%h_%p_%r_%n_%%\n  IdentityFile %d/x_%u\n"
	    "  UserKnownHostsFile ~/kh_%h %d/two\n  IdentityAgent /run/%r.sock\n"
	    "  GlobalKnownHostsFile /etc/kh_%h\n  ProxyJump j%h\n", "K1", NULL, 0, &res) == 0);
	/* HostName: %h is the name as typed; the result is lowercased like ssh does */
	CHECK_STR(res.v[SSHCFG_HOSTNAME].value, "k1.lan");
	CHECK(res.nidentity_files == 2);
	want = xasprintf("%s/.ssh/id_k1.lan_2200_bob_K1_%%", home);
	if (res.nidentity_files == 2) {
		CHECK_STR(res.identity_files[0].value, want);
		free(want);
		want = xasprintf("%s/x_%s", home, pw->pw_name);
		CHECK_STR(res.identity_files[1].value, want);
	}
	free(want);
	want = xasprintf("%s/kh_k1.lan", home);
	CHECK_STR(res.v[SSHCFG_USER_KNOWN_HOSTS_FILE].value, want);
	free(want);
	CHECK_STR(res.v[SSHCFG_IDENTITY_AGENT].value, "/run/bob.sock");
	/* ssh takes GlobalKnownHostsFile and ProxyJump as written */
	CHECK_STR(res.v[SSHCFG_GLOBAL_KNOWN_HOSTS_FILE].value, "/etc/kh_%h");
	CHECK_STR(res.v[SSHCFG_PROXYJUMP].value, "j%h");
	sshcfg_result_free(&res);

	/* The caller's user and port (from fleet.ini) are what %r and %p stand for */
	CHECK(resolve_text("Host *\n  User cfguser\n  IdentityFile /k/%r_%p\n", "h", "fleetuser", 2022, &res) == 0);
	CHECK(res.nidentity_files == 1 && strcmp(res.identity_files[0].value, "/k/fleetuser_2022") == 0);
	CHECK_STR(res.v[SSHCFG_USER].value, "cfguser");
	sshcfg_result_free(&res);

	/* HostName takes only %h and %% */
	CHECK(resolve_text("Host *\n  HostName %p.x\n", "h", NULL, 0, &res) == -1);
	CHECK(resolve_text("Host *\n  IdentityFile /k/%C\n", "h", NULL, 0, &res) == -1);
}

static void
test_match_host_sees_hostname(void)
{
	const char *c = "Host alias\n  HostName Real.Example\nMatch host real.example\n  Port 3001\n"
	    "Match originalhost ALIAS\n  User orig\nMatch host alias\n  ConnectTimeout 9\n";

	CHECK_STR(get(c, "alias", SSHCFG_PORT), "3001");
	CHECK_STR(get(c, "alias", SSHCFG_USER), "orig");
	CHECK_STR(get(c, "alias", SSHCFG_CONNECT_TIMEOUT), "");
	CHECK_STR(get(c, "real.example", SSHCFG_PORT), "3001");
	CHECK_STR(get(c, "other", SSHCFG_PORT), "");
	/* Match host: a comma list with negation */
	CHECK_STR(get("Match host a*,!ab\n  Port 7\n", "ac", SSHCFG_PORT), "7");
	CHECK_STR(get("Match host a*,!ab\n  Port 7\n", "ab", SSHCFG_PORT), "");
	CHECK_STR(get("Match !host ab\n  Port 7\n", "ab", SSHCFG_PORT), "");
	CHECK_STR(get("Match !host ab\n  Port 7\n", "ac", SSHCFG_PORT), "7");
}

static void
test_match_user(void)
{
	const char *c = "Host cfg\n  User carol\nMatch user bob,carol\n  Port 4001\nMatch all\n  Port 4002\n";
	struct passwd *pw = getpwuid(getuid());
	char *local = xasprintf("Match user %s host h\n  Port 4003\n", pw->pw_name);
	struct sshcfg_result res;

	CHECK(resolve_text(c, "h", "bob", 0, &res) == 0);
	CHECK_STR(res.v[SSHCFG_PORT].value, "4001");
	sshcfg_result_free(&res);
	CHECK(resolve_text(c, "h", "dave", 0, &res) == 0);
	CHECK_STR(res.v[SSHCFG_PORT].value, "4002");
	sshcfg_result_free(&res);
	/* No user from the caller: the configuration's User so far, else the local user */
	CHECK_STR(get(c, "cfg", SSHCFG_PORT), "4001");
	CHECK_STR(get(local, "h", SSHCFG_PORT), "4003");
	CHECK_STR(get(local, "x", SSHCFG_PORT), "");
	free(local);
}

static void
test_match_all(void)
{
	CHECK_STR(get("Host x\n  Port 1\nMatch all\n  User everyone\n", "y", SSHCFG_USER), "everyone");
	CHECK_STR(get("Match !all\n  User nobody\n", "y", SSHCFG_USER), "");
}

static void
test_match_exec_warns(void)
{
	const char *c = "Match host k* exec \"test -f /x\"\n  User execuser\nHost *\n  User plain\n";
	struct sshcfg_result res;

	CHECK(resolve_text(c, "k1", NULL, 0, &res) == 0);
	/* Not evaluated: the block does not apply, and the host is told why */
	CHECK_STR(res.v[SSHCFG_USER].value, "plain");
	CHECK(res.warning != NULL && strstr(res.warning, ".conf:1: Match exec is not supported") != NULL);
	sshcfg_result_free(&res);
	/* A host the other criteria rule out gets no warning */
	CHECK(resolve_text(c, "z1", NULL, 0, &res) == 0);
	CHECK(res.warning == NULL);
	sshcfg_result_free(&res);
	/* canonical, final and criteria OpenSSH 9.2 does not know also warn */
	CHECK(resolve_text("Match canonical\n  User u\nMatch tagged x\n  Port 3\n", "h", NULL, 0, &res) == 0);
	CHECK(res.v[SSHCFG_USER].value == NULL && res.v[SSHCFG_PORT].value == NULL);
	CHECK(res.warning != NULL && strstr(res.warning, "Match canonical") != NULL &&
	    strstr(res.warning, "Match tagged") != NULL);
	sshcfg_result_free(&res);
}

static void
test_proxycommand_warns(void)
{
	struct sshcfg_result res;

	CHECK(resolve_text("Host p*\n  ProxyCommand ssh -W %h:%p gw\n  ProxyJump ignored\n", "p1", NULL, 0, &res) == 0);
	CHECK(res.warning != NULL && strstr(res.warning, ".conf:2: ProxyCommand is not supported") != NULL);
	CHECK(res.v[SSHCFG_PROXYJUMP].value == NULL);
	sshcfg_result_free(&res);
	CHECK(resolve_text("Host p*\n  ProxyCommand ssh -W %h:%p gw\n", "q1", NULL, 0, &res) == 0);
	CHECK(res.warning == NULL);
	sshcfg_result_free(&res);
	/* ProxyJump first: ProxyCommand is ignored, as OpenSSH does */
	CHECK(resolve_text("ProxyJump u@gw:2222 # c\nProxyCommand nc %h %p\n", "h", NULL, 0, &res) == 0);
	CHECK(res.warning == NULL);
	CHECK_STR(res.v[SSHCFG_PROXYJUMP].value, "u@gw:2222");
	sshcfg_result_free(&res);
	CHECK(resolve_text("ProxyCommand none\n", "h", NULL, 0, &res) == 0);
	CHECK(res.warning == NULL);
	sshcfg_result_free(&res);
	CHECK_STR(get("ProxyJump none\n", "h", SSHCFG_PROXYJUMP), "none");
}

static void
expect_load_error(const char *text, const char *want)
{
	const char *path = conf(text);
	char *cause = load_error(path), *full = xasprintf("%s:%s", path, want);

	CHECK(cause != NULL);
	if (cause != NULL && strncmp(cause, full, strlen(full)) != 0) {
		printf("# got '%s', want prefix '%s'\n", cause, full);
		CHECK(!"error message");
	}
	free(cause);
	free(full);
}

static void
test_malformed_lines(void)
{
	expect_load_error("Host x\n  User u\n  Port abc\n", "3: bad port 'abc'");
	expect_load_error("Port 0\n", "1: bad port '0'");
	expect_load_error("User u\nHost\n", "2: no argument after keyword 'Host'");
	expect_load_error("Host \"\"\n", "1: empty pattern for Host");
	expect_load_error("\n\nUser \"ab c\n", "3: unterminated quote");
	expect_load_error("Match exec\n", "1: missing argument for Match exec");
	expect_load_error("Match all host x\n", "1: 'all' cannot be combined");
	expect_load_error("IdentitiesOnly maybe\n", "1: bad IdentitiesOnly value 'maybe'");
	expect_load_error("StrictHostKeyChecking sometimes\n", "1: bad StrictHostKeyChecking value");
	expect_load_error("ConnectTimeout 5x\n", "1: bad time value '5x'");
	expect_load_error("ServerAliveCountMax -1\n", "1: bad integer '-1'");
	expect_load_error("Port 22 23\n", "1: extra arguments");
	expect_load_error("UserKnownHostsFile none /x\n", "1: UserKnownHostsFile \"none\" must appear alone");
	/* Keywords fleetctl does not use are ssh's business, even odd ones */
	CHECK(load_error(conf("Frobnicate \"x\nForwardAgent\nPort 22\n")) == NULL);
}

static void
test_files(void)
{
	struct sshconfig *cfg = NULL;
	struct sshcfg_result res;
	char *cause = NULL, *missing = xasprintf("%s/does-not-exist", tdir);

	/* "none": an empty configuration */
	CHECK(sshconfig_load("none", &cfg, &cause) == 0);
	CHECK(cfg != NULL && sshconfig_resolve(cfg, "h", NULL, 0, &res, &cause) == 0);
	CHECK(res.v[SSHCFG_USER].value == NULL && res.nidentity_files == 0 && res.warning == NULL);
	sshcfg_result_free(&res);
	sshconfig_free(cfg);
	/* An explicit file must exist, like ssh -F */
	cause = load_error(missing);
	CHECK(cause != NULL && strstr(cause, "does-not-exist") != NULL);
	free(cause);
	free(missing);
	sshconfig_free(NULL);
	sshcfg_result_free(NULL);
}

static void
test_syntax_variants(void)
{
	const char *c = "# comment\n\n  Host=q1 \"q 2\"  # trailing\n\tHOSTNAME = h.example\n"
	    "  user=\"u\"\n  Port=2345\n  StrictHostKeyChecking ask\nHost *\n"
	    "  stricthostkeychecking off\n  IdentitiesOnly true\n  ServerAliveInterval 2m\n"
	    "  ServerAliveCountMax 7\n  UserKnownHostsFile /kh/one /kh/two\n";

	CHECK_STR(get(c, "q1", SSHCFG_HOSTNAME), "h.example");
	CHECK_STR(get(c, "q 2", SSHCFG_USER), "u");
	CHECK_STR(get(c, "q1", SSHCFG_PORT), "2345");
	CHECK_STR(get(c, "q1", SSHCFG_STRICT_HOST_KEY_CHECKING), "yes");
	CHECK_STR(get(c, "z", SSHCFG_STRICT_HOST_KEY_CHECKING), "no");
	CHECK_STR(get(c, "z", SSHCFG_IDENTITIES_ONLY), "yes");
	CHECK_STR(get(c, "z", SSHCFG_SERVER_ALIVE_INTERVAL), "120");
	CHECK_STR(get(c, "z", SSHCFG_SERVER_ALIVE_COUNT_MAX), "7");
	CHECK_STR(get(c, "z", SSHCFG_USER_KNOWN_HOSTS_FILE), "/kh/one");
	CHECK_STR(get("StrictHostKeyChecking accept-new\n", "z", SSHCFG_STRICT_HOST_KEY_CHECKING), "accept-new");
	/* An address is not lowercased */
	CHECK_STR(get("HostName FE80::1\n", "z", SSHCFG_HOSTNAME), "FE80::1");
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int
main(void)
{
	if (snprintf(tdir, sizeof(tdir), "/tmp/test_sshconfig.XXXXXX") < 0 || mkdtemp(tdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_wildcards);
	RUN(test_negation);
	RUN(test_several_host_lines);
	RUN(test_first_value_wins);
	RUN(test_identityfile_accumulates);
	RUN(test_include_glob_sorted);
	RUN(test_include_relative_to_home_ssh);
	RUN(test_include_in_host_block_is_scoped);
	RUN(test_include_loop_is_an_error);
	RUN(test_include_depth_limit);
	RUN(test_tokens);
	RUN(test_match_host_sees_hostname);
	RUN(test_match_user);
	RUN(test_match_all);
	RUN(test_match_exec_warns);
	RUN(test_proxycommand_warns);
	RUN(test_malformed_lines);
	RUN(test_files);
	RUN(test_syntax_variants);
	nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return CHECK_DONE();
}
