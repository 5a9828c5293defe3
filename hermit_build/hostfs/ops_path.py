"""Calls that name files: resolved in the guest's namespace (resolve.py), then carried
out on the object a walk pinned, or on (directory fd, last name) with the *at call
and no-follow flags, never on a host path string."""

import errno
import os
import stat
import time

from . import linux as L
from .fdtable import Device, OpenFile
from .linux import s32
from .policy import GuestError, Mount, erofs
from .resolve import Host, Node, Walk, gjoin, split, stat_bytes
from .synthetic import Synth

_ACC_WRITE = (os.O_WRONLY, os.O_RDWR)
_SETID = 0o6000  # set-uid and set-gid never reach the host
_CWD = L.AT_FDCWD & 0xFFFFFFFF


def _mode(mode: int) -> int:
    return mode & 0o7777 & ~_SETID


def _writable(node: Node) -> None:
    if isinstance(node, Synth) or node.readonly:
        raise erofs()


def _nodev(st: os.stat_result) -> None:
    # As a nodev mount: a host device node is never opened for the guest.
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        raise GuestError(errno.EACCES, "host device nodes are not served")


class PathOps:
    def _walk(self) -> Walk:
        return Walk(self.mounts)

    def _lookup(self, w: Walk, dirfd: int, path: str, follow: bool = True) -> Node:
        return w.lookup(self.base(dirfd, path, w), path, follow)

    def _parent(self, w: Walk, dirfd: int, path: str) -> tuple[list[Node], str]:
        return w.parent(self.base(dirfd, path, w), path)

    # -- open ----------------------------------------------------------------------

    def sys_open(self, path, flags, mode, *_):
        return self.sys_openat(_CWD, path, flags, mode)

    def sys_openat(self, dirfd, path, flags, mode, *_):
        flags &= 0xFFFFFFFF
        text = self.path(path)
        with self._walk() as w:
            return self._open(w, self._parent(w, dirfd, text), text.endswith("/"), flags,
                              _mode(mode))

    def _open(self, w: Walk, where: tuple[list[Node], str], trailing: bool, flags: int,
              mode: int):
        creat, excl = flags & L.O_CREAT, flags & os.O_EXCL
        nofollow = flags & os.O_NOFOLLOW or (creat and excl)
        write = (flags & L.O_ACCMODE) in _ACC_WRITE or flags & L.O_TRUNC
        stack, name = where
        while True:
            d = stack[-1]
            g = gjoin(d.gpath, name)
            special = name in (".", "..") or trailing or not isinstance(d, Host)
            if special or g in self.mounts.overlay or g in self.mounts.fallback:
                try:
                    node = w.walk(stack, [name], not nofollow or trailing)[-1]
                except OSError as e:
                    if e.errno == errno.ENOENT and creat and isinstance(d, Synth) \
                            and name not in (".", ".."):
                        raise erofs() from None  # creating in a synthetic directory
                    raise
                return self._open_node(node, flags, mode, write)
            try:
                st = os.stat(name, dir_fd=d.fd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                if creat and excl:
                    raise GuestError(errno.EEXIST, "file exists")
                if nofollow:
                    raise GuestError(errno.ELOOP, "a symbolic link")
                stack, name, trailing = self._through_link(w, stack, name)
                continue
            if st is not None and stat.S_ISDIR(st.st_mode):
                return self._open_node(w.step(d, name), flags, mode, write)
            if st is None and not creat:
                raise GuestError(errno.ENOENT, f"{g}: no such file")
            if st is not None and creat and excl:
                raise GuestError(errno.EEXIST, "file exists")
            if d.readonly and (write or st is None):
                raise erofs()
            if st is not None:
                _nodev(st)
            # A FIFO's open waits for the other end: never in the loader (a writer
            # without a reader gets ENXIO instead).
            fifo = st is not None and stat.S_ISFIFO(st.st_mode) and not flags & os.O_NONBLOCK
            try:
                fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY |
                             (os.O_NONBLOCK if fifo else 0), mode, dir_fd=d.fd)
            except OSError as e:
                if e.errno == errno.ELOOP and not nofollow:
                    continue  # a symlink swapped in meanwhile: resolve it in guest space
                raise
            if fifo:
                os.set_blocking(fd, True)
            return self._install_host(fd, d.mount, g)

    def _through_link(self, w: Walk, stack: list[Node], name: str):
        """(stack, last name, trailing) of what symlink `name` in stack[-1] points to."""
        w.count_link()
        target = os.readlink(name, dir_fd=stack[-1].fd)
        comps = split(target)
        if not target:
            raise GuestError(errno.ENOENT, "empty symlink")
        base = [w.root()] if target.startswith("/") else stack
        if not comps:
            return base, ".", False
        return w.walk(base, comps[:-1], True), comps[-1], target.endswith("/")

    def _open_node(self, node: Node, flags: int, mode: int, write: bool):
        """Open what a walk reached: a directory, a synthetic object, a device."""
        if flags & L.O_CREAT and flags & os.O_EXCL:
            raise GuestError(errno.EEXIST, "file exists")
        directory = flags & L.O_DIRECTORY
        if isinstance(node, Synth):
            if node.kind == "link":
                raise GuestError(errno.ELOOP, "a symbolic link")
            if directory and not node.is_dir:
                raise GuestError(errno.ENOTDIR, "not a directory")
            if node.kind == "dev":
                return Device(node.node)  # the kernel serves it
            if write:
                raise GuestError(errno.EISDIR if node.is_dir else errno.EROFS, "read-only")
            return self.fds.install(OpenFile(-1, node.gpath, None, node.is_dir, node))
        if node.is_link:
            raise GuestError(errno.ELOOP, "a symbolic link")
        if not node.is_dir:  # reached with a trailing slash
            raise GuestError(errno.ENOTDIR, "not a directory")
        if write and node.readonly:
            raise erofs()
        fd = os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=node.fd)
        return self._install_host(fd, node.mount, node.gpath)

    def _install_host(self, fd: int, mount: Mount, gpath: str) -> int:
        try:
            st = os.fstat(fd)
            _nodev(st)
        except OSError:
            os.close(fd)
            raise
        is_dir = stat.S_ISDIR(st.st_mode)
        mount = (self.mounts.mount_of_dir(st) or mount) if is_dir else mount
        return self.fds.install(OpenFile(fd, gpath, mount, is_dir))

    # -- metadata -----------------------------------------------------------------

    def sys_stat(self, path, st, *_):
        return self.sys_newfstatat(_CWD, path, st, 0)

    def sys_lstat(self, path, st, *_):
        return self.sys_newfstatat(_CWD, path, st, L.AT_SYMLINK_NOFOLLOW)

    def sys_newfstatat(self, dirfd, path, st, flags, *_):
        # AT_EMPTY_PATH: "" (or, since Linux 6.11, NULL) names dirfd itself
        text = self.path(path) if path or not flags & L.AT_EMPTY_PATH else ""
        with self._walk() as w:
            if flags & L.AT_EMPTY_PATH and not text:
                if s32(dirfd) == L.AT_FDCWD:
                    data = stat_bytes(self.mounts, self.base(dirfd, "", w))
                else:
                    data = self.fstat_bytes(self.file(dirfd))
            else:
                node = self._lookup(w, dirfd, text, not flags & L.AT_SYMLINK_NOFOLLOW)
                data = stat_bytes(self.mounts, node)
        self.mem.write(st, data)
        return 0

    def sys_access(self, path, mode, *_):
        return self.sys_faccessat2(_CWD, path, mode, 0)

    def sys_faccessat(self, dirfd, path, mode, *_):
        return self.sys_faccessat2(dirfd, path, mode, 0)

    def sys_faccessat2(self, dirfd, path, mode, flags, *_):
        text, mode = self.path(path), mode & 7
        with self._walk() as w:
            node = self._lookup(w, dirfd, text, not flags & L.AT_SYMLINK_NOFOLLOW)
            if isinstance(node, Synth):
                if mode & os.W_OK and node.kind != "dev":
                    raise erofs()
                if mode & os.X_OK and not node.is_dir:
                    raise GuestError(errno.EACCES, "not executable")
                return 0
            if mode & os.W_OK and node.readonly and not stat.S_ISCHR(node.st.st_mode):
                raise erofs()
            fd, name = node.at()
            if not os.access(name, mode, dir_fd=fd, follow_symlinks=False):
                raise GuestError(errno.EACCES, "access denied")
        return 0

    def sys_readlink(self, path, buf, size, *_):
        return self.sys_readlinkat(_CWD, path, buf, size)

    def sys_readlinkat(self, dirfd, path, buf, size, *_):
        if not (s := size & 0xFFFFFFFF) or s & 0x80000000:
            raise GuestError(errno.EINVAL, "bad buffer size")
        text = self.path(path)
        with self._walk() as w:
            node = self._lookup(w, dirfd, text, follow=False)
            if not (isinstance(node, Synth) and node.kind == "link" or
                    isinstance(node, Host) and node.is_link):
                raise GuestError(errno.EINVAL, "not a symbolic link")
            data = os.fsencode(w.readlink(node))[:s]
        self.mem.write(buf, data)
        return len(data)

    def sys_chmod(self, path, mode, *_):
        return self.sys_fchmodat(_CWD, path, mode, 0)

    def sys_fchmodat(self, dirfd, path, mode, *_):
        text = self.path(path)
        with self._walk() as w:
            node = self._lookup(w, dirfd, text)
            _writable(node)
            fd, name = node.at()
            # fchmodat(AT_SYMLINK_NOFOLLOW): the name is never followed on the host
            os.chmod(name, _mode(mode), dir_fd=fd, follow_symlinks=name == ".")
        return 0

    def sys_truncate(self, path, length, *_):
        text = self.path(path)
        with self._walk() as w:
            node = self._lookup(w, dirfd=_CWD, path=text)
            _writable(node)
            if node.is_dir:
                raise GuestError(errno.EISDIR, "is a directory")
            _nodev(node.st)
            dfd, name = node.at()
            fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                         dir_fd=dfd)
            try:
                os.ftruncate(fd, length)
            finally:
                os.close(fd)
        return 0

    def sys_utimensat(self, dirfd, path, times, flags, *_):
        nofollow = bool(flags & L.AT_SYMLINK_NOFOLLOW)
        text = self.path(path) if path else ""
        with self._walk() as w:
            if not text and (not path or flags & L.AT_EMPTY_PATH):  # futimens()
                f = self.file(dirfd)
                if f.readonly:
                    raise erofs()
                target, kw, current = f.fd, {}, os.fstat(f.fd)
            else:
                node = self._lookup(w, dirfd, text, not nofollow)
                _writable(node)
                fd, name = node.at()
                target, kw, current = name, {"dir_fd": fd, "follow_symlinks": False}, node.st
            if not times:
                os.utime(target, **kw)
                return 0
            (asec, ansec), (msec, mnsec) = L.TIMESPEC.iter_unpack(self.mem.read(times, 32))
            now = time.time_ns()

            def pick(sec: int, nsec: int, old: int) -> int:
                if nsec == L.UTIME_OMIT:
                    return old
                if nsec == L.UTIME_NOW:
                    return now
                if not 0 <= nsec < 10**9:
                    raise GuestError(errno.EINVAL, "bad nanoseconds")
                return sec * 10**9 + nsec

            ns = (pick(asec, ansec, current.st_atime_ns), pick(msec, mnsec, current.st_mtime_ns))
            os.utime(target, ns=ns, **kw)
        return 0
