/* File system calls are carried out by the loader on the host (HC_SYSCALL): the
 * number and arguments travel unchanged but for the fds, which become the loader's
 * handles (include/hermit/fd.h); pointers travel as guest-physical addresses
 * (memory is identity-mapped), which the loader checks. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>
#include <hermit/trace.h>

/* The list is hermit_build/abi/spec.py's FORWARDED, shared with the loader: per
 * call, which arguments are fds (bits 0-5), and bit 7 that it is forwarded at all.
 * close, open, openat and fcntl have kernel handlers in front (kernel/fd.c). */
#define FORWARDED_BIT 0x80
#define FORWARD(name, nr, fdmask) [nr] = FORWARDED_BIT | (fdmask),
static const uint8_t forwarded[NR_SYSCALLS] = { HERMIT_FORWARDED(FORWARD) };
#undef FORWARD
#define SAME_NR(name, nr, fdmask) _Static_assert(SYS_##name == nr && (fdmask) < 0x40, "spec.py: " #name);
HERMIT_FORWARDED(SAME_NR)
#undef SAME_NR

int syscall_forwarded(uint64_t nr)
{
	return nr < NR_SYSCALLS && forwarded[nr];
}

/* The waiting thread keeps its cpu (interrupts stay masked in the kernel, so
 * nothing else runs there) but not the kernel lock: other cpus go on with their
 * system calls.  What they may do to this thread meanwhile only marks it (a
 * pending signal, need_resched, a new affinity), acted on at its way out; it is
 * in no wait queue, so no wake-up or deadline touches it.  Its cpu's queue and
 * sleepers go elsewhere for the wait (sched_lend_cpu). */
long host_call(uint64_t nr, const long a[6], uint64_t *node)
{
	struct hc_syscall c = { .nr = nr, .a0 = (uint64_t)a[0], .a1 = (uint64_t)a[1],
				.a2 = (uint64_t)a[2], .a3 = (uint64_t)a[3], .a4 = (uint64_t)a[4],
				.a5 = (uint64_t)a[5] };

	struct trace_call *tc = current->trace; /* HERMIT_STRACE: the call it serves */
	uint64_t t0 = tc ? arch_cycles() : 0;

	sched_lend_cpu();
	kernel_unlock();
	int rang = arch_hypercall(HC_SYSCALL, &c);
	kernel_lock();
	if (node)
		*node = c.node;
	if (tc)
		trace_host(tc, nr, (long)c.ret, arch_cycles() - t0, rang);
	return (long)c.ret;
}

/* The loader takes any guest RAM for a buffer; the NULL page and PROT_NONE or
 * guard pages are the kernel's to refuse, as Linux does.  Checked here: the
 * buffers of data and of results (iovecs, paths and fcntl/ioctl arguments reach
 * the loader unchecked, which keeps them inside guest RAM). */
static int user_buffer_ok(uint64_t nr, const long a[6])
{
	uint64_t len = (uint64_t)a[2] < 0x7ffff000 ? (uint64_t)a[2] : 0x7ffff000;

	switch (nr) {
	case SYS_read:
	case SYS_write:
	case SYS_pread64:
	case SYS_pwrite64:
	case SYS_getdents64:
	case SYS_readlink:
		return user_ok((uint64_t)a[1], len);
	case SYS_readlinkat:
		return user_ok((uint64_t)a[2], (uint32_t)a[3]);
	case SYS_getcwd:
		return user_ok((uint64_t)a[0], (uint32_t)a[1] < 4096 ? (uint32_t)a[1] : 4096);
	case SYS_fstat:
	case SYS_stat:
	case SYS_lstat:
		return user_ok((uint64_t)a[1], sizeof(struct stat));
	case SYS_newfstatat:
		return user_ok((uint64_t)a[2], sizeof(struct stat));
	case SYS_statfs:
	case SYS_fstatfs:
		return user_ok((uint64_t)a[1], sizeof(struct statfs));
	default:
		return 1;
	}
}

/* I/O on a file that is also mapped shared: the mapping and the file agree before
 * it, and after a change (kernel/shmap.c); the mapping to read in again, or 0. */
static void *shmap_io(uint64_t nr, struct file *f)
{
	switch (nr) {
	case SYS_read:
	case SYS_pread64:
	case SYS_readv:
	case SYS_preadv:
	case SYS_fsync:
	case SYS_fdatasync:
		shmap_before(f);
		return 0;
	case SYS_write:
	case SYS_pwrite64:
	case SYS_writev:
	case SYS_pwritev:
	case SYS_ftruncate:
		return shmap_before(f);
	default:
		return 0;
	}
}

long fd_forward(uint64_t nr, long a[6], uint64_t *node)
{
	unsigned mask = nr < NR_SYSCALLS ? forwarded[nr] & ~FORWARDED_BIT : 0;
	struct file *held[6];
	unsigned n = 0;

	for (unsigned i = 0; i < 6; i++) {
		if (!(mask & (1u << i)) || (int)a[i] == AT_FDCWD)
			continue;
		struct file *f = fd_file((int)a[i]);
		if (!f)
			return -EBADF;
		if (f->kind != FILE_HOST) { /* held: a blocking read may outlive a close */
			file_get(f);
			long r = file_serve(nr, a, f);
			file_put(f);
			return r;
		}
		held[n++] = f;
	}
	if (!user_buffer_ok(nr, a))
		return -EFAULT;
	/* Held across the wait: a close of the fd by another thread meanwhile
	 * leaves the handle open until this call is done with it. */
	for (unsigned i = 0, k = 0; i < 6; i++)
		if ((mask & (1u << i)) && (int)a[i] != AT_FDCWD) {
			a[i] = held[k]->handle;
			file_get(held[k++]);
		}
	void *mapped = n ? shmap_io(nr, held[0]) : 0;
	long r = host_call(nr, a, node);
	if (mapped)
		shmap_after(mapped);
	while (n)
		file_put(held[--n]);
	return r;
}

static long host_release(struct file *f)
{
	long a[6] = { f->handle };
	return host_call(SYS_close, a, 0);
}

const struct file_ops host_file_ops = { .release = host_release };
