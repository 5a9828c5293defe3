/*
 * The vDSO: clocks read in the application's ring 3 from the kernel's vvar page,
 * because on kvm_pvm every system call is a world switch (~6,700 cycles).  It is
 * a shared object as Linux provides one (linux-vdso.so.1, version LINUX_2.6), so
 * musl finds __vdso_clock_gettime through AT_SYSINFO_EHDR and uses it unchanged.
 * What the page cannot answer goes to the kernel, as Linux's vDSO does, so the
 * result is always the system call's (unknown clocks: EINVAL, which musl passes on).
 * getcpu (musl's sched_getcpu) reads the cpu number from the per-cpu block.
 */
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include <hermit/clock.h>
#include <asm/percpu.h>

#define NSEC 1000000000ULL

/* lfence: the TSC is read after earlier loads, so a time taken after seeing
 * another thread's time is never older than it. */
static inline uint64_t tsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return (uint64_t)hi << 32 | lo;
}

static inline long kernel_call(long nr, long a0, long a1)
{
	long r;

	/* as the SDK's musl does (arch/x86/callsys.c); built without the red zone */
	__asm__ volatile("call *%c[slot]"
			 : "=a"(r)
			 : "a"(nr), "D"(a0), "S"(a1), [slot] "i"(HERMIT_SYSCALL_SLOT)
			 : "rcx", "r11", "memory");
	return r;
}

enum kind { KERNEL_ONLY, MONOTONIC, REALTIME };

/* The clocks as kernel/sys_time.c groups them. */
static enum kind kind_of(clockid_t clk)
{
	switch (clk) {
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
		return MONOTONIC;
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		return REALTIME;
	default:
		return KERNEL_ONLY; /* the CPU-time clocks, unknown ids */
	}
}

/* clk in ns, read as the kernel reads it; 0 when only the kernel can tell. */
static int read_ns(clockid_t clk, uint64_t *ns)
{
	enum kind k = kind_of(clk);
	uint64_t base = 0;

	if (k == KERNEL_ONLY)
		return 0;
	if (k == REALTIME) {
		base = VVAR->realtime_base; /* 0: the kernel has not asked the host yet */
		if (!base)
			return 0;
	}
	*ns = base + clock_monotonic_ns(VVAR, tsc());
	return 1;
}

int __vdso_clock_gettime(clockid_t clk, struct timespec *ts)
{
	uint64_t ns;

	if (!read_ns(clk, &ns))
		return (int)kernel_call(SYS_clock_gettime, clk, (long)ts);
	ts->tv_sec = (time_t)(ns / NSEC);
	ts->tv_nsec = (long)(ns % NSEC);
	return 0;
}

int __vdso_gettimeofday(struct timeval *tv, void *tz)
{
	uint64_t ns;

	if (!read_ns(CLOCK_REALTIME, &ns))
		return (int)kernel_call(SYS_gettimeofday, (long)tv, (long)tz);
	if (tv) {
		tv->tv_sec = (time_t)(ns / NSEC);
		tv->tv_usec = (suseconds_t)(ns % NSEC / 1000);
	}
	return 0;
}

time_t __vdso_time(time_t *t)
{
	uint64_t ns;

	if (!read_ns(CLOCK_REALTIME, &ns))
		return (time_t)kernel_call(SYS_time, (long)t, 0);
	time_t s = (time_t)(ns / NSEC);
	if (t)
		*t = s;
	return s;
}

/* Every clock the page serves ticks in whole nanoseconds, as the kernel says. */
int __vdso_clock_getres(clockid_t clk, struct timespec *res)
{
	if (kind_of(clk) == KERNEL_ONLY)
		return (int)kernel_call(SYS_clock_getres, clk, (long)res);
	if (res)
		*res = (struct timespec){ 0, 1 };
	return 0;
}

/* %gs is this cpu's per-cpu block in ring 3 as well (the kernel's entry relies
 * on it; the application never sets it); one NUMA node. */
long __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
	(void)unused;
	if (cpu) {
		unsigned id;
		__asm__ volatile("movl %%gs:%c1, %0" : "=r"(id) : "i"(PERCPU_CPU_ID));
		*cpu = id;
	}
	if (node)
		*node = 0;
	return 0;
}
