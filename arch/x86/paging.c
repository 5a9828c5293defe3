/*
 * Page tables: an identity map of all guest RAM with 2 MiB pages, split into
 * 4 KiB pages where something must be absent (page 0, guard pages, PROT_NONE).
 * One address space: every page is user-accessible, the application (ring 3)
 * and the kernel see the same memory.
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

static void map_2m(uint64_t addr, uint64_t flags)
{
	uint64_t *pde = walk(addr, 1, 1);
	*pde = addr | PTE_P | PTE_W | PTE_U | PTE_PS | flags;
}

/* The 4 KiB entry for addr, splitting its 2 MiB page if needed. */
static uint64_t *pte_4k(uint64_t addr)
{
	uint64_t *pde = walk(addr, 1, 0);

	if (!pde || !(*pde & PTE_P))
		return 0;
	if (*pde & PTE_PS) {
		uint64_t *pt = table_alloc(), base = *pde & PTE_ADDR & ~0x1fffffULL;
		if (!pt)
			return 0;
		/* the large page may be in a TLB: its pieces count as accessed */
		for (int i = 0; i < 512; i++)
			pt[i] = (base + i * PAGE_SIZE) | PTE_P | PTE_W | PTE_U | (*pde & PTE_A);
		*pde = (uint64_t)pt | PTE_P | PTE_W | PTE_U;
		invlpg(base);
	}
	return &((uint64_t *)(*pde & PTE_ADDR))[(addr >> 12) & 511];
}

void arch_paging_init(uint64_t mem_size)
{
	pml4 = table_alloc();
	for (uint64_t a = 0; a < mem_size; a += 0x200000)
		map_2m(a, 0);
	map_2m(LAPIC_BASE & ~0x1fffffULL, PTE_PCD | PTE_PWT);
	map_2m(IOAPIC_BASE & ~0x1fffffULL, PTE_PCD | PTE_PWT);
	*pte_4k(0) = 0; /* null pointers fault */
	write_cr3((uint64_t)pml4);
}

/* Another cpu joins: it still runs on its loader's boot page tables. */
void arch_paging_load(void)
{
	write_cr3((uint64_t)pml4);
}

/* Each invlpg is a VM exit under kvm_pvm (~8 us): flush only what a TLB may
 * hold.  A page made present needs none (absent entries are never cached), and
 * neither does one whose accessed bit is clear (no translation was cached). */
static int set_pages(uint64_t addr, uint64_t npages, int present)
{
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t a = addr + i * PAGE_SIZE, *e = walk(a, 1, 0);
		if (present && e && (*e & (PTE_P | PTE_PS)) == (PTE_P | PTE_PS))
			continue; /* a 2 MiB page maps it already */
		uint64_t *pte = pte_4k(a), want = present ? (a | PTE_P | PTE_W | PTE_U) : 0;
		if (!pte)
			return -1;
		uint64_t old = *pte;
		if ((old & ~(PTE_A | PTE_D)) == want)
			continue; /* keeps its accessed bit: a TLB may hold it */
		*pte = want;
		if (old & PTE_A)
			invlpg(a);
	}
	return 0;
}

int arch_unmap_pages(uint64_t addr, uint64_t npages)
{
	return set_pages(addr, npages, 0);
}

int arch_map_pages(uint64_t addr, uint64_t npages)
{
	return set_pages(addr, npages, 1);
}

int arch_is_mapped(uint64_t addr)
{
	uint64_t *e = walk(addr, 0, 0);
	return e && (*e & PTE_P);
}
