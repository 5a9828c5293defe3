"""Unit tests of hermit_build that boot nothing: settings, image checks, fault reports,
the loader ABI (Python against the generated C header) and the SDK's cross-file."""

import configparser
import errno
import io
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from hermit_build import config, crash, elfload, memlayout, toolchain
from hermit_build.abi import HC, AbiStruct, C, S, gen_c, signed, spec
from hermit_build.config import ConfigError

# --- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,value", [
    ("512M", 512 << 20),
    ("2G", 2 << 30),
    ("2g", 2 << 30),
    ("1024", 1024 << 20),  # a bare number is MiB
    ("32M", 32 << 20),  # the minimum (hello needs 20M)
    ("65536K", 64 << 20),
    ("1GiB", 1 << 30),
    ("256MB", 256 << 20),
    (" 4G ", 4 << 30),
    ("64G", 64 << 30),  # the maximum
])
def test_parse_mem(text, value):
    assert config.parse_mem(text) == value


@pytest.mark.parametrize("text,needle", [
    ("lots", "is not a size"),
    ("", "is not a size"),
    ("1.5G", "is not a size"),
    ("-1G", "is not a size"),
    ("2T", "is not a size"),
    ("0x100M", "is not a size"),
    ("31M", "too small"),
    ("16M", "too small"),
    ("0", "too small"),
    ("65G", "too large"),
    ("65537M", "too large"),
])
def test_parse_mem_rejects(text, needle):
    with pytest.raises(ConfigError) as e:
        config.parse_mem(text)
    assert f"HERMIT_MEM={text!r}" in str(e.value)
    assert needle in str(e.value)


def test_parse_mem_names_the_flag():
    with pytest.raises(ConfigError, match=r"^--mem='big' is not a size; use e\.g\. 512M or 2G$"):
        config.parse_mem("big", "--mem")


def test_parse_mem_says_the_maximum():
    with pytest.raises(ConfigError, match=r"^HERMIT_MEM='100G' is too large: hermit gives a "
                                          r"guest at most 64G of memory$"):
        config.parse_mem("100G")


# --- guest memory layout ------------------------------------------------------------------------

GIB = 1 << 30


@pytest.mark.parametrize("mem,low,high", [
    (16 << 20, 16 << 20, 0),
    (2 * GIB, 2 * GIB, 0),
    (3 * GIB, 3 * GIB, 0),  # still one block
    (3 * GIB + (1 << 20), 3 * GIB, 1 << 20),
    (8 * GIB, 3 * GIB, 5 * GIB),
    (64 * GIB, 3 * GIB, 61 * GIB),
])
def test_uhyve_keeps_3g_below_the_hole(mem, low, high):
    assert memlayout.uhyve_split(mem) == (low, high)


def test_layout_regions_share_one_host_buffer():
    assert memlayout.regions(2 * GIB, 0) == [(0, 2 * GIB, 0)]
    assert memlayout.regions(3 * GIB, 5 * GIB) == [(0, 3 * GIB, 0), (4 * GIB, 5 * GIB, 3 * GIB)]
    assert C.HIGH_MEM_BASE == 4 * GIB
    assert memlayout.describe(3 * GIB, GIB) == "0x0-0xc0000000 and 0x100000000-0x140000000"
    assert memlayout.describe(GIB, 0) == "0x0-0x40000000"


def test_guest_memory_translates_both_blocks_and_not_the_hole():
    from hermit_build.guestmem import GuestFault, GuestMemory

    low, high = 1 << 20, 1 << 20  # small stand-ins for the two blocks
    buf = bytearray(low + high)
    mem = GuestMemory([(gpa, size, buf, off) for gpa, size, off in memlayout.regions(low, high)])
    mem.write(C.HIGH_MEM_BASE + 16, b"high")
    mem.write(low - 4, b"low!")
    assert buf[low + 16 : low + 20] == b"high" and buf[low - 4 : low] == b"low!"
    assert mem.read(C.HIGH_MEM_BASE + 16, 4) == b"high"
    for gpa, n in ((low, 1), (C.HIGH_MEM_BASE - 1, 1), (low - 2, 4),  # the hole, or across it
                   (C.HIGH_MEM_BASE + high - 2, 4), (C.HIGH_MEM_BASE + high, 1)):
        assert not mem.valid(gpa, n)
        with pytest.raises(GuestFault):
            mem.read(gpa, n)


