"""Many-cores benchmark (issues 3, 10, 11): basic, stream, hg, thread_create, preempt,
malloc and idle (the host cpu time of 4 idle cpus), hermit against Linux.

    python usr/benchmarks/threads.py --sdk build/stage/opt/hermit [--runs N] [--threads N]

Builds each benchmark from its source as a static musl binary and runs it natively, then
runs the hermit image under every loader this host can run (uhyve, QEMU microvm with
KVM, QEMU microvm with TCG) with HERMIT_CPUS set to the thread count, and under uhyve
once more linked with musl-dev's libc.a (system calls that trap: the figures from
before issue 10).  Every figure is
the median over --runs runs and is shown with its ratio to the native figure of the same
session (× = hermit / native).  A benchmark that fails under a loader is reported as
`fails: <reason>` and the run goes on.  Prints a Markdown table and PASS/FAIL/N/A for the
issue's targets.  Exit status: 0 (targets may fail; benchmarks may fail), 1 when the SDK
is unusable, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from boot import PYTHON, QEMU, TRAP_LABEL, BenchError, build_trapping, kvm_problem_from, run_cli
from bootmeasure import clean_environment, progress
from bootreport import fmt_ratio, machine_facts
from chart import Row, write_svg

HERE = Path(__file__).resolve().parent
TIMEOUT = 300  # seconds for one run: TCG is slow
UNSUPPORTED = "hermit: unsupported system call"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    ratio: bool = True  # shown as a ratio to native


@dataclass(frozen=True)
class Bench:
    name: str
    metrics: tuple[Metric, ...]
    where: str = "benchmarks"  # usr/<where>/<name>.c, extra/<where>/<name>
    cpus: int | None = None  # HERMIT_CPUS, when not --threads
    # The harness measures the host cpu time of the run (loader and all it started),
    # less that of the same run with its last argument 0: what the idle time costs.
    host_cpu: bool = False

    def source(self) -> Path:
        return HERE.parent / self.where / f"{self.name}.c"

    def args(self, a: argparse.Namespace) -> list[str]:
        return {
            "basic": [str(a.samples)],
            "stream": [str(a.threads), str(a.stream_elements), "10"],
            "hg": [str(a.threads), str(a.hg_ms)],
            "thread_create": [str(a.threads), str(a.samples)],
            "preempt": [str(a.samples)],
            "malloc": [str(a.allocations), str(a.samples)],
            "idle": ["1000"],
        }[self.name]


BENCHES = [
    Bench("basic", (
        Metric("getpid_cycles", "getpid (shortcut: the SDK answers it)", "cycles"),
        Metric("sched_yield_cycles", "sched_yield (shortcut when no one waits)", "cycles"),
        Metric("clock_gettime_cycles", "clock_gettime(CLOCK_MONOTONIC)", "cycles"),
        Metric("malloc_free_cycles", "malloc+free 64 B", "cycles"),
        Metric("malloc_free_256k_cycles", "malloc+free 256 KiB", "cycles"),
        Metric("write_cycles", "write 1 B", "cycles"),
        Metric("page_touch_cycles", "first touch of a page", "cycles"),
    )),
    Bench("stream", tuple(Metric(f"{k}_mbs", f"STREAM {k}", "MB/s")
                          for k in ("copy", "scale", "add", "triad"))),
    Bench("hg", (
        Metric("cpus", "cpus the benchmark sees", "cpus", ratio=False),
        Metric("max_gap_cycles", "hourglass largest gap", "cycles"),
        Metric("lost_ppm", "hourglass time lost", "ppm"),
    )),
    Bench("thread_create", (
        Metric("create_join_cycles", "pthread create+join", "cycles"),
        Metric("batch_per_thread_cycles", "create N, join N (per thread)", "cycles"),
    )),
    # issue 10: kvm_pvm delivers no interrupts; uhyve delivers timer and kicks itself
    Bench("preempt", (
        Metric("syscall_getpid_cycles", "syscall(SYS_getpid), the real call", "cycles"),
        Metric("compute_rate", "one thread computing alone", "steps/µs"),
        Metric("min_share_pct", "2 computing threads on 1 cpu: smaller share", "%",
               ratio=False),
        Metric("kill_latency_us", "pthread_kill to a computing thread", "µs"),
    )),
    # issue 11: musl serves these with mmap and munmap; two bare system calls beside them
    Bench("malloc", (
        Metric("test_malloc_cycles", "test-malloc: random size ≤ 8 MiB, 2 bytes touched",
               "cycles"),
        Metric("malloc_1m_cycles", "malloc+free 1 MiB", "cycles"),
        Metric("malloc_1m_touch_cycles", "malloc+free 1 MiB, every page touched", "cycles"),
        Metric("syscall_pair_cycles", "two syscall(SYS_getppid), the floor of the above",
               "cycles"),
    )),
    # issue 10: idle cpus halt, or block in the loader (uhyve on kvm_pvm)
    Bench("idle", (
        Metric("host_cpu_s", "4 cpus idle for 1 s: host cpu time (start-up excluded)", "cpu-s",
               ratio=False),
    ), where="tests", cpus=4, host_cpu=True),
]

# name, benchmark, metric key, kind, bound: "max" and "min" are absolute bounds,
# "ratio_max" and "ratio_min" bound hermit / native
TARGETS = [
    ("getpid at most 100 cycles", "basic", "getpid_cycles", "max", 100.0),
    ("sched_yield at most half of Linux's", "basic", "sched_yield_cycles", "ratio_max", 0.5),
    # the same musl code on both sides: equal within the 1% a cycle count moves between runs
    ("malloc/free no slower than Linux (within 1%)", "basic", "malloc_free_cycles", "ratio_max",
     1.01),
    ("STREAM triad with N threads at least 95% of native", "stream", "triad_mbs", "ratio_min",
     0.95),
    ("hourglass largest gap at most native's", "hg", "max_gap_cycles", "ratio_max", 1.0),
    ("thread create+join at most Linux's cost", "thread_create", "create_join_cycles",
     "ratio_max", 1.0),
    ("syscall(SYS_getpid) at most 2× Linux's", "preempt", "syscall_getpid_cycles", "ratio_max",
     2.0),
    ("two threads computing on 1 cpu: each at least 40%", "preempt", "min_share_pct", "min",
     40.0),
    ("pthread_kill reaches a computing thread within 10 ms", "preempt", "kill_latency_us",
     "max", 10_000.0),
    ("test-malloc pattern at most 2× Linux's", "malloc", "test_malloc_cycles", "ratio_max", 2.0),
    ("malloc+free 1 MiB at most 2× Linux's", "malloc", "malloc_1m_cycles", "ratio_max", 2.0),
    ("malloc+touch+free 1 MiB at most 2× Linux's", "malloc", "malloc_1m_touch_cycles",
     "ratio_max", 2.0),
    ("4 idle cpus for 1 s cost the host at most 0.05 cpu-s", "idle", "host_cpu_s", "max", 0.05),
]


@dataclass
class Config:
    key: str
    label: str
    env: dict[str, str] | None = None  # None: native
    skip: str | None = None
    trapping: bool = False  # images linked with musl-dev's libc: the figures before issue 10


@dataclass
class Outcome:
    """One benchmark under one configuration: median values, or why there are none."""
    values: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # non-numeric keys (write_target)
    error: str | None = None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sdk", required=True, type=Path, help="installed hermit prefix")
    p.add_argument("--runs", type=int, default=3, help="runs per benchmark and configuration")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="threads (and HERMIT_CPUS) for stream, hg, thread_create")
    p.add_argument("--samples", type=int, default=201, help="samples for basic, thread_create")
    p.add_argument("--stream-elements", type=int, default=4_000_000, help="STREAM array size")
    p.add_argument("--allocations", type=int, default=20_000,
                   help="allocations of the test-malloc pattern (malloc)")
    p.add_argument("--hg-ms", type=int, default=500, help="hourglass duration per run")
    p.add_argument("--no-tcg", action="store_true", help="leave out QEMU without KVM")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("--svg", type=Path, help="also draw them (one chart) into this file")
    p.add_argument("--debug", action="store_true", help="tracebacks for errors")
    a = p.parse_args(argv)
    if a.runs < 1 or a.threads < 1 or a.samples < 3 or a.hg_ms < 1 or a.allocations < 1:
        p.error("--runs, --threads, --hg-ms, --allocations must be positive and --samples "
                "at least 3")
    if a.stream_elements < a.threads:
        p.error("--stream-elements must be at least --threads")
    return a


def configs(a: argparse.Namespace, kvm_problem: str | None) -> list[Config]:
    no_qemu = None if shutil.which(QEMU) else f"{QEMU} not found (apt install qemu-system-x86)"
    base = dict(clean_environment(), HERMIT_CPUS=str(a.threads), HERMIT_TIMEOUT=str(TIMEOUT))
    no_musl = None if shutil.which("musl-gcc") else "musl-gcc not found (apt install musl-tools)"
    out = [
        Config("native", "Linux native (static musl)", skip=no_musl),
        Config("uhyve", "uhyve", dict(base, HERMIT_ISLE="uhyve"), kvm_problem),
        Config("uhyve-trap", TRAP_LABEL, dict(base, HERMIT_ISLE="uhyve"), kvm_problem,
               trapping=True),
        Config("microvm-kvm", "QEMU microvm + KVM",
               dict(base, HERMIT_ISLE="qemu", HERMIT_KVM="1", HERMIT_MACHINE="microvm"),
               kvm_problem or no_qemu),
    ]
    if not a.no_tcg:
        out.append(Config("microvm-tcg", "QEMU microvm (TCG)",
                          dict(base, HERMIT_ISLE="qemu", HERMIT_KVM="0",
                               HERMIT_MACHINE="microvm"), no_qemu))
    return out


def build_native(bench: Bench, out: Path) -> str | None:
    """Build the benchmark with musl-gcc; None, or why it could not be built."""
    exe = out / bench.name
    p = subprocess.run(["musl-gcc", "-static", "-O2", "-pthread", "-o", str(exe),
                        str(bench.source())], capture_output=True, text=True)
    if p.returncode:
        lines = p.stderr.strip().splitlines()
        return f"musl-gcc failed: {lines[-1] if lines else p.returncode}"
    return None


def reason(p: subprocess.CompletedProcess) -> str:
    """Why a run failed: the loader's own message if there is one, else the last line."""
    def lines(text: str) -> list[str]:
        return [ln.strip() for ln in text.splitlines()
                if ln.strip() and not ln.startswith(UNSUPPORTED)]

    said = lines(p.stderr) or lines(p.stdout) or ["no output"]
    loader = [ln for ln in said if ln.startswith("hermit: ")]
    status = "timed out" if p.returncode == 124 else f"exit status {p.returncode}"
    return f"{(loader or said[-1:])[0]} ({status})"


