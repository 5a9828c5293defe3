/* Nothing to do for a while: the main thread sleeps argv[1] ms (default 1000) and every
 * other cpu idles.  The test around it measures what that costs the host: idle cpus
 * must halt (or block in the loader), not spin.  Prints slept_ms=; exit status 0, or
 * 1 when the sleep ended early. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 1000;
	struct timespec a, b, t = { ms / 1000, ms % 1000 * 1000000L };

	clock_gettime(CLOCK_MONOTONIC, &a);
	nanosleep(&t, 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long slept = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	printf("slept_ms=%ld\n", slept);
	return slept < ms;
}
