/* The one wait of the kernel's own files, and poll/ppoll/select/pselect6 over it.
 * Waiters sit on one list and every poll_notify wakes them all to look again:
 * with one kernel lock and a handful of threads, a list per file would buy
 * nothing but its bookkeeping (1,000 sockets through one epoll still wake one
 * thread).  A waiter checks, queues itself and blocks without dropping the lock,
 * so no notify falls between its look and its sleep. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include <hermit/fd.h>
#include <hermit/poll.h>
#include <hermit/poll_host.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>


struct waiter {
	struct task *t;
	struct waiter *next;
};

static struct waiter *waiters;

void poll_notify(struct file *f)
{
	if (f)
		f->ev_seq++;
	for (struct waiter *w = waiters; w; w = w->next)
		sched_wake(w->t);
}

int poll_block(uint64_t deadline)
{
	uint64_t until = deadline;

	if (host_watch_active()) {
		until = host_watch_share(deadline);
		if (!until)
			return host_watch_wait(deadline); /* in the host, not on the list */
	}
	struct waiter me = { .t = current, .next = waiters };
	uint64_t d = net_wait_deadline(until);

	waiters = &me;
	int r = sched_block(d);
	for (struct waiter **p = &waiters; *p; p = &(*p)->next)
		if (*p == &me) {
			*p = me.next;
			break;
		}
	net_pump();
	host_watch_reask();
	if (r == -ETIMEDOUT && time_monotonic_ns() < deadline)
		r = 0; /* lwIP's timer or the host's slice, not the caller's deadline */
	return r;
}

long poll_wait(long (*look)(void *arg), void *arg, uint64_t deadline)
{
	struct host_watch hw;
	long r;

	host_watch_begin(&hw);
	net_pump();
	for (;;) {
		r = look(arg);
		if (!r && host_watch_look())
			continue; /* the host's answer for its files */
		if (r || time_monotonic_ns() >= deadline)
			break;
		if (poll_block(deadline) == -EINTR) {
			r = -EINTR;
			break;
		}
	}
	host_watch_end(&hw);
	return r;
}

unsigned file_poll(struct file *f)
{
	return file_poll_for(f, POLLIN | POLLOUT | POLLPRI);
}

unsigned file_poll_for(struct file *f, unsigned want)
{
	if (f->kind == FILE_HOST)
		return host_watch_poll(f, want);
	if (current->host_watch)
		current->host_watch->others = 1;
	return f->ops->poll ? f->ops->poll(f) : POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
}

#define POLL_MAX FD_MAX

/* One pass over the pollfds: how many have revents. */
static long poll_scan(struct pollfd *fds, unsigned long n)
{
	long ready = 0;

	for (unsigned long i = 0; i < n; i++) {
		volatile struct pollfd *p = &fds[i];
		int fd = p->fd;
		short ev = p->events, rev = 0;
		if (fd >= 0) {
			struct file *f = fd_file(fd);
			if (!f)
				rev = POLLNVAL;
			else
				rev = (short)(file_poll_for(f, (unsigned short)ev) &
					     ((unsigned short)ev | POLLERR | POLLHUP));
		}
		p->revents = rev;
		ready += rev != 0;
	}
	return ready;
}

struct poll_args {
	struct pollfd *fds;
	unsigned long n;
};

static long poll_look(void *arg)
{
	struct poll_args *a = arg;
	return poll_scan(a->fds, a->n);
}

