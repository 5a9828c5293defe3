/*
 * Physical pages (= virtual: memory is identity-mapped).  Guest RAM is one block
 * below the 32-bit hole and, for large guests, one from 4 GiB up (mm/ram.c); the
 * bitmaps index pages by address, with the hole marked used so it is never handed
 * out.  Three bitmaps: pages in use, pages the application owns through mmap
 * (only those may be unmapped by it), and dirty pages (used since they were last
 * zero).  Only dirty pages need clearing when handed out: guest RAM starts zeroed
 * under uhyve; under QEMU, where firmware ran, the kernel has the loader discard
 * the free RAM below 4 GiB at boot; and large runs are discarded when freed, which also
 * gives their memory back to the host.
 */
#include <hermit/arch.h>

/* The PVH entry maps 8 MiB beyond the image: the bitmaps of the largest guest and its
 * first page tables must fit there. */
_Static_assert(3 * ((HERMIT_MAX_MEM + HERMIT_HIGH_MEM_BASE) / PAGE_SIZE / 8) <= (7UL << 20),
	       "page bitmaps outgrow the PVH boot map");

#define DISCARD_MIN 512 /* pages: a hypercall (a VM exit) costs about as much as
			 * clearing 2 MiB */

static uint64_t *used, *user, *dirty;
static uint64_t nframes, hint, nfree;

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

/* Have the loader drop frames [i, i+n) (they read zero after); 0 when it did. */
static int discard(uint64_t i, uint64_t n)
{
	struct hc_discard d = { .addr = i * PAGE_SIZE, .len = n * PAGE_SIZE };

	arch_hypercall(HC_DISCARD, &d);
	if (d.ret)
		return -1;
	set_range(dirty, i, n, 0);
	return 0;
}

void page_init(uint64_t first_free)
{
	struct ram_range ranges[RAM_RANGES_MAX];
	unsigned nranges = ram_ranges(ranges);

	nframes = ranges[nranges - 1].end / PAGE_SIZE;
	uint64_t words = ALIGN_UP(nframes, 64) / 64;
	used = (uint64_t *)first_free;
	user = used + words;
	dirty = user + words;
	uint64_t end = ALIGN_UP((uint64_t)(dirty + words), PAGE_SIZE) / PAGE_SIZE;
	int uhyve = boot_info->loader == HERMIT_LOADER_UHYVE;
	if (!uhyve)
		memset(used, 0, 3 * words * 8); /* uhyve: untouched since the VM began, zero */
	reserve(nframes, words * 64); /* the last word's bits past the end of RAM */
	nfree = 0;
	for (unsigned r = 0; r < nranges; r++) {
		uint64_t start = ranges[r].start / PAGE_SIZE, stop = ranges[r].end / PAGE_SIZE;
		reserve(r ? ranges[r - 1].end / PAGE_SIZE : 0, start); /* the hole below */
		nfree += stop - start;
		if (uhyve || ranges[r].start >= HERMIT_HIGH_MEM_BASE)
			continue; /* RAM fresh from the loader; firmware runs in 32-bit mode */
		/* Firmware may have written here: have the free RAM made zero again. */
		set_range(dirty, start, stop - start, 1);
		if (start < end)
			start = end;
		if (start < stop)
			discard(start, stop - start);
	}
	/* Low 1 MiB: boot structures and firmware; then the image and the bitmaps. */
	nfree -= reserve(0, 256);
	extern char __ehdr_start[];
	uint64_t image = ALIGN_DOWN((uint64_t)__ehdr_start, PAGE_SIZE) / PAGE_SIZE;
	nfree -= reserve(image, end);
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

/* Clear the dirty frames of [i, i+n) if asked; all of them are dirty from now on. */
static void make_clean(uint64_t i, uint64_t n, int zero)
{
	for (uint64_t k = i, stop = i + n; zero && k < stop;) {
		if (!(k % 64) && !dirty[k / 64] && k + 64 <= stop) {
			k += 64; /* 64 clean frames */
			continue;
		}
		uint64_t from = k;
		while (k < stop && test(dirty, k))
			k++;
		if (k > from)
			memset((void *)(from * PAGE_SIZE), 0, (k - from) * PAGE_SIZE);
		else
			k++;
	}
	set_range(dirty, i, n, 1);
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

	if (n >= DISCARD_MIN)
		discard(i, n); /* the host gets the memory back; it is clean again */
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
