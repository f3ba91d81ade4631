/* Unit tests for lib/manifest: the text format round-trips, and every malformed manifest is refused. */
#include <stdlib.h>
#include <string.h>

#include "../../lib/manifest.h"
#include "../../lib/util.h"
#include "check.h"

#define HASH_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HASH_E "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char good[] =
    "fleetctl-manifest 1\n"
    "component app\n"
    "version 1.4.2\n"
    "d\t0755\t0\t-\tbin\n"
    "f\t0755\t3\t" HASH_A "\tbin/run\n"
    "l\t0777\t0\t-\tbin/start\trun\n"
    "f\t0644\t0\t" HASH_E "\tempty\n"
    "l\t0777\t0\t-\tlatest\tbin/../empty\n";

/* Parse text; 0 if accepted. The cause, if any, is returned through why (caller frees). */
static int
parse(const char *text, char **why)
{
	struct manifest *m = NULL;
	int rc;

	*why = NULL;
	rc = manifest_parse(text, strlen(text), &m, why);
	manifest_free(m);
	return rc;
}

/* The good manifest with one line replaced (lineno counts from 1). */
static char *
with_line(int lineno, const char *line)
{
	struct buf b;
	const char *p = good, *nl;
	int n = 1;

	buf_init(&b, 0);
	while (*p != '\0') {
		nl = strchr(p, '\n');
		if (n == lineno)
			buf_addf(&b, "%s\n", line);
		else
			buf_add(&b, p, (size_t)(nl - p + 1));
		p = nl + 1;
		n++;
	}
	return buf_detach(&b);
}

static void
test_parse_good_manifest(void)
{
	struct manifest *m = NULL;
	char *cause = NULL;

	CHECK(manifest_parse(good, strlen(good), &m, &cause) == 0);
	CHECK(cause == NULL);
	if (m == NULL)
		return;
	CHECK_STR(m->component, "app");
	CHECK_STR(m->version, "1.4.2");
	CHECK(m->n == 5);
	CHECK(m->entries[1].type == MANIFEST_FILE);
	CHECK(m->entries[1].mode == 0755);
	CHECK(m->entries[1].size == 3);
	CHECK_STR(m->entries[1].sha256, HASH_A);
	CHECK_STR(m->entries[1].path, "bin/run");
	CHECK(m->entries[2].type == MANIFEST_LINK);
	CHECK_STR(m->entries[2].target, "run");
	CHECK(manifest_find(m, "empty") == 3);
	CHECK(manifest_find(m, "nope") == -1);
	manifest_free(m);
}

static void
test_format_parse_round_trip(void)
{
	struct manifest *m = manifest_new("content-pack", "2024.11.3+b7"), *back = NULL;
	char *text, *again = NULL, *cause = NULL;

	manifest_add(m, MANIFEST_FILE, 0644, 123456789012ULL, HASH_A, "z/\xc3\xa9t\xc3\xa9.txt", NULL);
	manifest_add(m, MANIFEST_DIR, 0700, 0, NULL, "z", NULL);
	manifest_add(m, MANIFEST_LINK, 0777, 0, NULL, "a-link", "z/\xc3\xa9t\xc3\xa9.txt");
	manifest_add(m, MANIFEST_FILE, 0600, 0, HASH_E, "a b", NULL);
	manifest_sort(m);
	CHECK(manifest_check(m, &cause) == 0);
	text = manifest_format(m);
	CHECK(manifest_parse(text, strlen(text), &back, &cause) == 0);
	CHECK(cause == NULL);
	if (back != NULL) {
		again = manifest_format(back);
		CHECK_STR(again, text);
		CHECK(back->n == 4);
		CHECK_STR(back->entries[0].path, "a b");
		CHECK(back->entries[3].size == 123456789012ULL);
		CHECK(back->entries[2].mode == 0700);
	}
	free(again);
	free(text);
	free(cause);
	manifest_free(back);
	manifest_free(m);
}

static void
test_sort_is_byte_order(void)
{
	struct manifest *m = manifest_new("app", "1");
	char *cause = NULL;

	manifest_add(m, MANIFEST_FILE, 0644, 0, HASH_E, "a/b", NULL);
	manifest_add(m, MANIFEST_FILE, 0644, 0, HASH_E, "a-b", NULL);
	manifest_add(m, MANIFEST_DIR, 0755, 0, NULL, "a", NULL);
	manifest_add(m, MANIFEST_FILE, 0644, 0, HASH_E, "B", NULL);
	manifest_sort(m);
	CHECK_STR(m->entries[0].path, "B");
	CHECK_STR(m->entries[1].path, "a");
	CHECK_STR(m->entries[2].path, "a-b");
	CHECK_STR(m->entries[3].path, "a/b");
	CHECK(manifest_check(m, &cause) == 0);
	free(cause);
	manifest_free(m);
}

