/* The cost of a thread: pthread_create + pthread_join of a thread that returns at
 * once, in TSC cycles, the median over argv[2] samples (default 201); then the cost per
 * thread of creating N threads (argv[1]; absent or 0: the cpus in our affinity mask) that
 * wait on one barrier and joining them all.  Output: key=value lines; exit status 1
 * when a thread cannot be created or returns the wrong value. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/app.h"

#define MAX_THREADS 1024
#define ROUNDS 5

static pthread_barrier_t barrier;

static void *nothing(void *arg)
{
	return arg;
}

static void *wait_all(void *arg)
{
	pthread_barrier_wait(&barrier);
	return arg;
}

int main(int argc, char **argv)
{
	int n = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : affinity_cpus();
	int samples = argc > 2 ? atoi(argv[2]) : 201;
	static pthread_t th[MAX_THREADS];
	uint64_t *cycles = malloc(sizeof(uint64_t) * (size_t)(samples > ROUNDS ? samples : ROUNDS));

	if (n < 1 || n > MAX_THREADS || samples < 3 || !cycles) {
		fprintf(stderr, "usage: thread_create [THREADS 1-%d] [SAMPLES >= 3]\n", MAX_THREADS);
		return 2;
	}
	double mhz = tsc_mhz();
	for (int s = -3; s < samples; s++) { /* three warm-up rounds */
		pthread_t t;
		void *ret = NULL, *token = &cycles[s < 0 ? 0 : s];
		uint64_t t0 = tsc_begin();
		if (pthread_create(&t, NULL, nothing, token) || pthread_join(t, &ret) || ret != token) {
			fprintf(stderr, "thread_create: pthread_create/join failed\n");
			return 1;
		}
		uint64_t t1 = tsc_end();
		if (s >= 0)
			cycles[s] = t1 - t0;
	}
	uint64_t med = median_of(cycles, (size_t)samples);
	printf("samples=%d\ntsc_mhz=%.0f\ncreate_join_cycles=%llu\ncreate_join_us=%.2f\n",
	       samples, mhz, (unsigned long long)med, (double)med / mhz);

	pthread_barrier_init(&barrier, NULL, (unsigned)n + 1);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = tsc_begin();
		for (int i = 0; i < n; i++)
			if (pthread_create(&th[i], NULL, wait_all, &cycles[i % ROUNDS])) {
				fprintf(stderr, "thread_create: pthread_create of %d of %d failed\n",
					i, n);
				return 1;
			}
		pthread_barrier_wait(&barrier);
		for (int i = 0; i < n; i++) {
			void *ret = NULL;
			if (pthread_join(th[i], &ret) || ret != &cycles[i % ROUNDS])
				return 1;
		}
		cycles[r] = tsc_end() - t0;
	}
	printf("threads=%d\nbatch_per_thread_cycles=%llu\n", n,
	       (unsigned long long)(median_of(cycles, ROUNDS) / (uint64_t)n));
	return 0;
}
