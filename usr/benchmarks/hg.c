/* Hourglass: how much does the OS take from a busy application?  N threads (argv[1];
 * absent or 0: the cpus in our affinity mask; thread 0 is the main thread), each asked to
 * run on its own cpu, spin for argv[2] ms (default 500) reading the TSC in a tight loop.
 * Whenever two consecutive readings are further apart than argv[3] cycles (default
 * 1000), the CPU was taken away (interrupt, exit to the hypervisor, preemption): the
 * gap is recorded.  Output: key=value lines: the largest gaps in cycles, their number,
 * the fraction of the measuring window lost (ppm, at most 1,000,000), per thread and
 * overall. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/app.h"

#define MAX_THREADS 256
#define TOP 8

struct spinner {
	pthread_t thread;
	int id;
	uint64_t top[TOP]; /* largest gaps, descending */
	uint64_t gaps, lost, iterations, min_period;
};

static struct spinner spinners[MAX_THREADS];
static int nthreads, ncpus;
static uint64_t duration, threshold;
static pthread_barrier_t barrier;

static int cpus_in_mask(cpu_set_t *set)
{
	if (sched_getaffinity(0, sizeof(*set), set) == 0 && CPU_COUNT(set) > 0)
		return CPU_COUNT(set);
	return 1;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void keep(uint64_t *top, uint64_t gap)
{
	if (gap <= top[TOP - 1])
		return;
	int i = TOP - 1;
	for (; i > 0 && top[i - 1] < gap; i--)
		top[i] = top[i - 1];
	top[i] = gap;
}

static void pin(int id)
{
	cpu_set_t mine, all;
	int n = cpus_in_mask(&all), k = id % n;

	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &all) && k-- == 0) {
			CPU_ZERO(&mine);
			CPU_SET(cpu, &mine);
			sched_setaffinity(0, sizeof(mine), &mine); /* best effort */
			return;
		}
}

static void *spin(void *arg)
{
	struct spinner *s = arg;
	uint64_t min = UINT64_MAX, gaps = 0, lost = 0, iters = 0;

	pin(s->id);
	pthread_barrier_wait(&barrier);
	uint64_t start = rdtsc(), prev = start, end = start + duration;
	while (prev < end) {
		uint64_t t = rdtsc(), d = t - prev;
		if (d < min)
			min = d;
		if (d > threshold) {
			gaps++;
			/* only the part inside the window is lost from it: a gap that
			 * ends past `end` would otherwise make lost_ppm exceed 100% */
			lost += (t < end ? t : end) - prev;
			keep(s->top, d);
		}
		prev = t;
		iters++;
	}
	s->gaps = gaps;
	s->lost = lost;
	s->iterations = iters;
	s->min_period = min;
	return NULL;
}

int main(int argc, char **argv)
{
	cpu_set_t set;

	ncpus = cpus_in_mask(&set);
	nthreads = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : ncpus;
	long ms = argc > 2 ? atol(argv[2]) : 500;
	threshold = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000;
	if (nthreads < 1 || nthreads > MAX_THREADS || ms < 1 || threshold < 1) {
		fprintf(stderr, "usage: hg [THREADS 1-%d] [MILLISECONDS] [THRESHOLD_CYCLES]\n",
			MAX_THREADS);
		return 2;
	}
	double hz = tsc_mhz() * 1e6;
	duration = (uint64_t)(hz * (double)ms / 1e3);
	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
	for (int t = 0; t < nthreads; t++)
		spinners[t].id = t;
	for (int t = 1; t < nthreads; t++)
		if (pthread_create(&spinners[t].thread, NULL, spin, &spinners[t])) {
			fprintf(stderr, "hg: pthread_create of thread %d failed\n", t);
			return 1;
		}
	spin(&spinners[0]);
	for (int t = 1; t < nthreads; t++)
		pthread_join(spinners[t].thread, NULL);

	uint64_t top[TOP] = { 0 }, gaps = 0, lost = 0, min = UINT64_MAX;
	printf("threads=%d\ncpus=%d\ntsc_mhz=%.0f\nduration_cycles=%llu\nthreshold_cycles=%llu\n",
	       nthreads, ncpus, hz / 1e6, (unsigned long long)duration,
	       (unsigned long long)threshold);
	for (int t = 0; t < nthreads; t++) {
		struct spinner *s = &spinners[t];
		for (int i = 0; i < TOP; i++)
			keep(top, s->top[i]);
		gaps += s->gaps;
		lost += s->lost;
		min = s->min_period < min ? s->min_period : min;
		printf("thread%d_max_gap_cycles=%llu\nthread%d_gaps=%llu\n", t,
		       (unsigned long long)s->top[0], t, (unsigned long long)s->gaps);
	}
	printf("min_period_cycles=%llu\nmax_gap_cycles=%llu\ngaps=%llu\nlost_ppm=%.1f\n",
	       (unsigned long long)min, (unsigned long long)top[0], (unsigned long long)gaps,
	       (double)lost / ((double)duration * nthreads) * 1e6);
	printf("top_gaps_cycles=");
	for (int i = 0; i < TOP; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)top[i]);
	printf("\n");
	return 0;
}