/* A relative timeout as a deadline (monotonic ns); 0: none. */
static long ts_deadline(const struct timespec *ts, uint64_t *deadline)
{
	*deadline = NO_DEADLINE;
	if (!ts)
		return 0;
	if (!user_ok((uint64_t)ts, sizeof(*ts)))
		return -EFAULT;
	struct timespec t = *(const volatile struct timespec *)ts;
	if (t.tv_sec < 0 || t.tv_nsec < 0 || t.tv_nsec >= 1000000000L)
		return -EINVAL;
	*deadline = time_monotonic_ns() + (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
	return 0;
}

/* The signal mask of ppoll/pselect6 for the wait; the old one back afterwards
 * (a signal it let through is delivered on the way out, under the wait's mask
 * already restored: the handler runs, the call says EINTR). */
long poll_mask_swap(const uint64_t *set, uint64_t *old)
{
	*old = current->sigmask;
	if (!set)
		return 0;
	if (!user_ok((uint64_t)set, sizeof(*set)))
		return -EFAULT;
	current->sigmask = *(const volatile uint64_t *)set & ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
	return 0;
}

static long do_poll(struct pollfd *fds, unsigned long n, uint64_t deadline, const uint64_t *set)
{
	uint64_t old;

	if (n > POLL_MAX)
		return -EINVAL;
	if (!user_ok((uint64_t)fds, n * sizeof(*fds)))
		return -EFAULT;
	long r = poll_mask_swap(set, &old);
	if (r)
		return r;
	struct poll_args a = { fds, n };
	r = poll_wait(poll_look, &a, deadline);
	current->sigmask = old;
	return r;
}

long sys_poll(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int ms = (int)a2;
	uint64_t deadline = ms < 0 ? NO_DEADLINE : time_monotonic_ns() + (uint64_t)ms * 1000000ULL;
	return do_poll((struct pollfd *)a0, (unsigned long)a1, deadline, 0);
}

long sys_ppoll(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t deadline;
	long r = ts_deadline((const struct timespec *)a2, &deadline);

	if (r)
		return r;
	if (a3 && (uint64_t)a4 != sizeof(uint64_t))
		return -EINVAL;
	return do_poll((struct pollfd *)a0, (unsigned long)a1, deadline, (const uint64_t *)a3);
}

/* select's three sets, read once into kernel copies and written back at the end. */
struct fdsets {
	uint64_t in[FD_MAX / 64], out[FD_MAX / 64], ex[FD_MAX / 64];
};

static long select_scan(int n, const struct fdsets *want, struct fdsets *got)
{
	long ready = 0;

	*got = (struct fdsets){ 0 };
	for (int fd = 0; fd < n; fd++) {
		uint64_t bit = 1ULL << (fd % 64);
		int w = fd / 64;
		if (!((want->in[w] | want->out[w] | want->ex[w]) & bit))
			continue;
		struct file *f = fd_file(fd);
		if (!f)
			return -EBADF;
		unsigned ev = file_poll_for(f, ((want->in[w] & bit) ? POLLIN : 0) |
					       ((want->out[w] & bit) ? POLLOUT : 0) |
					       ((want->ex[w] & bit) ? POLLPRI : 0));
		if ((want->in[w] & bit) && (ev & (POLLIN | POLLHUP | POLLERR)))
			got->in[w] |= bit, ready++;
		if ((want->out[w] & bit) && (ev & (POLLOUT | POLLERR)))
			got->out[w] |= bit, ready++;
		if ((want->ex[w] & bit) && (ev & POLLPRI))
			got->ex[w] |= bit, ready++;
	}
	return ready;
}

struct select_args {
	int n;
	const struct fdsets *want;
	struct fdsets *got;
};

static long select_look(void *arg)
{
	struct select_args *a = arg;
	return select_scan(a->n, a->want, a->got);
}

static long copy_set(uint64_t *dst, uint64_t user, size_t bytes, int in)
{
	if (!user)
		return 0;
	if (!user_ok(user, bytes))
		return -EFAULT;
	if (in)
		memcpy(dst, (const void *)user, bytes);
	else
		memcpy((void *)user, dst, bytes);
	return 0;
}

/* The sets live on the kernel stack (3 KiB with FD_MAX 4096): the thread may
 * block, so nothing per-cpu would do. */
static long do_select(int n, uint64_t rd, uint64_t wr, uint64_t ex, uint64_t deadline,
		      const uint64_t *set)
{
	struct fdsets want = { 0 }, got;

	if (n < 0)
		return -EINVAL;
	if (n > FD_MAX)
		n = FD_MAX;
	size_t bytes = (size_t)(n + 63) / 64 * 8;
	if (copy_set(want.in, rd, bytes, 1) || copy_set(want.out, wr, bytes, 1) ||
	    copy_set(want.ex, ex, bytes, 1))
		return -EFAULT;
	uint64_t old;
	long r = poll_mask_swap(set, &old);
	if (r)
		return r;
	struct select_args a = { n, &want, &got };
	r = poll_wait(select_look, &a, deadline);
	current->sigmask = old;
	if (r >= 0 && (copy_set(got.in, rd, bytes, 0) || copy_set(got.out, wr, bytes, 0) ||
		       copy_set(got.ex, ex, bytes, 0)))
		return -EFAULT;
	return r;
}

long sys_select(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t deadline = NO_DEADLINE;
	struct timeval *tv = (struct timeval *)a4;

	if (tv) {
		if (!user_ok((uint64_t)tv, sizeof(*tv)))
			return -EFAULT;
		struct timeval t = *(volatile struct timeval *)tv;
		if (t.tv_sec < 0 || t.tv_usec < 0 || t.tv_usec >= 1000000)
			return -EINVAL;
		deadline = time_monotonic_ns() + (uint64_t)t.tv_sec * 1000000000ULL +
			   (uint64_t)t.tv_usec * 1000ULL;
	}
	long r = do_select((int)a0, (uint64_t)a1, (uint64_t)a2, (uint64_t)a3, deadline, 0);
	if (tv && r >= 0) { /* Linux writes back the time left */
		uint64_t now = time_monotonic_ns(), left = now < deadline ? deadline - now : 0;
		tv->tv_sec = (long)(left / 1000000000ULL);
		tv->tv_usec = (long)(left % 1000000000ULL / 1000);
	}
	return r;
}

/* pselect6's sixth argument: { const sigset_t *set; size_t size; } */
long sys_pselect6(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t deadline;
	const uint64_t *set = 0;
	long r = ts_deadline((const struct timespec *)a4, &deadline);

	if (r)
		return r;
	if (a5) {
		if (!user_ok((uint64_t)a5, 16))
			return -EFAULT;
		const volatile uint64_t *p = (const volatile uint64_t *)a5;
		set = (const uint64_t *)p[0];
		if (set && p[1] != sizeof(uint64_t))
			return -EINVAL;
	}
	return do_select((int)a0, (uint64_t)a1, (uint64_t)a2, (uint64_t)a3, deadline, set);
}
