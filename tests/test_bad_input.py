"""Bad input: one clear line on stderr, a non-zero exit, never a traceback or a hung VM."""

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

import pytest
from conftest import KVM, NO_KVM, clean_env, run


def one_line_error(r, *needles):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], r.stderr


def test_missing_file(sdk, tmp_path):
    r = run(sdk, str(tmp_path / "nope"))
    one_line_error(r, "no such file")


def test_not_elf(sdk, tmp_path):
    f = tmp_path / "text"
    f.write_text("hello\n")
    one_line_error(run(sdk, str(f)), "not an ELF file")


def test_host_binary_is_not_hermit(sdk):
    one_line_error(run(sdk, shutil.which("true")), "not a hermit image", "x86_64-hermit-gcc")


def test_other_architecture(sdk, tmp_path):
    data = bytearray((sdk / "extra/tests/hello").read_bytes())
    data[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    f = tmp_path / "arm"
    f.write_bytes(data)
    one_line_error(run(sdk, str(f)), "not an x86_64 ELF")


def test_truncated_image(sdk, tmp_path):
    data = (sdk / "extra/tests/hello").read_bytes()
    f = tmp_path / "short"
    f.write_bytes(data[:5000])
    one_line_error(run(sdk, str(f)), "corrupt")


@pytest.mark.parametrize("var,value,needle", [
    ("HERMIT_MEM", "lots", "HERMIT_MEM='lots' is not a size"),
    ("HERMIT_MEM", "1M", "too small"),
    ("HERMIT_MEM", "65G", "HERMIT_MEM='65G' is too large: hermit gives a guest at most 64G"),
    ("HERMIT_CPUS", "zero", "HERMIT_CPUS='zero'"),
    ("HERMIT_CPUS", "0", "HERMIT_CPUS='0'"),
    ("HERMIT_ISLE", "xen", "HERMIT_ISLE='xen'"),
])
def test_malformed_settings(sdk, var, value, needle):
    one_line_error(run(sdk, "extra/tests/hello", env={var: value}), needle)


@pytest.mark.parametrize("isle", ["uhyve", "qemu"])
def test_too_much_memory_for_the_cli(sdk, isle):
    r = subprocess.run([str(sdk / "bin/hermit"), "run", "--isle", isle, "--mem", "100G",
                        str(sdk / "extra/tests/hello")],
                       env=clean_env(), capture_output=True, text=True, timeout=60)
    one_line_error(r, "--mem='100G' is too large", "at most 64G")


def test_uhyve_without_kvm(sdk):
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "uhyve",
                                           "HERMIT_KVM_DEVICE": "/nonexistent/kvm"})
    one_line_error(r, "uhyve needs KVM", "/nonexistent/kvm", "HERMIT_ISLE=qemu")


def test_qemu_not_installed(sdk, tmp_path):
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "qemu", "PATH": str(tmp_path)})
    one_line_error(r, "QEMU not found", "apt-get install qemu-system-x86")


@pytest.mark.parametrize("isle", ["uhyve", "qemu"])
def test_hanging_guest_times_out(sdk, isle):
    if isle == "uhyve" and not KVM:
        pytest.skip(NO_KVM)
    start = time.monotonic()
    r = run(sdk, "extra/tests/hang", env={"HERMIT_ISLE": isle, "HERMIT_TIMEOUT": "2"})
    assert time.monotonic() - start < 20
    assert r.returncode == 124
    assert r.stdout == "hanging\n"
    assert "did not exit within 2" in r.stderr
    assert "Traceback" not in r.stderr
    if isle == "uhyve":  # where the guest was looping
        assert re.search(r"^hermit: vCPU 0 was at 0x[0-9a-f]+ main\+0x", r.stderr, re.M), r.stderr
    left = subprocess.run(["pgrep", "-f", f"{sdk}/extra/tests/hang"], capture_output=True)
    assert left.returncode == 1, "a QEMU process was left behind"


