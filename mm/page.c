/*
 * Physical pages (= virtual: memory is identity-mapped).  Guest RAM is one block
 * below the 32-bit hole and, for large guests, one from 4 GiB up (mm/ram.c); the
 * bitmaps index pages by address, with the hole marked used so it is never handed
 * out.  Three bitmaps: pages in use, pages the application owns through mmap
 * (only those may be unmapped by it), and dirty pages (used since they were last
 * zero).  Only dirty pages need clearing when handed out: guest RAM starts zeroed
 * under uhyve; under QEMU, where firmware ran, the kernel has the loader discard
 * the free RAM below 4 GiB at boot; and freed runs are discarded in batches, which
 * also gives their memory back to the host.  A page is marked dirty when handed out,
 * touched or not: clearing it then makes the host fault in a page the application
 * may never use (~15,000 cycles on kvm_pvm), so freed runs are not cleared for
 * reuse but discarded (except the one kept for the next allocation of its size).
 */
#include <hermit/arch.h>
#include <hermit/trace.h>

/* The PVH entry maps 8 MiB beyond the image: the bitmaps of the largest guest and its
 * first page tables must fit there. */
_Static_assert(3 * ((HERMIT_MAX_MEM + HERMIT_HIGH_MEM_BASE) / PAGE_SIZE / 8) +
			       (HERMIT_MAX_MEM + HERMIT_HIGH_MEM_BASE) / PAGE_SIZE / 64 / 8 + 8 <=
		       (7UL << 20),
	       "page bitmaps outgrow the PVH boot map");

static uint64_t *used, *user, *dirty;
/* A bit per word of `used`, set when all its 64 pages are used: a search skips
 * 4096 used pages at a time, so its cost grows with RAM / 4096, not with the heap. */
static uint64_t *full;
static uint64_t nframes, hint, nfree;
static uint64_t ram_pages; /* frames of RAM, the hole not counted */

/* Freed runs wait here for one batch of discards: when DEFERRED_MAX are waiting,
 * when they hold more than 1/DEFERRED_SHARE of RAM (the host keeps what the
 * application touched in them until then), or when memory runs out. */
#define DEFERRED_MAX 32
#define DEFERRED_SHARE 4
struct run {
	uint64_t i, n;
};
static struct run deferred[DEFERRED_MAX];
static unsigned ndeferred;
static uint64_t deferred_pages;
static void flush_deferred(void);
static void defer(uint64_t i, uint64_t n);

/* The last run of fewer than REUSE_MAX pages freed stays as it is for an allocation of
 * the same size (a loop that maps and unmaps one buffer): clearing what it touched
 * costs less than the host faulting in fresh pages for it.  Other sizes would clear
 * pages the application may never have touched, each a host fault: those runs are
 * discarded in the next batch instead. */
#define REUSE_MAX 512
static struct run reuse;

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

/* Set bits of map in [i, i + n), a word at a time. */
static uint64_t count_range(const uint64_t *map, uint64_t i, uint64_t n)
{
	uint64_t c = 0;

	while (n) {
		uint64_t off = i % 64, k = 64 - off < n ? 64 - off : n;
		uint64_t mask = (k == 64 ? ~0ULL : ((1ULL << k) - 1)) << off;
		c += (uint64_t)__builtin_popcountll(map[i / 64] & mask);
		i += k;
		n -= k;
	}
	return c;
}

static uint64_t user_pages; /* the application's, for RLIMIT_AS and RLIMIT_DATA */

/* set_range for `user`, keeping the count. */
static void set_user(uint64_t i, uint64_t n, int on)
{
	uint64_t before = count_range(user, i, n);

	user_pages += on ? n - before : 0;
	user_pages -= on ? 0 : before;
	set_range(user, i, n, on);
}

uint64_t page_user_count(void)
{
	return user_pages;
}

