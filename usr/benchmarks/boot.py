"""Boot-time benchmark: one hermit image under every loader, against Linux, in one run.

    python usr/benchmarks/boot.py --sdk build/stage/opt/hermit [--runs N] [--json FILE]

Times whole processes (start to exit) under uhyve, QEMU microvm/pc with and without
KVM, the same program as a static musl Linux binary, and `python3 -S` (the loader's
interpreter start); reads the guest's boot-to-main time from its kernel log; sizes the
stripped image; prints a Markdown table and the targets.  Configurations this host
cannot run are reported as n/a with the reason.  Exit status: 0 when everything that
could run ran (targets may fail), 1 when something failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from bootmeasure import Config, Result, clean_environment, measure, progress
from bootreport import (
    Sizes,
    check_targets,
    machine_facts,
    markdown_table,
    render,
    to_json,
)
from chart import Row, write_svg

HERE = Path(__file__).resolve().parent
SOURCES = [HERE.parent / "tests", HERE]  # where the Linux build finds <image>.c
HELLO = "extra/tests/hello"
QEMU = "qemu-system-x86_64"
PYTHON = "/usr/bin/python3"  # the proxy's interpreter (its #! line)
PC_KVM_RUNS = 5  # pc + KVM boots in seconds: cap its runs


class BenchError(Exception):
    """A setup problem that stops the benchmark: one line with a hint."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sdk", required=True, type=Path, help="installed hermit prefix")
    p.add_argument("--runs", type=int, default=20, help="timed runs per configuration")
    p.add_argument("--image", help=f"hermit image to boot (default: <sdk>/{HELLO})")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("--svg", type=Path, help="also draw them (one chart) into this file")
    p.add_argument("--debug", action="store_true", help="tracebacks for errors")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def kvm_problem_from(sdk: Path) -> str | None:
    """hermit_build.config.kvm_problem() of the SDK (or of the source tree)."""
    for where in (sdk / "lib/hermit/python", HERE.parents[1]):
        if (where / "hermit_build/config.py").is_file():
            sys.path.insert(0, str(where))
            break
    try:
        from hermit_build.config import kvm_problem
    except ImportError as e:
        raise BenchError(f"cannot import hermit_build from {sdk}: {e} (is it installed?)") from e
    return kvm_problem()


def resolve_image(sdk: Path, image: str | None) -> Path:
    path = Path(image) if image else sdk / HELLO
    if not path.is_file() and not path.is_absolute() and (sdk / path).is_file():
        path = sdk / path
    if not path.is_file():
        raise BenchError(f"no hermit image at {path} (build and install first: nox -s bench)")
    return path.resolve()


def hermit_configs(sdk: Path, image: Path, kvm_problem: str | None) -> list[Config]:
    proxy = sdk / "bin/proxy"
    if not os.access(proxy, os.X_OK):
        raise BenchError(f"no proxy at {proxy} (is --sdk an installed hermit prefix?)")
    no_qemu = None if shutil.which(QEMU) else f"{QEMU} not found (apt install qemu-system-x86)"
    base = clean_environment()
    table = [  # key, label, loader, machine, kvm
        ("uhyve", "uhyve", "uhyve", None, True),
        ("microvm-kvm", "QEMU microvm + KVM", "qemu", "microvm", True),
        ("pc-kvm", "QEMU pc + KVM", "qemu", "pc", True),
        ("microvm-tcg", "QEMU microvm (TCG)", "qemu", "microvm", False),
        ("pc-tcg", "QEMU pc (TCG)", "qemu", "pc", False),
    ]
    configs = []
    for key, label, isle, machine, kvm in table:
        env = dict(base, HERMIT_ISLE=isle, HERMIT_KVM="1" if kvm else "0")
        if machine:
            env["HERMIT_MACHINE"] = machine
        skip = (kvm_problem if kvm else None) or (no_qemu if isle == "qemu" else None)
        configs.append(Config(key, label, [str(proxy), str(image)], env, hermit=True, kvm=kvm,
                              skip=skip))
    pc_kvm = configs[2]
    pc_kvm.max_runs, pc_kvm.max_boot_runs = PC_KVM_RUNS, 3
    return configs


def native_source(image: Path) -> Path | None:
    for d in SOURCES:
        if (d / f"{image.name}.c").is_file():
            return d / f"{image.name}.c"
    return None


