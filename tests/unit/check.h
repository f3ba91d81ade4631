/* check.h: a tiny assertion header for fleetctl's unit tests.
 * Each TEST prints "PASS: name" or "FAIL: name (file:line: expr)"; main returns non-zero on any failure. */
#ifndef FLEET_CHECK_H
#define FLEET_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed_total;
static int check_failed_now;
static const char *check_name;

#define CHECK(expr) do { \
	if (!(expr)) { \
		if (!check_failed_now) \
			printf("FAIL: %s (%s:%d: %s)\n", check_name, __FILE__, __LINE__, #expr); \
		check_failed_now = 1; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *check_a_ = (a), *check_b_ = (b); \
	if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) { \
		if (!check_failed_now) \
			printf("FAIL: %s (%s:%d: \"%s\" != \"%s\")\n", check_name, __FILE__, __LINE__, \
			    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
		check_failed_now = 1; \
	} \
} while (0)

#define RUN(fn) do { \
	check_name = #fn; \
	check_failed_now = 0; \
	fn(); \
	if (check_failed_now) \
		check_failed_total++; \
	else \
		printf("PASS: %s\n", #fn); \
} while (0)

#define CHECK_DONE() (check_failed_total != 0)

#endif
