/* Exit with the status given as argument (default 3), through exit() or abort(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "abort"))
		abort();
	fprintf(stderr, "to stderr\n");
	printf("to stdout\n");
	return argc > 1 ? atoi(argv[1]) : 3;
}
