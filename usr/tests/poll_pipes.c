/* The one wait over the kernel's own files (issue 12): pipes, eventfds and AF_UNIX
 * socket pairs, blocking and non-blocking, through poll, ppoll, select, pselect
 * and epoll (level- and edge-triggered, one-shot), woken by another thread.  One
 * line per check, then "poll_pipes: N checks, M failed"; the exit status is M.
 * Runs natively as well: every expected result is Linux's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

struct later {
	int fd;
	const void *data;
	size_t len;
	int close_it;
};

/* After 50 ms: write to fd (or close it). */
static void *write_later(void *arg)
{
	struct later *l = arg;
	usleep(50000);
	if (l->close_it)
		close(l->fd);
	else if (write(l->fd, l->data, l->len) != (ssize_t)l->len)
		perror("write_later");
	return 0;
}

static pthread_t later(struct later *l)
{
	pthread_t t;
	pthread_create(&t, 0, write_later, l);
	return t;
}

static void pipes(void)
{
	int p[2];
	char buf[70000];

	CHECK(pipe(p) == 0);
	struct stat st;
	CHECK(fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode));
	CHECK(write(p[1], "abc", 3) == 3);
	int n = -1;
	CHECK(ioctl(p[0], FIONREAD, &n) == 0 && n == 3);
	CHECK(read(p[0], buf, sizeof(buf)) == 3 && !memcmp(buf, "abc", 3));
	FAILS_WITH(write(p[0], "x", 1), EBADF);

	/* a blocking read waits for the writer thread */
	struct later l = { p[1], "later", 5, 0 };
	double t0 = now();
	pthread_t t = later(&l);
	CHECK(read(p[0], buf, sizeof(buf)) == 5 && !memcmp(buf, "later", 5));
	check(now() - t0 >= 0.04, "a blocking read waited for the data");
	pthread_join(t, 0);

	/* non-blocking: EAGAIN when empty, a full pipe takes 65536 bytes */
	CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0 && (fcntl(p[0], F_GETFL) & O_NONBLOCK));
	FAILS_WITH(read(p[0], buf, 1), EAGAIN);
	int on = 1;
	CHECK(ioctl(p[1], FIONBIO, &on) == 0 && (fcntl(p[1], F_GETFL) & O_NONBLOCK));
	memset(buf, 'x', sizeof(buf));
	CHECK(write(p[1], buf, sizeof(buf)) == 65536);
	FAILS_WITH(write(p[1], buf, 1), EAGAIN);
	struct pollfd pf = { p[1], POLLOUT, 0 };
	CHECK(poll(&pf, 1, 0) == 0);
	CHECK(read(p[0], buf, sizeof(buf)) == 65536);
	CHECK(poll(&pf, 1, 0) == 1 && pf.revents == POLLOUT);

	/* the last writer gone: EOF and POLLHUP; the last reader gone: EPIPE */
	CHECK(close(p[1]) == 0);
	pf = (struct pollfd){ p[0], POLLIN, 0 };
	CHECK(poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP));
	CHECK(read(p[0], buf, 1) == 0);
	CHECK(close(p[0]) == 0);
	CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0 && (fcntl(p[0], F_GETFD) & FD_CLOEXEC));
	CHECK(close(p[0]) == 0);
	signal(SIGPIPE, SIG_IGN);
	FAILS_WITH(write(p[1], "x", 1), EPIPE);
	pf = (struct pollfd){ p[1], POLLOUT, 0 };
	CHECK(poll(&pf, 1, 0) == 1 && (pf.revents & POLLERR));
	CHECK(close(p[1]) == 0);
	FAILS_WITH(pipe2(p, 0x40000000), EINVAL);
}

