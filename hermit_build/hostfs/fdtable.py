"""The file service's handles: what a guest open file description served by the host
holds.

The guest's fds live in the kernel (kernel/fd.c), which maps each open file
description served here to a handle and forwards calls with the handle in place of
the fd; dup'ed guest fds share one handle, closed when the last of them goes.
Handles 0-2 start as duplicates of the loader's stdin/stdout/stderr (the kernel's
fds 0-2 refer to them); new handles are the lowest free numbers.

Calls that may block run outside the service's lock (blocking.py): such a call
pins its file (`busy`), and a close meanwhile only takes the handle away; the
host fd is closed when the last call using it returns, so a blocked call never
acts on a host fd number reused by a later open.
"""

import errno
import os
import stat
import threading

from .policy import GuestError, Mount
from .synthetic import Synth

# More than the kernel can hold open: its FD_MAX (1024) descriptions plus calls in flight.
MAX_HANDLES = 2048


class Device:
    """What an open that names a kernel device returns: hc_syscall.node (ret 0)."""

    __slots__ = ("node",)  # a plain class: typing.NamedTuple costs ~4 ms at start-up

    def __init__(self, node: int):
        self.node = node


class SharedStatus:
    """The guest's file status flags of a handle whose open file description the
    loader shares (0-2: the proxy's stdin, stdout, stderr, which the shell and other
    programs share too).  F_SETFL never reaches the host fd: the guest's O_NONBLOCK
    is kept here and emulated (blocking.py)."""

    __slots__ = ("flags", "regular")

    def __init__(self, regular: bool):
        self.flags = 0  # O_NONBLOCK or 0
        self.regular = regular  # a regular file: never blocks, writes need no cap


class OpenFile:
    """One handle: a host fd (-1 for a synthetic object, whose data is served from
    memory), and for what was opened by path: the mount it lies in and its guest path,
    so a directory handle serves as the start of *at calls and fchdir."""

    __slots__ = ("fd", "gpath", "mount", "is_dir", "synth", "pos", "dir_entries", "dir_pos",
                 "status", "busy", "closed", "served")

    def __init__(self, fd: int, gpath: str | None, mount: Mount | None = None,
                 is_dir: bool = False, synth: Synth | None = None,
                 status: SharedStatus | None = None):
        self.fd = fd
        self.gpath = gpath
        self.mount = mount
        self.is_dir = is_dir
        self.synth = synth
        self.pos = 0  # the offset in a synthetic file
        self.dir_entries: list[bytes] | None = None  # getdents64 records, read once
        self.dir_pos = 0
        self.status = status  # emulated status flags (shared with the loader), or None
        self.busy = 0  # calls using `fd` outside the service's lock
        self.closed = False  # closed while busy: the last call closes fd
        self.served = False  # in the compiled Server's table (service.py: _fast)

    @property
    def readonly(self) -> bool:
        """On a read-only mount, or synthetic: no fchmod, futimens, ftruncate."""
        return self.synth is not None or (self.mount is not None and self.mount.readonly)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def release(self) -> None:
        """The handle is gone: close the host fd, or leave that to the last call
        still using it."""
        self.closed = True
        if not self.busy:
            self.close()


class FdTable:
    def __init__(self, std: tuple[int, int, int] = (0, 1, 2)):
        self.files: dict[int, OpenFile] = {}
        # Held while an fd is taken from the table to be duplicated and while one is
        # closed, so a duplicate is never of a number already reused for another file.
        self.lock = threading.Lock()
        self.server = None  # the poller's _hermit_fastio.Server: told of each close
        for handle, host_fd in enumerate(std):
            try:
                fd = os.dup(host_fd)
            except OSError:
                continue  # the loader itself has no such stream: the handle stays closed
            shared = SharedStatus(stat.S_ISREG(os.fstat(fd).st_mode))
            self.files[handle] = OpenFile(fd, None, status=shared)

    def get(self, handle: int) -> OpenFile:
        f = self.files.get(handle)
        if f is None:
            raise GuestError(errno.EBADF, "bad file descriptor")
        return f

    def install(self, f: OpenFile) -> int:
        """The lowest free handle for f from 3 (0-2 are the std streams the kernel's
        fds 0-2 name, even when closed); on failure f is closed."""
        handle = 3
        while handle in self.files:
            handle += 1
        if handle >= MAX_HANDLES:
            f.close()
            raise GuestError(errno.EMFILE, "too many open files")
        self.files[handle] = f
        return handle

    def close(self, handle: int) -> None:
        with self.lock:
            f = self.files.pop(handle, None)
            if f is None:
                raise GuestError(errno.EBADF, "bad file descriptor")
            if f.served:
                self.server.drop(handle)  # its dup closes when no transfer uses it
            f.release()

    def close_all(self) -> None:
        for handle in list(self.files):
            self.close(handle)
