/* fuzz_hostrange: lib/hostrange (hostrange_expand, what `hosts = kiosk[01:40]`
 * goes through), and the folding of its result back into ranges (report_hostlist). */
#include "fuzz.h"

#include "../../lib/hostrange.h"
#include "../../lib/inventory.h"
#include "../../lib/report.h"
#include "../../lib/util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *pattern, **names = NULL, *cause = NULL, *folded;
	size_t n = 0;

	/* a valid range of 1,000,000 names: slow, not interesting */
	if (fuzz_too_many_names(data, size, 2000))
		return 0;
	pattern = fuzz_str(data, size);
	if (hostrange_expand(pattern, &names, &n, &cause) != 0) {
		FUZZ_ASSERT(names == NULL && cause != NULL);
		free(cause);
		free(pattern);
		return 0;
	}
	FUZZ_ASSERT(names != NULL && cause == NULL && n >= 1 && names[n] == NULL);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(names[i][0] != '\0' && strpbrk(names[i], "[]:") == NULL);
	}
	if (strchr(pattern, '[') == NULL)
		FUZZ_ASSERT(n == 1 && strcmp(names[0], pattern) == 0);
	folded = report_hostlist(names, n);
	FUZZ_ASSERT(folded != NULL && folded[0] != '\0');
	free(folded);
	strv_free(names);
	free(pattern);
	return 0;
}
