/* Clocks and sleeping.  Until the timer interrupt exists, sleeping spins on the TSC. */
#include <errno.h>
#include <sys/time.h>
#include <time.h>

#include <hermit/arch.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#define NSEC 1000000000ULL

static long clock_ns(long clk, uint64_t *ns)
{
	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		*ns = time_realtime_ns();
		return 0;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
	case CLOCK_PROCESS_CPUTIME_ID:
	case CLOCK_THREAD_CPUTIME_ID:
		*ns = time_monotonic_ns();
		return 0;
	default:
		return -EINVAL;
	}
}

long sys_clock_gettime(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t ns;
	long r = clock_ns(a0, &ns);
	if (!r)
		*(struct timespec *)a1 = (struct timespec){ (time_t)(ns / NSEC), (long)(ns % NSEC) };
	return r;
}

long sys_clock_getres(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t ns;
	long r = clock_ns(a0, &ns);
	if (!r && a1)
		*(struct timespec *)a1 = (struct timespec){ 0, 1 };
	return r;
}

long sys_gettimeofday(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t ns = time_realtime_ns();
	if (a0)
		*(struct timeval *)a0 = (struct timeval){ (time_t)(ns / NSEC), (long)(ns % NSEC / 1000) };
	return 0;
}

long sys_time(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	long t = (long)(time_realtime_ns() / NSEC);
	if (a0)
		*(long *)a0 = t;
	return t;
}

/* Other threads run meanwhile; the deadline converts to the monotonic clock. */
static long sleep_until(long clk, uint64_t deadline)
{
	uint64_t now;
	long r = clock_ns(clk, &now);

	if (!r && now < deadline)
		r = sched_sleep_until(time_monotonic_ns() + (deadline - now));
	return r;
}

static long ts_ns(const struct timespec *ts, uint64_t *ns)
{
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || (uint64_t)ts->tv_nsec >= NSEC)
		return -EINVAL;
	*ns = (uint64_t)ts->tv_sec * NSEC + (uint64_t)ts->tv_nsec;
	return 0;
}

long sys_nanosleep(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t ns;
	long r = ts_ns((const struct timespec *)a0, &ns);
	return r ? r : sleep_until(CLOCK_MONOTONIC, time_monotonic_ns() + ns);
}

long sys_clock_nanosleep(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t ns, now;
	long r = ts_ns((const struct timespec *)a2, &ns);
	if (!r)
		r = clock_ns(a0, &now);
	return r ? r : sleep_until(a0, (a1 & TIMER_ABSTIME) ? ns : now + ns);
}
