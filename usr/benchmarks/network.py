"""The guest's network stack over 127.0.0.1 (issue 12), hermit against Linux.

    python usr/benchmarks/network.py --sdk build/stage/opt/hermit [--runs N] [--no-tcg]

Runs `tcp_loopback` (bulk TCP in 64 KiB writes; connect+request+reply+close latency)
and `netio --selftest` (a stream of each chunk size there and back, every byte
checked) natively as static musl binaries and under every loader this host can run,
HERMIT_CPUS=2.  Every figure is the median over --runs runs beside its ratio to the
native figure of the same session (x = hermit / native; for latencies lower is
better).  Both ends run in one process, so this measures the stack, not a NIC; the
issue's targets (host to guest through a forwarded port) are network_targets.py's.  A run that
fails is reported as `fails: <reason>` and the rest goes on.  Exit status: 0, 1 when
the SDK is unusable, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from boot import QEMU, BenchError, kvm_problem_from, run_cli
from bootmeasure import clean_environment, progress
from bootreport import fmt_ratio

HERE = Path(__file__).resolve().parent
TIMEOUT = 600  # seconds for one run: TCG is slow

# name -> (source, image in the SDK, arguments, metrics: key, label, unit, higher is better)
BENCHES = {
    "tcp_loopback": ("tcp_loopback.c", "extra/benchmarks/tcp_loopback", ["64", "1000"], [
        ("stream_MBps", "bulk TCP, 64 KiB writes", "MB/s", True),
        ("rr_p50_us", "connect+request+close p50", "µs", False),
        ("rr_p99_us", "connect+request+close p99", "µs", False),
    ]),
    "netio": ("netio.c", "extra/benchmarks/netio", ["--selftest", "-b", str(16 << 20)], [
        (f"{d}_{k}", f"netio {k // 1024} KiB chunks, {'to' if d == 'tx' else 'from'} the server",
         "MB/s", True) for k in (1024, 65536) for d in ("tx", "rx")
    ]),
}
NETIO = re.compile(r"^netio: chunk=(\d+) bytes=\d+ tx_MBps=([\d.]+) rx_MBps=([\d.]+)$", re.M)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sdk", required=True, type=Path, help="installed hermit prefix")
    p.add_argument("--runs", type=int, default=3, help="runs of each (median)")
    p.add_argument("--no-tcg", action="store_true", help="skip QEMU without KVM")
    p.add_argument("--debug", action="store_true", help="tracebacks for errors")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs at least 1")
    return args


def figures(name: str, stdout: str) -> dict[str, float]:
    if name == "netio":
        out = {}
        for chunk, tx, rx in NETIO.findall(stdout):
            out[f"tx_{chunk}"], out[f"rx_{chunk}"] = float(tx), float(rx)
        return out
    return {k: float(v) for k, v in re.findall(r"^(\w+)=([\d.]+)$", stdout, re.M)}


def once(argv: list[str], env: dict[str, str], cwd: str, name: str) -> dict[str, float]:
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    got = figures(name, p.stdout)
    if p.returncode != 0 or not got:
        last = (p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or ["no output"])
        raise BenchError(f"exit status {p.returncode}: {last[-1]}")
    return got


def configs(sdk: Path, args: argparse.Namespace) -> list[tuple[str, dict[str, str] | None, str]]:
    """(label, environment for the proxy or None for native, why skipped or '')."""
    kvm = kvm_problem_from(sdk) or ""
    qemu = "" if shutil.which(QEMU) else f"{QEMU} not found"
    base = dict(clean_environment(), HERMIT_CPUS="2", HERMIT_TIMEOUT=str(TIMEOUT))
    out = [("Linux native (static musl)", None,
            "" if shutil.which("musl-gcc") else "musl-gcc not found (apt install musl-tools)"),
           ("uhyve", dict(base, HERMIT_ISLE="uhyve"), kvm),
           ("QEMU microvm + KVM", dict(base, HERMIT_ISLE="qemu", HERMIT_KVM="1"), kvm or qemu)]
    if not args.no_tcg:
        out.append(("QEMU microvm (TCG)", dict(base, HERMIT_ISLE="qemu", HERMIT_KVM="0"), qemu))
    return out


def bench(args: argparse.Namespace) -> int:
    sdk = args.sdk.resolve()
    if not (sdk / "bin/proxy").exists():
        raise BenchError(f"{sdk}: no bin/proxy (build and stage the SDK first)")
    results: dict[str, dict[str, dict[str, float] | str]] = {}
    cfgs = configs(sdk, args)
    with tempfile.TemporaryDirectory(prefix="hermit-net-") as tmp:
        for name, (src, image, argv, _) in BENCHES.items():
            native = Path(tmp) / name
            built = subprocess.run(["musl-gcc", "-static", "-O2", "-pthread", "-o", str(native),
                                    str(HERE / src)], capture_output=True, text=True) \
                if shutil.which("musl-gcc") else None
            for label, env, skip in cfgs:
                if skip:
                    results.setdefault(name, {})[label] = f"n/a: {skip}"
                    continue
                if env is None and (built is None or built.returncode):
                    results.setdefault(name, {})[label] = "n/a: musl-gcc failed"
                    continue
                cmd = [str(native), *argv] if env is None else \
                    [str(sdk / "bin/proxy"), str(sdk / image), *argv]
                runs = []
                try:
                    for n in range(args.runs):
                        progress(f"{name} under {label}, run {n + 1} of {args.runs}")
                        runs.append(once(cmd, env or clean_environment(), tmp, name))
                except (BenchError, subprocess.TimeoutExpired) as e:
                    results.setdefault(name, {})[label] = f"fails: {e}"
                    continue
                results.setdefault(name, {})[label] = {
                    k: statistics.median(r[k] for r in runs if k in r) for k in runs[0]}
    print(report(results, cfgs, args.runs))
    return 0


def report(results, cfgs, runs: int) -> str:
    labels = [c[0] for c in cfgs]
    lines = ["## Network stack over 127.0.0.1", "",
             f"Both ends in one process, HERMIT_CPUS=2; medians of {runs} runs; "
             "× = hermit / Linux native (latency: lower is better).", "",
             "| | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for name, (_, _, _, metrics) in BENCHES.items():
        row = results.get(name, {})
        native = row.get(labels[0])
        for key, label, unit, _higher in metrics:
            cells = []
            for lab in labels:
                r = row.get(lab)
                if not isinstance(r, dict):
                    cells.append(str(r))
                    continue
                v = r.get(key)
                base = native.get(key) if isinstance(native, dict) else None
                x = v / base if v is not None and base else None
                cells.append("—" if v is None else
                             f"{v:.1f}" + ("" if lab == labels[0] else f" ({fmt_ratio(x)})"))
            lines.append(f"| {label} ({unit}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run_cli(parse_args, bench, "network", argv)


if __name__ == "__main__":
    sys.exit(main())
