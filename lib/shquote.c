/* shquote: single-quote values for the remote shell, so no value can end a word or start a command. */
#include "shquote.h"

#include <stdlib.h>
#include <string.h>

void
shquote_add(struct buf *b, const char *s)
{
	const char *p;

	buf_add(b, "'", 1);
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			buf_adds(b, "'\\''");
		else
			buf_add(b, p, 1);
	}
	buf_add(b, "'", 1);
}

char *
shquote(const char *s)
{
	struct buf b;

	buf_init(&b, 0);
	shquote_add(&b, s);
	return buf_detach(&b);
}

char *
shquote_join_raw(char *const *argv, int argc)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	for (i = 0; i < argc; i++) {
		if (i > 0)
			buf_add(&b, " ", 1);
		buf_adds(&b, argv[i]);
	}
	return buf_detach(&b);
}
