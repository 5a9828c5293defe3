"""The file service: Linux file system calls of the guest, carried out on the host.

The kernel forwards each call (HC_SYSCALL: number, six arguments, its fds replaced
by the loader's handles once the kernel holds the fd table); pointers are
guest-physical addresses, checked against guest memory before use, and data moves
between host files and guest memory without intermediate copies (os.readv/os.writev
on views of guest RAM).  Errors return as -errno.  Paths are resolved against the
guest's namespace (policy.py, resolve.py).
"""

import errno
import os

from ..guestmem import GuestFault, GuestMemory
from . import linux as L
from .fdtable import FdTable, OpenFile
from .ops_io import IoOps
from .ops_path import PathOps
from .ops_tree import TreeOps
from .policy import GuestError, MountTable
from .resolve import Host, Node, Walk
from .synthetic import Synth

MAX_IO = 1 << 31


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & (1 << 31) else v


def s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


class FileService(IoOps, PathOps, TreeOps):
    def __init__(self, mem: GuestMemory, mounts: MountTable, std=(0, 1, 2)):
        self.mem = mem
        self.mounts = mounts
        self.fds = FdTable(std)
        root = mounts.overlay[mounts.cwd]  # the working directory is a mount's root
        self.cwd: Node = Host(root, root.fd, root.guest, os.fstat(root.fd))
        self.cwd_owned = False  # whether cwd.fd is ours to close (not the mount's)
        self.table = {nr: getattr(self, "sys_" + name) for name, nr in L.NR.items()}

    def call(self, nr: int, args: tuple[int, ...]) -> tuple[int, int]:
        """(ret, node): the result or -errno, and the kernel device an open named."""
        fn = self.table.get(nr)
        if fn is None:
            return -errno.ENOSYS, 0
        try:
            ret = fn(*args)
        except GuestFault:
            return -errno.EFAULT, 0
        except OSError as e:  # GuestError included: the errno the guest sees
            return -(e.errno or errno.EIO), 0
        except (ValueError, OverflowError):
            return -errno.EINVAL, 0
        return ret if isinstance(ret, tuple) else (ret, 0)

    # -- helpers shared by the operations --------------------------------------

    def buf(self, addr: int, length: int) -> memoryview:
        if length > MAX_IO:
            raise GuestError(errno.EINVAL, "transfer too large")
        return self.mem.view(addr, length)

    def path(self, addr: int) -> str:
        if not addr:
            raise GuestError(errno.EFAULT, "NULL path")
        raw = self.mem.read_cstr(addr, L.PATH_MAX + 1)
        if len(raw) > L.PATH_MAX:
            raise GuestError(errno.ENAMETOOLONG, "path too long")
        return os.fsdecode(raw)

    def base(self, dirfd: int, path: str, w: Walk) -> Node | None:
        """The directory a *at() call starts from (an absolute path ignores dirfd),
        with an fd of its own that the walk w closes: a close() or chdir() meanwhile
        in another thread cannot turn it into a different file."""
        dirfd = s32(dirfd)
        if path.startswith("/"):
            return None
        with self.fds.lock:
            if dirfd == L.AT_FDCWD:
                node = self.cwd
                if isinstance(node, Synth):
                    return node
                mount, fd, gpath = node.mount, node.fd, node.gpath
            else:
                f = self.fds.get(dirfd)
                if f.synth is not None and f.synth.is_dir:
                    return f.synth
                if not f.is_dir or f.mount is None:
                    raise GuestError(errno.ENOTDIR, "not a directory")
                mount, fd, gpath = f.mount, f.fd, f.gpath
            fd = os.dup(fd)
        w.fds.append(fd)
        return Host(mount, fd, gpath, os.fstat(fd))

    def file(self, fd: int) -> OpenFile:
        return self.fds.get(s32(fd))

    def close_all(self) -> None:
        self.fds.close_all()
        self.set_cwd(None)
        self.mounts.close()

    def set_cwd(self, node: Node | None) -> None:
        """Make node (a Host with an fd of its own, or a Synth) the working directory."""
        with self.fds.lock:
            old, owned = self.cwd, self.cwd_owned
            self.cwd_owned = isinstance(node, Host)
            if node is not None:
                self.cwd = node
        if owned:
            os.close(old.fd)

    # -- descriptors -------------------------------------------------------------

    def sys_close(self, fd, *_):
        self.fds.close(s32(fd))
        return 0

    def _dup_into(self, f: OpenFile, at: int | None = None, start: int = 0,
                  cloexec: bool = False) -> int:
        return self.fds.install(f.duplicate(cloexec), at=at, start=start)

    def sys_dup(self, fd, *_):
        return self._dup_into(self.file(fd))

    def sys_dup2(self, old, new, *_):
        f, new = self.file(old), s32(new)
        if new < 0 or new >= 1024:
            raise GuestError(errno.EBADF, "bad target descriptor")
        return new if new == s32(old) else self._dup_into(f, at=new)

    def sys_dup3(self, old, new, flags, *_):
        if s32(old) == s32(new):
            raise GuestError(errno.EINVAL, "same descriptor")
        if s32(new) < 0 or s32(new) >= 1024:
            raise GuestError(errno.EBADF, "bad target descriptor")
        return self._dup_into(self.file(old), at=s32(new), cloexec=bool(flags & L.O_CLOEXEC))

    def sys_fcntl(self, fd, cmd, arg, *_):
        import fcntl

        f, cmd = self.file(fd), s32(cmd)
        if f.fd < 0 and cmd in (L.F_GETFL, L.F_SETFL):  # synthetic: read-only, no flags
            return 0
        if cmd in (L.F_DUPFD, L.F_DUPFD_CLOEXEC):
            return self._dup_into(f, start=s32(arg), cloexec=cmd == L.F_DUPFD_CLOEXEC)
        if cmd == L.F_GETFD:
            return L.FD_CLOEXEC if f.cloexec else 0
        if cmd == L.F_SETFD:
            f.cloexec = bool(arg & L.FD_CLOEXEC)
            return 0
        if cmd == L.F_GETFL:
            return fcntl.fcntl(f.fd, fcntl.F_GETFL) & ~L.O_CLOEXEC
        if cmd == L.F_SETFL:
            return fcntl.fcntl(f.fd, fcntl.F_SETFL, s32(arg))
        if cmd in (L.F_GETLK, L.F_SETLK, L.F_SETLKW):
            lock = fcntl.fcntl(f.fd, cmd, self.mem.read(arg, L.FLOCK.size))
            if cmd == L.F_GETLK:
                self.mem.write(arg, lock)
            return 0
        raise GuestError(errno.EINVAL, "fcntl command")

    def sys_flock(self, fd, op, *_):
        import fcntl

        fcntl.flock(self.file(fd).fd, s32(op))
        return 0
