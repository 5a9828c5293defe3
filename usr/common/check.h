/* The checks of the test apps that try many calls: one line per check, "ok N - what"
 * or "not ok N - what", then "N checks, M failed" from check_summary(), whose value
 * (the number of failures) is the app's exit status. */
#ifndef USR_COMMON_CHECK_H
#define USR_COMMON_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

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

/* Does directory `dir` list `name` (what a check of readdir asks)? */
static inline int listed(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	while (d && (e = readdir(d)))
		found |= !strcmp(e->d_name, name);
	if (d)
		closedir(d);
	return found;
}

#define CHECK(cond) check((cond), #cond)
#define FAILS_WITH(call, err) check((call) == -1 && errno == (err), #call " fails with " #err)

#endif
