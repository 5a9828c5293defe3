/* Changing the read-only mount, directly and through a symlink to it from the
 * writable working directory (`l -> ../data`, the layout the issue found open, and
 * `l -> /abs/data`); removing, renaming and replacing mount roots; renames and hard
 * links between two mounts (Linux: EXDEV). */
#define _GNU_SOURCE
#include "escape.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

typedef const char *(*where)(const char *rest);

static const struct timespec epoch[2] = {{0, 0}, {0, 0}};

static const char *via_link(const char *rest)
{
	return fmt_path("l/%s/%s", attack_name(), rest);
}

static void op_write(where p) { must_not_open(p("canary"), O_WRONLY | O_APPEND, "open(O_WRONLY)"); }
static void op_create(where p) { must_not_open(p("new"), O_CREAT | O_WRONLY, "open(O_CREAT)"); }
static void op_unlink(where p) { must_fail(unlink(p("canary")), "unlink"); }
static void op_chmod(where p) { must_fail(chmod(p("canary"), 0777), "chmod"); }
static void op_mkdir(where p) { must_fail(mkdir(p("d"), 0755), "mkdir"); }
static void op_rmdir(where p) { must_fail(rmdir(p("empty")), "rmdir"); }
static void op_renameout(where p) { must_fail(rename(p("canary"), "stolen"), "rename out"); }
static void op_symlink(where p) { must_fail(symlink("x", p("s")), "symlink"); }
static void op_utimes(where p) { must_fail(utimensat(AT_FDCWD, p("canary"), epoch, 0), "utimensat"); }
static void op_truncate(where p) { must_fail(truncate(p("canary"), 0), "truncate"); }

static void op_renamein(where p)
{
	SETUP(make_file("f", "x"));
	must_fail(rename("f", p("f")), "rename in");
}

static void op_linkin(where p)
{
	SETUP(make_file("f", "x"));
	must_fail(link("f", p("h")), "link in");
}

/* A hard link of a read-only file in the writable mount would make it writable. */
static void op_linkout(where p)
{
	if (!must_fail(link(p("canary"), "h"), "link out"))
		must_fail(chmod("h", 0777), "chmod of the link");
}

static void op_dirfd(where p, int what)
{
	int dfd = open(p(""), O_RDONLY | O_DIRECTORY);
	SETUP(dfd);
	if (what == 0) {
		int fd = openat(dfd, "canary", O_WRONLY | O_APPEND);
		if (!must_fail(fd, "openat(dirfd, canary, O_WRONLY)"))
			scribble(fd, "openat");
	} else if (what == 1) {
		int fd = openat(dfd, "new", O_CREAT | O_WRONLY, 0644);
		if (!must_fail(fd, "openat(dirfd, new, O_CREAT)"))
			close(fd);
	} else {
		must_fail(unlinkat(dfd, "canary", 0), "unlinkat(dirfd, canary)");
	}
	close(dfd);
}

static void op_dirfdwrite(where p) { op_dirfd(p, 0); }
static void op_dirfdcreate(where p) { op_dirfd(p, 1); }
static void op_dirfdunlink(where p) { op_dirfd(p, 2); }

/* Each operation on the read-only mount three ways: by its path, through `l -> ../data`
 * and through `l -> /abs/data`. */
#define OPS(X) \
	X(write) X(create) X(unlink) X(chmod) X(mkdir) X(rmdir) X(renameout) X(renamein) \
	X(symlink) X(utimes) X(truncate) X(linkin) X(linkout) X(dirfdwrite) X(dirfdcreate) \
	X(dirfdunlink)
#define DIRECT(op) static void ro_##op(void) { op_##op(ro_path); }
#define REL(op) \
	static void rolink_##op(void) { SETUP(symlink(ro_rel(), "l")); op_##op(via_link); }
#define ABS(op) \
	static void roabs_##op(void) { SETUP(symlink(ro_dir(), "l")); op_##op(via_link); }
OPS(DIRECT)
OPS(REL)
OPS(ABS)

/* rmdir(".") in a mount's root; then the guest puts a symlink out in its place. */
static void rmdir_dot(void)
{
	SETUP(chdir(root_path()));
	if (!must_fail(rmdir("."), "rmdir(\".\")"))
		must_fail(symlink(out_path(""), root_path()), "symlink in the root's place");
}

static void rmdir_root(void)
{
	if (!must_fail(rmdir(root_path()), "rmdir(root)"))
		must_fail(symlink(out_path(""), root_path()), "symlink in the root's place");
}

static void rename_root(void)
{
	must_fail(rename(root_path(), "moved"), "rename(root, moved)");
}

static void replace_root(void)
{
	SETUP(mkdir("e", 0755));
	must_fail(rename("e", root_path()), "rename(empty dir, root)");
}

static void replace_root_symlink(void)
{
	SETUP(symlink(out_path(""), "s"));
	must_fail(rename("s", root_path()), "rename(symlink out, root)");
}

static void rename_cwd_root(void)
{
	must_fail(rename(scratch_dir(), out_path("moved")), "rename(working directory, outside)");
}

static void rmdir_ro_mount(void) { must_fail(rmdir(ro_dir()), "rmdir(ro mount)"); }
static void rename_ro_mount(void) { must_fail(rename(ro_dir(), "moved"), "rename(ro mount)"); }

static void replace_ro_mount(void)
{
	SETUP(mkdir("e", 0755));
	must_fail(rename("e", ro_dir()), "rename(empty dir, ro mount)");
}

/* Between two mounts, both writable: Linux says EXDEV. */
static void rename_cross_mount(void)
{
	SETUP(make_file("f", "x"));
	must_fail(rename("f", fmt_path("%s/f", root_path())), "rename into another mount");
}

static void link_cross_mount(void)
{
	SETUP(make_file("f", "x"));
	must_fail(link("f", fmt_path("%s/h", root_path())), "link into another mount");
}

#define ENTRY(tag, op) {#tag "-" #op, tag##_##op, NO_ROOT},
#define DIRECT_ENTRY(op) ENTRY(ro, op)
#define REL_ENTRY(op) ENTRY(rolink, op)
#define ABS_ENTRY(op) ENTRY(roabs, op)

const struct attack tree_attacks[] = {
	OPS(DIRECT_ENTRY) OPS(REL_ENTRY) OPS(ABS_ENTRY)
	{"rmdir-dot", rmdir_dot, ROOT_RW},
	{"rmdir-rw-root", rmdir_root, ROOT_RW},
	{"rmdir-ro-root", rmdir_root, ROOT_RO},
	{"rename-rw-root", rename_root, ROOT_RW},
	{"rename-ro-root", rename_root, ROOT_RO},
	{"replace-rw-root", replace_root, ROOT_RW},
	{"replace-ro-root", replace_root, ROOT_RO},
	{"replace-rw-root-symlink", replace_root_symlink, ROOT_RW},
	{"rename-cross-mount", rename_cross_mount, ROOT_RW},
	{"link-cross-mount", link_cross_mount, ROOT_RW},
	{"rename-cwd-root", rename_cwd_root, NO_ROOT},
	/* Last: if these worked, the attacks after them would have lost their mount. */
	{"rmdir-ro-mount", rmdir_ro_mount, NO_ROOT},
	{"replace-ro-mount", replace_ro_mount, NO_ROOT},
	{"rename-ro-mount", rename_ro_mount, NO_ROOT},
	{0},
};
