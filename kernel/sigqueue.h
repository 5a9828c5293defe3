/* kernel/sigqueue.c: the siginfo of pending signals (shared by kernel/signal*.c). */
#ifndef KERNEL_SIGQUEUE_H
#define KERNEL_SIGQUEUE_H

#include <signal.h>
#include <stdint.h>

struct task;

struct ksig {
	struct ksig *next;
	int sig, code, err;
	uint64_t first; /* si_pid and si_uid, or si_timerid and si_overrun */
	uint64_t value; /* si_value */
};

/* Queue sig for t (0: the process), whose pending bits are *pending: 0 or -EAGAIN. */
long sigq_post(struct task *t, uint64_t *pending, int sig, const struct ksig *info);
/* Take sig's oldest entry (clearing its bit once none is left) into *out. */
void sigq_take(struct task *t, uint64_t *pending, int sig, struct ksig *out);
void sigq_fill(siginfo_t *si, const struct ksig *k);
void sigq_from_user(struct ksig *k, const siginfo_t *si);
void sigq_drop(struct task *t);

#endif