def test_discard_drops_host_pages_of_shared_memory():
    import mmap

    from hermit_build.guestmem import GuestFault, GuestMemory

    low, high = 1 << 20, 1 << 20
    ram = mmap.mmap(-1, low + high, mmap.MAP_SHARED)  # as uhyve maps guest RAM
    mem = GuestMemory([(gpa, size, ram, off) for gpa, size, off in memlayout.regions(low, high)])
    mem.write(C.HIGH_MEM_BASE + 4096, b"x" * 8192)
    mem.write(0x3000, b"keep")
    mem.discard(C.HIGH_MEM_BASE + 4096, 4096)
    assert mem.read(C.HIGH_MEM_BASE + 4096, 8192) == bytes(4096) + b"x" * 4096
    assert mem.read(0x3000, 4) == b"keep"
    with pytest.raises(ValueError):
        mem.discard(C.HIGH_MEM_BASE + 100, 4096)
    with pytest.raises(GuestFault):
        mem.discard(low, 4096)  # the hole
    with pytest.raises(GuestFault):
        mem.discard(low - 4096, 8192)  # across the hole


def test_discard_hypercall_answers_errno():
    from hermit_build.guestmem import GuestMemory
    from hermit_build.hostcalls import HostServices

    buf = bytearray(1 << 20)
    mem = GuestMemory([(0, len(buf), buf, 0)])
    buf[0x20000:0x21000] = b"y" * 4096
    arg = 0x1000
    with HostServices(mem, ["app"], []) as services:  # its exit ends the /tmp reaper
        for addr, length, ret in ((0x20000, 4096, 0), (0x20001, 4096, -errno.EINVAL),
                                  (1 << 20, 4096, -errno.EFAULT),
                                  (0xFF000, 8192, -errno.EFAULT)):
            mem.write(arg, S.hc_discard.pack(addr=addr, len=length, ret=7))
            assert services.handle(HC.DISCARD, arg) is None
            assert signed(S.hc_discard.unpack(mem.read(arg, S.hc_discard.size))["ret"]) == ret
    assert buf[0x20000:0x21000] == bytes(4096)


@pytest.mark.parametrize("text,value", [("1", 1), ("4", 4), (" 8 ", 8), ("64", 64)])
def test_parse_cpus(text, value):
    assert config.parse_cpus(text) == value


@pytest.mark.parametrize("text", ["0", "65", "-1", "two", "", "1.5", "4 cpus"])
def test_parse_cpus_rejects(text):
    with pytest.raises(ConfigError) as e:
        config.parse_cpus(text)
    assert f"HERMIT_CPUS={text!r}" in str(e.value)
    assert "from 1 to 64" in str(e.value)
    with pytest.raises(ConfigError, match="^--cpus="):
        config.parse_cpus(text, "--cpus")


def env_config(**env: str) -> config.RunConfig:
    return config.from_environment("app", ["app", "x"], env)


@pytest.mark.parametrize("isle,want", [
    ("uhyve", "uhyve"), ("hyve", "uhyve"), ("UHYVE", "uhyve"),
    ("qemu", "qemu"), (" QEMU ", "qemu"),
])
def test_isle(isle, want):
    assert env_config(HERMIT_ISLE=isle).isle == want


@pytest.mark.parametrize("isle", ["", "auto"])
def test_isle_auto_follows_kvm(isle, tmp_path):
    no_kvm = str(tmp_path / "no-kvm")
    assert env_config(HERMIT_ISLE=isle, HERMIT_KVM_DEVICE=no_kvm).isle == "qemu"
    assert env_config(HERMIT_KVM_DEVICE=no_kvm).isle == "qemu"


