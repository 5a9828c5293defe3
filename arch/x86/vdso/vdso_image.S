/* The vDSO's ELF file inside the kernel image, page-aligned as Linux maps it and
 * in executable memory; kernel/app.c passes its address as AT_SYSINFO_EHDR. */
	.section .text.vdso, "ax", @progbits
	.balign 4096
	.globl vdso_image
	.hidden vdso_image
	.type vdso_image, @object
vdso_image:
	.incbin VDSO_SO
	.size vdso_image, . - vdso_image

	.section .note.GNU-stack, "", @progbits
