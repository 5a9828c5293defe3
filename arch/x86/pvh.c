/* QEMU's PVH boot: fill the boot-info block from the kernel command line. */
#include <hermit/arch.h>

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

#define CMDLINE_MAX 1024
static char cmdline[CMDLINE_MAX];

void pvh_setup(uint32_t start_info);

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
	bi->abi_version = HERMIT_ABI_VERSION;
	bi->loader = HERMIT_LOADER_QEMU;
	bi->cpus = 1;
	bi->mem_size = 64 << 20;
	bi->cmdline_addr = (uint64_t)cmdline;
	bi->cmdline_len = len;
}