def test_isle_unknown():
    with pytest.raises(ConfigError, match="HERMIT_ISLE='xen' is not a loader; use uhyve or qemu"):
        env_config(HERMIT_ISLE="xen")


def test_defaults():
    cfg = env_config(HERMIT_ISLE="qemu")
    assert (cfg.image, cfg.argv) == ("app", ["app", "x"])
    assert cfg.mem == 2 << 30 and cfg.cpus == 1
    assert cfg.kvm is True
    assert (cfg.verbose, cfg.debug, cfg.monitor, cfg.uart) == (False, False, False, False)
    assert cfg.port == config.HERMIT_PORT and cfg.forwards == []
    assert cfg.timeout is None and cfg.machine is None


def test_environment_is_passed_to_the_guest():
    cfg = env_config(HERMIT_ISLE="qemu", HOME="/root", EMPTY="", ODD="a=b c")
    assert cfg.env == ["HERMIT_ISLE=qemu", "HOME=/root", "EMPTY=", "ODD=a=b c"]


@pytest.mark.parametrize("value,kvm", [
    ("0", False), ("no", False), ("false", False), ("OFF", False),
    ("1", True), ("yes", True), ("on", True),
])
def test_kvm_switch(value, kvm):
    assert env_config(HERMIT_ISLE="qemu", HERMIT_KVM=value).kvm is kvm


@pytest.mark.parametrize("value,verbose", [("1", True), ("true", True), ("0", False)])
def test_verbose(value, verbose):
    assert env_config(HERMIT_ISLE="qemu", HERMIT_VERBOSE=value).verbose is verbose


def test_settings_from_environment():
    cfg = env_config(HERMIT_ISLE="qemu", HERMIT_MEM="256M", HERMIT_CPUS="2", HERMIT_PORT="20000",
                     HERMIT_APP_PORT="8080", HERMIT_TIMEOUT="2.5", HERMIT_MACHINE="q35",
                     HERMIT_DEBUG="1", HERMIT_MONITOR="1", HERMIT_UART="1")
    assert (cfg.mem, cfg.cpus, cfg.port, cfg.forwards) == (256 << 20, 2, 20000, [(8080, 8080)])
    assert (cfg.timeout, cfg.machine) == (2.5, "q35")
    assert cfg.debug and cfg.monitor and cfg.uart


@pytest.mark.parametrize("var,value,needle", [
    ("HERMIT_PORT", "abc", "HERMIT_PORT='abc' is not a TCP port (1-65535)"),
    ("HERMIT_PORT", "0", "HERMIT_PORT='0' is not a TCP port"),
    ("HERMIT_PORT", "65536", "HERMIT_PORT='65536' is not a TCP port"),
    ("HERMIT_APP_PORT", "-5", "HERMIT_APP_PORT='-5' is not a list of TCP ports"),
    ("HERMIT_TIMEOUT", "soon", "HERMIT_TIMEOUT='soon' is not a number of seconds"),
    ("HERMIT_MEM", "huge", "HERMIT_MEM='huge' is not a size"),
    ("HERMIT_CPUS", "0", "HERMIT_CPUS='0' is not a cpu count"),
])
def test_bad_settings(var, value, needle):
    with pytest.raises(ConfigError) as e:
        env_config(HERMIT_ISLE="qemu", **{var: value})
    assert needle in str(e.value)


def test_kvm_problem_names_the_device(monkeypatch, tmp_path):
    missing = tmp_path / "kvm"
    monkeypatch.setenv("HERMIT_KVM_DEVICE", str(missing))
    assert config.kvm_problem() == f"{missing} does not exist (no KVM on this host)"
    assert config.kvm_usable() is False


# --- elfload ------------------------------------------------------------------------------------

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")


