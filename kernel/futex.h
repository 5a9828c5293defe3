/* What the futex files share: the wait queues and Linux's futex numbers. */
#ifndef KERNEL_FUTEX_H
#define KERNEL_FUTEX_H

#include <stdint.h>
#include <time.h>

#include <hermit/task.h>

/* Linux's futex operations (musl has no <linux/futex.h>). */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_FD 2
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_TRYLOCK_PI 8
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_CMP_REQUEUE_PI 12
#define FUTEX_LOCK_PI2 13
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_CMD_MASK (~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME))

/* The futex word of a PI or robust lock */
#define FUTEX_WAITERS 0x80000000u
#define FUTEX_OWNER_DIED 0x40000000u
#define FUTEX_TID_MASK 0x3fffffffu

/* kernel/futex.c: the queues, keyed by address; bitset 0 marks a PI waiter */
void futex_enqueue(struct task *t, uint64_t *addr, uint32_t bitset);
struct task *futex_first_waiter(uint64_t *addr, int pi, struct task *after);
void futex_dequeue(struct task *t);
long futex_deadline(int realtime, int absolute, const struct timespec *ts, uint64_t *out);
int futex_word_ok(uint64_t *addr); /* aligned guest memory the kernel may touch */

/* kernel/futex_pi.c */
long futex_pi(int op, uint64_t *addr, uint32_t val, const struct timespec *ts,
	      uint64_t *addr2, uint32_t val3, int realtime);
void futex_pi_owner_died(uint64_t *addr, uint32_t word); /* kernel/robust.c */

#endif
