/* Preemption and signals to computing threads (issue 10), as key=value lines:
 *   syscall_getpid_cycles  syscall(SYS_getpid), the real call (not the SDK's shortcut)
 *   compute_rate           loop steps per microsecond of one thread alone
 *   min_share_pct          two threads that only compute, both on cpu 0, for 2 s: the
 *                          smaller one's share of all their steps
 *   kill_latency_us        pthread_kill to a thread computing on cpu 1: from the call to
 *                          the handler's first statement, median of 10 (needs 2 cpus)
 * Usage: preempt [samples]   (the same source runs natively with musl-gcc) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/app.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t getpid_cycles(int samples)
{
	uint64_t *v = malloc(sizeof(*v) * (size_t)samples);
	for (int i = 0; i < samples; i++) {
		uint64_t t = tsc_begin();
		syscall(SYS_getpid);
		v[i] = tsc_end() - t;
	}
	uint64_t m = median_of(v, (size_t)samples);
	free(v);
	return m;
}

static long ncpus; /* at start: musl counts the calling thread's affinity */

/* A loop without system calls or memory traffic beyond its counter. */
static volatile int stop;

struct spinner {
	int cpu;
	volatile uint64_t steps;
};

static void *spin(void *arg)
{
	struct spinner *s = arg;
	if (s->cpu >= 0)
		pin_to_cpu(s->cpu);
	uint64_t x = 1, n = 0;
	while (!stop) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		s->steps = ++n + (x == 0);
	}
	return 0;
}

static double compute_rate(void)
{
	struct spinner s = { .cpu = -1 };
	pthread_t t;
	stop = 0;
	uint64_t t0 = now_ns();
	pthread_create(&t, 0, spin, &s);
	struct timespec half = { 0, 500 * 1000 * 1000 };
	nanosleep(&half, 0);
	stop = 1;
	pthread_join(t, 0);
	return (double)s.steps / (double)((now_ns() - t0) / 1000);
}

static double min_share(void)
{
	struct spinner s[2] = { { .cpu = 0 }, { .cpu = 0 } };
	pthread_t t[2];
	stop = 0;
	pin_to_cpu(ncpus > 1); /* the timing thread stays off cpu 0 */
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], 0, spin, &s[i]);
	struct timespec two = { 2, 0 };
	nanosleep(&two, 0);
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], 0);
	uint64_t a = s[0].steps, b = s[1].steps;
	return a + b ? 100.0 * (double)(a < b ? a : b) / (double)(a + b) : 0;
}

static volatile uint64_t handled_ns;

static void on_usr1(int sig)
{
	(void)sig;
	handled_ns = now_ns();
}

static uint64_t kill_latency_us(void)
{
	uint64_t v[10];
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, 0);
	pin_to_cpu(0);
	for (int i = 0; i < 10; i++) {
		struct spinner s = { .cpu = 1 };
		pthread_t t;
		stop = 0;
		pthread_create(&t, 0, spin, &s);
		while (s.steps < 1000000) /* it computes on cpu 1 now (it may start here) */
			sched_yield();
		handled_ns = 0;
		uint64_t sent = now_ns();
		pthread_kill(t, SIGUSR1);
		while (!handled_ns && now_ns() - sent < 1000000000ULL)
			sched_yield();
		v[i] = handled_ns ? (handled_ns - sent) / 1000 : 1000000; /* 1 s: never came */
		stop = 1;
		pthread_join(t, 0);
	}
	return median_of(v, 10);
}

int main(int argc, char **argv)
{
	int samples = argc > 1 ? atoi(argv[1]) : 201;
	ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (samples < 3)
		samples = 3;
	printf("syscall_getpid_cycles=%llu\n", (unsigned long long)getpid_cycles(samples));
	printf("compute_rate=%.1f\n", compute_rate());
	printf("min_share_pct=%.1f\n", min_share());
	if (ncpus >= 2)
		printf("kill_latency_us=%llu\n", (unsigned long long)kill_latency_us());
	else
		printf("kill_latency=needs 2 cpus\n");
	return 0;
}
