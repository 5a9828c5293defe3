/* Clocks (wall, monotonic, cpu time of threads and of the process) and sleeping. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>

#include <hermit/arch.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#define NSEC 1000000000ULL
#define CLK_TCK 100 /* what musl's sysconf(_SC_CLK_TCK) reports */

/* The cpu clocks of a thread or process by id, as Linux encodes them:
 * ~id << 3 | 4 for a thread (musl's pthread_getcpuclockid), without 4 a process. */
static long cpu_clock_ns(long clk, uint64_t *ns)
{
	long id = ~(clk >> 3);

	if ((clk & 7) == 3 || (clk & 7) > 6)
		return -EINVAL;
	if (clk & 4) {
		struct task *t = id ? task_by_tid((uint64_t)id) : current;
		if (!t)
			return -EINVAL;
		*ns = sched_thread_cpu_ns(t);
		return 0;
	}
	if (id && id != HERMIT_APP_PID)
		return -EINVAL;
	*ns = sched_process_cpu_ns();
	return 0;
}

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
		*ns = time_monotonic_ns();
		return 0;
	case CLOCK_PROCESS_CPUTIME_ID:
		*ns = sched_process_cpu_ns();
		return 0;
	case CLOCK_THREAD_CPUTIME_ID:
		*ns = sched_thread_cpu_ns(current);
		return 0;
	default:
		return clk < 0 ? cpu_clock_ns(clk, ns) : -EINVAL;
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

static struct timeval tv_of(uint64_t ns)
{
	return (struct timeval){ (time_t)(ns / NSEC), (long)(ns % NSEC / 1000) };
}

long sys_gettimeofday(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t ns = time_realtime_ns();
	if (a0)
		*(struct timeval *)a0 = tv_of(ns);
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
	if (a0 == CLOCK_THREAD_CPUTIME_ID || (a0 < 0 && (a0 & 4)))
		return -EINVAL; /* a sleeping thread's own cpu clock stands still */
	if (!r)
		r = clock_ns(a0, &now);
	return r ? r : sleep_until(a0, (a1 & TIMER_ABSTIME) ? ns : now + ns);
}

/* Run time counts as user time: the kernel's share is not told apart. */
long sys_getrusage(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct rusage *ru = (struct rusage *)a1;

	if (a0 != RUSAGE_SELF && a0 != RUSAGE_THREAD && a0 != RUSAGE_CHILDREN)
		return -EINVAL;
	memset(ru, 0, sizeof(*ru));
	if (a0 != RUSAGE_CHILDREN)
		ru->ru_utime = tv_of(a0 == RUSAGE_SELF ? sched_process_cpu_ns() : sched_thread_cpu_ns(current));
	return 0;
}

long sys_times(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct tms *t = (struct tms *)a0;

	if (t)
		*t = (struct tms){ .tms_utime = (clock_t)(sched_process_cpu_ns() / (NSEC / CLK_TCK)) };
	return (long)(time_monotonic_ns() / (NSEC / CLK_TCK));
}
