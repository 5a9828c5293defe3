"""One system call of the trace as strace prints it: `openat(AT_FDCWD, "f", O_RDONLY) = 3`.

Decoded: the calls a small program makes (files, memory, threads, clocks); every
other call shows its six arguments in hex.  Strings are the kernel's copies, taken
when the call was made (kernel/trace.c), never guest memory read now.
"""

import errno
import os

from .abi import C
from .sysnames import name as call_name

STRLEN = 32  # strace -s: data strings longer than this end in "..."
AT_FDCWD = -100
_ESC = {9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}


def s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & (1 << 31) else v


def quote(data: bytes, more: bool, limit: int = STRLEN) -> str:
    """A C string literal as strace writes it, "..." after it when there was more."""
    shown = data[:limit]
    more = more or len(data) > limit
    text = "".join(_ESC.get(b) or (chr(b) if 32 <= b < 127 else f"\\{b:o}") for b in shown)
    return f'"{text}"' + ("..." if more else "")


def flags(value: int, table: list[tuple[int, str]], rest_hex: bool = True) -> str:
    names = []
    for bit, label in table:
        if bit and value & bit == bit:
            names.append(label)
            value &= ~bit
    if value or not names:
        names.append(f"{value:#x}" if rest_hex else str(value))
    return "|".join(names)


def pointer(v: int) -> str:
    return "NULL" if v == 0 else f"{v:#x}"


def fd(v: int) -> str:
    n = s32(v)
    return "AT_FDCWD" if n == AT_FDCWD else str(n)


_ACCMODE = {os.O_RDONLY: "O_RDONLY", os.O_WRONLY: "O_WRONLY", os.O_RDWR: "O_RDWR"}
_OFLAGS = [(os.O_CREAT, "O_CREAT"), (os.O_EXCL, "O_EXCL"), (os.O_NOCTTY, "O_NOCTTY"),
           (os.O_TRUNC, "O_TRUNC"), (os.O_APPEND, "O_APPEND"), (os.O_NONBLOCK, "O_NONBLOCK"),
           (os.O_DSYNC, "O_DSYNC"), (0o40000, "O_DIRECT"), (0o200000, "O_DIRECTORY"),
           (os.O_NOFOLLOW, "O_NOFOLLOW"), (os.O_NOATIME, "O_NOATIME"),
           (os.O_CLOEXEC, "O_CLOEXEC"), (0o10000000, "O_PATH"), (0o20000000, "O_TMPFILE"),
           (0o4000000 & ~os.O_DSYNC, "O_SYNC"), (0o100000, "O_LARGEFILE")]


def oflags(v: int) -> str:
    v &= 0xFFFFFFFF
    rest = flags(v & ~3, _OFLAGS) if v & ~3 else ""
    acc = _ACCMODE.get(v & 3, f"{v & 3:#x}")
    return acc + ("|" + rest if rest else "")


