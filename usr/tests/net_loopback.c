/* IPv4 over the loopback interface inside one guest (issue 12): a TCP echo server
 * with a thread per connection and several client threads, UDP echo, the errors
 * Linux gives (ECONNREFUSED, EADDRINUSE, EAGAIN, ENOTCONN, EPIPE), socket options,
 * shutdown, getaddrinfo("localhost").  One line per check, then
 * "net_loopback: N checks, M failed"; the exit status is M.  Runs natively too. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/check.h"

#define CLIENTS 4
#define BYTES (256 * 1024)

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static uint16_t port_of(int s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	return getsockname(s, (struct sockaddr *)&a, &len) ? 0 : ntohs(a.sin_port);
}

static int listener(uint16_t *port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	struct sockaddr_in a = loopback(0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 64))
		return -1;
	*port = port_of(s);
	return s;
}

static void *echo_conn(void *arg)
{
	int c = (int)(intptr_t)arg;
	char buf[8192];
	ssize_t n;
	while ((n = read(c, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(c, buf + off, (size_t)(n - off));
			if (w <= 0)
				goto out;
			off += w;
		}
out:
	close(c);
	return 0;
}

static void *echo_server(void *arg)
{
	int l = (int)(intptr_t)arg;
	for (int i = 0; i < CLIENTS; i++) {
		int c = accept(l, 0, 0);
		if (c < 0)
			break;
		pthread_t t;
		pthread_create(&t, 0, echo_conn, (void *)(intptr_t)c);
		pthread_detach(t);
	}
	return 0;
}

static uint16_t echo_port;

/* Send BYTES of a pattern and read them back, from a second thread per client. */
static void *writer(void *arg)
{
	int s = (int)(intptr_t)arg;
	static char pattern[BYTES];
	for (int i = 0; i < BYTES; i++)
		pattern[i] = (char)(i * 7 + i / 251);
	for (size_t off = 0; off < BYTES;) {
		ssize_t w = send(s, pattern + off, BYTES - off > 10000 ? 10000 : BYTES - off, 0);
		if (w <= 0)
			return (void *)1;
		off += (size_t)w;
	}
	shutdown(s, SHUT_WR);
	return 0;
}

static void *client(void *arg)
{
	(void)arg;
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = loopback(echo_port);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)))
		return (void *)1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_t w;
	pthread_create(&w, 0, writer, (void *)(intptr_t)s);
	char *got = malloc(BYTES + 1);
	size_t n = 0;
	ssize_t r;
	while ((r = recv(s, got + n, BYTES + 1 - n, 0)) > 0)
		n += (size_t)r;
	void *wr;
	pthread_join(w, &wr);
	int ok = n == BYTES && !wr;
	for (size_t i = 0; ok && i < BYTES; i++)
		ok = got[i] == (char)(i * 7 + i / 251);
	free(got);
	close(s);
	return ok ? 0 : (void *)1;
}

static void tcp_echo(void)
{
	int l = listener(&echo_port);
	CHECK(l >= 0 && echo_port > 0);
	pthread_t srv, cl[CLIENTS];
	pthread_create(&srv, 0, echo_server, (void *)(intptr_t)l);
	for (int i = 0; i < CLIENTS; i++)
		pthread_create(&cl[i], 0, client, 0);
	int good = 0;
	for (int i = 0; i < CLIENTS; i++) {
		void *r;
		pthread_join(cl[i], &r);
		good += !r;
	}
	pthread_join(srv, 0);
	check(good == CLIENTS, "4 clients, each 256 KiB echoed intact over 127.0.0.1");
	close(l);
}

/* "01234", a pause, "56789": MSG_WAITALL must wait for the second half. */
static void *send_in_two(void *arg)
{
	int fd = *(int *)arg;
	if (send(fd, "01234", 5, 0) != 5)
		return (void *)1;
	usleep(50000);
	return send(fd, "56789", 5, 0) == 5 ? 0 : (void *)1;
}

