/* The guest's view of the file system around its mounts: the ancestors of the working
 * directory, the synthetic files, and the confinement rules a program meets.
 * argv: IMAGE (the host path of this program), OUTSIDE (a host file outside every
 * mount), RO (the guest path of a read-only mount holding existing.txt).  Run in an
 * empty working directory.  Prints one line per check, "not ok" on failure; the exit
 * status is the number of failures. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/check.h"

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return d ? n : -1;
}

static int contents(const char *path, const char *want)
{
	char buf[256] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return n >= 0 && !strncmp(buf, want, strlen(want));
}

/* stat("..") upwards until ".." is "." (as getcwd walks do): the number of steps. */
static int walk_up(void)
{
	char path[PATH_MAX] = ".";
	struct stat here, up;

	for (int steps = 0; steps < 64; steps++) {
		char parent[PATH_MAX + 4];
		snprintf(parent, sizeof(parent), "%s/..", path);
		if (stat(path, &here) || stat(parent, &up))
			return -1;
		if (here.st_dev == up.st_dev && here.st_ino == up.st_ino)
			return steps;
		strcpy(path, parent);
	}
	return -1;
}

int main(int argc, char **argv)
{
	char cwd[PATH_MAX], real[PATH_MAX], buf[PATH_MAX], path[PATH_MAX + 32];
	struct stat st;

	if (argc < 4 || !getcwd(cwd, sizeof(cwd)))
		return 100;
	int depth = 0;
	for (char *p = cwd; *p; p++)
		depth += *p == '/';

	/* ancestors: read-only directories that list only the way down */
	CHECK(lstat("..", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(stat("/", &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0);
	CHECK(realpath(".", real) && !strcmp(real, cwd));
	CHECK(entries("..") == 3);
	CHECK(walk_up() == depth);
	FAILS_WITH(mkdir("../sibling", 0755), EROFS);
	FAILS_WITH(rmdir("."), EINVAL);
	FAILS_WITH(rmdir(cwd), EBUSY);
	FAILS_WITH(open(argv[2], O_RDONLY), ENOENT);

	/* synthetic files and devices */
	CHECK(contents("/etc/hostname", "hermit\n"));
	CHECK(contents("/etc/passwd", "root:x:0:0:"));
	CHECK(contents("/etc/group", "root:x:0:"));
	CHECK(contents("/etc/hosts", "127.0.0.1"));
	FAILS_WITH(open("/etc/hostname", O_WRONLY), EROFS);
	CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
	CHECK(symlink("/dev/../dev/./zero", "z") == 0);
	int zfd = open("z", O_RDONLY);
	CHECK(zfd >= 0 && read(zfd, buf, 4) == 4 && !memcmp(buf, "\0\0\0\0", 4));
	close(zfd);
	CHECK(unlink("z") == 0);
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	CHECK(n > 0 && (buf[n] = 0, !strcmp(buf, argv[1])));
	FAILS_WITH(open("/proc/self/fd", O_RDONLY), ENOENT);

	/* the escapes of issue 9, refused */
	CHECK(symlink(argv[2], "s") == 0);
	FAILS_WITH(open("s", O_RDONLY | O_EXCL), ENOENT);
	FAILS_WITH(open("s", O_WRONLY | O_TRUNC | O_EXCL), ENOENT);
	CHECK(symlink(argv[3], "l") == 0);
	snprintf(path, sizeof(path), "l/existing.txt");
	FAILS_WITH(open(path, O_WRONLY), EROFS);
	FAILS_WITH(chmod(path, 0777), EROFS);
	FAILS_WITH(unlink(path), EROFS);
	FAILS_WITH(open("l/new.txt", O_CREAT | O_WRONLY, 0644), EROFS);
	FAILS_WITH(link(path, "hard"), EXDEV);
	FAILS_WITH(rename(argv[3], "/moved"), EBUSY);
	FAILS_WITH(rename(argv[3], "moved"), EXDEV);
	int fd = open("setid", O_CREAT | O_WRONLY, 06755);
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && !(st.st_mode & 06000));
	CHECK(fchmod(fd, 04755) == 0 && fstat(fd, &st) == 0 && !(st.st_mode & 06000));
	close(fd);
	CHECK(unlink("setid") == 0 && unlink("s") == 0 && unlink("l") == 0);

	return check_summary();
}
