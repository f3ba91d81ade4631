/* fuzz_manifest: lib/manifest's strict parser (manifest_parse; no I/O), and the single checks it is
 * built from.  The format is canonical, so an accepted text must format back to itself byte for byte. */
#include "fuzz.h"

#include "../../lib/manifest.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest *m = NULL;
	char *cause = NULL, *text, *s, *p;

	s = fuzz_str(data, size);
	(void)manifest_clean_utf8((const char *)data, size);
	p = manifest_printable(s);
	FUZZ_ASSERT(p != NULL && strlen(p) <= 256 * 4 + 3);
	free(p);
	if (manifest_valid_path(s, &cause) != 0)
		FUZZ_ASSERT(cause != NULL);
	free(cause);
	cause = NULL;
	free(s);

	if (manifest_parse((const char *)data, size, &m, &cause) != 0) {
		FUZZ_ASSERT(m == NULL);
		FUZZ_ASSERT(cause != NULL);
		free(cause);
		return 0;
	}
	FUZZ_ASSERT(m != NULL && cause == NULL);
	FUZZ_ASSERT(manifest_check(m, &cause) == 0);
	for (size_t i = 0; i < m->n; i++)
		FUZZ_ASSERT(manifest_find(m, m->entries[i].path) == (long)i);
	text = manifest_format(m);
	/* "every line ends with \n (no CR, no empty lines, no trailing text)": nothing else is accepted */
	FUZZ_ASSERT(strlen(text) == size && memcmp(text, data, size) == 0);
	free(text);
	manifest_free(m);
	return 0;
}
