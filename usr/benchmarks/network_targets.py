"""Issue 12's targets: the HTTP server and netio reached from the host, hermit against
what users run instead, all in the same run.

    python usr/benchmarks/network_targets.py --sdk build/stage/opt/hermit [--rounds N]
        [--wrk-seconds S] [--cpus N] [--tcg] [--json FILE] [--svg FILE]

Baselines: the same servers (usr/tests/server.c, usr/benchmarks/netio.c) built natively
(static musl) on loopback, and in a network namespace of their own behind slirp4netns
with a port forward (a rootless container's network).  hermit: the images under uhyve
and QEMU+KVM with user-mode networking and HERMIT_APP_PORT, and on a tap device in a
network namespace the bench makes (root and a loader with HERMIT_NETIF only).  From the
host: `wrk -t1 -c16 -d10s` on /hello (requests/s), `netio -c` in 64 KiB chunks (MB/s
host to guest and back, every byte checked), `http_rr` (connect+request+close, p50 and
p99 of 1,000).  Each round runs every configuration once, in turn, so a drift of the
host touches them alike; a ratio is the median of the rounds' own ratios.  Targets:
user-mode >= 1x slirp4netns (requests/s, both netio directions) under uhyve and
QEMU+KVM, tap >= 0.5x native loopback; a miss is printed as FAIL with its gap.
Exit status: 0 (a target may fail), 1 when nothing could be built.
"""

from __future__ import annotations

import argparse
import json
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
from chart import Row, write_svg
from netplaces import Place, places

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
GUEST_PORT = 8080
NETIO_PORT = 18767
# key, label, unit, higher is better
METRICS = (("rps", "HTTP requests/s (wrk, 16 conns)", "req/s", True),
           ("tx", "netio 64 KiB, host to guest", "MB/s", True),
           ("rx", "netio 64 KiB, guest to host", "MB/s", True),
           ("p50", "connect+request+close p50", "µs", False),
           ("p99", "connect+request+close p99", "µs", False))
# (place keys, metric, baseline, bound): figure / baseline >= bound
TARGETS = [(("uhyve", "qemu-kvm"), m, "slirp4netns", 1.0) for m in ("rps", "tx", "rx")] + \
          [(("uhyve-tap", "qemu-kvm-tap"), m, "native", 0.5) for m in ("rps", "tx", "rx")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sdk", required=True, type=Path, help="installed hermit prefix")
    p.add_argument("--rounds", type=int, default=3, help="rounds (median of their ratios)")
    p.add_argument("--wrk-seconds", type=int, default=10, help="wrk's duration")
    p.add_argument("--netio-bytes", type=int, default=32 << 20, help="netio's stream")
    p.add_argument("--rr", type=int, default=1000, help="connect+request+close samples")
    p.add_argument("--cpus", type=int, default=1,
                   help="the guests' HERMIT_CPUS (1, hermit's default: the servers are "
                        "single-threaded, as their native builds)")
    p.add_argument("--tcg", action="store_true", help="also QEMU without KVM (slow)")
    p.add_argument("--python-pump", action="store_true",
                   help="also uhyve with nic.py's own loop (HERMIT_NIC_PUMP=python)")
    p.add_argument("--only", help="comma-separated configuration keys (and the baselines)")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("--svg", type=Path, help="also draw them (one chart) into this file")
    p.add_argument("--debug", action="store_true", help="tracebacks for errors")
    a = p.parse_args(argv)
    if a.rounds < 1 or a.wrk_seconds < 1 or a.netio_bytes < 1 or a.rr < 1 or a.cpus < 1:
        p.error("--rounds, --wrk-seconds, --netio-bytes, --rr and --cpus must be positive")
    return a


def build_natives(out: Path) -> dict[str, Path] | str:
    """server, netio and http_rr as static musl binaries; or why not."""
    if not shutil.which("musl-gcc"):
        return "musl-gcc not found: apt-get install musl-tools"
    srcs = {"server": [ROOT / "usr/tests/server.c", ROOT / "usr/tests/server_selftest.c"],
            "netio": [HERE / "netio.c"], "http_rr": [HERE / "http_rr.c"]}
    for name, files in srcs.items():
        p = subprocess.run(["musl-gcc", "-static", "-O2", "-pthread", *map(str, files),
                            "-o", str(out / name)], capture_output=True, text=True)
        if p.returncode:
            return f"musl-gcc {name}: " + (p.stderr.strip().splitlines() or ["failed"])[-1]
    return {n: out / n for n in srcs}


def client(argv: list[str], timeout: float) -> str:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        said = (p.stderr.strip() or p.stdout.strip() or "no output").splitlines()[-1]
        raise BenchError(f"{Path(argv[0]).name if '/' in argv[0] else argv[0]}: {said} "
                         f"(exit status {p.returncode})")
    return p.stdout


def http_figures(place: Place, a, sdk: Path, bins: dict[str, Path]) -> dict[str, float]:
    out: dict[str, float] = {}
    run = place.start(sdk, [str(bins["server"]), str(GUEST_PORT)],
                      [str(sdk / "extra/tests/server"), str(GUEST_PORT)], GUEST_PORT)
    try:
        url = f"http://{run.addr}:{run.port}/hello"
        if shutil.which("wrk"):
            text = client([*run.prefix, "wrk", "-t1", "-c16", f"-d{a.wrk_seconds}s", url],
                          a.wrk_seconds + 60)
            m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
            bad = re.search(r"^\s*(Non-2xx or 3xx responses: \d+)$", text, re.M)
            if not m or bad:
                raise BenchError(f"wrk: {bad[1] if bad else 'no Requests/sec line'}")
            out["rps"] = float(m[1])
            # a request without an answer in wrk's 2 s (a loaded host): counted, said
            errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                             r"timeout (\d+)", text)
            out["wrk_errors"] = float(sum(map(int, errs.groups()))) if errs else 0.0
        text = client([*run.prefix, str(bins["http_rr"]), run.addr, str(run.port), str(a.rr)],
                      600)
        out.update({k: float(v) for k, v in re.findall(r"^rr_(p50|p99)_us=([\d.]+)$", text, re.M)})
        if run.procs[0].poll() is not None:
            raise BenchError("the server ended during the run")
    finally:
        run.stop()
    return out


