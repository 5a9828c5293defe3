"""The loader's handles: what a guest open file description served by the host holds.

A handle is a number in this table; the kernel's fd table maps guest fds to handles
(several fds may share one after the kernel's dup) and sends close(handle) when the
last of them closes.  Until the kernel holds that table, handles are the guest's fd
numbers (lowest first, as POSIX wants) and dup/dup2/dup3/F_DUPFD still arrive here;
each duplicate then gets its own handle with its own host fd from os.dup.

Handles 0-2 start as duplicates of the loader's stdin/stdout/stderr.
"""

import errno
import os
import threading

from .policy import GuestError, Mount
from .synthetic import Synth

MAX_FDS = 1024


class OpenFile:
    """One handle: a host fd (-1 for a synthetic object, whose data is served from
    memory), and for what was opened by path: the mount it lies in and its guest path,
    so a directory handle serves as the start of *at calls and fchdir."""

    __slots__ = ("fd", "gpath", "cloexec", "mount", "is_dir", "synth", "pos",
                 "dir_entries", "dir_pos")

    def __init__(self, fd: int, gpath: str | None, cloexec: bool = False,
                 mount: Mount | None = None, is_dir: bool = False,
                 synth: Synth | None = None):
        self.fd = fd
        self.gpath = gpath
        self.cloexec = cloexec
        self.mount = mount
        self.is_dir = is_dir
        self.synth = synth
        self.pos = 0  # the offset in a synthetic file
        self.dir_entries: list[bytes] | None = None  # getdents64 records, read once
        self.dir_pos = 0

    @property
    def readonly(self) -> bool:
        """On a read-only mount, or synthetic: no fchmod, futimens, ftruncate."""
        return self.synth is not None or (self.mount is not None and self.mount.readonly)

    def duplicate(self, cloexec: bool) -> "OpenFile":
        fd = os.dup(self.fd) if self.fd >= 0 else -1
        nf = OpenFile(fd, self.gpath, cloexec, self.mount, self.is_dir, self.synth)
        nf.pos = self.pos
        return nf

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class FdTable:
    def __init__(self, std: tuple[int, int, int] = (0, 1, 2)):
        self.files: dict[int, OpenFile] = {}
        # Held while an fd is taken from the table to be duplicated and while one is
        # closed, so a duplicate is never of a number already reused for another file.
        self.lock = threading.Lock()
        for handle, host_fd in enumerate(std):
            try:
                self.files[handle] = OpenFile(os.dup(host_fd), None)
            except OSError:
                pass  # the loader itself has no such stream: the handle stays closed

    def get(self, fd: int) -> OpenFile:
        f = self.files.get(fd)
        if f is None:
            raise GuestError(errno.EBADF, "bad file descriptor")
        return f

    def lowest_free(self, start: int = 0) -> int:
        fd = max(start, 0)
        while fd in self.files:
            fd += 1
        if fd >= MAX_FDS:
            raise GuestError(errno.EMFILE, "too many open files")
        return fd

    def install(self, f: OpenFile, at: int | None = None, start: int = 0) -> int:
        """The handle for f; on failure f is closed."""
        try:
            fd = self.lowest_free(start) if at is None else at
        except GuestError:
            f.close()
            raise
        if at is not None and at in self.files:
            self.close(at)
        self.files[fd] = f
        return fd

    def close(self, fd: int) -> None:
        with self.lock:
            f = self.files.pop(fd, None)
            if f is None:
                raise GuestError(errno.EBADF, "bad file descriptor")
            f.close()

    def close_all(self) -> None:
        for fd in list(self.files):
            self.close(fd)
