/* Unit tests for lib/inventory: fleet.ini parsing, ranges, precedence, errors with FILE:LINE, ssh_config. */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/hostrange.h"
#include "../../lib/inventory.h"
#include "../../lib/util.h"
#include "check.h"

static char tmpdir[] = "/tmp/fleet-test-inv-XXXXXX";
static char *ini_path;   /* the fleet.ini every test writes */

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
}

/* Write text as fleet.ini and load it without any ssh_config (unless opts says otherwise). */
static int
load_opts(const char *text, struct inventory_opts *opts, struct inventory **inv, char **cause)
{
	struct inventory_opts none;

	write_text(ini_path, text);
	if (opts == NULL) {
		memset(&none, 0, sizeof(none));
		none.ssh_config = "none";
		opts = &none;
	}
	*inv = NULL;
	*cause = NULL;
	return inventory_load(ini_path, opts, inv, cause);
}

static int
load(const char *text, struct inventory **inv, char **cause)
{
	return load_opts(text, NULL, inv, cause);
}

/* Expect load to fail with exactly "fleet.ini-path:LINE: msg" and to hand back no inventory. */
static void
expect_error(const char *text, int line, const char *msg)
{
	struct inventory *inv;
	char *cause, *want = xasprintf("%s:%d: %s", ini_path, line, msg);

	CHECK(load(text, &inv, &cause) == -1);
	CHECK(inv == NULL);
	CHECK_STR(cause, want);
	free(want);
	free(cause);
}

static char *
loc(int line)
{
	return xasprintf("%s:%d", ini_path, line);
}

/* ---- ranges ---- */

static void
test_range_keeps_zero_padded_width(void)
{
	char **v = NULL, *cause = NULL;
	size_t n = 0;

	CHECK(hostrange_expand("kiosk[01:40].site", &v, &n, &cause) == 0);
	CHECK(n == 40);
	if (n == 40) {
		CHECK_STR(v[0], "kiosk01.site");
		CHECK_STR(v[8], "kiosk09.site");
		CHECK_STR(v[39], "kiosk40.site");
		CHECK(v[40] == NULL);
	}
	strv_free(v);
	free(cause);
}

static void
test_range_three_digit_width(void)
{
	char **v = NULL, *cause = NULL;
	size_t n = 0;

	CHECK(hostrange_expand("atm[001:120]", &v, &n, &cause) == 0);
	CHECK(n == 120);
	if (n == 120) {
		CHECK_STR(v[0], "atm001");
		CHECK_STR(v[99], "atm100");
		CHECK_STR(v[119], "atm120");
	}
	strv_free(v);
	free(cause);
}

static void
test_range_without_leading_zero_is_unpadded(void)
{
	char **v = NULL, *cause = NULL;
	size_t n = 0;

	CHECK(hostrange_expand("t[8:11]", &v, &n, &cause) == 0);
	CHECK(n == 4);
	if (n == 4) {
		CHECK_STR(v[0], "t8");
		CHECK_STR(v[1], "t9");
		CHECK_STR(v[2], "t10");
		CHECK_STR(v[3], "t11");
	}
	strv_free(v);
	free(cause);
}

static void
test_several_ranges_multiply_leftmost_slowest(void)
{
	char **v = NULL, *cause = NULL;
	size_t n = 0;

	CHECK(hostrange_expand("s[1:2]k[01:03]", &v, &n, &cause) == 0);
	CHECK(n == 6);
	if (n == 6) {
		CHECK_STR(v[0], "s1k01");
		CHECK_STR(v[2], "s1k03");
		CHECK_STR(v[3], "s2k01");
		CHECK_STR(v[5], "s2k03");
	}
	strv_free(v);
	free(cause);
}

static void
test_range_start_after_end_is_error_with_line(void)
{
	expect_error("[fleet]\n\n[group:k]\nhosts = a, kiosk[40:01]\n", 4,
	    "bad range '[40:01]' in 'kiosk[40:01]': start is greater than end");
}

static void
test_range_of_letters_is_error(void)
{
	expect_error("[group:k]\nhosts = x[a:b]\n", 2, "bad range '[a:b]' in 'x[a:b]': start is not a number");
}

static void
test_unterminated_range_is_error(void)
{
	expect_error("[group:k]\nhosts = x[01:10\n", 2, "bad range in 'x[01:10': unterminated '['");
}

static void
test_range_with_unequal_padded_widths_is_error(void)
{
	expect_error("[group:k]\nhosts = x[01:100]\n", 2,
	    "bad range '[01:100]' in 'x[01:100]': zero-padded start and end differ in width");
}

