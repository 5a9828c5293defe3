/* OpenMP benchmarks in the spirit of McCalpin's STREAM and EPCC's syncbench (written for
 * hermit, not copied): memory bandwidth of the copy, scale, add and triad kernels as
 * `omp parallel for` loops with static scheduling over arrays each thread first touched,
 * and the overhead of a parallel region and of a barrier.  Threads: OpenMP's default
 * (HERMIT_CPUS under hermit, OMP_NUM_THREADS).  argv[1]: elements per array (default
 * 4000000, 32 MB each); argv[2]: STREAM repetitions (default 10); argv[3]: outer samples
 * of the overheads (default 20).  Rates are the best repetition after the first, in MB/s
 * (10^6 bytes); an overhead is the median sample, in microseconds, of (time of a
 * construct around a short delay - time of the delay alone) / inner repetitions.
 * Output: key=value lines; exit status 1 when STREAM's results do not validate. */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/app.h"

#define KERNELS 4
#define INNER 1000 /* constructs timed together in one overhead sample */

static const char *names[KERNELS] = { "copy", "scale", "add", "triad" };
static const int arrays_touched[KERNELS] = { 2, 2, 3, 3 };

static void delay(int length)
{
	volatile double x = 0;
	for (int i = 0; i < length; i++)
		x += i;
}

static double stream(long n, int reps)
{
	double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
	const double s = 3.0;
	double best[KERNELS];
	if (!a || !b || !c) {
		fprintf(stderr, "omp_bench: cannot allocate 3 x %ld doubles\n", n);
		exit(2);
	}
#pragma omp parallel for schedule(static)
	for (long i = 0; i < n; i++) {
		a[i] = 1.0;
		b[i] = 2.0;
		c[i] = 0.0;
	}
	for (int k = 0; k < KERNELS; k++)
		best[k] = INFINITY;
	for (int r = 0; r < reps; r++) {
		double t[KERNELS + 1];
		t[0] = omp_get_wtime();
#pragma omp parallel for schedule(static)
		for (long i = 0; i < n; i++)
			c[i] = a[i];
		t[1] = omp_get_wtime();
#pragma omp parallel for schedule(static)
		for (long i = 0; i < n; i++)
			b[i] = s * c[i];
		t[2] = omp_get_wtime();
#pragma omp parallel for schedule(static)
		for (long i = 0; i < n; i++)
			c[i] = a[i] + b[i];
		t[3] = omp_get_wtime();
#pragma omp parallel for schedule(static)
		for (long i = 0; i < n; i++)
			a[i] = b[i] + s * c[i];
		t[4] = omp_get_wtime();
		for (int k = 0; r > 0 && k < KERNELS; k++)
			best[k] = fmin(best[k], t[k + 1] - t[k]);
	}
	/* The same operations on scalars give the expected values. */
	double ea = 1.0, eb = 2.0, ec = 0.0;
	for (int r = 0; r < reps; r++) {
		ec = ea;
		eb = s * ec;
		ec = ea + eb;
		ea = eb + s * ec;
	}
	double err = 0;
	for (long i = 0; i < n; i++)
		err = fmax(err, fmax(fabs(a[i] - ea) / ea, fmax(fabs(b[i] - eb) / eb, fabs(c[i] - ec) / ec)));
	for (int k = 0; k < KERNELS; k++)
		printf("%s=%.1f\n", names[k], arrays_touched[k] * sizeof(double) * n / best[k] / 1e6);
	free(a);
	free(b);
	free(c);
	return err;
}

/* kind 0: the delay alone; 1: a parallel region around it; 2: a barrier after it. */
static double sample(int kind, int length)
{
	double t0 = omp_get_wtime();
	if (kind == 0) {
		for (int j = 0; j < INNER; j++)
			delay(length);
	} else if (kind == 1) {
		for (int j = 0; j < INNER; j++) {
#pragma omp parallel
			delay(length);
		}
	} else {
#pragma omp parallel
		for (int j = 0; j < INNER; j++) {
			delay(length);
#pragma omp barrier
		}
	}
	return (omp_get_wtime() - t0) / INNER;
}

static double overhead_us(int kind, int outer, int length)
{
	uint64_t *ns = malloc(outer * sizeof *ns);
	for (int i = 0; i < outer; i++) {
		double d = (sample(kind, length) - sample(0, length)) * 1e9;
		ns[i] = d > 0 ? (uint64_t)d : 0; /* noise can make the delay alone the slower */
	}
	double median = median_of(ns, outer) / 1e3;
	free(ns);
	return median;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 4000000;
	int reps = argc > 2 ? atoi(argv[2]) : 10;
	int outer = argc > 3 ? atoi(argv[3]) : 20;
	if (n < 1000 || reps < 2 || outer < 1) {
		fprintf(stderr, "usage: omp_bench [elements >= 1000] [reps >= 2] [samples >= 1]\n");
		return 2;
	}
	printf("threads=%d\n", omp_get_max_threads());
	double err = stream(n, reps);
	printf("parallel_us=%.3f\n", overhead_us(1, outer, 100));
	printf("barrier_us=%.3f\n", overhead_us(2, outer, 100));
	if (err > 1e-13) {
		printf("validation=failed\n");
		return 1;
	}
	return 0;
}
