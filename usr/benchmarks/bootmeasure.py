"""Time whole processes: the configurations boot.py compares and how each one is run."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

WARMUP = 2
TIMEOUT = 120.0  # seconds for one run; pc+KVM needs a few
BOOT_TO_MAIN = re.compile(rb"boot to main (\d+(?:\.\d+)?) us")


@dataclass
class Config:
    """One way of running the program: a command line and the environment it needs."""

    key: str
    label: str
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    hermit: bool = False  # a hermit loader: boot-to-main is reported
    kvm: bool = False
    max_runs: int | None = None  # cap for slow configurations
    max_boot_runs: int = 5  # HERMIT_VERBOSE=1 runs for the boot-to-main median
    skip: str | None = None  # why it cannot run on this host


@dataclass
class Result:
    config: Config
    wall_ns: list[int] = field(default_factory=list)
    boot_us: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.config.skip is None and self.error is None and bool(self.wall_ns)

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.wall_ns) / 1e6 if self.ok else None

    @property
    def min_ms(self) -> float | None:
        return min(self.wall_ns) / 1e6 if self.ok else None

    @property
    def boot_median_us(self) -> float | None:
        return statistics.median(self.boot_us) if self.ok and self.boot_us else None


class RunFailed(Exception):
    pass


def clean_environment() -> dict[str, str]:
    """Our environment without HERMIT_* settings, which would change what is measured."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HERMIT_")}


def run_once(cfg: Config, expect: bytes | None, verbose: bool = False) -> tuple[int, bytes]:
    """Run cfg once; (wall-clock ns from process start to exit, stderr).  Raises RunFailed."""
    env = dict(cfg.env)
    if verbose:
        env["HERMIT_VERBOSE"] = "1"
    t0 = time.perf_counter_ns()
    try:
        p = subprocess.run(cfg.argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RunFailed(f"did not exit within {TIMEOUT:g} s") from None
    except OSError as e:
        raise RunFailed(f"cannot run {cfg.argv[0]}: {e.strerror}") from None
    wall = time.perf_counter_ns() - t0
    if p.returncode != 0:
        lines = p.stderr.decode(errors="replace").strip().splitlines()
        why = f": {lines[-1].strip()}" if lines else ""
        raise RunFailed(f"exit status {p.returncode}{why}")
    if expect is not None and expect not in p.stdout:
        raise RunFailed(f"{expect.decode()!r} missing from its output")
    return wall, p.stderr


def measure(cfg: Config, runs: int, expect: bytes | None) -> Result:
    """WARMUP untimed runs, then the timed ones, then (hermit only) the verbose ones."""
    result = Result(cfg)
    if cfg.skip:
        return result
    n = min(runs, cfg.max_runs) if cfg.max_runs else runs
    nboot = min(n, cfg.max_boot_runs) if cfg.hermit else 0
    progress(f"{cfg.label}: {WARMUP} warm-up + {n} timed + {nboot} verbose runs")
    try:
        for _ in range(WARMUP):
            run_once(cfg, expect)
        for _ in range(n):
            result.wall_ns.append(run_once(cfg, expect)[0])
        for _ in range(nboot):
            m = BOOT_TO_MAIN.search(run_once(cfg, expect, verbose=True)[1])
            if m:
                result.boot_us.append(float(m.group(1)))
    except RunFailed as e:
        result.error = str(e)
        result.wall_ns.clear()
        progress(f"{cfg.label}: FAILED: {e}")
    if nboot and not result.boot_us and result.error is None:
        progress(f"{cfg.label}: no 'boot to main' line in the kernel log (HERMIT_VERBOSE=1)")
    return result


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)
