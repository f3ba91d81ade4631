/* fuzz_journal: lib/journal's reader.  The input is written as STATE_DIR/runs/<id>.jsonl and read with
 * journal_read (and everything built on its result), journal_text and journal_list; then the run is
 * reopened for appending like `fleetctl resume` does (a torn last line is cut) and read again. */
#include "fuzz.h"

#include "../../lib/journal.h"
#include "../../lib/util.h"

#define RUN_ID "20240501T220000Z-push-fuzz"

static void
use_run(const struct journal_run *r)
{
	json_t *j;
	char *s;

	FUZZ_ASSERT(r->plan != NULL && r->status != NULL && r->events != NULL);
	for (size_t i = 0; i < r->nhosts; i++) {
		FUZZ_ASSERT(r->hosts[i].host != NULL && r->hosts[i].lifecycle != NULL);
	}
	j = journal_run_json(r);
	FUZZ_ASSERT(j != NULL);
	s = json_dumps(j, JSON_COMPACT);
	free(s);
	json_decref(j);
	j = journal_run_counts(r);
	FUZZ_ASSERT(j != NULL);
	json_decref(j);
	s = journal_counts_text(r);
	FUZZ_ASSERT(s != NULL);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *state, *path;
	struct journal_run *r = NULL, *r2 = NULL;
	struct journal *jw = NULL;
	char *cause = NULL, *text = NULL, **ids = NULL;
	int rc;

	if (state == NULL) {
		state = fuzz_path("state");
		path = fuzz_path("state/runs/" RUN_ID ".jsonl");
	}
	fuzz_write(path, data, size);

	rc = journal_read(state, RUN_ID, &r, &cause);
	if (rc == 0) {
		FUZZ_ASSERT(r != NULL && cause == NULL);
		use_run(r);
	} else {
		FUZZ_ASSERT(r == NULL && cause != NULL && rc == -1);
		free(cause);
		cause = NULL;
	}
	FUZZ_ASSERT(journal_text(state, RUN_ID, &text, &cause) == 0);
	free(text);
	FUZZ_ASSERT(journal_list(state, &ids, &cause) == 0);
	FUZZ_ASSERT(ids != NULL && ids[0] != NULL && strcmp(ids[0], RUN_ID) == 0 && ids[1] == NULL);
	strv_free(ids);

	if (journal_reopen(state, RUN_ID, &jw, &cause) != 0) {
		FUZZ_ASSERT(jw == NULL && cause != NULL);
		/* a plan on its first line is a complete line: the run can always be resumed */
		FUZZ_ASSERT(r == NULL);
		free(cause);
		cause = NULL;
	} else {
		FUZZ_ASSERT(journal_read(state, RUN_ID, &r2, &cause) == 0 || r == NULL);
		if (r != NULL) {
			/* the same lines, the torn one cut, one resume event more; our own lock: running */
			FUZZ_ASSERT(!r2->torn);
			FUZZ_ASSERT(r2->bad_lines == r->bad_lines);
			FUZZ_ASSERT(json_array_size(r2->events) == json_array_size(r->events) + 1);
			FUZZ_ASSERT(strcmp(r2->status, "running") == 0);
			use_run(r2);
		}
		free(cause);
		cause = NULL;
		journal_run_free(r2);
		journal_close(jw);
	}
	journal_run_free(r);
	return 0;
}
