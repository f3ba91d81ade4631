/* sshkey: parse an SSH user key once; sign logins with it (OpenSSL's libcrypto). */
#include "sshkey.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SSHKEY_FILE_MAX 65536

struct sshkey {
	EVP_PKEY *pkey;
	char type[32];                 /* "ssh-ed25519", "ecdsa-sha2-nistp256", ... */
	const EVP_MD *md;              /* ECDSA's digest; NULL for ed25519 */
	unsigned char *blob;
	size_t bloblen;
};

/* Reading the SSH wire format: uint32 and string, bounds checked. */
struct sshkey_rd {
	const unsigned char *p;
	size_t left;
};

static int
sshkey_u32(struct sshkey_rd *r, uint32_t *v)
{
	if (r->left < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

static int
sshkey_str(struct sshkey_rd *r, const unsigned char **s, size_t *len)
{
	uint32_t l;

	if (sshkey_u32(r, &l) != 0 || l > r->left)
		return -1;
	*s = r->p;
	*len = l;
	r->p += l;
	r->left -= l;
	return 0;
}

static bool
sshkey_str_is(const unsigned char *s, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* Writing it. */
static void
sshkey_put_str(struct buf *b, const void *s, size_t len)
{
	unsigned char l[4] = { (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
		(unsigned char)len };

	buf_add(b, l, 4);
	buf_add(b, s, len);
}

/* An mpint from big-endian bytes: no leading zeros, one 0x00 when the top bit is set. */
static void
sshkey_put_mpint(struct buf *b, const unsigned char *v, size_t len)
{
	struct buf t;

	while (len > 0 && *v == 0) {
		v++;
		len--;
	}
	buf_init(&t, 0);
	if (len > 0 && (*v & 0x80))
		buf_add(&t, "", 1);
	buf_add(&t, v, len);
	sshkey_put_str(b, t.data, t.len);
	buf_free(&t);
}

static const struct {
	const char *ssh;     /* key type */
	const char *curve;   /* the curve's SSH name */
	const char *group;   /* OpenSSL's */
} sshkey_curves[] = {
	{ "ecdsa-sha2-nistp256", "nistp256", "prime256v1" },
	{ "ecdsa-sha2-nistp384", "nistp384", "secp384r1" },
	{ "ecdsa-sha2-nistp521", "nistp521", "secp521r1" },
};

static const EVP_MD *
sshkey_curve_md(size_t i)
{
	return i == 0 ? EVP_sha256() : i == 1 ? EVP_sha384() : EVP_sha512();
}

static struct sshkey *
sshkey_new(EVP_PKEY *pkey, const char *type, const EVP_MD *md, struct buf *blob)
{
	struct sshkey *k = xcalloc(1, sizeof(*k));

	k->pkey = pkey;
	snprintf(k->type, sizeof(k->type), "%s", type);
	k->md = md;
	k->bloblen = blob->len;
	k->blob = (unsigned char *)buf_detach(blob);
	return k;
}

static struct sshkey *
sshkey_ed25519(const unsigned char *pub, const unsigned char *seed)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	unsigned char derived[32];
	size_t dlen = sizeof(derived);
	struct buf blob;

	if (pkey == NULL)
		return NULL;
	/* The public half on record must be the one the private half gives. */
	if (EVP_PKEY_get_raw_public_key(pkey, derived, &dlen) != 1 || dlen != 32 ||
	    (pub != NULL && memcmp(derived, pub, 32) != 0)) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	buf_init(&blob, 0);
	sshkey_put_str(&blob, "ssh-ed25519", 11);
	sshkey_put_str(&blob, derived, 32);
	return sshkey_new(pkey, "ssh-ed25519", NULL, &blob);
}

/* ECDSA from the curve index, the public point and the private scalar (big-endian). */
static struct sshkey *
sshkey_ecdsa(size_t ci, const unsigned char *q, size_t qlen, const unsigned char *d, size_t dlen)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = BN_bin2bn(d, (int)dlen, NULL);
	struct sshkey *k = NULL;
	struct buf blob;

	if (bld == NULL || bn == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, sshkey_curves[ci].group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q, qlen) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	{
		/* The point on record must belong to the scalar: check the pair once. */
		EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		int ok = check != NULL && EVP_PKEY_pairwise_check(check) == 1;

		EVP_PKEY_CTX_free(check);
		if (!ok)
			goto out;
	}
	buf_init(&blob, 0);
	sshkey_put_str(&blob, sshkey_curves[ci].ssh, strlen(sshkey_curves[ci].ssh));
	sshkey_put_str(&blob, sshkey_curves[ci].curve, strlen(sshkey_curves[ci].curve));
	sshkey_put_str(&blob, q, qlen);
	k = sshkey_new(pkey, sshkey_curves[ci].ssh, sshkey_curve_md(ci), &blob);
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(bn);
	return k;
}

/* The private section of an unencrypted openssh-key-v1 file. */
static struct sshkey *
sshkey_openssh_private(const unsigned char *priv, size_t privlen)
{
	struct sshkey_rd r = { priv, privlen };
	const unsigned char *type, *a, *b, *c;
	size_t typelen, alen, blen, clen;
	uint32_t check1, check2;

	if (sshkey_u32(&r, &check1) != 0 || sshkey_u32(&r, &check2) != 0 || check1 != check2 ||
	    sshkey_str(&r, &type, &typelen) != 0)
		return NULL;
	if (sshkey_str_is(type, typelen, "ssh-ed25519")) {
		/* string pub(32), string seed(32) || pub(32) */
		if (sshkey_str(&r, &a, &alen) != 0 || alen != 32 || sshkey_str(&r, &b, &blen) != 0 || blen != 64 ||
		    memcmp(b + 32, a, 32) != 0)
			return NULL;
		return sshkey_ed25519(a, b);
	}
	for (size_t ci = 0; ci < sizeof(sshkey_curves) / sizeof(sshkey_curves[0]); ci++) {
		if (!sshkey_str_is(type, typelen, sshkey_curves[ci].ssh))
			continue;
		/* string curve, string Q, mpint d */
		if (sshkey_str(&r, &a, &alen) != 0 || !sshkey_str_is(a, alen, sshkey_curves[ci].curve) ||
		    sshkey_str(&r, &b, &blen) != 0 || sshkey_str(&r, &c, &clen) != 0 || clen == 0 || clen > 67)
			return NULL;
		return sshkey_ecdsa(ci, b, blen, c, clen);
	}
	return NULL;
}

/* PEM or PKCS#8 (unencrypted): ed25519 and EC only. */
static int
sshkey_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static struct sshkey *
sshkey_pem(const char *text, size_t len)
{
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, sshkey_no_passphrase, NULL) : NULL;
	struct sshkey *k = NULL;

	BIO_free(bio);
	if (pkey == NULL)
		return NULL;
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		unsigned char seed[32];
		size_t slen = sizeof(seed);

		if (EVP_PKEY_get_raw_private_key(pkey, seed, &slen) == 1 && slen == 32)
			k = sshkey_ed25519(NULL, seed);
		OPENSSL_cleanse(seed, sizeof(seed));
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		char group[64];
		unsigned char q[200];
		size_t qlen = 0;
		BIGNUM *d = NULL;

		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) == 1 &&
		    EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, q, sizeof(q), &qlen) == 1 &&
		    qlen > 0 && q[0] == 0x04 && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1)
			for (size_t ci = 0; ci < sizeof(sshkey_curves) / sizeof(sshkey_curves[0]); ci++)
				if (strcmp(group, sshkey_curves[ci].group) == 0) {
					unsigned char dbin[67];
					int dl = BN_bn2bin(d, dbin);

					if (dl > 0 && dl <= (int)sizeof(dbin))
						k = sshkey_ecdsa(ci, q, qlen, dbin, (size_t)dl);
					OPENSSL_cleanse(dbin, sizeof(dbin));
				}
		BN_clear_free(d);
	}
	EVP_PKEY_free(pkey);
	return k;
}

