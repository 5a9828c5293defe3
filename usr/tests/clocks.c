/* The clocks without system calls (the vDSO) and getpid() as a function call.
 * Every clock read through musl (which uses the vDSO) and through the vDSO's own
 * exports must lie between two raw system calls of the same clock; CLOCK_MONOTONIC
 * must never go backwards, in one thread nor across N threads on the cpus
 * (argv[1]; absent or 0: one per cpu in our affinity mask); sched_getcpu() and
 * the vDSO's getcpu must name the cpu the system call names (in every thread);
 * getpid() must be the system call's pid.  The same source passes on Linux.  Prints
 * "clocks: N checks, M failed" and, as figures only, the cycles of a vDSO and of a
 * system call clock_gettime and getpid.  Exit status 1 when a check failed. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../common/app.h"

#define NSEC 1000000000ULL
#define MAX_THREADS 64
#define READS 200000

typedef int (*cgt_fn)(clockid_t, struct timespec *);
typedef int (*gtod_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static int checks, failed;

static void check(int ok, const char *what, long detail)
{
	checks++;
	if (!ok) {
		failed++;
		printf("FAIL: %s (%ld)\n", what, detail);
	}
}

static uint64_t ns_of(struct timespec ts)
{
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static uint64_t sys_ns(clockid_t clk)
{
	struct timespec ts = { 0, 0 };
	syscall(SYS_clock_gettime, clk, &ts);
	return ns_of(ts);
}

/* name@LINUX_2.6 in the vDSO, found the way musl's __vdsosym finds it (DT_HASH,
 * DT_SYMTAB, DT_STRTAB, versions from DT_VERSYM/DT_VERDEF); NULL if absent. */
static const char *version_name(const Elf64_Verdef *vd, unsigned idx, const char *str)
{
	for (;; vd = (const void *)((const char *)vd + vd->vd_next)) {
		if (!(vd->vd_flags & VER_FLG_BASE) && (vd->vd_ndx & 0x7fff) == idx)
			return str + ((const Elf64_Verdaux *)((const char *)vd + vd->vd_aux))->vda_name;
		if (!vd->vd_next)
			return "";
	}
}

static void *vdso_sym(const char *name)
{
	const char *eh = (const char *)getauxval(AT_SYSINFO_EHDR);
	const Elf64_Ehdr *e = (const void *)eh;
	uintptr_t base = 0;
	const Elf64_Dyn *dyn = NULL;

	for (int i = 0; i < e->e_phnum; i++) {
		const Elf64_Phdr *ph = (const void *)(eh + e->e_phoff + (size_t)i * e->e_phentsize);
		if (ph->p_type == PT_LOAD)
			base = (uintptr_t)eh + ph->p_offset - ph->p_vaddr;
		else if (ph->p_type == PT_DYNAMIC)
			dyn = (const void *)(eh + ph->p_offset);
	}
	const Elf64_Sym *syms = NULL;
	const Elf64_Word *hash = NULL;
	const Elf64_Half *versym = NULL;
	const Elf64_Verdef *verdef = NULL;
	const char *str = NULL;
	for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
		const void *p = (const void *)(base + dyn->d_un.d_ptr);
		switch (dyn->d_tag) {
		case DT_SYMTAB: syms = p; break;
		case DT_STRTAB: str = p; break;
		case DT_HASH: hash = p; break;
		case DT_VERSYM: versym = p; break;
		case DT_VERDEF: verdef = p; break;
		}
	}
	if (!syms || !str || !hash || !versym || !verdef)
		return NULL;
	for (Elf64_Word i = 0; i < hash[1]; i++)
		if (syms[i].st_shndx && !strcmp(str + syms[i].st_name, name) &&
		    !strcmp(version_name(verdef, versym[i], str), "LINUX_2.6"))
			return (void *)(base + syms[i].st_value);
	return NULL;
}

static void check_auxv(void)
{
	const unsigned char *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	check(eh != NULL, "getauxval(AT_SYSINFO_EHDR) is not 0", 0);
	if (eh) {
		check(!memcmp(eh, ELFMAG, SELFMAG), "AT_SYSINFO_EHDR points at an ELF header", eh[0]);
		check(((const Elf64_Ehdr *)eh)->e_type == ET_DYN, "the vDSO is a shared object", 0);
	}
}

