/* TCP sockets over lwIP's raw API.  lwIP's callbacks queue what arrives (data,
 * connections, errors) on the struct sock and notify; the calls copy and wait.
 * Received data is acknowledged to lwIP (tcp_recved) only as the application
 * reads it, so the window is the flow control, as on Linux. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <hermit/fd.h>
#include <hermit/kernel.h>
#include <hermit/poll.h>
#include <hermit/task.h>

#include "sock.h"

#define SOMAXCONN_ 4096

static void keep_addrs(struct sock *s)
{
	if (!s->tcp)
		return;
	s->local_ip = s->tcp->local_ip;
	s->local_port = s->tcp->local_port;
	s->peer_ip = s->tcp->remote_ip;
	s->peer_port = s->tcp->remote_port;
}

/* Quick ACKs at a connection's start, as Linux's: lwIP delays the ACK of a lone
 * segment to its next fast timer (up to 250 ms), and a peer in slow start waits
 * for it (the loaders' libslirp sends one segment first: the first MiB from the
 * host took ~250 ms).  Over the first QUICK_ACK_BYTES every segment is ACKed at
 * once; later, delayed ACKs ride on replies or go every second segment. */
#define QUICK_ACK_BYTES (16 * TCP_MSS)

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct sock *s = arg;

	(void)err;
	if (!p) {
		s->eof = 1;
	} else if (s->shut_rd) {
		tcp_recved(pcb, p->tot_len); /* SHUT_RD: dropped, as Linux does */
		pbuf_free(p);
		return ERR_OK;
	} else {
		if (s->rx_total < QUICK_ACK_BYTES)
			pcb->flags |= TF_ACK_NOW; /* tcp_input sends it when it is done */
		s->rx_total += p->tot_len;
		s->rx_len += p->tot_len;
		if (s->rx)
			pbuf_cat(s->rx, p);
		else
			s->rx = p;
	}
	sock_notify(s);
	return ERR_OK;
}

/* Writers wake once a third of the send buffer is free again (as Linux's
 * sk_stream_write_space), not at every acknowledgement: each wake-up of a
 * thread on another cpu costs a round through the loader on kvm_pvm. */
static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)len;
	if (tcp_sndbuf(pcb) >= TCP_SND_BUF / 3 || tcp_sndqueuelen(pcb) < TCP_SND_QUEUELEN / 3)
		sock_notify(arg);
	return ERR_OK;
}

/* lwIP freed the pcb already. */
static void on_err(void *arg, err_t err)
{
	struct sock *s = arg;

	s->tcp = 0;
	if (s->state == SS_CONNECTING)
		s->err = err == ERR_RST ? ECONNREFUSED : ETIMEDOUT;
	else if (err == ERR_RST)
		s->err = ECONNRESET;
	else if (err == ERR_ABRT)
		s->err = ECONNABORTED;
	else if (err == ERR_TIMEOUT)
		s->err = ETIMEDOUT;
	s->reset = s->err != 0;
	s->state = SS_CLOSED;
	sock_notify(s);
}

static void hook(struct sock *s, struct tcp_pcb *pcb)
{
	s->tcp = pcb;
	tcp_arg(pcb, s);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
}

static void unhook(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, 0);
	if (pcb->state == LISTEN) {
		tcp_accept(pcb, 0);
		return;
	}
	tcp_recv(pcb, 0);
	tcp_sent(pcb, 0);
	tcp_err(pcb, 0);
}

long tcp_sock_init(struct sock *s)
{
	struct tcp_pcb *pcb = tcp_new();

	if (!pcb)
		return -ENOMEM;
	hook(s, pcb);
	return 0;
}

