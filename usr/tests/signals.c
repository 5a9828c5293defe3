/* Signals, after HermitCore's test of the same name: handlers installed with sigaction
 * run for raise, kill and tgkill to ourselves (with the right siginfo), the signal is
 * blocked while its handler runs, sigprocmask holds a signal pending until it is
 * unblocked, SIG_IGN and SA_RESETHAND behave, a handler can run on an alternate stack;
 * then with N threads (argv[1]; absent or 0: the cpus in our affinity mask): pthread_kill
 * reaches the thread it names, kill() reaches a thread that has the signal unblocked,
 * and a signal reaches a thread that spins without making system calls.  Every handler
 * prints "Receive signal with number N".  One line per check, "not ok" on failure; the
 * exit status is the number of failed checks. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/app.h"

#define MAX_THREADS 64
#define MAX_RECORDS 1024
#define WAIT_SECONDS 5

struct record {
	int sig, code, blocked_self, blocked_other, onstack;
	pid_t pid;
	long tid;
	uintptr_t stack;
};

static struct record records[MAX_RECORDS];
static int nrecords, published, max_depth, reraise;
static __thread int depth;
static __thread volatile int got_signal;
static int checks, failures;

static void check(int ok, const char *what)
{
	checks++;
	failures += !ok;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", checks, what);
	fflush(stdout);
}

static long tid(void)
{
	return syscall(SYS_gettid);
}

static void announce(int sig) /* no stdio in a handler */
{
	char buf[64] = "Receive signal with number ";
	size_t n = strlen(buf);

	if (sig >= 10)
		buf[n++] = (char)('0' + sig / 10);
	buf[n++] = (char)('0' + sig % 10);
	buf[n++] = '\n';
	if (write(1, buf, n) < 0)
		return;
}

static void handler(int sig, siginfo_t *si, void *ctx)
{
	sigset_t now;
	stack_t ss;
	int d = ++depth, i = __atomic_fetch_add(&nrecords, 1, __ATOMIC_SEQ_CST);

	(void)ctx;
	if (d > __atomic_load_n(&max_depth, __ATOMIC_SEQ_CST))
		__atomic_store_n(&max_depth, d, __ATOMIC_SEQ_CST);
	sigprocmask(SIG_BLOCK, NULL, &now);
	sigaltstack(NULL, &ss);
	if (i < MAX_RECORDS)
		records[i] = (struct record){ .sig = si->si_signo, .code = si->si_code,
			.pid = si->si_pid, .tid = tid(), .stack = (uintptr_t)&now,
			.blocked_self = sigismember(&now, sig) == 1,
			.blocked_other = sigismember(&now, SIGUSR2) == 1,
			.onstack = (ss.ss_flags & SS_ONSTACK) != 0 };
	__atomic_add_fetch(&published, 1, __ATOMIC_SEQ_CST); /* the record is complete */
	announce(sig);
	if (sig == SIGUSR2 && __atomic_exchange_n(&reraise, 0, __ATOMIC_SEQ_CST))
		raise(SIGUSR2); /* blocked here: must arrive after this handler returns */
	got_signal = 1;
	depth--;
}

static int count(void)
{
	return __atomic_load_n(&published, __ATOMIC_SEQ_CST);
}

static struct record *last(void)
{
	int n = count();
	return &records[n > 0 ? (n - 1) % MAX_RECORDS : 0];
}

static int install(int sig, int flags)
{
	struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO | flags };

	sigemptyset(&sa.sa_mask);
	if (sig == SIGUSR1)
		sigaddset(&sa.sa_mask, SIGUSR2);
	return sigaction(sig, &sa, NULL);
}

static int blocked(int sig)
{
	sigset_t now;
	return sigprocmask(SIG_BLOCK, NULL, &now) == 0 && sigismember(&now, sig) == 1;
}

