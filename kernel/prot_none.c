/*
 * PROT_NONE, deferred to the thread's next system call.  Making a page absent
 * costs an invlpg, and each is a VM exit under kvm_pvm (~8 us).  musl maps
 * every thread stack PROT_NONE and at once makes all but the guard page
 * accessible again: 33 flushes for one guard page.  So an anonymous PROT_NONE
 * mapping stays accessible until the thread enters the kernel again (or gives
 * up its cpu); an mprotect that opens part of it then never unmaps that part.
 * Every page is user-accessible in this one address space: PROT_NONE only
 * catches stray accesses (guard pages), it protects nothing.
 */
#include <sys/mman.h>

#include <hermit/arch.h>
#include <hermit/task.h>

/* Unmap what t left pending. */
void none_apply(struct task *t)
{
	if (!t->none_pages)
		return;
	arch_unmap_pages(t->none_addr, t->none_pages);
	t->none_pages = 0;
}

long none_mmap(uint64_t addr, uint64_t len, int flags)
{
	none_apply(current);
	long r = vma_mmap(addr, len, PROT_READ | PROT_WRITE, flags);
	if (r >= 0) {
		current->none_addr = (uint64_t)r;
		current->none_pages = ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE;
	}
	return r;
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
	if (lo > start)
		arch_unmap_pages(start, (lo - start) / PAGE_SIZE);
	if (hi < end)
		arch_unmap_pages(hi, (end - hi) / PAGE_SIZE);
	t->none_pages = 0;
}
