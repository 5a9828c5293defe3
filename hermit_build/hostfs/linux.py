"""Linux x86_64 ABI details the file service writes into guest memory."""

import os
import stat
import struct

from ..abi.spec import FORWARDED

# System call numbers (x86_64) the kernel forwards to the loader: the ABI's list.
NR = {name: nr for name, (nr, _fds) in FORWARDED.items()}

def s32(v: int) -> int:
    """An int argument as the guest passed it (the low 32 bits, signed)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & (1 << 31) else v


AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EMPTY_PATH = 0x1000
PATH_MAX = 4096
IOV_MAX = 1024
O_ACCMODE = 3
O_CREAT, O_TRUNC, O_APPEND, O_DIRECTORY, O_CLOEXEC = 0o100, 0o1000, 0o2000, 0o200000, 0o2000000
FD_CLOEXEC = 1
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_GETLK, F_SETLK, F_SETLKW, F_DUPFD_CLOEXEC = 5, 6, 7, 1030
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
TCGETS, TIOCGWINSZ, FIONREAD = 0x5401, 0x5413, 0x541B
TCSETS_ALL = (0x5402, 0x5403, 0x5404)  # TCSETS, TCSETSW, TCSETSF
KERNEL_TERMIOS = 36  # the kernel's struct termios (musl's is a compatible superset)

STAT = struct.Struct("<QQQIIIiQqqqqqqqqq24x")  # struct stat, 144 bytes
TIMESPEC = struct.Struct("<qq")
IOVEC = struct.Struct("<QQ")
FLOCK = struct.Struct("<hhxxxxqqi4x")  # struct flock, 32 bytes
DIRENT_HEAD = struct.Struct("<QqHB")  # linux_dirent64 without the name

assert STAT.size == 144 and FLOCK.size == 32


def winsize(rows: int, cols: int) -> bytes:
    return struct.pack("<HHHH", rows, cols, 0, 0)


def pack_stat(st: os.stat_result) -> bytes:
    return STAT.pack(
        st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid, 0, st.st_rdev,
        st.st_size, st.st_blksize, st.st_blocks,
        int(st.st_atime), st.st_atime_ns % 10**9, int(st.st_mtime), st.st_mtime_ns % 10**9,
        int(st.st_ctime), st.st_ctime_ns % 10**9,
    )


_DT = {stat.S_IFDIR: 4, stat.S_IFREG: 8, stat.S_IFLNK: 10, stat.S_IFCHR: 2, stat.S_IFBLK: 6,
       stat.S_IFIFO: 1, stat.S_IFSOCK: 12}


def dirent(ino: int, off: int, mode: int, name: bytes) -> bytes:
    """One linux_dirent64 record, padded to 8 bytes."""
    size = (DIRENT_HEAD.size + len(name) + 1 + 7) & ~7
    head = DIRENT_HEAD.pack(ino, off, size, _DT.get(stat.S_IFMT(mode), 0))
    return head + name + b"\0" * (size - DIRENT_HEAD.size - len(name))
