/* hostrange: host names and Ansible-style numeric ranges (see hostrange.h). */
#include "hostrange.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define HOSTRANGE_MAX 1000000   /* names one pattern may expand to */

/* The names so far, with room doubled as it grows (one realloc per name would copy quadratically). */
struct hostrange_out {
	char **v;
	size_t n, cap;
};

static void
hostrange_add(struct hostrange_out *o, char *name)
{
	if (o->n + 1 >= o->cap) {
		o->cap = o->cap ? 2 * o->cap : 16;
		o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
	}
	o->v[o->n++] = name;
}

bool
hostrange_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_')
			return false;
	return true;
}

/* Expand from the first '[' of pattern on; results appended to *v. */
static int
hostrange_one(const char *pattern, const char *whole, struct hostrange_out *o, char **cause)
{
	const char *open, *colon, *close, *p;
	char *beg = NULL, *end = NULL, *rest = NULL;
	long lo, hi, i;
	int width = 0, rc = -1;

	if ((open = strchr(pattern, '[')) == NULL) {
		if (strchr(pattern, ']') != NULL)
			return set_cause(cause, -1, "bad range in '%s': ']' without '['", whole);
		if (!hostrange_name_ok(pattern))
			return set_cause(cause, -1, "bad host name '%s' (letters, digits, '.', '-', '_')", pattern);
		if (o->n >= HOSTRANGE_MAX)
			return set_cause(cause, -1, "'%s' expands to more than %d hosts", whole, HOSTRANGE_MAX);
		hostrange_add(o, xstrdup(pattern));
		return 0;
	}
	if ((close = strchr(open, ']')) == NULL)
		return set_cause(cause, -1, "bad range in '%s': unterminated '['", whole);
	colon = memchr(open, ':', (size_t)(close - open));
	if (colon == NULL)
		return set_cause(cause, -1, "bad range '%.*s' in '%s': expected [START:END]",
		    (int)(close - open + 1), open, whole);
	beg = xstrndup(open + 1, (size_t)(colon - open - 1));
	end = xstrndup(colon + 1, (size_t)(close - colon - 1));
	for (p = beg; *p != '\0' && isdigit((unsigned char)*p); p++)
		;
	if (*beg == '\0' || *p != '\0' || parse_long(beg, 0, 999999999, &lo) != 0) {
		set_cause(cause, -1, "bad range '%.*s' in '%s': start is not a number",
		    (int)(close - open + 1), open, whole);
		goto out;
	}
	for (p = end; *p != '\0' && isdigit((unsigned char)*p); p++)
		;
	if (*end == '\0' || *p != '\0' || parse_long(end, 0, 999999999, &hi) != 0) {
		set_cause(cause, -1, "bad range '%.*s' in '%s': end is not a number",
		    (int)(close - open + 1), open, whole);
		goto out;
	}
	if (lo > hi) {
		set_cause(cause, -1, "bad range '%.*s' in '%s': start is greater than end",
		    (int)(close - open + 1), open, whole);
		goto out;
	}
	/* Like Ansible: a leading zero fixes the width, and then both ends must have it. */
	if (beg[0] == '0' && beg[1] != '\0') {
		width = (int)strlen(beg);
		if (strlen(end) != (size_t)width) {
			set_cause(cause, -1, "bad range '%.*s' in '%s': zero-padded start and end differ in width",
			    (int)(close - open + 1), open, whole);
			goto out;
		}
	}
	if ((size_t)(hi - lo + 1) > HOSTRANGE_MAX) {
		set_cause(cause, -1, "'%s' expands to more than %d hosts", whole, HOSTRANGE_MAX);
		goto out;
	}
	for (i = lo; i <= hi; i++) {
		rest = xasprintf("%.*s%0*ld%s", (int)(open - pattern), pattern, width, i, close + 1);
		if (hostrange_one(rest, whole, o, cause) != 0)
			goto out;
		free(rest);
		rest = NULL;
	}
	rc = 0;
out:
	free(rest);
	free(beg);
	free(end);
	return rc;
}

int
hostrange_expand(const char *pattern, char ***names, size_t *n, char **cause)
{
	struct hostrange_out o = { NULL, 0, 0 };

	if (hostrange_one(pattern, pattern, &o, cause) != 0) {
		for (size_t i = 0; i < o.n; i++)
			free(o.v[i]);
		free(o.v);
		return -1;
	}
	if (o.v == NULL)
		o.v = xcalloc(1, sizeof(*o.v));
	o.v[o.n] = NULL;
	*names = o.v;
	if (n != NULL)
		*n = o.n;
	return 0;
}
