"""chown and its relatives.  The guest may not give host files away, so only a call
that changes nothing succeeds (SQLite, tar and `cp -p` make such calls, with the
owner a file already has); any real change is EPERM, as for an unprivileged user."""

import errno

from . import linux as L
from .linux import s32
from .ops_path import _CWD, _writable
from .policy import GuestError, erofs
from .resolve import stat_bytes

_KEEP = 0xFFFFFFFF  # (uid_t)-1: leave it as it is


def _unchanged(data: bytes, uid: int, gid: int) -> int:
    st_uid, st_gid = L.STAT.unpack(data)[4:6]
    for want, have in ((uid & _KEEP, st_uid), (gid & _KEEP, st_gid)):
        if want not in (_KEEP, have):
            raise GuestError(errno.EPERM, "the guest cannot change the owner of host files")
    return 0


class OwnerOps:
    def sys_chown(self, path, uid, gid, *_):
        return self.sys_fchownat(_CWD, path, uid, gid, 0)

    def sys_lchown(self, path, uid, gid, *_):
        return self.sys_fchownat(_CWD, path, uid, gid, L.AT_SYMLINK_NOFOLLOW)

    def sys_fchown(self, fd, uid, gid, *_):
        f = self.file(fd)
        if f.readonly:
            raise erofs()
        return _unchanged(self.fstat_bytes(f), uid, gid)

    def sys_fchownat(self, dirfd, path, uid, gid, flags, *_):
        text = self.path(path) if path or not flags & L.AT_EMPTY_PATH else ""
        if flags & L.AT_EMPTY_PATH and not text and s32(dirfd) != L.AT_FDCWD:
            return self.sys_fchown(dirfd, uid, gid)
        with self._walk() as w:
            node = self._lookup(w, dirfd, text, not flags & L.AT_SYMLINK_NOFOLLOW)
            _writable(node)
            return _unchanged(stat_bytes(self.mounts, node), uid, gid)