static const struct { clockid_t id; const char *name; } clocks[] = {
	{ CLOCK_REALTIME, "REALTIME" }, { CLOCK_MONOTONIC, "MONOTONIC" },
	{ CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW" }, { CLOCK_REALTIME_COARSE, "REALTIME_COARSE" },
	{ CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE" }, { CLOCK_BOOTTIME, "BOOTTIME" },
	{ CLOCK_TAI, "TAI" }, { CLOCK_PROCESS_CPUTIME_ID, "PROCESS_CPUTIME_ID" },
	{ CLOCK_THREAD_CPUTIME_ID, "THREAD_CPUTIME_ID" },
};

/* Each clock, read by musl and by the vDSO, lies between two system calls. */
static void check_clocks(cgt_fn vdso_cgt, cgt_fn vdso_getres)
{
	char what[96];

	for (size_t c = 0; c < sizeof(clocks) / sizeof(clocks[0]); c++) {
		clockid_t id = clocks[c].id;
		for (int round = 0; round < 3; round++) { /* the first REALTIME may ask the host */
			struct timespec a = { 0, 0 }, b = { 0, 0 };
			uint64_t before = sys_ns(id);
			int ra = clock_gettime(id, &a), rb = vdso_cgt ? vdso_cgt(id, &b) : -1;
			uint64_t after = sys_ns(id);
			snprintf(what, sizeof(what), "%s: sys <= musl <= vDSO <= sys", clocks[c].name);
			check(!ra && !rb && before <= ns_of(a) && ns_of(a) <= ns_of(b) &&
			      ns_of(b) <= after, what, (long)(after - before));
		}
		struct timespec rs = { -1, -1 }, rv = { -2, -2 };
		long r1 = syscall(SYS_clock_getres, id, &rs);
		int r2 = vdso_getres ? vdso_getres(id, &rv) : -1;
		snprintf(what, sizeof(what), "%s: clock_getres as the system call's", clocks[c].name);
		check(!r1 && !r2 && rs.tv_sec == rv.tv_sec && rs.tv_nsec == rv.tv_nsec, what, rv.tv_nsec);
	}
	struct timespec ts;
	errno = 0;
	check(clock_gettime(99, &ts) == -1 && errno == EINVAL, "unknown clock: EINVAL", errno);
	check(vdso_cgt && vdso_cgt(99, &ts) == -EINVAL, "vDSO, unknown clock: -EINVAL", 0);
}

static void check_wall_clock(gtod_fn vdso_gtod, time_fn vdso_time)
{
	struct timeval a, b, c;
	uint64_t before = sys_ns(CLOCK_REALTIME) / 1000;
	int ra = gettimeofday(&a, NULL), rb = vdso_gtod ? vdso_gtod(&b, NULL) : -1;
	long rc = syscall(SYS_gettimeofday, &c, NULL);
	uint64_t after = sys_ns(CLOCK_REALTIME) / 1000;
	uint64_t ua = (uint64_t)a.tv_sec * 1000000 + (uint64_t)a.tv_usec;
	uint64_t ub = (uint64_t)b.tv_sec * 1000000 + (uint64_t)b.tv_usec;
	uint64_t uc = (uint64_t)c.tv_sec * 1000000 + (uint64_t)c.tv_usec;
	check(!ra && !rb && !rc && before <= ua && ua <= ub && ub <= uc && uc <= after,
	      "gettimeofday: sys <= musl <= vDSO <= sys", (long)(after - before));

	time_t t0 = (time_t)(sys_ns(CLOCK_REALTIME) / NSEC), out = 0;
	time_t t1 = time(NULL), t2 = vdso_time ? vdso_time(&out) : -1;
	time_t t3 = (time_t)syscall(SYS_time, NULL);
	check(t0 <= t1 && t1 <= t2 && t2 == out && t2 <= t3, "time: sys <= musl <= vDSO <= sys",
	      (long)(t3 - t0));
}

static void check_monotonic_one_thread(void)
{
	struct timespec ts;
	uint64_t last = 0, back = 0;

	for (int i = 0; i < READS; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		back += ns_of(ts) < last;
		last = ns_of(ts);
	}
	check(back == 0, "CLOCK_MONOTONIC never goes backwards in one thread", (long)back);
}

/* musl's sched_getcpu and the vDSO's getcpu name the cpu the system call names
 * before and after them (unless the thread moved meanwhile); counts disagreements. */
static getcpu_fn vdso_getcpu;
static _Atomic unsigned getcpu_wrong, getcpu_compared;
static _Atomic uint64_t cpus_seen;

static void compare_getcpu(void)
{
	for (int tries = 0; tries < 100; tries++) {
		unsigned before = ~0u, after = ~0u, node_sys = ~0u, cpu = ~0u, node = ~0u;
		syscall(SYS_getcpu, &before, &node_sys, NULL);
		int musl = sched_getcpu();
		long r = vdso_getcpu ? vdso_getcpu(&cpu, &node, NULL) : -1;
		syscall(SYS_getcpu, &after, NULL, NULL);
		if (before != after)
			continue; /* moved meanwhile: ask again */
		atomic_fetch_add(&getcpu_compared, 1);
		if (r || musl != (int)before || cpu != before || node != node_sys)
			atomic_fetch_add(&getcpu_wrong, 1);
		atomic_fetch_or(&cpus_seen, 1ULL << (before & 63));
		return;
	}
}

/* Every thread reads the clock after loading the latest time any thread published;
 * a read older than that is time going backwards between cpus. */
static _Atomic uint64_t latest;
static _Atomic uint64_t backwards;

static void *reader(void *arg)
{
	(void)arg;
	compare_getcpu();
	for (int i = 0; i < READS / 4; i++) {
		uint64_t seen = atomic_load(&latest);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t now = ns_of(ts);
		if (now < seen)
			atomic_fetch_add(&backwards, 1);
		while (now > seen && !atomic_compare_exchange_weak(&latest, &seen, now))
			;
	}
	compare_getcpu();
	return NULL;
}

static void check_monotonic_threads(int n)
{
	pthread_t t[MAX_THREADS];
	int started = 0;

	for (int i = 0; i < n; i++)
		started += pthread_create(&t[i], NULL, reader, NULL) == 0;
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	check(started == n, "reader threads started", started);
	check(atomic_load(&backwards) == 0, "CLOCK_MONOTONIC never goes backwards across threads",
	      (long)atomic_load(&backwards));
	compare_getcpu();
	check(atomic_load(&getcpu_compared) > 0 && atomic_load(&getcpu_wrong) == 0,
	      "sched_getcpu and the vDSO's getcpu name the system call's cpu",
	      (long)atomic_load(&getcpu_wrong));
	printf("threads=%d\ncpus_seen=%d\n", n, __builtin_popcountll(atomic_load(&cpus_seen)));
}

static uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return (uint64_t)hi << 32 | lo;
}

/* Figures, not checks: the cycles of one call, the least of 5 batches of 200. */
#define CYCLES(call) ({                                                      \
	uint64_t best = UINT64_MAX;                                          \
	for (int s = 0; s < 5; s++) {                                        \
		uint64_t t0 = tsc();                                         \
		for (int i = 0; i < 200; i++)                                \
			call;                                                \
		uint64_t d = (tsc() - t0) / 200;                             \
		best = d < best ? d : best;                                  \
	}                                                                    \
	best; })