PROT = [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")]
MAP = [(0x1, "MAP_SHARED"), (0x2, "MAP_PRIVATE"), (0x10, "MAP_FIXED"),
       (0x20, "MAP_ANONYMOUS"), (0x100, "MAP_GROWSDOWN"), (0x2000, "MAP_LOCKED"),
       (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"), (0x20000, "MAP_STACK"),
       (0x100000, "MAP_FIXED_NOREPLACE")]
AT = [(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
      (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH")]
CLONE = [(0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"),
         (0x800, "CLONE_SIGHAND"), (0x10000, "CLONE_THREAD"), (0x40000, "CLONE_SYSVSEM"),
         (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"),
         (0x200000, "CLONE_CHILD_CLEARTID"), (0x1000000, "CLONE_CHILD_SETTID"),
         (0x400000, "CLONE_DETACHED")]
FUTEX_OPS = ["FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE",
             "FUTEX_WAKE_OP", "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI",
             "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET", "FUTEX_WAIT_REQUEUE_PI",
             "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2"]
FUTEX_ARGS = {0: 4, 1: 3, 6: 4, 7: 2, 8: 2}  # WAIT, WAKE, LOCK_PI, UNLOCK_PI, TRYLOCK_PI
CLOCKS = ["CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_PROCESS_CPUTIME_ID",
          "CLOCK_THREAD_CPUTIME_ID", "CLOCK_MONOTONIC_RAW", "CLOCK_REALTIME_COARSE",
          "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME"]
WHENCE = ["SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE"]
SIGHOW = ["SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK"]
FCNTL = {0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK",
         6: "F_SETLK", 7: "F_SETLKW", 1030: "F_DUPFD_CLOEXEC"}
ARCH_PRCTL = {0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS",
              0x1004: "ARCH_GET_GS"}
IOCTL = {0x5401: "TCGETS", 0x5402: "TCSETS", 0x5413: "TIOCGWINSZ", 0x541B: "FIONREAD",
         0x5421: "FIONBIO"}
SIGNALS = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
           7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
           13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 17: "SIGCHLD", 19: "SIGSTOP"}


def _named(table, v: int) -> str:
    n = s32(v)
    got = table.get(n) if isinstance(table, dict) else (table[n] if 0 <= n < len(table) else None)
    return got or str(n)


def futex_op(v: int) -> str:
    op = v & 0x7F
    label = FUTEX_OPS[op] if op < len(FUTEX_OPS) else f"{op:#x}"
    if v & 0x80:
        label += "_PRIVATE"
    if v & 0x100:
        label = "FUTEX_CLOCK_REALTIME|" + label
    return label


def signal(v: int) -> str:
    n = s32(v)
    return SIGNALS.get(n) or (f"SIGRT_{n - 32}" if 32 <= n <= 64 else str(n))


# Argument kinds: d (int), l (long), u (unsigned), x (hex), p (pointer), f (fd),
# s0/s1 (a string the kernel copied), w (data written: string 0 and the next
# argument's length), r (data read: string 0, the result's length), o (octal mode),
# and named tables.  Calls not here show six hex arguments.
KINDS: dict[str, str] = {
    "read": "f r u", "write": "f w u", "pread64": "f r u l", "pwrite64": "f w u l",
    "open": "s0 O o", "openat": "f s0 O o", "creat": "s0 o", "close": "f",
    "stat": "s0 p", "lstat": "s0 p", "fstat": "f p", "newfstatat": "f s0 p AT",
    "lseek": "f l WH", "mmap": "p u PR MA f l", "mprotect": "p u PR", "munmap": "p u",
    "brk": "p", "mremap": "p u u x p", "madvise": "p u d", "msync": "p u x",
    "rt_sigaction": "SG p p u", "rt_sigprocmask": "HOW p p u", "rt_sigreturn": "",
    "ioctl": "f IO p", "readv": "f p u", "writev": "f v u", "pwritev": "f v u l", "access": "s0 o",
    "faccessat": "f s0 o", "faccessat2": "f s0 o AT", "getpid": "", "gettid": "",
    "getppid": "", "getuid": "", "geteuid": "", "getgid": "", "getegid": "",
    "exit": "d", "exit_group": "d", "set_tid_address": "p", "arch_prctl": "AP p",
    "futex": "p FU d p p d", "clock_gettime": "CL p", "clock_getres": "CL p",
    "clock_nanosleep": "CL d p p", "nanosleep": "p p", "gettimeofday": "p p",
    "getcwd": "r u", "chdir": "s0", "fchdir": "f", "mkdir": "s0 o", "mkdirat": "f s0 o",
    "rmdir": "s0", "unlink": "s0", "unlinkat": "f s0 AT", "rename": "s0 s1",
    "renameat": "f s0 f s1", "renameat2": "f s0 f s1 x", "link": "s0 s1",
    "symlink": "s0 s1", "readlink": "s0 r u", "readlinkat": "f s0 r u",
    "truncate": "s0 l", "ftruncate": "f l", "fsync": "f", "fdatasync": "f",
    "getdents64": "f p u", "fcntl": "f FC x", "dup": "f", "dup2": "f f", "dup3": "f f O",
    "clone": "CLN p p p x", "set_robust_list": "p u", "get_robust_list": "d p p",
    "getrandom": "p u x", "sched_yield": "", "sched_getaffinity": "d u p",
    "sched_setaffinity": "d u p", "uname": "p", "sysinfo": "p", "prlimit64": "d d p p",
    "getrlimit": "d p", "kill": "d SG", "tkill": "d SG", "tgkill": "d d SG",
    "umask": "o", "chmod": "s0 o", "fchmod": "f o", "fchmodat": "f s0 o",
    "statfs": "s0 p", "fstatfs": "f p", "flock": "f x", "getrusage": "d p",
    "utimensat": "f s0 p AT", "times": "p", "time": "p", "execve": "s0 p p",
}
_TABLES = {"PR": lambda v: flags(v, PROT) if v else "PROT_NONE",
           "MA": lambda v: flags(v, MAP), "AT": lambda v: flags(v, AT) if v else "0",
           "O": oflags, "WH": lambda v: _named(WHENCE, v), "HOW": lambda v: _named(SIGHOW, v),
           "FU": futex_op, "CL": lambda v: _named(CLOCKS, v), "FC": lambda v: _named(FCNTL, v),
           "AP": lambda v: _named(ARCH_PRCTL, v), "IO": lambda v: IOCTL.get(v, f"{v:#x}"),
           "SG": signal, "CLN": lambda v: "flags=" + flags(v & ~0xFF, CLONE)}
RET_HEX = {"mmap", "brk", "mremap"}


def arguments(rec: dict, strings: tuple[bytes, bytes]) -> str:
    nm = call_name(rec["nr"])
    kinds = KINDS.get(nm)
    args = [rec[f"a{i}"] for i in range(6)]
    if kinds is None:
        return ", ".join(f"{a:#x}" for a in args)
    out = []
    ret = s64(rec["ret"])
    kinds = kinds.split()
    if nm == "futex":  # as many arguments as the operation reads
        kinds = kinds[:FUTEX_ARGS.get(args[1] & 0x7F, 6)]
    for i, k in enumerate(kinds):
        v = args[i]
        if k in ("s0", "s1"):
            idx = int(k[1])
            bad = not v or rec["trunc"] >> (2 + idx) & 1  # the kernel could not read it
            more = bool(rec["trunc"] >> idx & 1)
            out.append(pointer(v) if bad else quote(strings[idx], more, C.TRACE_STR))
            continue
        if k == "w":
            more = bool(rec["trunc"] & 1)
            out.append(pointer(v) if rec["trunc"] & 4 else quote(strings[0], more))
        elif k == "v":
            out.append(iovecs(rec, strings, args[i + 1], v))
        elif k == "r":
            done = rec["done"] and ret > 0 and not rec["trunc"] & 4
            out.append(quote(strings[0], bool(rec["trunc"] & 1)) if done else pointer(v))
        elif k == "o":
            out.append(f"0{v & 0o7777:03o}")
            if nm in ("open", "openat") and not args[i - 1] & (os.O_CREAT | 0o20000000):
                out.pop()
        else:
            out.append(_scalar(k, v))
    return ", ".join(out)


def iovecs(rec: dict, strings: tuple[bytes, bytes], count: int, at: int) -> str:
    """The first two iovecs of a writev as strace shows them, "..." for the rest."""
    shown = []
    for i in range(min(count, 2)):
        if rec["trunc"] >> (2 + i) & 1:  # the kernel could not read it
            return pointer(at)
        data = quote(strings[i], bool(rec["trunc"] >> i & 1))
        shown.append(f"{{iov_base={data}, iov_len={rec[f'iov{i}_len']}}}")
    return "[" + ", ".join(shown + (["..."] if count > 2 else [])) + "]"


def _scalar(kind: str, v: int) -> str:
    if kind == "d":
        return str(s32(v))
    if kind == "l":
        return str(s64(v))
    if kind == "u":
        return str(v)
    if kind == "x":
        return f"{v:#x}"
    if kind == "p":
        return pointer(v)
    if kind == "f":
        return fd(v)
    return _TABLES[kind](v)


def result(nr: int, ret: int, done: bool) -> str:
    if not done:
        return "?"
    r = s64(ret)
    if -4096 < r < 0:
        code = errno.errorcode.get(-r, str(-r))
        text = f"-1 {code} ({os.strerror(-r)})"
        return text + "  <-- not supported by hermit" if -r == errno.ENOSYS else text
    return f"{ret:#x}" if call_name(nr) in RET_HEX else str(r)


def line(rec: dict, strings: tuple[bytes, bytes]) -> str:
    """`name(args) = result` for one record."""
    nm = call_name(rec["nr"])
    return f"{nm}({arguments(rec, strings)}) = {result(rec['nr'], rec['ret'], rec['done'])}"


def host_lines(rec: dict, tsc_khz: int, ring: str = "VM exit") -> list[str]:
    """The host calls the system call made, one line each, with their time and path."""
    out = []
    kept = min(rec["nhost"], C.TRACE_HOSTS)
    for i in range(kept):
        nr, ret, ticks, rang = (rec[f"h{i}_{f}"] for f in ("nr", "ret", "ticks", "rang"))
        secs = f" <{ticks / (tsc_khz * 1000):.6f}>" if tsc_khz else ""
        how = ring if rang else "poller"
        out.append(f"  host {call_name(nr)} = {result(nr, ret, True)}{secs} ({how})")
    if rec["nhost"] > kept:
        out.append(f"  ... {rec['nhost'] - kept} more host calls")
    return out
