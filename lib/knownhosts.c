/* knownhosts: find a host's recorded key types and lines in known_hosts; append accepted keys safely. */
#define OPENSSL_SUPPRESS_DEPRECATED   /* SHA1_Init & co: a hashed entry's HMAC from prepared states */
#include "knownhosts.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define KH_FILE_MAX ((size_t)1 << 30)   /* bytes: a known_hosts larger than this is not read */

struct kh_entry {
	const char *keytype;   /* into the file's text */
	const char *key_b64;
	size_t line;
};

/* One name of a plain host list, in the hash table; neg: it was "!name". */
struct kh_slot {
	const char *name;
	uint32_t hash;
	uint32_t entry;
	bool neg;
};

/* A hashed entry: HMAC-SHA1 states after the salt's inner and outer pad, and the wanted digest. */
struct kh_hashed {
	SHA_CTX inner, outer;
	unsigned char want[SHA_DIGEST_LENGTH];
	uint32_t entry;
};

/* A key accepted during the run (accept-new), under the db's lock. */
struct kh_added {
	char *name;            /* "host" or "[host]:port" */
	char *keytype, *key_b64;
	size_t line;
};

struct kh_file {
	char *path;
	char *text;            /* the whole file, cut into fields in place */
	size_t len;
	struct kh_entry *e;
	size_t ne;
	struct kh_slot *slots; /* open addressing, nslots a power of two (or 0) */
	size_t nslots, nused;
	struct kh_hashed *h;
	size_t nh;
	size_t lines;          /* lines in the file when it was read */
	struct kh_added *added;
	size_t nadded;
};

struct kh_db {
	struct kh_file *files;
	size_t nfiles;
	pthread_mutex_t lock;  /* for every file's added list */
};

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

/* FNV-1a */
static uint32_t
kh_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static void
kh_slot_put(struct kh_file *f, const char *name, uint32_t entry, bool neg)
{
	struct kh_slot *s;
	uint32_t hash = kh_hash(name);

	if ((f->nused + 1) * 2 > f->nslots) {
		size_t nslots = f->nslots ? f->nslots * 2 : 64;
		struct kh_slot *old = f->slots;

		f->slots = xcalloc(nslots, sizeof(*f->slots));
		for (size_t i = 0; i < f->nslots; i++) {
			if (old[i].name == NULL)
				continue;
			for (size_t j = old[i].hash & (nslots - 1);; j = (j + 1) & (nslots - 1))
				if (f->slots[j].name == NULL) {
					f->slots[j] = old[i];
					break;
				}
		}
		free(old);
		f->nslots = nslots;
	}
	for (size_t j = hash & (f->nslots - 1);; j = (j + 1) & (f->nslots - 1)) {
		s = &f->slots[j];
		if (s->name == NULL)
			break;
	}
	s->name = name;
	s->hash = hash;
	s->entry = entry;
	s->neg = neg;
	f->nused++;
}

/* |1|base64(salt)|base64(hmac-sha1(salt, name)): prepare the HMAC's two pad states.  -1 = never matches. */
static int
kh_hashed_prepare(const char *field, struct kh_hashed *out)
{
	char *copy = xstrdup(field + 3), *bar;
	unsigned char salt[64], want[64], pad[SHA_CBLOCK];
	size_t saltlen, wantlen;
	int rc = -1;

	bar = strchr(copy, '|');
	if (bar == NULL)
		goto out;
	*bar = '\0';
	if (kh_b64_decode(copy, salt, sizeof(salt), &saltlen) < 0 ||
	    kh_b64_decode(bar + 1, want, sizeof(want), &wantlen) < 0 || wantlen != SHA_DIGEST_LENGTH)
		goto out;
	/* the salt is at most 63 bytes: shorter than SHA-1's block, so it is the HMAC key as it is */
	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < saltlen; i++)
		pad[i] ^= salt[i];
	SHA1_Init(&out->inner);
	SHA1_Update(&out->inner, pad, sizeof(pad));
	memset(pad, 0x5c, sizeof(pad));
	for (size_t i = 0; i < saltlen; i++)
		pad[i] ^= salt[i];
	SHA1_Init(&out->outer);
	SHA1_Update(&out->outer, pad, sizeof(pad));
	memcpy(out->want, want, SHA_DIGEST_LENGTH);
	rc = 0;
out:
	free(copy);
	return rc;
}

static bool
kh_hashed_match(const struct kh_hashed *h, const char *name)
{
	SHA_CTX c;
	unsigned char d[SHA_DIGEST_LENGTH];

	c = h->inner;
	SHA1_Update(&c, name, strlen(name));
	SHA1_Final(d, &c);
	c = h->outer;
	SHA1_Update(&c, d, sizeof(d));
	SHA1_Final(d, &c);
	return memcmp(d, h->want, sizeof(d)) == 0;
}

