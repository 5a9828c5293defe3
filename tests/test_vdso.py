"""Clocks and getpid without system calls (issue 3: a system call is a ~6,700-cycle world
switch on kvm_pvm).

usr/tests/clocks.c checks the vDSO's clocks against the system calls inside the guest
(tests/test_threads.py runs it under every loader with 1, 2 and 4 cpus, and on Linux).
Here: the vDSO is shaped as musl's lookup needs it, every image carries it page-aligned
in executable memory, the vvar page has its own place in the ABI, and getpid() links as
a function call however the application is built, unless the application has its own.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, disassemble, run

from hermit_build.abi import C, S

FIXTURES = ROOT / "tests" / "fixtures" / "sdk"
MUSL_LIBC = Path("/usr/lib/x86_64-linux-musl/libc.a")
EXPORTS = {"__vdso_clock_gettime", "__vdso_clock_getres", "__vdso_gettimeofday", "__vdso_time",
           "__vdso_getcpu"}


@pytest.fixture(scope="module")
def vdso() -> Path:
    path = Path(os.environ.get("HERMIT_BUILD", ROOT / "build")) / "arch/x86/vdso/vdso.so"
    if not path.is_file():
        pytest.fail(f"no {path}: run the tests with `nox -s tests`")
    return path


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True,
                          check=True).stdout


def load_segments(path: Path) -> list[tuple[int, int, int, str]]:
    """(file offset, address, file size, flags such as "R E") of each PT_LOAD."""
    found = re.findall(r"^\s+LOAD\s+(0x\w+)\s+(0x\w+)\s+0x\w+\s+(0x\w+)\s+0x\w+\s+([RWE ]+?)"
                       r"\s+0x\w+$", readelf("-l", str(path)), re.M)
    return [(int(o, 16), int(a, 16), int(n, 16), f) for o, a, n, f in found]


# --- the vDSO as musl finds it --------------------------------------------------------------------

def test_vdso_is_a_shared_object_named_as_linux_names_it(vdso):
    dynamic = readelf("-d", str(vdso))
    assert "Library soname: [linux-vdso.so.1]" in dynamic
    # musl's __vdsosym needs the sysv hash, the symbols and strings, and checks versions
    for tag in ("(HASH)", "(SYMTAB)", "(STRTAB)", "(VERSYM)", "(VERDEF)"):
        assert tag in dynamic, f"no {tag} in\n{dynamic}"


def test_vdso_exports_the_functions_at_linux_2_6(vdso):
    syms = readelf("--dyn-syms", str(vdso))
    found = dict(re.findall(r"FUNC\s+GLOBAL\s+DEFAULT\s+\d+ (__vdso_\w+)@@(\S+)", syms))
    assert found == dict.fromkeys(EXPORTS, "LINUX_2.6"), syms


def test_vdso_is_one_read_execute_segment_from_its_first_byte(vdso):
    # musl takes the load base from the PT_LOAD (p_offset - p_vaddr); the kernel uses
    # the file where it lies in the image, so nothing may need relocating or writing.
    loads = load_segments(vdso)
    assert [(o, a, f) for o, a, _, f in loads] == [(0, 0, "R E")], loads
    assert "There are no relocations" in readelf("-r", str(vdso))
    sections = readelf("-S", str(vdso))
    for name in (".data", ".bss", ".got", ".plt"):
        assert f" {name} " not in sections, sections


def test_every_image_carries_the_vdso_page_aligned_and_executable(sdk, vdso):
    image = sdk / "extra/tests/hello"
    blob, data = vdso.read_bytes(), image.read_bytes()
    offset = data.find(blob)
    assert offset > 0, f"{image} does not contain {vdso}"
    segs = load_segments(image)
    seg = [(o, a, f) for o, a, n, f in segs if o <= offset < o + n]
    assert len(seg) == 1, segs
    (o, a, flags), = seg
    assert (a + offset - o) % 4096 == 0, hex(a + offset - o)
    assert "E" in flags, seg


# --- the vvar page in the ABI ------------------------------------------------------------------

def test_vvar_page_has_a_place_of_its_own():
    taken = [C.BOOT_GDT_ADDR, C.BOOT_PML4_ADDR, C.BOOT_PDPT_ADDR, C.BOOT_PT_ADDR,
             C.BOOT_INFO_ADDR, 0x8000]  # 0x8000: the other cpus' trampoline under QEMU
    taken += range(C.BOOT_PD_ADDR, C.BOOT_PD_ADDR + C.BOOT_PD_GIBS * 4096, 4096)
    assert C.VVAR_ADDR % 4096 == 0 and C.VVAR_ADDR not in taken
    assert 0 < C.VVAR_ADDR < C.KERNEL_BASE  # mapped (page 0 is not), below the image
    assert S.vvar.size <= 4096
    assert S.vvar.fields[:3] == ["tsc_base", "ns_mult", "realtime_base"]


def test_generated_header_places_the_vvar_page():
    from hermit_build.abi import gen_c

    text = gen_c.render()
    assert f"#define HERMIT_VVAR_ADDR {C.VVAR_ADDR:#x}" in text
    assert "struct vvar {" in text
    assert f"#define HERMIT_APP_PID {C.APP_PID:#x}" in text


# --- getpid as a function call -------------------------------------------------------------------

def enters_the_kernel(code: str) -> bool:
    return bool(re.search(r"\ssyscall\b", code))


def test_musl_getpid_enters_the_kernel():
    """What the SDK replaces (and proof that the check below can fail)."""
    if not MUSL_LIBC.is_file():
        pytest.skip(f"no {MUSL_LIBC}")
    code = disassemble(MUSL_LIBC, "getpid")
    assert "<getpid>:" in code and enters_the_kernel(code), code


def test_meson_built_image_calls_the_sdk_getpid(sdk):
    code = disassemble(sdk / "extra/tests/clocks", "getpid")
    assert "<getpid>:" in code, "clocks has no getpid"
    assert not enters_the_kernel(code), code


def test_sched_yield_reads_the_cpu_before_entering_the_kernel(sdk):
    """The SDK's sched_yield: %gs-relative reads of the run queue, then maybe a syscall
    (usr/tests/sched checks what it does: a waiting or due thread still gets the cpu)."""
    code = disassemble(sdk / "extra/tests/sched", "sched_yield")
    assert "<sched_yield>:" in code, "sched has no sched_yield"
    assert "%gs:" in code and "rdtsc" in code, code


def hermit_gcc(sdk: Path, source: str, out: Path) -> None:
    r = subprocess.run([str(sdk / "bin/x86_64-hermit-gcc"), "-O2", str(FIXTURES / source),
                        "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_wrapper_built_app_calls_the_sdk_getpid(sdk, tmp_path, loader):
    hermit_gcc(sdk, "pid.c", tmp_path / "pid")
    code = disassemble(tmp_path / "pid", "getpid")
    assert "<getpid>:" in code and not enters_the_kernel(code), code
    r = run(sdk, str(tmp_path / "pid"), env=loader, cwd=tmp_path)
    assert (r.stdout, r.returncode) == (f"getpid={C.APP_PID} syscall={C.APP_PID}\n", 0), r.stderr


def test_app_with_its_own_getpid_keeps_it(sdk, tmp_path):
    hermit_gcc(sdk, "own_getpid.c", tmp_path / "own")
    r = run(sdk, str(tmp_path / "own"), env={"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0"},
            cwd=tmp_path)
    assert (r.stdout, r.returncode) == (f"getpid=4242 syscall={C.APP_PID}\n", 0), r.stderr


def test_uhyve_page_directories_fit_in_the_low_mib_the_kernel_keeps():
    """vm.write_boot_tables puts GiB g's directory at BOOT_PD_ADDR + g * 4 KiB: room for
    the most RAM, above the trampoline, below 1 MiB (page_init reserves that)."""
    assert C.BOOT_PD_GIBS << 30 >= C.HIGH_MEM_BASE + C.MAX_MEM
    assert 0x8000 < C.BOOT_PD_ADDR and C.BOOT_PD_ADDR + C.BOOT_PD_GIBS * 4096 <= 1 << 20
