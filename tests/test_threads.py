"""Many cores (issue 3): threads, memory, time and signals.

The apps of usr/tests and the benchmarks of usr/benchmarks run under every loader with
HERMIT_CPUS=1, 2 and 4; each checks its own result and exits non-zero on a wrong one.
Apps given no thread count take it from sched_getaffinity, so `threads=N` in their
output also checks that the guest sees its N cpus.  The same sources built as static
musl binaries must pass on Linux: that is what proves the apps themselves right.
"""

import os
import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT, run

CPUS = [1, 2, 4]
KVM_SLEEP_BOUND_US = "100"  # the sleep accuracy under KVM (median overshoot)
# More vCPUs than host cpus: a sleeper's vCPU waits for the host scheduler, and the
# cpus polling for the same deadline take turns (CI saw 101 us at 4 on 2)
OVERSUBSCRIBED_SLEEP_BOUND_US = "1000"
GUEST_TIMEOUT = "30"  # HERMIT_TIMEOUT: a deadlock ends as status 124, not a hung test


@dataclass
class App:
    path: str  # under the SDK; the source is ROOT/usr/<path minus extra/>.c
    args: list[str] = field(default_factory=list)  # "{threads}": the thread count
    expect: list[str] = field(default_factory=list)  # lines that must be in stdout
    keys: list[str] = field(default_factory=list)  # key=value lines that must be there
    env: dict[str, str] = field(default_factory=dict)
    default_threads: bool = True  # hermit runs pass no count: the app asks for the cpus
    fixed_threads: int | None = None  # the thread count regardless of cpus

    @property
    def source(self) -> Path:
        return ROOT / "usr" / (self.path.removeprefix("extra/") + ".c")

    def argv(self, threads: int | None) -> list[str]:
        n = "0" if threads is None else str(threads)
        return [a.replace("{threads}", n) for a in self.args]


APPS = {
    "thr_hello": App("extra/tests/thr_hello", ["{threads}"],
                     ["thr_hello: ok", "Hello from thread 0 (tid"]),
    "thr_hello-oversubscribed": App("extra/tests/thr_hello", ["{threads}"], ["thr_hello: ok"],
                                    fixed_threads=64),
    "test-malloc": App("extra/tests/test-malloc", ["2", "32"],
                       ["test-malloc: 20 checks, 0 failed"], default_threads=False),
    "test-malloc-mt": App("extra/tests/test-malloc-mt", ["{threads}", "5000"],
                          ["test-malloc-mt: ok", "corrupt=0"]),
    "signals": App("extra/tests/signals", ["{threads}"],
                   ["Receive signal with number 10", "Receive signal with number 12",
                    "signals: 27 checks, 0 failed"]),
    "jacobi": App("extra/tests/jacobi", ["{threads}", "256"], ["jacobi: ok"], ["sweeps"]),
    "stress_sync": App("extra/tests/stress_sync", ["{threads}"],
                       ["stress_sync: 14 checks, 0 failed"], fixed_threads=256),
    "sleep_accuracy": App("extra/tests/sleep_accuracy", ["{threads}", "0", "5"],
                          ["sleep_accuracy: ok"], ["median_overshoot_us"]),
    "oom": App("extra/tests/oom", ["{threads}"], ["oom: ok"],
               ["mmap_total_mib", "malloc_total_mib"], env={"HERMIT_MEM": "256M"}),
    "sched": App("extra/tests/sched", [], ["sched: ", "checks, 0 failed"], ["cpus", "least_share"],
                 default_threads=False),
    "sig_compute": App("extra/tests/sig_compute", [],
                       ["ok - the interrupted context came back intact"],
                       ["delivered_while_computing", "steps"], default_threads=False),
    "clocks": App("extra/tests/clocks", ["{threads}"], ["clocks: 49 checks, 0 failed"],
                  ["vdso_clock_gettime_cycles", "syscall_clock_gettime_cycles"]),
    "prot_none": App("extra/tests/prot_none", [], ["prot_none: 8 checks, 0 failed"],
                     default_threads=False),
    "basic": App("extra/benchmarks/basic", ["21"], [],
                 ["getpid_cycles", "sched_yield_cycles", "clock_gettime_cycles",
                  "malloc_free_cycles", "write_cycles", "page_touch_cycles"],
                 default_threads=False),
    "stream": App("extra/benchmarks/stream", ["{threads}", "200000", "3"], ["validated=yes"],
                  ["triad_mbs"]),
    "hg": App("extra/benchmarks/hg", ["{threads}", "100"], [], ["max_gap_cycles", "lost_ppm"]),
    "thread_create": App("extra/benchmarks/thread_create", ["{threads}", "21"], [],
                         ["create_join_cycles", "batch_per_thread_cycles"]),
}


def values(stdout: str) -> dict[str, str]:
    return dict(m.groups() for m in re.finditer(r"^(\w+)=(.*)$", stdout, re.M))