static void polls(void)
{
	int p[2];
	char c;

	CHECK(pipe(p) == 0);
	struct pollfd pf[3] = { { p[0], POLLIN, 0 }, { p[1], POLLOUT, 0 }, { 999, POLLIN, 0 } };
	CHECK(poll(pf, 3, 0) == 2 && !pf[0].revents && pf[1].revents == POLLOUT &&
	      pf[2].revents == POLLNVAL);
	double t0 = now();
	CHECK(poll(pf, 1, 100) == 0);
	check(now() - t0 >= 0.09, "poll's timeout: 100 ms");
	struct later l = { p[1], "w", 1, 0 };
	pthread_t t = later(&l);
	t0 = now();
	CHECK(poll(pf, 1, 5000) == 1 && pf[0].revents == POLLIN);
	check(now() - t0 < 2, "poll woke at the write, not at its timeout");
	pthread_join(t, 0);
	struct timespec ts = { 0, 0 };
	sigset_t none;
	sigemptyset(&none);
	CHECK(ppoll(pf, 1, &ts, &none) == 1);
	CHECK(read(p[0], &c, 1) == 1);

	fd_set rd, wr;
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(p[0], &rd);
	FD_SET(p[1], &wr);
	struct timeval tv = { 0, 0 };
	CHECK(select(p[1] + 1, &rd, &wr, 0, &tv) == 1 && !FD_ISSET(p[0], &rd) && FD_ISSET(p[1], &wr));
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	t = later(&l);
	CHECK(select(p[0] + 1, &rd, 0, 0, 0) == 1 && FD_ISSET(p[0], &rd));
	pthread_join(t, 0);
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	ts = (struct timespec){ 0, 20000000 };
	CHECK(pselect(p[0] + 1, &rd, 0, 0, &ts, &none) == 1);
	CHECK(read(p[0], &c, 1) == 1);
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	CHECK(pselect(p[0] + 1, &rd, 0, 0, &ts, &none) == 0 && !FD_ISSET(p[0], &rd));
	int closed = dup(0);
	close(closed);
	FD_ZERO(&rd);
	FD_SET(closed, &rd);
	FAILS_WITH(select(closed + 1, &rd, 0, 0, &tv), EBADF);
	close(p[0]);
	close(p[1]);
}

static void eventfds(void)
{
	uint64_t v = 0;
	int e = eventfd(3, EFD_NONBLOCK);

	CHECK(e >= 0);
	CHECK(read(e, &v, 8) == 8 && v == 3);
	FAILS_WITH(read(e, &v, 8), EAGAIN);
	FAILS_WITH(read(e, &v, 4), EINVAL);
	v = 5;
	CHECK(write(e, &v, 8) == 8 && write(e, &v, 8) == 8);
	CHECK(read(e, &v, 8) == 8 && v == 10);
	v = UINT64_MAX - 1;
	CHECK(write(e, &v, 8) == 8);
	v = 1;
	FAILS_WITH(write(e, &v, 8), EAGAIN);
	struct pollfd pf = { e, POLLIN | POLLOUT, 0 };
	CHECK(poll(&pf, 1, 0) == 1 && pf.revents == POLLIN);
	close(e);

	int s = eventfd(2, EFD_SEMAPHORE | EFD_CLOEXEC);
	CHECK(read(s, &v, 8) == 8 && v == 1 && read(s, &v, 8) == 8 && v == 1);
	v = 7;
	struct later l = { s, &v, 8, 0 };
	pthread_t t = later(&l);
	uint64_t got = 0;
	CHECK(read(s, &got, 8) == 8 && got == 1); /* blocked until the thread wrote */
	pthread_join(t, 0);
	close(s);
	FAILS_WITH(eventfd(0, 0x1234), EINVAL);
}

