"""poll on host files: the kernel's poll, select and epoll ask here whether the
host fds behind its handles are ready (kernel/poll_host.c), and wait here for them.

The kernel passes an array of pollfds in its own memory whose fds are handles.
Synthetic objects and regular files are always ready (as on Linux); the others are
polled on the host without the service's lock, each file pinned as a blocking read
pins it (blocking.py), so a close meanwhile never lets a reused host fd answer.
"""

import errno
import os
import select
import stat
import struct

from .blocking import ORDINARY
from .policy import GuestError

POLLFD = struct.Struct("<ihh")
MAX_POLLFDS = 64  # the kernel's HOST_WATCH_MAX
ALWAYS = select.POLLIN | select.POLLOUT | select.POLLPRI


class PollOps:
    def sys_poll(self, fds, nfds, timeout, *_):
        if not 0 <= nfds <= MAX_POLLFDS:
            raise GuestError(errno.EINVAL, "too many pollfds")
        raw = self.mem.read(fds, nfds * POLLFD.size)
        entries = list(POLLFD.iter_unpack(raw))
        revents = [0] * nfds
        host: dict[int, list[int]] = {}  # host fd -> indices
        files = []
        for i, (handle, events, _r) in enumerate(entries):
            f = self.fds.files.get(handle)
            if f is None:
                revents[i] = select.POLLNVAL
            elif f.fd < 0 or stat.S_ISREG(_mode(f.fd)):
                revents[i] = events & ALWAYS
            else:
                host.setdefault(f.fd, []).append(i)
                files.append(f)
        ready = sum(r != 0 for r in revents)
        if host:
            # the kernel's int; "negative" (for ever) is not the kernel's to ask
            wait = 0 if ready or timeout >= 1 << 63 else min(timeout, 1 << 30)
            for fd, ev in self._host_poll(files, host, entries, wait):
                for i in host[fd]:
                    revents[i] = ev & (entries[i][1] | select.POLLERR | select.POLLHUP |
                                       select.POLLNVAL)
            ready = sum(r != 0 for r in revents)
        out = b"".join(POLLFD.pack(h, e, r) for (h, e, _), r in zip(entries, revents, strict=True))
        self.mem.write(fds, out)
        return ready

    def _host_poll(self, files, host, entries, timeout_ms):
        """select.poll over the host fds, outside the lock, the files pinned."""
        p = select.poll()
        for fd, idx in host.items():
            ev = 0
            for i in idx:
                ev |= entries[i][1]
            p.register(fd, ev & ALWAYS)
        lock = self.lock
        for f in files:
            f.busy += 1
        lock.waiting += 1
        lock.release()
        try:
            got = p.poll(timeout_ms)
        except ORDINARY:
            got = []
        # Anything else ends the VM (blocking.outside): the lock and files stay.
        lock.acquire()
        lock.waiting -= 1
        for f in files:
            f.busy -= 1
            if f.closed and not f.busy:
                try:
                    f.close()  # the guest closed it meanwhile
                except OSError:
                    pass
        return got


def _mode(fd: int) -> int:
    try:
        return os.fstat(fd).st_mode
    except OSError:
        return 0
