"""OpenMP benchmark (issue 13): STREAM's kernels as OpenMP loops and the overheads of a
parallel region and a barrier (EPCC syncbench style), hermit against Linux.

    python usr/benchmarks/openmp.py --sdk build/stage/opt/hermit [--runs N] [--threads N]

Builds usr/benchmarks/omp_bench.c twice with the SDK's libgomp (built for musl): as a
hermit image (x86_64-hermit-gcc -fopenmp) and as a static musl Linux binary (musl-gcc
-fopenmp against the same libgomp.a), so both sides run the same OpenMP runtime.  Runs
the native binary, then the image under uhyve and QEMU with KVM (and QEMU/TCG with
--tcg), HERMIT_CPUS = OMP_NUM_THREADS = --threads, one run of each per round, --runs
rounds (so a drift of the host's memory bandwidth touches every configuration alike).
Every figure is the median of the rounds with its ratio to native; the target's ratio
is the median of each round's own ratio.  Target: triad >= 0.95x native under uhyve.
Exit status: 0 (a target may fail), 1 when nothing could be built.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from boot import QEMU, kvm_problem_from
from bootmeasure import clean_environment, progress
from bootreport import fmt_ratio

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "omp_bench.c"
TIMEOUT = 600
# (key, label, higher is better)
METRICS = (("copy", "copy MB/s", True), ("scale", "scale MB/s", True),
           ("add", "add MB/s", True), ("triad", "triad MB/s", True),
           ("parallel_us", "parallel region µs", False), ("barrier_us", "barrier µs", False))


def build(sdk: Path, out: Path) -> dict[str, str]:
    """Build the image and the native binary; {name: error} for what failed."""
    errors = {}
    # Only the SDK's libgomp for the native binary: its libc.a calls the kernel through
    # hermit's slot, which a Linux process does not have (musl-dev's libc.a links then).
    gomp = out / "gomp"
    gomp.mkdir(exist_ok=True)
    if not (gomp / "libgomp.a").exists():
        (gomp / "libgomp.a").symlink_to((sdk / "x86_64-hermit/lib/libgomp.a").resolve())
    cmds = {
        "image": [str(sdk / "bin/x86_64-hermit-gcc"), "-O2", "-fopenmp", str(SOURCE),
                  "-o", str(out / "omp_bench")],
        "native": ["musl-gcc", "-static", "-O2", "-fopenmp", str(SOURCE), f"-L{gomp}",
                   "-o", str(out / "omp_bench.native")],
    }
    for name, cmd in cmds.items():
        if not shutil.which(cmd[0]):
            errors[name] = f"{cmd[0]} not found"
            continue
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            errors[name] = (p.stderr.strip().splitlines() or ["failed"])[-1]
    return errors


def run_once(argv: list[str], env: dict[str, str]) -> dict[str, float] | str:
    """One run's figures, or why there are none."""
    try:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"no answer in {TIMEOUT} s"
    if p.returncode:
        said = (p.stderr.strip() or p.stdout.strip() or "no output").splitlines()
        return f"{said[-1]} (exit status {p.returncode})"
    figures = {}
    for line in p.stdout.splitlines():
        key, _, value = line.partition("=")
        try:
            figures[key] = float(value)
        except ValueError:
            pass
    return figures


def medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    keys = set().union(*rounds) if rounds else set()
    return {k: statistics.median(r[k] for r in rounds if k in r) for k in keys}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sdk", required=True, type=Path, help="installed hermit prefix")
    p.add_argument("--runs", type=int, default=7, help="rounds (median)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--elements", type=int, default=4_000_000, help="STREAM array size")
    p.add_argument("--tcg", action="store_true", help="also QEMU without KVM (slow)")
    a = p.parse_args(argv)
    threads = str(a.threads)
    base = dict(clean_environment(), OMP_NUM_THREADS=threads, HERMIT_CPUS=threads,
                HERMIT_TIMEOUT=str(TIMEOUT))
    kvm = kvm_problem_from(a.sdk)
    configs = [("Linux native (static musl)", None, None),
               ("uhyve", dict(base, HERMIT_ISLE="uhyve"), kvm),
               ("QEMU + KVM", dict(base, HERMIT_ISLE="qemu", HERMIT_KVM="1"),
                kvm or (None if shutil.which(QEMU) else f"{QEMU} not found"))]
    if a.tcg:
        configs.append(("QEMU (TCG)", dict(base, HERMIT_ISLE="qemu", HERMIT_KVM="0"), None))
    args = [str(a.elements), "10", "20"]
    with tempfile.TemporaryDirectory(prefix="hermit-omp-") as tmp:
        out = Path(tmp)
        errors = build(a.sdk, out)
        if len(errors) == 2:
            print(f"openmp: nothing built: {errors}", file=sys.stderr)
            return 1
        results: dict[str, list[dict[str, float]] | str] = {}
        for label, env, skip in configs:
            key = "native" if env is None else "image"
            results[label] = f"n/a: {skip or errors[key]}" if skip or key in errors else []
        triads: list[float] = []  # uhyve's triad / native's, round by round
        for n in range(a.runs):
            progress(f"openmp: round {n + 1} of {a.runs}")
            for label, env, _skip in configs:
                if isinstance(results[label], str):
                    continue
                argv = ([str(out / "omp_bench.native")] if env is None
                        else [str(a.sdk / "bin/proxy"), str(out / "omp_bench")])
                r = run_once(argv + args, base if env is None else env)
                if isinstance(r, str):
                    results[label] = r
                    progress(f"openmp: {label}: {r}")
                else:
                    results[label].append(r)
            nat, uh = results[configs[0][0]], results["uhyve"]
            if isinstance(nat, list) and isinstance(uh, list) and len(nat) == len(uh) == n + 1:
                triads.append(uh[-1]["triad"] / nat[-1]["triad"])
        results = {k: medians(v) if isinstance(v, list) else v for k, v in results.items()}
    native = results[configs[0][0]]
    print(f"\n## OpenMP ({threads} threads, {a.elements} elements, median of {a.runs} "
          "rounds)\n")
    print("| | " + " | ".join(m[1] for m in METRICS) + " |")
    print("|---" * (len(METRICS) + 1) + "|")
    for label, _env, _skip in configs:
        r = results[label]
        if isinstance(r, str):
            print(f"| {label} | {r} |" + " |" * (len(METRICS) - 1))
            continue
        cells = []
        for key, _lbl, _higher in METRICS:
            v = r.get(key)
            ratio = (v / native[key] if isinstance(native, dict) and native.get(key)
                     and v is not None and r is not native else None)
            cells.append("—" if v is None else f"{v:.1f}" + (f" ({fmt_ratio(ratio)})"
                                                             if ratio else ""))
        print(f"| {label} | " + " | ".join(cells) + " |")
    if triads:
        ratio = statistics.median(triads)
        spread = f"rounds {min(triads):.2f}-{max(triads):.2f}x"
        print(f"\nTarget: triad under uhyve >= 0.95x native (median of each round's ratio, "
              f"{spread}): {ratio:.2f}x {'PASS' if ratio >= 0.95 else 'FAIL'}")
    else:
        print("\nTarget: triad under uhyve >= 0.95x native: N/A")
    return 0


if __name__ == "__main__":
    sys.exit(main())
