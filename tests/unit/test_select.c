/* Unit tests for lib/select: -l terms (names, groups, globs, all, !exclusions) -> hosts in inventory order. */
#include <stdlib.h>
#include <string.h>

#include "../../lib/select.h"
#include "../../lib/util.h"
#include "check.h"

static char tmpdir[] = "/tmp/fleet-test-sel-XXXXXX";
static struct inventory *inv;

static const char fleet_ini[] =
	"[group:kiosks]\n"
	"hosts = kiosk[01:12]\n"
	"[group:atm]\n"
	"hosts = atm[1:3]\n"
	"[group:lobby]\n"
	"hosts = info\n"
	"groups = kiosks\n"
	"[host:gw]\n"
	"[group:empty]\n";

/* Select pattern and return the names joined by "," (caller frees), or "ERR: cause". */
static char *
sel(const char *pattern)
{
	struct inv_host **hosts = NULL;
	char *cause = NULL, *s;
	struct buf b;
	size_t n = 0, i;

	if (select_hosts(inv, pattern, &hosts, &n, &cause) != 0) {
		s = xasprintf("ERR: %s", cause != NULL ? cause : "(no cause)");
		free(cause);
		return s;
	}
	buf_init(&b, 0);
	for (i = 0; i < n; i++)
		buf_addf(&b, "%s%s", i > 0 ? "," : "", hosts[i]->name);
	CHECK(hosts[n] == NULL);
	free(hosts);
	s = buf_detach(&b);
	buf_free(&b);
	return s;
}

static void
expect(const char *pattern, const char *want)
{
	char *got = sel(pattern);

	CHECK_STR(got, want);
	free(got);
}

static void
test_host_name_selects_one_host(void)
{
	expect("kiosk03", "kiosk03");
}

static void
test_group_selects_its_members(void)
{
	expect("atm", "atm1,atm2,atm3");
}

static void
test_group_includes_included_groups_members(void)
{
	char *got = sel("lobby");

	CHECK(got != NULL && strncmp(got, "kiosk01,", 8) == 0);
	CHECK(got != NULL && strstr(got, ",info") != NULL && strstr(got, "kiosk12") != NULL);
	CHECK(got != NULL && strstr(got, "atm") == NULL);
	free(got);
}

static void
test_glob_matches_host_names(void)
{
	expect("kiosk0[1-3],atm?", "kiosk01,kiosk02,kiosk03,atm1,atm2,atm3");
}

static void
test_all_selects_every_host(void)
{
	char *got = sel("all");

	CHECK(got != NULL && strncmp(got, "kiosk01,", 8) == 0);
	CHECK(got != NULL && strlen(got) > 3 && strcmp(got + strlen(got) - 3, ",gw") == 0);
	free(got);
}

static void
test_empty_pattern_selects_every_host(void)
{
	char *a = sel(NULL), *b = sel("all");

	CHECK_STR(a, b);
	free(a);
	free(b);
}

static void
test_result_is_in_inventory_order_not_term_order(void)
{
	expect("gw,atm2,kiosk12", "kiosk12,atm2,gw");
}

static void
test_overlapping_terms_give_no_duplicates(void)
{
	expect("atm,atm1,atm*", "atm1,atm2,atm3");
}

static void
test_exclusion_removes_from_union(void)
{
	expect("atm,gw,!atm2", "atm1,atm3,gw");
}

static void
test_only_exclusions_start_from_all(void)
{
	char *got = sel("!kiosks,!info");

	CHECK_STR(got, "atm1,atm2,atm3,gw");
	free(got);
}

static void
test_excluding_a_glob(void)
{
	expect("kiosks,!kiosk1*", "kiosk01,kiosk02,kiosk03,kiosk04,kiosk05,kiosk06,kiosk07,kiosk08,kiosk09");
}

static void
test_term_matching_nothing_is_error(void)
{
	expect("kiosks,kiosk99", "ERR: no host or group matches 'kiosk99'");
}

static void
test_excluded_term_matching_nothing_is_error(void)
{
	expect("atm,!atm9", "ERR: no host or group matches 'atm9'");
}

static void
test_empty_group_is_error(void)
{
	expect("atm,empty", "ERR: group 'empty' has no hosts");
}

static void
test_empty_selection_is_error(void)
{
	expect("atm,!atm", "ERR: selection 'atm,!atm' matches no host");
}

static void
test_implicit_jump_hosts_are_never_selected(void)
{
	struct inventory_opts opts = { NULL, 0, NULL };
	struct inventory *inv2 = NULL, *save = inv;
	char *cause = NULL, *ini = xasprintf("%s/j.ini", tmpdir), *cfg = xasprintf("%s/ssh_config", tmpdir);
	FILE *f;

	f = fopen(ini, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("[host:k1]\n", f);
		fclose(f);
	}
	f = fopen(cfg, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("Host k1\n  ProxyJump bastion\n", f);
		fclose(f);
	}
	opts.ssh_config = cfg;
	CHECK(inventory_load(ini, &opts, &inv2, &cause) == 0);
	CHECK(inv2 != NULL && inv2->nimplicit == 1);
	if (inv2 != NULL) {
		inv = inv2;
		expect("bastion", "ERR: no host or group matches 'bastion'");
		expect("all", "k1");
		expect("*", "k1");
		inv = save;
	}
	inventory_free(inv2);
	free(cause);
	free(ini);
	free(cfg);
}

int
main(void)
{
	struct inventory_opts opts = { NULL, 0, "none" };
	char *path, *cause = NULL, *cmd;
	FILE *f;
	int rc;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	setenv("HOME", tmpdir, 1);
	path = xasprintf("%s/fleet.ini", tmpdir);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		return 1;
	}
	fputs(fleet_ini, f);
	fclose(f);
	if (inventory_load(path, &opts, &inv, &cause) != 0) {
		printf("FAIL: load (%s)\n", cause);
		return 1;
	}

	RUN(test_host_name_selects_one_host);
	RUN(test_group_selects_its_members);
	RUN(test_group_includes_included_groups_members);
	RUN(test_glob_matches_host_names);
	RUN(test_all_selects_every_host);
	RUN(test_empty_pattern_selects_every_host);
	RUN(test_result_is_in_inventory_order_not_term_order);
	RUN(test_overlapping_terms_give_no_duplicates);
	RUN(test_exclusion_removes_from_union);
	RUN(test_only_exclusions_start_from_all);
	RUN(test_excluding_a_glob);
	RUN(test_term_matching_nothing_is_error);
	RUN(test_excluded_term_matching_nothing_is_error);
	RUN(test_empty_group_is_error);
	RUN(test_empty_selection_is_error);
	RUN(test_implicit_jump_hosts_are_never_selected);

	rc = CHECK_DONE();
	inventory_free(inv);
	free(path);
	cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmpdir);
	free(cmd);
	return rc;
}
