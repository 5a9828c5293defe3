/* The application's registers as the x86_64 system call entry saves them, and the
 * few accessors generic code uses on them (it names no register itself). */
#ifndef ASM_FRAME_H
#define ASM_FRAME_H

#include <stdint.h>

/* The order arch/x86/syscall.S pushes them in. */
struct syscall_frame {
	uint64_t r15, r14, r13, r12, rbp, rbx, r9, r8, r10, rdx, rsi, rdi, rax;
	uint64_t rip, rflags, rsp;
};

/* Linux x86_64's system call convention: number in rax, arguments in
 * rdi, rsi, rdx, r10, r8, r9, result in rax. */
#define SYSCALL_NR(f) ((f)->rax)
#define SYSCALL_ARGS(f) (f)->rdi, (f)->rsi, (f)->rdx, (f)->r10, (f)->r8, (f)->r9
#define SYSCALL_RET(f, v) ((f)->rax = (uint64_t)(v))
#define SYSCALL_RESULT(f) ((long)(f)->rax)
#define SYSCALL_SP(f) ((f)->rsp)

/* Return to the application in fn(a0, a1, a2) on stack sp, as if called there
 * (sp as after a call; rax = 0 says "no vector registers" to a variadic fn). */
static inline void syscall_frame_call(struct syscall_frame *f, uint64_t fn, uint64_t sp,
				      uint64_t a0, uint64_t a1, uint64_t a2)
{
	f->rip = fn, f->rsp = sp;
	f->rdi = a0, f->rsi = a1, f->rdx = a2, f->rax = 0;
}

/* What a system call clobbers but an interrupt leaves live (SYSCALL writes rip
 * into rcx and rflags into r11): the rest of a context taken at an interrupt. */
struct frame_clobbered {
	uint64_t rcx, r11;
};

#endif
