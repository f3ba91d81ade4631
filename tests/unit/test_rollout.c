/* Unit tests for lib/rollout's pure parts: waves, thresholds at their boundary, windows, backoff. */
#include <stdint.h>
#include <stdlib.h>

#include "../../lib/rollout.h"
#include "check.h"

static size_t *
ends_for(const char *spec, size_t n, size_t *nw)
{
	struct rollout_amount *w = NULL;
	size_t count = 0, *ends;

	if (rollout_parse_waves(spec, &w, &count, NULL) != 0)
		return NULL;
	ends = rollout_wave_ends(w, count, n, nw);
	free(w);
	return ends;
}

static void
test_waves_are_cumulative(void)
{
	size_t nw = 0, *e = ends_for("1,25%,100%", 40, &nw);

	CHECK(e != NULL && nw == 3);
	CHECK(e[0] == 1 && e[1] == 10 && e[2] == 40);
	free(e);
}

static void
test_last_wave_takes_the_rest(void)
{
	size_t nw = 0, *e = ends_for("1,10%", 50, &nw);

	CHECK(nw == 3 && e[0] == 1 && e[1] == 5 && e[2] == 50);
	free(e);
}

static void
test_every_wave_holds_one_terminal(void)
{
	size_t nw = 0, *e = ends_for("1,1%,2%,100%", 10, &nw);

	/* 1% of 10 rounds up to 1, already reached: the wave still gets the next terminal */
	CHECK(nw == 4 && e[0] == 1 && e[1] == 2 && e[2] == 3 && e[3] == 10);
	free(e);
}

static void
test_waves_past_the_fleet_stop(void)
{
	size_t nw = 0, *e = ends_for("5,50,100", 3, &nw);

	CHECK(nw == 1 && e[0] == 3);
	free(e);
}

static void
test_bad_waves_refused(void)
{
	struct rollout_amount *w = NULL;
	size_t n = 0;
	char *cause = NULL;

	CHECK(rollout_parse_waves("1,x,100%", &w, &n, &cause) != 0);
	CHECK(cause != NULL);
	free(cause);
	cause = NULL;
	CHECK(rollout_parse_waves("0,100%", &w, &n, &cause) != 0);
	free(cause);
	cause = NULL;
	CHECK(rollout_parse_waves("150%", &w, &n, &cause) != 0);
	free(cause);
}

static void
test_count_limit_boundary(void)
{
	struct rollout_amount a;

	CHECK(rollout_parse_amount("1", &a) == 0);
	/* halt when failed > limit: 1 failure is within --max-fail 1, 2 are not */
	CHECK(!(1 > rollout_limit(&a, 40)));
	CHECK(2 > rollout_limit(&a, 40));
}

static void
test_percent_limit_rounds_down_over_started(void)
{
	struct rollout_amount a;

	CHECK(rollout_parse_amount("10%", &a) == 0 && a.pct && a.value == 10);
	CHECK(rollout_limit(&a, 1) == 0);     /* 1 started: any failure halts */
	CHECK(rollout_limit(&a, 19) == 1);
	CHECK(rollout_limit(&a, 20) == 2);
}

static void
test_unset_limit_is_unlimited(void)
{
	struct rollout_amount a = { 0 };

	CHECK(rollout_limit(&a, 1000) == SIZE_MAX);
}

static void
test_window_simple_and_wrapping(void)
{
	CHECK(rollout_in_window("02:00-05:00", 2 * 60) == 1);
	CHECK(rollout_in_window("02:00-05:00", 5 * 60) == 0);      /* end is exclusive */
	CHECK(rollout_in_window("02:00-05:00", 1 * 60 + 59) == 0);
	CHECK(rollout_in_window("22:00-04:00", 23 * 60) == 1);
	CHECK(rollout_in_window("22:00-04:00", 3 * 60) == 1);
	CHECK(rollout_in_window("22:00-04:00", 12 * 60) == 0);
	CHECK(rollout_in_window("2:00-5:00", 0) == -1);
	CHECK(rollout_in_window("25:00-05:00", 0) == -1);
}

static void
test_minute_in_other_zone(void)
{
	/* 2026-01-01 00:30 UTC is 08:30 in Shanghai (no DST there) */
	time_t t = 1767227400;

	CHECK(rollout_minute_now("UTC", t) == 30);
	CHECK(rollout_minute_now("Asia/Shanghai", t) == 8 * 60 + 30);
}

static void
test_backoff_grows_and_caps(void)
{
	long a0 = rollout_backoff_ms(0, 0), a1 = rollout_backoff_ms(1, 0), a9 = rollout_backoff_ms(9, 0);
	long hi = rollout_backoff_ms(9, ~0u);

	CHECK(a0 >= 1500 && a0 <= 2500);
	CHECK(a1 >= 3000 && a1 <= 5000);
	CHECK(a9 >= 45000 && hi <= 75000);
}

int
main(void)
{
	RUN(test_waves_are_cumulative);
	RUN(test_last_wave_takes_the_rest);
	RUN(test_every_wave_holds_one_terminal);
	RUN(test_waves_past_the_fleet_stop);
	RUN(test_bad_waves_refused);
	RUN(test_count_limit_boundary);
	RUN(test_percent_limit_rounds_down_over_started);
	RUN(test_unset_limit_is_unlimited);
	RUN(test_window_simple_and_wrapping);
	RUN(test_minute_in_other_zone);
	RUN(test_backoff_grows_and_caps);
	return CHECK_DONE();
}
