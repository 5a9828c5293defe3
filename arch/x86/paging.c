/*
 * Page tables: an identity map of all guest RAM (every range of ram_ranges) with
 * 1 GiB pages where the CPU has them and 2 MiB pages elsewhere, split down to 4 KiB
 * pages where something must be absent (page 0, guard pages, PROT_NONE).  The hole
 * below 4 GiB is not mapped, except the LAPIC and IOAPIC (uncached).
 * kvm_pvm faults on 1 GiB pages (#PF with the reserved-bit error) although the
 * CPUID its guests see offers them: there 2 MiB pages map everything.
 * One address space: every page is user-accessible, the application (ring 3)
 * and the kernel see the same memory.
 * uhyve builds this map before boot (boot_info.page_tables, hermit_build/uhyve/vm.py)
 * and the kernel keeps it: a new CR3 would make kvm_pvm's shadow paging fault in
 * every page touched so far once more (~30 us each).
 */
#include <hermit/arch.h>
#include <asm/x86.h>

#define PTE_P 0x001ULL
#define PTE_W 0x002ULL
#define PTE_U 0x004ULL
#define PTE_PWT 0x008ULL
#define PTE_PCD 0x010ULL
#define PTE_A 0x020ULL
#define PTE_D 0x040ULL
#define PTE_PS 0x080ULL
#define PTE_ADDR 0x000ffffffffff000ULL
#define LAPIC_BASE 0xfee00000ULL
#define IOAPIC_BASE 0xfec00000ULL

static uint64_t *pml4;

static uint64_t *table_alloc(void)
{
	return (uint64_t *)page_alloc(1, 1);
}

/* The entry for `addr` at `level` (3 = PML4 ... 0 = PT), creating tables above it. */
static uint64_t *walk(uint64_t addr, int level, int create)
{
	uint64_t *t = pml4;

	for (int l = 3; l > level; l--) {
		uint64_t *e = &t[(addr >> (12 + 9 * l)) & 511];
		if (!(*e & PTE_P)) {
			if (!create)
				return 0;
			uint64_t *n = table_alloc();
			if (!n)
				return 0;
			*e = (uint64_t)n | PTE_P | PTE_W | PTE_U;
		} else if (*e & PTE_PS) {
			return e; /* a large page covers addr */
		}
		t = (uint64_t *)(*e & PTE_ADDR);
	}
	return &t[(addr >> (12 + 9 * level)) & 511];
}

#define SIZE_2M 0x200000ULL
#define SIZE_1G 0x40000000ULL

/* A large page (level 1: 2 MiB, level 2: 1 GiB) mapping itself. */
static void map_large(uint64_t addr, int level, uint64_t flags)
{
	uint64_t *e = walk(addr, level, 1);
	*e = addr | PTE_P | PTE_W | PTE_U | PTE_PS | flags;
}

/* Replace the large page at *e (level 2 or 1) by a table of the next level down. */
static int split(uint64_t *e, int level)
{
	uint64_t *t = table_alloc();
	if (!t)
		return -1;
	uint64_t size = 1ULL << (12 + 9 * level), step = size >> 9;
	uint64_t base = *e & PTE_ADDR & ~(size - 1), flags = *e & (PTE_PCD | PTE_PWT);
	uint64_t leaf = level > 1 ? PTE_PS : 0; /* bit 7 of a 4 KiB entry is PAT, not PS */
	/* the large page may be in a TLB: its pieces count as accessed */
	for (int i = 0; i < 512; i++)
		t[i] = (base + i * step) | PTE_P | PTE_W | PTE_U | leaf | flags | (*e & PTE_A);
	*e = (uint64_t)t | PTE_P | PTE_W | PTE_U;
	invlpg(base);
	return 0;
}

/* The 4 KiB entry for addr, splitting the large pages above it if needed. */
static uint64_t *pte_4k(uint64_t addr)
{
	uint64_t *t = pml4;

	for (int l = 3; l > 0; l--) {
		uint64_t *e = &t[(addr >> (12 + 9 * l)) & 511];
		if (!(*e & PTE_P) || ((*e & PTE_PS) && split(e, l)))
			return 0;
		t = (uint64_t *)(*e & PTE_ADDR);
	}
	return &t[(addr >> 12) & 511];
}

/* 1 GiB pages where the CPU has them (few tables for many GiB), else 2 MiB pages. */
static void map_ram(uint64_t start, uint64_t end, int gib_pages)
{
	for (uint64_t a = start; a < end;) {
		if (gib_pages && !(a & (SIZE_1G - 1)) && end - a >= SIZE_1G) {
			map_large(a, 2, 0);
			a += SIZE_1G;
		} else {
			map_large(a, 1, 0);
			a += SIZE_2M;
		}
	}
}