def test_cli_timeout_flag(sdk):
    r = subprocess.run([str(sdk / "bin/hermit"), "run", "--isle", "qemu", "--no-kvm",
                        "--timeout", "1", str(sdk / "extra/tests/hang")],
                       env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 124, r.stderr


def test_no_arguments_prints_usage(sdk):
    r = subprocess.run([str(sdk / "bin/proxy")], env=clean_env(), capture_output=True, text=True)
    assert r.returncode == 2
    assert "usage: proxy APP" in r.stderr


def test_kvm_device_override_is_only_for_uhyve(sdk):
    # HERMIT_KVM=0 QEMU must not need /dev/kvm at all.
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0",
                                           "HERMIT_KVM_DEVICE": "/nonexistent/kvm"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Hello World!!!"), r.stdout  # the guest ran under TCG


# --- issue 9, section 3: every input ends in one line and a status, or simply works ------------

BOTH = ["uhyve", "qemu"]


def one_line(r, status, *needles):
    """Exactly one line on stderr, no traceback, and the given status."""
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert r.returncode == status, r.stderr
    for n in needles:
        assert n in lines[0], r.stderr


def isle_env(isle: str, **extra: str) -> dict[str, str]:
    if isle == "uhyve" and not KVM:
        pytest.skip(NO_KVM)
    return {"HERMIT_ISLE": isle, "HERMIT_KVM": "1" if KVM else "0", **extra}


def hermit_run(sdk, *args: str, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(sdk / "bin/hermit"), "run", *args], env=clean_env(**(env or {})),
                          capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.parametrize("isle", BOTH)
@pytest.mark.parametrize("value,needle", [
    ("-1", "is not a number of seconds"), ("nan", "is not a number of seconds"),
    ("inf", "is not a number of seconds"), ("abc", "is not a number of seconds"),
    ("1e3", "is not a number of seconds"), ("", "is not a number of seconds"),
    ("1.2.3", "is not a number of seconds"), ("31622401", "is too long; the most is 31622400"),
])
def test_timeout_grammar_rejects(sdk, isle, value, needle):
    env = isle_env(isle, HERMIT_TIMEOUT=value)
    one_line(run(sdk, "extra/tests/hello", env=env, timeout=30), 1,
             f"HERMIT_TIMEOUT={value!r}", needle)
    r = hermit_run(sdk, "--isle", isle, f"--timeout={value}", str(sdk / "extra/tests/hello"),
                   env={"HERMIT_KVM": env["HERMIT_KVM"]})
    one_line(r, 1, f"--timeout={value!r}", needle)


@pytest.mark.parametrize("isle", BOTH)
@pytest.mark.parametrize("value", ["0", "2592000", "31622400", "7.5", ".5"])
def test_timeout_grammar_accepts(sdk, isle, value):
    r = run(sdk, "extra/tests/hello", env=isle_env(isle, HERMIT_TIMEOUT=value), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Hello World!!!") and r.stderr == ""


@pytest.mark.parametrize("isle", BOTH)
def test_fractional_timeout_stops_a_hang(sdk, isle):
    r = run(sdk, "extra/tests/hang", env=isle_env(isle, HERMIT_TIMEOUT="1.5"), timeout=30)
    assert r.returncode == 124 and "did not exit within 1.5 s" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def bad_paths(tmp_path) -> dict[str, tuple[str, str]]:
    """name -> (path, what the line says)"""
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "file").write_text("x")
    return {
        "symlink-loop": (str(tmp_path / "loop1"), "symbolic links"),
        "fifo": (str(tmp_path / "fifo"), "is a FIFO, not an image file"),
        "dev-zero": ("/dev/zero", "is a character device, not an image file"),
        "through-a-file": (str(tmp_path / "file/x"), "not a directory"),
        "long-name": (str(tmp_path / ("n" * 300)), "file name too long"),
        "proc-self-mem": ("/proc/self/mem", "cannot read it"),
        "dev-kvm": ("/dev/kvm", "not an image file" if os.path.exists("/dev/kvm")
                    else "no such file"),
        "directory": (str(tmp_path), "is a directory"),
    }


@pytest.mark.parametrize("isle", BOTH)
@pytest.mark.parametrize("name", ["symlink-loop", "fifo", "dev-zero", "through-a-file",
                                  "long-name", "proc-self-mem", "dev-kvm", "directory"])
def test_image_paths_that_are_no_image(sdk, tmp_path, isle, name):
    path, needle = bad_paths(tmp_path)[name]
    start = time.monotonic()
    r = run(sdk, path, env=isle_env(isle), timeout=30)
    assert time.monotonic() - start < 10
    one_line(r, 1, needle)
    assert len(r.stderr) < 400  # a 300-byte name is shortened in the message


@pytest.mark.parametrize("isle", BOTH)
def test_huge_sparse_image_reads_only_its_segments(sdk, tmp_path, isle):
    big = tmp_path / "big"
    big.write_bytes((sdk / "extra/tests/hello").read_bytes())
    os.truncate(big, 3 << 30)
    start = time.monotonic()
    r = run(sdk, str(big), env=isle_env(isle), timeout=60)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < 10  # the whole file read took 26 s


def patched(sdk, tmp_path, offset: int, value: int, size: int = 8) -> str:
    data = bytearray((sdk / "extra/tests/hello").read_bytes())
    data[offset:offset + size] = value.to_bytes(size, "little")
    path = tmp_path / "patched"
    path.write_bytes(data)
    return str(path)


def load_headers(sdk) -> list[tuple[int, int, int]]:
    """hello's PT_LOAD program headers as (file offset of the header, paddr, memsz):
    found, not assumed, so a change of the link layout cannot point a patch elsewhere."""
    data = (sdk / "extra/tests/hello").read_bytes()
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    heads = []
    for i in range(phnum):
        at = phoff + i * 56
        ptype, = struct.unpack_from("<I", data, at)
        paddr, _filesz, memsz = struct.unpack_from("<3Q", data, at + 24)
        if ptype == 1 and memsz:
            heads.append((at, paddr, memsz))
    assert len(heads) >= 2, heads
    return heads


def bad_segment(sdk, what: str) -> tuple[int, int, str]:
    """(offset, value, needle) that break one check of hello's loadable segments."""
    heads = load_headers(sdk)
    last_at, last_paddr, _ = heads[-1]
    if what == "segment-beyond-ram":  # the last segment's memsz
        memsz = 0x8000000
        need = (last_paddr + memsz + (1 << 20) - 1) >> 20
        return (last_at + 40, memsz,
                f"needs {need} MiB of guest memory but HERMIT_MEM is 64 MiB: raise HERMIT_MEM")
    if what == "segment-beyond-the-boot-map":
        return last_at + 40, 0x7F000000, "beyond the 1024 MiB the boot page tables map"
    (_, first_paddr, first_memsz), (second_at, _, _) = heads[0], heads[1]
    assert first_memsz > 0x1000
    return second_at + 24, first_paddr + 0x1000, "loadable segments overlap"  # its paddr


@pytest.mark.parametrize("isle", BOTH)
@pytest.mark.parametrize("what,offset,value,needle", [
    ("entry", 24, 0x100000000, "entry point 0x100000000 lies in no loaded segment"),
    ("segment-beyond-ram", None, None, None),
    ("segment-beyond-the-boot-map", None, None, None),
    ("overlapping-segments", None, None, None),
    ("elf-flags", 48, 1 | 0x40 << 32 | 56 << 48, "ELF flags 0x1"),  # e_ehsize, e_phentsize kept
])
def test_one_check_of_the_image_for_both_loaders(sdk, tmp_path, isle, what, offset, value,
                                                 needle):
    if offset is None:
        offset, value, needle = bad_segment(sdk, what)
    r = run(sdk, patched(sdk, tmp_path, offset, value), env=isle_env(isle, HERMIT_MEM="64M"),
            timeout=30)
    one_line(r, 1, needle)


def test_qemu_needs_the_pvh_note(sdk, tmp_path):
    data = (sdk / "extra/tests/hello").read_bytes()
    at = data.index(b"Xen\0") - 12  # the note header: namesz, descsz, type
    path = patched(sdk, tmp_path, at + 8, 99, 4)
    one_line(run(sdk, path, env=isle_env("qemu"), timeout=30), 1, "no PVH entry note")
    if KVM:  # uhyve starts at e_entry and needs no note
        assert run(sdk, path, env=isle_env("uhyve"), timeout=30).returncode == 0


def shell(sdk, loader: dict[str, str], redirections: str, app: str = "hello",
          stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """The proxy started by a shell with some of its fds 0-2 closed."""
    cmd = f'exec "{sdk}/bin/proxy" "{sdk}/extra/tests/{app}" {redirections}'
    return subprocess.run(["sh", "-c", cmd], env=clean_env(**loader),
                          stdin=stdin, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("redirections,status", [
    ("", 0), ("<&-", 1), (">&-", 2), ("2>&-", 4), ("<&- >&- 2>&-", 7), ("<&- 2>&-", 5)])
def test_closed_std_fds_stay_closed_in_the_guest(sdk, loader, redirections, status):
    # stdfds' status has bit n set when the guest's fd n is closed (EBADF, not EINVAL
    # from whatever the loader opened there: status 100)
    r = shell(sdk, loader, redirections, "stdfds")
    assert r.returncode == status, r.stderr
    assert "Traceback" not in r.stderr


def test_hello_with_stdout_closed_exits_0(sdk, loader):
    # like Linux's `hello >&-`: printf fails quietly
    r = shell(sdk, loader, ">&-")
    assert (r.returncode, r.stderr) == (0, "")
    r = shell(sdk, loader, ">/dev/full")
    assert (r.returncode, r.stderr) == (0, "")


def test_crash_report_to_a_full_disk_keeps_the_status(sdk, loader):
    with open("/dev/full", "w") as full:
        r = subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/crash_null")],
                           env=clean_env(**loader), stdout=subprocess.PIPE, stderr=full,
                           timeout=60)
    assert r.returncode == 139


@pytest.mark.parametrize("isle", BOTH)
def test_arguments_over_4_mib(sdk, isle):
    import resource

    def big_stack():  # so that Linux itself accepts the exec
        resource.setrlimit(resource.RLIMIT_STACK, (64 << 20, resource.RLIM_INFINITY))

    def proxy(n: int) -> subprocess.CompletedProcess:
        args = ["x" * 100_000] * n
        return subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/hello"), *args],
                              env=clean_env(**isle_env(isle)), capture_output=True, text=True,
                              timeout=60, preexec_fn=big_stack)

    one_line(proxy(45), 126, "arguments and environment take", "at most 4 MiB")
    r = proxy(40)
    assert r.returncode == 0, r.stderr  # 4 MB pass


@pytest.mark.parametrize("isle", BOTH)
def test_minimum_memory(sdk, isle):
    one_line(run(sdk, "extra/tests/hello", env=isle_env(isle, HERMIT_MEM="16M")), 1,
             "HERMIT_MEM='16M' is too small; hermit needs at least 32M")
    r = run(sdk, "extra/tests/hello", env=isle_env(isle, HERMIT_MEM="32M", HERMIT_CPUS="4"))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("isle", BOTH)
def test_too_little_memory_for_the_stack_says_so(sdk, isle):
    # below the minimum through the Python API: the kernel's own line reaches stderr
    code = ("import sys; from hermit_build.config import RunConfig; "
            "from hermit_build.proxy import launch, run_guarded; i = sys.argv[1]; "
            f"sys.exit(run_guarded(lambda: launch(RunConfig(image=i, argv=[i], "
            f"mem=16 << 20, isle={isle!r}, kvm={KVM})), 'proxy'))")
    r = subprocess.run([sys.executable, "-c", code, str(sdk / "extra/tests/hello")],
                       env=clean_env(PYTHONPATH=str(sdk / "lib/hermit/python"),
                                     **isle_env(isle)),
                       capture_output=True, text=True, timeout=60)
    one_line(r, 127, "16 MiB of guest memory leave no room", "raise HERMIT_MEM")


@pytest.mark.parametrize("tool,module", [("proxy", "proxy"), ("hermit", "cli")])
def test_ctrl_c_while_importing(sdk, tmp_path, tool, module):
    # The real entry script over a hermit_build whose loader module takes long to import
    # (and says when it started): Ctrl-C then is one line and 130, not a traceback.
    # (Before the script's first line, in CPython's own start-up, Python decides.)
    (tmp_path / "bin").mkdir()
    shutil.copy(sdk / "bin" / tool, tmp_path / "bin" / tool)
    pkg = tmp_path / "lib/hermit/python/hermit_build"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    shutil.copy(sdk / "lib/hermit/python/hermit_build/stdfds.py", pkg)
    marker = tmp_path / "importing"
    (pkg / f"{module}.py").write_text(
        f"import time\nopen({str(marker)!r}, 'w').close()\ntime.sleep(30)\n"
        "def main():\n    return 0\n")
    p = subprocess.Popen([str(tmp_path / "bin" / tool), "x"], env=clean_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=10)
    assert (p.returncode, err) == (130, f"{tool}: interrupted\n")


def test_ctrl_c_while_running(sdk):
    p = subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / "extra/tests/hang")],
                         env=clean_env(HERMIT_TIMEOUT="20", HERMIT_ISLE="uhyve" if KVM else "qemu"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "hanging\n"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=10)
    assert (p.returncode, err) == (130, "proxy: interrupted\n")


