"""HERMIT_STRACE: the trace of a program that makes known calls (usr/tests/syscalls.c)
lists them in order with strace's spelling, the host calls they made, `[pid N]` once
a second thread runs, and the unsupported call marked; the decoder on its own."""

import re
import subprocess

from conftest import clean_env, run

from hermit_build import strace_fmt
from hermit_build.abi import C, S
from hermit_build.guestmem import GuestMemory
from hermit_build.strace import Tracer

PID = re.compile(r"^\[pid +(\d+)\] ")

# In this order, each line whole (a regular expression after the [pid N] prefix).
EXPECTED = [
    r'openat\(AT_FDCWD, "strace_probe\.txt", O_WRONLY\|O_CREAT\|O_TRUNC, 0644\) = 3',
    r'write\(3, "hello strace\\n", 13\) = 13',
    r"close\(3\) = 0",
    r'openat\(AT_FDCWD, "strace_probe\.txt", O_RDONLY\|O_CLOEXEC\) = 3',
    r'read\(3, "hello strace\\n", 64\) = 13',
    r"close\(3\) = 0",
    r"close\(99\) = -1 EBADF \(Bad file descriptor\)",
    r"mmap\(NULL, 8192, PROT_READ\|PROT_WRITE, MAP_PRIVATE\|MAP_ANONYMOUS, -1, 0\) = 0x[0-9a-f]+",
    r"munmap\(0x[0-9a-f]+, 8192\) = 0",
    r"getppid\(\) = 0",
    r"io_uring_setup\(0x1, 0x0, .*\) = -1 ENOSYS \(Function not implemented\)"
    r"  <-- not supported by hermit",
    r"exit_group\(0\) = \?",
]
HOST = re.compile(r"  host (\w+) = (\S+) <\d+\.\d{6}> \((VM exit|doorbell|poller)\)$")


def calls(text: str) -> list[tuple[int | None, str]]:
    out = []
    for line in text.splitlines():
        m = PID.match(line)
        out.append((int(m[1]) if m else None, line[m.end():] if m else line))
    return out


