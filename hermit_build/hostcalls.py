"""The host side of the hypercalls: one implementation for uhyve and for QEMU.

A loader calls `HostServices.handle(nr, gpa)` for each hypercall; `gpa` is the
guest-physical address of the argument struct.  It returns None to resume the
guest or the exit status when the guest is done.
"""

import errno
import os
import struct
import sys
import time

from . import stdfds
from .abi import HC, HC_NAMES, C, S, signed
from .errors import AbiMismatch
from .guestmem import GuestFault, GuestMemory
from .hostfs.policy import MountTable
from .hostfs.privtmp import PrivateTmp
from .hostfs.service import FileService
from .mailbox import Mailbox

MAX_IO = 1 << 30  # largest single transfer the host performs for the guest
_SYSCALL_IN = struct.Struct("<7Q")  # hc_syscall: nr, a0-a5
_SYSCALL_OUT = struct.Struct("<2Q")  # hc_syscall: ret, node
_RET = S.hc_syscall.offset["ret"]
_U64 = (1 << 64) - 1
assert S.hc_syscall.fields[:7] == ["nr", "a0", "a1", "a2", "a3", "a4", "a5"]
assert S.hc_syscall.offset["node"] == _RET + 8


class GuestError(Exception):
    """The guest broke the protocol (not a fault the guest can recover from)."""


