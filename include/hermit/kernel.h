/* Cross-file prototypes of the generic kernel, by file (xv6 style). */
#ifndef HERMIT_KERNEL_H
#define HERMIT_KERNEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <hermit/abi.h>

#define PAGE_SIZE 4096UL
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define noreturn _Noreturn

/* kernel/main.c */
extern struct boot_info *boot_info;

/* kernel/log.c */
void log_init(void);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* kernel/string.c */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* kernel/cmdline.c */
void cmdline_parse(const char *cmdline, uint64_t len);

/* kernel/time.c */
void time_init(void);
uint64_t time_monotonic_ns(void);
uint64_t time_realtime_ns(void);
void time_delay_ns(uint64_t ns);
uint64_t time_ns_to_cycles(uint64_t ns);
/* kernel/sched.c: the timer or a kick interrupted the application */
void sched_interrupt(void);

/* kernel/app.c */
noreturn void app_start(void);
uint64_t app_args_pages(void); /* kernel/app.c: boot_info.args's pages, 0: none */

/* kernel/exit.c */
noreturn void kernel_exit(int code);
noreturn void kernel_die_signal(int sig);
noreturn void kernel_fail(const char *line);

/* kernel/syscall.c: called from the arch syscall entry with the saved registers */
struct syscall_frame;
void syscall_dispatch(struct syscall_frame *frame);

/* kernel/random.c */
void random_fill(void *buf, size_t len);

/* mm/ram.c: the guest RAM ranges, lowest first */
#define RAM_RANGES_MAX 2
struct ram_range {
	uint64_t start, end;
};
unsigned ram_ranges(struct ram_range r[RAM_RANGES_MAX]);
uint64_t ram_total(void);
int ram_contains(uint64_t addr, uint64_t len);

/* mm/page.c: physical pages (identity-mapped) */
void page_init(uint64_t first_free);
uint64_t page_alloc(uint64_t npages, int zero);
int page_claim(uint64_t addr, uint64_t npages);
void page_free(uint64_t addr, uint64_t npages);
void page_set_user(uint64_t addr, uint64_t npages, int on);
int page_is_user(uint64_t addr, uint64_t npages);
uint64_t page_user_prefix(uint64_t addr, uint64_t npages, int on);
int page_is_free(uint64_t addr, uint64_t npages);
uint64_t page_free_count(void);
uint64_t page_in_use(void); /* RAM's frames less the free ones */
uint64_t page_user_count(void); /* pages the application holds (mmap) */

/* kernel/rlimit.c: a resource's soft limit (RLIM_INFINITY: none) */
uint64_t rlimit_cur(int res);

/* mm/vma.c: brk and anonymous mmap for the application */
void vma_init(void);
uint64_t vma_brk_reserved(void); /* bytes of the brk window the heap does not use */
long vma_brk(uint64_t addr);
long vma_mmap(uint64_t addr, uint64_t len, int prot, int flags);
long vma_munmap(uint64_t addr, uint64_t len);
long vma_mprotect(uint64_t addr, uint64_t len, int prot);
long vma_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, int flags, uint64_t new_addr);
uint64_t vma_alloc_stack(uint64_t size);
int vma_over_limit(uint64_t more, int data); /* RLIMIT_AS/RLIMIT_DATA would be passed */

#endif
