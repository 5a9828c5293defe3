/* What generic kernel code needs from the architecture; arch/<arch>/ implements it. */
#ifndef HERMIT_ARCH_H
#define HERMIT_ARCH_H

#include <stdint.h>

#include <hermit/kernel.h>
#include <asm/frame.h>   /* struct syscall_frame, SYSCALL_NR/ARGS/RET/SP */
#include <asm/machine.h> /* ARCH_MACHINE */

/* Early setup: descriptor tables, FPU, system call entry. */
void arch_init(void);
void arch_init_cpu(uint32_t id, uint64_t kstack_top);
void arch_pvm_native(uint32_t cpu);
/* Start cpus 1..n-1 that wait for the boot cpu (QEMU); how many cpus run then. */
uint32_t arch_start_aps(uint32_t n);
/* After arch_paging_init: the interrupt controller and timer. */
void arch_init_late(void);
/* Replace the boot page tables with an identity map of all guest RAM (ram_ranges). */
void arch_paging_init(void);
void arch_paging_load(void);
/* Make 4 KiB pages absent (guard pages, PROT_NONE) or present again. */
int arch_unmap_pages(uint64_t addr, uint64_t npages);
int arch_map_pages(uint64_t addr, uint64_t npages); /* clears pages unmapped stale */
/* Absent pages whose contents were not cleared (arch_map_pages clears them). */
int arch_unmap_pages_stale(uint64_t addr, uint64_t npages);
/* Present again on their way to the free pool: no clearing (page_alloc does it). */
int arch_release_pages(uint64_t addr, uint64_t npages);
int arch_is_mapped(uint64_t addr);
/* Device registers at [addr, addr + len), never RAM (the hole below 4 GiB, a BAR
 * above), mapped uncached for drivers; 0, or -1 when no page table can be had. */
int arch_map_mmio(uint64_t addr, uint64_t len);
/* Where the machine puts its virtio-mmio transports (QEMU microvm), how many and
 * how far apart; count 0: none. */
void arch_virtio_mmio(uint64_t *base, unsigned *count, uint64_t *stride);
/* PCI configuration space (aligned 32-bit words); all ones where nothing answers. */
uint32_t arch_pci_read32(unsigned bus, unsigned dev, unsigned fn, unsigned off);
void arch_pci_write32(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v);

uint64_t arch_cycles(void);
/* The one-shot timer (TSC-deadline or the APIC's count) and waiting for it. */
int arch_timer_available(void);
void arch_timer_arm(uint64_t cycles_at);
void arch_idle(void);
void arch_relax(void);
noreturn void arch_halt(void);
void arch_hypercall_init(void);
/* A boot_info this kernel does not understand: tell the loader, the way every ABI
 * version does, that the image speaks ABI `version` (HERMIT_EXIT_ABI_MISMATCH), and stop. */
noreturn void arch_abi_mismatch(uint64_t version);
extern const uint32_t hermit_abi_version; /* the image's ABI note */
/* 1 when the call took a VM exit or doorbell, 0 when the loader's poller took it. */
int arch_hypercall(unsigned nr, void *arg);
void arch_console_putc(char c);

void arch_set_tls(uint64_t base);
uint64_t arch_get_tls(void);
uint64_t arch_hwcap(void);
uint64_t arch_user_sp(void);
int arch_hw_random(uint64_t *out);
noreturn void arch_enter_app(uint64_t entry, uint64_t stack);
/* The vDSO's ELF header (arch/x86/vdso): the application's AT_SYSINFO_EHDR. */
extern const char vdso_image[];

#endif
