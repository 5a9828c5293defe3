/* The kernel's fd table with threads, and the kernel lock while a thread waits
 * for the host (each mode prints one line; the test feeds stdin late):
 *   fd_threads waiter   one thread blocks in read(0) while another makes system
 *                       calls the kernel serves, then closes fd 0
 *   fd_threads sleeper  a thread sleeps on the cpu where another then blocks in
 *                       read(0): prints whether it woke on time
 *   fd_threads race     fd 5 replaced and closed while another thread reads it
 * Runs in the current directory (file r.txt, removed at the end). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The kernel lock is not held while a thread waits for the host: the other
 * thread's system calls (served by the kernel) finish while read(0) waits. */
static volatile int read_done, other_done_first = -1, closed0 = -1;

static void *other(void *arg)
{
	(void)arg;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, 0); /* let the reader get into read(0) */
	for (int i = 0; i < 50; i++) {
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, 0);
		(void)getpid();
	}
	other_done_first = !read_done;
	closed0 = close(0); /* the read goes on: it holds the file until it is done */
	return 0;
}

static int waiter(void)
{
	pthread_t t;
	char c;

	if (pthread_create(&t, 0, other, 0))
		return 2;
	ssize_t n = read(0, &c, 1);
	read_done = 1;
	pthread_join(t, 0);
	int again = (int)read(0, &c, 1), err = errno;
	printf("read %zd, other thread %s, close %d, then read %d (%s)\n", n,
	       other_done_first ? "first" : "waited", closed0, again, strerror(err));
	return 0;
}

/* A thread that sleeps on the cpu of a thread that then waits for the host
 * still wakes on time: the waiting cpu's sleepers are kept by another. */
static volatile int sleeper_pinned;
static volatile long slept_ms = -1;

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (cpu < 0)
		for (int i = 0; i < 2; i++)
			CPU_SET(i, &set);
	else
		CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *sleeper(void *arg)
{
	(void)arg;
	pin(0); /* onto the reader's cpu, then free again but last run there */
	pin(-1);
	sleeper_pinned = 1;
	long start = now_ms();
	nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, 0);
	slept_ms = now_ms() - start;
	return 0;
}

static int sleeper_test(void)
{
	pthread_t t;
	char c;

	pin(0);
	if (pthread_create(&t, 0, sleeper, 0))
		return 2;
	while (!sleeper_pinned)
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, 0);
	ssize_t n = read(0, &c, 1);
	long slept = slept_ms;
	pthread_join(t, 0);
	printf("read %zd, sleeper %s\n", n, slept >= 200 && slept < 1500 ? "on time" : "late");
	return 0;
}

/* One thread reads through fd 5 while another replaces and closes it: every
 * read sees a whole file or EBADF, and no handle outlives its last fd. */
#define RACE_ROUNDS 1500
static volatile int race_over;

static void *race_reader(void *arg)
{
	long *odd = arg;
	char c;

	while (!race_over) {
		ssize_t n = pread(5, &c, 1, 0);
		if (!(n == 1 && c == 'r') && !(n == -1 && errno == EBADF))
			++*odd;
	}
	return 0;
}

static int race(void)
{
	pthread_t t;
	long odd = 0;
	int fails = 0;

	int fd = open("r.txt", O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || write(fd, "r", 1) != 1 || close(fd))
		return 2;
	if (pthread_create(&t, 0, race_reader, &odd))
		return 2;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		int f = open("r.txt", O_RDONLY);
		fails += f < 0 || dup2(f, 5) != 5 || close(f) || (i % 2 && close(5));
	}
	race_over = 1;
	pthread_join(t, 0);
	close(5);
	int n = 0; /* leaked handles would run the loader's table out first */
	while (open("r.txt", O_RDONLY) >= 0)
		n++;
	const char *why = errno == EMFILE ? "EMFILE" : strerror(errno);
	unlink("r.txt");
	printf("race: %d failed, %ld odd reads, %d more fds (%s)\n", fails, odd, n, why);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "waiter"))
		return waiter();
	if (argc > 1 && !strcmp(argv[1], "sleeper"))
		return sleeper_test();
	if (argc > 1 && !strcmp(argv[1], "race"))
		return race();
	fprintf(stderr, "usage: fd_threads waiter|sleeper|race\n");
	return 2;
}
