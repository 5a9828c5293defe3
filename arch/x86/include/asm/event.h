/* Events delivered by the loader (arch/x86/event.c).  Safe for assembly. */
#ifndef ASM_EVENT_H
#define ASM_EVENT_H

/* The system call of event_entry: outside Linux's numbers, never forwarded. */
#define SYS_EVENT 0x4845
/* What event_entry_call steps below the interrupted stack pointer: the red zone. */
#define EVENT_CALL_BIAS 128

#ifndef __ASSEMBLER__
#include <stdint.h>

struct syscall_frame;
struct trap_frame;
int arch_events_init(void); /* boot cpu, once: 1 when the loader delivers events */
int arch_events_enabled(void);
void arch_event_due(uint64_t at);
void arch_event_kick(uint32_t id);
void arch_event(struct syscall_frame *f); /* returns only for a call that is no event */
_Noreturn void arch_iret_frame(struct trap_frame *f);
volatile uint64_t *arch_in_user_flag(uint32_t id); /* arch/x86/cpu.c */
#endif
#endif
