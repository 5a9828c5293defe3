/* setsockopt/getsockopt of IPv4 sockets: the options servers set (Linux's
 * values and errors; buffer sizes are kept and reported doubled, as Linux does,
 * though lwIP's window stays its own). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <hermit/fd.h>
#include <hermit/kernel.h>

#include "sock.h"

static void *pcb_of(struct sock *s)
{
	return s->type == SOCK_STREAM ? (void *)s->tcp : (void *)s->udp;
}

static void set_sof(struct sock *s, u8_t opt, int on)
{
	struct tcp_pcb *t = s->tcp;
	struct udp_pcb *u = s->udp;

	if (t && on)
		ip_set_option(t, opt);
	else if (t)
		ip_reset_option(t, opt);
	if (u && on)
		ip_set_option(u, opt);
	else if (u)
		ip_reset_option(u, opt);
}

static long set_time(uint64_t *out, uint64_t val, uint64_t len)
{
	if (len < sizeof(struct timeval))
		return -EINVAL;
	struct timeval tv = *(const volatile struct timeval *)val;
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	*out = tv.tv_sec < 0 ? 0 : (uint64_t)tv.tv_sec * 1000000000ULL + (uint64_t)tv.tv_usec * 1000ULL;
	return 0;
}

long sock_setsockopt(struct sock *s, int level, int name, uint64_t val, uint64_t len)
{
	if (!user_ok(val, len))
		return -EFAULT;
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO))
		return set_time(name == SO_RCVTIMEO ? &s->rcvtimeo : &s->sndtimeo, val, len);
	if (level == SOL_SOCKET && name == SO_LINGER) { /* close never waits here */
		if (len < sizeof(struct linger))
			return -EINVAL;
		struct linger l = *(const volatile struct linger *)val;
		s->linger_on = !!l.l_onoff;
		s->linger_secs = l.l_linger < 0 ? 0 : l.l_linger;
		return 0;
	}
	if (len < sizeof(int))
		return -EINVAL;
	int v = *(const volatile int *)val;
	struct tcp_pcb *t = s->tcp;
	switch (level) {
	case SOL_SOCKET:
		switch (name) {
		case SO_REUSEADDR:
		case SO_REUSEPORT: /* lwIP's SO_REUSE: one flag for both */
			s->reuseaddr = !!v;
			set_sof(s, SOF_REUSEADDR, !!v);
			return 0;
		case SO_KEEPALIVE:
			s->keepalive = !!v;
			set_sof(s, SOF_KEEPALIVE, !!v);
			return 0;
		case SO_BROADCAST:
			s->broadcast = !!v;
			set_sof(s, SOF_BROADCAST, !!v);
			return 0;
		case SO_RCVBUF:
		case SO_SNDBUF: {
			int b = v < 1152 ? 2304 : v > 0x3fffffff ? 0x7ffffffe : 2 * v;
			*(name == SO_RCVBUF ? &s->rcvbuf : &s->sndbuf) = b;
			return 0;
		}
		case SO_OOBINLINE:
		case SO_PRIORITY:
		case SO_DONTROUTE:
			return 0;
		default:
			return -ENOPROTOOPT;
		}
	case IPPROTO_TCP:
		if (s->type != SOCK_STREAM)
			return -ENOPROTOOPT;
		switch (name) {
		case TCP_NODELAY:
			s->nodelay = !!v;
			if (t && t->state != LISTEN && v)
				tcp_nagle_disable(t);
			else if (t && t->state != LISTEN)
				tcp_nagle_enable(t);
			return 0;
		case TCP_KEEPIDLE:
		case TCP_KEEPINTVL:
		case TCP_KEEPCNT:
			if (v < 1 || v > 32767)
				return -EINVAL;
			if (t && t->state != LISTEN) {
				if (name == TCP_KEEPIDLE)
					t->keep_idle = (u32_t)v * 1000;
				else if (name == TCP_KEEPINTVL)
					t->keep_intvl = (u32_t)v * 1000;
				else
					t->keep_cnt = (u32_t)v;
			}
			return 0;
		case TCP_QUICKACK:
		case TCP_CORK:
			return 0;
		default:
			return -ENOPROTOOPT;
		}
	case IPPROTO_IP:
		switch (name) {
		case IP_TOS:
		case IP_TTL:
			if (name == IP_TTL && (v < -1 || v == 0 || v > 255))
				return -EINVAL;
			if (pcb_of(s)) {
				struct ip_pcb *ip = pcb_of(s); /* IP_PCB's fields come first in both */
				if (name == IP_TOS)
					ip->tos = (u8_t)v;
				else
					ip->ttl = (u8_t)(v < 0 ? 255 : v);
			}
			return 0;
		default:
			return -ENOPROTOOPT;
		}
	default:
		return -ENOPROTOOPT;
	}
}

