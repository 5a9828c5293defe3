"""The SDK's cross-file, and byte-compiling the installed loader.

    python3 -m hermit_build.toolchain cross-file --prefix /opt/hermit [--cpu-flag F] -o FILE
    python3 -m hermit_build.toolchain install --prefix /opt/hermit [--destdir D]
"""

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

CROSS_NAME = "x86_64-hermit"


def render_cross_file(prefix: str, cpu_flags: Sequence[str] = ()) -> str:
    """The cross-file for an SDK in prefix; cpu_flags (-mtune=, -march= from the Meson
    options of the build) become the default compiler arguments of projects using it."""
    for flag in cpu_flags:
        if not re.fullmatch(r"-m(tune|arch)=[A-Za-z0-9_.+-]+", flag):
            raise ValueError(f"not a CPU flag: {flag!r}")
    try:
        from .lazy import enable_site
    except ImportError:  # run as a script by Meson's install step
        from lazy import enable_site
    enable_site()
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        keep_trailing_newline=True,
    )
    return env.get_template("cross-file.ini.j2").render(prefix=prefix.rstrip("/") or "/",
                                                        name=CROSS_NAME,
                                                        cpu_flags=list(cpu_flags))


def compile_loader(prefix: str, destdir: str = "") -> None:
    """Byte-compile the installed loader: the proxy should not pay for compiling at every
    start.  (The cross-file and the binutils' names are installed by Meson itself.)"""
    import compileall

    root = Path(destdir + prefix) if destdir else Path(prefix)
    pydir = root / "lib" / "hermit" / "python"
    if pydir.is_dir():
        compileall.compile_dir(str(pydir), quiet=1, ddir=f"{prefix}/lib/hermit/python")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hermit_build.toolchain")
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install", help="byte-compile the loader in an install tree")
    i.add_argument("--prefix", required=True)
    i.add_argument("--destdir", default=os.environ.get("DESTDIR", ""),
                   help="staging root (Meson's install scripts get it as $DESTDIR)")
    c = sub.add_parser("cross-file", help="print or write the cross-file for a prefix")
    c.add_argument("--prefix", required=True)
    c.add_argument("--cpu-flag", action="append", default=[], dest="cpu_flags",
                   help="-mtune=CPU or -march=ISA for projects using the cross-file")
    c.add_argument("-o", "--output", action="append", default=[],
                   help="file to write (more than one: the same text in each)")
    a = p.parse_args(argv)
    try:
        if a.cmd == "install":
            compile_loader(a.prefix, a.destdir)
            return 0
        text = render_cross_file(a.prefix, a.cpu_flags)
    except ValueError as e:  # a Meson option mtune/march that is no CPU name
        print(f"hermit_build.toolchain: {e}", file=sys.stderr)
        return 1
    for out in a.output:
        Path(out).write_text(text)
    if not a.output:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
