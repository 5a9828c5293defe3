/* Threads of the one application process, their scheduling and futexes. */
#ifndef HERMIT_TASK_H
#define HERMIT_TASK_H

#include <hermit/arch.h>

#define KSTACK_SIZE (16UL << 10)
#define MAX_TASKS 4096
#define NO_DEADLINE UINT64_MAX

struct trace_call;

enum task_state { TASK_RUNNABLE, TASK_BLOCKED, TASK_DEAD };

struct task {
	uint64_t ksp;            /* saved kernel stack pointer (arch_switch) */
	uint64_t kstack_top;
	uint64_t tid;
	enum task_state state;
	struct task *next;       /* run queue or wait queue link */
	struct task *all_next;   /* every live task, for deadlines */
	uint64_t deadline;       /* monotonic ns to wake at while blocked, or NO_DEADLINE */
	int timed_out;           /* woken by its deadline rather than by a wake-up */
	uint64_t *futex_addr;    /* what it waits on, while in a futex queue */
	uint32_t futex_bitset;   /* 0: a PI waiter (kernel/futex_pi.c), no FUTEX_WAKE finds it */
	uint64_t *futex_pi_target; /* FUTEX_WAIT_REQUEUE_PI: the PI futex it will own */
	int futex_granted;       /* a PI futex was handed to it while it waited */
	uint64_t futex_pi_owner; /* a PI waiter: the owner it waits for (the word may lie) */
	uint64_t robust_head;    /* set_robust_list: walked when it exits (kernel/robust.c) */
	uint64_t clear_child_tid;
	uint64_t fs_base;
	uint64_t sigmask, sigpending;      /* signals blocked, and sent to this thread */
	struct ksig *sigq;                 /* their siginfo, in order (kernel/sigqueue.c) */
	uint64_t sigwait_set;              /* rt_sigtimedwait: blocked signals that wake it */
	uint64_t altstack_sp, altstack_size;
	int interrupted;                   /* a signal cut its blocking call short */
	int nosigpipe;                     /* in send(MSG_NOSIGNAL): EPIPE without SIGPIPE */
	void *fpu;               /* xsave area */
	uint64_t pages, npages;  /* the allocation holding kstack and fpu area */
	/* scheduling */
	uint32_t cpu;            /* the cpu it runs or is queued on, or last ran on */
	uint64_t affinity;       /* cpus it may run on (bit per cpu) */
	int policy, prio;        /* SCHED_OTHER/BATCH/IDLE with prio 0; FIFO/RR with 1..99 */
	int base_prio;           /* as set; prio is higher while a PI waiter lends it its own */
	int nice;                /* kept for getpriority; prio decides */
	uint64_t cpu_ns;         /* run time before run_start */
	uint64_t run_start;      /* monotonic ns when it last got its cpu */
	uint64_t none_addr, none_pages; /* PROT_NONE not applied yet (kernel/prot_none.c) */
	/* signals: the user context is complete (from an interrupt), with what a
	 * system call would have clobbered */
	int full_ctx;
	struct frame_clobbered clobbered;
	struct trace_call *trace; /* HERMIT_STRACE: its system call in flight (kernel/trace.c) */
	struct host_watch *host_watch; /* host files its poll/select/epoll watches */
};

struct runq {
	struct task *head, *tail; /* highest priority first, FIFO within a priority */
	uint32_t len;
};

/* Per-cpu state of the generic kernel; the arch keeps it where %gs points. */
struct cpu {
	struct task *running; /* `current` */
	struct task *idle;   /* runs when nothing else can */
	struct task *zombie; /* a dead task whose stack this cpu was still on */
	uint32_t id;
	struct runq rq;      /* runnable tasks waiting for this cpu */
	int need_resched;    /* a task in rq should run before `running` */
	uint64_t deadline;   /* earliest deadline of tasks blocked here (its timer) */
	int sleeping;        /* idle and blocked in the loader (no timer: kvm_pvm) */
	uint64_t sleep_until; /* ... until this monotonic ns at the latest */
};
struct cpu *this_cpu(void); /* arch */
uint32_t this_cpu_id(void); /* arch: 0 before the per-cpu data is set up */
struct cpu *cpu_get(uint32_t id); /* arch: any cpu's, by index */
#define current (this_cpu()->running)