long tcp_sock_bind(struct sock *s, const ip_addr_t *ip, u16_t port)
{
	if (!s->tcp || s->state != SS_NEW)
		return -EINVAL;
	if (s->tcp->local_port)
		return -EINVAL; /* bound already */
	long r = err_to_errno(tcp_bind(s->tcp, ip, port));
	keep_addrs(s);
	return r;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct sock *l = arg, *c;

	if (err != ERR_OK || !pcb || !l)
		return ERR_VAL;
	if (l->acq_len > l->backlog || !(c = sock_new(SOCK_STREAM)))
		return ERR_MEM; /* lwIP aborts it: the peer sees a reset */
	hook(c, pcb);
	c->state = SS_CONNECTED;
	c->nodelay = l->nodelay;
	c->keepalive = l->keepalive;
	if (c->nodelay)
		tcp_nagle_disable(pcb);
	if (c->keepalive)
		ip_set_option(pcb, SOF_KEEPALIVE);
	keep_addrs(c);
	*l->acq_tail = c;
	l->acq_tail = &c->next;
	l->acq_len++;
	sock_notify(l);
	return ERR_OK;
}

long tcp_sock_listen(struct sock *s, int backlog)
{
	if (backlog < 0 || backlog > SOMAXCONN_)
		backlog = SOMAXCONN_;
	if (s->state == SS_LISTENING) {
		s->backlog = backlog;
		return 0;
	}
	if (s->state != SS_NEW || !s->tcp)
		return -EINVAL;
	if (!s->tcp->local_port) { /* Linux binds an unbound socket to a free port */
		long r = err_to_errno(tcp_bind(s->tcp, IP4_ADDR_ANY, 0));
		if (r)
			return r;
	}
	if (s->reuseaddr)
		ip_set_option(s->tcp, SOF_REUSEADDR);
	err_t e;
	struct tcp_pcb *l = tcp_listen_with_backlog_and_err(s->tcp, 255, &e);
	if (!l)
		return err_to_errno(e);
	s->tcp = l; /* the old pcb was freed */
	tcp_arg(l, s);
	tcp_accept(l, on_accept);
	s->backlog = backlog;
	s->state = SS_LISTENING;
	keep_addrs(s);
	return 0;
}

long tcp_sock_accept(struct sock *s, struct sock **out, int nonblock)
{
	if (s->state != SS_LISTENING)
		return -EINVAL;
	uint64_t deadline = sock_deadline(s->rcvtimeo);
	while (!s->acq) {
		long r = sock_wait(nonblock, deadline);
		if (r)
			return r;
		if (s->state != SS_LISTENING)
			return -EINVAL; /* shut down meanwhile */
	}
	struct sock *c = s->acq;
	s->acq = c->next;
	if (!s->acq)
		s->acq_tail = &s->acq;
	s->acq_len--;
	c->next = 0;
	*out = c;
	return 0;
}

/* lwIP calls it once the SYN is answered. */
static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct sock *s = arg;

	(void)err;
	s->state = SS_CONNECTED;
	keep_addrs(s);
	if (s->nodelay)
		tcp_nagle_disable(pcb);
	sock_notify(s);
	return ERR_OK;
}

long tcp_sock_connect(struct sock *s, const ip_addr_t *ip, u16_t port, int nonblock)
{
	switch (s->state) {
	case SS_LISTENING:
		return -EINVAL;
	case SS_CONNECTED:
		if (!s->connect_seen) { /* a non-blocking connect's outcome, once */
			s->connect_seen = 1;
			return 0;
		}
		return -EISCONN;
	case SS_CLOSED:
		if (s->err && !s->connect_seen) {
			long e = -s->err;
			s->err = 0;
			s->connect_seen = 1;
			return e;
		}
		return s->eof ? -EISCONN : -ECONNABORTED;
	case SS_CONNECTING:
		if (nonblock)
			return -EALREADY;
		break;
	case SS_NEW:
		if (!s->tcp)
			return -EINVAL;
		if (s->reuseaddr)
			ip_set_option(s->tcp, SOF_REUSEADDR);
		err_t e = tcp_connect(s->tcp, ip, port, on_connected);
		if (e != ERR_OK)
			return e == ERR_RTE ? -ENETUNREACH : err_to_errno(e);
		s->state = SS_CONNECTING;
		keep_addrs(s);
		net_pump(); /* the SYN on its way (over loopback: the whole handshake) */
		if (nonblock)
			return -EINPROGRESS;
		break;
	}
	uint64_t deadline = sock_deadline(s->sndtimeo);
	while (s->state == SS_CONNECTING) {
		long r = sock_wait(0, deadline);
		if (r == -EAGAIN)
			return -EINPROGRESS; /* SO_SNDTIMEO: as Linux */
		if (r)
			return r;
	}
	s->connect_seen = 1;
	if (s->state == SS_CLOSED) {
		long e = s->err ? -s->err : -ECONNREFUSED;
		s->err = 0;
		return e;
	}
	return 0;
}