def netio_figures(place: Place, a, sdk: Path, bins: dict[str, Path]) -> dict[str, float]:
    run = place.start(sdk, [str(bins["netio"]), "-s", "-p", str(NETIO_PORT)],
                      [str(sdk / "extra/benchmarks/netio"), "-s", "-p", str(NETIO_PORT)],
                      NETIO_PORT)
    try:
        text = client([*run.prefix, str(bins["netio"]), "-c", run.addr, "-p", str(run.port),
                       "-b", str(a.netio_bytes), "-k", "64k"], 600)
        m = re.search(r"^netio: chunk=65536 bytes=\d+ tx_MBps=([\d.]+) rx_MBps=([\d.]+)$",
                      text, re.M)
        if not m or not re.search(r"^netio: \d+ checks, 0 failed$", text, re.M):
            raise BenchError(f"netio: {text.strip().splitlines()[-1:]}")
        return {"tx": float(m[1]), "rx": float(m[2])}
    finally:
        run.stop()


def measure(a, cfgs: list[Place], sdk: Path, bins: dict[str, Path]):
    """{key: [one dict of figures per round]} and {key: why it failed}."""
    rounds: dict[str, list[dict[str, float]]] = {c.key: [] for c in cfgs}
    failed: dict[str, str] = {}
    for n in range(a.rounds):
        for c in cfgs:
            if c.skip or c.key in failed:
                continue
            progress(f"network targets: round {n + 1} of {a.rounds}: {c.label}")
            try:
                figs = http_figures(c, a, sdk, bins)
                figs.update(netio_figures(c, a, sdk, bins))
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                failed[c.key] = f"fails: {e}"
                progress(f"network targets: {c.label}: {e}")
                continue
            rounds[c.key].append(figs)
    return rounds, failed


def ratios(rounds, key: str, base: str, metric: str) -> list[float]:
    """This configuration's figure over the baseline's, round by round (a failure
    ends a configuration's rounds, so both lists start at round 1)."""
    pairs = zip(rounds.get(key, []), rounds.get(base, []), strict=False)
    return [r[metric] / b[metric] for r, b in pairs if r.get(metric) and b.get(metric)]


def summarize(cfgs, rounds, failed) -> dict:
    out = {}
    for c in cfgs:
        entry: dict = {"label": c.label}
        if c.skip or c.key in failed:
            entry["error"] = c.skip or failed[c.key]
        else:
            for key, *_ in METRICS:
                vals = [r[key] for r in rounds[c.key] if key in r]
                entry[key] = statistics.median(vals) if vals else None
                for base in ("native", "slirp4netns"):
                    rs = ratios(rounds, c.key, base, key)
                    entry[f"{key}_x_{base}"] = statistics.median(rs) if rs else None
                    entry[f"{key}_x_{base}_rounds"] = rs
        out[c.key] = entry
    return out


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def table(cfgs, s: dict) -> list[str]:
    lines = ["| configuration | " + " | ".join(f"{m[1]} ({m[2]})" for m in METRICS) + " |",
             "|---|" + "---:|" * len(METRICS)]
    for c in cfgs:
        e = s[c.key]
        if "error" in e:
            lines.append(f"| {c.label} | {e['error']} |" + " |" * (len(METRICS) - 1))
            continue
        cells = []
        for key, *_ in METRICS:
            x = [fmt_ratio(e.get(f"{key}_x_{b}")) for b in ("slirp4netns", "native")
                 if c.key != b]
            cells.append(fmt(e.get(key)) + (f" ({' / '.join(x)})" if x else ""))
        lines.append(f"| {c.label} | " + " | ".join(cells) + " |")
    return lines


