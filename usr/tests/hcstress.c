/* Host calls under load: THREADS threads (default 8) issue mixed file calls for
 * SECONDS seconds and check every result.  Each thread writes and reads back its own
 * file at varying offsets and sizes (pwrite/pread, write/read after lseek, fstat,
 * ftruncate, a dup), and now and then opens, reads and closes a file all threads
 * share, stats the working directory and reads /etc/hostname.  Prints one line per
 * failure and then "hcstress: T threads, N calls, F failed"; the exit status is 1 if
 * anything failed.  Runs in the current directory (files hcs-*.dat, removed). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_LEN 8192
static const char shared_text[] = "the file every thread opens, reads and closes\n";
static double seconds;
static volatile int failed;
static unsigned long calls[MAX_THREADS];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(int t, unsigned long i, const char *what)
{
	printf("thread %d, round %lu: %s (%s)\n", t, i, what, strerror(errno));
	__atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
}

/* Bytes that say which thread, round and position wrote them. */
static void pattern(unsigned char *p, size_t len, int t, unsigned long i)
{
	for (size_t k = 0; k < len; k++)
		p[k] = (unsigned char)(t * 131 + i * 7 + k * 13);
}

static int shared_ok(void)
{
	char buf[128];
	int fd = open("hcs-shared.dat", O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf));
	int ok = n == (ssize_t)strlen(shared_text) && !memcmp(buf, shared_text, (size_t)n);
	return close(fd) == 0 && ok;
}

static int others_ok(void)
{
	struct stat st;
	char host[256], cwd[4096];
	int fd = open("/etc/hostname", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, host, sizeof(host));
	int ok = fd >= 0 && n > 0 && close(fd) == 0;

	return ok && stat(".", &st) == 0 && S_ISDIR(st.st_mode) && getcwd(cwd, sizeof(cwd));
}

static void *worker(void *arg)
{
	const int t = (int)(intptr_t)arg;
	unsigned char out[MAX_LEN], back[MAX_LEN];
	char name[32];
	unsigned long i = 0, n = 0;
	off_t size = 0;

	snprintf(name, sizeof(name), "hcs-%d.dat", t);
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		fail(t, 0, "open");
		return 0;
	}
	const double end = now() + seconds;
	for (; now() < end && !failed; i++) {
		const size_t len = 1 + (i * 37 + (unsigned)t * 101) % MAX_LEN;
		const off_t off = (off_t)((i * 4099) % (1 << 20));
		pattern(out, len, t, i);
		if (pwrite(fd, out, len, off) != (ssize_t)len)
			fail(t, i, "pwrite");
		memset(back, 0, len);
		if (pread(fd, back, len, off) != (ssize_t)len || memcmp(out, back, len))
			fail(t, i, "pread returns what pwrite wrote");
		if (off + (off_t)len > size)
			size = off + (off_t)len;
		/* write at the end, read it back through a dup */
		if (lseek(fd, 0, SEEK_END) != size)
			fail(t, i, "lseek to the end is the size");
		pattern(out, 16, t, i + 1);
		if (write(fd, out, 16) != 16)
			fail(t, i, "write");
		int d = dup(fd);
		if (d < 0 || lseek(d, size, SEEK_SET) != size || read(d, back, 16) != 16 ||
		    memcmp(out, back, 16) || close(d))
			fail(t, i, "read back through a dup");
		size += 16;
		struct stat st;
		if (fstat(fd, &st) || st.st_size != size)
			fail(t, i, "fstat says the size");
		n += 9;
		if (i % 16 == 0) {
			if (!shared_ok())
				fail(t, i, "the shared file reads as written");
			n += 3;
		}
		if (i % 32 == 0) {
			if (!others_ok())
				fail(t, i, "/etc/hostname, stat, getcwd");
			n += 5;
		}
		if (i % 64 == 63) {
			if (ftruncate(fd, 0))
				fail(t, i, "ftruncate");
			size = 0;
			n++;
		}
	}
	if (close(fd) || unlink(name))
		fail(t, i, "close and unlink");
	calls[t] = n + 3;
	return 0;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 8;
	seconds = argc > 1 ? atof(argv[1]) : 0;
	if (argc < 2 || !(seconds > 0) || threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "usage: hcstress SECONDS [THREADS (1-%d)]\n", MAX_THREADS);
		return 2;
	}
	int fd = open("hcs-shared.dat", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, shared_text, strlen(shared_text)) < 0 || close(fd)) {
		perror("hcstress: hcs-shared.dat");
		return 1;
	}
	pthread_t tid[MAX_THREADS];
	for (int t = 0; t < threads; t++)
		if (pthread_create(&tid[t], 0, worker, (void *)(intptr_t)t)) {
			fprintf(stderr, "hcstress: cannot create thread %d\n", t);
			return 1;
		}
	unsigned long total = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(tid[t], 0);
		total += calls[t];
	}
	unlink("hcs-shared.dat");
	printf("hcstress: %d threads, %lu calls, %d failed\n", threads, total, failed);
	return failed ? 1 : 0;
}