static void
test_group_hosts_list_mixes_names_and_ranges(void)
{
	struct inventory *inv;
	char *cause;

	CHECK(load("[group:g]\nhosts = a, b, kiosk[01:03].site, atm[001:002]\n", &inv, &cause) == 0);
	CHECK(inv != NULL && inv->nhosts == 7);
	if (inv != NULL && inv->nhosts == 7) {
		CHECK_STR(inv->hosts[0]->name, "a");
		CHECK_STR(inv->hosts[2]->name, "kiosk01.site");
		CHECK_STR(inv->hosts[6]->name, "atm002");
	}
	inventory_free(inv);
	free(cause);
}

/* ---- defaults and precedence ---- */

static void
test_builtin_defaults_have_origin_default(void)
{
	struct inventory *inv;
	struct inv_host *h;
	struct passwd *pw = getpwuid(geteuid());
	char *cause, *kh = xasprintf("%s/.ssh/known_hosts", tmpdir);

	CHECK(load("[host:kiosk1]\n", &inv, &cause) == 0);
	h = inventory_find(inv, "kiosk1");
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK_STR(inv_get(h, INV_ADDRESS), "kiosk1");
		CHECK_STR(inv_get(h, INV_PORT), "22");
		CHECK_STR(inv_get(h, INV_USER), pw->pw_name);
		CHECK_STR(inv_get(h, INV_ROOT), "/opt/fleet");
		CHECK(inv_get_long(h, INV_KEEP) == 5);
		CHECK(inv_get_long(h, INV_CONNECT_TIMEOUT) == 10);
		CHECK(inv_get_long(h, INV_COMMAND_TIMEOUT) == 600);
		CHECK(inv_get_long(h, INV_PARALLEL) == 50);
		CHECK_STR(inv_get(h, INV_STRICT_HOST_KEYS), "yes");
		CHECK_STR(inv_get(h, INV_KNOWN_HOSTS), kh);
		CHECK_STR(inv_get(h, INV_GLOBAL_KNOWN_HOSTS), "/etc/ssh/ssh_known_hosts");
		CHECK(inv_get_long(h, INV_KEEPALIVE_INTERVAL) == 0);
		CHECK(inv_get_long(h, INV_KEEPALIVE_COUNT) == 3);
		CHECK(inv_get_long(h, INV_HEALTH_RETRIES) == 3);
		CHECK(inv_get_long(h, INV_HEALTH_INTERVAL) == 5);
		CHECK_STR(inv_get(h, INV_BOOT_ID), "/proc/sys/kernel/random/boot_id");
		CHECK(inv_get(h, INV_IDENTITY) == NULL);
		CHECK(inv_get(h, INV_INSTALL) == NULL);
		CHECK_STR(h->set[INV_PORT].origin, "default");
		CHECK(h->kind[INV_PORT] == INV_FROM_DEFAULT);
		CHECK(h->jump == NULL);
	}
	inventory_free(inv);
	free(cause);
	free(kh);
}

static void
test_fleet_section_beats_default(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause, *want = loc(2);

	CHECK(load("[fleet]\nport = 2222\n[host:a]\n", &inv, &cause) == 0);
	h = inventory_find(inv, "a");
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK_STR(inv_get(h, INV_PORT), "2222");
		CHECK_STR(h->set[INV_PORT].origin, want);
		CHECK(h->kind[INV_PORT] == INV_FROM_FLEET);
	}
	inventory_free(inv);
	free(cause);
	free(want);
}

static void
test_group_beats_fleet_even_when_fleet_comes_later(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause, *want = loc(3);

	CHECK(load("[group:g]\nhosts = a\nport = 2200\n[fleet]\nport = 2222\n", &inv, &cause) == 0);
	h = inventory_find(inv, "a");
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK_STR(inv_get(h, INV_PORT), "2200");
		CHECK_STR(h->set[INV_PORT].origin, want);
		CHECK(h->kind[INV_PORT] == INV_FROM_GROUP);
	}
	inventory_free(inv);
	free(cause);
	free(want);
}

static void
test_later_group_section_wins(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause, *want = loc(6);

	CHECK(load("[group:first]\nhosts = a\nkeep = 3\n\n[group:second]\nkeep = 7\nhosts = a\n",
	    &inv, &cause) == 0);
	h = inventory_find(inv, "a");
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK(inv_get_long(h, INV_KEEP) == 7);
		CHECK_STR(h->set[INV_KEEP].origin, want);
	}
	inventory_free(inv);
	free(cause);
	free(want);
}

static void
test_host_section_beats_group_even_when_group_comes_later(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause, *want = loc(2);

	CHECK(load("[host:a]\nuser = op\n[group:g]\nhosts = a\nuser = deploy\n", &inv, &cause) == 0);
	h = inventory_find(inv, "a");
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK_STR(inv_get(h, INV_USER), "op");
		CHECK_STR(h->set[INV_USER].origin, want);
		CHECK(h->kind[INV_USER] == INV_FROM_HOST);
	}
	inventory_free(inv);
	free(cause);
	free(want);
}