def targets(cfgs, s: dict) -> list[dict]:
    out = []
    labels = {c.key: c.label for c in cfgs}
    for keys, metric, base, bound in TARGETS:
        name = f"{dict((m[0], m[1]) for m in METRICS)[metric]} >= {bound:g}x {labels[base]}"
        for k in keys:
            if k not in s or base not in s:
                continue  # not measured in this run (--only, or not offered here)
            e, b = s[k], s[base]
            if "error" in e or "error" in b:
                detail = e.get("error") or f"no baseline: {b['error']}"
                out.append({"config": labels[k], "target": name, "verdict": "N/A",
                            "detail": detail})
                continue
            x, rs = e.get(f"{metric}_x_{base}"), e.get(f"{metric}_x_{base}_rounds", [])
            if x is None:
                out.append({"config": labels[k], "target": name, "verdict": "N/A",
                            "detail": "no figure"})
                continue
            ok = x >= bound
            detail = (f"{x:.2f}x (rounds {min(rs):.2f}-{max(rs):.2f}x)"
                      + ("" if ok else f": gap {bound - x:.2f}x ({fmt(e[metric])} against "
                                       f"{fmt(b[metric] * bound)} needed)"))
            out.append({"config": labels[k], "target": name,
                        "verdict": "PASS" if ok else "FAIL", "detail": detail})
    return out


def noise(cfgs, rounds) -> list[str]:
    """How much each baseline moved between rounds: max / min per figure."""
    out = []
    for c in cfgs:
        if c.kind not in ("native", "slirp4netns") or len(rounds[c.key]) < 2:
            continue
        spread = []
        for key, *_ in METRICS:
            vals = [r[key] for r in rounds[c.key] if r.get(key)]
            if len(vals) > 1:
                spread.append(f"{key} {max(vals) / min(vals):.2f}")
        out.append(f"- noise: {c.label}, max/min over the rounds: " + ", ".join(spread))
    return out


def chart_rows(cfgs, s: dict) -> list[Row]:
    rows = []
    hermit = [c for c in cfgs if c.kind in ("hermit", "native")]
    for key, label, _unit, higher in METRICS:
        bound = next((t[3] for t in TARGETS if t[1] == key and t[2] == "slirp4netns"), None)
        rows.append(Row(f"{label} × slirp4netns" + ("" if higher else " (lower: better)"),
                        {c.label: s[c.key].get(f"{key}_x_slirp4netns") for c in hermit}, bound))
    taps = [c for c in cfgs if c.kind == "tap"]
    for key, label, _unit, _higher in METRICS[:3]:
        rows.append(Row(f"tap: {label} × native", {c.label: s[c.key].get(f"{key}_x_native")
                                                   for c in taps}, 0.5))
    return rows


def bench(a: argparse.Namespace) -> int:
    sdk = a.sdk.resolve()
    if not (sdk / "bin/proxy").is_file():
        raise BenchError(f"no bin/proxy under {a.sdk} (build and install first: nox -s bench)")
    kvm = kvm_problem_from(sdk)
    qemu = None if shutil.which(QEMU) else f"{QEMU} not found: apt-get install qemu-system-x86"
    base = dict(clean_environment(), HERMIT_CPUS=str(a.cpus), HERMIT_TIMEOUT="900")
    cfgs = places(sdk, kvm, qemu, a.tcg, base, a.python_pump)
    if a.only:
        keep = {"native", "slirp4netns", *a.only.split(",")}
        cfgs = [c for c in cfgs if c.key in keep]
    notes = []
    if not shutil.which("wrk"):
        notes.append("wrk not found: apt-get install wrk (or tools/install-deps --bench); "
                     "requests/s not measured")
    for n in notes:
        print(f"network targets: {n}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="hermit-nettargets-") as tmp:
        bins = build_natives(Path(tmp))
        if isinstance(bins, str):
            print(f"network targets: {bins}", file=sys.stderr)
            return 1
        rounds, failed = measure(a, cfgs, sdk, bins)
    s = summarize(cfgs, rounds, failed)
    checked = targets(cfgs, s)
    out = ["## The network through the NIC: issue 12's targets", "",
           f"Servers reached from the host; HERMIT_CPUS={a.cpus}; {a.rounds} rounds, each running "
           "every configuration in turn; figures are medians, (× slirp4netns / × native) "
           "the medians of each round's own ratio (latency: lower is better).", ""]
    out += [f"- {n}" for n in notes] + noise(cfgs, rounds)
    out += [f"- wrk's socket errors (timeouts of 2 s and the like) under {c.label}: "
            f"{sum(r.get('wrk_errors', 0) for r in rounds[c.key]):.0f} over the rounds"
            for c in cfgs if any(r.get("wrk_errors") for r in rounds.get(c.key, []))]
    out += ["", *table(cfgs, s), "", "### Targets", ""]
    out += [f"{t['verdict']:<4}  {t['config']}: {t['target']}: {t['detail']}" for t in checked]
    print("\n".join(out))
    if a.svg:
        write_svg(a.svg, "Network through the NIC (issue 12)", chart_rows(cfgs, s),
                  "slirp4netns (tap rows: × native)")
    if a.json:
        a.json.write_text(json.dumps({"rounds": a.rounds, "wrk_seconds": a.wrk_seconds,
                                      "notes": notes, "results": s, "targets": checked,
                                      "raw": rounds}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(parse_args, bench, "network_targets", argv)


if __name__ == "__main__":
    sys.exit(main())
