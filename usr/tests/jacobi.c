/* A threaded Jacobi solver that checks itself.  Solves A x = b for a dense, strictly
 * diagonally dominant A (so Jacobi converges) whose solution is known, with N threads
 * (argv[1]; absent or 0: the cpus in our affinity mask; thread 0 is the main thread), each
 * owning a block of rows, one barrier per sweep.  argv[2]: the order n (default 512).
 * Every row is summed in the same order whatever the number of threads, so the number
 * of sweeps does not depend on it.  Exit status 0 when the residual and the error
 * against the known solution are small, 1 otherwise. */
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
#define MAX_SWEEPS 1000
#define TOLERANCE 1e-12

static int n, nthreads, sweeps;
static double *a, *b, *x[2], *truth;
static double change[2][MAX_THREADS];
static pthread_barrier_t barrier;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Off the diagonal a(i,j) = 1 / (1 + |i - j|) with alternating signs; the diagonal is
 * twice the sum of the row's magnitudes, so each sweep at least halves the error. */
static void setup(void)
{
	for (int i = 0; i < n; i++) {
		double sum = 0;
		for (int j = 0; j < n; j++) {
			double v = i == j ? 0 : ((i + j) % 2 ? -1.0 : 1.0) / (1 + abs(i - j));
			a[(size_t)i * n + j] = v;
			sum += fabs(v);
		}
		a[(size_t)i * n + i] = 2 * sum + 1;
		truth[i] = 1 + (i % 7) * 0.25;
	}
	for (int i = 0; i < n; i++) {
		double s = 0;
		for (int j = 0; j < n; j++)
			s += a[(size_t)i * n + j] * truth[j];
		b[i] = s;
		x[0][i] = 0;
	}
}

static void *solve(void *arg)
{
	int t = (int)(long)arg, lo = (int)((long)t * n / nthreads);
	int hi = (int)((long)(t + 1) * n / nthreads);

	for (int k = 0; k < MAX_SWEEPS; k++) {
		const double *old = x[k % 2];
		double *new = x[(k + 1) % 2], diff = 0;
		for (int i = lo; i < hi; i++) {
			const double *row = &a[(size_t)i * n];
			double s = b[i];
			for (int j = 0; j < n; j++)
				if (j != i)
					s -= row[j] * old[j];
			new[i] = s / row[i];
			diff = fmax(diff, fabs(new[i] - old[i]));
		}
		change[k % 2][t] = diff;
		pthread_barrier_wait(&barrier);
		double most = 0;
		for (int u = 0; u < nthreads; u++) /* every thread takes the same decision */
			most = fmax(most, change[k % 2][u]);
		if (most < TOLERANCE) {
			if (t == 0)
				sweeps = k + 1;
			return NULL;
		}
	}
	if (t == 0)
		sweeps = MAX_SWEEPS;
	return NULL;
}

int main(int argc, char **argv)
{

	nthreads = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : affinity_cpus();
	n = argc > 2 ? atoi(argv[2]) : 512;
	if (nthreads < 1 || nthreads > MAX_THREADS || n < 2 || n > 8192) {
		fprintf(stderr, "usage: jacobi [THREADS 1-%d] [ORDER 2-8192]\n", MAX_THREADS);
		return 2;
	}
	a = malloc(sizeof(double) * (size_t)n * n);
	b = malloc(sizeof(double) * n);
	x[0] = malloc(sizeof(double) * n);
	x[1] = malloc(sizeof(double) * n);
	truth = malloc(sizeof(double) * n);
	if (!a || !b || !x[0] || !x[1] || !truth) {
		fprintf(stderr, "jacobi: out of memory for order %d\n", n);
		return 1;
	}
	setup();
	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
	double start = now();
	if (run_threads("jacobi", solve, nthreads))
		return 1;
	double seconds = now() - start;

	const double *sol = x[sweeps % 2];
	double residual = 0, error = 0, norm = 0;
	for (int i = 0; i < n; i++) {
		double s = -b[i];
		for (int j = 0; j < n; j++)
			s += a[(size_t)i * n + j] * sol[j];
		residual = fmax(residual, fabs(s));
		norm = fmax(norm, fabs(b[i]));
		error = fmax(error, fabs(sol[i] - truth[i]));
	}
	residual /= norm;
	int ok = sweeps < MAX_SWEEPS && residual < 1e-10 && error < 1e-9;
	printf("threads=%d\nn=%d\nsweeps=%d\nresidual=%.3e\nerror=%.3e\nseconds=%.4f\n", nthreads,
	       n, sweeps, residual, error, seconds);
	printf("jacobi: %s\n", ok ? "ok" : "FAILED");
	return !ok;
}
