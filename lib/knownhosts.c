/* knownhosts: find a host's recorded key types and lines in known_hosts; append accepted keys safely. */
#include "knownhosts.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util.h"

/* The name known_hosts uses for host:port. */
static char *
kh_name(const char *host, int port)
{
	if (port == 22 || port == 0)
		return xstrdup(host);
	return xasprintf("[%s]:%d", host, port);
}

static int
kh_b64_decode(const char *in, unsigned char *out, size_t outsz, size_t *outlen)
{
	size_t len = strlen(in), pad = 0;
	int n;

	if (len == 0 || len % 4 != 0 || (len / 4) * 3 > outsz)
		return -1;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	*outlen = (size_t)n - pad;
	return 0;
}

/* |1|base64(salt)|base64(hmac-sha1(salt, name)) */
static int
kh_hashed_match(const char *field, const char *name)
{
	char *copy = xstrdup(field + 3), *bar;
	unsigned char salt[64], want[64], got[EVP_MAX_MD_SIZE];
	size_t saltlen, wantlen;
	unsigned int gotlen = 0;
	int match = 0;

	bar = strchr(copy, '|');
	if (bar == NULL)
		goto out;
	*bar = '\0';
	if (kh_b64_decode(copy, salt, sizeof(salt), &saltlen) < 0 ||
	    kh_b64_decode(bar + 1, want, sizeof(want), &wantlen) < 0)
		goto out;
	if (HMAC(EVP_sha1(), salt, (int)saltlen, (const unsigned char *)name, strlen(name), got, &gotlen) == NULL)
		goto out;
	match = gotlen == wantlen && memcmp(got, want, gotlen) == 0;
out:
	free(copy);
	return match;
}

/* A comma list of names; a `!name` match means "not this host".  Wildcards are not interpreted. */
static int
kh_hosts_match(const char *field, const char *name)
{
	char *copy, *p, *next;
	int match = 0;

	if (strncmp(field, "|1|", 3) == 0)
		return kh_hashed_match(field, name);
	copy = xstrdup(field);
	for (p = copy; p != NULL; p = next) {
		next = strchr(p, ',');
		if (next != NULL)
			*next++ = '\0';
		if (*p == '!' && strcmp(p + 1, name) == 0) {
			match = 0;
			break;
		}
		if (strcmp(p, name) == 0)
			match = 1;
	}
	free(copy);
	return match;
}

int
knownhosts_lookup(const char *file, const char *host, int port, struct kh_match **out, size_t *n)
{
	FILE *f;
	char *line = NULL, *name;
	size_t cap = 0, lineno = 0, count = 0;
	struct kh_match *m = NULL;

	*out = NULL;
	*n = 0;
	f = fopen(file, "re");
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	name = kh_name(host, port);
	while (getline(&line, &cap, f) > 0) {
		char *fields[3], *p = line, *save = NULL;
		int nf = 0;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0' || *p == '@')
			continue;
		for (char *tok = strtok_r(p, " \t\r\n", &save); tok != NULL && nf < 3;
		    tok = strtok_r(NULL, " \t\r\n", &save))
			fields[nf++] = tok;
		if (nf < 3 || !kh_hosts_match(fields[0], name))
			continue;
		m = xrealloc(m, (count + 1) * sizeof(*m));
		memset(&m[count], 0, sizeof(m[count]));
		snprintf(m[count].keytype, sizeof(m[count].keytype), "%s", fields[1]);
		m[count].line = lineno;
		m[count].key_b64 = xstrdup(fields[2]);
		count++;
	}
	free(line);
	free(name);
	fclose(f);
	*out = m;
	*n = count;
	return (int)count;
}

void
kh_matches_free(struct kh_match *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].key_b64);
	free(m);
}

int
knownhosts_append(const char *file, const char *host, int port, const char *keytype, const char *key_b64, char **cause)
{
	char *name = kh_name(host, port), *line = NULL, *dir = xstrdup(file), *slash;
	int fd = -1, rc = -1;
	size_t len;

	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		mkdir_p(dir, 0700);
	}
	fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_cause(cause, -1, "cannot open '%s': %s", file, strerror(errno));
		goto out;
	}
	/* Several workers (and processes) may accept keys at once: one whole line per write, under a lock. */
	if (flock(fd, LOCK_EX) < 0) {
		set_cause(cause, -1, "cannot lock '%s': %s", file, strerror(errno));
		goto out;
	}
	line = xasprintf("%s %s %s\n", name, keytype, key_b64);
	len = strlen(line);
	if (write(fd, line, len) != (ssize_t)len || fsync(fd) < 0) {
		set_cause(cause, -1, "cannot write '%s': %s", file, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(name);
	free(dir);
	return rc;
}