def test_trace_of_known_calls(sdk, loader, tmp_path):
    trace = tmp_path / "trace.txt"
    r = run(sdk, "extra/tests/syscalls", env={**loader, "HERMIT_STRACE": str(trace)},
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "read 13 bytes, counter 45\n"
    got = calls(trace.read_text())
    lines = [text for _, text in got]
    at = 0
    for want in EXPECTED:
        while at < len(lines) and not re.fullmatch(want, lines[at]):
            at += 1
        assert at < len(lines), f"no {want!r} after the calls before it in:\n" + "\n".join(lines)
        if want.startswith(("openat", "write", "read", r"close\(3")):
            host = HOST.match(lines[at + 1])  # the file call the loader made for it
            assert host and host[1] == want.split("\\")[0], lines[at: at + 2]
        if want.startswith("getppid"):
            tid = got[at][0]
        if want.startswith(r"mmap"):
            assert not lines[at + 1].startswith("  host")  # the kernel's own
        at += 1
    # the second thread's call carries its thread id; the main thread's lines get the
    # prefix from then on (strace -f), with its own id
    main_tids = {t for t, text in got if text.startswith("exit_group")}
    assert tid is not None and main_tids and tid not in main_tids
    assert all(t is None for t, text in got[:3])  # one thread: no prefix yet
    assert "not supported" not in r.stderr  # the trace went to the file only


def test_a_full_ring_loses_no_call(sdk, loader, tmp_path):
    trace = tmp_path / "trace.txt"
    n = 3 * C.TRACE_RECS + 17  # the kernel waits for the loader (HC_TRACE) several times
    r = run(sdk, "extra/tests/syscalls", str(n), env={**loader, "HERMIT_STRACE": str(trace)},
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [text for _, text in calls(trace.read_text())]
    assert lines.count("getppid() = 0") == n + 1  # and the second thread's
    assert lines[-1] == "exit_group(0) = ?"


def test_strace_on_stderr_with_the_flag(sdk, tmp_path):
    r = subprocess.run([str(sdk / "bin/hermit"), "run", "--isle", "qemu", "--no-kvm", "--strace",
                        str(sdk / "extra/tests/hello")], env=clean_env(), cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Hello World!!!" in r.stdout
    assert re.search(r'^writev\(1, \[\{iov_base="Hello World!!![^"]*"(\.\.\.)?, iov_len=\d+\}, '
                     r'\{iov_base=".*", iov_len=\d+\}\], 2\) = \d+$', r.stderr, re.M), r.stderr
    assert r.stderr.rstrip().endswith("exit_group(0) = ?")


def rec(nr: int, *args: int, ret: int = 0, **more: int) -> dict[str, int]:
    r = S.trace_rec.unpack(bytes(S.trace_rec.size))
    r.update({"nr": nr, "ret": ret & (1 << 64) - 1, "done": 1, **more})
    r.update({f"a{i}": a & (1 << 64) - 1 for i, a in enumerate(args)})
    return r


def test_decoder():
    assert strace_fmt.line(rec(1, 1, 0x1000, 40, ret=40, len0=5), (b"a\tb\"\x1b", b"")) == \
        'write(1, "a\\tb\\"\\33", 40) = 40'
    long = rec(1, 1, 0x1000, 100, ret=100, len0=100)
    assert strace_fmt.line(long, (b"x" * 100, b"")).startswith('write(1, "' + "x" * 32 + '"..., ')
    assert strace_fmt.line(rec(0, 3, 0x2000, 10, ret=-9, trunc=0), (b"", b"")) == \
        "read(3, 0x2000, 10) = -1 EBADF (Bad file descriptor)"
    bad = rec(257, -100, 0x10, 0, ret=-14, trunc=4)
    assert strace_fmt.line(bad, (b"", b"")) == \
        "openat(AT_FDCWD, 0x10, O_RDONLY) = -1 EFAULT (Bad address)"
    assert strace_fmt.line(rec(60, 3, done=0), (b"", b"")) == "exit(3) = ?"
    assert strace_fmt.line(rec(12, 0, ret=0x400000), (b"", b"")) == "brk(NULL) = 0x400000"
    assert strace_fmt.line(rec(202, 0x10, 0x80, 1, 0, 7, 9), (b"", b"")) == \
        "futex(0x10, FUTEX_WAIT_PRIVATE, 1, NULL) = 0"
    assert strace_fmt.line(rec(202, 0x10, 0x81, 1, 5, 7, 9, ret=1), (b"", b"")) == \
        "futex(0x10, FUTEX_WAKE_PRIVATE, 1) = 1"
    assert strace_fmt.line(rec(202, 0x10, 0x89, 1, 0, 0, 0xFF), (b"", b"")) == \
        "futex(0x10, FUTEX_WAIT_BITSET_PRIVATE, 1, NULL, NULL, 255) = 0"
    iov = rec(20, 1, 0x3000, 3, ret=70, iov0_len=64, iov1_len=6, trunc=1)
    assert strace_fmt.line(iov, (b"y" * 40, b"\n")) == (
        'writev(1, [{iov_base="' + "y" * 32 + '"..., iov_len=64}, {iov_base="\\n", iov_len=6}, '
        '...], 3) = 70')
    assert strace_fmt.line(rec(20, 1, 0x3000, 1, ret=-14, trunc=4), (b"", b"")) == \
        "writev(1, 0x3000, 1) = -1 EFAULT (Bad address)"
    assert strace_fmt.line(rec(500, 1, 2, ret=-38), (b"", b"")).startswith(
        "syscall_0x1f4(0x1, 0x2, 0x0, 0x0, 0x0, 0x0) = -1 ENOSYS")


RAM = 1 << 21
RING = 0x10000


def guest_with_ring():
    mem = GuestMemory([(0, RAM, bytearray(RAM), 0)])
    fields = dict.fromkeys(S.boot_info.offset, 0)
    fields.update(magic=C.BOOT_INFO_MAGIC, trace_addr=RING, tsc_khz=1000)
    mem.write(C.BOOT_INFO_ADDR, S.boot_info.pack(**fields))
    return mem


def put(mem, n, record, s0=b""):
    """What kernel/trace.c does: record n, then head n + 1."""
    at = RING + C.TRACE_REC_BYTES * (1 + n % C.TRACE_RECS)
    mem.write(at, S.trace_rec.pack(**record, len0=len(s0)) + s0)
    mem.write_u64(RING + S.trace_ring.offset["head"], n + 1)


def test_tracer_reads_the_ring_in_order_and_hands_it_back(tmp_path):
    mem, out = guest_with_ring(), tmp_path / "t"
    tracer = Tracer(mem, str(out))
    for n in range(C.TRACE_RECS + 5):  # wraps around the ring
        if n == C.TRACE_RECS:
            tracer.drain()  # what HC_TRACE does when the ring is full
        put(mem, n, dict(nr=3, a0=n, done=1, tid=1, nhost=1, h0_nr=3, h0_ticks=50, h0_rang=1))
    tracer.close()
    lines = out.read_text().splitlines()
    assert lines[0::2] == [f"close({n}) = 0" for n in range(C.TRACE_RECS + 5)]
    assert set(lines[1::2]) == {"  host close = 0 <0.000050> (VM exit)"}
    assert mem.read_u64(RING + S.trace_ring.offset["tail"]) == C.TRACE_RECS + 5


def test_a_broken_ring_ends_the_trace_not_the_loader(tmp_path):
    mem, out = guest_with_ring(), tmp_path / "t"
    tracer = Tracer(mem, str(out))
    mem.write_u64(RING + S.trace_ring.offset["head"], C.TRACE_RECS + 1)  # more than it holds
    tracer.drain()
    put(mem, 0, dict(nr=3, done=1))
    tracer.close()
    assert out.read_text() == ("hermit: the system-call trace ends here: its ring is broken "
                               f"(head {C.TRACE_RECS + 1}, tail 0)\n")
    mem.write(C.BOOT_INFO_ADDR + S.boot_info.offset["trace_addr"], (RAM - 8).to_bytes(8, "little"))
    late = Tracer(mem, str(out))  # a ring outside guest RAM
    late.close()
    assert "ring is broken" in out.read_text()
