/* poll, select and epoll on stdin wait for the host: the test feeds stdin one
 * byte ~2 s after the start and keeps it open.  A thread making system calls
 * meanwhile shows the wait holds no lock.
 *   poll_stdin poll|select|epoll|mixed
 *   poll_stdin quiet     only a poll for input on stdin, then a read (a terminal's
 *                        test: waiting must cost the host nothing)
 * One line of results; exit status: the number of failed checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int failed;
static volatile int stop;
static volatile long calls;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		failed++;
		printf("not ok: %s (errno %d)\n", what, errno);
	}
}

static void *busy(void *arg)
{
	(void)arg;
	while (!stop) {
		syscall(SYS_getppid); /* takes the kernel's lock */
		calls++;
	}
	return 0;
}

/* Is fd readable within ms (-1: forever)?  1, 0, or -1 on an error. */
static int wait_in(const char *how, int fd, int ms)
{
	if (!strcmp(how, "poll")) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, ms);
		return r == 1 ? (p.revents & POLLIN) != 0 : r;
	}
	if (!strcmp(how, "select")) {
		fd_set in;
		FD_ZERO(&in);
		FD_SET(fd, &in);
		struct timeval tv = { ms / 1000, ms % 1000 * 1000 };
		int r = select(fd + 1, &in, 0, 0, ms < 0 ? 0 : &tv);
		return r == 1 ? FD_ISSET(fd, &in) != 0 : r;
	}
	static int ep = -1;
	if (ep < 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		ep = epoll_create1(0);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			return -1;
	}
	struct epoll_event out;
	int r = epoll_wait(ep, &out, 1, ms);
	return r == 1 ? out.data.fd == fd && (out.events & EPOLLIN) : r;
}

/* poll on stdin and a pipe another thread writes after 200 ms: the pipe first. */
static int pfd[2];

static void *late_writer(void *arg)
{
	(void)arg;
	usleep(200000);
	check(write(pfd[1], "p", 1) == 1, "write to the pipe");
	return 0;
}

static void mixed(void)
{
	pthread_t t;
	struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = -1 } };

	check(!pipe(pfd), "pipe");
	p[1] = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	double t0 = now();
	pthread_create(&t, 0, late_writer, 0);
	int r = poll(p, 2, 10000);
	double dt = now() - t0;
	pthread_join(t, 0);
	check(r == 1 && !p[0].revents && p[1].revents == POLLIN, "the pipe, not stdin");
	check(dt >= 0.15 && dt < 3, "woken by the pipe, not by the 10 s timeout");
	printf("mixed: pipe first, ");
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "poll";
	pthread_t t;
	char c = 0;

	if (!strcmp(how, "quiet")) {
		struct pollfd p = { .fd = 0, .events = POLLIN };
		check(poll(&p, 1, -1) == 1 && p.revents == POLLIN, "stdin ready once fed");
		check(read(0, &c, 1) == 1 && c == 'x', "read what was fed");
		printf("quiet: read %c, %d failed\n", c, failed);
		return failed;
	}
	if (!strcmp(how, "mixed")) {
		mixed();
		how = "poll";
	}
	check(wait_in(how, 0, 0) == 0, "stdin not ready at first");
	double t0 = now();
	check(wait_in(how, 0, 300) == 0, "stdin not ready within 300 ms");
	double dt = now() - t0;
	check(dt >= 0.29 && dt < 5, "the 300 ms timeout kept");
	long n = 0;
	t0 = now();
	while (now() - t0 < 0.1) {
		syscall(SYS_getppid);
		n++;
	}
	double alone = n / (now() - t0);
	pthread_create(&t, 0, busy, 0);
	t0 = now();
	int r = wait_in(how, 0, -1);
	dt = now() - t0;
	stop = 1;
	pthread_join(t, 0);
	check(r == 1, "stdin ready once fed");
	check(dt > 0.5, "waited for the feed");
	/* at a quarter of the rate it has alone, at least: with one cpu too, the
	 * waiting thread gives the cpu up between its looks at the host */
	check(calls > alone * dt / 4, "another thread's system calls went on");
	fprintf(stderr, "poll_stdin: the busy thread made %ld calls in %.2f s (alone: %.0f/s)\n",
		calls, dt, alone);
	check(read(0, &c, 1) == 1 && c == 'x', "read what was fed");
	struct pollfd o = { .fd = 1, .events = POLLOUT };
	check(poll(&o, 1, 0) == 1 && o.revents == POLLOUT, "stdout writable");
	printf("%s: 0 at first, 300 ms timeout kept, ready once fed, others ran, read %c, "
	       "stdout writable, %d failed\n", how, c, failed);
	return failed;
}
