/*
 * Physical pages (= virtual: memory is identity-mapped).  Two bitmaps: pages in
 * use, and pages the application owns through mmap (only those may be unmapped
 * by it).  Under uhyve, guest RAM starts zeroed, so pages above the high-water
 * mark need no clearing; under QEMU firmware may have touched them.
 */
#include <hermit/arch.h>

static uint64_t *used, *user;
static uint64_t nframes, hint, fresh_from, nfree;

static int test(const uint64_t *map, uint64_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

static void set_range(uint64_t *map, uint64_t i, uint64_t n, int on)
{
	for (; n && (i % 64); i++, n--)
		map[i / 64] = on ? map[i / 64] | (1ULL << (i % 64)) : map[i / 64] & ~(1ULL << (i % 64));
	for (; n >= 64; i += 64, n -= 64)
		map[i / 64] = on ? ~0ULL : 0;
	for (; n; i++, n--)
		map[i / 64] = on ? map[i / 64] | (1ULL << (i % 64)) : map[i / 64] & ~(1ULL << (i % 64));
}

void page_init(uint64_t first_free, uint64_t mem_size)
{
	nframes = mem_size / PAGE_SIZE;
	uint64_t words = ALIGN_UP(nframes, 64) / 64;
	used = (uint64_t *)first_free;
	user = used + words;
	uint64_t end = ALIGN_UP((uint64_t)(user + words), PAGE_SIZE);
	memset(used, 0, 2 * words * 8);
	/* Low 1 MiB: boot structures and firmware; then the image and the bitmaps. */
	set_range(used, 0, 256, 1);
	extern char __ehdr_start[];
	uint64_t image = ALIGN_DOWN((uint64_t)__ehdr_start, PAGE_SIZE) / PAGE_SIZE;
	set_range(used, image, end / PAGE_SIZE - image, 1);
	hint = fresh_from = end / PAGE_SIZE;
	nfree = nframes - 256 - (end / PAGE_SIZE - image);
}

static uint64_t find_run(uint64_t from, uint64_t n)
{
	uint64_t run = 0;

	for (uint64_t i = from; i < nframes; i++) {
		if (!(i % 64) && used[i / 64] == ~0ULL) {
			run = 0;
			i += 63;
			continue;
		}
		run = test(used, i) ? 0 : run + 1;
		if (run == n)
			return i + 1 - n;
	}
	return 0;
}

/* n contiguous pages, or 0 when memory is exhausted. */
uint64_t page_alloc(uint64_t n, int zero)
{
	if (!n || n > nfree)
		return 0;
	uint64_t i = find_run(hint, n);
	if (!i)
		i = find_run(0, n);
	if (!i)
		return 0;
	set_range(used, i, n, 1);
	nfree -= n;
	hint = i + n;
	uint64_t addr = i * PAGE_SIZE;
	if (zero && (i < fresh_from || boot_info->loader != HERMIT_LOADER_UHYVE))
		memset((void *)addr, 0, n * PAGE_SIZE);
	if (i + n > fresh_from)
		fresh_from = i + n;
	return addr;
}

void page_free(uint64_t addr, uint64_t n)
{
	uint64_t i = addr / PAGE_SIZE;

	set_range(used, i, n, 0);
	set_range(user, i, n, 0);
	nfree += n;
	if (i < hint)
		hint = i;
}

uint64_t page_free_count(void)
{
	return nfree;
}

void page_set_user(uint64_t addr, uint64_t n, int on)
{
	set_range(user, addr / PAGE_SIZE, n, on);
}

int page_is_user(uint64_t addr, uint64_t n)
{
	uint64_t i = addr / PAGE_SIZE;

	if (i + n > nframes || i + n < i)
		return 0;
	for (; n; i++, n--)
		if (!test(user, i))
			return 0;
	return 1;
}
