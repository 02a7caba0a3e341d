/*
 * check_restart.c: the supervisor's restart arithmetic (daemon/restart.c):
 * exponential backoff, its cap and reset, the intensity limit.
 */
#include <check.h>
#include <stdlib.h>

#include "daemon.h"

static struct restart
policy(int backoff, int max, int reset, int restarts, int period)
{
	struct restart	r = { 0 };

	r.backoff_ms = backoff;
	r.backoff_max_ms = max;
	r.reset_ms = reset;
	r.max_restarts = restarts;
	r.period_ms = period;
	ck_assert_int_eq(restart_init(&r), 0);
	return (r);
}

START_TEST(backoff_doubles_up_to_the_cap)
{
	struct restart	r = policy(100, 1000, 10000, 100, 1000000);
	static const int want[] = { 100, 200, 400, 800, 1000, 1000 };
	double		t = 0;

	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		t += 1;
		ck_assert_int_eq(restart_delay(&r, t, 0.5), want[i]);
	}
	restart_clear(&r);
}
END_TEST

START_TEST(a_long_run_resets_the_backoff)
{
	struct restart	r = policy(100, 30000, 10000, 100, 1000000);

	ck_assert_int_eq(restart_delay(&r, 1, 0.1), 100);
	ck_assert_int_eq(restart_delay(&r, 2, 0.1), 200);
	ck_assert_int_eq(restart_delay(&r, 3, 0.1), 400);
	/* It ran 10 s: starts over. */
	ck_assert_int_eq(restart_delay(&r, 20, 10.0), 100);
	ck_assert_int_eq(restart_delay(&r, 21, 0.1), 200);
	restart_clear(&r);
}
END_TEST

START_TEST(more_than_max_restarts_in_the_period_gives_up)
{
	struct restart	r = policy(10, 10, 10000, 5, 10000);
	int		i;

	/* Five restarts within 10 s are allowed; the sixth is not. */
	for (i = 0; i < 5; i++)
		ck_assert_int_ge(restart_delay(&r, 1.0 + i, 0.01), 0);
	ck_assert_int_eq(restart_delay(&r, 6.0, 0.01), -1);
	restart_clear(&r);
}
END_TEST

START_TEST(restarts_older_than_the_period_do_not_count)
{
	struct restart	r = policy(10, 10, 100000, 3, 10000);

	ck_assert_int_ge(restart_delay(&r, 0.0, 0.01), 0);
	ck_assert_int_ge(restart_delay(&r, 1.0, 0.01), 0);
	ck_assert_int_ge(restart_delay(&r, 2.0, 0.01), 0);
	ck_assert_int_eq(restart_delay(&r, 3.0, 0.01), -1);
	/* 10.5 s on, the first has left the window: room for one more. */
	ck_assert_int_ge(restart_delay(&r, 10.5, 0.01), 0);
	ck_assert_int_eq(restart_delay(&r, 10.6, 0.01), -1);
	restart_clear(&r);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("restart");
	TCase	*tc = tcase_create("policy");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, backoff_doubles_up_to_the_cap);
	tcase_add_test(tc, a_long_run_resets_the_backoff);
	tcase_add_test(tc, more_than_max_restarts_in_the_period_gives_up);
	tcase_add_test(tc, restarts_older_than_the_period_do_not_count);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
