/* Which of fds 0-2 the guest has: exit status bit n is set when fd n is closed
 * (read(0) or fstat(1), fstat(2) fail with EBADF); 100 on any other error.  A host
 * file opened first must not take the place of a closed one. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
	char c;
	struct stat st;
	int status = 0;

	if (open(".", O_RDONLY | O_DIRECTORY) < 0)
		return 101;
	if (read(0, &c, 1) < 0) {
		if (errno != EBADF)
			return 100;
		status |= 1;
	}
	for (int fd = 1; fd <= 2; fd++)
		if (fstat(fd, &st) < 0) {
			if (errno != EBADF)
				return 100;
			status |= 1 << fd;
		}
	return status;
}