static long get_int(int level, int name, struct sock *s, int *out)
{
	struct tcp_pcb *t = s->tcp;

	switch (level) {
	case SOL_SOCKET:
		switch (name) {
		case SO_REUSEADDR: case SO_REUSEPORT: *out = s->reuseaddr; return 0;
		case SO_KEEPALIVE: *out = s->keepalive; return 0;
		case SO_BROADCAST: *out = s->broadcast; return 0;
		case SO_RCVBUF: *out = s->rcvbuf; return 0;
		case SO_SNDBUF: *out = s->sndbuf; return 0;
		case SO_TYPE: *out = s->type; return 0;
		case SO_DOMAIN: *out = AF_INET; return 0;
		case SO_PROTOCOL: *out = s->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP; return 0;
		case SO_ACCEPTCONN: *out = s->state == SS_LISTENING; return 0;
		case SO_ERROR: *out = s->err; s->err = 0; return 0;
		default: return -ENOPROTOOPT;
		}
	case IPPROTO_TCP:
		if (s->type != SOCK_STREAM)
			return -ENOPROTOOPT;
		switch (name) {
		case TCP_NODELAY: *out = s->nodelay; return 0;
		case TCP_MAXSEG: *out = t && t->state != LISTEN ? t->mss : TCP_MSS; return 0;
		case TCP_KEEPIDLE: *out = t && t->state != LISTEN ? (int)(t->keep_idle / 1000) : 7200; return 0;
		case TCP_KEEPINTVL: *out = t && t->state != LISTEN ? (int)(t->keep_intvl / 1000) : 75; return 0;
		case TCP_KEEPCNT: *out = t && t->state != LISTEN ? (int)t->keep_cnt : 9; return 0;
		default: return -ENOPROTOOPT;
		}
	case IPPROTO_IP:
		if (name == IP_TOS || name == IP_TTL) {
			struct ip_pcb *ip = pcb_of(s);
			*out = !ip ? (name == IP_TTL ? 64 : 0) : name == IP_TOS ? ip->tos : ip->ttl;
			return 0;
		}
		return -ENOPROTOOPT;
	default:
		return -ENOPROTOOPT;
	}
}

long sock_getsockopt(struct sock *s, int level, int name, uint64_t val, uint64_t lenp)
{
	if (!user_ok(lenp, sizeof(socklen_t)))
		return -EFAULT;
	int len = *(volatile int *)lenp;
	if (len < 0)
		return -EINVAL;
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO || name == SO_LINGER)) {
		uint64_t ns = name == SO_RCVTIMEO ? s->rcvtimeo : s->sndtimeo;
		union { struct timeval tv; struct linger l; } u = { 0 };
		size_t n = sizeof(struct timeval);
		if (name == SO_LINGER) {
			n = sizeof(struct linger);
			u.l = (struct linger){ s->linger_on, s->linger_secs };
		}
		else
			u.tv = (struct timeval){ (long)(ns / 1000000000ULL), (long)(ns % 1000000000ULL / 1000) };
		if ((size_t)len > n)
			len = (int)n;
		if (!user_ok(val, (uint64_t)len))
			return -EFAULT;
		memcpy((void *)val, &u, (size_t)len);
		*(socklen_t *)lenp = (socklen_t)len;
		return 0;
	}
	int v;
	long r = get_int(level, name, s, &v);
	if (r)
		return r;
	if (len > (int)sizeof(v))
		len = sizeof(v);
	if (!user_ok(val, (uint64_t)len))
		return -EFAULT;
	memcpy((void *)val, &v, (size_t)len);
	*(socklen_t *)lenp = (socklen_t)len;
	return 0;
}
