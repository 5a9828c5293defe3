/* Reaching outside by name: absolute paths, `..`, symlinks, hard links, directory
 * fds whose directory is swapped or climbed out of, /proc's magic links, and long
 * and odd spellings of a path. */
#define _GNU_SOURCE
#include "escape.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* `../` n times, then `path` without its leading slash. */
static const char *up(int n, const char *path)
{
	static char buf[4][8192];
	static int next;
	char *p = buf[next++ % 4];

	p[0] = 0;
	for (int i = 0; i < n && strlen(p) + 3 < sizeof(buf[0]); i++)
		strcat(p, "../");
	snprintf(p + strlen(p), sizeof(buf[0]) - strlen(p), "%s", path + 1);
	return p;
}

static void abs_read(void) { must_not_open(out_path("canary"), O_RDONLY, "open(outside)"); }

static void abs_stat(void)
{
	struct stat st;
	must_fail(stat(out_path("canary"), &st), "stat(outside)");
}

static void abs_mkdir(void) { must_fail(mkdir(out_path("d"), 0755), "mkdir(outside)"); }

static void abs_create(void)
{
	must_not_open(out_path("new"), O_CREAT | O_WRONLY, "open(outside, O_CREAT)");
}

static void dotdot_read(void)
{
	must_not_open(up(40, out_path("canary")), O_RDONLY, "open(../../..)");
}

static void chdir_up_read(void)
{
	for (int i = 0; i < 40; i++)
		if (chdir(".."))
			break;
	must_not_open(out_path("canary") + 1, O_RDONLY, "chdir(..) x40, open(relative)");
}

static void symlink_abs_read(void)
{
	SETUP(symlink(out_path("canary"), "s"));
	must_not_open("s", O_RDONLY, "open(s -> outside)");
}

static void symlink_rel_read(void)
{
	SETUP(symlink(up(40, out_path("canary")), "s"));
	must_not_open("s", O_RDONLY, "open(s -> ../../outside)");
}

static void symlink_dir_read(void)
{
	SETUP(symlink(out_path(""), "d"));
	must_not_open("d/canary", O_RDONLY, "open(d/canary, d -> outside dir)");
}

static void symlink_dir_create(void)
{
	SETUP(symlink(out_path(""), "d"));
	must_not_open("d/new", O_CREAT | O_WRONLY, "open(d/new, O_CREAT, d -> outside dir)");
}

/* -- hard links ------------------------------------------------------------- */

static void link_out(void)
{
	if (!must_fail(link(out_path("canary"), "h"), "link(outside, h)"))
		must_not_open("h", O_RDONLY, "open(h)");
}

static void link_to_out(void)
{
	SETUP(make_file("f", "x"));
	must_fail(link("f", out_path("h")), "link(f, outside)");
}

static void linkat_follow(const char *target, int show_by_chmod)
{
	SETUP(symlink(target, "s"));
	if (must_fail(linkat(AT_FDCWD, "s", AT_FDCWD, "h", AT_SYMLINK_FOLLOW),
		      "linkat(s, h, AT_SYMLINK_FOLLOW)"))
		return;
	if (show_by_chmod)
		must_fail(chmod("h", 0777), "chmod(h)");
	else
		must_not_open("h", O_RDONLY, "open(h)");
}

static void linkat_follow_out(void) { linkat_follow(out_path("canary"), 0); }
static void linkat_follow_ro(void) { linkat_follow(ro_path("canary"), 1); }

/* -- directory fds ------------------------------------------------------------ */

/* An fd of directory d; d is renamed and a symlink to `target` takes its name. */
static void dirfd_swap(const char *target, int write)
{
	SETUP(mkdir("d", 0755));
	int dfd = open("d", O_RDONLY | O_DIRECTORY);
	SETUP(dfd);
	SETUP(rename("d", "d2"));
	SETUP(symlink(target, "d"));
	int fd = openat(dfd, "canary", write ? O_WRONLY | O_APPEND : O_RDONLY);
	if (!must_fail(fd, "openat(dirfd of a renamed dir, canary)"))
		(write ? scribble : leak)(fd, "openat");
	/* Linux creates it in the renamed directory; anywhere else is an escape. */
	fd = openat(dfd, "new", O_CREAT | O_WRONLY, 0644);
	if (fd >= 0) {
		close(fd);
		if (inode_of("d2/new"))
			note("openat(dirfd, new, O_CREAT) created d2/new, as on Linux");
		else
			escaped("openat(dirfd, new, O_CREAT) created it elsewhere than in d2");
	}
	close(dfd);
}

