/*
 * sshconfig: OpenSSH client configuration (ssh_config(5)), parsed once into a flat list of
 * entries, then resolved per host with OpenSSH 9.2's rules: first obtained value wins,
 * IdentityFile accumulates, Host matches the name as typed, Match host the HostName so far.
 *
 * Include is expanded at load time.  OpenSSH keeps a "this block applies" flag while reading;
 * an Include saves it, the included files start with it, and it is restored after each file.
 * If the Include sat in a block that did not apply, Host/Match lines in the included files never
 * apply either.  PUSH/POP entries around each included file replay exactly that at resolve time.
 */
#include "sshconfig.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SSHCFG_MAX_DEPTH 16            /* OpenSSH's READCONF_MAX_DEPTH */
#define SSHCFG_MAX_FILE (4 << 20)      /* no real ssh_config is anywhere near this */
#define SSHCFG_MAX_IDENTITIES 100      /* OpenSSH's SSH_MAX_IDENTITY_FILES */

enum sshcfg_kind {
	ENT_FILE,    /* a top-level file starts: the block applies again */
	ENT_PUSH,    /* an included file starts */
	ENT_POP,     /* an included file ends */
	ENT_HOST,
	ENT_MATCH,
	ENT_OPT,
};

/* Options we read: the public keys first, then internal ones. */
enum {
	OPT_IDENTITY_FILE = SSHCFG__COUNT,
	OPT_PROXY_COMMAND,
	OPT_CANONICALIZE,
};

enum sshcfg_attr {
	ATTR_ALL,
	ATTR_HOST,
	ATTR_ORIGINALHOST,
	ATTR_USER,
	ATTR_LOCALUSER,
	ATTR_UNSUPPORTED,   /* exec, canonical, final, tagged, localnetwork, unknown... */
};

struct sshcfg_crit {
	enum sshcfg_attr attr;
	int negate;
	char *name;   /* the criterion as written, for warnings */
	char *arg;    /* pattern list, NULL for all/canonical/final */
};

struct sshcfg_ent {
	enum sshcfg_kind kind;
	int opt;                  /* ENT_OPT: SSHCFG_* or OPT_* */
	char **pats;              /* ENT_HOST: patterns */
	size_t npats;
	struct sshcfg_crit *crit; /* ENT_MATCH */
	size_t ncrit;
	char *value;              /* ENT_OPT: normalised value, NULL = "none" that leaves the option unset */
	int userconf;             /* ENT_OPT: from a user file (IdentityFile duplicates are per kind) */
	char *origin;             /* "FILE:LINE" */
};

struct sshconfig {
	struct sshcfg_ent *ents;
	size_t nents, alloc;
	/* Local facts used by tokens and Match, looked up once. */
	char *home;
	char *localuser;
	char *uid;
	char *thishost;
	char *shorthost;
};

/* Load-time state for one chain of includes. */
struct sshcfg_loader {
	struct sshconfig *cfg;
	const char *stack[SSHCFG_MAX_DEPTH + 2];   /* real paths of the files being read */
	int depth;
};

static const struct {
	const char *name;
	int opt;
} sshcfg_keywords[] = {
	{ "hostname", SSHCFG_HOSTNAME },
	{ "user", SSHCFG_USER },
	{ "port", SSHCFG_PORT },
	{ "identitiesonly", SSHCFG_IDENTITIES_ONLY },
	{ "identityagent", SSHCFG_IDENTITY_AGENT },
	{ "proxyjump", SSHCFG_PROXYJUMP },
	{ "userknownhostsfile", SSHCFG_USER_KNOWN_HOSTS_FILE },
	{ "globalknownhostsfile", SSHCFG_GLOBAL_KNOWN_HOSTS_FILE },
	{ "stricthostkeychecking", SSHCFG_STRICT_HOST_KEY_CHECKING },
	{ "connecttimeout", SSHCFG_CONNECT_TIMEOUT },
	{ "serveraliveinterval", SSHCFG_SERVER_ALIVE_INTERVAL },
	{ "serveralivecountmax", SSHCFG_SERVER_ALIVE_COUNT_MAX },
	{ "identityfile", OPT_IDENTITY_FILE },
	{ "proxycommand", OPT_PROXY_COMMAND },
	{ "canonicalizehostname", OPT_CANONICALIZE },
};

static void sshconfig_ent_free(struct sshcfg_ent *e);
static int sshconfig_read_file(struct sshcfg_loader *ld, const char *path, const char *from,
    int userconf, int must_exist, char **cause);

