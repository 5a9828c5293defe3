/* O_NONBLOCK on stdin is the guest's own: F_GETFL reports it (through a dup too),
 * a read with nothing to read fails with EAGAIN, and the proxy's own stdin, which
 * the shell shares, stays blocking (the test looks at it afterwards). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	int fl = fcntl(0, F_GETFL);
	char c;

	if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK)) {
		perror("fcntl");
		return 1;
	}
	int d = dup(0);
	printf("O_NONBLOCK %s, on a dup %s\n", fcntl(0, F_GETFL) & O_NONBLOCK ? "set" : "NOT set",
	       fcntl(d, F_GETFL) & O_NONBLOCK ? "set" : "NOT set");
	ssize_t n = read(0, &c, 1);
	printf("read: %s\n", n < 0 && errno == EAGAIN ? "EAGAIN" : "NOT EAGAIN");
	return 0; /* leaves O_NONBLOCK set, as a careless program does */
}