def test_monitor_port_past_65535(sdk):
    one_line(run(sdk, "extra/tests/hello", env=isle_env("qemu", HERMIT_MONITOR="1",
                                                        HERMIT_PORT="65535")),
             1, "HERMIT_PORT=65535 leaves no port for the monitor", "at most 65534")


def test_uart_without_newline_is_flushed_at_a_bound(capfd):
    from hermit_build.uhyve.vcpu import UART_LINE_MAX, Vcpu

    v = Vcpu.__new__(Vcpu)
    v.uart_line = bytearray()
    for _ in range(3 * UART_LINE_MAX):
        v.uart_out(b"x")
        assert len(v.uart_line) < UART_LINE_MAX
    assert capfd.readouterr().err == "x" * (3 * UART_LINE_MAX)


def test_read_cstr_up_to_the_end_of_a_block():
    from hermit_build.guestmem import GuestFault, GuestMemory

    low, high = bytearray(8192), bytearray(4096)
    mem = GuestMemory([(0, 8192, low, 0), (1 << 32, 4096, high, 0)])
    low[8190:8192] = b"a\0"
    assert mem.read_cstr(8190) == b"a"  # ends 1 byte before the end of the block
    assert mem.read_cstr(8191) == b""
    assert mem.read_cstr(0x1000, limit=10) == b""
    high[4000:] = b"y" * 96
    with pytest.raises(GuestFault):  # runs off the end without a NUL
        mem.read_cstr((1 << 32) + 4000)
    assert mem.read_cstr((1 << 32) + 4000, limit=50) == b"y" * 50
    with pytest.raises(GuestFault):
        mem.read_cstr(8192)  # in the hole


