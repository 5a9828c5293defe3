/* <hermit/syscall.h>: the few calls of HermitCore's application API that its programs
 * commonly use, implemented over POSIX so that they build unchanged.  hermit
 * applications otherwise see only Linux's system call ABI through musl; nothing here
 * reaches the kernel except through musl.  HermitCore's multi-isle iRCCE API is not
 * provided. */
#ifndef HERMIT_SYSCALL_H
#define HERMIT_SYSCALL_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The time-stamp counter, as HermitCore's benchmarks read it. */
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* Sleep for ms milliseconds (signals do not cut it short). */
static inline void sys_msleep(unsigned int ms)
{
	struct timespec left = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&left, &left) == -1 && errno == EINTR)
		;
}

static inline int sys_yield(void)
{
	return sched_yield();
}

static inline pid_t sys_getpid(void)
{
	return getpid();
}

/* The TSC's rate in MHz, which HermitCore reported as the CPU's frequency: measured
 * once against CLOCK_MONOTONIC over 10 ms (hermit's TSC is invariant). */
static inline uint32_t get_cpufreq(void)
{
	static uint32_t mhz;
	if (!mhz) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		uint64_t c0 = rdtsc();
		sys_msleep(10);
		uint64_t c1 = rdtsc();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double us = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
		mhz = (uint32_t)((double)(c1 - c0) / us + 0.5);
	}
	return mhz;
}

#ifdef __cplusplus
}
#endif

#endif /* HERMIT_SYSCALL_H */
