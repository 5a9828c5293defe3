/* Advice about an open file (posix_fadvise, readahead): the host's page cache, which
 * the loader's reads go through, decides on its own, so valid advice is taken and
 * dropped; an fd that is not open is EBADF, advice Linux does not know EINVAL. */
#include <errno.h>
#include <fcntl.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>

long sys_fadvise64(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (!fd_file((int)a0))
		return -EBADF;
	if (a2 < 0 || (unsigned long)a3 > POSIX_FADV_NOREUSE)
		return -EINVAL;
	return 0;
}

long sys_readahead(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct file *f = fd_file((int)a0);

	if (!f)
		return -EBADF;
	return f->kind == FILE_HOST ? 0 : -EINVAL; /* Linux: only for files with pages */
}
