/*
 * Two ways in, one kernel:
 *  - hermit_entry: uhyve starts here in long mode with its GDT and an identity
 *    map of the first 1 GiB already set up (the ELF entry point);
 *  - pvh_entry32: QEMU's -kernel starts here in 32-bit protected mode without
 *    paging (the Xen PVH note below), with %ebx = PVH start info.
 */
#include <hermit/abi.h>
#include <asm/longmode.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define AP_MAX HERMIT_MAX_CPUS
#define AP_STACK_SHIFT 14		/* 16 KiB boot stacks for the other cpus */

	.section .note.Xen, "a", @note
	.balign 4
	.long 4
	.long 8
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.quad pvh_entry32

	/* The loader ABI this image speaks: loaders read the note before they boot it,
	 * the kernel compares boot_info with this very word (hermit_abi_version). */
	.section .note.hermit, "a", @note
	.balign 4
	.long .Lnote_name_end - .Lnote_name
	.long 4
	.long HERMIT_NOTE_ABI_VERSION
.Lnote_name:
	.asciz HERMIT_NOTE_NAME
.Lnote_name_end:
	.balign 4
	.globl hermit_abi_version
	.hidden hermit_abi_version
hermit_abi_version:
	.long HERMIT_ABI_VERSION

	.section .text.boot, "ax", @progbits
	.code32
	.hidden pvh_entry32
pvh_entry32:
	cli
	cld
	mov %ebx, %esi
	rdtsc
	movl %eax, tsc_entry
	movl %edx, tsc_entry + 4

	/*
	 * Identity-map the image and 8 MiB beyond it (the page bitmaps and the first
	 * page tables come from there) with 2 MiB pages; the kernel then maps all RAM.
	 * Few entries: under kvm_pvm this code is still emulated, at ~5k cycles an
	 * instruction.
	 */
	mov $(_end + 0x800000 + 0x1fffff), %ebx
	shr $21, %ebx
	mov $boot_pd, %edi
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x87, %eax			/* present, writable, user, 2 MiB */
	mov %eax, (%edi, %ecx, 8)
	inc %ecx
	cmp %ebx, %ecx
	jb 1b
	movl $(boot_pdpt + 7), boot_pml4
	movl $(boot_pd + 7), boot_pdpt

	mov $boot_pml4, %eax
	mov %eax, %cr3
	ENABLE_LONG_MODE
	lgdt boot_gdt_desc
	ljmp $0x08, $pvh_entry64

	.code64
pvh_entry64:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	lea boot_stack_top(%rip), %rsp
	mov %esi, %edi
	call pvh_setup
	jmp common64

	.globl hermit_entry
	.type hermit_entry, @function
hermit_entry:
	cli
	cld
	test %edx, %edx			/* uhyve: %edx = this vCPU's index */
	jnz ap_boot
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	mov %rax, tsc_entry(%rip)
	lea boot_stack_top(%rip), %rsp
common64:
	xor %ebp, %ebp
	call kernel_main
2:	hlt
	jmp 2b

	/* An application processor: its own boot stack, then ap_main(index, stack top). */
ap_boot:
	cmp $AP_MAX, %edx
	jae 2b
	mov %edx, %eax
	inc %eax
	shl $AP_STACK_SHIFT, %rax
	lea ap_stacks(%rip), %rsp
	add %rax, %rsp
	mov %edx, %edi
	mov %rsp, %rsi
	xor %ebp, %ebp
	call ap_main
	jmp 2b

	.section .rodata
	.balign 8
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* 64-bit code */
	.quad 0x00cf92000000ffff	/* data */
boot_gdt_desc:
	.word boot_gdt_desc - boot_gdt - 1
	.long boot_gdt

	.section .data
	.balign 8
	.globl tsc_entry
	.hidden tsc_entry
tsc_entry:
	.quad 0

	.section .bss
	.balign 4096
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd: .skip 4096
	.globl boot_stack_top
	.hidden boot_stack_top
boot_stack: .skip 16384
boot_stack_top:
	.balign 16
ap_stacks: .skip (AP_MAX << AP_STACK_SHIFT)
	.section .note.GNU-stack, "", @progbits
