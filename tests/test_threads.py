"""Many cores (issue 3): threads, memory, time and signals.

The apps of usr/tests and the benchmarks of usr/benchmarks run under every loader with
HERMIT_CPUS=1, 2 and 4; each checks its own result and exits non-zero on a wrong one.
Apps given no thread count take it from sched_getaffinity, so `threads=N` in their
output also checks that the guest sees its N cpus.  The same sources built as static
musl binaries must pass on Linux: that is what proves the apps themselves right.

The benchmarks' figures and sleep_accuracy's overshoot are held to sanity bounds
(below): loose enough for a busy 2-cpu host and QEMU/TCG, tight enough for a broken
benchmark or an order-of-magnitude regression.  Performance targets are `nox -s bench`'s.
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
GUEST_TIMEOUT = "30"  # HERMIT_TIMEOUT: a deadlock ends as status 124, not a hung test
RUN_TIMEOUT = 180  # seconds for one run of an app, hermit or native


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
                    "signals: 28 checks, 0 failed"]),
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
    "malloc": App("extra/benchmarks/malloc", ["300", "21"], [],
                  ["test_malloc_cycles", "malloc_1m_cycles", "malloc_1m_touch_cycles"],
                  default_threads=False),
}


def values(stdout: str) -> dict[str, str]:
    return dict(m.groups() for m in re.finditer(r"^(\w+)=(.*)$", stdout, re.M))


# --- sanity bounds ---------------------------------------------------------------------
# Each figure is held below a bound per place it runs: "kvm" (uhyve, QEMU+KVM), "tcg"
# (QEMU without KVM, whose TSC is QEMU's virtual one at the host's rate) and "native"
# (the static musl build on Linux).  Loose enough never to fail on a busy 2-cpu host
# with more vCPUs than cpus, tight enough to catch a benchmark that measures nothing or
# a cost that moved up a class (a shortcut that became a trap, a call that now exits
# to the host).  "seen" is what this project's machines (2 cpus, kvm_pvm, shared with
# other builds, load 2-3) printed with 1, 2 and 4 cpus, before the bound was chosen.

# cycles (median of batches per call): (kvm, tcg, native) upper bounds, None for none;
# every figure > 0
CYCLE_BOUNDS: dict[str, dict[str, tuple[int | None, ...]]] = {
    "basic": {
        # hermit: the SDK's shortcuts, no system call (seen 4.5-6.1 kvm, 34-65 tcg); a
        # trap or an exit to the host costs >= 7,000.  Linux: a real system call (seen
        # 334-392 and 1,195-1,586); room for hosts with costlier mitigations
        "getpid_cycles": (1_000, 1_000, 20_000),
        # Linux's gives the cpu to whatever else the host runs, for its slices (seen
        # 1,195-1,586 on its own, 5.8M with two busy loops beside it): no bound there
        "sched_yield_cycles": (1_000, 2_000, None),  # seen 28-35, 57-114
        # a TSC read and a scaling, no exit (seen 63-83, 120-225, 65-76); Linux gets
        # room for a clocksource without vDSO
        "clock_gettime_cycles": (2_000, 5_000, 5_000),
        "malloc_free_cycles": (5_000, 50_000, 5_000),  # 64 B: seen 143-245, 1,517-2,331, 147-242
        # 256 KiB (seen 22k-33k, 0.85M-1.31M, 30k-46k)
        "malloc_free_256k_cycles": (500_000, 20_000_000, 500_000),
        # 1 byte to /dev/null (seen 7.7k-11k, 1.1k-2.0k, 500-604)
        "write_cycles": (100_000, 50_000, 20_000),
        # first touch of a page (seen 15.6k-20.9k, 7.6k-10.3k, 4.1k-5.9k)
        "page_touch_cycles": (200_000, 200_000, 100_000),
    },
    # create+join of one thread (seen 108k-434k, 523k-862k, 95k-118k) and per thread of
    # a batch (seen 120k-643k, 623k-2.9M, 95k-272k), on one vCPU: ~4 ms and ~19 ms, the
    # guest's scheduler alone.  Threads the host schedules (Linux's, or hermit's on
    # more than one vCPU) wait for a host cpu on a busy host (seen 10.4M on Linux with
    # two busy loops beside it): HOST_SCHEDULED_MAX there
    "thread_create": {
        "create_join_cycles": (10_000_000, 50_000_000, None),
        "batch_per_thread_cycles": (10_000_000, 50_000_000, None),
    },
}
PLACES = ("kvm", "tcg", "native")
HOST_SCHEDULED_MAX = 100_000_000  # ~40 ms: ten of the host scheduler's slices

# hg: the share of its window a spinner lost depends on what else the host runs (seen
# 50k-740k ppm with 1-2 threads, up to 969k at 4 on 2), so it is held only to <= 100%.
# How often a spinner is interrupted grows little with the host's load (its scheduler
# switches every few hundred microseconds at most): under KVM and on Linux a spinner is
# stopped at most HG_MAX_GAPS_PER_MS times per ms of its window (seen 0.8-8, also with
# four busy loops beside it), which an interrupt or event storm exceeds.  Under TCG,
# QEMU's own exits chop the loop (seen up to 196).
HG_MAX_GAPS_PER_MS = 50


def sleep_bound_us(where: str, cpus: int) -> str:
    """sleep_accuracy's bound on the median overshoot, in microseconds."""
    from hermit_build.config import kvm_is_pvm

    fits = cpus <= len(os.sched_getaffinity(0))
    if where == "native":
        return "1000"  # Linux's 50 us timer slack and a wake-up (seen 82-94 us)
    if where == "tcg":
        # QEMU's timers fire in its main thread, which then kicks the vCPU thread: two
        # host wake-ups, each waiting for a cpu when vCPUs outnumber them (seen 71-263
        # us with 1-2 cpus, 89-3,151 us with 4 on 2)
        return "2000" if fits else "10000"
    if kvm_is_pvm():
        # no interrupts: under uhyve the loader blocks an idle vCPU until 1 ms before the
        # sleeper is due, its thread waiting for the host (seen 3.9-139 us); a sleeper
        # left to the ticker's 1-5 ms rounds would exceed it
        return "1000"
    # the README's: under 100 us while the guest's cpus fit the host's; more vCPUs
    # than host cpus wait for the host scheduler (CI saw 101 us at 4 on 2)
    return "100" if fits else "1000"


