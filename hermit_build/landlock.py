"""Landlock on the loader itself: the second line behind the file service's own checks.

Once a loader has opened what it needs (KVM, guest RAM, QEMU's descriptors), it
asks the host kernel to confine the process's file-system access to

- the mounts it serves: the working directory and each --mount, read-write or
  read-only as given;
- read-only: everything Python may still import (every sys.path entry, the
  standard library, site and user site packages: pyelftools loads lazily for a
  crash report or a timeout), the hermit installation and the image;

so a bug in the file service cannot reach a host file outside them: the host
kernel refuses the open.  Only file-system rights are handled (never network
rights: port forwards keep working); nothing may be executed after it.  Landlock
binds the calling thread and the threads it starts later, so it is applied before
the vCPU threads start.  Descriptors opened before (stdin/stdout/stderr, /dev/kvm)
keep working.

Everything goes through ctypes system calls: no dependency, nothing on the boot
path but ctypes (which the loaders import anyway).
"""

import ctypes
import os
import stat
import sys

from .errors import HermitError

# x86_64 system call numbers
_NR_CREATE_RULESET, _NR_ADD_RULE, _NR_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS = 38
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1

# LANDLOCK_ACCESS_FS_*
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2: rename/link across directories
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # rights a file rule may hold

READ = READ_FILE | READ_DIR
# What the guest may do in a writable mount (no devices, FIFOs or sockets, no execution).
WRITE = (READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SYM
         | REFER | TRUNCATE)

NOTICE = ("hermit: this kernel offers no Landlock (Linux 5.13 or later, with landlock among "
          "its LSMs): only the loader's own checks confine the guest's file access "
          "(HERMIT_LANDLOCK=0 silences this)")


class LandlockError(HermitError):
    """Landlock is there but refused the loader's ruleset: the loader does not run
    unconfined behind the user's back."""


def handled_rights(abi: int) -> int:
    """The file-system rights Landlock ABI `abi` knows (0: no Landlock)."""
    if abi < 1:
        return 0
    rights = MAKE_SYM | (MAKE_SYM - 1)  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _call(*args) -> int:
    ret = _syscall(*(ctypes.c_long(a) if isinstance(a, int) else a for a in args))
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def kernel_abi(environ: dict[str, str] | None = None) -> int:
    """The Landlock ABI version this kernel offers, 0 without Landlock.

    HERMIT_LANDLOCK_ABI=N caps it (0 pretends the kernel has none: for tests)."""
    try:
        abi = _call(_NR_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except OSError:  # ENOSYS, EOPNOTSUPP (not enabled), EPERM (a container's seccomp)
        abi = 0
    cap = (os.environ if environ is None else environ).get("HERMIT_LANDLOCK_ABI", "").strip()
    if cap.isdigit():
        abi = min(abi, int(cap))
    return abi


class Ruleset:
    """A Landlock ruleset for file-system rights, limited to what ABI `abi` knows."""

    def __init__(self, abi: int):
        self.handled = handled_rights(abi)
        attr = ctypes.c_uint64(self.handled)  # struct landlock_ruleset_attr's first field
        self.fd = _call(_NR_CREATE_RULESET, ctypes.byref(attr), 8, 0)

    def allow(self, path: str, access: int) -> bool:
        """Grant `access` beneath `path` (a directory) or on it (a file); False when the
        path does not exist or cannot be opened (nothing to grant then)."""
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                access &= FILE_ONLY
            rule = _PathBeneath(access & self.handled, fd)
            if rule.allowed_access:
                _call(_NR_ADD_RULE, self.fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
        finally:
            os.close(fd)
        return True

    def restrict_self(self) -> None:
        """Bind the calling thread (and the threads it starts later) to the ruleset."""
        try:
            _call(157, _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # prctl: needed without CAP_SYS_ADMIN
            _call(_NR_RESTRICT_SELF, self.fd, 0)
        finally:
            os.close(self.fd)


def python_paths() -> list[str]:
    """Where this Python may still import from: sys.path, the prefixes' standard
    library and site packages (also under `python3 -S`, before site has run), and
    the user's site packages."""
    import site  # under -S importing it runs nothing (lazy.enable_site does that)

    paths = [p for p in sys.path if p]
    prefixes = list(dict.fromkeys([sys.prefix, sys.exec_prefix, sys.base_prefix,
                                   sys.base_exec_prefix]))
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for prefix in prefixes:
        paths.append(os.path.join(prefix, sys.platlibdir, version))
    paths += site.getsitepackages(prefixes)
    if site.ENABLE_USER_SITE is not False:
        paths.append(site.getusersitepackages())
    return list(dict.fromkeys(os.path.realpath(p) for p in paths))


def loader_reads(image: str | None) -> list[str]:
    """Everything the loader reads after the restriction: Python's paths, the
    hermit installation (this package's parent) and the image."""
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    return python_paths() + [here] + ([os.path.realpath(image)] if image else [])


def restrict(mounts: list[tuple[str, bool]], reads: list[str], abi: int,
             writes: tuple[str, ...] = ()) -> None:
    """Confine this thread to `mounts` ((host directory, read-only) each), read-only
    `reads` and `writes` (files or directories the loader itself writes); Landlock
    ABI `abi` (>= 1)."""
    try:
        rs = Ruleset(abi)
        try:
            for path in reads:
                rs.allow(path, READ)
            for host, readonly in mounts:
                rs.allow(host, READ if readonly else WRITE)
            for path in writes:
                rs.allow(path, WRITE)
        except BaseException:
            os.close(rs.fd)
            raise
        rs.restrict_self()
    except OSError as e:
        raise LandlockError(f"Landlock refused the loader's ruleset ({e.strerror}): set "
                            "HERMIT_LANDLOCK=0 to run without it") from None


def confine(mounts: list[tuple[str, bool]], image: str | None,
            environ: dict[str, str] | None = None, writes: tuple[str, ...] = (),
            reads: tuple[str, ...] = ()) -> int:
    """The loader's second line: Landlock to `mounts`, what the loader reads and the
    files it writes itself (`writes`: none yet; captures and profiles will be), what it
    may still load (`reads`: uhyve's libslirp, net/__init__.py), and
    no file-system capabilities (privs.drop_fs_caps).  A kernel without Landlock gets
    one line on stderr (RunConfig.landlock, HERMIT_LANDLOCK=0, turns both off, and
    with them the line).  Call it in the thread that will start the others, before
    it starts them.  Returns the ABI used (0: no Landlock)."""
    from .privs import drop_fs_caps

    try:
        drop_fs_caps()
    except OSError as e:
        raise LandlockError(f"cannot drop root's file permission override ({e.strerror}): "
                            "set HERMIT_LANDLOCK=0 to keep it") from None
    abi = kernel_abi(environ)
    if abi == 0:
        print(NOTICE, file=sys.stderr, flush=True)
        return 0
    _preload_unwinder()
    restrict(mounts, loader_reads(image) + list(reads), abi, writes)
    return abi


def _preload_unwinder() -> None:
    """glibc loads libgcc_s when a thread exits (pthread_exit unwinds): a vCPU thread
    that leaves after the restriction could not open it and would abort the proxy."""
    import ctypes

    try:
        ctypes.CDLL("libgcc_s.so.1")
    except OSError:
        pass  # a libc that needs none