static struct sshcfg_ent *
sshconfig_add(struct sshconfig *cfg, enum sshcfg_kind kind)
{
	struct sshcfg_ent *e;

	if (cfg->nents == cfg->alloc) {
		cfg->alloc = cfg->alloc ? cfg->alloc * 2 : 64;
		cfg->ents = xrealloc(cfg->ents, cfg->alloc * sizeof(*cfg->ents));
	}
	e = &cfg->ents[cfg->nents++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	return e;
}

/*
 * Split the arguments of a line like OpenSSH's argv_split: blanks separate, "..." and '...'
 * quote, \" \' \\ and "\ " escape, a '#' starting an argument ends the line.
 * 0, or -1 on an unterminated quote.
 */
static int
sshconfig_split(const char *s, char ***argv, size_t *argc)
{
	size_t i = 0;

	*argv = NULL;
	*argc = 0;
	while (s[i] != '\0') {
		struct buf b;
		char quote = 0;

		if (s[i] == ' ' || s[i] == '\t') {
			i++;
			continue;
		}
		if (s[i] == '#')
			break;
		buf_init(&b, 0);
		for (; s[i] != '\0'; i++) {
			char c = s[i];

			if (c == '\\' && (s[i + 1] == '\'' || s[i + 1] == '"' || s[i + 1] == '\\' ||
			    (quote == 0 && s[i + 1] == ' '))) {
				i++;
				buf_add(&b, &s[i], 1);
			} else if (quote == 0 && (c == ' ' || c == '\t'))
				break;
			else if (quote == 0 && (c == '"' || c == '\''))
				quote = c;
			else if (quote != 0 && c == quote)
				quote = 0;
			else
				buf_add(&b, &c, 1);
		}
		strv_push(argv, argc, buf_detach(&b));
		if (quote != 0) {
			strv_free(*argv);
			*argv = NULL;
			*argc = 0;
			return -1;
		}
	}
	return 0;
}

/* OpenSSH's convtime: "90", "1m30s", "2h", "1w"; -1 if malformed. */
static long
sshconfig_convtime(const char *s)
{
	long total = 0;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		long v = 0, mult = 1;

		if (!isdigit((unsigned char)*s))
			return -1;
		while (isdigit((unsigned char)*s)) {
			v = v * 10 + (*s++ - '0');
			if (v > INT_MAX)
				return -1;
		}
		switch (*s) {
		case '\0': break;
		case 's': case 'S': s++; break;
		case 'm': case 'M': mult = 60; s++; break;
		case 'h': case 'H': mult = 3600; s++; break;
		case 'd': case 'D': mult = 86400; s++; break;
		case 'w': case 'W': mult = 604800; s++; break;
		default: return -1;
		}
		if (v > INT_MAX / mult || total > INT_MAX - v * mult)
			return -1;
		total += v * mult;
	}
	return total;
}

/* Value of an option line, normalised; *out NULL means "none" (leave unset).  0 / -1 with *msg. */
static int
sshconfig_option_value(int opt, const char *kw, char **argv, size_t argc, const char *raw,
    char **out, char **msg)
{
	long v;

	*out = NULL;
	if (argc == 0 || argv[0][0] == '\0')
		return set_cause(msg, -1, "missing argument for %s", kw);
	switch (opt) {
	case SSHCFG_PROXYJUMP:
	case OPT_PROXY_COMMAND: {
		/* The rest of the line as written, like OpenSSH. */
		char *s = xstrdup(raw), *t;

		if (opt == SSHCFG_PROXYJUMP && (t = strchr(s, '#')) != NULL)
			*t = '\0';
		t = str_trim(s);
		*out = xstrdup(t);
		free(s);
		return 0;
	}
	case SSHCFG_USER_KNOWN_HOSTS_FILE:
	case SSHCFG_GLOBAL_KNOWN_HOSTS_FILE: {
		size_t i;

		for (i = 0; i < argc; i++) {
			if (argv[i][0] == '\0')
				return set_cause(msg, -1, "empty argument for %s", kw);
			if (strcasecmp(argv[i], "none") == 0 && argc > 1)
				return set_cause(msg, -1, "%s \"none\" must appear alone", kw);
		}
		*out = xstrdup(argv[0]);
		return 0;
	}
	default:
		break;
	}
	if (argc > 1)
		return set_cause(msg, -1, "extra arguments at end of line for %s", kw);
	switch (opt) {
	case SSHCFG_PORT:
		if (parse_long(argv[0], 1, 65535, &v) < 0)
			return set_cause(msg, -1, "bad port '%s'", argv[0]);
		*out = xasprintf("%ld", v);
		return 0;
	case SSHCFG_IDENTITIES_ONLY:
		if (strcasecmp(argv[0], "yes") == 0 || strcasecmp(argv[0], "true") == 0)
			*out = xstrdup("yes");
		else if (strcasecmp(argv[0], "no") == 0 || strcasecmp(argv[0], "false") == 0)
			*out = xstrdup("no");
		else
			return set_cause(msg, -1, "bad %s value '%s'", kw, argv[0]);
		return 0;
	case SSHCFG_STRICT_HOST_KEY_CHECKING:
		if (strcasecmp(argv[0], "yes") == 0 || strcasecmp(argv[0], "true") == 0 ||
		    strcasecmp(argv[0], "ask") == 0)
			*out = xstrdup("yes");
		else if (strcasecmp(argv[0], "no") == 0 || strcasecmp(argv[0], "false") == 0 ||
		    strcasecmp(argv[0], "off") == 0)
			*out = xstrdup("no");
		else if (strcasecmp(argv[0], "accept-new") == 0)
			*out = xstrdup("accept-new");
		else
			return set_cause(msg, -1, "bad %s value '%s'", kw, argv[0]);
		return 0;
	case OPT_CANONICALIZE:
		/* Only remember whether it is on: that is what fleetctl cannot follow. */
		if (strcasecmp(argv[0], "yes") == 0 || strcasecmp(argv[0], "always") == 0 ||
		    strcasecmp(argv[0], "true") == 0)
			*out = xstrdup("yes");
		else if (strcasecmp(argv[0], "no") == 0 || strcasecmp(argv[0], "false") == 0)
			*out = xstrdup("no");
		else
			return set_cause(msg, -1, "bad %s value '%s'", kw, argv[0]);
		return 0;
	case SSHCFG_CONNECT_TIMEOUT:
	case SSHCFG_SERVER_ALIVE_INTERVAL:
		/* "none" is OpenSSH's "unset": a later line may still set it. */
		if (strcmp(argv[0], "none") == 0)
			return 0;
		if ((v = sshconfig_convtime(argv[0])) < 0)
			return set_cause(msg, -1, "bad time value '%s' for %s", argv[0], kw);
		*out = xasprintf("%ld", v);
		return 0;
	case SSHCFG_SERVER_ALIVE_COUNT_MAX:
		if (parse_long(argv[0], 0, INT_MAX, &v) < 0)
			return set_cause(msg, -1, "bad integer '%s' for %s", argv[0], kw);
		*out = xasprintf("%ld", v);
		return 0;
	default:
		*out = xstrdup(argv[0]);
		return 0;
	}
}

