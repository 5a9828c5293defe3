/* connect+request+close latency against the HTTP server (usr/tests/server.c), for
 * usr/benchmarks/network_targets.py: N times one connection, "GET /hello" with
 * Connection: close, the whole answer read to the server's close and checked, the
 * socket closed; each round trip timed from before connect to after close.
 *   http_rr HOST PORT [N]   (default 1000; a few warm-up rounds first, untimed)
 * Prints "rr_p50_us=", "rr_p99_us=", "rr_n=" lines and the failures; exit status 1
 * when any answer was wrong or missing.  Runs on the host (a static musl binary). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 20
static const char request[] = "GET /hello HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
static const char body[] = "\r\n\r\nHello from hermit\n";

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* One exchange: 0 when the answer was a 200 with the expected body. */
static int once(const struct sockaddr_in *a)
{
	char buf[1024];
	size_t got = 0;
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1, ok = -1;

	if (s < 0)
		return -1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (const struct sockaddr *)a, sizeof(*a)) == 0 &&
	    write(s, request, sizeof(request) - 1) == (ssize_t)(sizeof(request) - 1)) {
		ssize_t n;
		while (got < sizeof(buf) - 1 && (n = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = 0;
		size_t bl = sizeof(body) - 1;
		ok = !strncmp(buf, "HTTP/1.1 200 ", 13) && got >= bl &&
				     !memcmp(buf + got - bl, body, bl) ? 0 : -1;
	}
	close(s);
	return ok;
}

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int n = argc > 3 ? atoi(argv[3]) : 1000, failed = 0;

	if (argc < 3 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || n < 1) {
		fprintf(stderr, "usage: http_rr IPV4 PORT [N]\n");
		return 2;
	}
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	double *t = malloc(sizeof(*t) * (size_t)n);
	if (!t)
		return 2;
	for (int i = 0; i < WARMUP; i++)
		failed += once(&a) != 0;
	for (int i = 0; i < n; i++) {
		double t0 = now_us();
		failed += once(&a) != 0;
		t[i] = now_us() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("rr_p50_us=%.1f\nrr_p99_us=%.1f\nrr_n=%d\n", t[n / 2], t[(n * 99) / 100], n);
	if (failed)
		printf("http_rr: %d of %d exchanges failed\n", failed, n + WARMUP);
	return failed != 0;
}
