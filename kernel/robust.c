/* Robust futexes: each thread registers the head of its list of held robust locks
 * (set_robust_list); when it exits, the kernel marks every lock it still holds
 * FUTEX_OWNER_DIED and wakes a waiter, which then gets EOWNERDEAD from the C
 * library.  musl walks the list itself in pthread_exit; this is for threads that end
 * any other way (SYS_exit).  The list is the application's memory: every pointer is
 * checked, and the walk stops at a bad one or after ROBUST_LIMIT entries (Linux's). */
#include <errno.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>

#include "futex.h"

#define ROBUST_LIMIT 2048

struct robust_list_head {
	uint64_t next;         /* the first entry; the head itself when empty */
	int64_t futex_offset;  /* from an entry to its lock's futex word */
	uint64_t pending;      /* the entry being locked or unlocked */
};

long sys_set_robust_list(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a1 != sizeof(struct robust_list_head))
		return -EINVAL;
	current->robust_head = (uint64_t)a0;
	return 0;
}

long sys_get_robust_list(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = a0 ? task_by_tid((uint64_t)a0) : current;

	if (!t)
		return -ESRCH;
	if (!user_ok((uint64_t)a1, 8) || !user_ok((uint64_t)a2, 8))
		return -EFAULT;
	*(uint64_t *)a1 = t->robust_head;
	*(uint64_t *)a2 = sizeof(struct robust_list_head);
	return 0;
}

static int read_u64(uint64_t addr, uint64_t *out)
{
	if ((addr & 7) || !user_ok(addr, 8))
		return 0;
	*out = *(volatile uint64_t *)addr;
	return 1;
}

/* The lock whose futex word is at addr was held by t: mark its owner dead. */
static void owner_died(struct task *t, uint64_t addr, int pi)
{
	uint64_t *w = (uint64_t *)addr;

	if (!futex_word_ok(w))
		return;
	uint32_t old = __atomic_load_n((volatile uint32_t *)w, __ATOMIC_SEQ_CST);
	if ((old & FUTEX_TID_MASK) != (uint32_t)t->tid)
		return;
	if (pi) {
		futex_pi_owner_died(w, old);
		return;
	}
	uint32_t new;
	do
		new = (old & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
	while (!__atomic_compare_exchange_n((volatile uint32_t *)w, &old, new, 0, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST) &&
	       (old & FUTEX_TID_MASK) == (uint32_t)t->tid);
	if ((old & FUTEX_TID_MASK) == (uint32_t)t->tid)
		futex_wake(w, 1, ~0u); /* musl's waiters may not set FUTEX_WAITERS: always */
}

void robust_exit(struct task *t)
{
	uint64_t head = t->robust_head, entry, offset, pending;

	t->robust_head = 0;
	if (!head || !read_u64(head, &entry) || !read_u64(head + 8, &offset) ||
	    !read_u64(head + 16, &pending))
		return;
	for (int n = 0; entry != head && n < ROBUST_LIMIT; n++) {
		uint64_t next;
		if (!read_u64(entry & ~1ULL, &next))
			break;
		if ((entry & ~1ULL) != (pending & ~1ULL)) /* the pending one last, as Linux */
			owner_died(t, (entry & ~1ULL) + offset, (int)(entry & 1));
		entry = next;
	}
	if (pending)
		owner_died(t, (pending & ~1ULL) + offset, (int)(pending & 1));
}
