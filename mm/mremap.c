/*
 * mremap of anonymous mappings.  Memory is identity-mapped, so a mapping is its
 * physical pages: it grows in place only into free pages right after it, and
 * moving it (MREMAP_MAYMOVE, MREMAP_FIXED) copies it to other pages.
 */
#include <errno.h>
#include <sys/mman.h>

#include <hermit/arch.h>

#define PAGES(len) (ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE)
#define LEN_MAX (1ULL << 47) /* the user half of the address space, as on Linux */

/* Copy n pages from `from` to `to`; pages absent there (PROT_NONE) stay absent here. */
static void copy_pages(uint64_t to, uint64_t from, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = from + i * PAGE_SIZE, d = to + i * PAGE_SIZE;
		if (arch_is_mapped(s))
			memcpy((void *)d, (const void *)s, PAGE_SIZE);
		else
			arch_unmap_pages(d, 1);
	}
}

/* MREMAP_FIXED: the target's pages must be the application's (they are replaced, as
 * MAP_FIXED does) or free (they are taken); the kernel's own pages cannot be. */
static long move_fixed(uint64_t old, uint64_t on, uint64_t nn, uint64_t to)
{
	if (to % PAGE_SIZE || to + nn * PAGE_SIZE < to)
		return -EINVAL;
	if (to < old + on * PAGE_SIZE && old < to + nn * PAGE_SIZE)
		return -EINVAL; /* overlaps the old range */
	for (uint64_t i = 0; i < nn; i++)
		if (!page_is_user(to + i * PAGE_SIZE, 1) && !page_is_free(to + i * PAGE_SIZE, 1))
			return -ENOMEM;
	for (uint64_t i = 0; i < nn; i++) {
		uint64_t a = to + i * PAGE_SIZE;
		if (page_is_user(a, 1)) {
			arch_map_pages(a, 1);
			memset((void *)a, 0, PAGE_SIZE);
		} else {
			page_claim(a, 1);
		}
	}
	copy_pages(to, old, on < nn ? on : nn);
	vma_munmap(old, on * PAGE_SIZE);
	return (long)to;
}

long vma_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, int flags, uint64_t new_addr)
{
	if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)))
		return -EINVAL;
	/* old_len 0 duplicates a shared mapping on Linux; there are none here. */
	if (old % PAGE_SIZE || !new_len || !old_len || new_len > LEN_MAX)
		return -EINVAL;
	uint64_t on = PAGES(old_len), nn = PAGES(new_len);
	if (old_len > LEN_MAX || !page_is_user(old, on))
		return -EFAULT;
	if (nn > on && vma_over_limit((nn - on) * PAGE_SIZE, 1))
		return -ENOMEM;
	if (flags & MREMAP_FIXED)
		return move_fixed(old, on, nn, new_addr);
	if (nn <= on) {
		vma_munmap(old + nn * PAGE_SIZE, (on - nn) * PAGE_SIZE);
		return (long)old;
	}
	if (page_claim(old + on * PAGE_SIZE, nn - on))
		return (long)old;
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	uint64_t to = page_alloc(nn, 1);
	if (!to)
		return -ENOMEM;
	page_set_user(to, nn, 1);
	copy_pages(to, old, on);
	vma_munmap(old, on * PAGE_SIZE);
	return (long)to;
}
