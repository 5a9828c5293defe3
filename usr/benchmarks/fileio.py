"""File I/O benchmark: a hermit guest writes and reads a host file, against Linux, in one run.

    python usr/benchmarks/fileio.py --sdk build/stage/opt/hermit [--runs 3]
        [--chunks 64@6,64K@1024,1M@1024] [--json FILE]

Runs `extra/benchmarks/fileio` (usr/benchmarks/fileio.c) under uhyve, QEMU microvm + KVM
and QEMU microvm (TCG), and the same source built as a static musl Linux binary.  Each
writes a file in write() calls of one chunk size (CHUNK@MIB: the file's size in MiB;
64@6 is 98,304 writes of 64 bytes), fsyncs it, reads it back and checks it; the
program times its own write and read loops (CLOCK_MONOTONIC).
The file lives in a temporary directory under the current directory, which every
process runs in (the guest sees only the host's working directory).  Rounds run every
configuration once, each right after a native run that primes the host's free memory
(see measure()), so a passing disturbance of the host touches them all alike; the
figures are medians over --runs rounds.  Prints a Markdown table and the targets
(TARGETS: issue 11's small writes and large reads).  Exit status: 0 when everything
that could run ran (a target may fail), 1 when something failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from boot import (
    QEMU,
    TRAP_LABEL,
    BenchError,
    build_native,
    build_trapping,
    kvm_problem_from,
    run_cli,
)
from bootmeasure import Config, clean_environment, progress
from bootreport import fmt_ratio, machine_facts
from chart import Row, write_svg

HERE = Path(__file__).resolve().parent
IMAGE = "extra/benchmarks/fileio"
PYTHON = "/usr/bin/python3"  # the proxy's interpreter (its #! line), for the facts
# (chunk, configuration, phase, least throughput x native): small writes at <= 5x
# (uhyve) and <= 10x (QEMU+KVM) native's time per call; a 1 GiB read at >= 0.8x
# native in 1 MiB chunks, >= 0.5x in 64 KiB; writes in 1 MiB chunks at >= 0.5x.
TARGETS = ((64, "uhyve", "write", 0.2), (64, "microvm-kvm", "write", 0.1),
           (1 << 20, "uhyve", "read", 0.8), (64 << 10, "uhyve", "read", 0.5),
           (1 << 20, "uhyve", "write", 0.5))
PRIME_CHUNK = 1 << 20
DEFAULT_CHUNKS = "64@6,64K@1024,1M@1024"
TIMEOUT = 300.0  # seconds for one run
LINE = re.compile(r"^fileio (.*)$", re.M)
FIELDS = ("write_s", "fsync_s", "read_s", "write_mib_s", "read_mib_s")


@dataclass
class Cell:
    """One configuration at one chunk size: the figures of every timed run."""

    config: Config
    chunk: int
    mib: int
    runs: list[dict[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.config.skip is None and self.error is None and bool(self.runs)

    def median(self, key: str) -> float | None:
        return statistics.median(r[key] for r in self.runs) if self.ok else None

    def per_call_us(self, phase: str) -> float | None:
        if not self.ok:
            return None
        return statistics.median(r[f"{phase}_s"] / r[f"{phase}_calls"] for r in self.runs) * 1e6


def parse_size(text: str) -> tuple[int, int]:
    """CHUNK or CHUNK@MIB (64K@1024): the chunk in bytes and the file's MiB (0: --mib)."""
    m = re.fullmatch(r"(\d+)([KkMm]?)(?:@(\d+))?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 65536, 64K, 1M or "
                                         "64@6 (a chunk and the file's MiB)")
    n = int(m.group(1)) << {"": 0, "k": 10, "m": 20}[m.group(2).lower()]
    if n < 8 or n % 8 or n > 1 << 30:
        raise argparse.ArgumentTypeError(f"chunk {text!r}: a multiple of 8 bytes, 8 B to 1 GiB")
    mib = int(m.group(3) or 0)
    if m.group(3) and not 1 <= mib <= 1 << 20:
        raise argparse.ArgumentTypeError(f"{text!r}: the file's MiB between 1 and 1048576")
    return n, mib


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sdk", required=True, type=Path, help="installed hermit prefix")
    p.add_argument("--runs", type=int, default=3, help="timed rounds (median)")
    p.add_argument("--mib", type=int, default=256,
                   help="file size in MiB for chunks given without @MIB")
    p.add_argument("--chunks", default=DEFAULT_CHUNKS,
                   help="bytes per read()/write() call, comma-separated, each with the "
                   f"file's MiB after an @ (default {DEFAULT_CHUNKS})")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("--svg", type=Path, help="also draw them (one chart) into this file")
    p.add_argument("--debug", action="store_true", help="tracebacks for errors")
    args = p.parse_args(argv)
    if args.runs < 1 or not 1 <= args.mib <= 1 << 20:
        p.error("--runs must be at least 1 and --mib between 1 and 1048576")
    try:
        chunks = dict(parse_size(c) for c in args.chunks.split(","))
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    args.chunks = {chunk: mib or args.mib for chunk, mib in chunks.items()}
    return args


