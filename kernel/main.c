/* Boot: set up the CPU, memory and clocks, then start the application. */
#include <hermit/arch.h>
#include <hermit/fd.h>
#include <hermit/task.h>

struct boot_info *boot_info = (struct boot_info *)HERMIT_BOOT_INFO_ADDR;
extern uint64_t tsc_entry;
extern char _end[];

noreturn void kernel_main(void);

noreturn void kernel_main(void)
{
	if (boot_info->magic != HERMIT_BOOT_INFO_MAGIC) /* then nothing else in it means anything */
		arch_abi_mismatch(hermit_abi_version);
	boot_info->tsc_entry = tsc_entry;
	/* First: until then kvm_pvm emulates every instruction (~5k cycles each; the
	 * command line and the log's set-up alone took ~60 us emulated).  uhyve says
	 * so in a boot_info of this ABI, QEMU on the command line (hermit.pvm=1). */
	int early = boot_info->abi_version == hermit_abi_version && boot_info->pvm;
	if (early)
		arch_pvm_native(0);
	if (boot_info->cmdline_len)
		cmdline_parse((const char *)boot_info->cmdline_addr, boot_info->cmdline_len);
	if (boot_info->abi_version != hermit_abi_version) /* QEMU's comes on the command line */
		arch_abi_mismatch(hermit_abi_version);
	if (!early)
		arch_pvm_native(0);
	log_init();
	arch_hypercall_init();

	arch_init();
	page_init(ALIGN_UP((uint64_t)_end, PAGE_SIZE));
	arch_paging_init();
	arch_init_late();
	vma_init();
	time_init();
	kprintf("hermit: %lu MiB, %lu cpu(s), TSC %lu kHz, %s\n",
		(unsigned long)(ram_total() >> 20), (unsigned long)boot_info->cpus,
		(unsigned long)boot_info->tsc_khz,
		boot_info->loader == HERMIT_LOADER_UHYVE ? "uhyve" : "qemu");
	if (boot_info->loader != HERMIT_LOADER_UHYVE && boot_info->cpus > 1)
		boot_info->cpus = arch_start_aps(boot_info->cpus); /* QEMU holds them for INIT/SIPI */
	task_init();
	fd_init();
	smp_release();
	app_start();
}
