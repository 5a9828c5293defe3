/* epoll over the one wait of kernel/poll.c: an instance is an interest list in
 * pages of its own, scanned at each look (from where the last look stopped, so
 * a busy fd does not starve the rest).  Edge-triggered items report when the
 * file was notified since the item last reported (struct file.ev_seq), one-shot
 * items until they report.  An item goes when its file's last reference does
 * (epoll_forget), as on Linux, where closing every fd of a file removes it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include <hermit/fd.h>
#include <hermit/poll.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

struct item {
	int fd;
	uint32_t events;   /* EPOLLIN ... and EPOLLET, EPOLLONESHOT */
	struct file *f;
	uint64_t data;
	uint32_t seen;     /* f->ev_seq when it last reported (EPOLLET) */
	int disarmed;      /* EPOLLONESHOT reported, until EPOLL_CTL_MOD */
};

struct epoll {
	struct epoll *next;  /* every instance, for epoll_forget */
	struct file *self;
	uint64_t pages;
	uint32_t n, cap, start;
	struct item items[];
};

static struct epoll *instances;

#define USER_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLERR | EPOLLHUP | \
		     EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND)

static struct epoll *ep_alloc(uint64_t pages)
{
	uint64_t a = page_alloc(pages, 0);
	if (!a)
		return 0;
	struct epoll *e = (struct epoll *)a;
	*e = (struct epoll){ .pages = pages }; /* the pages are not cleared: the items need not be */
	e->cap = (uint32_t)((pages * PAGE_SIZE - sizeof(*e)) / sizeof(struct item));
	return e;
}

static void unlink_instance(struct epoll *e)
{
	for (struct epoll **p = &instances; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			return;
		}
}

static struct item *find(struct epoll *e, int fd, struct file *f)
{
	for (uint32_t i = 0; i < e->n; i++)
		if (e->items[i].fd == fd && e->items[i].f == f)
			return &e->items[i];
	return 0;
}

static void drop(struct epoll *e, struct item *it)
{
	*it = e->items[--e->n];
	if (e->start >= e->n)
		e->start = 0;
}

void epoll_forget(struct file *f)
{
	for (struct epoll *e = instances; e; e = e->next)
		for (uint32_t i = 0; i < e->n;)
			if (e->items[i].f == f)
				drop(e, &e->items[i]);
			else
				i++;
}

/* What an item would report now (0: nothing). */
static uint32_t item_events(const struct item *it)
{
	if (it->disarmed)
		return 0;
	uint32_t ev = file_poll_for(it->f, it->events & USER_EVENTS) &
		      ((it->events & USER_EVENTS) | EPOLLERR | EPOLLHUP);
	if (ev && (it->events & EPOLLET) && it->seen == it->f->ev_seq)
		return 0;
	return ev;
}

static int scan(struct epoll *e, struct epoll_event *out, int max)
{
	int got = 0;

	for (uint32_t k = 0; k < e->n && got < max; k++) {
		uint32_t i = (e->start + k) % e->n;
		struct item *it = &e->items[i];
		uint32_t ev = item_events(it);
		if (!ev)
			continue;
		out[got].events = ev;
		out[got].data.u64 = it->data;
		got++;
		it->seen = it->f->ev_seq;
		if (it->events & EPOLLONESHOT)
			it->disarmed = 1;
		if (got == max)
			e->start = (i + 1) % e->n;
	}
	return got;
}

struct wait_args {
	struct epoll *e;
	struct epoll_event *out;
	int max;
};

static long look(void *arg)
{
	struct wait_args *w = arg;
	return scan(w->e, w->out, w->max);
}

static unsigned ep_poll(struct file *f)
{
	struct epoll *e = f->obj;

	for (uint32_t i = 0; i < e->n; i++)
		if (e->items[i].f != f && item_events(&e->items[i]))
			return POLLIN | POLLRDNORM;
	return 0;
}

static long ep_release(struct file *f)
{
	struct epoll *e = f->obj;

	unlink_instance(e);
	page_free((uint64_t)e, e->pages);
	return 0;
}

static void ep_fstat(struct file *f, struct stat *st)
{
	(void)f;
	memset(st, 0, sizeof(*st));
	st->st_mode = 0600;
	st->st_nlink = 1;
}