/* Each of these lines, put in place of line 5 (bin/run) or of a header line, must be refused. */
static void
test_malformed_lines_refused(void)
{
	static const struct {
		int line;
		const char *text;
	} bad[] = {
		{ 1, "fleetctl-manifest 2" },
		{ 2, "component App" },
		{ 2, "component 1app" },
		{ 2, "componentapp" },
		{ 3, "version -1" },
		{ 3, "version 1.0;rm" },
		{ 3, "version " },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin/run\textra" },
		{ 5, "f\t0755\t3\t" HASH_A },
		{ 5, "f\t755\t3\t" HASH_A "\tbin/run" },
		{ 5, "f\t0758\t3\t" HASH_A "\tbin/run" },
		{ 5, "f\t4755\t3\t" HASH_A "\tbin/run" },
		{ 5, "f\t0777\t3\t" HASH_A "\tbin/run" },
		{ 5, "f\t0755\t03\t" HASH_A "\tbin/run" },
		{ 5, "f\t0755\t-3\t" HASH_A "\tbin/run" },
		{ 5, "f\t0755\t99999999999999999999\t" HASH_A "\tbin/run" },
		{ 5, "f\t0755\t3\tBA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\tbin/run" },
		{ 5, "f\t0755\t3\tba78\tbin/run" },
		{ 5, "x\t0755\t3\t" HASH_A "\tbin/run" },
		{ 5, "ff\t0755\t3\t" HASH_A "\tbin/run" },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin/../run" },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin/./run" },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin//run" },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin/run/" },
		{ 5, "f\t0755\t3\t" HASH_A "\t/bin/run" },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin/r\x1bun" },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin/r\xc2\x9bun" },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin/r\xffun" },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin/run\r" },
		{ 5, "f\t0755\t3\t" HASH_A "\tbin" },            /* duplicate of the directory */
		{ 5, "f\t0755\t3\t" HASH_A "\ta" },              /* out of order */
		{ 5, "f\t0755\t3\t" HASH_A "\tnodir/run" },      /* parent not listed */
		{ 5, "f\t0755\t3\t" HASH_A "\t.fleetctl-manifest" },
		{ 5, "d\t0755\t3\t-\tbin/run" },
		{ 5, "d\t0755\t0\t" HASH_A "\tbin/run" },
		{ 5, "l\t0777\t0\t-\tbin/run" },
		{ 5, "l\t0755\t0\t-\tbin/run\tx" },
		{ 5, "l\t0777\t0\t-\tbin/run\t/etc/passwd" },
		{ 5, "l\t0777\t0\t-\tbin/run\t../../etc" },
		{ 5, "l\t0777\t0\t-\tbin/run\t" },
		{ 5, "" },
	};
	char *text, *why;
	size_t i;

	/* the helper itself: putting back the original line gives a good manifest */
	text = with_line(5, "f\t0755\t3\t" HASH_A "\tbin/run");
	CHECK_STR(text, good);
	CHECK(parse(text, &why) == 0);
	free(why);
	free(text);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = with_line(bad[i].line, bad[i].text);
		if (parse(text, &why) == 0) {
			printf("  accepted: line %d '%s'\n", bad[i].line, bad[i].text);
			CHECK(0);
		}
		CHECK(why != NULL);
		free(why);
		free(text);
	}
}

static void
test_error_names_the_path(void)
{
	char *text = with_line(5, "f\t0755\t3\t" HASH_A "\tbin/../run"), *why = NULL;

	CHECK(parse(text, &why) != 0);
	CHECK(why != NULL && strstr(why, "'bin/../run'") != NULL);
	free(why);
	free(text);
	text = with_line(5, "f\t0755\t3\t" HASH_A "\tbin/r\x1bun");
	CHECK(parse(text, &why) != 0);
	/* the escape byte is shown as \x1b, never sent raw to a terminal */
	CHECK(why != NULL && strstr(why, "bin/r\\x1bun") != NULL && strchr(why, '\x1b') == NULL);
	free(why);
	free(text);
}

static void
test_structure_refused(void)
{
	char *why = NULL;
	struct manifest *m = NULL;

	CHECK(parse("", &why) != 0);
	free(why);
	CHECK(parse("fleetctl-manifest 1\ncomponent app\nversion 1\n", &why) == 0);  /* empty release */
	free(why);
	CHECK(parse("fleetctl-manifest 1\ncomponent app\n", &why) != 0);
	free(why);
	CHECK(parse("fleetctl-manifest 1\ncomponent app\nversion 1", &why) != 0);     /* no final newline */
	free(why);
	CHECK(parse("fleetctl-manifest 1\r\ncomponent app\nversion 1\n", &why) != 0);
	free(why);
	why = NULL;
	CHECK(manifest_parse("fleetctl-manifest 1\ncomponent app\nversion 1\n\0x\n", 47, &m, &why) != 0);
	CHECK(m == NULL);
	free(why);
}

