/* Escapes through file descriptors: O_EXCL without O_CREAT through a symlink (Linux
 * ignores the flag and follows the link), fchmod/futimens/ftruncate on an fd of a
 * read-only mount, set-id bits, the proxy's stdin, wild pointers. */
#define _GNU_SOURCE
#include "escape.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct timespec epoch[2] = {{0, 0}, {0, 0}};

static void excl_read(void)
{
	SETUP(symlink(out_path("canary"), "s"));
	must_not_open("s", O_RDONLY | O_EXCL, "open(s -> outside, O_RDONLY|O_EXCL)");
}

static void excl_trunc_write(void)
{
	SETUP(symlink(out_path("canary"), "s"));
	must_not_open("s", O_WRONLY | O_TRUNC | O_EXCL, "open(s -> outside, O_WRONLY|O_TRUNC|O_EXCL)");
}

static void excl_dir(void)
{
	SETUP(symlink(out_path(""), "s"));
	must_not_open("s", O_RDONLY | O_EXCL | O_DIRECTORY, "open(s -> outside dir, O_EXCL)");
}

/* An fd reached through `s -> target` with O_EXCL, then op on it (chmod, times, size). */
enum fd_op { FCHMOD, FUTIMENS, FTRUNCATE };

static void excl_then(const char *target, enum fd_op op)
{
	int wr = op == FTRUNCATE;
	SETUP(symlink(target, "s"));
	int fd = open("s", (wr ? O_WRONLY : O_RDONLY) | O_EXCL);
	if (must_fail(fd, wr ? "open(s, O_WRONLY|O_EXCL)" : "open(s, O_RDONLY|O_EXCL)"))
		return;
	if (op == FCHMOD)
		must_fail(fchmod(fd, 0777), "fchmod");
	else if (op == FUTIMENS)
		must_fail(futimens(fd, epoch), "futimens");
	else
		must_fail(ftruncate(fd, 1), "ftruncate");
	close(fd);
}

static void excl_fchmod(void) { excl_then(out_path("canary"), FCHMOD); }
static void excl_futimens(void) { excl_then(out_path("canary"), FUTIMENS); }
static void excl_ftruncate(void) { excl_then(out_path("canary"), FTRUNCATE); }
static void excl_ro_ftruncate(void) { excl_then(ro_path("canary"), FTRUNCATE); }

static void excl_ro_write(void)
{
	SETUP(symlink(ro_path("canary"), "s"));
	must_not_open("s", O_WRONLY | O_EXCL, "open(s -> ro, O_WRONLY|O_EXCL)");
}

static void excl_ro_trunc(void)
{
	SETUP(symlink(ro_path("canary"), "s"));
	must_not_open("s", O_WRONLY | O_TRUNC | O_EXCL, "open(s -> ro, O_WRONLY|O_TRUNC|O_EXCL)");
}

/* Reading a read-only file is allowed, however it was reached; changing it is not. */
static void readable_then(const char *path, enum fd_op op)
{
	int fd = open(path, O_RDONLY);
	SETUP(fd);
	if (op == FCHMOD)
		must_fail(fchmod(fd, 0777), "fchmod");
	else
		must_fail(futimens(fd, epoch), "futimens");
	close(fd);
}

static void ro_fchmod(void) { readable_then(ro_path("canary"), FCHMOD); }
static void ro_futimens(void) { readable_then(ro_path("canary"), FUTIMENS); }

static void symlink_ro_fchmod(void)
{
	SETUP(symlink(ro_path("canary"), "s"));
	readable_then("s", FCHMOD);
}

static void ro_excl_futimens(void)
{
	SETUP(symlink(ro_path("canary"), "s"));
	int fd = open("s", O_RDONLY | O_EXCL);
	SETUP(fd);
	must_fail(futimens(fd, epoch), "futimens");
	close(fd);
}

static void creat_excl_symlink(void)
{
	SETUP(symlink(out_path("new"), "s"));
	must_not_open("s", O_CREAT | O_EXCL | O_WRONLY, "open(s -> outside, O_CREAT|O_EXCL)");
}

static void creat_dangling_out(void)
{
	SETUP(symlink(out_path("new"), "s"));
	must_not_open("s", O_CREAT | O_WRONLY, "open(s -> missing outside file, O_CREAT)");
}

static void creat_dangling_ro(void)
{
	SETUP(symlink(ro_path("new"), "s"));
	must_not_open("s", O_CREAT | O_WRONLY, "open(s -> missing ro file, O_CREAT)");
}

/* Set-id bits must not reach the host: the call may fail or drop them. */
static void setid_outcome(long ret, const char *path, const char *step)
{
	struct stat st;

	if (ret == -1) {
		must_fail(ret, step);
		return;
	}
	if (stat(path, &st)) {
		escaped("%s worked, then stat: errno %d", step, errno);
		return;
	}
	if (st.st_mode & (S_ISUID | S_ISGID))
		escaped("%s: mode %04o on the host", step, st.st_mode & 07777);
	else
		note("set-id bits dropped: mode %04o", st.st_mode & 07777);
}