static int
sshconfig_parse_match(struct sshcfg_ent *e, char **argv, size_t argc, char **msg)
{
	size_t i;

	if (argc == 0)
		return set_cause(msg, -1, "missing criteria for Match");
	e->crit = xcalloc(argc, sizeof(*e->crit));
	for (i = 0; i < argc; i++) {
		struct sshcfg_crit *c = &e->crit[e->ncrit++];
		const char *a = argv[i];

		c->negate = a[0] == '!';
		if (c->negate)
			a++;
		c->name = xstrdup(a);
		if (strcasecmp(a, "all") == 0) {
			if (argc - i > 1 || e->ncrit > 2)
				return set_cause(msg, -1, "'all' cannot be combined with other Match criteria");
			c->attr = ATTR_ALL;
			continue;
		}
		if (strcasecmp(a, "canonical") == 0 || strcasecmp(a, "final") == 0) {
			c->attr = ATTR_UNSUPPORTED;
			continue;
		}
		if (i + 1 >= argc || argv[i + 1][0] == '\0')
			return set_cause(msg, -1, "missing argument for Match %s", a);
		c->arg = xstrdup(argv[++i]);
		if (strcasecmp(a, "host") == 0)
			c->attr = ATTR_HOST;
		else if (strcasecmp(a, "originalhost") == 0)
			c->attr = ATTR_ORIGINALHOST;
		else if (strcasecmp(a, "user") == 0)
			c->attr = ATTR_USER;
		else if (strcasecmp(a, "localuser") == 0)
			c->attr = ATTR_LOCALUSER;
		else
			c->attr = ATTR_UNSUPPORTED;
	}
	return 0;
}

/* Include: each argument is a glob, relative to ~/.ssh (user files) or /etc/ssh. */
static int
sshconfig_include(struct sshcfg_loader *ld, const char *origin, char **argv, size_t argc,
    int userconf, char **cause)
{
	size_t i, j;
	int rc = -1;

	if (argc == 0)
		return set_cause(cause, -1, "%s: missing argument for Include", origin);
	for (i = 0; i < argc; i++) {
		glob_t gl;
		char *pat;
		int r;

		if (argv[i][0] == '\0')
			return set_cause(cause, -1, "%s: empty argument for Include", origin);
		if (argv[i][0] == '~' && !userconf)
			return set_cause(cause, -1, "%s: bad include path '%s'", origin, argv[i]);
		if (argv[i][0] != '/' && argv[i][0] != '~')
			pat = xasprintf("%s/%s", userconf ? "~/.ssh" : "/etc/ssh", argv[i]);
		else
			pat = xstrdup(argv[i]);
		/* GLOB_TILDE reads $HOME, as OpenSSH's glob does. */
		memset(&gl, 0, sizeof(gl));
		r = glob(pat, GLOB_TILDE, NULL, &gl);
		free(pat);
		if (r == GLOB_NOMATCH)
			continue;
		if (r != 0) {
			globfree(&gl);
			return set_cause(cause, -1, "%s: cannot expand include '%s'", origin, argv[i]);
		}
		for (j = 0; j < gl.gl_pathc; j++) {
			sshconfig_add(ld->cfg, ENT_PUSH);
			r = sshconfig_read_file(ld, gl.gl_pathv[j], origin, userconf, 0, cause);
			sshconfig_add(ld->cfg, ENT_POP);
			if (r < 0) {
				globfree(&gl);
				goto out;
			}
		}
		globfree(&gl);
	}
	rc = 0;
out:
	return rc;
}

