"""Calls that name files: every path goes through the mount policy first."""

import errno
import os
import stat
import time

from ..abi.spec import DEVICES
from . import linux as L
from .fdtable import Device, OpenFile
from .policy import GuestError

_WRITE_MODES = os.O_WRONLY | os.O_RDWR


class PathOps:
    def _resolve(self, dirfd, path_addr, *, follow=True, write=False):
        return self.mounts.resolve(self.path(path_addr), base=self.base(dirfd),
                                   follow=follow, write=write)

    # -- open ----------------------------------------------------------------------

    def sys_open(self, path, flags, mode, *_):
        return self.sys_openat(L.AT_FDCWD & 0xFFFFFFFF, path, flags, mode)

    def sys_openat(self, dirfd, path, flags, mode, *_):
        flags &= 0xFFFFFFFF
        write = bool(flags & _WRITE_MODES or flags & (L.O_CREAT | L.O_TRUNC))
        follow = not flags & (os.O_NOFOLLOW | os.O_EXCL)
        if dirfd & 0xFFFFFFFF == L.AT_FDCWD & 0xFFFFFFFF and (node := self._device_node(path)):
            return node
        host, gpath, m = self._resolve(dirfd, path, follow=follow, write=write)
        fd = os.open(host, flags | os.O_CLOEXEC, mode & 0o7777)
        f = OpenFile(fd, gpath, m.readonly)
        try:
            return self.fds.install(f)
        except GuestError:
            os.close(fd)
            raise

    def _device_node(self, path_addr):
        """Temporary until the resolver lands: an exact DEVICES path is the kernel's."""
        dev = DEVICES.get(self.path(path_addr))
        return Device(dev[0]) if dev else None

    # -- metadata -----------------------------------------------------------------

    def sys_stat(self, path, st, *_):
        return self.sys_newfstatat(L.AT_FDCWD & 0xFFFFFFFF, path, st, 0)

    def sys_lstat(self, path, st, *_):
        return self.sys_newfstatat(L.AT_FDCWD & 0xFFFFFFFF, path, st, L.AT_SYMLINK_NOFOLLOW)

    def sys_newfstatat(self, dirfd, path, st, flags, *_):
        if flags & L.AT_EMPTY_PATH and path and self.mem.read(path, 1) == b"\0":
            if (dirfd & 0xFFFFFFFF) == (L.AT_FDCWD & 0xFFFFFFFF):
                host = self.mounts.resolve(".")[0]
                result = os.stat(host)
            else:
                result = os.fstat(self.file(dirfd).fd)
        else:
            nofollow = bool(flags & L.AT_SYMLINK_NOFOLLOW)
            host = self._resolve(dirfd, path, follow=not nofollow)[0]
            result = os.stat(host, follow_symlinks=not nofollow)
        self.mem.write(st, L.pack_stat(result))
        return 0

    def sys_access(self, path, mode, *_):
        return self.sys_faccessat2(L.AT_FDCWD & 0xFFFFFFFF, path, mode, 0)

    def sys_faccessat(self, dirfd, path, mode, *_):
        return self.sys_faccessat2(dirfd, path, mode, 0)

    def sys_faccessat2(self, dirfd, path, mode, flags, *_):
        nofollow = bool(flags & L.AT_SYMLINK_NOFOLLOW)
        host = self._resolve(dirfd, path, follow=not nofollow, write=bool(mode & os.W_OK))[0]
        if not os.path.lexists(host):
            raise GuestError(errno.ENOENT, "no such file")
        if not os.access(host, mode & 7, follow_symlinks=not nofollow):
            raise GuestError(errno.EACCES, "access denied")
        return 0

    def sys_readlink(self, path, buf, size, *_):
        return self.sys_readlinkat(L.AT_FDCWD & 0xFFFFFFFF, path, buf, size)

    def sys_readlinkat(self, dirfd, path, buf, size, *_):
        if s := size & 0xFFFFFFFF:
            target = os.fsencode(os.readlink(self._resolve(dirfd, path, follow=False)[0]))
            data = target[:s]
            self.mem.write(buf, data)
            return len(data)
        raise GuestError(errno.EINVAL, "zero-sized buffer")

    def sys_chmod(self, path, mode, *_):
        return self.sys_fchmodat(L.AT_FDCWD & 0xFFFFFFFF, path, mode, 0)

    def sys_fchmodat(self, dirfd, path, mode, *_):
        os.chmod(self._resolve(dirfd, path, write=True)[0], mode & 0o7777)
        return 0

    def sys_truncate(self, path, length, *_):
        os.truncate(self._resolve(L.AT_FDCWD & 0xFFFFFFFF, path, write=True)[0], length)
        return 0

    def sys_utimensat(self, dirfd, path, times, flags, *_):
        nofollow = bool(flags & L.AT_SYMLINK_NOFOLLOW)
        if path:
            target = self._resolve(dirfd, path, follow=not nofollow, write=True)[0]
        else:  # futimens()
            f = self.file(dirfd)
            if f.readonly:
                raise GuestError(errno.EROFS, "read-only mount")
            target = f.fd
        if not times:
            os.utime(target, follow_symlinks=not nofollow)
            return 0
        (asec, ansec), (msec, mnsec) = L.TIMESPEC.iter_unpack(self.mem.read(times, 32))
        now = None
        current = os.stat(target, follow_symlinks=not nofollow)

        def pick(sec: int, nsec: int, old: int) -> int:
            nonlocal now
            if nsec == L.UTIME_OMIT:
                return old
            if nsec == L.UTIME_NOW:
                now = now or time.time_ns()
                return now
            return sec * 10**9 + nsec

        ns = (pick(asec, ansec, current.st_atime_ns), pick(msec, mnsec, current.st_mtime_ns))
        os.utime(target, ns=ns, follow_symlinks=not nofollow)
        return 0

    # -- the directory tree -------------------------------------------------------

    def sys_getcwd(self, buf, size, *_):
        data = os.fsencode(self.mounts.cwd) + b"\0"
        if len(data) > size:
            raise GuestError(errno.ERANGE, "buffer too small")
        self.mem.write(buf, data)
        return len(data)

    def _enter(self, gpath: str, host: str) -> int:
        if not stat.S_ISDIR(os.stat(host).st_mode):
            raise GuestError(errno.ENOTDIR, "not a directory")
        self.mounts.cwd = gpath
        return 0

    def sys_chdir(self, path, *_):
        host, gpath, _m = self._resolve(L.AT_FDCWD & 0xFFFFFFFF, path)
        return self._enter(gpath, host)

    def sys_fchdir(self, fd, *_):
        f = self.file(fd)
        if f.gpath is None:
            raise GuestError(errno.ENOTDIR, "not a directory")
        return self._enter(f.gpath, self.mounts.resolve(f.gpath)[0])

    def sys_mkdir(self, path, mode, *_):
        return self.sys_mkdirat(L.AT_FDCWD & 0xFFFFFFFF, path, mode)

    def sys_mkdirat(self, dirfd, path, mode, *_):
        os.mkdir(self._resolve(dirfd, path, follow=False, write=True)[0], mode & 0o7777)
        return 0

    def sys_rmdir(self, path, *_):
        return self.sys_unlinkat(L.AT_FDCWD & 0xFFFFFFFF, path, L.AT_REMOVEDIR)

    def sys_unlink(self, path, *_):
        return self.sys_unlinkat(L.AT_FDCWD & 0xFFFFFFFF, path, 0)

    def sys_unlinkat(self, dirfd, path, flags, *_):
        host = self._resolve(dirfd, path, follow=False, write=True)[0]
        (os.rmdir if flags & L.AT_REMOVEDIR else os.unlink)(host)
        return 0

    def sys_rename(self, old, new, *_):
        cwd = L.AT_FDCWD & 0xFFFFFFFF
        return self.sys_renameat2(cwd, old, cwd, new, 0)

    def sys_renameat(self, olddir, old, newdir, new, *_):
        return self.sys_renameat2(olddir, old, newdir, new, 0)

    def sys_renameat2(self, olddir, old, newdir, new, flags, *_):
        src = self._resolve(olddir, old, follow=False, write=True)[0]
        dst = self._resolve(newdir, new, follow=False, write=True)[0]
        if flags & ~1:
            raise GuestError(errno.EINVAL, "only RENAME_NOREPLACE is supported")
        if flags & 1 and os.path.lexists(dst):
            raise GuestError(errno.EEXIST, "target exists")
        os.rename(src, dst)
        return 0

    def sys_link(self, old, new, *_):
        cwd = L.AT_FDCWD & 0xFFFFFFFF
        return self.sys_linkat(cwd, old, cwd, new, 0)

    def sys_linkat(self, olddir, old, newdir, new, flags, *_):
        src = self._resolve(olddir, old, follow=bool(flags & 0x400), write=True)[0]
        dst = self._resolve(newdir, new, follow=False, write=True)[0]
        os.link(src, dst, follow_symlinks=False)
        return 0

    def sys_symlink(self, target, link, *_):
        return self.sys_symlinkat(target, L.AT_FDCWD & 0xFFFFFFFF, link)

    def sys_symlinkat(self, target, dirfd, link, *_):
        text = self.path(target)
        os.symlink(text, self._resolve(dirfd, link, follow=False, write=True)[0])
        return 0
