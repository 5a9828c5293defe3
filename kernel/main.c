/* Boot: set up the CPU, memory and clocks, then start the application. */
#include <hermit/arch.h>
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
	if (boot_info->loader != HERMIT_LOADER_UHYVE && boot_info->cpus > 1) {
		/* QEMU holds the other cpus until INIT/SIPI, which hermit does not send yet. */
		kprintf("hermit: QEMU: 1 of %lu cpus runs (SMP under QEMU comes later)\n",
			(unsigned long)boot_info->cpus);
		boot_info->cpus = 1;
	}
	arch_init();
	page_init(ALIGN_UP((uint64_t)_end, PAGE_SIZE), boot_info->mem_size);
	arch_paging_init(boot_info->mem_size);
	arch_init_late();
	vma_init();
	time_init();
	kprintf("hermit: %lu MiB, %lu cpu(s), TSC %lu kHz, %s\n",
		(unsigned long)(boot_info->mem_size >> 20), (unsigned long)boot_info->cpus,
		(unsigned long)boot_info->tsc_khz,
		boot_info->loader == HERMIT_LOADER_UHYVE ? "uhyve" : "qemu");
	task_init();
	smp_release();
	app_start();
}
