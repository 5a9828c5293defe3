/*
 * The system call entry.  The application runs in ring 3 of the one address
 * space and enters by `syscall`, or at the kernel's privilege and enters by a
 * call (arch/x86/callsys.c).  Neither switches stacks, so switch to the thread's
 * kernel stack before pushing anything; return by `sysretq`, or by a jump.
 * %gs points at this CPU's struct percpu (the application never uses %gs).
 */
#include <asm/event.h>
#include <asm/percpu.h>

#define PERCPU_KSTACK 8
#define PERCPU_USER_RSP 16

	/* Every way into and out of the kernel lies in section hermit_entry (this
	 * file and isr.S): inside it the cpu is in either mode, outside it
	 * PERCPU_IN_USER says which (what a loader delivering events must know). */
	.section hermit_entry, "ax", @progbits
	/* `call *HERMIT_SYSCALL_SLOT` at the kernel's privilege: make it look like a
	 * `syscall` there (rip in rcx, rflags in r11, rsp as before the call).  The
	 * caller (the SDK's musl) keeps nothing below its stack pointer. */
	.globl syscall_call
	.hidden syscall_call
syscall_call:
	pop %rcx
	pushfq
	pop %r11
	jmp syscall_saved
	.globl syscall_entry
	.hidden syscall_entry
syscall_entry:
	/* From syscall_trap: return to its caller directly, as from syscall_call
	 * (a clone's child must not run the stub's `ret` on its new stack). */
	cmpq $syscall_trap_end, %rcx
	jne syscall_saved
	pop %rcx
syscall_saved:			/* rip in rcx, rflags in r11, rsp the application's */
	movq $0, %gs:PERCPU_IN_USER
	mov %rsp, %gs:PERCPU_USER_RSP
	mov %gs:PERCPU_KSTACK, %rsp
	pushq %gs:PERCPU_USER_RSP
	push %r11			/* rflags */
	push %rcx			/* rip */
	push %rax
	push %rdi
	push %rsi
	push %rdx
	push %r10
	push %r8
	push %r9
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	cmp $SYS_EVENT, %rax
	je 1f
	call syscall_dispatch
	jmp syscall_return
1:	call arch_event			/* back here only if it was no event */
	.globl syscall_return
	.hidden syscall_return
syscall_return:			/* also where a new thread starts (arch_task_prepare) */
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	pop %r9
	pop %r8
	pop %r10
	pop %rdx
	pop %rsi
	pop %rdi
	pop %rax
	pop %rcx
	pop %r11
	cmpb $0, arch_app_supervisor(%rip)
	jne 1f
	pop %rsp			/* interrupts stay masked until sysret restores rflags */
	movq $1, %gs:PERCPU_IN_USER
	sysretq
	/* At the kernel's privilege: rflags from the kernel stack (a raw `syscall`
	 * may have left data in the red zone below the application's rsp), then
	 * nothing that changes them. */
1:	push %r11
	popfq
	pop %rsp
	movq $1, %gs:PERCPU_IN_USER
	jmp *%rcx

	/* Where the loader sends a cpu that runs the application when an event is
	 * due (arch/x86/event.c): it saved rax, rcx, r11, rip and rflags first. */
	.globl event_entry
	.hidden event_entry
event_entry:
	mov $SYS_EVENT, %eax
	syscall
	ud2
	/* The same at the kernel's privilege: step over the red zone of the code
	 * interrupted (EVENT_CALL_BIAS, which arch_event gives back). */
	.globl event_entry_call
	.hidden event_entry_call
event_entry_call:
	lea -EVENT_CALL_BIAS(%rsp), %rsp
	pushfq
	pop %r11
	mov $SYS_EVENT, %eax
	jmp syscall_saved		/* rcx is the loader's to restore: no stub check */

	/* A new thread's first return to the application: drop the kernel lock its
	 * creator held across the switch, then leave like any system call. */
	.globl ret_from_clone
	.hidden ret_from_clone
ret_from_clone:
	call kernel_unlock
	jmp syscall_return

	/* arch_switch_stack(&prev_ksp, next_ksp): the kernel half of a thread switch. */
	.globl arch_switch_stack
	.hidden arch_switch_stack
arch_switch_stack:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, (%rdi)
	mov %rsi, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret

	/* arch_enter_app(entry, stack): start the application like Linux starts a static
	 * binary, with `sysretq` (kvm_pvm switches to user mode on it, not on iretq). */
	.globl arch_enter_app
	.hidden arch_enter_app
arch_enter_app:
	mov %rdi, %rcx
	mov $0x202, %r11d
	mov %rsi, %rsp
	xor %eax, %eax
	xor %ebx, %ebx
	xor %edx, %edx
	xor %esi, %esi
	xor %edi, %edi
	xor %ebp, %ebp
	xor %r8d, %r8d
	xor %r9d, %r9d
	xor %r10d, %r10d
	xor %r12d, %r12d
	xor %r13d, %r13d
	xor %r14d, %r14d
	xor %r15d, %r15d
	movq $1, %gs:PERCPU_IN_USER
	cmpb $0, arch_app_supervisor(%rip)
	jne 1f
	sysretq
1:	push %r11
	popfq
	jmp *%rcx

	/* The slot's entry where the application runs in ring 3: outside hermit_entry,
	 * since here the cpu runs the application. */
	.text
	.globl syscall_trap
	.hidden syscall_trap
syscall_trap:
	syscall
syscall_trap_end:			/* never reached: the entry returns to the caller */
	ud2
	.section .note.GNU-stack, "", @progbits
