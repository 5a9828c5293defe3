/* Exercise the host file system calls in the directory argv[1] and check every
 * result: contents, sizes, errno values, listings.  Prints one line per check,
 * "not ok" on failure; the exit status is the number of failures. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/check.h"

static void files(void)
{
	char buf[64] = "";
	int fd = open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0640);
	CHECK(fd >= 3);
	CHECK(write(fd, "hello ", 6) == 6);
	struct iovec iov[2] = { { "wor", 3 }, { "ld\n", 3 } };
	CHECK(writev(fd, iov, 2) == 6);
	CHECK(close(fd) == 0);
	FAILS_WITH(close(fd), EBADF);
	FAILS_WITH(open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0640), EEXIST);
	FAILS_WITH(open("missing.txt", O_RDONLY), ENOENT);

	fd = open("a.txt", O_RDWR);
	CHECK(read(fd, buf, sizeof(buf)) == 12 && !memcmp(buf, "hello world\n", 12));
	CHECK(read(fd, buf, sizeof(buf)) == 0);
	CHECK(lseek(fd, 6, SEEK_SET) == 6);
	CHECK(read(fd, buf, 5) == 5 && !memcmp(buf, "world", 5));
	CHECK(pwrite(fd, "W", 1, 6) == 1);
	CHECK(pread(fd, buf, 5, 6) == 5 && !memcmp(buf, "World", 5));
	char a[3], b[4];
	struct iovec rv[2] = { { a, 3 }, { b, 4 } };
	CHECK(lseek(fd, 0, SEEK_SET) == 0 && readv(fd, rv, 2) == 7 && !memcmp(b, "lo W", 4));
	CHECK(lseek(fd, 0, SEEK_END) == 12);

	struct stat st;
	CHECK(fstat(fd, &st) == 0 && st.st_size == 12 && S_ISREG(st.st_mode));
	CHECK((st.st_mode & 0777) == 0640);
	CHECK(ftruncate(fd, 5) == 0 && fstat(fd, &st) == 0 && st.st_size == 5);
	CHECK(fsync(fd) == 0 && fdatasync(fd) == 0);

	int fl = fcntl(fd, F_GETFL);
	CHECK((fl & O_ACCMODE) == O_RDWR);
	CHECK(fcntl(fd, F_SETFL, fl | O_APPEND) == 0 && (fcntl(fd, F_GETFL) & O_APPEND));
	CHECK(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
	int d = fcntl(fd, F_DUPFD, 10);
	CHECK(d >= 10);
	CHECK(write(d, "!", 1) == 1 && fstat(fd, &st) == 0 && st.st_size == 6);
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	CHECK(fcntl(fd, F_SETLK, &lk) == 0);
	lk.l_type = F_UNLCK;
	CHECK(fcntl(fd, F_SETLK, &lk) == 0);
	CHECK(flock(fd, LOCK_EX) == 0 && flock(fd, LOCK_UN) == 0);
	CHECK(close(d) == 0);

	int d2 = dup(fd);
	CHECK(d2 > fd || d2 >= 3);
	CHECK(dup2(fd, 20) == 20 && dup3(fd, 21, O_CLOEXEC) == 21);
	FAILS_WITH(dup3(fd, fd, 0), EINVAL);
	CHECK(close(d2) == 0 && close(20) == 0 && close(21) == 0 && close(fd) == 0);

	fd = open("a.txt", O_RDONLY);
	char *map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(map != MAP_FAILED && !memcmp(map, "hello!", 6) && map[6] == 0);
	CHECK(munmap(map, 4096) == 0 && close(fd) == 0);

	fd = open("a.txt", O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0);
	close(fd);
	fd = open("a.txt", O_WRONLY | O_APPEND);
	CHECK(write(fd, "x", 1) == 1 && write(fd, "y", 1) == 1 && close(fd) == 0);
	CHECK(stat("a.txt", &st) == 0 && st.st_size == 2);
	FAILS_WITH(read(99, buf, 1), EBADF);
	FAILS_WITH(lseek(0 + 99, 0, SEEK_SET), EBADF);
}

static void names(void)
{
	struct stat st;
	char buf[256];

	CHECK(mkdir("sub", 0755) == 0);
	FAILS_WITH(mkdir("sub", 0755), EEXIST);
	CHECK(stat("sub", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(access("a.txt", R_OK | W_OK) == 0);
	FAILS_WITH(access("nope", F_OK), ENOENT);
	CHECK(faccessat(AT_FDCWD, "sub", X_OK, 0) == 0);
	CHECK(rename("a.txt", "sub/b.txt") == 0);
	FAILS_WITH(stat("a.txt", &st), ENOENT);
	CHECK(stat("sub/b.txt", &st) == 0 && st.st_size == 2);
	CHECK(renameat(AT_FDCWD, "sub/b.txt", AT_FDCWD, "c.txt") == 0);
	CHECK(symlink("c.txt", "link") == 0);
	CHECK(lstat("link", &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(stat("link", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 2);
	ssize_t n = readlink("link", buf, sizeof(buf));
	CHECK(n == 5 && !memcmp(buf, "c.txt", 5));
	CHECK(link("c.txt", "hard") == 0 && stat("hard", &st) == 0 && st.st_nlink == 2);
	CHECK(chmod("c.txt", 0600) == 0 && stat("c.txt", &st) == 0 && (st.st_mode & 0777) == 0600);
	struct timespec ts[2] = { { 1000000000, 0 }, { 1234567890, 500 } };
	CHECK(utimensat(AT_FDCWD, "c.txt", ts, 0) == 0);
	CHECK(stat("c.txt", &st) == 0 && st.st_mtim.tv_sec == 1234567890 && st.st_mtim.tv_nsec == 500);
	CHECK(truncate("c.txt", 100) == 0 && stat("c.txt", &st) == 0 && st.st_size == 100);

	int dfd = open("sub", O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	int fd = openat(dfd, "inner.txt", O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0 && close(fd) == 0);
	CHECK(fstatat(dfd, "inner.txt", &st, 0) == 0 && S_ISREG(st.st_mode));
	CHECK(listed("sub", "inner.txt") && listed("sub", ".") && listed("sub", ".."));
	CHECK(listed(".", "c.txt") && listed(".", "link") && listed(".", "sub"));
	FAILS_WITH(rmdir("sub"), ENOTEMPTY);
	CHECK(unlinkat(dfd, "inner.txt", 0) == 0 && close(dfd) == 0);
	CHECK(!listed("sub", "inner.txt"));

	char cwd[4096], cwd2[4096];
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir("sub") == 0 && getcwd(cwd2, sizeof(cwd2)) && strstr(cwd2, "/sub"));
	CHECK(access("../c.txt", F_OK) == 0);
	CHECK(chdir("..") == 0 && getcwd(cwd2, sizeof(cwd2)) && !strcmp(cwd, cwd2));
	FAILS_WITH(chdir("c.txt"), ENOTDIR);
	CHECK(unlink("link") == 0 && unlink("hard") == 0 && unlink("c.txt") == 0);
	CHECK(rmdir("sub") == 0);
	FAILS_WITH(unlink("c.txt"), ENOENT);
}

int main(int argc, char **argv)
{
	if (argc < 2 || chdir(argv[1])) {
		fprintf(stderr, "usage: hostfs DIR (an existing, empty directory)\n");
		return 100;
	}
	files();
	names();
	return check_summary();
}
