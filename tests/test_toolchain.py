"""The installed SDK as an application developer uses it, from outside the source tree:
x86_64-hermit-gcc (compile, assemble, preprocess, link, libm), make and Meson projects,
symbol isolation from the kernel, a relocated install tree and the wrapper's errors."""

import math
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import clean_env, run

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sdk"
TCG = {"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0"}
MYAPP_ARGS = ("arg1", "hello world")
MYAPP_OUT = "myapp: 2 argument(s)\nHELLO WORLD\nARG1\nbuilt with __hermit__\n"
MYAPP_STATUS = len("arg1") + len("hello world")


def hcc(sdk: Path, *args: str, cwd: Path, env: dict[str, str] | None = None,
        check: bool = True, prog: str = "bin/x86_64-hermit-gcc") -> subprocess.CompletedProcess:
    """Run the SDK's compiler wrapper in cwd; by default it must succeed."""
    r = subprocess.run([str(sdk / prog), *args], cwd=cwd, env=clean_env(**(env or {})),
                       capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, f"x86_64-hermit-gcc {' '.join(args)} failed:\n{r.stderr}"
    return r


def elf_header(path: Path) -> tuple[bytes, int, int]:
    """(e_ident, e_type, e_entry) of an ELF file."""
    data = path.read_bytes()[:64]
    assert data[:4] == b"\x7fELF", f"{path} is not an ELF file"
    etype, _machine, _version, entry = struct.unpack_from("<HHIQ", data, 16)
    return data[:16], etype, entry


def assert_hermit_image(path: Path) -> None:
    ident, etype, _entry = elf_header(path)
    assert ident[7] == 0x42, f"{path}: ELF OSABI {ident[7]:#x}, not hermit's 0x42"
    assert etype == 2, f"{path}: ELF type {etype}, not an executable"


def copy_fixture(name: str, dest: Path) -> Path:
    src = FIXTURES / name
    if src.is_dir():
        shutil.copytree(src, dest / name)
    else:
        shutil.copy(src, dest / name)
    return dest / name


@pytest.fixture(scope="module")
def myapp(sdk, tmp_path_factory) -> Path:
    """myapp.c built with -O2 in a temporary directory outside the tree."""
    work = tmp_path_factory.mktemp("myapp")
    copy_fixture("myapp.c", work)
    hcc(sdk, "-O2", "myapp.c", "-o", "myapp", cwd=work)
    return work / "myapp"


# --- x86_64-hermit-gcc --------------------------------------------------------------------------

def test_app_runs_with_args(sdk, myapp, loader):
    r = run(sdk, str(myapp), *MYAPP_ARGS, env=loader, cwd=myapp.parent)
    assert r.stdout == MYAPP_OUT, r.stderr
    assert r.returncode == MYAPP_STATUS, r.stderr


def test_app_without_args(sdk, myapp):
    r = run(sdk, str(myapp), env=TCG)
    assert r.stdout == "myapp: 0 argument(s)\nbuilt with __hermit__\n", r.stderr
    assert r.returncode == 0, r.stderr


def test_image_is_marked_and_inspectable(sdk, myapp):
    assert_hermit_image(myapp)
    _ident, _etype, entry = elf_header(myapp)
    r = subprocess.run([str(sdk / "bin/hermit"), "inspect", str(myapp)], env=clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{myapp}: hermit image, entry {entry:#x}"
    assert "load 0x00200000" in r.stdout
    assert "above the kernel base" in lines[-1]


def test_inspect_rejects_an_unmarked_image(sdk, myapp, tmp_path):
    data = bytearray(myapp.read_bytes())
    data[7] = 0  # ELFOSABI_SYSV, as a plain `gcc` would leave it
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    r = subprocess.run([str(sdk / "bin/hermit"), "inspect", str(plain)], env=clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1, r.stderr
    assert "not a hermit image (ELF OSABI 0x0, expected 0x42)" in r.stderr


def test_compile_then_link(sdk, tmp_path):
    proj = copy_fixture("make", tmp_path)
    hcc(sdk, "-O2", "-c", "main.c", cwd=proj)
    hcc(sdk, "-O2", "-c", "fib.c", "-o", "fib.o", cwd=proj)
    for obj in ("main.o", "fib.o"):
        _ident, etype, _entry = elf_header(proj / obj)
        assert etype == 1, f"{obj} is not a relocatable object"
    assert not (proj / "a.out").exists()
    hcc(sdk, "main.o", "fib.o", "-o", "fibs", cwd=proj)
    assert_hermit_image(proj / "fibs")
    r = run(sdk, str(proj / "fibs"), "10", "50", env=TCG)
    assert r.stdout == "fib(10) = 55\nfib(50) = 12586269025\n", r.stderr
    assert r.returncode == 2


def test_link_without_output_name_writes_a_out(sdk, tmp_path):
    copy_fixture("myapp.c", tmp_path)
    hcc(sdk, "myapp.c", cwd=tmp_path)
    assert_hermit_image(tmp_path / "a.out")
    r = run(sdk, str(tmp_path / "a.out"), "xy", env=TCG)
    assert r.returncode == 2, r.stderr
    assert "XY\n" in r.stdout


def test_assembly_output_builds_and_runs(sdk, tmp_path):
    copy_fixture("myapp.c", tmp_path)
    hcc(sdk, "-O2", "-S", "myapp.c", cwd=tmp_path)
    asm = (tmp_path / "myapp.s").read_text()
    assert "main:" in asm and ".text" in asm
    assert not (tmp_path / "myapp").exists() and not (tmp_path / "a.out").exists()
    hcc(sdk, "myapp.s", "-o", "from-asm", cwd=tmp_path)
    assert_hermit_image(tmp_path / "from-asm")
    r = run(sdk, str(tmp_path / "from-asm"), *MYAPP_ARGS, env=TCG)
    assert (r.stdout, r.returncode) == (MYAPP_OUT, MYAPP_STATUS), r.stderr


def test_verbose_build_is_still_a_hermit_build(sdk, tmp_path):
    """`-v` shows the commands (a common way to debug a build); the result must not change."""
    copy_fixture("myapp.c", tmp_path)
    r = hcc(sdk, "-v", "-O2", "myapp.c", "-o", "myapp", cwd=tmp_path)
    assert_hermit_image(tmp_path / "myapp")
    assert "musl" in r.stderr, "-v did not show musl's include directory"
    r = run(sdk, str(tmp_path / "myapp"), *MYAPP_ARGS, env=TCG)
    assert (r.stdout, r.returncode) == (MYAPP_OUT, MYAPP_STATUS), r.stderr


def test_info_queries_pass_through(sdk, tmp_path):
    r = hcc(sdk, "--version", cwd=tmp_path)
    assert r.stdout.splitlines()[0]
    r = hcc(sdk, "-print-libgcc-file-name", cwd=tmp_path)
    assert Path(r.stdout.strip()).name == "libgcc.a"
    assert not (tmp_path / "a.out").exists()


def test_installed_abi_header_is_the_generated_one(sdk):
    from hermit_build.abi import gen_c

    installed = sdk / "x86_64-hermit" / "include" / "hermit" / "abi.h"
    assert installed.read_text() == gen_c.render()


def test_preprocessor_uses_musl_headers(sdk, tmp_path):
    src = tmp_path / "pp.c"
    src.write_text("#include <stdio.h>\nint marker = __hermit__;\n")
    r = hcc(sdk, "-E", "pp.c", cwd=tmp_path)
    assert "int marker = 1;" in r.stdout
    headers = {line.split('"')[1] for line in r.stdout.splitlines()
               if line.startswith("# ") and '"' in line}
    stdio = [h for h in headers if h.endswith("/stdio.h")]
    assert stdio and all("musl" in h for h in stdio), stdio
    assert not any(h.startswith("/usr/include/x86_64-linux-gnu") for h in headers), headers
    macros = hcc(sdk, "-E", "-dM", "pp.c", cwd=tmp_path).stdout.splitlines()
    assert "#define __hermit__ 1" in macros
    assert not any(m.startswith("#define __GLIBC__") for m in macros), "glibc headers leaked in"
    # musl's bits/alltypes.h guards each typedef with __DEFINED_<type>; glibc has no such macros
    assert "#define __DEFINED_size_t " in macros


def test_debug_info_names_the_source(sdk, tmp_path):
    copy_fixture("myapp.c", tmp_path)
    hcc(sdk, "-g", "-O2", "myapp.c", "-o", "dbg", cwd=tmp_path)
    hcc(sdk, "-O2", "myapp.c", "-o", "nodbg", cwd=tmp_path)
    readelf = str(sdk / "bin/x86_64-hermit-readelf")

    def dwarf(image: str) -> str:
        return subprocess.run([readelf, "--debug-dump=info", image], cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout

    assert "myapp.c" in dwarf("dbg")
    assert "myapp.c" not in dwarf("nodbg")
    nm = subprocess.run([str(sdk / "bin/x86_64-hermit-nm"), "dbg"], cwd=tmp_path,
                        capture_output=True, text=True, check=True).stdout
    main = next(ln.split()[0] for ln in nm.splitlines() if ln.endswith(" T main"))
    where = subprocess.run([str(sdk / "bin/x86_64-hermit-addr2line"), "-e", "dbg", main],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert where.split(":")[0].endswith("myapp.c"), where
    r = run(sdk, str(tmp_path / "dbg"), *MYAPP_ARGS, env=TCG)
    assert (r.stdout, r.returncode) == (MYAPP_OUT, MYAPP_STATUS), r.stderr


def test_defines_and_include_dirs(sdk, tmp_path):
    copy_fixture("defines.c", tmp_path)
    inc = str(FIXTURES / "include")
    hcc(sdk, "-I", inc, '-DGREETING="hi there"', "defines.c", "-o", "defines", cwd=tmp_path)
    r = run(sdk, str(tmp_path / "defines"), env=TCG)
    assert r.stdout == "hi there, the answer is 42\n", r.stderr
    assert r.returncode == 42


def test_compile_error_is_reported_and_leaves_no_image(sdk, tmp_path):
    copy_fixture("defines.c", tmp_path)
    r = hcc(sdk, f"-I{FIXTURES / 'include'}", "defines.c", "-o", "defines", cwd=tmp_path,
            check=False)
    assert r.returncode != 0
    assert "GREETING is not defined" in r.stderr
    assert not (tmp_path / "defines").exists()


def test_link_error_is_reported_and_leaves_no_image(sdk, tmp_path):
    (tmp_path / "undef.c").write_text(
        "int not_defined_anywhere(void);\nint main(void) { return not_defined_anywhere(); }\n")
    r = hcc(sdk, "undef.c", "-o", "undef", cwd=tmp_path, check=False)
    assert r.returncode != 0
    assert "not_defined_anywhere" in r.stderr
    assert not (tmp_path / "undef").exists()


@pytest.fixture(scope="module")
def mathapp(sdk, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("mathapp")
    copy_fixture("mathapp.c", work)
    hcc(sdk, "-O2", "mathapp.c", "-o", "mathapp", "-lm", cwd=work)
    return work / "mathapp"


def test_libm(sdk, mathapp, loader):
    x, n = 30.25, 3
    r = run(sdk, str(mathapp), str(x), str(n), env=loader)
    assert r.stdout.splitlines() == [
        f"sqrt({x:g}) = {math.sqrt(x):.6f}",
        f"pow({x:g}, {n}) = {x ** n:.6f}",
        f"cbrt({x:g}) = {x ** (1 / 3):.6f}",
    ], r.stderr
    assert r.returncode == 5


# --- make and Meson projects --------------------------------------------------------------------

def test_make_project(sdk, tmp_path):
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    proj = copy_fixture("make", tmp_path)
    r = subprocess.run(["make", "-C", str(proj), f"CC={sdk / 'bin/x86_64-hermit-gcc'}"],
                       env=clean_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (proj / "main.o").exists() and (proj / "fib.o").exists()
    assert_hermit_image(proj / "fibs")
    r = run(sdk, str(proj / "fibs"), "1", "2", "90", env=TCG)
    assert r.stdout == "fib(1) = 1\nfib(2) = 1\nfib(90) = 2880067194370816120\n", r.stderr
    assert r.returncode == 3


def hermit_cli(sdk: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(sdk / "bin/hermit"), *args], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=60)


def test_cross_file_cli(sdk, tmp_path):
    out = tmp_path / "cross.ini"
    r = hermit_cli(sdk, "cross-file", "--prefix", str(sdk), "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert f"c = '{sdk}/bin/x86_64-hermit-gcc'" in text
    assert f"exe_wrapper = ['{sdk}/bin/proxy']" in text
    assert f"hermit_prefix = '{sdk}'" in text


def test_cross_file_cli_defaults_to_its_own_prefix(sdk):
    r = hermit_cli(sdk, "cross-file")
    assert r.returncode == 0, r.stderr
    assert f"c = '{os.path.realpath(sdk)}/bin/x86_64-hermit-gcc'" in r.stdout


def test_meson_project(sdk, tmp_path):
    meson, ninja = shutil.which("meson"), shutil.which("ninja")
    if not meson or not ninja:
        pytest.skip("meson or ninja is not on PATH (`nox -s tests` provides both)")
    cross = tmp_path / "cross.ini"
    r = hermit_cli(sdk, "cross-file", "--prefix", str(sdk), "-o", str(cross))
    assert r.returncode == 0, r.stderr
    proj = copy_fixture("meson", tmp_path)
    env = clean_env(**TCG)

    def step(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True,
                              timeout=120)

    r = step(meson, "setup", "b", "--cross-file", str(cross))
    assert r.returncode == 0, r.stdout + r.stderr
    r = step(ninja, "-C", "b")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_hermit_image(proj / "b" / "calc")
    r = step(meson, "test", "-C", "b", "--print-errorlogs")
    assert r.returncode == 0, r.stdout + r.stderr
    log = (proj / "b" / "meson-logs" / "testlog.txt").read_text()
    assert "calc: 6 * 7 = 42" in log
    assert "calc: 2 ** 10 = 1024" in log
    assert "calc: 2 * 2 = 4" in log  # the should_fail test ran, and failed as it should
    commands = [ln for ln in log.splitlines() if ln.startswith("command:")]
    assert len(commands) == 3
    assert all(f"{sdk}/bin/proxy {proj}/b/calc " in c for c in commands), commands


# --- symbols, relocation, wrapper errors --------------------------------------------------------

def test_app_may_define_kernel_internal_names(sdk, tmp_path, loader):
    copy_fixture("isolation.c", tmp_path)
    hcc(sdk, "-O2", "isolation.c", "-o", "isolation", cwd=tmp_path)
    r = run(sdk, str(tmp_path / "isolation"), "copied-text", env=loader)
    assert r.stdout.splitlines() == [
        "memcpy copied 'copied-text', calls > 0: 1",
        "app kprintf: hello",
        "page_alloc(3, 1) = 12289",
        "kernel_main(14) = 42",
        "syscall_dispatch(60) = 1060",
        "log_init set 7",
    ], r.stderr
    assert r.returncode == 0, r.stderr


@pytest.fixture
def moved_sdk(sdk, tmp_path) -> Path:
    """A copy of the whole installed tree in a new place."""
    dest = tmp_path / "elsewhere" / "hermit"
    shutil.copytree(sdk, dest, symlinks=True)
    return dest


def test_relocated_sdk_builds_and_runs(sdk, moved_sdk, tmp_path):
    # A host-compiler shim records how the wrapper calls gcc, to see which libhermit it links.
    log = tmp_path / "cc.log"
    shim = tmp_path / "logging-gcc"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec gcc "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    copy_fixture("myapp.c", work)
    hcc(moved_sdk, "-O2", "myapp.c", "-o", "myapp", cwd=work, env={"HERMIT_HOST_CC": str(shim)})
    link = [ln for ln in log.read_text().splitlines() if "hermit_entry" in ln]
    assert len(link) == 1, log.read_text()
    assert f"{moved_sdk}/bin/../x86_64-hermit/lib/libhermit.a" in link[0]
    assert str(sdk) not in log.read_text()
    assert_hermit_image(work / "myapp")
    r = run(moved_sdk, str(work / "myapp"), *MYAPP_ARGS, env=dict(TCG, PYTHONVERBOSE="1"))
    assert r.stdout == MYAPP_OUT, r.stderr
    assert r.returncode == MYAPP_STATUS
    loaded = [ln for ln in r.stderr.splitlines() if "hermit_build" in ln and "/" in ln]
    assert loaded, "PYTHONVERBOSE showed no hermit_build imports"
    assert all(str(moved_sdk) in ln for ln in loaded), [ln for ln in loaded
                                                        if str(moved_sdk) not in ln]


def test_relocated_sdk_cross_file_names_the_new_place(moved_sdk):
    r = hermit_cli(moved_sdk, "cross-file")
    assert r.returncode == 0, r.stderr
    assert f"exe_wrapper = ['{moved_sdk}/bin/proxy']" in r.stdout


MUSL_DIRS = ["/usr/lib/x86_64-linux-musl", "/usr/lib/musl/lib", "/usr/local/musl/lib",
             "/usr/include/x86_64-linux-musl", "/usr/lib/musl/include", "/usr/local/musl/include"]


def test_wrapper_without_musl(sdk, tmp_path):
    """Hide musl in a private mount namespace (nothing changes on the host)."""
    if not shutil.which("unshare"):
        pytest.skip("unshare is not installed")
    empty = tmp_path / "empty"
    empty.mkdir()
    mounts = " && ".join(f"mount --bind {empty} {d}" for d in MUSL_DIRS if os.path.isdir(d))
    probe = subprocess.run(["unshare", "-r", "-m", "sh", "-c", mounts or "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot hide musl in a private mount namespace: {probe.stderr.strip()}")
    copy_fixture("myapp.c", tmp_path)
    script = f'{mounts} && exec "$@"' if mounts else 'exec "$@"'
    r = subprocess.run(["unshare", "-r", "-m", "sh", "-c", script, "sh",
                        str(sdk / "bin/x86_64-hermit-gcc"), "myapp.c", "-o", "myapp"],
                       cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == ("x86_64-hermit-gcc: musl not found; "
                        "install it with: apt-get install musl-dev\n")
    assert not (tmp_path / "myapp").exists()
