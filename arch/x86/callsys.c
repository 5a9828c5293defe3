/*
 * How the application enters the kernel.  Debian's musl uses the `syscall`
 * instruction; on kvm_pvm that is a world switch (~7,000 cycles) although kernel
 * and application share one address space.  The SDK's own musl (tools/build-musl)
 * calls through the word at HERMIT_SYSCALL_SLOT instead, and defines
 * __hermit_syscall_slot to say so.  Where native execution is on (kvm_pvm) and the
 * application's libc calls, it runs at the kernel's privilege (PVM's supervisor
 * mode) and the slot holds syscall_call, a plain call into the kernel.  Elsewhere
 * the application stays in ring 3 and the slot holds syscall_trap (a `syscall`
 * whose return goes straight to the caller): ordinary KVM makes that a ~100-cycle
 * trap, and at ring 0 every interrupt would land on the application's stack.  An application linked with Debian's
 * musl keeps its `syscall` instructions and ring 3 everywhere.
 */
#include <hermit/arch.h>
#include <asm/x86.h>

extern const uint64_t __hermit_syscall_slot __attribute__((weak, visibility("default")));
extern const char syscall_call[], syscall_trap[];

uint8_t arch_app_supervisor;

void arch_syscall_mode_init(void)
{
	const uint64_t *mark = &__hermit_syscall_slot;

	if (mark && *mark != HERMIT_SYSCALL_SLOT)
		kernel_fail("hermit: the application's libc calls the kernel through another "
			    "slot than this kernel's: relink it with this SDK\n");
	arch_app_supervisor = mark && boot_info->pvm;
	*(volatile uint64_t *)HERMIT_SYSCALL_SLOT =
		(uint64_t)(arch_app_supervisor ? syscall_call : syscall_trap);
	kprintf("hermit: system calls: %s\n",
		arch_app_supervisor ? "calls, the application at the kernel's privilege" :
		mark ? "syscall from ring 3 (through the slot)" :
		       "syscall from ring 3 (the application's libc is not the SDK's)");
}
