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
	boot_info->tsc_entry = tsc_entry;
	if (boot_info->cmdline_len)
		cmdline_parse((const char *)boot_info->cmdline_addr, boot_info->cmdline_len);
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
