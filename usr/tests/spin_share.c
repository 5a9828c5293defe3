/* Threads that only compute share a cpu (issue 10): two threads spin on cpu 0
 * without a system call while the main thread, on cpu 0 too, sleeps for a second
 * and then stops them.  Without a timer (kvm_pvm delivers none) the sleeper would
 * never run again and the first spinner would keep the cpu for good.
 * Prints each one's share, then "spin_share: N checks, M failed". */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "../common/app.h"
#include "../common/check.h"

static volatile int stop;
static volatile uint64_t steps[2];

static void *spin(void *arg)
{
	volatile uint64_t *n = arg;
	uint64_t x = 1;
	pin_to_cpu(0);
	while (!stop) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		*n += 1 + (x == 0);
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	pthread_t t[2];

	pin_to_cpu(0);
	for (int i = 0; i < 2; i++)
		check(pthread_create(&t[i], 0, spin, (void *)&steps[i]) == 0, "pthread_create");
	double start = now_s();
	nanosleep(&(struct timespec){ 1, 0 }, 0);
	double slept = now_s() - start;
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], 0);
	uint64_t a = steps[0], b = steps[1], least = a < b ? a : b;
	double share = a + b ? 100.0 * (double)least / (double)(a + b) : 0;
	printf("slept_s=%.3f\nleast_share_pct=%.1f\n", slept, share);
	check(slept >= 1.0 && slept < 1.5, "a sleeper on a cpu where threads compute wakes on time");
	check(share >= 30, "two threads computing on one cpu both make progress");
	printf("spin_share: ");
	return check_summary();
}