static void dirfd_swap_out(void) { dirfd_swap(out_path(""), 0); }
static void dirfd_swap_ro(void) { dirfd_swap(ro_path(""), 1); }

static void dirfd_dotdot_out(void)
{
	int dfd = open(ro_path(""), O_RDONLY | O_DIRECTORY);
	SETUP(dfd);
	int fd = openat(dfd, up(40, out_path("canary")), O_RDONLY);
	if (!must_fail(fd, "openat(ro dirfd, ../../outside)"))
		leak(fd, "openat");
	close(dfd);
}

static void fchdir_dotdot(void)
{
	int dfd = open(ro_path(""), O_RDONLY | O_DIRECTORY);
	SETUP(dfd);
	SETUP(fchdir(dfd));
	close(dfd);
	must_not_open(up(40, out_path("canary")), O_RDONLY, "fchdir(ro), open(../../outside)");
}

static void fchdir_chdir_up(void)
{
	int dfd = open(ro_path(""), O_RDONLY | O_DIRECTORY);
	SETUP(dfd);
	SETUP(fchdir(dfd));
	close(dfd);
	for (int i = 0; i < 40; i++)
		if (chdir(".."))
			break;
	must_not_open(out_path("canary") + 1, O_RDONLY, "fchdir(ro), chdir(..) x40, open");
}

/* -- /proc ---------------------------------------------------------------------- */

static void proc_self_root(void)
{
	must_not_open(fmt_path("/proc/self/root%s", out_path("canary")), O_RDONLY,
		      "open(/proc/self/root/outside)");
}

static void proc_self_cwd(void)
{
	must_not_open(fmt_path("/proc/self/cwd/%s", up(40, out_path("canary"))), O_RDONLY,
		      "open(/proc/self/cwd/../../outside)");
}

static void proc_root_symlink(void)
{
	SETUP(symlink(fmt_path("/proc/self/root%s", out_path("canary")), "s"));
	must_not_open("s", O_RDONLY, "open(s -> /proc/self/root/outside)");
	must_not_open("s", O_RDONLY | O_EXCL, "open(s -> /proc/self/root/outside, O_EXCL)");
}

/* Descriptors the guest does not have, through /proc/self/fd/N: the loader's own
 * (not read: one may be a tty).  The guest's own fds may well be reachable so. */
static void proc_fd_symlink(void)
{
	for (int n = 0; n < 64; n++) {
		if (fcntl(n, F_GETFD) != -1)
			continue;
		const char *name = fmt_path("s%d", n);
		SETUP(symlink(fmt_path("/proc/self/fd/%d", n), name));
		int fd = open(name, O_RDONLY | O_EXCL | O_NONBLOCK | O_NOCTTY);
		if (fd >= 0) {
			struct stat st;
			escaped("opened the loader's fd %d (mode %06o)", n,
				fstat(fd, &st) ? 0 : st.st_mode);
			close(fd);
			return;
		}
		must_fail(fd, "open(s -> /proc/self/fd/N, O_EXCL)");
	}
}

/* -- long and odd paths --------------------------------------------------------- */

static void many_dotdot(void) { must_not_open(up(1200, out_path("canary")), O_RDONLY, "open(../ x1200)"); }

/* `/././...` then the absolute path without its slash, exactly len bytes long. */
static const char *padded(size_t len, const char *path)
{
	static char buf[8192];
	size_t n = strlen(path), i = 0;

	buf[i++] = '/';
	if ((len - n) % 2)
		buf[i++] = '/';
	while (i + n - 1 < len) {
		buf[i++] = '.';
		buf[i++] = '/';
	}
	memcpy(buf + i, path + 1, n);
	return buf;
}