void
sshkey_parse(const char *text, size_t len, struct sshkey_info *info, struct sshkey **key)
{
	static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
	char *body = NULL, *copy = xstrndup(text, len);
	const char *b, *e;
	unsigned char *raw = NULL;
	const unsigned char *s, *pub, *priv;
	size_t off, slen, publen, privlen;
	struct sshkey_rd r;
	uint32_t nkeys;
	int n;
	bool none;

	*key = NULL;
	memset(info, 0, sizeof(*info));
	info->readable = true;
	if (strstr(copy, "BEGIN RSA PRIVATE KEY") != NULL)
		snprintf(info->type, sizeof(info->type), "ssh-rsa");
	else if (strstr(copy, "BEGIN EC PRIVATE KEY") != NULL)
		snprintf(info->type, sizeof(info->type), "ecdsa");
	if (strstr(copy, "ENCRYPTED") != NULL)
		info->encrypted = true;
	b = strstr(copy, begin);
	if (b == NULL) {
		if (!info->encrypted && strstr(copy, "-----BEGIN ") != NULL)
			*key = sshkey_pem(copy, strlen(copy));
		goto out;
	}
	b += strlen(begin);
	e = strstr(b, "-----END");
	if (e == NULL)
		goto out;
	body = xmalloc((size_t)(e - b) + 1);
	off = 0;
	for (const char *p = b; p < e; p++)
		if (*p != '\n' && *p != '\r' && *p != ' ')
			body[off++] = *p;
	body[off] = '\0';
	raw = xmalloc(off + 3);
	n = EVP_DecodeBlock(raw, (unsigned char *)body, (int)off);
	if (n < 15 + 4 || memcmp(raw, "openssh-key-v1", 15) != 0)
		goto out;
	/* EVP_DecodeBlock counts the padding as bytes: what follows the keys is padding anyway. */
	r.p = raw + 15;
	r.left = (size_t)n - 15;
	/* ciphername, kdfname, kdfoptions, nkeys, the public key blob, the private section */
	if (sshkey_str(&r, &s, &slen) != 0)
		goto out;
	none = sshkey_str_is(s, slen, "none");
	info->encrypted = !none;
	if (sshkey_str(&r, &s, &slen) != 0 || sshkey_str(&r, &s, &slen) != 0 || sshkey_u32(&r, &nkeys) != 0 ||
	    sshkey_str(&r, &pub, &publen) != 0)
		goto out;
	{
		struct sshkey_rd pr = { pub, publen };

		if (sshkey_str(&pr, &s, &slen) != 0 || slen >= sizeof(info->type))
			goto out;
		memcpy(info->type, s, slen);
		info->type[slen] = '\0';
	}
	if (!none || nkeys != 1 || sshkey_str(&r, &priv, &privlen) != 0)
		goto out;
	*key = sshkey_openssh_private(priv, privlen);
	/* The public blob the file records must be the key's own. */
	if (*key != NULL && ((*key)->bloblen != publen || memcmp((*key)->blob, pub, publen) != 0)) {
		sshkey_free(*key);
		*key = NULL;
	}
out:
	if (raw != NULL)
		OPENSSL_cleanse(raw, off + 3);
	if (body != NULL)
		OPENSSL_cleanse(body, off + 1);
	OPENSSL_cleanse(copy, len);
	free(raw);
	free(body);
	free(copy);
}