static void figures(void)
{
	struct timespec ts;
	printf("vdso_clock_gettime_cycles=%llu\n",
	       (unsigned long long)CYCLES(clock_gettime(CLOCK_MONOTONIC, &ts)));
	printf("syscall_clock_gettime_cycles=%llu\n",
	       (unsigned long long)CYCLES(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts)));
	printf("getpid_cycles=%llu\n", (unsigned long long)CYCLES(getpid()));
	printf("syscall_getpid_cycles=%llu\n", (unsigned long long)CYCLES(syscall(SYS_getpid)));
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	if (n <= 0)
		n = affinity_cpus();
	if (n > MAX_THREADS) {
		fprintf(stderr, "usage: clocks [THREADS 1-%d]\n", MAX_THREADS);
		return 2;
	}
	check_auxv();
	cgt_fn cgt = NULL, getres = NULL;
	gtod_fn gtod = NULL;
	time_fn tm = NULL;
	if (getauxval(AT_SYSINFO_EHDR)) {
		cgt = (cgt_fn)vdso_sym("__vdso_clock_gettime");
		getres = (cgt_fn)vdso_sym("__vdso_clock_getres");
		gtod = (gtod_fn)vdso_sym("__vdso_gettimeofday");
		tm = (time_fn)vdso_sym("__vdso_time");
		vdso_getcpu = (getcpu_fn)vdso_sym("__vdso_getcpu");
	}
	check(cgt && getres && gtod && tm && vdso_getcpu,
	      "the vDSO exports its five functions at LINUX_2.6", 0);
	check_clocks(cgt, getres);
	check_wall_clock(gtod, tm);
	check_monotonic_one_thread();
	check_monotonic_threads(n);
	check(getpid() == (pid_t)syscall(SYS_getpid), "getpid() is the system call's pid", getpid());
	figures();
	printf("clocks: %d checks, %d failed\n", checks, failed);
	return failed != 0;
}