long tcp_sock_send(struct sock *s, const struct uio *u, int flags, int nonblock)
{
	size_t n = uio_len(u), done = 0;
	uint64_t deadline = sock_deadline(s->sndtimeo);

	if (s->state == SS_NEW || s->state == SS_CONNECTING || s->state == SS_LISTENING)
		return s->state == SS_CONNECTING && nonblock ? -EAGAIN : -ENOTCONN;
	while (done < n || !n) {
		if (s->err) {
			long e = -s->err;
			s->err = 0;
			return done ? (long)done : e;
		}
		if (!s->tcp || s->shut_wr)
			return done ? (long)done : sock_broken(flags);
		if (!n)
			return 0;
		size_t room = tcp_sndbuf(s->tcp);
		if (tcp_sndqueuelen(s->tcp) >= TCP_SND_QUEUELEN - 4)
			room = 0;
		if (!room) {
			tcp_output(s->tcp);
			net_pump();
			if (s->tcp && tcp_sndbuf(s->tcp) && tcp_sndqueuelen(s->tcp) < TCP_SND_QUEUELEN - 4)
				continue;
			long r = sock_wait(nonblock, deadline);
			if (r)
				return done ? (long)done : r;
			continue;
		}
		size_t k;
		const void *src = uio_span(u, done, room < 0xffff ? room : 0xffff, &k);
		if (!src)
			return done ? (long)done : -EFAULT;
		u8_t wf = TCP_WRITE_FLAG_COPY;
		if (done + k < n || (flags & MSG_MORE))
			wf |= TCP_WRITE_FLAG_MORE;
		err_t e = tcp_write(s->tcp, src, (u16_t)k, wf); /* lwIP copies */
		if (e == ERR_MEM) { /* lwIP's heap: wait for acknowledgements to free some */
			tcp_output(s->tcp);
			net_pump();
			long r = sock_wait(nonblock, time_monotonic_ns() + 10000000ULL);
			if (r && r != -EAGAIN)
				return done ? (long)done : r;
			if (r && nonblock)
				return done ? (long)done : r;
			continue;
		}
		if (e != ERR_OK)
			return done ? (long)done : err_to_errno(e);
		done += k;
	}
	if (s->tcp && !(flags & MSG_MORE))
		tcp_output(s->tcp);
	net_pump();
	return (long)done;
}

/* Give back to lwIP's window what the application took. */
static void consumed(struct sock *s, size_t n)
{
	while (n) {
		u16_t k = n > 0xffff ? 0xffff : (u16_t)n;
		s->rx = pbuf_free_header(s->rx, k);
		s->rx_len -= k;
		if (s->tcp)
			tcp_recved(s->tcp, k);
		n -= k;
	}
}

