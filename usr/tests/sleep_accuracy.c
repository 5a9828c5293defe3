/* How late do sleeps wake up?  N threads (argv[1]; absent or 0: the cpus in our affinity
 * mask; thread 0 is the main thread) sleep at the same time, each for 50 us, 100 us,
 * 1 ms and 5 ms, through nanosleep, clock_nanosleep (relative) and clock_nanosleep
 * with absolute deadlines on CLOCK_MONOTONIC and CLOCK_REALTIME; the overshoot is the
 * wake-up time minus the requested one.  Prints min/median/p90/max overshoot in
 * microseconds per method as key=value lines.  Fails when a sleep returns early or
 * with an error, when an invalid request is not refused with EINVAL, or when the
 * median overshoot exceeds argv[2] microseconds (default: no bound).
 * argv[3]: repetitions of each duration (default 10). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/app.h"

#define MAX_THREADS 64
#define METHODS 4
#define NSEC 1000000000LL

static const long durations_ns[] = { 50000, 100000, 1000000, 5000000 };
#define NDUR ((int)(sizeof(durations_ns) / sizeof(durations_ns[0])))
static const char *method_names[METHODS] = { "nanosleep", "clock_nanosleep_rel",
					     "clock_nanosleep_abs_mono", "clock_nanosleep_abs_real" };

static int nthreads, reps;
static int64_t *samples[METHODS]; /* overshoot in ns, nthreads * reps * NDUR each */
static int early[METHODS], errors[METHODS];

static int64_t ns_of(struct timespec ts)
{
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static struct timespec ts_of(int64_t ns)
{
	return (struct timespec){ (time_t)(ns / NSEC), (long)(ns % NSEC) };
}

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ns_of(ts);
}

/* One sleep of `d` ns by method `m`; returns the overshoot in ns (negative: early). */
static int64_t sleep_once(int m, long d, int *err)
{
	clockid_t clk = m == 3 ? CLOCK_REALTIME : CLOCK_MONOTONIC;
	int64_t start = clock_ns(clk), target = start + d;
	struct timespec rel = ts_of(d), abs = ts_of(target);
	int r;

	if (m == 0)
		r = nanosleep(&rel, NULL) ? errno : 0;
	else if (m == 1)
		r = clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, NULL);
	else
		r = clock_nanosleep(clk, TIMER_ABSTIME, &abs, NULL);
	*err = r;
	return clock_ns(clk) - target;
}

static void *measure(void *arg)
{
	int t = (int)(long)arg;

	for (int m = 0; m < METHODS; m++)
		for (int i = 0; i < NDUR; i++)
			for (int k = 0; k < reps; k++) {
				int err;
				int64_t over = sleep_once(m, durations_ns[i], &err);
				samples[m][((size_t)t * NDUR + i) * reps + k] = over;
				if (err)
					__atomic_add_fetch(&errors[m], 1, __ATOMIC_SEQ_CST);
				/* REALTIME may be stepped by the host; MONOTONIC never goes back */
				if (over < 0 && m != 3)
					__atomic_add_fetch(&early[m], 1, __ATOMIC_SEQ_CST);
			}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int invalid_refused(void)
{
	struct timespec bad = { 0, NSEC }, neg = { -1, 0 }, short_one = { 0, 1000 };
	int ok = nanosleep(&bad, NULL) == -1 && errno == EINVAL;

	ok &= nanosleep(&neg, NULL) == -1 && errno == EINVAL;
	ok &= clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL) == EINVAL;
	ok &= clock_nanosleep((clockid_t)12345, 0, &short_one, NULL) == EINVAL;
	return ok;
}

int main(int argc, char **argv)
{
	int failures = 0;

	nthreads = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : affinity_cpus();
	double bound_us = argc > 2 ? atof(argv[2]) : 0;
	reps = argc > 3 ? atoi(argv[3]) : 10;
	if (nthreads < 1 || nthreads > MAX_THREADS || reps < 1 || bound_us < 0) {
		fprintf(stderr, "usage: sleep_accuracy [THREADS 1-%d] [BOUND_US] [REPS]\n",
			MAX_THREADS);
		return 2;
	}
	size_t n = (size_t)nthreads * NDUR * reps;
	for (int m = 0; m < METHODS; m++)
		if (!(samples[m] = malloc(n * sizeof(int64_t))))
			return 1;
	printf("threads=%d\nreps=%d\n", nthreads, reps);
	fflush(stdout);
	if (run_threads("sleep_accuracy", measure, nthreads))
		return 1;

	int64_t all_median = 0;
	for (int m = 0; m < METHODS; m++) {
		qsort(samples[m], n, sizeof(int64_t), cmp);
		int64_t med = samples[m][n / 2];
		printf("%s_min_us=%.1f\n%s_median_us=%.1f\n%s_p90_us=%.1f\n%s_max_us=%.1f\n",
		       method_names[m], samples[m][0] / 1e3, method_names[m], med / 1e3,
		       method_names[m], samples[m][n * 9 / 10] / 1e3, method_names[m],
		       samples[m][n - 1] / 1e3);
		if (med > all_median)
			all_median = med;
		if (early[m] || errors[m]) {
			fprintf(stderr, "sleep_accuracy: %s: %d early wake-ups, %d errors\n",
				method_names[m], early[m], errors[m]);
			failures++;
		}
	}
	printf("median_overshoot_us=%.1f\n", all_median / 1e3);
	if (!invalid_refused()) {
		fprintf(stderr, "sleep_accuracy: an invalid sleep was not refused with EINVAL\n");
		failures++;
	}
	if (bound_us > 0 && all_median / 1e3 > bound_us) {
		fprintf(stderr, "sleep_accuracy: median overshoot %.1f us is above the bound %.1f us\n",
			all_median / 1e3, bound_us);
		failures++;
	}
	printf("sleep_accuracy: %s\n", failures ? "FAILED" : "ok");
	return failures != 0;
}