/* Cut text into lines and fields; index every entry. */
static void
kh_file_parse(struct kh_file *f)
{
	char *p = f->text, *end = f->text + f->len;
	size_t lineno = 0;

	while (p < end) {
		/* A NUL ends what is read of its line, as it did for getline + strtok. */
		char *nl = memchr(p, '\n', (size_t)(end - p)), *next = nl != NULL ? nl + 1 : end, *fields[3], *save = NULL, *q = p;
		int nf = 0;

		lineno++;
		if (nl != NULL)
			*nl = '\0';
		p = next;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '#' || *q == '\0' || *q == '@')
			continue;
		for (char *tok = strtok_r(q, " \t\r", &save); tok != NULL && nf < 3; tok = strtok_r(NULL, " \t\r", &save))
			fields[nf++] = tok;
		if (nf < 3 || f->ne >= UINT32_MAX)
			continue;
		if ((f->ne & (f->ne - 1)) == 0)
			f->e = xrealloc(f->e, (f->ne ? f->ne * 2 : 1) * sizeof(*f->e));
		f->e[f->ne].keytype = fields[1];
		f->e[f->ne].key_b64 = fields[2];
		f->e[f->ne].line = lineno;
		if (strncmp(fields[0], "|1|", 3) == 0) {
			if ((f->nh & (f->nh - 1)) == 0)
				f->h = xrealloc(f->h, (f->nh ? f->nh * 2 : 1) * sizeof(*f->h));
			if (kh_hashed_prepare(fields[0], &f->h[f->nh]) == 0)
				f->h[f->nh++].entry = (uint32_t)f->ne;
		} else {
			/* A comma list of names; "!name" means "not this host".  Wildcards are not interpreted. */
			char *name = fields[0];

			for (char *c = name;; c++) {
				if (*c != ',' && *c != '\0')
					continue;
				{
					bool last = *c == '\0';

					*c = '\0';
					if (*name == '!' && name[1] != '\0')
						kh_slot_put(f, name + 1, (uint32_t)f->ne, true);
					else if (*name != '\0')
						kh_slot_put(f, name, (uint32_t)f->ne, false);
					if (last)
						break;
					name = c + 1;
				}
			}
		}
		f->ne++;
	}
	f->lines = lineno;
}

struct kh_db *
knownhosts_db_new(void)
{
	struct kh_db *db = xcalloc(1, sizeof(*db));

	pthread_mutex_init(&db->lock, NULL);
	return db;
}

static struct kh_file *
kh_db_file(const struct kh_db *db, const char *file)
{
	for (size_t i = 0; db != NULL && file != NULL && i < db->nfiles; i++)
		if (strcmp(db->files[i].path, file) == 0)
			return &db->files[i];
	return NULL;
}

int
knownhosts_db_has(const struct kh_db *db, const char *file)
{
	return kh_db_file(db, file) != NULL;
}

