/*
 * Events delivered by the loader.  kvm_pvm delivers no interrupts to a guest that
 * runs natively, so without help a thread that computes is never preempted and a
 * signal to it waits for its next system call.  uhyve offers the help
 * (boot_info.loader_events): each cpu publishes in its struct hc_event when it
 * wants its timer (`due`, a TSC value) and others when they want it to look
 * (`kick`).  When one is due while the cpu runs the application, the loader stops
 * the vCPU, saves the registers a system call would clobber here and moves rip
 * to event_entry (arch/x86/syscall.S): `syscall` with SYS_EVENT, which this file
 * turns into what the timer interrupt does, then returns by iretq with every
 * register as it was.
 */
#include <errno.h>

#include <hermit/task.h>
#include <asm/event.h>
#include <asm/x86.h>

extern const char event_entry[], event_entry_call[], __start_hermit_entry[], __stop_hermit_entry[];

static volatile struct hc_event events[HERMIT_MAX_CPUS];
static int enabled;

int arch_events_init(void)
{
	if (!boot_info->loader_events)
		return 0;
	enabled = 1;
	for (uint32_t id = 0; id < HERMIT_MAX_CPUS; id++)
		events[id].in_user = (uint64_t)arch_in_user_flag(id);
	boot_info->event_entry = (uint64_t)(arch_app_supervisor ? event_entry_call : event_entry);
	boot_info->entry_start = (uint64_t)__start_hermit_entry;
	boot_info->entry_end = (uint64_t)__stop_hermit_entry;
	boot_info->hc_events = (uint64_t)events; /* last: the loader looks for this one */
	return 1;
}

int arch_events_enabled(void)
{
	return enabled;
}

/* This cpu's timer: the loader stops it at TSC `at` (0: never). */
void arch_event_due(uint64_t at)
{
	events[this_cpu_id()].due = at;
}

/* Make cpu `id` look at its queue and signals now, if it runs the application. */
void arch_event_kick(uint32_t id)
{
	events[id].kick = 1;
}

/* SYS_EVENT: an event the loader delivered (taken), else an unknown call. */
void arch_event(struct syscall_frame *f)
{
	volatile struct hc_event *e = &events[this_cpu_id()];

	kernel_lock();
	if (!enabled || !e->taken) {
		kernel_unlock();
		SYSCALL_RET(f, -ENOSYS);
		return;
	}
	/* the trampoline's `syscall` changed rax, rcx, r11, rip and rflags: the saved ones */
	struct trap_frame t = arch_trap_frame(f, (struct frame_clobbered){ e->rcx, e->r11 });
	t.rax = e->rax, t.rip = e->rip, t.rflags = e->rflags;
	if (arch_app_supervisor)
		t.rsp += EVENT_CALL_BIAS;
	e->kick = 0; /* under the kernel lock, as who sets it: a later kick stays */
	e->due = 0;
	e->taken = 0;
	apic_timer_fired();
	sched_interrupt();
	arch_signal_irq(&t);
	kernel_unlock();
	arch_iret_frame(&t);
}
