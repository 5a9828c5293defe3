"""statfs and fstatfs: a mount answers with the host file system's figures (its
read-only mode and the sandbox's nosuid and nodev added to the flags), the synthetic
objects with the fixed figures of a small read-only file system that the kernel
gives for its devices too (spec.py's SYNTH_FS_*)."""

import ctypes
import errno
import struct

from ..abi.spec import CONSTANTS
from . import linux as L
from .policy import GuestError
from .synthetic import Synth

# struct statfs (x86_64): f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree,
# f_fsid, f_namelen, f_frsize, f_flags, f_spare[4]
STATFS = struct.Struct("<qqQQQQQiiqqq32x")
assert STATFS.size == 120
FLAGS_OFFSET = 80
ST_RDONLY, ST_NOSUID, ST_NODEV = 1, 2, 4

SYNTH = STATFS.pack(CONSTANTS["SYNTH_FS_MAGIC"], 4096, 0, 0, 0, 0, 0, 0, 0, 255, 4096,
                    CONSTANTS["SYNTH_FS_FLAGS"])

_libc = None


def host_statfs(fd: int, readonly: bool) -> bytes:
    global _libc
    if _libc is None:  # ctypes only for a program that asks (os.statvfs has no f_type)
        _libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(STATFS.size)
    if _libc.fstatfs(fd, buf) != 0:
        e = ctypes.get_errno()
        raise GuestError(e or errno.EIO, "fstatfs")
    data = bytearray(buf.raw)
    flags = struct.unpack_from("<q", data, FLAGS_OFFSET)[0] | ST_NOSUID | ST_NODEV
    struct.pack_into("<q", data, FLAGS_OFFSET, flags | (ST_RDONLY if readonly else 0))
    return bytes(data)


class StatfsOps:
    def sys_statfs(self, path, buf, *_):
        text = self.path(path)
        with self._walk() as w:
            node = self._lookup(w, L.AT_FDCWD & 0xFFFFFFFF, text)
            data = SYNTH if isinstance(node, Synth) else host_statfs(node.fd, node.readonly)
        self.mem.write(buf, data)
        return 0

    def sys_fstatfs(self, fd, buf, *_):
        f = self.file(fd)
        if f.synth is not None:
            data = SYNTH
        else:
            data = host_statfs(f.fd, f.mount is not None and f.readonly)
        self.mem.write(buf, data)
        return 0