@pytest.mark.parametrize("text,seconds", [
    ("0", None), ("0.0", None), ("30", 30.0), ("2.5", 2.5), (".5", 0.5), ("7.", 7.0),
    (" 12 ", 12.0), ("2592000", 2592000.0), ("31622400", 31622400.0)])
def test_timeout_grammar(text, seconds):
    from hermit_build.config import parse_timeout

    assert parse_timeout(text) == seconds


@pytest.mark.parametrize("text", ["-1", "+1", "nan", "inf", "1e3", "0x10", "", ".", "1.2.3",
                                  "1_000", "١٢", "31622400.5", "9" * 400])
def test_timeout_grammar_rejects_unit(text):
    from hermit_build.config import ConfigError, parse_timeout

    with pytest.raises(ConfigError) as e:
        parse_timeout(text, "--timeout")
    assert str(e.value).startswith(f"--timeout={text!r} is ")


def test_huge_sparse_crashing_image_reports_quickly(sdk, tmp_path):
    big = tmp_path / "big"
    big.write_bytes((sdk / "extra/tests/crash_null").read_bytes())
    os.truncate(big, 3 << 30)
    start = time.monotonic()
    r = run(sdk, str(big), env=isle_env("uhyve" if KVM else "qemu"), timeout=60)
    assert r.returncode == 139
    assert "hermit: guest crashed in the application: page fault" in r.stderr
    assert "Traceback" not in r.stderr
    assert time.monotonic() - start < 20  # the symbolizer does not read the 3 GB


def test_output_to_a_full_disk(sdk):
    with open("/dev/full", "w") as full:
        r = subprocess.run([str(sdk / "bin/hermit"), "inspect", str(sdk / "extra/tests/hello")],
                           env=clean_env(), stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=60)
    one_line(r, 1, "hermit: No space left on device")