static void pathmax(void)
{
	must_not_open(padded(4096, out_path("canary")), O_RDONLY, "open(a 4096-byte path)");
}

static void pathmax_less_one(void)
{
	must_not_open(padded(4095, out_path("canary")), O_RDONLY, "open(a 4095-byte path)");
}

static void long_names(void)
{
	char name[300];
	memset(name, 'n', sizeof(name));
	name[255] = 0;
	SETUP(symlink(out_path("canary"), name));
	must_not_open(name, O_RDONLY, "open(a 255-byte symlink -> outside)");
	name[255] = 'n';
	name[256] = 0;
	must_fail(symlink(out_path("canary"), name), "symlink(a 256-byte name)");
}

static void double_slash(void)
{
	must_not_open(fmt_path("/%s", out_path("canary")), O_RDONLY, "open(//outside)");
}

static void slashes_dotdot(void)
{
	char p[8192] = "";
	for (int i = 0; i < 40; i++)
		strcat(p, "..//./");
	must_not_open(fmt_path("%s//%s", p, out_path("canary")), O_RDONLY, "open(..//./ x40 outside)");
}

static void embedded_dot(void)
{
	char p[8192];
	size_t n = 0;
	for (const char *s = out_path("canary"); *s && n < sizeof(p) - 4; s++)
		n += (size_t)snprintf(p + n, sizeof(p) - n, *s == '/' ? "/./" : "%c", *s);
	must_not_open(p, O_RDONLY, "open(/./outside/./canary)");
}

static void trailing_slash(void)
{
	SETUP(symlink(out_path(""), "d"));
	must_not_open("d/", O_RDONLY | O_DIRECTORY, "open(d/ -> outside dir)");
	must_not_open("d/", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, "open(d/, O_NOFOLLOW)");
	must_not_open("d//.", O_RDONLY | O_DIRECTORY, "open(d//.)");
	must_not_open(fmt_path("%s/", out_path("canary")), O_RDONLY, "open(outside/canary/)");
}

const struct attack path_attacks[] = {
	{"abs-read", abs_read, NO_ROOT},
	{"abs-stat", abs_stat, NO_ROOT},
	{"abs-mkdir", abs_mkdir, NO_ROOT},
	{"abs-create", abs_create, NO_ROOT},
	{"dotdot-read", dotdot_read, NO_ROOT},
	{"chdir-up-read", chdir_up_read, NO_ROOT},
	{"symlink-abs-read", symlink_abs_read, NO_ROOT},
	{"symlink-rel-read", symlink_rel_read, NO_ROOT},
	{"symlink-dir-read", symlink_dir_read, NO_ROOT},
	{"symlink-dir-create", symlink_dir_create, NO_ROOT},
	{"link-out", link_out, NO_ROOT},
	{"link-to-out", link_to_out, NO_ROOT},
	{"linkat-follow-out", linkat_follow_out, NO_ROOT},
	{"linkat-follow-ro", linkat_follow_ro, NO_ROOT},
	{"dirfd-swap-out", dirfd_swap_out, NO_ROOT},
	{"dirfd-swap-ro", dirfd_swap_ro, NO_ROOT},
	{"dirfd-dotdot-out", dirfd_dotdot_out, NO_ROOT},
	{"fchdir-dotdot", fchdir_dotdot, NO_ROOT},
	{"fchdir-chdir-up", fchdir_chdir_up, NO_ROOT},
	{"proc-self-root", proc_self_root, NO_ROOT},
	{"proc-self-cwd", proc_self_cwd, NO_ROOT},
	{"proc-root-symlink", proc_root_symlink, NO_ROOT},
	{"proc-fd-symlink", proc_fd_symlink, NO_ROOT},
	{"many-dotdot", many_dotdot, NO_ROOT},
	{"pathmax", pathmax, NO_ROOT},
	{"pathmax-less-one", pathmax_less_one, NO_ROOT},
	{"long-names", long_names, NO_ROOT},
	{"double-slash", double_slash, NO_ROOT},
	{"slashes-dotdot", slashes_dotdot, NO_ROOT},
	{"embedded-dot", embedded_dot, NO_ROOT},
	{"trailing-slash", trailing_slash, NO_ROOT},
	{0},
};
