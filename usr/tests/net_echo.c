/* TCP and UDP echo across the guest's NIC, for the tests of the network's host side
 * (tests/test_net_guest.py):
 *   net_echo serve PORT [N]          listen on 0.0.0.0:PORT, print "listening", echo
 *                                    N connections (default 1) to their end, then
 *                                    "served N"
 *   net_echo connect HOST PORT BYTES connect (at most WAIT seconds), send BYTES of a
 *                                    pattern, read them back and compare: "echoed N";
 *                                    no answer in time: "no answer" and exit 3
 *   net_echo udp HOST PORT           one datagram there and its echo: "udp echoed"
 *   net_echo resolve NAME            getaddrinfo: the first IPv4 address
 * Errors: perror's line and exit 1 (e.g. "connect: Network is unreachable"). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 3000

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

static int serve(int port, int n)
{
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 16)) {
		perror("listen");
		return 1;
	}
	printf("listening %d\n", port);
	fflush(stdout);
	for (int k = 0; k < n; k++) {
		int c = accept(s, 0, 0);
		char buf[16384];
		ssize_t got;

		if (c < 0) {
			perror("accept");
			return 1;
		}
		while ((got = read(c, buf, sizeof(buf))) > 0)
			for (ssize_t off = 0; off < got;) {
				ssize_t put = write(c, buf + off, (size_t)(got - off));
				if (put <= 0) {
					perror("write");
					return 1;
				}
				off += put;
			}
		close(c);
	}
	printf("served %d\n", n);
	return 0;
}

static int addr_of(const char *host, int port, struct sockaddr_in *a)
{
	*a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
		fprintf(stderr, "net_echo: %s is not an IPv4 address\n", host);
		return -1;
	}
	return 0;
}

/* connect within WAIT_MS: 0, 1 (an error, said), 3 (no answer) */
static int connect_in_time(int s, const struct sockaddr_in *a)
{
	int fl = fcntl(s, F_GETFL), err = 0;
	socklen_t len = sizeof(err);
	struct pollfd p = { .fd = s, .events = POLLOUT };

	fcntl(s, F_SETFL, fl | O_NONBLOCK);
	if (connect(s, (const struct sockaddr *)a, sizeof(*a)) && errno != EINPROGRESS) {
		perror("connect");
		return 1;
	}
	if (poll(&p, 1, WAIT_MS) == 0) {
		printf("no answer\n");
		return 3;
	}
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		errno = err;
		perror("connect");
		return 1;
	}
	fcntl(s, F_SETFL, fl);
	return 0;
}

static int echo(const char *host, int port, size_t bytes)
{
	struct sockaddr_in a;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || addr_of(host, port, &a))
		return 1;
	int r = connect_in_time(s, &a);
	if (r)
		return r;
	unsigned char *out = malloc(bytes + 1), *in = malloc(bytes + 1);
	for (size_t i = 0; i < bytes; i++)
		out[i] = pattern(i);
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	size_t sent = 0, got = 0;
	while (got < bytes) { /* send and read back at once: neither side's buffers fill */
		struct pollfd p = { .fd = s, .events = POLLIN | (sent < bytes ? POLLOUT : 0) };
		if (poll(&p, 1, 10000) == 0) {
			fprintf(stderr, "net_echo: stalled for 10 s after %zu sent, %zu back\n", sent,
				got);
			return 1;
		}
		if (p.revents & POLLOUT) {
			ssize_t n = write(s, out + sent, bytes - sent < 65536 ? bytes - sent : 65536);
			if (n < 0 && errno != EAGAIN) {
				perror("write");
				return 1;
			}
			sent += n > 0 ? (size_t)n : 0;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(s, in + got, bytes - got);
			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				fprintf(stderr, "net_echo: the echo ended after %zu of %zu bytes\n", got,
					bytes);
				return 1;
			}
			got += n > 0 ? (size_t)n : 0;
		}
	}
	if (memcmp(in, out, bytes)) {
		fprintf(stderr, "net_echo: the echo differs from what was sent\n");
		return 1;
	}
	close(s);
	printf("echoed %zu\n", bytes);
	return 0;
}

static int udp(const char *host, int port)
{
	struct sockaddr_in a;
	char msg[] = "hermit udp", buf[64];
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct pollfd p = { .fd = s, .events = POLLIN };

	if (s < 0 || addr_of(host, port, &a))
		return 1;
	if (sendto(s, msg, sizeof(msg), 0, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("sendto");
		return 1;
	}
	if (poll(&p, 1, WAIT_MS) == 0) {
		printf("no answer\n");
		return 3;
	}
	ssize_t n = recv(s, buf, sizeof(buf), 0);
	if (n != (ssize_t)sizeof(msg) || memcmp(buf, msg, sizeof(msg))) {
		fprintf(stderr, "net_echo: the datagram came back as %zd bytes\n", n);
		return 1;
	}
	printf("udp echoed\n");
	return 0;
}

static int resolve(const char *name)
{
	struct addrinfo hints = { .ai_family = AF_INET }, *res;
	char text[INET_ADDRSTRLEN];
	int e = getaddrinfo(name, 0, &hints, &res);

	if (e) {
		fprintf(stderr, "net_echo: %s: %s\n", name, gai_strerror(e));
		return 1;
	}
	inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, text, sizeof(text));
	printf("%s %s\n", name, text);
	freeaddrinfo(res);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]), argc > 3 ? atoi(argv[3]) : 1);
	if (argc == 5 && !strcmp(argv[1], "connect"))
		return echo(argv[2], atoi(argv[3]), (size_t)atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "udp"))
		return udp(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "resolve"))
		return resolve(argv[2]);
	fprintf(stderr, "usage: net_echo serve PORT [N] | connect HOST PORT BYTES | udp HOST PORT |"
		" resolve NAME\n");
	return 2;
}