/* kernel/lock.c: one lock for all kernel state (system calls are short; the
 * application's own code runs in parallel on every cpu) */
void kernel_lock(void);
void kernel_unlock(void);

/* kernel/smp.c */
extern volatile uint32_t cpus_online, aps_alive;
extern volatile uint64_t cpus_online_mask;
void smp_release(void);

/* kernel/task.c */
void task_init(void);
struct task *task_create(void);
struct task *task_create_idle(void);
void task_free(struct task *t);
uint64_t task_count(void);
struct task *task_first(void);
struct task *task_by_tid(uint64_t tid);
noreturn void task_exit(int code);

/* kernel/runq.c: the per-cpu run queues, where tasks go, stealing */
void runq_insert(struct runq *q, struct task *t, int at_head);
struct task *runq_pop(struct runq *q);
int runq_remove(struct runq *q, struct task *t);
uint32_t sched_pick_cpu(const struct task *t);
struct task *sched_steal(struct cpu *me);

/* kernel/sched.c */
#define SLICE_NS 10000000ULL /* how long a thread runs while another of its priority waits */
noreturn void idle_loop(void);
void sched_add(struct task *t);
void schedule(void);
void sched_yield_now(void);
/* This cpu's timer fires by `at` at the latest though no thread sleeps until then
 * (net_background_due: the next expire() keeps it while it is due) */
void sched_timer_at(uint64_t at);
void sched_preempt_check(void);
void sched_migrate_current(void);
void sched_lend_cpu(void);
void sched_poke_running(struct task *t);
int sched_block(uint64_t deadline); /* 0 when woken, -ETIMEDOUT at the deadline */
void sched_wake(struct task *t);
int sched_sleep_until(uint64_t deadline);
uint64_t sched_thread_cpu_ns(const struct task *t);
uint64_t sched_process_cpu_ns(void);

/* kernel/futex.c */
long futex_wake(uint64_t *addr, int n, uint32_t bitset);
void futex_cancel(struct task *t);

/* kernel/sys_sched.c: t's priority or affinity changed: its place in line too */
void sched_requeue(struct task *t);

/* kernel/robust.c: the exiting thread's robust futexes are marked owner-died */
void robust_exit(struct task *t);
/* kernel/futex_pi.c: PI locks the exiting thread still owns go to their waiters */
void futex_pi_exit(struct task *t);
/* t runs at the highest of its own priority and its PI waiters' (and so on along
 * the chain of owners it waits for) */
void futex_pi_update(struct task *t);

/* kernel/prot_none.c */
void none_apply(struct task *t);
long none_mmap(uint64_t len);
void none_before_mprotect(uint64_t addr, uint64_t len, int prot);

/* kernel/signal.c */
void signal_deliver(struct syscall_frame *f);
uint64_t signal_process_pending(void);
long sys_rt_sigreturn_frame(struct syscall_frame *f);

/* arch/x86/task.c: what a thread needs from the architecture */
void arch_task_prepare(struct task *child, const struct syscall_frame *frame, uint64_t user_sp);
void arch_switch_to(struct task *prev, struct task *next);
uint64_t arch_fpu_size(void);
void arch_fpu_save(void *area);
void arch_fpu_restore(const void *area);
void arch_task_init_main(struct task *t);
void arch_task_prepare_idle(struct task *idle);
void arch_kick_cpu(uint32_t id); /* interrupt that cpu: its queue changed */
noreturn void arch_return_full(const struct syscall_frame *f); /* every register, by iret */

#endif
