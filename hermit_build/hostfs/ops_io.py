"""Reading and writing: data moves between host files and views of guest memory.

A synthetic file (fd -1) is read from the loader's memory; everything else the
host answers for it is what Linux says of a read-only file (EBADF for a write).
Transfers, syncs and terminal drains may block: they run outside the service's
lock (blocking.py).
"""

import errno
import os

from . import linux as L
from .blocking import outside, transfer
from .policy import GuestError, erofs
from .resolve import stat_bytes, synth_listing


def _scatter(data: bytes, views: list[memoryview]) -> int:
    done = 0
    for v in views:
        n = min(len(v), len(data) - done)
        if n <= 0:
            break
        v[:n] = data[done:done + n]
        done += n
    return done


class IoOps:
    def _iov(self, addr: int, count: int) -> list[memoryview]:
        if count > L.IOV_MAX:
            raise GuestError(errno.EINVAL, "too many iovecs")
        raw = self.mem.read(addr, count * L.IOVEC.size) if count else b""
        return [self.buf(base, length) for base, length in L.IOVEC.iter_unpack(raw)]

    def _synth_read(self, f, views: list[memoryview], offset: int | None) -> int:
        if f.synth.is_dir:
            raise GuestError(errno.EISDIR, "is a directory")
        start = f.pos if offset is None else offset
        if start < 0:
            raise GuestError(errno.EINVAL, "negative offset")
        n = _scatter(f.synth.data[start:], views)
        if offset is None:
            f.pos += n
        return n

    def _xfer(self, f, views, write, op) -> int:
        return transfer(self.lock, f, views, write, op)

    def sys_read(self, fd, buf, count, *_):
        f = self.file(fd)
        if f.synth is not None:
            return self._synth_read(f, [self.buf(buf, count)], None)
        return self._xfer(f, [self.buf(buf, count)], False, os.readv) if count else 0

    def sys_write(self, fd, buf, count, *_):
        f = self.file(fd)
        return self._xfer(f, [self.buf(buf, count)], True, os.writev) if count else 0

    def sys_pread64(self, fd, buf, count, offset, *_):
        f = self.file(fd)
        if f.synth is not None:
            return self._synth_read(f, [self.buf(buf, count)], offset)
        return self._xfer(f, [self.buf(buf, count)], False,
                          lambda h, v: os.preadv(h, v, offset))

    def sys_pwrite64(self, fd, buf, count, offset, *_):
        return self._xfer(self.file(fd), [self.buf(buf, count)], True,
                          lambda h, v: os.pwritev(h, v, offset))

    def sys_readv(self, fd, iov, count, *_):
        f = self.file(fd)
        if f.synth is not None:
            return self._synth_read(f, self._iov(iov, count), None)
        return self._xfer(f, self._iov(iov, count), False, os.readv)

    def sys_writev(self, fd, iov, count, *_):
        return self._xfer(self.file(fd), self._iov(iov, count), True, os.writev)

    def sys_preadv(self, fd, iov, count, offset, *_):
        f = self.file(fd)
        if f.synth is not None:
            return self._synth_read(f, self._iov(iov, count), offset)
        return self._xfer(f, self._iov(iov, count), False,
                          lambda h, v: os.preadv(h, v, offset))

    def sys_pwritev(self, fd, iov, count, offset, *_):
        return self._xfer(self.file(fd), self._iov(iov, count), True,
                          lambda h, v: os.pwritev(h, v, offset))

    def sys_lseek(self, fd, offset, whence, *_):
        f = self.file(fd)
        if f.dir_entries is not None:  # rewinddir()/seekdir() on a directory
            if whence != os.SEEK_SET:
                raise GuestError(errno.EINVAL, "directories seek from the start only")
            f.dir_pos = offset
            return offset
        offset = offset - (1 << 64) if offset & (1 << 63) else offset
        if f.synth is not None:
            base = {os.SEEK_SET: 0, os.SEEK_CUR: f.pos, os.SEEK_END: len(f.synth.data)}
            if whence not in base or base[whence] + offset < 0:
                raise GuestError(errno.EINVAL, "bad seek")
            f.pos = base[whence] + offset
            return f.pos
        return os.lseek(f.fd, offset, whence)

    def sys_fsync(self, fd, *_):
        return outside(self.lock, self.file(fd), lambda h: os.fsync(h) or 0)

    def sys_fdatasync(self, fd, *_):
        return outside(self.lock, self.file(fd), lambda h: os.fdatasync(h) or 0)

    def sys_ftruncate(self, fd, length, *_):
        f = self.file(fd)
        if f.synth is not None:
            raise GuestError(errno.EINVAL, "not open for writing")
        # an fd of a read-only mount is never open for writing: the host says EINVAL
        os.ftruncate(f.fd, length)
        return 0

    def fstat_bytes(self, f) -> bytes:
        return stat_bytes(self.mounts, f.synth) if f.synth else L.pack_stat(os.fstat(f.fd))

    def sys_fstat(self, fd, st, *_):
        self.mem.write(st, self.fstat_bytes(self.file(fd)))
        return 0

    def sys_fchmod(self, fd, mode, *_):
        f = self.file(fd)
        if f.readonly:
            raise erofs()
        os.fchmod(f.fd, mode & 0o1777)  # never set-uid or set-gid
        return 0

    def sys_ioctl(self, fd, request, arg, *_):
        import fcntl

        f, request = self.file(fd), request & 0xFFFFFFFF
        if not os.isatty(f.fd):
            return -errno.ENOTTY
        if request == L.TIOCGWINSZ:
            size = os.get_terminal_size(f.fd)
            self.mem.write(arg, L.winsize(size.lines, size.columns))
            return 0
        if request == L.TCGETS:
            self.mem.write(arg, fcntl.ioctl(f.fd, request, bytes(L.KERNEL_TERMIOS)))
            return 0
        if request in L.TCSETS_ALL:  # TCSETSW and TCSETSF wait for the output to drain
            termios = self.mem.read(arg, L.KERNEL_TERMIOS)

            def tcsets(h: int) -> int:
                fcntl.ioctl(h, request, termios)
                return 0

            return outside(self.lock, f, tcsets)
        if request == L.FIONREAD:
            self.mem.write(arg, fcntl.ioctl(f.fd, request, bytes(4)))
            return 0
        return -errno.ENOTTY

    def sys_getdents64(self, fd, dirp, count, *_):
        f = self.file(fd)
        if f.dir_entries is None:
            if f.synth is not None and not f.synth.is_dir:
                raise GuestError(errno.ENOTDIR, "not a directory")
            f.dir_entries = (synth_listing(self.mounts, f.synth) if f.synth
                             else self._read_dir(f.fd))
        out = bytearray()
        while f.dir_pos < len(f.dir_entries):
            rec = f.dir_entries[f.dir_pos]
            if len(out) + len(rec) > count:
                break
            out += rec
            f.dir_pos += 1
        if not out and f.dir_pos < len(f.dir_entries):
            raise GuestError(errno.EINVAL, "buffer too small")
        if out:
            self.mem.write(dirp, bytes(out))
        return len(out)

    @staticmethod
    def _read_dir(fd: int) -> list[bytes]:
        import stat

        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise GuestError(errno.ENOTDIR, "not a directory")
        records = []
        names = [".", ".."] + sorted(os.listdir(fd))
        for i, name in enumerate(names, 1):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue  # vanished while listing
            records.append(L.dirent(st.st_ino, i, st.st_mode, os.fsencode(name)))
        return records
