/* Waiting for host files (stdin, stdout, whatever the loader's file service
 * opened) in poll, select and epoll (kernel/poll_host.c).  A wait that meets host
 * files lists them as it scans; before it gives up or sleeps it asks the loader
 * (a forwarded poll on their handles), and while it waits it waits in the host
 * (the kernel lock released, as a blocking read does) instead of on the kernel's
 * waiter list: for as long as the caller allows when only host files are
 * watched, in short slices when kernel files are watched as well. */
#ifndef HERMIT_POLL_HOST_H
#define HERMIT_POLL_HOST_H

#include <poll.h>
#include <stdint.h>

#define HOST_WATCH_MAX 64 /* host files one wait watches; beyond: always ready */

struct file;

struct host_watch {
	unsigned n;
	int asked;  /* the loader answered since the list last grew */
	int others; /* kernel files are watched too: wait for the host in slices */
	struct file *f[HOST_WATCH_MAX];
	struct pollfd p[HOST_WATCH_MAX]; /* fd: the handle; revents: the last answer */
};

/* Around a wait: the current thread's list (one per wait, on its stack). */
void host_watch_begin(struct host_watch *w);
void host_watch_end(struct host_watch *w);
/* file_poll_for() of a host file: its last answer in the current wait (0 until
 * asked); `want` joins what the host is asked to watch it for. */
unsigned host_watch_poll(struct file *f, unsigned want);
/* Ask the loader now, once the list changed: 1 when it answered (scan again). */
int host_watch_look(void);
/* poll_block()'s wait when host files are watched: 0, -ETIMEDOUT or -EINTR. */
int host_watch_wait(uint64_t deadline);
/* Others wait for this cpu: the end of a slice to wait among the kernel's waiters
 * instead, then host_watch_reask(); 0: wait in the host. */
uint64_t host_watch_share(uint64_t deadline);
void host_watch_reask(void);
/* Is the current thread watching host files? */
int host_watch_active(void);

#endif