void
sshkey_load(const char *path, struct sshkey_info *info, struct sshkey **key)
{
	char *text = NULL;
	size_t len = 0;

	*key = NULL;
	memset(info, 0, sizeof(*info));
	if (read_file(path, SSHKEY_FILE_MAX, &text, &len) != 0)
		return;
	sshkey_parse(text, len, info, key);
	OPENSSL_cleanse(text, len);
	free(text);
}

const unsigned char *
sshkey_public_blob(const struct sshkey *k, size_t *len)
{
	*len = k->bloblen;
	return k->blob;
}

const char *
sshkey_type(const struct sshkey *k)
{
	return k->type;
}

int
sshkey_sign(const struct sshkey *k, const unsigned char *data, size_t len, unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	size_t derlen = 0;
	int rc = -1;

	*sig = NULL;
	*siglen = 0;
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, k->md, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &derlen, data, len) != 1)
		goto out;
	der = xmalloc(derlen);
	if (EVP_DigestSign(ctx, der, &derlen, data, len) != 1)
		goto out;
	if (k->md == NULL) {
		/* ed25519: the 64 bytes as they are */
		*sig = der;
		*siglen = derlen;
		der = NULL;
		rc = 0;
		goto out;
	}
	{
		/* ECDSA: DER SEQUENCE { r, s } -> string(mpint r) string(mpint s) */
		const unsigned char *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
		const BIGNUM *br, *bs;
		unsigned char v[80];
		struct buf out;
		int l;

		if (es == NULL)
			goto out;
		ECDSA_SIG_get0(es, &br, &bs);
		buf_init(&out, 0);
		if ((l = BN_bn2bin(br, v)) < 0 || (size_t)BN_num_bytes(br) > sizeof(v)) {
			ECDSA_SIG_free(es);
			buf_free(&out);
			goto out;
		}
		sshkey_put_mpint(&out, v, (size_t)l);
		if ((size_t)BN_num_bytes(bs) > sizeof(v) || (l = BN_bn2bin(bs, v)) < 0) {
			ECDSA_SIG_free(es);
			buf_free(&out);
			goto out;
		}
		sshkey_put_mpint(&out, v, (size_t)l);
		ECDSA_SIG_free(es);
		*siglen = out.len;
		*sig = (unsigned char *)buf_detach(&out);
		rc = 0;
	}