static void
test_cli_override_beats_host_section(void)
{
	struct inv_override ov[] = { { (char *)"port", (char *)"2201" } };
	struct inventory_opts opts = { ov, 1, "none" };
	struct inventory *inv;
	struct inv_host *h;
	char *cause;

	CHECK(load_opts("[host:a]\nport = 2200\n", &opts, &inv, &cause) == 0);
	h = inventory_find(inv, "a");
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK_STR(inv_get(h, INV_PORT), "2201");
		CHECK_STR(h->set[INV_PORT].origin, "-o");
		CHECK(h->kind[INV_PORT] == INV_FROM_CLI);
	}
	inventory_free(inv);
	free(cause);
}

static void
test_cli_override_bad_value_is_error(void)
{
	struct inv_override ov[] = { { (char *)"keep", (char *)"0" } };
	struct inventory_opts opts = { ov, 1, "none" };
	struct inventory *inv;
	char *cause;

	CHECK(load_opts("[host:a]\n", &opts, &inv, &cause) == -1);
	CHECK(inv == NULL);
	CHECK_STR(cause, "-o: bad keep '0': must be an integer from 1 to 1000");
	free(cause);
}

static void
test_tilde_expanded_in_identity_list(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause, *want = xasprintf("%s/.ssh/a, /k/b", tmpdir);

	CHECK(load("[fleet]\nidentity = ~/.ssh/a, /k/b\n[host:x]\n", &inv, &cause) == 0);
	h = inventory_find(inv, "x");
	CHECK(h != NULL);
	if (h != NULL)
		CHECK_STR(inv_get(h, INV_IDENTITY), want);
	inventory_free(inv);
	free(cause);
	free(want);
}

static void
test_state_dir_defaults_next_to_fleet_ini(void)
{
	struct inventory *inv;
	char *cause, *want = xasprintf("%s/.fleet", tmpdir);

	CHECK(load("[host:x]\n", &inv, &cause) == 0);
	CHECK(inv != NULL);
	if (inv != NULL)
		CHECK_STR(inv->state_dir, want);
	inventory_free(inv);
	free(cause);
	free(want);
}

/* ---- the inih traps ---- */

static void
test_semicolon_in_value_is_kept_whole(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause;

	CHECK(load("; a comment\n[host:a]\n  ; an indented comment\nrestart = systemctl stop app ; systemctl start app\n",
	    &inv, &cause) == 0);
	h = inventory_find(inv, "a");
	CHECK(h != NULL);
	if (h != NULL)
		CHECK_STR(inv_get(h, INV_RESTART), "systemctl stop app ; systemctl start app");
	inventory_free(inv);
	free(cause);
}

/* 300 characters on one line: inih would split it silently; we refuse it and say where. */
static void
test_long_line_is_refused_with_line(void)
{
	struct buf b;
	size_t start;

	buf_init(&b, 0);
	buf_adds(&b, "[fleet]\nport = 22\n");
	start = b.len;
	buf_adds(&b, "install = ");
	while (b.len - start < 300)
		buf_adds(&b, "x");
	buf_adds(&b, "\n[host:a]\n");
	expect_error(b.data, 3, "line too long (300 characters, at most 197): continue a long value "
	    "on indented lines");
	buf_free(&b);
}

static void
test_continuation_lines_carry_a_long_command(void)
{
	struct inventory *inv;
	struct inv_host *h;
	struct buf ini, want;
	char *cause, part[101];
	int i;

	buf_init(&ini, 0);
	buf_init(&want, 0);
	buf_adds(&ini, "[host:a]\ninstall =");
	for (i = 0; i < 3; i++) {
		memset(part, 'a' + i, 100);
		part[100] = '\0';
		buf_addf(&ini, "\n    %s", part);
		buf_addf(&want, "%s%s", i > 0 ? "\n" : "", part);
	}
	buf_adds(&ini, "\nport = 22\n");
	CHECK(load(ini.data, &inv, &cause) == 0);
	h = inventory_find(inv, "a");
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK_STR(inv_get(h, INV_INSTALL), want.data);
		CHECK(strlen(inv_get(h, INV_INSTALL)) == 302);
		CHECK_STR(inv_get(h, INV_PORT), "22");
	}
	inventory_free(inv);
	free(cause);
	buf_free(&ini);
	buf_free(&want);
}

static void
test_continuation_of_single_line_key_is_error(void)
{
	expect_error("[host:a]\naddress = 10.0.0.1\n  port = 22\n", 3,
	    "'address' takes a single line (an indented line continues the value above it)");
}

static void
test_control_byte_0x1f_is_refused(void)
{
	expect_error("[host:a]\nrestart = a \x1f b\n", 2, "control character 0x1f in line");
}

/* ---- errors with their lines ---- */

static void
test_unknown_key_names_line(void)
{
	expect_error("[fleet]\nport = 22\n\n[host:a]\nadress = 10.0.0.1\n", 5, "unknown key 'adress'");
}