/* set_range for `used`, keeping `full` in step. */
static void set_used(uint64_t i, uint64_t n, int on)
{
	set_range(used, i, n, on);
	for (uint64_t w = i / 64; n && w <= (i + n - 1) / 64; w++)
		full[w / 64] = used[w] == ~0ULL ? full[w / 64] | (1ULL << (w % 64)) :
						    full[w / 64] & ~(1ULL << (w % 64));
}

/* Mark frames [from, to) used; returns how many. */
static uint64_t reserve(uint64_t from, uint64_t to)
{
	set_used(from, to - from, 1);
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
	ram_pages = ram_total() / PAGE_SIZE;
	uint64_t words = ALIGN_UP(nframes, 64) / 64;
	used = (uint64_t *)first_free;
	user = used + words;
	dirty = user + words;
	full = dirty + words;
	uint64_t fwords = ALIGN_UP(words, 64) / 64;
	uint64_t end = ALIGN_UP((uint64_t)(full + fwords), PAGE_SIZE) / PAGE_SIZE;
	int uhyve = boot_info->loader == HERMIT_LOADER_UHYVE;
	if (!uhyve)
		memset(used, 0, (3 * words + fwords) * 8); /* uhyve: untouched since the VM began, zero */
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
	uint64_t args = app_args_pages(); /* the loader's arguments, until app_start copies them */
	if (args && boot_info->args / PAGE_SIZE >= end && boot_info->args / PAGE_SIZE + args <= nframes) {
		nfree -= reserve(boot_info->args / PAGE_SIZE, boot_info->args / PAGE_SIZE + args);
		/* written by the loader: cleared when handed out again after app_start */
		set_range(dirty, boot_info->args / PAGE_SIZE, args, 1);
	} else
		boot_info->args = 0; /* not where the kernel may keep it: by hypercall */
	hint = end;
}