def elf(*, cls=2, data=1, osabi=0x42, etype=2, machine=62, entry=0x200100, phentsize=None,
        segments=((1, 0x200000, 0x100, 0x100),), phoff=64, pad=0x100) -> bytes:
    """A minimal ELF image: segments are (type, paddr, filesz, memsz), file data after them."""
    ident = b"\x7fELF" + bytes([cls, data, 1, osabi]) + bytes(8)
    phentsize = PHDR.size if phentsize is None else phentsize
    body_off = phoff + len(segments) * PHDR.size
    head = EHDR.pack(ident, etype, machine, 1, entry, phoff, 0, 0, EHDR.size, phentsize,
                     len(segments), 64, 0, 0)
    phdrs = b"".join(PHDR.pack(t, 5, body_off, paddr, paddr, filesz, memsz, 0x1000)
                     for t, paddr, filesz, memsz in segments)
    return head + bytes(phoff - EHDR.size) + phdrs + bytes(pad)


def patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def write(tmp_path: Path, data: bytes, name: str = "img") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_load_good_image(tmp_path):
    path = write(tmp_path, elf(segments=((1, 0x200000, 0x80, 0x100), (4, 0, 0, 0x10),
                                         (1, 0x300000, 0x10, 0x2000))))
    img = elfload.load(path)
    assert img.path == path and img.entry == 0x200100
    assert [(s.paddr, s.filesz, s.memsz) for s in img.segments] == [
        (0x200000, 0x80, 0x100), (0x300000, 0x10, 0x2000)]
    assert img.end == 0x302000


def test_load_skips_empty_segments(tmp_path):
    img = elfload.load(write(tmp_path, elf(segments=((1, 0x200000, 0, 0),
                                                     (1, 0x201000, 8, 8)))))
    assert [s.paddr for s in img.segments] == [0x201000]


@pytest.mark.parametrize("data,needle", [
    (b"", "not an ELF file"),
    (b"hello world\n" * 10, "not an ELF file"),
    (b"\x7fELF\x02\x01", "not an ELF file"),  # shorter than an ELF header
    (elf(cls=1), "not an x86_64 ELF image (hermit runs x86_64 unikernels only)"),
    (elf(data=2), "not an x86_64 ELF image"),
    (elf(machine=183), "not an x86_64 ELF image"),
    (elf(osabi=0), "not a hermit image (ELF OSABI 0x0, expected 0x42); "
                   "build it with x86_64-hermit-gcc"),
    (elf(osabi=3), "ELF OSABI 0x3, expected 0x42"),
    (elf(etype=1), "not an executable (ELF type 1)"),
    (elf(etype=3), "not an executable (ELF type 3)"),
    (elf(phentsize=32), "corrupt ELF program headers"),
    (patch(elf(), 32, "<Q", 0x10000), "corrupt ELF program headers"),  # e_phoff past the end
    (elf(pad=0x10), "corrupt ELF segment 0 (truncated file?)"),
    (elf(segments=((1, 0x200000, 0x100, 0x80),)), "corrupt ELF segment 0"),
    (elf(segments=((1, 0x200000, 8, 8), (1, 0x1000, 8, 8))),
     "segment 1 at 0x1000 below the kernel base"),
    (elf(segments=((4, 0x200000, 8, 8),)), "no loadable segments"),
    (elf(segments=()), "no loadable segments"),
], ids=["empty", "text", "short", "elf32", "big-endian", "aarch64", "osabi-sysv", "osabi-linux",
        "relocatable", "shared", "phentsize", "phoff", "truncated", "filesz>memsz", "low-segment",
        "only-note", "no-segments"])