static void epolls(void)
{
	int p[2], q[2], ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev, out[4];
	char c;

	CHECK(ep >= 0 && pipe(p) == 0 && pipe(q) == 0);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 11 };
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
	FAILS_WITH(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.u64 = 22 };
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ev) == 0);
	FAILS_WITH(epoll_ctl(ep, EPOLL_CTL_MOD, 999, &ev), EBADF);
	FAILS_WITH(epoll_ctl(ep, EPOLL_CTL_DEL, q[1], &ev), ENOENT);
	FAILS_WITH(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
	CHECK(epoll_wait(ep, out, 4, 0) == 0);

	/* level-triggered: reported while readable; edge-triggered: once per write */
	CHECK(write(p[1], "ab", 2) == 2 && write(q[1], "ab", 2) == 2);
	int n = epoll_wait(ep, out, 4, 0);
	CHECK(n == 2);
	n = epoll_wait(ep, out, 4, 0);
	check(n == 1 && out[0].data.u64 == 11, "level-triggered again, edge-triggered not");
	CHECK(read(p[0], &c, 1) == 1 && read(q[0], &c, 1) == 1);
	n = epoll_wait(ep, out, 4, 0);
	check(n == 1 && out[0].data.u64 == 11, "a partial read: level-triggered still ready");
	CHECK(write(q[1], "c", 1) == 1);
	n = epoll_wait(ep, out, 4, 0);
	check(n == 2, "a new write: the edge-triggered item again");

	/* a wait woken by another thread, with its timeout unused */
	CHECK(read(p[0], &c, 1) == 1);
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, q[0], 0) == 0);
	struct later l = { p[1], "z", 1, 0 };
	pthread_t t = later(&l);
	double t0 = now();
	n = epoll_wait(ep, out, 4, 5000);
	check(n == 1 && out[0].events == EPOLLIN && now() - t0 < 2, "epoll_wait woke at the write");
	pthread_join(t, 0);
	t0 = now();
	CHECK(read(p[0], &c, 1) == 1 && epoll_wait(ep, out, 4, 100) == 0);
	check(now() - t0 >= 0.09, "epoll_wait's timeout: 100 ms");

	/* one-shot: once, until EPOLL_CTL_MOD arms it again */
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 33 };
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK(epoll_wait(ep, out, 4, 0) == 1 && out[0].data.u64 == 33);
	CHECK(epoll_wait(ep, out, 4, 0) == 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0 && epoll_wait(ep, out, 4, 0) == 1);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 33 };
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0);

	/* hang-up, and a closed fd leaves the interest list */
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 44 };
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ev) == 0);
	CHECK(close(q[1]) == 0);
	n = epoll_wait(ep, out, 4, 0);
	int hup = 0;
	for (int i = 0; i < n; i++)
		hup |= out[i].data.u64 == 44 && (out[i].events & EPOLLHUP);
	check(hup, "EPOLLHUP when the writer is gone");
	CHECK(close(q[0]) == 0);
	n = epoll_wait(ep, out, 4, 0);
	check(n == 1 && out[0].data.u64 == 33, "a closed fd's item is gone");
	sigset_t none;
	sigemptyset(&none);
	CHECK(epoll_pwait(ep, out, 4, 0, &none) == 1);
	FAILS_WITH(epoll_wait(ep, out, 0, 0), EINVAL);
	FAILS_WITH(epoll_wait(p[0], out, 1, 0), EINVAL);
	close(p[0]);
	close(p[1]);
	close(ep);
}

static void *echo(void *arg)
{
	int s = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;
	while ((n = read(s, buf, sizeof(buf))) > 0)
		if (write(s, buf, (size_t)n) != n)
			break;
	close(s);
	return 0;
}

