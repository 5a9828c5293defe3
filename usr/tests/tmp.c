/* /tmp (issue 15, §1): tmpfile, mkstemp, mkdtemp, tmpnam, unlink, rename and readdir
 * in /tmp, as on Linux.  Under hermit every run has a /tmp of its own, empty at start
 * (checked there only: the host's /tmp is shared).  `tmp hold` creates /tmp/held,
 * says "held" and waits: the test kills the loader and checks the directory is gone. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../common/check.h"

/* The names in dir besides . and .., sorted and joined by spaces. */
static void listing(const char *dir, char *out, size_t size)
{
	char names[16][256];
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	*out = 0;
	while (d && (e = readdir(d)) && n < 16)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	if (d)
		closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", names[i]);
}

static void files(void)
{
	char buf[32] = "", dir[] = "/tmp/tmpdirXXXXXX", path[64], path2[64], got[256];
	FILE *f = tmpfile();

	check(f && fputs("scratch", f) >= 0 && fflush(f) == 0 && fseek(f, 0, SEEK_SET) == 0 &&
	      fgets(buf, sizeof(buf), f) && !strcmp(buf, "scratch"), "tmpfile: write, read back");
	if (f)
		fclose(f);
	check(mkdtemp(dir) == dir && !strncmp(dir, "/tmp/tmpdir", 11), "mkdtemp in /tmp");
	snprintf(path, sizeof(path), "%s/fileXXXXXX", dir);
	int fd = mkstemp(path);
	struct stat st;
	check(fd >= 0 && write(fd, "12345", 5) == 5 && fstat(fd, &st) == 0 && st.st_size == 5 &&
	      (st.st_mode & 0777) == 0600, "mkstemp: a 0600 file of 5 bytes");
	check(fd >= 0 && close(fd) == 0, "close");
	snprintf(path2, sizeof(path2), "%s/renamed", dir);
	CHECK(rename(path, path2) == 0);
	FAILS_WITH(access(path, F_OK), ENOENT);
	fd = open(path2, O_RDONLY);
	check(fd >= 0 && read(fd, buf, sizeof(buf)) == 5 && !memcmp(buf, "12345", 5) &&
	      close(fd) == 0, "the renamed file keeps its contents");
	char sub[80];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	CHECK(mkdir(sub, 0700) == 0);
	fd = open("/tmp/tmp-top", O_CREAT | O_EXCL | O_WRONLY, 0644);
	CHECK(fd >= 0 && close(fd) == 0);
	listing(dir, got, sizeof(got));
	check(!strcmp(got, "renamed sub"), "readdir of the directory made in /tmp");
	FAILS_WITH(rmdir(dir), ENOTEMPTY);
	FAILS_WITH(open("/tmp/tmp-top", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	CHECK(unlink(path2) == 0 && rmdir(sub) == 0 && rmdir(dir) == 0);
	FAILS_WITH(unlink(path2), ENOENT);
	CHECK(unlink("/tmp/tmp-top") == 0);

	char *name = tmpnam(0);
	check(name && !strncmp(name, "/tmp/", 5) && access(name, F_OK) == -1 && errno == ENOENT,
	      "tmpnam names a free /tmp path");
	if (name) {
		fd = open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
		CHECK(fd >= 0 && close(fd) == 0 && unlink(name) == 0);
	}
	CHECK(stat("/tmp", &st) == 0 && S_ISDIR(st.st_mode));
}

int main(int argc, char **argv)
{
	struct utsname u;
	int hermit = uname(&u) == 0 && !strcmp(u.sysname, "Hermit");
	char got[256];

	if (argc > 1 && !strcmp(argv[1], "hold")) {
		int fd = open("/tmp/held", O_CREAT | O_WRONLY, 0600);
		printf("%s\n", fd >= 0 && write(fd, "x", 1) == 1 ? "held" : "not held");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (hermit) { /* a run's own /tmp starts empty */
		listing("/tmp", got, sizeof(got));
		check(!strcmp(got, ""), "/tmp starts empty");
	}
	files();
	if (hermit) {
		listing("/tmp", got, sizeof(got));
		check(!strcmp(got, ""), "/tmp is empty again");
	}
	printf("tmp: ");
	return check_summary();
}
