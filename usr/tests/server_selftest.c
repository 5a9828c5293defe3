/* server --selftest: the event loop in a thread on 127.0.0.1, client threads in
 * the same process checking statuses, headers and every byte of the bodies:
 * keep-alive, pipelining, HEAD, 404, HTTP/1.0's close, a bad request, an
 * oversized head, a 1 MiB body, and CONNS connections open at once. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

static int port, checks, failed;

static void check(int ok, const char *what, int detail)
{
	__atomic_fetch_add(&checks, 1, __ATOMIC_RELAXED);
	if (!ok) {
		__atomic_fetch_add(&failed, 1, __ATOMIC_RELAXED);
		printf("not ok: %s (%d)\n", what, detail);
		fflush(stdout);
	}
}

struct reader {
	int fd;
	size_t len;
	char buf[16384];
};

struct resp {
	int status, closes;
	long clen;
	char *body;
};

static int dial(struct reader *r)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	r->len = 0;
	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	return r->fd < 0 || connect(r->fd, (struct sockaddr *)&a, sizeof(a)) ? -1 : 0;
}

static int send_str(int fd, const char *s)
{
	size_t n = strlen(s);
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, s + off, n - off);
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

static long header_long(const char *head, const char *name)
{
	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
		if (!strncasecmp(p + 2, name, strlen(name)) && p[2 + strlen(name)] == ':')
			return atol(p + 3 + strlen(name));
	return -1;
}

/* One response; head_only: no body follows whatever Content-Length says.
 * 0, or -1 when the connection ended first. */
