/*
 * Signals within the one process: actions, per-thread masks, delivery when a
 * thread returns from a system call or an interrupt (a frame on its stack as
 * Linux builds it, so musl's __restore_rt and rt_sigreturn bring it back), and
 * blocking calls cut short with EINTR.  Faults stay fatal reports (no SIGSEGV handlers yet).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>
#include <asm/sigctx.h>

#include "sigqueue.h"

#define NSIG_ 65
#define BIT(s) (1ULL << ((s) - 1))
#define UNBLOCKABLE (BIT(SIGKILL) | BIT(SIGSTOP))
#define IGNORED_BY_DEFAULT (BIT(SIGCHLD) | BIT(SIGURG) | BIT(SIGWINCH) | BIT(SIGCONT))
#define UC_HERMIT_FULL (1UL << 30) /* ours: the context came from an interrupt */

struct k_sigaction {
	uint64_t handler, flags, restorer, mask;
};

struct rt_sigframe {
	uint64_t pretcode; /* the handler's return address: SA_RESTORER's trampoline */
	ucontext_t uc;
	siginfo_t info;
};

static struct k_sigaction actions[NSIG_];
static uint64_t process_pending;

uint64_t signal_process_pending(void)
{
	return process_pending;
}

static int valid(long sig)
{
	return sig >= 1 && sig < NSIG_;
}

long sys_rt_sigaction(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct k_sigaction *act = (void *)a1, *old = (void *)a2;

	if (!valid(a0) || a3 != 8 || (act && (a0 == SIGKILL || a0 == SIGSTOP)))
		return -EINVAL;
	if (old)
		*old = actions[a0];
	if (act)
		actions[a0] = *act;
	return 0;
}

long sys_rt_sigprocmask(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	const uint64_t *set = (void *)a1;
	uint64_t *old = (void *)a2;

	if (a3 != 8)
		return -EINVAL;
	if (old)
		*old = current->sigmask;
	if (set) {
		if (a0 == SIG_BLOCK)
			current->sigmask |= *set;
		else if (a0 == SIG_UNBLOCK)
			current->sigmask &= ~*set;
		else if (a0 == SIG_SETMASK)
			current->sigmask = *set;
		else
			return -EINVAL;
		current->sigmask &= ~UNBLOCKABLE;
	}
	return 0;
}

long sys_rt_sigpending(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	*(uint64_t *)a0 = current->sigpending | process_pending;
	return 0;
}

long sys_sigaltstack(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	const stack_t *ss = (void *)a0;
	stack_t *old = (void *)a1;

	uint64_t sp = arch_user_sp(), base = current->altstack_sp;
	int on = base && sp > base && sp <= base + current->altstack_size;
	if (old)
		*old = (stack_t){ (void *)base, !base ? SS_DISABLE : on ? SS_ONSTACK : 0,
				  current->altstack_size };
	if (ss && on)
		return -EPERM; /* cannot change the stack it runs on */
	if (ss) {
		if (ss->ss_flags & SS_DISABLE) {
			current->altstack_sp = current->altstack_size = 0;
		} else {
			if (ss->ss_size < MINSIGSTKSZ)
				return -ENOMEM;
			current->altstack_sp = (uint64_t)ss->ss_sp;
			current->altstack_size = ss->ss_size;
		}
	}
	return 0;
}

/* A blocked target wakes with EINTR so that it can take the signal; one running
 * on another cpu is interrupted there (with a timer: not under kvm_pvm). */
static void interrupt(struct task *t)
{
	uint64_t p = t->sigpending | process_pending;
	if (!(p & (~t->sigmask | t->sigwait_set)))
		return;
	if (t->state == TASK_BLOCKED) {
		t->interrupted = 1;
		futex_cancel(t);
		sched_wake(t);
	} else if (t != current && cpu_get(t->cpu)->running == t) {
		sched_poke_running(t); /* it takes the signal there */
	}
}

static long send(struct task *t, long sig, const struct ksig *info)
{
	if (sig == 0)
		return 0;
	if (!valid(sig))
		return -EINVAL;
	long r = sigq_post(t, t ? &t->sigpending : &process_pending, (int)sig, info);
	if (r)
		return r;
	if (t) {
		interrupt(t);
	} else {
		for (struct task *u = task_first(); u; u = u->all_next)
			interrupt(u);
	}
	return 0;
}

static const struct ksig *from_us(int code)
{
	static struct ksig k;
	k = (struct ksig){ .code = code, .first = HERMIT_APP_PID }; /* si_pid 1, si_uid 0 */
	return &k;
}

long sys_kill(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a0 != HERMIT_APP_PID && a0 != 0 && a0 != -1)
		return -ESRCH;
	return send(0, a1, from_us(SI_USER));
}

long sys_tkill(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = task_by_tid((uint64_t)a0);
	return t ? send(t, a1, from_us(SI_TKILL)) : -ESRCH;
}

long sys_tgkill(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = task_by_tid((uint64_t)a1);
	return a0 == HERMIT_APP_PID && t ? send(t, a2, from_us(SI_TKILL)) : -ESRCH;
}

/* rt_sigqueueinfo/rt_tgsigqueueinfo: the sender's siginfo (sigqueue's value).  From
 * within the process any si_code is allowed, as on Linux. */
static long queue_info(struct task *t, long sig, uint64_t uinfo)
{
	struct ksig k = { 0 };

	if (!user_ok(uinfo, sizeof(siginfo_t)))
		return -EFAULT;
	sigq_from_user(&k, (const siginfo_t *)uinfo);
	return send(t, sig, &k);
}