static void setuid_create(void)
{
	int fd = open("f", O_CREAT | O_WRONLY, 04755);
	setid_outcome(fd, "f", "open(O_CREAT, 04755)");
	if (fd >= 0)
		close(fd);
}

static void setgid_mkdir(void)
{
	setid_outcome(mkdir("d", 02755), "d", "mkdir(02755)");
}

static void setgid_dir_chmod(void)
{
	SETUP(mkdir("d", 0755));
	setid_outcome(chmod("d", 02755), "d", "chmod(dir, 02755)");
}

static void setid_chmod(void)
{
	SETUP(make_file("f", "x"));
	setid_outcome(chmod("f", 06777), "f", "chmod(06777)");
}

static void setid_fchmodat(void)
{
	SETUP(make_file("f", "x"));
	setid_outcome(fchmodat(AT_FDCWD, "f", 04755, 0), "f", "fchmodat(04755)");
}

static void setid_fchmod(void)
{
	SETUP(make_file("f", "x"));
	int fd = open("f", O_RDONLY);
	SETUP(fd);
	setid_outcome(fchmod(fd, 06755), "f", "fchmod(06755)");
	close(fd);
}

/* O_NONBLOCK on the guest's fd 0 is the guest's own: only the host sees whether the
 * proxy's stdin (the test's pipe) changed.  The flag stays set on purpose. */
static void stdin_nonblock(void)
{
	int fl = fcntl(0, F_GETFL);
	int set = fcntl(0, F_SETFL, (fl < 0 ? 0 : fl) | O_NONBLOCK);
	int now = fcntl(0, F_GETFL);

	host_check("F_SETFL: %s; the guest's F_GETFL then %s", set == 0 ? "ok" : "failed",
		   now >= 0 && now & O_NONBLOCK ? "has O_NONBLOCK" : "lacks O_NONBLOCK");
}

#define WILD ((void *)0xdead00000000ULL)

static void wild_write_buf(void) { must_fail(write(1, WILD, 10), "write(1, wild buffer)"); }
static void wild_path(void) { must_fail(open(WILD, O_RDONLY), "open(wild path)"); }

static void wild_read_range(void)
{
	SETUP(make_file("f", "some bytes"));
	int fd = open("f", O_RDONLY);
	SETUP(fd);
	must_fail(read(fd, (void *)0x7fffffff0000ULL, 1 << 30), "read into a wild range");
	close(fd);
}

/* The system call itself: musl's stat() would copy to the buffer in the guest. */
static void wild_stat_buf(void)
{
	SETUP(make_file("f", "x"));
	must_fail(syscall(SYS_stat, "f", WILD), "stat(f, wild buffer)");
}

const struct attack fd_attacks[] = {
	{"excl-read", excl_read, NO_ROOT},
	{"excl-trunc-write", excl_trunc_write, NO_ROOT},
	{"excl-dir", excl_dir, NO_ROOT},
	{"excl-fchmod", excl_fchmod, NO_ROOT},
	{"excl-futimens", excl_futimens, NO_ROOT},
	{"excl-ftruncate", excl_ftruncate, NO_ROOT},
	{"excl-ro-write", excl_ro_write, NO_ROOT},
	{"excl-ro-trunc", excl_ro_trunc, NO_ROOT},
	{"excl-ro-ftruncate", excl_ro_ftruncate, NO_ROOT},
	{"symlink-ro-fchmod", symlink_ro_fchmod, NO_ROOT},
	{"excl-ro-futimens", ro_excl_futimens, NO_ROOT},
	{"ro-fchmod", ro_fchmod, NO_ROOT},
	{"ro-futimens", ro_futimens, NO_ROOT},
	{"creat-excl-symlink", creat_excl_symlink, NO_ROOT},
	{"creat-dangling-out", creat_dangling_out, NO_ROOT},
	{"creat-dangling-ro", creat_dangling_ro, NO_ROOT},
	{"setuid-create", setuid_create, NO_ROOT},
	{"setgid-mkdir", setgid_mkdir, NO_ROOT},
	{"setgid-dir-chmod", setgid_dir_chmod, NO_ROOT},
	{"setid-chmod", setid_chmod, NO_ROOT},
	{"setid-fchmodat", setid_fchmodat, NO_ROOT},
	{"setid-fchmod", setid_fchmod, NO_ROOT},
	{"stdin-nonblock", stdin_nonblock, NO_ROOT},
	{"wild-write-buf", wild_write_buf, NO_ROOT},
	{"wild-read-range", wild_read_range, NO_ROOT},
	{"wild-path", wild_path, NO_ROOT},
	{"wild-stat-buf", wild_stat_buf, NO_ROOT},
	{0},
};
