/* Asynchronous cancellation of a thread that computes without system calls: it must
 * be interrupted where it spins (a signal delivered by an interrupt, or on kvm_pvm
 * under uhyve by the loader's events).  Prints "cancel_compute ok" or what failed;
 * exit status 0 or 1.  argv[1]: cpus to spread over (default 1: both on cpu 0). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long spins;

static void *spinner(void *arg)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(*(int *)arg, &set);
	sched_setaffinity(0, sizeof(set), &set);
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
	for (;;)
		spins++;
	return NULL;
}

int main(int argc, char **argv)
{
	static int cpu;
	pthread_t t;
	void *r = NULL;

	cpu = argc > 1 && atoi(argv[1]) > 1; /* the spinner's cpu: 1, else 0 with main */
	if (pthread_create(&t, NULL, spinner, &cpu)) {
		puts("pthread_create failed");
		return 1;
	}
	while (spins < 1000000)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	pthread_cancel(t);
	pthread_join(t, &r);
	if (r != PTHREAD_CANCELED) {
		puts("the computing thread was not cancelled");
		return 1;
	}
	puts("cancel_compute ok");
	return 0;
}
