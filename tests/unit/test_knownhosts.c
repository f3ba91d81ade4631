/* test_knownhosts: lib/knownhosts — known_hosts parsed once, looked up many times, keys accepted. */
#include "check.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/knownhosts.h"
#include "../../lib/util.h"

static char dir[] = "/tmp/test_knownhosts.XXXXXX";

static char *
path_of(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

/* "|1|salt|hash" for name, as ssh-keygen -H writes it. */
static char *
hashed(const char *name, const char *salt_text)
{
	unsigned char mac[20], s64[64], h64[64];
	unsigned int maclen = 0;

	HMAC(EVP_sha1(), salt_text, (int)strlen(salt_text), (const unsigned char *)name, strlen(name), mac, &maclen);
	EVP_EncodeBlock(s64, (const unsigned char *)salt_text, (int)strlen(salt_text));
	EVP_EncodeBlock(h64, mac, 20);
	return xasprintf("|1|%s|%s", s64, h64);
}

static size_t
count_lines(const char *path)
{
	char *text = NULL;
	size_t len = 0, n = 0;

	if (read_file(path, 1 << 20, &text, &len) != 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	free(text);
	return n;
}

static void
test_plain_port_and_order(void)
{
	char *p = path_of("plain");
	struct kh_db *db = knownhosts_db_new();
	struct kh_match *m;
	size_t n;

	write_text(p, "# comment\n"
	    "kiosk01 ssh-ed25519 AAAAkey1\n"
	    "@cert-authority *.example ssh-ed25519 AAAAca\n"
	    "[kiosk01]:2222 ecdsa-sha2-nistp256 AAAAkey2\n"
	    "other,kiosk01 ecdsa-sha2-nistp256 AAAAkey3 comment here\n"
	    "   \n"
	    "kiosk01,kiosk01 ssh-rsa AAAAkey4\n");
	CHECK(knownhosts_db_load(db, p) == 0);
	CHECK(knownhosts_db_has(db, p));
	CHECK(knownhosts_db_lookup(db, p, "kiosk01", 22, &m, &n) == 3);
	CHECK(n == 3);
	CHECK_STR(m[0].keytype, "ssh-ed25519");
	CHECK(m[0].line == 2);
	CHECK_STR(m[0].key_b64, "AAAAkey1");
	CHECK(m[1].line == 5);
	CHECK_STR(m[1].key_b64, "AAAAkey3");
	CHECK(m[2].line == 7);          /* a name twice on a line is one entry */
	kh_matches_free(m, n);
	CHECK(knownhosts_db_lookup(db, p, "kiosk01", 2222, &m, &n) == 1);
	CHECK(n == 1 && m[0].line == 4 && strcmp(m[0].keytype, "ecdsa-sha2-nistp256") == 0);
	kh_matches_free(m, n);
	CHECK(knownhosts_db_lookup(db, p, "kiosk02", 22, &m, &n) == 0);
	CHECK(m == NULL && n == 0);
	CHECK(knownhosts_db_lookup(db, "/nonexistent/not-loaded", "kiosk01", 22, &m, &n) == -1);
	knownhosts_db_free(db);
	free(p);
}

static void
test_negation_and_wildcards_literal(void)
{
	char *p = path_of("neg");
	struct kh_db *db = knownhosts_db_new();
	struct kh_match *m;
	size_t n;

	write_text(p, "kiosk01,!kiosk01 ssh-ed25519 AAAAnot\n"
	    "!kiosk02,kiosk01 ssh-ed25519 AAAAyes\n"
	    "kiosk* ssh-ed25519 AAAAwild\n");
	knownhosts_db_load(db, p);
	CHECK(knownhosts_db_lookup(db, p, "kiosk01", 22, &m, &n) == 1);
	CHECK(n == 1 && strcmp(m[0].key_b64, "AAAAyes") == 0);
	kh_matches_free(m, n);
	CHECK(knownhosts_db_lookup(db, p, "kiosk*", 22, &m, &n) == 1);   /* compared as a string */
	kh_matches_free(m, n);
	knownhosts_db_free(db);
	free(p);
}

static void
test_hashed_entries(void)
{
	char *p = path_of("hashed"), *h1 = hashed("kiosk01", "salt-one-20-bytes!!!"),
	    *h2 = hashed("[10.0.0.7]:2222", "another salt of 20.."), *text;
	struct kh_db *db = knownhosts_db_new();
	struct kh_match *m;
	size_t n;

	text = xasprintf("%s ssh-ed25519 AAAAh1\n|1|bad|entry ssh-ed25519 AAAAbad\n%s ecdsa-sha2-nistp256 AAAAh2\n"
	    "kiosk01 ssh-rsa AAAAplain\n", h1, h2);
	write_text(p, text);
	knownhosts_db_load(db, p);
	CHECK(knownhosts_db_lookup(db, p, "kiosk01", 22, &m, &n) == 2);
	CHECK(n == 2 && m[0].line == 1 && strcmp(m[0].key_b64, "AAAAh1") == 0 && m[1].line == 4);
	kh_matches_free(m, n);
	CHECK(knownhosts_db_lookup(db, p, "10.0.0.7", 2222, &m, &n) == 1);
	CHECK(n == 1 && m[0].line == 3);
	kh_matches_free(m, n);
	CHECK(knownhosts_db_lookup(db, p, "10.0.0.7", 22, &m, &n) == 0);
	kh_matches_free(m, n);
	/* the one-shot reader gives the same */
	CHECK(knownhosts_lookup(p, "kiosk01", 22, &m, &n) == 2);
	kh_matches_free(m, n);
	knownhosts_db_free(db);
	free(text);
	free(h1);
	free(h2);
	free(p);
}

static void
test_missing_and_unreadable(void)
{
	char *p = path_of("missing"), *d = path_of("");
	struct kh_db *db = knownhosts_db_new();
	struct kh_match *m;
	size_t n;

	CHECK(knownhosts_db_load(db, p) == 0);
	CHECK(knownhosts_db_lookup(db, p, "kiosk01", 22, &m, &n) == 0);
	CHECK(knownhosts_lookup(p, "kiosk01", 22, &m, &n) == 0);
	/* a directory cannot be read as a file */
	CHECK(knownhosts_db_load(db, d) == -1);
	CHECK(knownhosts_db_has(db, d));
	CHECK(knownhosts_lookup(d, "kiosk01", 22, &m, &n) == -1);
	knownhosts_db_free(db);
	free(p);
	free(d);
}

static void
test_accept_adds_once_and_is_seen(void)
{
	char *p = path_of("accept");
	struct kh_db *db = knownhosts_db_new();
	struct kh_match *m;
	size_t n, line = 0;
	char *cause = NULL;

	write_text(p, "kiosk01 ssh-ed25519 AAAAold");   /* no newline at the end */
	knownhosts_db_load(db, p);
	CHECK(knownhosts_db_accept(db, p, "kiosk02", 2222, "ssh-ed25519", "AAAAnew", &line, &cause) == 0);
	CHECK(cause == NULL && line == 2);
	CHECK(count_lines(p) == 2);
	CHECK(knownhosts_db_lookup(db, p, "kiosk02", 2222, &m, &n) == 1);
	CHECK(n == 1 && strcmp(m[0].key_b64, "AAAAnew") == 0 && m[0].line == 2);
	kh_matches_free(m, n);
	/* the file as a new run reads it: both lines whole */
	CHECK(knownhosts_lookup(p, "kiosk01", 22, &m, &n) == 1);
	kh_matches_free(m, n);
	CHECK(knownhosts_lookup(p, "kiosk02", 2222, &m, &n) == 1);
	CHECK(n == 1 && m[0].line == 2);
	kh_matches_free(m, n);
	/* the same key again: nothing written; another key of that type: the key changed */
	CHECK(knownhosts_db_accept(db, p, "kiosk02", 2222, "ssh-ed25519", "AAAAnew", &line, &cause) == 1);
	CHECK(knownhosts_db_accept(db, p, "kiosk02", 2222, "ssh-ed25519", "AAAAother", &line, &cause) == 2);
	CHECK(line == 2);
	CHECK(knownhosts_db_accept(db, p, "kiosk02", 2222, "ecdsa-sha2-nistp256", "AAAAec", &line, &cause) == 0);
	CHECK(line == 3 && count_lines(p) == 3);
	knownhosts_db_free(db);
	free(p);
}

struct acc_arg {
	struct kh_db *db;
	const char *path;
	int rc;
};

static void *
acc_thread(void *arg)
{
	struct acc_arg *a = arg;
	char *cause = NULL;

	a->rc = knownhosts_db_accept(a->db, a->path, "gw", 22, "ssh-ed25519", "AAAAsame", NULL, &cause);
	free(cause);
	return NULL;
}

static void
test_accept_from_many_threads_writes_one_line(void)
{
	char *p = path_of("threads");
	struct kh_db *db = knownhosts_db_new();
	pthread_t th[8];
	struct acc_arg a[8];
	int zeros = 0, ones = 0;

	knownhosts_db_load(db, p);
	for (int i = 0; i < 8; i++) {
		a[i].db = db;
		a[i].path = p;
		a[i].rc = -9;
		pthread_create(&th[i], NULL, acc_thread, &a[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		zeros += a[i].rc == 0;
		ones += a[i].rc == 1;
	}
	CHECK(zeros == 1 && ones == 7);
	CHECK(count_lines(p) == 1);
	knownhosts_db_free(db);
	free(p);
}

static void
test_many_entries(void)
{
	char *p = path_of("big");
	struct kh_db *db = knownhosts_db_new();
	struct buf b;
	struct kh_match *m;
	size_t n;
	int bad = 0;

	buf_init(&b, 0);
	for (int i = 0; i < 20000; i++)
		buf_addf(&b, "[10.%d.%d.%d]:22%02d ssh-ed25519 AAAAkey%d\n", i / 65536, (i / 256) % 256, i % 256, i % 100, i);
	write_text(p, b.data);
	buf_free(&b);
	knownhosts_db_load(db, p);
	for (int i = 0; i < 20000; i += 7) {
		char host[32], key[32];

		snprintf(host, sizeof(host), "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
		snprintf(key, sizeof(key), "AAAAkey%d", i);
		if (knownhosts_db_lookup(db, p, host, 2200 + i % 100, &m, &n) != 1 || strcmp(m[0].key_b64, key) != 0 ||
		    m[0].line != (size_t)i + 1)
			bad++;
		kh_matches_free(m, n);
	}
	CHECK(bad == 0);
	knownhosts_db_free(db);
	free(p);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	RUN(test_plain_port_and_order);
	RUN(test_negation_and_wildcards_literal);
	RUN(test_hashed_entries);
	RUN(test_missing_and_unreadable);
	RUN(test_accept_adds_once_and_is_seen);
	RUN(test_accept_from_many_threads_writes_one_line);
	RUN(test_many_entries);
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		if (system(cmd) != 0)
			check_failed_total++;
		free(cmd);
	}
	return check_failed_total ? 1 : 0;
}