static int get(struct reader *r, struct resp *out, int head_only)
{
	char *end;

	*out = (struct resp){ 0 };
	while (!(end = memmem(r->buf, r->len, "\r\n\r\n", 4))) {
		ssize_t n = r->len < sizeof(r->buf) ? read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len) : -1;
		if (n <= 0)
			return -1;
		r->len += (size_t)n;
	}
	end[2] = 0;
	size_t used = (size_t)(end + 4 - r->buf);
	if (sscanf(r->buf, "HTTP/1.1 %d", &out->status) != 1)
		out->status = -1;
	out->clen = header_long(r->buf, "Content-Length");
	out->closes = strstr(r->buf, "\r\nConnection: close\r\n") != 0;
	size_t want = head_only || out->clen < 0 ? 0 : (size_t)out->clen;
	out->body = malloc(want + 1);
	size_t have = r->len - used < want ? r->len - used : want;
	memcpy(out->body, r->buf + used, have);
	memmove(r->buf, r->buf + used + have, r->len - used - have);
	r->len -= used + have;
	while (have < want) {
		ssize_t n = read(r->fd, out->body + have, want - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	out->body[want] = 0;
	return 0;
}

/* A request on r's connection and its answer, checked. */
static void expect(struct reader *r, const char *req, int status, const char *body,
		   int closes)
{
	struct resp p;
	int head_only = !strncmp(req, "HEAD", 4);

	check(!send_str(r->fd, req), "the request was sent", 0);
	if (get(r, &p, head_only)) {
		check(0, req, -1);
		return;
	}
	check(p.status == status, req, p.status);
	check(p.closes == closes, "Connection: close exactly when the server closes", p.closes);
	if (body) {
		check(p.clen == (long)strlen(body), "Content-Length", (int)p.clen);
		check(head_only ? !*p.body : !strcmp(p.body, body), "the body", 0);
	}
	free(p.body);
}

static int closed_by_server(struct reader *r)
{
	char c;
	return r->len == 0 && read(r->fd, &c, 1) == 0;
}

static const char *hello = "Hello from hermit\n";

static void keep_alive(void)
{
	struct reader *r = calloc(1, sizeof(*r));
	struct resp p;

	check(!dial(r), "connect", 0);
	expect(r, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, hello, 0);
	expect(r, "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: selftest\r\n\r\n", 200, 0, 0);
	expect(r, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, hello, 0);
	expect(r, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not found\n", 0);
	expect(r, "POST /hello HTTP/1.1\r\nHost: x\r\n\r\n", 501, "", 0);
	/* the 1 MiB body, every byte */
	send_str(r->fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
	check(!get(r, &p, 0) && p.status == 200 && p.clen == BIG_LEN &&
	      !memcmp(p.body, server_big, BIG_LEN), "GET /big: 1 MiB intact", p.status);
	free(p.body);
	/* three pipelined in one write, answered in order */
	send_str(r->fd, "GET /hello HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
			"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
	int st[3] = { 0 };
	for (int i = 0; i < 3; i++) {
		if (get(r, &p, 0))
			break;
		st[i] = p.status;
		free(p.body);
	}
	check(st[0] == 200 && st[1] == 404 && st[2] == 200, "pipelined answers in order", st[1]);
	check(closed_by_server(r), "Connection: close closes", 0);
	close(r->fd);

	/* HTTP/1.0 closes unless asked to keep alive */
	check(!dial(r), "connect", 0);
	expect(r, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, hello, 0);
	expect(r, "GET /hello HTTP/1.0\r\n\r\n", 200, hello, 1);
	check(closed_by_server(r), "HTTP/1.0 closes", 0);
	close(r->fd);

	check(!dial(r), "connect", 0);
	expect(r, "GARBAGE\r\n\r\n", 400, "", 1);
	check(closed_by_server(r), "a bad request closes", 0);
	close(r->fd);

	/* a head larger than the server takes */
	check(!dial(r), "connect", 0);
	char *huge = malloc(9000);
	memset(huge, 'x', 8999);
	huge[8999] = 0;
	memcpy(huge, "GET /", 5);
	send_str(r->fd, huge);
	check(!get(r, &p, 0) && p.status == 431, "an oversized head is 431", p.status);
	free(p.body);
	free(huge);
	close(r->fd);
	free(r);
}

/* n connections open at once, a request on each, then every answer. */
static void many(int n)
{
	struct reader *rs = calloc((size_t)n, sizeof(*rs));
	int ok = 0, good = 0;

	for (int i = 0; i < n; i++)
		ok += !dial(&rs[i]);
	check(ok == n, "every connection was accepted", ok);
	for (int i = 0; i < n; i++)
		send_str(rs[i].fd, "GET /hello HTTP/1.1\r\n\r\n");
	for (int i = n - 1; i >= 0; i--) {
		struct resp p;
		good += !get(&rs[i], &p, 0) && p.status == 200 && !strcmp(p.body, hello);
		free(p.body);
		close(rs[i].fd);
	}
	check(good == n, "every connection had its answer", good);
	free(rs);
}

#define WORKERS 4
#define ROUNDS 50

static void *worker(void *arg)
{
	struct reader *r = calloc(1, sizeof(*r));
	int good = 0;

	(void)arg;
	if (!dial(r))
		for (int i = 0; i < ROUNDS; i++) {
			struct resp p;
			send_str(r->fd, i % 2 ? "GET /hello HTTP/1.1\r\n\r\n" : "GET / HTTP/1.1\r\n\r\n");
			good += !get(r, &p, 0) && p.status == 200 && p.clen > 0;
			free(p.body);
		}
	check(good == ROUNDS, "a worker's keep-alive requests", good);
	close(r->fd);
	free(r);
	return 0;
}

static void *serve(void *arg)
{
	server_loop((int)(intptr_t)arg);
	return 0;
}

int server_selftest(int conns)
{
	pthread_t srv, w[WORKERS];
	int l = server_listen("127.0.0.1", 0, &port);

	if (l < 0 || pthread_create(&srv, 0, serve, (void *)(intptr_t)l))
		return 125;
	pthread_detach(srv); /* serves until the process ends */
	keep_alive();
	many(conns);
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&w[i], 0, worker, 0);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], 0);
	printf("server: %d checks, %d failed\n", checks, failed);
	return failed > 125 ? 125 : failed;
}
