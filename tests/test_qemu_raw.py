"""The QEMU runner against a tiny PVH guest (tests/fixtures/pvh_guest.S), before the kernel exists.

The guest prints "hello from pvh guest" through hypercall WRITE, echoes its kernel
command line to stderr, and exits with 7 if the host answered both WRITEs right.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import children

from hermit_build import elfload
from hermit_build.abi import C, gen_c
from hermit_build.config import ConfigError, RunConfig, kvm_problem
from hermit_build.qemu import MACHINES, QemuError, build_command, run
from hermit_build.qemu import command as qemu_command
from hermit_build.qemu import runner as qemu_runner
from hermit_build.qemu.command import machine_for

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "fixtures" / "pvh_guest.S"
MEM = 64 << 20
HELLO = "hello from pvh guest\n"
VARIANTS = ("hello", "SPIN", "CRASH", "BADCALL", "FLOOD", "PARTIAL")
KVM = pytest.mark.skipif(
    kvm_problem() is not None, reason=f"KVM tests skipped: {kvm_problem()}"
)

pytestmark = [
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                       reason="QEMU is not installed (apt-get install qemu-system-x86)"),
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed to build the guest"),
]  # fmt: skip


def build_guest(out: Path, define: str | None) -> Path:
    include = out.parent / "include"
    if not (include / "hermit" / "abi.h").exists():
        (include / "hermit").mkdir(parents=True)
        (include / "hermit" / "abi.h").write_text(gen_c.render())
    cmd = ["gcc", f"-I{include}", "-nostdlib", "-static", "-no-pie",
           f"-Wl,-Ttext-segment={C.KERNEL_BASE:#x}", "-Wl,-z,max-page-size=0x1000",
           "-Wl,--build-id=none",
           "-o", str(out), str(SOURCE)]  # fmt: skip
    if define:
        cmd.insert(1, f"-D{define}")
    subprocess.run(cmd, check=True)
    with open(out, "r+b") as f:  # EI_OSABI: a hermit image
        f.seek(7)
        f.write(bytes((C.IMAGE_OSABI,)))
    return out


@pytest.fixture(scope="session")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pvh")
    return {v: build_guest(d / f"{v}.elf", None if v == "hello" else v) for v in VARIANTS}


def config(image: Path, **kw) -> RunConfig:
    kw.setdefault("mem", MEM)
    kw.setdefault("kvm", False)
    return RunConfig(image=str(image), argv=[str(image)], **kw)


def boot(image: Path, **kw) -> tuple[int, float]:
    t0 = time.monotonic()
    status = run(config(image, **kw), elfload.load(str(image)))
    return status, time.monotonic() - t0


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("machine", sorted(MACHINES))
@pytest.mark.parametrize("accel", ["tcg", pytest.param("kvm", marks=KVM)])
def test_hello(guests, capfd, record_property, machine: str, accel: str) -> None:
    status, wall = boot(guests["hello"], machine=machine, kvm=accel == "kvm")
    record_property("wall_s", round(wall, 3))
    out, err = capfd.readouterr()
    assert (out, status) == (HELLO, 7), err
    assert "hermit.cpus=1 hermit.tsc_khz=" in err and "hermit.mem" not in err
    assert "hermit.uart=0" in err and "com1:" not in err


@KVM
def test_kvm_two_cpus(guests, capfd) -> None:
    status, _ = boot(guests["hello"], kvm=True, cpus=2)
    out, err = capfd.readouterr()
    assert (out, status) == (HELLO, 7)
    assert "hermit.cpus=2" in err


def test_uart_goes_to_stderr_in_order(guests, capfd) -> None:
    status, _ = boot(guests["hello"], uart=True)
    out, err = capfd.readouterr()
    assert (out, status) == (HELLO, 7)
    assert err.startswith("com1: pvh guest\nhermit.abi=")  # COM1 before the later WRITE
    assert "hermit.uart=0x3f8" in err


def test_verbose_prints_the_kernel_log(guests, capfd) -> None:
    status, _ = boot(guests["hello"], verbose=True)
    out, err = capfd.readouterr()
    assert (out, status) == (HELLO, 7)
    assert err.endswith("hermit.uart=0" + HELLO)  # the log the guest left in boot_info


def test_timeout_kills_qemu(guests) -> None:
    fds = open_fds()
    t0 = time.monotonic()
    with pytest.raises(QemuError) as e:
        boot(guests["SPIN"], timeout=2)
    assert 2 <= time.monotonic() - t0 < 10
    assert e.value.status == 124
    assert str(e.value) == "guest did not exit within 2 s (timeout)"
    assert children(os.getpid()) == []  # QEMU killed and reaped
    assert open_fds() == fds  # no memfd, socket or pipe left behind


def test_triple_fault_is_an_error(guests) -> None:
    with pytest.raises(QemuError) as e:
        boot(guests["CRASH"])
    assert e.value.status == 1
    assert str(e.value).startswith("QEMU stopped before the guest called EXIT")
    assert "\n" not in str(e.value)


def test_unknown_hypercall_is_an_error(guests) -> None:
    with pytest.raises(QemuError, match="unknown hypercall 99"):
        boot(guests["BADCALL"])
    assert children(os.getpid()) == []


def test_qemu_failure_names_its_last_stderr_line(guests, tmp_path, monkeypatch) -> None:
    # elfload.check refuses this image before QEMU starts (test_bad_input); without it,
    # QEMU's own complaint is the message
    monkeypatch.setattr(qemu_runner, "check", lambda *args, **kw: None)
    data = guests["hello"].read_bytes()
    note = struct.pack("<III", 4, 8, 18) + b"Xen\0"
    bad = tmp_path / "no-pvh-note.elf"
    bad.write_bytes(data.replace(note, struct.pack("<III", 4, 8, 99) + b"Xen\0"))
    with pytest.raises(QemuError) as e:
        boot(bad)
    msg = str(e.value)
    assert msg.startswith("QEMU failed with exit status 1: qemu-system-x86_64: ")
    assert "PVH" in msg and "\n" not in msg


def test_qemu_not_installed(guests, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(QemuError) as e:
        boot(guests["hello"])
    assert str(e.value) == "QEMU not found: install it with apt-get install qemu-system-x86"


def test_unusable_kvm_falls_back_to_tcg(guests, capfd, monkeypatch) -> None:
    monkeypatch.setattr(qemu_runner, "kvm_problem", lambda: "/dev/kvm is broken")
    status, _ = boot(guests["hello"], kvm=True)
    out, err = capfd.readouterr()
    assert (out, status) == (HELLO, 7)
    assert err.count("/dev/kvm is broken") == 1
    with pytest.raises(QemuError, match="/dev/kvm is broken"):
        run(config(guests["hello"], kvm=True), elfload.load(str(guests["hello"])),
            kvm_required=True)  # fmt: skip


def test_debug_and_monitor_wait_for_gdb(guests, capfd) -> None:
    with socket.socket() as s:  # a free port for the monitor (port + 1)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1] - 1
    with pytest.raises(QemuError) as e:
        boot(guests["hello"], debug=True, monitor=True, port=port, timeout=1)
    assert e.value.status == 124  # the CPU never started
    out, err = capfd.readouterr()
    assert out == ""
    assert "hermit: QEMU waits for GDB on localhost:1234 (target remote :1234)\n" in err
    assert f"hermit: QEMU monitor on telnet 127.0.0.1:{port + 1}\n" in err


def test_build_command_honours_debug_and_monitor() -> None:
    plain = build_command(config(Path("/x.elf")))
    assert "-gdb" not in plain and "-S" not in plain and "-monitor" not in plain
    cmd = build_command(config(Path("/x.elf"), debug=True, monitor=True, port=5000))
    assert cmd[cmd.index("-gdb") + 1 : cmd.index("-gdb") + 3] == ["tcp:127.0.0.1:1234", "-S"]
    assert cmd[cmd.index("-monitor") + 1] == "telnet:127.0.0.1:5001,server=on,wait=off"
    cmd = build_command(config(Path("/x.elf"), debug=True, gdb_port=4321))
    assert "tcp:127.0.0.1:4321" in cmd


def test_build_command_machine_and_accel(monkeypatch) -> None:
    monkeypatch.setattr(qemu_command, "kvm_is_pvm", lambda: False)
    cmd = build_command(config(Path("/x.elf"), cpus=3), kvm=True, ram_fd=7, hc_fd=8, tsc=1000)
    joined = " ".join(cmd)
    assert "-accel kvm -cpu host,-arch-capabilities" in joined
    assert "-machine microvm,x-option-roms=off," in joined and ",memory-backend=ram" in joined
    assert f"memory-backend-file,id=ram,size={MEM},mem-path=/proc/self/fd/7,share=on" in cmd
    assert "-device isa-serial,iobase=0x2f8,irq=3,chardev=hc" in joined
    assert "socket,id=hc,fd=8" in cmd and "-smp 3" in joined and "-m 64M" in joined
    append = (f"hermit.abi={C.ABI_VERSION} hermit.cpus=3 hermit.tsc_khz=1000 hermit.tty=0 "
              "hermit.uart=0")
    assert cmd[-4:] == ["-kernel", "/x.elf", "-append", append]
    tcg = build_command(config(Path("/x.elf"), machine="q35", uart=True), kvm=False, con_fd=9)
    assert "-accel tcg -cpu max" in " ".join(tcg)
    assert tcg[tcg.index("-machine") + 1] == "q35,memory-backend=ram"
    assert "socket,id=con,fd=9" in tcg and "isa-serial,iobase=0x3f8,irq=4,chardev=con" in tcg



def test_build_command_asks_kvm_pvm_for_native_execution(monkeypatch) -> None:
    monkeypatch.setattr(qemu_command, "kvm_is_pvm", lambda: True)
    kvm = build_command(config(Path("/x.elf")), kvm=True, ram_fd=7, hc_fd=8, tsc=1000)
    tcg = build_command(config(Path("/x.elf")), kvm=False, ram_fd=7, hc_fd=8, tsc=1000)
    assert kvm[-1].endswith(" hermit.pvm=1")
    assert "hermit.pvm" not in tcg[-1]

def test_memory_layouts() -> None:
    mib, gib = 1 << 20, 1 << 30
    assert machine_for("q35").ram_regions(3 * gib) == [
        (0, 0xA0000, 0), (mib, 2 * gib - mib, mib), (4 * gib, gib, 2 * gib)]  # fmt: skip
    assert machine_for("pc-q35-7.2").ram_regions(2 * gib)[1] == (mib, 2 * gib - mib, mib)
    assert machine_for("pc").ram_regions(3 * gib) == [(0, 0xA0000, 0), (mib, 3 * gib - mib, mib)]
    assert machine_for("pc").split(4 * gib) == (3 * gib, gib)
    assert machine_for("microvm").ram_regions(3 * gib) == [
        (0, 0xF0000, 0), (mib, 3 * gib - mib, mib)]  # fmt: skip
    assert machine_for("microvm").ram_regions(8 * gib) == [
        (0, 0xF0000, 0), (mib, 3 * gib - mib, mib), (4 * gib, 5 * gib, 3 * gib)]  # fmt: skip
    with pytest.raises(QemuError, match="not supported; use HERMIT_MACHINE"):
        machine_for("isapc")


def test_too_much_memory_is_refused_before_qemu_starts(guests) -> None:
    with pytest.raises(ConfigError, match="at most 64G"):
        boot(guests["hello"], mem=65 << 30)


RUNNER = textwrap.dedent("""
    import sys
    from hermit_build import elfload
    from hermit_build.config import RunConfig
    from hermit_build.qemu import run
    image = sys.argv[1]
    try:
        run(RunConfig(image=image, argv=[image], mem=64 << 20, kvm=False), elfload.load(image))
    except KeyboardInterrupt:
        sys.exit(130)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_signal_leaves_no_qemu(guests, sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(guests["SPIN"])], cwd=ROOT)
    try:
        deadline = time.monotonic() + 10
        while not (kids := children(proc.pid)) and time.monotonic() < deadline:
            assert proc.poll() is None, "the runner ended early"
            time.sleep(0.02)
        assert kids, "QEMU did not start"
        time.sleep(0.3)  # let the runner reach its loop
        proc.send_signal(sig)
        status = proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert status == (130 if sig != signal.SIGKILL else -signal.SIGKILL)
    for _ in range(100):  # after SIGKILL, QEMU dies of its parent-death signal
        if not alive(kids[0]):
            break
        time.sleep(0.05)
    assert not alive(kids[0])


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_frame_flood_ends_the_guest(guests) -> None:
    """Frames sent on without waiting for the acks: a one-line end, not a loader
    whose queue grows until the timeout (or memory runs out)."""
    t0 = time.monotonic()
    with pytest.raises(QemuError) as e:
        boot(guests["FLOOD"], timeout=20)
    assert time.monotonic() - t0 < 15
    assert "without waiting for the answers" in str(e.value) and "\n" not in str(e.value)
    assert e.value.status != 124
    assert children(os.getpid()) == []


def test_partial_frame_then_silence_times_out(guests) -> None:
    t0 = time.monotonic()
    with pytest.raises(QemuError) as e:
        boot(guests["PARTIAL"], timeout=2)
    assert 2 <= time.monotonic() - t0 < 10
    assert e.value.status == 124
    assert children(os.getpid()) == []
