/* fuzz_select: lib/select's -l/--limit parser (select_hosts) against a fixed inventory: host names,
 * groups, globs, `!` exclusions, commas. */
#include "fuzz.h"

#include "../../lib/inventory.h"
#include "../../lib/select.h"

static const char inventory_text[] =
    "[fleet]\nuser = fleet\n"
    "[group:kiosks-north]\nhosts = kiosk[01:12].north.example\n"
    "[group:kiosks-south]\nhosts = kiosk[01:04].south.example\n"
    "[group:kiosks]\ngroups = kiosks-north, kiosks-south\n"
    "[group:atm]\nhosts = atm[001:020]\n"
    "[group:empty]\nuser = nobody\n"
    "[group:all-ish]\ngroups = kiosks, atm\nhosts = gw-north\n"
    "[host:gw-north]\naddress = 203.0.113.10\n"
    "[host:kiosk07.north.example]\naddress = 10.20.0.7\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct inventory *inv;
	struct inv_host **out = NULL;
	char *pattern, *cause = NULL;
	size_t n = 0;

	if (inv == NULL) {
		struct inventory_opts opts;
		char *path = fuzz_path("sel/fleet.ini");

		memset(&opts, 0, sizeof(opts));
		opts.ssh_config = "none";
		fuzz_write(path, inventory_text, strlen(inventory_text));
		if (inventory_load(path, &opts, &inv, &cause) != 0) {
			fprintf(stderr, "fuzz_select: %s\n", cause);
			abort();
		}
		free(path);
	}
	pattern = fuzz_str(data, size);
	if (select_hosts(inv, pattern, &out, &n, &cause) != 0) {
		FUZZ_ASSERT(out == NULL && n == 0 && cause != NULL);
		free(cause);
	} else {
		FUZZ_ASSERT(out != NULL && cause == NULL && n >= 1 && n <= inv->nhosts && out[n] == NULL);
		for (size_t i = 1; i < n; i++)
			FUZZ_ASSERT(out[i - 1]->order < out[i]->order);
		free(out);
	}
	free(pattern);
	return 0;
}
