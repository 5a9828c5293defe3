/* Deadlock on flock, as a careless program does: two open file descriptions of one
 * file, LOCK_EX on the first, then on the second from another thread.  Linux
 * waits for good too; the loader's timeout must end it.  With two cpus the main
 * thread goes on meanwhile: a thread waiting in the host stops no other.
 *     flock_deadlock [FILE [CPU]]   CPU: where the second thread waits */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

static int second_fd;

static void *second(void *arg)
{
	const char *cpu = arg;

	if (cpu) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(atoi(cpu), &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			perror("sched_setaffinity");
	}
	printf("second thread takes the lock on cpu %d\n", sched_getcpu());
	fflush(stdout);
	flock(second_fd, LOCK_EX); /* held by the first description: never granted */
	printf("NOT: the second lock was granted\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "lockfile";
	int first = open(path, O_RDWR | O_CREAT, 0644);
	pthread_t t;

	second_fd = open(path, O_RDWR);
	if (first < 0 || second_fd < 0 || flock(first, LOCK_EX)) {
		perror(path);
		return 1;
	}
	printf("first lock held\n");
	fflush(stdout);
	pthread_create(&t, 0, second, argc > 2 ? argv[2] : 0);
	usleep(300000);
	printf("main thread runs while the other waits\n");
	fflush(stdout);
	pthread_join(t, 0);
	return 0;
}
