/* poll, select and epoll on host files (include/hermit/poll_host.h): readiness is
 * the host's, asked with a forwarded poll (spec.py FORWARDED "poll") on a pollfd
 * array of handles in the kernel's memory.  The loader polls the host fds without
 * its service lock and the kernel's lock is released meanwhile (host_call), so a
 * thread waiting for stdin stops nobody, and HERMIT_TIMEOUT ends it as it ends a
 * blocking read.  Kernel files cannot end a wait in the host: with both kinds the
 * host is asked in slices of HOST_SLICE_NS, so a pipe or socket is seen within it.
 * A thread waiting in the host keeps its cpu: while others wait for that cpu, the
 * wait is the kernel's for a slice at a time instead, and the host is asked after. */
#include <errno.h>
#include <poll.h>
#include <sys/syscall.h>

#include <hermit/arch.h>
#include <hermit/fd.h>
#include <hermit/poll.h>
#include <hermit/poll_host.h>
#include <hermit/task.h>

#define HOST_SLICE_NS 10000000ULL      /* with kernel files watched too */
#define HOST_ALONE_NS 200000000ULL     /* only host files: a signal waits at most this */
#define HOST_EVENTS (POLLIN | POLLPRI | POLLOUT)

void host_watch_begin(struct host_watch *w)
{
	w->n = 0;
	w->asked = w->others = 0;
	current->host_watch = w;
}

void host_watch_end(struct host_watch *w)
{
	current->host_watch = 0;
	while (w->n)
		file_put(w->f[--w->n]);
}

int host_watch_active(void)
{
	struct host_watch *w = current->host_watch;
	return w && w->n;
}

unsigned host_watch_poll(struct file *f, unsigned want)
{
	struct host_watch *w = current->host_watch;
	unsigned i;

	if (!w)
		return POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
	for (i = 0; i < w->n; i++)
		if (w->f[i] == f)
			break;
	if (i == w->n) {
		if (i == HOST_WATCH_MAX)
			return POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
		file_get(f); /* a close by another thread meanwhile keeps the handle */
		w->f[i] = f;
		w->p[i] = (struct pollfd){ .fd = (int)f->handle };
		w->n++;
	}
	want &= HOST_EVENTS;
	if (want & ~(unsigned)w->p[i].events) {
		w->p[i].events = (short)(w->p[i].events | want);
		w->asked = 0;
	}
	unsigned r = (unsigned short)w->p[i].revents;
	if (r & POLLIN)
		r |= POLLRDNORM;
	if (r & POLLOUT)
		r |= POLLWRNORM;
	return r;
}

/* One forwarded poll of every watched handle; its answers into revents. */
static long ask(int timeout_ms)
{
	struct host_watch *w = current->host_watch;
	int was[HOST_WATCH_MAX]; /* ready at the last answer */

	for (unsigned i = 0; i < w->n; i++) {
		was[i] = w->p[i].revents != 0;
		w->p[i].revents = 0;
	}
	long a[6] = { (long)w->p, (long)w->n, timeout_ms };
	long r = host_call(SYS_poll, a, 0);
	w->asked = 1;
	if (r < 0) { /* the loader could not look: ready, as before this wait existed */
		for (unsigned i = 0; i < w->n; i++)
			w->p[i].revents = POLLIN | POLLOUT;
		return r;
	}
	for (unsigned i = 0; i < w->n; i++)
		if (w->p[i].revents && !was[i])
			w->f[i]->ev_seq++; /* an edge for edge-triggered epoll */
	return r;
}

int host_watch_look(void)
{
	struct host_watch *w = current->host_watch;

	if (!w || !w->n || w->asked)
		return 0;
	ask(0);
	return 1;
}

int host_watch_wait(uint64_t deadline)
{
	struct host_watch *w = current->host_watch;
	uint64_t now = time_monotonic_ns();

	if ((current->sigpending | signal_process_pending()) & ~current->sigmask)
		return -EINTR;
	if (now >= deadline)
		return -ETIMEDOUT;
	uint64_t slice = w->others ? HOST_SLICE_NS : HOST_ALONE_NS;
	uint64_t until = net_wait_deadline(deadline - now < slice ? deadline : now + slice);
	uint64_t ms = until > now ? (until - now + 999999) / 1000000 : 0;
	ask((int)ms);
	net_pump();
	if ((current->sigpending | signal_process_pending()) & ~current->sigmask)
		return -EINTR;
	return time_monotonic_ns() >= deadline ? -ETIMEDOUT : 0;
}

uint64_t host_watch_share(uint64_t deadline)
{
	/* Only where a timer or the loader's events preempt: elsewhere (QEMU on
	 * kvm_pvm) a computing thread would keep the cpu and this wait would never
	 * look at the host again. */
	if (!host_watch_active() || !this_cpu()->rq.head ||
	    !(arch_timer_available() || boot_info->loader_events))
		return 0;
	uint64_t slice = time_monotonic_ns() + HOST_SLICE_NS;
	return slice < deadline ? slice : deadline;
}

void host_watch_reask(void)
{
	if (host_watch_active())
		ask(0);
}
