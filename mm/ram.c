/*
 * Where guest RAM is: [0, boot_info->mem_size) below the 32-bit hole and, for large
 * guests, [HERMIT_HIGH_MEM_BASE, + boot_info->mem_high).  The loader (uhyve) or the
 * PVH entry (from QEMU's memory map) fills both sizes.
 */
#include <hermit/kernel.h>

unsigned ram_ranges(struct ram_range r[RAM_RANGES_MAX])
{
	unsigned n = 0;
	uint64_t low = boot_info->mem_size;

	if (low > HERMIT_HIGH_MEM_BASE)
		low = HERMIT_HIGH_MEM_BASE;
	r[n++] = (struct ram_range){ 0, ALIGN_DOWN(low, PAGE_SIZE) };
	if (boot_info->mem_high >= PAGE_SIZE)
		r[n++] = (struct ram_range){ HERMIT_HIGH_MEM_BASE,
					     HERMIT_HIGH_MEM_BASE + ALIGN_DOWN(boot_info->mem_high, PAGE_SIZE) };
	return n;
}

uint64_t ram_total(void)
{
	struct ram_range r[RAM_RANGES_MAX];
	uint64_t total = 0;

	for (unsigned i = 0, n = ram_ranges(r); i < n; i++)
		total += r[i].end - r[i].start;
	return total;
}

/* [addr, addr + len) lies inside one RAM range. */
int ram_contains(uint64_t addr, uint64_t len)
{
	struct ram_range r[RAM_RANGES_MAX];

	for (unsigned i = 0, n = ram_ranges(r); i < n; i++)
		if (addr >= r[i].start && len <= r[i].end - addr && addr < r[i].end)
			return 1;
	return 0;
}