int
knownhosts_db_load(struct kh_db *db, const char *file)
{
	struct kh_file *f;
	char *text = NULL;
	size_t len = 0;
	int rc = 0;

	if (kh_db_file(db, file) != NULL)
		return 0;
	if (read_file(file, KH_FILE_MAX, &text, &len) != 0) {
		rc = errno == ENOENT ? 0 : -1;
		text = xstrdup("");
		len = 0;
	}
	db->files = xrealloc(db->files, (db->nfiles + 1) * sizeof(*db->files));
	f = &db->files[db->nfiles++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(file);
	f->text = text;
	f->len = len;
	kh_file_parse(f);
	return rc;
}

static int
kh_cmp_entry(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
kh_match_push(struct kh_match **m, size_t *count, const char *keytype, const char *key_b64, size_t line)
{
	*m = xrealloc(*m, (*count + 1) * sizeof(**m));
	memset(&(*m)[*count], 0, sizeof(**m));
	snprintf((*m)[*count].keytype, sizeof((*m)[*count].keytype), "%s", keytype);
	(*m)[*count].line = line;
	(*m)[*count].key_b64 = xstrdup(key_b64);
	(*count)++;
}

int
knownhosts_db_lookup(struct kh_db *db, const char *file, const char *host, int port, struct kh_match **out, size_t *n)
{
	struct kh_file *f = kh_db_file(db, file);
	char *name;
	uint32_t *hit = NULL, *neg = NULL, hash;
	size_t nhit = 0, nneg = 0, count = 0;
	struct kh_match *m = NULL;

	*out = NULL;
	*n = 0;
	if (f == NULL)
		return -1;
	name = kh_name(host, port);
	hash = kh_hash(name);
	for (size_t j = f->nslots ? hash & (f->nslots - 1) : 0; f->nslots > 0 && f->slots[j].name != NULL;
	    j = (j + 1) & (f->nslots - 1)) {
		const struct kh_slot *s = &f->slots[j];

		if (s->hash != hash || strcmp(s->name, name) != 0)
			continue;
		if (s->neg) {
			neg = xrealloc(neg, (nneg + 1) * sizeof(*neg));
			neg[nneg++] = s->entry;
		} else {
			hit = xrealloc(hit, (nhit + 1) * sizeof(*hit));
			hit[nhit++] = s->entry;
		}
	}
	for (size_t i = 0; i < f->nh; i++)
		if (kh_hashed_match(&f->h[i], name)) {
			hit = xrealloc(hit, (nhit + 1) * sizeof(*hit));
			hit[nhit++] = f->h[i].entry;
		}
	if (nhit > 1)
		qsort(hit, nhit, sizeof(*hit), kh_cmp_entry);
	for (size_t i = 0; i < nhit; i++) {
		bool skip = i > 0 && hit[i] == hit[i - 1];   /* a name twice on one line */

		for (size_t k = 0; k < nneg && !skip; k++)
			skip = neg[k] == hit[i];
		if (!skip)
			kh_match_push(&m, &count, f->e[hit[i]].keytype, f->e[hit[i]].key_b64, f->e[hit[i]].line);
	}
	pthread_mutex_lock(&db->lock);
	for (size_t i = 0; i < f->nadded; i++)
		if (strcmp(f->added[i].name, name) == 0)
			kh_match_push(&m, &count, f->added[i].keytype, f->added[i].key_b64, f->added[i].line);
	pthread_mutex_unlock(&db->lock);
	free(hit);
	free(neg);
	free(name);
	*out = m;
	*n = count;
	return (int)count;
}

int
knownhosts_db_accept(struct kh_db *db, const char *file, const char *host, int port, const char *keytype,
    const char *key_b64, size_t *line, char **cause)
{
	struct kh_file *f = kh_db_file(db, file);
	char *name = kh_name(host, port);
	int rc = -1;

	if (f == NULL) {
		free(name);
		return knownhosts_append(file, host, port, keytype, key_b64, cause);
	}
	pthread_mutex_lock(&db->lock);
	for (size_t i = 0; i < f->nadded; i++)
		if (strcmp(f->added[i].name, name) == 0 && strcmp(f->added[i].keytype, keytype) == 0) {
			if (line != NULL)
				*line = f->added[i].line;
			rc = strcmp(f->added[i].key_b64, key_b64) == 0 ? 1 : 2;
			goto out;
		}
	if (knownhosts_append(file, host, port, keytype, key_b64, cause) != 0)
		goto out;
	f->added = xrealloc(f->added, (f->nadded + 1) * sizeof(*f->added));
	f->added[f->nadded].name = name;
	name = NULL;
	f->added[f->nadded].keytype = xstrdup(keytype);
	f->added[f->nadded].key_b64 = xstrdup(key_b64);
	/* As far as this run knows: another process may have appended meanwhile. */
	f->added[f->nadded].line = f->lines + f->nadded + 1;
	if (line != NULL)
		*line = f->added[f->nadded].line;
	f->nadded++;
	rc = 0;
out:
	pthread_mutex_unlock(&db->lock);
	free(name);
	return rc;
}

void
knownhosts_db_free(struct kh_db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->nfiles; i++) {
		struct kh_file *f = &db->files[i];

		for (size_t k = 0; k < f->nadded; k++) {
			free(f->added[k].name);
			free(f->added[k].keytype);
			free(f->added[k].key_b64);
		}
		free(f->added);
		free(f->path);
		free(f->text);
		free(f->e);
		free(f->slots);
		free(f->h);
	}
	free(db->files);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

int
knownhosts_lookup(const char *file, const char *host, int port, struct kh_match **out, size_t *n)
{
	struct kh_db *db = knownhosts_db_new();
	int rc;

	*out = NULL;
	*n = 0;
	if (knownhosts_db_load(db, file) != 0)
		rc = -1;
	else
		rc = knownhosts_db_lookup(db, file, host, port, out, n);
	knownhosts_db_free(db);
	return rc;
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
	struct stat st;
	size_t len;

	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		mkdir_p(dir, 0700);
	}
	fd = open(file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_cause(cause, -1, "cannot open '%s': %s", file, strerror(errno));
		goto out;
	}
	/* Several workers (and processes) may accept keys at once: one whole line per write, under a lock. */
	if (flock(fd, LOCK_EX) < 0) {
		set_cause(cause, -1, "cannot lock '%s': %s", file, strerror(errno));
		goto out;
	}
	{
		/* A file whose last line has no newline would get our entry glued to that line. */
		char last = '\n';

		if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
			last = '\n';
		line = xasprintf("%s%s %s %s\n", last == '\n' ? "" : "\n", name, keytype, key_b64);
	}
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
