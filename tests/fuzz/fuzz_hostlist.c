/* fuzz_hostlist: lib/report's folding of host names into ranges (report_hostlist); the input is the
 * names, one per line (a NUL ends a name early, as it would any C string). */
#include "fuzz.h"

#include <ctype.h>

#include "../../lib/report.h"
#include "../../lib/util.h"

#define MAX_NAMES 1024

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = fuzz_str(data, size), *names[MAX_NAMES + 1], *p, *folded;
	size_t n = 0;
	int digits = 0;
	struct buf joined;

	/* host names are never empty (the inventory refuses them): empty lines are skipped */
	for (p = copy; n < MAX_NAMES;) {
		char *nl = memchr(p, '\n', size - (size_t)(p - copy));

		if (nl != NULL)
			*nl = '\0';
		if (*p != '\0')
			names[n++] = p;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	names[n] = NULL;
	buf_init(&joined, 0);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_adds(&joined, ",");
		buf_adds(&joined, names[i]);
		for (p = names[i]; *p != '\0'; p++)
			digits |= isdigit((unsigned char)*p) != 0;
	}
	folded = report_hostlist(names, n);
	FUZZ_ASSERT(folded != NULL);
	/* nothing to fold: the names as they are, in the order given */
	if (!digits)
		FUZZ_ASSERT(strcmp(folded, joined.data) == 0);
	free(folded);
	buf_free(&joined);
	free(copy);
	return 0;
}