long tcp_sock_recv(struct sock *s, const struct uio *u, int flags, int nonblock)
{
	size_t n = uio_len(u), done = 0;
	uint64_t deadline = sock_deadline(s->rcvtimeo);

	if (s->state == SS_NEW || s->state == SS_LISTENING || s->state == SS_CONNECTING)
		return s->state == SS_CONNECTING && nonblock ? -EAGAIN : -ENOTCONN;
	if (!n)
		return 0;
	for (;;) {
		while (s->rx_len && done < n) {
			size_t at = flags & MSG_PEEK ? done : 0;
			size_t k, most = s->rx_len - at < 0xffff ? s->rx_len - at : 0xffff;
			if (!most)
				break;
			void *dst = uio_span(u, done, most, &k);
			if (!dst)
				return done ? (long)done : -EFAULT;
			pbuf_copy_partial(s->rx, dst, (u16_t)k, (u16_t)at);
			done += k;
			if (!(flags & MSG_PEEK))
				consumed(s, k);
		}
		if (done && (done == n || !(flags & MSG_WAITALL) || (flags & MSG_PEEK)))
			break;
		if (s->eof || s->shut_rd)
			break;
		if (s->reset) {
			if (done)
				break;
			long e = s->err ? -s->err : 0;
			s->err = 0;
			return e;
		}
		long r = sock_wait(nonblock || (flags & MSG_DONTWAIT), deadline);
		if (r)
			return done ? (long)done : r;
	}
	if (done && s->tcp)
		net_pump(); /* the window update */
	return (long)done;
}

long tcp_sock_shutdown(struct sock *s, int how)
{
	if (how < SHUT_RD || how > SHUT_RDWR)
		return -EINVAL;
	if (s->state == SS_LISTENING) {
		/* Linux: shutdown of a listener stops it; accept says EINVAL */
		s->state = SS_CLOSED;
		sock_notify(s);
		return 0;
	}
	if (s->state != SS_CONNECTED && s->state != SS_CLOSED)
		return -ENOTCONN;
	if (how != SHUT_WR)
		s->shut_rd = 1;
	if (how != SHUT_RD && !s->shut_wr) {
		s->shut_wr = 1;
		if (s->tcp)
			tcp_shutdown(s->tcp, 0, 1);
	}
	sock_notify(s);
	net_pump();
	return 0;
}

unsigned tcp_sock_poll(struct sock *s)
{
	unsigned ev = 0;

	switch (s->state) {
	case SS_NEW:
		return POLLOUT | POLLWRNORM | POLLHUP;
	case SS_LISTENING:
		return s->acq ? POLLIN | POLLRDNORM : 0;
	case SS_CONNECTING:
		return 0;
	default:
		break;
	}
	if (s->rx_len || s->eof || s->shut_rd)
		ev |= POLLIN | POLLRDNORM;
	if (s->eof || s->shut_rd)
		ev |= POLLRDHUP;
	if (s->tcp && !s->shut_wr && tcp_sndbuf(s->tcp) >= TCP_MSS &&
	    tcp_sndqueuelen(s->tcp) < TCP_SND_QUEUELEN - 4)
		ev |= POLLOUT | POLLWRNORM;
	if (!s->tcp || s->shut_wr) {
		if (!s->tcp || s->eof)
			ev |= POLLHUP;
		ev |= POLLOUT | POLLWRNORM; /* a write says what went wrong at once */
	}
	if (s->reset)
		ev |= POLLIN | POLLRDNORM | POLLHUP;
	if (s->err)
		ev |= POLLERR;
	return ev;
}

static void drop_pcb(struct tcp_pcb *pcb, int abort)
{
	unhook(pcb);
	if (abort || tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
}

void tcp_sock_close(struct sock *s)
{
	while (s->acq) { /* connections never accepted: reset */
		struct sock *c = s->acq;
		s->acq = c->next;
		if (c->tcp)
			drop_pcb(c->tcp, 1);
		if (c->rx)
			pbuf_free(c->rx);
		sock_free(c);
	}
	if (s->tcp) /* unread data or SO_LINGER {1, 0}: a reset, as Linux sends */
		drop_pcb(s->tcp, (s->rx_len != 0 || (s->linger_on && !s->linger_secs)) &&
				 s->state != SS_LISTENING);
	s->tcp = 0;
	if (s->rx)
		pbuf_free(s->rx);
	s->rx = 0;
}