static void
test_unknown_section_is_error(void)
{
	expect_error("[fleet]\n[hosts:a]\n", 2, "unknown section 'hosts:a' (expected [fleet], [group:NAME] or [host:NAME])");
}

static void
test_key_outside_section_is_error(void)
{
	expect_error("port = 22\n", 1, "'port' is outside any section");
}

static void
test_bad_port_is_error(void)
{
	expect_error("[host:a]\nport = 70000\n", 2, "bad port '70000': must be an integer from 1 to 65535");
}

static void
test_bad_keep_is_error(void)
{
	expect_error("[fleet]\nkeep = 1001\n", 2, "bad keep '1001': must be an integer from 1 to 1000");
}

static void
test_zero_timeout_is_error(void)
{
	expect_error("[fleet]\nconnect_timeout = 0\n", 2,
	    "bad connect_timeout '0': must be an integer from 1 to 3600");
}

static void
test_bad_strict_host_keys_is_error(void)
{
	expect_error("[fleet]\nstrict_host_keys = maybe\n", 2,
	    "bad strict_host_keys 'maybe': must be yes, accept-new or no");
}

static void
test_bad_identities_only_is_error(void)
{
	expect_error("[fleet]\nidentities_only = true\n", 2, "bad identities_only 'true': must be yes or no");
}

static void
test_bad_window_is_error(void)
{
	expect_error("[fleet]\nwindow = 25:00-04:00\n", 2, "bad window '25:00-04:00': must be HH:MM-HH:MM");
}

static void
test_good_window_is_accepted(void)
{
	struct inventory *inv;
	char *cause;

	CHECK(load("[fleet]\nwindow = 22:30-04:00\nwindow_tz = Europe/Paris\n[host:a]\n", &inv, &cause) == 0);
	CHECK(inv != NULL && strcmp(inv_get(inv->hosts[0], INV_WINDOW), "22:30-04:00") == 0);
	inventory_free(inv);
	free(cause);
}

static void
test_repeated_key_in_one_section_is_error(void)
{
	expect_error("[host:a]\nport = 22\nuser = x\nport = 23\n", 4, "'port' repeated in this section (first at line 2)");
}

static void
test_key_without_equals_is_error(void)
{
	expect_error("[host:a]\nport = 22\nidentity\n", 3, "expected 'key = value', not 'identity'");
}

static void
test_empty_value_is_error(void)
{
	expect_error("[host:a]\nuser =\nport = 22\n", 2, "empty value for 'user'");
}

static void
test_fleet_only_key_elsewhere_is_error(void)
{
	expect_error("[group:g]\nhosts = a\nstate_dir = /x\n", 3, "'state_dir' belongs in [fleet]");
}

static void
test_hosts_key_outside_group_is_error(void)
{
	expect_error("[fleet]\nhosts = a\n", 2, "'hosts' belongs in a [group:NAME] section");
}

static void
test_missing_file_names_errno(void)
{
	struct inventory *inv = NULL;
	struct inventory_opts opts = { NULL, 0, "none" };
	char *cause = NULL, *path = xasprintf("%s/nope.ini", tmpdir), *want;

	want = xasprintf("cannot open '%s': No such file or directory", path);
	CHECK(inventory_load(path, &opts, &inv, &cause) == -1);
	CHECK(inv == NULL);
	CHECK_STR(cause, want);
	free(cause);
	free(want);
	free(path);
}

static void
test_conflicting_addresses_are_error(void)
{
	expect_error("[host:a]\naddress = 10.0.0.1\n[host:b]\n[host:a]\naddress = 10.0.0.2\n", 5,
	    "host 'a' defined again with address '10.0.0.2' (line 2 says '10.0.0.1')");
}

static void
test_same_address_twice_is_fine(void)
{
	struct inventory *inv;
	char *cause;

	CHECK(load("[host:a]\naddress = 10.0.0.1\n[host:a]\naddress = 10.0.0.1\nport = 23\n", &inv, &cause) == 0);
	CHECK(inv != NULL && inv->nhosts == 1);
	CHECK(inv != NULL && inv_get_long(inv->hosts[0], INV_PORT) == 23);
	inventory_free(inv);
	free(cause);
}

static void
test_name_of_both_group_and_host_is_error(void)
{
	expect_error("[host:x]\n[group:x]\nhosts = a\n", 2, "'x' names both a group and a host");
}

/* ---- order and groups ---- */

