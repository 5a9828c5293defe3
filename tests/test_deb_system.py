"""The packages installed on this machine, used as an application developer would, from a
directory outside the source tree: x86_64-hermit-gcc, a Meson project that finds the
cross-file by name, a Makefile, pkg-config and images run directly (binfmt_misc).

This changes the machine, so it runs only inside `nox -s deb-system`, which installs
the packages, runs this file with HERMIT_DEB_SYSTEM=installed, removes them and runs
test_deb_removed.py.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import KVM, ROOT, clean_env

from hermit_build.deb import binfmt
from hermit_build.deb.layout import PACKAGES, PREFIX

if os.environ.get("HERMIT_DEB_SYSTEM") != "installed":
    pytest.skip("installs packages on this machine: runs in `nox -s deb-system`",
                allow_module_level=True)

FIXTURES = ROOT / "tests" / "fixtures" / "sdk"
GCC = f"{PREFIX}/bin/x86_64-hermit-gcc"
PROXY = f"{PREFIX}/bin/proxy"
MYAPP_OUT = "myapp: 2 argument(s)\nHELLO WORLD\nARG1\nbuilt with __hermit__\n"


def sh(*cmd: str, cwd: Path, env: dict[str, str] | None = None,
       timeout: float = 180) -> subprocess.CompletedProcess:
    """Run as a user would: no HERMIT_* or XDG_DATA_DIRS from the test's environment."""
    e = clean_env(**(env or {}))
    e.pop("XDG_DATA_DIRS", None)  # Meson's default search path must find the cross-file
    return subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)


def package_status(name: str) -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else "not known"


@pytest.fixture
def work(tmp_path) -> Path:
    assert not str(tmp_path).startswith(str(ROOT)), "must run outside the source tree"
    return tmp_path


def test_packages_are_installed():
    for p in PACKAGES:
        assert package_status(p.name) == "install ok installed", p.name


def test_gcc_and_proxy(work, loader):
    shutil.copy(FIXTURES / "myapp.c", work / "hello.c")
    r = sh(GCC, "hello.c", "-o", "hello", cwd=work)
    assert r.returncode == 0, r.stderr
    r = sh(PROXY, "hello", "arg1", "hello world", cwd=work, env=loader)
    assert (r.stdout, r.returncode) == (MYAPP_OUT, 15), r.stderr


def test_proxy_without_settings_falls_back_to_qemu(work):
    if KVM:
        pytest.skip("KVM is usable here: the proxy picks uhyve")
    shutil.copy(FIXTURES / "myapp.c", work / "hello.c")
    assert sh(GCC, "hello.c", "-o", "hello", cwd=work).returncode == 0
    r = sh(PROXY, "hello", cwd=work)
    assert (r.stdout, r.returncode) == ("myapp: 0 argument(s)\nbuilt with __hermit__\n", 0)
    assert "running under QEMU without KVM" in r.stderr


def test_meson_project_with_the_cross_file_by_name(work, loader):
    meson, ninja = shutil.which("meson"), shutil.which("ninja")
    if not meson or not ninja:
        pytest.skip("meson or ninja is not on PATH (`nox -s deb-system` provides both)")
    proj = work / "calc"
    shutil.copytree(FIXTURES / "meson", proj)
    r = sh(meson, "setup", "b", "--cross-file", "x86_64-hermit", cwd=proj)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sh(ninja, "-C", "b", cwd=proj).returncode == 0
    r = sh(meson, "test", "-C", "b", "--print-errorlogs", cwd=proj, env=loader)
    assert r.returncode == 0, r.stdout + r.stderr
    log = (proj / "b/meson-logs/testlog.txt").read_text()
    assert "calc: 6 * 7 = 42" in log and "calc: 2 ** 10 = 1024" in log
    commands = [ln for ln in log.splitlines() if ln.startswith("command:")]
    assert len(commands) == 3 and all(f"{PROXY} {proj}/b/calc " in c for c in commands)


def test_makefile_project(work, loader):
    proj = work / "fibs"
    shutil.copytree(FIXTURES / "make", proj)
    r = sh("make", f"CC={GCC}", cwd=proj)
    assert r.returncode == 0, r.stdout + r.stderr
    r = sh(PROXY, "./fibs", "10", "90", cwd=proj, env=loader)
    assert r.stdout == "fib(10) = 55\nfib(90) = 2880067194370816120\n", r.stderr
    assert r.returncode == 2


