/*
 * Where QEMU's application processors start: the INIT-SIPI-SIPI vector points
 * them at TRAMPOLINE_BASE in real mode.  This code is copied there by
 * smp_start_aps(); it enters long mode on the kernel's page tables and jumps
 * to hermit_entry with the cpu's index in %edx, like uhyve starts them.
 */
#include <hermit/abi.h>
#include <asm/longmode.h>

#define TRAMPOLINE_BASE HERMIT_TRAMPOLINE_ADDR
#define REL(x) (TRAMPOLINE_BASE + (x) - trampoline_start)

	.section .data
	.globl trampoline_start, trampoline_end, trampoline_cr3, trampoline_entry, trampoline_cpu
	.hidden trampoline_start
	.hidden trampoline_end
	.hidden trampoline_cr3
	.hidden trampoline_entry
	.hidden trampoline_cpu
	.balign 16
	.code16
trampoline_start:
	cli
	cld
	xor %ax, %ax
	mov %ax, %ds
	lgdtl REL(tramp_gdt_desc)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $REL(tramp32)

	.code32
tramp32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov REL(trampoline_cr3), %eax
	mov %eax, %cr3
	ENABLE_LONG_MODE
	ljmp $0x18, $REL(tramp64)

	.code64
tramp64:
	mov REL(trampoline_cpu), %edx
	mov REL(trampoline_entry), %rax
	jmp *%rax

	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff	/* 0x10: data */
	.quad 0x00af9a000000ffff	/* 0x18: 64-bit code */
tramp_gdt_desc:
	.word tramp_gdt_desc - tramp_gdt - 1
	.long REL(tramp_gdt)
	.balign 8
trampoline_entry: .quad 0
trampoline_cr3: .long 0
trampoline_cpu: .long 0
trampoline_end:
	.section .note.GNU-stack, "", @progbits