static void delivery(void)
{
	struct sigaction old;
	int n;

	check(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_DFL,
	      "SIGUSR1 starts with the default action");
	check(install(SIGUSR1, 0) == 0 && install(SIGUSR2, 0) == 0, "sigaction installs handlers");
	n = count();
	check(raise(SIGUSR1) == 0 && count() == n + 1, "raise runs the handler before it returns");
	check(last()->sig == SIGUSR1 && last()->code == SI_TKILL && last()->tid == tid(),
	      "raise: si_signo SIGUSR1, si_code SI_TKILL, in this thread");
	check(last()->blocked_self && last()->blocked_other,
	      "the signal and sa_mask are blocked inside the handler");
	check(!blocked(SIGUSR1) && !blocked(SIGUSR2), "the mask is restored after the handler");
	n = count();
	check(kill(getpid(), SIGUSR2) == 0 && count() == n + 1, "kill to our own pid");
	check(last()->sig == SIGUSR2 && last()->code == SI_USER && last()->pid == getpid(),
	      "kill: si_code SI_USER, si_pid our pid");
	n = count();
	check(syscall(SYS_tgkill, getpid(), tid(), SIGUSR1) == 0 && count() == n + 1 &&
	      last()->sig == SIGUSR1 && last()->code == SI_TKILL, "tgkill to our own thread");
	n = count();
	__atomic_store_n(&max_depth, 0, __ATOMIC_SEQ_CST);
	reraise = 1;
	check(raise(SIGUSR2) == 0 && count() == n + 2 && max_depth == 1,
	      "a signal raised in its own handler runs after the handler returns");
}

/* A handler's frame keeps the FPU state below the interrupted stack pointer: none of it
 * may land above (the kernel once saved more state than it made room for: under
 * kvm_pvm's native mode the host's XCR0 with AMX, 11 KB into a 2.7 KB area). */
static void __attribute__((noinline)) stack_kept(void)
{
	volatile unsigned char above[16384];
	int n = count(), same = 1;

	for (size_t i = 0; i < sizeof above; i++)
		above[i] = (unsigned char)(i % 255 + 1);
	raise(SIGUSR1);
	for (size_t i = 0; i < sizeof above; i++)
		same &= above[i] == (unsigned char)(i % 255 + 1);
	check(count() == n + 1 && same, "a handler's frame leaves the interrupted stack intact");
}

static void masking(void)
{
	sigset_t set, pending;
	int n = count();

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	check(sigprocmask(SIG_BLOCK, &set, NULL) == 0 && blocked(SIGUSR1), "sigprocmask blocks");
	raise(SIGUSR1);
	raise(SIGUSR1);
	check(count() == n, "a blocked signal is not delivered");
	check(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR1) == 1,
	      "the blocked signal is pending");
	check(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0 && count() == n + 1,
	      "unblocking delivers it once, before sigprocmask returns");
	check(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR1) == 0,
	      "nothing pending afterwards");

	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	n = count();
	check(sigaction(SIGUSR1, &ign, NULL) == 0 && raise(SIGUSR1) == 0 && count() == n,
	      "SIG_IGN: raise is ignored");
	check(install(SIGUSR1, SA_RESETHAND) == 0 && raise(SIGUSR1) == 0 && count() == n + 1 &&
	      sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_DFL,
	      "SA_RESETHAND: one delivery, then the default action");
	install(SIGUSR1, 0);
}

