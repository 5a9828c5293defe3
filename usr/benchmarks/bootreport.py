"""Present boot.py's measurements: machine facts, a Markdown table and the issue's targets."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass

from bootmeasure import Result

TARGET_BOOT_US = 1000.0  # boot to main under 1 ms
TARGET_SIZE_KB = 200.0  # stripped hello under 200 KB


@dataclass
class Target:
    name: str
    verdict: str  # PASS, FAIL or N/A
    detail: str


@dataclass
class Sizes:
    """Stripped sizes in KB (None: not measured, with the reason in `why`)."""

    image: str
    hermit_kb: float | None
    native_kb: float | None
    why: str = ""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = (p.stdout or p.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def machine_facts(kvm_problem: str | None, python: str, qemu: str) -> dict[str, str]:
    return {
        "CPU": f"{cpu_model()} ({os.cpu_count() or '?'} logical cpus)",
        "Kernel": f"{platform.system()} {platform.release()}",
        "KVM": "usable" if kvm_problem is None else f"not usable: {kvm_problem}",
        "QEMU": command_version([qemu, "--version"]),
        "Loader's Python": command_version([python, "--version"]),
    }


def fmt_ms(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1:
        return f"{x:.2g}×"
    return f"{x:.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def row(r: Result, base: Result | None, native: Result | None) -> list[str]:
    label = r.config.label
    if r.config.skip:
        return [label, "n/a", "—", "—", "—", "—", "0", f"n/a: {r.config.skip}"]
    if not r.ok:
        return [label, "error", "—", "—", "—", "—", "0", f"error: {r.error}"]
    b2m = r.boot_median_us
    b2m_text = f"{b2m:.0f}" if b2m is not None else ("?" if r.config.hermit else "—")
    vs_base = ratio(r.median_ms, base.median_ms) if base else None
    vs_native = ratio(r.median_ms, native.median_ms) if native else None
    return [label, fmt_ms(r.median_ms), fmt_ms(r.min_ms), fmt_ratio(vs_base),
            fmt_ratio(vs_native), b2m_text, str(len(r.wall_ns)), ""]


def markdown_table(results: list[Result], base: Result | None, native: Result | None) -> str:
    base_name = base.config.label if base else "QEMU microvm (not measured)"
    native_name = "Linux native" if native and native.ok else "Linux native (not measured)"
    head = ["configuration", "median ms", "min ms", f"× {base_name}", f"× {native_name}",
            "boot→main µs", "runs", "note"]
    rows = [head] + [row(r, base, native) for r in results]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = [False] + [True] * (len(head) - 2) + [False]

    def line(cells: list[str]) -> str:
        cols = zip(cells, widths, right, strict=True)
        padded = [c.rjust(w) if rj else c.ljust(w) for c, w, rj in cols]
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if rj else ("-" * (w + 2))
                         for w, rj in zip(widths, right, strict=True)) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows[1:]])


def check_targets(by_key: dict[str, Result], sizes: Sizes) -> list[Target]:
    return [uhyve_target(by_key), boot_target(by_key), size_target(sizes)]


def uhyve_target(by_key: dict[str, Result]) -> Target:
    name = "uhyve faster than QEMU microvm + KVM"
    uhyve, qemu = by_key.get("uhyve"), by_key.get("microvm-kvm")
    for r in (uhyve, qemu):
        if r is None or not r.ok:
            why = "not run" if r is None else r.config.skip or f"error: {r.error}"
            return Target(name, "N/A", f"{r.config.label if r else 'configuration'}: {why}")
    x = uhyve.median_ms / qemu.median_ms
    verdict = "PASS" if x < 1 else "FAIL"
    return Target(name, verdict, f"median {fmt_ms(uhyve.median_ms)} ms against "
                  f"{fmt_ms(qemu.median_ms)} ms = {fmt_ratio(x)}")


def boot_target(by_key: dict[str, Result]) -> Target:
    name = f"boot-to-main under {TARGET_BOOT_US / 1000:g} ms"
    hermit = [r for r in by_key.values() if r.config.hermit and r.boot_median_us is not None]
    if not hermit:
        return Target(name, "N/A", "no hermit configuration reported its boot-to-main time")
    fastest = min(hermit, key=lambda r: r.median_ms)
    us = fastest.boot_median_us
    verdict = "PASS" if us < TARGET_BOOT_US else "FAIL"
    missing = [r.config.label for r in by_key.values() if r.config.hermit and r.config.skip]
    note = f"; not available here: {', '.join(missing)}" if missing else ""
    return Target(name, verdict, f"{us:.0f} µs = {fmt_ratio(us / TARGET_BOOT_US)} the target, "
                  f"under {fastest.config.label}, the fastest loader that ran{note}")


def size_target(sizes: Sizes) -> Target:
    name = f"stripped hello under {TARGET_SIZE_KB:g} KB"
    if sizes.hermit_kb is None:
        return Target(name, "N/A", sizes.why or "not measured")
    kb = sizes.hermit_kb
    detail = f"{kb:.1f} KB = {fmt_ratio(kb / TARGET_SIZE_KB)} the target"
    if sizes.native_kb:
        detail += (f"; {fmt_ratio(kb / sizes.native_kb)} the static musl Linux binary "
                   f"({sizes.native_kb:.1f} KB)")
    return Target(name, "PASS" if kb < TARGET_SIZE_KB else "FAIL", detail)


def render(facts: dict[str, str], table: str, base: Result | None, image: str,
           targets: list[Target]) -> str:
    out = ["## Boot time", "", f"Image: `{image}`. Wall time from process start to exit; "
           "boot→main is the guest's own TSC count from its first instruction to `main`.", ""]
    out += [f"- **{k}**: {v}" for k, v in facts.items()]
    if base is None:
        out += ["- Ratios: no QEMU microvm configuration ran, so no ratio against it"]
    out += ["", table, "", "### Targets", ""]
    out += [f"- **{t.verdict}** {t.name}: {t.detail}" for t in targets]
    return "\n".join(out)


def to_json(facts: dict[str, str], results: list[Result], base: Result | None,
            sizes: Sizes, targets: list[Target]) -> dict:
    return {
        "machine": facts,
        "baseline": base.config.key if base else None,
        "configurations": [
            {
                "key": r.config.key, "label": r.config.label, "skip": r.config.skip,
                "error": r.error, "wall_ns": r.wall_ns, "median_ms": r.median_ms,
                "min_ms": r.min_ms, "boot_to_main_us": r.boot_us,
                "boot_to_main_median_us": r.boot_median_us,
                "ratio_to_baseline": ratio(r.median_ms, base.median_ms) if base else None,
            }
            for r in results
        ],
        "sizes_kb": {"image": sizes.image, "hermit_stripped": sizes.hermit_kb,
                     "native_stripped": sizes.native_kb, "target": TARGET_SIZE_KB},
        "targets": [{"name": t.name, "verdict": t.verdict, "detail": t.detail} for t in targets],
    }