static void
test_inventory_order_is_first_appearance(void)
{
	struct inventory *inv;
	char *cause;

	CHECK(load("[host:z]\n[group:g]\nhosts = b, z, a\n[host:c]\n[group:h]\nhosts = a, d\n", &inv, &cause) == 0);
	CHECK(inv != NULL && inv->nhosts == 5);
	if (inv != NULL && inv->nhosts == 5) {
		CHECK_STR(inv->hosts[0]->name, "z");
		CHECK_STR(inv->hosts[1]->name, "b");
		CHECK_STR(inv->hosts[2]->name, "a");
		CHECK_STR(inv->hosts[3]->name, "c");
		CHECK_STR(inv->hosts[4]->name, "d");
		CHECK(inv->hosts[4]->order == 4);
	}
	inventory_free(inv);
	free(cause);
}

static void
test_included_group_members_belong_to_including_group(void)
{
	struct inventory *inv;
	const struct inv_group *g;
	struct inv_host *h;
	char *cause;

	CHECK(load("[group:lobby]\nhosts = l1\ngroups = kiosks\n[group:kiosks]\nhosts = k1, k2\n", &inv, &cause) == 0);
	g = inventory_find_group(inv, "lobby");
	CHECK(g != NULL);
	if (g != NULL) {
		CHECK(strv_len(g->members) == 3);
		CHECK_STR(g->members[0], "l1");
		CHECK_STR(g->members[2], "k2");
	}
	h = inventory_find(inv, "k1");
	CHECK(h != NULL && strv_len(h->groups) == 2);
	if (h != NULL && strv_len(h->groups) == 2) {
		CHECK_STR(h->groups[0], "lobby");
		CHECK_STR(h->groups[1], "kiosks");
	}
	inventory_free(inv);
	free(cause);
}

/* lobby (which includes kiosks) comes later, so its setting wins over kiosks' own. */
static void
test_including_group_settings_apply_at_its_position(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause;

	CHECK(load("[group:kiosks]\nhosts = k1\nkeep = 2\n[group:lobby]\ngroups = kiosks\nkeep = 9\n"
	    "[group:late]\nhosts = k2\ngroups = lobby\n", &inv, &cause) == 0);
	h = inventory_find(inv, "k1");
	CHECK(h != NULL && inv_get_long(h, INV_KEEP) == 9);
	h = inventory_find(inv, "k2");
	CHECK(h != NULL && inv_get_long(h, INV_KEEP) == 5);
	inventory_free(inv);
	free(cause);
}

static void
test_group_including_itself_is_error(void)
{
	expect_error("[group:a]\nhosts = x\ngroups = a\n", 3, "group 'a' includes itself");
}

static void
test_group_cycle_is_error_at_closing_line(void)
{
	expect_error("[group:a]\nhosts = x\ngroups = b\n[group:b]\ngroups = c\n[group:c]\ngroups = a\n", 7,
	    "group 'c' includes 'a', which includes 'c' (a cycle)");
}

static void
test_groups_naming_undefined_group_is_error(void)
{
	expect_error("[group:a]\nhosts = x\ngroups = nosuch\n", 3, "group 'a' includes undefined group 'nosuch'");
}

/* ---- jump ---- */

static void
test_jump_chain_resolves_pointers(void)
{
	struct inventory *inv;
	struct inv_host *a, *b, *c;
	char *cause;

	CHECK(load("[host:a]\njump = b\n[host:b]\njump = c\n[host:c]\n", &inv, &cause) == 0);
	a = inventory_find(inv, "a");
	b = inventory_find(inv, "b");
	c = inventory_find(inv, "c");
	CHECK(a != NULL && b != NULL && c != NULL);
	if (a != NULL && b != NULL && c != NULL) {
		CHECK(a->jump == b);
		CHECK(b->jump == c);
		CHECK(c->jump == NULL);
	}
	inventory_free(inv);
	free(cause);
}

static void
test_jump_none_overrides_group_jump(void)
{
	struct inventory *inv;
	struct inv_host *a;
	char *cause;

	CHECK(load("[host:gw]\n[group:g]\nhosts = a, b\njump = gw\n[host:a]\njump = none\n", &inv, &cause) == 0);
	a = inventory_find(inv, "a");
	CHECK(a != NULL && a->jump == NULL);
	CHECK(inventory_find(inv, "b") != NULL && inventory_find(inv, "b")->jump == inventory_find(inv, "gw"));
	inventory_free(inv);
	free(cause);
}

static void
test_jump_to_undefined_host_is_error(void)
{
	expect_error("[host:a]\njump = gw\n", 2, "jump host 'gw' is not defined");
}

static void
test_jump_loop_is_error_at_closing_key(void)
{
	expect_error("[host:a]\njump = b\n[host:b]\n\njump = a\n", 5, "jump loop: a -> b -> a");
}

/* ---- relays ---- */