static int
sshconfig_keyword(const char *kw)
{
	size_t i;

	for (i = 0; i < sizeof(sshcfg_keywords) / sizeof(sshcfg_keywords[0]); i++)
		if (strcasecmp(kw, sshcfg_keywords[i].name) == 0)
			return sshcfg_keywords[i].opt;
	return -1;
}

/* One line; 0 / -1 with *cause = "FILE:LINE: message". */
static int
sshconfig_line(struct sshcfg_loader *ld, const char *path, int lineno, char *line, int userconf,
    char **cause)
{
	char *p = line, *kw, *rest, **argv = NULL, *msg = NULL, *origin = NULL, *value = NULL;
	size_t argc = 0, n;
	int opt, is_host, is_match, is_include, rc = -1;
	struct sshcfg_ent *e;

	n = strlen(p);
	while (n > 0 && strchr(" \t\r\n\f", p[n - 1]) != NULL)
		p[--n] = '\0';
	p += strspn(p, " \t\r\n");
	if (*p == '\0' || *p == '#')
		return 0;
	/* The keyword ends at a blank, a quote or '='; one '=' may separate it from the rest. */
	kw = p;
	p += strcspn(p, " \t\"=");
	if (*p == '=') {
		*p++ = '\0';
	} else if (*p != '\0') {
		*p++ = '\0';
		p += strspn(p, " \t");
		if (*p == '=')
			p++;
	}
	p += strspn(p, " \t");
	rest = p;
	is_host = strcasecmp(kw, "host") == 0;
	is_match = strcasecmp(kw, "match") == 0;
	is_include = strcasecmp(kw, "include") == 0;
	opt = sshconfig_keyword(kw);
	if (!is_host && !is_match && !is_include && opt < 0)
		return 0;   /* a keyword fleetctl does not use: ssh's business */
	origin = xasprintf("%s:%d", path, lineno);
	if (*rest == '\0') {
		set_cause(cause, -1, "%s: no argument after keyword '%s'", origin, kw);
		goto out;
	}
	if (sshconfig_split(rest, &argv, &argc) < 0) {
		set_cause(cause, -1, "%s: unterminated quote", origin);
		goto out;
	}
	if (is_include) {
		rc = sshconfig_include(ld, origin, argv, argc, userconf, cause);
		goto out;
	}
	if (is_host) {
		if (argc == 0) {
			set_cause(cause, -1, "%s: missing pattern for Host", origin);
			goto out;
		}
		for (n = 0; n < argc; n++) {
			if (argv[n][0] == '\0' || strcmp(argv[n], "!") == 0) {
				set_cause(cause, -1, "%s: empty pattern for Host", origin);
				goto out;
			}
		}
		e = sshconfig_add(ld->cfg, ENT_HOST);
		e->pats = argv;
		e->npats = argc;
		argv = NULL;
		e->origin = origin;
		origin = NULL;
		rc = 0;
		goto out;
	}
	if (is_match) {
		e = sshconfig_add(ld->cfg, ENT_MATCH);
		e->origin = origin;
		origin = NULL;
		if (sshconfig_parse_match(e, argv, argc, &msg) < 0) {
			set_cause(cause, -1, "%s: %s", e->origin, msg);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (sshconfig_option_value(opt, kw, argv, argc, rest, &value, &msg) < 0) {
		set_cause(cause, -1, "%s: %s", origin, msg);
		goto out;
	}
	e = sshconfig_add(ld->cfg, ENT_OPT);
	e->opt = opt;
	e->value = value;
	value = NULL;
	e->userconf = userconf;
	e->origin = origin;
	origin = NULL;
	rc = 0;
out:
	strv_free(argv);
	free(msg);
	free(origin);
	free(value);
	return rc;
}

/*
 * Read one file into the entry list.  `from` is the "FILE:LINE" of the Include that names it (NULL
 * for a top-level file): problems with the file itself are reported there, problems inside it at
 * its own lines.
 */
static int
sshconfig_read_file(struct sshcfg_loader *ld, const char *path, const char *from, int userconf,
    int must_exist, char **cause)
{
	const char *sep = from != NULL ? ": " : "";

	char *text = NULL, *line, *next, *real = NULL;
	struct stat st;
	int lineno = 0, i, rc = -1;

	if (ld->depth > SSHCFG_MAX_DEPTH)
		return set_cause(cause, -1, "%s%stoo many nested includes (limit %d) at '%s'",
		    from ? from : "", sep, SSHCFG_MAX_DEPTH, path);
	if (stat(path, &st) < 0) {
		if (!must_exist && (errno == ENOENT || errno == ENOTDIR))
			return 0;
		return set_cause(cause, -1, "%s%scannot open '%s': %s", from ? from : "", sep, path,
		    strerror(errno));
	}
	if (S_ISDIR(st.st_mode)) {
		/* ssh reads a directory as an empty file; only an explicit -F one is a mistake */
		if (!must_exist)
			return 0;
		return set_cause(cause, -1, "cannot open '%s': %s", path, strerror(EISDIR));
	}
	real = realpath(path, NULL);
	if (real == NULL)
		return set_cause(cause, -1, "%s%scannot open '%s': %s", from ? from : "", sep, path,
		    strerror(errno));
	for (i = 0; i < ld->depth; i++) {
		if (strcmp(ld->stack[i], real) == 0) {
			set_cause(cause, -1, "%s%sinclude loop: '%s' is already being read", from ? from : "",
			    sep, path);
			goto out;
		}
	}
	if (read_file(path, SSHCFG_MAX_FILE, &text, NULL) < 0) {
		set_cause(cause, -1, "%s%scannot read '%s': %s", from ? from : "", sep, path,
		    strerror(errno));
		goto out;
	}
	ld->stack[ld->depth++] = real;
	for (line = text; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		if (sshconfig_line(ld, path, lineno, line, userconf, cause) < 0) {
			ld->depth--;
			goto out;
		}
	}
	ld->depth--;
	rc = 0;
out:
	free(text);
	free(real);
	return rc;
}

static void
sshconfig_local_facts(struct sshconfig *cfg)
{
	struct passwd *pw = getpwuid(getuid());
	const char *home = getenv("HOME");
	char host[256];

	/* $HOME first so tests and sudo-less setups can point it elsewhere; OpenSSH uses pw_dir. */
	if (home != NULL && home[0] == '/')
		cfg->home = xstrdup(home);
	else
		cfg->home = xstrdup(pw != NULL ? pw->pw_dir : "/");
	cfg->localuser = xstrdup(pw != NULL ? pw->pw_name : "unknown");
	cfg->uid = xasprintf("%lu", (unsigned long)getuid());
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	cfg->thishost = xstrdup(host);
	host[strcspn(host, ".")] = '\0';
	cfg->shorthost = xstrdup(host);
}

int
sshconfig_load(const char *path, struct sshconfig **out, char **cause)
{
	struct sshconfig *cfg = xcalloc(1, sizeof(*cfg));
	struct sshcfg_loader ld;
	char *user = NULL;
	int rc = -1;

	*out = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	sshconfig_local_facts(cfg);
	if (path != NULL && strcasecmp(path, "none") == 0) {
		rc = 0;
	} else if (path != NULL) {
		sshconfig_add(cfg, ENT_FILE);
		rc = sshconfig_read_file(&ld, path, NULL, 1, 1, cause);
	} else {
		user = xasprintf("%s/.ssh/config", cfg->home);
		sshconfig_add(cfg, ENT_FILE);
		if (sshconfig_read_file(&ld, user, NULL, 1, 0, cause) < 0)
			goto out;
		sshconfig_add(cfg, ENT_FILE);
		rc = sshconfig_read_file(&ld, "/etc/ssh/ssh_config", NULL, 0, 0, cause);
	}
out:
	free(user);
	if (rc < 0) {
		sshconfig_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

static void
sshconfig_ent_free(struct sshcfg_ent *e)
{
	size_t i;

	strv_free(e->pats);
	for (i = 0; i < e->ncrit; i++) {
		free(e->crit[i].name);
		free(e->crit[i].arg);
	}
	free(e->crit);
	free(e->value);
	free(e->origin);
}

void
sshconfig_free(struct sshconfig *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nents; i++)
		sshconfig_ent_free(&cfg->ents[i]);
	free(cfg->ents);
	free(cfg->home);
	free(cfg->localuser);
	free(cfg->uid);
	free(cfg->thishost);
	free(cfg->shorthost);
	free(cfg);
}

/* OpenSSH's wildcard match: '*' and '?', case-sensitive. */
static int
sshconfig_wild(const char *s, const char *p)
{
	const char *star_p = NULL, *star_s = NULL;

	/* Iterative with one backtrack point: linear enough for host names. */
	for (;;) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (*p == '\0')
				return 1;
			star_p = p;
			star_s = s;
			continue;
		}
		if (*s == '\0')
			return *p == '\0';
		if (*p == '?' || *p == *s) {
			p++;
			s++;
			continue;
		}
		if (star_p == NULL)
			return 0;
		p = star_p;
		s = ++star_s;
	}
}

/*
 * A comma-separated pattern list, each pattern maybe negated: 1 if some pattern matched and no
 * negated one did, 0 otherwise.  `lower` lowercases the patterns (the string must already be).
 */
static int
sshconfig_match_list(const char *s, const char *list, int lower)
{
	char sub[1024];
	int positive = 0;

	while (*list != '\0') {
		int neg = *list == '!';
		size_t n = 0;

		if (neg)
			list++;
		while (*list != '\0' && *list != ',') {
			if (n + 1 >= sizeof(sub))
				return 0;   /* OpenSSH: too long never matches */
			sub[n++] = lower ? (char)tolower((unsigned char)*list) : *list;
			list++;
		}
		sub[n] = '\0';
		if (*list == ',')
			list++;
		if (sshconfig_wild(s, sub)) {
			if (neg)
				return 0;
			positive = 1;
		}
	}
	return positive;
}

static void
sshconfig_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Values the tokens stand for, for one host. */
struct sshcfg_tokens {
	const char *h, *n, *p, *r;
	const struct sshconfig *cfg;
};

enum sshcfg_expand_mode {
	EXP_NONE,       /* no %-tokens */
	EXP_HOSTNAME,   /* %h and %% (HostName) */
	EXP_ALL,        /* ssh_config(5)'s common set but %C: %% %d %h %i %k %L %l %n %p %r %u */
};

/* Expand %-tokens per `mode`, ${VAR} when `dollar`, a leading ~ when `tilde`.  0 / -1 with *msg. */
static int
sshconfig_expand(const char *in, const struct sshcfg_tokens *t, enum sshcfg_expand_mode mode,
    int dollar, int tilde, char **out, char **msg)
{
	int hostname_only = mode == EXP_HOSTNAME;

	struct buf b;
	const char *s = in;
	int rc = -1;

	*out = NULL;
	buf_init(&b, 0);
	if (tilde && s[0] == '~') {
		const char *slash = strchr(s, '/');
		size_t ulen = slash != NULL ? (size_t)(slash - s - 1) : strlen(s + 1);

		if (ulen == 0) {
			buf_adds(&b, t->cfg->home);
		} else {
			char *u = xstrndup(s + 1, ulen);
			struct passwd *pw = getpwnam(u);

			if (pw == NULL) {
				set_cause(msg, -1, "no such user '%s' in '%s'", u, in);
				free(u);
				goto out;
			}
			free(u);
			buf_adds(&b, pw->pw_dir);
		}
		s += 1 + ulen;
		/* ~, ~/ and ~/x: exactly one slash after the home directory */
		while (*s == '/')
			s++;
		if (b.len == 0 || b.data[b.len - 1] != '/')
			buf_adds(&b, "/");
	}
	while (*s != '\0') {
		const char *v = NULL;

		if (dollar && s[0] == '$' && s[1] == '{') {
			const char *end = strchr(s + 2, '}');
			char *name;

			if (end == NULL) {
				set_cause(msg, -1, "unterminated ${ in '%s'", in);
				goto out;
			}
			name = xstrndup(s + 2, (size_t)(end - s - 2));
			v = getenv(name);
			if (v == NULL) {
				set_cause(msg, -1, "environment variable '%s' is not set", name);
				free(name);
				goto out;
			}
			free(name);
			buf_adds(&b, v);
			s = end + 1;
			continue;
		}
		if (*s != '%' || mode == EXP_NONE) {
			buf_add(&b, s++, 1);
			continue;
		}
		switch (s[1]) {
		case '%': v = "%"; break;
		case 'h': v = t->h; break;
		case 'n': case 'k': if (!hostname_only) v = t->n; break;
		case 'p': if (!hostname_only) v = t->p; break;
		case 'r': if (!hostname_only) v = t->r; break;
		case 'u': if (!hostname_only) v = t->cfg->localuser; break;
		case 'd': if (!hostname_only) v = t->cfg->home; break;
		case 'i': if (!hostname_only) v = t->cfg->uid; break;
		case 'l': if (!hostname_only) v = t->cfg->thishost; break;
		case 'L': if (!hostname_only) v = t->cfg->shorthost; break;
		default: break;
		}
		if (v == NULL) {
			if (s[1] == '\0')
				set_cause(msg, -1, "'%%' at end of '%s'", in);
			else
				set_cause(msg, -1, "unsupported token '%%%c' in '%s'", s[1], in);
			goto out;
		}
		buf_adds(&b, v);
		s += 2;
	}
	*out = buf_detach(&b);
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

static int
sshconfig_is_addr(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static void
sshconfig_warn(struct sshcfg_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sshconfig_warn(struct sshcfg_result *res, const char *fmt, ...)
{
	va_list ap;
	char *w, *all;

	va_start(ap, fmt);
	w = xvasprintf(fmt, ap);
	va_end(ap);
	if (res->warning == NULL) {
		res->warning = w;
		return;
	}
	if (strstr(res->warning, w) == NULL) {
		all = xasprintf("%s; %s", res->warning, w);
		free(res->warning);
		res->warning = all;
	}
	free(w);
}

/* Where resolution stands while walking the entries. */
struct sshcfg_walk {
	const struct sshcfg_ent *got[SSHCFG__COUNT];
	const struct sshcfg_ent **ids;
	size_t nids;
	const struct sshcfg_ent *proxycommand;
	const struct sshcfg_ent *canonicalize;
	const char *name;
	const char *user;     /* caller's user, or NULL */
};

/* Match criteria against the state so far; 1 / 0, or -1 with *msg. */
static int
sshconfig_match(const struct sshconfig *cfg, const struct sshcfg_ent *e, struct sshcfg_walk *w,
    struct sshcfg_result *res, char **msg)
{
	char *host = NULL, *lname = NULL;
	const char *ruser, *unsupported = NULL;
	int result = 1, r;
	size_t i;

	/* Match host sees the HostName obtained so far (%h = the name), as OpenSSH does. */
	if (w->got[SSHCFG_HOSTNAME] != NULL) {
		struct sshcfg_tokens t = { w->name, w->name, NULL, NULL, cfg };

		if (sshconfig_expand(w->got[SSHCFG_HOSTNAME]->value, &t, EXP_HOSTNAME, 0, 0, &host,
		    msg) < 0)
			return -1;
	} else
		host = xstrdup(w->name);
	sshconfig_lower(host);
	lname = xstrdup(w->name);
	sshconfig_lower(lname);
	if (w->user != NULL)
		ruser = w->user;
	else if (w->got[SSHCFG_USER] != NULL)
		ruser = w->got[SSHCFG_USER]->value;
	else
		ruser = cfg->localuser;
	for (i = 0; i < e->ncrit; i++) {
		const struct sshcfg_crit *c = &e->crit[i];

		switch (c->attr) {
		case ATTR_ALL:
			r = 1;
			break;
		case ATTR_HOST:
			r = sshconfig_match_list(host, c->arg, 1);
			break;
		case ATTR_ORIGINALHOST:
			r = sshconfig_match_list(lname, c->arg, 1);
			break;
		case ATTR_USER:
			r = sshconfig_match_list(ruser, c->arg, 0);
			break;
		case ATTR_LOCALUSER:
			r = sshconfig_match_list(cfg->localuser, c->arg, 0);
			break;
		default:
			if (unsupported == NULL)
				unsupported = c->name;
			continue;
		}
		if (r == c->negate)
			result = 0;
	}
	free(host);
	free(lname);
	/*
	 * An unsupported criterion (exec, canonical, final...) is never evaluated: the block is
	 * treated as not matching, and every host the other criteria do match gets a warning.
	 */
	if (unsupported != NULL) {
		if (result)
			sshconfig_warn(res, "%s: Match %s is not supported by fleetctl; set this host's "
			    "values in fleet.ini", e->origin, unsupported);
		return 0;
	}
	return result;
}

static int
sshconfig_host(const struct sshcfg_ent *e, const char *name)
{
	int active = 0;
	size_t i;

	for (i = 0; i < e->npats; i++) {
		const char *p = e->pats[i];
		int neg = p[0] == '!';

		if (sshconfig_wild(name, neg ? p + 1 : p)) {
			if (neg)
				return 0;
			active = 1;
		}
	}
	return active;
}

/* An option line in an applying block: first obtained value wins. */
static void
sshconfig_obtain(const struct sshcfg_ent *e, struct sshcfg_walk *w)
{
	size_t i;

	switch (e->opt) {
	case OPT_IDENTITY_FILE:
		/* OpenSSH drops a repeated file from the same kind of file (user or system). */
		for (i = 0; i < w->nids; i++)
			if (w->ids[i]->userconf == e->userconf && strcmp(w->ids[i]->value, e->value) == 0)
				return;
		if (w->nids >= SSHCFG_MAX_IDENTITIES)
			return;
		w->ids = xrealloc(w->ids, (w->nids + 1) * sizeof(*w->ids));
		w->ids[w->nids++] = e;
		return;
	case OPT_CANONICALIZE:
		if (w->canonicalize == NULL)
			w->canonicalize = e;
		return;
	case OPT_PROXY_COMMAND:
		/* ProxyCommand and ProxyJump exclude each other: whichever comes first wins. */
		if (w->proxycommand == NULL && w->got[SSHCFG_PROXYJUMP] == NULL)
			w->proxycommand = e;
		return;
	case SSHCFG_PROXYJUMP:
		if (w->proxycommand == NULL && w->got[SSHCFG_PROXYJUMP] == NULL)
			w->got[SSHCFG_PROXYJUMP] = e;
		return;
	default:
		/* A NULL value is "none" for a time: OpenSSH leaves the option unset. */
		if (e->value != NULL && w->got[e->opt] == NULL)
			w->got[e->opt] = e;
		return;
	}
}

static int
sshconfig_set(struct sshcfg_value *v, const struct sshcfg_ent *e, const struct sshcfg_tokens *t,
    enum sshcfg_expand_mode mode, int path, char **cause)
{
	char *msg = NULL;

	if (path && strcasecmp(e->value, "none") == 0) {
		v->value = xstrdup("none");
	} else if (sshconfig_expand(e->value, t, mode, path && mode == EXP_ALL, path, &v->value,
	    &msg) < 0) {
		set_cause(cause, -1, "%s: %s", e->origin, msg);
		free(msg);
		return -1;
	}
	v->origin = xstrdup(e->origin);
	return 0;
}

int
sshconfig_resolve(const struct sshconfig *cfg, const char *name, const char *user, int port,
    struct sshcfg_result *res, char **cause)
{
	struct sshcfg_walk w;
	struct {
		int active, never;
	} stack[SSHCFG_MAX_DEPTH + 2];
	int sp = 0, active = 1, never = 0, rc = -1, k;
	char *msg = NULL, *host = NULL, portbuf[16];
	struct sshcfg_tokens t;
	size_t i;

	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	w.name = name;
	w.user = user;
	for (i = 0; i < cfg->nents; i++) {
		const struct sshcfg_ent *e = &cfg->ents[i];

		switch (e->kind) {
		case ENT_FILE:
			active = 1;
			never = 0;
			sp = 0;
			break;
		case ENT_PUSH:
			if (sp < (int)(sizeof(stack) / sizeof(stack[0]))) {
				stack[sp].active = active;
				stack[sp].never = never;
				sp++;
			}
			if (!active)
				never = 1;
			break;
		case ENT_POP:
			if (sp > 0) {
				sp--;
				active = stack[sp].active;
				never = stack[sp].never;
			}
			break;
		case ENT_HOST:
			active = never ? 0 : sshconfig_host(e, name);
			break;
		case ENT_MATCH:
			if (never) {
				active = 0;
				break;
			}
			active = sshconfig_match(cfg, e, &w, res, &msg);
			if (active < 0) {
				set_cause(cause, -1, "%s: %s", e->origin, msg);
				goto out;
			}
			break;
		case ENT_OPT:
			if (active)
				sshconfig_obtain(e, &w);
			break;
		}
	}
	if (w.proxycommand != NULL && strcasecmp(w.proxycommand->value, "none") != 0)
		sshconfig_warn(res, "%s: ProxyCommand is not supported by fleetctl; use ProxyJump or "
		    "set this host's values in fleet.ini", w.proxycommand->origin);
	if (w.canonicalize != NULL && strcmp(w.canonicalize->value, "yes") == 0)
		sshconfig_warn(res, "%s: CanonicalizeHostname is not supported by fleetctl; set this "
		    "host's values in fleet.ini", w.canonicalize->origin);

	/* The values tokens stand for, as ssh computes them after reading the configuration. */
	memset(&t, 0, sizeof(t));
	t.cfg = cfg;
	t.n = name;
	t.h = name;
	if (w.got[SSHCFG_HOSTNAME] != NULL) {
		if (sshconfig_set(&res->v[SSHCFG_HOSTNAME], w.got[SSHCFG_HOSTNAME], &t, EXP_HOSTNAME, 0,
		    cause) < 0)
			goto out;
		host = xstrdup(res->v[SSHCFG_HOSTNAME].value);
	} else
		host = xstrdup(name);
	/* ssh lowercases the name it connects to, unless it is an address */
	if (!sshconfig_is_addr(host))
		sshconfig_lower(host);
	if (res->v[SSHCFG_HOSTNAME].value != NULL) {
		free(res->v[SSHCFG_HOSTNAME].value);
		res->v[SSHCFG_HOSTNAME].value = xstrdup(host);
	}
	t.h = host;
	if (port > 0)
		snprintf(portbuf, sizeof(portbuf), "%d", port);
	else if (w.got[SSHCFG_PORT] != NULL)
		snprintf(portbuf, sizeof(portbuf), "%s", w.got[SSHCFG_PORT]->value);
	else
		snprintf(portbuf, sizeof(portbuf), "22");
	t.p = portbuf;
	if (user != NULL)
		t.r = user;
	else if (w.got[SSHCFG_USER] != NULL)
		t.r = w.got[SSHCFG_USER]->value;
	else
		t.r = cfg->localuser;

	for (k = 0; k < SSHCFG__COUNT; k++) {
		enum sshcfg_expand_mode mode = EXP_NONE;
		int path = 0;

		if (k == SSHCFG_HOSTNAME || w.got[k] == NULL)
			continue;
		if (k == SSHCFG_USER_KNOWN_HOSTS_FILE ||
		    (k == SSHCFG_IDENTITY_AGENT && strcmp(w.got[k]->value, "SSH_AUTH_SOCK") != 0)) {
			mode = EXP_ALL;
			path = 1;
		} else if (k == SSHCFG_GLOBAL_KNOWN_HOSTS_FILE) {
			path = 1;   /* ssh expands only ~ here */
		}
		if (sshconfig_set(&res->v[k], w.got[k], &t, mode, path, cause) < 0)
			goto out;
	}
	if (w.nids > 0) {
		res->identity_files = xcalloc(w.nids, sizeof(*res->identity_files));
		for (i = 0; i < w.nids; i++) {
			if (sshconfig_set(&res->identity_files[i], w.ids[i], &t, EXP_ALL, 1, cause) < 0)
				goto out;
			res->nidentity_files++;
		}
	}
	rc = 0;
out:
	free(w.ids);
	free(msg);
	free(host);
	if (rc < 0)
		sshcfg_result_free(res);
	return rc;
}

void
sshcfg_result_free(struct sshcfg_result *res)
{
	size_t i;

	if (res == NULL)
		return;
	for (i = 0; i < SSHCFG__COUNT; i++) {
		free(res->v[i].value);
		free(res->v[i].origin);
	}
	for (i = 0; i < res->nidentity_files; i++) {
		free(res->identity_files[i].value);
		free(res->identity_files[i].origin);
	}
	free(res->identity_files);
	free(res->warning);
	memset(res, 0, sizeof(*res));
}