def configs(sdk: Path, tmp: Path, kvm_problem: str | None) -> list[Config]:
    proxy, image = sdk / "bin/proxy", sdk / IMAGE
    if not proxy.is_file() or not image.is_file():
        raise BenchError(f"no {proxy} or {image} (build and install first: nox -s bench)")
    no_qemu = None if shutil.which(QEMU) else f"{QEMU} not found (apt install qemu-system-x86)"
    native = Config("native", "Linux native (static musl)", [str(tmp / "fileio-native")],
                    clean_environment())
    native.skip = build_native(HERE / "fileio.c", tmp / "fileio-native")
    out = [native]
    for key, label, isle, kvm in (("uhyve", "uhyve", "uhyve", True),
                                  ("microvm-kvm", "QEMU microvm + KVM", "qemu", True),
                                  ("microvm-tcg", "QEMU microvm (TCG)", "qemu", False)):
        env = dict(clean_environment(), HERMIT_ISLE=isle, HERMIT_KVM="1" if kvm else "0")
        if isle == "qemu":
            env["HERMIT_MACHINE"] = "microvm"
        skip = (kvm_problem if kvm else None) or (no_qemu if isle == "qemu" else None)
        out.append(Config(key, label, [str(proxy), str(image)], env, hermit=True, kvm=kvm,
                          skip=skip))
        if key == "uhyve":  # the figures before issue 10, in the same run
            trap = tmp / "fileio-trap"
            out.append(Config("uhyve-trap", TRAP_LABEL, [str(proxy), str(trap)], env,
                              hermit=True, kvm=True,
                              skip=kvm_problem or build_trapping(sdk, HERE / "fileio.c", trap)))
    return out


