/* fuzz_inventory: lib/inventory's fleet.ini parser (inventory_load on the input written as fleet.ini,
 * no ssh_config), then a walk over everything the loaded inventory holds. */
#include "fuzz.h"

#include "../../lib/inventory.h"
#include "../../lib/select.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *path;
	struct inventory_opts opts;
	struct inventory *inv = NULL;
	struct inv_host **sel = NULL;
	char *cause = NULL;
	size_t nsel = 0;

	/* "hosts = a[1:999999]" is a valid 1,000,000-host inventory: slow, not interesting */
	if (fuzz_too_many_names(data, size, 5000))
		return 0;
	if (path == NULL)
		path = fuzz_path("inv/fleet.ini");
	fuzz_write(path, data, size);
	memset(&opts, 0, sizeof(opts));
	opts.ssh_config = "none";
	if (inventory_load(path, &opts, &inv, &cause) != 0) {
		FUZZ_ASSERT(inv == NULL);
		FUZZ_ASSERT(cause != NULL);
		free(cause);
		return 0;
	}
	FUZZ_ASSERT(inv != NULL && cause == NULL);
	FUZZ_ASSERT(inv->state_dir != NULL);
	for (size_t i = 0; i < inv->nhosts; i++) {
		struct inv_host *h = inv->hosts[i];

		FUZZ_ASSERT(h != NULL && h->name != NULL && h->order == i && !h->implicit);
		FUZZ_ASSERT(inventory_find(inv, h->name) == h);
		for (int k = 0; k < INV__COUNT; k++) {
			const char *v = inv_get(h, (enum inv_key)k);

			if (v != NULL) {
				FUZZ_ASSERT(h->set[k].origin != NULL);
				if (inv_key_is_number((enum inv_key)k))
					(void)inv_get_long(h, (enum inv_key)k);
			}
		}
		for (size_t g = 0; h->groups != NULL && h->groups[g] != NULL; g++)
			FUZZ_ASSERT(inventory_find_group(inv, h->groups[g]) != NULL);
		if (h->jump != NULL)
			FUZZ_ASSERT(h->jump->name != NULL);
		if (h->warning != NULL)
			(void)strlen(h->warning);
	}
	for (size_t i = 0; i < inv->ngroups; i++) {
		const struct inv_group *g = inv->groups[i];

		FUZZ_ASSERT(inventory_find_group(inv, g->name) == g);
		for (size_t m = 0; g->members != NULL && g->members[m] != NULL; m++)
			FUZZ_ASSERT(inventory_find(inv, g->members[m]) != NULL);
	}
	for (size_t i = 0; inv->require_signature != NULL && inv->require_signature[i] != NULL; i++)
		(void)strlen(inv->require_signature[i]);
	if (inv->nhosts > 0) {
		FUZZ_ASSERT(select_hosts(inv, "all", &sel, &nsel, &cause) == 0);
		FUZZ_ASSERT(nsel == inv->nhosts && sel[nsel] == NULL);
		free(sel);
	}
	free(cause);
	inventory_free(inv);
	return 0;
}
