/* Shared memory and file mappings (issue 15, §2): shm_open and sem_open in /dev/shm,
 * mmap(MAP_SHARED) of a file with msync and munmap writing back, two mappings of one
 * object seeing each other's writes, read/write coherent with a mapping, and a
 * mapping's writes reaching the file at exit (checked by the test on the host:
 * mapped.dat and at_exit.dat in the working directory). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"

#define PAGE 4096

static void posix_shm(void)
{
	char buf[16] = "";
	shm_unlink("/hermit-shm-test");
	int fd = shm_open("/hermit-shm-test", O_CREAT | O_EXCL | O_RDWR, 0600);

	CHECK(fd >= 0 && ftruncate(fd, 2 * PAGE) == 0);
	check(listed("/dev/shm", "hermit-shm-test"), "shm_open's object is in /dev/shm");
	char *a = mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(a != MAP_FAILED && b != MAP_FAILED);
	strcpy(a + PAGE + 10, "via a");
	check(!strcmp(b + PAGE + 10, "via a"), "two mappings see each other's writes");
	check(pread(fd, buf, 6, PAGE + 10) == 6 && !strcmp(buf, "via a"),
	      "read sees the mapping's write");
	CHECK(pwrite(fd, "via write", 10, 100) == 10);
	check(!strcmp(a + 100, "via write"), "the mapping sees write");
	CHECK(msync(a, 2 * PAGE, MS_SYNC) == 0);
	FAILS_WITH(msync(a + 1, PAGE, MS_SYNC), EINVAL);
	FAILS_WITH(msync(a, PAGE, MS_SYNC | MS_ASYNC), EINVAL);
	char *gone = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(gone != MAP_FAILED && munmap(gone, PAGE) == 0);
	FAILS_WITH(msync(gone, PAGE, MS_SYNC), ENOMEM);
	CHECK(munmap(b, 2 * PAGE) == 0 && munmap(a, 2 * PAGE) == 0 && close(fd) == 0);
	fd = shm_open("/hermit-shm-test", O_RDONLY, 0);
	a = mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, PAGE);
	check(a != MAP_FAILED && !strcmp(a + 10, "via a"), "opened again: the data is there");
	FAILS_WITH(mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0,
		   EACCES);
	CHECK(munmap(a, PAGE) == 0 && close(fd) == 0 && shm_unlink("/hermit-shm-test") == 0);
	FAILS_WITH(shm_open("/hermit-shm-test", O_RDWR, 0), ENOENT);
}

static sem_t *sem;
static volatile int took;

static void *waiter(void *arg)
{
	(void)arg;
	took = sem_wait(sem) == 0;
	return 0;
}

static void named_semaphores(void)
{
	int v = -1;
	sem_unlink("/hermit-sem-test");
	sem = sem_open("/hermit-sem-test", O_CREAT | O_EXCL, 0600, 2);

	CHECK(sem != SEM_FAILED);
	check(listed("/dev/shm", "hermit-sem-test"), "sem_open's object is in /dev/shm");
	CHECK(sem_wait(sem) == 0 && sem_wait(sem) == 0);
	FAILS_WITH(sem_trywait(sem), EAGAIN);
	sem_t *again = sem_open("/hermit-sem-test", 0);
	CHECK(again != SEM_FAILED && sem_post(again) == 0 && sem_getvalue(sem, &v) == 0 && v == 1);
	CHECK(sem_wait(sem) == 0);
	pthread_t th;
	pthread_create(&th, 0, waiter, 0);
	struct timespec t = { 0, 20000000 };
	nanosleep(&t, 0);
	CHECK(sem_post(sem) == 0);
	pthread_join(th, 0);
	check(took, "a thread waiting on a named semaphore takes the post");
	CHECK(sem_close(again) == 0 && sem_close(sem) == 0 && sem_unlink("/hermit-sem-test") == 0);
	FAILS_WITH(sem_open("/hermit-sem-test", 0) == SEM_FAILED ? -1 : 0, ENOENT);
}

static void file_mappings(void)
{
	struct stat st;
	int fd = open("mapped.dat", O_CREAT | O_TRUNC | O_RDWR, 0600);
	char page[PAGE];

	memset(page, 'x', sizeof(page));
	CHECK(fd >= 0 && write(fd, page, PAGE) == PAGE && write(fd, page, 100) == 100);
	char *m = mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED && m[0] == 'x' && m[PAGE + 99] == 'x' && m[PAGE + 100] == 0);
	memcpy(m + 10, "msync", 5);
	memcpy(m + PAGE + 50, "tail", 4);
	m[PAGE + 200] = 'z'; /* beyond the end of the file: never written */
	CHECK(msync(m, 2 * PAGE, MS_SYNC) == 0);
	char got[8] = "";
	CHECK(pread(fd, got, 5, 10) == 5 && !memcmp(got, "msync", 5));
	memcpy(m + 20, "munmap", 6);
	CHECK(munmap(m, 2 * PAGE) == 0 && fstat(fd, &st) == 0 && st.st_size == PAGE + 100);
	CHECK(pread(fd, got, 6, 20) == 6 && !memcmp(got, "munmap", 6) && close(fd) == 0);

	fd = open("at_exit.dat", O_CREAT | O_TRUNC | O_RDWR, 0600);
	CHECK(fd >= 0 && ftruncate(fd, PAGE) == 0);
	m = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED && close(fd) == 0);
	if (m != MAP_FAILED)
		memcpy(m, "written at exit", 15); /* no msync, no munmap */
}

int main(void)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	posix_shm();
	named_semaphores();
	file_mappings();
	printf("shm: ");
	return check_summary();
}
