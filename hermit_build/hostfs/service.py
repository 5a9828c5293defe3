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
import stat

from ..guestmem import GuestFault, GuestMemory
from . import linux as L
from .blocking import ORDINARY, ServiceLock, _back, outside
from .fdtable import Device, FdTable, OpenFile
from .linux import s32
from .ops_io import IoOps
from .ops_owner import OwnerOps
from .ops_path import PathOps
from .ops_poll import PollOps
from .ops_statfs import StatfsOps
from .ops_tree import TreeOps
from .policy import GuestError, MountTable
from .resolve import Host, Node, Walk
from .synthetic import Synth

MAX_IO = 1 << 31
# Served by _hermit_fastio (pyext/) when it is there: nr -> its op (READ, WRITE,
# PREAD, PWRITE).  Only on a plain host fd; everything else takes the Python path.
FAST = {L.NR["read"]: 0, L.NR["write"]: 1, L.NR["pread64"]: 2, L.NR["pwrite64"]: 3}
_UNLOADED = object()


class FileService(IoOps, PathOps, TreeOps, OwnerOps, StatfsOps, PollOps):
    def __init__(self, mem: GuestMemory, mounts: MountTable, std=(0, 1, 2)):
        self.mem = mem
        self.mounts = mounts
        self.fds = FdTable(std)
        self.lock = ServiceLock()
        root = mounts.overlay[mounts.cwd]  # the working directory is a mount's root
        self.cwd: Node = Host(root, root.fd, root.guest, os.fstat(root.fd))
        self.cwd_owned = False  # whether cwd.fd is ours to close (not the mount's)
        self.table = {nr: getattr(self, "sys_" + name) for name, nr in L.NR.items()}
        self.fast_rw = _UNLOADED  # _hermit_fastio.rw, imported at the first plain file's

    def load_fast(self, use: bool = True) -> None:
        """Import the compiled transfers (off the boot path); without them, or with
        use=False (tests, the reference), every call takes the Python path."""
        self.fast_rw = None
        if not use:
            return
        try:
            from _hermit_fastio import rw
        except ImportError as e:
            if os.environ.get("HERMIT_VERBOSE") == "1":
                from ..errors import say

                say(f"hermit: host file transfers in Python ({e}): slower, same results")
            return
        self.fast_rw = rw

    def call(self, nr: int, args: tuple[int, ...]) -> tuple[int, int]:
        """(ret, node) for hc_syscall: the result or -errno, and the kernel device an
        open named."""
        if nr in FAST and self.fast_rw is not None:
            ret = self._fast(FAST[nr], args)
            if ret is not None:
                return ret, 0
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

    def _fast(self, op: int, args: tuple[int, ...]) -> int | None:
        """A read/write/pread64/pwrite64 on a plain host fd through _hermit_fastio,
        with the results of ops_io's (tests compare the two); None for the Python path
        (synthetic files, the descriptors shared with the loader, bad handles: the
        Python path has their answers).  The file is pinned as blocking.outside pins
        it, and the compiled call runs without the GIL and without the lock."""
        handle, addr, count, offset = args[0], args[1], args[2], args[3]
        if count > MAX_IO:
            return None
        lock = self.lock
        lock.acquire()
        f = self.fds.files.get(s32(handle))
        if f is None or f.fd < 0 or f.synth is not None or f.status is not None:
            lock.release()
            return None
        if count == 0 and op < 2:  # read/write of nothing: no buffer check, as ops_io
            lock.release()
            return 0
        if self.fast_rw is _UNLOADED:  # the first such file: a program that opens none
            self.load_fast()  # never imports it (tests/test_startup.py)
            if self.fast_rw is None:
                lock.release()
                return None
        if not f.served and self.fds.server is not None:
            self._offer(s32(handle), f)
        f.busy += 1
        lock.waiting += 1
        lock.release()
        try:
            ret = self.fast_rw(self.mem.regions, op, f.fd, addr, count, offset)
        except ORDINARY:
            _back(lock, f)
            lock.release()
            return -errno.EINVAL  # what call() makes of ValueError
        # anything else ends the VM: leave the lock and the file alone (outside())
        _back(lock, f)
        lock.release()
        return ret

    def _offer(self, handle: int, f: OpenFile) -> None:
        """Let the poller's compiled Server serve this handle's transfers from now on,
        if its host file is regular (a pipe or a terminal may block: Python serves
        those, outside the lock).  Under the service's lock."""
        try:
            regular = stat.S_ISREG(os.fstat(f.fd).st_mode)
        except OSError:
            return
        if regular and self.fds.server.add(handle, f.fd):
            f.served = True

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
