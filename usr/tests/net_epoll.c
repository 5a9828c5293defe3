/* Many connections through one epoll in one thread (issue 12): N non-blocking
 * connects to a listener on 127.0.0.1 (EINPROGRESS), accepted as they come,
 * each client writes a message once connected (edge-triggered EPOLLOUT), the
 * server side echoes it (level-triggered), the client checks it and closes.
 *   net_epoll [N]   (default 1000)
 *   net_epoll serve PORT N   the server side only, for clients on the host through a
 *                    forwarded port: listen on 0.0.0.0:PORT ("listening PORT"), echo
 *                    every connection until its EOF, end after N connections
 *                    ("served N most_open_at_once=M")
 * One line per check, then "net_epoll: N checks, M failed"; the exit status is M.
 * Runs natively too. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"

#define MSG 16
enum { LISTENER, CLIENT, SERVER };
#define TAG(kind, i) (((uint64_t)(kind) << 32) | (uint32_t)(i))

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void refused(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (struct sockaddr *)&a, sizeof(a));
	getsockname(s, (struct sockaddr *)&a, &len);
	close(s); /* a port nobody listens on */

	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(s, (struct sockaddr *)&a, sizeof(a)), err = errno;
	if (r == -1 && err == EINPROGRESS) {
		int ep = epoll_create1(0), v = -1;
		struct epoll_event ev = { .events = EPOLLOUT }, out;
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
		CHECK(epoll_wait(ep, &out, 1, 3000) == 1 && (out.events & EPOLLERR));
		len = sizeof(v);
		check(getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &len) == 0 && v == ECONNREFUSED,
		      "a non-blocking connect to a closed port: SO_ERROR ECONNREFUSED");
		close(ep);
	} else {
		check(r == -1 && err == ECONNREFUSED, "a non-blocking connect to a closed port: ECONNREFUSED");
	}
	close(s);
}

static void raise_nofile(int n)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= (rlim_t)(n + 16));
}

/* Echo whatever each connection sends (level-triggered, non-blocking) until it
 * closes; the listener stays open until N connections came and went. */
static int serve(int port, int n)
{
	raise_nofile(n);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), on = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, n) == 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = l }, evs[256];
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0);
	printf("listening %d\n", port);

	int accepted = 0, closed = 0, open_now = 0, most_open = 0, errors = 0;
	long long bytes = 0;
	while (closed < n) {
		int k = epoll_wait(ep, evs, 256, -1);
		if (k < 0 && errno != EINTR)
			break;
		for (int e = 0; e < k; e++) {
			int fd = evs[e].data.fd, c;
			if (fd == l) {
				while ((c = accept4(l, 0, 0, SOCK_NONBLOCK)) >= 0) {
					ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = c };
					errors += epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) != 0;
					accepted++;
					if (++open_now > most_open)
						most_open = open_now;
				}
				continue;
			}
			char buf[4096];
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r > 0) { /* the host sends a little: the echo fits the send buffer */
				errors += write(fd, buf, (size_t)r) != r;
				bytes += r;
			} else if (r == 0 || errno != EAGAIN) {
				errors += r < 0;
				close(fd);
				open_now--;
				closed++;
			}
		}
	}
	check(accepted == n && closed == n, "every connection accepted and closed by its client");
	check(errors == 0, "every echo written whole");
	printf("served %d most_open_at_once=%d bytes=%lld\n", closed, most_open, bytes);
	printf("net_epoll: ");
	return check_summary();
}

int main(int argc, char **argv)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]), atoi(argv[3]));
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	raise_nofile(2 * n);

	refused();

	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), on = 1;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, n) == 0);
	getsockname(l, (struct sockaddr *)&a, &len);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG(LISTENER, 0) };
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0);

	int *cl = calloc((size_t)n, sizeof(int)), *sent = calloc((size_t)n, sizeof(int));
	int inprogress = 0, immediate = 0, other = 0;
	double t0 = now();
	for (int i = 0; i < n; i++) {
		cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		int r = connect(cl[i], (struct sockaddr *)&a, sizeof(a));
		if (r == -1 && errno == EINPROGRESS)
			inprogress++;
		else if (r == 0)
			immediate++;
		else
			other++;
		ev = (struct epoll_event){ .events = EPOLLOUT | EPOLLIN | EPOLLET, .data.u64 = TAG(CLIENT, i) };
		epoll_ctl(ep, EPOLL_CTL_ADD, cl[i], &ev);
	}
	check(inprogress + immediate == n && other == 0, "every non-blocking connect: EINPROGRESS (or 0)");
	check(inprogress > 0, "EINPROGRESS for a non-blocking connect");

	int accepted = 0, echoed = 0, verified = 0, errors = 0, open_now = 0, most_open = 0;
	struct epoll_event evs[256];
	while (verified + errors < n && now() - t0 < 60) {
		int k = epoll_wait(ep, evs, 256, 5000);
		if (k <= 0)
			break;
		for (int e = 0; e < k; e++) {
			int kind = (int)(evs[e].data.u64 >> 32), i = (int)(uint32_t)evs[e].data.u64;
			char buf[MSG + 1], want[MSG + 1];
			if (kind == LISTENER) {
				int c;
				while ((c = accept4(l, 0, 0, SOCK_NONBLOCK)) >= 0) {
					ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = TAG(SERVER, c) };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
					accepted++;
					if (++open_now > most_open)
						most_open = open_now;
				}
			} else if (kind == SERVER) {
				ssize_t r = read(i, buf, MSG);
				if (r > 0 && write(i, buf, (size_t)r) == r) {
					echoed++;
				} else if (r == 0 || (r < 0 && errno != EAGAIN)) {
					close(i);
					open_now--;
				}
			} else {
				snprintf(want, sizeof(want), "client %9d", i);
				if ((evs[e].events & EPOLLOUT) && !sent[i]) {
					int v = -1;
					len = sizeof(v);
					getsockopt(cl[i], SOL_SOCKET, SO_ERROR, &v, &len);
					if (v || write(cl[i], want, MSG) != MSG) {
						errors++;
						close(cl[i]);
						continue;
					}
					sent[i] = 1;
				}
				if (evs[e].events & EPOLLIN) {
					ssize_t r = read(cl[i], buf, MSG);
					if (r == MSG && !memcmp(buf, want, MSG))
						verified++;
					else if (!(r < 0 && errno == EAGAIN))
						errors++;
					if (!(r < 0 && errno == EAGAIN))
						close(cl[i]);
				}
			}
		}
	}
	double secs = now() - t0;
	check(accepted == n, "every connection accepted");
	check(verified == n && errors == 0, "every client's message echoed and checked");
	check(echoed == n, "the server side echoed each once");
	printf("connections=%d most_open_at_once=%d seconds=%.3f\n", n, most_open, secs);
	for (int tries = 0; open_now > 0 && tries < 100; tries++) { /* the servers see EOF */
		int k = epoll_wait(ep, evs, 256, 1000);
		for (int e = 0; e < k; e++)
			if ((int)(evs[e].data.u64 >> 32) == SERVER) {
				char buf[MSG];
				int fd = (int)(uint32_t)evs[e].data.u64;
				if (read(fd, buf, MSG) == 0) {
					close(fd);
					open_now--;
				}
			}
	}
	check(open_now == 0, "every server side saw the client's close");
	close(ep);
	close(l);
	printf("net_epoll: ");
	return check_summary();
}
