/* Unit tests: restart backoff (guest-init/respawn.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guest-init/respawn.h"

static void test_respawn_doubles_to_max(void **state)
{
	static const unsigned want[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000 };
	struct respawn r;
	int64_t now = 1000;

	respawn_init(&r, 100, 5000, 10000);
	assert_false(respawn_due(&r, now));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		unsigned d;

		respawn_started(&r, now);
		assert_false(respawn_due(&r, now + 100000));
		now += 50; /* crashes at once */
		d = respawn_exited(&r, now);
		assert_int_equal(d, want[i]);
		assert_false(respawn_due(&r, now + d - 1));
		assert_true(respawn_due(&r, now + d));
		now += d;
	}
}

static void test_respawn_long_run_resets(void **state)
{
	struct respawn r;
	int64_t now = 0;

	respawn_init(&r, 100, 30000, 10000);
	for (int i = 0; i < 5; i++) {
		respawn_started(&r, now);
		now += respawn_exited(&r, now + 1) + 1;
	}
	respawn_started(&r, now);
	assert_int_equal(respawn_exited(&r, now + 9999), 3200); /* still quick */
	respawn_started(&r, now + 20000);
	assert_int_equal(respawn_exited(&r, now + 30000), 100); /* ran 10 s: back to base */
	respawn_started(&r, now + 40000);
	assert_int_equal(respawn_exited(&r, now + 40001), 200);
}

static void test_respawn_cancel(void **state)
{
	struct respawn r;

	respawn_init(&r, 100, 1000, 10000);
	respawn_started(&r, 0);
	respawn_exited(&r, 10);
	assert_true(respawn_due(&r, 200));
	respawn_cancel(&r);
	assert_false(respawn_due(&r, 200));
	assert_int_equal(r.due_ms, -1);
}

static void test_respawn_max_below_base(void **state)
{
	struct respawn r;

	respawn_init(&r, 500, 100, 10000);
	respawn_started(&r, 0);
	assert_int_equal(respawn_exited(&r, 1), 500);
	respawn_started(&r, 501);
	assert_int_equal(respawn_exited(&r, 502), 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_respawn_doubles_to_max),
		cmocka_unit_test(test_respawn_long_run_resets),
		cmocka_unit_test(test_respawn_cancel),
		cmocka_unit_test(test_respawn_max_below_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
