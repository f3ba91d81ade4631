/* test_sshkey: lib/sshkey — user keys made by ssh-keygen and openssl, parsed once, signatures checked. */
#include "check.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/sshkey.h"
#include "../../lib/util.h"

static char dir[] = "/tmp/test_sshkey.XXXXXX";
static int have_tools;

static int
sh_run(char *cmd)
{
	int rc = system(cmd);

	free(cmd);
	return rc;
}
#define SH(...) sh_run(xasprintf(__VA_ARGS__))

/* The blob of NAME.pub ("type base64 comment"), decoded. */
static unsigned char *
pub_blob(const char *name, size_t *len)
{
	char *path = xasprintf("%s/%s.pub", dir, name), *text = NULL, *b64, *end;
	unsigned char *blob = NULL;
	int n;

	*len = 0;
	if (read_file(path, 1 << 16, &text, NULL) == 0 && (b64 = strchr(text, ' ')) != NULL) {
		b64++;
		end = strpbrk(b64, " \n");
		if (end != NULL)
			*end = '\0';
		blob = xmalloc(strlen(b64));
		n = EVP_DecodeBlock(blob, (unsigned char *)b64, (int)strlen(b64));
		*len = (size_t)n - (b64[strlen(b64) - 1] == '=') - (b64[strlen(b64) - 2] == '=');
	}
	free(text);
	free(path);
	return blob;
}

/* Load NAME; it must parse as type, match NAME.pub, and sign what its public blob verifies. */
static void
check_key(const char *name, const char *type)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct sshkey_info info;
	struct sshkey *k = NULL;
	const unsigned char *blob;
	unsigned char *want, *sig = NULL, data[100];
	size_t bloblen, wantlen, siglen = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7);
	sshkey_load(path, &info, &k);
	CHECK(info.readable && !info.encrypted);
	CHECK(k != NULL);
	if (k == NULL)
		goto out;
	CHECK_STR(sshkey_type(k), type);
	blob = sshkey_public_blob(k, &bloblen);
	want = pub_blob(name, &wantlen);
	CHECK(want != NULL && wantlen == bloblen && memcmp(want, blob, bloblen) == 0);
	free(want);
	CHECK(sshkey_sign(k, data, sizeof(data), &sig, &siglen) == 0);
	CHECK(sshkey_verify_blob(blob, bloblen, data, sizeof(data), sig, siglen) == 0);
	data[3] ^= 1;
	CHECK(sshkey_verify_blob(blob, bloblen, data, sizeof(data), sig, siglen) != 0);
	free(sig);
out:
	sshkey_free(k);
	free(path);
}

static void
test_openssh_ed25519(void)
{
	if (have_tools)
		check_key("ed", "ssh-ed25519");
}

static void
test_openssh_ecdsa(void)
{
	if (!have_tools)
		return;
	check_key("ec256", "ecdsa-sha2-nistp256");
	check_key("ec384", "ecdsa-sha2-nistp384");
	check_key("ec521", "ecdsa-sha2-nistp521");
}

static void
test_pem_keys(void)
{
	if (!have_tools)
		return;
	check_key("ecpem", "ecdsa-sha2-nistp256");   /* BEGIN EC PRIVATE KEY */
	check_key("edpk8", "ssh-ed25519");           /* BEGIN PRIVATE KEY (PKCS#8) */
}

static void
test_not_parsed(void)
{
	struct sshkey_info info;
	struct sshkey *k = NULL;
	char *p;

	if (!have_tools)
		return;
	p = xasprintf("%s/enc", dir);
	sshkey_load(p, &info, &k);
	CHECK(info.readable && info.encrypted && k == NULL);
	CHECK_STR(info.type, "ssh-ed25519");
	free(p);
	p = xasprintf("%s/rsa", dir);
	sshkey_load(p, &info, &k);
	CHECK(info.readable && !info.encrypted && k == NULL);
	CHECK_STR(info.type, "ssh-rsa");
	free(p);
	p = xasprintf("%s/nosuchkey", dir);
	sshkey_load(p, &info, &k);
	CHECK(!info.readable && k == NULL);
	free(p);
}

static void
test_damaged_text(void)
{
	static const char *const bad[] = {
		"", "not a key", "-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		NULL
	};
	struct sshkey_info info;
	struct sshkey *k;
	char *text = NULL, *p;
	size_t len = 0;

	for (size_t i = 0; bad[i] != NULL; i++) {
		k = (struct sshkey *)1;
		sshkey_parse(bad[i], strlen(bad[i]), &info, &k);
		CHECK(k == NULL && info.readable);
	}
	if (!have_tools)
		return;
	/* every cut of a good key either parses to that key or not at all: never a crash */
	p = xasprintf("%s/ed", dir);
	if (read_file(p, 1 << 16, &text, &len) == 0)
		for (size_t cut = 0; cut < len; cut += 3) {
			sshkey_parse(text, cut, &info, &k);
			sshkey_free(k);
		}
	free(text);
	free(p);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mkdtemp(dir) == NULL)
		return 1;
	have_tools = SH("ssh-keygen -q -t ed25519 -N '' -f %s/ed </dev/null", dir) == 0 &&
	    SH("ssh-keygen -q -t ecdsa -b 256 -N '' -f %s/ec256 </dev/null", dir) == 0 &&
	    SH("ssh-keygen -q -t ecdsa -b 384 -N '' -f %s/ec384 </dev/null", dir) == 0 &&
	    SH("ssh-keygen -q -t ecdsa -b 521 -N '' -f %s/ec521 </dev/null", dir) == 0 &&
	    SH("ssh-keygen -q -t ecdsa -b 256 -m PEM -N '' -f %s/ecpem </dev/null", dir) == 0 &&
	    SH("openssl genpkey -algorithm ed25519 -out %s/edpk8 2>/dev/null", dir) == 0 &&
	    /* its .pub by hand: ssh-keygen does not read PKCS#8 ed25519 */
	    SH("{ printf 'ssh-ed25519 '; { printf '\\000\\000\\000\\013ssh-ed25519\\000\\000\\000\\040'; "
	    "openssl pkey -in %s/edpk8 -pubout -outform DER | tail -c 32; } | base64 -w0; echo; } > %s/edpk8.pub",
	    dir, dir) == 0 &&
	    SH("ssh-keygen -q -t ed25519 -N secret -f %s/enc </dev/null", dir) == 0 &&
	    SH("ssh-keygen -q -t rsa -b 2048 -N '' -f %s/rsa </dev/null", dir) == 0;
	if (!have_tools)
		printf("FAIL: setup (ssh-keygen or openssl missing or failing)\n");
	RUN(test_openssh_ed25519);
	RUN(test_openssh_ecdsa);
	RUN(test_pem_keys);
	RUN(test_not_parsed);
	RUN(test_damaged_text);
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		if (system(cmd) != 0)
			check_failed_total++;
		free(cmd);
	}
	return check_failed_total || !have_tools ? 1 : 0;
}