def run_once(cfg: Config, cwd: Path, mib: int, chunk: int) -> dict[str, float]:
    """One run in `cwd`; the program's figures.  Raises BenchError with the reason."""
    argv = cfg.argv + [f"fileio-{chunk}.dat", str(mib), str(chunk)]
    try:
        p = subprocess.run(argv, cwd=cwd, env=cfg.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError(f"did not exit within {TIMEOUT:g} s") from None
    except OSError as e:
        raise BenchError(f"cannot run {argv[0]}: {e.strerror}") from None
    m = LINE.search(p.stdout)
    if p.returncode != 0 or not m:
        lines = p.stderr.strip().splitlines()
        why = f": {lines[-1].strip()}" if lines else ""
        raise BenchError(f"exit status {p.returncode}{why}" if p.returncode
                         else "no 'fileio ...' line in its output")
    figures = dict(kv.split("=", 1) for kv in m.group(1).split())
    try:
        return {k: float(v) for k, v in figures.items() if k != "checksum"}
    except ValueError:
        raise BenchError(f"unreadable figures: {m.group(0)!r}") from None


def measure(cells: list[Cell], tmp: Path, runs: int) -> None:
    """`runs` rounds of every cell, each timed run right after a native priming run.

    Priming: the native program writes and drops a file of the same size just before, so
    the timed run mostly finds freshly freed memory for its page cache.  On hosts that hand
    free memory back to their own hypervisor (virtio-balloon free page reporting, as here)
    a write that gets such memory pays ~1 µs per KiB to fault it in again, on Linux and in
    the guest alike, most often right after a VM exited.  Medians absorb what is left.
    """
    todo = [c for c in cells if not c.config.skip]
    primer = next((c for c in todo if c.config.key == "native"), None)
    for n in range(runs):
        progress(f"round {n + 1} of {runs}")
        for c in todo:
            if c.error:
                continue
            t0 = time.perf_counter()
            if primer is not None:
                try:
                    run_once(primer.config, tmp, c.mib, PRIME_CHUNK)
                except BenchError as e:
                    primer.error, primer.runs, primer = f"priming run: {e}", [], None
                    progress(f"native priming run FAILED: {e}; going on without")
            t1 = time.perf_counter()
            try:
                c.runs.append(run_once(c.config, tmp, c.mib, c.chunk))
            except BenchError as e:
                c.error, c.runs = str(e), []
                progress(f"{c.config.label}, {size_text(c.chunk)} chunks: FAILED: {e}")
                continue
            r, t2 = c.runs[-1], time.perf_counter()
            progress(f"{c.config.label}, {size_text(c.chunk)}: write {r['write_mib_s']:.0f} "
                     f"read {r['read_mib_s']:.0f} MiB/s ({t2 - t1:.1f} s, primed in "
                     f"{t1 - t0:.1f} s)")


def size_text(n: int) -> str:
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def filesystem(path: Path) -> str:
    """'ext4 on /dev/vda' for the mount holding path (longest mount point prefix)."""
    best = ("", "unknown", "?")
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                dev, mnt, kind = line.split()[:3]
                if (str(path) + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) > len(best[0]):
                    best = (mnt, kind, dev)
    except OSError:
        pass
    return f"{best[1]} on {best[2]} (mounted at {best[0] or '?'})"


def table(cells: list[Cell]) -> str:
    native = {c.chunk: c for c in cells if c.config.key == "native" and c.ok}
    head = ["configuration", "chunk", "file", "write MiB/s", "read MiB/s", "× native write",
            "× native read", "µs/write", "µs/read", "fsync ms", "runs", "note"]
    rows = [head]
    for c in cells:
        label, chunk = c.config.label, size_text(c.chunk)
        if not c.ok:
            why = f"n/a: {c.config.skip}" if c.config.skip else f"error: {c.error}"
            rows.append([label, chunk, f"{c.mib} MiB"] + ["—"] * 7 + ["0", why])
            continue
        base = native.get(c.chunk)
        w, r = c.median("write_mib_s"), c.median("read_mib_s")
        rows.append([label, chunk, f"{c.mib} MiB", f"{w:.0f}", f"{r:.0f}",
                     fmt_ratio(w / base.median("write_mib_s")) if base else "—",
                     fmt_ratio(r / base.median("read_mib_s")) if base else "—",
                     f"{c.per_call_us('write'):.0f}", f"{c.per_call_us('read'):.0f}",
                     f"{c.median('fsync_s') * 1e3:.0f}", str(len(c.runs)), ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = [False, True, True] + [True] * (len(head) - 4) + [False]

    def line(cells: list[str]) -> str:
        cols = zip(cells, widths, right, strict=True)
        return "| " + " | ".join(c.rjust(w) if rj else c.ljust(w) for c, w, rj in cols) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if rj else ("-" * (w + 2))
                         for w, rj in zip(widths, right, strict=True)) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows[1:]])


def targets(cells: list[Cell]) -> list[tuple[str, str]]:
    """(PASS|FAIL|N/A, what and the figure) for each of TARGETS."""
    out = []
    for chunk, key, phase, least in TARGETS:
        pick = {c.config.key: c for c in cells if c.chunk == chunk}
        what = (f"{pick[key].config.label if key in pick else key} {phase}s in "
                f"{size_text(chunk)} chunks at >= {least:g}x native")
        if least < 1:
            what += f" (<= {1 / least:g}x its time per call)"
        cell, native = pick.get(key), pick.get("native")
        missing = next((c for c in (cell, native) if c is None or not c.ok), False)
        if missing is not False:
            why = (f"no run with {size_text(chunk)} chunks (see --chunks)" if missing is None
                   else f"{missing.config.label}: "
                   f"{missing.config.skip or 'error: ' + str(missing.error)}")
            out.append(("N/A", f"{what}: {why}"))
            continue
        x = cell.median(f"{phase}_mib_s") / native.median(f"{phase}_mib_s")
        gap = "" if x >= least else f" (a gap: {least / x:.1f}x short)"
        out.append(("PASS" if x >= least else "FAIL", f"{what}: {fmt_ratio(x)}{gap}"))
    return out


