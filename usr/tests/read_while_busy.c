/* One thread waits in read(0) while another works with files and prints: the
 * host calls of the two do not wait for each other.  The test writes to stdin
 * only after it saw the working thread's line.
 *   read_while_busy          a second thread reads, main works, then joins it
 *   read_while_busy exit     ... main exits while the reader still waits
 *   read_while_busy main     main reads, a second thread works and exits the process */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void *reader(void *arg)
{
	char buf[64];
	ssize_t n;

	(void)arg;
	n = read(0, buf, sizeof(buf) - 1);
	printf("reader got %zd bytes: %.*s", n, n > 0 ? (int)n : 0, buf);
	fflush(stdout);
	return 0;
}

static int files(void)
{
	char back[4] = { 0 };
	struct stat st;
	int fd = open("scratch", O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, "abc", 3) != 3 || lseek(fd, 0, SEEK_SET) != 0 ||
	    read(fd, back, 3) != 3 || fstat(fd, &st) || close(fd) || unlink("scratch"))
		return -1;
	return strcmp(back, "abc") == 0 && st.st_size == 3 ? 0 : -1;
}

static void *worker(void *arg)
{
	usleep(500000); /* the reader waits in the host by now */
	if (files()) {
		perror("file calls");
		exit(1);
	}
	printf("files work while the reader waits\n");
	fflush(stdout);
	if (arg)
		exit(0); /* the whole process, reader included */
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	pthread_t t;

	if (!strcmp(mode, "main")) {
		pthread_create(&t, 0, worker, (void *)1);
		reader(0);
		return 2; /* the worker exits first */
	}
	pthread_create(&t, 0, reader, 0);
	worker(0);
	if (!strcmp(mode, "exit"))
		return 0;
	pthread_join(t, 0);
	printf("done\n");
	return 0;
}
