"""The file service's handles: handle -> a host fd the loader owns.

The guest's fds live in the kernel (kernel/fd.c), which maps each open file
description served here to a handle and forwards calls with the handle in place
of the fd; dup'ed guest fds share one handle, closed when the last of them goes.
Handles 0-2 start as duplicates of the loader's stdin/stdout/stderr (the kernel's
fds 0-2 refer to them); new handles are the lowest free numbers.
"""

import errno
import os
from typing import NamedTuple

from .policy import GuestError

# More than the kernel can hold open: its FD_MAX (1024) descriptions plus calls in flight.
MAX_HANDLES = 2048


class Device(NamedTuple):
    """What an open that names a kernel device returns: hc_syscall.node (ret 0)."""

    node: int


class OpenFile:
    __slots__ = ("fd", "gpath", "readonly", "dir_entries", "dir_pos")

    def __init__(self, fd: int, gpath: str | None, readonly: bool = False):
        self.fd = fd
        self.gpath = gpath  # the guest path it was opened as (for *at calls), if any
        self.readonly = readonly  # on a read-only mount: no fchmod, futimens
        self.dir_entries: list[bytes] | None = None  # getdents64 records, read once
        self.dir_pos = 0


class FdTable:
    def __init__(self, std: tuple[int, int, int] = (0, 1, 2)):
        self.files: dict[int, OpenFile] = {}
        for handle, host_fd in enumerate(std):
            try:
                self.files[handle] = OpenFile(os.dup(host_fd), None)
            except OSError:
                pass  # the loader itself has no such stream: the handle stays closed

    def get(self, handle: int) -> OpenFile:
        f = self.files.get(handle)
        if f is None:
            raise GuestError(errno.EBADF, "bad file descriptor")
        return f

    def install(self, f: OpenFile) -> int:
        handle = 3  # 0-2 are the std streams the kernel's fds 0-2 name, even when closed
        while handle in self.files:
            handle += 1
        if handle >= MAX_HANDLES:
            raise GuestError(errno.EMFILE, "too many open files")
        self.files[handle] = f
        return handle

    def close(self, handle: int) -> None:
        f = self.files.pop(handle, None)
        if f is None:
            raise GuestError(errno.EBADF, "bad file descriptor")
        os.close(f.fd)

    def close_all(self) -> None:
        for handle in list(self.files):
            self.close(handle)
