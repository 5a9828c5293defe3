/* TCP over 127.0.0.1 inside one process: bulk throughput (one thread writes
 * 64 KiB at a time, another reads) and connect+request+reply+close latency.
 *   tcp_loopback [MiB] [connections]      (defaults: 64, 1000)
 * Prints stream_MBps=, rr_p50_us=, rr_p99_us= (built natively as well: the
 * same figures on Linux are the baseline). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int listener(struct sockaddr_in *a)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	socklen_t len = sizeof(*a);
	*a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(l, (struct sockaddr *)a, sizeof(*a)) || listen(l, 128) ||
	    getsockname(l, (struct sockaddr *)a, &len))
		exit(2);
	return l;
}

static long long total;

static void *sink(void *arg)
{
	int c = accept((int)(intptr_t)arg, 0, 0);
	char *buf = malloc(CHUNK);
	ssize_t n;
	while ((n = read(c, buf, CHUNK)) > 0)
		total += n;
	close(c);
	free(buf);
	return 0;
}

static int conns;

static void *responder(void *arg)
{
	int l = (int)(intptr_t)arg;
	char buf[64];
	for (int i = 0; i < conns; i++) {
		int c = accept(l, 0, 0);
		if (c < 0)
			break;
		if (read(c, buf, sizeof(buf)) == sizeof(buf))
			(void)!write(c, buf, sizeof(buf));
		close(c);
	}
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 64;
	conns = argc > 2 ? atoi(argv[2]) : 1000;
	struct sockaddr_in a;

	int l = listener(&a);
	pthread_t t;
	pthread_create(&t, 0, sink, (void *)(intptr_t)l);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)))
		return 2;
	char *buf = calloc(1, CHUNK);
	double t0 = now();
	for (long i = 0; i < mib * 1024 * 1024 / CHUNK; i++)
		for (ssize_t off = 0, w; off < CHUNK; off += w)
			if ((w = write(s, buf + off, CHUNK - (size_t)off)) <= 0)
				return 3;
	close(s);
	pthread_join(t, 0);
	double secs = now() - t0;
	close(l);
	if (total != mib * 1024 * 1024)
		return 4;
	printf("stream_MBps=%.1f\n", total / secs / 1e6);

	l = listener(&a);
	pthread_create(&t, 0, responder, (void *)(intptr_t)l);
	double *lat = malloc(sizeof(double) * (size_t)conns);
	char msg[64] = "request";
	for (int i = 0; i < conns; i++) {
		double t1 = now();
		int c = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c, (struct sockaddr *)&a, sizeof(a)) || write(c, msg, sizeof(msg)) != sizeof(msg) ||
		    read(c, msg, sizeof(msg)) != sizeof(msg))
			return 5;
		close(c);
		lat[i] = (now() - t1) * 1e6;
	}
	pthread_join(t, 0);
	qsort(lat, (size_t)conns, sizeof(double), cmp);
	printf("rr_p50_us=%.1f\nrr_p99_us=%.1f\n", lat[conns / 2], lat[conns * 99 / 100]);
	return 0;
}
