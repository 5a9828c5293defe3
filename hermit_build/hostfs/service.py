"""The file service: Linux file system calls of the guest, carried out on the host.

The kernel forwards each call (HC_SYSCALL: number, six arguments) with its fds
replaced by handles, numbers in this service's table (fdtable.py) that the kernel's
fd table maps guest fds to; dup and the fd flags are the kernel's alone.  Pointers
are guest-physical addresses, checked against guest memory before use,
and data moves between host files and guest memory without intermediate copies
(os.readv/os.writev on views of guest RAM).  Errors return as -errno.  Paths are
resolved in the guest's namespace (policy.py, resolve.py).

vCPUs call in from their own threads: one lock guards the service's state, and a
call that may block on the host waits without it (blocking.py).
"""

import errno
import os

from ..guestmem import GuestFault, GuestMemory
from . import linux as L
from .blocking import ServiceLock, outside
from .fdtable import Device, FdTable, OpenFile
from .linux import s32
from .ops_io import IoOps
from .ops_owner import OwnerOps
from .ops_path import PathOps
from .ops_statfs import StatfsOps
from .ops_tree import TreeOps
from .policy import GuestError, MountTable
from .resolve import Host, Node, Walk
from .synthetic import Synth

MAX_IO = 1 << 31


class FileService(IoOps, PathOps, TreeOps, OwnerOps, StatfsOps):
    def __init__(self, mem: GuestMemory, mounts: MountTable, std=(0, 1, 2)):
        self.mem = mem
        self.mounts = mounts
        self.fds = FdTable(std)
        self.lock = ServiceLock()
        root = mounts.overlay[mounts.cwd]  # the working directory is a mount's root
        self.cwd: Node = Host(root, root.fd, root.guest, os.fstat(root.fd))
        self.cwd_owned = False  # whether cwd.fd is ours to close (not the mount's)
        self.table = {nr: getattr(self, "sys_" + name) for name, nr in L.NR.items()}

    def call(self, nr: int, args: tuple[int, ...]) -> tuple[int, int]:
        """(ret, node) for hc_syscall: the result or -errno, and the kernel device an
        open named."""
        fn = self.table.get(nr)
        if fn is None:
            return -errno.ENOSYS, 0
        try:
            with self.lock:
                ret = fn(*args)
        except GuestFault:
            return -errno.EFAULT, 0
        except OSError as e:  # GuestError included: the errno the guest sees
            return -(e.errno or errno.EIO), 0
        except (ValueError, OverflowError):
            return -errno.EINVAL, 0
        return (0, ret.node) if isinstance(ret, Device) else (ret, 0)

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

    def file(self, handle: int) -> OpenFile:
        return self.fds.get(s32(handle))

    def close_all(self) -> None:
        """At the end of the VM.  While a thread of the guest waits in a host call,
        nothing is closed: closing another file could end that wait (a flock granted
        when the other description goes) and wake the thread into an interpreter that
        is shutting down; the process's exit closes them once its threads are gone.
        The lock is taken with a bound: the timeout's exception may have left it taken."""
        got = self.lock.acquire(timeout=1.0)
        try:
            if self.lock.waiting:
                return
            self.fds.close_all()
            self.set_cwd(None)
            self.mounts.close()
        finally:
            if got:
                self.lock.release()

    def set_cwd(self, node: Node | None) -> None:
        """Make node (a Host with an fd of its own, or a Synth) the working directory."""
        with self.fds.lock:
            old, owned = self.cwd, self.cwd_owned
            self.cwd_owned = isinstance(node, Host)
            if node is not None:
                self.cwd = node
        if owned:
            os.close(old.fd)

    # -- handles -----------------------------------------------------------------

    def sys_close(self, handle, *_):  # the kernel's last fd of this file is gone
        self.fds.close(s32(handle))
        return 0

    def sys_fcntl(self, handle, cmd, arg, *_):  # F_DUPFD, F_GETFD, F_SETFD: the kernel's
        import fcntl

        f, cmd = self.file(handle), s32(cmd)
        if f.fd < 0 and cmd in (L.F_GETFL, L.F_SETFL):  # synthetic: read-only, no flags
            return 0
        if cmd == L.F_GETFL:
            flags = fcntl.fcntl(f.fd, fcntl.F_GETFL) & ~L.O_CLOEXEC
            if f.status is not None:  # shared with the loader: the guest's own flag
                flags = flags & ~os.O_NONBLOCK | f.status.flags
            return flags
        if cmd == L.F_SETFL:
            if f.status is not None:  # never on the loader's own descriptions
                f.status.flags = s32(arg) & os.O_NONBLOCK
                return 0
            return fcntl.fcntl(f.fd, fcntl.F_SETFL, s32(arg))
        if cmd in (L.F_GETLK, L.F_SETLK, L.F_SETLKW):
            req = self.mem.read(arg, L.FLOCK.size)
            lock = outside(self.lock, f, lambda hfd: fcntl.fcntl(hfd, cmd, req))
            if cmd == L.F_GETLK:
                self.mem.write(arg, lock)
            return 0
        raise GuestError(errno.EINVAL, "fcntl command")

    def sys_flock(self, handle, op, *_):
        import fcntl

        return outside(self.lock, self.file(handle), lambda hfd: fcntl.flock(hfd, s32(op)) or 0)
