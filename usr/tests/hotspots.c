/* Two known hot functions for the profiler's test: for SECONDS seconds, each round
 * spends two units of work in hot_a and one in hot_b (the same loop), so a profile
 * must show them about 2:1.  Prints the rounds done. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static unsigned long work(unsigned long units)
{
	unsigned long x = sink | 1;

	for (unsigned long i = 0; i < units * 100000; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	return x;
}

__attribute__((noinline)) static void hot_a(void)
{
	sink = work(2);
}

__attribute__((noinline)) static void hot_b(void)
{
	sink = work(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	double end = now() + seconds;
	unsigned long rounds = 0;

	while (now() < end) {
		hot_a();
		hot_b();
		rounds++;
	}
	printf("hotspots: %lu rounds\n", rounds);
	return 0;
}