static void tcp_errors(void)
{
	uint16_t port;
	int l = listener(&port), on = 1, v = 0;
	socklen_t len = sizeof(v);
	struct sockaddr_in a = loopback(port), peer;
	char buf[64];

	/* a port in use; a closed one */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	FAILS_WITH(bind(s, (struct sockaddr *)&a, sizeof(a)), EADDRINUSE);
	close(s);
	int closed = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in c = loopback(0);
	CHECK(bind(closed, (struct sockaddr *)&c, sizeof(c)) == 0);
	c = loopback(port_of(closed));
	close(closed);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FAILS_WITH(connect(s, (struct sockaddr *)&c, sizeof(c)), ECONNREFUSED);
	close(s);

	/* options */
	s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == SOCK_STREAM);
	CHECK(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == 0);
	len = sizeof(v);
	CHECK(getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &len) == 0 && v == 1);
	CHECK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0);
	len = sizeof(v);
	CHECK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 1);
	int size = 65536;
	CHECK(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0);
	len = sizeof(v);
	check(getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0 && v == 2 * size,
	      "SO_RCVBUF reads back doubled, as Linux");
	len = sizeof(v);
	CHECK(getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && v > 0);
	len = sizeof(v);
	CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &len) == 0 && v == 0);
	FAILS_WITH(setsockopt(s, SOL_SOCKET, 9999, &on, sizeof(on)), ENOPROTOOPT);
	FAILS_WITH(recv(s, buf, 1, 0), ENOTCONN);
	len = sizeof(peer);
	FAILS_WITH(getpeername(s, (struct sockaddr *)&peer, &len), ENOTCONN);

	/* a connection: names, non-blocking reads, FIONREAD, shutdown, EOF, EPIPE */
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	len = sizeof(peer);
	CHECK(getpeername(s, (struct sockaddr *)&peer, &len) == 0 && len == sizeof(peer) &&
	      peer.sin_port == htons(port) && peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	struct sockaddr_in from;
	len = sizeof(from);
	int acc = accept4(l, (struct sockaddr *)&from, &len, SOCK_NONBLOCK);
	CHECK(acc >= 0 && from.sin_port == htons(port_of(s)) && (fcntl(acc, F_GETFL) & O_NONBLOCK));
	FAILS_WITH(read(acc, buf, sizeof(buf)), EAGAIN);
	FAILS_WITH(recv(s, buf, 1, MSG_DONTWAIT), EAGAIN);
	CHECK(write(s, "hello", 5) == 5);
	struct pollfd pf = { acc, POLLIN, 0 };
	CHECK(poll(&pf, 1, 2000) == 1 && pf.revents == POLLIN);
	int avail = 0;
	CHECK(ioctl(acc, FIONREAD, &avail) == 0 && avail == 5);
	CHECK(recv(acc, buf, 2, MSG_PEEK) == 2 && recv(acc, buf, sizeof(buf), 0) == 5 &&
	      !memcmp(buf, "hello", 5));
	struct stat st;
	CHECK(fstat(acc, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK(shutdown(s, SHUT_WR) == 0);
	pf = (struct pollfd){ acc, POLLIN | POLLRDHUP, 0 };
	CHECK(poll(&pf, 1, 2000) == 1 && (pf.revents & POLLRDHUP));
	CHECK(read(acc, buf, sizeof(buf)) == 0);
	signal(SIGPIPE, SIG_IGN);
	FAILS_WITH(send(s, "x", 1, 0), EPIPE);
	CHECK(send(acc, "bye", 3, 0) == 3); /* the other direction still flows */
	CHECK(recv(s, buf, sizeof(buf), 0) == 3);
	CHECK(close(acc) == 0);
	CHECK(recv(s, buf, sizeof(buf), 0) == 0);
	close(s);

	/* a non-blocking listener with nothing pending */
	CHECK(fcntl(l, F_SETFL, O_NONBLOCK) == 0);
	FAILS_WITH(accept(l, 0, 0), EAGAIN);
	len = sizeof(v);
	CHECK(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v == 1);
	close(l);

	/* a reset: the peer closed with data unread */
	l = listener(&port);
	a = loopback(port);
	s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	acc = accept(l, 0, 0);
	CHECK(send(s, "unread", 6, 0) == 6);
	usleep(10000);
	close(acc);
	pf = (struct pollfd){ s, POLLIN, 0 };
	CHECK(poll(&pf, 1, 2000) == 1);
	FAILS_WITH(recv(s, buf, sizeof(buf), 0), ECONNRESET);
	close(s);
	close(l);

	/* SO_LINGER {1, 0}: close resets; MSG_WAITALL waits for all; FIONBIO */
	l = listener(&port);
	a = loopback(port);
	s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	acc = accept(l, 0, 0);
	CHECK(ioctl(s, FIONBIO, &on) == 0 && (fcntl(s, F_GETFL) & O_NONBLOCK));
	FAILS_WITH(recv(s, buf, 1, 0), EAGAIN);
	int off = 0;
	CHECK(ioctl(s, FIONBIO, &off) == 0 && !(fcntl(s, F_GETFL) & O_NONBLOCK));
	struct later_send { int fd; } ls = { acc };
	pthread_t t;
	pthread_create(&t, 0, send_in_two, &ls);
	CHECK(recv(s, buf, 10, MSG_WAITALL) == 10 && !memcmp(buf, "0123456789", 10));
	pthread_join(t, 0);
	struct linger lg = { 1, 0 };
	CHECK(setsockopt(acc, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
	len = sizeof(lg);
	lg = (struct linger){ 5, 5 };
	CHECK(getsockopt(acc, SOL_SOCKET, SO_LINGER, &lg, &len) == 0 && lg.l_onoff == 1 &&
	      lg.l_linger == 0);
	CHECK(close(acc) == 0);
	pf = (struct pollfd){ s, POLLIN, 0 };
	CHECK(poll(&pf, 1, 2000) == 1);
	FAILS_WITH(recv(s, buf, sizeof(buf), 0), ECONNRESET);
	close(s);
	close(l);

	FAILS_WITH(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
	FAILS_WITH(socket(12345, SOCK_STREAM, 0), EAFNOSUPPORT);
}

static void *udp_echo_server(void *arg)
{
	int u = (int)(intptr_t)arg;
	char buf[2048];
	for (;;) {
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(u, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		if (n <= 0 || !memcmp(buf, "quit", 4))
			break;
		sendto(u, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
	}
	return 0;
}

static void udp(void)
{
	int srv = socket(AF_INET, SOCK_DGRAM, 0), cl = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = loopback(0);
	char buf[2048];

	CHECK(srv >= 0 && bind(srv, (struct sockaddr *)&a, sizeof(a)) == 0);
	a = loopback(port_of(srv));
	FAILS_WITH(recv(cl, buf, sizeof(buf), 0), EAGAIN);
	FAILS_WITH(send(cl, "x", 1, 0), EDESTADDRREQ);
	pthread_t t;
	pthread_create(&t, 0, udp_echo_server, (void *)(intptr_t)srv);
	int good = 0;
	for (int i = 0; i < 100; i++) {
		char msg[64];
		int n = snprintf(msg, sizeof(msg), "datagram %d", i);
		if (sendto(cl, msg, (size_t)n, 0, (struct sockaddr *)&a, sizeof(a)) != n)
			continue;
		struct pollfd pf = { cl, POLLIN, 0 };
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		if (poll(&pf, 1, 2000) == 1 &&
		    recvfrom(cl, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len) == n &&
		    !memcmp(buf, msg, (size_t)n) && from.sin_port == a.sin_port)
			good++;
	}
	check(good == 100, "100 datagrams echoed over 127.0.0.1");

	/* connected: send/recv; a short buffer truncates the datagram */
	CHECK(connect(cl, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(send(cl, "truncate me", 11, 0) == 11);
	struct pollfd pf = { cl, POLLIN, 0 };
	CHECK(poll(&pf, 1, 2000) == 1);
	CHECK(recv(cl, buf, 4, MSG_TRUNC) == 11 && !memcmp(buf, "trun", 4));
	FAILS_WITH(recv(cl, buf, sizeof(buf), 0), EAGAIN);
	CHECK(send(cl, "quit", 4, 0) == 4);
	pthread_join(t, 0);
	struct sockaddr_in any = loopback(0);
	any.sin_addr.s_addr = htonl(0x0a0b0c0d);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	FAILS_WITH(bind(u, (struct sockaddr *)&any, sizeof(any)), EADDRNOTAVAIL);
	close(u);
	close(cl);
	close(srv);
}

static void names(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = 0;
	int r = getaddrinfo("localhost", "80", &hints, &res);
	CHECK(r == 0 && res && res->ai_family == AF_INET);
	if (!r && res) {
		struct sockaddr_in *sa = (struct sockaddr_in *)res->ai_addr;
		check(sa->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && sa->sin_port == htons(80),
		      "getaddrinfo(\"localhost\"): 127.0.0.1");
		freeaddrinfo(res);
	}
	struct in_addr in;
	CHECK(inet_pton(AF_INET, "127.0.0.1", &in) == 1);
}

/* Bad pointers and lengths: Linux's errors, never a crash. */
static void hostile(void)
{
	uint16_t port;
	int l = listener(&port), s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = loopback(port);
	char buf[16];

	FAILS_WITH(bind(s, (struct sockaddr *)16, sizeof(a)), EFAULT);
	FAILS_WITH(connect(s, (struct sockaddr *)&a, 3), EINVAL);
	FAILS_WITH(bind(s, (struct sockaddr *)&a, (socklen_t)-1), EINVAL);
	FAILS_WITH(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, (void *)16, sizeof(int)), EFAULT);
	FAILS_WITH(getsockopt(s, SOL_SOCKET, SO_TYPE, buf, (socklen_t *)16), EFAULT);
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	int c = accept(l, 0, 0);
	FAILS_WITH(getsockname(s, (struct sockaddr *)&a, (socklen_t *)16), EFAULT);
	FAILS_WITH(send(s, (void *)16, 100, 0), EFAULT);
	struct iovec bad = { (void *)16, 8 };
	struct msghdr m = { .msg_iov = &bad, .msg_iovlen = 1 };
	FAILS_WITH(sendmsg(s, &m, 0), EFAULT);
	CHECK(send(s, "data", 4, 0) == 4 && setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0);
	struct pollfd pf = { c, POLLIN, 0 };
	CHECK(poll(&pf, 1, 2000) == 1);
	FAILS_WITH(recv(c, (void *)16, sizeof(buf), 0), EFAULT);
	FAILS_WITH(recvmsg(c, &m, 0), EFAULT);
	CHECK(recv(c, buf, sizeof(buf), 0) == 4); /* the data is still there */
	close(c);
	close(s);
	close(l);
}

int main(void)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	tcp_echo();
	tcp_errors();
	udp();
	names();
	hostile();
	printf("net_loopback: ");
	return check_summary();
}
