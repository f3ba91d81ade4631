/* Unit tests for lib/rollout's pure parts: waves (cumulative and exponential), thresholds at their boundary
 * and with a minimum sample, the rate schedule, the plan line, windows, backoff. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/rollout.h"
#include "check.h"

static size_t *
ends_for(const char *spec, size_t n, size_t *nw)
{
	struct rollout_waves w;
	size_t *ends;

	if (rollout_parse_waves(spec, &w, NULL) != 0)
		return NULL;
	ends = rollout_wave_ends(&w, n, nw);
	rollout_waves_free(&w);
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
	static const char *const bad[] = { "1,x,100%", "0,100%", "150%", "exp:", "exp:0,x2", "exp:1", "exp:1,2",
		"exp:1,x0", "exp:1,x2,x3", "exp:2%,x2", "", NULL };
	struct rollout_waves w;

	for (size_t i = 0; bad[i] != NULL; i++) {
		char *cause = NULL;

		CHECK(rollout_parse_waves(bad[i], &w, &cause) != 0);
		CHECK(cause != NULL);
		CHECK(w.amounts == NULL && w.exp_start == 0);
		free(cause);
	}
}

/* exp:1,x2 on 10 terminals: waves of 1, 2, 4 and the rest (3). */
static void
test_exp_waves_double(void)
{
	size_t nw = 0, *e = ends_for("exp:1,x2", 10, &nw);

	CHECK(e != NULL && nw == 4);
	CHECK(e[0] == 1 && e[1] == 3 && e[2] == 7 && e[3] == 10);
	free(e);
}

static void
test_exp_waves_other_start_and_factor(void)
{
	size_t nw = 0, *e = ends_for("exp:5,x3", 100, &nw);

	/* 5, 15, 45, then the 35 left */
	CHECK(nw == 4 && e[0] == 5 && e[1] == 20 && e[2] == 65 && e[3] == 100);
	free(e);
	e = ends_for("exp:2,x1", 7, &nw);
	/* a factor of 1: waves of 2 each, the last takes the one left */
	CHECK(nw == 4 && e[0] == 2 && e[1] == 4 && e[2] == 6 && e[3] == 7);
	free(e);
	e = ends_for("exp:50,x2", 10, &nw);
	CHECK(nw == 1 && e[0] == 10);
	free(e);
}

/* A big factor on a big fleet: sizes are capped, never overflow, and the waves still cover all. */
static void
test_exp_waves_no_overflow(void)
{
	size_t nw = 0, *e = ends_for("exp:10000000,x1000", 30000000, &nw);

	CHECK(nw == 2 && e[0] == 10000000 && e[1] == 30000000);
	free(e);
	e = ends_for("exp:1,x1000", 5000000, &nw);
	CHECK(nw == 4 && e[0] == 1 && e[1] == 1001 && e[2] == 1001001 && e[3] == 5000000);
	free(e);
}

static void
test_min_sample_holds_percentages_back(void)
{
	struct rollout_amount pct, count;

	CHECK(rollout_parse_amount("50%", &pct) == 0 && rollout_parse_amount("0", &count) == 0);
	/* 1 started, 50%: the limit would be 0, so the first failure would halt; not before 4 started */
	CHECK(rollout_limit_sampled(&pct, 1, 0) == 0);
	CHECK(rollout_limit_sampled(&pct, 1, 4) == SIZE_MAX);
	CHECK(rollout_limit_sampled(&pct, 3, 4) == SIZE_MAX);
	CHECK(rollout_limit_sampled(&pct, 4, 4) == 2);
	/* a count limit does not wait for the sample */
	CHECK(rollout_limit_sampled(&count, 1, 4) == 0);
}