def run_bench(argv: list[str], env: dict[str, str] | None, bench: Bench, runs: int,
              cwd: Path) -> Outcome:
    samples: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    if env is not None and bench.cpus:
        env = dict(env, HERMIT_CPUS=str(bench.cpus))

    def timed(args: list[str]) -> tuple[subprocess.CompletedProcess, float]:
        """The run, and the host cpu time it and everything it started used."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(args, env=env or clean_environment(), capture_output=True,
                           text=True, timeout=TIMEOUT + 30, cwd=cwd)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return p, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    for _ in range(runs):
        try:
            start_only = timed(argv[:-1] + ["0"])[1] if bench.host_cpu else 0.0
            p, used = timed(argv)
        except subprocess.TimeoutExpired:
            return Outcome(error=f"no answer in {TIMEOUT + 30} s")
        if p.returncode:
            return Outcome(error=reason(p))
        if bench.host_cpu:
            samples.setdefault("host_cpu_s", []).append(max(used - start_only, 0.0))
        for line in p.stdout.splitlines():
            key, eq, value = line.partition("=")
            if not eq:
                continue
            try:
                number = float(value)
            except ValueError:
                notes[key] = value
            else:
                samples.setdefault(key, []).append(number)
    # a metric the app says it cannot measure here (kill_latency=needs 2 cpus) is n/a
    missing = [m.key for m in bench.metrics if m.key not in samples and
               not (m.key == "write_cycles" and notes.get("write_target") == "none") and
               not any(m.key.startswith(k + "_") for k in notes)]
    if missing:
        return Outcome(error=f"no {', '.join(missing)} in its output")
    return Outcome({k: statistics.median(v) for k, v in samples.items()}, notes)


def measure(a: argparse.Namespace, cfgs: list[Config], sdk: Path, tmp: Path
            ) -> dict[str, dict[str, Outcome]]:
    results: dict[str, dict[str, Outcome]] = {}
    for cfg in cfgs:
        results[cfg.key] = {}
        for bench in BENCHES:
            if cfg.skip:
                outcome = Outcome(error=f"n/a: {cfg.skip}")
            elif cfg.env is None:
                why = build_native(bench, tmp)
                outcome = Outcome(error=why) if why else run_bench(
                    [str(tmp / bench.name), *bench.args(a)], None, bench, a.runs, tmp)
            elif cfg.trapping:
                image = tmp / f"{bench.name}-trap"
                why = build_trapping(sdk, bench.source(), image)
                outcome = Outcome(error=f"n/a: {why}") if why else run_bench(
                    [str(sdk / "bin/proxy"), str(image), *bench.args(a)], cfg.env, bench,
                    a.runs, tmp)
            else:
                image = sdk / "extra" / bench.where / bench.name
                outcome = run_bench([str(sdk / "bin/proxy"), str(image), *bench.args(a)],
                                    cfg.env, bench, a.runs, tmp) if image.is_file() else \
                    Outcome(error=f"n/a: no image {image} (build and install first)")
            results[cfg.key][bench.name] = outcome
            progress(f"{cfg.label}: {bench.name}: " + (outcome.error or "ok"))
    return results


def fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def failure(error: str, first: bool) -> str:
    if error.startswith("n/a"):
        return "n/a" if not first else error.replace("|", "/")
    return f"fails: {error}".replace("|", "/") if first else "fails"


def cell(o: Outcome, m: Metric, native: Outcome | None, first: bool) -> str:
    if o.error:
        return failure(o.error, first)
    if m.key not in o.values:
        return "n/a"
    v = o.values[m.key]
    if not m.ratio or native is None or native.error or not native.values.get(m.key):
        return f"{v:g}" if not m.ratio else fmt(v)
    return f"{fmt(v)} ({fmt_ratio(v / native.values[m.key])})"


def markdown_table(cfgs: list[Config], results: dict[str, dict[str, Outcome]]) -> str:
    head = ["benchmark", "metric", "unit"] + [c.label for c in cfgs]
    rows = [head, ["---"] * 2 + ["---"] + ["---:"] * len(cfgs)]
    for bench in BENCHES:
        native = results["native"][bench.name]
        for i, m in enumerate(bench.metrics):
            rows.append([bench.name if i == 0 else "", m.label, m.unit] +
                        [cell(results[c.key][bench.name], m,
                              None if c.key == "native" else native, i == 0) for c in cfgs])
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def check_target(target: tuple, hermit: dict[str, Outcome], native: dict[str, Outcome]
                 ) -> tuple[str, str]:
    _, bench, key, kind, bound = target
    h, n = hermit[bench], native[bench]
    if h.error:
        return "N/A", h.error if h.error.startswith("n/a") else f"fails: {h.error}"
    v = h.values.get(key)
    if v is None:
        return "N/A", f"no {key}"
    if kind in ("max", "min"):
        ok = v <= bound if kind == "max" else v >= bound
        return ("PASS" if ok else "FAIL"), f"{fmt(v)} (bound {fmt(bound)})"
    if n.error or not n.values.get(key):
        return "N/A", f"{fmt(v)}, no native figure ({n.error or 'zero'})"
    r = v / n.values[key]
    ok = r <= bound if kind == "ratio_max" else r >= bound
    return ("PASS" if ok else "FAIL"), (f"{fmt(v)} vs native {fmt(n.values[key])} = "
                                        f"{fmt_ratio(r)} (bound {bound:g}×)")


def targets(cfgs: list[Config], results: dict[str, dict[str, Outcome]]) -> list[dict]:
    out = []
    for cfg in cfgs:
        if cfg.key == "native" or cfg.trapping:  # the before figures: no targets
            continue
        for t in TARGETS:
            verdict, detail = check_target(t, results[cfg.key], results["native"])
            out.append({"config": cfg.label, "target": t[0], "verdict": verdict,
                        "detail": detail})
    return out


def render(a: argparse.Namespace, facts: dict[str, str], table: str, checked: list[dict],
           cfgs: list[Config], results: dict[str, dict[str, Outcome]]) -> str:
    out = ["## Many cores: threads, memory, time", "",
           f"{a.threads} threads (HERMIT_CPUS={a.threads}), median of {a.runs} run(s); "
           "cycles are TSC cycles; × = hermit / native, measured in the same run. Under "
           "TCG the TSC is QEMU's virtual one: its cycles compare with nothing.", ""]
    out += [f"- **{k}**: {v}" for k, v in facts.items()]
    writes = {c.label: results[c.key]["basic"].notes.get("write_target", "?") for c in cfgs
              if not results[c.key]["basic"].error}
    if len(set(writes.values())) > 1:
        out.append("- write 1 B goes to /dev/null where the app can open it, else to a file: "
                   + ", ".join(f"{k} → {v}" for k, v in writes.items()))
    out += ["", table, "", "### Targets", ""]
    out += [f"{t['verdict']:<4}  {t['config']}: {t['target']}: {t['detail']}" for t in checked]
    return "\n".join(out)


def chart_rows(cfgs: list[Config], results: dict[str, dict[str, Outcome]]) -> list[Row]:
    """Each figure with a native baseline or a target: × native per loader."""
    rows = []
    for b in BENCHES:
        native = results["native"][b.name]
        for m in b.metrics:
            target = next((t for t in TARGETS if t[1] == b.name and t[2] == m.key), None)
            base = None if native.error else native.values.get(m.key)
            if not base or not (m.ratio or target):
                continue
            bound = None if target is None else (
                target[4] if target[3].startswith("ratio") else target[4] / base)
            ratios = {c.label: (results[c.key][b.name].values.get(m.key, 0.0) / base
                                if not results[c.key][b.name].error else None)
                      for c in cfgs if c.key != "native"}
            rows.append(Row(f"{b.name}: {m.label}", ratios, bound))
    return rows


def bench(a: argparse.Namespace) -> int:
    sdk = a.sdk.resolve()
    if not (sdk / "bin/proxy").is_file():
        raise BenchError(f"no bin/proxy under {a.sdk} (build and install first: nox -s bench)")
    kvm_problem = kvm_problem_from(sdk)
    cfgs = configs(a, kvm_problem)
    with tempfile.TemporaryDirectory(prefix="hermit-threads-") as tmpdir:
        results = measure(a, cfgs, sdk, Path(tmpdir))
    python = PYTHON if os.access(PYTHON, os.X_OK) else sys.executable
    facts = machine_facts(kvm_problem, python, QEMU)
    checked = targets(cfgs, results)
    print(render(a, facts, markdown_table(cfgs, results), checked, cfgs, results))
    if a.svg:
        write_svg(a.svg, f"Threads and system calls, {a.threads} cpus",
                  chart_rows(cfgs, results))
    if a.json:
        a.json.write_text(json.dumps({
            "facts": facts, "threads": a.threads, "runs": a.runs, "targets": checked,
            "results": {c.label: {b: {"values": o.values, "notes": o.notes, "error": o.error}
                                  for b, o in results[c.key].items()} for c in cfgs},
        }, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(parse_args, bench, "threads", argv)


if __name__ == "__main__":
    sys.exit(main())