static void altstack(void)
{
	size_t size = 64 * 1024;
	char *mem = malloc(size);
	stack_t ss = { .ss_sp = mem, .ss_size = size, .ss_flags = 0 }, now;
	int n = count();

	check(mem && sigaltstack(&ss, NULL) == 0, "sigaltstack sets an alternate stack");
	check(install(SIGUSR2, SA_ONSTACK) == 0 && raise(SIGUSR2) == 0 && count() == n + 1,
	      "SA_ONSTACK handler runs");
	struct record *r = last();
	check(r->onstack && r->stack >= (uintptr_t)mem && r->stack < (uintptr_t)mem + size,
	      "the handler ran on the alternate stack");
	check(sigaltstack(NULL, &now) == 0 && !(now.ss_flags & SS_ONSTACK) && now.ss_sp == mem,
	      "back on the normal stack afterwards");
	n = count();
	install(SIGUSR2, 0);
	raise(SIGUSR2);
	check(count() == n + 1 && !last()->onstack, "without SA_ONSTACK the normal stack is used");
	ss.ss_flags = SS_DISABLE;
	check(sigaltstack(&ss, NULL) == 0, "sigaltstack disables it");
	free(mem);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int wait_for(volatile int *flag)
{
	double end = now_s() + WAIT_SECONDS;

	while (!*flag && now_s() < end)
		sched_yield();
	return *flag;
}

struct worker {
	pthread_t thread;
	long tid;
	volatile int ready, got, quit;
};

static volatile int go_kill;

static void *worker(void *arg)
{
	struct worker *w = arg;

	w->tid = tid();
	w->ready = 1;
	while (!w->quit) {
		if (got_signal) {
			got_signal = 0;
			w->got++;
		}
		sched_yield();
	}
	return NULL;
}

static volatile int spin_target_ready;

static void *shooter(void *arg)
{
	pthread_t target = *(pthread_t *)arg;

	while (!spin_target_ready)
		sched_yield();
	pthread_kill(target, SIGUSR1);
	return NULL;
}

static void threads(int n)
{
	struct worker w[MAX_THREADS] = { 0 };
	int created = 0, ok = 1, got = 0;
	sigset_t set;

	for (; created < n; created++)
		if (pthread_create(&w[created].thread, NULL, worker, &w[created]))
			break;
	check(created == n, "pthread_create of the signal threads");
	for (int i = 0; i < created; i++)
		ok &= wait_for(&w[i].ready);
	for (int i = 0; i < created && ok; i++) {
		int before = w[i].got, n0 = count();
		pthread_kill(w[i].thread, SIGUSR1);
		double end = now_s() + WAIT_SECONDS;
		while (w[i].got == before && now_s() < end)
			sched_yield();
		ok &= w[i].got == before + 1 && count() == n0 + 1 && last()->tid == w[i].tid &&
		      last()->code == SI_TKILL;
	}
	check(created && ok, "pthread_kill reaches the thread it names");

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int n0 = count();
	kill(getpid(), SIGUSR2);
	double end = now_s() + WAIT_SECONDS;
	while (count() == n0 && now_s() < end)
		sched_yield();
	for (int i = 0; i < created; i++)
		got += last()->tid == w[i].tid;
	check(created && count() == n0 + 1 && got == 1 && last()->sig == SIGUSR2,
	      "kill() reaches a thread that does not block the signal");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	for (int i = 0; i < created; i++)
		w[i].quit = 1;
	for (int i = 0; i < created; i++)
		pthread_join(w[i].thread, NULL);

	/* The main thread spins without system calls: the signal must come in on the
	 * return from an interrupt (or an IPI), not from a system call. */
	pthread_t self = pthread_self(), t;
	got_signal = 0;
	spin_target_ready = 0;
	if (pthread_create(&t, NULL, shooter, &self) == 0) {
		uint64_t start = __builtin_ia32_rdtsc();
		spin_target_ready = 1;
		while (!got_signal && __builtin_ia32_rdtsc() - start < 10000000000ULL)
			__builtin_ia32_pause();
		pthread_join(t, NULL);
	}
	check(got_signal, "a signal reaches a thread spinning without system calls");
}

int main(int argc, char **argv)
{
	int n = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : affinity_cpus();

	if (n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "usage: signals [THREADS 1-%d]\n", MAX_THREADS);
		return 100;
	}
	printf("threads=%d\n", n);
	delivery();
	masking();
	stack_kept();
	altstack();
	threads(n);
	printf("signals: %d checks, %d failed\n", checks, failures);
	return failures;
}
