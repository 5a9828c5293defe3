/* A small HTTP/1.1 server (HermitCore's `server` demo in spirit): one thread, one
 * epoll, non-blocking sockets, keep-alive and pipelining, on 0.0.0.0 so that a
 * forwarded host port reaches it (`curl localhost:8080`).
 *   server [PORT]               serve until killed (default 8080; 0: any port)
 *   server --selftest [CONNS]   serve 127.0.0.1 to client threads in the same
 *                               process that check every byte (default 200 at once)
 * Paths: / (a page), /hello (text), /big (1 MiB of a pattern), anything else 404;
 * GET and HEAD.  Selftest's exit status: the number of failed checks. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server.h"

#define IN_MAX 8192 /* a request's head: more is 431 and the connection closes */
#define EVENTS 256

struct conn {
	int fd;
	size_t in_len;
	char in[IN_MAX];
	char head[512];          /* the response being sent: head then body */
	size_t head_len, head_off;
	const char *body;
	size_t body_len, body_off;
	int close_after;         /* HTTP/1.0 or Connection: close */
	int eof;
};

static const char page[] =
	"<!DOCTYPE html>\n<html><head><title>hermit</title></head>\n"
	"<body><h1>Hello from hermit</h1>\n"
	"<p>A unikernel serving HTTP/1.1 through lwIP.</p></body></html>\n";
static const char hello[] = "Hello from hermit\n";
char server_big[BIG_LEN];
static unsigned long requests;

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Does the head contain this header with a value starting with `value` (case
 * folded)? */
static int has_header(const char *head, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
		const char *h = p + 2;
		if (strncasecmp(h, name, nl) || h[nl] != ':')
			continue;
		h += nl + 1;
		while (*h == ' ' || *h == '\t')
			h++;
		if (!strncasecmp(h, value, vl))
			return 1;
	}
	return 0;
}

static void respond(struct conn *c, int status, const char *reason, const char *type,
		    const char *body, size_t len, int head_only)
{
	int n = snprintf(c->head, sizeof(c->head),
			 "HTTP/1.1 %d %s\r\nServer: hermit\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\n%s\r\n",
			 status, reason, type, len, c->close_after ? "Connection: close\r\n" : "");
	c->head_len = (size_t)n;
	c->head_off = c->body_off = 0;
	c->body = body;
	c->body_len = head_only ? 0 : len;
	requests++;
}

/* One complete request from the input, answered; 0 when there is none yet. */
static int handle_one(struct conn *c)
{
	char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);

	if (!end) {
		if (c->in_len == IN_MAX) {
			c->close_after = 1;
			respond(c, 431, "Request Header Fields Too Large", "text/plain", "", 0, 0);
			c->in_len = 0;
			return 1;
		}
		return 0;
	}
	*end = 0; /* the head as a string (no body: GET and HEAD only) */
	size_t used = (size_t)(end + 4 - c->in);
	char method[16], path[256], version[16];
	if (sscanf(c->in, "%15s %255s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7)) {
		c->close_after = 1;
		respond(c, 400, "Bad Request", "text/plain", "", 0, 0);
	} else {
		int v10 = !strcmp(version, "HTTP/1.0");
		c->close_after = v10 ? !has_header(c->in, "Connection", "keep-alive")
				     : has_header(c->in, "Connection", "close");
		int head = !strcmp(method, "HEAD");
		if (!head && strcmp(method, "GET"))
			respond(c, 501, "Not Implemented", "text/plain", "", 0, 0);
		else if (!strcmp(path, "/") || !strcmp(path, "/index.html"))
			respond(c, 200, "OK", "text/html", page, sizeof(page) - 1, head);
		else if (!strcmp(path, "/hello"))
			respond(c, 200, "OK", "text/plain", hello, sizeof(hello) - 1, head);
		else if (!strcmp(path, "/big"))
			respond(c, 200, "OK", "application/octet-stream", server_big, BIG_LEN, head);
		else
			respond(c, 404, "Not Found", "text/plain", "not found\n", 10, head);
	}
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	return 1;
}

/* Send what is pending: 1 when all of it went, 0 on EAGAIN, -1 on an error. */
static int flush(struct conn *c)
{
	while (c->head_off < c->head_len || c->body_off < c->body_len) {
		struct iovec v[2] = {
			{ c->head + c->head_off, c->head_len - c->head_off },
			{ (void *)(c->body + c->body_off), c->body_len - c->body_off },
		};
		ssize_t n = writev(c->fd, v, 2);
		if (n < 0)
			return errno == EAGAIN ? 0 : errno == EINTR ? flush(c) : -1;
		size_t h = (size_t)n < v[0].iov_len ? (size_t)n : v[0].iov_len;
		c->head_off += h;
		c->body_off += (size_t)n - h;
	}
	return 1;
}

/* Make all the progress the socket allows; 0 to keep the connection, -1 to close. */
static int conn_run(struct conn *c)
{
	for (;;) {
		int f = flush(c);
		if (f <= 0)
			return f;
		if (c->close_after)
			return -1;
		if (handle_one(c))
			continue;
		if (c->eof)
			return -1;
		ssize_t n = read(c->fd, c->in + c->in_len, IN_MAX - c->in_len);
		if (n > 0)
			c->in_len += (size_t)n;
		else if (n == 0)
			c->eof = 1;
		else if (errno == EAGAIN)
			return 0;
		else if (errno != EINTR)
			return -1;
	}
}

static void accept_all(int ep, int l)
{
	for (;;) {
		int fd = accept4(l, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a connection that went away */
		struct conn *c = calloc(1, sizeof(*c));
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					  .data.ptr = c };
		if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
	}
}

/* The event loop; returns only when epoll fails. */
void server_loop(int l)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = 0 }, evs[EVENTS];

	set_nonblock(l);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev)) {
		perror("server: epoll");
		return;
	}
	for (;;) {
		int n = epoll_wait(ep, evs, EVENTS, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("server: epoll_wait");
			return;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				accept_all(ep, l);
			} else if (conn_run(c) < 0) {
				close(c->fd); /* leaves the epoll with its last fd */
				free(c);
			}
		}
	}
}

/* A listening socket on addr:port; the port it got through *bound. */
int server_listen(const char *addr, int port, int *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;

	inet_pton(AF_INET, addr, &a.sin_addr);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1024) ||
	    getsockname(l, (struct sockaddr *)&a, &len)) {
		fprintf(stderr, "server: cannot listen on %s:%d: %s\n", addr, port, strerror(errno));
		return -1;
	}
	*bound = ntohs(a.sin_port);
	return l;
}

int main(int argc, char **argv)
{
	for (size_t i = 0; i < BIG_LEN; i++)
		server_big[i] = (char)('a' + i % 26 + (i / 26) % 3);
	signal(SIGPIPE, SIG_IGN); /* a client that went away is a write error, not an end */
	if (argc > 1 && !strcmp(argv[1], "--selftest"))
		return server_selftest(argc > 2 ? atoi(argv[2]) : 200);
	char *end = "";
	long port = argc > 1 ? strtol(argv[1], &end, 10) : 8080;
	if (argc > 2 || *end || port < 0 || port > 65535) {
		fprintf(stderr, "usage: server [PORT] | server --selftest [CONNS]\n");
		return 2;
	}
	int bound, l = server_listen("0.0.0.0", (int)port, &bound);
	if (l < 0)
		return 1;
	printf("server: listening on 0.0.0.0:%d\n", bound);
	fflush(stdout);
	server_loop(l);
	return 1;
}
