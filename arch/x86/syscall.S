/*
 * The `syscall` entry.  The application runs in ring 3 of the one address
 * space; `syscall` does not switch stacks, so switch to the thread's kernel
 * stack before pushing anything, and return with `sysretq`.
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
	.globl syscall_entry
	.hidden syscall_entry
syscall_entry:
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
	pop %rsp			/* interrupts stay masked until sysret restores rflags */
	movq $1, %gs:PERCPU_IN_USER
	sysretq

	/* Where the loader sends a cpu that runs the application when an event is
	 * due (arch/x86/event.c): it saved rax, rcx, r11, rip and rflags first. */
	.globl event_entry
	.hidden event_entry
event_entry:
	mov $SYS_EVENT, %eax
	syscall
	ud2

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
	sysretq
	.section .note.GNU-stack, "", @progbits
