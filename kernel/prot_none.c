/*
 * PROT_NONE, deferred to the thread's next system call.  Making a page absent
 * costs an invlpg, and each is a VM exit under kvm_pvm (~8 us).  musl maps
 * every thread stack PROT_NONE and at once makes all but the guard page
 * accessible again: 33 flushes for one guard page.  So an anonymous PROT_NONE
 * mapping stays accessible until the thread enters the kernel again (or gives
 * up its cpu); an mprotect that opens part of it then never unmaps that part.
 * Its pages are cleared only when opened: the guard page stays untouched, so
 * making it absent needs no flush at all.
 * Every page is user-accessible in this one address space: PROT_NONE only
 * catches stray accesses (guard pages), it protects nothing.
 */
#include <errno.h>
#include <sys/mman.h>

#include <hermit/arch.h>
#include <hermit/task.h>

/* Unmap what t left pending; not cleared yet, the pages are cleared when opened
 * (arch_map_pages): a guard page is never touched, so never needs a flush. */
void none_apply(struct task *t)
{
	if (!t->none_pages)
		return;
	arch_unmap_pages_stale(t->none_addr, t->none_pages);
	t->none_pages = 0;
}

/* Fresh pages, not cleared: cleared when an mprotect opens them. */
long none_mmap(uint64_t len)
{
	uint64_t n = ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE;

	none_apply(current);
	if (!len)
		return -EINVAL;
	if (vma_over_limit(n * PAGE_SIZE, 0))
		return -ENOMEM;
	uint64_t addr = page_alloc(n, 0);
	if (!addr)
		return -ENOMEM;
	page_set_user(addr, n, 1);
	current->none_addr = addr;
	current->none_pages = n;
	return (long)addr;
}

/* Before mprotect(addr, len, prot): the pending pages outside an opened range are
 * unmapped now, those inside never. */
void none_before_mprotect(uint64_t addr, uint64_t len, int prot)
{
	struct task *t = current;
	uint64_t start = t->none_addr, end = start + t->none_pages * PAGE_SIZE;
	uint64_t lo = addr, hi = addr + ALIGN_UP(len, PAGE_SIZE);

	if (!t->none_pages || prot == PROT_NONE || hi <= start || lo >= end) {
		none_apply(t);
		return;
	}
	uint64_t from = lo > start ? lo : start, to = hi < end ? hi : end;
	memset((void *)from, 0, to - from); /* what opens is zero, as mmap promised */
	if (lo > start)
		arch_unmap_pages_stale(start, (lo - start) / PAGE_SIZE);
	if (hi < end)
		arch_unmap_pages_stale(hi, (end - hi) / PAGE_SIZE);
	t->none_pages = 0;
}
