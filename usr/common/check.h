/* The checks of the test apps that try many calls: one line per check, "ok N - what"
 * or "not ok N - what", then "N checks, M failed" from check_summary(), whose value
 * (the number of failures) is the app's exit status. */
#ifndef USR_COMMON_CHECK_H
#define USR_COMMON_CHECK_H

#include <errno.h>
#include <stdio.h>

static int failures, checks;

static inline void check(int ok, const char *what)
{
	checks++;
	failures += !ok;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", checks, what);
}

static inline int check_summary(void)
{
	printf("%d checks, %d failed\n", checks, failures);
	return failures;
}

#define CHECK(cond) check((cond), #cond)
#define FAILS_WITH(call, err) check((call) == -1 && errno == (err), #call " fails with " #err)

#endif
