/* Linux x86_64's signal context (mcontext_t) from and to a syscall_frame:
 * arch/x86/sigctx.c, for kernel/signal.c. */
#ifndef ASM_SIGCTX_H
#define ASM_SIGCTX_H

#include <signal.h>

#include <asm/frame.h>

/* full: an interrupt stopped the application, so rcx and r11 are its own
 * (current->clobbered), not what the system call put there. */
void arch_sigctx_save(mcontext_t *mc, const struct syscall_frame *f, int full);
/* Returns the saved rax: rt_sigreturn's result. */
long arch_sigctx_restore(struct syscall_frame *f, const mcontext_t *mc, int full);

#endif
