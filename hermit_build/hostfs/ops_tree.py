"""Calls that change the directory tree, and the working directory.

Each acts on (directory fd, last name) of a walk with the *at call, which never
follows the last name.  Mount roots and synthetic directories cannot be removed,
renamed or replaced (EBUSY); two mounts never share a hard link or a rename (EXDEV);
a read-only mount or a synthetic directory refuses every change (EROFS).
"""

import ctypes
import errno
import os
import stat

from . import linux as L
from .linux import s32
from .ops_path import _CWD, _mode
from .policy import GuestError, Mount, erofs
from .resolve import Host, Node, Walk, gjoin, is_dir
from .synthetic import Synth

AT_SYMLINK_FOLLOW = 0x400
RENAME_FLAGS = 0x7  # NOREPLACE, EXCHANGE, WHITEOUT

_libc = ctypes.CDLL(None, use_errno=True)


def _renameat2(olddir: int, old: str, newdir: int, new: str, flags: int) -> None:
    if not flags:
        os.rename(old, new, src_dir_fd=olddir, dst_dir_fd=newdir)
        return
    if _libc.renameat2(olddir, os.fsencode(old), newdir, os.fsencode(new), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class TreeOps:
    def _busy(self, d: Node, name: str) -> None:
        """EBUSY when (d, name) is a mount's root or a synthetic directory."""
        o = self.mounts.overlay.get(gjoin(d.gpath, name))
        if isinstance(o, Mount) or isinstance(o, Synth) and o.is_dir:
            raise GuestError(errno.EBUSY, "a mount point")
        if isinstance(d, Host):
            try:
                st = os.stat(name, dir_fd=d.fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if self.mounts.mount_of_dir(st):
                raise GuestError(errno.EBUSY, "a mount point")

    @staticmethod
    def _mount(d: Node) -> Mount | None:
        return d.mount if isinstance(d, Host) else None

    def _create_in(self, d: Node, name: str) -> Host:
        """The directory to create `name` in: EEXIST before EROFS, as Linux."""
        if name in (".", "..") or gjoin(d.gpath, name) in self.mounts.overlay:
            raise GuestError(errno.EEXIST, "file exists")
        if isinstance(d, Synth):
            raise erofs()
        if d.readonly:
            try:
                os.stat(name, dir_fd=d.fd, follow_symlinks=False)
                raise GuestError(errno.EEXIST, "file exists")
            except FileNotFoundError:
                raise erofs() from None
        return d

    # -- the working directory ---------------------------------------------------------

    def sys_getcwd(self, buf, size, *_):
        data = os.fsencode(self.cwd.gpath) + b"\0"
        if len(data) > size:
            raise GuestError(errno.ERANGE, "buffer too small")
        self.mem.write(buf, data)
        return len(data)

    def _enter(self, node: Node) -> int:
        if not is_dir(node):
            raise GuestError(errno.ENOTDIR, "not a directory")
        if isinstance(node, Host):
            node = Host(node.mount, os.dup(node.fd), node.gpath, node.st)
        self.set_cwd(node)
        return 0

    def sys_chdir(self, path, *_):
        text = self.path(path)
        with Walk(self.mounts) as w:
            return self._enter(w.lookup(self.base(_CWD, text, w), text))

    def sys_fchdir(self, fd, *_):
        if s32(fd) < 0:
            raise GuestError(errno.EBADF, "bad file descriptor")
        with Walk(self.mounts) as w:
            return self._enter(self.base(fd, "", w))

    # -- creating and removing --------------------------------------------------------

    def sys_mkdir(self, path, mode, *_):
        return self.sys_mkdirat(_CWD, path, mode)

    def sys_mkdirat(self, dirfd, path, mode, *_):
        text = self.path(path)
        with Walk(self.mounts) as w:
            stack, name = w.parent(self.base(dirfd, text, w), text)
            d = self._create_in(stack[-1], name)
            os.mkdir(name, _mode(mode), dir_fd=d.fd)
        return 0

    def sys_symlink(self, target, link, *_):
        return self.sys_symlinkat(target, _CWD, link)

    def sys_symlinkat(self, target, dirfd, link, *_):
        text, where = self.path(target), self.path(link)
        if not text:
            raise GuestError(errno.ENOENT, "empty target")
        with Walk(self.mounts) as w:
            stack, name = w.parent(self.base(dirfd, where, w), where)
            d = self._create_in(stack[-1], name)
            os.symlink(text, name, dir_fd=d.fd)
        return 0

    def sys_rmdir(self, path, *_):
        return self.sys_unlinkat(_CWD, path, L.AT_REMOVEDIR)

    def sys_unlink(self, path, *_):
        return self.sys_unlinkat(_CWD, path, 0)

    def sys_unlinkat(self, dirfd, path, flags, *_):
        if s32(flags) & ~L.AT_REMOVEDIR:
            raise GuestError(errno.EINVAL, "unknown unlinkat flags")
        rmdir = bool(flags & L.AT_REMOVEDIR)
        text = self.path(path)
        with Walk(self.mounts) as w:
            stack, name = w.parent(self.base(dirfd, text, w), text)
            d = stack[-1]
            if name == ".":
                raise GuestError(errno.EINVAL if rmdir else errno.EISDIR, "'.'")
            if name == "..":
                raise GuestError(errno.ENOTEMPTY if rmdir else errno.EISDIR, "'..'")
            self._busy(d, name)
            if isinstance(d, Synth):
                if gjoin(d.gpath, name) not in self.mounts.overlay:
                    raise GuestError(errno.ENOENT, "no such file")
                raise erofs()
            if d.readonly:
                raise erofs()
            if text.endswith("/") and not rmdir:  # "name/" says a directory: never unlinked
                st = os.stat(name, dir_fd=d.fd, follow_symlinks=False)
                raise GuestError(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.ENOTDIR,
                                 "a trailing slash")
            (os.rmdir if rmdir else os.unlink)(name, dir_fd=d.fd)
        return 0

    # -- renames and links ------------------------------------------------------------

    def sys_rename(self, old, new, *_):
        return self.sys_renameat2(_CWD, old, _CWD, new, 0)

    def sys_renameat(self, olddir, old, newdir, new, *_):
        return self.sys_renameat2(olddir, old, newdir, new, 0)

    def sys_renameat2(self, olddir, old, newdir, new, flags, *_):
        flags &= 0xFFFFFFFF
        if flags & ~RENAME_FLAGS:
            raise GuestError(errno.EINVAL, "unknown rename flags")
        src_text, dst_text = self.path(old), self.path(new)
        with Walk(self.mounts) as w:
            sstack, sname = w.parent(self.base(olddir, src_text, w), src_text)
            dstack, dname = w.parent(self.base(newdir, dst_text, w), dst_text)
            s, d = sstack[-1], dstack[-1]
            if {sname, dname} & {".", ".."}:
                raise GuestError(errno.EBUSY, "'.' or '..'")
            if self._mount(s) is not self._mount(d):
                raise GuestError(errno.EXDEV, "across mounts")
            self._busy(s, sname)
            self._busy(d, dname)
            if isinstance(s, Synth) or s.readonly:
                raise erofs()
            _renameat2(s.fd, sname, d.fd, dname, flags)
        return 0

    def sys_link(self, old, new, *_):
        return self.sys_linkat(_CWD, old, _CWD, new, 0)

    def sys_linkat(self, olddir, old, newdir, new, flags, *_):
        if s32(flags) & ~AT_SYMLINK_FOLLOW:
            raise GuestError(errno.EINVAL, "unsupported linkat flags")
        src_text, dst_text = self.path(old), self.path(new)
        with Walk(self.mounts) as w:
            if flags & AT_SYMLINK_FOLLOW:
                node = w.lookup(self.base(olddir, src_text, w), src_text)
                if isinstance(node, Synth) or node.is_dir or node.parent is None:
                    raise GuestError(errno.EPERM, "not a file")
                s, sname = node.parent, node.name
            else:
                sstack, sname = w.parent(self.base(olddir, src_text, w), src_text)
                s = sstack[-1]
                if sname in (".", "..") or gjoin(s.gpath, sname) in self.mounts.overlay:
                    raise GuestError(errno.EPERM, "a directory")
            dstack, dname = w.parent(self.base(newdir, dst_text, w), dst_text)
            d = dstack[-1]
            if self._mount(s) is not self._mount(d):
                raise GuestError(errno.EXDEV, "across mounts")
            d = self._create_in(d, dname)
            st = os.stat(sname, dir_fd=s.fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise GuestError(errno.EPERM, "a directory")
            os.link(sname, dname, src_dir_fd=s.fd, dst_dir_fd=d.fd, follow_symlinks=False)
        return 0
