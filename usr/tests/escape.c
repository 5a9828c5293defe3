/* Try to reach host files the guest must not see, and pass wild pointers to the
 * file calls.  argv: OUTSIDE_FILE (a host path outside every mount), and
 * optionally RO_DIR (a read-only mount).  Outside the mounts the guest's namespace
 * has nothing (ENOENT), its synthetic directories are read-only (EROFS).  Prints
 * one line per attempt; the exit status is the number of attempts that were not
 * refused as expected. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int escapes;

static void refused(int ret, int want, const char *what)
{
	int ok = ret == -1 && errno == want;
	escapes += !ok;
	printf("%s: %s (%s)\n", what, ok ? "refused" : "NOT REFUSED", ret == -1 ? strerror(errno) : "ok");
}

int main(int argc, char **argv)
{
	struct stat st;
	char up[4096] = "";

	if (argc < 2)
		return 100;
	const char *outside = argv[1];
	refused(open(outside, O_RDONLY), ENOENT, "absolute path outside the mounts");
	refused(stat(outside, &st), ENOENT, "stat outside the mounts");
	for (int i = 0; i < 40; i++)
		strcat(up, "../");
	strcat(up, outside + 1);
	refused(open(up, O_RDONLY), ENOENT, "../ out of the working directory");
	refused(symlink(outside, "out") == 0 ? open("out", O_RDONLY) : -1, ENOENT,
		"symlink pointing out");
	unlink("out");
	char via[4200];
	snprintf(via, sizeof(via), "root%s", outside);
	refused(symlink("/", "root") == 0 ? open(via, O_RDONLY) : -1, ENOENT,
		"directory symlink pointing out");
	unlink("root");
	refused(rmdir("."), EINVAL, "rmdir of the working directory");
	refused(mkdir("/hermit-escape", 0755), EROFS, "mkdir outside");

	if (argc > 2) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/new.txt", argv[2]);
		refused(open(path, O_CREAT | O_WRONLY, 0644), EROFS, "create in a read-only mount");
		snprintf(path, sizeof(path), "%s/existing.txt", argv[2]);
		refused(open(path, O_WRONLY), EROFS, "write to a read-only mount");
		refused(unlink(path), EROFS, "unlink in a read-only mount");
		int fd = open(path, O_RDONLY);
		char c;
		escapes += !(fd >= 0 && read(fd, &c, 1) == 1);
		printf("read from a read-only mount: %s\n", fd >= 0 ? "allowed" : "NOT ALLOWED");
	}

	refused((int)write(1, (void *)0xdead00000000ULL, 10), EFAULT, "write from a wild pointer");
	refused((int)read(0, (void *)0x7fffffff0000ULL, 1 << 30), EFAULT, "read into a wild range");
	refused(open((const char *)0xdead00000000ULL, O_RDONLY), EFAULT, "wild path pointer");
	refused(stat("escape-test-dir-that-is-not-there", (struct stat *)0xdead00000000ULL), ENOENT,
		"missing file, wild stat buffer");
	printf("%d escapes\n", escapes);
	return escapes;
}