/* The first frame of a run of n free frames at or after `from`, or 0. */
static uint64_t find_run(uint64_t from, uint64_t n)
{
	uint64_t run = 0;

	for (uint64_t i = from; i < nframes; i++) {
		if (!(i % 4096) && full[i / 4096] == ~0ULL) {
			run = 0;
			i += 4095; /* 4096 used frames */
			continue;
		}
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
	set_used(i, n, 1);
	nfree -= n;
	make_clean(i, n, zero);
}

/* n contiguous pages, or 0 when memory is exhausted. */
static uint64_t alloc(uint64_t n, int zero)
{
	if (n && n == reuse.n) {
		uint64_t i = reuse.i;
		reuse.n = 0;
		make_clean(i, n, zero);
		return i * PAGE_SIZE;
	}
	if (n > nfree && (ndeferred || reuse.n))
		flush_deferred();
	if (!n || n > nfree)
		return 0;
	uint64_t i = find_run(hint, n);
	if (!i)
		i = find_run(0, n);
	if (!i && (ndeferred || reuse.n)) {
		flush_deferred();
		i = find_run(hint, n);
		if (!i)
			i = find_run(0, n);
	}
	if (!i)
		return 0;
	take(i, n, zero);
	hint = i + n;
	return i * PAGE_SIZE;
}

uint64_t page_alloc(uint64_t n, int zero)
{
	uint64_t addr = alloc(n, zero);
	if (__builtin_expect(boot_info->stats != 0, 0) && addr) /* HERMIT_STATS */
		stats_memory();
	return addr;
}

uint64_t page_in_use(void)
{
	return ram_pages - page_free_count();
}

static int all_free(uint64_t i, uint64_t n)
{
	for (; n; i++, n--)
		if (test(used, i))
			return 0;
	return 1;
}

int page_is_free(uint64_t addr, uint64_t n)
{
	uint64_t i = addr / PAGE_SIZE;

	if (addr % PAGE_SIZE || i + n > nframes || i + n < i)
		return 0;
	if (all_free(i, n))
		return 1;
	if (!ndeferred && !reuse.n)
		return 0;
	flush_deferred(); /* unmapped pages are free to the application (MREMAP_FIXED) */
	return all_free(i, n);
}

/* Take the free pages [addr, addr + n pages) for the application; 0 if any is not free. */
int page_claim(uint64_t addr, uint64_t n)
{
	uint64_t i = addr / PAGE_SIZE;

	if (!page_is_free(addr, n))
		return 0;
	take(i, n, 1);
	set_user(i, n, 1);
	return 1;
}

/* Frames [i, i+n) become free. */
static void release(uint64_t i, uint64_t n)
{
	set_used(i, n, 0);
	nfree += n;
	if (i < hint)
		hint = i;
}

/* Give the deferred runs (and the one kept for reuse) back to the host, then make
 * them free (clean, if the host took them). */
static void flush_deferred(void)
{
	if (reuse.n) {
		struct run r = reuse;
		reuse.n = 0;
		defer(r.i, r.n);
	}
	for (unsigned k = 0; k < ndeferred; k++) {
		discard(deferred[k].i, deferred[k].n);
		release(deferred[k].i, deferred[k].n);
	}
	ndeferred = 0;
	deferred_pages = 0;
}

/* Hold [i, i+n) for the next batch of discards, merged with a waiting run where only
 * free pages (MERGE_GAP at most) lie between them: one hypercall serves both. */
#define MERGE_GAP 4096
static void defer(uint64_t i, uint64_t n)
{
	deferred_pages += n;
	for (unsigned k = 0; k < ndeferred; k++) {
		struct run r = deferred[k];
		uint64_t lo = r.i < i ? r.i : i, hi = r.i < i ? i + n : r.i + r.n;
		uint64_t from = r.i < i ? r.i + r.n : i + n, gap = hi - lo - r.n - n;
		if (gap > MERGE_GAP || !all_free(from, gap))
			continue;
		set_used(from, gap, 1); /* held with the runs until the batch */
		nfree -= gap;
		deferred_pages += gap;
		deferred[k] = deferred[--ndeferred]; /* the merged run may meet another */
		i = lo;
		n = hi - lo;
		k = (unsigned)-1;
	}
	if (ndeferred == DEFERRED_MAX) {
		deferred_pages -= n;
		flush_deferred();
		deferred_pages += n;
	}
	deferred[ndeferred++] = (struct run){ i, n };
}

void page_free(uint64_t addr, uint64_t n)
{
	uint64_t i = addr / PAGE_SIZE;

	set_user(i, n, 0);
	if (n < REUSE_MAX) {
		struct run old = reuse;
		reuse = (struct run){ i, n };
		if (!old.n)
			return;
		i = old.i;
		n = old.n;
	}
	/* Freed runs go back to the host in batches: a DISCARD is a VM exit and a loader
	 * round trip.  Until then they stay in use, so fresh (clean) pages are handed
	 * out meanwhile and nothing needs clearing. */
	defer(i, n);
	if (deferred_pages > nframes / DEFERRED_SHARE)
		flush_deferred();
}

uint64_t page_free_count(void)
{
	return nfree + deferred_pages + reuse.n;
}

void page_set_user(uint64_t addr, uint64_t n, int on)
{
	set_user(addr / PAGE_SIZE, n, on);
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

/* How many of the pages from addr on (npages at most) are, or with on == 0 are
 * not, the application's: a word of the bitmap at a time. */
uint64_t page_user_prefix(uint64_t addr, uint64_t npages, int on)
{
	uint64_t i = addr / PAGE_SIZE, k = 0;

	while (k < npages && i + k < nframes) {
		uint64_t at = i + k, bits = user[at / 64] >> (at % 64);
		if (!on)
			bits = ~bits;
		uint64_t valid = 64 - at % 64; /* bits of this word from `at` on */
		uint64_t same = ~bits ? (uint64_t)__builtin_ctzll(~bits) : 64;
		if (same > valid)
			same = valid;
		k += same;
		if (same < valid)
			break;
	}
	if (k < npages && i + k >= nframes && !on)
		k = npages; /* beyond RAM: nothing is the application's */
	return k < npages ? k : npages;
}