def render(facts: dict[str, str], cells: list[Cell], verdicts: list[tuple[str, str]]) -> str:
    out = ["## File I/O throughput", "",
           f"`{IMAGE}` writes a host file in write() calls of one chunk, fsyncs, "
           "reads it back in read() calls of the same chunk and checks it (untimed). MiB/s "
           "and µs per call come from the program's own CLOCK_MONOTONIC timing of its write "
           "loop and its read loop (fsync apart); medians of the rounds. The read follows "
           "the write, so the host's page cache serves it, natively and in the guest "
           "alike.", ""]
    out += [f"- **{k}**: {v}" for k, v in facts.items()]
    out += ["", table(cells), "", "### Targets", ""]
    out += [f"- **{v}** {detail}" for v, detail in verdicts]
    return "\n".join(out)


def to_json(facts: dict[str, str], cells: list[Cell], verdicts: list[tuple[str, str]]) -> dict:
    return {
        "machine": facts,
        "cells": [{"key": c.config.key, "label": c.config.label, "chunk": c.chunk, "mib": c.mib,
                   "skip": c.config.skip, "error": c.error, "runs": c.runs,
                   "median": {k: c.median(k) for k in FIELDS}} for c in cells],
        "targets": [{"verdict": v, "detail": d, "chunk": t[0], "config": t[1], "phase": t[2],
                     "ratio": t[3]} for (v, d), t in zip(verdicts, TARGETS, strict=True)],
    }


def chart_rows(cells: list[Cell]) -> list[Row]:
    """Write and read throughput per chunk size, × native per loader; uhyve's target
    where TARGETS has one."""
    rows = []
    for chunk in dict.fromkeys(c.chunk for c in cells):
        same = [c for c in cells if c.chunk == chunk]
        native = next((c for c in same if c.config.key == "native" and c.ok), None)
        for key, what in (("write_mib_s", "write"), ("read_mib_s", "read")):
            if native is None or not native.median(key):
                continue
            ratios = {c.config.label: c.median(key) / native.median(key) if c.ok else None
                      for c in same if c.config.key != "native"}
            least = next((t[3] for t in TARGETS
                          if t[:3] == (chunk, "uhyve", what)), None)
            rows.append(Row(f"{what}, {size_text(chunk)} chunks", ratios, least))
    return rows


def bench(args: argparse.Namespace) -> int:
    sdk = args.sdk.resolve()
    if not sdk.is_dir():
        raise BenchError(f"--sdk {args.sdk} is not a directory (build and install first)")
    kvm_problem = kvm_problem_from(sdk)
    try:
        workdir = tempfile.TemporaryDirectory(prefix="hermit-fileio-", dir=".")
    except OSError as e:
        raise BenchError(f"cannot create a directory in {Path.cwd()}: {e.strerror} (the guest "
                         "sees only the working directory: run from a writable one)") from None
    with workdir as tmpdir:
        tmp = Path(tmpdir).resolve()
        cfgs = configs(sdk, tmp, kvm_problem)
        for cfg in cfgs:
            if cfg.skip:
                progress(f"{cfg.label}: n/a: {cfg.skip}")
        cells = [Cell(cfg, chunk, mib) for cfg in cfgs for chunk, mib in args.chunks.items()]
        facts = machine_facts(kvm_problem, PYTHON, QEMU)
        facts["File system"] = filesystem(tmp)
        facts["Load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        measure(cells, tmp, args.runs)
    verdicts = targets(cells)
    print(render(facts, cells, verdicts))
    if args.json:
        args.json.write_text(json.dumps(to_json(facts, cells, verdicts), indent=2))
    if args.svg:
        write_svg(args.svg, "File I/O throughput", chart_rows(cells))
    failed = [c for c in cells if c.error]
    for c in failed:
        print(f"bench: {c.config.label}, {size_text(c.chunk)} chunks failed: {c.error}",
              file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(parse_args, bench, "bench", argv)


if __name__ == "__main__":
    sys.exit(main())