def test_load_rejects(tmp_path, data, needle):
    path = write(tmp_path, data)
    with pytest.raises(elfload.ImageError) as e:
        elfload.load(path)
    assert str(e.value).startswith(f"{path}: ")
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_load_missing_and_directory(tmp_path):
    with pytest.raises(elfload.ImageError, match="no such file$"):
        elfload.load(str(tmp_path / "nope"))
    with pytest.raises(elfload.ImageError, match="is a directory$"):
        elfload.load(str(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_load_unreadable(tmp_path):
    path = write(tmp_path, elf())
    os.chmod(path, 0)
    with pytest.raises(elfload.ImageError, match="permission denied$"):
        elfload.load(path)


# --- crash --------------------------------------------------------------------------------------

def fault(vector: int, error: int = 0, cr2: int = 0, rsp: int = 0x7FF000) -> dict[str, int]:
    return S.hc_fault.unpack(S.hc_fault.pack(vector=vector, error=error, cr2=cr2, r_rsp=rsp,
                                             r_rip=0x201234))


@pytest.mark.parametrize("f,text", [
    (fault(14, error=2, cr2=0),
     "page fault (#PF): write at address 0x0 (null pointer dereference)"),
    (fault(14, error=0, cr2=0x10), "page fault (#PF): read at address 0x10 (null pointer "
                                   "dereference)"),
    (fault(14, error=2, cr2=0x7FEFF8, rsp=0x7FF000),
     "page fault (#PF): write at address 0x7feff8 (stack overflow: the stack ran into its "
     "guard page)"),
    (fault(14, error=0x10, cr2=0xDEAD0000), "page fault (#PF): instruction fetch at address "
                                            "0xdead0000"),
    (fault(0), "divide error (#DE)"),
    (fault(13, error=0x18), "general protection fault (#GP), error code 0x18"),
    (fault(13), "general protection fault (#GP)"),
    (fault(6), "invalid opcode (#UD)"),
    (fault(99), "exception 99 (#99)"),
])
def test_describe(f, text):
    assert crash.describe(f) == text


@pytest.mark.parametrize("vector,status", [(0, 136), (19, 136), (6, 132), (14, 139),
                                           (13, 139), (3, 133), (17, 135)])
def test_exit_status_is_a_signal(vector, status):
    assert crash.exit_status(vector) == status


@pytest.mark.parametrize("in_app, whose", [(1, "in the application"), (0, "in the kernel")])
def test_report_without_symbols(in_app, whose):
    f = S.hc_fault.unpack(S.hc_fault.pack(vector=0, r_rip=0x201234, r_rsp=0x7FF000, nframes=2,
                                          frame0=0x201300, frame1=0x200400, in_app=in_app))
    out = io.StringIO()
    assert crash.report(f, None, out=out) == 128 + 8
    lines = out.getvalue().splitlines()
    assert lines[0] == f"hermit: guest crashed {whose}: divide error (#DE)"
    assert lines[1] == "  at 0x0000000000201234"
    assert "rsp 0x00000000007ff000" in out.getvalue()
    assert lines[-3:] == ["backtrace:", "  #0  0x0000000000201300", "  #1  0x0000000000200400"]


# --- abi ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(spec.STRUCTS))
def test_struct_round_trip(name):
    st = getattr(S, name)
    assert st.size == 8 * len(spec.STRUCTS[name])
    values = {f: (i + 1) * 0x0101010101 for i, f in enumerate(st.fields)}
    data = st.pack(**values)
    assert len(data) == st.size
    assert st.unpack(data) == values
    assert st.unpack(st.pack()) == dict.fromkeys(st.fields, 0)
    for f in st.fields:
        assert struct.unpack_from("<Q", data, st.offset[f])[0] == values[f]


def test_negative_values_travel_as_twos_complement():
    data = S.hc_write.pack(fd=1, ret=-22)
    assert data[24:32] == b"\xea" + b"\xff" * 7
    back = S.hc_write.unpack(data)
    assert back["ret"] == 2**64 - 22 and signed(back["ret"]) == -22
    assert signed(5) == 5


def test_abi_struct_layout():
    st = AbiStruct("demo", ["a", "b", "c"])
    assert st.size == 24 and st.offset == {"a": 0, "b": 8, "c": 16}


def test_abi_namespaces():
    assert C.KERNEL_BASE == 0x200000 and C.BOOT_INFO_ADDR == 0x5000
    assert HC.WRITE == 1 and HC.EXIT == 2
    assert len(set(spec.HYPERCALLS.values())) == len(spec.HYPERCALLS), "duplicate hypercall"


PROBE_MAIN = """
#include <stddef.h>
#include <stdio.h>
#include <hermit/abi.h>

int main(void)
{
"""


def probe_source() -> str:
    """A C program printing, per line, NAME VALUE for every layout fact the header states."""
    lines = [PROBE_MAIN]

    def emit(label: str, expr: str) -> None:
        lines.append(f'\tprintf("{label} %llu\\n", (unsigned long long)({expr}));')

    for name in spec.CONSTANTS:
        emit(f"C.{name}", f"HERMIT_{name}")
    for name in spec.HYPERCALLS:
        emit(f"HC.{name}", f"HC_{name}")
    for name, fields in spec.STRUCTS.items():
        emit(f"sizeof.{name}", f"sizeof(struct {name})")
        emit(f"SIZEOF.{name}", f"{name.upper()}_SIZEOF")
        for f in fields:
            emit(f"offsetof.{name}.{f}", f"offsetof(struct {name}, {f})")
            emit(f"sizeof.{name}.{f}", f"sizeof(((struct {name} *)0)->{f})")
            emit(f"OFF.{name}.{f}", f"{name.upper()}_OFF_{f.upper()}")
    lines.append("\treturn 0;\n}\n")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def header_facts(tmp_path_factory) -> dict[str, int]:
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.skip("no host C compiler")
    work = tmp_path_factory.mktemp("abi")
    (work / "hermit").mkdir()
    (work / "hermit" / "abi.h").write_text(gen_c.render())
    (work / "probe.c").write_text(probe_source())
    r = subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-I", str(work), "probe.c",
                        "-o", "probe"], cwd=work, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(work / "probe")], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    return {k: int(v) for k, v in (ln.split() for ln in out.splitlines())}


