/*
 * select: -l/--limit patterns -> hosts, in inventory order.
 *
 * The union of the positive terms (every host when there are only exclusions), minus the
 * excluded ones.  A term that matches nothing is an error: a typo must not shrink a rollout
 * silently.
 */
#include "select.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Mark the hosts term matches in mark[]; returns how many it matched. */
static size_t
select_term(const struct inventory *inv, const char *term, char *mark)
{
	const struct inv_group *g;
	struct inv_host *h;
	size_t i, n = 0;

	if (strcmp(term, "all") == 0) {
		memset(mark, 1, inv->nhosts);
		return inv->nhosts;
	}
	if ((g = inventory_find_group(inv, term)) != NULL) {
		for (i = 0; g->members != NULL && g->members[i] != NULL; i++) {
			if ((h = inventory_find(inv, g->members[i])) != NULL && !h->implicit) {
				mark[h->order] = 1;
				n++;
			}
		}
		return n;
	}
	if ((h = inventory_find(inv, term)) != NULL && !h->implicit) {
		mark[h->order] = 1;
		return 1;
	}
	if (strpbrk(term, "*?[") != NULL) {
		for (i = 0; i < inv->nhosts; i++) {
			if (fnmatch(term, inv->hosts[i]->name, 0) == 0) {
				mark[i] = 1;
				n++;
			}
		}
	}
	return n;
}

int
select_hosts(const struct inventory *inv, const char *pattern, struct inv_host ***out, size_t *n, char **cause)
{
	char **terms = NULL, *pos = NULL, *neg = NULL;
	struct inv_host **v = NULL;
	size_t nterms, i, count = 0;
	bool any_positive = false;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (inv == NULL || inv->nhosts == 0)
		return set_cause(cause, -1, "the inventory has no hosts");
	terms = str_split_commas(pattern != NULL ? pattern : "", &nterms);
	pos = xcalloc(inv->nhosts, 1);
	neg = xcalloc(inv->nhosts, 1);
	for (i = 0; i < nterms; i++) {
		bool exclude = terms[i][0] == '!';
		const char *t = exclude ? terms[i] + 1 : terms[i];

		while (*t == ' ' || *t == '\t')
			t++;
		if (*t == '\0') {
			set_cause(cause, -1, "empty term '%s' in selection '%s'", terms[i], pattern);
			goto out;
		}
		if (!exclude)
			any_positive = true;
		if (select_term(inv, t, exclude ? neg : pos) == 0) {
			if (inventory_find_group(inv, t) != NULL)
				set_cause(cause, -1, "group '%s' has no hosts", t);
			else
				set_cause(cause, -1, "no host or group matches '%s'", t);
			goto out;
		}
	}
	if (!any_positive)
		memset(pos, 1, inv->nhosts);
	v = xcalloc(inv->nhosts + 1, sizeof(*v));
	for (i = 0; i < inv->nhosts; i++)
		if (pos[i] && !neg[i])
			v[count++] = inv->hosts[i];
	if (count == 0) {
		set_cause(cause, -1, "selection '%s' matches no host", pattern != NULL ? pattern : "");
		goto out;
	}
	v[count] = NULL;
	*out = v;
	*n = count;
	v = NULL;
	rc = 0;
out:
	free(v);
	free(pos);
	free(neg);
	strv_free(terms);
	return rc;
}
