"""uhyve against a raw guest (tests/fixtures/raw_guest.S), before the kernel exists.

The guest is a bare 64-bit entry built at test time against the generated
<hermit/abi.h>; each VARIANT makes it do one thing: print and exit, pass a wild
pointer, spin, halt, triple-fault, use the serial port, or check its boot state.
uhyve runs in a child process (`python3 -c`) like the proxy runs it.
"""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hermit_build import elfload, hosttsc
from hermit_build.abi import C, gen_c
from hermit_build.config import ConfigError, RunConfig
from hermit_build.uhyve import UhyveError, run
from hermit_build.uhyve.vm import open_kvm

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "fixtures" / "raw_guest.S"
HELLO = "hello from raw guest\n"
VARIANTS = ("hello", "EFAULT", "LOOP", "HLT", "TRIPLE", "BADHC", "BOOTINFO", "UART")
BOOTINFO_FAILURES = {1: "boot_info.magic", 2: "rdi/rsi at entry", 4: "boot_info.cpus",
                     8: "boot_info.tsc_khz", 16: "CPUID (SSE in leaf 1)",
                     32: "paging / long mode", }  # fmt: skip

RUNNER = """
import json, signal, sys
from hermit_build import elfload
from hermit_build.config import ConfigError, RunConfig
from hermit_build.uhyve import UhyveError, run
signal.signal(signal.SIGINT, signal.default_int_handler)
cfg = RunConfig(image=sys.argv[1], argv=[sys.argv[1]], **json.loads(sys.argv[2]))
try:
    sys.exit(run(cfg, elfload.load(cfg.image)))
except UhyveError as e:
    print(f"uhyve: {e}", file=sys.stderr)
    sys.exit(e.status)
except KeyboardInterrupt:
    print("uhyve: interrupted", file=sys.stderr)
    sys.exit(130)
"""


def kvm_problem() -> str | None:
    try:
        os.close(open_kvm())
    except UhyveError as e:
        return str(e)
    return None


KVM_PROBLEM = kvm_problem()
needs_kvm = pytest.mark.skipif(
    KVM_PROBLEM is not None, reason=f"uhyve tests skipped: {KVM_PROBLEM}"
)
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the raw guest")


def interpreters() -> list[str]:
    """This interpreter, and Debian's (what the installed proxy uses) when it differs."""
    found = [sys.executable]
    system = "/usr/bin/python3"
    if os.path.exists(system) and os.path.realpath(system) != os.path.realpath(sys.executable):
        found.append(system)
    return found


def build_guest(out: Path, variant: str) -> Path:
    include = out.parent / "include"
    if not (include / "hermit" / "abi.h").exists():
        (include / "hermit").mkdir(parents=True)
        (include / "hermit" / "abi.h").write_text(gen_c.render())
    cmd = ["gcc", f"-I{include}", "-nostdlib", "-static", "-no-pie",
           f"-Wl,-Ttext-segment={C.KERNEL_BASE:#x}", "-Wl,-z,max-page-size=0x1000",
           "-o", str(out), str(SOURCE)]  # fmt: skip
    if variant != "hello":
        cmd.insert(1, f"-DVARIANT_{variant}")
    subprocess.run(cmd, check=True)
    with open(out, "r+b") as f:  # EI_OSABI: a hermit image
        f.seek(7)
        f.write(bytes((C.IMAGE_OSABI,)))
    return out


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc builds the raw guest")
    pytest.importorskip("jinja2", reason="jinja2 renders <hermit/abi.h>")
    d = tmp_path_factory.mktemp("raw")
    return {v: build_guest(d / f"{v}.elf", v) for v in VARIANTS}