def test_pkg_config_names_the_compiler(work):
    if not shutil.which("pkg-config"):
        pytest.skip("pkg-config is not installed")
    r = sh("pkg-config", "--variable=cc", "hermit", cwd=work)
    assert r.stdout.strip() == GCC, r.stderr


def test_loader_was_byte_compiled_at_install():
    caches = list(Path(PREFIX, "lib/hermit/python").rglob("__pycache__/proxy.*.pyc"))
    assert caches, "postinst did not byte-compile the loader"


def test_images_run_directly(work, loader):
    info = binfmt.status()
    if info is None:
        pytest.skip("binfmt_misc is not available here (hermit-binfmt said so at install)")
    assert info["interpreter"] == PROXY and info["state"] == "enabled"
    shutil.copy(FIXTURES / "myapp.c", work / "hello.c")
    assert sh(GCC, "hello.c", "-o", "hello", cwd=work).returncode == 0
    r = sh("./hello", "arg1", "hello world", cwd=work, env=loader)
    assert (r.stdout, r.returncode) == (MYAPP_OUT, 15), r.stderr


def test_binfmt_command_unregisters_and_registers(work):
    if binfmt.status() is None:
        pytest.skip("binfmt_misc is not available here")
    hermit = f"{PREFIX}/bin/hermit"
    r = sh(hermit, "binfmt", "unregister", cwd=work)
    assert (r.returncode, r.stdout) == (0, "hermit: unregistered\n"), r.stderr
    assert binfmt.status() is None
    assert sh(hermit, "binfmt", "status", cwd=work).returncode == 1
    r = sh(hermit, "binfmt", "register", cwd=work)
    assert r.returncode == 0, r.stderr
    r = sh(hermit, "binfmt", "status", cwd=work)
    assert (r.returncode, r.stdout) == (0, f"hermit: images run through {PROXY} (enabled)\n")


CXX_SRC = """#include <iostream>
#include <stdexcept>
#include <thread>
#include <vector>
#include <cstdlib>
static int cmp(const void *a, const void *b) {
  if (*(const int *)a == 3) throw std::runtime_error("from qsort");
  return *(const int *)a - *(const int *)b;
}
int main() {
  std::vector<int> v{3, 1, 2};
  int sum = 0;
  std::thread t([&] { for (int x : v) sum += x; });
  t.join();
  try { std::qsort(v.data(), v.size(), sizeof v[0], cmp); }
  catch (const std::exception &e) { std::cout << "caught " << e.what() << "\\n"; }
  std::cout << "sum " << sum << std::endl;
}
"""
OMP_SRC = """#include <omp.h>
#include <stdio.h>
int main(void) {
  long s = 0;
#pragma omp parallel for reduction(+:s)
  for (int i = 1; i <= 1000; i++) s += i;
  printf("omp %ld %d\\n", s, omp_get_max_threads());
  return 0;
}
"""
F90_SRC = """program p
  real(16) :: q
  integer :: a(4) = [1, 2, 3, 4]
  q = sqrt(2.0_16)
  write(*, '(a, i0)') 'f90 ', sum(a)
  write(*, '(f20.17)') q
end program p
"""


@pytest.mark.parametrize("lang", ["c++", "openmp", "fortran"])
def test_cxx_openmp_fortran_from_the_packages(work, lang):
    """hermit-toolchain-c++ and -fortran: build and run as an HPC user would (TCG: the
    same images under every loader are tests/test_hpc.py's)."""
    src, tool, out, flags, want = {
        "c++": (CXX_SRC, "x86_64-hermit-g++", "a.cpp", [], "caught from qsort\nsum 6\n"),
        "openmp": (OMP_SRC, "x86_64-hermit-gcc", "a.c", ["-fopenmp"], "omp 500500 2\n"),
        "fortran": (F90_SRC, "x86_64-hermit-gfortran", "a.f90", [],
                    "f90 10\n 1.41421356237309505\n"),
    }[lang]
    (work / out).write_text(src)
    r = sh(f"{PREFIX}/bin/{tool}", "-O2", *flags, out, "-o", "app", cwd=work, timeout=300)
    assert r.returncode == 0, r.stderr
    r = sh(PROXY, "app", cwd=work, env={"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0",
                                         "HERMIT_CPUS": "2", "GOMP_SPINCOUNT": "1000"})
    assert (r.returncode, r.stdout) == (0, want), r.stdout + r.stderr
