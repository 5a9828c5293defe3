"""The profiler's overhead (issue 14): jacobi under uhyve with and without HERMIT_PROFILE.

    python usr/benchmarks/profile.py --sdk build/stage/opt/hermit [--runs 5] [--hz 999]

Runs `extra/tests/jacobi 1 N` (one thread, order N) --runs times each way, alternating,
and compares the medians of the time the program measures itself (its `seconds=`)
and of the whole process (which with the profiler includes unwinding and writing the
flame graph at the end).  Target: the program's own time at most 5% longer with the
profiler at its default rate.  Exit status: 0 when both ran (the target may fail), 1
when a run failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from boot import BenchError, kvm_problem_from, run_cli
from bootmeasure import clean_environment, progress

TARGET = 0.05
SECONDS = re.compile(r"^seconds=([0-9.]+)$", re.M)
SAMPLES = re.compile(r"profile: (\d+) samples")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sdk", required=True, type=Path, help="installed hermit prefix")
    p.add_argument("--runs", type=int, default=5, help="runs each way (median)")
    p.add_argument("--hz", type=int, default=0, help="sampling rate (default: the profiler's)")
    p.add_argument("--order", type=int, default=3072, help="jacobi's n (its run time)")
    p.add_argument("--debug", action="store_true", help="tracebacks for errors")
    args = p.parse_args(argv)
    if args.runs < 1 or not 64 <= args.order <= 8192 or args.hz < 0:
        p.error("--runs at least 1, --order from 64 to 8192, --hz not negative")
    return args


def once(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    m = SECONDS.search(p.stdout)
    if p.returncode != 0 or not m:
        last = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"jacobi failed (status {p.returncode}): {last}")
    samples = SAMPLES.search(p.stderr)
    return float(m[1]), wall, int(samples[1]) if samples else 0


def bench(args: argparse.Namespace) -> int:
    sdk = args.sdk.resolve()
    problem = kvm_problem_from(sdk)
    if problem:
        print(f"## Profiler overhead\n\nn/a: {problem}")
        return 0
    argv = [str(sdk / "bin/proxy"), str(sdk / "extra/tests/jacobi"), "1", str(args.order)]
    base = dict(clean_environment(), HERMIT_ISLE="uhyve")
    on = dict(base, HERMIT_PROFILE=str(args.hz) if args.hz else "1")
    plain, profiled, samples = [], [], []
    with tempfile.TemporaryDirectory(prefix="hermit-profile-") as cwd:
        for n in range(args.runs):
            progress(f"round {n + 1} of {args.runs}")
            plain.append(once(argv, base, cwd)[:2])
            app, wall, k = once(argv, on, cwd)
            profiled.append((app, wall))
            samples.append(k)
    app0, app1 = (statistics.median(r[0] for r in x) for x in (plain, profiled))
    wall0, wall1 = (statistics.median(r[1] for r in x) for x in (plain, profiled))
    over = app1 / app0 - 1
    per_sample = (app1 - app0) / max(statistics.median(samples), 1) * 1e6
    verdict = "PASS" if over <= TARGET else "FAIL"
    rate = args.hz or "default"
    print("\n".join([
        "## Profiler overhead", "",
        f"`jacobi 1 {args.order}` under uhyve, {args.runs} runs each way, alternating; "
        f"medians. Sampling rate: {rate}.", "",
        "| | program's own seconds | whole process s | samples |",
        "|---|---:|---:|---:|",
        f"| without the profiler | {app0:.3f} | {wall0:.3f} | — |",
        f"| with it | {app1:.3f} | {wall1:.3f} | {statistics.median(samples):.0f} |", "",
        f"- **{verdict}** the program runs at most {TARGET:.0%} longer with the profiler: "
        f"{over:+.1%}" + ("" if over <= TARGET else f" (a gap of {over - TARGET:.1%})"),
        f"- per sample: {per_sample:+.0f} µs of the program's time (the median run's extra "
        f"time over its samples; a rate's overhead is about rate × this)",
        f"- the whole process (the unwinding and the flame graph at the end included): "
        f"{wall1 / wall0 - 1:+.1%}"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(parse_args, bench, "bench", argv)


if __name__ == "__main__":
    sys.exit(main())
