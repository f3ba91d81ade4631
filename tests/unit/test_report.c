/* Unit tests for lib/report: folding results whose errors differ only in each terminal's own address and
 * port, and the summary line at thousands of terminals. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../lib/inventory.h"
#include "../../lib/report.h"
#include "check.h"

static char tmpdir[] = "/tmp/fleet-test-report-XXXXXX";
static struct inventory *inv;

/* Results for the first n hosts, each unreachable with the error transport writes for it. */
static struct host_result *
unreachable_results(size_t n, const char *other_error_for_last)
{
	struct host_result *r = xcalloc(n, sizeof(*r));

	for (size_t i = 0; i < n; i++) {
		r[i].host = inv->hosts[i];
		r[i].state = HS_UNREACHABLE;
		r[i].exit_code = -1;
		r[i].step = "connect";
		buf_init(&r[i].out, 0);
		buf_init(&r[i].err, 0);
		r[i].error = xasprintf("cannot connect to %s port %ld: Connection refused", inv_get(r[i].host, INV_ADDRESS),
		    inv_get_long(r[i].host, INV_PORT));
	}
	if (other_error_for_last != NULL) {
		free(r[n - 1].error);
		r[n - 1].error = xstrdup(other_error_for_last);
	}
	return r;
}

static void
results_free(struct host_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		buf_free(&r[i].out);
		buf_free(&r[i].err);
		free(r[i].error);
	}
	free(r);
}

/* What report_fold writes, through a pipe. */
static char *
fold_text(const struct host_result *r, size_t n)
{
	char path[] = "/tmp/fleet-test-report-out-XXXXXX", *text = NULL;
	int fd = mkstemp(path);

	if (fd < 0)
		return NULL;
	report_fold(r, n, fd);
	close(fd);
	if (read_file(path, 1 << 20, &text, NULL) != 0)
		text = NULL;
	unlink(path);
	return text;
}

static void
test_fold_joins_errors_that_differ_only_in_address_and_port(void)
{
	struct host_result *r = unreachable_results(4, NULL);
	char *t = fold_text(r, 4);

	CHECK_STR(t, "---- t[001-004] (4): unreachable: cannot connect to <address> port <port>: Connection refused\n");
	free(t);
	results_free(r, 4);
}

static void
test_fold_group_of_one_keeps_its_own_address(void)
{
	struct host_result *r = unreachable_results(3, "ssh handshake failed: Timeout");
	char *t = fold_text(r, 3);

	CHECK_STR(t, "---- t[001-002] (2): unreachable: cannot connect to <address> port <port>: Connection refused\n"
	    "---- t003 (1): unreachable: ssh handshake failed: Timeout\n");
	free(t);
	results_free(r, 3);
	r = unreachable_results(1, NULL);
	t = fold_text(r, 1);
	CHECK_STR(t, "---- t001 (1): unreachable: cannot connect to 10.0.0.1 port 2201: Connection refused\n");
	free(t);
	results_free(r, 1);
}

static void
test_fold_keeps_other_addresses_apart(void)
{
	/* a jump host's address in the error is not the terminal's own: not folded away */
	struct host_result *r = unreachable_results(2, NULL);
	char *t;

	free(r[0].error);
	free(r[1].error);
	r[0].error = xstrdup("jump host gw: cannot connect to 10.9.9.9 port 22: No route to host");
	r[1].error = xstrdup("jump host gw: cannot connect to 10.9.9.8 port 22: No route to host");
	t = fold_text(r, 2);
	CHECK_STR(t, "---- t001 (1): unreachable: jump host gw: cannot connect to 10.9.9.9 port 22: No route to host\n"
	    "---- t002 (1): unreachable: jump host gw: cannot connect to 10.9.9.8 port 22: No route to host\n");
	free(t);
	results_free(r, 2);
}

static void
test_summary_names_few_terminals_in_full(void)
{
	struct host_result *r = unreachable_results(3, NULL);
	char *s = report_summary(r, 3);

	CHECK_STR(s, "3 unreachable: t[001-003]");
	free(s);
	results_free(r, 3);
}

static void
test_summary_cuts_a_long_list_of_names(void)
{
	size_t n = inv->nhosts, k = 0;
	struct host_result *r = unreachable_results(n, NULL);
	char *s, *more;

	/* every third terminal unreachable, the rest ok: no ranges to fold into */
	for (size_t i = 0; i < n; i++)
		if (i % 3 != 0)
			r[i].state = HS_OK;
		else
			k++;
	s = report_summary(r, n);
	CHECK(strlen(s) < 220);
	more = strstr(s, " more");
	CHECK(more != NULL && more[strlen(" more")] == '\0');
	CHECK(strstr(s, "unreachable: t[001,004,007,") != NULL);
	{
		char want[64];

		snprintf(want, sizeof(want), "%zu unreachable: ", k);
		CHECK(strstr(s, want) != NULL);
	}
	free(s);
	results_free(r, n);
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
	fputs("[fleet]\nuser = kiosk\n", f);
	for (int i = 1; i <= 300; i++)
		fprintf(f, "[host:t%03d]\naddress = 10.0.%d.%d\nport = %d\n", i, i / 200, i % 200, 2200 + i);
	fclose(f);
	if (inventory_load(path, &opts, &inv, &cause) != 0) {
		printf("FAIL: load (%s)\n", cause);
		return 1;
	}

	RUN(test_fold_joins_errors_that_differ_only_in_address_and_port);
	RUN(test_fold_group_of_one_keeps_its_own_address);
	RUN(test_fold_keeps_other_addresses_apart);
	RUN(test_summary_names_few_terminals_in_full);
	RUN(test_summary_cuts_a_long_list_of_names);

	rc = CHECK_DONE();
	inventory_free(inv);
	free(path);
	cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmpdir);
	free(cmd);
	return rc;
}
