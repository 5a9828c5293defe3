/* TCP throughput between two ends, as HermitCore's netio measured it: the client
 * sends a stream in chunks of each size, the server receives it, then the server
 * sends as much back; both ends print MB/s and check every byte they get.
 *   netio -s [-p PORT] [-n CONNS]            server (CONNS clients, 0: forever)
 *   netio -c HOST [-p PORT] [-b BYTES] [-k SIZES]   client (SIZES: 1024,8192,...)
 *   netio --selftest [-b BYTES]              server thread + client over 127.0.0.1
 *   netio --idle MS      a connection over 127.0.0.1 open, nothing else for MS ms
 *                        (what TCP's timers cost an idle guest: the test measures)
 * The stream: a header line "netio BYTES CHUNK\n" per size, then BYTES bytes of a
 * pattern with a period of 251 (prime: never aligned with a chunk) each way.
 * Exit status: the number of failed checks (2: a usage or setup error). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
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

#define PERIOD 251
#define CHUNK_MAX (1 << 20)
#define DEFAULT_PORT 18767 /* netio's own number */

static unsigned char *pattern; /* CHUNK_MAX + PERIOD bytes */
static int checks, failed;

static void check(int ok, const char *what)
{
	__atomic_fetch_add(&checks, 1, __ATOMIC_RELAXED); /* both ends count in --selftest */
	if (!ok) {
		__atomic_fetch_add(&failed, 1, __ATOMIC_RELAXED);
		printf("not ok: %s\n", what);
		fflush(stdout);
	}
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int write_all(int s, const void *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(s, (const char *)buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* Send `bytes` of the pattern in `chunk`-sized writes. */
static int send_stream(int s, long long bytes, size_t chunk)
{
	for (long long off = 0; off < bytes;) {
		size_t n = bytes - off < (long long)chunk ? (size_t)(bytes - off) : chunk;
		if (write_all(s, pattern + off % PERIOD, n))
			return -1;
		off += (long long)n;
	}
	return 0;
}

/* Receive `bytes` in reads of up to `chunk`: how many matched the pattern, or -1
 * when the stream ended early. */
static long long recv_stream(int s, long long bytes, size_t chunk, char *buf)
{
	long long off = 0, good = 0;

	while (off < bytes) {
		size_t want = bytes - off < (long long)chunk ? (size_t)(bytes - off) : chunk;
		ssize_t n = read(s, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (!memcmp(buf, pattern + off % PERIOD, (size_t)n))
			good += n;
		off += n;
	}
	return good;
}

/* One line, byte by byte (the stream follows it at once). */
static int read_line(int s, char *line, size_t cap)
{
	size_t i = 0;

	while (i + 1 < cap) {
		ssize_t n = read(s, line + i, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (line[i] == '\n')
			break;
		i++;
	}
	line[i] = 0;
	return 0;
}

/* One client: as many rounds as it asks for, until it closes. */
static void serve_client(int c)
{
	char line[128], *buf = malloc(CHUNK_MAX);
	long long bytes;
	long chunk;

	while (buf && !read_line(c, line, sizeof(line))) {
		if (sscanf(line, "netio %lld %ld", &bytes, &chunk) != 2 || bytes < 0 || chunk < 1 ||
		    chunk > CHUNK_MAX) {
			(void)!write(c, "bad request\n", 12);
			break;
		}
		double t0 = now();
		long long good = recv_stream(c, bytes, (size_t)chunk, buf);
		double t1 = now();
		check(good == bytes, "the server received the client's stream intact");
		char reply[64];
		int n = snprintf(reply, sizeof(reply), "ok %lld\n", good);
		if (good < 0 || write_all(c, reply, (size_t)n) || send_stream(c, bytes, (size_t)chunk))
			break;
		printf("netio server: chunk=%ld bytes=%lld rx_MBps=%.1f\n", chunk, bytes,
		       (double)bytes / (t1 - t0) / 1e6);
		fflush(stdout);
	}
	free(buf);
	close(c);
}

static int listen_on(const char *addr, int port, int *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), on = 1;

	inet_pton(AF_INET, addr, &a.sin_addr);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 16) ||
	    getsockname(l, (struct sockaddr *)&a, &len)) {
		fprintf(stderr, "netio: cannot listen on %s:%d: %s\n", addr, port, strerror(errno));
		return -1;
	}
	*bound = ntohs(a.sin_port);
	return l;
}

static void serve(int l, int conns)
{
	for (int i = 0; !conns || i < conns; i++) {
		int c = accept(l, 0, 0);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		serve_client(c);
	}
}

static int connect_to(const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	char ps[16];

	snprintf(ps, sizeof(ps), "%d", port);
	int e = getaddrinfo(host, ps, &hints, &res);
	if (e) {
		fprintf(stderr, "netio: %s: %s\n", host, gai_strerror(e));
		return -1;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, res->ai_addr, res->ai_addrlen)) {
		fprintf(stderr, "netio: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return s;
}

/* The client's rounds, one per chunk size; 0, or -1 when the connection broke. */
static int client(int s, long long bytes, const long *sizes, int nsizes)
{
	char line[128], *buf = malloc(CHUNK_MAX);

	if (!buf)
		return -1;
	for (int i = 0; i < nsizes; i++) {
		int n = snprintf(line, sizeof(line), "netio %lld %ld\n", bytes, sizes[i]);
		double t0 = now();
		if (write_all(s, line, (size_t)n) || send_stream(s, bytes, (size_t)sizes[i]) ||
		    read_line(s, line, sizeof(line))) {
			check(0, "the server answered the client's stream");
			free(buf);
			return -1;
		}
		double t1 = now(); /* the server's "ok" means it has every byte */
		long long got = -1;
		check(sscanf(line, "ok %lld", &got) == 1 && got == bytes,
		      "the server says it received every byte intact");
		long long good = recv_stream(s, bytes, (size_t)sizes[i], buf);
		double t2 = now();
		check(good == bytes, "the client received the server's stream intact");
		printf("netio: chunk=%ld bytes=%lld tx_MBps=%.1f rx_MBps=%.1f\n", sizes[i], bytes,
		       (double)bytes / (t1 - t0) / 1e6, (double)bytes / (t2 - t1) / 1e6);
		fflush(stdout);
		if (good < 0) {
			free(buf);
			return -1;
		}
	}
	free(buf);
	return 0;
}

static void *selftest_server(void *arg)
{
	serve((int)(intptr_t)arg, 1);
	return 0;
}

static int parse_sizes(char *s, long *sizes, int max)
{
	int n = 0;

	for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(0, ",")) {
		char *end;
		long v = strtol(tok, &end, 0);
		if (*end == 'k' || *end == 'K')
			v *= 1024, end++;
		if (*end || v < 1 || v > CHUNK_MAX)
			return -1;
		sizes[n++] = v;
	}
	return n;
}

/* Both ends of a connection open (with a byte each way), then a sleep. */
static int idle(long ms)
{
	int port, l = listen_on("127.0.0.1", 0, &port);
	int s = l < 0 ? -1 : connect_to("127.0.0.1", port);
	int c = s < 0 ? -1 : accept(l, 0, 0);
	char b = 0;

	if (c < 0 || write(s, "i", 1) != 1 || read(c, &b, 1) != 1 || write(c, "j", 1) != 1 ||
	    read(s, &b, 1) != 1)
		return 2;
	struct timespec t = { ms / 1000, ms % 1000 * 1000000L };
	double t0 = now();
	nanosleep(&t, 0);
	printf("netio: idle %.0f ms with a connection open\n", (now() - t0) * 1e3);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: netio -s [-p PORT] [-n CONNS] | -c HOST [-p PORT] [-b BYTES] "
			"[-k SIZES] | --selftest [-b BYTES] | --idle MS\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *host = 0;
	int server = 0, selftest = 0, port = DEFAULT_PORT, conns = 0, nsizes = 4;
	long long bytes = 16LL << 20;
	long sizes[16] = { 1024, 4096, 16384, 65536 };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : 0;
		if (!strcmp(a, "-s"))
			server = 1;
		else if (!strcmp(a, "--selftest"))
			selftest = 1;
		else if (!strcmp(a, "--idle") && v)
			return idle(atol(v));
		else if (!strcmp(a, "-c") && v)
			host = v, i++;
		else if (!strcmp(a, "-p") && v)
			port = atoi(v), i++;
		else if (!strcmp(a, "-n") && v)
			conns = atoi(v), i++;
		else if (!strcmp(a, "-b") && v)
			bytes = atoll(v), i++;
		else if (!strcmp(a, "-k") && v) {
			nsizes = parse_sizes(argv[++i], sizes, 16);
			if (nsizes < 1)
				return usage();
		} else
			return usage();
	}
	if (server + selftest + !!host != 1 || port < 0 || port > 65535 || bytes < 1)
		return usage();
	pattern = malloc(CHUNK_MAX + PERIOD);
	if (!pattern)
		return 2;
	for (int i = 0; i < CHUNK_MAX + PERIOD; i++)
		pattern[i] = (unsigned char)(i % PERIOD * 97 + 13);
	if (server) {
		int l = listen_on("0.0.0.0", port, &port);
		if (l < 0)
			return 2;
		printf("netio: listening on 0.0.0.0:%d\n", port);
		fflush(stdout);
		serve(l, conns);
	} else if (host) {
		int s = connect_to(host, port);
		if (s < 0)
			return 2;
		client(s, bytes, sizes, nsizes);
		close(s);
	} else {
		int l = listen_on("127.0.0.1", 0, &port);
		pthread_t t;
		if (l < 0 || pthread_create(&t, 0, selftest_server, (void *)(intptr_t)l))
			return 2;
		int s = connect_to("127.0.0.1", port);
		if (s < 0)
			return 2;
		client(s, bytes, sizes, nsizes);
		close(s);
		pthread_join(t, 0);
		close(l);
	}
	printf("netio: %d checks, %d failed\n", checks, failed);
	return failed > 125 ? 125 : failed;
}