def test_header_constants_match(header_facts):
    for name, value in spec.CONSTANTS.items():
        assert header_facts[f"C.{name}"] == value == getattr(C, name), name
    for name, nr in spec.HYPERCALLS.items():
        assert header_facts[f"HC.{name}"] == nr == getattr(HC, name), name


@pytest.mark.parametrize("name", list(spec.STRUCTS))
def test_header_struct_matches(header_facts, name):
    st = getattr(S, name)
    assert header_facts[f"sizeof.{name}"] == st.size
    assert header_facts[f"SIZEOF.{name}"] == st.size
    for f in st.fields:
        assert header_facts[f"offsetof.{name}.{f}"] == st.offset[f], f
        assert header_facts[f"OFF.{name}.{f}"] == st.offset[f], f
        assert header_facts[f"sizeof.{name}.{f}"] == 8, f


def test_header_serves_assembly(tmp_path):
    """Under __ASSEMBLER__ the header keeps its #defines and drops the C declarations."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.skip("no host C compiler")
    (tmp_path / "hermit").mkdir()
    (tmp_path / "hermit" / "abi.h").write_text(gen_c.render())
    (tmp_path / "use.S").write_text(
        "#include <hermit/abi.h>\n"
        "\tmovq $HERMIT_BOOT_INFO_ADDR, %rax\n"
        "\tmovq BOOT_INFO_OFF_MEM_SIZE(%rax), %rbx\n"
        "\tmovw $(HERMIT_HC_PORT_BASE + HC_EXIT), %dx\n")
    r = subprocess.run([cc, "-c", "-I", str(tmp_path), "use.S", "-o", "use.o"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "use.o").stat().st_size > 0


# --- toolchain ----------------------------------------------------------------------------------

def parse_cross_file(text: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser()
    cp.read_string(text)
    return cp


@pytest.mark.parametrize("prefix", ["/opt/hermit", "/opt/hermit/", "/home/me/sdk-1.0"])
def test_render_cross_file(prefix):
    text = toolchain.render_cross_file(prefix)
    p = prefix.rstrip("/")
    cp = parse_cross_file(text)
    assert set(cp.sections()) == {"binaries", "host_machine", "properties"}
    assert cp["binaries"]["c"] == f"'{p}/bin/x86_64-hermit-gcc'"
    assert cp["binaries"]["cpp"] == f"'{p}/bin/x86_64-hermit-g++'"
    assert cp["binaries"]["fortran"] == f"'{p}/bin/x86_64-hermit-gfortran'"
    assert cp["binaries"]["ar"] == f"'{p}/bin/x86_64-hermit-ar'"
    assert cp["binaries"]["strip"] == f"'{p}/bin/x86_64-hermit-strip'"
    assert cp["binaries"]["exe_wrapper"] == f"['{p}/bin/proxy']"
    assert cp["host_machine"]["system"] == "'hermit'"
    assert cp["host_machine"]["cpu_family"] == "'x86_64'"
    assert cp["properties"]["hermit_prefix"] == f"'{p}'"
    assert "//" not in text.replace("# ", "")


def test_cross_file_carries_the_cpu_options():
    flags = ["-mtune=skylake", "-march=x86-64-v2"]
    cp = parse_cross_file(toolchain.render_cross_file("/opt/hermit", flags))
    for lang in ("c", "cpp", "fortran"):
        assert cp["built-in options"][f"{lang}_args"] == "['-mtune=skylake', '-march=x86-64-v2']"
    with pytest.raises(ValueError, match="not a CPU flag"):
        toolchain.render_cross_file("/opt/hermit", ["-mtune=x'; evil"])


def test_toolchain_install_byte_compiles_the_loader(tmp_path):
    pkg = tmp_path / "opt/sdk/lib/hermit/python/hermit_build"
    pkg.mkdir(parents=True)
    (pkg / "mod.py").write_text("X = 1\n")
    assert toolchain.main(["install", "--prefix", "/opt/sdk", "--destdir", str(tmp_path)]) == 0
    assert list((pkg / "__pycache__").glob("mod.*.pyc"))


def test_toolchain_cli_writes_cross_files_with_cpu_flags(tmp_path):
    outs = [tmp_path / "a", tmp_path / "b.ini"]
    argv = ["cross-file", "--prefix", "/srv/h", "--cpu-flag=-mtune=znver3"]
    assert toolchain.main([*argv, "-o", str(outs[0]), "-o", str(outs[1])]) == 0
    assert outs[0].read_text() == outs[1].read_text() == \
        toolchain.render_cross_file("/srv/h", ["-mtune=znver3"])
    assert toolchain.main(["cross-file", "--prefix", "/srv/h", "--cpu-flag=-mtune=a b"]) == 1


def test_toolchain_cli_writes_cross_file(tmp_path):
    out = tmp_path / "x.ini"
    assert toolchain.main(["cross-file", "--prefix", "/srv/h", "-o", str(out)]) == 0
    assert out.read_text() == toolchain.render_cross_file("/srv/h")


def test_python_dependencies_are_listed_once():
    """pyproject.toml lists them; nox installs exactly those, and the hermit-loader package
    depends on their Debian packages (tools/install-deps reads the same table)."""
    import tomllib

    from hermit_build.deb.layout import package_named

    meta = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    deps = meta["project"]["dependencies"]
    debian = meta["tool"]["hermit"]["debian"]
    assert sorted(debian) == sorted(deps)
    loader = package_named("hermit-loader").depends
    # besides the interpreter and the C library (the compiled transfers, pyext/)
    assert [d for d in loader if not d.startswith(("python3 ", "libc6"))] == \
        [debian[d] for d in deps]


# --- the poller's cost test ---------------------------------------------------------------------


@pytest.mark.parametrize("calls, ran_ms, pays", [(500, 3.0, True), (4, 7.0, True),
                                                  (4, 3.0, False)])
def test_the_poller_stands_aside_when_it_shares_a_cpu(calls, ran_ms, pays):
    """10 ms spinning: it goes on when calls came often (a call every 25 us) or when it
    was on a cpu for 7 of the 10 ms (the guest computing between its calls); it stands
    aside when few calls came and it ran for 3 (sharing a cpu with the vCPU)."""
    import time

    from hermit_build.poller import BACKOFF_S, Poller

    p = Poller(services=None, cpus=1, fail=None)
    p._cpu_free = lambda: True
    p.served = calls
    start, cpu = time.monotonic() - 0.010, time.thread_time() - ran_ms / 1e3
    assert p._pays(start, 0, cpu) is pays
    assert (p.busy_until > time.monotonic() + BACKOFF_S / 2) is not pays