static void
test_relay_resolves_and_serves_as_jump(void)
{
	struct inventory *inv;
	char *cause;
	struct inv_host *a, *b, *gw, *j;

	CHECK(load("[host:gw]\n[host:j]\n[group:site]\nhosts = a, b\nrelay = gw\nrelay_client = dbclient\n"
	    "relay_identity = /home/relay/.ssh/id_site\n[host:b]\njump = j\n", &inv, &cause) == 0);
	a = inventory_find(inv, "a");
	b = inventory_find(inv, "b");
	gw = inventory_find(inv, "gw");
	j = inventory_find(inv, "j");
	CHECK(a != NULL && b != NULL && gw != NULL && j != NULL);
	if (a != NULL && b != NULL && gw != NULL) {
		CHECK(a->relay == gw && a->jump == gw);       /* no jump of its own: small commands go via the relay */
		CHECK(b->relay == gw && b->jump == j);        /* its own jump stays */
		CHECK(gw->relay == NULL);
		CHECK_STR(inv_get(a, INV_RELAY_CLIENT), "dbclient");
		CHECK_STR(inv_get(a, INV_RELAY_IDENTITY), "/home/relay/.ssh/id_site");
		CHECK_STR(inv_get(gw, INV_RELAY_CLIENT), "auto");
		CHECK(inv_get_long(a, INV_RELAY_PARALLEL) == 10);
	}
	inventory_free(inv);
	free(cause);
}

static void
test_relay_errors_name_the_line(void)
{
	expect_error("[host:a]\nrelay = gw\n", 2, "relay 'gw' is not defined");
	expect_error("[host:a]\nrelay = a\n", 2, "host 'a' cannot be its own relay");
	expect_error("[host:r1]\nrelay = r2\n[host:r2]\n[host:a]\nrelay = r1\n", 5,
	    "relay 'r1' has a relay itself (r2): one level only");
	expect_error("[host:gw]\n[host:a]\nrelay = gw\nrelay_client = putty\n", 4,
	    "bad relay_client 'putty': must be auto, ssh or dbclient");
	expect_error("[host:gw]\n[host:a]\nrelay = gw\nrelay_identity = .ssh/id\n", 4,
	    "bad relay_identity '.ssh/id': must be an absolute path below /");
	expect_error("[host:gw]\n[host:a]\nrelay_cache = /var/$(reboot)\n", 3,
	    "bad relay_cache '/var/$(reboot)': quotes, '$', '`' and '\\' are not allowed");
	expect_error("[host:gw]\n[host:a]\nrelay_parallel = 0\n", 3,
	    "bad relay_parallel '0': must be an integer from 1 to 1000");
}

/* ---- ssh_config ---- */

static struct inventory *
load_with_ssh(const char *ini, const char *sshcfg, char **cause)
{
	struct inventory_opts opts = { NULL, 0, NULL };
	struct inventory *inv;
	char *p = xasprintf("%s/ssh_config", tmpdir);

	write_text(p, sshcfg);
	opts.ssh_config = p;
	load_opts(ini, &opts, &inv, cause);
	free(p);
	return inv;
}

static void
test_ssh_config_hostname_beats_default(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause, *want = xasprintf("%s/ssh_config:2", tmpdir);

	inv = load_with_ssh("[host:k1]\n", "Host k1\n  HostName 10.9.8.7\n", &cause);
	CHECK(inv != NULL);
	h = inventory_find(inv, "k1");
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK_STR(inv_get(h, INV_ADDRESS), "10.9.8.7");
		CHECK_STR(h->set[INV_ADDRESS].origin, want);
		CHECK(h->kind[INV_ADDRESS] == INV_FROM_SSH_CONFIG);
	}
	inventory_free(inv);
	free(cause);
	free(want);
}

static void
test_fleet_ini_port_beats_ssh_config_port(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause;

	inv = load_with_ssh("[fleet]\nport = 2222\n[host:k1]\n", "Host k1\n  Port 2200\n  User sshuser\n", &cause);
	CHECK(inv != NULL);
	h = inventory_find(inv, "k1");
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK_STR(inv_get(h, INV_PORT), "2222");
		CHECK(h->kind[INV_PORT] == INV_FROM_FLEET);
		CHECK_STR(inv_get(h, INV_USER), "sshuser");
	}
	inventory_free(inv);
	free(cause);
}

static void
test_ssh_config_proxyjump_makes_implicit_hop(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause;

	inv = load_with_ssh("[host:k1]\n", "Host k1\n  ProxyJump admin@bastion:2022\nHost bastion\n  HostName 10.1.1.1\n",
	    &cause);
	CHECK(inv != NULL);
	h = inventory_find(inv, "k1");
	CHECK(h != NULL && h->jump != NULL);
	if (h != NULL && h->jump != NULL) {
		CHECK(h->jump->implicit);
		CHECK_STR(h->jump->name, "bastion");
		CHECK_STR(inv_get(h->jump, INV_USER), "admin");
		CHECK_STR(inv_get(h->jump, INV_PORT), "2022");
		CHECK_STR(inv_get(h->jump, INV_ADDRESS), "10.1.1.1");
		CHECK(inventory_find(inv, "bastion") == NULL);
		CHECK(inv->nimplicit == 1);
	}
	inventory_free(inv);
	free(cause);
}

