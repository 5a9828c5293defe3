/* Entering long mode from 32-bit protected mode, once %cr3 holds the page tables:
 * shared by the PVH entry and the other cpus' trampoline (assembler only). */
#ifndef ASM_LONGMODE_H
#define ASM_LONGMODE_H

.macro ENABLE_LONG_MODE
	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
	mov %eax, %cr4
	mov $0xC0000080, %ecx		/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax		/* PG | PE */
	mov %eax, %cr0
.endm

#endif
