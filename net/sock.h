/* net/'s sockets: IPv4 TCP and UDP over lwIP's raw API.  Everything here runs
 * under the kernel lock, which is lwIP's core lock (net/lwip/lwipopts.h).  lwIP's
 * callbacks only queue and notify (poll_notify); the system calls copy, and wait
 * in poll_block. */
#ifndef NET_SOCK_H
#define NET_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

struct file;

enum sock_state { SS_NEW, SS_CONNECTING, SS_CONNECTED, SS_LISTENING, SS_CLOSED };

struct dgram {
	struct dgram *next;
	struct pbuf *p;
	ip_addr_t addr;
	u16_t port;
};

struct sock {
	struct file *file;     /* 0 while it waits in a listener's accept queue */
	int type;              /* SOCK_STREAM or SOCK_DGRAM */
	enum sock_state state;
	int connect_seen;      /* connect() reported the outcome of a non-blocking connect */
	struct tcp_pcb *tcp;   /* 0 once lwIP dropped it (reset, abort, closed) */
	struct udp_pcb *udp;
	/* TCP: bytes received, not yet read (lwIP's window holds it to TCP_WND, 256 KiB) */
	struct pbuf *rx;
	size_t rx_len;
	uint64_t rx_total;     /* bytes ever received: quick ACKs while it is small */
	int eof;               /* the peer's FIN */
	int err;               /* SO_ERROR: a positive errno, taken once */
	int reset;             /* the connection ended with an error (reads: 0 after err) */
	int shut_rd, shut_wr;
	/* UDP: datagrams received */
	struct dgram *dq, **dq_tail;
	size_t dq_bytes;
	/* a listener's accepted connections, not yet accept()ed */
	struct sock *acq, **acq_tail, *next;
	int acq_len, backlog;
	/* options */
	int reuseaddr, keepalive, nodelay, broadcast;
	int linger_on, linger_secs; /* SO_LINGER: only {1, 0} acts (close resets) */
	int rcvbuf, sndbuf;
	uint64_t rcvtimeo, sndtimeo; /* ns; 0: none */
	/* the addresses, kept for getpeername/getsockname after lwIP dropped the pcb */
	ip_addr_t local_ip, peer_ip;
	u16_t local_port, peer_port;
};

/* net/stack.c */
int net_start(void);
int net_local_addr(const ip4_addr_t *addr);

/* net/sock.c */
struct sock *sock_new(int type);
void sock_free(struct sock *s);
long sock_file(struct sock *s, int flags, int cloexec); /* a new fd for it */
void sock_notify(struct sock *s);
long sock_wait(int nonblock, uint64_t deadline); /* 0: look again; -EAGAIN, -EINTR */
uint64_t sock_deadline(uint64_t timeo);
long err_to_errno(err_t e);
long sock_broken(int flags); /* EPIPE, with SIGPIPE unless MSG_NOSIGNAL */

/* Guest buffers as one list: a single one (read/write/send/recv) or iovecs. */
struct uio {
	const struct iovec *iov; /* checked entry by entry as it is used */
	long cnt;
	uint64_t one_base, one_len; /* cnt 0: this one buffer */
};
size_t uio_len(const struct uio *u);
long uio_check(const struct uio *u);
/* copy between the guest's buffers (from byte `at` of them) and kernel memory */
int uio_get(const struct uio *u, size_t at, void *dst, size_t n);
int uio_put(const struct uio *u, size_t at, const void *src, size_t n);
/* The guest's bytes from `at` on, as far as they are contiguous (at most max):
 * their address, checked now (no one can unmap them while the kernel lock is
 * held), or 0 (-EFAULT); *len gets the length. */
void *uio_span(const struct uio *u, size_t at, size_t max, size_t *len);

/* net/sock_tcp.c */
long tcp_sock_init(struct sock *s);
long tcp_sock_bind(struct sock *s, const ip_addr_t *ip, u16_t port);
long tcp_sock_listen(struct sock *s, int backlog);
long tcp_sock_accept(struct sock *s, struct sock **out, int nonblock);
long tcp_sock_connect(struct sock *s, const ip_addr_t *ip, u16_t port, int nonblock);
long tcp_sock_send(struct sock *s, const struct uio *u, int flags, int nonblock);
long tcp_sock_recv(struct sock *s, const struct uio *u, int flags, int nonblock);
long tcp_sock_shutdown(struct sock *s, int how);
unsigned tcp_sock_poll(struct sock *s);
void tcp_sock_close(struct sock *s);

/* net/sock_udp.c */
long udp_sock_init(struct sock *s);
long udp_sock_bind(struct sock *s, const ip_addr_t *ip, u16_t port);
long udp_sock_connect(struct sock *s, const ip_addr_t *ip, u16_t port); /* ip 0: dissolve */
long udp_sock_send(struct sock *s, const struct uio *u, const ip_addr_t *ip, u16_t port, int flags);
long udp_sock_recv(struct sock *s, const struct uio *u, int flags, int nonblock,
		   ip_addr_t *from, u16_t *port, size_t *full);
unsigned udp_sock_poll(struct sock *s);
void udp_sock_close(struct sock *s);

/* net/sockopt.c */
long sock_setsockopt(struct sock *s, int level, int name, uint64_t val, uint64_t len);
long sock_getsockopt(struct sock *s, int level, int name, uint64_t val, uint64_t len);

#endif
