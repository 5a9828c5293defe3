/* One wait mechanism for every kind of file (kernel/poll.c): a file's readiness
 * is its file_ops->poll; whoever changes it calls poll_notify(f), which wakes
 * every thread waiting in poll_block() to look again.  poll, select, epoll and
 * the blocking calls of pipes, eventfds and sockets all wait this way, so one
 * wake-up rule serves them all.  Everything runs under the kernel lock. */
#ifndef HERMIT_POLL_H
#define HERMIT_POLL_H

#include <stdint.h>

struct file;

/* f's readiness may have changed (f may be 0: something else did, e.g. lwIP's
 * timers): f->ev_seq moves on and every waiter looks again. */
void poll_notify(struct file *f);
/* Wait for a poll_notify, the deadline (-ETIMEDOUT) or a signal (-EINTR); 0. */
int poll_block(uint64_t deadline);
/* The wait of poll, select and epoll: look(arg) until it finds something ready
 * (its count), the deadline passes (0) or a signal comes (-EINTR), the host's
 * files watched meanwhile and the network pumped. */
long poll_wait(long (*look)(void *arg), void *arg, uint64_t deadline);
/* ppoll/pselect6/epoll_pwait's mask (set: user memory, or 0 for none) for the
 * wait; the caller puts *old back afterwards.  -EFAULT for a bad set. */
long poll_mask_swap(const uint64_t *set, uint64_t *old);
/* f's POLL* bits now (a file without a poll op: POLLIN | POLLOUT). */
unsigned file_poll(struct file *f);
/* The same for a wait that wants `want` (POLL* bits): a host file is watched for
 * those only (a terminal is always writable: a wait for input must not see that). */
unsigned file_poll_for(struct file *f, unsigned want);

/* kernel/epoll.c: f's last reference went; no epoll instance watches it any more */
void epoll_forget(struct file *f);

/* The network stack's part of a wait (net/, or net/none.c without it): process
 * what arrived and what is due, and the deadline capped by lwIP's next timer. */
void net_pump(void);
uint64_t net_wait_deadline(uint64_t deadline);
/* The stack's work that nobody's wait would do (a guest that only computes): when
 * lwIP's next timer is due or, with a NIC, at least every few milliseconds, while
 * a NIC or TCP state that needs timers exists; NO_DEADLINE otherwise, so an idle
 * guest without them pays nothing.  The scheduler's timer path runs it
 * (kernel/sched.c: on the way back to the application, and in the idle loop). */
extern uint64_t net_background_due;
void net_background(void);
/* Frames wait in the NIC (a look without the kernel lock): an idle cpu stops
 * spinning and net_background() takes them at once, instead of at its next 1 ms
 * poll, where no interrupt says they came (kvm_pvm). */
int net_rx_pending(void);
/* An idle cpu about to sleep in the loader (HC_IDLE): 1 when frames wait (do not
 * sleep), else 0 with the NIC asked to end the sleep at its next frame. */
int net_idle_arm(void);

#endif
