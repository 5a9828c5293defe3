/* QEMU's PVH boot: fill the boot-info block from the start info's memory map and the
 * kernel command line. */
#include <hermit/arch.h>

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

#define E820_RAM 1
#define CMDLINE_MAX 1024
static char cmdline[CMDLINE_MAX];

void pvh_setup(uint32_t start_info);

/* RAM below the 32-bit hole ends where the highest RAM entry under 4 GiB ends (the
 * legacy hole below 1 MiB stays reserved by the page allocator); RAM above starts at
 * HERMIT_HIGH_MEM_BASE.  What QEMU reports is what it mapped, whatever the machine. */
static void ram_from_memmap(const struct hvm_start_info *si, struct boot_info *bi)
{
	const struct hvm_memmap_entry *m = (const void *)si->memmap_paddr;

	for (uint32_t i = 0; i < si->memmap_entries; i++) {
		uint64_t end = m[i].addr + m[i].size;
		if (m[i].type != E820_RAM)
			continue;
		if (end <= HERMIT_HIGH_MEM_BASE && end > bi->mem_size)
			bi->mem_size = end;
		else if (m[i].addr == HERMIT_HIGH_MEM_BASE)
			bi->mem_high = m[i].size;
	}
}

void pvh_setup(uint32_t start_info)
{
	const struct hvm_start_info *si = (const void *)(uint64_t)start_info;
	struct boot_info *bi = (struct boot_info *)HERMIT_BOOT_INFO_ADDR;
	uint64_t len = 0;

	/* Copy the command line before anything can overwrite low memory. */
	if (si && si->magic == 0x336ec578 && si->cmdline_paddr) {
		const char *src = (const char *)si->cmdline_paddr;
		while (len < CMDLINE_MAX - 1 && src[len])
			len++;
		memcpy(cmdline, src, len);
	}
	memset(bi, 0, sizeof(*bi));
	bi->magic = HERMIT_BOOT_INFO_MAGIC;
	bi->abi_version = 0; /* the runner's, from hermit.abi= */
	bi->loader = HERMIT_LOADER_QEMU;
	bi->cpus = 1;
	bi->mem_size = 64 << 20; /* without a memory map: what every machine has */
	if (si && si->magic == 0x336ec578 && si->version >= 1 && si->memmap_paddr &&
	    si->memmap_entries) {
		bi->mem_size = 0;
		ram_from_memmap(si, bi);
		if (bi->mem_size < (16 << 20))
			bi->mem_size = 64 << 20; /* a map without low RAM: ignore it */
	}
	bi->cmdline_addr = (uint64_t)cmdline;
	bi->cmdline_len = len;
}
