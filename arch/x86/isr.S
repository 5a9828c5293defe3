/* Exception entry stubs: every vector runs on an IST stack (the red zone of
 * the interrupted code stays intact) and lands in trap_handler().  In section
 * hermit_entry, with PERCPU_IN_USER kept as syscall.S says. */
#include <asm/percpu.h>

#define USER_CS (0x30 | 3)
#define USER_CS_IRET (0x38 | 3)

	.section hermit_entry, "ax", @progbits
	/* struct trap_frame, from r15 (lowest) up to rax */
	.macro SAVE_REGS
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	.endm
	.macro RESTORE_REGS
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	.endm

	.macro ISR_NOERR n
isr\n:
	pushq $0
	pushq $\n
	jmp isr_common
	.endm
	.macro ISR_ERR n
isr\n:
	pushq $\n
	jmp isr_common
	.endm

	ISR_NOERR 0
	ISR_NOERR 1
	ISR_NOERR 2
	ISR_NOERR 3
	ISR_NOERR 4
	ISR_NOERR 5
	ISR_NOERR 6
	ISR_NOERR 7
	ISR_ERR 8
	ISR_NOERR 9
	ISR_ERR 10
	ISR_ERR 11
	ISR_ERR 12
	ISR_ERR 13
	ISR_ERR 14
	ISR_NOERR 15
	ISR_NOERR 16
	ISR_ERR 17
	ISR_NOERR 18
	ISR_NOERR 19
	ISR_NOERR 20
	ISR_ERR 21
	ISR_NOERR 22
	ISR_NOERR 23
	ISR_NOERR 24
	ISR_NOERR 25
	ISR_NOERR 26
	ISR_NOERR 27
	ISR_NOERR 28
	ISR_ERR 29
	ISR_ERR 30
	ISR_NOERR 31

isr_common:
	SAVE_REGS
	mov %gs:PERCPU_IN_USER, %rsi	/* whose fault: the report says */
	movq $0, %gs:PERCPU_IN_USER
	cld
	push %rsi			/* twice: the stack stays 16-byte aligned */
	push %rsi
	lea 16(%rsp), %rdi
	call trap_handler		/* returns only for a debugger's trap (debug.c) */
	pop %rsi
	pop %rsi
	mov %rsi, %gs:PERCPU_IN_USER	/* the mode it came from, as it was */
	RESTORE_REGS
	add $16, %rsp
	cmpq $USER_CS, 8(%rsp)
	je .Liret_app			/* kvm_pvm's alias, as arch_iret_frame's */
	iretq

/*
 * Interrupts: no IST (the thread may be switched away inside the handler), so
 * from the application they arrive on the thread's kernel stack (TSS.RSP0).
 */
	.globl irq_timer
	.hidden irq_timer
irq_timer:
	pushq $0
	pushq $32
	jmp irq_common
	.globl irq_kick
	.hidden irq_kick
irq_kick:
	pushq $0
	pushq $33
	jmp irq_common
	.globl irq_spurious
	.hidden irq_spurious
irq_spurious:
	iretq

irq_common:
	SAVE_REGS
	movq $0, %gs:PERCPU_IN_USER
	cld
	mov %rsp, %rdi
	call irq_handler
	jmp 2f

	/* arch_iret_frame(struct trap_frame *f): to the application with every register */
	.globl arch_iret_frame
	.hidden arch_iret_frame
arch_iret_frame:
	mov %rdi, %rsp
2:	RESTORE_REGS
	add $16, %rsp
	/* Back to the application through the alias of its code segment: kvm_pvm
	 * switches to user mode on an iretq it sees, and it only sees this one.  An
	 * application at the kernel's privilege (callsys.c) takes the plain one,
	 * which kvm_pvm leaves to the hardware: the mode stays. */
	cmpq $USER_CS, 8(%rsp)
	jne 1f
	movq $1, %gs:PERCPU_IN_USER
.Liret_app:
	cmpb $0, arch_app_supervisor(%rip)
	jne 1f
	movq $USER_CS_IRET, 8(%rsp)
1:	iretq

	.section .rodata
	.balign 8
	.globl isr_table
	.hidden isr_table
isr_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr\n
	.endr
	.section .note.GNU-stack, "", @progbits
