/* Queued signals (issue 15, §5): real-time signals raised while blocked run their
 * handler once per raise, in order, each with its own siginfo; a standard signal
 * raised 5 times runs once; sigqueue, rt_sigqueueinfo and rt_tgsigqueueinfo carry
 * si_value and SI_QUEUE; lower real-time signals first; 100 pthread_kill to a thread
 * that blocks the signal all arrive; sigtimedwait takes queued signals in order and
 * times out with EAGAIN; sigwaitinfo in a thread wakes for a signal sent to it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"

#define MAXLOG 256
static volatile int nlog;
static volatile int log_sig[MAXLOG], log_val[MAXLOG], log_code[MAXLOG];

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int n = nlog;
	if (n < MAXLOG) {
		log_sig[n] = sig;
		log_val[n] = si->si_value.sival_int;
		log_code[n] = si->si_code;
	}
	nlog = n + 1;
}

static void on(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask); /* one at a time: the order of delivery is the order run */
	sigaction(sig, &sa, 0);
}

static void mask(int how, int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	pthread_sigmask(how, &s, 0);
}

static int count_of(int sig)
{
	int n = 0;
	for (int i = 0; i < nlog && i < MAXLOG; i++)
		n += log_sig[i] == sig;
	return n;
}

static void queued_while_blocked(void)
{
	int rt = SIGRTMIN + 1;
	sigset_t pending;

	on(rt);
	on(SIGUSR1);
	mask(SIG_BLOCK, rt);
	mask(SIG_BLOCK, SIGUSR1);
	for (int i = 0; i < 5; i++) {
		kill(getpid(), rt);
		raise(SIGUSR1);
	}
	check(sigpending(&pending) == 0 && sigismember(&pending, rt) && nlog == 0,
	      "pending while blocked, no handler run");
	nlog = 0;
	sigset_t two;
	sigemptyset(&two);
	sigaddset(&two, rt);
	sigaddset(&two, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &two, 0);
	check(count_of(rt) == 5, "5 real-time signals raised while blocked: 5 handler runs");
	check(count_of(SIGUSR1) == 1, "5 SIGUSR1 raised while blocked: 1 handler run");
	check(log_sig[0] == SIGUSR1, "standard signals before real-time ones");

	nlog = 0;
	int v = SIGRTMIN + 2;
	on(v);
	mask(SIG_BLOCK, v);
	for (int i = 1; i <= 5; i++)
		CHECK(sigqueue(getpid(), v, (union sigval){ .sival_int = i * 11 }) == 0);
	mask(SIG_UNBLOCK, v);
	int ok = nlog == 5;
	for (int i = 0; i < 5 && ok; i++)
		ok = log_sig[i] == v && log_val[i] == (i + 1) * 11 && log_code[i] == SI_QUEUE;
	check(ok, "sigqueue: 5 values in order, si_code SI_QUEUE");

	nlog = 0;
	int hi = SIGRTMIN + 3, lo = SIGRTMIN + 2;
	on(hi);
	mask(SIG_BLOCK, hi);
	mask(SIG_BLOCK, lo);
	sigqueue(getpid(), hi, (union sigval){ .sival_int = 3 });
	sigqueue(getpid(), lo, (union sigval){ .sival_int = 2 });
	sigset_t both;
	sigemptyset(&both);
	sigaddset(&both, hi);
	sigaddset(&both, lo);
	pthread_sigmask(SIG_UNBLOCK, &both, 0);
	check(nlog == 2 && log_sig[0] == lo && log_sig[1] == hi, "the lower real-time signal first");

	nlog = 0;
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = v;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_value.sival_int = 77;
	CHECK(syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), v, &si) == 0);
	check(nlog == 1 && log_val[0] == 77 && log_code[0] == SI_QUEUE,
	      "rt_tgsigqueueinfo carries si_value");
	si.si_value.sival_int = 78;
	CHECK(syscall(SYS_rt_sigqueueinfo, getpid(), v, &si) == 0 && nlog == 2 && log_val[1] == 78);
	FAILS_WITH(syscall(SYS_rt_sigqueueinfo, 0x3ffffff0, v, &si), ESRCH);
}

/* --- 100 pthread_kill to a thread that blocks the signal ---------------------------- */

static volatile int target_ready, release_target, target_count;
static void count_handler(int sig)
{
	(void)sig;
	target_count++;
}

static void *target(void *arg)
{
	(void)arg;
	mask(SIG_BLOCK, SIGRTMIN + 4);
	target_ready = 1;
	while (!release_target)
		sched_yield();
	mask(SIG_UNBLOCK, SIGRTMIN + 4);
	return 0;
}

static void hundred(void)
{
	pthread_t th;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = count_handler;
	sigaction(SIGRTMIN + 4, &sa, 0);
	mask(SIG_BLOCK, SIGRTMIN + 4); /* only the target may take them */
	pthread_create(&th, 0, target, 0);
	while (!target_ready)
		sched_yield();
	int sent = 0;
	for (int i = 0; i < 100; i++)
		sent += pthread_kill(th, SIGRTMIN + 4) == 0;
	release_target = 1;
	pthread_join(th, 0);
	check(sent == 100 && target_count == 100, "100 pthread_kill(SIGRTMIN+4): 100 handler runs");
}

/* --- sigtimedwait and sigwaitinfo --------------------------------------------------- */

static volatile int waited_sig, waited_val;
static volatile pid_t waiter_tid;

static void *waiter(void *arg)
{
	sigset_t *set = arg;
	siginfo_t si;
	waiter_tid = (pid_t)syscall(SYS_gettid);
	waited_sig = sigwaitinfo(set, &si);
	waited_val = si.si_value.sival_int;
	return 0;
}

static void waiting(void)
{
	int s = SIGRTMIN + 5;
	sigset_t set;
	siginfo_t si;
	struct timespec ten_ms = { 0, 10000000 };

	sigemptyset(&set);
	sigaddset(&set, s);
	pthread_sigmask(SIG_BLOCK, &set, 0);
	for (int i = 1; i <= 3; i++)
		sigqueue(getpid(), s, (union sigval){ .sival_int = i });
	int ok = 1;
	for (int i = 1; i <= 3; i++)
		ok &= sigtimedwait(&set, &si, &ten_ms) == s && si.si_value.sival_int == i &&
		      si.si_code == SI_QUEUE;
	check(ok, "sigtimedwait takes the 3 queued signals in order");
	FAILS_WITH(sigtimedwait(&set, &si, &ten_ms), EAGAIN);

	pthread_t th;
	pthread_create(&th, 0, waiter, &set); /* inherits the blocked mask */
	while (!waiter_tid)
		sched_yield();
	struct timespec t = { 0, 20000000 };
	nanosleep(&t, 0); /* it waits in the kernel by now */
	memset(&si, 0, sizeof(si));
	si.si_signo = s;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_value.sival_int = 99;
	CHECK(syscall(SYS_rt_tgsigqueueinfo, getpid(), waiter_tid, s, &si) == 0);
	pthread_join(th, 0);
	check(waited_sig == s && waited_val == 99, "sigwaitinfo in a thread wakes with the value");
}

int main(void)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	queued_while_blocked();
	hundred();
	waiting();
	printf("rtsig: ");
	return check_summary();
}
