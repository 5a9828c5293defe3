"""Hostile hypercall arguments against the host side both loaders share
(hermit_build/hostcalls.py, guestmem.py, kernlog.py, crash.py), without a VM:
guest memory is a bytearray.  Each bad pointer, length or number is an errno
for the guest or a GuestError (the loaders end the VM with one line on it)."""

import errno

import pytest

from hermit_build import kernlog
from hermit_build.abi import HC, C, S, signed
from hermit_build.guestmem import GuestMemory
from hermit_build.hostcalls import GuestError, HostServices

RAM = 1 << 20
ARG = 0x1000  # where the argument structs go
BAD_GPAS = [RAM - 4, RAM, 1 << 40, (1 << 64) - 8, (1 << 64) - 1]


@pytest.fixture
def hs():
    ram = bytearray(RAM)
    with HostServices(GuestMemory([(0, RAM, ram, 0)]), ["prog"], ["A=1"]) as services:
        yield services


def put(hs, st, gpa=ARG, **values):
    fields = {f: 0 for f in st.offset}
    fields.update({k: v & (2**64 - 1) for k, v in values.items()})
    hs.mem.write(gpa, st.pack(**fields))


def ret(hs, st, gpa=ARG):
    return signed(hs.mem.read_u64(gpa + st.offset["ret"]))


@pytest.mark.parametrize("nr", [0, 255, 1 << 20, -1])
def test_unknown_number(hs, nr):
    with pytest.raises(GuestError, match="unknown hypercall"):
        hs.handle(nr, ARG)


@pytest.mark.parametrize("nr", [HC.WRITE, HC.ARGS, HC.FAULT, HC.EXIT, HC.SYSCALL, HC.DISCARD,
                                HC.TIME, HC.NET_OPEN])
@pytest.mark.parametrize("gpa", BAD_GPAS)
def test_struct_outside_or_straddling_ram(hs, nr, gpa):
    with pytest.raises(GuestError, match="outside guest memory"):
        hs.handle(nr, gpa)


@pytest.mark.parametrize("fd,buf,length,want", [
    (1, ARG, 2**64 - 1, -errno.EFAULT),
    (1, ARG, 2**63, -errno.EFAULT),
    (1, RAM - 4, 8, -errno.EFAULT),
    (1, 2**64 - 8, 8, -errno.EFAULT),
    (3, ARG, 1, -errno.EBADF),
    (2**64 - 1, ARG, 1, -errno.EBADF),
    (0, ARG, 1, -errno.EBADF),
])  # fmt: skip
def test_write_bad_arguments(hs, fd, buf, length, want):
    put(hs, S.hc_write, fd=fd, buf=buf, len=length)
    assert hs.handle(HC.WRITE, ARG) is None
    assert ret(hs, S.hc_write) == want


@pytest.mark.parametrize("buf,length", [(RAM - 4, 4096), (2**64 - 8, 4096), (RAM, 2**64 - 1)])
def test_args_buffer_lying(hs, buf, length):
    put(hs, S.hc_args, buf=buf, len=length)
    with pytest.raises(GuestError):
        hs.handle(HC.ARGS, ARG)


def test_args_too_small_only_sizes(hs):
    put(hs, S.hc_args, buf=0x8000, len=1)
    hs.handle(HC.ARGS, ARG)
    a = S.hc_args.unpack(hs.mem.view(ARG, S.hc_args.size))
    assert (a["argc"], a["envc"], a["argv_bytes"]) == (1, 1, 5)
    assert hs.mem.read(0x8000, 4) == bytes(4)  # nothing written to a buffer too small


@pytest.mark.parametrize("code,status", [(0, 0), (256, 0), (2**64 - 1, 255), (2**31, 0),
                                         (0x1_0000_0001, 1)])
def test_exit_odd_codes(hs, code, status):
    put(hs, S.hc_exit, code=code)
    assert hs.handle(HC.EXIT, ARG) == status


@pytest.mark.parametrize("addr,length,want", [
    (0x1001, 4096, -errno.EINVAL),
    (0x2000, 0, -errno.EINVAL),
    (0x2000, 100, -errno.EINVAL),
    (RAM - 4096, 8192, -errno.EFAULT),
    (2**64 - 4096, 4096, -errno.EFAULT),
    (0x2000, 2**64 - 4096, -errno.EFAULT),
])  # fmt: skip
def test_discard_bad_ranges(hs, addr, length, want):
    put(hs, S.hc_discard, addr=addr, len=length)
    assert hs.handle(HC.DISCARD, ARG) is None
    assert ret(hs, S.hc_discard) == want


@pytest.mark.parametrize("nr", [2**64 - 1, 10_000, 59, 57])  # garbage, execve, fork
def test_syscall_not_forwarded(hs, nr):
    put(hs, S.hc_syscall, nr=nr, a0=2**64 - 1, a1=2**64 - 8)
    assert hs.handle(HC.SYSCALL, ARG) is None
    assert ret(hs, S.hc_syscall) < 0


@pytest.mark.parametrize("nr", [0, 1, 2, 4, 257, 262])  # read, write, open, stat, openat, fstatat
def test_syscall_wild_pointers(hs, nr):
    put(hs, S.hc_syscall, nr=nr, a0=2**64 - 100 if nr == 257 else 1, a1=2**64 - 8,
        a2=2**63, a3=RAM - 1)
    assert hs.handle(HC.SYSCALL, ARG) is None
    assert ret(hs, S.hc_syscall) < 0


def test_fault_garbage_registers(hs, capfd):
    regs = {f: 2**64 - 1 - i for i, f in enumerate(S.hc_fault.offset)}
    regs.update(vector=2**64 - 1, nframes=2**64 - 1)
    put(hs, S.hc_fault, **regs)
    status = hs.handle(HC.FAULT, ARG)
    err = capfd.readouterr().err
    assert 128 < status < 256
    assert err.startswith("hermit: guest crashed in the application:")  # in_app: garbage, not 0
    assert err.count("guest crashed") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("log_addr,head", [(2**64 - 1, 5), (RAM - 16, 2**64 - 1),
                                           (0x2000, 2**64 - 1), (1 << 40, 0)])
def test_kernel_log_garbage(hs, log_addr, head):
    put(hs, S.boot_info, gpa=C.BOOT_INFO_ADDR, magic=C.BOOT_INFO_MAGIC, log_addr=log_addr,
        log_head=head)
    assert isinstance(kernlog.kernel_log(hs.mem), str)


def test_arguments_placed_before_boot(hs):
    """uhyve's boot_info.args: struct hc_args, then the strings, page-aligned under
    the top it is given; the same answer HC_ARGS would give."""
    top = RAM - 3 * 4096 + 100
    assert hs.place_args(top, top - 8) is None  # no room above the floor
    at = hs.place_args(top, 0)
    a = S.hc_args.unpack(hs.mem.view(at, S.hc_args.size))
    assert at % 4096 == 0 and at + S.hc_args.size + a["len"] <= top
    assert a["buf"] == at + S.hc_args.size
    assert (a["argc"], a["envc"]) == (1, 1)
    assert hs.mem.read(a["buf"], a["len"]) == b"prog\0A=1\0"
    assert (a["argv_bytes"], a["env_bytes"]) == (5, 4)
