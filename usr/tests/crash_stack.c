/* Faults on purpose: unbounded recursion runs into the stack guard page. */
#pragma GCC diagnostic ignored "-Winfinite-recursion"
#include <stdio.h>

__attribute__((noinline)) int recurse(volatile char *prev, int depth)
{
	volatile char frame[1024];
	frame[0] = prev ? prev[0] + 1 : 0;
	return recurse(frame, depth + 1) + frame[1];
}

int main(void)
{
	printf("recursing\n");
	fflush(stdout);
	return recurse(0, 0);
}
