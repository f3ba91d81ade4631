/* Unit tests for lib/shquote: every value reaches the remote shell as exactly one word. */
#include <stdlib.h>

#include "../../lib/shquote.h"
#include "check.h"

static void
test_plain_word_is_quoted(void)
{
	char *q = shquote("abc");

	CHECK_STR(q, "'abc'");
	free(q);
}

static void
test_empty_string_is_one_word(void)
{
	char *q = shquote("");

	CHECK_STR(q, "''");
	free(q);
}

static void
test_single_quote_is_escaped(void)
{
	char *q = shquote("it's");

	CHECK_STR(q, "'it'\\''s'");
	free(q);
}

static void
test_metacharacters_stay_literal(void)
{
	char *q = shquote("$(rm -rf /); `x` && y | z > w\n");

	CHECK_STR(q, "'$(rm -rf /); `x` && y | z > w\n'");
	free(q);
}

/* Round trip through a real /bin/sh: the word printf receives is the original value. */
static void
test_round_trip_through_sh(void)
{
	const char *vals[] = { "a b", "it's", "'", "''", "$HOME", "\\", "-n", "x;y", "\"q\"", "*", NULL };
	int i;

	for (i = 0; vals[i] != NULL; i++) {
		struct buf cmd;
		char out[256];
		FILE *p;
		size_t n;

		buf_init(&cmd, 0);
		buf_adds(&cmd, "printf %s ");
		shquote_add(&cmd, vals[i]);
		p = popen(cmd.data, "r");
		CHECK(p != NULL);
		if (p == NULL) {
			buf_free(&cmd);
			return;
		}
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		pclose(p);
		CHECK_STR(out, vals[i]);
		buf_free(&cmd);
	}
}

static void
test_join_raw_uses_single_spaces(void)
{
	char a0[] = "systemctl restart app", a1[] = "&&", a2[] = "echo ok";
	char *argv[] = { a0, a1, a2, NULL };
	char *j = shquote_join_raw(argv, 3);

	CHECK_STR(j, "systemctl restart app && echo ok");
	free(j);
}

int
main(void)
{
	RUN(test_plain_word_is_quoted);
	RUN(test_empty_string_is_one_word);
	RUN(test_single_quote_is_escaped);
	RUN(test_metacharacters_stay_literal);
	RUN(test_round_trip_through_sh);
	RUN(test_join_raw_uses_single_spaces);
	return CHECK_DONE();
}