static void socketpairs(void)
{
	int sv[2];
	char buf[64] = "";

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	struct stat st;
	CHECK(fstat(sv[0], &st) == 0 && S_ISSOCK(st.st_mode));
	int type = 0;
	socklen_t len = sizeof(type);
	CHECK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM);
	pthread_t t;
	pthread_create(&t, 0, echo, (void *)(intptr_t)sv[1]);
	CHECK(send(sv[0], "ping", 4, 0) == 4);
	CHECK(recv(sv[0], buf, sizeof(buf), 0) == 4 && !memcmp(buf, "ping", 4));
	CHECK(write(sv[0], "pong", 4) == 4 && read(sv[0], buf, 4) == 4 && !memcmp(buf, "pong", 4));
	CHECK(shutdown(sv[0], SHUT_WR) == 0);
	CHECK(read(sv[0], buf, sizeof(buf)) == 0); /* the echo thread saw EOF and closed */
	pthread_join(t, 0);
	FAILS_WITH(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK(recv(sv[0], buf, 1, MSG_DONTWAIT) == 0);
	close(sv[0]);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	FAILS_WITH(recv(sv[0], buf, 1, 0), EAGAIN);
	CHECK(send(sv[1], "x", 1, MSG_DONTWAIT) == 1 && recv(sv[0], buf, 1, 0) == 1);
	close(sv[0]);
	close(sv[1]);
	FAILS_WITH(socketpair(AF_UNIX, SOCK_DGRAM + 100, 0, sv), EINVAL);
	FAILS_WITH(send(1, "x", 1, 0), ENOTSOCK);
}

static void on_usr1(int sig)
{
	(void)sig;
}

struct blocked {
	int fd, how; /* 0: read, 1: poll, 2: epoll_wait */
	int ret, err;
};

static void *block_in(void *arg)
{
	struct blocked *b = arg;
	char c;
	struct pollfd pf = { b->fd, POLLIN, 0 };
	struct epoll_event ev;
	if (b->how == 0)
		b->ret = (int)read(b->fd, &c, 1);
	else if (b->how == 1)
		b->ret = poll(&pf, 1, 10000);
	else
		b->ret = epoll_wait(b->fd, &ev, 1, 10000);
	b->err = errno;
	return 0;
}

/* A signal handler (without SA_RESTART) ends a blocked read, poll or epoll_wait
 * with EINTR. */
static void interrupted(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	int p[2], ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	static const char *what[] = { "read", "poll", "epoll_wait" };

	sigaction(SIGUSR1, &sa, 0);
	CHECK(pipe(p) == 0 && epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
	for (int how = 0; how < 3; how++) {
		struct blocked b = { how == 2 ? ep : p[0], how, 0, 0 };
		pthread_t t;
		pthread_create(&t, 0, block_in, &b);
		usleep(50000);
		pthread_kill(t, SIGUSR1);
		pthread_join(t, 0);
		char line[80];
		snprintf(line, sizeof(line), "a signal ends a blocked %s with EINTR", what[how]);
		check(b.ret == -1 && b.err == EINTR, line);
	}
	close(p[0]);
	close(p[1]);
	close(ep);
}

/* Bad pointers: Linux's errors, never a crash. */
static void hostile(void)
{
	int p[2], ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };

	int *volatile bad = (int *)16; /* hidden from the compiler's bounds checks */
	FAILS_WITH(pipe(bad), EFAULT);
	FAILS_WITH(poll((struct pollfd *)16, 1, 0), EFAULT);
	CHECK(pipe(p) == 0);
	FAILS_WITH(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], (struct epoll_event *)16), EFAULT);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	FAILS_WITH(epoll_wait(ep, (struct epoll_event *)16, 1, 0), EFAULT);
	FAILS_WITH(select(p[0] + 1, (fd_set *)16, 0, 0, 0), EFAULT);
	FAILS_WITH(read(p[0], (void *)16, 1), EFAULT);
	uint64_t v;
	int e = eventfd(0, 0);
	FAILS_WITH(write(e, (void *)16, 8), EFAULT);
	CHECK(read(p[0], &v, 1) == 1);
	close(e);
	close(p[0]);
	close(p[1]);
	close(ep);
}

int main(void)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	pipes();
	polls();
	eventfds();
	epolls();
	socketpairs();
	hostile();
	interrupted();
	printf("poll_pipes: ");
	return check_summary();
}