def check_output(r: subprocess.CompletedProcess, app: App, threads: int | None) -> None:
    out = r.stdout
    assert r.returncode == 0, f"exit status {r.returncode}\n{out}\n{r.stderr}"
    assert "not ok" not in out, out
    lines = out.splitlines()
    for want in app.expect:
        assert any(want in line for line in lines), f"no {want!r} in\n{out}"
    found = values(out)
    for key in app.keys:
        assert key in found, f"no {key}= in\n{out}"
    if threads is not None:
        assert found.get("threads") == str(threads), f"threads={found.get('threads')}, want "\
            f"{threads}: the guest does not see its cpus"


@pytest.mark.parametrize("cpus", CPUS, ids=lambda c: f"{c}cpu")
@pytest.mark.parametrize("name", list(APPS))
def test_on_hermit(sdk, loader, tmp_path, name, cpus):
    app = APPS[name]
    threads = app.fixed_threads or (cpus if app.default_threads else None)
    argv = app.argv(app.fixed_threads)  # no count: the app must find the cpus itself
    if name == "sleep_accuracy" and loader.get("HERMIT_KVM") != "0":
        fits = cpus <= len(os.sched_getaffinity(0))
        argv[1] = KVM_SLEEP_BOUND_US if fits else OVERSUBSCRIBED_SLEEP_BOUND_US
    env = dict(loader, HERMIT_CPUS=str(cpus), HERMIT_TIMEOUT=GUEST_TIMEOUT, **app.env)
    r = run(sdk, app.path, *argv, env=env, cwd=tmp_path, timeout=180)
    check_output(r, app, threads)
    if "cpus" in app.keys:
        assert values(r.stdout)["cpus"] == str(cpus), "the guest does not see its cpus"
    if name == "sig_compute" and not no_interrupts(loader):
        # the APIC timer and IPIs (TCG, real KVM), or events uhyve delivers (kvm_pvm)
        assert values(r.stdout)["delivered_while_computing"] == "yes", r.stdout


def no_interrupts(loader: dict[str, str]) -> bool:
    """QEMU with KVM on kvm_pvm: nothing interrupts a computing thread (README)."""
    from hermit_build.config import kvm_is_pvm

    return loader.get("HERMIT_ISLE") == "qemu" and loader.get("HERMIT_KVM") != "0" and kvm_is_pvm()


@pytest.mark.parametrize("cpus", [1, 2])
def test_computing_threads_share_a_cpu(sdk, loader, tmp_path, cpus):
    """Two threads that never make a system call share cpu 0 with a sleeper, which
    wakes on time: the timer preempts them (on kvm_pvm under uhyve: its events)."""
    if no_interrupts(loader):
        pytest.skip("QEMU on kvm_pvm: no interrupts reach the guest and QEMU cannot "
                    "deliver uhyve's events (README: kvm_pvm)")
    r = run(sdk, "extra/tests/spin_share", env=dict(loader, HERMIT_CPUS=str(cpus),
                                                    HERMIT_TIMEOUT="30"), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.endswith("spin_share: 4 checks, 0 failed\n"), r.stdout



@pytest.fixture(scope="session")
def native_dir(tmp_path_factory) -> Path:
    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc not found (apt install musl-tools)")
    out = tmp_path_factory.mktemp("native")
    for app in {a.path: a for a in APPS.values()}.values():
        exe = out / Path(app.path).name
        p = subprocess.run(["musl-gcc", "-static", "-O2", "-pthread", str(app.source), "-o",
                            str(exe)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("threads", CPUS)
@pytest.mark.parametrize("name", list(APPS))
def test_native(native_dir, tmp_path, name, threads):
    """The reference: each app passes on Linux with 1, 2 and 4 threads."""
    app = APPS[name]
    n = app.fixed_threads or threads
    exe = native_dir / Path(app.path).name
    r = subprocess.run([str(exe), *app.argv(n)], capture_output=True, text=True, cwd=tmp_path,
                       timeout=120, env={k: v for k, v in os.environ.items()
                                         if not k.startswith("HERMIT_")})
    check_output(r, app, n if app.default_threads else None)


def test_native_jacobi_is_independent_of_threads(native_dir, tmp_path):
    sweeps = set()
    for n in (1, 3, 4):
        r = subprocess.run([str(native_dir / "jacobi"), str(n), "200"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        sweeps.add(values(r.stdout)["sweeps"])
    assert len(sweeps) == 1, sweeps


def test_idle_cpus_cost_the_host_nothing(sdk, loader):
    """Idle cpus halt, or under uhyve on kvm_pvm (no interrupts) block in the loader:
    a guest whose 2 cpus sleep for a second uses a fraction of a cpu-second."""
    if no_interrupts(loader):
        pytest.skip("QEMU on kvm_pvm: no interrupts reach the guest, its idle cpus poll")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    r = run(sdk, "extra/tests/idle", "1000", env=dict(loader, HERMIT_CPUS="2"))
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert r.returncode == 0, r.stdout + r.stderr
    assert cpu < 0.3 * wall, f"{cpu:.2f} s of host cpu in {wall:.2f} s: idle cpus spin"