/* ProxyJump a,b: ssh reaches a first, then b, then the target. */
static void
test_ssh_config_proxyjump_chain_order(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause;

	inv = load_with_ssh("[host:k1]\n", "Host k1\n  ProxyJump ja,jb\n", &cause);
	CHECK(inv != NULL);
	h = inventory_find(inv, "k1");
	CHECK(h != NULL && h->jump != NULL && h->jump->jump != NULL);
	if (h != NULL && h->jump != NULL && h->jump->jump != NULL) {
		CHECK_STR(h->jump->name, "jb");
		CHECK_STR(h->jump->jump->name, "ja");
		CHECK(h->jump->jump->jump == NULL);
	}
	inventory_free(inv);
	free(cause);
}

static void
test_ssh_config_proxyjump_to_inventory_host_uses_it(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause;

	inv = load_with_ssh("[host:gw]\naddress = 10.0.0.1\n[host:k1]\n", "Host k1\n  ProxyJump gw\n", &cause);
	CHECK(inv != NULL);
	h = inventory_find(inv, "k1");
	CHECK(h != NULL && h->jump == inventory_find(inv, "gw"));
	CHECK(inv != NULL && inv->nimplicit == 0);
	inventory_free(inv);
	free(cause);
}

static void
test_fleet_ini_jump_beats_ssh_config_proxyjump(void)
{
	struct inventory *inv;
	struct inv_host *h;
	char *cause;

	inv = load_with_ssh("[host:gw]\n[host:k1]\njump = none\n", "Host k1\n  ProxyJump gw\n", &cause);
	CHECK(inv != NULL);
	h = inventory_find(inv, "k1");
	CHECK(h != NULL && h->jump == NULL);
	inventory_free(inv);
	free(cause);
}

static void
test_ssh_config_proxyjump_loop_is_error(void)
{
	struct inventory *inv;
	char *cause, *want = xasprintf("%s/ssh_config:4: jump loop: ", tmpdir);

	inv = load_with_ssh("[host:a]\n[host:b]\n", "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n", &cause);
	CHECK(inv == NULL);
	CHECK(cause != NULL && strncmp(cause, want, strlen(want)) == 0);
	free(cause);
	free(want);
}

/*
 * A CMDB export: 100,000 hosts listed one per continuation line, 100,000 [host:] sections, and 1,000
 * groups of 100 inside one group of groups.  Checked for the right members and settings (the time is
 * measured by bench/inventory_shapes.sh; a quadratic loader would not finish in the test's time).
 */
