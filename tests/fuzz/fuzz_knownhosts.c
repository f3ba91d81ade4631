/* fuzz_knownhosts: lib/knownhosts' known_hosts reader (knownhosts_lookup on the input written as a file)
 * for plain and [host]:port names; the seeds hold hashed |1|salt|hash entries for kiosk01 and
 * [kiosk01]:2222. */
#include "fuzz.h"

#include "../../lib/knownhosts.h"

static const struct {
	const char *host;
	int port;
} targets[] = {
	{ "kiosk01", 22 },
	{ "kiosk01", 2222 },
	{ "10.0.0.7", 0 },
	{ "gw-north.example", 22 },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *path;

	if (path == NULL)
		path = fuzz_path("known_hosts");
	fuzz_write(path, data, size);
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		struct kh_match *m = NULL;
		size_t n = 99;
		int rc = knownhosts_lookup(path, targets[t].host, targets[t].port, &m, &n);

		FUZZ_ASSERT(rc >= 0 && (size_t)rc == n);
		FUZZ_ASSERT((n == 0) == (m == NULL));
		for (size_t i = 0; i < n; i++) {
			FUZZ_ASSERT(m[i].line >= 1 && (i == 0 || m[i].line > m[i - 1].line));
			FUZZ_ASSERT(memchr(m[i].keytype, '\0', sizeof(m[i].keytype)) != NULL);
			FUZZ_ASSERT(m[i].key_b64 != NULL && m[i].key_b64[0] != '\0');
		}
		kh_matches_free(m, n);
	}
	return 0;
}