long sys_rt_sigqueueinfo(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a0 != HERMIT_APP_PID)
		return -ESRCH;
	return queue_info(0, a1, (uint64_t)a2);
}

long sys_rt_tgsigqueueinfo(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = task_by_tid((uint64_t)a1);
	if (a0 != HERMIT_APP_PID || !t)
		return -ESRCH;
	return queue_info(t, a2, (uint64_t)a3);
}

/* Take the lowest of `ready` for the current thread, its own queue first. */
static int take(uint64_t ready, struct ksig *k)
{
	int sig = __builtin_ctzll(ready) + 1;

	if (current->sigpending & BIT(sig))
		sigq_take(current, &current->sigpending, sig, k);
	else
		sigq_take(0, &process_pending, sig, k);
	return sig;
}

long sys_rt_sigtimedwait(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t deadline = NO_DEADLINE, set;
	const struct timespec *ts = (const struct timespec *)a2;

	if (a3 != 8)
		return -EINVAL;
	if (!user_ok((uint64_t)a0, 8) || (a1 && !user_ok((uint64_t)a1, sizeof(siginfo_t))))
		return -EFAULT;
	set = *(const uint64_t *)a0 & ~UNBLOCKABLE;
	if (ts) {
		if (!user_ok((uint64_t)ts, sizeof(*ts)))
			return -EFAULT;
		if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
			return -EINVAL;
		deadline = time_monotonic_ns() + (uint64_t)ts->tv_sec * 1000000000ULL +
			   (uint64_t)ts->tv_nsec;
	}
	for (;;) {
		uint64_t ready = (current->sigpending | process_pending) & set;
		if (ready) {
			struct ksig k;
			int sig = take(ready, &k);
			if (a1)
				sigq_fill((siginfo_t *)a1, &k);
			return sig;
		}
		current->sigwait_set = set;
		long r = sched_block(deadline);
		current->sigwait_set = 0;
		if ((current->sigpending | process_pending) & set)
			continue;
		if (r == -ETIMEDOUT)
			return -EAGAIN;
		if (r)
			return r;
	}
}

/* Save the interrupted context on the user stack and enter the handler. */
static void push_frame(struct syscall_frame *f, const struct ksig *k,
		       const struct k_sigaction *act)
{
	uint64_t sp = SYSCALL_SP(f), fpu_size = arch_fpu_size();

	if ((act->flags & SA_ONSTACK) && current->altstack_sp &&
	    !(sp > current->altstack_sp && sp <= current->altstack_sp + current->altstack_size))
		sp = current->altstack_sp + current->altstack_size;
	sp = ALIGN_DOWN(sp - 128 - fpu_size, 64); /* below the red zone */
	void *fpu = (void *)sp;
	memset(fpu, 0, fpu_size); /* xsave leaves header fields that xrstor checks */
	arch_fpu_save(fpu);
	sp = ALIGN_DOWN(sp - sizeof(struct rt_sigframe), 16) - 8; /* as after a call */
	struct rt_sigframe *fr = (void *)sp;

	memset(fr, 0, sizeof(*fr));
	fr->pretcode = act->restorer;
	arch_sigctx_save(&fr->uc.uc_mcontext, f, current->full_ctx);
	if (current->full_ctx) {
		/* interrupted anywhere: sigreturn must restore every register */
		fr->uc.uc_flags |= UC_HERMIT_FULL;
		current->full_ctx = 0;
	}
	fr->uc.uc_mcontext.fpregs = fpu;
	fr->uc.uc_stack = (stack_t){ (void *)current->altstack_sp, 0, current->altstack_size };
	memcpy(&fr->uc.uc_sigmask, &current->sigmask, sizeof(current->sigmask));
	sigq_fill(&fr->info, k);

	int sig = k->sig;
	current->sigmask |= act->mask | ((act->flags & SA_NODEFER) ? 0 : BIT(sig));
	current->sigmask &= ~UNBLOCKABLE;
	syscall_frame_call(f, act->handler, sp, (uint64_t)sig, (uint64_t)&fr->info,
			   (uint64_t)&fr->uc);
}

/* On the way back to the application: act on every deliverable signal. */
void signal_deliver(struct syscall_frame *f)
{
	for (;;) {
		uint64_t ready = (current->sigpending | process_pending) & ~current->sigmask;
		if (!ready)
			return;
		struct ksig k;
		int sig = take(ready, &k);
		struct k_sigaction *act = &actions[sig];
		if (act->handler == (uint64_t)SIG_IGN)
			continue;
		if (act->handler == (uint64_t)SIG_DFL) {
			if (BIT(sig) & IGNORED_BY_DEFAULT)
				continue;
			kernel_die_signal(sig);
		}
		struct k_sigaction taken = *act;
		if (act->flags & SA_RESETHAND)
			act->handler = (uint64_t)SIG_DFL;
		push_frame(f, &k, &taken);
		return; /* the others follow when the handler returns */
	}
}

/* Back from a handler through musl's __restore_rt: the saved context again. */
long sys_rt_sigreturn_frame(struct syscall_frame *f)
{
	ucontext_t *uc = (ucontext_t *)SYSCALL_SP(f); /* the handler's ret popped pretcode */
	int full = (uc->uc_flags & UC_HERMIT_FULL) != 0; /* back by iretq, every register */
	long ret = arch_sigctx_restore(f, &uc->uc_mcontext, full);

	memcpy(&current->sigmask, &uc->uc_sigmask, sizeof(current->sigmask));
	current->sigmask &= ~UNBLOCKABLE;
	if (uc->uc_mcontext.fpregs)
		arch_fpu_restore(uc->uc_mcontext.fpregs);
	if (full)
		current->full_ctx = 1;
	return ret;
}