def check_bounds(name: str, found: dict[str, str], where: str, cpus: int) -> None:
    for key, limits in CYCLE_BOUNDS.get(name, {}).items():
        value, limit = float(found[key]), limits[PLACES.index(where)]
        if name == "thread_create" and (where == "native" or cpus > 1):
            limit = HOST_SCHEDULED_MAX
        assert value > 0, f"{name}: {key}={found[key]}"
        assert limit is None or value < limit, f"{name}: {key}={found[key]}, bound {limit} " \
            f"({where})"
    if name == "hg":
        check_hg(found, where)


def check_hg(found: dict[str, str], where: str) -> None:
    """hg's figures agree with each other, and a spinner is not interrupted in a storm."""
    threads, threshold = int(found["threads"]), int(found["threshold_cycles"])
    gaps, max_gap = int(found["gaps"]), int(found["max_gap_cycles"])
    lost_ppm = float(found["lost_ppm"])
    top = [int(g) for g in found["top_gaps_cycles"].split(",")]
    assert sum(int(found[f"thread{t}_gaps"]) for t in range(threads)) == gaps, found
    assert max(int(found[f"thread{t}_max_gap_cycles"]) for t in range(threads)) == max_gap, found
    assert top == sorted(top, reverse=True) and top[0] == max_gap, found
    assert sum(1 for g in top if g) == min(gaps, len(top)), found
    assert all(g > threshold for g in top if g), found
    assert int(found["min_period_cycles"]) <= threshold, "the spin loop never ran freely"
    # a TSC that went backwards shows as a gap of ~2^64 cycles
    longest = RUN_TIMEOUT * float(found["tsc_mhz"]) * 1e6
    assert max_gap < longest, f"a gap of {max_gap} cycles is longer than the run"
    assert 0 <= lost_ppm <= 1_000_000 and (gaps or lost_ppm == 0), found
    window_ms = int(found["duration_cycles"]) / (float(found["tsc_mhz"]) * 1e3)
    rate = max(int(found[f"thread{t}_gaps"]) for t in range(threads)) / window_ms
    if where != "tcg":
        assert rate < HG_MAX_GAPS_PER_MS, f"hg: a spinner stopped {rate:.1f} times per ms"


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
    where = "tcg" if loader.get("HERMIT_KVM") == "0" else "kvm"
    if name == "sleep_accuracy":
        argv[1] = sleep_bound_us(where, cpus)
    env = dict(loader, HERMIT_CPUS=str(cpus), HERMIT_TIMEOUT=GUEST_TIMEOUT, **app.env)
    r = run(sdk, app.path, *argv, env=env, cwd=tmp_path, timeout=RUN_TIMEOUT)
    check_output(r, app, threads)
    check_bounds(name, values(r.stdout), where, cpus)
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
    argv = app.argv(n)
    if name == "sleep_accuracy":
        argv[1] = sleep_bound_us("native", n)
    r = subprocess.run([str(exe), *argv], capture_output=True, text=True, cwd=tmp_path,
                       timeout=RUN_TIMEOUT, env={k: v for k, v in os.environ.items()
                                         if not k.startswith("HERMIT_")})
    check_output(r, app, n if app.default_threads else None)
    check_bounds(name, values(r.stdout), "native", n)


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