static void
test_file_through_symlink_refused(void)
{
	char *why = NULL;
	const char *t = "fleetctl-manifest 1\ncomponent app\nversion 1\n"
	    "l\t0777\t0\t-\tx\tsub\n"
	    "f\t0644\t0\t" HASH_E "\tx/y\n";

	CHECK(parse(t, &why) != 0);
	CHECK(why != NULL && strstr(why, "'x/y'") != NULL && strstr(why, "not a directory") != NULL);
	free(why);
}

static void
test_symlink_resolution(void)
{
	static const struct {
		const char *link[2][2];   /* up to two symlinks: path, target */
		int ok;
	} cases[] = {
		{ { { "sub/l", ".." } }, 1 },
		{ { { "sub/l", "../.." } }, 0 },
		{ { { "sub/l", "../sub/../../x" } }, 0 },
		{ { { "sub/l", "./../sub/." } }, 1 },
		{ { { "sub/l", "nothere/../../../x" } }, 0 },
		{ { { "sub/l", "nothere/../../x" } }, 1 },
		{ { { "sub/l", "nothere/.." } }, 1 },
		{ { { "sub/l", "..//sub//" } }, 1 },
		/* lexically "up/../etc" is inside, but up -> . so up/.. is the release's parent */
		{ { { "esc", "up/../etc" }, { "up", "." } }, 0 },
		/* up -> sub, so up/.. is the root: inside */
		{ { { "ok", "up/../sub" }, { "up", "sub" } }, 1 },
		/* a loop does not escape but is refused after 40 hops */
		{ { { "a", "b" }, { "b", "a" } }, 0 },
		{ { { "a", "sub/b/../.." }, { "sub/b", ".." } }, 0 },
		{ { { "a", "sub/b/x" }, { "sub/b", "/etc" } }, 0 },
	};
	struct manifest *m;
	char *cause;
	size_t i, j;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = manifest_new("app", "1");
		cause = NULL;
		manifest_add(m, MANIFEST_DIR, 0755, 0, NULL, "sub", NULL);
		for (j = 0; j < 2 && cases[i].link[j][0] != NULL; j++)
			manifest_add(m, MANIFEST_LINK, 0777, 0, NULL, cases[i].link[j][0], cases[i].link[j][1]);
		manifest_sort(m);
		rc = manifest_check(m, &cause);
		if ((rc == 0) != cases[i].ok)
			printf("  case %zu: %s\n", i, cause != NULL ? cause : "accepted");
		CHECK((rc == 0) == cases[i].ok);
		if (!cases[i].ok)
			CHECK(cause != NULL && strstr(cause, "'") != NULL);
		free(cause);
		manifest_free(m);
	}
}

static void
test_version_and_component_rules(void)
{
	CHECK(manifest_valid_version("1.4.2"));
	CHECK(manifest_valid_version("v2024.11.03+build_7-rc1"));
	CHECK(manifest_valid_version("1234567890123456789012345678901234567890123456789012345678901234"));
	CHECK(!manifest_valid_version("12345678901234567890123456789012345678901234567890123456789012345"));
	CHECK(!manifest_valid_version(""));
	CHECK(!manifest_valid_version(".1"));
	CHECK(!manifest_valid_version("-1"));
	CHECK(!manifest_valid_version("1 2"));
	CHECK(!manifest_valid_version("1/2"));
	CHECK(!manifest_valid_version("1'2"));
	CHECK(manifest_valid_component("app"));
	CHECK(manifest_valid_component("fw_driver-2"));
	CHECK(manifest_valid_component("a2345678901234567890123456789012"));
	CHECK(!manifest_valid_component("a23456789012345678901234567890123"));
	CHECK(!manifest_valid_component("App"));
	CHECK(!manifest_valid_component("2app"));
	CHECK(!manifest_valid_component("_app"));
	CHECK(!manifest_valid_component("app.x"));
	CHECK(!manifest_valid_component(""));
}

static void
test_printable_escapes_controls(void)
{
	char *p = manifest_printable("a\nb\x1b[31m\xc3\xa9\xff\\");

	CHECK_STR(p, "a\\x0ab\\x1b[31m\xc3\xa9\\xff\\x5c");
	free(p);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);   /* PASS/FAIL lines survive a sanitizer abort */
	RUN(test_parse_good_manifest);
	RUN(test_format_parse_round_trip);
	RUN(test_sort_is_byte_order);
	RUN(test_malformed_lines_refused);
	RUN(test_error_names_the_path);
	RUN(test_structure_refused);
	RUN(test_file_through_symlink_refused);
	RUN(test_symlink_resolution);
	RUN(test_version_and_component_rules);
	RUN(test_printable_escapes_controls);
	return CHECK_DONE();
}