def build_native(src: Path, out: Path) -> str | None:
    """Build src as a static musl binary at out; None, or why it could not be built."""
    if not shutil.which("musl-gcc"):
        return "musl-gcc not found (apt install musl-tools)"
    p = subprocess.run(["musl-gcc", "-static", "-O2", "-o", str(out), str(src)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        lines = p.stderr.strip().splitlines()
        raise BenchError(f"musl-gcc failed on {src}: {lines[-1] if lines else p.returncode}")
    return None


# The "before" of issue 10: images linked with musl-dev's libc.a, whose system calls
# trap from ring 3 (the SDK's own libc.a calls the kernel through its slot).
MUSL_DEV_LIBC = next((p for p in (Path("/usr/lib/x86_64-linux-musl/libc.a"),
                                  Path("/usr/lib/musl/lib/libc.a")) if p.is_file()), None)
TRAP_LABEL = "uhyve, musl-dev's libc (syscall traps)"


def build_trapping(sdk: Path, src: Path, out: Path) -> str | None:
    """Build src with the SDK and musl-dev's libc.a at out; None, or why not."""
    if MUSL_DEV_LIBC is None:
        return "musl-dev's libc.a not found (apt install musl-dev)"
    if not (sdk / "x86_64-hermit/lib/libc.a").is_file():
        return "the SDK links musl-dev's libc.a itself (configured -Dsdk_libc=disabled)"
    p = subprocess.run([str(sdk / "bin/x86_64-hermit-gcc"), "-O2", "-pthread", "-o", str(out),
                        str(src), str(MUSL_DEV_LIBC)], capture_output=True, text=True)
    if p.returncode != 0:
        lines = p.stderr.strip().splitlines()
        return f"x86_64-hermit-gcc failed on {src.name}: {lines[-1] if lines else p.returncode}"
    return None


def baseline_configs(image: Path, tmp: Path) -> list[Config]:
    src = native_source(image)
    native = Config("native", "Linux native (static musl)", env=clean_environment())
    if src is None:
        native.skip = f"no {image.name}.c under usr/tests or usr/benchmarks"
    else:
        out = tmp / image.name
        native.skip = build_native(src, out)
        native.argv = [str(out)]  # as the proxy passes the image: argv[0] only
    python = PYTHON if os.access(PYTHON, os.X_OK) else sys.executable
    startup = Config("python", f"{python} -S -c pass", [python, "-S", "-c", "pass"],
                     clean_environment())
    return [native, startup]


def stripped_kb(path: Path, tmp: Path, strip: str) -> float:
    copy = tmp / f"stripped-{path.name}"
    shutil.copyfile(path, copy)
    p = subprocess.run([strip, str(copy)], capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"{strip} failed on a copy of {path}: {p.stderr.strip()}")
    return copy.stat().st_size / 1024


def measure_sizes(sdk: Path, tmp: Path) -> Sizes:
    hello = sdk / HELLO
    strip = shutil.which("strip") or str(sdk / "bin/x86_64-hermit-strip")
    if not hello.is_file():
        return Sizes(str(hello), None, None, f"no {hello}")
    if not os.access(strip, os.X_OK):
        return Sizes(str(hello), None, None, "strip not found (apt install binutils)")
    native, native_kb = tmp / "hello-native", None
    src = native_source(hello)
    if src is not None and build_native(src, native) is None:
        native_kb = stripped_kb(native, tmp, strip)
    return Sizes(str(hello), stripped_kb(hello, tmp, strip), native_kb)


def baseline(by_key: dict[str, Result]) -> Result | None:
    """The QEMU microvm configuration every ratio is taken against: KVM's, else TCG's."""
    for key in ("microvm-kvm", "microvm-tcg"):
        if key in by_key and by_key[key].ok:
            return by_key[key]
    return None


def bench(args: argparse.Namespace) -> int:
    sdk = args.sdk.resolve()
    if not sdk.is_dir():
        raise BenchError(f"--sdk {args.sdk} is not a directory (build and install first)")
    image = resolve_image(sdk, args.image)
    kvm_problem = kvm_problem_from(sdk)
    expect = b"Hello World" if image.name == "hello" else None
    with tempfile.TemporaryDirectory(prefix="hermit-bench-") as tmpdir:
        tmp = Path(tmpdir)
        configs = hermit_configs(sdk, image, kvm_problem) + baseline_configs(image, tmp)
        sizes = measure_sizes(sdk, tmp)
        results = []
        for cfg in configs:
            if cfg.skip:
                progress(f"{cfg.label}: n/a: {cfg.skip}")
            results.append(measure(cfg, args.runs, expect if cfg.key != "python" else None))
    by_key = {r.config.key: r for r in results}
    base, native = baseline(by_key), by_key["native"]
    facts = machine_facts(kvm_problem, configs[-1].argv[0], QEMU)
    targets = check_targets(by_key, sizes)
    table = markdown_table(results, base, native if native.ok else None)
    print(render(facts, table, base, str(image.relative_to(sdk)) if image.is_relative_to(sdk)
                 else str(image), targets))
    if args.json:
        args.json.write_text(json.dumps(to_json(facts, results, base, sizes, targets), indent=2))
    if args.svg and base is not None:
        # each configuration's median wall time; uhyve's target: faster than the baseline
        rows = [Row(r.config.label, {"median wall time": r.median_ms / base.median_ms
                                     if r.ok else None}, 1.0 if r.config.key == "uhyve" else None)
                for r in results]
        write_svg(args.svg, f"Boot: {image.name}, whole process", rows, base.config.label)
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"bench: {r.config.label} failed: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def run_cli(parse, run, prog: str, argv: list[str] | None) -> int:
    """A benchmark's main(): BenchError is one line (a traceback with --debug)."""
    args = parse(argv)
    try:
        return run(args)
    except BenchError as e:
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return run_cli(parse_args, bench, "bench", argv)


if __name__ == "__main__":
    sys.exit(main())