static void
test_rate_parsed(void)
{
	long ms = 0;

	CHECK(rollout_parse_rate("30/min", &ms) == 0 && ms == 2000);
	CHECK(rollout_parse_rate("2/s", &ms) == 0 && ms == 500);
	CHECK(rollout_parse_rate("100/h", &ms) == 0 && ms == 36000);
	CHECK(rollout_parse_rate("7/min", &ms) == 0 && ms == 8571);
	CHECK(rollout_parse_rate("5000/s", &ms) == 0 && ms == 1);
	CHECK(rollout_parse_rate("0/min", &ms) != 0);
	CHECK(rollout_parse_rate("30", &ms) != 0);
	CHECK(rollout_parse_rate("30/day", &ms) != 0);
	CHECK(rollout_parse_rate("x/min", &ms) != 0);
	CHECK(rollout_parse_rate("/min", &ms) != 0);
}

/* Terminals all ready at once start interval apart; a start after a pause (a soak) is not early and
 * earns no burst: the one after it is again a whole interval later. */
static void
test_rate_schedule(void)
{
	int64_t t0 = 1000000, prev = 0, at[4];
	bool first = true;

	for (int k = 0; k < 4; k++) {
		at[k] = rollout_rate_next(first, prev, t0, 2000);
		first = false;
		prev = at[k];
	}
	CHECK(at[0] == t0 && at[1] == t0 + 2000 && at[2] == t0 + 4000 && at[3] == t0 + 6000);
	/* the next wave comes a minute after the last start */
	prev = rollout_rate_next(false, prev, t0 + 66000, 2000);
	CHECK(prev == t0 + 66000);
	CHECK(rollout_rate_next(false, prev, t0 + 66000, 2000) == t0 + 68000);
	/* a worker that asks late gets now, not a slot in the past */
	CHECK(rollout_rate_next(false, t0, t0 + 2500, 2000) == t0 + 2500);
}

/* The plan line says what is applied: the old sentence first, then min-sample, soak, rate, deadline. */
static void
test_plan_text(void)
{
	struct rollout ro;
	char *t;

	memset(&ro, 0, sizeof(ro));
	ro.nwaves = 1;
	CHECK(rollout_plan_text(&ro, NULL, NULL) == NULL);
	ro.nwaves = 4;
	rollout_parse_amount("50%", &ro.max_fail);
	ro.min_sample = 3;
	ro.soak_s = 600;
	ro.rate_ms = 2000;
	t = rollout_plan_text(&ro, "exp:1,x2", "30/min");
	CHECK(t != NULL && strstr(t, "4 waves (exp:1,x2); after each wave the run halts when failed > 50% of them "
	    "(rounded down) or unreachable > (no limit), counted over all terminals started so far") == t);
	CHECK(t != NULL && strstr(t, "once 3 terminals have been started") != NULL);
	CHECK(t != NULL && strstr(t, "a soak of 10 min after each wave but the last") != NULL);
	CHECK(t != NULL && strstr(t, "at most 30/min (one every 2.0 s)") != NULL);
	free(t);
	memset(&ro, 0, sizeof(ro));
	ro.nwaves = 1;
	ro.until = 1796083200;
	ro.retry_until = ro.until - 3600;
	t = rollout_plan_text(&ro, NULL, NULL);
	CHECK(t != NULL && strncmp(t, "1 wave; open until 2026-", 24) == 0 && strstr(t, "retry --all") != NULL);
	free(t);
	ro.retry_until = ro.until;
	t = rollout_plan_text(&ro, NULL, NULL);
	CHECK(t != NULL && strncmp(t, "1 wave; retried until 2026-", 27) == 0 && strstr(t, "retry --all") == NULL);
	free(t);
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
	RUN(test_exp_waves_double);
	RUN(test_exp_waves_other_start_and_factor);
	RUN(test_exp_waves_no_overflow);
	RUN(test_min_sample_holds_percentages_back);
	RUN(test_rate_parsed);
	RUN(test_rate_schedule);
	RUN(test_plan_text);
	RUN(test_count_limit_boundary);
	RUN(test_percent_limit_rounds_down_over_started);
	RUN(test_unset_limit_is_unlimited);
	RUN(test_window_simple_and_wrapping);
	RUN(test_minute_in_other_zone);
	RUN(test_backoff_grows_and_caps);
	return CHECK_DONE();
}
