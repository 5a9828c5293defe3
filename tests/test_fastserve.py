"""The poller's compiled server (_hermit_fastio.Server, pyext/serve.c) against the
Python path: every call of test_fastio's list, hostile ones included, put in a
mailbox slot as the kernel puts it and served by Server.serve (or handed back to
Python, which then serves it), must give the results, guest memory and host files
of the Python path byte for byte; and the claims keep a call from being served
twice (no VM: guest memory is bytearrays)."""

import errno
import os
import struct
import sys

import pytest
from test_fastio import Side, cases, handle

from hermit_build.abi import HC, S
from hermit_build.guestmem import GuestMemory
from hermit_build.hostfs import linux as L
from hermit_build.hostfs.fdtable import MAX_HANDLES
from hermit_build.hostfs.service import MAX_IO
from hermit_build.mailbox import Mailbox

CTRL = (1 << 24, 1 << 13)  # the mailbox, the flag and the call's struct: no case's buffer
MAILBOX, FLAG, CALL = CTRL[0], CTRL[0] + 4096 - 8, CTRL[0] + 4096
SLOTS = 4
NRS = tuple(L.NR[n] for n in ("read", "write", "pread64", "pwrite64"))


@pytest.fixture(scope="module")
def Server(sdk):
    sys.path.insert(0, str(sdk / "lib/hermit/python"))
    try:
        from _hermit_fastio import Server
    finally:
        sys.path.pop(0)
    return Server


def with_ctrl(side: Side) -> None:
    """Give side's guest memory the control block (both sides: one address space)."""
    regions = list(side.svc.mem.regions) + [(CTRL[0], CTRL[1], bytearray(CTRL[1]), 0)]
    side.svc.mem = GuestMemory(regions)


class Kernel:
    """What the kernel does with a call: its struct, then the slot, seq last."""

    def __init__(self, mem: GuestMemory):
        self.mem, self.seq = mem, [0] * SLOTS

    def put(self, slot: int, nr: int, args: tuple[int, ...], call: int = CALL) -> int:
        self.mem.write(call, struct.pack("<9Q", nr, *args, *(0,) * (8 - len(args))))
        self.seq[slot] += 1
        base = MAILBOX + S.hc_slot.size * slot
        self.mem.write(base, struct.pack("<2Q", call, HC.SYSCALL))
        self.mem.write_u64(base + 16, self.seq[slot])
        return self.seq[slot]

    def done(self, slot: int) -> int:
        return struct.unpack_from("<Q", self.mem.read(MAILBOX + S.hc_slot.size * slot + 24, 8))[0]

    def ret(self, call: int = CALL) -> int:
        return struct.unpack("<q", self.mem.read(call + 56, 8))[0]


@pytest.fixture
def sides(tmp_path, Server):
    (tmp_path / "py").mkdir()
    (tmp_path / "c").mkdir()
    py, c = Side(tmp_path / "py", None), Side(tmp_path / "c", None)
    for side in (py, c):
        with_ctrl(side)
    server = Server(c.svc.mem.regions, MAILBOX, SLOTS, SLOTS, FLAG, HC.SYSCALL, NRS,
                    MAX_HANDLES, MAX_IO)
    c.mailbox = Mailbox(c.svc.mem)
    c.mailbox.base = MAILBOX
    c.mailbox.attach(server)
    c.svc.fds.server = server
    with c.svc.lock:
        for h in c.h.values():
            c.svc._offer(h, c.svc.fds.get(h))
    yield py, c, server
    server.close()
    py.close()
    c.close()


def serve_once(c: Side, server, kernel: Kernel, nr: int, args: tuple[int, ...]) -> tuple[int, bool]:
    """The call through the slot: (result, whether compiled code served it)."""
    seq = kernel.put(0, nr, args)
    slot, served = server.serve(0, 0)
    if served:
        assert slot == -1 and kernel.done(0) == seq
        return kernel.ret(), True
    assert slot == 0 and kernel.done(0) == seq - 1  # Python's, unclaimed
    call = c.mailbox.take(0, HC.SYSCALL)
    assert call == (HC.SYSCALL, CALL, seq)
    assert c.mailbox.take(0) is None  # claimed: a second ring takes nothing
    ret = c.svc.call(nr, args)[0]
    c.mailbox.answer(0, seq)
    return ret, False


def test_the_server_answers_as_the_python_path(sides):
    py, c, server = sides
    kernel = Kernel(c.svc.mem)
    os.write(py.w, bytes(1 << 16))
    os.write(c.w, bytes(1 << 16))
    compiled = set()
    for name, target, addr, count, off in cases():
        args = (addr, count) if off is None else (addr, count, off)
        want = py.call(name, handle(py, target), *args)
        full = (handle(c, target), *args, *(0,) * (5 - len(args)))
        got, by_c = serve_once(c, server, kernel, L.NR[name], full)
        assert got == want, (name, target, args)
        if by_c:
            compiled.add(target)
    # regular files are served in compiled code (the wrapped handle is data's);
    # directories, pipes, closed and unknown handles go back to Python
    assert compiled == {"data", "ro", "app", "wrapped"}
    assert c.state()[1] == py.state()[1]
    assert c.state()[0][:2] == py.state()[0][:2]


def test_a_closed_handle_goes_back_to_python(sides):
    _py, c, server = sides
    kernel = Kernel(c.svc.mem)
    h = c.h["data"]
    c.svc.mem.write(0x100, b"abcd")
    assert serve_once(c, server, kernel, L.NR["pwrite64"], (h, 0x100, 4, 0, 0, 0)) == (4, True)
    assert c.call("close", h) == 0
    assert serve_once(c, server, kernel, L.NR["write"], (h, 0x100, 4, 0, 0, 0)) == (
        -errno.EBADF, False)
    assert (c.root / "data").read_bytes()[:4] == b"abcd"


def test_a_slot_python_holds_is_never_served_again(sides):
    _py, c, server = sides
    kernel = Kernel(c.svc.mem)
    seq = kernel.put(1, L.NR["write"], (c.h["data"], 0x100, 4, 0, 0, 0))
    assert c.mailbox.take(1) == (HC.SYSCALL, CALL, seq)  # a vCPU thread took it
    assert server.serve(0, 0) == (-1, 0)  # the poller leaves it alone
    c.mailbox.answer(1, seq)
    assert kernel.done(1) == seq and c.mailbox.take(1) is None
    assert server.served == 0


def test_the_flag_is_cleared_when_nothing_comes(sides):
    _py, c, server = sides
    c.svc.mem.write_u64(FLAG, 1)
    assert server.serve(1000, 10**9) == (-1, 0)
    assert c.svc.mem.read(FLAG, 8) == bytes(8)
    c.svc.mem.write_u64(FLAG, 1)
    assert server.serve(10**9, 0) == (-3, 0)  # the budget ends it first: flag left set
    assert c.svc.mem.read(FLAG, 8) != bytes(8)


def test_bad_setups_are_refused(Server):
    mem = bytearray(8192)
    regions = [(0, 8192, mem, 0)]
    for mailbox, flag, slots, watch in ((8192, 0, 1, 1), (0, 8190, 1, 1), (0, 4, 1, 1),
                                        (0, 8, 65, 1), (0, 8, 2, 3), (8192 - 32, 8, 2, 1)):
        with pytest.raises(ValueError):
            Server(regions, mailbox, slots, watch, flag, HC.SYSCALL, NRS, 16, MAX_IO)
    with pytest.raises(ValueError):  # a region larger than its buffer
        Server([(0, 16384, mem, 0)], 0, 1, 1, 8, HC.SYSCALL, NRS, 16, MAX_IO)