static const struct file_ops ep_ops = { .release = ep_release, .poll = ep_poll, .fstat = ep_fstat };

long sys_epoll_create1(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a0 & ~EPOLL_CLOEXEC)
		return -EINVAL;
	struct epoll *e = ep_alloc(1);
	if (!e)
		return -ENOMEM;
	struct file *f = file_alloc(FILE_EPOLL, &ep_ops, O_RDWR);
	if (!f) {
		page_free((uint64_t)e, e->pages);
		return -ENFILE;
	}
	f->obj = e;
	e->self = f;
	e->next = instances;
	instances = e;
	long fd = fd_install(f, a0 & EPOLL_CLOEXEC);
	if (fd < 0)
		file_put(f);
	return fd;
}

long sys_epoll_create(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return a0 <= 0 ? -EINVAL : sys_epoll_create1(0, 0, 0, 0, 0, 0);
}

static struct epoll *grow(struct file *ef)
{
	struct epoll *old = ef->obj, *e = ep_alloc(old->pages * 2);
	if (!e)
		return 0;
	e->next = old->next;
	e->self = old->self;
	e->n = old->n;
	e->start = old->start;
	memcpy(e->items, old->items, old->n * sizeof(struct item));
	for (struct epoll **p = &instances; *p; p = &(*p)->next)
		if (*p == old) {
			*p = e;
			break;
		}
	page_free((uint64_t)old, old->pages);
	ef->obj = e;
	return e;
}

long sys_epoll_ctl(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct file *ef = fd_file((int)a0), *f = fd_file((int)a2);
	int op = (int)a1, fd = (int)a2;
	struct epoll_event ev = { 0 };

	if (!ef || !f)
		return -EBADF;
	if (ef->kind != FILE_EPOLL || ef == f)
		return -EINVAL;
	if (op != EPOLL_CTL_DEL) {
		if (!user_ok((uint64_t)a3, sizeof(ev)))
			return -EFAULT;
		memcpy(&ev, (const void *)a3, sizeof(ev));
	}
	/* host files and devices are always ready (Linux refuses regular files with
	 * EPERM, but stdin, a terminal or a pipe there, is a host file here) */
	struct epoll *e = ef->obj;
	struct item *it = find(e, fd, f);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (it)
			return -EEXIST;
		if (e->n == e->cap && !(e = grow(ef)))
			return -ENOMEM;
		e->items[e->n++] = (struct item){ .fd = fd, .f = f, .events = ev.events,
						  .data = ev.data.u64, .seen = f->ev_seq - 1 };
		return 0;
	case EPOLL_CTL_MOD:
		if (!it)
			return -ENOENT;
		it->events = ev.events;
		it->data = ev.data.u64;
		it->disarmed = 0;
		it->seen = f->ev_seq - 1;
		return 0;
	case EPOLL_CTL_DEL:
		if (!it)
			return -ENOENT;
		drop(e, it);
		return 0;
	default:
		return -EINVAL;
	}
}

long sys_epoll_pwait(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct file *ef = fd_file((int)a0);
	struct epoll_event *out = (struct epoll_event *)a1;
	int max = (int)a2, ms = (int)a3;
	uint64_t old;

	if (!ef)
		return -EBADF;
	if (ef->kind != FILE_EPOLL || max <= 0 || max > 0x7fffffff / (int)sizeof(*out))
		return -EINVAL;
	if (!user_ok((uint64_t)out, (uint64_t)max * sizeof(*out)))
		return -EFAULT;
	if (a4 && (uint64_t)a5 != sizeof(uint64_t))
		return -EINVAL;
	long r = poll_mask_swap((const uint64_t *)a4, &old);
	if (r)
		return r;
	uint64_t deadline = ms < 0 ? NO_DEADLINE : time_monotonic_ns() + (uint64_t)ms * 1000000ULL;
	struct wait_args w = { ef->obj, out, max };
	file_get(ef); /* a close meanwhile leaves the instance until we are done */
	r = poll_wait(look, &w, deadline);
	file_put(ef);
	current->sigmask = old;
	return r;
}

long sys_epoll_wait(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return sys_epoll_pwait(a0, a1, a2, a3, 0, 0);
}
