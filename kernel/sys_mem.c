/* Memory system calls: thin argument checks over mm/vma.c. */
#include <errno.h>

#include <hermit/arch.h>
#include <hermit/syscalls.h>

long sys_brk(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return vma_brk((uint64_t)a0);
}

long sys_mmap(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a5 & (PAGE_SIZE - 1))
		return -EINVAL;
	return vma_mmap((uint64_t)a0, (uint64_t)a1, (int)a2, (int)a3);
}

long sys_munmap(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return vma_munmap((uint64_t)a0, (uint64_t)a1);
}

long sys_mprotect(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return vma_mprotect((uint64_t)a0, (uint64_t)a1, (int)a2);
}

long sys_mremap(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return -ENOMEM; /* musl then allocates, copies and frees */
}
