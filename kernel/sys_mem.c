/* Memory system calls: thin argument checks over mm/vma.c. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <hermit/arch.h>
#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

long sys_brk(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return vma_brk((uint64_t)a0);
}

/* A private mapping of a host file: anonymous memory filled by reading the file;
 * a shared one is kernel/shmap.c's. */
static long map_file(long addr, long len, int prot, int flags, long fd, long off)
{
	struct file *f = fd_file((int)fd);

	if (!f)
		return -EBADF;
	if (f->kind == FILE_DEVICE) /* /dev/zero's memory, as Linux gives it */
		return vma_mmap((uint64_t)addr, (uint64_t)len, prot, flags | MAP_ANONYMOUS);
	if (flags & MAP_SHARED) { /* kernel/shmap.c: written back, one mapping per file */
		int acc = f->flags & O_ACCMODE;
		if (acc == O_WRONLY || ((prot & PROT_WRITE) && acc == O_RDONLY))
			return -EACCES;
		if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
			return -EINVAL; /* only where the pages are */
		return shmap_map(f, (uint64_t)len, prot, off);
	}
	long mem = vma_mmap((uint64_t)addr, (uint64_t)len, prot | PROT_READ, flags | MAP_ANONYMOUS);
	if (mem < 0)
		return mem;
	for (long done = 0; done < len;) {
		long a[6] = { fd, mem + done, len - done, off + done };
		long n = fd_forward(SYS_pread64, a, 0); /* the fd may close meanwhile */
		if (n < 0) {
			vma_munmap((uint64_t)mem, (uint64_t)len);
			return n == -ESPIPE ? -ENODEV : n;
		}
		if (n == 0)
			break; /* past the end of the file: the rest stays zero */
		done += n;
	}
	return mem;
}

long sys_mmap(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a5 & (PAGE_SIZE - 1))
		return -EINVAL;
	if (!(a3 & MAP_ANONYMOUS))
		return map_file(a0, a1, (int)a2, (int)a3, a4, a5);
	if (a2 == PROT_NONE && !(a3 & (MAP_FIXED | MAP_FIXED_NOREPLACE)))
		return none_mmap((uint64_t)a1);
	return vma_mmap((uint64_t)a0, (uint64_t)a1, (int)a2, (int)a3);
}

long sys_munmap(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (shmap_munmap((uint64_t)a0, (uint64_t)a1))
		return 0;
	return vma_munmap((uint64_t)a0, (uint64_t)a1);
}

long sys_mprotect(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	none_before_mprotect((uint64_t)a0, (uint64_t)a1, (int)a2);
	return vma_mprotect((uint64_t)a0, (uint64_t)a1, (int)a2);
}

long sys_mremap(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return vma_mremap((uint64_t)a0, (uint64_t)a1, (uint64_t)a2, (int)a3, (uint64_t)a4);
}