out:
	free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
sshkey_verify_blob(const unsigned char *blob, size_t bloblen, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
	struct sshkey_rd r = { blob, bloblen };
	const unsigned char *type, *a, *b;
	size_t typelen, alen, blen;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	const EVP_MD *md = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	int rc = -1;

	if (sshkey_str(&r, &type, &typelen) != 0)
		return -1;
	if (sshkey_str_is(type, typelen, "ssh-ed25519")) {
		if (sshkey_str(&r, &a, &alen) != 0 || alen != 32)
			return -1;
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, 32);
		der = xmalloc(siglen ? siglen : 1);
		memcpy(der, sig, siglen);
		derlen = siglen;
	} else {
		size_t ci;
		struct sshkey_rd sr = { sig, siglen };
		const unsigned char *rs, *ss;
		size_t rlen, slen;
		ECDSA_SIG *es = NULL;
		BIGNUM *br, *bs;
		OSSL_PARAM_BLD *bld;
		OSSL_PARAM *params = NULL;
		EVP_PKEY_CTX *pctx = NULL;
		int l;

		for (ci = 0; ci < sizeof(sshkey_curves) / sizeof(sshkey_curves[0]); ci++)
			if (sshkey_str_is(type, typelen, sshkey_curves[ci].ssh))
				break;
		if (ci == sizeof(sshkey_curves) / sizeof(sshkey_curves[0]) || sshkey_str(&r, &a, &alen) != 0 ||
		    sshkey_str(&r, &b, &blen) != 0 || sshkey_str(&sr, &rs, &rlen) != 0 || sshkey_str(&sr, &ss, &slen) != 0)
			return -1;
		md = sshkey_curve_md(ci);
		bld = OSSL_PARAM_BLD_new();
		if (bld != NULL && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, sshkey_curves[ci].group, 0) == 1 &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, b, blen) == 1 &&
		    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
		    (pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL && EVP_PKEY_fromdata_init(pctx) == 1)
			EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
		EVP_PKEY_CTX_free(pctx);
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(bld);
		br = BN_bin2bn(rs, (int)rlen, NULL);
		bs = BN_bin2bn(ss, (int)slen, NULL);
		es = ECDSA_SIG_new();
		if (es == NULL || br == NULL || bs == NULL || ECDSA_SIG_set0(es, br, bs) != 1) {
			BN_free(br);
			BN_free(bs);
			ECDSA_SIG_free(es);
			EVP_PKEY_free(pkey);
			return -1;
		}
		l = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (l <= 0) {
			EVP_PKEY_free(pkey);
			return -1;
		}
		derlen = (size_t)l;
	}
	ctx = EVP_MD_CTX_new();
	if (pkey != NULL && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, der, derlen, data, len) == 1)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	if (md != NULL)
		OPENSSL_free(der);
	else
		free(der);
	return rc;
}

void
sshkey_free(struct sshkey *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->blob);
	free(k);
}
