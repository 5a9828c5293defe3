"""Guest memory (issue 3): RAM beyond 4 GiB, big mmaps, mremap, and the host memory a
guest costs.  Each app checks its own results and exits non-zero on a wrong one."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, clean_env, run

GUEST_TIMEOUT = "60"  # HERMIT_TIMEOUT: a hang ends as status 124, not a hung test
MIB = 1 << 20


def ok(r: subprocess.CompletedProcess, last: str) -> list[str]:
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "not ok" not in r.stdout, r.stdout
    lines = r.stdout.splitlines()
    assert lines and lines[-1] == last, r.stdout
    return lines


def test_bigmem_beyond_4g(sdk, loader):
    env = dict(loader, HERMIT_MEM="8G", HERMIT_TIMEOUT=GUEST_TIMEOUT)
    lines = ok(run(sdk, "extra/tests/bigmem", env=env), "bigmem: ok")
    assert lines.count("written from above 4 GiB") == 2
    assert "totalram_mib=8192" in lines  # all of HERMIT_MEM, none of the hole
    assert "ok - mmap of 5 GiB in one call " in lines


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_bigmem_on_pc_machines(sdk, machine):
    """pc keeps 3 GiB below the hole, q35 2 GiB: the kernel takes QEMU's memory map."""
    env = {"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0", "HERMIT_MACHINE": machine,
           "HERMIT_MEM": "8G", "HERMIT_TIMEOUT": GUEST_TIMEOUT}
    ok(run(sdk, "extra/tests/bigmem", env=env), "bigmem: ok")


def test_mremap(sdk, loader):
    env = dict(loader, HERMIT_TIMEOUT=GUEST_TIMEOUT)
    lines = ok(run(sdk, "extra/tests/mremap", env=env), "mremap: ok")
    assert "ok - grow in place into free pages" in lines
    assert "ok - realloc of a 4 MiB block up to 128 MiB keeps its contents" in lines


def test_mremap_and_bigmem_with_two_cpus(sdk, loader):
    env = dict(loader, HERMIT_CPUS="2", HERMIT_MEM="8G", HERMIT_TIMEOUT=GUEST_TIMEOUT)
    ok(run(sdk, "extra/tests/mremap", env=env), "mremap: ok")
    ok(run(sdk, "extra/tests/bigmem", env=env), "bigmem: ok")


@pytest.mark.parametrize("env_bytes", [0, 1000, 5000, 9000])
def test_fresh_memory_reads_zero_whatever_the_arguments(sdk, loader, env_bytes):
    """uhyve places argv and envp in guest memory before boot; once the kernel has
    copied them, their pages are handed out again, cleared like any used page."""
    env = dict(loader, PADDING="x" * env_bytes) if env_bytes else loader
    r = run(sdk, "extra/tests/zeroed", env=env)
    assert r.returncode == 0 and r.stdout == "zeroed ok\n", r.stdout + r.stderr


def test_kernel_reports_the_memory(sdk, loader):
    env = dict(loader, HERMIT_MEM="12G", HERMIT_VERBOSE="1")
    r = run(sdk, "extra/tests/hello", env=env)
    assert r.returncode == 0, r.stderr
    assert "hermit: 12288 MiB," in r.stderr


MAXRSS = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss(sdk, app: str, env: dict[str, str]) -> tuple[int, int]:
    """Exit status and the largest resident set (bytes) of the proxy or its QEMU."""
    r = subprocess.run([sys.executable, "-c", MAXRSS, str(sdk / "bin/proxy"), str(sdk / app)],
                       env=clean_env(**env), capture_output=True, text=True, timeout=120)
    status, kib = r.stdout.split()
    return int(status), int(kib) * 1024


@pytest.mark.parametrize("mem,app", [("64G", "extra/tests/hello"), ("8G", "extra/tests/bigmem")])
def test_guest_memory_is_lazily_backed(sdk, loader, mem, app):
    """The host backs only what the guest touches: the largest guest boots, and bigmem,
    which maps 5 GiB twice and touches 1 MiB apart, stays small (freed RAM is discarded)."""
    status, rss = peak_rss(sdk, app, dict(loader, HERMIT_MEM=mem, HERMIT_TIMEOUT=GUEST_TIMEOUT))
    assert status == 0
    assert rss < 512 * MIB, f"peak RSS {rss // MIB} MiB"


def test_native_mremap(tmp_path):
    """The reference: the mremap app passes as a static musl binary on Linux."""
    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc not found (apt install musl-tools)")
    exe = tmp_path / "mremap"
    subprocess.run(["musl-gcc", "-static", "-O2", str(ROOT / "usr/tests/mremap.c"), "-o",
                    str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if not k.startswith("HERMIT_")})
    ok(r, "mremap: ok")

