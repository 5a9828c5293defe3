/* Print every argument and environment variable, as HermitCore's argv_envp test did. */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

int main(int argc, char **argv)
{
	printf("argc = %d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d] = %s\n", i, argv[i]);
	for (char **e = environ; *e; e++)
		printf("env %s\n", *e);
	const char *probe = getenv("HERMIT_TEST_PROBE");
	printf("getenv(HERMIT_TEST_PROBE) = %s\n", probe ? probe : "(unset)");
	return 0;
}
