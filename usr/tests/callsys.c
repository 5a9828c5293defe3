/* System calls in every shape the SDK's musl makes them, and the `syscall`
 * instruction too: results, errno, the registers a call must keep, threads (a
 * clone's child starts on its own stack), signal handlers and their return,
 * cancellation of a blocked thread.  Prints one line per check and "callsys ok". */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int failed;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok" : "FAILED", what);
	failed |= !ok;
}

/* getppid through the bare instruction, as code outside libc may do, with data
 * in the red zone below the stack pointer (a leaf function may keep it there) */
static int raw_getppid_keeps_the_red_zone(void)
{
	long r, below;

	__asm__ volatile("movq $0x5a5a5a5a, -8(%%rsp)\n\t"
			 "movq $0x5a5a5a5a, -128(%%rsp)\n\t"
			 "syscall\n\t"
			 "mov -8(%%rsp), %1\n\t"
			 "add -128(%%rsp), %1"
			 : "=a"(r), "=&r"(below)
			 : "a"((long)SYS_getppid)
			 : "rcx", "r11", "memory");
	return r == getppid() && below == 2 * 0x5a5a5a5aL;
}

/* A call between values kept in every callee-saved register and the arguments'
 * registers: the compiler keeps the sums live across it. */
static int registers_survive(void)
{
	volatile long seed = 7;
	long a = seed, b = a * 3, c = b + 11, d = c * 5, e = d - 2, f = e ^ 0x55;
	for (int i = 0; i < 1000; i++) {
		long pid = syscall(SYS_getpid, a, b, c, d, e, f);
		if (pid != getpid())
			return 0;
		a += 1, b += 2, c += 3, d += 4, e += 5, f += 6;
	}
	return a == 1007 && b == 21 + 2000 && f == (((7 * 3 + 11) * 5 - 2) ^ 0x55) + 6000;
}

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	handled = sig;
}

static void *child(void *arg)
{
	/* a call on the child's own stack, right after clone returned there */
	return (void *)(syscall(SYS_gettid) > 1 ? (long)arg * 2 : -1);
}

static void *sleeper(void *arg)
{
	(void)arg;
	nanosleep(&(struct timespec){ 30, 0 }, NULL); /* cancelled here */
	return NULL;
}

int main(void)
{
	check(syscall(SYS_getpid) == getpid(), "syscall(SYS_getpid)");
	check(raw_getppid_keeps_the_red_zone(), "the syscall instruction, red zone kept");
	errno = 0;
	check(syscall(SYS_close, 12345) == -1 && errno == EBADF, "errno from a failed call");
	check(syscall(0x7fff) == -1 && errno == ENOSYS, "an unknown call is ENOSYS");
	check(registers_survive(), "registers kept across 1000 calls");

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	check((t1.tv_sec - t0.tv_sec) * 1000000000L + t1.tv_nsec - t0.tv_nsec >= 2000000,
	      "nanosleep sleeps");

	int ok = 1;
	for (long i = 0; i < 20; i++) {
		pthread_t t;
		void *r;
		ok &= pthread_create(&t, NULL, child, (void *)i) == 0 && pthread_join(t, &r) == 0 &&
		      (long)r == i * 2;
	}
	check(ok, "20 threads created and joined");

	signal(SIGUSR1, on_usr1);
	raise(SIGUSR1);
	check(handled == SIGUSR1, "a signal handler runs and returns");

	pthread_t t;
	void *r = NULL;
	pthread_create(&t, NULL, sleeper, NULL);
	nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	pthread_cancel(t);
	pthread_join(t, &r);
	check(r == PTHREAD_CANCELED, "a thread asleep in nanosleep is cancelled");

	puts(failed ? "callsys FAILED" : "callsys ok");
	return failed;
}
