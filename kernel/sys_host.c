/* File system calls are carried out by the loader on the host (HC_SYSCALL):
 * the number and arguments travel unchanged, pointers as guest-physical
 * addresses (memory is identity-mapped), which the loader checks. */
#include <sys/syscall.h>

#include <hermit/arch.h>
#include <hermit/syscalls.h>

static const uint8_t forwarded[NR_SYSCALLS] = {
	[SYS_read] = 1, [SYS_write] = 1, [SYS_open] = 1, [SYS_close] = 1, [SYS_stat] = 1,
	[SYS_fstat] = 1, [SYS_lstat] = 1, [SYS_lseek] = 1, [SYS_ioctl] = 1, [SYS_pread64] = 1,
	[SYS_pwrite64] = 1, [SYS_readv] = 1, [SYS_writev] = 1, [SYS_access] = 1, [SYS_dup] = 1,
	[SYS_dup2] = 1, [SYS_fcntl] = 1, [SYS_flock] = 1, [SYS_fsync] = 1, [SYS_fdatasync] = 1,
	[SYS_truncate] = 1, [SYS_ftruncate] = 1, [SYS_getcwd] = 1, [SYS_chdir] = 1,
	[SYS_fchdir] = 1, [SYS_rename] = 1, [SYS_mkdir] = 1, [SYS_rmdir] = 1, [SYS_link] = 1,
	[SYS_unlink] = 1, [SYS_symlink] = 1, [SYS_readlink] = 1, [SYS_chmod] = 1, [SYS_fchmod] = 1,
	[SYS_getdents64] = 1, [SYS_openat] = 1, [SYS_mkdirat] = 1, [SYS_newfstatat] = 1,
	[SYS_unlinkat] = 1, [SYS_renameat] = 1, [SYS_linkat] = 1, [SYS_symlinkat] = 1,
	[SYS_readlinkat] = 1, [SYS_fchmodat] = 1, [SYS_faccessat] = 1, [SYS_utimensat] = 1,
	[SYS_dup3] = 1, [SYS_preadv] = 1, [SYS_pwritev] = 1, [SYS_renameat2] = 1,
	[SYS_faccessat2] = 1,
};

int syscall_forwarded(uint64_t nr)
{
	return nr < NR_SYSCALLS && forwarded[nr];
}

long host_syscall(uint64_t nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	struct hc_syscall c = { nr, (uint64_t)a0, (uint64_t)a1, (uint64_t)a2,
				(uint64_t)a3, (uint64_t)a4, (uint64_t)a5, 0 };

	arch_hypercall(HC_SYSCALL, &c);
	return (long)c.ret;
}
