"""The loader's file service without a VM: the guest namespace, its synthetic objects,
and each escape of issue 9 section 1 as the resolver sees it."""

import os
import stat

import fakeguest as fg
import pytest
from fakeguest import SCRATCH, Guest, err

from hermit_build.hostfs import linux as L
from hermit_build.hostfs.synthetic import SYNTH_DEV


@pytest.fixture
def tree(tmp_path):
    """tmp/outside.txt, tmp/work (the working directory) with work/data (mounted
    read-only at its own path), tmp/ro (mounted read-only at /ro)."""
    work, ro = tmp_path / "work", tmp_path / "ro"
    (work / "data").mkdir(parents=True)
    ro.mkdir()
    (work / "data/existing.txt").write_text("keep me\n")
    (ro / "existing.txt").write_text("keep me too\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    g = Guest(str(work), ["data:ro", f"{ro}:/ro:ro"], image=str(work / "app"))
    yield g, tmp_path
    g.close()


def unchanged(tmp_path):
    assert (tmp_path / "outside.txt").read_text() == "secret\n"
    assert (tmp_path / "work/data/existing.txt").read_text() == "keep me\n"
    assert (tmp_path / "ro/existing.txt").read_text() == "keep me too\n"
    assert sorted(p.name for p in (tmp_path / "work/data").iterdir()) == ["existing.txt"]
    assert sorted(p.name for p in (tmp_path / "ro").iterdir()) == ["existing.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt", "ro", "work"]


# -- what lies outside the mounts does not exist --------------------------------------------


def test_outside_the_mounts_is_enoent(tree):
    g, tmp = tree
    outside = str(tmp / "outside.txt")
    assert g.open(outside, fg.O_RDONLY) == err("ENOENT")
    assert g.stat(outside) == err("ENOENT")
    assert g.open("../" * 40 + outside[1:], fg.O_RDONLY) == err("ENOENT")
    assert g.symlink(outside, "out") == 0
    assert g.open("out", fg.O_RDONLY) == err("ENOENT")
    assert g.symlink("/", "root") == 0
    assert g.open("root" + outside, fg.O_RDONLY) == err("ENOENT")
    assert g.open("root/../../.." + outside, fg.O_RDONLY) == err("ENOENT")
    assert g.open(outside, fg.O_CREAT | fg.O_WRONLY, 0o644) == err("EROFS")  # a synthetic dir
    assert g.mkdir("/hermit-escape", 0o755) == err("EROFS")
    unchanged(tmp)


def test_o_excl_without_o_creat_follows_inside_the_namespace(tree):
    g, tmp = tree
    outside = str(tmp / "outside.txt")
    assert g.symlink(outside, "s") == 0
    assert g.open("s", fg.O_RDONLY | fg.O_EXCL) == err("ENOENT")
    assert g.open("s", fg.O_WRONLY | fg.O_TRUNC | fg.O_EXCL) == err("ENOENT")
    assert g.open("s", fg.O_CREAT | fg.O_EXCL | fg.O_WRONLY, 0o644) == err("EEXIST")
    # Linux ignores fg.O_EXCL without fg.O_CREAT: a link to a guest file is followed
    (tmp / "work/f").write_text("mine\n")
    assert g.symlink("f", "s2") == 0
    fd = g.open("s2", fg.O_RDONLY | fg.O_EXCL)
    assert fd >= 3 and g.read_all(fd) == b"mine\n"
    assert g.open("s2", fg.O_RDONLY | fg.O_NOFOLLOW) == err("ELOOP")
    unchanged(tmp)


def test_symlink_into_a_read_only_mount_stays_read_only(tree):
    g, tmp = tree
    assert g.symlink("data", "l") == 0
    assert g.symlink(str(tmp / "work/data"), "abs") == 0
    for via in ("l", "abs", "/ro/.."+str(tmp / "work/data")):
        assert g.open(f"{via}/existing.txt", fg.O_WRONLY) == err("EROFS")
        assert g.open(f"{via}/existing.txt", fg.O_RDWR | fg.O_TRUNC) == err("EROFS")
        assert g.open(f"{via}/new.txt", fg.O_CREAT | fg.O_WRONLY, 0o644) == err("EROFS")
        assert g.chmod(f"{via}/existing.txt", 0o777) == err("EROFS")
        assert g.unlink(f"{via}/existing.txt") == err("EROFS")
        assert g.truncate(f"{via}/existing.txt", 0) == err("EROFS")
        assert g.mkdir(f"{via}/d", 0o755) == err("EROFS")
        assert g.symlink("x", f"{via}/s") == err("EROFS")
        assert g.utimensat(L.AT_FDCWD, f"{via}/existing.txt", 0, 0) == err("EROFS")
        fd = g.open(f"{via}/existing.txt", fg.O_RDONLY)
        assert g.read_all(fd) == b"keep me\n"
        assert g.close_fd(fd) == 0
    unchanged(tmp)


def test_read_only_follows_the_directory_after_a_rename(tmp_path):
    (tmp_path / "work/x/data").mkdir(parents=True)
    (tmp_path / "work/x/data/f").write_text("ro\n")
    g = Guest(str(tmp_path / "work"), ["x/data:/data:ro"])
    try:
        assert g.open("x/data/f", fg.O_WRONLY) == err("EROFS")  # its host directory too
        assert g.rename("x", "y") == 0
        assert g.open("y/data/f", fg.O_WRONLY) == err("EROFS")
        assert g.open("/data/f", fg.O_WRONLY) == err("EROFS")
        assert g.rename("y/data", "z") == err("EBUSY")
        assert g.open("y/data/f", fg.O_RDONLY) >= 3
    finally:
        g.close()
    assert (tmp_path / "work/y/data/f").read_text() == "ro\n"


def test_mount_roots_cannot_be_removed_or_replaced(tree):
    g, tmp = tree
    cwd = str(tmp / "work")
    assert g.rmdir(".") == err("EINVAL")
    assert g.rmdir("..") == err("ENOTEMPTY")
    assert g.unlink(".") == err("EISDIR")
    assert g.rmdir(cwd) == err("EBUSY")
    assert g.rmdir("../work") == err("EBUSY")
    assert g.rmdir("data") == err("EBUSY")
    assert g.rmdir("/ro") == err("EBUSY")
    assert g.rmdir("/etc") == err("EBUSY")
    assert g.rename("data", "elsewhere") == err("EBUSY")
    assert g.mkdir("empty", 0o755) == 0
    assert g.rename("empty", "data") == err("EBUSY")
    assert g.rename(cwd, "/x") == err("EBUSY")
    assert g.symlink("/", "data") == err("EEXIST")
    assert g.unlink("/etc/hostname") == err("EROFS")
    assert g.rename(".", "x") == err("EBUSY")
    assert (tmp / "work").is_dir() and (tmp / "work/data").is_dir()
    unchanged(tmp)


def test_set_id_bits_never_reach_the_host(tree):
    g, tmp = tree
    work = tmp / "work"
    fd = g.open("f", fg.O_CREAT | fg.O_WRONLY, 0o6755)
    assert fd >= 3
    assert stat.S_IMODE((work / "f").stat().st_mode) & 0o6000 == 0
    assert g.mkdir("d", 0o7777) == 0
    assert stat.S_IMODE((work / "d").stat().st_mode) & 0o6000 == 0
    assert g.chmod("f", 0o6777) == 0
    assert stat.S_IMODE((work / "f").stat().st_mode) == 0o777
    assert g.fchmod(fd, 0o4755) == 0
    assert stat.S_IMODE((work / "f").stat().st_mode) == 0o755
    assert g.fchmodat(L.AT_FDCWD, "d", 0o2755) == 0
    assert stat.S_IMODE((work / "d").stat().st_mode) == 0o755


def test_chown_succeeds_only_when_it_changes_nothing(tree):
    g, tmp = tree
    work = tmp / "work"
    fd = g.open("f", fg.O_CREAT | fg.O_WRONLY, 0o644)
    st = (work / "f").stat()
    keep = -1
    assert g.chown("f", st.st_uid, st.st_gid) == 0
    assert g.fchown(fd, keep, keep) == 0
    assert g.lchown("f", keep, st.st_gid) == 0
    assert g.fchownat(L.AT_FDCWD, "f", st.st_uid, keep, 0) == 0
    assert g.chown("f", st.st_uid + 1, keep) == err("EPERM")
    assert g.fchown(fd, keep, st.st_gid + 1) == err("EPERM")
    assert g.chown("data/existing.txt", keep, keep) == err("EROFS")
    assert g.chown("/etc/passwd", 0, 0) == err("EROFS")
    assert g.chown("/nowhere", 0, 0) == err("ENOENT")
    assert ((work / "f").stat().st_uid, (work / "f").stat().st_gid) == (st.st_uid, st.st_gid)
    unchanged(tmp)


def test_hard_links_and_renames_between_mounts_are_exdev(tree):
    g, tmp = tree
    assert g.link("/ro/existing.txt", "h") == err("EXDEV")
    assert g.link("data/existing.txt", "h") == err("EXDEV")
    assert g.rename("/ro/existing.txt", "x") == err("EXDEV")
    assert g.open("mine", fg.O_CREAT | fg.O_WRONLY, 0o644) >= 3
    assert g.rename("mine", "/ro/mine") == err("EXDEV")
    assert g.link("mine", "data/mine") == err("EXDEV")
    assert g.link("mine", "mine2") == 0
    assert g.rename("mine2", "mine3") == 0
    unchanged(tmp)


def test_an_fd_of_a_read_only_mount_changes_nothing(tree):
    g, tmp = tree
    fd = g.open("/ro/existing.txt", fg.O_RDONLY)
    assert fd >= 3
    assert g.write_bytes(fd, b"x") == err("EBADF")
    assert g.fchmod(fd, 0o777) == err("EROFS")
    assert g.utimensat(fd, 0, 0, 0) == err("EROFS")
    assert g.ftruncate(fd, 0) == err("EINVAL")
    unchanged(tmp)


# -- the namespace: ancestors, synthetic files, devices -------------------------------------


def test_ancestors_are_read_only_directories(tree):
    g, tmp = tree
    cwd = str(tmp / "work")
    assert g.getcwd() == cwd
    assert g.is_dir("..") and g.is_dir("/") and g.stat("..", follow=False)[0] & 0o777 == 0o555
    assert g.listdir("..") == [".", "..", "work"]
    assert g.listdir("/") == [".", "..", "dev", "etc", "proc", "ro", cwd.split("/")[1]]
    assert g.listdir("/dev") == [".", "..", "full", "null", "random", "urandom", "zero"]
    # a getcwd walk: stat("..") up to where ".." is "." ends at "/"
    up, seen = ".", []
    while True:
        here, parent = g.stat(up), g.stat(up + "/..")
        seen.append(here[1:3])
        if here[1:3] == parent[1:3]:
            break
        up += "/.."
        assert len(seen) < 64
    assert len(seen) == cwd.count("/") + 1 and len(set(seen)) == len(seen)
    assert g.stat("/")[1:4] == (SYNTH_DEV, seen[-1][1], 0)
    assert g.chdir("/") == 0 and g.getcwd() == "/"
    assert g.chdir(cwd[1:]) == 0 and g.getcwd() == cwd
    unchanged(tmp)


def test_synthetic_files(tree):
    g, tmp = tree
    fd = g.open("/etc/hostname", fg.O_RDONLY)
    assert g.read_all(fd) == b"hermit\n"
    assert g.lseek(fd, 2, os.SEEK_SET) == 2 and g.read_all(fd) == b"rmit\n"
    assert g.write_bytes(fd, b"x") == err("EBADF")
    assert g.open("/etc/hostname", fg.O_WRONLY) == err("EROFS")
    assert g.open("/etc/new", fg.O_CREAT | fg.O_WRONLY, 0o644) == err("EROFS")
    assert b"hermit" in g.read_all(g.open("/etc/hosts", fg.O_RDONLY))
    assert g.read_all(g.open("/etc/passwd", fg.O_RDONLY)).startswith(b"root:x:0:0:")
    assert g.read_all(g.open("/etc/group", fg.O_RDONLY)).startswith(b"root:x:0:")
    assert g.read_all(g.open("/etc/resolv.conf", fg.O_RDONLY)).startswith(b"#")
    mode, dev, _ino, uid, _rdev = g.stat("/etc/passwd")
    assert stat.S_ISREG(mode) and dev == SYNTH_DEV and uid == 0
    assert g.readlink("/proc/self/exe") == str(tmp / "work/app")
    assert g.open("/proc/self/fd", fg.O_RDONLY) == err("ENOENT")
    assert g.listdir("/proc/self") == [".", "..", "exe"]


def test_a_mount_over_etc_hides_the_synthetic_files(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("mine\n")
    (tmp_path / "work").mkdir()
    g = Guest(str(tmp_path / "work"), [f"{tmp_path / 'etc'}:/etc:ro"])
    try:
        assert g.read_all(g.open("/etc/hostname", fg.O_RDONLY)) == b"mine\n"
        assert g.open("/etc/passwd", fg.O_RDONLY) == err("ENOENT")
    finally:
        g.close()


@pytest.mark.parametrize("path,node,major,minor", [
    ("/dev/null", 1, 1, 3), ("/dev/zero", 2, 1, 5), ("/dev/full", 3, 1, 7),
    ("/dev/random", 4, 1, 8), ("/dev/urandom", 5, 1, 9)])
def test_kernel_devices(tree, path, node, major, minor):
    g, _tmp = tree
    assert g.open(path, fg.O_RDWR) == (0, node)
    assert g.open(path, fg.O_WRONLY | fg.O_CREAT | fg.O_TRUNC, 0o644) == (0, node)
    assert g.open(path, fg.O_DIRECTORY) == err("ENOTDIR")
    mode, _dev, _ino, uid, rdev = g.stat(path)
    assert stat.S_ISCHR(mode) and uid == 0 and rdev == os.makedev(major, minor)


# -- lookups ---------------------------------------------------------------------------------


def test_symlinks_resolve_in_guest_space(tree):
    g, tmp = tree
    (tmp / "work/sub").mkdir()
    (tmp / "work/sub/f").write_text("f\n")
    assert g.symlink("/ro", "sub/toro") == 0
    assert g.read_all(g.open("sub/toro/existing.txt", fg.O_RDONLY)) == b"keep me too\n"
    assert g.symlink("../data/existing.txt", "sub/up") == 0
    assert g.read_all(g.open("sub/up", fg.O_RDONLY)) == b"keep me\n"
    # ".." at a mount's root climbs into the guest directory above it
    assert g.stat("/ro/..")[1:3] == g.stat("/")[1:3]
    assert g.symlink("loop2", "loop1") == 0 and g.symlink("loop1", "loop2") == 0
    assert g.open("loop1", fg.O_RDONLY) == err("ELOOP")
    assert g.symlink("made", "dangling") == 0
    assert g.open("dangling", fg.O_CREAT | fg.O_WRONLY, 0o644) >= 3
    assert (tmp / "work/made").is_file()
    assert g.stat("sub/f/") == err("ENOTDIR")
    assert g.stat("sub/f/..") == err("ENOTDIR")


def test_dirfds_and_fchdir(tree):
    g, tmp = tree
    (tmp / "work/sub").mkdir()
    (tmp / "work/sub/f").write_text("f\n")
    d = g.open("sub", fg.O_RDONLY | fg.O_DIRECTORY)
    assert g.read_all(g.openat(d, "f", fg.O_RDONLY)) == b"f\n"
    assert g.read_all(g.openat(d, "../data/existing.txt", fg.O_RDONLY)) == b"keep me\n"
    assert g.openat(d, "../data/new", fg.O_CREAT | fg.O_WRONLY, 0o644) == err("EROFS")
    root = g.open("/", fg.O_RDONLY | fg.O_DIRECTORY)
    assert g.read_all(g.openat(root, "etc/hostname", fg.O_RDONLY)) == b"hermit\n"
    ro = g.open("/ro", fg.O_RDONLY | fg.O_DIRECTORY)
    assert g.openat(ro, "existing.txt", fg.O_WRONLY) == err("EROFS")
    assert g.openat(ro, "..", fg.O_RDONLY | fg.O_DIRECTORY) >= 3
    assert g.fchdir(d) == 0 and g.getcwd() == str(tmp / "work/sub")
    assert g.fchdir(root) == 0 and g.getcwd() == "/"
    f = g.open(str(tmp / "work/sub/f"), fg.O_RDONLY)
    assert g.openat(f, "x", fg.O_RDONLY) == err("ENOTDIR")
    assert g.openat(99, "x", fg.O_RDONLY) == err("EBADF")
    assert g.openat(99, "/etc/hostname", fg.O_RDONLY) >= 3  # an absolute path ignores dirfd
    assert g.newfstatat(root, "", SCRATCH, L.AT_EMPTY_PATH) == 0


def test_opening_a_fifo_never_blocks_the_loader(tree):
    g, tmp = tree
    os.mkfifo(tmp / "work/fifo")
    assert g.open("fifo", fg.O_WRONLY) == err("ENXIO")  # no reader: Linux would wait
    fd = g.open("fifo", fg.O_RDONLY)
    assert fd >= 3
    assert os.get_blocking(g.fs.fds.get(fd).fd)  # the guest did not ask for O_NONBLOCK


def test_host_device_nodes_are_not_opened(tree):
    g, tmp = tree
    try:
        os.mknod(tmp / "work/dev", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs CAP_MKNOD")
    assert g.open("dev", fg.O_RDONLY) == err("EACCES")
    assert stat.S_ISCHR(g.stat("dev")[0])


def test_calls_with_flags_linux_refuses(tree):
    g, _tmp = tree
    assert g.unlinkat(-100, "x", 0x100) == err("EINVAL")
    assert g.renameat2(-100, "x", -100, "y", 0x80) == err("EINVAL")
    assert g.fchdir(-100) == err("EBADF")
    assert g.newfstatat(-100, 0, SCRATCH, L.AT_EMPTY_PATH) == 0
    assert g.readlink("/etc/hostname") == err("EINVAL")


def test_a_mount_of_the_root_keeps_the_synthetic_dev_etc_proc(tmp_path):
    (tmp_path / "work").mkdir()
    g = Guest(str(tmp_path / "work"), ["/:/:ro"])
    try:
        assert g.open("/dev/null", fg.O_RDWR) == (0, 1)
        assert g.read_all(g.open("/etc/hostname", fg.O_RDONLY)) == b"hermit\n"
        assert g.open("/proc/self/mem", fg.O_RDONLY) == err("ENOENT")
        assert g.open(str(tmp_path / "x"), fg.O_CREAT | fg.O_WRONLY, 0o644) == err("EROFS")
        assert g.open("x", fg.O_CREAT | fg.O_WRONLY, 0o644) >= 3  # the working directory
        assert g.stat("/usr")[1] != g.stat("/dev")[1]  # the host's, beside synthetic ones
    finally:
        g.close()


def test_a_lookup_holds_a_bounded_number_of_host_fds(tree):
    g, tmp = tree
    (tmp / "work/d").mkdir()
    # 40 symlinks of 800 "d/.." each: 32000 steps, stopped early
    assert g.symlink("d/../" * 800 + "f", "s0") == 0
    for i in range(1, 40):
        assert g.symlink("d/../" * 800 + f"s{i - 1}", f"s{i}") == 0
    (tmp / "work/f").write_text("f\n")
    assert g.open("d/../" * 800 + "f", fg.O_RDONLY) >= 3  # 800 steps: fine
    assert g.open("s39", fg.O_RDONLY) == err("ENAMETOOLONG")
    assert len(os.listdir("/proc/self/fd")) < 100  # none left open


def test_a_trailing_slash_names_a_directory(tree):
    g, tmp = tree
    (tmp / "work/f").write_text("f\n")
    (tmp / "work/d").mkdir()
    assert g.unlink("f/") == err("ENOTDIR")
    assert g.unlink("d/") == err("EISDIR")
    assert g.open("f/", fg.O_RDONLY) == err("ENOTDIR")
    assert g.mkdir("e/", 0o755) == 0 and g.rmdir("e/") == 0
    assert (tmp / "work/f").exists()
