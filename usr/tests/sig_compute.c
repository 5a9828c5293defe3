/* A signal reaches a thread that computes without system calls: another thread
 * sends SIGUSR1 while it runs a loop that keeps many registers live; the handler
 * stops the loop.  On hermit that needs the timer or an IPI to interrupt it
 * (kvm_pvm delivers none: there the signal waits for the next system call, and
 * "delivered_while_computing=no" is the honest answer).  Then the same number of
 * steps again with the signal blocked must give the same result: the interrupted
 * context, rcx and r11 included, came back intact.
 * Exit status: 1 when the results differ, else 0. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define LIMIT 50000000ULL /* well under a second on these machines */

static volatile int got;

static void on_usr1(int sig)
{
	(void)sig;
	got = 1;
}

struct state {
	uint64_t r[12];
	uint64_t steps;
};

/* Twelve accumulators, mixed so that any clobbered register shows in the end. */
static void run(struct state *s, uint64_t max, int stop_on_signal)
{
	uint64_t a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8, i = 9, j = 10, k = 11,
		 l = 12, n;
	for (n = 0; n < max && !(stop_on_signal && got); n++) {
		a += n ^ l; b ^= a + k; c += b * 3; d ^= c >> 3; e += d ^ j; f ^= e + i;
		g += f * 5; h ^= g >> 7; i += h ^ c; j ^= i + b; k += j * 9; l ^= k >> 11;
	}
	uint64_t out[12] = { a, b, c, d, e, f, g, h, i, j, k, l };
	for (int x = 0; x < 12; x++)
		s->r[x] = out[x];
	s->steps = n;
}

static void *compute(void *arg)
{
	run(arg, LIMIT, 1);
	return 0;
}

int main(void)
{
	struct state first, again;
	pthread_t t;
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1;

	sigaction(SIGUSR1, &sa, 0);
	pthread_create(&t, 0, compute, &first);
	nanosleep(&(struct timespec){ 0, 20000000 }, 0);
	pthread_kill(t, SIGUSR1);
	pthread_join(t, 0);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, 0);
	run(&again, first.steps, 0);
	int intact = 1;
	for (int x = 0; x < 12; x++)
		intact &= first.r[x] == again.r[x];
	printf("delivered_while_computing=%s\n", got && first.steps < LIMIT ? "yes" : "no");
	printf("steps=%llu\n", (unsigned long long)first.steps);
	printf("%s - the interrupted context came back intact\n", intact ? "ok" : "not ok");
	return !intact;
}
