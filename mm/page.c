/*
 * Physical pages (= virtual: memory is identity-mapped).  Guest RAM is one block
 * below the 32-bit hole and, for large guests, one from 4 GiB up (mm/ram.c); the
 * bitmaps index pages by address, with the hole marked used so it is never handed
 * out.  Two bitmaps: pages in use, and pages the application owns through mmap
 * (only those may be unmapped by it).  Guest RAM starts zeroed, so pages no one
 * has had yet need no clearing: each RAM range keeps a high-water mark, pages
 * above it are clean.  Under QEMU firmware may have written below 4 GiB, so there
 * only the range above 4 GiB starts clean.
 */
#include <hermit/arch.h>

static uint64_t *used, *user;
static uint64_t nframes, hint, nfree;
static struct ram_range ranges[RAM_RANGES_MAX];
static uint64_t clean_from[RAM_RANGES_MAX]; /* frame index: pages from here are zero */
static unsigned nranges;

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

/* Mark frames [from, to) used; returns how many. */
static uint64_t reserve(uint64_t from, uint64_t to)
{
	set_range(used, from, to - from, 1);
	return to - from;
}

void page_init(uint64_t first_free)
{
	nranges = ram_ranges(ranges);
	nframes = ranges[nranges - 1].end / PAGE_SIZE;
	uint64_t words = ALIGN_UP(nframes, 64) / 64;
	used = (uint64_t *)first_free;
	user = used + words;
	uint64_t end = ALIGN_UP((uint64_t)(user + words), PAGE_SIZE) / PAGE_SIZE;
	if (boot_info->loader != HERMIT_LOADER_UHYVE)
		memset(used, 0, 2 * words * 8); /* uhyve: untouched since the VM began, zero */
	reserve(nframes, words * 64); /* the last word's bits past the end of RAM */
	nfree = 0;
	for (unsigned r = 0; r < nranges; r++) {
		uint64_t start = ranges[r].start / PAGE_SIZE, stop = ranges[r].end / PAGE_SIZE;
		uint64_t prev = r ? ranges[r - 1].end / PAGE_SIZE : 0;
		reserve(prev, start); /* the hole below this range */
		nfree += stop - start;
		int firmware = boot_info->loader != HERMIT_LOADER_UHYVE && start < (1ULL << 20);
		clean_from[r] = firmware ? stop : start;
	}
	/* Low 1 MiB: boot structures and firmware; then the image and the bitmaps. */
	nfree -= reserve(0, 256);
	extern char __ehdr_start[];
	uint64_t image = ALIGN_DOWN((uint64_t)__ehdr_start, PAGE_SIZE) / PAGE_SIZE;
	nfree -= reserve(image, end);
	if (clean_from[0] < end)
		clean_from[0] = end;
	hint = end;
}

/* The first frame of a run of n free frames at or after `from`, or 0. */
static uint64_t find_run(uint64_t from, uint64_t n)
{
	uint64_t run = 0;

	for (uint64_t i = from; i < nframes; i++) {
		if (!(i % 64) && used[i / 64] == ~0ULL) {
			run = 0;
			i += 63;
			continue;
		}
		if (!(i % 64) && !used[i / 64] && n - run >= 64) {
			run += 64; /* a whole free word */
			i += 63;
			if (run == n)
				return i + 1 - n;
			continue;
		}
		run = test(used, i) ? 0 : run + 1;
		if (run == n)
			return i + 1 - n;
	}
	return 0;
}

/* Zero the part of frames [i, i+n) that may hold old data; they are then in use. */
static void make_clean(uint64_t i, uint64_t n, int zero)
{
	for (unsigned r = 0; r < nranges; r++) {
		if (i * PAGE_SIZE < ranges[r].start || i * PAGE_SIZE >= ranges[r].end)
			continue;
		uint64_t dirty_end = i + n < clean_from[r] ? i + n : clean_from[r];
		if (zero && dirty_end > i)
			memset((void *)(i * PAGE_SIZE), 0, (dirty_end - i) * PAGE_SIZE);
		if (i + n > clean_from[r])
			clean_from[r] = i + n;
		return;
	}
}

/* Frames [i, i+n) become used (and zero, if asked). */
static void take(uint64_t i, uint64_t n, int zero)
{
	set_range(used, i, n, 1);
	nfree -= n;
	make_clean(i, n, zero);
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
	take(i, n, zero);
	hint = i + n;
	return i * PAGE_SIZE;
}

int page_is_free(uint64_t addr, uint64_t n)
{
	uint64_t i = addr / PAGE_SIZE;

	if (addr % PAGE_SIZE || i + n > nframes || i + n < i)
		return 0;
	for (; n; i++, n--)
		if (test(used, i))
			return 0;
	return 1;
}

/* Take the free pages [addr, addr + n pages) for the application; 0 if any is not free. */
int page_claim(uint64_t addr, uint64_t n)
{
	uint64_t i = addr / PAGE_SIZE;

	if (!page_is_free(addr, n))
		return 0;
	take(i, n, 1);
	set_range(user, i, n, 1);
	return 1;
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
