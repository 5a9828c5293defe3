"""Reading and writing: data moves between host files and views of guest memory."""

import errno
import os

from . import linux as L
from .policy import GuestError


class IoOps:
    def _iov(self, addr: int, count: int) -> list[memoryview]:
        if count > L.IOV_MAX:
            raise GuestError(errno.EINVAL, "too many iovecs")
        raw = self.mem.read(addr, count * L.IOVEC.size) if count else b""
        return [self.buf(base, length) for base, length in L.IOVEC.iter_unpack(raw)]

    def sys_read(self, fd, buf, count, *_):
        f = self.file(fd)
        return os.readv(f.fd, [self.buf(buf, count)]) if count else 0

    def sys_write(self, fd, buf, count, *_):
        f = self.file(fd)
        return os.write(f.fd, self.buf(buf, count)) if count else 0

    def sys_pread64(self, fd, buf, count, offset, *_):
        return os.preadv(self.file(fd).fd, [self.buf(buf, count)], offset)

    def sys_pwrite64(self, fd, buf, count, offset, *_):
        return os.pwritev(self.file(fd).fd, [self.buf(buf, count)], offset)

    def sys_readv(self, fd, iov, count, *_):
        return os.readv(self.file(fd).fd, self._iov(iov, count))

    def sys_writev(self, fd, iov, count, *_):
        return os.writev(self.file(fd).fd, self._iov(iov, count))

    def sys_preadv(self, fd, iov, count, offset, *_):
        return os.preadv(self.file(fd).fd, self._iov(iov, count), offset)

    def sys_pwritev(self, fd, iov, count, offset, *_):
        return os.pwritev(self.file(fd).fd, self._iov(iov, count), offset)

    def sys_lseek(self, fd, offset, whence, *_):
        f = self.file(fd)
        if f.dir_entries is not None:  # rewinddir()/seekdir() on a directory
            if whence != os.SEEK_SET:
                raise GuestError(errno.EINVAL, "directories seek from the start only")
            f.dir_pos = offset
            return offset
        offset = offset - (1 << 64) if offset & (1 << 63) else offset
        return os.lseek(f.fd, offset, whence)

    def sys_fsync(self, fd, *_):
        os.fsync(self.file(fd).fd)
        return 0

    def sys_fdatasync(self, fd, *_):
        os.fdatasync(self.file(fd).fd)
        return 0

    def sys_ftruncate(self, fd, length, *_):
        f = self.file(fd)
        if f.readonly:
            raise GuestError(errno.EROFS, "read-only mount")
        os.ftruncate(f.fd, length)
        return 0

    def sys_fstat(self, fd, st, *_):
        self.mem.write(st, L.pack_stat(os.fstat(self.file(fd).fd)))
        return 0

    def sys_fchmod(self, fd, mode, *_):
        f = self.file(fd)
        if f.readonly:
            raise GuestError(errno.EROFS, "read-only mount")
        os.fchmod(f.fd, mode & 0o7777)
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
        if request in L.TCSETS_ALL:
            fcntl.ioctl(f.fd, request, self.mem.read(arg, L.KERNEL_TERMIOS))
            return 0
        if request == L.FIONREAD:
            self.mem.write(arg, fcntl.ioctl(f.fd, request, bytes(4)))
            return 0
        return -errno.ENOTTY

    def sys_getdents64(self, fd, dirp, count, *_):
        f = self.file(fd)
        if f.dir_entries is None:
            f.dir_entries = self._read_dir(f.fd)
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