class HostServices:
    def __init__(self, mem: GuestMemory, argv: list[str], env: list[str],
                 image: str | None = None, mounts: list[str] | None = None,
                 strace: str | None = None, ring: str = "VM exit"):
        self.mem = mem
        self.tracer = None  # HERMIT_STRACE: "-" (stderr) or a file (strace.py)
        if strace:
            from .strace import Tracer

            self.tracer = Tracer(mem, strace, ring)
        self.mailbox = Mailbox(mem)  # how the kernel's calls arrive (both loaders)
        self.tmp: PrivateTmp | None = None
        # a std fd the proxy was started without stays closed in the guest
        self.files = FileService(mem, MountTable.default(mounts or [], image=image,
                                                         private=self._private_dir),
                                 stdfds.host_fds())
        self.image = image
        # fsencode: arguments that are not UTF-8 reach the guest byte for byte
        self.args_blob = b"".join(os.fsencode(a) + b"\0" for a in argv)
        self.env_blob = b"".join(os.fsencode(e) + b"\0" for e in env)
        self.argc, self.envc = len(argv), len(env)
        self.fault: dict | None = None
        # uhyve's NIC (net/nic.py), made at the guest's first HC_NET_OPEN by this
        # factory; None: the loader offers none (QEMU's guest has virtio-net instead)
        self.nic_factory = None
        self.nic = None
        self._table = {
            HC.WRITE: self._write,
            HC.EXIT: self._exit,
            HC.ARGS: self._args,
            HC.FAULT: self._fault,
            HC.TIME: self._time,
            HC.SYSCALL: self._syscall,
            HC.DISCARD: self._discard,
            # uhyve blocks an idle cpu itself (uhyve/vcpu.py); here the kernel polls
            HC.IDLE: lambda gpa: None,
            HC.WAKE: lambda gpa: None,
            HC.NET_OPEN: self._net_open,
            HC.NET_KICK: self._net_kick,
            HC.TRACE: self._trace,
        }

    def _private_dir(self, name: str) -> str:
        if self.tmp is None:
            self.tmp = PrivateTmp()
        return self.tmp.dir(name)

    def confine(self) -> int:
        """Landlock the loader to the mounts this service serves and what the loader
        itself reads (landlock.confine); before the vCPU threads start."""
        from .landlock import confine

        reads: tuple[str, ...] = ()
        if self.nic_factory is not None:
            from .net import library_reads

            reads = tuple(library_reads())
        return confine([(m.host, m.readonly) for m in self.files.mounts.mounts], self.image,
                       reads=reads)

    def __enter__(self) -> "HostServices":
        if self.tracer is not None:
            self.tracer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.nic is not None:
                self.nic.close()
            if self.tracer is not None:
                self.tracer.close()  # the last records, while guest memory is still there
            self.files.close_all()  # the guest's open host files end with it
        finally:
            if self.tmp:
                self.tmp.close()

    def handle(self, nr: int, gpa: int) -> int | None:
        """Called from each vCPU's own thread (uhyve) or a worker per mailbox slot
        (QEMU), several at once: a call that blocks on the host stops no other."""
        fn = self._table.get(nr)
        if self.tracer is not None and nr == HC.SYSCALL:
            self.tracer.drain()  # the calls before this one come before what it prints
        if fn is None:
            raise GuestError(f"unknown hypercall {nr}")
        try:
            return fn(gpa)
        except GuestFault as e:
            raise GuestError(f"hypercall {HC_NAMES[nr]}: argument struct {e}") from None

    def _struct(self, st, gpa: int) -> dict[str, int]:
        return st.unpack(self.mem.view(gpa, st.size))

    def _set(self, st, gpa: int, field: str, value: int) -> None:
        self.mem.write_u64(gpa + st.offset[field], value)

    def _write(self, gpa: int) -> None:
        a = self._struct(S.hc_write, gpa)
        fd, length = a["fd"], a["len"]
        stream = sys.stdout if fd == 1 else sys.stderr if fd == 2 else None
        if stream is None or fd in stdfds.closed:
            ret = -errno.EBADF
        elif length > MAX_IO or not self.mem.valid(a["buf"], length):
            ret = -errno.EFAULT
        else:
            data = self.mem.view(a["buf"], length)
            try:
                stream.flush()  # what the loader printed before goes first
                ret = os.write(fd, data)  # unbuffered: a failed write leaves nothing behind
            except BrokenPipeError:
                ret = -errno.EPIPE
            except (OSError, ValueError) as e:
                ret = -(getattr(e, "errno", None) or errno.EIO)
        self._set(S.hc_write, gpa, "ret", ret)

    def _syscall(self, gpa: int) -> None:
        # the commonest call: one view, read as a tuple and answered in one write
        view = self.mem.view(gpa, S.hc_syscall.size)
        nr, *args = _SYSCALL_IN.unpack_from(view)
        ret, node = self.files.call(nr, tuple(args))
        _SYSCALL_OUT.pack_into(view, _RET, ret & _U64, node & _U64)

    def _net_open(self, gpa: int) -> None:
        if self.nic is None and self.nic_factory is not None:
            self.nic = self.nic_factory()
        if self.nic is None:
            self._set(S.hc_net, gpa, "ret", -errno.ENODEV)
            return
        self.nic.open(gpa)  # a missing libslirp or a port taken since: one line, the end

    def _net_kick(self, gpa: int) -> None:
        if self.nic is not None:
            self.nic.kick()

    def _discard(self, gpa: int) -> None:
        a = self._struct(S.hc_discard, gpa)
        try:
            self.mem.discard(a["addr"], a["len"])
            ret = 0
        except GuestFault:
            ret = -errno.EFAULT
        except ValueError:
            ret = -errno.EINVAL
        except OSError as e:
            ret = -(e.errno or errno.EIO)
        self._set(S.hc_discard, gpa, "ret", ret)

    def _exit(self, gpa: int) -> int:
        code = self._struct(S.hc_exit, gpa)["code"]
        if code >> 32 == C.EXIT_ABI_MISMATCH >> 32:  # the kernel refused our boot_info
            raise AbiMismatch(code & 0xFFFFFFFF, C.ABI_VERSION, self.image)
        return signed(code) & 0xFF

    def _args_struct(self, buf: int, length: int) -> bytes:
        """struct hc_args for a buffer at `buf` of `length` bytes: counts and sizes."""
        return S.hc_args.pack(buf=buf, len=length, argc=self.argc,
                              argv_bytes=len(self.args_blob), envc=self.envc,
                              env_bytes=len(self.env_blob))

    def _args(self, gpa: int) -> None:
        a = self._struct(S.hc_args, gpa)
        blob = self.args_blob + self.env_blob
        if len(blob) <= a["len"]:
            if not self.mem.valid(a["buf"], len(blob)):
                raise GuestError("ARGS buffer outside guest memory")
            self.mem.write(a["buf"], blob)
        self.mem.write(gpa, self._args_struct(a["buf"], a["len"]))

    def place_args(self, top: int, floor: int) -> int | None:
        """Put struct hc_args and the strings in the pages just below `top`, if they
        fit above `floor` (uhyve, before boot: boot_info.args); their GPA,
        page-aligned, or None."""
        blob = self.args_blob + self.env_blob
        at = (top - S.hc_args.size - len(blob)) & ~0xFFF
        if at < floor:
            return None
        self.mem.write(at, self._args_struct(at + S.hc_args.size, len(blob)))
        self.mem.write(at + S.hc_args.size, blob)
        return at

    def _trace(self, gpa: int) -> None:
        """The kernel's trace ring is full: empty it (any other time: nothing)."""
        if self.tracer is not None:
            self.tracer.drain()

    def _time(self, gpa: int) -> None:
        self._set(S.hc_time, gpa, "ns", time.time_ns())

    def _fault(self, gpa: int) -> int:
        from .crash import report  # pyelftools only on this rare path

        self.fault = self._struct(S.hc_fault, gpa)
        return report(self.fault, self.image, self.mem)
