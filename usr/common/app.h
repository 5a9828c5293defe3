/* Small helpers shared by the apps of usr/tests and usr/benchmarks.  Each app is also
 * built alone as a static musl binary for Linux (the reference run), so this is a
 * header of static functions found next to the sources ("../common/app.h"), not a
 * library.  Include it after defining _GNU_SOURCE (CPU_COUNT). */
#ifndef USR_COMMON_APP_H
#define USR_COMMON_APP_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The cpus in our affinity mask, at least 1: the default thread count. */
static inline int affinity_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return 1;
}

/* The calling thread runs on `cpu` only: 0, or -1 with errno. */
static inline int pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* fn(id) on n threads: id 0 on the calling one, 1..n-1 on new ones, all joined.
 * 0, or 1 (with a message naming app) when a thread cannot be created. */
static inline int run_threads(const char *app, void *(*fn)(void *), int n)
{
	pthread_t th[n > 1 ? n : 1];

	for (int t = 1; t < n; t++)
		if (pthread_create(&th[t], NULL, fn, (void *)(long)t)) {
			fprintf(stderr, "%s: pthread_create of thread %d failed\n", app, t);
			return 1;
		}
	fn(0);
	for (int t = 1; t < n; t++)
		pthread_join(th[t], NULL);
	return 0;
}

/* The median of n samples, sorted in place: a sample the host's scheduler
 * stretched does not move it. */
static inline int median_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static inline uint64_t median_of(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), median_cmp);
	return v[n / 2];
}

/* TSC reads that the measured code cannot move across. */
static inline uint64_t tsc_begin(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return (uint64_t)hi << 32 | lo;
}

static inline uint64_t tsc_end(void)
{
	uint32_t lo, hi, aux;
	__asm__ volatile("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
	return (uint64_t)hi << 32 | lo;
}

/* The TSC's rate, measured against CLOCK_MONOTONIC over 20 ms. */
static inline double tsc_mhz(void)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	uint64_t t0 = tsc_begin();
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 20000000L);
	uint64_t t1 = tsc_end();
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	return (double)(t1 - t0) / ns * 1e3;
}

#endif
