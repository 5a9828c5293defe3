/* The application's memory: brk, anonymous mmap/munmap/mprotect, its stack. */
#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <hermit/arch.h>
#include <hermit/trace.h>

static uint64_t brk_start, brk_cur, brk_max, brk_dirty_end;
static uint64_t stack_bytes; /* the main stack, counted for RLIMIT_AS as on Linux */

void vma_init(void)
{
	/* brk needs contiguous pages: reserve a window (1/16 of RAM, 4-256 MiB). */
	uint64_t size = boot_info->mem_size / 16;
	size = size < (4 << 20) ? (4 << 20) : size > (256 << 20) ? (256 << 20) : size;
	brk_start = page_alloc(size / PAGE_SIZE, 1); /* clean RAM: nothing to clear */
	brk_cur = brk_dirty_end = brk_start;
	brk_max = brk_start ? brk_start + size : 0;
	if (__builtin_expect(boot_info->stats != 0, 0)) {
		boot_info->pages_peak = 0; /* counted the window as used: it is not, yet */
		stats_memory();
	}
}

/* Whether `more` bytes would take the application past RLIMIT_AS or, for `data`
 * (writable memory: not a PROT_NONE mapping), RLIMIT_DATA.  Both count its mappings
 * (mmap, mremap, musl's thread stacks, PROT_NONE ones too) and its heap (brk);
 * RLIMIT_AS also the main stack.  The image is counted by neither. */
int vma_over_limit(uint64_t more, int data)
{
	uint64_t lim = rlimit_cur(RLIMIT_AS), dlim = rlimit_cur(RLIMIT_DATA);
	uint64_t have = page_user_count() * PAGE_SIZE + (brk_cur - brk_start) + stack_bytes;

	if (data && dlim < lim) {
		lim = dlim;
		have -= stack_bytes;
	}
	return lim != RLIM_INFINITY && (more > lim || have > lim - more);
}

uint64_t vma_brk_reserved(void)
{
	return brk_max - brk_cur;
}

long vma_brk(uint64_t addr)
{
	if (addr < brk_start || addr > brk_max)
		return (long)brk_cur; /* the window is used up: brk fails, as with no memory */
	if (addr > brk_cur && vma_over_limit(addr - brk_cur, 1))
		return (long)brk_cur;
	if (addr > brk_cur) {
		/* Pages the application had before (or firmware touched) must read as zero. */
		uint64_t end = addr < brk_dirty_end ? addr : brk_dirty_end;
		if (end > brk_cur)
			memset((void *)brk_cur, 0, end - brk_cur);
		if (addr > brk_dirty_end)
			brk_dirty_end = addr;
	}
	brk_cur = addr;
	if (__builtin_expect(boot_info->stats != 0, 0)) /* HERMIT_STATS */
		stats_memory();
	return (long)brk_cur;
}

static int range_ok(uint64_t addr, uint64_t len)
{
	return !(addr & (PAGE_SIZE - 1)) && len && addr + len > addr;
}

long vma_mmap(uint64_t addr, uint64_t len, int prot, int flags)
{
	if (!len)
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS))
		return -ENODEV; /* file mappings come with host file I/O */
	uint64_t n = ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (!range_ok(addr, len))
			return -EINVAL;
		if (!page_is_user(addr, n))
			return flags & MAP_FIXED_NOREPLACE ? -EEXIST : -ENOMEM;
		if (flags & MAP_FIXED_NOREPLACE)
			return -EEXIST;
		arch_map_pages(addr, n);
		memset((void *)addr, 0, n * PAGE_SIZE);
	} else {
		if (vma_over_limit(n * PAGE_SIZE, prot != PROT_NONE))
			return -ENOMEM;
		addr = page_alloc(n, 1);
		if (!addr)
			return -ENOMEM;
		page_set_user(addr, n, 1);
	}
	if (prot == PROT_NONE)
		arch_unmap_pages(addr, n);
	return (long)addr;
}

long vma_munmap(uint64_t addr, uint64_t len)
{
	if (!range_ok(addr, len))
		return -EINVAL;
	uint64_t n = ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE;
	for (uint64_t i = 0; i < n;) {
		uint64_t a = addr + i * PAGE_SIZE, run = page_user_prefix(a, n - i, 1);
		if (run) { /* the application's pages: present again (PROT_NONE ends), then free */
			arch_release_pages(a, run);
			page_free(a, run);
			i += run;
		} else {
			i += page_user_prefix(a, n - i, 0);
		}
	}
	return 0;
}

long vma_mprotect(uint64_t addr, uint64_t len, int prot)
{
	if (!range_ok(addr, len) && len)
		return -EINVAL;
	uint64_t n = ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE;
	if (!page_is_user(addr, n))
		return 0; /* everything else stays readable and writable */
	int r = prot == PROT_NONE ? arch_unmap_pages(addr, n) : arch_map_pages(addr, n);
	return r ? -ENOMEM : 0;
}

/* A stack of `size` bytes with an absent guard page below it; returns its top. */
uint64_t vma_alloc_stack(uint64_t size)
{
	uint64_t n = size / PAGE_SIZE + 1, base = page_alloc(n, 0);

	if (!base)
		return 0;
	stack_bytes += size;
	arch_unmap_pages(base, 1);
	return base + n * PAGE_SIZE;
}