def start(image: Path, python: str = sys.executable, **cfg: object) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERMIT_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [python, "-c", RUNNER, str(image), json.dumps(cfg)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def uhyve(image: Path, python: str = sys.executable, **cfg: object) -> tuple[int, str, str, float]:
    """Run `image` under uhyve in a child; (status, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    p = start(image, python, **cfg)
    try:
        out, err = p.communicate(timeout=20)
    finally:
        p.kill()
    return p.returncode, out, err, time.monotonic() - t0


@needs_kvm
@pytest.mark.parametrize("python", interpreters())
def test_hello_writes_and_exits_with_its_status(guests: dict[str, Path], python: str) -> None:
    status, out, err, _ = uhyve(guests["hello"], python)
    assert (status, out, err) == (7, HELLO, "")


@needs_kvm
def test_wild_write_buffer_gets_efault_and_the_guest_goes_on(guests: dict[str, Path]) -> None:
    status, out, err, _ = uhyve(guests["EFAULT"])
    assert (status, out, err) == (-errno.EFAULT & 0xFF, "", "")


@needs_kvm
def test_guest_starts_in_long_mode_with_boot_info_and_cpuid(guests: dict[str, Path]) -> None:
    status, _, err, _ = uhyve(guests["BOOTINFO"])
    wrong = [what for bit, what in BOOTINFO_FAILURES.items() if status & bit]
    assert status == 0, f"guest found wrong: {wrong or status} {err}"


@needs_kvm
def test_spinning_guest_times_out_with_124(guests: dict[str, Path]) -> None:
    status, out, err, seconds = uhyve(guests["LOOP"], timeout=1)
    assert status == 124
    assert "did not exit within 1 s (timeout)" in err
    assert seconds < 2.5


@needs_kvm
def test_ctrl_c_stops_a_spinning_guest(guests: dict[str, Path]) -> None:
    p = start(guests["LOOP"])
    try:
        time.sleep(0.5)  # well into KVM_RUN
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=5)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert "interrupted" in err
    assert time.monotonic() - sent < 1


@needs_kvm
def test_halted_guest_is_an_error(guests: dict[str, Path]) -> None:
    status, _, err, seconds = uhyve(guests["HLT"])
    assert status == 1
    assert "guest halted without exiting" in err
    assert seconds < 2


@needs_kvm
def test_triple_fault_reports_rip_and_rsp(guests: dict[str, Path]) -> None:
    status, _, err, _ = uhyve(guests["TRIPLE"])
    assert status == 1
    lines = err.splitlines()
    assert "guest triple-faulted at rip=0x2" in lines[-1], "the error comes last, in one line"
    assert "rsp=0x" in lines[-1]
    assert lines[0] == "hermit: vCPU 0 state:", err
    rip = int(re.search(r"rip=(0x[0-9a-f]+)", lines[-1])[1], 16)
    assert f"    rip {rip:#018x}  " in err, err  # then the registers
    assert re.search(r" cr2 0x[0-9a-f]{16}$", err, re.M), err
    assert "Traceback" not in err


@needs_kvm
def test_unknown_hypercall_is_an_error(guests: dict[str, Path]) -> None:
    status, _, err, _ = uhyve(guests["BADHC"])
    assert status == 1
    assert "unknown hypercall 200" in err
    assert "Traceback" not in err


@needs_kvm
@pytest.mark.parametrize("uart", [True, False])
def test_uart_output_goes_to_stderr_only_when_asked(guests: dict[str, Path], uart: bool) -> None:
    status, out, err, _ = uhyve(guests["UART"], uart=uart)
    assert (status, out) == (0, "")
    assert err == ("hello from the uart\n" if uart else "")


@needs_kvm
def test_verbose_reports_the_start_up_time(guests: dict[str, Path]) -> None:
    status, _, err, _ = uhyve(guests["hello"], verbose=True)
    assert status == 7
    assert "ms from run() to the first KVM_RUN" in err


@needs_kvm
def test_image_larger_than_memory_is_refused(guests: dict[str, Path]) -> None:
    image = str(guests["hello"])
    with pytest.raises(elfload.ImageError, match="raise HERMIT_MEM"):
        run(RunConfig(image=image, argv=[image], mem=1 << 20), elfload.load(image))


def test_memory_above_the_maximum_is_refused(tmp_path: Path) -> None:
    cfg = RunConfig(image="x", argv=["x"], mem=65 << 30)
    with pytest.raises(ConfigError, match="at most 64G"):
        run(cfg, elfload.Image("x", 0x200000, []))


def test_missing_kvm_device_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UhyveError, match=r"no usable .* \(not found\).*HERMIT_ISLE=qemu") as e:
        open_kvm(str(tmp_path / "kvm"))
    assert e.value.status == 1


@needs_kvm
def test_host_tsc_from_kvm() -> None:
    khz = hosttsc.host_tsc_khz()
    assert khz is not None and 100_000 < khz < 10_000_000


def test_host_tsc_falls_back_to_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\ncpu MHz\t\t: 2596.138\n")
    assert hosttsc.cpuinfo_tsc_khz(str(cpuinfo)) == 2596138
    assert hosttsc.cpuinfo_tsc_khz(str(tmp_path / "missing")) is None
    assert hosttsc.kvm_tsc_khz(str(tmp_path / "missing")) is None
