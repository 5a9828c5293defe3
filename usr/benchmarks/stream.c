/* Sustainable memory bandwidth, after McCalpin's STREAM: the copy, scale, add and triad
 * kernels over three arrays of doubles, with N threads (argv[1]; absent or 0: the cpus in
 * our affinity mask; thread 0 is the main thread) each owning a contiguous block that it
 * also initialises (first touch).  argv[2]: elements per array (default 4000000, 32 MB
 * each); argv[3]: repetitions (default 10).  Each kernel's best time over the
 * repetitions after the first gives its rate.  The results are validated against the
 * same sequence of operations on scalars.  Output: key=value lines, rates in MB/s
 * (10^6 bytes); exit status 1 when validation fails. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/app.h"

#define MAX_THREADS 256
#define KERNELS 4

static double *a, *b, *c;
static long n;
static int nthreads, reps;
static double best[KERNELS], start_time;
static pthread_barrier_t barrier;
static const double scalar = 3.0;
static const char *names[KERNELS] = { "copy", "scale", "add", "triad" };
static const int arrays_touched[KERNELS] = { 2, 2, 3, 3 };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void kernel(int k, long lo, long hi)
{
	switch (k) {
	case 0:
		for (long i = lo; i < hi; i++)
			c[i] = a[i];
		break;
	case 1:
		for (long i = lo; i < hi; i++)
			b[i] = scalar * c[i];
		break;
	case 2:
		for (long i = lo; i < hi; i++)
			c[i] = a[i] + b[i];
		break;
	default:
		for (long i = lo; i < hi; i++)
			a[i] = b[i] + scalar * c[i];
	}
}

/* Thread 0 times each kernel between two barriers. */
static void *run(void *arg)
{
	int t = (int)(long)arg;
	long lo = n * t / nthreads, hi = n * (t + 1) / nthreads;

	for (long i = lo; i < hi; i++) {
		a[i] = 1.0;
		b[i] = 2.0;
		c[i] = 0.0;
	}
	for (long i = lo; i < hi; i++)
		a[i] *= 2.0;
	for (int r = 0; r < reps; r++)
		for (int k = 0; k < KERNELS; k++) {
			pthread_barrier_wait(&barrier);
			if (t == 0)
				start_time = now();
			kernel(k, lo, hi);
			pthread_barrier_wait(&barrier);
			if (t == 0 && r > 0) {
				double dt = now() - start_time;
				if (best[k] == 0 || dt < best[k])
					best[k] = dt;
			}
		}
	return NULL;
}

static int check_results(void)
{
	double ea = 2.0, eb = 2.0, ec = 0.0;
	double da = 0, db = 0, dc = 0;

	for (int r = 0; r < reps; r++) {
		ec = ea;
		eb = scalar * ec;
		ec = ea + eb;
		ea = eb + scalar * ec;
	}
	for (long i = 0; i < n; i++) {
		da = fmax(da, fabs(a[i] - ea));
		db = fmax(db, fabs(b[i] - eb));
		dc = fmax(dc, fabs(c[i] - ec));
	}
	return da <= 1e-13 * ea && db <= 1e-13 * eb && dc <= 1e-13 * ec;
}

int main(int argc, char **argv)
{

	nthreads = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : affinity_cpus();
	n = argc > 2 ? atol(argv[2]) : 4000000;
	reps = argc > 3 ? atoi(argv[3]) : 10;
	if (nthreads < 1 || nthreads > MAX_THREADS || n < nthreads || reps < 2) {
		fprintf(stderr, "usage: stream [THREADS 1-%d] [ELEMENTS] [REPS >= 2]\n",
			MAX_THREADS);
		return 2;
	}
	a = aligned_alloc(64, sizeof(double) * (size_t)n + 64);
	b = aligned_alloc(64, sizeof(double) * (size_t)n + 64);
	c = aligned_alloc(64, sizeof(double) * (size_t)n + 64);
	if (!a || !b || !c) {
		fprintf(stderr, "stream: cannot allocate 3 x %ld doubles\n", n);
		return 1;
	}
	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
	if (run_threads("stream", run, nthreads))
		return 1;
	printf("threads=%d\nelements=%ld\nreps=%d\n", nthreads, n, reps);
	for (int k = 0; k < KERNELS; k++) {
		double bytes = (double)arrays_touched[k] * sizeof(double) * (double)n;
		printf("%s_mbs=%.1f\n", names[k], bytes / best[k] / 1e6);
	}
	int ok = check_results();
	printf("validated=%s\n", ok ? "yes" : "no");
	return !ok;
}