static void
test_hundred_thousand_hosts_in_three_shapes(void)
{
	struct inventory *inv = NULL;
	const struct inv_group *g;
	struct buf b;
	char *cause = NULL;
	int n = 100000;

	buf_init(&b, 0);
	buf_adds(&b, "[fleet]\nuser = u\n[group:big]\nport = 2200\nhosts = h000000");
	for (int i = 1; i < n; i++)
		buf_addf(&b, ",\n    h%06d", i);
	buf_adds(&b, "\n");
	CHECK(load(b.data, &inv, &cause) == 0);
	CHECK(inv != NULL && inv->nhosts == (size_t)n);
	g = inventory_find_group(inv, "big");
	CHECK(g != NULL && strv_len(g->members) == (size_t)n && strcmp(g->members[n - 1], "h099999") == 0);
	CHECK(inv != NULL && strcmp(inv_get(inventory_find(inv, "h054321"), INV_PORT), "2200") == 0);
	inventory_free(inv);
	inv = NULL;

	buf_reset(&b);
	buf_adds(&b, "[fleet]\nuser = u\n");
	for (int i = 0; i < n; i++)
		buf_addf(&b, "[host:h%06d]\naddress = 10.%d.%d.%d\n", i, i / 65536, i / 256 % 256, i % 256);
	CHECK(load(b.data, &inv, &cause) == 0);
	CHECK(inv != NULL && inv->nhosts == (size_t)n);
	CHECK(inv != NULL && strcmp(inv_get(inventory_find(inv, "h070000"), INV_ADDRESS), "10.1.17.112") == 0);
	inventory_free(inv);
	inv = NULL;

	buf_reset(&b);
	buf_adds(&b, "[fleet]\nuser = u\n");
	for (int k = 0; k < n / 100; k++) {
		buf_addf(&b, "[group:g%04d]\nport = %d\nhosts = h%06d", k, 2000 + k, k * 100);
		for (int i = 1; i < 100; i++)
			buf_addf(&b, ",\n    h%06d", k * 100 + i);
		buf_adds(&b, "\n");
	}
	buf_adds(&b, "[group:top]\ngroups = g0000");
	for (int k = 1; k < n / 100; k++)
		buf_addf(&b, ",\n    g%04d", k);
	buf_adds(&b, "\n");
	CHECK(load(b.data, &inv, &cause) == 0);
	g = inv != NULL ? inventory_find_group(inv, "top") : NULL;
	CHECK(g != NULL && strv_len(g->members) == (size_t)n);
	if (inv != NULL) {
		const struct inv_host *h = inventory_find(inv, "h012345");

		CHECK(h != NULL && strcmp(inv_get(h, INV_PORT), "2123") == 0);
		CHECK(h != NULL && strv_len(h->groups) == 2 && strcmp(h->groups[0], "g0123") == 0 &&
		    strcmp(h->groups[1], "top") == 0);
	}
	inventory_free(inv);
	if (cause != NULL)
		printf("# %s\n", cause);
	free(cause);
	buf_free(&b);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	ini_path = xasprintf("%s/fleet.ini", tmpdir);
	/* ~ and the default known_hosts come from $HOME: make them predictable */
	setenv("HOME", tmpdir, 1);

	RUN(test_range_keeps_zero_padded_width);
	RUN(test_hundred_thousand_hosts_in_three_shapes);
	RUN(test_range_three_digit_width);
	RUN(test_range_without_leading_zero_is_unpadded);
	RUN(test_several_ranges_multiply_leftmost_slowest);
	RUN(test_range_start_after_end_is_error_with_line);
	RUN(test_range_of_letters_is_error);
	RUN(test_unterminated_range_is_error);
	RUN(test_range_with_unequal_padded_widths_is_error);
	RUN(test_group_hosts_list_mixes_names_and_ranges);
	RUN(test_builtin_defaults_have_origin_default);
	RUN(test_fleet_section_beats_default);
	RUN(test_group_beats_fleet_even_when_fleet_comes_later);
	RUN(test_later_group_section_wins);
	RUN(test_host_section_beats_group_even_when_group_comes_later);
	RUN(test_cli_override_beats_host_section);
	RUN(test_cli_override_bad_value_is_error);
	RUN(test_tilde_expanded_in_identity_list);
	RUN(test_state_dir_defaults_next_to_fleet_ini);
	RUN(test_semicolon_in_value_is_kept_whole);
	RUN(test_long_line_is_refused_with_line);
	RUN(test_continuation_lines_carry_a_long_command);
	RUN(test_continuation_of_single_line_key_is_error);
	RUN(test_control_byte_0x1f_is_refused);
	RUN(test_unknown_key_names_line);
	RUN(test_unknown_section_is_error);
	RUN(test_key_outside_section_is_error);
	RUN(test_bad_port_is_error);
	RUN(test_bad_keep_is_error);
	RUN(test_zero_timeout_is_error);
	RUN(test_bad_strict_host_keys_is_error);
	RUN(test_bad_identities_only_is_error);
	RUN(test_bad_window_is_error);
	RUN(test_good_window_is_accepted);
	RUN(test_repeated_key_in_one_section_is_error);
	RUN(test_key_without_equals_is_error);
	RUN(test_empty_value_is_error);
	RUN(test_fleet_only_key_elsewhere_is_error);
	RUN(test_hosts_key_outside_group_is_error);
	RUN(test_missing_file_names_errno);
	RUN(test_conflicting_addresses_are_error);
	RUN(test_same_address_twice_is_fine);
	RUN(test_name_of_both_group_and_host_is_error);
	RUN(test_inventory_order_is_first_appearance);
	RUN(test_included_group_members_belong_to_including_group);
	RUN(test_including_group_settings_apply_at_its_position);
	RUN(test_group_including_itself_is_error);
	RUN(test_group_cycle_is_error_at_closing_line);
	RUN(test_groups_naming_undefined_group_is_error);
	RUN(test_jump_chain_resolves_pointers);
	RUN(test_jump_none_overrides_group_jump);
	RUN(test_jump_to_undefined_host_is_error);
	RUN(test_jump_loop_is_error_at_closing_key);
	RUN(test_relay_resolves_and_serves_as_jump);
	RUN(test_relay_errors_name_the_line);
	RUN(test_ssh_config_hostname_beats_default);
	RUN(test_fleet_ini_port_beats_ssh_config_port);
	RUN(test_ssh_config_proxyjump_makes_implicit_hop);
	RUN(test_ssh_config_proxyjump_chain_order);
	RUN(test_ssh_config_proxyjump_to_inventory_host_uses_it);
	RUN(test_fleet_ini_jump_beats_ssh_config_proxyjump);
	RUN(test_ssh_config_proxyjump_loop_is_error);

	{
		char *cmd = xasprintf("rm -rf '%s'", tmpdir);

		if (system(cmd) != 0)
			printf("warning: could not remove %s\n", tmpdir);
		free(cmd);
	}
	free(ini_path);
	return CHECK_DONE();
}
