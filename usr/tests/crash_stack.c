/* Faults on purpose: unbounded recursion runs into the stack guard page, of the main
 * thread, or with argument "thread" of a pthread (its guard page is musl's PROT_NONE). */
#pragma GCC diagnostic ignored "-Winfinite-recursion"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

__attribute__((noinline)) int recurse(volatile char *prev, int depth)
{
	volatile char frame[1024];
	frame[0] = prev ? prev[0] + 1 : 0;
	return recurse(frame, depth + 1) + frame[1];
}

static void *thread(void *arg)
{
	(void)arg;
	return (void *)(long)recurse(0, 0);
}

int main(int argc, char **argv)
{
	printf("recursing\n");
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "thread") == 0) {
		pthread_t t;
		void *r;
		pthread_create(&t, 0, thread, 0);
		pthread_join(t, &r);
		return (int)(long)r;
	}
	return recurse(0, 0);
}