void arch_paging_init(void)
{
	struct ram_range r[RAM_RANGES_MAX];
	uint32_t id[4];

	if (boot_info->page_tables) { /* uhyve's: this very map, and every cpu's CR3 */
		pml4 = (uint64_t *)boot_info->page_tables;
		return;
	}
	int gib_pages = 0;
	if (!boot_info->pvm) { /* there a cpuid is a trap, and the answer is not used */
		cpuid(0x80000000, 0, id);
		if (id[0] >= 0x80000001) {
			cpuid(0x80000001, 0, id);
			gib_pages = (id[3] >> 26) & 1; /* EDX: Page1GB */
		}
	}
	pml4 = table_alloc();
	for (unsigned i = 0, n = ram_ranges(r); i < n; i++)
		map_ram(r[i].start, ALIGN_UP(r[i].end, SIZE_2M), gib_pages);
	map_large(LAPIC_BASE & ~(SIZE_2M - 1), 1, PTE_PCD | PTE_PWT);
	map_large(IOAPIC_BASE & ~(SIZE_2M - 1), 1, PTE_PCD | PTE_PWT);
	*pte_4k(0) = 0; /* null pointers fault */
	write_cr3((uint64_t)pml4);
}

int arch_map_mmio(uint64_t addr, uint64_t len)
{
	/* present entries that were absent need no flush; the hole holds no RAM */
	for (uint64_t a = addr & ~(SIZE_2M - 1); a < addr + len; a += SIZE_2M) {
		uint64_t *e = walk(a, 1, 1);
		if (!e)
			return -1;
		if (!(*e & PTE_P))
			*e = a | PTE_P | PTE_W | PTE_U | PTE_PS | PTE_PCD | PTE_PWT;
	}
	return 0;
}

/* QEMU microvm: 24 transports of 512 bytes each (8 without its second IOAPIC). */
void arch_virtio_mmio(uint64_t *base, unsigned *count, uint64_t *stride)
{
	*base = 0xfeb00000ULL;
	*count = 24;
	*stride = 0x200;
}

/* Another cpu joins: under QEMU it still runs on the PVH entry's page tables. */
void arch_paging_load(void)
{
	if (!boot_info->page_tables)
		write_cr3((uint64_t)pml4);
}

/* Each invlpg is a VM exit under kvm_pvm (~8 us): flush only what a TLB may
 * hold.  A page made present needs none (absent entries are never cached), and
 * neither does one whose accessed bit is clear (no translation was cached).
 * An absent entry may carry PTE_STALE: the page was not cleared (a PROT_NONE
 * mapping's, kernel/prot_none.c), so it is cleared when opened again. */
#define PTE_STALE 0x200ULL /* software bit of an absent entry */

enum how { UNMAP, UNMAP_STALE, OPEN, RELEASE };

static int set_pages(uint64_t addr, uint64_t npages, enum how how)
{
	int present = how == OPEN || how == RELEASE;

	for (uint64_t i = 0; i < npages; i++) {
		uint64_t a = addr + i * PAGE_SIZE, *large = present ? walk(a, 1, 0) : 0;
		if (large && (*large & (PTE_P | PTE_PS)) == (PTE_P | PTE_PS)) {
			i += (SIZE_2M - (a & (SIZE_2M - 1))) / PAGE_SIZE - 1;
			continue; /* present as a whole: nothing to walk page by page */
		}
		if (present && arch_is_mapped(a))
			continue; /* keeps large pages whole, and an entry its accessed bit */
		uint64_t *pte = pte_4k(a);
		if (!pte)
			return -1;
		uint64_t old = *pte, want = present ? (a | PTE_P | PTE_W | PTE_U) :
				      how == UNMAP_STALE ? PTE_STALE : 0;
		if (!present && !(old & PTE_P))
			want |= old & PTE_STALE; /* absent already: still not cleared */
		if (old == want)
			continue;
		*pte = want;
		if (old & PTE_A)
			invlpg(a);
		if (how == OPEN && (old & PTE_STALE))
			memset((void *)a, 0, PAGE_SIZE);
	}
	return 0;
}

int arch_unmap_pages(uint64_t addr, uint64_t npages)
{
	return set_pages(addr, npages, UNMAP);
}

int arch_unmap_pages_stale(uint64_t addr, uint64_t npages)
{
	return set_pages(addr, npages, UNMAP_STALE);
}

int arch_map_pages(uint64_t addr, uint64_t npages)
{
	return set_pages(addr, npages, OPEN);
}

int arch_release_pages(uint64_t addr, uint64_t npages)
{
	return set_pages(addr, npages, RELEASE);
}

int arch_is_mapped(uint64_t addr)
{
	uint64_t *e = walk(addr, 0, 0);
	return e && (*e & PTE_P);
}
